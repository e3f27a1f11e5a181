using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The 128-bit tile of x86 CPUs without AVX (SSE up to 4.2): <see cref="Kernel128"/>'s 6 × 8 over an A packed with
/// each value four times, in the four lanes of a vector (<see cref="ACopies"/>). SSE has no broadcasting load, so
/// the plain tile spreads each A value with a load and a shuffle: six shuffles per depth on the ports that its twelve
/// multiplies and twelve adds need (no FMA either). Here each value is one load. A packed block of A holds four
/// times the floats per depth, so blocks are a quarter as deep (<see cref="PackedGemm{TKernel}"/>).
/// </summary>
internal readonly unsafe struct Kernel128Spread : IMicroKernel
{
    /// <summary>
    /// True on the CPUs this tile is for: x86 with SSE and without AVX. Told to report no AVX, an Intel Xeon (family 6,
    /// model 207) ran products of 96 columns or more 4–10 % faster with this tile, and so does AMD's Zen 4 now.
    /// AMD's cores had taken the plain tile, on figures that two faults of this tile's code distorted: its loop, over
    /// the packed A it always reads, called the panel's step getter (the JIT, out of inlining budget, spilled the
    /// twelve accumulators around each call), and each spread value was loaded apart from its multiplies (<see
    /// cref="IVectorOps{TVector}.MultiplyAddSpread"/>). With both mended, on Zen 4 (family 25, model 17; one thread and
    /// two, alternating in one process) this tile took 0.91–0.94 of the plain tile's time on 768 × 128 × 128 (B
    /// transposed or not), 0.93–0.95 on 128³ and 512 × 128 × 128, 0.82–0.85 on 768 × 512 × 128 (B transposed or not),
    /// 0.86–0.92 on 128 × 512 × 768 (A transposed), 0.93–0.96 on 768 × 128 × 512 and 0.86–0.87 on 1024³; 128 × 128 ×
    /// 768 with A transposed, which the plain tile reads in place, was even (0.99–1.04). Zen 5 has not been timed
    /// since. Every figure is from a current core told to report no AVX: no CPU that lacks AVX (AMD's K10 and Bobcat,
    /// Intel's older Atoms and Pentiums) has been timed.
    /// </summary>
    public static bool IsChosen { get; } = Sse.IsSupported && !Avx.IsSupported;

    /// <summary>True when the driver takes this tile for an m × n product on <paramref name="threads"/> threads:
    /// where <see cref="IsChosen"/>, for products with <see cref="HasColumnsEnough"/>.</summary>
    public static bool Takes(int m, int n, int threads, bool symmetric) =>
        IsChosen && HasColumnsEnough(m, n, threads, symmetric);

    /// <summary>
    /// True when the parts of an m × n product on <paramref name="threads"/> threads have at least <see
    /// cref="MinColumns"/> columns per row of A, whatever the CPU. One wider than tall splits its columns over the
    /// threads, and each part packs all of A; a <paramref name="symmetric"/> one computes half its columns, on
    /// average, per row.
    /// </summary>
    internal static bool HasColumnsEnough(int m, int n, int threads, bool symmetric)
    {
        int columns =
            symmetric ? n / 2
            : n > m ? n / Math.Max(1, threads)
            : n;
        return columns >= MinColumns;
    }

    /// <summary>
    /// The fewest columns of a product this tile takes. Spreading A costs a 16-byte store per value where <see
    /// cref="Kernel128"/> reads A where it lies, and saves a shuffle per value and panel of 8 columns. On Zen 4 told
    /// to report no AVX (one thread, alternating in one process), this tile took 0.82–0.90 of the plain tile's time
    /// from 64 columns up (64³, 64 × 64 × 32 with B transposed, 128 × 64 × 128, 65 × 65 × 128, 96 × 128 × 128) and
    /// 0.93–0.96 on symmetric 128 × 128 products (64 columns a row on average), but 0.95–1.02 at 32 columns (64 × 32
    /// × 64, 128 × 32 × 128). In the dualized step's profile at SSE4.2 its symmetric 128 × 128 products took 4–5 %
    /// less time than with the plain tile. An Intel Xeon (family 6, model 207) had set the threshold at 96 columns
    /// with both of the faults <see cref="IsChosen"/> names in this tile's code: then it ran 64³ in 21.8–22.1 µs
    /// against 21.0–21.7, 128 × 64 × 128 in 86 against 81 and 128 × 32 × 128 in 52–54 against 41–42.
    /// </summary>
    public const int MinColumns = 64;

    public static int MR => Kernel128.MR;
    public static int NR => Kernel128.NR;
    public static int Bits => Kernel128.Bits;
    public static bool ReadsBInPlace => Kernel128.ReadsBInPlace;
    public static bool HasQuarter => Kernel128.HasQuarter;
    public static int ACopies => 4;
    public static int ShortMR => Kernel128.ShortMR;

    // Kernel128's tile: the panel type (IPanelA.Spread) makes it load A's values as vectors.
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
        Kernel128.Run<TA, TColumns>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);

    public static void PackColumns(float* src, nint colStride, float* panel, int kc) =>
        Kernel128.PackColumns(src, colStride, panel, kc);
}
