using System.Numerics;
using System.Numerics.Tensors;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    // Rows are short (attention: one per query, as long as the context), so each is finished
    // while it sits in L1: scale, max, shift, exp, sum and divide in one visit.

    public void SoftmaxRows(Tensor x, Tensor y, int length, double scale, bool causal)
    {
        if (x.DType == DType.Float32) SoftmaxRows<float>(x, y, length, scale, causal);
        else SoftmaxRows<double>(x, y, length, scale, causal);
    }

    private static void SoftmaxRows<T>(Tensor x, Tensor y, int length, double scale, bool causal) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (xs, ys) = (S(x), S(y));
        int xo = x.Offset, yo = y.Offset, rows = y.Size / length;
        var z = T.CreateTruncating(scale);
        CpuParallel.For(rows, (long)y.Size * 4, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                int valid = causal ? (int)(r % length) + 1 : length;
                var row = ys.Span<T>().Slice(yo + (int)r * length, length);
                var kept = row[..valid];
                TensorPrimitives.Multiply(xs.Span<T>().Slice(xo + (int)r * length, valid), z, kept);
                TensorPrimitives.Subtract(kept, TensorPrimitives.Max<T>(kept), kept);
                TensorPrimitives.Exp<T>(kept, kept);
                TensorPrimitives.Divide(kept, TensorPrimitives.Sum<T>(kept), kept);
                row[valid..].Clear();
            }
        });
    }

    public void SoftmaxRowsBackward(Tensor g, Tensor y, Tensor dx, int length, double scale)
    {
        if (y.DType == DType.Float32) SoftmaxRowsBackward<float>(g, y, dx, length, scale);
        else SoftmaxRowsBackward<double>(g, y, dx, length, scale);
    }

    private static void SoftmaxRowsBackward<T>(Tensor g, Tensor y, Tensor dx, int length, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (gs, ys, ds) = (S(g), S(y), S(dx));
        int go = g.Offset, yo = y.Offset, dO = dx.Offset, rows = y.Size / length;
        var z = T.CreateTruncating(scale);
        CpuParallel.For(rows, (long)y.Size * 3, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                int at = (int)r * length;
                var gr = gs.Span<T>().Slice(go + at, length);
                var yr = ys.Span<T>().Slice(yo + at, length);
                var d = ds.Span<T>().Slice(dO + at, length);
                TensorPrimitives.Subtract(gr, TensorPrimitives.Dot<T>(gr, yr), d);
                TensorPrimitives.Multiply(d, yr, d);
                if (scale != 1) TensorPrimitives.Multiply(d, z, d);
            }
        });
    }
}
