using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>The AVX2 tile: 6 rows × 16 columns of <c>Vector256</c> (<see cref="Tile6x2{TVector, TOps}"/>).</summary>
internal readonly unsafe struct Kernel256 : IMicroKernel
{
    public static int MR => 6;
    public static int NR => 16;
    public static int Bits => 256;

    /// <summary>Packed, unless B's rows spread over the L1 sets (<see
    /// cref="PackedGemm{TKernel}.RowsSpreadOverCacheSets"/>): read in place, its one-line panels ran up to 27 % slower
    /// on Zen 4.</summary>
    public static bool ReadsBInPlace => false;

    /// <summary>No quarter form: a quarter of its columns is less than a vector.</summary>
    public static bool HasQuarter => false;

    public static int ACopies => 1;

    /// <summary>The short form: 4 rows (<see cref="Tile6x2{TVector, TOps}"/>).</summary>
    public static int ShortMR => Tile6x2<Vector256<float>, Ops256>.ShortRows;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TA, TColumns>(
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
        where TColumns : struct, ITileColumns =>
        Tile6x2<Vector256<float>, Ops256>.Run<TA, TColumns>(
            panel,
            kc,
            a,
            b,
            ldb,
            c,
            ldc,
            skip,
            mr,
            nr,
            overwrite,
            alpha
        );

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
}
