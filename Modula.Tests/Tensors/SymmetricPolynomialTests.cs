using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Tensors;

/// <summary><see cref="Ops.SymmetricPolynomial"/>: a·I + b·R + c·R² of symmetric matrices against float64.</summary>
[TestClass]
public sealed class SymmetricPolynomialTests
{
    // The first step of Modula v2's six-step Newton–Schulz, a polynomial with a negative square term, and a cubic
    // step's linear part (c = 0: no product).
    private static readonly (double A, double B, double C)[] Coefficients =
    [
        (3955 / 1024.0, -8306 / 1024.0, 5008 / 1024.0),
        (0.5, 1.25, -0.75),
        (1.5, -0.5, 0),
    ];

    /// <summary>
    /// Shapes cover a single element, sizes off the register tiles (12 × 32 at 512 bits, 6 × 16 and 6 × 8 narrower:
    /// CI runs this at every width), a batch split one matrix per
    /// thread (16 × 40), a lone matrix large enough for both threads (1 × 130), nine of over 2²⁴ flops each (9 ×
    /// 208: on two threads eight run one per thread and the ninth over both), an empty batch entry size, and
    /// two batch axes; each on the CPU at one and two threads, in float64, and on the ILGPU simulator (small
    /// sizes). The float32 CPU result must be exactly symmetric.
    /// </summary>
    [TestMethod]
    [DataRow(new[] { 1, 1, 1 })]
    [DataRow(new[] { 1, 5, 5 })]
    [DataRow(new[] { 3, 13, 13 })]
    [DataRow(new[] { 16, 40, 40 })]
    [DataRow(new[] { 1, 130, 130 })]
    [DataRow(new[] { 9, 208, 208 })]
    [DataRow(new[] { 2, 3, 17, 17 })]
    [DataRow(new[] { 2, 0, 0 })]
    public void MatchesTheFloat64Polynomial(int[] dims)
    {
        var shape = new Shape(dims);
        int n = dims[^1],
            batch = shape.Size / Math.Max(1, n * n);
        const int seed = 31;
        var r = RandomSymmetric(batch, n, seed);
        foreach (var (deviceName, dtype, threads) in TestDevices.NumericCases)
        foreach (var (a, b, c) in Coefficients)
        {
            if (deviceName == TestDevices.Simulator && n > 40)
                continue; // the simulator is slow; small sizes only
            using var threadsScope = CpuDevice.UseThreads(threads);
            var device = TestDevices.Get(deviceName);
            using var input = Reference.Make(r, shape, dtype, device);
            using var h = Ops.SymmetricPolynomial(input, a, b, c);
            string what = $"{shape} {deviceName}/{dtype} threads={threads} (a, b, c) = ({a}, {b}, {c}) seed={seed}";
            CollectionAssert.AreEqual(dims, h.Shape.Dims.ToArray(), $"{what}: shape");
            var actual = Reference.Read(h);
            double atol = dtype == DType.Float64 ? 1e-10 : 2e-5 * Math.Sqrt(n + 1);
            Reference.AssertClose(Expected(r, batch, n, a, b, c), actual, atol, 1e-5, what);
            if (deviceName == TestDevices.Cpu && dtype == DType.Float32)
                AssertSymmetric(actual, batch, n, what);
        }
    }

    /// <summary>
    /// Inputs that are not a fresh contiguous tensor: the first n columns of a [B, n, 2n] tensor whose other columns
    /// hold other values (a strided view, read through a copy), and a batch slice starting at an offset (contiguous,
    /// read in place), on the CPU and the simulator.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void ReadsViewsWhereTheyLie(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        const int batch = 3,
            n = 29,
            seed = 7;
        var r = RandomSymmetric(batch, n, seed);
        var wide = new double[batch * n * 2 * n];
        for (int q = 0; q < batch; q++)
        for (int i = 0; i < n; i++)
        for (int j = 0; j < 2 * n; j++)
            wide[(q * n + i) * 2 * n + j] = j < n ? r[(q * n + i) * n + j] : 100 + i - j;
        using var storage = Reference.Make(wide, new Shape(batch, n, 2 * n), DType.Float32, device);
        using var columns = storage.Slice(2, 0, n);
        Assert.IsFalse(columns.IsContiguous);
        using var h = Ops.SymmetricPolynomial(columns, 1.5, -2, 0.25);
        var expected = Expected(r, batch, n, 1.5, -2, 0.25);
        Reference.AssertClose(expected, Reference.Read(h), 1e-4, 1e-5, $"{deviceName} strided, seed={seed}");

