using System.Buffers;
using System.Numerics;
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
                    ys.Span<T>()[yo + (int)r] = ReduceRow(xs.Span<T>().Slice(xo + (int)r * reduce, reduce), op);
            });
            return;
        }
        // Middle reduction: fold whole rows of length `inner` into the output row, in a pairwise tree of blocks of
        // rows (FoldRows) when there are many: one running row would drift as a one-pass sum does (ReduceBlock).
        int depth = 0;
        while ((long)FoldBlock << depth < reduce)
            depth++;
        CpuParallel.For(outer, work, (start, end) =>
        {
            var spare = depth > 0 ? ArrayPool<T>.Shared.Rent(depth * inner) : null;
            try
            {
                for (long o = start; o < end; o++)
                {
                    var acc = ys.Span<T>().Slice(yo + (int)o * inner, inner);
                    acc.Fill(op.IdentityOf<T>());
                    var rows = xs.Span<T>().Slice(xo + (int)o * reduce * inner, reduce * inner);
                    FoldRows(rows, inner, 0, reduce, acc, spare.AsSpan(0, depth * inner), op);
                }
            }
            finally
            {
                if (spare is not null)
                    ArrayPool<T>.Shared.Return(spare);
            }
        });
    }

    /// <summary>Rows a middle reduction adds one after another before it pairs results (<see
    /// cref="FoldRows"/>).</summary>
    private const int FoldBlock = 64;

    // into ← combine(into, rows[begin..end)) (rows `inner` long): blocks of FoldBlock rows in turn, halves of longer
    // ranges folded apart and combined, so the error grows with the logarithm of the count. Each level of the tree
    // takes its partial result from the next `inner` elements of `spare`.
    private static void FoldRows<T, TOp>(
        ReadOnlySpan<T> rows,
        int inner,
        int begin,
        int end,
        Span<T> into,
        Span<T> spare,
        TOp op
    )
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : struct, IReduceOp
    {
        if (end - begin <= FoldBlock)
        {
            for (int r = begin; r < end; r++)
                op.Accumulate<T>(rows.Slice(r * inner, inner), into);
            return;
        }
        int middle = begin + (end - begin) / 2;
        FoldRows(rows, inner, begin, middle, into, spare, op);
        var other = spare[..inner];
        other.Fill(op.IdentityOf<T>());
        FoldRows(rows, inner, middle, end, other, spare[inner..], op);
        op.Accumulate<T>(other, into);
    }

    /// <summary>
    /// Rows longer than this are reduced in blocks of <see cref="PartBlock"/> elements, whose results are reduced again
    /// in float64 (sum of sums, norm of norms, max of maxima). One pass over 10⁸ float32 values drifts by about 1 %
    /// (the running sums grow until each new element loses most of its bits). Shorter rows keep the one-pass result,
    /// and so does a float32 norm of any length, which sums in float64 (<see cref="NormReduce"/>).
    /// </summary>
    private const int ReduceBlock = 4096;

    /// <summary>Elements per block of a long row: at 128-bit lanes a block of 4096 still ran 1024 additions deep in
    /// each lane, 1.3·10⁻⁵ off on 10⁷ elements; 512 keeps every width's error near 10⁻⁶.</summary>
    private const int PartBlock = 512;

    private static T ReduceRow<T, TOp>(ReadOnlySpan<T> row, TOp op)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : struct, IReduceOp
    {
        // A float32 norm sums in float64 (NormReduce), which one pass over any row keeps near float32's last bit.
        if (row.Length <= ReduceBlock || (typeof(TOp) == typeof(NormReduce) && typeof(T) == typeof(float)))
            return op.Reduce<T>(row);
        int blocks = (row.Length + PartBlock - 1) / PartBlock;
        var partials = ArrayPool<double>.Shared.Rent(blocks);
        try
        {
            for (int b = 0; b < blocks; b++)
            {
                int begin = b * PartBlock;
                var part = op.Reduce<T>(row.Slice(begin, Math.Min(PartBlock, row.Length - begin)));
                partials[b] = double.CreateTruncating(part);
            }
            return T.CreateTruncating(op.Reduce<double>(partials.AsSpan(0, blocks)));
        }
        finally
        {
            ArrayPool<double>.Shared.Return(partials);
        }
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
        // One comparison for every layout, as on the GPU: the first of the largest values, −0 and +0 tied (the
        // library call TensorPrimitives.IndexOfMax ranks +0 above −0), a NaN above every number.
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
        {
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
