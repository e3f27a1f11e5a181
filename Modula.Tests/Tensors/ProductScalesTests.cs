using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Tensors;

/// <summary>
/// Per-matrix scales of <see cref="Ops.MatMulInto"/> and <see cref="Ops.SymmetricPolynomial(Tensor, double, double,
/// double, Tensor)"/>: each matrix times its own factor, inside the product on the CPU and in a pass after it on
/// the ILGPU simulator, against float64.
/// </summary>
[TestClass]
public sealed class ProductScalesTests
{
    /// <summary>
    /// Full, Gram (symmetric by layout), declared-symmetric and lower-triangle products, a padded output and a
    /// strided one (a column slice: written in place on the CPU, through a separate tensor on the simulator), with
    /// factors that include 0 and a negative one, at one and two threads, in float64 and on the simulator.
    /// </summary>
    [TestMethod]
    [DataRow(5, 7, 9, "plain")]
    [DataRow(16, 40, 40, "gram")]
    [DataRow(9, 33, 33, "symmetric")]
    [DataRow(3, 20, 20, "lower")]
    [DataRow(4, 24, 24, "padded")]
    [DataRow(3, 12, 10, "strided")]
    public void EachMatrixTakesItsFactor(int batch, int m, int k, string kind)
    {
        int n = kind == "plain" || kind == "strided" ? 11 : m;
        const int seed = 17;
        var a = Reference.RandomValues(batch * m * k, seed);
        var b = kind == "plain" || kind == "strided" ? Reference.RandomValues(batch * k * n, seed + 1) : a;
        var factors = Enumerable.Range(0, batch).Select(q => q == 1 ? 0 : 0.5 + 0.75 * q * (q % 3 == 2 ? -1 : 1));
        var s = factors.ToArray();
        // A symmetric product needs a symmetric result: A·Aᵀ from one tensor (a Gram product), or declared for it.
        bool gramLike = kind is "gram" or "symmetric" or "lower" or "padded";
        var plain = Reference.Product(a, b, batch, m, n, k, ta: false, tb: gramLike);
        var expected = plain.Select((v, e) => v * s[e / (m * n)]).ToArray();
        if (kind == "lower")
            for (int e = 0; e < expected.Length; e++)
                if (e % n > e / n % m)
                    expected[e] = 0;
        foreach (var (deviceName, dtype, threads) in TestDevices.NumericCases)
        {
            if (deviceName == TestDevices.Simulator && TestDevices.SkipsSimulator)
                continue;
            using var threadsScope = CpuDevice.UseThreads(threads);
            var device = TestDevices.Get(deviceName);
            string what = $"{kind} {batch}×{m}×{n}×{k} {deviceName}/{dtype} threads={threads} seed={seed}";
            using var ta = Reference.Make(a, new Shape(batch, m, k), dtype, device);
            using var tb = gramLike ? null : Reference.Make(b, new Shape(batch, k, n), dtype, device);
            using var scales = Reference.Make(s, new Shape(batch, 1, 1), dtype, device);
            using var wideC = kind == "strided" ? Tensor.Empty(new Shape(batch, m, 2 * n), dtype, device) : null;
            using var c = kind switch
            {
                "padded" when deviceName == TestDevices.Cpu => Tensor.EmptyMatrices(new Shape(batch, m, n), dtype),
                "strided" => wideC!.Slice(2, 0, n),
                _ => Tensor.Empty(new Shape(batch, m, n), dtype, device),
            };
            Ops.MatMulInto(
                ta,
                tb ?? ta,
                c,
                accumulate: false,
                transposeB: gramLike,
                symmetricResult: kind == "symmetric",
                triangle: kind == "lower" ? MatMulTriangle.LowerResult : MatMulTriangle.None,
                scales: scales
            );
            var (atol, rtol) = Reference.Tolerance(dtype);
            using var dense = Ops.Contiguous(c);
            Reference.AssertClose(expected, Reference.Read(dense), atol * k, rtol * 10, what);
        }
    }

