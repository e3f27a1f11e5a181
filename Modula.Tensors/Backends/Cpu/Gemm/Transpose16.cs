using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// A 16×16 float block transposed in registers. Packing a column-major operand otherwise moves
/// one float per load and store, which costs an attention head's q·kᵀ a third of its time; here
/// the 16 rows are loaded as vectors and four rounds of two-source permutes each swap one bit
/// (1, 2, 4, 8) of the row and column index, so element (i, j) ends at (j, i). Where 512-bit permutes are split
/// over 256-bit units, the block is four 8 × 8 AVX transposes instead (<see cref="InQuarters"/>).
/// </summary>
internal static unsafe class Transpose16
{
    public static bool IsSupported => Avx512F.IsSupported;

    /// <summary>
    /// True when <see cref="Block"/> transposes the four 8 × 8 quarters with <see cref="Transpose8"/> rather than the
    /// whole block in AVX-512 registers: on CPUs whose 512-bit vectors run as two 256-bit halves (<see
    /// cref="PackedGemm.WideVectorsSplit"/>), where each two-source 512-bit permute takes both halves' shuffle units.
    /// On one core of a Zen 4 EPYC (family 25, model 17) the quarters packed a 32 × 768 column-major panel in 1.7 µs
    /// against 3.5, and mirrored a 128 × 128 symmetric product in 0.8 µs against 1.7. Tests set it to run both forms.
    /// </summary>
    internal static bool InQuarters { get; set; } = PackedGemm.WideVectorsSplit;

    /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for i, j &lt; 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(float* src, nint srcStride, float* dst, nint dstStride)
    {
        if (InQuarters)
        {
            Transpose8.Block(src, srcStride, dst, dstStride);
            Transpose8.Block(src + 8, srcStride, dst + 8 * dstStride, dstStride);
            Transpose8.Block(src + 8 * srcStride, srcStride, dst + 8, dstStride);
            Transpose8.Block(src + 8 * srcStride + 8, srcStride, dst + 8 * dstStride + 8, dstStride);
            return;
        }
        var r0 = Vector512.Load(src);
        var r1 = Vector512.Load(src + srcStride);
        var r2 = Vector512.Load(src + 2 * srcStride);
        var r3 = Vector512.Load(src + 3 * srcStride);
        var r4 = Vector512.Load(src + 4 * srcStride);
        var r5 = Vector512.Load(src + 5 * srcStride);
        var r6 = Vector512.Load(src + 6 * srcStride);
        var r7 = Vector512.Load(src + 7 * srcStride);
        var r8 = Vector512.Load(src + 8 * srcStride);
        var r9 = Vector512.Load(src + 9 * srcStride);
        var ra = Vector512.Load(src + 10 * srcStride);
        var rb = Vector512.Load(src + 11 * srcStride);
        var rc = Vector512.Load(src + 12 * srcStride);
        var rd = Vector512.Load(src + 13 * srcStride);
        var re = Vector512.Load(src + 14 * srcStride);
        var rf = Vector512.Load(src + 15 * srcStride);
        var (low, high) = (Indices.Low1, Indices.High1);
        Swap(ref r0, ref r1, low, high);
        Swap(ref r2, ref r3, low, high);
        Swap(ref r4, ref r5, low, high);
        Swap(ref r6, ref r7, low, high);
        Swap(ref r8, ref r9, low, high);
        Swap(ref ra, ref rb, low, high);
        Swap(ref rc, ref rd, low, high);
        Swap(ref re, ref rf, low, high);
        (low, high) = (Indices.Low2, Indices.High2);
        Swap(ref r0, ref r2, low, high);
        Swap(ref r1, ref r3, low, high);
        Swap(ref r4, ref r6, low, high);
        Swap(ref r5, ref r7, low, high);
        Swap(ref r8, ref ra, low, high);
        Swap(ref r9, ref rb, low, high);
        Swap(ref rc, ref re, low, high);
        Swap(ref rd, ref rf, low, high);
        (low, high) = (Indices.Low4, Indices.High4);
        Swap(ref r0, ref r4, low, high);
        Swap(ref r1, ref r5, low, high);
        Swap(ref r2, ref r6, low, high);
        Swap(ref r3, ref r7, low, high);
        Swap(ref r8, ref rc, low, high);
        Swap(ref r9, ref rd, low, high);
        Swap(ref ra, ref re, low, high);
        Swap(ref rb, ref rf, low, high);
        (low, high) = (Indices.Low8, Indices.High8);
        Swap(ref r0, ref r8, low, high);
        Swap(ref r1, ref r9, low, high);
        Swap(ref r2, ref ra, low, high);
        Swap(ref r3, ref rb, low, high);
        Swap(ref r4, ref rc, low, high);
        Swap(ref r5, ref rd, low, high);
        Swap(ref r6, ref re, low, high);
        Swap(ref r7, ref rf, low, high);
        r0.Store(dst);
        r1.Store(dst + dstStride);
        r2.Store(dst + 2 * dstStride);
        r3.Store(dst + 3 * dstStride);
        r4.Store(dst + 4 * dstStride);
        r5.Store(dst + 5 * dstStride);
        r6.Store(dst + 6 * dstStride);
        r7.Store(dst + 7 * dstStride);
        r8.Store(dst + 8 * dstStride);
        r9.Store(dst + 9 * dstStride);
        ra.Store(dst + 10 * dstStride);
        rb.Store(dst + 11 * dstStride);
        rc.Store(dst + 12 * dstStride);
        rd.Store(dst + 13 * dstStride);
        re.Store(dst + 14 * dstStride);
        rf.Store(dst + 15 * dstStride);
    }

    /// <summary>Rows i and i + b (bit b of i clear): swaps the lanes where the row's and the column's bit b
    /// differ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Swap(
        ref Vector512<float> upper,
        ref Vector512<float> lower,
        Vector512<int> low,
        Vector512<int> high
    )
    {
        var (u, l) = (upper, lower);
        upper = Avx512F.PermuteVar16x32x2(u, low, l);
        lower = Avx512F.PermuteVar16x32x2(u, high, l);
    }

    /// <summary>
    /// Permute indices per round b: lane j of the upper row keeps its own lane j where bit b of j
    /// is clear, else takes the lower row's lane j − b (index 16 + j − b); the lower row takes the
    /// upper's lane j + b, or keeps its own lane j (16 + j).
    /// </summary>
    private static class Indices
    {
        public static readonly Vector512<int> Low1 = Make(1, low: true),
            High1 = Make(1, low: false);
        public static readonly Vector512<int> Low2 = Make(2, low: true),
            High2 = Make(2, low: false);
        public static readonly Vector512<int> Low4 = Make(4, low: true),
            High4 = Make(4, low: false);
        public static readonly Vector512<int> Low8 = Make(8, low: true),
            High8 = Make(8, low: false);

        private static Vector512<int> Make(int b, bool low)
        {
            Span<int> lanes = stackalloc int[16];
            for (int j = 0; j < 16; j++)
                lanes[j] = (j & b) == 0 ? (low ? j : j + b) : (low ? 16 + j - b : 16 + j);
            return Vector512.Create<int>(lanes);
        }
    }
}
