using Modula.Tensors;

namespace Modula.Tests.Tensors;

/// <summary>The fused cross-entropy kernels against a float64 evaluation of the formulas, on every device.</summary>
[TestClass]
public sealed class CrossEntropyTests
{
    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    [DataRow(TestDevices.Cuda, DType.Float32)]
    public void RowLossesAndGradientMatchTheFormulas(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        double tol = dtype == DType.Float64 ? 1e-12 : 2e-5;
        foreach (var (rows, classes, scale) in new[] { (7, 5, 1.0), (4, 65, 0.7), (1, 1, 2.0), (3, 33, -1.5) })
        {
            // Logits spread wide enough that an unshifted exp would overflow in float32 at scale 1.
            var x = Reference.RandomValues(rows * classes, 51).Select(v => 60 * v).ToArray();
            var labels = Enumerable.Range(0, rows).Select(r => (r * 7 + 3) % classes).ToArray();
            const double upstream = 1.3,
                factor = 0.25;
            double[] loss = new double[rows],
                dx = new double[x.Length];
            for (int r = 0; r < rows; r++)
            {
                var z = Enumerable.Range(0, classes).Select(j => scale * x[r * classes + j]).ToArray();
                double max = z.Max(),
                    total = z.Sum(v => Math.Exp(v - max));
                loss[r] = Math.Log(total) - (z[labels[r]] - max);
                for (int j = 0; j < classes; j++)
                    dx[r * classes + j] =
                        upstream * factor * scale * (Math.Exp(z[j] - max) / total - (j == labels[r] ? 1 : 0));
            }
            string what = $"{deviceName}/{dtype} {rows}×{classes} scale {scale}";
            using var tx = Reference.Make(x, new Shape(rows, classes), dtype, device);
            using var tl = Tensor.FromArray<int>(labels, new Shape(rows), device);
            using var tu = Reference.Make([upstream], Shape.Scalar, dtype, device);
            using var losses = Ops.CrossEntropyRows(tx, tl, scale);
            Reference.AssertClose(loss, Reference.Read(losses), tol, tol, $"losses {what}");
            using var d = Ops.CrossEntropyRowsBackward(tx, tl, tu, factor, scale);
            Reference.AssertClose(dx, Reference.Read(d), tol, tol, $"gradient {what}");
        }
    }

    [TestMethod]
    public void AnOutOfRangeLabelOnTheAcceleratorIsRaisedAtTheNextHostWait()
    {
        var device = TestDevices.Get(TestDevices.Simulator);
        using var x = Ops.Zeros(new Shape(3, 4), device: device);
        using var labels = Tensor.FromArray<int>([0, 9, 2], new Shape(3), device);
        using var losses = Ops.CrossEntropyRows(x, labels); // no host wait of its own
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => device.ThrowPendingErrors());
        StringAssert.Contains(e.Message, "CrossEntropyRows: index 9 at position 1 is outside [0, 4)");
        device.ThrowPendingErrors(); // raised once
        using var good = Tensor.FromArray<int>([0, 1, 2], new Shape(3), device);
        using var fine = Ops.CrossEntropyRows(x, good);
        Reference.AssertClose(
            [Math.Log(4), Math.Log(4), Math.Log(4)],
            Reference.Read(fine),
            1e-6,
            1e-6,
            "uniform rows"
        );
    }

    [TestMethod]
    public void BadLabelsAndShapesAreNamed()
    {
        using var x = Ops.Zeros(new Shape(2, 3));
        using var outside = Tensor.FromArray<int>([1, 3], new Shape(2));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.CrossEntropyRows(x, outside));
        StringAssert.Contains(e.Message, "CrossEntropyRows: index 3 at position 1 is outside [0, 3)");
        using var negative = Tensor.FromArray<int>([-1, 0], new Shape(2));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.CrossEntropyRows(x, negative));
        using var wrong = Tensor.FromArray<int>([0, 0, 0], new Shape(3));
        var s = Assert.ThrowsExactly<ArgumentException>(() => Ops.CrossEntropyRows(x, wrong));
        StringAssert.Contains(s.Message, "[2, 3]");
        using var labels = Tensor.FromArray<int>([0, 1], new Shape(2));
        using var two = Ops.Zeros(new Shape(2));
        s = Assert.ThrowsExactly<ArgumentException>(() => Ops.CrossEntropyRowsBackward(x, labels, two, 1));
        StringAssert.Contains(s.Message, "one element");
        using var floats = Ops.Zeros(new Shape(2));
        Assert.ThrowsExactly<ArgumentException>(() => Ops.CrossEntropyRows(x, floats));
    }

    [TestMethod]
    public void StridedLabelsAreCheckedAndReadInTheirOwnOrder()
    {
        using var scope = TensorScope.Begin();
        var logits = Tensor.FromArray<float>([1, 2, 3, 4, 5, 6, 7, 8, 9], new Shape(3, 3));
        // Column 0 of [[0, 1], [2, 999], [999, 999]] is [0, 2, 999]: the check must read 999, not the 1 and 2 that
        // follow the view's offset in storage.
        var table = Tensor.FromArray<int>([0, 1, 2, 999, 999, 999], new Shape(3, 2));
        var bad = table.Slice(1, 0, 1).View(3);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.CrossEntropyRows(logits, bad));
        StringAssert.Contains(e.Message, "CrossEntropyRows: index 999 at position 2");
        // A valid strided column gives the losses of its contiguous copy.
        var good = Tensor.FromArray<int>([0, 9, 2, 9, 1, 9], new Shape(3, 2)).Slice(1, 0, 1).View(3);
        var expected = Ops.CrossEntropyRows(logits, Tensor.FromArray<int>([0, 2, 1], new Shape(3)));
        using (var profiler = OpProfiler.Start(Device.Cpu))
        {
            CollectionAssert.AreEqual(expected.ToArray<float>(), Ops.CrossEntropyRows(logits, good).ToArray<float>());
            Ops.CrossEntropyRowsBackward(logits, good, Ops.Ones(new Shape(1)), factor: 1);
            // One copy of the labels per op serves both the range check and the kernel.
            var copies = profiler.Stop().Where(o => o.Op == "Copy").Sum(o => o.Calls);
            Assert.AreEqual(2, copies, "copies of the strided labels in a forward and a backward");
        }
    }
}
