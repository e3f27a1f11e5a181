using System.Runtime.Intrinsics.X86;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tests.Tensors;

/// <summary>
/// Every register tile of the CPU GEMM (512-bit of 12 and 8 rows, 256- and 128-bit, the 128-bit one also over a spread
/// A as x86 without AVX takes it) against a float64 product, on
/// whatever machine runs the tests: a tile wider than the hardware runs emulated (slowly, so the
/// sizes stay small) and is still checked, so no width's code can rot on a machine that would
/// not pick it. <see cref="MatMulTests"/> covers the tile the machine picks through <c>Ops</c>.
/// </summary>
[TestClass]
public sealed class GemmKernelTests
{
    /// <summary>The row count that stands for <see cref="Kernel128Spread"/> (6 rows, A packed spread) in the tests'
    /// (bits, rows) pairs.</summary>
    private const int SpreadTile = -6;

    /// <summary>How an operand is laid out in its buffer.</summary>
    public enum Layout
    {
        RowMajor,
        ColumnMajor,
        Strided,

        /// <summary>Row-major with an offset and rows longer than the matrix: read in place, B's depths lie
        /// further apart than its columns.</summary>
        Padded,
    }

    /// <summary>Every tile as (bits, rows): the 512-bit tile of 12 rows and of 8, the 6-row 256- and 128-bit ones, and
    /// the 128-bit one over a spread A.</summary>
    public static IEnumerable<object[]> EveryTile =>
        [
            [512, 12],
            [512, 8],
            .. NarrowTiles,
        ];

    /// <summary>The 16-register tiles (<see cref="Tile6x2{TVector, TOps}"/>), which pack B unless its rows spread over
    /// the cache's sets.</summary>
    public static IEnumerable<object[]> NarrowTiles =>
        [
            [256, 6],
            [128, 6],
            [128, SpreadTile],
        ];

    private static readonly (int M, int N, int K)[] Sizes =
    [
        (1, 1, 1),
        (3, 5, 7),
        (6, 16, 9),
        (7, 17, 33),
        (13, 33, 17),
        (12, 32, 64),
        (25, 40, 70),
        (64, 64, 32),
        (1, 9, 20),
        (11, 1, 20),
        (70, 130, 24),
        (9, 20, 1030),
        (150, 40, 200), // over 2²¹ flops: on 2 threads, split by rows
        (5, 1088, 40), // past NC columns: B's second block of columns, read in place
        (40, 72, 1700), // B's first depth block over InPlaceBFloats (packed), its second read in place
    ];

    [TestMethod]
    [DynamicData(nameof(EveryTile))]
    public void EveryTileMatchesFloat64OnEveryLayout(int bits, int tileRows)
    {
        foreach (var (m, n, k) in Sizes)
        foreach (Layout la in Enum.GetValues<Layout>())
        foreach (Layout lb in Enum.GetValues<Layout>())
        foreach (int threads in new[] { 1, 2 })
            Check(bits, tileRows, m, n, k, la, lb, threads);
    }

    /// <summary>
    /// A product split by rows over threads gives one thread's bits: each element of C is still one tile's sum over
    /// the same depths in the same order, whatever the parts. Over a B of one block the parts are finer than the
    /// threads, and each thread packs B once for all its parts (for the 512-bit tiles and a row-major B, only its
    /// last partial panel: the full ones are read in place); over a B deeper than a block (the last shape) there is one
    /// part per thread. 302 rows leave every tile a shifted or short last tile, and 70 rows on 3 threads a last part
    /// of one partial tile. A second B of the same shape, multiplied on the same threads right after the first,
    /// must not be served the first one's packed copy.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(EveryTile))]
    public void RowSplitsGiveTheBitsOfOneThread(int bits, int tileRows)
    {
        foreach (var (m, n, k) in new[] { (302, 40, 200), (70, 60, 256), (160, 24, 1100) })
        foreach (Layout lb in new[] { Layout.RowMajor, Layout.ColumnMajor })
        {
            int seed = HashCode.Combine(bits, tileRows, m, n, k, lb) & 0xFFFF;
            var rng = new System.Random(seed);
            var a = Make(m, k, Layout.RowMajor, rng);
            var b = Make(k, n, lb, rng);
            var otherB = Make(k, n, lb, rng);
            float[] Product(MatrixRef<float> right, int threads)
            {
                using var threadsScope = CpuDevice.UseThreads(threads);
                var c = new float[m * n];
                Multiply(bits, tileRows, a, right, new MatrixRef<float>(c, 0, n, 1), m, n, k, false, 0.5f, threads);
                return c;
            }
            var (one, otherOne) = (Product(b, 1), Product(otherB, 1));
            foreach (int threads in new[] { 2, 3 })
            {
                var (split, otherSplit) = (Product(b, threads), Product(otherB, threads));
                foreach (
                    var (expected, actual, which) in new[] { (one, split, "B"), (otherOne, otherSplit, "second B") }
                )
                {
                    int differs = Enumerable
                        .Range(0, expected.Length)
                        .FirstOrDefault(
                            i =>
                                BitConverter.SingleToInt32Bits(expected[i])
                                != BitConverter.SingleToInt32Bits(actual[i]),
                            -1
                        );
                    Assert.AreEqual(
                        -1,
                        differs,
                        $"{bits}-bit {tileRows}-row {m}×{n}×{k} {which} {lb} on {threads} threads (seed {seed}): "
                            + $"element ({differs / n}, {differs % n}) differs from one thread's"
                    );
                }
            }
        }
    }

    [TestMethod]
    [DynamicData(nameof(EveryTile))]
    public void GramProductsComputeTheLowerTriangleAndMirrorIt(int bits, int tileRows)
    {
        // C = α·XᵀX (and X·Xᵀ) read from one buffer: only the lower triangle is computed, on 1 and
        // 2 threads with the rows split by area; the result must match float64 and be symmetric.
        {
            foreach (var (rows, cols) in new[] { (1, 1), (7, 5), (40, 13), (64, 64), (100, 131), (9, 70) })
            foreach (bool gramOfColumns in new[] { true, false })
            foreach (int threads in new[] { 1, 2 })
            {
                using var threadsScope = CpuDevice.UseThreads(threads);
                int seed = HashCode.Combine(bits, tileRows, rows, cols, gramOfColumns, threads) & 0xFFFF;
                var rng = new System.Random(seed);
                var x = Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                // XᵀX: A = Xᵀ (column-major view), B = X; X·Xᵀ: A = X, B = Xᵀ.
                var xm = new MatrixRef<float>(x, 0, cols, 1);
                var xt = new MatrixRef<float>(x, 0, 1, cols);
                var (a, b, n, k) = gramOfColumns ? (xt, xm, cols, rows) : (xm, xt, rows, cols);
                Assert.IsTrue(PackedGemm.IsGram(a, b, n, n), "a Gram product is recognized");
                var c = Enumerable.Repeat(float.NaN, n * n).ToArray();
                var cm = new MatrixRef<float>(c, 0, n, 1);
                string what =
                    $"{bits}-bit {tileRows}-row Gram {n}×{n} from {rows}×{cols} threads={threads} (seed {seed})";
                Multiply(bits, tileRows, a, b, cm, n, n, k, false, 0.5f, threads, symmetric: true);
                CheckGram(a, b, c, n, k, 0.5, what);
                // Added into the symmetric C just computed: 0.5·XᵀX − 0.25·XᵀX.
                Multiply(bits, tileRows, a, b, cm, n, n, k, true, -0.25f, threads, symmetric: true);
                CheckGram(a, b, c, n, k, 0.25, $"{what} accumulated");
            }
        }
    }

