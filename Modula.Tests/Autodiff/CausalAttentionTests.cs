using Modula.Autodiff;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Autodiff;

/// <summary>
/// <see cref="F.CausalAttention"/>, one rule whose products skip the triangles causal attention leaves zero, against
/// the same attention composed of <see cref="F.MatMul"/>, <see cref="F.CausalSoftmax"/> and <see cref="F.MatMul"/>:
/// the output and all three gradients to the bit on the CPU in float32 (any width, one thread or two), and within
/// float32's rounding on the ILGPU simulator.
/// </summary>
[TestClass]
public sealed class CausalAttentionTests
{
    /// <summary>Shapes [B, heads, T, d]: one position, lengths off every register tile, the GPT's 64 by 32, 130
    /// positions, and one head of 300 by 64, whose products (11.5 million flops each) split over two threads. q, k
    /// and v enter as deferred multiples (F.Scale), as Modula's bonds make them, so their factors join the products'
    /// α in both forms.</summary>
    [TestMethod]
    [DataRow(1, 1, 1, 4)]
    [DataRow(2, 3, 7, 5)]
    [DataRow(2, 4, 64, 32)]
    [DataRow(1, 2, 130, 16)]
    [DataRow(1, 1, 300, 64)]
    public void MatchesTheComposedAttention(int batch, int heads, int t, int d)
    {
        const int seed = 53;
        var shape = new Shape(batch, heads, t, d);
        var values = Enumerable.Range(0, 4).Select(i => Reference.RandomValues(shape.Size, seed + i)).ToArray();
        foreach (
            var (deviceName, threads) in new[]
            {
                (TestDevices.Cpu, 1),
                (TestDevices.Cpu, 2),
                (TestDevices.Simulator, 1),
            }
        )
        {
            if (deviceName == TestDevices.Simulator && (TestDevices.SkipsSimulator || t > 64))
                continue;
            using var threadsScope = CpuDevice.UseThreads(threads);
            var device = TestDevices.Get(deviceName);
            var fused = Run(values, shape, device, d, composed: false);
            var composed = Run(values, shape, device, d, composed: true);
            string what = $"{shape} {deviceName} threads={threads} seed={seed}";
            string[] names = ["output", "q's gradient", "k's gradient", "v's gradient"];
            for (int r = 0; r < names.Length; r++)
                if (deviceName == TestDevices.Cpu)
                    Reference.AssertSameBits(composed[r], fused[r], (e, x, y) => $"{what}: {names[r]} {e}: {x}, {y}");
                else
                    Reference.AssertClose(
                        composed[r].Select(x => (double)x).ToArray(),
                        fused[r].Select(x => (double)x).ToArray(),
                        1e-5,
                        1e-4,
                        $"{what}: {names[r]}"
                    );
        }
    }

    /// <summary>With only v needing a gradient the rule skips the scores' gradient, and under <see cref="NoGrad"/> it
    /// keeps nothing for a backward pass: both give the composed form's bits.</summary>
    [TestMethod]
    public void OnlyVsGradientAndNoGradMatchTheComposedAttention()
    {
        using var scope = TensorScope.Begin();
        var shape = new Shape(2, 2, 37, 8);
        const int seed = 59;
        Tensor Values(int i) =>
            Reference.Make(Reference.RandomValues(shape.Size, seed + i), shape, DType.Float32, Device.Cpu);
        var (q, k) = (new Variable(Values(0)), new Variable(Values(1)));
        var seedGradient = Values(3);
        float[] VGradient(bool composed)
        {
            var v = new Variable(Values(2), requiresGrad: true);
            var y = composed
                ? F.MatMul(F.CausalSoftmax(F.MatMul(q, k, transposeB: true), 0.125), v)
                : F.CausalAttention(q, k, v, 0.125);
            y.Backward(seedGradient);
            return v.Grad!.ToArray<float>();
        }
        Reference.AssertSameBits(VGradient(true), VGradient(false), (e, x, y) =>
            $"v's gradient {e}: {x}, {y} seed={seed}"
        );
        float[] Output(bool composed)
        {
            using var noGrad = new NoGrad();
            var v = new Variable(Values(2), requiresGrad: true);
            var y = composed
                ? F.MatMul(F.CausalSoftmax(F.MatMul(q, k, transposeB: true), 0.125), v)
                : F.CausalAttention(q, k, v, 0.125);
            Assert.IsFalse(y.RequiresGrad, "under NoGrad the output is a constant");
            return y.Value.ToArray<float>();
        }
        Reference.AssertSameBits(Output(true), Output(false), (e, x, y) => $"output {e}: {x}, {y} seed={seed}");
    }

    /// <summary>Queries and keys of different lengths are refused by the rule, naming it and the shapes.</summary>
    [TestMethod]
    public void RefusesQueriesAndKeysOfDifferentLengths()
    {
        using var scope = TensorScope.Begin();
        var q = new Variable(Ops.Zeros(new Shape(1, 2, 9, 4)));
        var kv = new Variable(Ops.Zeros(new Shape(1, 2, 7, 4)));
        var e = Assert.ThrowsExactly<ArgumentException>(() => F.CausalAttention(q, kv, kv, 0.25));
        StringAssert.Contains(
            e.Message,
            "CausalAttention: q [1, 2, 9, 4] and k [1, 2, 7, 4] must have as many positions"
        );
    }

    // The output and the gradients of q, k and v for the upstream gradient values[3], one way or the other.
    private static float[][] Run(double[][] values, Shape shape, Device device, int d, bool composed)
    {
        using var scope = TensorScope.Begin();
        var q = new Variable(Reference.Make(values[0], shape, DType.Float32, device), requiresGrad: true);
        var k = new Variable(Reference.Make(values[1], shape, DType.Float32, device), requiresGrad: true);
        var v = new Variable(Reference.Make(values[2], shape, DType.Float32, device), requiresGrad: true);
        var (sq, sk, sv) = (F.Scale(q, 0.75), F.Scale(k, 1.25), F.Scale(v, 0.5));
        double scale = 1.0 / d;
        var y = composed
            ? F.MatMul(F.CausalSoftmax(F.MatMul(sq, sk, transposeB: true), scale), sv)
            : F.CausalAttention(sq, sk, sv, scale);
        var output = y.Value.ToArray<float>();
        using var seed = Reference.Make(values[3], shape, DType.Float32, device);
        y.Backward(seed);
        return [output, q.Grad!.ToArray<float>(), k.Grad!.ToArray<float>(), v.Grad!.ToArray<float>()];
    }
}
