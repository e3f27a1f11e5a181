using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    // Cross-entropy row by row: each row's softmax is formed in a scratch row while it sits in L1,
    // forward for the loss and again backward for the gradient (no [rows, C] probabilities kept).

    public void CrossEntropyRows(Tensor logits, Tensor labels, Tensor losses, int classes, double scale)
    {
        if (logits.DType == DType.Float32)
            CrossEntropyRows<float>(logits, labels, losses, classes, scale);
        else
            CrossEntropyRows<double>(logits, labels, losses, classes, scale);
    }

    private static void CrossEntropyRows<T>(Tensor logits, Tensor labels, Tensor losses, int classes, double scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (xs, ls, ys) = (S(logits), S(labels), S(losses));
        int xo = logits.Offset,
            lo = labels.Offset,
            yo = losses.Offset;
        var z = T.CreateTruncating(scale);
        CpuParallel.For(losses.Size, (long)logits.Size * 4, (start, end) =>
        {
            var scratch = ArrayPool<T>.Shared.Rent(classes);
            try
            {
                for (long r = start; r < end; r++)
                {
                    var row = xs.Span<T>().Slice(xo + (int)r * classes, classes);
                    var shift = ShiftedExp(row, z, scratch.AsSpan(0, classes), out var total);
                    int label = ls.Span<int>()[lo + (int)r];
                    ys.Span<T>()[yo + (int)r] = T.Log(total) - shift.Argument(row[label], z);
                }
            }
            finally
            {
                ArrayPool<T>.Shared.Return(scratch);
            }
        });
    }

    public void CrossEntropyRowsBackward(
        Tensor logits,
        Tensor labels,
        Tensor upstream,
        Tensor dx,
        int classes,
        double scale,
        double factor
    )
    {
        if (logits.DType == DType.Float32)
            CrossEntropyRowsBackward<float>(logits, labels, upstream, dx, classes, scale, factor);
        else
            CrossEntropyRowsBackward<double>(logits, labels, upstream, dx, classes, scale, factor);
    }

    private static void CrossEntropyRowsBackward<T>(
        Tensor logits,
        Tensor labels,
        Tensor upstream,
        Tensor dx,
        int classes,
        double scale,
        double factor
    )
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (xs, ls, ds) = (S(logits), S(labels), S(dx));
        int xo = logits.Offset,
            lo = labels.Offset,
            dO = dx.Offset;
        var z = T.CreateTruncating(scale);
        // d loss_r / d x = z·(softmax(z·x) − onehot), times the upstream value and the caller's factor.
        var coefficient = S(upstream).Span<T>()[upstream.Offset] * T.CreateTruncating(factor) * z;
        CpuParallel.For(dx.Size / classes, (long)dx.Size * 4, (start, end) =>
        {
            for (long r = start; r < end; r++)
            {
                var row = xs.Span<T>().Slice(xo + (int)r * classes, classes);
                var d = ds.Span<T>().Slice(dO + (int)r * classes, classes);
                ShiftedExp(row, z, d, out var total);
                TensorPrimitives.Multiply(d, coefficient / total, d);
                d[ls.Span<int>()[lo + (int)r]] -= coefficient;
            }
        });
    }

    /// <summary>e = exp(z·x − max(z·x)) into <paramref name="e"/>, or exp(z·(x − a)) for a row whose scaled values
    /// overflow (<see cref="OverflowAnchor"/>); returns which, and sets the sum of e.</summary>
    private static RowShift<T> ShiftedExp<T>(ReadOnlySpan<T> x, T z, Span<T> e, out T total)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TensorPrimitives.Multiply(x, z, e);
        var max = TensorPrimitives.Max<T>(e);
        var shift = OverflowAnchor(x, z, max, out var anchor) ? new RowShift<T>(anchor, true) : new(max, false);
        if (shift.Anchored)
            AnchoredArguments(x, z, anchor, e);
        else
            TensorPrimitives.Subtract(e, max, e);
        TensorPrimitives.Exp<T>(e, e);
        total = RowSums.Sum<T>(e);
        return shift;
    }

    /// <summary>How ShiftedExp shifted a row: by the maximum of z·x, or (<see cref="Anchored"/>) by z times the
    /// anchor x.</summary>
    private readonly record struct RowShift<T>(T Value, bool Anchored)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>The exponent e holds for a logit x.</summary>
        public T Argument(T x, T z) => Anchored ? z * (x - Value) : z * x - Value;
    }
}