    /// <summary>
    /// Every form of the symmetric mirror (16 × 16 register blocks where AVX-512 is, 8 × 8 where AVX or 128-bit
    /// vectors are, element by element anywhere), each register form in each way the CPU can transpose (<see
    /// cref="EachTransposeForm"/>), copies each value below the diagonal onto its mirror above it and leaves the lower
    /// triangle, the diagonal and everything outside the leading m × m untouched: sizes below, at and between whole
    /// blocks, in a wider buffer (row stride m + 3), from an offset.
    /// </summary>
    [TestMethod]
    public void SymmetricMirrorCopiesTheLowerTriangleUpInEveryForm()
    {
        var forms = new List<(int Block, bool InRegisters)> { (8, false) };
        if (Transpose8.IsSupported)
            forms.Add((8, true));
        if (Transpose16.IsSupported)
            forms.Add((16, true));
        foreach (var (block, inRegisters) in forms)
            EachTransposeForm(transposes => CheckMirror(block, inRegisters, transposes));
    }

    private static void CheckMirror(int block, bool inRegisters, string transposes)
    {
        foreach (int m in new[] { 1, 5, 8, 9, 15, 16, 17, 31, 32, 33, 65, 128 })
        {
            int ld = m + 3,
                offset = 5;
            var before = Enumerable.Range(0, offset + m * ld + 7).Select(i => (float)(i * 0.5 + 1)).ToArray();
            // Whole, and a panel of columns at a time (one block, then two: a symmetric product's panel), last first.
            foreach (int panel in new[] { 0, block, 2 * block })
            {
                var c = (float[])before.Clone();
                var matrix = new MatrixRef<float>(c, offset, ld, 1);
                if (panel == 0)
                    SymmetricMirror.Complete(matrix, m, block, inRegisters);
                for (int from = (m - 1) / Math.Max(panel, 1) * panel; panel > 0 && from >= 0; from -= panel)
                    SymmetricMirror.CompleteColumns(matrix, m, from, Math.Min(from + panel, m), block, inRegisters);
                string what =
                    $"{block}×{block} blocks, {(inRegisters ? "registers" : "by element")}, transposes {transposes}, "
                    + $"m={m}, panels of {panel}";
                for (int i = 0; i < c.Length; i++)
                {
                    int r = (i - offset) / ld,
                        col = (i - offset) % ld;
                    bool upper = i >= offset && r < m && col < m && col > r;
                    float expected = upper ? before[offset + col * ld + r] : before[i];
                    Assert.AreEqual(expected, c[i], $"{what}: element {i} (row {r}, column {col})");
                }
            }
        }
    }

    /// <summary>
    /// A 16 × 16 block (<see cref="Transpose16"/>, where AVX-512 is) and an 8 × 8 one (<see cref="Transpose8"/>) in
    /// each way the CPU can transpose them, between strided buffers: every element lands at its mirror position, and
    /// nothing else in the destination changes.
    /// </summary>
    [TestMethod]
    [DataRow(16)]
    [DataRow(8)]
    public unsafe void RegisterTransposesMoveEveryElementInEachForm(int side)
    {
        if (side == 16 ? !Transpose16.IsSupported : !Transpose8.IsSupported)
            Assert.Inconclusive($"No {side} × {side} register transpose on this CPU.");
        const int srcStride = 21,
            dstStride = 19;
        var source = Enumerable.Range(0, side * srcStride).Select(i => (float)i).ToArray();
        EachTransposeForm(transposes =>
        {
            var destination = Enumerable.Repeat(-1f, side * dstStride).ToArray();
            fixed (
                float* src = source,
                    dst = destination
            )
                if (side == 16)
                    Transpose16.Block(src, srcStride, dst, dstStride);
                else
                    Transpose8.Block(src, srcStride, dst, dstStride);
            for (int i = 0; i < destination.Length; i++)
            {
                int row = i / dstStride,
                    column = i % dstStride;
                float expected = column < side ? source[column * srcStride + row] : -1f;
                Assert.AreEqual(expected, destination[i], $"{side}², {transposes}: element ({row}, {column})");
            }
        });
    }

    /// <summary>
    /// Runs check(form) with the register transposes in each form the CPU has: <c>avx512</c>, Transpose16's 512-bit
    /// permutes; <c>avx</c>, each 16 × 16 block as four AVX 8 × 8 ones (<see cref="Transpose16.InQuarters"/>);
    /// <c>128-bit</c>, each 8 × 8 block as four 4 × 4 ones (<see cref="Transpose8.InFours"/>), the only form without
    /// AVX. A CPU with none of them runs check once, as it is.
    /// </summary>
    internal static void EachTransposeForm(Action<string> check)
    {
        bool quarters = Transpose16.InQuarters,
            fours = Transpose8.InFours;
        var forms =
            Transpose16.IsSupported ? new[] { "avx512", "avx", "128-bit" }
            : Avx.IsSupported ? new[] { "avx", "128-bit" }
            : Transpose4.IsSupported ? new[] { "128-bit" }
            : new[] { "by element" };
        try
        {
            foreach (string form in forms)
            {
                Transpose16.InQuarters = form != "avx512";
                Transpose8.InFours = form == "128-bit";
                check(form);
            }
        }
        finally
        {
            Transpose16.InQuarters = quarters;
            Transpose8.InFours = fours;
        }
    }

