using System.Numerics;
using System.Runtime.Intrinsics;
using Modula.Tensors.Primitives;

namespace Modula.Tests.Tensors;

/// <summary>
/// The float32 exponential of the GELU and softmax lanes (<see cref="ExpLanes"/>) against float64's
/// <see cref="Math.Exp"/>, at <see cref="Vector{T}"/>'s width (whichever the CPU, or a <c>.ci/run</c> rerun, gives)
/// and at 512 bits (emulated where the CPU lacks AVX-512, which changes its speed, not its results).
/// </summary>
[TestClass]
public sealed class ExpLanesTests
{
    private const int Seed = 20261207;

    // Measured: 1.24 ulp with FMA, 1.25 without, over [−87.34, 0] in steps of 10⁻⁴ (below: subnormal or 0).
    private const double MaxUlps = 2;

    // Below this, e^x is under float32's smallest normal number (2⁻¹²⁶).
    private const float SmallestNormalArgument = -87.33654f;

    [TestMethod]
    public void NarrowLanesStayWithinTwoUlpsOfTheExactExponential() => AssertAccurate(Narrow, Vector<float>.Count);

    [TestMethod]
    public void WideLanesStayWithinTwoUlpsOfTheExactExponential() => AssertAccurate(Wide, Vector512<float>.Count);

    [TestMethod]
    public void ZeroGivesOneAndHugeNegativesGiveZero()
    {
        float[] x = [0f, -0f, -float.Epsilon, -1e-10f, -88f, -100f, -1e30f, float.NegativeInfinity];
        float[] expected = [1f, 1f, 1f, 1f, 0f, 0f, 0f, 0f];
        CollectionAssert.AreEqual(expected, Narrow(x));
        CollectionAssert.AreEqual(expected, Wide(x));
    }

    [TestMethod]
    public void NaNGivesZeroOrNaN()
    {
        float[] x = [float.NaN];
        foreach (var (name, got) in BothWidths(x))
            Assert.IsTrue(got[0] == 0 || float.IsNaN(got[0]), $"{name} lanes: e^NaN gave {got[0]:R}.");
    }

    [TestMethod]
    public void ResultsBelowTheSmallestNormalAreZeroOrWithinTwiceTheExactValue()
    {
        var x = Enumerable.Range(0, 4001).Select(i => -88f + i * (88f + SmallestNormalArgument) / 4000).ToArray();
        foreach (var (name, got) in BothWidths(x))
            for (int i = 0; i < x.Length; i++)
            {
                double exact = Math.Exp(x[i]);
                Assert.IsTrue(
                    got[i] >= 0 && got[i] <= 2 * exact + float.Epsilon,
                    $"{name} lanes: e^{x[i]:R} gave {got[i]:R}, exact {exact:R}."
                );
            }
    }

    // A grid over [−88, 0] in steps of 10⁻³ and as many random arguments (seeded); the normal results must be within
    // MaxUlps of float64's exponential.
    private static void AssertAccurate(Func<float[], float[]> exp, int lanes)
    {
        var random = new Random(Seed);
        var grid = Enumerable.Range(0, 88_001).Select(i => -i * 1e-3f);
        var drawn = Enumerable.Range(0, 88_000).Select(_ => (float)(-88 * random.NextDouble()));
        var x = grid.Concat(drawn).ToArray();
        var got = exp(x);
        double worst = 0;
        int at = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i] < SmallestNormalArgument)
                continue;
            double exact = Math.Exp(x[i]);
            double ulp = (double)MathF.BitIncrement((float)exact) - (float)exact;
            double error = Math.Abs(got[i] - exact) / ulp;
            if (double.IsNaN(error) || error > worst)
                (worst, at) = (double.IsNaN(error) ? double.PositiveInfinity : error, i);
        }
        Assert.IsTrue(
            worst <= MaxUlps,
            $"{lanes} lanes, seed {Seed}: e^{x[at]:R} gave {got[at]:R}, exact {Math.Exp(x[at]):R} ({worst:F2} ulp)."
        );
    }

    private static (string Name, float[] Results)[] BothWidths(float[] x) => [("narrow", Narrow(x)), ("wide", Wide(x))];

    private static float[] Narrow(float[] x) =>
        ByVectors(x, Vector<float>.Count, (from, to, i) =>
            ExpLanes.OfNonPositive(new Vector<float>(from, i)).CopyTo(to, i)
        );

    private static float[] Wide(float[] x) =>
        ByVectors(x, Vector512<float>.Count, (from, to, i) =>
            ExpLanes.OfNonPositive(Vector512.Create(from.AsSpan(i))).CopyTo(to.AsSpan(i))
        );

    // x padded with zeros to whole vectors of the given lanes, each mapped (from, to, start), the padding cut off.
    private static float[] ByVectors(float[] x, int lanes, Action<float[], float[], int> vector)
    {
        var padded = new float[(x.Length + lanes - 1) / lanes * lanes];
        x.CopyTo(padded, 0);
        var y = new float[padded.Length];
        for (int i = 0; i < padded.Length; i += lanes)
            vector(padded, y, i);
        return y[..x.Length];
    }
}
