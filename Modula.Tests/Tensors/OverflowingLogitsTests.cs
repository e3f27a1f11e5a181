using Modula.Tensors;

namespace Modula.Tests.Tensors;

/// <summary>
/// Softmax and cross-entropy of rows whose scaled logits z·x pass the dtype's range (float32 logits near 3·10³⁸ at
/// z = ±10): the result is that of the exact z·x, computed in float64 from the float32 inputs, not NaN. Rows a whole
/// number of vectors long and not (the softmax's two paths), causal rows (whose masked keys, junk included, take no
/// part), −∞ logits among overflowing ones, and the rows that keep their IEEE result (a NaN, or a logit the scale
/// makes +∞), on the CPU and the simulator, and float64 on the CPU.
/// </summary>
[TestClass]
public sealed class OverflowingLogitsTests
{
    // Each row: scale, then logits.
    private static readonly (double Scale, float[] X)[] Rows =
    [
        (10, [3e38f, 3e38f, 1e38f, -3e38f, 0, 2e38f, -1e38f, 5]),
        (-10, [-3e38f, -3e38f, 0, 3e38f, 1, -2e38f, 1e38f, 7]),
        (4, [2e38f, 1e38f, 1.9999999e38f, 0, 0, 0, 0, 0]),
        // The extreme late: the first causal rows are ordinary, the later ones anchor.
        (10, [0.5f, 0, 0.25f, 3e38f, 3.3e38f, -1, 2, 0]),
        // −∞ logits are ordinary zeros; every finite logit overflowing to −∞ still has a largest.
        (10, [3e38f, float.NegativeInfinity, 1, 2, 3e38f, 0, 0, float.NegativeInfinity]),
        (10, [-3e38f, -2e38f, -3.3e38f, -1e38f, -2e38f, -3e38f, -3e38f, -3e38f]),
        // A +∞ logit at a negative scale is an ordinary zero too.
        (-10, [-3e38f, float.PositiveInfinity, 1, -3e38f, 0, 0, 0, 0]),
    ];

    public static IEnumerable<object[]> Devices =>
        [
            [TestDevices.Cpu, 8],
            [TestDevices.Cpu, 5],
            [TestDevices.Simulator, 8],
            [TestDevices.Simulator, 5],
        ];

