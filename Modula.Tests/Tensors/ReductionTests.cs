using Modula.Tensors;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class ReductionTests
{
    public static IEnumerable<object[]> Cases =>
        [
            [new[] { 4, 5, 6 }, new[] { 1 }, false],
            [new[] { 4, 5, 6 }, new[] { 0 }, true],
            [new[] { 4, 5, 6 }, new[] { 2 }, true],
            [new[] { 4, 5, 6 }, new[] { 0, 2 }, false],
            [new[] { 4, 5, 6 }, new int[0], false],
            [new[] { 3, 0, 2 }, new[] { 1 }, false],
            [new[] { 257 }, new[] { 0 }, false],
            [new[] { 2, 3, 4, 5 }, new[] { 1, 2 }, true],
            [new[] { 2, 3, 4, 5 }, new[] { -1, 0 }, false],
            // long rows, few outputs: the accelerators' group-per-output kernel
            [new[] { 3, 300, 2 }, new[] { 1 }, false],
        ];

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void SumMaxMeanNormMatchReference(int[] dims, int[] axes, bool keepDim)
    {
        var shape = new Shape(dims);
        var values = Reference.RandomValues(shape.Size, 7).Select(v => (double)(float)v).ToArray();
        var reduced =
            axes.Length == 0
                ? Enumerable.Range(0, dims.Length).ToArray()
                : axes.Select(a => (a + dims.Length) % dims.Length).ToArray();
        var (sum, max, count, outShape) = ReferenceReduce(values, dims, reduced, keepDim);
        var (squares, _, _, _) = ReferenceReduce(values.Select(v => v * v).ToArray(), dims, reduced, keepDim);
        foreach (
            var (deviceName, dtype) in new[]
            {
                (TestDevices.Cpu, DType.Float32),
                (TestDevices.Cpu, DType.Float64),
                (TestDevices.Simulator, DType.Float32),
            }
        )
        {
            var device = TestDevices.Get(deviceName);
            using var x = Reference.Make(values, shape, dtype, device);
            using var s = Ops.Sum(x, axes, keepDim);
            using var m = Ops.Max(x, axes, keepDim);
            using var mean = Ops.Mean(x, axes, keepDim);
            using var norm = Ops.Norm(x, axes, keepDim);
            Assert.AreEqual(outShape, norm.Shape);
            Reference.AssertClose(
                squares.Select(Math.Sqrt).ToArray(),
                Reference.Read(norm),
                1e-5,
                1e-5,
                $"norm on {deviceName}/{dtype}"
            );
            Assert.AreEqual(outShape, s.Shape);
            Assert.AreEqual(outShape, m.Shape);
            Reference.AssertClose(sum, Reference.Read(s), 1e-5, 1e-5, $"sum on {deviceName}/{dtype}");
            Reference.AssertClose(max, Reference.Read(m), 0, 0, $"max on {deviceName}/{dtype}");
            Reference.AssertClose(
                sum.Select(v => count == 0 ? double.NaN : v / count).ToArray(),
                Reference.Read(mean),
                1e-5,
                1e-5,
                $"mean on {deviceName}/{dtype}"
            );
        }
    }

    private static (double[] Sum, double[] Max, int Count, Shape Out) ReferenceReduce(
        double[] values,
        int[] dims,
        int[] reduced,
        bool keepDim
    )
    {
        var outDims = dims.Select((d, i) => reduced.Contains(i) ? 1 : d).ToArray();
        int outSize = outDims.Aggregate(1, (a, b) => a * b);
        var sum = new double[outSize];
        var max = Enumerable.Repeat(double.NegativeInfinity, outSize).ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            int rest = i,
                o = 0,
                stride = 1;
            for (int d = dims.Length - 1; d >= 0; d--)
            {
                int c = rest % dims[d];
                rest /= dims[d];
                if (!reduced.Contains(d))
                    o += c * stride;
                stride *= outDims[d];
            }
            sum[o] += values[i];
            max[o] = Math.Max(max[o], values[i]);
        }
        int count = reduced.Aggregate(1, (a, d) => a * dims[d]);
        var shape = keepDim ? new Shape(outDims) : new Shape(dims.Where((_, i) => !reduced.Contains(i)).ToArray());
        return (sum, max, count, shape);
    }

    /// <summary>
    /// Float32 norms of values whose squares leave float32's range (1e-24 squares to 0, 1e25 to
    /// ∞) match float64 references to float32 rounding, along the last axis (one row at a time)
    /// and along a middle axis (partial norms combined); zero rows give 0 and NaN propagates.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void NormsOfTinyAndHugeFloat32ValuesNeitherUnderflowNorOverflow(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        const int rows = 6,
            length = 300;
        var values = Reference
            .RandomValues(rows * length, 11)
            .Select(
                (v, i) =>
                    (float)(
                        v
                        * (i / length) switch
                        {
                            0 => 1e-24,
                            1 => 1e25,
                            2 => 0,
                            4 => 1e-40, // subnormal: the scale is max|x| itself, not a power of two
                            5 => 1e36, // near the top of the range (the norm, about 1e37, still finite)
                            _ => 1,
                        }
                    )
            )
            .ToArray();
        values[3 * length + 7] = float.NaN;
        var expected = Enumerable
            .Range(0, rows)
            .Select(r => Math.Sqrt(values.Skip(r * length).Take(length).Sum(v => (double)v * v)))
            .ToArray();
        using var x = Tensor.FromArray(values, new Shape(rows, length), device);
        using var trailing = Ops.Norm(x, [1]);
        using var transposed = Ops.Contiguous(x.Permute(1, 0));
        using var middle = Ops.Norm(transposed.Reshape(1, length, rows), [1]);
        foreach (var (name, actual) in new[] { ("trailing", trailing), ("middle", middle) })
        {
            var got = actual.ToArray<float>();
            foreach (int r in new[] { 0, 1, 2, 4, 5 })
                Assert.AreEqual(expected[r], got[r], 1e-5 * expected[r], $"{name} norm of row {r} on {deviceName}");
            Assert.IsTrue(float.IsNaN(got[3]), $"{name} norm of the row holding NaN on {deviceName}: {got[3]}");
        }
    }

    /// <summary>
    /// A norm row holding a NaN is NaN, one holding an infinity and no NaN is +∞, wherever they sit (in the vector
    /// body or the scalar tail at every lane width: 37 elements) and whatever sits beside them (the CPU finds the
    /// largest magnitude with native maxima, which may drop a NaN); other rows, zeros of both signs among them, match
    /// float64.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void NormsOfRowsWithNaNsAndInfinitiesInAnyPlace(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        const int length = 37;
        var specials = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, -3f };
        var rows = new List<float[]>();
        foreach (float first in specials)
        foreach (float second in specials)
        foreach (int at in new[] { 0, 9, 20, 35, 36 })
        {
            var row = Enumerable.Range(0, length).Select(i => (float)Math.Sin(i + at)).ToArray();
            row[at] = first;
            row[(at + 17) % length] = second;
            rows.Add(row);
        }
        rows.Add(new float[length]);
        rows.Add(Enumerable.Repeat(-0f, length).ToArray());
        var flat = rows.SelectMany(r => r).ToArray();
        var shape = new Shape(rows.Count, length);
        var results = new List<(string, double[])>();
        using (var x = Tensor.FromArray(flat, shape, device))
        using (var norms = Ops.Norm(x, [1]))
            results.Add(("float32", norms.ToArray<float>().Select(v => (double)v).ToArray()));
        if (device.Supports(DType.Float64))
            using (var x = Tensor.FromArray(flat.Select(v => (double)v).ToArray(), shape, device))
            using (var norms = Ops.Norm(x, [1]))
                results.Add(("float64", norms.ToArray<double>()));
        foreach (var (dtype, got) in results)
            for (int r = 0; r < rows.Count; r++)
            {
                var row = rows[r];
                string marked = string.Join(", ", row.Where(v => !float.IsFinite(v) || v == 0 || v == -3));
                string what = $"{dtype} row {r} [{marked}] on {deviceName}";
                if (row.Any(float.IsNaN))
                    Assert.IsTrue(double.IsNaN(got[r]), $"{what}: {got[r]}");
                else if (row.Any(float.IsInfinity))
                    Assert.AreEqual(double.PositiveInfinity, got[r], what);
                else
                {
                    double expected = Math.Sqrt(row.Sum(v => (double)v * v));
                    Assert.AreEqual(expected, got[r], 1e-6 * expected, what);
                    Assert.IsFalse(double.IsNegative(got[r]), $"{what}: a norm is never −0");
                }
            }
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void ArgMaxFindsFirstMaximumAlongAnyAxis(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        using var x = Tensor.FromArray<float>([1, 5, 5, 2, 9, 0, 3, 9, 1], new Shape(3, 3), device);
        using var rows = Ops.ArgMax(x, 1);
        using var cols = Ops.ArgMax(x, 0, keepDim: true);
        CollectionAssert.AreEqual(new[] { 1, 1, 1 }, rows.ToArray<int>());
        Assert.AreEqual(new Shape(1, 3), cols.Shape);
        CollectionAssert.AreEqual(new[] { 2, 1, 0 }, cols.ToArray<int>());
    }

    /// <summary>
    /// −0 and +0 are one value, so the first of them is the first maximum along every axis (the last axis once ranked
    /// +0 above −0, found by a fuzzing run), and a NaN outranks every number, the first NaN winning.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void ArgMaxTakesTheFirstOfTiedZerosAndTheFirstNaN(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        float nan = float.NaN;
        float[] values = [-0f, 0f, -1f, -3f, -0f, 0f, 2f, nan, nan, 0f, -0f, 0f];
        using var x = Tensor.FromArray<float>(values, new Shape(3, 4), device);
        using var rows = Ops.ArgMax(x, 1);
        CollectionAssert.AreEqual(new[] { 0, 3, 0 }, rows.ToArray<int>(), $"rows on {deviceName}");
        using var t = Ops.Contiguous(x.Transpose());
        using var columns = Ops.ArgMax(t, 0);
        CollectionAssert.AreEqual(rows.ToArray<int>(), columns.ToArray<int>(), $"columns on {deviceName}");
    }

    [TestMethod]
    public void SumOfPermutedViewMatchesSumOfCopy()
    {
        using var x = Tensor.FromArray<double>(Reference.RandomValues(60, 3), new Shape(3, 4, 5));
        using var p = x.Permute(2, 0, 1);
        using var dense = Ops.Contiguous(p);
        using var a = Ops.Sum(p, [0, 2]);
        using var b = Ops.Sum(dense, [0, 2]);
        Reference.AssertClose(Reference.Read(b), Reference.Read(a), 1e-12, 1e-12, "permuted sum");
    }

    /// <summary>
    /// Float32 sums and norms of ten million elements, along the last axis and along a middle one, stay within 10⁻⁵
    /// of the float64 values. In one pass the CPU's sum of 10⁷ copies of 0.1 was 1.006·10⁶ (found by an outside
    /// review), and the accelerator kernels' (each thread folding 39,000 elements in a row) 3.7·10⁻⁴ off.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void LongFloat32ReductionsKeepTheirPrecision(string deviceName)
    {
        using var scope = TensorScope.Begin();
        var device = TestDevices.Get(deviceName);
        const int n = 10_000_000;
        double tenth = (double)0.1f;
        var x = Ops.Full(new Shape(n), 0.1, DType.Float32, device);
        double sum = Ops.Sum(x).ToArray<float>()[0];
        Assert.AreEqual(n * tenth, sum, 1e-5 * n * tenth, $"{deviceName}: sum of a row of {n}");
        double norm = Ops.Norm(x).ToArray<float>()[0];
        Assert.AreEqual(Math.Sqrt(n) * tenth, norm, 1e-5 * Math.Sqrt(n) * tenth, $"{deviceName}: norm of a row");
        // [2, n/4, 2] summed over the middle axis: each output adds n/4 values a whole row apart.
        var columns = Ops.Sum(x.View(2, n / 4, 2), [1]).ToArray<float>();
        foreach (float c in columns)
            Assert.AreEqual(n / 4 * tenth, c, 1e-5 * n / 4 * tenth, $"{deviceName}: sum over a middle axis");
    }

    [TestMethod]
    public void TheMeanOfEqualValuesWithAnExactSumIsThatValue()
    {
        // n copies of v, whose sum n·v is exact in float32: the sum divided by n is v exactly (one rounding of an
        // exact quotient); times 1/n it is an ulp off for some n (1/n rounded, then the product).
        foreach (float v in new[] { 1.25f, -0.375f, 3f, 0.5625f })
            for (int n = 1; n <= 40; n++)
            {
                using var x = Tensor.FromArray(Enumerable.Repeat(v, n).ToArray(), new Shape(n));
                using var mean = Ops.Mean(x);
                Assert.AreEqual(v, mean.ToArray<float>()[0], $"the mean of {n} copies of {v}");
            }
    }

    [TestMethod]
    public void ALayerNormOfAConstantRowIsNaNAlongAnyAxis()
    {
        // Documented for the fused last-axis form: a row of one repeated value centers to zeros, 0/0. The form over
        // other axes (a mean, then elementwise ops) must agree, which needs the mean exact.
        using var columns = Tensor.FromArray(Enumerable.Repeat(1.25f, 15 * 3).ToArray(), new Shape(15, 3));
        foreach (int axis in new[] { 0, 1 })
        {
            using var y = Modula.Autodiff.F.LayerNorm(new Modula.Autodiff.Variable(columns), axis).Value;
            Assert.IsTrue(y.ToArray<float>().All(float.IsNaN), $"axis {axis}: {string.Join(", ", y.ToArray<float>())}");
        }
    }
}
