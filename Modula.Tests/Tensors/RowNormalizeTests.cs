using Modula.Tensors;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class RowNormalizeTests
{
    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    [DataRow(TestDevices.Cuda, DType.Float32)]
    public void RowCenteringAndRmsNormalizationMatchTheFormulas(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        double tol = dtype == DType.Float64 ? 1e-12 : 3e-6;
        foreach (
            var (shape, trailing) in new[]
            {
                (new Shape(6, 7), 1),
                (new Shape(2, 3, 4, 5), 3),
                (new Shape(5, 33), 1),
                (new Shape(9), 1),
            }
        )
        {
            int rows = shape.Dims[..^trailing].ToArray().Aggregate(1, (p, d) => p * d),
                length = shape.Size / rows;
            var x = Reference.RandomValues(shape.Size, 31);
            var g = Reference.RandomValues(shape.Size, 32);
            double[] centered = new double[x.Length],
                normalized = new double[x.Length],
                inverse = new double[rows],
                dx = new double[x.Length];
            for (int r = 0; r < rows; r++)
            {
                var row = Enumerable.Range(r * length, length);
                double mean = row.Average(i => x[i]);
                inverse[r] = 1 / Math.Sqrt(row.Average(i => x[i] * x[i]));
                foreach (int i in row)
                    (centered[i], normalized[i]) = (x[i] - mean, x[i] * inverse[r]);
                double dot = row.Average(i => g[i] * normalized[i]);
                foreach (int i in row)
                    dx[i] = inverse[r] * (g[i] - normalized[i] * dot);
            }
            string what = $"{deviceName}/{dtype} {shape} over {trailing}";
            using var tx = Reference.Make(x, shape, dtype, device);
            using var tg = Reference.Make(g, shape, dtype, device);
            using var c = Ops.SubtractRowMean(tx, trailing);
            Reference.AssertClose(centered, Reference.Read(c), tol, tol, $"centered {what}");
            using var y = Ops.RmsNormalize(tx, trailing, out var rowInverse);
            using (rowInverse)
            {
                Reference.AssertClose(normalized, Reference.Read(y), tol, tol, $"normalized {what}");
                Reference.AssertClose(inverse, Reference.Read(rowInverse), tol, tol, $"inverse {what}");
                using var d = Ops.RmsNormalizeBackward(tg, y, rowInverse, trailing);
                Reference.AssertClose(dx, Reference.Read(d), tol, 1e-5, $"backward {what}");
                using var into = Reference.Make(centered, shape, dtype, device);
                Ops.RmsNormalizeBackwardInto(tg, y, rowInverse, trailing, center: false, into);
                var expected = centered.Zip(dx, (p, q) => p + q).ToArray();
                Reference.AssertClose(expected, Reference.Read(into), tol, 1e-5, $"accumulated backward {what}");
            }
        }
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    [DataRow(TestDevices.Cuda, DType.Float32)]
    public void FusedLayerNormMatchesCenteringThenNormalizing(string deviceName, DType dtype)
    {
        // Against float64 formulas, and against the two passes it replaces (exactly on the CPU: same arithmetic).
        var device = TestDevices.Get(deviceName);
        double tol = dtype == DType.Float64 ? 1e-12 : 3e-6;
        foreach (
            var (shape, trailing) in new[] { (new Shape(6, 7), 1), (new Shape(2, 3, 4, 5), 3), (new Shape(5, 33), 1) }
        )
        {
            int length = shape.Dims[^trailing..].ToArray().Aggregate(1, (p, d) => p * d),
                rows = shape.Size / length;
            var x = Reference.RandomValues(shape.Size, 41);
            var g = Reference.RandomValues(shape.Size, 42);
            double[] y = new double[x.Length],
                dx = new double[x.Length];
            for (int r = 0; r < rows; r++)
            {
                var row = Enumerable.Range(r * length, length).ToArray();
                double mean = row.Average(i => x[i]);
                double inverse = 1 / Math.Sqrt(row.Average(i => (x[i] - mean) * (x[i] - mean)));
                foreach (int i in row)
                    y[i] = (x[i] - mean) * inverse;
                double dot = row.Average(i => g[i] * y[i]);
                var d = row.Select(i => inverse * (g[i] - y[i] * dot)).ToArray();
                double shift = d.Average();
                for (int k = 0; k < row.Length; k++)
                    dx[row[k]] = d[k] - shift;
            }
            string what = $"{deviceName}/{dtype} {shape} over {trailing}";
            using var tx = Reference.Make(x, shape, dtype, device);
            using var tg = Reference.Make(g, shape, dtype, device);
            using var fused = Ops.RmsNormalize(tx, trailing, out var inverseFused, center: true);
            using var fusedBack = Ops.RmsNormalizeBackward(tg, fused, inverseFused, trailing, center: true);
            Reference.AssertClose(y, Reference.Read(fused), tol, tol, $"layer norm {what}");
            Reference.AssertClose(dx, Reference.Read(fusedBack), tol, 1e-5, $"layer norm backward {what}");
            // Accumulating into an existing gradient: prior + dx in the same pass.
            var prior = Reference.RandomValues(shape.Size, 43);
            using (var into = Reference.Make(prior, shape, dtype, device))
            {
                Ops.RmsNormalizeBackwardInto(tg, fused, inverseFused, trailing, center: true, into);
                var expected = prior.Zip(dx, (p, d) => p + d).ToArray();
                Reference.AssertClose(expected, Reference.Read(into), tol, 1e-5, $"accumulated backward {what}");
            }
            using var centered = Ops.SubtractRowMean(tx, trailing);
            using var twoPass = Ops.RmsNormalize(centered, trailing, out var inverseTwoPass);
            using var rmsBack = Ops.RmsNormalizeBackward(tg, twoPass, inverseTwoPass, trailing);
            using var twoPassBack = Ops.SubtractRowMean(rmsBack, trailing);
            inverseFused.Dispose();
            inverseTwoPass.Dispose();
            if (deviceName == TestDevices.Cpu)
            {
                CollectionAssert.AreEqual(Reference.Read(twoPass), Reference.Read(fused), $"forward {what}");
                CollectionAssert.AreEqual(Reference.Read(twoPassBack), Reference.Read(fusedBack), $"backward {what}");
            }
        }
    }

    /// <summary>
    /// Rows whose squares overflow or underflow float32 (found by an outside review: all-1e30 rows came out 0 and
    /// all-1e-30 rows +∞) normalize like any other, on every device; the inverse RMS is still 1/rms. So do rows of
    /// subnormals (a fuzzing run found them ±∞ and NaN), whose 1/rms is past float32's range and comes out +∞. Their
    /// values are whole multiples of a power of two that keep every sum and mean exact, as in float64.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu, false)]
    [DataRow(TestDevices.Cpu, true)]
    [DataRow(TestDevices.Simulator, false)]
    [DataRow(TestDevices.Simulator, true)]
    [DataRow(TestDevices.Cuda, false)]
    [DataRow(TestDevices.Cuda, true)]
    public void RowsOfHugeOrTinyValuesNormalize(string deviceName, bool center)
    {
        var device = TestDevices.Get(deviceName);
        using var scope = TensorScope.Begin();
        double[][] rows =
        [
            [1e30, 1e30, 1e30, 1e30],
            [1e-30, 1e-30, 1e-30, 1e-30],
            [3e25, -4e25, 1e25, 2e25],
            [-3e-25, 4e-25, 1e-25, 2e-25],
            [1, 2, 3, 4],
            [1e-21, -2e-21, 3e-21, 2e-22],
            [10 * Math.Pow(2, -136), -20 * Math.Pow(2, -136), 30 * Math.Pow(2, -136), 0],
            [-3 * Math.Pow(2, -149), Math.Pow(2, -149), 3 * Math.Pow(2, -149), -Math.Pow(2, -149)],
        ];
        var x = Tensor.FromArray<float>(
            rows.SelectMany(r => r.Select(v => (float)v)).ToArray(),
            new Shape(rows.Length, 4),
            device
        );
        var y = Ops.RmsNormalize(x, 1, out var inverse, center).ToArray<float>();
        var inv = inverse.ToArray<float>();
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r].Select(v => (double)(float)v).ToArray();
            double mean = center ? row.Average() : 0;
            var c = row.Select(v => v - mean).ToArray();
            double rms = Math.Sqrt(c.Sum(v => v * v) / c.Length);
            for (int j = 0; j < c.Length; j++)
                Assert.AreEqual(c[j] / rms, y[r * 4 + j], 1e-6, $"{deviceName} row {r} element {j} (center={center})");
            string inverseOf = $"{deviceName} row {r}: inverse {inv[r]} against rms {rms}";
            if (rms > 0 && 1 / rms > float.MaxValue)
                Assert.IsTrue(float.IsPositiveInfinity(inv[r]), inverseOf);
            else if (rms > 0)
                Assert.AreEqual(1, inv[r] * rms, 1e-6, inverseOf);
        }
    }

    /// <summary>
    /// A row of one repeated value centers to zeros, exactly, whatever its length, value and the vector width: its
    /// mean is the value itself (<c>RowMean</c> on the CPU). Then the centered normalization sees an all-zero row and
    /// gives NaN, with an infinite inverse, as documented. With the sum's mean alone, 220 × 0.1f kept a residue that
    /// normalized to −1 at 512 bits and +1 at 128, and 8 or 16 copies gave NaN.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    [DataRow(TestDevices.Cuda, DType.Float32)]
    public void RowsOfOneRepeatedValueCenterToZeros(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        using var scope = TensorScope.Begin();
        double[] values = [0.1, -0.41421145, 1, 3.3e-3, 12345.678, 1e30, -7e-20];
        int[] lengths = deviceName == TestDevices.Cpu ? [1, 2, 3, 5, 8, 16, 31, 33, 220, 257, 4099] : [3, 8, 220];
        foreach (double value in values)
        foreach (int length in lengths)
        {
            string what = $"{length} × {value:R} on {deviceName}/{dtype}";
            var x = Reference.Make(Enumerable.Repeat(value, length).ToArray(), new Shape(1, length), dtype, device);
            var centered = Reference.Read(Ops.SubtractRowMean(x, 1));
            Assert.IsTrue(centered.All(v => v == 0), $"centered {what}: {centered.First(v => v != 0):R}");
            var y = Reference.Read(Ops.RmsNormalize(x, 1, out var inverse, center: true));
            Assert.IsTrue(y.All(double.IsNaN), $"normalized {what}: {y.First(v => !double.IsNaN(v)):R}");
            Assert.IsTrue(double.IsPositiveInfinity(Reference.Read(inverse)[0]), $"inverse {what}");
        }
    }

    /// <summary>
    /// A row holding an infinity centers as x − mean(x) does in IEEE arithmetic, on every device and in both dtypes:
    /// its mean is ∞, the finite elements go to −∞ and the infinity to NaN. (The mean's correction by its deviations,
    /// all NaN here, is skipped where the sum is not finite; it made the whole row NaN.)
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    [DataRow(TestDevices.Cuda, DType.Float32)]
    public void RowsHoldingAnInfinityCenterAsIeeeArithmeticDoes(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        using var scope = TensorScope.Begin();
        var x = Reference.Make([1, double.PositiveInfinity, 2], new Shape(1, 3), dtype, device);
        var centered = Reference.Read(Ops.SubtractRowMean(x, 1));
        string got = string.Join(", ", centered);
        Assert.IsTrue(
            double.IsNegativeInfinity(centered[0])
                && double.IsNaN(centered[1])
                && double.IsNegativeInfinity(centered[2]),
            $"{deviceName}/{dtype}: [{got}]"
        );
    }

    /// <summary>
    /// The centering mean of a long float32 row is within a unit in the last place of the float64 mean: the CPU sums
    /// a float32 row in float64, where a float32 sum rounds by an amount that grows with the row's length (a row of
    /// 1,000,003 values near 0.5).
    /// </summary>
    [TestMethod]
    public void LongRowsCenterOnTheirMean()
    {
        const int Seed = 7,
            Length = 1_000_003;
        var random = new Random(Seed);
        var x = Enumerable.Range(0, Length).Select(_ => (float)(0.5 + 1e-3 * (random.NextDouble() - 0.5))).ToArray();
        double mean = x.Average(v => (double)v);
        using var row = Tensor.FromArray<float>(x, new Shape(1, Length));
        using var centered = Ops.SubtractRowMean(row, 1);
        var y = centered.ToArray<float>();
        // y = x − m exactly (x and m within a factor 2), so m = x₀ − y₀; |m − mean| ≤ 2⁻²⁴, one unit in the last
        // place of the mean, allows twice its float32 rounding (the float32 sum alone was off by 3.6·10⁻⁷).
        double m = x[0] - (double)y[0];
        Assert.IsTrue(Math.Abs(m - mean) <= Math.Pow(2, -24), $"seed {Seed}: mean {m:R} against {mean:R}");
    }

    /// <summary>A float64 row of subnormals normalizes too, its inverse RMS past float64's range (+∞).</summary>
    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void Float64RowsOfSubnormalsNormalize(bool center)
    {
        double unit = Math.Pow(2, -1070);
        double[] row = [3 * unit, -unit, 2 * unit, 0]; // every sum and mean exact
        using var x = Tensor.FromArray<double>(row, new Shape(1, 4));
        using var y = Ops.RmsNormalize(x, 1, out var inverse, center);
        using (inverse)
        {
            double mean = center ? row.Average() : 0;
            var c = row.Select(v => (v - mean) / unit).ToArray();
            double rms = Math.Sqrt(c.Sum(v => v * v) / c.Length);
            var got = y.ToArray<double>();
            for (int j = 0; j < c.Length; j++)
                Assert.AreEqual(c[j] / rms, got[j], 1e-14, $"element {j} (center={center})");
            Assert.IsTrue(double.IsPositiveInfinity(inverse.ToArray<double>()[0]), $"inverse (center={center})");
        }
    }

    [TestMethod]
    public void BadTrailingAxesAndMismatchedGradientsAreNamed()
    {
        using var x = Ops.Zeros(new Shape(2, 3));
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.SubtractRowMean(x, 3));
        StringAssert.Contains(e.Message, "SubtractRowMean");
        StringAssert.Contains(e.Message, "[2, 3]");
        using var ones = Ops.Ones(new Shape(2, 3));
        using var y = Ops.RmsNormalize(ones, 1, out var r);
        using (r)
        using (var g = Ops.Zeros(new Shape(3, 2)))
        {
            e = Assert.ThrowsExactly<ArgumentException>(() => Ops.RmsNormalizeBackward(g, y, r, 1));
            StringAssert.Contains(e.Message, "RmsNormalizeBackward");
        }
    }
}
