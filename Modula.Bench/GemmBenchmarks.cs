using BenchmarkDotNet.Attributes;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Bench;

/// <summary>C = A·B (float32, CPU, all cores) at 1024³ and at the shapes of one GPT training step.</summary>
[MemoryDiagnoser]
public class GemmBenchmarks
{
    private Tensor _a = null!,
        _b = null!,
        _c = null!;

    /// <summary>"batch×m×n×k".</summary>
    [Params("1x1024x1024x1024", "1x768x128x128", "1x768x512x128", "1x768x128x512", "48x64x64x32")]
    public string Shape { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var d = Shape.Split('x').Select(int.Parse).ToArray();
        var g = new Generator(1);
        _a = Ops.Normal(new Shape(d[0], d[1], d[3]), g);
        _b = Ops.Normal(new Shape(d[0], d[3], d[2]), g);
        _c = Ops.Zeros(new Shape(d[0], d[1], d[2]));
    }

    [Benchmark]
    public void MatMul() => Ops.MatMulInto(_a, _b, _c, accumulate: false);

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
        _c.Dispose();
    }
}