    /// <summary>The polynomial's three coefficients times each matrix's factor, against float64.</summary>
    [TestMethod]
    [DataRow(1, 5)]
    [DataRow(6, 24)]
    [DataRow(16, 40)]
    public void EachPolynomialTakesItsFactor(int batch, int n)
    {
        const int seed = 23;
        const double a = 3955 / 1024.0,
            b = -8306 / 1024.0,
            c = 5008 / 1024.0;
        var x = Reference.RandomValues(batch * n * n, seed);
        var r = new double[x.Length];
        for (int q = 0; q < batch; q++)
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            r[(q * n + i) * n + j] = (float)((x[(q * n + i) * n + j] + x[(q * n + j) * n + i]) / Math.Sqrt(n));
        var s = Enumerable.Range(0, batch).Select(q => q == 2 ? 0 : 1.5 - 0.5 * q).ToArray();
        var square = Reference.Product(r, r, batch, n, n, n, ta: false, tb: false);
        var expected = r.Select((v, e) => s[e / (n * n)] * ((e % n == e / n % n ? a : 0) + b * v + c * square[e]))
            .ToArray();
        foreach (var (deviceName, dtype, threads) in TestDevices.NumericCases)
        {
            if (deviceName == TestDevices.Simulator && TestDevices.SkipsSimulator)
                continue;
            using var threadsScope = CpuDevice.UseThreads(threads);
            var device = TestDevices.Get(deviceName);
            string what = $"{batch}×{n} {deviceName}/{dtype} threads={threads} seed={seed}";
            using var tr = Reference.Make(r, new Shape(batch, n, n), dtype, device);
            using var scales = Reference.Make(s, new Shape(batch, 1, 1), dtype, device);
            using var h = Ops.SymmetricPolynomial(tr, a, b, c, scales);
            double atol = dtype == DType.Float64 ? 1e-10 : 1e-4 * Math.Sqrt(n + 1);
            Reference.AssertClose(expected, Reference.Read(h), atol, 1e-5, what);
        }
    }

    /// <summary>Factors stored in the output itself, at its first elements: each matrix takes the factor it held
    /// before the products began, not a product's value.</summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void FactorsStoredInTheOutputAreReadBeforeItIsWritten(string deviceName)
    {
        if (deviceName == TestDevices.Simulator)
            TestDevices.RequireSimulator();
        var device = TestDevices.Get(deviceName);
        const int batch = 3,
            n = 4,
            seed = 29;
        var a = Reference.RandomValues(batch * n * n, seed);
        double[] s = [2, -0.5, 3];
        var initial = new double[batch * n * n];
        s.CopyTo(initial, 0);
        using var ta = Reference.Make(a, new Shape(batch, n, n), DType.Float32, device);
        using var c = Reference.Make(initial, new Shape(batch, n, n), DType.Float32, device);
        using var flat = c.View(batch * n * n);
        using var head = flat.Slice(0, 0, batch);
        Ops.MatMulInto(ta, ta, c, accumulate: false, scales: head);
        var plain = Reference.Product(a, a, batch, n, n, n, ta: false, tb: false);
        var expected = plain.Select((v, e) => v * s[e / (n * n)]).ToArray();
        Reference.AssertClose(expected, Reference.Read(c), 1e-5, 1e-5, $"{deviceName} seed {seed}");
    }

    [TestMethod]
    public void BadScalesAreRefusedByName()
    {
        using var x = Ops.Zeros(new Shape(3, 4, 4));
        using var c = Ops.Zeros(new Shape(3, 4, 4));
        using var two = Ops.Zeros(new Shape(2, 1, 1));
        var error = Assert.ThrowsExactly<ArgumentException>(() =>
            Ops.MatMulInto(x, x, c, accumulate: false, scales: two)
        );
        StringAssert.Contains(error.Message, "MatMulInto: scales needs one factor per matrix, 3");
        StringAssert.Contains(error.Message, "[2, 1, 1]");
        using var three = Ops.Zeros(new Shape(3, 1, 1));
        error = Assert.ThrowsExactly<ArgumentException>(() => Ops.MatMulInto(x, x, c, accumulate: true, scales: three));
        StringAssert.Contains(error.Message, "MatMulInto: per-matrix scales cannot be accumulated");
        using var doubles = Ops.Zeros(new Shape(3, 1, 1), DType.Float64);
        error = Assert.ThrowsExactly<ArgumentException>(() =>
            Ops.MatMulInto(x, x, c, accumulate: false, scales: doubles)
        );
        StringAssert.Contains(error.Message, "MatMulInto: scales must be Float32");
        // Refused before an empty product returns, too.
        using var empty = Ops.Zeros(new Shape(3, 0, 4));
        using var emptyC = Ops.Zeros(new Shape(3, 0, 0));
        error = Assert.ThrowsExactly<ArgumentException>(() =>
            Ops.MatMulInto(empty, empty, emptyC, accumulate: false, transposeB: true, scales: two)
        );
        StringAssert.Contains(error.Message, "MatMulInto: scales needs one factor per matrix, 3");
        using var spread = Ops.Zeros(new Shape(3, 2));
        using var column = spread.Slice(1, 0, 1);
        error = Assert.ThrowsExactly<ArgumentException>(() => Ops.SymmetricPolynomial(x, 1, 1, 1, column));
        StringAssert.Contains(error.Message, "SymmetricPolynomial: scales needs one factor per matrix, 3");
        StringAssert.Contains(error.Message, "not contiguous");
    }
}
