using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The float32 GEMM at the widest vector width the CPU runs natively: 512-bit tiles where
/// <c>Vector512</c> is hardware accelerated, 256-bit where <c>Vector256</c> is (AVX2), 128-bit
/// otherwise (ARM64 AdvSimd, SSE). A wider vector type on a narrower CPU is emulated in software
/// and runs tens of times slower, so the width is chosen from what the hardware reports.
/// </summary>
internal static class PackedGemm
{
    /// <summary>The vector width in bits of the tile <see cref="Multiply"/> uses on this machine.</summary>
    public static int Bits =>
        Vector512.IsHardwareAccelerated ? Kernel512.Bits
        : Vector256.IsHardwareAccelerated ? Kernel256.Bits
        : Kernel128.Bits;

    /// <summary>C (+)= α·A·B with the native tile; see <see cref="PackedGemm{TKernel}.Multiply"/>.</summary>
    public static void Multiply(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int n,
        int k,
        bool accumulate,
        float alpha,
        int threads,
        bool symmetric = false,
        bool mirror = true,
        TriangularA triangleA = TriangularA.None
    )
    {
        if (!symmetric && triangleA == TriangularA.None && TransposedResult.Takes(a, b, m, n, k))
        {
            TransposedResult.Multiply(a, b, c, m, n, k, accumulate, alpha, threads);
            return;
        }
        if (Vector512.IsHardwareAccelerated && PrefersShortTile(m, symmetric && m == n, ShortTileCostOver(b, n, k)))
            PackedGemm<Kernel512Short>.Multiply(
                a,
                b,
                c,
                m,
                n,
                k,
                accumulate,
                alpha,
                threads,
                symmetric,
                mirror,
                triangleA
            );
        else if (Vector512.IsHardwareAccelerated)
            PackedGemm<Kernel512>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric, mirror, triangleA);
        else if (Vector256.IsHardwareAccelerated)
            PackedGemm<Kernel256>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric, mirror, triangleA);
        else if (Kernel128Spread.Takes(m, n, threads, symmetric && m == n))
            PackedGemm<Kernel128Spread>.Multiply(
                a,
                b,
                c,
                m,
                n,
                k,
                accumulate,
                alpha,
                threads,
                symmetric,
                mirror,
                triangleA
            );
        else
            PackedGemm<Kernel128>.Multiply(a, b, c, m, n, k, accumulate, alpha, threads, symmetric, mirror, triangleA);
    }

    /// <summary>
    /// True when the 8-row AVX-512 tile costs less than the 12-row one for an m-row product: it computes fewer
    /// elements of C, by more than its higher cost per element (<paramref name="shortTileCost"/>, by default
    /// <see cref="ShortTileCost"/>). Every row tile computes all its rows: a last partial one is shifted onto rows
    /// already done or padded, so a 64-row product costs 72 rows in 12-row tiles and 64 in 8-row ones. A
    /// <paramref name="symmetric"/> product's tile computes the columns up to its last row, rounded up to the 8 of a
    /// quarter tile; there the two tiles are weighed by elements alone (a tie keeps the 12-row tile): on the Intel
    /// Xeon that measured the cost factor, the 8-row tile ran symmetric products about as fast (128³ even,
    /// 256³ 5 % faster, 1024³ 2 % slower).
    /// </summary>
    internal static bool PrefersShortTile(int m, bool symmetric, double? shortTileCost = null) =>
        TileElements(Kernel512Short.MR, m, symmetric) * (symmetric ? 1 : shortTileCost ?? ShortTileCost)
        < TileElements(Kernel512.MR, m, symmetric);

    /// <summary>
    /// True on the CPUs taken to run a 512-bit multiply-add as two 256-bit halves: AMD's family 19h (Zen 4; Zen 3,
    /// the same family, has no AVX-512). Zen 5's laptop parts are said to split them too, but share family 1Ah with
    /// its full-width server and desktop parts, so they count as full width (an EPYC of model 2: a multiply-add peak
    /// of 424.5 GFLOP/s at 512 bits against 210.9 at 256, on two cores).
    /// </summary>
    // Declared before the properties whose initializers read it: static initializers run in textual order.
    internal static readonly bool WideVectorsSplit = SplitsWideVectors();

    /// <summary>
    /// The 8-row tile's time per element of C over the 12-row one's, on an ordinary product whose B is read in place
    /// from rows that straddle cache lines: 1 where 512-bit units are two 256-bit halves, 1.1 elsewhere. The 8-row
    /// tile loads a depth's two B vectors for 16 multiply-adds instead of 24, and a load that straddles two lines
    /// costs two. On Zen 4's split units both tiles ran a product of equal work at one speed (384×512×512, 16 ×
    /// 96×128×128). On full-width units (an Intel Xeon of family 6, model 207) the 12-row tile was 6–20 % faster per
    /// element on one thread over such a B (128³, 128×512×128, 512³, 768³, 96×128×128), though not at 64×128×128.
    /// Other full-width CPUs take the Xeon's figure. On Zen 5 (family 26, model 2) the 8-row tile's cost per element
    /// over such a B was 1.00–1.04 of the 12-row one's (one thread; 64 to 768 rows, 128 to 512 columns and depths),
    /// where a 128-row product, whose choice a factor that low would flip, ran at 0.99–1.01 of the 12-row tile's time.
    /// </summary>
    internal static double ShortTileCost { get; } = WideVectorsSplit ? 1.0 : 1.1;

    /// <summary>
    /// The cost factor of <see cref="PrefersShortTile"/> for a k-deep product over <paramref name="b"/> with n
    /// columns: <see cref="ShortTileCost"/> where the tile reads B in place from rows that straddle cache lines, else
    /// 1. Over panels that start on lines (packed ones, or rows a multiple of 16 floats apart from an aligned start,
    /// as a tensor's storage gives them) the Xeon's 8-row tile ran as fast per element as the 12-row one or faster,
    /// and it computes fewer spare rows. 12-row against 8-row, one thread: 128³ 26.5 against 25.8 µs, 128 × 512 ×
    /// 128 108.9 against 104.1, 1024³ 14.0 against 13.9 ms; two threads, 1024³ 7.02–7.17 against 6.74–6.81 ms, where
    /// the 12-row tile also copies an A whose rows lie 4 KiB apart (<see cref="PackedGemm{TKernel}.WithRowsApart"/>).
    /// </summary>
    internal static double ShortTileCostOver(MatrixRef<float> b, int n, int k) =>
        PackedGemm<Kernel512>.PanelsOfBOnLines(b, n, k) ? 1.0 : ShortTileCost;

    /// <summary>
    /// True when a symmetric product's diagonal tile that reaches at most a quarter past the tile's left half runs
    /// as that half and a quarter (<see cref="PackedGemm{TKernel}"/>'s RunTile), reading A twice, rather than whole:
    /// cheaper only where 512-bit multiply-adds are two 256-bit halves (Zen 4, where it was measured, and again with
    /// later tiles: Gram products of 65² to 256², one thread, 0.5–3 % faster than whole tiles). On full-width
    /// units the whole tile ran symmetric 128 × 128 products 4 % faster (128³ 23.9 against 25.0 µs, 128 × 128 × 512
    /// 78.5–79.2 against 81.9–82.2; Intel Xeon, family 6, model 207), and 2–4 % faster on Zen 5 (family 26, model 2:
    /// 128³, 128 × 128 × 512, 256³). Settable so that tests run both on any machine; both give the same bits.
    /// </summary>
    internal static bool DiagonalHalfAndQuarter { get; set; } = WideVectorsSplit;

    private static bool SplitsWideVectors() => CpuIdentity.IsAmd && CpuIdentity.Family == 0x19;

    // Elements of C that tiles of mr rows compute: per column of an m-row product, or in all of a symmetric one.
    private static long TileElements(int mr, int m, bool symmetric)
    {
        if (!symmetric)
            return (m + mr - 1L) / mr * mr;
        int quarter = Kernel512.NR / 4; // columns of a 512-bit tile's left quarter (LeftQuarter)
        long elements = 0;
        for (int row = 0; row < m; row += mr)
        {
            int end = Math.Min(row + mr, m);
            elements += (long)mr * ((end + quarter - 1) / quarter * quarter);
        }
        return elements;
    }

    /// <summary>Floats of B that a block's kc rows may span (kc row strides, <see
    /// cref="PackedGemm{TKernel}.ReadsBInPlace"/>) for a tile that reads B in place to do so: 256 KiB, the size of the
    /// GPT's weights (128 × 512).</summary>
    /// <remarks>
    /// Packing B costs a copy of the block per product, which only the rows of A repay: skipping it (timing only)
    /// took 6–11 % off the batched 128 × 128 products of Newton–Schulz on Zen 4. Read in place, a panel's depths lie
    /// a row of B apart rather than side by side; the 8- and 12-row AVX-512 tiles ran those products 3–5 % faster
    /// and the GPT's 768-row products 1–2 % faster that way (alternating in one process, Zen 4). Over a block of
    /// several MiB (1024³, 256 × 2048 × 2048) the strided reads lost 18–32 %, and at 512³ (1 MiB) they were even.
    /// The 256- and 128-bit tiles, whose panels are one cache line per depth, ran the same products as fast or up to
    /// 27 % slower in place, so they pack, unless B's rows spread over the cache's sets (<see
    /// cref="PackedGemm{TKernel}.RowsSpreadOverCacheSets"/>).
    /// </remarks>
    internal const int InPlaceBFloats = 1 << 16;

    /// <summary>
    /// Column stride in floats (2 KiB) from which a column-major A is packed rather than read in place: its depths
    /// then lie on a new 4 KiB page every other depth or sooner, where the hardware prefetchers stop. Packed, the
    /// weight gradients' 512-row products (Aᵀ, depth 768) ran 25–40 % faster (Intel Xeon, family 6, model 207,
    /// 512- and 256-bit tiles, one thread), 768 and 1024 rows 1.5–2× faster (the transpose of a contiguous m-row
    /// tensor: column stride m). At strides of 128 and 256 packing gained up to 10 % where n ≥ 512 and lost 5–20 %
    /// where n ≤ 256, so narrower strides stay in place.
    /// </summary>
    internal const int PackedColumnStride = 512;

    /// <summary>
    /// True when C = A·B is symmetric whatever the values: B is A's transpose read from the same
    /// memory (a Gram matrix XᵀX or X·Xᵀ). Then only the tiles on and below the diagonal need
    /// computing, about half the work.
    /// </summary>
    public static bool IsGram(MatrixRef<float> a, MatrixRef<float> b, int m, int n) =>
        m == n
        && ReferenceEquals(a.Data, b.Data)
        && a.Offset == b.Offset
        && a.RowStride == b.ColStride
        && a.ColStride == b.RowStride;
}

