using Modula.Autodiff;
using Modula.Tensors;
using Modula.Tests.Differential;

namespace Modula.Tests.Autodiff;

/// <summary>
/// <see cref="F.Softmax"/> along every axis of a tensor, against a float64 softmax of the same float32 inputs, on the
/// CPU and the simulator: values at positive and negative scales, rows along a first axis whose scaled logits pass
/// float32's range (NaN before every axis took the row rule) with their gradient, and long rows along a middle axis.
/// Gradients of ordinary rows along other axes are checked against finite differences in <see
/// cref="GradientTests.CompositesMatchFiniteDifferences"/>.
/// </summary>
[TestClass]
public sealed class SoftmaxAxisTests
{
    public static IEnumerable<object[]> Devices =>
        [
            [TestDevices.Cpu],
            [TestDevices.Simulator],
        ];

    [TestMethod]
    [DynamicData(nameof(Devices))]
    public void AlongEachAxisMatchesFloat64(string deviceName)
    {
        var device = Device(deviceName);
        int[] dims = [3, 4, 5];
        var x = Reference.RandomValues(3 * 4 * 5, seed: 7).Select(v => (float)v).ToArray();
        foreach (int axis in new[] { 0, 1, 2, -3, -2 })
        foreach (double scale in new[] { 1, 0.7, -2 })
        {
            using var t = Tensor.FromArray(x, new Shape(dims), device);
            using var y = F.Softmax(new Variable(t), axis, scale).Value;
            Reference.AssertClose(
                ReferenceSoftmax(x, dims, axis < 0 ? axis + 3 : axis, scale),
                Reference.Read(y),
                1e-6,
                1e-6,
                $"{deviceName} axis {axis} scale {scale}"
            );
        }
    }

    [TestMethod]
    [DynamicData(nameof(Devices))]
    public void OverflowingLogitsAlongTheFirstAxisGiveTheExactSoftmaxAndGradient(string deviceName)
    {
        var device = Device(deviceName);
        // Column 0 passes float32's range at scale 10 (3e38 · 10); column 1 is an ordinary row.
        float[] overflowing = [3e38f, 3e38f, 1e38f, -3e38f, 0, 2e38f, -1e38f, 5];
        float[] ordinary = [0.5f, -1, 2, 0, 0.25f, 1, -0.5f, 3];
        var x = overflowing.Zip(ordinary).SelectMany(p => new[] { p.First, p.Second }).ToArray();
        var weights = Reference.RandomValues(x.Length, seed: 9).Select(v => (float)v).ToArray();
        int[] dims = [8, 2];
        foreach (double scale in new[] { 10, -10 })
        {
            string what = $"{deviceName} scale {scale}";
            var signed = scale < 0 ? x.Select(v => -v).ToArray() : x;
            using var t = Tensor.FromArray(signed, new Shape(dims), device);
            using var w = Tensor.FromArray(weights, new Shape(dims), device);
            using var input = new Variable(t, requiresGrad: true);
            var y = F.Softmax(input, 0, scale);
            var actual = Reference.Read(y.Value);
            Assert.IsTrue(actual.All(double.IsFinite), $"{what}: {string.Join(", ", actual)}");
            var expected = ReferenceSoftmax(signed, dims, 0, scale);
            Reference.AssertClose(expected, actual, 1e-6, 1e-6, what);
            // d/dx of Σ w⊙y: scale·y⊙(w − Σ w⊙y) down each column.
            F.Sum(F.Mul(y, new Variable(w))).Backward();
            var gradient = new double[x.Length];
            for (int column = 0; column < 2; column++)
            {
                double dot = Enumerable.Range(0, 8).Sum(r => weights[r * 2 + column] * expected[r * 2 + column]);
                for (int r = 0; r < 8; r++)
                {
                    int i = r * 2 + column;
                    gradient[i] = scale * expected[i] * (weights[i] - dot);
                }
            }
            Reference.AssertClose(gradient, Reference.Read(input.Grad!), 1e-5, 1e-5, what + " gradient");
        }
    }

    [TestMethod]
    public void LongRowsAlongAMiddleAxisMatchFloat64()
    {
        // 4,096 elements a row: the row rule sums them in float64 lanes.
        int[] dims = [2, 4096, 3];
        var x = Reference.RandomValues(2 * 4096 * 3, seed: 8).Select(v => (float)v).ToArray();
        using var t = Tensor.FromArray(x, new Shape(dims));
        using var y = F.Softmax(new Variable(t), 1, 1.5).Value;
        Reference.AssertClose(ReferenceSoftmax(x, dims, 1, 1.5), Reference.Read(y), 1e-9, 1e-5, "rows of 4096");
    }

    private static Device Device(string name)
    {
        if (name == TestDevices.Simulator)
            TestDevices.RequireSimulator();
        return TestDevices.Get(name);
    }

    // Softmax of scale·x along `axis`, in float64: the differential tests' reference.
    private static double[] ReferenceSoftmax(float[] x, int[] dims, int axis, double scale) =>
        RefOps.Softmax(new RefTensor(dims, [.. x.Select(v => (double)v)]), scale, axis).Data;
}