    [TestMethod]
    [DynamicData(nameof(EveryTile))]
    public void RowsInOneCacheSetAreCopiedApartAndStillMatchFloat64(int bits, int tileRows)
    {
        // A row-major A whose rows lie 4 KiB (or a multiple) apart puts a whole tile's rows into one L1 set. A wide
        // enough product copies it first to rows an odd number of lines apart (WithRowsApart) when more of the tile's
        // rows share a set than it allows: the 12-row tile (more than the 8 ways) and the 6-row tiles (more than half
        // of them) do; the 8-row tile reads A in place, and the spread tile packs A and never copies it. Either way
        // the result must match float64: the copy takes only the k floats of each row, from A's offset, for plain and
        // Gram products alike, and a large A is copied in bands over both threads.
        var (mr, nr) = (bits, tileRows) switch
        {
            (512, 12) => (Kernel512.MR, Kernel512.NR),
            (512, 8) => (Kernel512Short.MR, Kernel512Short.NR),
            (256, 6) => (Kernel256.MR, Kernel256.NR),
            (128, 6) => (Kernel128.MR, Kernel128.NR),
            (128, SpreadTile) => (Kernel128Spread.MR, Kernel128Spread.NR),
            _ => throw new ArgumentException($"no {bits}-bit tile of {tileRows} rows"),
        };
        Assert.AreEqual(mr, RowsPerCacheSet(bits, tileRows, 1024), "rows 4 KiB apart share one set");
        Assert.AreEqual(mr, RowsPerCacheSet(bits, tileRows, 3072), "rows 12 KiB apart share one set");
        Assert.AreEqual(mr, RowsPerCacheSet(bits, tileRows, 1025), "rows 4 bytes over 4 KiB apart share one set");
        Assert.AreEqual(mr / 2, RowsPerCacheSet(bits, tileRows, 512), "rows 2 KiB apart take two sets");
        Assert.AreEqual(1, RowsPerCacheSet(bits, tileRows, 1040), "rows 65 lines apart take a set each");
        Assert.AreEqual(1, RowsPerCacheSet(bits, tileRows, 0), "a broadcast row is one line");
        int n = 16 * nr + 5;
        bool copies = (mr == 12 || mr == 6) && tileRows != SpreadTile;
        Assert.AreEqual(mr > 6 ? 8 : 4, RowsSharingASetAllowed(bits, tileRows), "rows that may share a set");
        foreach (int threads in new[] { 1, 2 })
        {
            using var threadsScope = CpuDevice.UseThreads(threads);
            int seed = HashCode.Combine(bits, tileRows, threads, 4096) & 0xFFFF;
            var rng = new System.Random(seed);
            const int m = 80,
                k = 832, // m·k above CpuParallel.MinParallelWork: copied in bands
                stride = 2048,
                offset = 3;
            int size = offset + Math.Max(m * stride, n * 1024);
            var aData = Enumerable.Range(0, size).Select(_ => (float)rng.NextDouble() * 2 - 1).ToArray();
            var a = new MatrixRef<float>(aData, offset, stride, 1);
            string what =
                $"{bits}-bit {tileRows}-row {m}×{n}×{k}, A rows {stride} apart, threads={threads} (seed {seed})";
            Assert.AreEqual(copies, CopiesApart(bits, tileRows, a, m, n, k, threads), $"{what}: copied apart");
            var spread = a with { RowStride = 1040 };
            Assert.IsFalse(
                CopiesApart(bits, tileRows, spread, m, n, k, threads),
                $"{what}: rows 1040 floats apart copied"
            );
            Assert.IsFalse(
                CopiesApart(bits, tileRows, a, m, n - 6, k, threads),
                $"{what}: too few columns, yet copied"
            );
            // Rows 2 KiB apart put half the tile's rows into one set: within what every tile allows.
            Assert.IsFalse(
                CopiesApart(bits, tileRows, a with { RowStride = 512 }, m, n, k, threads),
                $"{what}: rows 512 floats apart copied"
            );
            var b = Make(k, n, Layout.RowMajor, rng);
            var c = new MatrixRef<float>(new float[m * n], 0, n, 1);
            Multiply(bits, tileRows, a, b, c, m, n, k, accumulate: false, 0.5f, threads);
            CheckProduct(a, b, c, m, n, k, 0.5, what);
            // X·Xᵀ of a wide X (n rows of 40, 1024 floats apart): A = X, B = Xᵀ from the same buffer.
            var x = new MatrixRef<float>(aData, offset, 1024, 1);
            var xt = new MatrixRef<float>(aData, offset, 1, 1024);
            Assert.AreEqual(copies, CopiesApart(bits, tileRows, x, n, n, 40, threads), $"{what}: Gram copied apart");
            var gram = new float[n * n];
            Multiply(
                bits,
                tileRows,
                x,
                xt,
                new MatrixRef<float>(gram, 0, n, 1),
                n,
                n,
                40,
                false,
                1f,
                threads,
                symmetric: true
            );
            CheckGram(x, xt, gram, n, 40, 1, $"{what}: Gram");
        }
    }

    [TestMethod]
    public void BothAvx512TilesGiveTheSameBits()
    {
        // Each element is the same chain of multiply-adds over k in either tile, and every tile scales by α at its
        // store, whether it reads A in place or packed. So the tile PackedGemm.PrefersShortTile picks cannot change a
        // result, nor a training run. The cases make the two tiles read A differently: 8 rows (packed by the 12-row
        // tile, read in place by the 8-row one), a strided A (packed by both), depth past one 1024-deep panel, and a
        // symmetric 128 × 128 product on 4 threads, whose last band has 8 rows with 12-row tiles and 16 with 8-row
        // ones.
        var cases = new (int M, int N, int K, bool Symmetric, int Threads)[]
        {
            (8, 40, 30, false, 1),
            (13, 33, 17, false, 1),
            (64, 64, 32, false, 1),
            (20, 40, 1030, false, 2),
            (100, 70, 40, false, 2),
            (40, 40, 24, true, 1),
            (128, 128, 64, true, 4), // 2²¹ flops: split over threads
            (200, 40, 200, false, 2), // split by rows
        };
        foreach (var (m, n, k, symmetric, threads) in cases)
        foreach (Layout la in Enum.GetValues<Layout>())
        foreach (float alpha in new[] { 1f, 0.3f })
        {
            int seed = HashCode.Combine(m, n, k, la, symmetric, threads, alpha) & 0xFFFF;
            var rng = new System.Random(seed);
            var a = Make(m, k, la, rng);
            // A symmetric product: B = Aᵀ read from A's own buffer (a Gram product).
            var b = symmetric ? a.Transposed() : Make(k, n, la, rng);
            var twelve = new float[m * n];
            var eight = new float[m * n];
            foreach (bool accumulate in new[] { false, true })
            {
                Multiply(512, 12, a, b, new(twelve, 0, n, 1), m, n, k, accumulate, alpha, threads, symmetric);
                Multiply(512, 8, a, b, new(eight, 0, n, 1), m, n, k, accumulate, alpha, threads, symmetric);
            }
            string what = $"{m}×{n}×{k} A {la} α={alpha} symmetric={symmetric} threads={threads} (seed {seed})";
            for (int i = 0; i < twelve.Length; i++)
                Assert.AreEqual(
                    BitConverter.SingleToInt32Bits(twelve[i]),
                    BitConverter.SingleToInt32Bits(eight[i]),
                    $"{what}: element {i} is {twelve[i]} in 12-row tiles and {eight[i]} in 8-row ones"
                );
        }
    }