/// <summary>
/// GotoBLAS-style float32 GEMM, C (+)= A·B, over one register tile <typeparamref name="TKernel"/> (MR × NR): B is
/// packed into NR-column panels and A into MR-row panels (both zero-padded), and the micro-kernel runs the
/// multiply-adds. An A whose rows are contiguous, or whose columns are and lie close enough, is read in place
/// (<see cref="ReadsAInPlace"/>), and so is a small row-major B for the
/// tiles that gain by it (<see cref="ReadsBInPlace"/>). Work is split across threads along the larger of M and N;
/// each thread packs what it reads into its own reusable buffers, so threads never wait on each other (a split by rows
/// over a B of one block packs it once per thread, not per part: <see cref="PackedBOnce"/>).
/// </summary>
internal static unsafe class PackedGemm<TKernel>
    where TKernel : struct, IMicroKernel
{
    // Depth of a block of B. A packed 32-column B micro-panel this deep (128 KiB) streams from L2;
    // measured on Zen 5 it beats 256-deep, L1-sized panels by 5–25 % (fewer passes over C, fewer
    // kernel calls), most for the weight gradients' depth-768 products.
    private const int BlockDepth = 1024;

    // The depth of a block for this tile: a tile whose packed A holds each value ACopies times takes blocks that
    // much shallower, so that a packed block of A keeps its size (MC × BlockDepth floats) and stays in L2.
    internal static int KC => BlockDepth / TKernel.ACopies;
    private const int MC = 144; // rows of A packed at once (~576 KiB), a multiple of every MR
    private const int NC = 1024; // columns of B packed at once (~4 MiB), a multiple of every NR

    /// <summary>Flops below which one thread does the whole product.</summary>
    private const long ParallelFlops = 1L << 21;

    /// <summary>
    /// C (+)= α·A·B. With <paramref name="symmetric"/> (a product known to be symmetric, added
    /// to a symmetric C when accumulating), only tiles on and below the diagonal are computed and
    /// the upper triangle is copied from the lower one, unless <paramref name="mirror"/> is false: then the upper
    /// triangle is unspecified (the tiles on the diagonal write part of it) until the caller, having finished the
    /// lower one, mirrors it itself (<see cref="SymmetricMirror.Complete(MatrixRef{float}, int)"/>). With a
    /// triangular A (<paramref name="triangleA"/>, never with <paramref name="symmetric"/>) the tiles skip the depths
    /// that meet only its zeros.
    /// </summary>
    public static void Multiply(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int n,
        int k,
        bool accumulate,
        float alpha,
        int threads,
        bool symmetric = false,
        bool mirror = true,
        TriangularA triangleA = TriangularA.None
    )
    {
        if (symmetric && (m != n || k == 0))
            symmetric = false;
        if (symmetric && triangleA != TriangularA.None)
            throw new ArgumentException("PackedGemm: a symmetric product with a triangular A.");
        if (m == 0 || n == 0)
            return;
        if (k == 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++)
                    c.Data.AsSpan(c.Offset + i * c.RowStride, n).Clear();
            return;
        }
        if ((m == 1 || n == 1) && MatrixVector.TryMultiply(a, b, c, m, n, k, accumulate, alpha))
            return;
        a = WithRowsApart(a, m, n, k, threads);
        long flops = 2L * m * n * k;
        if (symmetric)
        {
            MultiplyLower(a, b, c, m, k, accumulate, alpha, flops < ParallelFlops ? 1 : threads, mirror);
            return;
        }
        if (threads <= 1 || flops < ParallelFlops)
        {
            MultiplySerial(a, b, c, m, n, k, accumulate, alpha, triangleA: triangleA);
            return;
        }
        // Split the longer side. Each thread packs the B it reads (unless small and read in place), so on a tie
        // with A read in place (nothing of A to pack) the columns split: each thread packs half of B, not all.
        bool aInPlace = ReadsAInPlace(a),
            splitRows = m > n || (m == n && !aInPlace);
        int extent = splitRows ? m : n,
            unit = splitRows ? TKernel.MR : TKernel.NR;
        int units = (extent + unit - 1) / unit;
        threads = Math.Min(threads, units);
        // Parts finer than threads keep both threads busy when one loses its core for a while: the other claims
        // what is left (CpuParallel). They cost little split by columns over an A read in place, where each part
        // packs only its own columns of B, and split by rows over a B of one block, which each thread packs once, at
        // its first part, for its later ones (PackedBOnce). Otherwise each part packs all of A or of B, so there is
        // one part per thread. (One copy of B packed by the calling thread for all of them ran the GPT's 768 × 128 ×
        // 128 product about 9 % slower on two cores, in three alternating runs of bench gemm: the other core then
        // reads B from the caller's.) Each element of C is computed as by one thread, so no split changes its bits.
        bool rowsOverOneBlock = splitRows && n <= NC && k <= KC;
        long product = rowsOverOneBlock ? Interlocked.Increment(ref PackingBuffers.Products) : 0;
        int parts =
            (!splitRows && aInPlace) || rowsOverOneBlock
                ? Math.Min(units, threads * CpuParallel.PartsPerThread)
                : threads;
        CpuParallel.Run(parts, threads, t =>
        {
            int begin = Math.Min(extent, (int)((long)units * t / parts) * unit);
            int end = Math.Min(extent, (int)((long)units * (t + 1) / parts) * unit);
            if (begin >= end)
                return;
            if (splitRows)
            {
                nint packedB = rowsOverOneBlock ? PackedBOnce(b, n, k, product) : 0;
                MultiplySerial(
                    a.At(begin, 0),
                    b,
                    c.At(begin, 0),
                    end - begin,
                    n,
                    k,
                    accumulate,
                    alpha,
                    packedB: packedB,
                    triangleA: triangleA,
                    rowOffset: begin
                );
            }
            else
                MultiplySerial(
                    a,
                    b.At(0, begin),
                    c.At(0, begin),
                    m,
                    end - begin,
                    k,
                    accumulate,
                    alpha,
                    triangleA: triangleA
                );
        });
    }

    /// <summary>The address of this thread's packing buffer for B, holding <paramref name="b"/>'s one block packed for
    /// <paramref name="product"/>: packed now unless the buffer already holds it (<see
    /// cref="PackingBuffers.BHolds"/>).</summary>
    private static nint PackedBOnce(MatrixRef<float> b, int n, int k, long product)
    {
        var buffer = BufferB();
        // The buffer is pinned (CpuDevice.AlignedArray), so its address holds after this call.
        float* packed =
            (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer))
            + CpuDevice.AlignedStart(buffer, sizeof(float));
        if (PackingBuffers.BHolds != product)
        {
            PackingBuffers.BHolds = 0; // until the block is whole
            int packedFrom = ColumnsReadInPlace(b, k, n);
            if (packedFrom < n)
                PackB(b.At(0, packedFrom), k, n - packedFrom, packed + packedFrom * k);
            PackingBuffers.BHolds = product;
        }
        return (nint)packed;
    }

    // This thread's packing buffer for B (PackingBuffers.B), made at its first use.
    private static float[] BufferB() => PackingBuffers.B ??= CpuDevice.AlignedArray<float>(NC * BlockDepth);

    // Floats in a 64-byte cache line, the boundary tensors' storage and the packing buffers start on.
    private const int LineFloats = CpuDevice.AlignmentBytes / sizeof(float);

    // The span of addresses over which an L1 data cache's sets repeat: 64 sets of 64-byte lines on current x64 cores
    // (Zen 4: 32 KiB of 8 ways; Zen 5 and recent Intel cores: 48 KiB of 12). Rows of A this far apart share a set.
    private const int CacheSetSpan = 4096;

    // The fewest ways an L1 data set has on those cores.
    private const int CacheWays = 8;

    // Most floats of A WithRowsApart copies: 16 MiB, kept by each calling thread (PackingBuffers.RowsApart, one for
    // every tile), as the packing buffers are, and reused. Batched small products (one whole product per thread) stay
    // far below it; large ones, where a batch runs them one matrix per thread (CpuBackend.EachProduct), may leave such
    // a copy on every thread.
    private const int MaxRowsApartFloats = 1 << 22;

    /// <summary>
    /// The most of a tile's rows that may share an L1 set before <see cref="WithRowsApart"/> copies A: all of an 8-way
    /// set's ways for the 12- and 8-row AVX-512 tiles, half of them for the 6-row tiles of the 16-register widths
    /// (AVX2 and 128 bits), where the copy was measured to pay. Half the ways lost with the 8-row AVX-512 tile on Zen 5
    /// (AMD family 26, model 2; 12-way L1), whose 1024³ product reads A's rows 4 KiB apart in place: copied, 5.81–6.09
    /// ms and 1.05–1.08 of OpenBLAS's speed, in place 5.63–5.84 ms and 1.08–1.16, three pairs of runs in turns.
    /// </summary>
    internal static int RowsSharingASetAllowed => TKernel.MR > 6 ? CacheWays : CacheWays / 2;

    /// <summary>
    /// A row-major A read in place keeps MR of its rows in L1 at once, one line of each. When its row stride is a
    /// multiple of <see cref="CacheSetSpan"/> (a 1024-float row), those lines all fall into one L1 set, beside the
    /// lines of B and C and those the prefetcher brings in, and they evict each other: on Zen 4 (8-way L1) a 1024³
    /// product of 12-row tiles ran at 187 GFLOP/s, and 211 with rows of 1040 floats. On Zen 3 (AMD family 25, model
    /// 1, also 8-way) the 6-row AVX2 tile, whose rows take six of the eight ways, ran 1024³ against OpenBLAS, in
    /// turns, at 0.903–0.914 of its speed copied and 0.865–0.874 in place (three pairs of runs; about 4 %, on a host
    /// whose speed swings by more than that from minute to minute, so a size rather than a precise figure). So when
    /// more of a tile's rows share a set than <see cref="RowsSharingASetAllowed"/>, such an A, when each of its
    /// elements meets enough columns of B (n ≥ 16·NR) to repay the copy, is copied once (split over the threads when
    /// it is large) to rows an odd number of cache lines apart, which spreads them over the sets. Otherwise, and for a
    /// tile that packs A (the spread tile), A is returned as it is. The copy holds the same values, read in the same
    /// order, so the product's bits do not change.
    /// </summary>
    internal static MatrixRef<float> WithRowsApart(MatrixRef<float> a, int m, int n, int k, int threads)
    {
        if (
            TKernel.ACopies != 1
            || a.ColStride != 1
            || m < TKernel.MR
            || n < 16 * TKernel.NR
            || RowsPerCacheSet(a.RowStride) <= RowsSharingASetAllowed
        )
            return a;
        long padded = PaddedRows.OddLines(k, LineFloats);
        if (m * padded > MaxRowsApartFloats)
            return a;
        int stride = (int)padded;
        var copy = PackingBuffers.RowsApart;
        if (copy is null || copy.Length - CpuDevice.AlignedStart(copy, sizeof(float)) < m * stride)
            PackingBuffers.RowsApart = copy = CpuDevice.AlignedArray<float>(m * stride);
        var apart = new MatrixRef<float>(copy, CpuDevice.AlignedStart(copy, sizeof(float)), stride, 1);
        CopyRows(a, apart, m, k, (long)m * k < CpuParallel.MinParallelWork ? 1 : Math.Max(1, threads));
        return apart;
    }

    // Copies m rows of k floats from one row-major matrix to another, split into that many bands of rows.
    private static void CopyRows(MatrixRef<float> from, MatrixRef<float> to, int m, int k, int parts) =>
        CpuParallel.Run(parts, parts, t =>
        {
            int begin = (int)((long)m * t / parts),
                end = (int)((long)m * (t + 1) / parts);
            for (int i = begin; i < end; i++)
                from.Data.AsSpan(from.Offset + i * from.RowStride, k)
                    .CopyTo(to.Data.AsSpan(to.Offset + i * to.RowStride));
        });

    /// <summary>
    /// The most lines of one L1 set that a tile's MR rows, <paramref name="rowStride"/> floats apart, read at one
    /// depth, the first row starting a line: rows whose lines lie a multiple of <see cref="CacheSetSpan"/> apart
    /// share a set, and rows on one line (a broadcast row, stride 0) count once.
    /// </summary>
    internal static int RowsPerCacheSet(int rowStride)
    {
        const int LineBytes = 64,
            Sets = CacheSetSpan / LineBytes;
        long Line(int row) => (long)row * rowStride * sizeof(float) / LineBytes;
        int most = 0;
        for (int i = 0; i < TKernel.MR; i++)
        {
            int sharing = 0;
            for (int j = 0; j < TKernel.MR; j++)
                if ((j == 0 || Line(j) != Line(j - 1)) && (Line(j) - Line(i)) % Sets == 0)
                    sharing++;
            most = Math.Max(most, sharing);
        }
        return most;
    }

    /// <summary>
    /// The lower triangle of a symmetric C (+)= α·A·B (m × m), then, with <paramref name="mirror"/>, the upper one
    /// copied from it. Each thread takes a band of rows, with boundaries at m·√(t/T) so the bands hold equal shares of
    /// the triangle, reads or packs B only up to its band's last row and skips the tiles above the diagonal. One
    /// thread over a C of one block (<see cref="MirrorsByPanel"/>) mirrors each panel of columns as it finishes.
    /// </summary>
    private static void MultiplyLower(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int k,
        bool accumulate,
        float alpha,
        int threads,
        bool mirror
    )
    {
        int unit = TKernel.MR,
            units = (m + unit - 1) / unit;
        threads = Math.Max(1, Math.Min(threads, units));
        if (threads == 1 && mirror && MirrorsByPanel(m, k))
        {
            MultiplySerial(a, b, c, m, m, k, accumulate, alpha, lowerFrom: 0, mirrorPanels: true);
            return;
        }
        int Boundary(int t) => Math.Min(m, (int)Math.Round(units * Math.Sqrt((double)t / threads)) * unit);
        CpuParallel.Run(threads, t =>
        {
            int begin = Boundary(t),
                end = Boundary(t + 1);
            if (begin < end)
                MultiplySerial(a.At(begin, 0), b, c.At(begin, 0), end - begin, end, k, accumulate, alpha, begin);
        });
        if (mirror)
            SymmetricMirror.Complete(c, m);
    }

    /// <summary>
    /// True when a symmetric m × m product of depth k on one thread mirrors each NR-column panel of its lower
    /// triangle once the panel after it is done (<see cref="MultiplySerial"/>), rather than the whole triangle at the
    /// end: C is one block of rows, columns and depth, so the panels finish one after another, and the mirror's blocks
    /// divide a panel. A 128 × 128 Gram product (Newton–Schulz's) then mirrors what it has just written, in L1, rather
    /// than a 64 KiB matrix afterwards: on one core of an Intel Xeon (family 6, model 207), 128³ went from 19.3 to 18.7
    /// µs, where the product without a mirror takes 17.2.
    /// </summary>
    // m ≤ MC also keeps the columns to one block, as MC < NC.
    internal static bool MirrorsByPanel(int m, int k) => m <= MC && k <= KC && TKernel.NR % SymmetricMirror.Block == 0;

    /// <summary>
    /// Single-threaded blocked product. A is read where it lies when its rows are contiguous, or its
    /// columns are and lie close enough (<see cref="ReadsAInPlace"/>; the micro-kernel broadcasts one
    /// element per row and depth, so such a read costs no more than a packed one, and packing is a
    /// transposition for row-major A). Rows that
    /// MR does not divide take the tile's short form where it has one (<see cref="TileRows"/>), and
    /// a last partial tile is computed as the rows ending at row m and stores only its new rows, so
    /// nothing is packed or spilled for it (100 rows are eight 12-row tiles and a 4-row remainder);
    /// with fewer than MR rows in all A is packed, zero-padded. Other layouts pack all of A. Every
    /// tile applies α at its store, so a packed A and one read in place give the same bits, whatever
    /// the tile or the split over threads.
    /// A non-negative <paramref name="lowerFrom"/> computes only the tiles that reach the diagonal
    /// or below it, taking it as the row index of A's and C's first row within a symmetric product.
    /// <paramref name="mirrorPanels"/> (a whole symmetric product of one block, <see cref="MirrorsByPanel"/>) mirrors
    /// each panel of columns onto the upper triangle once the next panel is done. A nonzero <paramref name="packedB"/>
    /// is B's one block (n ≤ NC, k ≤ KC) already packed there (<see cref="PackedBOnce"/>). A triangular A (<paramref
    /// name="triangleA"/>, whose first row here is row <paramref name="rowOffset"/> of the whole product) has each
    /// tile read only the depths that meet its rows' nonzeros (<see cref="Depths"/>).
    /// </summary>
    // Compiled once at full optimization, as are the packers and the tiles: the profile-guided tier-1 build of this
    // loop nest ran 1024³ at 387–388 GFLOP/s (AVX-512) against 414–417, and 188–196 (AVX2) against 197–203.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplySerial(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int n,
        int k,
        bool accumulate,
        float alpha = 1,
        int lowerFrom = -1,
        bool mirrorPanels = false,
        nint packedB = 0,
        TriangularA triangleA = TriangularA.None,
        int rowOffset = 0
    )
    {
        int mrFull = TKernel.MR,
            nrFull = TKernel.NR;
        System.Diagnostics.Debug.Assert(
            triangleA == TriangularA.None || lowerFrom < 0,
            "PackedGemm: a triangular A in a symmetric product."
        );
        System.Diagnostics.Debug.Assert(packedB == 0 || (n <= NC && k <= KC), "PackedGemm: packedB is one block.");
        // Panel by panel, the mirror of a panel must come after every tile that writes its rows: one block of C, and
        // no tile reaching back more than one panel (MR − 1 ≤ NR).
        System.Diagnostics.Debug.Assert(
            !mirrorPanels || (lowerFrom == 0 && n == m && m <= MC && k <= KC && mrFull - 1 <= nrFull),
            "PackedGemm: mirrorPanels needs a whole symmetric product of one block."
        );
        var packA = PackingBuffers.A ??= CpuDevice.AlignedArray<float>(MC * BlockDepth);
        var packB = BufferB();
        bool direct = ReadsAInPlace(a);
        var strided = new StridedA(a.RowStride, a.ColStride);
        fixed (
            float* bufferA = packA,
                bufferB = packB,
                pc = c.Data,
                sa = a.Data,
                sb = b.Data
        )
        {
            float* pa = bufferA + CpuDevice.AlignedStart(packA, sizeof(float)),
                pb = packedB != 0 ? (float*)packedB : bufferB + CpuDevice.AlignedStart(packB, sizeof(float));
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc0 = 0; pc0 < k; pc0 += KC)
                {
                    int kc = Math.Min(KC, k - pc0);
                    bool first = pc0 == 0 && !accumulate; // first K block overwrites C
                    // Panels before packedFrom are read in place; a last partial one is always packed (padded).
                    int packedFrom = ColumnsReadInPlace(b, kc, nc);
                    if (packedFrom < nc && packedB == 0)
                    {
                        PackingBuffers.BHolds = 0; // no longer a block PackedBOnce packed
                        PackB(b.At(pc0, jc + packedFrom), kc, nc - packedFrom, pb + packedFrom * kc);
                    }
                    for (int ic = 0; ic < m; ic += MC)
                    {
                        int mc = Math.Min(MC, m - ic);
                        // Rows read in place: all of them when m has at least MR rows, a partial last tile then
                        // shifted back onto rows already done (it stores only its last rows).
                        int full = direct && ic + mc >= mrFull ? mc : 0;
                        if (full < mc)
                            PackA(a.At(ic + full, pc0), mc - full, kc, pa);
                        for (int jr = 0; jr < nc; jr += nrFull)
                        {
                            int nr = Math.Min(nrFull, nc - jr);
                            bool inPlace = jr < packedFrom;
                            float* bPanel = inPlace ? sb + b.Offset + pc0 * b.RowStride + jc + jr : pb + jr * kc;
                            nint ldb = inPlace ? b.RowStride : nrFull; // floats from one depth to the next
                            for (int ir = 0; ir < mc; )
                            {
                                // This tile's rows: MR or the short form's, and how many of them it stores.
                                int rows = ir < full ? TileRows(mc - ir) : mrFull,
                                    mr = Math.Min(rows, mc - ir);
                                // Columns of this tile on or below a symmetric product's diagonal: none skips the
                                // tile, and RunTile computes only as many as the narrow forms allow (the rest is
                                // mirrored over). An ordinary product's narrow edge tile takes a narrow form too.
                                int reach = lowerFrom < 0 ? nr : lowerFrom + ic + ir + mr - (jc + jr);
                                int columns = Math.Min(reach, nr);
                                // A tile's first row and row count as the triangle sees them (a shifted last tile
                                // computes rows from `row`), and the depths of this block its rows read.
                                int skip = ir >= full ? 0 : rows - mr,
                                    row = ic + ir - skip; // skip > 0 only for a shifted last tile
                                var (from, to) = Depths(triangleA, rowOffset + row, mr + skip, pc0, kc);
                                if (reach > 0 && from >= to)
                                {
                                    // No depth of this block reaches the tile's rows: zeros, if it writes first.
                                    if (first)
                                        ZeroTile(c.At(ic + ir, jc + jr), mr, nr);
                                }
                                else if (reach > 0 && ir >= full)
                                {
                                    float* packedTile = pc + c.Offset + (ic + ir) * c.RowStride + jc + jr;
                                    var packed = default(PackedA<TKernel>);
                                    RunTile(
                                        columns,
                                        lowerFrom >= 0,
                                        packed,
                                        to - from,
                                        pa + (ir - full) * kc * TKernel.ACopies + from * packed.Step,
                                        bPanel + from * ldb,
                                        ldb,
                                        packedTile,
                                        c.RowStride,
                                        0,
                                        mr,
                                        nr,
                                        first,
                                        alpha
                                    );
                                }
                                else if (reach > 0)
                                {
                                    float* tile = pc + c.Offset + row * c.RowStride + jc + jr;
                                    RunTile(
                                        columns,
                                        lowerFrom >= 0,
                                        strided,
                                        to - from,
                                        sa + a.Offset + row * a.RowStride + (pc0 + from) * a.ColStride,
                                        bPanel + from * ldb,
                                        ldb,
                                        tile,
                                        c.RowStride,
                                        skip,
                                        rows,
                                        nr,
                                        first,
                                        alpha
                                    );
                                }
                                ir += mr;
                            }
                            // The panel before this one is final: this one's tiles, whose rows may reach back into
                            // it, have written their columns, and later panels' tiles start below its rows.
                            if (mirrorPanels && jr > 0)
                                SymmetricMirror.CompleteColumns(c, m, jr - nrFull, jr);
                        }
                        if (mirrorPanels)
                            SymmetricMirror.CompleteColumns(c, m, (nc - 1) / nrFull * nrFull, m);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The depths [from, to) of the block starting at depth <paramref name="pc0"/> (<paramref name="kc"/> deep) that
    /// a tile reads for rows <paramref name="firstRow"/> … <paramref name="firstRow"/> + <paramref name="rows"/> − 1
    /// of op(A): all of them, or those on the nonzero side of a triangular A's diagonal. Within a tile that straddles
    /// the diagonal the tile still reads zeros of A; the depths skipped hold zeros for all its rows. The depth order
    /// of what is read is unchanged, so each element of C sums the same nonzero terms in the same order as the whole
    /// product would.
    /// </summary>
    private static (int From, int To) Depths(TriangularA triangle, int firstRow, int rows, int pc0, int kc) =>
        triangle switch
        {
            TriangularA.Lower => (0, Math.Clamp(firstRow + rows - pc0, 0, kc)),
            TriangularA.Upper => (Math.Clamp(firstRow - pc0, 0, kc), kc),
            _ => (0, kc),
        };

    // Sets an mr × nr tile of C to zero: the product of a block whose depths all lie on a triangular A's zero side.
    private static void ZeroTile(MatrixRef<float> c, int mr, int nr)
    {
        for (int i = 0; i < mr; i++)
            c.Data.AsSpan(c.Offset + i * c.RowStride, nr).Clear();
    }

    /// <summary>
    /// True when the tiles read A where it lies: its rows are contiguous, or its columns are and lie less than
    /// <see cref="PackedGemm.PackedColumnStride"/> floats apart, and the tile takes A's values one float each (<see
    /// cref="IMicroKernel.ACopies"/>). Otherwise A is packed into MR-row panels.
    /// </summary>
    internal static bool ReadsAInPlace(MatrixRef<float> a) =>
        TKernel.ACopies == 1 && (a.ColStride == 1 || (a.RowStride == 1 && a.ColStride < PackedGemm.PackedColumnStride));

    /// <summary>
    /// Rows of the next tile over <paramref name="remaining"/> rows of A read in place: the short form's (<see
    /// cref="IMicroKernel.ShortMR"/>) where it covers them with fewer computed rows than whole tiles, else MR. With
    /// MR = 6 and ShortMR = 4: up to 4 rows take one short tile (shifted back when fewer), 7 or 8 two of them, and 5
    /// rows a shifted whole tile, so 128 rows cost 128 (twenty 6-row and two 4-row tiles), not 132.
    /// </summary>
    internal static int TileRows(int remaining)
    {
        int shortRows = TKernel.ShortMR;
        bool useShort =
            shortRows < TKernel.MR
            && (remaining <= shortRows || (remaining > TKernel.MR && remaining <= 2 * shortRows));
        return useShort ? shortRows : TKernel.MR;
    }

    /// <summary>
    /// True when a kc × nc block of <paramref name="b"/> is read in place rather than packed: the tile reads B in
    /// place (<see cref="IMicroKernel.ReadsBInPlace"/>) or B's rows spread over the cache's sets (<see
    /// cref="RowsSpreadOverCacheSets"/>), B's rows are contiguous, and the memory the block's kc rows
    /// span, a row stride each (nc where rows overlap), holds at most <see cref="PackedGemm.InPlaceBFloats"/>. Its
    /// full panels are then read where they lie, NR columns a row of B apart.
    /// </summary>
    /// <remarks>Counting the span, not the block, keeps a narrow block of a wide B packed: a part of a product split
    /// by columns over threads is such a block, and read in place its depths lie a long row apart, often a multiple
    /// of 4 KiB, so they fall into a few L1 sets and evict each other. Counted by the block, 64-column parts of
    /// 128 × 512 × 768 (the weight gradients, Aᵀ) and 128-column parts of 256 × 1024 × 256 were read in place and
    /// ran 1.6–1.8× slower on 2 threads than when packed (Intel Xeon, family 6, model 207).</remarks>
    internal static bool ReadsBInPlace(MatrixRef<float> b, int kc, int nc) =>
        (TKernel.ReadsBInPlace || RowsSpreadOverCacheSets(b))
        && b.ColStride == 1
        && (long)kc * Math.Max(nc, b.RowStride) <= PackedGemm.InPlaceBFloats;

    /// <summary>
    /// True when B's rows start on cache lines an odd number of lines apart, at least four (<see
    /// cref="Tensor.EmptyMatrices"/>'s layout on the CPU; <see cref="PaddedRows.SpreadOverCacheSets"/>): a panel's
    /// depths then fall into every L1 set in turn instead of a few, so the 256- and 128-bit tiles, which otherwise
    /// pack B, read it in place too.
    /// </summary>
    /// <remarks>
    /// With rows 128 floats (8 lines) apart, a panel's 128 depths fall into 8 of the 64 sets, 16 lines each: more
    /// than the ways of an L1 set, and the reason those tiles pack (up to 27 % slower in place on Zen 4). Rows 144
    /// floats (9 lines) apart spread them over all 64. Newton–Schulz's six steps on 16 matrices of 128 × 128 with its
    /// intermediates laid out so ran 6–8 % faster at AVX2 (one and two threads), 3–6 % at 128 bits (AVX, SSE4.2) and
    /// 6 % at 512 bits, whose tiles read B in place either way (Intel Xeon, family 6, model 207, alternating in one
    /// process, the same bits).
    /// </remarks>
    internal static bool RowsSpreadOverCacheSets(MatrixRef<float> b) =>
        PaddedRows.SpreadOverCacheSets(b.RowStride, LineOffset(b), LineFloats);

    // Floats from the start of the cache line on which b's first element lies to that element.
    private static int LineOffset(MatrixRef<float> b) =>
        (b.Offset - CpuDevice.AlignedStart(b.Data, sizeof(float))) % LineFloats;

    /// <summary>True when the panels of B a k-deep product with n columns reads start on cache lines: its first block
    /// reads no panel in place (<see cref="ColumnsReadInPlace"/>: all are packed), or B starts on a 64-byte boundary
    /// with rows a multiple of 16 floats apart. A guide for the choice of tile only: with k past one block, a short
    /// last block may be read in place when the first is packed.</summary>
    internal static bool PanelsOfBOnLines(MatrixRef<float> b, int n, int k) =>
        ColumnsReadInPlace(b, Math.Min(k, KC), Math.Min(n, NC)) == 0
        || (b.RowStride % LineFloats == 0 && LineOffset(b) == 0);

    /// <summary>How many of a kc × nc block's first columns are read in place: its full NR-column panels when <see
    /// cref="ReadsBInPlace"/>, else none. A partial panel is always packed, zero-padded: read in place, the tile's
    /// full-width loads would run past B's last column.</summary>
    internal static int ColumnsReadInPlace(MatrixRef<float> b, int kc, int nc) =>
        ReadsBInPlace(b, kc, nc) ? nc / TKernel.NR * TKernel.NR : 0;

    /// <summary>
    /// The micro-kernel on the narrowest form of the tile that covers the first <paramref name="columns"/> of its
    /// <paramref name="nr"/>: its left quarter (<see cref="LeftQuarter"/>, where the tile has one), its left half
    /// (<see cref="LeftHalf"/>), with <paramref name="diagonal"/> where <see cref="PackedGemm.DiagonalHalfAndQuarter"/>
    /// the left half and the quarter after it (two runs over the same A), or the whole tile. A narrow form stores at
    /// most its own columns.
    /// </summary>
    /// <remarks>The half and quarter pair is kept to a symmetric product's diagonal tiles on split 512-bit units,
    /// where it was measured (Zen 4, whose 256-bit multiply-adds cost half a 512-bit one). On full-width units it
    /// does as many multiply-adds as the whole tile and reads A twice; an ordinary product's 17–24-column edge runs
    /// whole.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunTile<TA>(
        int columns,
        bool diagonal,
        TA panel,
        int kc,
        float* a,
        float* b,
        nint ldb,
        float* c,
        int ldc,
        int skip,
        int mr,
        int nr,
        bool overwrite,
        float alpha
    )
        where TA : struct, IPanelA
    {
        int half = TKernel.NR / 2,
            quarter = TKernel.HasQuarter ? TKernel.NR / 4 : 0;
        if (columns <= quarter)
        {
            nr = Math.Min(nr, quarter);
            TKernel.Run<TA, LeftQuarter>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);
        }
        else if (columns <= half)
        {
            nr = Math.Min(nr, half);
            TKernel.Run<TA, LeftHalf>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);
        }
        else if (diagonal && PackedGemm.DiagonalHalfAndQuarter && columns <= half + quarter)
        {
            TKernel.Run<TA, LeftHalf>(panel, kc, a, b, ldb, c, ldc, skip, mr, half, overwrite, alpha);
            nr = Math.Min(nr - half, quarter);
            TKernel.Run<TA, LeftQuarter>(panel, kc, a, b + half, ldb, c + half, ldc, skip, mr, nr, overwrite, alpha);
        }
        else
            TKernel.Run<TA, AllColumns>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);
    }

    /// <summary>Packs A[0..mc, 0..kc] into MR-row panels laid out k-major: panel[p·MR + i], or for a tile that takes
    /// A's values spread (<see cref="IMicroKernel.ACopies"/>), each value that many times.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(MatrixRef<float> a, int mc, int kc, float* dst)
    {
        int mrFull = TKernel.MR;
        fixed (float* src0 = a.Data)
        {
            float* src = src0 + a.Offset;
            int rs = a.RowStride,
                cs = a.ColStride;
            for (int ir = 0; ir < mc; ir += mrFull)
            {
                int mr = Math.Min(mrFull, mc - ir);
                float* panel = dst + ir * kc * TKernel.ACopies;
                if (TKernel.ACopies > 1)
                {
                    SpreadPanel(src + ir * rs, rs, cs, mr, kc, panel);
                    continue;
                }
                if (rs == 1 && mr == mrFull)
                {
                    // Column-major: each depth's MR values lie side by side.
                    for (int p = 0; p < kc; p++)
                        Unsafe.CopyBlockUnaligned(
                            panel + p * mrFull,
                            src + ir + p * cs,
                            (uint)(mrFull * sizeof(float))
                        );
                    continue;
                }
                for (int i = 0; i < mrFull; i++)
                {
                    if (i >= mr)
                    {
                        for (int p = 0; p < kc; p++)
                            panel[p * mrFull + i] = 0f;
                        continue;
                    }
                    float* row = src + (ir + i) * rs;
                    if (cs == 1)
                        for (int p = 0; p < kc; p++)
                            panel[p * mrFull + i] = row[p];
                    else
                        for (int p = 0; p < kc; p++)
                            panel[p * mrFull + i] = row[p * cs];
                }
            }
        }
    }

    // One MR-row panel for a spread tile: panel[(p·MR + i)·4 + lane] = A[i, p] in every lane (zero past row mr), a
    // vector store per value; 128-bit vectors, the one spread tile's (Kernel128Spread). A whole panel is read four
    // values a load (four depths of a row-major A, four rows of a column-major one) and each value spread by a shuffle
    // of that vector: a 384 × 128 row-major A, half of the GPT's 768 × 128 × 128 on a thread, took 24 µs against 55
    // spreading each value loaded alone (SSE4.2, Zen 4), about a tenth of the product.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SpreadPanel(float* rows, int rs, int cs, int mr, int kc, float* panel)
    {
        System.Diagnostics.Debug.Assert(TKernel.ACopies == Vector128<float>.Count, "PackedGemm: spread A is 128-bit");
        System.Diagnostics.Debug.Assert((nint)panel % 16 == 0, "PackedGemm: a spread panel starts on 16 bytes");
        int mrFull = TKernel.MR,
            depth = mrFull * TKernel.ACopies, // floats from one depth's values to the next's
            p = 0;
        if (mr == mrFull && cs == 1)
            for (; p + 4 <= kc; p += 4)
            for (int i = 0; i < mrFull; i++)
                SpreadLanes(Vector128.Load(rows + i * rs + p), panel + (p * mrFull + i) * TKernel.ACopies, depth);
        else if (mr == mrFull && rs == 1)
            for (; p < kc; p++)
            {
                int i = 0;
                for (; i + 4 <= mrFull; i += 4)
                    SpreadLanes(
                        Vector128.Load(rows + i + p * cs),
                        panel + (p * mrFull + i) * TKernel.ACopies,
                        TKernel.ACopies
                    );
                for (; i < mrFull; i++)
                    Vector128.Create(rows[i + p * cs]).Store(panel + (p * mrFull + i) * TKernel.ACopies);
            }
        for (; p < kc; p++)
        for (int i = 0; i < mrFull; i++)
        {
            float value = i < mr ? rows[i * rs + p * cs] : 0f;
            Vector128.Create(value).Store(panel + (p * mrFull + i) * TKernel.ACopies);
        }
    }

    // Lane j of v, in every lane, at to + j·stride.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SpreadLanes(Vector128<float> v, float* to, int stride)
    {
        Vector128.Shuffle(v, Vector128.Create(0)).Store(to);
        Vector128.Shuffle(v, Vector128.Create(1)).Store(to + stride);
        Vector128.Shuffle(v, Vector128.Create(2)).Store(to + 2 * stride);
        Vector128.Shuffle(v, Vector128.Create(3)).Store(to + 3 * stride);
    }

    /// <summary>Packs B[0..kc, 0..nc] into NR-column panels laid out k-major: panel[p·NR + j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(MatrixRef<float> b, int kc, int nc, float* dst)
    {
        int nrFull = TKernel.NR;
        fixed (float* src0 = b.Data)
        {
            float* src = src0 + b.Offset;
            int rs = b.RowStride,
                cs = b.ColStride;
            for (int jr = 0; jr < nc; jr += nrFull)
            {
                int nr = Math.Min(nrFull, nc - jr);
                float* panel = dst + jr * kc;
                if (cs == 1 && nr == nrFull)
                {
                    for (int p = 0; p < kc; p++)
                        Unsafe.CopyBlockUnaligned(
                            panel + p * nrFull,
                            src + p * rs + jr,
                            (uint)(nrFull * sizeof(float))
                        );
                    continue;
                }
                if (rs == 1 && nr == nrFull)
                {
                    // Column-major source (a transposed view): the tile's register transposes.
                    TKernel.PackColumns(src + jr * cs, cs, panel, kc);
                    continue;
                }
                for (int p = 0; p < kc; p++)
                for (int j = 0; j < nrFull; j++)
                    panel[p * nrFull + j] = j < nr ? src[p * rs + (jr + j) * cs] : 0f;
            }
        }
    }
}

