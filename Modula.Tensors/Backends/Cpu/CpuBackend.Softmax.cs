using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    // Rows are short (attention: one per query, as long as the context), so each is finished
    // while it sits in L1. When the row length is a whole number of vectors, a row is three vector
    // sweeps (scale and max, exp and sum, divide) instead of five library calls, whose fixed cost
    // dominates rows of a few dozen keys; masked keys enter the sweeps as −∞, so they come out 0, and the
    // divide sweep sets them to 0 again for rows whose visible keys are not finite.

    public void SoftmaxRows(Tensor x, Tensor y, int length, double scale, bool causal)
    {
        if (x.DType == DType.Float32)
            SoftmaxRows<float>(x, y, length, scale, causal);
        else
            SoftmaxRows<double>(x, y, length, scale, causal);
    }

    private static void SoftmaxRows<T>(Tensor x, Tensor y, int length, double scale, bool causal)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (xs, ys) = (S(x), S(y));
        int xo = x.Offset,
            yo = y.Offset,
            rows = y.Size / length;
        var z = T.CreateTruncating(scale);
        bool whole = length % Vector<T>.Count == 0;
        CpuParallel.For(rows, (long)y.Size * 4, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                int valid = causal ? (int)(r % length) + 1 : length;
                var input = xs.Span<T>().Slice(xo + (int)r * length, length);
                var row = ys.Span<T>().Slice(yo + (int)r * length, length);
                if (whole)
                    SoftmaxRow(input, row, valid, z);
                else
                    SoftmaxRowByCalls(input, row, valid, z);
            }
        });
    }

    /// <summary>y[..valid] = softmax(z·x[..valid]), y[valid..] = 0, in whole vectors (length a multiple of the lane
    /// count).</summary>
    /// <remarks>Compiled optimized from the first call: unoptimized vector code is ~50× slower, and a training step's
    /// first calls would wait for tiering.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SoftmaxRow<T>(ReadOnlySpan<T> x, Span<T> y, int valid, T z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector<T>.Count,
            used = (valid + lanes - 1) / lanes * lanes;
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        var scale = Vector.Create(z);
        var negativeInfinity = Vector.Create(T.NegativeInfinity);
        var max = negativeInfinity;
        for (int i = 0; i < used; i += lanes)
        {
            var v = Vector.LoadUnsafe(ref xr, (nuint)i) * scale;
            if (i + lanes > valid)
                v = Vector.ConditionalSelect(KeptLanes<T>(valid - i), v, negativeInfinity);
            v.StoreUnsafe(ref yr, (nuint)i);
            max = Vector.Max(max, v);
        }
        var top = HorizontalMax(max);
        if (OverflowAnchor(x[..valid], z, top, out var anchor))
        {
            SoftmaxRowAnchored(x, y, valid, z, anchor);
            return;
        }
        var shift = Vector.Create(top);
        // Exponentials of x·z less the row's largest: never positive (a masked lane's −∞ included), so float32 rows
        // take ExpLanes rather than the runtime's float64 route. A NaN or a scaled +∞ among the visible keys, or only
        // −∞ logits, makes every visible argument NaN or −∞ and the sum 0 or NaN (ExpLanes may give 0 for a NaN
        // argument), so each visible probability is NaN, as before; a −∞ among finite keys is an ordinary 0. (Finite
        // logits whose scaled values overflow took the anchored row above.)
        var sum = Vector<T>.Zero;
        for (int i = 0; i < used; i += lanes)
        {
            var e = ExpLanes.OfNonPositive(Vector.LoadUnsafe(ref yr, (nuint)i) - shift);
            e.StoreUnsafe(ref yr, (nuint)i);
            sum += e;
        }
        // A long row sums again, in float64 lanes (RowSums).
        var total = Vector.Create(RowSums.Widens<T>(valid) ? RowSums.Sum<T>(y[..valid]) : Vector.Sum(sum));
        for (int i = 0; i < used; i += lanes)
        {
            var p = Vector.LoadUnsafe(ref yr, (nuint)i) / total;
            // A masked lane holds exp(−∞ − max): 0, or 0 or NaN when the max is NaN or −∞ (the argument is NaN), and
            // its quotient by a NaN or zero sum is NaN: it is set to 0, as masked keys are whatever the visible ones
            // hold.
            if (i + lanes > valid)
                p = Vector.ConditionalSelect(KeptLanes<T>(valid - i), p, Vector<T>.Zero);
            p.StoreUnsafe(ref yr, (nuint)i);
        }
        y[used..].Clear();
    }

    /// <summary>The same row for any length, through the library's span calls.</summary>
    private static void SoftmaxRowByCalls<T>(ReadOnlySpan<T> x, Span<T> y, int valid, T z)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kept = y[..valid];
        TensorPrimitives.Multiply(x[..valid], z, kept);
        var top = TensorPrimitives.Max<T>(kept);
        if (OverflowAnchor(x[..valid], z, top, out var anchor))
            AnchoredArguments(x[..valid], z, anchor, kept);
        else
            TensorPrimitives.Subtract(kept, top, kept);
        NormalizeExponentials(y, valid);
    }

    /// <summary>
    /// The anchor of a row whose scaled values overflow. z·x is ±∞ for a finite x past the dtype's range over |z|
    /// (float32 logits near 10³⁸ at z = 10), and exp(z·x − max z·x) would then take ∞ − ∞. Such a row takes
    /// exp(z·(x − a)) instead, with a its largest x (its smallest for z &lt; 0), whose arguments are never positive.
    /// False, keeping the row's IEEE result, when the scaled maximum is finite (every ordinary row: its bits are
    /// unchanged), or when the anchor is not finite: a NaN, or an infinite x that z·x makes +∞. (A −∞ logit at z = 0
    /// anchors, and gives NaN, 0·∞, as the plain row would.)
    /// </summary>
    private static bool OverflowAnchor<T>(ReadOnlySpan<T> x, T z, T scaledMax, out T anchor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        anchor = T.Zero;
        if (T.IsFinite(scaledMax) || x.IsEmpty)
            return false;
        anchor = z >= T.Zero ? TensorPrimitives.Max(x) : TensorPrimitives.Min(x);
        return T.IsFinite(anchor);
    }

    /// <summary>y[..valid] = softmax of z·x from exp(z·(x − anchor)) (<see cref="OverflowAnchor"/>), y[valid..] =
    /// 0.</summary>
    private static void SoftmaxRowAnchored<T>(ReadOnlySpan<T> x, Span<T> y, int valid, T z, T anchor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        AnchoredArguments(x[..valid], z, anchor, y[..valid]);
        NormalizeExponentials(y, valid);
    }

    /// <summary>e = z·(x − anchor): the exponents of a row anchored by <see cref="OverflowAnchor"/>, never
    /// positive.</summary>
    private static void AnchoredArguments<T>(ReadOnlySpan<T> x, T z, T anchor, Span<T> e)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TensorPrimitives.Subtract(x, anchor, e);
        TensorPrimitives.Multiply(e, z, e);
    }

    /// <summary>y[..valid] = exp(y[..valid]) over its sum, y[valid..] = 0.</summary>
    private static void NormalizeExponentials<T>(Span<T> y, int valid)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var kept = y[..valid];
        TensorPrimitives.Exp<T>(kept, kept);
        TensorPrimitives.Divide(kept, RowSums.Sum<T>(kept), kept);
        y[valid..].Clear();
    }

    /// <summary>All-ones lanes below <paramref name="count"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> KeptLanes<T>(int count)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Vector.LessThan(Vector<T>.Indices, Vector.Create(T.CreateTruncating(count)));

    private static T HorizontalMax<T>(Vector<T> v)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T max = v[0];
        for (int i = 1; i < Vector<T>.Count; i++)
            max = T.Max(max, v[i]);
        return max;
    }

    /// <summary>One sweep of whole vectors: dx = ((g − dot)⊙y)·scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SoftmaxRowBackward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> y, Span<T> dx, T dot, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (vdot, vz) = (Vector.Create(dot), Vector.Create(scale));
        for (int i = 0; i < dx.Length; i += Vector<T>.Count)
            ((Vector.Create<T>(g[i..]) - vdot) * Vector.Create<T>(y[i..]) * vz).CopyTo(dx[i..]);
    }

    public void SoftmaxRowsBackward(Tensor g, Tensor y, Tensor dx, int length, double scale)
    {
        if (y.DType == DType.Float32)
            SoftmaxRowsBackward<float>(g, y, dx, length, scale);
        else
            SoftmaxRowsBackward<double>(g, y, dx, length, scale);
    }

    private static void SoftmaxRowsBackward<T>(Tensor g, Tensor y, Tensor dx, int length, double scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (gs, ys, ds) = (S(g), S(y), S(dx));
        int go = g.Offset,
            yo = y.Offset,
            dO = dx.Offset,
            rows = y.Size / length;
        var z = T.CreateTruncating(scale);
        bool whole = length % Vector<T>.Count == 0;
        CpuParallel.For(rows, (long)y.Size * 3, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                int at = (int)r * length;
                var gr = gs.Span<T>().Slice(go + at, length);
                var yr = ys.Span<T>().Slice(yo + at, length);
                var d = ds.Span<T>().Slice(dO + at, length);
                var dot = RowSums.Dot<T>(gr, yr);
                if (whole)
                {
                    SoftmaxRowBackward(gr, yr, d, dot, z);
                    continue;
                }
                TensorPrimitives.Subtract(gr, dot, d);
                TensorPrimitives.Multiply(d, yr, d);
                if (scale != 1)
                    TensorPrimitives.Multiply(d, z, d);
            }
        });
    }
}
