using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The AVX-512 tile: 12 rows × 32 columns, 24 <c>Vector512</c> accumulators, two B vectors and
/// one broadcast of A (27 of 32 ZMM registers). <see cref="Kernel512Short"/> is its 8-row form.
/// </summary>
internal readonly unsafe struct Kernel512 : IMicroKernel
{
    public static int MR => 12;
    public static int NR => 32;
    public static int Bits => 512;

    /// <summary>Reads a small row-major B in place, two cache lines per depth (<see
    /// cref="PackedGemm.InPlaceBFloats"/>).</summary>
    public static bool ReadsBInPlace => true;

    /// <summary>Has a quarter form, 8 columns of <c>Vector256</c> (<see cref="RunQuarter"/>).</summary>
    public static bool HasQuarter => true;

    public static int ACopies => 1;

    /// <summary>No short form: the 8-row tile is a tile of its own (<see cref="Kernel512Short"/>).</summary>
    public static int ShortMR => MR;

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
        RunRows<TwelveRows, TA, TColumns>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);

    /// <summary>
    /// The tile body for <typeparamref name="TRows"/> rows (8 or 12): rows 8 to 11 and their accumulators exist
    /// only in the 12-row build, as the JIT compiles each row count on its own.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    internal static void RunRows<TRows, TA, TColumns>(
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
        {
            RunQuarter<TRows, TA>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);
            return;
        }
        bool twelve = TRows.Count == 12;
        Vector512<float> c00 = default,
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
            c51 = default,
            c60 = default,
            c61 = default,
            c70 = default,
            c71 = default,
            c80 = default,
            c81 = default,
            c90 = default,
            c91 = default,
            ca0 = default,
            ca1 = default,
            cb0 = default,
            cb1 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = TColumns.Half ? b0 : Vector512.Load(b + 16);
            Vector512<float> ai;
            ai = Vector512.Create(*panel.Address(a, 0));
            c00 = Fma(ai, b0, c00);
            if (!TColumns.Half)
                c01 = Fma(ai, b1, c01);
            ai = Vector512.Create(*panel.Address(a, 1));
            c10 = Fma(ai, b0, c10);
            if (!TColumns.Half)
                c11 = Fma(ai, b1, c11);
            ai = Vector512.Create(*panel.Address(a, 2));
            c20 = Fma(ai, b0, c20);
            if (!TColumns.Half)
                c21 = Fma(ai, b1, c21);
            ai = Vector512.Create(*panel.Address(a, 3));
            c30 = Fma(ai, b0, c30);
            if (!TColumns.Half)
                c31 = Fma(ai, b1, c31);
            ai = Vector512.Create(*panel.Address(a, 4));
            c40 = Fma(ai, b0, c40);
            if (!TColumns.Half)
                c41 = Fma(ai, b1, c41);
            ai = Vector512.Create(*panel.Address(a, 5));
            c50 = Fma(ai, b0, c50);
            if (!TColumns.Half)
                c51 = Fma(ai, b1, c51);
            ai = Vector512.Create(*panel.Address(a, 6));
            c60 = Fma(ai, b0, c60);
            if (!TColumns.Half)
                c61 = Fma(ai, b1, c61);
            ai = Vector512.Create(*panel.Address(a, 7));
            c70 = Fma(ai, b0, c70);
            if (!TColumns.Half)
                c71 = Fma(ai, b1, c71);
            if (twelve)
            {
                ai = Vector512.Create(*panel.Address(a, 8));
                c80 = Fma(ai, b0, c80);
                if (!TColumns.Half)
                    c81 = Fma(ai, b1, c81);
                ai = Vector512.Create(*panel.Address(a, 9));
                c90 = Fma(ai, b0, c90);
                if (!TColumns.Half)
                    c91 = Fma(ai, b1, c91);
                ai = Vector512.Create(*panel.Address(a, 10));
                ca0 = Fma(ai, b0, ca0);
                if (!TColumns.Half)
                    ca1 = Fma(ai, b1, ca1);
                ai = Vector512.Create(*panel.Address(a, 11));
                cb0 = Fma(ai, b0, cb0);
                if (!TColumns.Half)
                    cb1 = Fma(ai, b1, cb1);
            }
            a += panel.Step;
            b += ldb;
        }
        if (alpha != 1f)
        {
            var s = Vector512.Create(alpha);
            c00 *= s;
            c01 *= s;
            c10 *= s;
            c11 *= s;
            c20 *= s;
            c21 *= s;
            c30 *= s;
            c31 *= s;
            c40 *= s;
            c41 *= s;
            c50 *= s;
            c51 *= s;
            c60 *= s;
            c61 *= s;
            c70 *= s;
            c71 *= s;
            if (twelve)
            {
                c80 *= s;
                c81 *= s;
                c90 *= s;
                c91 *= s;
                ca0 *= s;
                ca1 *= s;
                cb0 *= s;
                cb1 *= s;
            }
        }
        if (mr == TRows.Count && nr == (TColumns.Half ? 16 : 32))
        {
            // A shifted last tile (skip > 0) leaves its first rows to the tile above.
            if (skip <= 0)
                Row<TColumns>(c + 0 * ldc, c00, c01, overwrite);
            if (skip <= 1)
                Row<TColumns>(c + 1 * ldc, c10, c11, overwrite);
            if (skip <= 2)
                Row<TColumns>(c + 2 * ldc, c20, c21, overwrite);
            if (skip <= 3)
                Row<TColumns>(c + 3 * ldc, c30, c31, overwrite);
            if (skip <= 4)
                Row<TColumns>(c + 4 * ldc, c40, c41, overwrite);
            if (skip <= 5)
                Row<TColumns>(c + 5 * ldc, c50, c51, overwrite);
            if (skip <= 6)
                Row<TColumns>(c + 6 * ldc, c60, c61, overwrite);
            if (skip <= 7)
                Row<TColumns>(c + 7 * ldc, c70, c71, overwrite);
            if (twelve)
            {
                if (skip <= 8)
                    Row<TColumns>(c + 8 * ldc, c80, c81, overwrite);
                if (skip <= 9)
                    Row<TColumns>(c + 9 * ldc, c90, c91, overwrite);
                if (skip <= 10)
                    Row<TColumns>(c + 10 * ldc, ca0, ca1, overwrite);
                Row<TColumns>(c + 11 * ldc, cb0, cb1, overwrite);
            }
            return;
        }
        // Edge tile: spill the accumulators and copy the valid part.
        float* tile = stackalloc float[12 * 32];
        Spill(tile, 0, c00, c01);
        Spill(tile, 1, c10, c11);
        Spill(tile, 2, c20, c21);
        Spill(tile, 3, c30, c31);
        Spill(tile, 4, c40, c41);
        Spill(tile, 5, c50, c51);
        Spill(tile, 6, c60, c61);
        Spill(tile, 7, c70, c71);
        if (twelve)
        {
            Spill(tile, 8, c80, c81);
            Spill(tile, 9, c90, c91);
            Spill(tile, 10, ca0, ca1);
            Spill(tile, 11, cb0, cb1);
        }
        MicroKernel.StoreEdge(tile, 32, c, ldc, skip, mr, nr, overwrite);
    }

    /// <summary>
    /// The tile's left 8 columns, one <c>Vector256</c> per row: on Zen 4, whose 512-bit multiply-adds are two 256-bit
    /// halves, half the work of the left-half tile, for the tiles a symmetric product's diagonal crosses within 8
    /// columns (or within 8 past a left half). Each element is the same chain of multiply-adds as in the wider
    /// forms, so the results have the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    private static void RunQuarter<TRows, TA>(
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
    {
        bool twelve = TRows.Count == 12;
        Vector256<float> c0 = default,
            c1 = default,
            c2 = default,
            c3 = default,
            c4 = default,
            c5 = default,
            c6 = default,
            c7 = default,
            c8 = default,
            c9 = default,
            ca = default,
            cb = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 0)), b0, c0);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 1)), b0, c1);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 2)), b0, c2);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 3)), b0, c3);
            c4 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 4)), b0, c4);
            c5 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 5)), b0, c5);
            c6 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 6)), b0, c6);
            c7 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 7)), b0, c7);
            if (twelve)
            {
                c8 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 8)), b0, c8);
                c9 = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 9)), b0, c9);
                ca = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 10)), b0, ca);
                cb = Vector256.FusedMultiplyAdd(Vector256.Create(*panel.Address(a, 11)), b0, cb);
            }
            a += panel.Step;
            b += ldb;
        }
        if (alpha != 1f)
        {
            var s = Vector256.Create(alpha);
            (c0, c1, c2, c3, c4, c5, c6, c7) = (c0 * s, c1 * s, c2 * s, c3 * s, c4 * s, c5 * s, c6 * s, c7 * s);
            if (twelve)
                (c8, c9, ca, cb) = (c8 * s, c9 * s, ca * s, cb * s);
        }
        float* tile = stackalloc float[12 * 8];
        bool whole = mr == TRows.Count && nr == 8;
        // Rows go to C where the whole quarter is stored (a shifted last tile's first rows excepted, as they belong
        // to the tile above), else to the spill that the edge store copies from.
        float* target = whole ? c : tile;
        nint stride = whole ? ldc : 8;
        bool add = whole && !overwrite;
        int first = whole ? skip : 0;
        QuarterRow(target, stride, 0, first, c0, add);
        QuarterRow(target, stride, 1, first, c1, add);
        QuarterRow(target, stride, 2, first, c2, add);
        QuarterRow(target, stride, 3, first, c3, add);
        QuarterRow(target, stride, 4, first, c4, add);
        QuarterRow(target, stride, 5, first, c5, add);
        QuarterRow(target, stride, 6, first, c6, add);
        QuarterRow(target, stride, 7, first, c7, add);
        if (twelve)
        {
            QuarterRow(target, stride, 8, first, c8, add);
            QuarterRow(target, stride, 9, first, c9, add);
            QuarterRow(target, stride, 10, first, ca, add);
            QuarterRow(target, stride, 11, first, cb, add);
        }
        if (!whole)
            MicroKernel.StoreEdge(tile, 8, c, ldc, skip, mr, nr, overwrite);
    }

    // Row i of a quarter tile at target (rows stride floats apart), unless it lies before row first.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuarterRow(float* target, nint stride, int i, int first, Vector256<float> v, bool add)
    {
        if (i < first)
            return;
        float* row = target + i * stride;
        if (add)
            v += Vector256.Load(row);
        Vector256.Store(v, row);
    }

    /// <summary>Two 16×16 register transposes per 16 depths (AVX-512F), then the remaining depths one by one.</summary>
    public static void PackColumns(float* src, nint colStride, float* panel, int kc)
    {
        int blocked = Transpose16.IsSupported ? kc / 16 * 16 : 0;
        for (int p = 0; p < blocked; p += 16)
        {
            Transpose16.Block(src + p, colStride, panel + p * 32, 32);
            Transpose16.Block(src + 16 * colStride + p, colStride, panel + p * 32 + 16, 32);
        }
        MicroKernel.PackColumnsScalar(src, colStride, panel, kc, 32, blocked);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Vector512.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<TColumns>(float* c, Vector512<float> v0, Vector512<float> v1, bool overwrite)
        where TColumns : struct, ITileColumns
    {
        if (!overwrite)
            v0 += Vector512.Load(c);
        Vector512.Store(v0, c);
        if (TColumns.Half)
            return;
        if (!overwrite)
            v1 += Vector512.Load(c + 16);
        Vector512.Store(v1, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Spill(float* tile, int row, Vector512<float> v0, Vector512<float> v1)
    {
        Vector512.Store(v0, tile + row * 32);
        Vector512.Store(v1, tile + row * 32 + 16);
    }
}

/// <summary>
/// The 8-row AVX-512 tile, 8 × 32 (16 accumulators): <see cref="Kernel512"/>'s body without its last four rows.
/// <see cref="PackedGemm.Multiply"/> takes it where its computed elements, weighed by its cost per element, are
/// fewer (<see cref="PackedGemm.PrefersShortTile"/>): 5 or 64 rows everywhere, 100, 128 or 1024 rows where 512-bit
/// multiply-adds are two 256-bit halves, and most symmetric products, whose diagonal, crossed by tiles 8 columns at
/// a time, wastes less with 8-row steps.
/// </summary>
internal readonly unsafe struct Kernel512Short : IMicroKernel
{
    public static int MR => 8;
    public static int NR => Kernel512.NR;
    public static int Bits => Kernel512.Bits;
    public static bool ReadsBInPlace => Kernel512.ReadsBInPlace;
    public static bool HasQuarter => Kernel512.HasQuarter;
    public static int ACopies => 1;
    public static int ShortMR => MR;

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
        Kernel512.RunRows<EightRows, TA, TColumns>(panel, kc, a, b, ldb, c, ldc, skip, mr, nr, overwrite, alpha);

    /// <inheritdoc cref="Kernel512.PackColumns"/>
    public static void PackColumns(float* src, nint colStride, float* panel, int kc) =>
        Kernel512.PackColumns(src, colStride, panel, kc);
}

/// <summary>The 12 rows of <see cref="Kernel512"/>.</summary>
internal readonly struct TwelveRows : ITileRows
{
    public static int Count => 12;
}

/// <summary>The 8 rows of <see cref="Kernel512Short"/>.</summary>
internal readonly struct EightRows : ITileRows
{
    public static int Count => 8;
}
