using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The 128-bit tile (ARM64 AdvSimd; x86 with AVX but not AVX2, and without AVX where the spread tile does not take
/// the product: <see cref="Kernel128Spread"/>): 6 rows × 8 columns of <c>Vector128</c>
/// (<see cref="Tile6x2{TVector, TOps}"/>); it fits SSE's 16 registers and leaves half of ARM64's
/// 32 free.
/// </summary>
internal readonly unsafe struct Kernel128 : IMicroKernel
{
    public static int MR => 6;
    public static int NR => 8;
    public static int Bits => 128;

    /// <summary>Packed unless B's rows spread over the L1 sets, as for the 256-bit tile.</summary>
    public static bool ReadsBInPlace => false;

    /// <summary>No quarter form: a quarter of its columns is less than a vector.</summary>
    public static bool HasQuarter => false;

    public static int ACopies => 1;

    /// <summary>The short form: 4 rows (<see cref="Tile6x2{TVector, TOps}"/>).</summary>
    public static int ShortMR => Tile6x2<Vector128<float>, Ops128>.ShortRows;

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
        Tile6x2<Vector128<float>, Ops128>.Run<TA, TColumns>(
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

    /// <summary>Column by column: eight columns are short enough that a register transpose gains little.</summary>
    public static void PackColumns(float* src, nint colStride, float* panel, int kc) =>
        MicroKernel.PackColumnsScalar(src, colStride, panel, kc, 8);
}
