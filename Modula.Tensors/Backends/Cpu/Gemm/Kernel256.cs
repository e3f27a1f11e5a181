using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The AVX2 tile: 6 rows × 16 columns, 12 <c>Vector256</c> accumulators, two B vectors and one
/// broadcast of A (15 of 16 YMM registers), the classic Haswell-family shape. Twelve independent
/// accumulators cover the FMA latency (4–5 cycles) on two FMA pipes.
/// </summary>
internal readonly unsafe struct Kernel256 : IMicroKernel
{
    public static int MR => 6;
    public static int NR => 16;
    public static int Bits => 256;

    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void Run<TA>(TA panel, int kc, float* a, float* b, float* c, int ldc, int skip, int mr, int nr,
        bool overwrite, float alpha) where TA : struct, IPanelA
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            Vector256<float> ai;
            ai = Vector256.Create(panel.At(a, 0)); c00 = Fma(ai, b0, c00); c01 = Fma(ai, b1, c01);
            ai = Vector256.Create(panel.At(a, 1)); c10 = Fma(ai, b0, c10); c11 = Fma(ai, b1, c11);
            ai = Vector256.Create(panel.At(a, 2)); c20 = Fma(ai, b0, c20); c21 = Fma(ai, b1, c21);
            ai = Vector256.Create(panel.At(a, 3)); c30 = Fma(ai, b0, c30); c31 = Fma(ai, b1, c31);
            ai = Vector256.Create(panel.At(a, 4)); c40 = Fma(ai, b0, c40); c41 = Fma(ai, b1, c41);
            ai = Vector256.Create(panel.At(a, 5)); c50 = Fma(ai, b0, c50); c51 = Fma(ai, b1, c51);
            a += panel.Step;
            b += 16;
        }
        if (alpha != 1f)
        {
            var s = Vector256.Create(alpha);
            c00 *= s; c01 *= s; c10 *= s; c11 *= s; c20 *= s; c21 *= s;
            c30 *= s; c31 *= s; c40 *= s; c41 *= s; c50 *= s; c51 *= s;
        }
        if (mr == 6 && nr == 16)
        {
            // A shifted last tile (skip > 0) leaves its first rows to the tile above.
            if (skip <= 0) Row(c + 0 * ldc, c00, c01, overwrite);
            if (skip <= 1) Row(c + 1 * ldc, c10, c11, overwrite);
            if (skip <= 2) Row(c + 2 * ldc, c20, c21, overwrite);
            if (skip <= 3) Row(c + 3 * ldc, c30, c31, overwrite);
            if (skip <= 4) Row(c + 4 * ldc, c40, c41, overwrite);
            Row(c + 5 * ldc, c50, c51, overwrite);
            return;
        }
        float* tile = stackalloc float[6 * 16];
        Spill(tile, 0, c00, c01); Spill(tile, 1, c10, c11); Spill(tile, 2, c20, c21);
        Spill(tile, 3, c30, c31); Spill(tile, 4, c40, c41); Spill(tile, 5, c50, c51);
        MicroKernel.StoreEdge(tile, 16, c, ldc, skip, mr, nr, overwrite);
    }

    /// <summary>Two 8×8 register transposes per 8 depths (AVX), then the remaining depths one by one.</summary>
    public static void PackColumns(float* src, nint colStride, float* panel, int kc)
    {
        int blocked = Transpose8.IsSupported ? kc / 8 * 8 : 0;
        for (int p = 0; p < blocked; p += 8)
        {
            Transpose8.Block(src + p, colStride, panel + p * 16, 16);
            Transpose8.Block(src + 8 * colStride + p, colStride, panel + p * 16 + 8, 16);
        }
        MicroKernel.PackColumnsScalar(src, colStride, panel, kc, 16, blocked);
    }

    /// <summary>a·b + c, fused where the CPU has FMA (a software-emulated fused add would be far slower).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Vector256.MultiplyAddEstimate(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* c, Vector256<float> v0, Vector256<float> v1, bool overwrite)
    {
        if (!overwrite)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + 8);
        }
        Vector256.Store(v0, c);
        Vector256.Store(v1, c + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Spill(float* tile, int row, Vector256<float> v0, Vector256<float> v1)
    {
        Vector256.Store(v0, tile + row * 16);
        Vector256.Store(v1, tile + row * 16 + 8);
    }
}
