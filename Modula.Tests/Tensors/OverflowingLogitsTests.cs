using Modula.Tensors;

namespace Modula.Tests.Tensors;

/// <summary>
/// Softmax and cross-entropy of rows whose scaled logits z·x pass the dtype's range (float32 logits near 3·10³⁸ at
/// z = ±10): the result is that of the exact z·x, computed in float64 from the float32 inputs, not NaN. Rows a whole
/// number of vectors long and not (the softmax's two paths), causal rows, and the rows that keep their IEEE result (a
/// NaN or an infinite logit), on the CPU and the simulator.
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
            // Causal: row r keeps keys 0..r.
            using var square = Tensor.FromArray(
                Enumerable.Repeat(x, length).SelectMany(row => row).ToArray(),
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

    /// <summary>Rows that keep their IEEE result: a NaN makes the row NaN; so does +∞ at a positive scale.</summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void NanAndInfiniteLogitsStayNan(string deviceName)
    {
        if (deviceName == TestDevices.Simulator)
            TestDevices.RequireSimulator();
        var device = TestDevices.Get(deviceName);
        foreach (var x in new[] { new[] { 3e38f, float.NaN, 1, 2 }, new[] { 3e38f, float.PositiveInfinity, 1, 2 } })
        {
            using var t = Tensor.FromArray(x, new Shape(1, 4), device);
            using var y = Ops.Softmax(t, 10);
            Assert.IsTrue(y.ToArray<float>().All(float.IsNaN), $"{deviceName} [{string.Join(", ", x)}]");
        }
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
