using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class LayoutAndIndexTests
{
    [TestMethod]
    public void DenseLayoutsAreRecognizedAndReproducedByEmptyLike()
    {
        using var x = Ops.Zeros(new Shape(2, 5, 12));
        using var split = x.View(2, 5, 3, 4);
        using var heads = split.Permute(0, 2, 1, 3); // [2, 3, 5, 4], strides 60, 4, 12, 1
        using var slice = x.Slice(2, 0, 6);
        using var expanded = Ops.Zeros(new Shape(1, 12)).Expand(new Shape(5, 12));
        Assert.IsTrue(x.IsDense && heads.IsDense && x.Transpose().IsDense);
        Assert.IsFalse(slice.IsDense, "a slice leaves gaps");
        Assert.IsFalse(expanded.IsDense, "a broadcast aliases elements");
        using var like = Tensor.EmptyLike(heads);
        Assert.AreEqual(heads.Shape, like.Shape);
        CollectionAssert.AreEqual(heads.Strides.ToArray(), like.Strides.ToArray());
        using var plain = Tensor.EmptyLike(slice);
        Assert.IsTrue(plain.IsContiguous, "a non-dense source gives a contiguous tensor");
    }

    /// <summary>
    /// <see cref="Tensor.EmptyMatrices"/> on the CPU: rows of more than three 64-byte lines start an odd number of
    /// lines apart (128 floats: 144; 65: 80; 64 doubles: 72) in matrices of at most 256 KiB so; shorter rows and
    /// larger matrices stay contiguous. The tensor takes values and reshapes as any strided one, and its memory
    /// returns when it is disposed.
    /// </summary>
    [TestMethod]
    public void EmptyMatricesPadRowsToAnOddNumberOfCacheLinesOnTheCpu()
    {
        var cases = new (int[] Dims, DType DType, int[] Strides)[]
        {
            ([3, 5, 128], DType.Float32, [5 * 144, 144, 1]),
            ([7, 65], DType.Float32, [80, 1]),
            ([2, 64], DType.Float64, [72, 1]),
            ([2, 2, 3, 48], DType.Float32, [2 * 3 * 48, 3 * 48, 48, 1]), // three lines: already odd, no padding
            ([4, 40], DType.Float32, [40, 1]), // three lines rounded up: short rows stay contiguous
            ([455, 128], DType.Float32, [144, 1]), // 256 KiB padded, the most the GEMM reads in place
            ([456, 128], DType.Float32, [128, 1]), // more: the GEMM packs it anyway
            ([2, 512, 512], DType.Float32, [512 * 512, 512, 1]),
            ([0, 128], DType.Float32, [128, 1]), // empty: contiguous
        };
        var cpu = Device.Cpu;
        long baseline = cpu.LiveBytes;
        foreach (var (dims, dtype, strides) in cases)
        {
            var shape = new Shape(dims);
            using var t = Tensor.EmptyMatrices(shape, dtype);
            string what = $"{shape} {dtype}";
            Assert.AreEqual(shape, t.Shape, what);
            CollectionAssert.AreEqual(strides, t.Strides.ToArray(), what);
            using var values = Ops.Arange(shape.Size, dtype: dtype);
            using var shaped = values.View(dims);
            Ops.CopyInto(shaped, t);
            using var flat = t.Reshape(shape.Size);
            CollectionAssert.AreEqual(Reference.Read(values), Reference.Read(flat), $"{what}: values");
        }
        Assert.AreEqual(baseline, cpu.LiveBytes, "the padded storages are released");
        var error = Assert.ThrowsExactly<ArgumentException>(() => Tensor.EmptyMatrices(new Shape(128)));
        StringAssert.Contains(error.Message, "EmptyMatrices: needs matrices");
        // 2²⁰ × 15 rows of 128 floats (2.01·10⁹ elements) fit a tensor; padded to 144 floats they would take
        // 2.26·10⁹: refused by name before anything is allocated.
        error = Assert.ThrowsExactly<ArgumentException>(() => Tensor.EmptyMatrices(new Shape(1 << 20, 15, 128)));
        StringAssert.Contains(error.Message, "EmptyMatrices: [1048576, 15, 128] with padded rows needs");
    }

    [TestMethod]
    public void EmptyMatricesAreContiguousOffTheCpu()
    {
        using var onSimulator = Tensor.EmptyMatrices(new Shape(4, 128), device: TestDevices.Get(TestDevices.Simulator));
        Assert.IsTrue(onSimulator.IsContiguous, "padded on the CPU only");
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void ViewsShareStorageAndContiguousCopiesAnyLayout(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        using var x = Ops.Arange(24, device: device);
        using var r = x.View(2, 3, 4);
        using var p = r.Permute(2, 0, 1); // [4, 2, 3]
        Assert.AreSame(x.Storage, p.Storage);
        Assert.IsFalse(p.IsContiguous);
        using var c = Ops.Contiguous(p);
        var expected = new float[24];
        for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
        for (int k = 0; k < 3; k++)
            expected[(i * 2 + j) * 3 + k] = j * 12 + k * 4 + i;
        CollectionAssert.AreEqual(expected, c.ToArray<float>());
        CollectionAssert.AreEqual(expected, p.ToArray<float>());
        using var e = Tensor.FromArray<float>([1, 2, 3], new Shape(3, 1), device).Expand(new Shape(3, 4));
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 }, e.ToArray<float>());
    }

    [TestMethod]
    public void ReshapeViewsWhenPossibleAndCopiesOtherwise()
    {
        using var x = Ops.Arange(12).View(3, 4);
        using var t = x.Transpose(); // [4, 3], not contiguous
        Assert.ThrowsExactly<InvalidOperationException>(() => t.View(12));
        using var flat = t.Reshape(-1);
        CollectionAssert.AreEqual(new float[] { 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11 }, flat.ToArray<float>());
        using var s = x.Slice(1, 1, 2); // [3, 2] columns 1..2
        using var s2 = s.Unsqueeze(0).Reshape(3, 2);
        CollectionAssert.AreEqual(new float[] { 1, 2, 5, 6, 9, 10 }, s2.ToArray<float>());
        using var merged = x.View(2, 6); // contiguous: a view
        Assert.AreSame(x.Storage, merged.Storage);
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void ConcatThenSplitRoundTrips(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        using var a = Tensor.FromArray<float>([1, 2, 3, 4], new Shape(2, 2), device);
        using var b = Tensor.FromArray<float>([5, 6], new Shape(2, 1), device);
        using var c = Ops.Concat([a, b], axis: 1);
        CollectionAssert.AreEqual(new float[] { 1, 2, 5, 3, 4, 6 }, c.ToArray<float>());
        var parts = Ops.Split(c, [2, 1], axis: 1);
        CollectionAssert.AreEqual(a.ToArray<float>(), parts[0].ToArray<float>());
        CollectionAssert.AreEqual(b.ToArray<float>(), parts[1].ToArray<float>());
        foreach (var p in parts)
            p.Dispose();
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.Concat([a, b], axis: 0));
        StringAssert.Contains(e.Message, "Concat");
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void GatherRowsAndScatterAddAreAdjoint(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        using var table = Tensor.FromArray<float>([0, 1, 10, 11, 20, 21], new Shape(3, 2), device);
        using var idx = Tensor.FromArray<int>([2, 0, 2, 1], new Shape(2, 2), device);
        using var rows = Ops.GatherRows(table, idx);
        Assert.AreEqual(new Shape(2, 2, 2), rows.Shape);
        CollectionAssert.AreEqual(new float[] { 20, 21, 0, 1, 20, 21, 10, 11 }, rows.ToArray<float>());
        using var grad = Ops.Zeros(new Shape(3, 2), device: device);
        using var ones = Ops.Ones(new Shape(2, 2, 2), device: device);
        Ops.ScatterAddRows(grad, idx, ones);
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1, 2, 2 }, grad.ToArray<float>());
        using var bad = Tensor.FromArray<int>([3], device);
        // The CPU refuses before running; an accelerator finds it on the device and raises it when asked.
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
        {
            using var skipped = Ops.GatherRows(table, bad);
            device.ThrowPendingErrors();
        });
        StringAssert.Contains(e.Message, "index 3");
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void FillAndArange(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        using var f = Ops.Full(new Shape(2, 3), 2.5, device: device);
        CollectionAssert.AreEqual(Enumerable.Repeat(2.5f, 6).ToArray(), f.ToArray<float>());
        using var r = Ops.Arange(5, start: 1, step: 2, dtype: DType.Int32, device: device);
        CollectionAssert.AreEqual(new[] { 1, 3, 5, 7, 9 }, r.ToArray<int>());
        using var s = Tensor.Scalar(4, device: device);
        Assert.AreEqual(4.0, s.Item());
    }

    /// <summary>
    /// FillInto on a contiguous slice large enough to split over threads (a trainer's packed gradient) sets every
    /// element of the slice and none beside it, in each dtype, on one thread and on two.
    /// </summary>
    [TestMethod]
    [DataRow(DType.Float32)]
    [DataRow(DType.Float64)]
    [DataRow(DType.Int32)]
    public void FillIntoALargeSliceSetsItAllAndNothingElse(DType dtype)
    {
        foreach (int threads in new[] { 1, 2 })
        foreach (int n in new[] { 0, 1, 65_537, 300_001 })
        {
            using var scope = CpuDevice.UseThreads(threads);
            using var whole = Ops.Full(new Shape(3, n), 7, dtype);
            using (var middle = whole.Slice(0, 1, 1))
                Ops.FillInto(middle, -2);
            var values = Reference.Read(whole);
            for (int i = 0; i < values.Length; i++)
            {
                double expected = i >= n && i < 2 * n ? -2 : 7;
                if (values[i] != expected)
                    Assert.Fail($"{dtype}, n={n}, {threads} threads: element {i} is {values[i]}, not {expected}");
            }
        }
    }

    [TestMethod]
    public void AConvolutionWhoseColumnsPass2To31IsRefusedNotWrapped()
    {
        // Found by fuzzing the API: sizes multiplied in int wrapped, and Im2Col returned [1, 0, 4] or [1, 4, 0].
        using var x = Ops.Zeros(new Shape(1, 1, 1, 1));
        foreach (var (k, padding) in new[] { (65536, 32768), (2, 32768), (1, 1_073_741_824) })
            StringAssert.Contains(
                Assert.ThrowsExactly<ArgumentException>(() => Ops.Im2Col(x, k, k, 1, padding)).Message,
                "make columns of more than 2³¹ − 1 elements",
                $"kernel {k}, padding {padding}"
            );
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu, 1, 0)]
    [DataRow(TestDevices.Cpu, 2, 1)]
    [DataRow(TestDevices.Simulator, 1, 1)]
    [DataRow(TestDevices.Simulator, 2, 0)]
    public void Im2ColMatchesDirectConvolutionAndCol2ImIsItsAdjoint(string deviceName, int stride, int padding)
    {
        var device = TestDevices.Get(deviceName);
        int n = 2,
            c = 3,
            h = 5,
            w = 6,
            k = 3,
            cout = 4;
        var xs = Reference.RandomValues(n * c * h * w, 5).Select(v => (double)(float)v).ToArray();
        var ws = Reference.RandomValues(cout * c * k * k, 6).Select(v => (double)(float)v).ToArray();
        using var x = Reference.Make(xs, new Shape(n, c, h, w), DType.Float32, device);
        using var weight = Reference.Make(ws, new Shape(cout, c * k * k), DType.Float32, device);
        using var cols = Ops.Im2Col(x, k, k, stride, padding);
        using var y = Ops.MatMul(weight, cols); // [n, cout, Ho·Wo]
        var g = Ops.Geometry("test", x.Shape, k, k, stride, padding);
        var expected = new double[n * cout * g.OutHeight * g.OutWidth];
        for (int b = 0; b < n; b++)
        for (int o = 0; o < cout; o++)
        for (int oh = 0; oh < g.OutHeight; oh++)
        for (int ow = 0; ow < g.OutWidth; ow++)
        {
            double s = 0;
            for (int ci = 0; ci < c; ci++)
            for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++)
            {
                int ih = oh * stride - padding + ki,
                    iw = ow * stride - padding + kj;
                if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                    s += ws[o * c * k * k + (ci * k + ki) * k + kj] * xs[((b * c + ci) * h + ih) * w + iw];
            }
            expected[((b * cout + o) * g.OutHeight + oh) * g.OutWidth + ow] = s;
        }
        Reference.AssertClose(expected, Reference.Read(y), 1e-4, 1e-5, "conv via im2col");
        // Adjoint: <im2col(x), u> == <x, col2im(u)> for any u.
        var us = Reference.RandomValues(cols.Size, 8).Select(v => (double)(float)v).ToArray();
        using var u = Reference.Make(us, cols.Shape, DType.Float32, device);
        using var back = Ops.Col2Im(u, g);
        double lhs = Reference.Read(cols).Zip(us, (p, q) => p * q).Sum();
        double rhs = xs.Zip(Reference.Read(back), (p, q) => p * q).Sum();
        Assert.AreEqual(lhs, rhs, 1e-3 * Math.Max(1, Math.Abs(lhs)));
    }

    [TestMethod]
    public void AvgPoolAveragesWindows()
    {
        using var x = Ops.Arange(16).View(1, 1, 4, 4);
        using var y = Ops.AvgPool2d(x, 2);
        Assert.AreEqual(new Shape(1, 1, 2, 2), y.Shape);
        CollectionAssert.AreEqual(new float[] { 2.5f, 4.5f, 10.5f, 12.5f }, y.ToArray<float>());
    }
}
