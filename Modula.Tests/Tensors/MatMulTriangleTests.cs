using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Tensors;

/// <summary>
/// <see cref="MatMulTriangle"/>: a product's lower triangle alone, and products whose op(a) is triangular, against
/// float64 and, on the CPU in float32, against the whole product to the bit (the skipped terms are exact zeros, and
/// the rest are summed in the same order). CI runs these at every vector width.
/// </summary>
[TestClass]
public sealed class MatMulTriangleTests
{
    /// <summary>
    /// The lower triangle of α·a·op(b), diagonal included, with zeros above it. Sizes cover one element, sizes off
    /// every register tile, the GPT's 64 × 64 scores by depth 32, a batch of two axes, a deep product, and products
    /// large enough for both threads (130², 300²).
    /// </summary>
    [TestMethod]
    [DataRow(new[] { 1, 1, 1 }, 3)]
    [DataRow(new[] { 3, 5, 5 }, 7)]
    [DataRow(new[] { 2, 37, 37 }, 32)]
    [DataRow(new[] { 4, 64, 64 }, 32)]
    [DataRow(new[] { 2, 3, 13, 13 }, 9)]
    [DataRow(new[] { 1, 13, 13 }, 700)]
    [DataRow(new[] { 1, 130, 130 }, 70)]
    [DataRow(new[] { 1, 300, 300 }, 300)]
    public void LowerResultIsTheLowerTriangleWithZerosAbove(int[] dims, int k)
    {
        var shape = new Shape(dims);
        int n = dims[^1],
            batch = shape.Size / (n * n);
        const int seed = 41;
        var a = Reference.RandomValues(batch * n * k, seed);
        var b = Reference.RandomValues(batch * k * n, seed + 1);
        foreach (var (deviceName, dtype, threads) in TestDevices.NumericCases)
        foreach (bool transposeB in new[] { false, true })
        {
            if (deviceName == TestDevices.Simulator && (TestDevices.SkipsSimulator || n > 64))
                continue; // the simulator is slow; small sizes only (and none under the width reruns)
            using var threadsScope = CpuDevice.UseThreads(threads);
            var device = TestDevices.Get(deviceName);
            using var ta = Reference.Make(a, new Shape([.. dims[..^1], k]), dtype, device);
            using var tb = Reference.Make(
                b,
                new Shape([.. dims[..^2], transposeB ? n : k, transposeB ? k : n]),
                dtype,
                device
            );
            using var c = Ops.MatMul(ta, tb, transposeB: transposeB, alpha: 0.5, triangle: MatMulTriangle.LowerResult);
            string what = $"{shape} k={k} transposeB={transposeB} {deviceName}/{dtype} threads={threads} seed={seed}";
            CollectionAssert.AreEqual(dims, c.Shape.Dims.ToArray(), $"{what}: shape");
            var expected = Reference
                .Product(a, b, batch, n, n, k, ta: false, tb: transposeB)
                .Select(x => 0.5 * x)
                .ToArray();
            for (int e = 0; e < expected.Length; e++)
                if (e % n > e / n % n)
                    expected[e] = 0;
            var actual = Reference.Read(c);
            double atol = dtype == DType.Float64 ? 1e-10 : 3e-5 * Math.Sqrt(k);
            Reference.AssertClose(expected, actual, atol, 1e-5, what);
            for (int e = 0; e < actual.Length; e++)
                if (e % n > e / n % n && actual[e] != 0)
                    Assert.Fail($"{what}: element {e} (row {e / n % n}, column {e % n}) is {actual[e]}, not 0");
            if (deviceName == TestDevices.Cpu && dtype == DType.Float32)
            {
                using var whole = Ops.MatMul(ta, tb, transposeB: transposeB, alpha: 0.5);
                float[] wholeBits = whole.ToArray<float>(),
                    lowerBits = c.ToArray<float>();
                for (int e = 0; e < wholeBits.Length; e++)
                    if (e % n > e / n % n)
                        wholeBits[e] = 0;
                Reference.AssertSameBits(wholeBits, lowerBits, (e, x, y) => $"{what}: element {e}: {x} whole, {y}");
            }
        }
    }