    [TestMethod]
    [DataRow(12)]
    [DataRow(8)]
    public void BReadInPlaceAndPackedGiveTheSameBits(int tileRows)
    {
        // The AVX-512 tiles read a small row-major B where it lies and pack any other: the same values meet the same
        // chain of multiply-adds either way. B row-major (and with padded rows) against a column-major copy, which is
        // packed, with partial last panels, a second block of depth, and a symmetric product whose B is an R·R operand.
        var cases = new (int M, int N, int K, bool Symmetric, int Threads)[]
        {
            (8, 40, 30, false, 1),
            (24, 40, 1030, false, 1),
            (128, 128, 128, false, 2),
            (100, 100, 100, true, 1),
            (128, 128, 128, true, 2),
        };
        foreach (var (m, n, k, symmetric, threads) in cases)
        foreach (Layout lb in new[] { Layout.RowMajor, Layout.Padded })
        {
            int seed = HashCode.Combine(tileRows, m, n, k, lb, symmetric, threads) & 0xFFFF;
            var rng = new System.Random(seed);
            // A symmetric product multiplies a symmetric matrix by itself: B = A (the SymmetricPolynomial's R·R).
            var a = symmetric ? Symmetric(m, rng) : Make(m, k, Layout.RowMajor, rng);
            var b = symmetric ? a : Make(k, n, lb, rng);
            string what = $"{tileRows}-row {m}×{n}×{k} B {lb} symmetric={symmetric} threads={threads} (seed {seed})";
            AssertInPlaceGivesTheBitsOfPacked(512, tileRows, a, b, m, n, k, symmetric, threads, what);
        }
    }

    [TestMethod]
    [DynamicData(nameof(EveryTile))]
    public void AFarApartColumnMajorAIsPackedAndGivesTheBitsOfARowMajorOne(int bits, int tileRows)
    {
        // A column-major A whose columns lie PackedColumnStride floats apart or more is packed (ReadsAInPlace), one
        // nearer is read in place; either way the same values meet the same chain of multiply-adds as a row-major
        // copy read in place. Rows the tile does not divide, a second depth block, products split over two threads
        // by rows (150 × 40, and 160 × 160, a tie split by rows as A is packed) and by columns (40 × 300), and Gram
        // products A·Aᵀ (B read from A's own buffer), whose lower triangle is split over threads at 150 rows.
        const int Far = PackedGemm.PackedColumnStride;
        var cases = new (int M, int N, int K, int Threads, bool Gram)[]
        {
            (30, 70, 40, 1, false),
            (13, 33, 1030, 1, false),
            (150, 40, 200, 2, false),
            (40, 300, 200, 2, false),
            (160, 160, 48, 2, false),
            (40, 40, 200, 1, true),
            (150, 150, 100, 2, true),
        };
        foreach (var (m, n, k, threads, gram) in cases)
        foreach (int stride in new[] { Far - 1, Far, Far + 189 })
        {
            int seed = HashCode.Combine(bits, tileRows, m, n, k, stride) & 0xFFFF;
            var rng = new System.Random(seed);
            var columns = new MatrixRef<float>(new float[3 + (k - 1) * stride + m], 3, 1, stride);
            var rows = new MatrixRef<float>(new float[m * k], 0, k, 1);
            for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
                rows.Data[i * k + p] = columns.Data[3 + i + p * stride] = (float)(rng.NextDouble() * 6 - 3);
            var b = Make(k, n, Layout.RowMajor, rng);
            // Aᵀ read from A's own buffer: a Gram product, which only its lower triangle computes and mirrors.
            var bOfColumns = gram ? new MatrixRef<float>(columns.Data, 3, stride, 1) : b;
            var bOfRows = gram ? new MatrixRef<float>(rows.Data, 0, 1, k) : b;
            string what = $"{bits}-bit {tileRows}-row {m}×{n}×{k} gram={gram} A column stride {stride} (seed {seed})";
            Assert.AreEqual(stride < Far, PackedGemm<Kernel512>.ReadsAInPlace(columns), $"{what}: read in place");
            Assert.IsFalse(PackedGemm<Kernel128Spread>.ReadsAInPlace(rows), $"{what}: the spread tile packs A");
            var fromColumns = new float[m * n];
            var fromRows = new float[m * n];
            foreach (bool accumulate in new[] { false, true })
            {
                var toColumns = new MatrixRef<float>(fromColumns, 0, n, 1);
                var toRows = new MatrixRef<float>(fromRows, 0, n, 1);
                Multiply(bits, tileRows, columns, bOfColumns, toColumns, m, n, k, accumulate, 0.3f, threads, gram);
                Multiply(bits, tileRows, rows, bOfRows, toRows, m, n, k, accumulate, 0.3f, threads, gram);
            }
            for (int i = 0; i < fromRows.Length; i++)
                Assert.AreEqual(
                    BitConverter.SingleToInt32Bits(fromRows[i]),
                    BitConverter.SingleToInt32Bits(fromColumns[i]),
                    $"{what}: element {i} is {fromRows[i]} from a row-major A and {fromColumns[i]} from columns"
                );
        }
    }

    [TestMethod]
    [DynamicData(nameof(EveryTile))]
    public void ASymmetricProductsLowerTriangleHasTheBitsOfTheFullProduct(int bits, int tileRows)
    {
        // The tiles a symmetric product's diagonal crosses run narrow forms (a quarter, a half, or, where the CPU
        // splits 512-bit multiply-adds, a half and a quarter of the tile: both ways are run here); each element is
        // still the same chain of multiply-adds as in the whole tiles of the ordinary product. Sizes put the
        // diagonal at every offset within a tile, past one 1024-deep block too.
        EachDiagonalForm(bits, pairs => CheckSymmetricBits(bits, tileRows, pairs));
    }

    // Runs check(pairs) with the diagonal tiles whole and, at 512 bits, as a half and a quarter too (the form split
    // 512-bit units take, PackedGemm.DiagonalHalfAndQuarter); other widths keep the machine's setting.
    private static void EachDiagonalForm(int bits, Action<bool> check)
    {
        bool machines = PackedGemm.DiagonalHalfAndQuarter;
        try
        {
            foreach (bool pairs in bits == 512 ? new[] { false, true } : new[] { machines })
            {
                PackedGemm.DiagonalHalfAndQuarter = pairs;
                check(pairs);
            }
        }
        finally
        {
            PackedGemm.DiagonalHalfAndQuarter = machines;
        }
    }

    private static void CheckSymmetricBits(int bits, int tileRows, bool pairs)
    {
        foreach (var (n, k) in new[] { (20, 9), (45, 33), (100, 64), (128, 128), (70, 1030) })
        foreach (int threads in new[] { 1, 2 })
        foreach (bool accumulate in new[] { false, true })
        {
            int seed = HashCode.Combine(bits, tileRows, n, k, threads, accumulate) & 0xFFFF;
            var rng = new System.Random(seed);
            var x = Make(n, k, Layout.RowMajor, rng);
            var xt = x.Transposed();
            var start = Enumerable.Range(0, n * n).Select(_ => 0f).ToArray();
            for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                start[i * n + j] = start[j * n + i] = (float)rng.NextDouble();
            var symmetric = (float[])start.Clone();
            var full = (float[])start.Clone();
            Multiply(bits, tileRows, x, xt, new(symmetric, 0, n, 1), n, n, k, accumulate, 0.3f, threads, true);
            Multiply(bits, tileRows, x, xt, new(full, 0, n, 1), n, n, k, accumulate, 0.3f, threads, false);
            string what =
                $"{bits}-bit {tileRows}-row X·Xᵀ {n}×{k} threads={threads} accumulate={accumulate} pairs={pairs}";
            for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                Assert.AreEqual(
                    BitConverter.SingleToInt32Bits(full[i * n + j]),
                    BitConverter.SingleToInt32Bits(symmetric[i * n + j]),
                    $"{what} (seed {seed}): C[{i}, {j}] = {symmetric[i * n + j]}, full product {full[i * n + j]}"
                );
        }
    }

