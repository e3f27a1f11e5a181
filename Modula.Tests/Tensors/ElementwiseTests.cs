using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class ElementwiseTests
{
    private static readonly (
        string Name,
        Func<Tensor, Tensor> Op,
        Func<double, double> Reference,
        double Low,
        double High
    )[] Unary =
    [
        ("neg", Ops.Neg, x => -x, -3, 3),
        ("abs", Ops.Abs, Math.Abs, -3, 3),
        ("exp", Ops.Exp, Math.Exp, -5, 5),
        ("log", Ops.Log, Math.Log, 0.01, 10),
        ("sqrt", Ops.Sqrt, Math.Sqrt, 0, 10),
        ("rsqrt", Ops.Rsqrt, x => 1 / Math.Sqrt(x), 0.1, 10),
        ("reciprocal", Ops.Reciprocal, x => 1 / x, 0.5, 4),
        ("tanh", Ops.Tanh, Math.Tanh, -4, 4),
        ("sin", Ops.Sin, Math.Sin, -4, 4),
        ("cos", Ops.Cos, Math.Cos, -4, 4),
        ("erf", Ops.Erf, ReferenceErf, -4, 4),
        ("sign", Ops.Sign, x => Math.Sign(x), -3, 3),
        ("step", Ops.Step, x => x > 0 ? 1 : 0, -3, 3),
        ("pow3", x => Ops.Pow(x, 3), x => x * x * x, -2, 2),
        ("pow-0.5", x => Ops.Pow(x, -0.5), x => Math.Pow(x, -0.5), 0.1, 5),
        ("affine", x => Ops.Add(Ops.Mul(x, 2.5), -1), x => 2.5 * x - 1, -3, 3),
        ("gelu", x => Ops.Map(x, new GeluErf()), x => 0.5 * x * (1 + ReferenceErf(x / Math.Sqrt(2))), -5, 5),
        (
            "gelu-tanh",
            x => Ops.Map(x, new GeluTanh()),
            x => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))),
            -5,
            5
        ),
        (
            "gelu-grad",
            x => Ops.Zip(x, x, new GeluErfGrad()),
            x => x * (0.5 * (1 + ReferenceErf(x / Math.Sqrt(2))) + x * Math.Exp(-x * x / 2) / Math.Sqrt(2 * Math.PI)),
            -5,
            5
        ),
        (
            "gelu-tanh-grad",
            x => Ops.Zip(x, x, new GeluTanhGrad()),
            x =>
            {
                double c = Math.Sqrt(2 / Math.PI),
                    t = Math.Tanh(c * (x + 0.044715 * x * x * x));
                return x * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x));
            },
            -5,
            5
        ),
    ];

    /// <summary>erf by Simpson integration of 2/√π e^(−t²): an independent reference.</summary>
    private static double ReferenceErf(double x)
    {
        int n = 2000;
        double h = x / n,
            sum = 0;
        for (int i = 0; i <= n; i++)
        {
            double w =
                i == 0 || i == n ? 1
                : i % 2 == 1 ? 4
                : 2;
            sum += w * Math.Exp(-(i * h) * (i * h));
        }
        return 2 / Math.Sqrt(Math.PI) * sum * h / 3;
    }

    public static IEnumerable<object[]> Backends =>
        [
            [TestDevices.Cpu, DType.Float32],
            [TestDevices.Cpu, DType.Float64],
            [TestDevices.Simulator, DType.Float32],
            [TestDevices.Cuda, DType.Float32],
        ];

    /// <summary>
    /// The lengths an elementwise test runs on a device. The CPU kernels take vectors of 2 to 16 lanes, unrolled, and
    /// then a tail: every length up to 257 meets every tail of every width. An accelerator runs one thread per element
    /// in groups of a power of two, so the simulator, slow per launch (a minute for every length up to 257), takes the
    /// short lengths and those around each power of two from 32 to 256, and one long length for the values: 9,800 per
    /// op, where every length up to 257 gave 33,000.
    /// </summary>
    private static IEnumerable<int> Lengths(string deviceName) =>
        deviceName == TestDevices.Simulator
            ? Enumerable
                .Range(0, 18)
                .Concat(new[] { 32, 64, 128, 256 }.SelectMany(p => new[] { p - 1, p, p + 1 }))
                .Append(8191)
            : Enumerable.Range(0, 258);

    [TestMethod]
    [DynamicData(nameof(Backends))]
    public void UnaryOpsMatchFloat64ReferenceAtEveryTailLength(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        var (atol, rtol) = Reference.Tolerance(dtype);
        foreach (var (name, op, reference, low, high) in Unary)
        {
            foreach (int n in Lengths(deviceName))
            {
                var values = Reference.RandomValues(n, seed: n, low, high);
                if (dtype == DType.Float32)
                    values = values.Select(v => (double)(float)v).ToArray();
                using var x = Reference.Make(values, new Shape(n), dtype, device);
                using var y = op(x);
                // the Simpson reference erf is good to ~1e-11
                double tolerance = dtype == DType.Float64 && name is "erf" or "gelu" or "gelu-grad" ? 1e-10 : atol;
                Reference.AssertClose(
                    values.Select(reference).ToArray(),
                    Reference.Read(y),
                    tolerance * 4,
                    rtol * 4,
                    $"{name} n={n} on {deviceName}/{dtype}"
                );
            }
        }
    }

    /// <summary>
    /// The GELU forms and their gradients far from zero, where their exponentials underflow and x² or x³ overflow in
    /// float32: each gives its limit (x or 0; the gradients, taken with g = x, x·1 or x·0), not NaN. At |x| ≥ 2·10¹⁹
    /// float32's x² is ∞, and the tanh form's gradient multiplied it by the vanished 1 ∓ tanh: 0·∞. The exact forms'
    /// references are their limits (for |x| ≥ 9, erf(x/√2) is ±1 in float64), the tanh forms' the float64 formulas.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Backends))]
    public void GeluFormsHoldFarFromZero(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        var (atol, rtol) = Reference.Tolerance(dtype);
        double[] values = [9, -9, 20, -20, 1e3, -1e3, 1e15, -1e15, 1e20, -1e20, 3e38, -3e38];
        foreach (var (name, op, formula, _, _) in Unary.Where(u => u.Name.StartsWith("gelu", StringComparison.Ordinal)))
        {
            Func<double, double> reference = name is "gelu" or "gelu-grad" ? x => x > 0 ? x : 0 : formula;
            using var x = Reference.Make(values, new Shape(values.Length), dtype, device);
            using var y = op(x);
            Reference.AssertClose(
                values.Select(reference).ToArray(),
                Reference.Read(y),
                atol,
                rtol,
                $"{name} far from zero on {deviceName}/{dtype}"
            );
        }
    }

    /// <summary>
    /// Float32 erf stays within the 6.7·10⁻⁷ its documentation gives, on a grid of step 10⁻³ over [−6, 6] and of step
    /// 10⁻⁵ over [−0.1, 0.1], where its largest errors lie, and at the worst floats an exhaustive search found. A
    /// fuzzing run found 5.1·10⁻⁷ near 0, past the 1.5·10⁻⁷ once documented: that is the formula's error before
    /// float32 rounding, which the cancellation in 1 − poly·e^(−x²) near 0 magnifies. Another found 6.05·10⁻⁷ at 128
    /// bits without FMA, past the 6·10⁻⁷ then documented.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void Float32ErfStaysWithinItsDocumentedBound(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        var grid = Enumerable
            .Range(-6000, 12001)
            .Select(i => i / 1000.0)
            .Concat(Enumerable.Range(-10000, 20001).Select(i => i / 100000.0))
            // The largest errors over every float with 0.002 ≤ |x| ≤ 0.3 (without FMA, then with it), and a fuzzing
            // run's 6.05·10⁻⁷ at 128 bits.
            .Concat([0.037966974, -0.037966974, 0.051386025, -0.051386025, 0.027956578880548477])
            .Select(v => (double)(float)v)
            .ToArray();
        using var x = Reference.Make(grid, new Shape(grid.Length), DType.Float32, device);
        using var y = Ops.Erf(x);
        var got = Reference.Read(y);
        int worst = Enumerable.Range(0, grid.Length).MaxBy(i => Math.Abs(got[i] - ReferenceErf(grid[i])));
        double error = Math.Abs(got[worst] - ReferenceErf(grid[worst]));
        Assert.IsTrue(error <= 6.7e-7, $"erf({grid[worst]}) = {got[worst]} on {deviceName}: off by {error:E2}");
    }

    private static readonly (
        string Name,
        Func<Tensor, Tensor, Tensor> Op,
        Func<double, double, double> Reference
    )[] Binary =
    [
        ("add", Ops.Add, (a, b) => a + b),
        ("sub", Ops.Sub, (a, b) => a - b),
        ("mul", Ops.Mul, (a, b) => a * b),
        ("div", Ops.Div, (a, b) => a / b),
        ("max", Ops.Maximum, Math.Max),
        ("min", Ops.Minimum, Math.Min),
        ("gt", Ops.Greater, (a, b) => a > b ? 1 : 0),
        ("lt", Ops.Less, (a, b) => a < b ? 1 : 0),
        ("ge", Ops.GreaterOrEqual, (a, b) => a >= b ? 1 : 0),
        ("eq", Ops.Equal, (a, b) => a == b ? 1 : 0),
        (
            "linear-combination",
            (a, b) => Ops.Zip(a, b, new LinearCombination(0.875, -0.125)),
            (a, b) => 0.875 * a - 0.125 * b
        ),
    ];

    [TestMethod]
    [DynamicData(nameof(Backends))]
    public void BinaryOpsMatchReferenceAtEveryTailLength(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        var (atol, rtol) = Reference.Tolerance(dtype);
        foreach (var (name, op, reference) in Binary)
        {
            foreach (int n in Lengths(deviceName))
            {
                var a = Round(Reference.RandomValues(n, 2 * n), dtype);
                var b = Round(Reference.RandomValues(n, 2 * n + 1, 0.5, 3), dtype);
                if (n > 3)
                    b[3] = a[3]; // exercise equality
                using var ta = Reference.Make(a, new Shape(n), dtype, device);
                using var tb = Reference.Make(b, new Shape(n), dtype, device);
                using var y = op(ta, tb);
                Reference.AssertClose(
                    a.Zip(b, reference).ToArray(),
                    Reference.Read(y),
                    atol,
                    rtol,
                    $"{name} n={n} on {deviceName}/{dtype}"
                );
            }
        }
    }

    /// <summary>
    /// NaN goes through every op built on a maximum, minimum or floor, as in the float64 reference (.NET's Math.Max
    /// and Min propagate it). CUDA's max.f32 and min.f32 return the other operand when one is NaN, so an op written
    /// with MathF.Max would turn a NaN norm into a finite factor on the GPU alone. Values under the floor (zero,
    /// tiny, negative) are floored. NaN sits at the start, in the vector body and in the scalar tail.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Backends))]
    public void NaNGoesThroughMaximaMinimaAndFloors(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        const int n = 37;
        const double floor = 0.25,
            numerator = 2;
        var x = Round(Reference.RandomValues(n, seed: 5, -1, 3), dtype);
        foreach (int i in new[] { 0, 20, n - 1 })
            x[i] = double.NaN;
        (x[1], x[2], x[3]) = (0, 1e-9, -0.5);
        var other = Round(Reference.RandomValues(n, seed: 6, -1, 3), dtype);
        using var tx = Reference.Make(x, new Shape(n), dtype, device);
        using var to = Reference.Make(other, new Shape(n), dtype, device);
        var cases = new (string Name, Func<Tensor> Op, Func<double, double, double> Reference)[]
        {
            (
                "floored-reciprocal",
                () => Ops.Map(tx, new FlooredReciprocal(numerator, floor)),
                (v, _) => numerator / Math.Max(v, floor)
            ),
            ("floored-quotient", () => Ops.Zip(to, tx, new FlooredQuotient(floor)), (v, o) => o / Math.Max(v, floor)),
            ("max", () => Ops.Maximum(tx, to), Math.Max),
            ("min", () => Ops.Minimum(tx, to), Math.Min),
        };
        var (atol, rtol) = Reference.Tolerance(dtype);
        foreach (var (name, op, reference) in cases)
        {
            using var y = op();
            var expected = x.Zip(other, reference).ToArray();
            Reference.AssertClose(expected, Reference.Read(y), atol, rtol, $"{name} on {deviceName}/{dtype}");
        }
    }

    private static double[] Round(double[] v, DType dtype) =>
        dtype == DType.Float32 ? v.Select(x => (double)(float)x).ToArray() : v;

    public static IEnumerable<object[]> BroadcastCases =>
        [
            [new[] { 3, 1 }, new[] { 1, 4 }],
            [new[] { 2, 3, 4 }, new[] { 4 }],
            [new[] { 5, 1, 7 }, new[] { 1, 6, 1 }],
            [new int[0], new[] { 2, 3 }],
            [new[] { 1 }, new[] { 17 }],
            [new[] { 2, 0, 3 }, new[] { 1, 3 }],
            [new[] { 33, 17 }, new[] { 33, 1 }],
        ];

    [TestMethod]
    [DynamicData(nameof(BroadcastCases))]
    public void BinaryBroadcastingMatchesReference(int[] shapeA, int[] shapeB)
    {
        foreach (var deviceName in new[] { TestDevices.Cpu, TestDevices.Simulator })
        {
            var device = TestDevices.Get(deviceName);
            var sa = new Shape(shapeA);
            var sb = new Shape(shapeB);
            var outShape = Shape.Broadcast(sa, sb, "test");
            var a = Reference.RandomValues(sa.Size, 1).Select(v => (double)(float)v).ToArray();
            var b = Reference.RandomValues(sb.Size, 2).Select(v => (double)(float)v).ToArray();
            using var ta = Reference.Make(a, sa, DType.Float32, device);
            using var tb = Reference.Make(b, sb, DType.Float32, device);
            using var y = Ops.Sub(ta, tb);
            Assert.AreEqual(outShape, y.Shape);
            var expected = new double[outShape.Size];
            for (int i = 0; i < expected.Length; i++)
                expected[i] = a[BroadcastIndex(i, outShape, sa)] - b[BroadcastIndex(i, outShape, sb)];
            Reference.AssertClose(expected, Reference.Read(y), 1e-6, 1e-6, $"sub {sa} {sb} on {deviceName}");
        }
    }

    /// <summary>Index into a row-major tensor of shape <paramref name="src"/> broadcast to <paramref
    /// name="dst"/>.</summary>
    internal static int BroadcastIndex(int linear, Shape dst, Shape src)
    {
        int index = 0,
            stride = 1;
        for (int d = dst.Rank - 1; d >= 0; d--)
        {
            int coord = linear % dst.Dims[d];
            linear /= dst.Dims[d];
            int sd = d - (dst.Rank - src.Rank);
            if (sd < 0)
                continue;
            if (src.Dims[sd] != 1)
                index += coord * stride;
            stride *= src.Dims[sd];
        }
        return index;
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void BinaryOnNonContiguousViewsMatchesReference(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        var a = Reference.RandomValues(5 * 7, 3).Select(v => (double)(float)v).ToArray();
        using var ta = Reference.Make(a, new Shape(5, 7), DType.Float32, device);
        using var t = ta.Transpose(); // [7, 5], strides (1, 7)
        using var s = t.Slice(0, 2, 4); // rows 2..5 of the transpose
        using var y = Ops.Mul(s, s);
        var expected = new double[4 * 5];
        for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++)
            expected[i * 5 + j] = a[j * 7 + (i + 2)] * a[j * 7 + (i + 2)];
        Reference.AssertClose(expected, Reference.Read(y), 1e-6, 1e-6, "mul on transposed slice");
        using var e = Ops.Exp(s);
        Reference.AssertClose(
            expected.Select((_, k) => Math.Exp(a[k % 5 * 7 + k / 5 + 2])).ToArray(),
            Reference.Read(e),
            1e-5,
            1e-6,
            "exp on transposed slice"
        );
    }

    [TestMethod]
    public void LongAndManyShortStridedRowsAreWalkedCompletely()
    {
        // Long rows split into chunks (one row alone is split evenly across threads), and
        // thousands of short strided rows (a head permutation) walked row to row.
        foreach (
            var (dims, permutation) in new (int[], int[])[]
            {
                ([1, 70001], [0, 1]),
                ([3, 70001], [0, 1]),
                ([5, 9, 4, 8], [0, 2, 1, 3]),
                ([2, 3, 64, 4, 32], [0, 3, 2, 1, 4]),
            }
        )
        {
            var shape = new Shape(dims);
            var a = Reference.RandomValues(shape.Size, 5).Select(v => (double)(float)v).ToArray();
            var b = Reference.RandomValues(shape.Size, 6).Select(v => (double)(float)v).ToArray();
            using var ta = Reference.Make(a, shape, DType.Float32, Device.Cpu);
            using var tb = Reference.Make(b, shape, DType.Float32, Device.Cpu);
            using var pa = ta.Permute(permutation);
            using var pb = tb.Permute(permutation);
            using var sum = Ops.Add(pa, pb);
            using var copy = Ops.Contiguous(pa);
            var order = PermutedOrder(dims, permutation);
            Reference.AssertClose(
                order.Select(i => a[i] + b[i]).ToArray(),
                Reference.Read(sum),
                1e-6,
                1e-6,
                $"add {shape} permuted"
            );
            CollectionAssert.AreEqual(
                order.Select(i => a[i]).ToArray(),
                Reference.Read(copy),
                $"copy {shape} permuted"
            );
        }
    }

    /// <summary>Source index of each element of x.Permute(permutation), in row-major order.</summary>
    private static int[] PermutedOrder(int[] dims, int[] permutation)
    {
        var outDims = permutation.Select(p => dims[p]).ToArray();
        var strides = new int[dims.Length];
        for (int d = dims.Length - 1, s = 1; d >= 0; s *= dims[d], d--)
            strides[d] = s;
        var result = new int[dims.Aggregate(1, (x, y) => x * y)];
        var index = new int[dims.Length];
        for (int k = 0; k < result.Length; k++)
        {
            int source = 0;
            for (int d = 0; d < dims.Length; d++)
                source += index[d] * strides[permutation[d]];
            result[k] = source;
            for (int d = dims.Length - 1; d >= 0 && ++index[d] == outDims[d]; d--)
                index[d] = 0;
        }
        return result;
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void WhereSelectsWithBroadcasting(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        using var c = Tensor.FromArray<float>([1, 0, 1], new Shape(3, 1), device);
        using var a = Tensor.FromArray<float>([1, 2, 3, 4], new Shape(1, 4), device);
        using var b = Tensor.FromArray<float>([-1], new Shape(1), device);
        using var y = Ops.Where(c, a, b);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4, -1, -1, -1, -1, 1, 2, 3, 4 }, y.ToArray<float>());
    }

    [TestMethod]
    public void MapIntoAliasedOutputUpdatesInPlace()
    {
        using var x = Tensor.FromArray<float>([1, 4, 9]);
        Ops.Map(x, new Sqrt(), into: x);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3 }, x.ToArray<float>());
    }
}
