using Modula.Autodiff;
using Modula.Cli.Training;
using Modula.Data;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Tensors;

namespace Modula.Tests.Gpu;

/// <summary>
/// CUDA results against the CPU backend at sizes the simulator is too slow for. Each test is
/// Inconclusive (never Passed) on a machine without a CUDA device.
/// </summary>
[TestClass]
[TestCategory("GPU")]
public sealed class CudaTests
{
    private static float[] Values(int n, int seed) => Reference.RandomValues(n, seed).Select(v => (float)v).ToArray();

    private static void AssertMatches(Tensor cpu, Tensor gpu, double atol, double rtol, string what)
    {
        Assert.AreEqual(cpu.Shape, gpu.Shape, $"{what}: shape");
        Reference.AssertClose(Reference.Read(cpu), Reference.Read(gpu), atol, rtol, what);
    }

    [TestMethod]
    [DataRow(1, 1024, 1024, 1024)]
    [DataRow(3, 130, 90, 70)]
    [DataRow(48, 64, 64, 32)]
    [DataRow(1, 768, 65, 128)]
    public void MatMulWithTransposesMatchesCpu(int batch, int m, int n, int k)
    {
        var cuda = TestDevices.CudaOrInconclusive();
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            using var a = Tensor.FromArray<float>(
                Values(batch * m * k, 1),
                ta ? new Shape(batch, k, m) : new Shape(batch, m, k)
            );
            using var b = Tensor.FromArray<float>(
                Values(batch * k * n, 2),
                tb ? new Shape(batch, n, k) : new Shape(batch, k, n)
            );
            using var ga = a.To(cuda);
            using var gb = b.To(cuda);
            using var expected = Ops.MatMul(a, b, ta, tb);
            using var actual = Ops.MatMul(ga, gb, ta, tb);
            // Float32 sums of k products of values in [-3, 3] in different orders: error grows like √k.
            AssertMatches(expected, actual, 1e-5 * 9 * k, 1e-4, $"cuda matmul {batch}×{m}×{n}×{k} ta={ta} tb={tb}");
        }
    }

    /// <summary>A lower-triangle result (causal attention's scores) on the device's tiles and, for a deep product
    /// over few tiles, through its split over the depth, where the zeros are written as the splits are
    /// summed.</summary>
    [TestMethod]
    [DataRow(48, 64, 32)]
    [DataRow(1, 13, 700)]
    public void LowerResultMatchesCpu(int batch, int n, int k)
    {
        var cuda = TestDevices.CudaOrInconclusive();
        using var a = Tensor.FromArray<float>(Values(batch * n * k, 5), new Shape(batch, n, k));
        using var b = Tensor.FromArray<float>(Values(batch * n * k, 6), new Shape(batch, n, k));
        using var ga = a.To(cuda);
        using var gb = b.To(cuda);
        using var expected = Ops.MatMul(a, b, transposeB: true, triangle: MatMulTriangle.LowerResult);
        using var actual = Ops.MatMul(ga, gb, transposeB: true, triangle: MatMulTriangle.LowerResult);
        AssertMatches(expected, actual, 1e-5 * 9 * k, 1e-4, $"cuda lower result {batch}×{n}×{n}×{k}");
    }

    [TestMethod]
    public void ElementwiseReductionsAndRandomBitsMatchCpu()
    {
        var cuda = TestDevices.CudaOrInconclusive();
        using var x = Tensor.FromArray<float>(Values(64 * 4097, 3), new Shape(64, 4097));
        using var y = Tensor.FromArray<float>(Values(4097, 4), new Shape(4097));
        using var gx = x.To(cuda);
        using var gy = y.To(cuda);
        using (var e = Ops.Tanh(Ops.Mul(Ops.Add(x, y), y)))
        using (var g = Ops.Tanh(Ops.Mul(Ops.Add(gx, gy), gy)))
            AssertMatches(e, g, 1e-5, 1e-5, "cuda broadcast elementwise");
        foreach (int axis in new[] { 0, 1 })
        {
            using var s = Ops.Sum(x, [axis]);
            using var gs = Ops.Sum(gx, [axis]);
            AssertMatches(s, gs, 1e-3, 1e-4, $"cuda sum axis {axis}");
            using var m = Ops.Max(x, [axis]);
            using var gm = Ops.Max(gx, [axis]);
            AssertMatches(m, gm, 0, 0, $"cuda max axis {axis}");
        }
        using var bits = Ops.RandomBits(new Shape(100_000), new Modula.Tensors.Random.Generator(9), cuda);
        using var cbits = Ops.RandomBits(new Shape(100_000), new Modula.Tensors.Random.Generator(9));
        CollectionAssert.AreEqual(cbits.ToArray<int>(), bits.ToArray<int>());
    }

    [TestMethod]
    public void AttentionGradientsMatchCpu()
    {
        var cuda = TestDevices.CudaOrInconclusive();
        var shape = new Shape(4, 4, 64, 32); // [B, heads, T, d]
        var values = new[] { Values(shape.Size, 5), Values(shape.Size, 6), Values(shape.Size, 7) };
        (Tensor Value, Tensor[] Grads) Run(Device device)
        {
            var q = new Variable(Tensor.FromArray<float>(values[0], shape, device), requiresGrad: true);
            var k = new Variable(Tensor.FromArray<float>(values[1], shape, device), requiresGrad: true);
            var v = new Variable(Tensor.FromArray<float>(values[2], shape, device), requiresGrad: true);
            var scores = F.Softmax(F.MatMul(q, k, transposeB: true), -1, 0.125);
            var loss = F.Sum(F.Tanh(F.MatMul(scores, v)));
            loss.Backward();
            return (loss.Value, [q.Grad!, k.Grad!, v.Grad!]);
        }
        using var scope = TensorScope.Begin();
        var (cpuLoss, cpuGrads) = Run(Device.Cpu);
        var (gpuLoss, gpuGrads) = Run(cuda);
        AssertMatches(cpuLoss, gpuLoss, 1e-2, 1e-4, "cuda attention loss");
        for (int i = 0; i < 3; i++)
            AssertMatches(cpuGrads[i], gpuGrads[i], 1e-4, 1e-3, $"cuda attention grad {"qkv"[i]}");
    }

    /// <summary>
    /// Newton–Schulz at the GPT's sizes (its 16 square 128 × 128 atoms, a wide 128 × 512 one, and a size off the
    /// tiles): the symmetric product X·Xᵀ, one polynomial step a·I + b·R + c·R² on the same R, and the whole
    /// six-step orthogonalization, against the CPU.
    /// </summary>
    [TestMethod]
    [DataRow(16, 128, 128)]
    [DataRow(2, 128, 512)]
    [DataRow(3, 130, 70)]
    public void NewtonSchulzMatchesCpu(int batch, int m, int n) =>
        NewtonSchulzMatchesCpuOn(TestDevices.CudaOrInconclusive(), batch, m, n);

    internal static void NewtonSchulzMatchesCpuOn(Device device, int batch, int m, int n)
    {
        using var scope = TensorScope.Begin();
        string what = $"{device.Name} [{batch}, {m}, {n}] seed=8";
        var x = Tensor.FromArray<float>(Values(batch * m * n, 8), new Shape(batch, m, n));
        var onDevice = x.To(device);
        // Entries of X·Xᵀ/n: about 3 on the diagonal, 3/√n off it.
        var gram = Ops.MatMul(x, x, transposeB: true, alpha: 1.0 / n, symmetricResult: true);
        var deviceGram = Ops.MatMul(onDevice, onDevice, transposeB: true, alpha: 1.0 / n, symmetricResult: true);
        AssertMatches(gram, deviceGram, 1e-5, 1e-5, $"{what}: X·Xᵀ");
        // R² sums m products of such entries (up to about 20); c ≈ 4.9 scales it.
        var (a, b, c) = Orthogonalize.Coefficients(Orthogonalizer.SixStep)[0];
        var step = Ops.SymmetricPolynomial(gram, a, b, c);
        AssertMatches(step, Ops.SymmetricPolynomial(gram.To(device), a, b, c), 1e-3, 1e-4, $"{what}: polynomial");
        // Six steps amplify rounding along the smallest singular directions (p'(0) ≈ 3–4 per step); entries of the
        // result are about 1/√max(m, n).
        AssertMatches(Orthogonalize.Apply(x), Orthogonalize.Apply(onDevice), 2e-4, 1e-3, $"{what}: orthogonalized");
    }

    [TestMethod]
    [DataRow("v1")]
    [DataRow("v2")]
    public void GptTrainingStepsMatchCpu(string recipe)
    {
        var cuda = TestDevices.CudaOrInconclusive();
        var corpus = new TextCorpus(
            string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 60))
        );
        var settings = new GptSettings(
            recipe,
            new GptConfig(
                Vocab: corpus.Vocabulary.Length,
                Context: 32,
                Heads: 2,
                DEmbed: 32,
                DQuery: 16,
                DValue: 16,
                Blocks: 2
            ),
            recipe == "v1" ? GptSettings.V1Optimizer : GptSettings.V2Optimizer,
            Steps: 10,
            Batch: 4,
            Seed: 5
        );
        using var cpu = new GptRun(settings, corpus, Device.Cpu);
        using var gpu = new GptRun(settings, corpus, cuda);
        for (int step = 1; step <= 10; step++)
        {
            double expected = cpu.Step(),
                actual = gpu.Step();
            // Float32 rounding differs between the backends and compounds over steps.
            Assert.AreEqual(expected, actual, 1e-3 * step, $"{recipe} step {step}: cpu {expected}, cuda {actual}");
        }
    }
}