    [TestMethod]
    [DynamicData(nameof(NarrowTiles))]
    public void BWithRowsSpreadOverCacheSetsIsReadInPlaceWithTheBitsOfPacking(int bits, int tileRows)
    {
        // The 256- and 128-bit tiles pack B unless its rows start on cache lines an odd number of lines apart
        // (Tensor.EmptyMatrices's layout): such a B is read in place, and must give the bits of a packed copy. Partial
        // last panels, blocks of depth after the first (the spread tile's are 256 deep), both threads, and a symmetric
        // R·R whose A is laid out so too.
        var cases = new (int M, int N, int K, bool Symmetric, int Threads)[]
        {
            (8, 72, 30, false, 1),
            (24, 72, 600, false, 1),
            (128, 128, 128, false, 2),
            (100, 100, 100, true, 1),
            (128, 128, 128, true, 2),
        };
        foreach (var (m, n, k, symmetric, threads) in cases)
        {
            int seed = HashCode.Combine(bits, tileRows, m, n, k, symmetric, threads) & 0xFFFF;
            var rng = new System.Random(seed);
            var a = symmetric ? SpreadOverCacheSets(Symmetric(m, rng), m, m) : Make(m, k, Layout.RowMajor, rng);
            var b = symmetric ? a : SpreadOverCacheSets(Make(k, n, Layout.RowMajor, rng), k, n);
            string what =
                $"{bits}-bit {tileRows}-row {m}×{n}×{k} symmetric={symmetric} threads={threads} (seed {seed})";
            var copy = ColumnMajorCopy(b, k, n);
            Assert.IsFalse(ReadsBInPlace(bits, tileRows, copy, BlockDepth(tileRows, k), n), $"{what}: its copy packed");
            AssertInPlaceGivesTheBitsOfPacked(bits, tileRows, a, b, m, n, k, symmetric, threads, what);
        }
    }

    // B (k × n) read in place by the tile, and C = 0.3·A·B from it against C from a column-major copy of B, which is
    // packed: the same values meet the same chain of multiply-adds either way, so the bits must agree.
    private static void AssertInPlaceGivesTheBitsOfPacked(
        int bits,
        int tileRows,
        MatrixRef<float> a,
        MatrixRef<float> b,
        int m,
        int n,
        int k,
        bool symmetric,
        int threads,
        string what
    )
    {
        Assert.IsTrue(ReadsBInPlace(bits, tileRows, b, BlockDepth(tileRows, k), n), $"{what}: B read in place");
        var packed = ColumnMajorCopy(b, k, n);
        var inPlace = new float[m * n];
        var fromPanels = new float[m * n];
        Multiply(bits, tileRows, a, b, new(inPlace, 0, n, 1), m, n, k, false, 0.3f, threads, symmetric);
        Multiply(bits, tileRows, a, packed, new(fromPanels, 0, n, 1), m, n, k, false, 0.3f, threads, symmetric);
        Reference.AssertSameBits(fromPanels, inPlace, (i, packedValue, inPlaceValue) =>
            $"{what}: element {i} is {inPlaceValue} read in place and {packedValue} packed"
        );
    }

    // The depth of a k-deep product's first block for the tile (PackedGemm's rule: a quarter as deep for the spread
    // tile, whose packed A holds each value four times; every other tile's is the 128-bit one's).
    private static int BlockDepth(int tileRows, int k) =>
        Math.Min(k, tileRows == SpreadTile ? PackedGemm<Kernel128Spread>.KC : PackedGemm<Kernel128>.KC);

    // A column-major copy of a k × n matrix, which every tile packs.
    private static MatrixRef<float> ColumnMajorCopy(MatrixRef<float> b, int k, int n)
    {
        var copy = new MatrixRef<float>(new float[k * n], 0, 1, k);
        for (int p = 0; p < k; p++)
        for (int j = 0; j < n; j++)
            copy.Data[j * k + p] = b[p, j];
        return copy;
    }

    [TestMethod]
    public void OnlyRowsAnOddNumberOfCacheLinesApartFromALineSpreadOverTheSets()
    {
        var aligned = CpuDevice.AlignedArray<float>(64 * 144);
        int start = CpuDevice.AlignedStart(aligned, sizeof(float));
        var cases = new (int Offset, int Stride, bool Spread, string What)[]
        {
            (start, 144, true, "9 lines apart"),
            (start, 80, true, "5 lines apart (a 65-column matrix)"),
            (start + 16, 144, true, "from a later line"),
            (start, 128, false, "8 lines apart"),
            (start, 48, false, "3 lines apart: fewer than four"),
            (start, 16, false, "1 line apart"),
            (start, 136, false, "8.5 lines apart"),
            (start + 4, 144, false, "from within a line"),
        };
        foreach (var (offset, stride, spread, what) in cases)
        {
            var b = new MatrixRef<float>(aligned, offset, stride, 1);
            Assert.AreEqual(spread, PackedGemm<Kernel256>.RowsSpreadOverCacheSets(b), what);
            Assert.AreEqual(spread, PackedGemm<Kernel256>.ReadsBInPlace(b, 64, 64), $"{what}: 256-bit tile");
            Assert.AreEqual(spread, PackedGemm<Kernel128>.ReadsBInPlace(b, 64, 64), $"{what}: 128-bit tile");
        }
        var deep = new MatrixRef<float>(aligned, start, 144, 1);
        int limit = PackedGemm.InPlaceBFloats / 144;
        Assert.IsTrue(PackedGemm<Kernel256>.ReadsBInPlace(deep, limit, 128), "a block at the limit");
        Assert.IsFalse(PackedGemm<Kernel256>.ReadsBInPlace(deep, limit + 1, 128), "a deeper block is packed");
    }

    // A copy of an r × c matrix in an aligned buffer with Tensor.EmptyMatrices's rows (at least four lines each).
    private static MatrixRef<float> SpreadOverCacheSets(MatrixRef<float> source, int rows, int columns)
    {
        int stride = PaddedRows.RowStride(rows, columns, DType.Float32, Device.Cpu);
        Assert.AreNotEqual(columns, stride, $"{columns} columns: rows padded");
        var data = CpuDevice.AlignedArray<float>(rows * stride);
        var copy = new MatrixRef<float>(data, CpuDevice.AlignedStart(data, sizeof(float)), stride, 1);
        for (int i = 0; i < rows; i++)
        for (int j = 0; j < columns; j++)
            data[copy.Offset + i * stride + j] = source[i, j];
        return copy;
    }

    private static bool ReadsBInPlace(int bits, int tileRows, MatrixRef<float> b, int kc, int nc) =>
        (bits, tileRows) switch
        {
            (256, 6) => PackedGemm<Kernel256>.ReadsBInPlace(b, kc, nc),
            (128, 6) => PackedGemm<Kernel128>.ReadsBInPlace(b, kc, nc),
            (128, SpreadTile) => PackedGemm<Kernel128Spread>.ReadsBInPlace(b, kc, nc),
            _ => ReadsBInPlace(tileRows, b, kc, nc),
        };

