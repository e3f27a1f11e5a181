using System.Numerics;
using System.Numerics.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void Reduce<TOp>(Tensor x, Tensor y, int outer, int reduce, int inner, TOp op)
        where TOp : struct, IReduceOp
    {
        if (x.DType == DType.Float32)
            Reduce<float, TOp>(x, y, outer, reduce, inner, op);
        else
            Reduce<double, TOp>(x, y, outer, reduce, inner, op);
    }

    private static void Reduce<T, TOp>(Tensor x, Tensor y, int outer, int reduce, int inner, TOp op)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : struct, IReduceOp
    {
        var xs = S(x);
        var ys = S(y);
        int xo = x.Offset,
            yo = y.Offset;
        long work = (long)outer * reduce * inner;
        if (inner == 1)
        {
            // Trailing reduction: each output is one contiguous row.
            CpuParallel.For(outer, work, (start, end) =>
            {
                for (long r = start; r < end; r++)
                    ys.Span<T>()[yo + (int)r] = op.Reduce<T>(xs.Span<T>().Slice(xo + (int)r * reduce, reduce));
            });
            return;
        }
        // Middle reduction: fold whole rows of length `inner` into the output row.
        CpuParallel.For(outer, work, (start, end) =>
        {
            for (long o = start; o < end; o++)
            {
                var acc = ys.Span<T>().Slice(yo + (int)o * inner, inner);
                acc.Fill(op.IdentityOf<T>());
                for (int r = 0; r < reduce; r++)
                    op.Accumulate<T>(xs.Span<T>().Slice(xo + ((int)o * reduce + r) * inner, inner), acc);
            }
        });
    }

    public void ArgMax(Tensor x, Tensor y, int outer, int reduce, int inner)
    {
        if (x.DType == DType.Float32)
            ArgMax<float>(x, y, outer, reduce, inner);
        else
            ArgMax<double>(x, y, outer, reduce, inner);
    }

    private static void ArgMax<T>(Tensor x, Tensor y, int outer, int reduce, int inner)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xs = S(x).Span<T>().Slice(x.Offset);
        var ys = S(y).Span<int>().Slice(y.Offset);
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
        {
            if (inner == 1)
            {
                ys[o] = TensorPrimitives.IndexOfMax(xs.Slice(o * reduce, reduce));
                continue;
            }
            int best = 0;
            T bestValue = xs[o * reduce * inner + i];
            for (int r = 1; r < reduce; r++)
            {
                T v = xs[(o * reduce + r) * inner + i];
                if (v > bestValue || (T.IsNaN(v) && !T.IsNaN(bestValue)))
                {
                    best = r;
                    bestValue = v;
                }
            }
            ys[o * inner + i] = best;
        }
    }
}
