using System.Numerics;
using System.Numerics.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void CenterRows(Tensor x, Tensor y, int length)
    {
        if (x.DType == DType.Float32)
            CenterRows<float>(x, y, length);
        else
            CenterRows<double>(x, y, length);
    }

    private static void CenterRows<T>(Tensor x, Tensor y, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (xs, ys) = (S(x), S(y));
        int xo = x.Offset,
            yo = y.Offset;
        CpuParallel.For(y.Size / length, (long)y.Size * 2, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                var row = xs.Span<T>().Slice(xo + (int)r * length, length);
                TensorPrimitives.Subtract(row, RowMean.Of<T>(row), ys.Span<T>().Slice(yo + (int)r * length, length));
            }
        });
    }

    public void RmsNormalizeRows(Tensor x, Tensor y, Tensor inverse, int length, bool center)
    {
        if (x.DType == DType.Float32)
            RmsNormalizeRows<float>(x, y, inverse, length, center);
        else
            RmsNormalizeRows<double>(x, y, inverse, length, center);
    }

    // Centering writes x − mean(x) into y and normalizes y in place: the same arithmetic as CenterRows followed by
    // the plain form, in one visit per row.
    private static void RmsNormalizeRows<T>(Tensor x, Tensor y, Tensor inverse, int length, bool center)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (xs, ys, rs) = (S(x), S(y), S(inverse));
        int xo = x.Offset,
            yo = y.Offset,
            ro = inverse.Offset;
        var n = T.CreateTruncating(length);
        var tinyMeanSquare = T.CreateTruncating(
            typeof(T) == typeof(float) ? RmsRescue.MeanSquareFloat32 : RmsRescue.MeanSquareFloat64
        );
        CpuParallel.For(y.Size / length, (long)y.Size * 2, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                ReadOnlySpan<T> row = xs.Span<T>().Slice(xo + (int)r * length, length);
                var output = ys.Span<T>().Slice(yo + (int)r * length, length);
                if (center)
                {
                    TensorPrimitives.Subtract(row, RowMean.Of<T>(row), output);
                    row = output;
                }
                var squares = RowSums.SumOfSquares<T>(row);
                if (
                    !(squares / n >= tinyMeanSquare && T.IsFinite(squares))
                    && T.Abs(TensorPrimitives.MaxMagnitude<T>(row)) is var largest
                    && T.IsFinite(largest)
                    && largest != T.Zero
                )
                {
                    // The squares overflowed (values past about 1e19 in float32) or some may have fallen below the
                    // normal range, losing bits (values below about 1e-19): normalize the row scaled to a largest
                    // magnitude of 1, whose squares fit. A row of subnormals too: its output is exact to rounding,
                    // though r itself, past the dtype's range (float32: about 3.4e38), may be +∞.
                    TensorPrimitives.Divide(row, largest, output);
                    var scaled = T.One / T.Sqrt(RowSums.SumOfSquares<T>(output) / n);
                    rs.Span<T>()[ro + (int)r] = scaled / largest;
                    TensorPrimitives.Multiply(output, scaled, output);
                    continue;
                }
                var inv = T.One / T.Sqrt(squares / n);
                rs.Span<T>()[ro + (int)r] = inv;
                TensorPrimitives.Multiply(row, inv, output);
            }
        });
    }

    public void RmsNormalizeRowsBackward(
        Tensor g,
        Tensor y,
        Tensor inverse,
        Tensor dx,
        int length,
        bool center,
        bool accumulate
    )
    {
        if (y.DType == DType.Float32)
            RmsNormalizeRowsBackward<float>(g, y, inverse, dx, length, center, accumulate);
        else
            RmsNormalizeRowsBackward<double>(g, y, inverse, dx, length, center, accumulate);
    }

    private static void RmsNormalizeRowsBackward<T>(
        Tensor g,
        Tensor y,
        Tensor inverse,
        Tensor dx,
        int length,
        bool center,
        bool accumulate
    )
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (gs, ys, rs, ds) = (S(g), S(y), S(inverse), S(dx));
        int go = g.Offset,
            yo = y.Offset,
            ro = inverse.Offset,
            dO = dx.Offset;
        var n = T.CreateTruncating(length);
        CpuParallel.For(y.Size / length, (long)y.Size * 3, (start, end) =>
        {
            // Accumulating: each row is formed in a scratch row, then added (the arithmetic of a separate add).
            var scratch = accumulate ? System.Buffers.ArrayPool<T>.Shared.Rent(length) : null;
            try
            {
                for (long r = start; r < end; r++)
                {
                    int at = (int)r * length;
                    var gr = gs.Span<T>().Slice(go + at, length);
                    var yr = ys.Span<T>().Slice(yo + at, length);
                    var output = ds.Span<T>().Slice(dO + at, length);
                    var d = scratch is null ? output : scratch.AsSpan(0, length);
                    TensorPrimitives.MultiplyAdd(yr, -RowSums.Dot<T>(gr, yr) / n, gr, d); // g − y·mean(g⊙y)
                    TensorPrimitives.Multiply(d, rs.Span<T>()[ro + (int)r], d);
                    if (center)
                        TensorPrimitives.Subtract(d, RowMean.Of<T>(d), d);
                    if (scratch is not null)
                        TensorPrimitives.Add(output, d, output);
                }
            }
            finally
            {
                if (scratch is not null)
                    System.Buffers.ArrayPool<T>.Shared.Return(scratch);
            }
        });
    }
}