    [TestMethod]
    public void OnlyTheAvx512TilesReadSmallRowMajorBlocksOfBInPlace()
    {
        int limit = PackedGemm.InPlaceBFloats;
        var rowMajor = new MatrixRef<float>(new float[1], 0, limit / 128, 1);
        var wide = new MatrixRef<float>(new float[1], 0, 3000, 1);
        var columnMajor = new MatrixRef<float>(new float[1], 0, 1, 3000);
        foreach (int tileRows in new[] { 12, 8 })
        {
            Assert.IsTrue(
                ReadsBInPlace(tileRows, rowMajor, 128, limit / 128),
                $"{tileRows} rows: a block at the limit"
            );
            Assert.IsFalse(ReadsBInPlace(tileRows, rowMajor, 129, limit / 128), $"{tileRows} rows: over the limit");
            Assert.IsFalse(ReadsBInPlace(tileRows, rowMajor, 128, limit / 128 + 1), $"{tileRows} rows: wider");
            // A narrow block of a wide B (a part of a product split by columns) spans kc long rows: packed.
            Assert.IsFalse(ReadsBInPlace(tileRows, wide, 128, 64), $"{tileRows} rows: 128 rows of 3000 floats");
            Assert.IsTrue(ReadsBInPlace(tileRows, wide, limit / 3000, 64), $"{tileRows} rows: 21 rows of 3000");
            Assert.IsFalse(ReadsBInPlace(tileRows, columnMajor, 16, 16), $"{tileRows} rows: a column-major B");
        }
        // Only whole panels: a partial one read in place would load past B's last column.
        Assert.AreEqual(64, PackedGemm<Kernel512>.ColumnsReadInPlace(rowMajor, 40, 72), "72 columns: two panels");
        Assert.AreEqual(32, PackedGemm<Kernel512Short>.ColumnsReadInPlace(rowMajor, 40, 32), "32 columns: one");
        Assert.AreEqual(0, PackedGemm<Kernel512>.ColumnsReadInPlace(rowMajor, 40, 31), "31 columns: none");
        Assert.AreEqual(0, PackedGemm<Kernel512>.ColumnsReadInPlace(columnMajor, 40, 64), "column-major: none");
        Assert.IsFalse(PackedGemm<Kernel256>.ReadsBInPlace(rowMajor, 16, 16), "the 256-bit tile packs");
        Assert.IsFalse(PackedGemm<Kernel128>.ReadsBInPlace(rowMajor, 16, 16), "the 128-bit tile packs");
    }

    private static bool ReadsBInPlace(int tileRows, MatrixRef<float> b, int kc, int nc) =>
        tileRows == 12
            ? PackedGemm<Kernel512>.ReadsBInPlace(b, kc, nc)
            : PackedGemm<Kernel512Short>.ReadsBInPlace(b, kc, nc);