/// <summary>
/// Each thread's packing buffers, shared by every tile (<see cref="PackedGemm{TKernel}"/> is one class per tile, and a
/// field there would give each tile its own 4.6 MiB per thread). A thread runs one product at a time, and the
/// buffers' sizes do not depend on the tile, but B's may carry one product's block from one part of it to the next
/// (<see cref="BHolds"/>). Each is made by <see cref="CpuDevice.AlignedArray"/>, so that its panels
/// start on a 64-byte boundary as a CPU storage's first element does; so is the copy of a row-major A that <see
/// cref="PackedGemm{TKernel}.WithRowsApart"/> makes, whose rows' cache sets are counted from a line's start.
/// </summary>
internal static class PackingBuffers
{
    /// <summary>Packed rows of A, MC × 1024 floats (MC rows a block deep, or a spread tile's shallower
    /// block).</summary>
    [ThreadStatic]
    public static float[]? A;

    /// <summary>Packed columns of B, NC × 1024 floats. Whoever packs into it, other than <c>PackedGemm.PackedBOnce</c>,
    /// sets <see cref="BHolds"/> to 0 first.</summary>
    [ThreadStatic]
    public static float[]? B;

    /// <summary>The product (a number from <see cref="Products"/>) whose one block of B <see cref="B"/> holds, packed
    /// by <c>PackedGemm.PackedBOnce</c>; 0 when the buffer holds anything else.</summary>
    [ThreadStatic]
    public static long BHolds;

    /// <summary>Products numbered so far, for <see cref="BHolds"/>.</summary>
    public static long Products;

    /// <summary>A row-major A copied to rows apart (<c>PackedGemm.WithRowsApart</c>), one for every tile.</summary>
    [ThreadStatic]
    public static float[]? RowsApart;
}
