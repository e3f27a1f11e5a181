using System.Runtime.CompilerServices;
using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class MemoryAndErrorTests
{
    /// <summary>
    /// A pool whose buffers cannot pass a limit (a .NET array's length) gives a request whose capacity class would
    /// pass it a buffer of exactly its size: a fuzzing run's 2,013,265,920-float attention scores were rounded up to
    /// 2³¹ and crashed in an int conversion. A tensor past the CPU's array limit is refused with its size.
    /// </summary>
    [TestMethod]
    public void PoolRequestsNearTheArrayLimitAreNotRoundedPastIt()
    {
        var made = new List<long>();
        var pool = new BufferPool<object>(
            n =>
            {
                made.Add(n);
                return new object();
            },
            maxCapacity: Array.MaxLength
        );
        pool.Rent(2_013_265_920, out long capacity);
        Assert.AreEqual(2_013_265_920L, capacity);
        pool.Rent(1000, out long small);
        Assert.AreEqual(BufferPool<object>.CapacityClass(1000), small, "small requests keep their class");
        CollectionAssert.AreEqual(new[] { 2_013_265_920L, small }, made);

        var e = Assert.ThrowsExactly<OutOfMemoryException>(() => Tensor.Empty(new Shape(int.MaxValue)));
        StringAssert.Contains(e.Message, "2,147,483,647");
        StringAssert.Contains(e.Message, "2,147,483,575"); // Array.MaxLength less the 16 floats of alignment slack
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void LiveBytesReturnToBaselineAfterScope(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        long baseline = device.LiveBytes;
        Tensor kept;
        using (var scope = TensorScope.Begin())
        {
            var x = Ops.Ones(new Shape(64, 64), device: device);
            var y = Ops.Exp(x);
            var v = y.Transpose(); // a view: shares y's storage
            kept = scope.Keep(Ops.Sum(Ops.Mul(v, x)));
            Assert.IsTrue(device.LiveBytes > baseline + 3 * 64 * 64 * 4 - 1, "intermediates are live inside the scope");
        }
        Assert.AreEqual(baseline + 4, device.LiveBytes, "only the kept scalar survives");
        Assert.AreEqual(64 * 64 * Math.E, kept.Item(), 1e-4 * 64 * 64 * Math.E); // float32 accumulation
        kept.Dispose();
        Assert.AreEqual(baseline, device.LiveBytes);
    }

    [TestMethod]
    public void DeviceConstantsAreKeptPerKeyPastScopesAndRefuseAnotherDevice()
    {
        var device = Device.Cpu;
        var key = (nameof(DeviceConstantsAreKeptPerKeyPastScopesAndRefuseAnotherDevice), 3);
        int made = 0;
        Tensor Make()
        {
            made++;
            return Ops.Ones(new Shape(3), device: device);
        }
        Tensor first;
        using (TensorScope.Begin())
            first = device.Constant(key, Make);
        using (TensorScope.Begin())
            Assert.AreSame(first, device.Constant(key, Make), "an equal key gives the kept tensor");
        Assert.AreEqual(1, made);
        CollectionAssert.AreEqual(new float[] { 1, 1, 1 }, first.ToArray<float>(), "alive past both scopes");
        var simulator = TestDevices.Get(TestDevices.Simulator);
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            simulator.Constant(key, () => Ops.Ones(new Shape(3), device: device))
        );
        StringAssert.Contains(e.Message, "made on device cpu");
    }

    [TestMethod]
    public void AScopeDisposedOutOfOrderCanStillBeClosedAfterItsInnerOne()
    {
        // Found by an outside review: the refused outer Dispose marked the scope closed, so it stayed this thread's
        // current scope for good and took every later tensor.
        var outer = TensorScope.Begin();
        var kept = Ops.Zeros(new Shape(2));
        var inner = TensorScope.Begin();
        Assert.ThrowsExactly<InvalidOperationException>(outer.Dispose);
        Assert.AreSame(inner, TensorScope.Current);
        inner.Dispose();
        outer.Dispose();
        Assert.IsNull(TensorScope.Current, "both scopes closed");
        Assert.IsTrue(kept.IsDisposed, "the outer scope's tensor went with it");
    }

    [TestMethod]
    public void PoolReusesBuffersAcrossIterations()
    {
        var device = Device.Cpu;
        long baseline = device.LiveBytes;
        for (int i = 0; i < 100; i++)
        {
            using var scope = TensorScope.Begin();
            var x = Ops.Ones(new Shape(1000));
            _ = Ops.Add(x, x);
        }
        Assert.AreEqual(baseline, device.LiveBytes);
        Assert.IsTrue(device.PooledBytes >= 2 * 1000 * 4, "buffers were returned to the pool");
    }

    /// <summary>
    /// Every CPU storage's first element lies on a 64-byte boundary, whatever its dtype and size, fresh or from the
    /// pool, and stays there across garbage collections (the arrays are pinned); the values read back are those
    /// written, and a product of fresh tensors equals the naive one.
    /// </summary>
    [TestMethod]
    public unsafe void CpuTensorsStartOnACacheLine()
    {
        static long Address(Tensor t)
        {
            var storage = (Modula.Tensors.Backends.Cpu.CpuStorage)t.Storage;
            return t.DType switch
            {
                DType.Float32 => (long)Unsafe.AsPointer(ref storage.Ref<float>()),
                DType.Float64 => (long)Unsafe.AsPointer(ref storage.Ref<double>()),
                _ => (long)Unsafe.AsPointer(ref storage.Ref<int>()),
            };
        }
        var kept = new List<Tensor>();
        try
        {
            foreach (int size in new[] { 1, 3, 64, 1000, 16_384, 300_000 })
            {
                var values = Enumerable.Range(0, size).Select(i => (float)i).ToArray();
                var f = Tensor.FromArray(values, new Shape(size));
                var d = Tensor.FromArray(values.Select(v => (double)v).ToArray(), new Shape(size));
                var n = Tensor.FromArray(Enumerable.Range(0, size).ToArray(), new Shape(size));
                kept.AddRange([f, d, n]);
                Assert.AreEqual(0, Address(f) % 64, $"float32 × {size}");
                Assert.AreEqual(0, Address(d) % 64, $"float64 × {size}");
                Assert.AreEqual(0, Address(n) % 64, $"int32 × {size}");
            }
            var before = kept.Select(t => Address(t)).ToArray();
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            CollectionAssert.AreEqual(before, kept.Select(t => Address(t)).ToArray(), "pinned: nothing moved");
            foreach (var t in kept.ToArray()[..6])
            {
                var (shape, dtype) = (t.Shape, t.DType);
                t.Dispose(); // back to the pool, then taken again
                using var again = Tensor.Empty(shape, dtype);
                Assert.AreEqual(0, Address(again) % 64, $"{dtype} × {shape} from the pool");
            }
            var last = kept[^3];
            CollectionAssert.AreEqual(
                Enumerable.Range(0, 300_000).Select(i => (float)i).ToArray(),
                last.ToArray<float>()
            );
        }
        finally
        {
            foreach (var t in kept)
                t.Dispose();
        }
        var rng = new Random(7);
        var a = Enumerable.Range(0, 37 * 19).Select(_ => (float)rng.NextDouble()).ToArray();
        var b = Enumerable.Range(0, 19 * 45).Select(_ => (float)rng.NextDouble()).ToArray();
        using var ta = Tensor.FromArray(a, new Shape(37, 19));
        using var tb = Tensor.FromArray(b, new Shape(19, 45));
        using var product = Ops.MatMul(ta, tb);
        var got = product.ToArray<float>();
        for (int i = 0; i < 37; i++)
        for (int j = 0; j < 45; j++)
        {
            double expected = 0;
            for (int p = 0; p < 19; p++)
                expected += (double)a[i * 19 + p] * b[p * 45 + j];
            Assert.AreEqual(expected, got[i * 45 + j], 1e-5 * 19, $"C[{i}, {j}]");
        }
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void UseAfterDisposeThrowsObjectDisposedAndHostSurvives(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        var x = Ops.Ones(new Shape(4), device: device);
        var view = x.View(2, 2);
        x.Dispose();
        x.Dispose(); // idempotent
        Assert.ThrowsExactly<ObjectDisposedException>(() => Ops.Exp(x));
        Assert.ThrowsExactly<ObjectDisposedException>(() => x.ToArray<float>());
        var e = Assert.ThrowsExactly<ObjectDisposedException>(() => Ops.MatMul(x, x));
        StringAssert.Contains(e.Message, "MatMul");
        // The view still holds the storage.
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1 }, view.ToArray<float>());
        view.Dispose();
    }

    [TestMethod]
    public void ShapeMismatchNamesOpAndBothShapes()
    {
        using var a = Ops.Zeros(new Shape(2, 3));
        using var b = Ops.Zeros(new Shape(4));
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.Add(a, b));
        StringAssert.Contains(e.Message, "Add");
        StringAssert.Contains(e.Message, "[2, 3]");
        StringAssert.Contains(e.Message, "[4]");
    }

    [TestMethod]
    public void DeviceMismatchNamesBothDevices()
    {
        using var a = Ops.Zeros(new Shape(3));
        using var b = Ops.Zeros(new Shape(3), device: TestDevices.Get(TestDevices.Simulator));
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.Mul(a, b));
        StringAssert.Contains(e.Message, "cpu");
        StringAssert.Contains(e.Message, "ilgpu-cpu");
        using var moved = b.To(Device.Cpu);
        using var ok = Ops.Mul(a, moved);
        CollectionAssert.AreEqual(new float[3], ok.ToArray<float>());
    }

    [TestMethod]
    public void DtypeErrorsAreClear()
    {
        using var i = Ops.Arange(3, dtype: DType.Int32);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.Exp(i));
        StringAssert.Contains(e.Message, "Int32");
        using var d = Ops.Zeros(new Shape(2), DType.Float64);
        using var f = Ops.Zeros(new Shape(2));
        Assert.ThrowsExactly<ArgumentException>(() => Ops.Add(f, d));
        var simulator = TestDevices.Get(TestDevices.Simulator); // outside the assertion: it may be Inconclusive
        Assert.ThrowsExactly<NotSupportedException>(() => d.To(simulator));
    }

    [TestMethod]
    public void BadArgumentsGetClearErrorsNotRuntimeOnes()
    {
        // Found by an outside review: these threw OverflowException, a message-less ArgumentOutOfRangeException or
        // NullReferenceException from inside the op.
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            Ops.Full(new Shape(2), double.NaN, DType.Int32)
        );
        StringAssert.Contains(e.Message, "Full: value NaN is not a whole number in Int32's range");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.Full(new Shape(2), 1e20, DType.Int32));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.Full(new Shape(2), 2.5, DType.Int32));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.Arange(5, double.NaN, 1, DType.Int32));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.Arange(5, int.MaxValue - 2, 1, DType.Int32));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.Arange(3, 0, 0.5, DType.Int32));
        using (var ints = Ops.Zeros(new Shape(2), DType.Int32))
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.FillInto(ints, 2.5));
        using var ok = Ops.Full(new Shape(2), -7, DType.Int32);
        CollectionAssert.AreEqual(new[] { -7, -7 }, ok.ToArray<int>());

        using var x = Ops.Zeros(new Shape(8));
        var split = Assert.ThrowsExactly<ArgumentException>(() => Ops.Split(x, [int.MaxValue, int.MaxValue, 10], 0));
        StringAssert.Contains(split.Message, "do not add up");
        using var s0 = Ops.Full(Shape.Scalar, 1);
        using var s1 = Ops.Full(Shape.Scalar, 2);
        var scalars = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Ops.ConcatOrView([s0, s1]));
        StringAssert.Contains(scalars.Message, "ConcatOrView: axis 0 is out of range for shape [] (rank 0)");
        // Errors name the op called, not the one it calls (a fuzzing run found Expand, Sum and Concat named).
        using var twoByThree = Ops.Zeros(new Shape(2, 3));
        using var twoByFour = Ops.Zeros(new Shape(2, 4));
        var copy = Assert.ThrowsExactly<ArgumentException>(() => Ops.CopyInto(twoByFour, twoByThree));
        StringAssert.Contains(copy.Message, "CopyInto: shapes [2, 4] and [2, 3] cannot be broadcast together");
        using var oneByThree = Ops.Zeros(new Shape(1, 3));
        var wider = Assert.ThrowsExactly<ArgumentException>(() => Ops.CopyInto(twoByThree, oneByThree));
        StringAssert.Contains(wider.Message, "CopyInto: source [2, 3] does not broadcast to destination [1, 3]");
        using (var ints = Ops.Zeros(new Shape(2), DType.Int32))
        {
            var mean = Assert.ThrowsExactly<ArgumentException>(() => Ops.Mean(ints).Dispose());
            StringAssert.StartsWith(mean.Message, "Mean:");
        }
        var apart = Assert.ThrowsExactly<ArgumentException>(() => Ops.ConcatOrView([twoByThree, twoByFour]));
        StringAssert.StartsWith(apart.Message, "ConcatOrView: shapes [2, 3], [2, 4] differ outside axis 0");
        // Every axis argument names the op and the shape (a fuzzing run found Sum's message naming neither).
        using var matrix = Ops.Zeros(new Shape(2, 3));
        (string Op, Action Call)[] badAxes =
        [
            ("Sum", () => Ops.Sum(matrix, [2]).Dispose()),
            ("Max", () => Ops.Max(matrix, [-3]).Dispose()),
            ("ArgMax", () => Ops.ArgMax(matrix, 2).Dispose()),
            ("Split", () => Ops.Split(matrix, [1, 1], 2)),
            ("Transpose", () => matrix.Transpose(0, 2).Dispose()),
            ("Permute", () => matrix.Permute(0, 5).Dispose()),
            ("Slice", () => matrix.Slice(-3, 0, 1).Dispose()),
            ("Squeeze", () => matrix.Squeeze(2).Dispose()),
            ("Unsqueeze", () => matrix.Unsqueeze(4).Dispose()),
            ("Softmax", () => F.Softmax(new Variable(matrix), 2)),
            ("Transpose", () => F.Transpose(new Variable(matrix), 0, 2)),
            ("Permute", () => F.Permute(new Variable(matrix), 0, 5)),
            ("LayerNorm", () => F.LayerNorm(new Variable(matrix), 2)),
            ("RmsDivide", () => F.RmsDivide(new Variable(matrix), -3)),
        ];
        foreach (var (op, call) in badAxes)
        {
            var bad = Assert.ThrowsExactly<ArgumentOutOfRangeException>(call, op);
            StringAssert.Contains(bad.Message, $"{op}: axis", op);
            StringAssert.Contains(bad.Message, "[2, 3]", op);
        }
        var nil = Assert.ThrowsExactly<ArgumentNullException>(() => Ops.Concat([x, null!], 0));
        StringAssert.Contains(nil.Message, "Concat: a tensor argument is null");
        Assert.ThrowsExactly<ArgumentNullException>(() => Ops.Add(x, null!));
        using var square = Ops.Zeros(new Shape(2, 2));
        var output = Assert.ThrowsExactly<ArgumentNullException>(() =>
            Ops.MatMulInto(square, square, null!, accumulate: false)
        );
        StringAssert.Contains(output.Message, "MatMulInto: the output tensor is null");
    }

    [TestMethod]
    public void BadViewsAndShapesThrow()
    {
        using var x = Ops.Zeros(new Shape(2, 3));
        Assert.ThrowsExactly<ArgumentException>(() => x.View(4, 2));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => x.Slice(1, 2, 2));
        // start + length past int.MaxValue must not wrap around the bounds check into a view beyond the storage.
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => x.Slice(1, 3, int.MaxValue - 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => x.Slice(0, int.MaxValue, int.MaxValue));
        Assert.ThrowsExactly<ArgumentException>(() => x.Expand(new Shape(2, 4)));
        Assert.ThrowsExactly<ArgumentException>(() => x.Permute(0, 0));
        Assert.ThrowsExactly<ArgumentException>(() => new Shape(2, -1));
        Assert.ThrowsExactly<ArgumentException>(() => Tensor.FromArray<float>([1, 2, 3], new Shape(2, 2)));
    }
}