    // A random symmetric n × n matrix, row-major.
    private static MatrixRef<float> Symmetric(int n, System.Random rng)
    {
        var data = new float[n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            data[i * n + j] = data[j * n + i] = (float)(rng.NextDouble() * 2 - 1);
        return new MatrixRef<float>(data, 0, n, 1);
    }

    [TestMethod]
    public void TheShortTileRuleCountsTheElementsEachTileComputes()
    {
        // Rows computed, counted by hand: every row tile computes all its rows (a last partial one is shifted or
        // padded). 64 rows: 72 in 12-row tiles, 64 in 8-row ones; 100: 108 and 104; 1024: 1032 and 1024.
        foreach (int m in new[] { 5, 64, 100, 128, 1024 })
            Assert.IsTrue(PackedGemm.PrefersShortTile(m, false, 1.0), $"{m} rows: the 8-row tile computes less");
        // 12, 24, 96 and 768 rows: both exact, a tie keeps the 12-row tile; 9 rows: 12 against 16.
        foreach (int m in new[] { 9, 12, 24, 96, 768 })
            Assert.IsFalse(PackedGemm.PrefersShortTile(m, false, 1.0), $"{m} rows: a tie keeps 12 rows");
        // Symmetric 128 × 128, columns up to each tile's last row rounded up to the 8 of a quarter tile: the 12-row
        // tiles compute 12·(16+24+40+48+64+72+88+96+112+120+128) = 9,696 elements, the 8-row ones 8·(8+16+…+128) =
        // 8,704.
        Assert.IsTrue(PackedGemm.PrefersShortTile(128, true, 1.0), "symmetric 128: 8,704 < 9,696");
        // Symmetric 12 × 12: one 12-row tile of 16 columns (192), or 8-row tiles of 8 and 16 (64 + 128): a tie.
        Assert.IsFalse(PackedGemm.PrefersShortTile(12, true, 1.0), "symmetric 12: 192 against 192");
        // Symmetric 20 × 20: 12-row tiles of 16 and 24 columns (480), or 8-row ones of 8, 16 and 24 (384).
        Assert.IsTrue(PackedGemm.PrefersShortTile(20, true, 1.0), "symmetric 20: 384 < 480");
    }

    [TestMethod]
    public void TheShortTileRuleWeighsItsCostPerElementOnOrdinaryProductsOnly()
    {
        // With each 8-row element costing 1.1 of a 12-row one: 5 rows cost 8.8 against 12, 64 rows 70.4 against 72,
        // but 100 rows 114.4 against 108, 128 rows 140.8 against 132 and 1024 rows 1126.4 against 1032.
        foreach (int m in new[] { 5, 64 })
            Assert.IsTrue(PackedGemm.PrefersShortTile(m, false, 1.1), $"{m} rows: the 8-row tile still costs less");
        foreach (int m in new[] { 100, 128, 1024 })
            Assert.IsFalse(PackedGemm.PrefersShortTile(m, false, 1.1), $"{m} rows: the 12-row tile costs less");
        // A symmetric product is weighed by elements alone: 8,704 against 9,696 at 128 whatever the cost.
        Assert.IsTrue(PackedGemm.PrefersShortTile(128, true, 1.1), "symmetric 128: elements alone");
        // The machine's defaults follow its kind of 512-bit unit (read before they are: initialization order).
        bool split = PackedGemm.WideVectorsSplit;
        Assert.AreEqual(split ? 1.0 : 1.1, PackedGemm.ShortTileCost, $"cost per element, split units: {split}");
        Assert.AreEqual(split, PackedGemm.DiagonalHalfAndQuarter, $"diagonal half and quarter, split units: {split}");
    }

    [TestMethod]
    public void TheShortTileCostIsOneOverPanelsOfBThatStartOnCacheLines()
    {
        // A tensor's storage starts on a 64-byte line (CpuDevice.AlignedArray); rows of 128 floats then start on
        // lines too, and B's panels are read in place from them. One float further, or rows of 100, they straddle.
        var data = CpuDevice.AlignedArray<float>(128 * 129);
        int start = CpuDevice.AlignedStart(data, sizeof(float));
        bool OnLines(int offset, int rowStride, int colStride, int n, int k) =>
            PackedGemm<Kernel512>.PanelsOfBOnLines(new(data, offset, rowStride, colStride), n, k);
        Assert.IsTrue(OnLines(start, 128, 1, 128, 128), "rows of 128 from an aligned start");
        Assert.IsTrue(OnLines(start + 16, 128, 1, 112, 128), "from the next line");
        Assert.IsFalse(OnLines(start + 1, 128, 1, 127, 128), "one float past a line");
        Assert.IsFalse(OnLines(start, 100, 1, 100, 128), "rows 100 floats apart");
        Assert.IsTrue(OnLines(start + 1, 1, 128, 128, 128), "column-major: packed");
        Assert.IsTrue(OnLines(start + 1, 128, 1, 31, 128), "fewer columns than a panel: packed");
        double straddling = PackedGemm.ShortTileCost;
        Assert.AreEqual(1.0, PackedGemm.ShortTileCostOver(new(data, start, 128, 1), 128, 128), "aligned rows");
        Assert.AreEqual(straddling, PackedGemm.ShortTileCostOver(new(data, start + 1, 128, 1), 128, 128), "+1 float");
        Assert.AreEqual(straddling, PackedGemm.ShortTileCostOver(new(data, start, 100, 1), 100, 128), "rows of 100");
        // A B the tile packs lies on lines whatever its layout: column-major, or too large to read in place.
        Assert.AreEqual(1.0, PackedGemm.ShortTileCostOver(new(data, start + 1, 1, 128), 128, 128), "column-major");
        var large = new float[1024 * 1024 + 1];
        Assert.AreEqual(1.0, PackedGemm.ShortTileCostOver(new(large, 1, 1024, 1), 1024, 1024), "1024² packed");
    }

    [TestMethod]
    [DynamicData(nameof(EveryTile))]
    public void ADeclaredSymmetricProductIsExactlySymmetricWithTheFullProductsLowerTriangle(int bits, int tileRows)
    {
        // A product declared symmetric whose terms are not (A·B of two unrelated matrices) tells a tile's values above
        // the diagonal from the mirror's: the result must hold the full product's lower triangle and its exact mirror.
        // One thread over at most 144 rows mirrors each panel as the next one finishes (PackedGemm.MirrorsByPanel),
        // where the 12-row tiles of a panel reach back into the rows of the one before; larger or split products
        // mirror at the end. Diagonal tiles run whole and, at 512 bits, as a half and a quarter too.
        EachDiagonalForm(bits, pairs => CheckDeclaredSymmetric(bits, tileRows, pairs));
    }

    private static void CheckDeclaredSymmetric(int bits, int tileRows, bool pairs)
    {
        foreach (var (n, k) in new[] { (20, 9), (45, 33), (100, 64), (128, 128), (144, 40), (150, 70) })
        foreach (int threads in new[] { 1, 2 })
        foreach (bool accumulate in new[] { false, true })
        {
            int seed = HashCode.Combine(bits, tileRows, n, k, threads, accumulate) & 0xFFFF;
            var rng = new System.Random(seed);
            var a = Make(n, k, Layout.RowMajor, rng);
            var b = Make(k, n, Layout.RowMajor, rng);
            var start = new float[n * n];
            for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                start[i * n + j] = start[j * n + i] = (float)rng.NextDouble();
            var (symmetric, full) = ((float[])start.Clone(), (float[])start.Clone());
            Multiply(bits, tileRows, a, b, new(symmetric, 0, n, 1), n, n, k, accumulate, 0.3f, threads, true);
            Multiply(bits, tileRows, a, b, new(full, 0, n, 1), n, n, k, accumulate, 0.3f, threads, false);
            string what =
                $"{bits}-bit {tileRows}-row {n}×{k} threads={threads} accumulate={accumulate} "
                + $"pairs={pairs} (seed {seed})";
            for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                int lower = BitConverter.SingleToInt32Bits(symmetric[i * n + j]);
                Assert.AreEqual(BitConverter.SingleToInt32Bits(full[i * n + j]), lower, $"{what}: C[{i}, {j}]");
                Assert.AreEqual(lower, BitConverter.SingleToInt32Bits(symmetric[j * n + i]), $"{what}: C[{j}, {i}]");
            }
        }
    }

    [TestMethod]
    public void TheSixRowTilesShortFormCoversRowsWithTheFewestComputedRows()
    {
        // Walks the row plan as the driver does over m rows read in place (m ≥ 6): each tile computes its rows, a
        // last partial one shifted back. The best cover by tiles of 6 and 4 rows, found by trying every count of
        // 4-row tiles, is the reference: m even computes m rows exactly (128 = 20·6 + 2·4), m odd one more.
        for (int m = 6; m <= 200; m++)
        {
            int computed = 0,
                fours = 0;
            for (int row = 0; row < m; )
            {
                int rows = PackedGemm<Kernel256>.TileRows(m - row);
                Assert.IsTrue(rows is 6 or 4, $"{m} rows: a tile of {rows}");
                fours += rows == 4 ? 1 : 0;
                computed += rows;
                row += Math.Min(rows, m - row);
            }
            int best = int.MaxValue;
            for (int four = 0; 4 * four <= m + 3; four++)
                best = Math.Min(best, 4 * four + (m - 4 * four <= 0 ? 0 : (m - 4 * four + 5) / 6 * 6));
            Assert.AreEqual(best, computed, $"{m} rows: computed rows against the best cover");
            Assert.AreEqual(m % 2 == 0 ? m : m + 1, computed, $"{m} rows: computed rows");
            Assert.IsTrue(fours <= 2, $"{m} rows: {fours} short tiles, where two at most are ever needed");
        }
        Assert.AreEqual(12, PackedGemm<Kernel512>.TileRows(5), "the 12-row tile has no short form");
        Assert.AreEqual(6, PackedGemm<Kernel128>.TileRows(6), "6 rows: one whole 128-bit tile");
        Assert.AreEqual(4, PackedGemm<Kernel128>.TileRows(8), "8 rows: two short 128-bit tiles");
    }

    /// <summary>
    /// Which products have columns enough for the spread tile, on any CPU: those whose parts have at least <see
    /// cref="Kernel128Spread.MinColumns"/> columns per row of A. A product wider than tall has its columns split over
    /// the threads, and a symmetric one computes half of them per row on average. The driver takes the tile for
    /// those products exactly where <see cref="Kernel128Spread.IsChosen"/> (x86 without AVX).
    /// </summary>
    [TestMethod]
    public void TheSpreadTileTakesProductsWithColumnsEnoughPerPart()
    {
        int least = Kernel128Spread.MinColumns;
        var cases = new (int M, int N, int Threads, bool Symmetric, bool Enough, string What)[]
        {
            (768, least, 2, false, true, "tall, n at the least"),
            (768, least - 8, 2, false, false, "tall, n under the least"),
            (64, 2 * least, 2, false, true, "wide, halves enough"),
            (64, 2 * least - 8, 2, false, false, "wide, halves too narrow"),
            (64, 2 * least - 8, 1, false, true, "wide, 1 thread"),
            (2 * least, 2 * least, 1, true, true, "symmetric, the least columns per row on average"),
            (2 * least - 16, 2 * least - 16, 1, true, false, "symmetric, too few columns per row"),
            (256, 256, 2, true, true, "symmetric 256"),
        };
        foreach (var (m, n, threads, symmetric, enough, what) in cases)
        {
            Assert.AreEqual(enough, Kernel128Spread.HasColumnsEnough(m, n, threads, symmetric), what);
            Assert.AreEqual(enough && Kernel128Spread.IsChosen, Kernel128Spread.Takes(m, n, threads, symmetric), what);
        }
    }

