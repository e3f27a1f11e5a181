using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Modules;

/// <summary>
/// The two forms of <see cref="OddPolynomial"/>: stepping a tall matrix itself, and stepping its Gram matrix with
/// restarts. Both against a float64 reference on inputs whose small singular values the Gram matrix squares
/// towards rounding, and on the edge shapes where one side is 0 or 1.
/// </summary>
[TestClass]
public sealed class OddPolynomialTests
{
    /// <summary>
    /// A [rows, cols] float32 matrix U·diag(σ)·Vᵀ with σ spread geometrically over <paramref name="decades"/>,
    /// orthogonalized by six-step Newton–Schulz in either form, against the direct form in float64 (relative
    /// Frobenius error). The bound 1e-4 is about six times the worst measured (1.7e-5 for the Gram form at
    /// 512×128 and six decades; the direct form, 1.3e-5); without restarts the Gram form measured 1.6e-3.
    /// </summary>
    [TestMethod]
    [DataRow(512, 128, 6, 31UL)]
    [DataRow(300, 60, 4, 32UL)]
    [DataRow(256, 128, 6, 33UL)]
    [DataRow(96, 8, 3, 34UL)]
    public void GramFormMatchesTheDirectFormOnIllConditionedTallMatrices(int rows, int cols, int decades, ulong seed)
    {
        var input = IllConditioned(rows, cols, decades, seed);
        using var reference64 = Run(input, rows, cols, DType.Float64, onGram: false);
        var reference = HostLinalg.HostArray(reference64);
        foreach (bool onGram in new[] { true, false })
        {
            using var result = Run(input, rows, cols, DType.Float32, onGram);
            double error = RelativeError(reference, HostLinalg.HostArray(result));
            Console.WriteLine($"{rows}×{cols} {decades} decades seed {seed} onGram={onGram}: {error:E2}");
            Assert.IsTrue(error <= 1e-4, $"{rows}×{cols} seed {seed} onGram={onGram}: relative error {error:E2}");
        }
        using var gram64 = Run(input, rows, cols, DType.Float64, onGram: true);
        double error64 = RelativeError(reference, HostLinalg.HostArray(gram64));
        Assert.IsTrue(error64 <= 1e-11, $"{rows}×{cols} seed {seed} float64: Gram form {error64:E2} from direct");
    }

