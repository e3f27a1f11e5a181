using System.Runtime.CompilerServices;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// One register tile of the packed GEMM: C[MR × NR] (+)= α·A[MR × kc]·B[kc × NR] with A read through <see
/// cref="IPanelA"/> and B as NR floats per depth, ldb floats from one depth to the next (NR for a packed panel, B's
/// row stride for one read in place). Each vector width has its own tile, sized so the accumulators, the B vectors
/// and one broadcast of A fill the register file without spilling (32 × 512-bit, 16 × 256-bit, 16 × 128-bit
/// registers).
/// The driver (<see cref="PackedGemm{TKernel}"/>) is generic over this interface, so the JIT
/// specializes it per tile with MR and NR as constants.
/// </summary>
internal unsafe interface IMicroKernel
{
    /// <summary>Rows of the register tile.</summary>
    static abstract int MR { get; }

    /// <summary>Columns of the register tile (a whole number of vectors).</summary>
    static abstract int NR { get; }

    /// <summary>The vector width in bits this tile is written for.</summary>
    static abstract int Bits { get; }

    /// <summary>True when the driver reads any small row-major B in place for this tile instead of packing it,
    /// whatever its row stride; false when it does so only for rows that spread over the cache's sets (<see
    /// cref="PackedGemm{TKernel}.ReadsBInPlace"/>).</summary>
    static abstract bool ReadsBInPlace { get; }

    /// <summary>True when the tile has a <see cref="LeftQuarter"/> form.</summary>
    static abstract bool HasQuarter { get; }

    /// <summary>
    /// Copies of each value of A in a packed panel: 1, or a vector's lanes for a tile that loads A's values already
    /// spread over the lanes (<see cref="Kernel128Spread"/>). Such a tile always packs A (<see
    /// cref="PackedGemm{TKernel}.ReadsAInPlace"/>).
    /// </summary>
    static abstract int ACopies { get; }

    /// <summary>Rows of the tile's short form, which <see cref="Run"/> takes when asked for at most that many rows;
    /// MR when it has none. The driver covers rows that MR does not divide with short tiles where they compute fewer
    /// rows than a shifted whole one (<see cref="PackedGemm{TKernel}.TileRows"/>).</summary>
    static abstract int ShortMR { get; }

    /// <summary>
    /// C[skip..mr, 0..nr] (+)= α·A·B over kc depths; rows before <paramref name="skip"/> are
    /// computed but not stored (a shifted last tile), and mr &lt; MR or nr &lt; NR store only that corner. With mr at
    /// most <see cref="ShortMR"/> the short form computes ShortMR rows.
    /// <typeparamref name="TColumns"/> <see cref="LeftHalf"/> computes only the left NR/2 columns (then nr ≤ NR/2),
    /// <see cref="LeftQuarter"/> only the left NR/4 (nr ≤ NR/4; only where <see cref="HasQuarter"/>).
    /// </summary>
    static abstract void Run<TA, TColumns>(
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
        where TColumns : struct, ITileColumns;

    /// <summary>
    /// Packs NR columns of a column-major source (column j at <c>src + j·colStride</c>, depths
    /// contiguous) into a k-major panel: <c>panel[p·NR + j] = src[j·colStride + p]</c> for p &lt; kc.
    /// </summary>
    static abstract void PackColumns(float* src, nint colStride, float* panel, int kc);
}

/// <summary>
/// The columns of the register tile a run computes, as a type so the JIT compiles each variant without the others'
/// work: all NR, the left NR/2 (one vector per row), or the left NR/4 (half a vector, in tiles that have that form:
/// <see cref="IMicroKernel.HasQuarter"/>). The narrow forms serve the tiles a symmetric product's diagonal crosses,
/// whose columns right of it would be thrown away, and an ordinary product's narrow last panel.
/// </summary>
internal interface ITileColumns
{
    /// <summary>True for the left half only.</summary>
    static abstract bool Half { get; }

    /// <summary>True for the left quarter only.</summary>
    static abstract bool Quarter { get; }
}

/// <summary>The row count of a tile body (<see cref="Kernel512"/>'s 12 or 8, <see cref="Tile6x2{TVector, TOps}"/>'s 6
/// or 4), as a type so that the JIT compiles each count without the other's rows.</summary>
internal interface ITileRows
{
    /// <summary>Rows of the tile.</summary>
    static abstract int Count { get; }
}

/// <summary>The whole register tile.</summary>
internal readonly struct AllColumns : ITileColumns
{
    public static bool Half => false;
    public static bool Quarter => false;
}

/// <summary>The left NR/2 columns of the register tile.</summary>
internal readonly struct LeftHalf : ITileColumns
{
    public static bool Half => true;
    public static bool Quarter => false;
}

/// <summary>The left NR/4 columns of the register tile.</summary>
internal readonly struct LeftQuarter : ITileColumns
{
    public static bool Half => false;
    public static bool Quarter => true;
}

/// <summary>How a micro-kernel reads the MR values of A at one depth: the address of element i of the current column,
/// and the step to the next depth. (An address rather than a value, so a tile can load it straight from memory into
/// the form its multiply-add takes: see <see cref="IVectorOps{TVector}.ScalarFrom"/>.)</summary>
internal unsafe interface IPanelA
{
    float* Address(float* a, int i);
    nint Step { get; }

    /// <summary>True when <see cref="Address"/> holds the value in each of a vector's lanes: a tile loads it as a
    /// vector rather than broadcasting one float. Such an address is always on a 16-byte boundary (the packing buffer
    /// starts on a line, and panels, depths and rows lie whole vectors apart), which SSE's folded loads require (<see
    /// cref="IVectorOps{TVector}.MultiplyAddSpread"/>).</summary>
    bool Spread { get; }
}

/// <summary>A packed panel: the MR values of a depth are contiguous (each <see cref="IMicroKernel.ACopies"/> times),
/// depths MR values apart.</summary>
internal readonly unsafe struct PackedA<TKernel> : IPanelA
    where TKernel : struct, IMicroKernel
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Address(float* a, int i) => a + i * TKernel.ACopies;

    public nint Step
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.MR * TKernel.ACopies;
    }

    public bool Spread
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TKernel.ACopies > 1;
    }
}

/// <summary>A read in place through its strides.</summary>
internal readonly unsafe struct StridedA(nint rowStride, nint colStride) : IPanelA
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Address(float* a, int i) => a + i * rowStride;

    public nint Step
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => colStride;
    }

    public bool Spread => false;
}

/// <summary>Shared pieces of the micro-kernels: the scalar column pack and the edge-tile store.</summary>
internal static unsafe class MicroKernel
{
    /// <summary>The column pack one float at a time: the fallback where no register transpose exists.</summary>
    public static void PackColumnsScalar(float* src, nint colStride, float* panel, int kc, int nr, int from = 0)
    {
        for (int j = 0; j < nr; j++)
        {
            float* col = src + j * colStride;
            for (int p = from; p < kc; p++)
                panel[p * nr + j] = col[p];
        }
    }

    /// <summary>Copies rows skip..mr, columns 0..nr of a spilled tile (row length <paramref name="nrFull"/>) into
    /// C.</summary>
    public static void StoreEdge(float* tile, int nrFull, float* c, int ldc, int skip, int mr, int nr, bool overwrite)
    {
        for (int i = skip; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = overwrite ? tile[i * nrFull + j] : c[i * ldc + j] + tile[i * nrFull + j];
    }
}
