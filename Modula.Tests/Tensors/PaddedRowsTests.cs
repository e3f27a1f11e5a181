using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Tensors;

/// <summary>
/// The floats between the rows of a padded tensor (<see cref="Tensor.EmptyMatrices"/>) are never part of a result:
/// with every padding float set to NaN, each op that reads such a tensor in place (the GEMM as A, as B and both, a
/// Gram product, a declared symmetric product, the symmetric polynomial, elementwise maps, sums, copies) gives the
/// bits it gives on a contiguous copy of the same values. A kernel whose vector loads ran past a row's end into
/// its padding would carry NaN into the result.
/// </summary>
[TestClass]
public sealed class PaddedRowsTests
{
    private const int Seed = 20261208;

    [TestMethod]
    [DataRow(1, 128, 128, 128)] // rows of 128 floats padded to 144
    [DataRow(16, 128, 128, 128)] // Newton–Schulz's batch of squares
    [DataRow(3, 65, 65, 65)] // the GPT head's Gram size, rows padded to 80
    [DataRow(2, 200, 72, 200)] // rows of 200 floats padded to 208; a depth the tiles do not divide
    public void NaNInThePaddingNeverReachesAResult(int batch, int m, int n, int k)
    {
        var cpu = TestDevices.Get(TestDevices.Cpu);
        using var a = Reference.Make(
            Reference.RandomValues(batch * m * k, Seed),
            new Shape(batch, m, k),
            DType.Float32,
            cpu
        );
        using var b = Reference.Make(
            Reference.RandomValues(batch * k * n, Seed + 1),
            new Shape(batch, k, n),
            DType.Float32,
            cpu
        );
        using var square = Reference.Make(Symmetric(batch, k), new Shape(batch, k, k), DType.Float32, cpu);
        using var paddedA = Poisoned(a);
        using var paddedB = Poisoned(b);
        using var paddedSquare = Poisoned(square);
        Assert.IsFalse(paddedA.IsContiguous || paddedSquare.IsContiguous, "the rows are padded");
        foreach (int threads in new[] { 1, 2 })
        {
            using var threadsScope = CpuDevice.UseThreads(threads);
            string what = $"[{batch}, {m}, {n}, {k}] threads={threads} seed={Seed}";
            AssertSameBits(Ops.MatMul(a, b), Ops.MatMul(paddedA, paddedB), $"{what}: A·B, both padded");
            AssertSameBits(Ops.MatMul(a, b), Ops.MatMul(paddedA, b), $"{what}: A·B, A padded");
            AssertSameBits(Ops.MatMul(a, b), Ops.MatMul(a, paddedB), $"{what}: A·B, B padded");
            AssertSameBits(
                Ops.MatMul(a, a, transposeA: true),
                Ops.MatMul(paddedA, paddedA, transposeA: true),
                $"{what}: the Gram product AᵀA"
            );
            AssertSameBits(
                Ops.MatMul(square, square, symmetricResult: true),
                Ops.MatMul(paddedSquare, paddedSquare, symmetricResult: true),
                $"{what}: a symmetric product"
            );
            AssertSameBits(
                Ops.SymmetricPolynomial(square, 1.5, -0.5, 0.25),
                Ops.SymmetricPolynomial(paddedSquare, 1.5, -0.5, 0.25),
                $"{what}: the symmetric polynomial"
            );
            AssertSameBits(Ops.Add(a, a), Ops.Add(paddedA, paddedA), $"{what}: A + A");
            AssertSameBits(Ops.Mul(a, 3.0), Ops.Mul(paddedA, 3.0), $"{what}: 3·A");
            AssertSameBits(Ops.Sum(a), Ops.Sum(paddedA), $"{what}: the sum");
            AssertSameBits(Ops.Sum(a, [2]), Ops.Sum(paddedA, [2]), $"{what}: the row sums");
            AssertSameBits(Ops.Contiguous(a), Ops.Contiguous(paddedA), $"{what}: a contiguous copy");
        }
    }

    // A padded copy of t, every float of its storage NaN before the values are copied in, so its padding is NaN.
    private static Tensor Poisoned(Tensor t)
    {
        var padded = Tensor.EmptyMatrices(t.Shape, t.DType, t.Device);
        ((CpuStorage)padded.Storage).Span<float>().Fill(float.NaN);
        Ops.CopyInto(t, padded);
        var storage = ((CpuStorage)padded.Storage).Span<float>();
        int poisoned = 0;
        foreach (float v in storage)
            poisoned += float.IsNaN(v) ? 1 : 0;
        Assert.AreEqual(
            storage.Length - t.Shape.Size,
            poisoned,
            $"{t.Shape}: every padding float, and no value, is NaN"
        );
        return padded;
    }

    private static double[] Symmetric(int batch, int n)
    {
        var values = Reference.RandomValues(batch * n * n, Seed + 2, -1, 1);
        for (int s = 0; s < batch; s++)
        for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            values[(s * n + j) * n + i] = values[(s * n + i) * n + j];
        return values;
    }

    private static void AssertSameBits(Tensor expected, Tensor actual, string what)
    {
        using (expected)
        using (actual)
            Reference.AssertSameBits(expected.ToArray<float>(), actual.ToArray<float>(), (e, want, got) =>
                $"{what}: element {e} is {got:R} over padded rows, {want:R} over contiguous ones"
            );
    }
}