    /// <summary>
    /// A lower result through the accelerator's split over the depth, where the zeros are written as the splits'
    /// partial products are summed: a simulator of its own told it has 32 multiprocessors (the shared one has one, so
    /// it never splits), as <see cref="MatMulTests.ProductsSplitAlongKMatchTheReference"/> does.
    /// </summary>
    [TestMethod]
    public void LowerResultSplitOverTheDepthOnTheSimulator()
    {
        TestDevices.RequireSimulator();
        using var simulator = Modula.Tensors.Backends.Ilgpu.IlgpuDevice.CreateCpuSimulator();
        simulator.Kernels.Multiprocessors = 32;
        const int n = 13,
            k = 700,
            seed = 45;
        var a = Reference.RandomValues(n * k, seed);
        var b = Reference.RandomValues(n * k, seed + 1);
        using var ta = Reference.Make(a, new Shape(n, k), DType.Float32, simulator);
        using var tb = Reference.Make(b, new Shape(n, k), DType.Float32, simulator);
        using var c = Ops.MatMul(ta, tb, transposeB: true, triangle: MatMulTriangle.LowerResult);
        var expected = Reference.Product(a, b, 1, n, n, k, ta: false, tb: true);
        for (int e = 0; e < expected.Length; e++)
            if (e % n > e / n)
                expected[e] = 0;
        var actual = Reference.Read(c);
        Reference.AssertClose(expected, actual, 3e-5 * Math.Sqrt(k), 1e-5, $"13 × 13 by 700, split, seed={seed}");
        for (int e = 0; e < actual.Length; e++)
            if (e % n > e / n && actual[e] != 0)
                Assert.Fail($"split lower result: element {e} (row {e / n}, column {e % n}) is {actual[e]}, not 0");
    }

    /// <summary>
    /// With op(a) triangular (its other side zero), the product, plain and added into c, is the whole product: to the
    /// bit on the CPU in float32, against float64 elsewhere. Shapes cover one element, m ≠ k both ways, the GPT's
    /// 64 × 64 weights by 32 columns, row splits over two threads (400 × 400 by 64), a column split (100 rows, 700
    /// columns), and a depth past one 1,024-deep block (1,100 × 1,100 by 8), where the upper triangle's last rows
    /// meet no depth of the first block.
    /// </summary>
    [TestMethod]
    [DataRow(1, 1, 1, 4)]
    [DataRow(3, 7, 5, 9)]
    [DataRow(2, 64, 64, 32)]
    [DataRow(1, 37, 50, 13)]
    [DataRow(1, 50, 37, 13)]
    [DataRow(1, 400, 400, 64)]
    [DataRow(1, 100, 100, 700)]
    [DataRow(1, 1100, 1100, 8)]
    public void TriangularAGivesTheWholeProduct(int batch, int m, int k, int n)
    {
        const int seed = 43;
        foreach (var triangle in new[] { MatMulTriangle.LowerA, MatMulTriangle.UpperA })
        foreach (bool transposeA in new[] { false, true })
        {
            // op(a) [m, k] with zeros on the triangle's other side, stored transposed when asked.
            var opA = Reference.RandomValues(batch * m * k, seed);
            for (int e = 0; e < opA.Length; e++)
            {
                int i = e / k % m,
                    p = e % k;
                if (triangle == MatMulTriangle.LowerA ? p > i : p < i)
                    opA[e] = 0;
            }
            var stored = transposeA ? Transposed(opA, batch, m, k) : opA;
            var b = Reference.RandomValues(batch * k * n, seed + 1);
            var c0 = Reference.RandomValues(batch * m * n, seed + 2);
            var expected = Reference.Product(opA, b, batch, m, n, k, ta: false, tb: false).Select(x => 2 * x).ToArray();
            var expectedSum = expected.Select((x, e) => x + c0[e]).ToArray();
            foreach (var (deviceName, dtype, threads) in TestDevices.NumericCases)
            {
                if (deviceName == TestDevices.Simulator && (TestDevices.SkipsSimulator || (long)m * n * k > 100_000))
                    continue;
                using var threadsScope = CpuDevice.UseThreads(threads);
                var device = TestDevices.Get(deviceName);
                string what =
                    $"{triangle} transposeA={transposeA} [{batch}, {m}, {k}]·[{k}, {n}] {deviceName}/{dtype} "
                    + $"threads={threads} seed={seed}";
                using var ta = Reference.Make(
                    stored,
                    transposeA ? new Shape(batch, k, m) : new Shape(batch, m, k),
                    dtype,
                    device
                );
                using var tb = Reference.Make(b, new Shape(batch, k, n), dtype, device);
                // Written over NaN: a tile that no depth of the first block reaches must still be written.
                using var c = Ops.Full(new Shape(batch, m, n), double.NaN, dtype, device);
                Ops.MatMulInto(ta, tb, c, accumulate: false, transposeA: transposeA, alpha: 2, triangle: triangle);
                using var sum = Reference.Make(c0, new Shape(batch, m, n), dtype, device);
                Ops.MatMulInto(ta, tb, sum, accumulate: true, transposeA: transposeA, alpha: 2, triangle: triangle);
                double atol = dtype == DType.Float64 ? 1e-10 : 5e-5 * Math.Sqrt(k);
                Reference.AssertClose(expected, Reference.Read(c), atol, 1e-5, what);
                Reference.AssertClose(expectedSum, Reference.Read(sum), atol, 1e-5, what + " accumulated");
                if (deviceName != TestDevices.Cpu || dtype != DType.Float32)
                    continue;
                using var whole = Ops.MatMul(ta, tb, transposeA: transposeA, alpha: 2);
                using var wholeSum = Reference.Make(c0, new Shape(batch, m, n), dtype, device);
                Ops.MatMulInto(ta, tb, wholeSum, accumulate: true, transposeA: transposeA, alpha: 2);
                Reference.AssertSameBits(whole.ToArray<float>(), c.ToArray<float>(), Describe(what, m, n));
                Reference.AssertSameBits(
                    wholeSum.ToArray<float>(),
                    sum.ToArray<float>(),
                    Describe(what + " accumulated", m, n)
                );
            }
        }
    }

