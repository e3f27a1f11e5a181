using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// An 8×8 float block transposed in AVX registers, for packing a column-major operand into the
/// 256-bit tile's panels: unpacks interleave row pairs, shuffles gather 4-element column pieces
/// within 128-bit lanes, and lane permutes join the halves, so element (i, j) ends at (j, i). Without AVX (SSE
/// alone, ARM64) the block is four 4×4 blocks of <see cref="Transpose4"/> (<see cref="InFours"/>).
/// </summary>
internal static unsafe class Transpose8
{
    public static bool IsSupported => Avx.IsSupported || Transpose4.IsSupported;

    /// <summary>
    /// True when <see cref="Block"/> transposes four 4×4 quarters in 128-bit registers: always where the CPU has no
    /// AVX, and where tests ask for it. On SSE4.2 alone (a Zen 4 told to hide AVX) a 128 × 128 symmetric product's
    /// mirror took 1.1–1.2 µs in such blocks against 5.5 element by element.
    /// </summary>
    internal static bool InFours
    {
        get => _inFours || !Avx.IsSupported;
        set => _inFours = value;
    }

    private static bool _inFours;

    /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for i, j &lt; 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(float* src, nint srcStride, float* dst, nint dstStride)
    {
        if (InFours)
        {
            Transpose4.Block(src, srcStride, dst, dstStride);
            Transpose4.Block(src + 4, srcStride, dst + 4 * dstStride, dstStride);
            Transpose4.Block(src + 4 * srcStride, srcStride, dst + 4, dstStride);
            Transpose4.Block(src + 4 * srcStride + 4, srcStride, dst + 4 * dstStride + 4, dstStride);
            return;
        }
        var r0 = Avx.LoadVector256(src);
        var r1 = Avx.LoadVector256(src + srcStride);
        var r2 = Avx.LoadVector256(src + 2 * srcStride);
        var r3 = Avx.LoadVector256(src + 3 * srcStride);
        var r4 = Avx.LoadVector256(src + 4 * srcStride);
        var r5 = Avx.LoadVector256(src + 5 * srcStride);
        var r6 = Avx.LoadVector256(src + 6 * srcStride);
        var r7 = Avx.LoadVector256(src + 7 * srcStride);
        // Rows 2i and 2i + 1 interleaved: (a0 b0 a1 b1 | a4 b4 a5 b5) and (a2 b2 a3 b3 | a6 b6 a7 b7).
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        // Four rows' column j within each 128-bit lane: (a0 b0 c0 d0 | a4 b4 c4 d4), …
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Low lanes of rows 0–3 and 4–7 give columns 0–3; high lanes give columns 4–7.
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }
}