    // Whether the product would read a copy of A rather than A itself.
    private static bool CopiesApart(int bits, int tileRows, MatrixRef<float> a, int m, int n, int k, int threads)
    {
        var read = (bits, tileRows) switch
        {
            (512, 12) => PackedGemm<Kernel512>.WithRowsApart(a, m, n, k, threads),
            (512, 8) => PackedGemm<Kernel512Short>.WithRowsApart(a, m, n, k, threads),
            (256, 6) => PackedGemm<Kernel256>.WithRowsApart(a, m, n, k, threads),
            (128, 6) => PackedGemm<Kernel128>.WithRowsApart(a, m, n, k, threads),
            (128, SpreadTile) => PackedGemm<Kernel128Spread>.WithRowsApart(a, m, n, k, threads),
            _ => throw new ArgumentException($"no {bits}-bit tile of {tileRows} rows"),
        };
        return !ReferenceEquals(read.Data, a.Data);
    }

    private static int RowsSharingASetAllowed(int bits, int tileRows) =>
        (bits, tileRows) switch
        {
            (512, 12) => PackedGemm<Kernel512>.RowsSharingASetAllowed,
            (512, 8) => PackedGemm<Kernel512Short>.RowsSharingASetAllowed,
            (256, 6) => PackedGemm<Kernel256>.RowsSharingASetAllowed,
            (128, 6) => PackedGemm<Kernel128>.RowsSharingASetAllowed,
            (128, SpreadTile) => PackedGemm<Kernel128Spread>.RowsSharingASetAllowed,
            _ => throw new ArgumentException($"no {bits}-bit tile of {tileRows} rows"),
        };

    private static int RowsPerCacheSet(int bits, int tileRows, int rowStride) =>
        (bits, tileRows) switch
        {
            (512, 12) => PackedGemm<Kernel512>.RowsPerCacheSet(rowStride),
            (512, 8) => PackedGemm<Kernel512Short>.RowsPerCacheSet(rowStride),
            (256, 6) => PackedGemm<Kernel256>.RowsPerCacheSet(rowStride),
            (128, 6) => PackedGemm<Kernel128>.RowsPerCacheSet(rowStride),
            (128, SpreadTile) => PackedGemm<Kernel128Spread>.RowsPerCacheSet(rowStride),
            _ => throw new ArgumentException($"no {bits}-bit tile of {tileRows} rows"),
        };

    // C against factor·A·B in float64, and exactly symmetric.
    private static void CheckGram(
        MatrixRef<float> a,
        MatrixRef<float> b,
        float[] c,
        int n,
        int k,
        double factor,
        string what
    )
    {
        CheckProduct(a, b, new MatrixRef<float>(c, 0, n, 1), n, n, k, factor, what);
        for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            Assert.AreEqual(c[j * n + i], c[i * n + j], $"{what}: C[{i}, {j}] ≠ C[{j}, {i}]");
    }

    // C (m × n) against factor·A·B in float64, within 1e-5 of the sum of the terms' magnitudes.
    private static void CheckProduct(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int n,
        int k,
        double factor,
        string what
    )
    {
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double expected = 0,
                magnitude = 0;
            for (int p = 0; p < k; p++)
            {
                double term = (double)a[i, p] * b[p, j];
                expected += term;
                magnitude += Math.Abs(term);
            }
            Assert.IsTrue(
                Math.Abs(c[i, j] - factor * expected) <= 1e-5 * (magnitude + 1),
                $"{what}: C[{i}, {j}] = {c[i, j]}, expected {factor * expected}"
            );
        }
    }

    /// <summary>Overwrites a NaN-filled C, then accumulates α·A·B into it; compares with 0.75·A·B (α =
    /// −0.25).</summary>
    private static void Check(int bits, int tileRows, int m, int n, int k, Layout la, Layout lb, int threads)
    {
        using var threadsScope = CpuDevice.UseThreads(threads);
        int seed = HashCode.Combine(bits, tileRows, m, n, k, la, lb, threads) & 0xFFFF;
        var rng = new System.Random(seed);
        var a = Make(m, k, la, rng);
        var b = Make(k, n, lb, rng);
        // C has a row stride wider than n, so a store past a row's end shows up in the padding.
        int ldc = n + 3;
        var cData = Enumerable.Repeat(float.NaN, m * ldc).ToArray();
        var c = new MatrixRef<float>(cData, 0, ldc, 1);
        Multiply(bits, tileRows, a, b, c, m, n, k, accumulate: false, 1f, threads);
        Multiply(bits, tileRows, a, b, c, m, n, k, accumulate: true, -0.25f, threads);
        string what = $"{bits}-bit {tileRows}-row tile {m}×{n}×{k} A {la} B {lb} threads={threads} (seed {seed})";
        CheckProduct(a, b, c, m, n, k, 0.75, what);
        for (int i = 0; i < m; i++)
        for (int j = n; j < ldc; j++)
            Assert.IsTrue(float.IsNaN(cData[i * ldc + j]), $"{what}: wrote past row {i}'s end at column {j}");
    }

    private static void Multiply(
        int bits,
        int tileRows,
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int n,
        int k,
        bool accumulate,
        float alpha,
        int threads,
        bool symmetric = false
    )
    {
        switch ((bits, tileRows))
        {
            case (512, 12):
                PackedGemm<Kernel512>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric);
                break;
            case (512, 8):
                PackedGemm<Kernel512Short>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric);
                break;
            case (256, 6):
                PackedGemm<Kernel256>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric);
                break;
            case (128, 6):
                PackedGemm<Kernel128>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric);
                break;
            case (128, SpreadTile):
                PackedGemm<Kernel128Spread>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric);
                break;
            default:
                throw new ArgumentException($"no {bits}-bit tile of {tileRows} rows");
        }
    }

    /// <summary>A rows × cols operand with random values: row-major, column-major, or with both strides ≠ 1 and an
    /// offset.</summary>
    private static MatrixRef<float> Make(int rows, int cols, Layout layout, System.Random rng)
    {
        var (offset, rs, cs) = layout switch
        {
            Layout.RowMajor => (0, cols, 1),
            Layout.ColumnMajor => (0, 1, rows),
            Layout.Padded => (3, cols + 7, 1),
            _ => (5, 2 * cols + 1, 2),
        };
        var data = new float[offset + (rows - 1) * rs + (cols - 1) * cs + 1];
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)(rng.NextDouble() * 6 - 3);
        return new MatrixRef<float>(data, offset, rs, cs);
    }
}