    /// <summary>
    /// A triangular op(a) read from the same memory as b (xᵀ·x or x·xᵀ, the forms the CPU otherwise computes as
    /// symmetric products) is computed whole, less the triangle's zeros: for a lower triangular x, xᵀ·x (xᵀ upper
    /// triangular) and x·xᵀ have the whole products' bits.
    /// </summary>
    [TestMethod]
    public void AGramShapedProductWithATriangleIsComputedWhole()
    {
        const int n = 40,
            seed = 47;
        var x = Reference.RandomValues(n * n, seed);
        for (int e = 0; e < x.Length; e++)
            if (e % n > e / n)
                x[e] = 0;
        using var t = Reference.Make(x, new Shape(n, n), DType.Float32, Device.Cpu);
        using var whole = Ops.MatMul(t, t, transposeA: true);
        using var skipped = Ops.MatMul(t, t, transposeA: true, triangle: MatMulTriangle.UpperA);
        Reference.AssertSameBits(whole.ToArray<float>(), skipped.ToArray<float>(), Describe($"xᵀ·x seed={seed}", n, n));
        using var wholeRows = Ops.MatMul(t, t, transposeB: true);
        using var skippedRows = Ops.MatMul(t, t, transposeB: true, triangle: MatMulTriangle.LowerA);
        Reference.AssertSameBits(
            wholeRows.ToArray<float>(),
            skippedRows.ToArray<float>(),
            Describe($"x·xᵀ seed={seed}", n, n)
        );
    }

    /// <summary>Triangles the product cannot take are refused, naming the op and the shapes.</summary>
    [TestMethod]
    public void RefusesWhatATriangleCannotMean()
    {
        using var a = Ops.Zeros(new Shape(3, 4));
        using var b = Ops.Zeros(new Shape(4, 5));
        using var square = Ops.Zeros(new Shape(4, 4));
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.MatMul(a, b, triangle: MatMulTriangle.LowerResult));
        StringAssert.Contains(e.Message, "MatMul: a lower-triangle result must be square, got 3×5");
        using var c = Ops.Zeros(new Shape(4, 4));
        e = Assert.ThrowsExactly<ArgumentException>(() =>
            Ops.MatMulInto(square, square, c, accumulate: true, triangle: MatMulTriangle.LowerResult)
        );
        StringAssert.Contains(e.Message, "cannot be accumulated");
        e = Assert.ThrowsExactly<ArgumentException>(() =>
            Ops.MatMul(square, square, symmetricResult: true, triangle: MatMulTriangle.LowerA)
        );
        StringAssert.Contains(e.Message, "MatMul: a symmetric result cannot also take a triangle (LowerA)");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.MatMul(a, b, triangle: (MatMulTriangle)7));
    }

    private static Func<int, float, float, string> Describe(string what, int m, int n) =>
        (e, whole, triangle) => $"{what}: element {e} (row {e / n % m}, column {e % n}): {whole} whole, {triangle}";

    // The batch of [rows, cols] matrices, each transposed.
    private static double[] Transposed(double[] x, int batch, int rows, int cols)
    {
        var t = new double[x.Length];
        for (int b = 0; b < batch; b++)
        for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            t[b * rows * cols + j * rows + i] = x[b * rows * cols + i * cols + j];
        return t;
    }
}