    [TestMethod]
    [DynamicData(nameof(Devices))]
    public void SoftmaxOfOverflowingRowsMatchesFloat64(string deviceName, int length)
    {
        if (deviceName == TestDevices.Simulator)
            TestDevices.RequireSimulator();
        var device = TestDevices.Get(deviceName);
        foreach (var (scale, all) in Rows)
        {
            var x = all[..length];
            using var t = Tensor.FromArray(x, new Shape(1, length), device);
            using var y = Ops.Softmax(t, scale);
            string what = $"{deviceName} scale {scale} [{string.Join(", ", x)}]";
            Reference.AssertClose(Softmax(x, scale, x.Length), Reference.Read(y), 1e-6, 1e-6, what);
            // Causal: row r keeps keys 0..r; the masked keys hold NaN and float32's largest, which must not count.
            using var square = Tensor.FromArray(
                Enumerable
                    .Range(0, length)
                    .SelectMany(r => x.Select((v, j) => j <= r ? v : (j % 2 == 0 ? float.NaN : float.MaxValue)))
                    .ToArray(),
                new Shape(length, length),
                device
            );
            using var causal = Ops.Softmax(square, scale, causal: true);
            var expected = Enumerable
                .Range(0, length)
                .SelectMany(r => Softmax(x, scale, r + 1).Concat(Enumerable.Repeat(0.0, length - r - 1)))
                .ToArray();
            Reference.AssertClose(expected, Reference.Read(causal), 1e-6, 1e-6, what + " causal");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Devices))]
    public void CrossEntropyOfOverflowingRowsMatchesFloat64(string deviceName, int length)
    {
        if (deviceName == TestDevices.Simulator)
            TestDevices.RequireSimulator();
        var device = TestDevices.Get(deviceName);
        foreach (var (scale, all) in Rows)
        {
            var x = all[..length];
            var p = Softmax(x, scale, length);
            using var t = Tensor.FromArray(x, new Shape(1, length), device);
            using var one = Tensor.FromArray(new[] { 1f }, new Shape(1), device);
            for (int label = 0; label < length; label++)
            {
                string what = $"{deviceName} scale {scale} label {label} [{string.Join(", ", x)}]";
                using var labels = Tensor.FromArray(new[] { label }, new Shape(1), device);
                using var loss = Ops.CrossEntropyRows(t, labels, scale);
                using var dx = Ops.CrossEntropyRowsBackward(t, labels, one, factor: 1, scale);
                // −log p[label], with the float64 exponents (z·x_label − max z·x can be −10³⁹: an infinite loss).
                double top = x.Max(v => scale * v);
                double total = x.Sum(v => Math.Exp(scale * v - top));
                double expectedLoss = Math.Log(total) - (scale * x[label] - top);
                double actualLoss = Reference.Read(loss)[0];
                if (double.IsFinite((float)expectedLoss))
                    Assert.AreEqual(expectedLoss, actualLoss, 1e-5 * Math.Max(1, Math.Abs(expectedLoss)), what);
                else
                    Assert.AreEqual(double.PositiveInfinity, actualLoss, what);
                var expectedDx = p.Select((v, j) => scale * (v - (j == label ? 1 : 0))).ToArray();
                Reference.AssertClose(expectedDx, Reference.Read(dx), 1e-5, 1e-6, what + " gradient");
            }
        }
    }

    /// <summary>Rows that keep their IEEE result: a NaN makes the row NaN, and so does +∞ at a positive scale, in
    /// softmax and cross-entropy; a NaN among a causal row's masked keys does not.</summary>
    [TestMethod]
    [DynamicData(nameof(Devices))]
    public void NanAndInfiniteLogitsStayNan(string deviceName, int length)
    {
        if (deviceName == TestDevices.Simulator)
            TestDevices.RequireSimulator();
        var device = TestDevices.Get(deviceName);
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity })
        {
            var x = new[] { 3e38f, bad, 1, 2, 3e38f, 0, 0, 0 }[..length];
            string what = $"{deviceName} [{string.Join(", ", x)}]";
            using var t = Tensor.FromArray(x, new Shape(1, length), device);
            using var y = Ops.Softmax(t, 10);
            Assert.IsTrue(y.ToArray<float>().All(float.IsNaN), what);
            using var labels = Tensor.FromArray(new[] { 0 }, new Shape(1), device);
            using var loss = Ops.CrossEntropyRows(t, labels, 10);
            Assert.IsTrue(float.IsNaN(loss.ToArray<float>()[0]), what + " cross-entropy");
            // Causal, the bad key masked in row 0 only: row 0 is [1, 0, ...], the others NaN.
            using var square = Tensor.FromArray(
                Enumerable.Repeat(x, length).SelectMany(row => row).ToArray(),
                new Shape(length, length),
                device
            );
            using var causalRows = Ops.Softmax(square, 10, causal: true);
            var causal = causalRows.ToArray<float>();
            CollectionAssert.AreEqual(
                Enumerable.Range(0, length).Select(j => j == 0 ? 1f : 0f).ToArray(),
                causal[..length],
                what + " causal row 0"
            );
            Assert.IsTrue(causal[length..(2 * length)].Take(2).All(float.IsNaN), what + " causal row 1");
        }
    }

    /// <summary>Float64 on the CPU: logits near 10³⁰⁸ at scale 10.</summary>
    [TestMethod]
    public void Float64RowsOverflowAlike()
    {
        double[] x = [1e308, 1e308, 0, -1e308, 5, 1, 2, 3];
        using var t = Tensor.FromArray(x, new Shape(1, 8));
        using var y = Ops.Softmax(t, 10);
        Reference.AssertClose([0.5, 0.5, 0, 0, 0, 0, 0, 0], y.ToArray<double>(), 1e-15, 0, "float64 softmax");
        using var labels = Tensor.FromArray(new[] { 1 }, new Shape(1));
        using var loss = Ops.CrossEntropyRows(t, labels, 10);
        Assert.AreEqual(Math.Log(2), loss.ToArray<double>()[0], 1e-15, "float64 cross-entropy");
    }

    // softmax(z·x[..valid]) in float64.
    private static double[] Softmax(float[] x, double z, int valid)
    {
        var scaled = x.Take(valid).Select(v => z * v).ToArray();
        double top = scaled.Max();
        var e = scaled.Select(v => Math.Exp(v - top)).ToArray();
        double total = e.Sum();
        return e.Select(v => v / total).ToArray();
    }
}
