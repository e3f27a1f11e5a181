using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// A 4×4 float block transposed in 128-bit registers, for CPUs without AVX: SSE's unpacks and half moves on x86,
/// AdvSimd's zips on ARM64. Rows 2i and 2i + 1 are interleaved, then the interleaved pairs' halves joined, so element
/// (i, j) ends at (j, i). <see cref="Transpose8"/> builds its 8×8 block from four of these where AVX is missing.
/// </summary>
internal static unsafe class Transpose4
{
    public static bool IsSupported => Sse.IsSupported || AdvSimd.Arm64.IsSupported;

    /// <summary>dst[j·dstStride + i] = src[i·srcStride + j] for i, j &lt; 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Block(float* src, nint srcStride, float* dst, nint dstStride)
    {
        var r0 = Vector128.Load(src);
        var r1 = Vector128.Load(src + srcStride);
        var r2 = Vector128.Load(src + 2 * srcStride);
        var r3 = Vector128.Load(src + 3 * srcStride);
        // (a0 b0 a1 b1), (a2 b2 a3 b3), (c0 d0 c1 d1), (c2 d2 c3 d3).
        var (t0, t1, t2, t3) = (ZipLow(r0, r1), ZipHigh(r0, r1), ZipLow(r2, r3), ZipHigh(r2, r3));
        // Column j: the pair (a_j b_j) from one interleaving and (c_j d_j) from the other.
        LowHalves(t0, t2).Store(dst);
        HighHalves(t0, t2).Store(dst + dstStride);
        LowHalves(t1, t3).Store(dst + 2 * dstStride);
        HighHalves(t1, t3).Store(dst + 3 * dstStride);
    }

    // (x0 y0 x1 y1).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ZipLow(Vector128<float> x, Vector128<float> y) =>
        Sse.IsSupported ? Sse.UnpackLow(x, y) : AdvSimd.Arm64.ZipLow(x, y);

    // (x2 y2 x3 y3).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ZipHigh(Vector128<float> x, Vector128<float> y) =>
        Sse.IsSupported ? Sse.UnpackHigh(x, y) : AdvSimd.Arm64.ZipHigh(x, y);

    // x's low half, then y's.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> LowHalves(Vector128<float> x, Vector128<float> y) =>
        Sse.IsSupported ? Sse.MoveLowToHigh(x, y) : AdvSimd.Arm64.ZipLow(x.AsUInt64(), y.AsUInt64()).AsSingle();

    // x's high half, then y's.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> HighHalves(Vector128<float> x, Vector128<float> y) =>
        Sse.IsSupported ? Sse.MoveHighToLow(y, x) : AdvSimd.Arm64.ZipHigh(x.AsUInt64(), y.AsUInt64()).AsSingle();
}
