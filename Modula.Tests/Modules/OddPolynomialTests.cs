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
    /// Shapes at the edges of the Gram form: no columns, one column, a wide input (run transposed), a batch of
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
        using var direct = OddPolynomial.Compose(g, Steps, ScaleToUnitFrobenius, onGram: false);
        using var gram = OddPolynomial.Compose(g, Steps, ScaleToUnitFrobenius, onGram: true);
        Assert.AreEqual(shape, direct.Shape);
        Assert.AreEqual(shape, gram.Shape);
        var expected = HostLinalg.HostArray(direct);
        var actual = HostLinalg.HostArray(gram);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - a)).DefaultIfEmpty(0).Max();
        Assert.IsTrue(worst <= 1e-12, $"{shape}: |Gram form − direct form| = {worst:E2}");
    }

    private static readonly (double A, double B, double C)[] Steps = Orthogonalize.Coefficients(Orthogonalizer.SixStep);

    private static Tensor Run(double[] input, int rows, int cols, DType dtype, bool onGram)
    {
        using var g = HostLinalg.Upload(input, new Shape(rows, cols), dtype, Device.Cpu);
        return OddPolynomial.Compose(g, Steps, ScaleToUnitFrobenius, onGram);
    }

    private static Tensor ScaleToUnitFrobenius(Tensor m)
    {
        using var norm = Norms.L2(m, [-2, -1]);
        return Norms.DivideSafely(m, norm);
    }

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