    /// <summary>
    /// Shapes at the edges of the Gram form: no columns, one column, a wide input (R = M·Mᵀ), a batch of
    /// batches. Each against the direct form in float64 (and a zero-sized result for zero-sized input).
    /// </summary>
    [TestMethod]
    [DataRow(new[] { 5, 0 })]
    [DataRow(new[] { 0, 5 })]
    [DataRow(new[] { 7, 1 })]
    [DataRow(new[] { 1, 9 })]
    [DataRow(new[] { 20, 64 })]
    [DataRow(new[] { 2, 3, 40, 8 })]
    public void EdgeShapesTakeEitherFormAlike(int[] dims)
    {
        var shape = new Shape(dims);
        using var g = Ops.Normal(shape, new Generator(41), DType.Float64);
        using var direct = OddPolynomial.Compose(g, Steps, UnitFrobeniusFactor, onGram: false, reciprocalNorm: true);
        using var gram = OddPolynomial.Compose(g, Steps, UnitFrobeniusFactor, onGram: true, reciprocalNorm: true);
        Assert.AreEqual(shape, direct.Shape);
        Assert.AreEqual(shape, gram.Shape);
        var expected = HostLinalg.HostArray(direct);
        var actual = HostLinalg.HostArray(gram);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).DefaultIfEmpty(0).Max();
        Assert.IsTrue(worst <= 1e-12, $"{shape}: |Gram form − direct form| = {worst:E2}");
    }

    /// <summary>
    /// The Gram form in float32 for every family of steps (Muon's quintic, Polar Express, a cubic step) on tall,
    /// wide and batched inputs with singular values over three decades, against the direct form in float64; the
    /// bound is the six-step test's.
    /// </summary>
    [TestMethod]
    [DataRow("muon", new[] { 384, 96 })]
    [DataRow("polar", new[] { 96, 384 })]
    [DataRow("cubic", new[] { 3, 200, 40 })]
    [DataRow("polar", new[] { 2, 24, 160 })]
    public void GramFormHoldsInFloat32ForEveryFamilyAndOrientation(string family, int[] dims)
    {
        var steps = family switch
        {
            "muon" => Orthogonalize.Coefficients(Orthogonalizer.MuonQuintic),
            "polar" => Orthogonalize.Coefficients(Orthogonalizer.PolarExpress),
            _ => Enumerable.Repeat((1.5, -0.5, 0.0), 8).ToArray(),
        };
        var shape = new Shape(dims);
        int rows = dims[^2],
            cols = dims[^1],
            count = shape.Size / (rows * cols);
        var input = new double[shape.Size];
        for (int q = 0; q < count; q++)
        {
            // Generated tall, laid out as the shape asks.
            int tall = Math.Max(rows, cols),
                narrow = Math.Min(rows, cols);
            var matrix = IllConditioned(tall, narrow, 3, 50UL + (ulong)q);
            for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                input[q * rows * cols + i * cols + j] = rows >= cols ? matrix[i * cols + j] : matrix[j * rows + i];
        }
        using var g64 = HostLinalg.Upload(input, shape, DType.Float64, Device.Cpu);
        using var g32 = HostLinalg.Upload(input, shape, DType.Float32, Device.Cpu);
        using var reference = OddPolynomial.Compose(
            g64,
            steps,
            UnitFrobeniusFactor,
            onGram: false,
            reciprocalNorm: true
        );
        using var gram = OddPolynomial.Compose(g32, steps, UnitFrobeniusFactor, onGram: true, reciprocalNorm: true);
        Assert.AreEqual(shape, gram.Shape);
        double error = RelativeError(HostLinalg.HostArray(reference), HostLinalg.HostArray(gram));
        Console.WriteLine($"{family} {shape}: Gram form in float32 {error:E2} from float64");
        Assert.IsTrue(error <= 1e-4, $"{family} {shape}: relative error {error:E2}");
    }

    /// <summary>
    /// <see cref="OddPolynomial.ComposeEach"/> against <see cref="OddPolynomial.Compose(Tensor,
    /// IReadOnlyList{ValueTuple{double, double, double}}, Func{Tensor, Tensor})"/> on each tensor alone: tall, wide,
    /// batched (two batch axes too) and empty parts whose Gram matrices are iterated as one batch, and sets that
    /// cannot be (a square part, short sides that differ), in float32 and float64, with six-step's six steps (one
    /// restart), Muon's five (a restart, then two steps) and six-step's first three (no restart: the one multiply-back
    /// takes both the input's factor and the result's). Every other part's result is times its own factor per matrix,
    /// against the lone result multiplied after. A part given another's Gram matrix, Q or factor would be off by O(1);
    /// the bound allows only rounding. Each row also states whether its parts run together.
    /// </summary>
    [TestMethod]
    [DataRow("together", true, new[] { 3, 96, 24 }, new[] { 2, 24, 96 }, new[] { 48, 24 }, new[] { 0, 60, 24 })]
    [DataRow("empty first, two batch axes", true, new[] { 0, 24, 50 }, new[] { 2, 3, 96, 24 }, new[] { 24, 70 })]
    [DataRow("square part", false, new[] { 2, 16, 16 }, new[] { 64, 16 })]
    [DataRow("short sides differ", false, new[] { 64, 16 }, new[] { 20, 80 })]
    public void ComposeEachMatchesComposeOnEveryPart(string what, bool together, params int[][] shapes)
    {
        // Three steps: the Gram form's only multiply-back takes both the input's factor and the result's.
        var families = new[] { Steps, Orthogonalize.Coefficients(Orthogonalizer.MuonQuintic), Steps[..3] };
        foreach (var dtype in new[] { DType.Float32, DType.Float64 })
        foreach (var steps in families)
        {
            var gs = shapes
                .Select((dims, k) => Ops.Normal(new Shape(dims), new Generator(60UL + (ulong)k), dtype))
                .ToArray();
            // Every other part's matrices times their own factor (k + 1 + 0.25·matrix), the others times none.
            var times = gs.Select((g, k) => k % 2 == 1 ? null : Factors(g, k)).ToArray();
            var each = gs.Select(g => Tensor.Empty(g.Shape, g.DType, g.Device)).ToArray();
            try
            {
                Assert.AreEqual(together, OddPolynomial.RunTogether(gs, steps.Length), $"{what}: run together");
                OddPolynomial.ComposeEach(gs, steps, UnitFrobeniusFactor, times, each, reciprocalNorm: true);
                for (int k = 0; k < gs.Length; k++)
                {
                    using var plain = OddPolynomial.Compose(
                        gs[k],
                        steps,
                        UnitFrobeniusFactor,
                        onGram: null,
                        reciprocalNorm: true
                    );
                    using var alone = times[k] is { } factor ? Ops.Mul(plain, factor) : Ops.Contiguous(plain);
                    string name = $"{what} {dtype} {steps.Length} steps: part {k} {gs[k].Shape}";
                    Assert.AreEqual(gs[k].Shape, each[k].Shape, name);
                    var expected = HostLinalg.HostArray(alone);
                    double worst = expected
                        .Zip(HostLinalg.HostArray(each[k]), (e, a) => Math.Abs(e - a))
                        .DefaultIfEmpty(0)
                        .Max();
                    double bound = dtype == DType.Float32 ? 1e-6 : 1e-12;
                    Assert.IsTrue(worst <= bound, $"{name} off by {worst:E2}");
                }
            }
            finally
            {
                foreach (var t in gs.Concat(each).Concat(times.OfType<Tensor>()))
                    t.Dispose();
            }
        }
    }

    // One factor per matrix of g, [..., 1, 1]: k + 1 + 0.25·(its index).
    private static Tensor Factors(Tensor g, int k)
    {
        var batch = g.Shape.Dims[..^2];
        int count = new Shape(batch).Size;
        var values = Enumerable.Range(0, count).Select(i => k + 1 + 0.25 * i).ToArray();
        return HostLinalg.Upload(values, new Shape([.. batch, 1, 1]), g.DType, g.Device);
    }

    private static readonly (double A, double B, double C)[] Steps = Orthogonalize.Coefficients(Orthogonalizer.SixStep);

    private static Tensor Run(double[] input, int rows, int cols, DType dtype, bool onGram)
    {
        using var g = HostLinalg.Upload(input, new Shape(rows, cols), dtype, Device.Cpu);
        return OddPolynomial.Compose(g, Steps, UnitFrobeniusFactor, onGram, reciprocalNorm: true);
    }

    private static Tensor UnitFrobeniusFactor(Tensor m) => Orthogonalize.UnitFrobeniusFactor(m, Orthogonalizer.SixStep);

    /// <summary>U·diag(σ)·Vᵀ with Haar U, V and σᵢ = 10^(−decades·i/(cols − 1)), rounded to float32.</summary>
    private static double[] IllConditioned(int rows, int cols, int decades, ulong seed)
    {
        var rng = new Generator(seed);
        var u = HostLinalg.RandomSemiOrthogonal(rows, cols, rng); // [rows, cols], orthonormal columns
        var v = HostLinalg.RandomSemiOrthogonal(cols, cols, rng);
        var result = new double[rows * cols];
        for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
        {
            double s = 0;
            for (int p = 0; p < cols; p++)
                s += u[i * cols + p] * Math.Pow(10, -decades * p / (double)Math.Max(1, cols - 1)) * v[j * cols + p];
            result[i * cols + j] = (float)s;
        }
        return result;
    }

    private static double RelativeError(double[] expected, double[] actual)
    {
        double difference = 0,
            norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            difference += (expected[i] - actual[i]) * (expected[i] - actual[i]);
            norm += expected[i] * expected[i];
        }
        return Math.Sqrt(difference / norm);
    }
}