        using var all = Reference.Make(r, new Shape(batch, n, n), DType.Float32, device);
        using var last = all.Slice(0, 1, batch - 1);
        Assert.AreNotEqual(0, last.Offset);
        using var fromOffset = Ops.SymmetricPolynomial(last, 1.5, -2, 0.25);
        Reference.AssertClose(expected[(n * n)..], Reference.Read(fromOffset), 1e-4, 1e-5, $"{deviceName} offset");
    }

    /// <summary>
    /// The float32 CPU result has the bits of the op's definition taken step by step: the product c·R² as <see
    /// cref="Ops.MatMul"/> computes a symmetric product, then b·R added element by element (one rounding for the
    /// multiply, one for the add), then a added on the diagonal. The CPU adds the linear part to the lower triangle
    /// only and mirrors it, which gives these bits because R is exactly symmetric. Sizes from 1 to 130 (every row
    /// length of the triangle), batches split one matrix per thread and a lone matrix split over two threads, on
    /// one and two threads. The product itself comes from the same GEMM; <see cref="MatchesTheFloat64Polynomial"/>
    /// checks it against float64.
    /// </summary>
    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(3, 13)]
    [DataRow(16, 40)]
    [DataRow(2, 130)]
    [DataRow(1, 130)]
    public void HasTheBitsOfItsStepsOnTheCpu(int batch, int n)
    {
        const int seed = 43;
        var shape = new Shape(batch, n, n);
        using var r = Reference.Make(RandomSymmetric(batch, n, seed), shape, DType.Float32, TestDevices.Get("cpu"));
        var rValues = r.ToArray<float>();
        foreach (int threads in new[] { 1, 2 })
        foreach (var (a, b, c) in Coefficients)
        {
            using var threadsScope = CpuDevice.UseThreads(threads);
            using var square = Ops.MatMul(r, r, alpha: c, symmetricResult: true);
            var expected = square.ToArray<float>();
            for (int e = 0; e < expected.Length; e++)
            {
                float linear = rValues[e] * (float)b;
                expected[e] = c == 0 ? linear : linear + expected[e];
                if (e % (n * n) / n == e % n)
                    expected[e] += (float)a;
            }
            using var h = Ops.SymmetricPolynomial(r, a, b, c);
            Reference.AssertSameBits(expected, h.ToArray<float>(), (e, want, got) =>
                $"{shape} threads={threads} (a, b, c) = ({a}, {b}, {c}) seed={seed}: element {e} is {got:R}, its "
                + $"steps give {want:R}"
            );
        }
    }

    /// <summary>
    /// A padded R (<see cref="Tensor.EmptyMatrices"/>: rows 144 floats apart for n = 128, 80 for n = 65, which the
    /// 256- and 128-bit tiles read in place rather than packing) gives a padded h with the bits of a contiguous R's h,
    /// on one and two threads.
    /// </summary>
    [TestMethod]
    [DataRow(16, 128)]
    [DataRow(3, 65)]
    public void APaddedInputGivesAPaddedResultWithTheSameBits(int batch, int n)
    {
        const int seed = 47;
        var shape = new Shape(batch, n, n);
        var cpu = TestDevices.Get(TestDevices.Cpu);
        using var r = Reference.Make(RandomSymmetric(batch, n, seed), shape, DType.Float32, cpu);
        using var padded = Tensor.EmptyMatrices(shape);
        Assert.IsFalse(padded.IsContiguous, "the rows are padded");
        Ops.CopyInto(r, padded);
        foreach (int threads in new[] { 1, 2 })
        foreach (var (a, b, c) in Coefficients)
        {
            using var threadsScope = CpuDevice.UseThreads(threads);
            string what = $"{shape} threads={threads} (a, b, c) = ({a}, {b}, {c}) seed={seed}";
            using var expected = Ops.SymmetricPolynomial(r, a, b, c);
            using var h = Ops.SymmetricPolynomial(padded, a, b, c);
            CollectionAssert.AreEqual(padded.Strides.ToArray(), h.Strides.ToArray(), $"{what}: h padded as R");
            Reference.AssertSameBits(expected.ToArray<float>(), h.ToArray<float>(), (e, want, got) =>
                $"{what}: element {e} is {got:R} from padded rows, {want:R} from contiguous"
            );
        }
    }

    [TestMethod]
    public void BadInputIsRefusedByName()
    {
        using var wide = Ops.Zeros(new Shape(3, 4));
        var error = Assert.ThrowsExactly<ArgumentException>(() => Ops.SymmetricPolynomial(wide, 1, 1, 1));
        StringAssert.Contains(error.Message, "SymmetricPolynomial: needs square matrices");
        StringAssert.Contains(error.Message, "[3, 4]");
        using var vector = Ops.Zeros(new Shape(4));
        error = Assert.ThrowsExactly<ArgumentException>(() => Ops.SymmetricPolynomial(vector, 1, 1, 1));
        StringAssert.Contains(error.Message, "SymmetricPolynomial: needs square matrices");
        using var ints = Ops.Zeros(new Shape(2, 2), DType.Int32);
        error = Assert.ThrowsExactly<ArgumentException>(() => Ops.SymmetricPolynomial(ints, 1, 1, 1));
        StringAssert.Contains(error.Message, "SymmetricPolynomial: needs a floating-point tensor");
        using var square = Ops.Zeros(new Shape(2, 2));
        error = Assert.ThrowsExactly<ArgumentException>(() => Ops.SymmetricPolynomial(square, 1, double.NaN, 1));
        StringAssert.Contains(error.Message, "SymmetricPolynomial: coefficients must be finite");
    }

    // Per batch entry R = (X + Xᵀ) / √n, rounded to float32, so R² stays of order one.
    private static double[] RandomSymmetric(int batch, int n, int seed)
    {
        var x = Reference.RandomValues(batch * n * n, seed);
        var r = new double[batch * n * n];
        for (int q = 0; q < batch; q++)
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
        {
            int o = q * n * n;
            r[o + i * n + j] = (float)((x[o + i * n + j] + x[o + j * n + i]) / Math.Sqrt(n));
        }
        return r;
    }

    private static double[] Expected(double[] r, int batch, int n, double a, double b, double c)
    {
        var h = new double[r.Length];
        for (int q = 0; q < batch; q++)
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
        {
            int o = q * n * n;
            double square = 0;
            for (int p = 0; p < n; p++)
                square += r[o + i * n + p] * r[o + p * n + j];
            h[o + i * n + j] = (i == j ? a : 0) + b * r[o + i * n + j] + c * square;
        }
        return h;
    }

    private static void AssertSymmetric(double[] h, int batch, int n, string what)
    {
        for (int q = 0; q < batch; q++)
        for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            Assert.AreEqual(
                h[(q * n + i) * n + j],
                h[(q * n + j) * n + i],
                $"{what}: h[{q}, {i}, {j}] ≠ h[{q}, {j}, {i}]"
            );
    }
}
