using Modula.Tensors;

namespace Modula.Tests.Tensors;

/// <summary>
/// Rows of about a million float32 elements, whose sums a float32 vector accumulation would round by up to 10⁻³ and
/// differently at each vector width: softmax, cross-entropy and the RMS normalization (plain and centered), forward
/// and backward, against float64 sums of the same float32 inputs. CI runs these at every width.
/// </summary>
[TestClass]
public sealed class LongRowTests
{
    // One row a whole number of vectors at every width, one not (the softmax's other path), and two rows of a length
    // just at the long-row threshold.
    private static IEnumerable<object[]> Shapes =>
        [
            [1, 1 << 20],
            [1, (1 << 20) + 3],
            [2, 2048],
        ];

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void SoftmaxOfALongRowMatchesFloat64(int rows, int length)
    {
        const int seed = 3;
        var x = Floats(rows * length, seed, 4);
        var g = Floats(rows * length, seed + 1, 1);
        using var tx = Tensor.FromArray(x, new Shape(rows, length));
        using var tg = Tensor.FromArray(g, new Shape(rows, length));
        using var y = Ops.Softmax(tx, scale: 0.5);
        using var dx = Ops.SoftmaxBackward(tg, y, scale: 0.5);
        var ys = y.ToArray<float>();
        var expectedY = new double[x.Length];
        var expectedDx = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = Enumerable.Range(r * length, length);
            double max = row.Max(i => 0.5 * x[i]);
            double total = row.Sum(i => Math.Exp(0.5 * x[i] - max));
            foreach (int i in row)
                expectedY[i] = Math.Exp(0.5 * x[i] - max) / total;
            // The gradient from the float32 y the op returned, so only its own sums are under test.
            double dot = row.Sum(i => (double)g[i] * ys[i]);
            foreach (int i in row)
                expectedDx[i] = (g[i] - dot) * ys[i] * 0.5;
        }
        AssertRelative(expectedY, ys, 2e-6, $"softmax {rows}×{length} seed {seed}");
        AssertRelative(expectedDx, dx.ToArray<float>(), 2e-6, $"softmax backward {rows}×{length} seed {seed}");
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void CrossEntropyOfALongRowMatchesFloat64(int rows, int length)
    {
        const int seed = 5;
        var x = Floats(rows * length, seed, 4);
        var labels = Enumerable.Range(0, rows).Select(r => (r * 7919 + 11) % length).ToArray();
        using var tx = Tensor.FromArray(x, new Shape(rows, length));
        using var tl = Tensor.FromArray(labels, new Shape(rows));
        using var losses = Ops.CrossEntropyRows(tx, tl);
        using var one = Tensor.FromArray(new[] { 1f }, new Shape(1));
        using var dx = Ops.CrossEntropyRowsBackward(tx, tl, one, factor: 1);
        var expectedLoss = new double[rows];
        var probabilities = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = Enumerable.Range(r * length, length);
            double max = row.Max(i => (double)x[i]);
            double total = row.Sum(i => Math.Exp(x[i] - max));
            expectedLoss[r] = Math.Log(total) + max - x[r * length + labels[r]];
            foreach (int i in row)
                probabilities[i] = Math.Exp(x[i] - max) / total;
        }
        // The loss, about 17, within 2·10⁻⁶ absolute: its log takes a sum's relative error as an absolute one.
        var actualLoss = losses.ToArray<float>();
        for (int r = 0; r < rows; r++)
            Assert.AreEqual(
                expectedLoss[r],
                actualLoss[r],
                2e-6,
                $"cross-entropy row {r}, {rows}×{length} seed {seed}"
            );
        // The gradient off the label is the softmax: against the largest probability, not the label's p − 1, which
        // is checked on its own (to float32's spacing near 1) and then left out.
        var d = dx.ToArray<float>();
        for (int r = 0; r < rows; r++)
        {
            int at = r * length + labels[r];
            Assert.AreEqual(probabilities[at] - 1, d[at], 1.2e-7, $"cross-entropy gradient at the label of row {r}");
            d[at] = (float)probabilities[at];
        }
        AssertRelative(probabilities, d, 2e-6, $"cross-entropy gradient {rows}×{length} seed {seed}");
    }

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void RmsNormalizationOfALongRowMatchesFloat64(int rows, int length)
    {
        const int seed = 7;
        // Values near 1 with a spread: the squares' sum is dominated by the rounding of many similar terms.
        var x = Floats(rows * length, seed, 0.5).Select(v => v + 1f).ToArray();
        var g = Floats(rows * length, seed + 1, 1);
        using var tx = Tensor.FromArray(x, new Shape(rows, length));
        using var tg = Tensor.FromArray(g, new Shape(rows, length));
        foreach (bool center in new[] { false, true })
        {
            string what = $"RMS normalization center={center} {rows}×{length} seed {seed}";
            using var y = Ops.RmsNormalize(tx, 1, out var inverse, center);
            using (inverse)
            using (var dx = Ops.RmsNormalizeBackward(tg, y, inverse, 1, center))
            {
                var ys = y.ToArray<float>();
                var rs = inverse.ToArray<float>();
                var expectedY = new double[x.Length];
                var expectedDx = new double[x.Length];
                for (int r = 0; r < rows; r++)
                {
                    var row = Enumerable.Range(r * length, length).ToArray();
                    double mean = center ? row.Average(i => (double)x[i]) : 0;
                    double rms = Math.Sqrt(row.Average(i => (x[i] - mean) * (x[i] - mean)));
                    foreach (int i in row)
                        expectedY[i] = (x[i] - mean) / rms;
                    // The gradient from the float32 y and r the op returned.
                    double gy = row.Average(i => (double)g[i] * ys[i]);
                    var d = row.Select(i => rs[r] * (g[i] - ys[i] * gy)).ToArray();
                    double shift = center ? d.Average() : 0;
                    for (int k = 0; k < row.Length; k++)
                        expectedDx[row[k]] = d[k] - shift;
                }
                AssertRelative(expectedY, ys, 2e-6, what);
                AssertRelative(expectedDx, dx.ToArray<float>(), 2e-6, what + " backward");
            }
        }
    }

    // |actual − expected| ≤ tolerance·max|expected| over the whole tensor: a relative bound on the row's scale, as a
    // sum's rounding error is.
    private static void AssertRelative(double[] expected, float[] actual, double tolerance, string what)
    {
        Assert.HasCount(expected.Length, actual);
        double scale = expected.Max(Math.Abs),
            worst = 0;
        int at = 0;
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(actual[i] - expected[i]) is var error && error > worst)
                (worst, at) = (error, i);
        Console.WriteLine($"{what}: worst {worst / scale:E2} of the largest magnitude");
        Assert.IsTrue(
            worst <= tolerance * scale,
            $"{what}: element {at} is {actual[at]:R}, expected {expected[at]:R} ({worst / scale:E2} of the largest)"
        );
    }

    private static float[] Floats(int count, int seed, double spread) =>
        Reference.RandomValues(count, seed, -spread, spread).Select(v => (float)v).ToArray();
}
