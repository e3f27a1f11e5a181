using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Backends.Cpu.Gemm;
using Modula.Tensors.Backends.Ilgpu;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class MatMulTests
{
    public static IEnumerable<object[]> Shapes =>
        [
            [1, 1, 1, 1],
            [1, 3, 5, 7],
            [1, 13, 33, 17],
            [2, 12, 32, 256],
            [1, 25, 70, 300],
            [3, 65, 66, 67],
            [1, 5, 2, 129],
            [1, 0, 4, 3],
            [1, 4, 3, 0],
            [4, 64, 64, 32],
            [1, 150, 40, 20],
            [1, 130, 1, 70],
            [2, 1, 40, 33],
            [1, 1, 5, 1],
        ];

    [TestMethod]
    [DynamicData(nameof(Shapes))]
    public void MatMulMatchesReferenceWithTransposesOnEveryBackend(int batch, int m, int n, int k)
    {
        var a = Reference.RandomValues(batch * m * k, 11).Select(v => (double)(float)v).ToArray();
        var b = Reference.RandomValues(batch * k * n, 12).Select(v => (double)(float)v).ToArray();
        foreach (
            var (deviceName, dtype) in new[]
            {
                (TestDevices.Cpu, DType.Float32),
                (TestDevices.Cpu, DType.Float64),
                (TestDevices.Simulator, DType.Float32),
            }
        )
        {
            if (deviceName == TestDevices.Simulator && (long)batch * m * n * k > 300_000)
                continue; // simulator is slow; small sizes only
            var device = TestDevices.Get(deviceName);
            foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                var shapeA = ta ? new Shape(batch, k, m) : new Shape(batch, m, k);
                var shapeB = tb ? new Shape(batch, n, k) : new Shape(batch, k, n);
                using var ta_ = Reference.Make(a, shapeA, dtype, device);
                using var tb_ = Reference.Make(b, shapeB, dtype, device);
                using var c = Ops.MatMul(ta_, tb_, ta, tb);
                Assert.AreEqual(new Shape(batch, m, n), c.Shape);
                double tol = dtype == DType.Float64 ? 1e-10 : 1e-4 * Math.Sqrt(k + 1);
                Reference.AssertClose(
                    Reference.Product(a, b, batch, m, n, k, ta, tb, false),
                    Reference.Read(c),
                    tol,
                    1e-5,
                    $"{deviceName}/{dtype} ta={ta} tb={tb}"
                );
            }
        }
    }

    [TestMethod]
    public void PackedKernelMatchesReferenceOnSingleAndMultipleThreads()
    {
        foreach (int t in new[] { 1, 2, 3 })
        {
            using var threadsScope = CpuDevice.UseThreads(t);
            var a = Reference.RandomValues(200 * 300, 1).Select(v => (double)(float)v).ToArray();
            var b = Reference.RandomValues(300 * 130, 2).Select(v => (double)(float)v).ToArray();
            using var ta = Reference.Make(a, new Shape(200, 300), DType.Float32, Device.Cpu);
            using var tb = Reference.Make(b, new Shape(300, 130), DType.Float32, Device.Cpu);
            using var c = Ops.MatMul(ta, tb);
            Reference.AssertClose(
                Reference.Product(a, b, 1, 200, 130, 300, false, false, false),
                Reference.Read(c),
                2e-3,
                1e-5,
                $"threads={t}"
            );
        }
    }

    /// <summary>
    /// Batches of products over 2²⁴ flops each: with at least four per thread, as many as divide evenly among the
    /// threads run one whole matrix per thread and the rest one after another over all threads (13 on 2 and on 3
    /// threads: twelve and one); with fewer (3), all run over all threads. Plain, transposed and Gram (MᵀM, symmetric)
    /// batches, on 1 to 3 threads, against float64.
    /// </summary>
    [TestMethod]
    public void BatchesOfLargeProductsMatchReferenceOnAnyThreadCount()
    {
        const int m = 160,
            n = 150,
            k = 400; // 2·m·n·k = 19.2 M flops; a Gram product 2·m²·k = 20.5 M
        foreach (int batch in new[] { 13, 3 })
        {
            var a = Reference.RandomValues(batch * m * k, 3).Select(v => (double)(float)v).ToArray();
            var b = Reference.RandomValues(batch * k * n, 4).Select(v => (double)(float)v).ToArray();
            var (plain, transposed, gramOfA) = (
                Reference.Product(a, b, batch, m, n, k, false, false, false),
                Reference.Product(a, b, batch, m, n, k, true, true, false),
                Reference.Product(a, a, batch, m, m, k, true, false, false)
            );
            foreach (int t in new[] { 1, 2, 3 })
                MatchAt(t, batch, a, b, plain, transposed, gramOfA);
        }

        static void MatchAt(
            int t,
            int batch,
            double[] a,
            double[] b,
            double[] plain,
            double[] transposed,
            double[] gramOfA
        )
        {
            using var threadsScope = CpuDevice.UseThreads(t);
            using var plainA = Reference.Make(a, new Shape(batch, m, k), DType.Float32, Device.Cpu);
            using var columnsA = Reference.Make(a, new Shape(batch, k, m), DType.Float32, Device.Cpu);
            using var plainB = Reference.Make(b, new Shape(batch, k, n), DType.Float32, Device.Cpu);
            using var rowsB = Reference.Make(b, new Shape(batch, n, k), DType.Float32, Device.Cpu);
            string what = $"batch {batch} of {m}×{n}×{k} on {t} threads";
            using (var c = Ops.MatMul(plainA, plainB))
                Reference.AssertClose(plain, Reference.Read(c), 2e-3, 1e-5, what);
            using (var c = Ops.MatMul(columnsA, rowsB, transposeA: true, transposeB: true))
                Reference.AssertClose(transposed, Reference.Read(c), 2e-3, 1e-5, what + " Aᵀ Bᵀ");
            using (var gram = Ops.MatMul(columnsA, columnsA, transposeA: true))
                Reference.AssertClose(gramOfA, Reference.Read(gram), 2e-3, 1e-5, what + " Gram");
        }
    }

    /// <summary>
    /// The packed kernel's edges: a last row tile shorter than 12 is computed over rows already done (and must store
    /// only its own rows, once, also when accumulating and across depth blocks and threads), and column-major B is
    /// packed in register transposes (in each form the CPU has, <see cref="GemmKernelTests.EachTransposeForm"/>) plus
    /// a remainder of depths. Each shape is written twice into C: overwritten, then accumulated with α.
    /// </summary>
    [TestMethod]
    [DataRow(13, 33, 17)]
    [DataRow(64, 64, 32)]
    [DataRow(64, 32, 40)]
    [DataRow(150, 70, 300)]
    [DataRow(23, 64, 1100)]
    public void PartialRowTilesAndTransposedPanelsAreWrittenExactlyOnce(int m, int n, int k) =>
        GemmKernelTests.EachTransposeForm(transposes => CheckEdges(m, n, k, transposes));

    private static void CheckEdges(int m, int n, int k, string transposes)
    {
        foreach (int t in new[] { 1, 2 })
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            using var threadsScope = CpuDevice.UseThreads(t);
            var a = Reference.RandomValues(3 * m * k, 5).Select(v => (double)(float)v).ToArray();
            var b = Reference.RandomValues(3 * k * n, 6).Select(v => (double)(float)v).ToArray();
            using var at = Reference.Make(a, ta ? new Shape(3, k, m) : new Shape(3, m, k), DType.Float32, Device.Cpu);
            using var bt = Reference.Make(b, tb ? new Shape(3, n, k) : new Shape(3, k, n), DType.Float32, Device.Cpu);
            using var c = Ops.Full(new Shape(3, m, n), double.NaN, DType.Float32, Device.Cpu);
            Ops.MatMulInto(at, bt, c, accumulate: false, ta, tb);
            Ops.MatMulInto(at, bt, c, accumulate: true, ta, tb, alpha: -0.25);
            var expected = Reference.Product(a, b, 3, m, n, k, ta, tb, false).Select(v => 0.75 * v).ToArray();
            Reference.AssertClose(
                expected,
                Reference.Read(c),
                1e-4 * Math.Sqrt(k),
                1e-5,
                $"{m}×{n}×{k} threads={t} ta={ta} tb={tb} transposes {transposes}"
            );
        }
    }

    /// <summary>
    /// A product whose A is column-major with columns far apart and whose B is row-major (a weight gradient dyᵀ·x) is
    /// computed as its transpose (<see cref="TransposedResult"/>): the same bits as the direct product, accumulated
    /// with α and overwritten, on one thread and two, into a C with wider rows whose other columns stay as they were;
    /// and within float32 rounding of the float64 product. A is the transpose of the first m columns of a [batch, k,
    /// w] tensor (column stride w ≥ 512), B a [batch, k, n] tensor. The cases include small products in a batch
    /// (each on one thread of the pool) and a C large enough for its transposes to split over the threads, with edges,
    /// each with the register transposes in every form the CPU has.
    /// </summary>
    [TestMethod]
    [DataRow(512, 128, 768, 512, 1)]
    [DataRow(37, 21, 5, 600, 1)]
    [DataRow(130, 17, 1100, 515, 1)]
    [DataRow(16, 48, 64, 1024, 1)]
    [DataRow(40, 24, 64, 600, 4)]
    [DataRow(700, 100, 40, 700, 1)]
    public void FarApartColumnsOfAGiveTheDirectProductsBitsThroughTheTransposedResult(
        int m,
        int n,
        int k,
        int w,
        int batch
    )
    {
        if (Kernel128Spread.IsChosen)
            Assert.Inconclusive("The spread 128-bit tile keeps the direct product on this CPU.");
        var x = Reference.RandomValues(batch * k * w, 11).Select(v => (double)(float)v).ToArray();
        var b = Reference.RandomValues(batch * k * n, 12).Select(v => (double)(float)v).ToArray();
        using var xt = Reference.Make(x, new Shape(batch, k, w), DType.Float32, Device.Cpu);
        using var columns = xt.Slice(2, 0, m);
        using var bt = Reference.Make(b, new Shape(batch, k, n), DType.Float32, Device.Cpu);
        var a = new double[batch * k * m];
        for (int q = 0; q < batch; q++)
        for (int p = 0; p < k; p++)
        for (int i = 0; i < m; i++)
            a[(q * k + p) * m + i] = x[(q * k + p) * w + i];
        var expected = Reference.Product(a, b, batch, m, n, k, ta: true, tb: false);
        int ld = n + 3;
        double[] C(float[] values) =>
            [.. Enumerable.Range(0, batch * m * n).Select(e => (double)values[e / n * ld + 1 + e % n])];
        bool enabled = TransposedResult.Enabled;
        try
        {
            GemmKernelTests.EachTransposeForm(transposes =>
            {
                foreach (int t in new[] { 1, 2 })
                {
                    using var threadsScope = CpuDevice.UseThreads(t);
                    string what = $"{batch}×{m}×{n}×{k}, A's columns {w} apart, {t} threads, transposes {transposes}";
                    // Accumulated onto sevens first, so that the transposed route must bring C into its scratch; then
                    // overwritten.
                    (float[] Accumulated, float[] Overwritten) Run(bool transposed)
                    {
                        TransposedResult.Enabled = transposed;
                        long taken = Interlocked.Read(ref TransposedResult.Taken);
                        using var wide = Ops.Full(new Shape(batch, m, ld), 7, DType.Float32, Device.Cpu);
                        using var c = wide.Slice(2, 1, n);
                        Ops.MatMulInto(columns, bt, c, accumulate: true, transposeA: true, alpha: -0.25);
                        var accumulated = wide.ToArray<float>();
                        Ops.MatMulInto(columns, bt, c, accumulate: false, transposeA: true);
                        long routed = Interlocked.Read(ref TransposedResult.Taken) - taken;
                        Assert.AreEqual(
                            transposed ? 2 * batch : 0,
                            routed,
                            $"{what}: products routed, transposed={transposed}"
                        );
                        return (accumulated, wide.ToArray<float>());
                    }
                    var direct = Run(false);
                    var (accumulated, transposed) = Run(true);
                    Reference.AssertSameBits(direct.Accumulated, accumulated, (e, d, r) =>
                        $"{what}, accumulated: element {e}: direct {d}, got {r}"
                    );
                    Reference.AssertSameBits(direct.Overwritten, transposed, (e, d, r) =>
                        $"{what}: element {e}: direct {d}, got {r}"
                    );
                    Reference.AssertClose(expected, C(transposed), 1e-4 * k, 1e-5, what);
                    Reference.AssertClose(
                        [.. expected.Select(v => 7 - 0.25 * v)],
                        C(accumulated),
                        1e-4 * k,
                        1e-5,
                        $"{what}, accumulated"
                    );
                    for (int r = 0; r < batch * m; r++)
                        foreach (int j in new[] { 0, n + 1, n + 2 })
                            Assert.AreEqual(7f, transposed[r * ld + j], $"{what}: row {r}, column {j} outside C");
                }
            });
        }
        finally
        {
            TransposedResult.Enabled = enabled;
        }
    }

    /// <summary>
    /// <see cref="TransposedResult.Takes"/> only the layout it serves: A column-major at least <see
    /// cref="PackedGemm.PackedColumnStride"/> apart and B row-major closer than that, matrices on both sides, and a C
    /// whose scratch stays under its cap.
    /// </summary>
    [TestMethod]
    public void OnlyFarApartColumnsOfAAndCloseRowsOfBTakeTheTransposedResult()
    {
        var data = new float[4096];
        var far = PackedGemm.PackedColumnStride;
        MatrixRef<float> Ref(int rowStride, int colStride) => new(data, 0, rowStride, colStride);
        if (Kernel128Spread.IsChosen)
            Assert.Inconclusive("The spread 128-bit tile keeps the direct product on this CPU.");
        Assert.IsTrue(TransposedResult.Takes(Ref(1, far), Ref(128, 1), 8, 8, 8), "far A, close B");
        Assert.IsFalse(TransposedResult.Takes(Ref(1, far - 1), Ref(128, 1), 8, 8, 8), "A read in place");
        Assert.IsFalse(TransposedResult.Takes(Ref(far, 1), Ref(128, 1), 8, 8, 8), "row-major A");
        Assert.IsFalse(TransposedResult.Takes(Ref(1, far), Ref(far, 1), 8, 8, 8), "B's rows far apart too");
        Assert.IsFalse(TransposedResult.Takes(Ref(1, far), Ref(1, 128), 8, 8, 8), "column-major B");
        Assert.IsFalse(TransposedResult.Takes(Ref(1, far), Ref(128, 1), 1, 8, 8), "one row");
        Assert.IsFalse(TransposedResult.Takes(Ref(1, far), Ref(128, 1), 8, 1, 8), "one column");
        Assert.IsFalse(TransposedResult.Takes(Ref(1, far), Ref(128, 1), 4096, 4096, 8), "a C past the scratch's cap");
    }

    /// <summary>
    /// <c>symmetricResult</c>: A symmetric and B a polynomial in A (so A·B is symmetric), against the float64
    /// product of the same rounded values. The CPU computes the lower triangle and mirrors it, so its float32
    /// result must also be exactly symmetric, also when added into a symmetric C; sizes cross the tiles' row edges
    /// (12 or 8 rows at 512 bits, 6 below) and 32-column edges, the one-thread and two-thread bands, a batch, A
    /// read transposed, and empty matrices.
    /// </summary>
    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(1, 5)]
    [DataRow(3, 13)]
    [DataRow(2, 64)]
    [DataRow(1, 130)]
    [DataRow(2, 0)]
    public void SymmetricResultEqualsTheFullProduct(int batch, int n)
    {
        var (a, b) = CommutingSymmetric(batch, n, seed: 21);
        var expected = Reference.Product(a, b, batch, n, n, n, false, false, false);
        foreach (var (deviceName, dtype, threads) in TestDevices.NumericCases)
        foreach (bool transposeA in new[] { false, true })
        {
            if (deviceName == TestDevices.Simulator && n > 64)
                continue; // the simulator is slow; small sizes only
            using var threadsScope = CpuDevice.UseThreads(threads);
            var device = TestDevices.Get(deviceName);
            using var ta = Reference.Make(a, new Shape(batch, n, n), dtype, device);
            using var tb = Reference.Make(b, new Shape(batch, n, n), dtype, device);
            using var c = Ops.MatMul(ta, tb, transposeA, symmetricResult: true);
            string what = $"{batch}×{n}×{n} {deviceName}/{dtype} threads={threads} Aᵀ={transposeA}";
            double atol = dtype == DType.Float64 ? 1e-9 : 1e-4 * Math.Sqrt(n + 1);
            Check(expected, Reference.Read(c), what);
            // Added into a symmetric C (the one just computed): C = 0.75·A·B.
            Ops.MatMulInto(ta, tb, c, accumulate: true, transposeA, alpha: -0.25, symmetricResult: true);
            Check(expected.Select(v => 0.75 * v).ToArray(), Reference.Read(c), $"{what} accumulated");

            void Check(double[] expectedValues, double[] actual, string label)
            {
                Reference.AssertClose(expectedValues, actual, atol, 1e-5, label);
                if (deviceName != TestDevices.Cpu || dtype != DType.Float32)
                    return; // float64 and the simulator compute the whole product
                for (int q = 0; q < batch; q++)
                for (int i = 0; i < n; i++)
                for (int j = 0; j < i; j++)
                    Assert.AreEqual(
                        actual[(q * n + i) * n + j],
                        actual[(q * n + j) * n + i],
                        $"{label}: C[{q}, {i}, {j}] ≠ C[{q}, {j}, {i}]"
                    );
            }
        }
    }

    [TestMethod]
    public void SymmetricResultOfANonSquareProductIsRefused()
    {
        using var a = Ops.Zeros(new Shape(4, 3));
        using var b = Ops.Zeros(new Shape(3, 5));
        var error = Assert.ThrowsExactly<ArgumentException>(() => Ops.MatMul(a, b, symmetricResult: true));
        StringAssert.Contains(error.Message, "symmetric result must be square");
        using var c = Ops.Zeros(new Shape(4, 5));
        error = Assert.ThrowsExactly<ArgumentException>(() =>
            Ops.MatMulInto(a, b, c, accumulate: true, symmetricResult: true)
        );
        StringAssert.Contains(error.Message, "MatMulInto: a symmetric result must be square");
    }

    [TestMethod]
    public void ProductErrorsNameTheOpThatWasCalled()
    {
        using var a = Ops.Zeros(new Shape(4, 3));
        using var b = Ops.Zeros(new Shape(2, 5));
        using var c = Ops.Zeros(new Shape(4, 5));
        var error = Assert.ThrowsExactly<ArgumentException>(() => Ops.MatMulInto(a, b, c, accumulate: false));
        StringAssert.StartsWith(error.Message, "MatMulInto: inner dimensions differ");
        error = Assert.ThrowsExactly<ArgumentException>(() => Ops.MatMul(a, b));
        StringAssert.StartsWith(error.Message, "MatMul: inner dimensions differ");
    }

    /// <summary>
    /// <c>symmetricResult</c> with an empty depth (A [b, n, 0] · B [b, 0, n]): the product is zero, so the result
    /// is zeros and a symmetric C added into stays as it was, on every device.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void SymmetricResultWithAnEmptyDepth(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        const int batch = 2,
            n = 37;
        using var a = Ops.Zeros(new Shape(batch, n, 0), device: device);
        using var b = Ops.Zeros(new Shape(batch, 0, n), device: device);
        using var c = Ops.MatMul(a, b, symmetricResult: true);
        CollectionAssert.AreEqual(new[] { batch, n, n }, c.Shape.Dims.ToArray(), $"{deviceName}: shape");
        Assert.IsTrue(Reference.Read(c).All(v => v == 0), $"{deviceName}: the product of an empty depth is zero");
        var (sym, _) = CommutingSymmetric(batch, n, seed: 5);
        using var into = Reference.Make(sym, new Shape(batch, n, n), DType.Float32, device);
        Ops.MatMulInto(a, b, into, accumulate: true, alpha: 3, symmetricResult: true);
        CollectionAssert.AreEqual(sym, Reference.Read(into), $"{deviceName}: C + 3·0 must be C");
    }

    /// <summary>
    /// <c>symmetricResult</c> into an output that is a transposed view (not row-contiguous): the product reaches it
    /// through the extra pass, also when accumulating; compared with the float64 product. (The product being
    /// symmetric, this cannot catch a transposition in that pass; other MatMulInto tests do.)
    /// </summary>
    [TestMethod]
    public void SymmetricResultIntoATransposedView()
    {
        const int batch = 2,
            n = 29;
        var (a, b) = CommutingSymmetric(batch, n, seed: 8);
        var expected = Reference.Product(a, b, batch, n, n, n, false, false, false);
        using var ta = Reference.Make(a, new Shape(batch, n, n), DType.Float32, Device.Cpu);
        using var tb = Reference.Make(b, new Shape(batch, n, n), DType.Float32, Device.Cpu);
        using var storage = Ops.Zeros(new Shape(batch, n, n));
        using var view = storage.Transpose();
        Ops.MatMulInto(ta, tb, view, accumulate: false, symmetricResult: true);
        double atol = 1e-4 * Math.Sqrt(n + 1);
        Reference.AssertClose(expected, Reference.Read(view), atol, 1e-5, "into a transposed view");
        Ops.MatMulInto(ta, tb, view, accumulate: true, alpha: 0.5, symmetricResult: true);
        var sum = expected.Select(v => 1.5 * v).ToArray();
        Reference.AssertClose(sum, Reference.Read(view), 1.5 * atol, 1e-5, "accumulated into a transposed view");
    }

    /// <summary>Per batch entry, A = X + Xᵀ and B = A² / n + A (commuting symmetric matrices), rounded to
    /// float32.</summary>
    private static (double[] A, double[] B) CommutingSymmetric(int batch, int n, int seed)
    {
        var x = Reference.RandomValues(batch * n * n, seed);
        var a = new double[batch * n * n];
        var b = new double[batch * n * n];
        for (int q = 0; q < batch; q++)
        {
            int o = q * n * n;
            for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                a[o + i * n + j] = (float)(x[o + i * n + j] + x[o + j * n + i]);
            for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < n; p++)
                    s += a[o + i * n + p] * a[o + p * n + j];
                b[o + i * n + j] = (float)(s / n + a[o + i * n + j]);
            }
        }
        return (a, b);
    }

    /// <summary>
    /// A product with few tiles and a long K runs split along K on an accelerator, its partial products summed in
    /// order: K off the slab and chunk sizes, every transpose, accumulate with α, a batch against one broadcast
    /// matrix, and a result written into columns of a wider tensor (an offset and a row stride other than n). The
    /// simulator has one multiprocessor, so it is told it has 32; CUDA splits by its own count.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void ProductsSplitAlongKMatchTheReference(string deviceName)
    {
        // A simulator of its own: the shared one must keep its single multiprocessor for every other test.
        bool ownSimulator = deviceName == TestDevices.Simulator;
        if (ownSimulator)
            TestDevices.RequireSimulator();
        using var simulator = ownSimulator ? IlgpuDevice.CreateCpuSimulator() : null;
        var device = simulator ?? TestDevices.Get(deviceName);
        if (simulator is not null)
            simulator.Kernels.Multiprocessors = 32;
        foreach (
            var (batch, m, n, k) in new[] { (1, 70, 50, 300), (3, 20, 30, 130), (1, 64, 64, 1000), (2, 5, 7, 129) }
        )
        {
            var a = Reference.RandomValues(batch * m * k, k).Select(v => (double)(float)v).ToArray();
            var b = Reference.RandomValues(batch * k * n, k + 1).Select(v => (double)(float)v).ToArray();
            double tol = 1e-4 * Math.Sqrt(k + 1);
            foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                string what = $"{deviceName} [{batch}, {m}, {n}] k={k} ta={ta} tb={tb}";
                using var ta_ = Reference.Make(
                    a,
                    ta ? new Shape(batch, k, m) : new Shape(batch, m, k),
                    DType.Float32,
                    device
                );
                using var tb_ = Reference.Make(
                    b,
                    tb ? new Shape(batch, n, k) : new Shape(batch, k, n),
                    DType.Float32,
                    device
                );
                var expected = Reference.Product(a, b, batch, m, n, k, ta, tb, false);
                using var c = Ops.MatMul(ta_, tb_, ta, tb);
                Reference.AssertClose(expected, Reference.Read(c), tol, 1e-5, what);
                Ops.MatMulInto(ta_, tb_, c, accumulate: true, alpha: -0.5, transposeA: ta, transposeB: tb);
                Reference.AssertClose(
                    expected.Select(v => 0.5 * v).ToArray(),
                    Reference.Read(c),
                    tol,
                    1e-5,
                    $"{what} +α"
                );
            }
            using var batched = Reference.Make(a, new Shape(batch, m, k), DType.Float32, device);
            using var shared = Reference.Make(b[..(k * n)], new Shape(k, n), DType.Float32, device);
            using var broadcast = Ops.MatMul(batched, shared);
            var reference = Reference.Product(a, b, batch, m, n, k, false, false, broadcastB: true);
            Reference.AssertClose(reference, Reference.Read(broadcast), tol, 1e-5, $"{deviceName} k={k} broadcast B");
            using var wide = Ops.Full(new Shape(batch, m, n + 5), 7, DType.Float32, device);
            using var columns = wide.Slice(2, 3, n);
            Ops.MatMulInto(batched, shared, columns, accumulate: true);
            Reference.AssertClose(
                reference.Select(v => v + 7).ToArray(),
                Reference.Read(columns),
                tol,
                1e-5,
                $"{deviceName} k={k} into columns 3..{n + 2} of {n + 5}"
            );
        }
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void BatchAxesBroadcastAndAccumulate(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        var a = Reference.RandomValues(2 * 3 * 4 * 5, 3).Select(v => (double)(float)v).ToArray();
        var b = Reference.RandomValues(5 * 6, 4).Select(v => (double)(float)v).ToArray();
        using var ta = Reference.Make(a, new Shape(2, 3, 4, 5), DType.Float32, device);
        using var tb = Reference.Make(b, new Shape(5, 6), DType.Float32, device);
        using var c = Ops.MatMul(ta, tb);
        Assert.AreEqual(new Shape(2, 3, 4, 6), c.Shape);
        var expected = Reference.Product(a, b, 6, 4, 6, 5, false, false, broadcastB: true);
        Reference.AssertClose(expected, Reference.Read(c), 1e-4, 1e-5, "broadcast batch");
        Ops.MatMulInto(ta, tb, c, accumulate: true);
        Reference.AssertClose(expected.Select(v => 2 * v).ToArray(), Reference.Read(c), 2e-4, 1e-5, "accumulate");
        Ops.MatMulInto(ta, tb, c, accumulate: true, alpha: -0.5);
        Reference.AssertClose(
            expected.Select(v => 1.5 * v).ToArray(),
            Reference.Read(c),
            2e-4,
            1e-5,
            "accumulate α·a·b"
        );
        using var scaled = Ops.MatMul(ta, tb, alpha: 3);
        Reference.AssertClose(expected.Select(v => 3 * v).ToArray(), Reference.Read(scaled), 3e-4, 1e-5, "α·a·b");
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    [DataRow(TestDevices.Cuda, DType.Float32)]
    public void HeadSplitViewsAreReadInPlace(string deviceName, DType dtype)
    {
        // q, k [B, T, H·d] viewed as [B, H, T, d]: the batch axes (B, H) do not merge into one
        // stride, so the product reads them as two; a transposed broadcast operand joins them.
        var device = TestDevices.Get(deviceName);
        const int batch = 2,
            t = 5,
            heads = 3,
            d = 4;
        var q = Reference.RandomValues(batch * t * heads * d, 7).Select(v => (double)(float)v).ToArray();
        var k = Reference.RandomValues(batch * t * heads * d, 8).Select(v => (double)(float)v).ToArray();
        using var tq = Reference.Make(q, new Shape(batch, t, heads * d), dtype, device);
        using var tk = Reference.Make(k, new Shape(batch, t, heads * d), dtype, device);
        using var q4 = tq.Reshape(batch, t, heads, d);
        using var k4 = tk.Reshape(batch, t, heads, d);
        using var qh = q4.Permute(0, 2, 1, 3);
        using var kh = k4.Permute(0, 2, 1, 3);
        using var profiler = OpProfiler.Start(device);
        using var scores = Ops.MatMul(qh, kh, transposeB: true, alpha: 0.5); // [B, H, T, T]
        var ops = profiler.Stop();
        Assert.IsFalse(
            ops.Any(o => o.Op == "Copy"),
            $"head-split operands were copied: {string.Join(", ", ops.Select(o => o.Op))}"
        );
        using var mixed = Ops.MatMul(scores, kh); // [B, H, T, d]
        double Q(int b, int h, int i, int j) => q[(b * t + i) * heads * d + h * d + j];
        double K(int b, int h, int i, int j) => k[(b * t + i) * heads * d + h * d + j];
        var expectedScores = new double[batch * heads * t * t];
        var expectedMixed = new double[batch * heads * t * d];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < t; i++)
        {
            int row = (b * heads + h) * t + i;
            for (int j = 0; j < t; j++)
                expectedScores[row * t + j] = 0.5 * Enumerable.Range(0, d).Sum(p => Q(b, h, i, p) * K(b, h, j, p));
            for (int j = 0; j < d; j++)
                expectedMixed[row * d + j] = Enumerable
                    .Range(0, t)
                    .Sum(p => expectedScores[row * t + p] * K(b, h, p, j));
        }
        Reference.AssertClose(expectedScores, Reference.Read(scores), 1e-5, 1e-5, $"q·kᵀ on {deviceName}/{dtype}");
        Reference.AssertClose(expectedMixed, Reference.Read(mixed), 1e-5, 1e-5, $"scores·k on {deviceName}/{dtype}");
        // broadcast over heads
        using var shared = Ops.MatMul(qh, tk.Reshape(batch, 1, t, heads * d).Slice(3, 0, d), transposeB: true);
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < t; i++)
        for (int j = 0; j < t; j++)
            Assert.AreEqual(
                Enumerable.Range(0, d).Sum(p => Q(b, h, i, p) * K(b, 0, j, p)),
                Reference.Read(shared)[((b * heads + h) * t + i) * t + j],
                1e-5
            );
    }

    /// <summary>
    /// A product written into a head-split view of a [B, T, H·d] buffer lands in that buffer's
    /// layout without a copy (then accumulated onto by a second product), a column-strided output
    /// goes through one extra pass with the same values, and an overlapping output is refused.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    [DataRow(TestDevices.Cuda, DType.Float32)]
    public void ProductsWriteIntoHeadSplitAndStridedOutputs(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        const int batch = 2,
            t = 5,
            heads = 3,
            d = 4;
        var p = Reference.RandomValues(batch * heads * t * t, 3).Select(v => (double)(float)v).ToArray();
        var v = Reference.RandomValues(batch * heads * t * d, 4).Select(x => (double)(float)x).ToArray();
        using var tp = Reference.Make(p, new Shape(batch, heads, t, t), dtype, device);
        using var tv = Reference.Make(v, new Shape(batch, heads, t, d), dtype, device);
        var expected = new double[batch * t * heads * d]; // p·v laid out as [B, T, H·d]
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < t; i++)
        for (int j = 0; j < d; j++)
            expected[(b * t + i) * heads * d + h * d + j] = Enumerable
                .Range(0, t)
                .Sum(s => p[((b * heads + h) * t + i) * t + s] * v[((b * heads + h) * t + s) * d + j]);

        using var merged = Ops.Zeros(new Shape(batch, t, heads * d), dtype, device);
        using var unmerged = merged.View(batch, t, heads, d);
        using var split = unmerged.Permute(0, 2, 1, 3); // [B, H, T, d] view
        using var profiler = OpProfiler.Start(device);
        Ops.MatMulInto(tp, tv, split, accumulate: false, alpha: 0.5);
        Ops.MatMulInto(tp, tv, split, accumulate: true, alpha: 1.5);
        var ops = profiler.Stop();
        Assert.IsFalse(
            ops.Any(o => o.Op is "Copy" || o.Op.StartsWith("Binary")),
            $"extra passes: {string.Join(", ", ops.Select(o => o.Op))}"
        );
        Reference.AssertClose(
            expected.Select(x => 2 * x).ToArray(),
            Reference.Read(merged),
            1e-5,
            1e-5,
            $"head-split output on {deviceName}/{dtype}"
        );

        using var columns = Ops.Zeros(new Shape(batch, heads, d, t), dtype, device);
        using var transposed = columns.Transpose(); // [B, H, T, d], column stride t
        Ops.MatMulInto(tp, tv, transposed, accumulate: false);
        using var back = Ops.Contiguous(transposed.Permute(0, 2, 1, 3));
        Reference.AssertClose(
            expected,
            Reference.Read(back),
            1e-5,
            1e-5,
            $"column-strided output on {deviceName}/{dtype}"
        );

        using var row = Ops.Zeros(new Shape(1, t, d), dtype, device);
        using var overlapping = row.Expand(new Shape(batch * heads, t, d));
        using var p3 = tp.View(batch * heads, t, t);
        using var v3 = tv.View(batch * heads, t, d);
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.MatMulInto(p3, v3, overlapping, accumulate: false));
        StringAssert.Contains(e.Message, "is a broadcast view: its elements overlap");
    }

    /// <summary>
    /// A product larger than the grid's y and z limits (65535 on CUDA: row tiles and batch) runs in several
    /// launches, each from its own first row tile and matrix: a simulator of its own is told its limits are 2,
    /// and a [2, 3] batch of 150-row matrices (3 row tiles) against one broadcast matrix (the launches' boundaries
    /// fall inside the inner batch axis) must take 3 × 2 launches and match the reference, plain and accumulated.
    /// </summary>
    [TestMethod]
    public void ProductsBeyondTheGridLimitsRunInSeveralLaunches()
    {
        TestDevices.RequireSimulator();
        using var simulator = IlgpuDevice.CreateCpuSimulator();
        simulator.Kernels.MaxGrid = new ILGPU.Index3D(int.MaxValue, 2, 2);
        const int outer = 2,
            inner = 3,
            m = 150,
            n = 7,
            k = 9;
        var a = Reference.RandomValues(outer * inner * m * k, 51).Select(v => (double)(float)v).ToArray();
        var b = Reference.RandomValues(k * n, 52).Select(v => (double)(float)v).ToArray();
        using var ta = Reference.Make(a, new Shape(outer, inner, m, k), DType.Float32, simulator);
        using var tb = Reference.Make(b, new Shape(k, n), DType.Float32, simulator);
        var expected = Reference.Product(a, b, outer * inner, m, n, k, false, false, broadcastB: true);
        var before = simulator.Counters;
        using var c = Ops.MatMul(ta, tb);
        Assert.AreEqual(6, (simulator.Counters - before).Launches, "6 matrices of 3 row tiles, at most 2 of each");
        Reference.AssertClose(expected, Reference.Read(c), 1e-4, 1e-5, "[2, 3] batch in launches of 2 × 2");
        Ops.MatMulInto(ta, tb, c, accumulate: true, alpha: 2);
        Reference.AssertClose(expected.Select(v => 3 * v).ToArray(), Reference.Read(c), 3e-4, 1e-5, "accumulate");
    }

    /// <summary>
    /// A result written into columns of a wider tensor (an offset, rows further apart than n), plain and
    /// accumulated, symmetric where square, with matrix-vector (n = 1) and row-vector (m = 1) shapes; and into a
    /// transposed slice (written through one extra pass). The columns outside keep their values.
    /// </summary>
    [TestMethod]
    [DataRow(TestDevices.Cpu, DType.Float32)]
    [DataRow(TestDevices.Cpu, DType.Float64)]
    [DataRow(TestDevices.Simulator, DType.Float32)]
    public void ProductsAreWrittenIntoSlicesOfWiderTensors(string deviceName, DType dtype)
    {
        var device = TestDevices.Get(deviceName);
        const int extra = 5;
        foreach (
            var (batch, m, n, k) in new[] { (2, 19, 19, 23), (3, 7, 1, 5), (2, 1, 9, 4), (1, 1, 1, 3), (2, 40, 33, 70) }
        )
        {
            var a = Reference.RandomValues(batch * m * k, 41).Select(v => (double)(float)v).ToArray();
            // A square result is A·Aᵀ of one tensor: the product's Gram path writes it.
            var b = m == n ? a : Reference.RandomValues(batch * n * k, 42).Select(v => (double)(float)v).ToArray();
            using var ta = Reference.Make(a, new Shape(batch, m, k), dtype, device);
            using var other = m == n ? null : Reference.Make(b, new Shape(batch, n, k), dtype, device);
            var tb = other ?? ta;
            var product = Reference.Product(a, b, batch, m, n, k, false, true, false);
            double tol = 1e-4 * Math.Sqrt(k + 1);
            foreach (bool symmetric in m == n ? new[] { false, true } : [false])
            foreach (bool accumulate in new[] { false, true })
            {
                string what = $"{deviceName}/{dtype} [{batch}, {m}, {n}] k={k} symmetric={symmetric} +={accumulate}";
                using var wide = Ops.Full(new Shape(batch, m, n + extra), 7, dtype, device);
                using var columns = wide.Slice(2, 3, n);
                Assert.AreEqual(columns.Size == 1, columns.IsDense, $"{what}: a slice of wider rows has gaps");
                Ops.MatMulInto(ta, tb, columns, accumulate, transposeB: true, symmetricResult: symmetric);
                var all = Reference.Read(wide);
                for (int q = 0; q < batch; q++)
                for (int i = 0; i < m; i++)
                for (int j = 0; j < n + extra; j++)
                {
                    double inside = (accumulate ? 7 : 0) + (j >= 3 && j < 3 + n ? product[(q * m + i) * n + j - 3] : 0);
                    double expected = j >= 3 && j < 3 + n ? inside : 7;
                    double actual = all[(q * m + i) * (n + extra) + j];
                    Assert.IsTrue(
                        Math.Abs(actual - expected) <= tol + 1e-5 * Math.Abs(expected),
                        $"{what} [{q}, {i}, {j}]: expected {expected}, got {actual}"
                    );
                }
            }
            using var tall = Ops.Zeros(new Shape(batch, n + extra, m), dtype, device);
            using var transposed = tall.Slice(1, 2, n).Transpose();
            Ops.MatMulInto(ta, tb, transposed, accumulate: false, transposeB: true);
            using var back = Ops.Contiguous(transposed);
            Reference.AssertClose(product, Reference.Read(back), tol, 1e-5, $"{deviceName}/{dtype} transposed slice");
        }
    }

    [TestMethod]
    public void MatrixVectorProductsMatchReferenceInEveryLayoutWithAlphaAndAccumulate()
    {
        // Power iteration's W·u and Wᵀ·v skip panel packing; check rows and columns of A,
        // strided vectors (a column of a wider matrix) and the row-vector case.
        var w = Reference.RandomValues(37 * 53, 5).Select(v => (double)(float)v).ToArray();
        var u = Reference.RandomValues(53 * 3, 6).Select(v => (double)(float)v).ToArray();
        using var tw = Reference.Make(w, new Shape(37, 53), DType.Float32, Device.Cpu);
        using var tu = Reference.Make(u, new Shape(53, 3), DType.Float32, Device.Cpu);
        using var column = tu.Slice(1, 1, 1); // [53, 1], row stride 3
        using var contiguous = Ops.Contiguous(column);
        double[] uColumn = Enumerable.Range(0, 53).Select(p => u[p * 3 + 1]).ToArray();
        foreach (var (vector, label) in new[] { (column, "strided"), (contiguous, "contiguous") })
        {
            var expected = Reference.Product(w, uColumn, 1, 37, 1, 53, false, false, false);
            using var c = Ops.MatMul(tw, vector, alpha: 0.5);
            Reference.AssertClose(
                expected.Select(v => 0.5 * v).ToArray(),
                Reference.Read(c),
                1e-4,
                1e-5,
                $"W·u {label}"
            );
            Ops.MatMulInto(tw, vector, c, accumulate: true, alpha: 2);
            Reference.AssertClose(
                expected.Select(v => 2.5 * v).ToArray(),
                Reference.Read(c),
                2e-4,
                1e-5,
                $"W·u accumulate {label}"
            );
            using var row = vector.Transpose(0, 1); // [1, 53]
            using var r = Ops.MatMul(row, tw, transposeB: true); // u·Wᵀ = (W·u)ᵀ
            Reference.AssertClose(expected, Reference.Read(r), 1e-4, 1e-5, $"uᵀ·Wᵀ {label}");
        }
        var v37 = Reference.RandomValues(37, 7).Select(v => (double)(float)v).ToArray();
        using var tv = Reference.Make(v37, new Shape(37, 1), DType.Float32, Device.Cpu);
        using var back = Ops.MatMul(tw, tv, transposeA: true); // Wᵀ·v: A's columns are contiguous
        Reference.AssertClose(
            Reference.Product(w, v37, 1, 53, 1, 37, true, false, false),
            Reference.Read(back),
            1e-4,
            1e-5,
            "Wᵀ·v"
        );
    }

    [TestMethod]
    public void InnerDimensionMismatchNamesOpAndShapes()
    {
        using var a = Ops.Zeros(new Shape(2, 3));
        using var b = Ops.Zeros(new Shape(4, 5));
        var e = Assert.ThrowsExactly<ArgumentException>(() => Ops.MatMul(a, b));
        StringAssert.Contains(e.Message, "MatMul");
        StringAssert.Contains(e.Message, "[2, 3]");
        StringAssert.Contains(e.Message, "[4, 5]");
    }
}
