using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// GotoBLAS-style float32 GEMM, C (+)= A·B: B is packed into 32-column panels and A into
/// 12-row panels (both zero-padded), and a 12×32 register tile of 24 <c>Vector512</c>
/// accumulators runs the FMAs. Work is split across threads along the larger of M and N;
/// each thread packs what it reads into its own reusable buffers, so threads never wait
/// on each other.
/// </summary>
internal static unsafe class PackedGemm
{
    public const int MR = 12;            // rows of the register tile
    public const int NR = 32;            // columns of the register tile (two Vector512<float>)
    // Depth of a packed panel. A 32-column B micro-panel this deep (128 KiB) streams from L2;
    // measured on Zen 5 it beats 256-deep, L1-sized panels by 5–25 % (fewer passes over C, fewer
    // kernel calls), most for the weight gradients' depth-768 products.
    private const int KC = 1024;
    private const int MC = 144;          // rows of A packed at once (~576 KiB)
    private const int NC = 1024;         // columns of B packed at once (~4 MiB)

    [ThreadStatic] private static float[]? _packA;
    [ThreadStatic] private static float[]? _packB;

    /// <summary>Flops below which one thread does the whole product.</summary>
    private const long ParallelFlops = 1L << 21;

    public static void Multiply(MatrixRef<float> a, MatrixRef<float> b, MatrixRef<float> c, int m, int n, int k, bool accumulate, float alpha, int threads)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) c.Data.AsSpan(c.Offset + i * c.RowStride, n).Clear();
            return;
        }
        if ((m == 1 || n == 1) && MatrixVector.TryMultiply(a, b, c, m, n, k, accumulate, alpha)) return;
        long flops = 2L * m * n * k;
        if (threads <= 1 || flops < ParallelFlops)
        {
            MultiplySerial(a, b, c, m, n, k, accumulate, alpha);
            return;
        }
        // Split the longer side. Each thread packs the B it reads, so on a tie with A read in
        // place (nothing of A to pack) the columns split: each thread packs half of B, not all.
        bool splitRows = m > n || (m == n && !(a.ColStride == 1 || a.RowStride == 1));
        int extent = splitRows ? m : n, unit = splitRows ? MR : NR;
        int units = (extent + unit - 1) / unit;
        threads = Math.Min(threads, units);
        CpuParallel.Run(threads, t =>
        {
            int begin = Math.Min(extent, (int)((long)units * t / threads) * unit);
            int end = Math.Min(extent, (int)((long)units * (t + 1) / threads) * unit);
            if (begin >= end) return;
            if (splitRows) MultiplySerial(a.At(begin, 0), b, c.At(begin, 0), end - begin, n, k, accumulate, alpha);
            else MultiplySerial(a, b.At(0, begin), c.At(0, begin), m, end - begin, k, accumulate, alpha);
        });
    }

    /// <summary>
    /// Single-threaded blocked product. A is read where it lies when its rows or columns are
    /// contiguous (the micro-kernel broadcasts one element per row and depth, so a strided read
    /// costs no more than a packed one, and packing is a transposition for row-major A). A last
    /// partial tile of fewer than 12 rows is computed as the 12 rows ending at row m and stores
    /// only its new rows, so nothing is packed or spilled for it (an attention head's 64 rows are
    /// five tiles and a 4-row remainder); with fewer than 12 rows in all it is packed, zero-padded.
    /// Other layouts pack all of A, scaled by α; a directly read A gets α at the store.
    /// </summary>
    public static void MultiplySerial(MatrixRef<float> a, MatrixRef<float> b, MatrixRef<float> c, int m, int n, int k, bool accumulate, float alpha = 1)
    {
        var packA = _packA ??= GC.AllocateUninitializedArray<float>(MC * KC, pinned: true);
        var packB = _packB ??= GC.AllocateUninitializedArray<float>(NC * KC, pinned: true);
        bool direct = a.ColStride == 1 || a.RowStride == 1;
        var strided = new StridedA(a.RowStride, a.ColStride);
        fixed (float* pa = packA, pb = packB, pc = c.Data, sa = a.Data)
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc0 = 0; pc0 < k; pc0 += KC)
                {
                    int kc = Math.Min(KC, k - pc0);
                    bool first = pc0 == 0 && !accumulate; // first K block overwrites C
                    PackB(b.At(pc0, jc), kc, nc, pb);
                    for (int ic = 0; ic < m; ic += MC)
                    {
                        int mc = Math.Min(MC, m - ic);
                        // Rows read in place: all of them, shifting a partial last tile back onto
                        // rows already done (it then stores only its last rows), when m allows.
                        int full = !direct ? 0 : ic + mc >= MR ? mc : mc / MR * MR;
                        if (full < mc) PackA(a.At(ic + full, pc0), mc - full, kc, pa, alpha);
                        for (int jr = 0; jr < nc; jr += NR)
                        {
                            int nr = Math.Min(NR, nc - jr);
                            for (int ir = 0; ir < mc; ir += MR)
                            {
                                int mr = Math.Min(MR, mc - ir);
                                if (ir >= full)
                                {
                                    float* packedTile = pc + c.Offset + (ic + ir) * c.RowStride + jc + jr;
                                    Kernel(default(PackedA), kc, pa + (ir - full) * kc, pb + jr * kc, packedTile, c.RowStride, 0, mr, nr, first, 1f);
                                    continue;
                                }
                                int skip = MR - mr, row = ic + ir - skip;   // skip > 0 only for a shifted last tile
                                float* tile = pc + c.Offset + row * c.RowStride + jc + jr;
                                Kernel(strided, kc, sa + a.Offset + row * a.RowStride + pc0 * a.ColStride, pb + jr * kc, tile, c.RowStride, skip, MR, nr, first, alpha);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>How the micro-kernel reads the 12 A values of one depth: element i of the current column, and the step to the next depth.</summary>
    private interface IPanelA
    {
        float At(float* a, int i);
        nint Step { get; }
    }

    /// <summary>A packed panel: the 12 values of a depth are contiguous, depths 12 apart.</summary>
    private readonly struct PackedA : IPanelA
    {
        public float At(float* a, int i) => a[i];
        public nint Step => MR;
    }

    /// <summary>A read in place through its strides.</summary>
    private readonly struct StridedA(nint rowStride, nint colStride) : IPanelA
    {
        public float At(float* a, int i) => a[i * rowStride];
        public nint Step => colStride;
    }

    /// <summary>Packs α·A[0..mc, 0..kc] into 12-row panels laid out k-major: panel[p·12 + i].</summary>
    private static void PackA(MatrixRef<float> a, int mc, int kc, float* dst, float alpha)
    {
        fixed (float* src0 = a.Data)
        {
            float* src = src0 + a.Offset;
            int rs = a.RowStride, cs = a.ColStride;
            for (int ir = 0; ir < mc; ir += MR)
            {
                int mr = Math.Min(MR, mc - ir);
                float* panel = dst + ir * kc;
                for (int i = 0; i < MR; i++)
                {
                    if (i >= mr)
                    {
                        for (int p = 0; p < kc; p++) panel[p * MR + i] = 0f;
                        continue;
                    }
                    float* row = src + (ir + i) * rs;
                    if (cs == 1) for (int p = 0; p < kc; p++) panel[p * MR + i] = alpha * row[p];
                    else for (int p = 0; p < kc; p++) panel[p * MR + i] = alpha * row[p * cs];
                }
            }
        }
    }

    /// <summary>Packs B[0..kc, 0..nc] into 32-column panels laid out k-major: panel[p·32 + j].</summary>
    private static void PackB(MatrixRef<float> b, int kc, int nc, float* dst)
    {
        fixed (float* src0 = b.Data)
        {
            float* src = src0 + b.Offset;
            int rs = b.RowStride, cs = b.ColStride;
            for (int jr = 0; jr < nc; jr += NR)
            {
                int nr = Math.Min(NR, nc - jr);
                float* panel = dst + jr * kc;
                if (cs == 1 && nr == NR)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* row = src + p * rs + jr;
                        Vector512.Store(Vector512.Load(row), panel + p * NR);
                        Vector512.Store(Vector512.Load(row + 16), panel + p * NR + 16);
                    }
                    continue;
                }
                if (rs == 1 && nr == NR)
                {
                    // Column-major source (a transposed view): 16×16 blocks transposed in registers,
                    // then the remaining depths column by column.
                    int blocked = Transpose16.IsSupported ? kc / 16 * 16 : 0;
                    for (int p = 0; p < blocked; p += 16)
                    {
                        Transpose16.Block(src + jr * cs + p, cs, panel + p * NR, NR);
                        Transpose16.Block(src + (jr + 16) * cs + p, cs, panel + p * NR + 16, NR);
                    }
                    for (int j = 0; j < NR; j++)
                    {
                        float* col = src + (jr + j) * cs;
                        for (int p = blocked; p < kc; p++) panel[p * NR + j] = col[p];
                    }
                    continue;
                }
                for (int p = 0; p < kc; p++)
                    for (int j = 0; j < NR; j++)
                        panel[p * NR + j] = j < nr ? src[p * rs + (jr + j) * cs] : 0f;
            }
        }
    }

    /// <summary>C[skip..mr, 0..nr] (+)= α·A·Bpanel over kc steps with a 12×32 register tile; rows before <paramref name="skip"/> are computed but not stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    private static void Kernel<TA>(TA panel, int kc, float* a, float* b, float* c, int ldc, int skip, int mr, int nr, bool overwrite, float alpha)
        where TA : struct, IPanelA
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default,
            c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> ai;
            ai = Vector512.Create(panel.At(a, 0)); c00 = Vector512.FusedMultiplyAdd(ai, b0, c00); c01 = Vector512.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector512.Create(panel.At(a, 1)); c10 = Vector512.FusedMultiplyAdd(ai, b0, c10); c11 = Vector512.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector512.Create(panel.At(a, 2)); c20 = Vector512.FusedMultiplyAdd(ai, b0, c20); c21 = Vector512.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector512.Create(panel.At(a, 3)); c30 = Vector512.FusedMultiplyAdd(ai, b0, c30); c31 = Vector512.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector512.Create(panel.At(a, 4)); c40 = Vector512.FusedMultiplyAdd(ai, b0, c40); c41 = Vector512.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector512.Create(panel.At(a, 5)); c50 = Vector512.FusedMultiplyAdd(ai, b0, c50); c51 = Vector512.FusedMultiplyAdd(ai, b1, c51);
            ai = Vector512.Create(panel.At(a, 6)); c60 = Vector512.FusedMultiplyAdd(ai, b0, c60); c61 = Vector512.FusedMultiplyAdd(ai, b1, c61);
            ai = Vector512.Create(panel.At(a, 7)); c70 = Vector512.FusedMultiplyAdd(ai, b0, c70); c71 = Vector512.FusedMultiplyAdd(ai, b1, c71);
            ai = Vector512.Create(panel.At(a, 8)); c80 = Vector512.FusedMultiplyAdd(ai, b0, c80); c81 = Vector512.FusedMultiplyAdd(ai, b1, c81);
            ai = Vector512.Create(panel.At(a, 9)); c90 = Vector512.FusedMultiplyAdd(ai, b0, c90); c91 = Vector512.FusedMultiplyAdd(ai, b1, c91);
            ai = Vector512.Create(panel.At(a, 10)); ca0 = Vector512.FusedMultiplyAdd(ai, b0, ca0); ca1 = Vector512.FusedMultiplyAdd(ai, b1, ca1);
            ai = Vector512.Create(panel.At(a, 11)); cb0 = Vector512.FusedMultiplyAdd(ai, b0, cb0); cb1 = Vector512.FusedMultiplyAdd(ai, b1, cb1);
            a += panel.Step;
            b += NR;
        }
        if (alpha != 1f)
        {
            var s = Vector512.Create(alpha);
            c00 *= s; c01 *= s; c10 *= s; c11 *= s; c20 *= s; c21 *= s; c30 *= s; c31 *= s;
            c40 *= s; c41 *= s; c50 *= s; c51 *= s; c60 *= s; c61 *= s; c70 *= s; c71 *= s;
            c80 *= s; c81 *= s; c90 *= s; c91 *= s; ca0 *= s; ca1 *= s; cb0 *= s; cb1 *= s;
        }
        if (mr == MR && nr == NR)
        {
            // A shifted last tile (skip > 0) leaves its first rows to the tile above.
            if (skip <= 0) Row(c + 0 * ldc, c00, c01, overwrite);
            if (skip <= 1) Row(c + 1 * ldc, c10, c11, overwrite);
            if (skip <= 2) Row(c + 2 * ldc, c20, c21, overwrite);
            if (skip <= 3) Row(c + 3 * ldc, c30, c31, overwrite);
            if (skip <= 4) Row(c + 4 * ldc, c40, c41, overwrite);
            if (skip <= 5) Row(c + 5 * ldc, c50, c51, overwrite);
            if (skip <= 6) Row(c + 6 * ldc, c60, c61, overwrite);
            if (skip <= 7) Row(c + 7 * ldc, c70, c71, overwrite);
            if (skip <= 8) Row(c + 8 * ldc, c80, c81, overwrite);
            if (skip <= 9) Row(c + 9 * ldc, c90, c91, overwrite);
            if (skip <= 10) Row(c + 10 * ldc, ca0, ca1, overwrite);
            Row(c + 11 * ldc, cb0, cb1, overwrite);
            return;
        }
        // Edge tile: spill the accumulators and copy the valid part.
        float* tile = stackalloc float[MR * NR];
        Spill(tile, 0, c00, c01); Spill(tile, 1, c10, c11); Spill(tile, 2, c20, c21); Spill(tile, 3, c30, c31);
        Spill(tile, 4, c40, c41); Spill(tile, 5, c50, c51); Spill(tile, 6, c60, c61); Spill(tile, 7, c70, c71);
        Spill(tile, 8, c80, c81); Spill(tile, 9, c90, c91); Spill(tile, 10, ca0, ca1); Spill(tile, 11, cb0, cb1);
        for (int i = skip; i < mr; i++)
            for (int j = 0; j < nr; j++)
                c[i * ldc + j] = overwrite ? tile[i * NR + j] : c[i * ldc + j] + tile[i * NR + j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* c, Vector512<float> v0, Vector512<float> v1, bool overwrite)
    {
        if (!overwrite)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
        }
        Vector512.Store(v0, c);
        Vector512.Store(v1, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Spill(float* tile, int row, Vector512<float> v0, Vector512<float> v1)
    {
        Vector512.Store(v0, tile + row * NR);
        Vector512.Store(v1, tile + row * NR + 16);
    }
}
