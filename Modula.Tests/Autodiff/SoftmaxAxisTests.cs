using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Autodiff;

/// <summary>
/// <see cref="F.Softmax"/> along every axis of a tensor, against a float64 softmax of the same float32 inputs: values
/// at positive and negative scales, rows along a first axis whose scaled logits pass float32's range (NaN before
/// every axis took the row rule), and long rows along a middle axis. The gradients along other axes are checked
/// against finite differences in <see cref="GradientTests.CompositesMatchFiniteDifferences"/>.
/// </summary>
[TestClass]
public sealed class SoftmaxAxisTests
{
    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(-3)]
    [DataRow(-2)]
    public void AlongEachAxisMatchesFloat64(int axis)
    {
        int[] dims = [3, 4, 5];
        var x = Reference.RandomValues(3 * 4 * 5, seed: 7).Select(v => (float)v).ToArray();
        foreach (double scale in new[] { 1, 0.7, -2 })
        {
            using var t = Tensor.FromArray(x, new Shape(dims));
            using var y = F.Softmax(new Variable(t), axis, scale).Value;
            Reference.AssertClose(
                ReferenceSoftmax(x, dims, axis < 0 ? axis + 3 : axis, scale),
                Reference.Read(y),
                1e-6,
                1e-6,
                $"axis {axis} scale {scale}"
            );
        }
    }

    [TestMethod]
    public void OverflowingLogitsAlongTheFirstAxisGiveTheExactSoftmax()
    {
        // Column 0 passes float32's range at scale 10 (3e38 · 10); column 1 is an ordinary row.
        float[] overflowing = [3e38f, 3e38f, 1e38f, -3e38f, 0, 2e38f, -1e38f, 5];
        float[] ordinary = [0.5f, -1, 2, 0, 0.25f, 1, -0.5f, 3];
        var x = overflowing.Zip(ordinary).SelectMany(p => new[] { p.First, p.Second }).ToArray();
        int[] dims = [8, 2];
        foreach (double scale in new[] { 10, -10 })
        {
            var signed = scale < 0 ? x.Select(v => -v).ToArray() : x;
            using var t = Tensor.FromArray(signed, new Shape(dims));
            using var y = F.Softmax(new Variable(t), 0, scale).Value;
            var actual = Reference.Read(y);
            Assert.IsTrue(actual.All(double.IsFinite), $"scale {scale}: {string.Join(", ", actual)}");
            Reference.AssertClose(ReferenceSoftmax(signed, dims, 0, scale), actual, 1e-6, 1e-6, $"scale {scale}");
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

    // Softmax of scale·x along `axis` of a row-major tensor, in float64.
    private static double[] ReferenceSoftmax(float[] x, int[] dims, int axis, double scale)
    {
        int inner = dims[(axis + 1)..].Aggregate(1, (a, b) => a * b),
            length = dims[axis],
            outer = x.Length / (inner * length);
        var result = new double[x.Length];
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
        {
            int At(int j) => (o * length + j) * inner + i;
            double top = Enumerable.Range(0, length).Max(j => scale * x[At(j)]);
            double total = Enumerable.Range(0, length).Sum(j => Math.Exp(scale * x[At(j)] - top));
            for (int j = 0; j < length; j++)
                result[At(j)] = Math.Exp(scale * x[At(j)] - top) / total;
        }
        return result;
    }
}
