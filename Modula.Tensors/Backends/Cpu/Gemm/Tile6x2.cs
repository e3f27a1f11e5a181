using System.Runtime.CompilerServices;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The register tile of the 16-register widths: 6 rows × 2 vectors, 12 accumulators, two B
/// vectors and one A value (in every lane, or in one on ARM64, which multiplies by a lane: <see
/// cref="IVectorOps{TVector}.ScalarFrom"/>): 15 of 16 XMM/YMM registers; ARM64 has 32. Twelve independent
/// accumulators cover the multiply-add latency (4–5 cycles) on two pipes. Used as 6×16 with AVX2
/// (<see cref="Kernel256"/>) and 6×8 at 128 bits (<see cref="Kernel128"/>, and over an A packed spread, loaded as
/// vectors: <see cref="Kernel128Spread"/>). Its 4-row form (eight accumulators, still
/// enough for two pipes) takes the rows 6 does not divide: 128 rows are twenty 6-row tiles and two 4-row ones, where a
/// shifted last 6-row tile would compute 132.
/// </summary>
internal static unsafe class Tile6x2<TVector, TOps>
    where TVector : struct
    where TOps : struct, IVectorOps<TVector>
{
    /// <summary>Rows of the tile's short form.</summary>
    public const int ShortRows = 4;

    /// <inheritdoc cref="IMicroKernel.Run"/>
    /// <remarks>Runs the 4-row form when <paramref name="mr"/> is at most 4.</remarks>
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
        where TColumns : struct, ITileColumns
    {
        if (mr <= ShortRows)
            RunRows<FourRows, TA, TColumns>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);
        else
            RunRows<SixRows, TA, TColumns>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);
    }

    /// <summary>The tile body for <typeparamref name="TRows"/> rows (4 or 6): rows 4 and 5 and their accumulators
    /// exist only in the 6-row build.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    private static void RunRows<TRows, TA, TColumns>(
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
        where TRows : struct, ITileRows
        where TA : struct, IPanelA
        where TColumns : struct, ITileColumns
    {
        if (TColumns.Quarter)
            throw new NotSupportedException("Tile6x2: no quarter form (IMicroKernel.HasQuarter is false).");
        int lanes = TOps.Lanes,
            nrFull = 2 * lanes;
        bool six = TRows.Count == 6;
        TVector c00 = default,
            c01 = default,
            c10 = default,
            c11 = default,
            c20 = default,
            c21 = default,
            c30 = default,
            c31 = default,
            c40 = default,
            c41 = default,
            c50 = default,
            c51 = default;
        // Four depths per trip: a quarter of the loop overhead (pointer bumps, compare, branch) per multiply-add, and
        // of the row offsets of A, which the JIT, short of registers, works out again on each trip. Against two
        // depths per trip, 128³ ran 1.7–2.4 % faster on one core at AVX2, 512³ 1.6 % (Intel Xeon, family 6, model
        // 207, alternating in one process). The depths add in order either way: the same bits.
        // The step is read once: in the loop the JIT, out of inlining budget in this long body, called its getter
        // for a packed panel, and every call spilled the twelve accumulators (all vector registers are the caller's
        // to save).
        nint step = panel.Step;
        int p = 0;
        for (; p + 3 < kc; p += 4)
        {
            Depth<TRows, TA, TColumns>(
                panel,
                a,
                b,
                lanes,
                ref c00,
                ref c01,
                ref c10,
                ref c11,
                ref c20,
                ref c21,
                ref c30,
                ref c31,
                ref c40,
                ref c41,
                ref c50,
                ref c51
            );
            Depth<TRows, TA, TColumns>(
                panel,
                a + step,
                b + ldb,
                lanes,
                ref c00,
                ref c01,
                ref c10,
                ref c11,
                ref c20,
                ref c21,
                ref c30,
                ref c31,
                ref c40,
                ref c41,
                ref c50,
                ref c51
            );
            Depth<TRows, TA, TColumns>(
                panel,
                a + 2 * step,
                b + 2 * ldb,
                lanes,
                ref c00,
                ref c01,
                ref c10,
                ref c11,
                ref c20,
                ref c21,
                ref c30,
                ref c31,
                ref c40,
                ref c41,
                ref c50,
                ref c51
            );
            Depth<TRows, TA, TColumns>(
                panel,
                a + 3 * step,
                b + 3 * ldb,
                lanes,
                ref c00,
                ref c01,
                ref c10,
                ref c11,
                ref c20,
                ref c21,
                ref c30,
                ref c31,
                ref c40,
                ref c41,
                ref c50,
                ref c51
            );
            a += 4 * step;
            b += 4 * ldb;
        }
        for (; p < kc; p++)
        {
            Depth<TRows, TA, TColumns>(
                panel,
                a,
                b,
                lanes,
                ref c00,
                ref c01,
                ref c10,
                ref c11,
                ref c20,
                ref c21,
                ref c30,
                ref c31,
                ref c40,
                ref c41,
                ref c50,
                ref c51
            );
            a += step;
            b += ldb;
        }
        if (alpha != 1f)
        {
            var s = TOps.Broadcast(alpha);
            c00 = TOps.Multiply(c00, s);
            c01 = TOps.Multiply(c01, s);
            c10 = TOps.Multiply(c10, s);
            c11 = TOps.Multiply(c11, s);
            c20 = TOps.Multiply(c20, s);
            c21 = TOps.Multiply(c21, s);
            c30 = TOps.Multiply(c30, s);
            c31 = TOps.Multiply(c31, s);
            if (six)
            {
                c40 = TOps.Multiply(c40, s);
                c41 = TOps.Multiply(c41, s);
                c50 = TOps.Multiply(c50, s);
                c51 = TOps.Multiply(c51, s);
            }
        }
        if (mr == TRows.Count && nr == (TColumns.Half ? lanes : nrFull))
        {
            // A shifted last tile (skip > 0) leaves its first rows to the tile above.
            if (skip <= 0)
                Row<TColumns>(c + 0 * ldc, c00, c01, overwrite);
            if (skip <= 1)
                Row<TColumns>(c + 1 * ldc, c10, c11, overwrite);
            if (skip <= 2)
                Row<TColumns>(c + 2 * ldc, c20, c21, overwrite);
            if (!six)
            {
                Row<TColumns>(c + 3 * ldc, c30, c31, overwrite);
                return;
            }
            if (skip <= 3)
                Row<TColumns>(c + 3 * ldc, c30, c31, overwrite);
            if (skip <= 4)
                Row<TColumns>(c + 4 * ldc, c40, c41, overwrite);
            Row<TColumns>(c + 5 * ldc, c50, c51, overwrite);
            return;
        }
        // Edge tile: spill the accumulators (at most 6 × 16 floats) and copy the valid part.
        float* tile = stackalloc float[6 * 16];
        Spill(tile, nrFull, 0, c00, c01);
        Spill(tile, nrFull, 1, c10, c11);
        Spill(tile, nrFull, 2, c20, c21);
        Spill(tile, nrFull, 3, c30, c31);
        if (six)
        {
            Spill(tile, nrFull, 4, c40, c41);
            Spill(tile, nrFull, 5, c50, c51);
        }
        MicroKernel.StoreEdge(tile, nrFull, c, ldc, skip, mr, nr, overwrite);
    }

    /// <summary>One depth of the tile: the six rows' A values times the two B vectors, added to the
    /// accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Depth<TRows, TA, TColumns>(
        TA panel,
        float* a,
        float* b,
        int lanes,
        ref TVector c00,
        ref TVector c01,
        ref TVector c10,
        ref TVector c11,
        ref TVector c20,
        ref TVector c21,
        ref TVector c30,
        ref TVector c31,
        ref TVector c40,
        ref TVector c41,
        ref TVector c50,
        ref TVector c51
    )
        where TRows : struct, ITileRows
        where TA : struct, IPanelA
        where TColumns : struct, ITileColumns
    {
        var b0 = TOps.Load(b);
        var b1 = TColumns.Half ? b0 : TOps.Load(b + lanes);
        RowDepth<TA, TColumns>(panel, a, 0, b0, b1, ref c00, ref c01);
        RowDepth<TA, TColumns>(panel, a, 1, b0, b1, ref c10, ref c11);
        RowDepth<TA, TColumns>(panel, a, 2, b0, b1, ref c20, ref c21);
        RowDepth<TA, TColumns>(panel, a, 3, b0, b1, ref c30, ref c31);
        if (TRows.Count != 6)
            return;
        RowDepth<TA, TColumns>(panel, a, 4, b0, b1, ref c40, ref c41);
        RowDepth<TA, TColumns>(panel, a, 5, b0, b1, ref c50, ref c51);
    }

    /// <summary>Row i at one depth: its A value times the B vectors, added to its accumulators. The value is one
    /// float spread by <see cref="IVectorOps{TVector}.ScalarFrom"/>, or a vector a spread panel holds, which each
    /// multiply reads from memory (<see cref="IVectorOps{TVector}.MultiplyAddSpread"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowDepth<TA, TColumns>(
        TA panel,
        float* a,
        int i,
        TVector b0,
        TVector b1,
        ref TVector c0,
        ref TVector c1
    )
        where TA : struct, IPanelA
        where TColumns : struct, ITileColumns
    {
        if (panel.Spread)
        {
            // The address written out for each multiply rather than held in a local: the JIT then reads each value
            // through the panel's register and a constant offset, where from a local it first formed the address
            // with a separate lea, six a depth.
            c0 = TOps.MultiplyAddSpread(b0, panel.Address(a, i), c0);
            if (!TColumns.Half)
                c1 = TOps.MultiplyAddSpread(b1, panel.Address(a, i), c1);
            return;
        }
        var ai = TOps.ScalarFrom(panel.Address(a, i));
        c0 = TOps.MultiplyAddScalar(b0, ai, c0);
        if (!TColumns.Half)
            c1 = TOps.MultiplyAddScalar(b1, ai, c1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<TColumns>(float* c, TVector v0, TVector v1, bool overwrite)
        where TColumns : struct, ITileColumns
    {
        if (!overwrite)
            v0 = TOps.Add(v0, TOps.Load(c));
        TOps.Store(v0, c);
        if (TColumns.Half)
            return;
        if (!overwrite)
            v1 = TOps.Add(v1, TOps.Load(c + TOps.Lanes));
        TOps.Store(v1, c + TOps.Lanes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Spill(float* tile, int nrFull, int row, TVector v0, TVector v1)
    {
        TOps.Store(v0, tile + row * nrFull);
        TOps.Store(v1, tile + row * nrFull + TOps.Lanes);
    }
}

/// <summary>The 6 rows of <see cref="Tile6x2{TVector, TOps}"/>.</summary>
internal readonly struct SixRows : ITileRows
{
    public static int Count => 6;
}

/// <summary>The 4 rows of the short form of <see cref="Tile6x2{TVector, TOps}"/>.</summary>
internal readonly struct FourRows : ITileRows
{
    public static int Count => 4;
}
