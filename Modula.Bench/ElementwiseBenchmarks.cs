using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Random;
using Ops = Modula.Tensors.Ops;
using Shape = Modula.Tensors.Shape;
using Tensor = Modula.Tensors.Tensor;

namespace Modula.Bench;

/// <summary>
/// Elementwise and reduction ops on large arrays next to the same computation by
/// <c>TensorPrimitives</c> on plain arrays (the baseline): the ratio is the engine's overhead.
/// </summary>
[MemoryDiagnoser]
public class ElementwiseBenchmarks
{
    private Tensor _x = null!,
        _y = null!,
        _out = null!;
    private float[] _xa = null!,
        _ya = null!,
        _oa = null!;

    [Params(1 << 20)]
    public int Length { get; set; }

    /// <summary>CPU threads our ops may use (TensorPrimitives always runs on one).</summary>
    private IDisposable? _threads;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _threads = CpuDevice.UseThreads(Threads);
        var g = new Generator(2);
        _x = Ops.Normal(new Shape(Length), g);
        _y = Ops.Normal(new Shape(Length), g);
        _out = Ops.Zeros(new Shape(Length));
        _xa = _x.ToArray<float>();
        _ya = _y.ToArray<float>();
        _oa = new float[Length];
    }

    [Benchmark(Baseline = true)]
    public void AddTensorPrimitives() => TensorPrimitives.Add(_xa, _ya, _oa);

    [Benchmark]
    public void AddOps() => Ops.Zip(_x, _y, new Modula.Tensors.Primitives.Add(), into: _out);

    [Benchmark]
    public void ExpTensorPrimitives() => TensorPrimitives.Exp(_xa, _oa);

    [Benchmark]
    public void ExpOps() => Ops.Map(_x, new Modula.Tensors.Primitives.Exp(), into: _out);

    [Benchmark]
    public float SumTensorPrimitives() => TensorPrimitives.Sum(_xa);

    [Benchmark]
    public void SumOps()
    {
        using var s = Ops.Sum(_x);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _threads?.Dispose();
        _x.Dispose();
        _y.Dispose();
        _out.Dispose();
    }
}
