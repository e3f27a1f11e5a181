using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// Numerically stable softmax of scale·x along <paramref name="axis"/>, as one rule (forward
    /// and backward without intermediate graph nodes): y = e^(z − max z)/Σ e^(z − max z) with
    /// z = scale·x; dx = scale·y⊙(g − Σ g⊙y). Entries of −∞ (masked) get y = 0 and no gradient.
    /// Along the last axis each row is one fused pass (<see cref="Ops.Softmax(Tensor, double, bool)"/>).
    /// </summary>
    public static Variable Softmax(Variable x, int axis = -1, double scale = 1)
    {
        if (Shape.NormalizeAxis(axis, x.Shape.Rank) == x.Shape.Rank - 1) return RowSoftmax(x, scale, causal: false);
        using var z = scale == 1 ? null : Ops.Mul(x.Value, scale);
        var (shifted, e, total) = ShiftedExp(z ?? x.Value, axis);
        using (shifted)
        using (e)
        using (total)
        {
            var y = Ops.Div(e, total);
            return Variable.FromOp(y, [x], g =>
            {
                using var gy = Ops.Mul(g, y);
                using var dot = Ops.Sum(gy, [axis], keepDim: true);
                using var centered = Ops.Sub(g, dot);
                var dx = Ops.Mul(centered, y);
                if (scale == 1) { g.Send(x, dx); return; }
                using (dx) g.Send(x, Ops.Mul(dx, scale));
            });
        }
    }

    /// <summary>
    /// Softmax of scale·scores along the last axis with a causal mask: scores [..., T, T] of
    /// queries × keys, key j &gt; query i gets weight 0 (decoder attention), in one fused pass per row.
    /// </summary>
    public static Variable CausalSoftmax(Variable scores, double scale = 1) => RowSoftmax(scores, scale, causal: true);

    private static Variable RowSoftmax(Variable x, double scale, bool causal)
    {
        (x, var factor) = x.Unscaled();
        scale *= factor;
        var y = Ops.Softmax(x.Value, scale, causal);
        return Variable.FromOp(y, [x], g => g.Send(x, Ops.SoftmaxBackward(g, y, scale)));
    }

    /// <summary>
    /// Numerically stable log-softmax along <paramref name="axis"/>, as one rule:
    /// y = (x − max) − log Σ e^(x − max); dx = g − e^y·Σ g.
    /// </summary>
    public static Variable LogSoftmax(Variable x, int axis = -1)
    {
        var (shifted, e, total) = ShiftedExp(x.Value, axis);
        using (shifted)
        using (e)
        using (total)
        using (var logTotal = Ops.Log(total))
        {
            var y = Ops.Sub(shifted, logTotal);
            return Variable.FromOp(y, [x], g =>
            {
                using var sum = Ops.Sum(g, [axis], keepDim: true);
                using var p = Ops.Exp(y);
                using var share = Ops.Mul(p, sum);
                g.Send(x, Ops.Sub(g, share));
            });
        }
    }

    /// <summary>x − max, its exponential, and the sum of that along <paramref name="axis"/> (new tensors the caller disposes).</summary>
    private static (Tensor Shifted, Tensor Exp, Tensor Total) ShiftedExp(Tensor x, int axis)
    {
        using var max = Ops.Max(x, [axis], keepDim: true);
        var shifted = Ops.Sub(x, max);
        var e = Ops.Exp(shifted);
        return (shifted, e, Ops.Sum(e, [axis], keepDim: true));
    }

    /// <summary>
    /// Mean cross-entropy of logits [..., C] against Int32 labels [...]: the labels' shape must be
    /// the logits' shape without the last axis (no broadcasting), else <see cref="ArgumentException"/>.
    /// </summary>
    public static Variable CrossEntropy(Variable logits, Modula.Tensors.Tensor labels)
    {
        if (logits.Shape.Rank == 0)
            throw new ArgumentException("CrossEntropy: logits must have a class axis [..., C], got a scalar.");
        var expected = new Shape(logits.Shape.Dims[..^1]);
        if (labels.Shape != expected)
            throw new ArgumentException(
                $"CrossEntropy: labels {labels.Shape} must have the logits' shape {logits.Shape} without the last axis, {expected}.");
        int classes = logits.Shape[-1];
        var logp = LogSoftmax(logits, -1);
        var onehot = new Variable(OneHot(labels, classes, logits.Value.DType));
        var picked = Mul(logp, onehot);
        var total = Sum(picked);
        return Scale(total, labels.Size == 0 ? double.NegativeInfinity : -1.0 / labels.Size);   // NaN when empty, as Mean
    }

    /// <summary>
    /// x − mean(x) along <paramref name="axes"/> (Modula's MeanSubtract), as one rule: dx = g − mean(g).
    /// Over trailing axes each row is one fused pass (<see cref="Ops.SubtractRowMean"/>).
    /// </summary>
    public static Variable MeanSubtract(Variable x, params int[] axes)
    {
        var along = LastIfNone(axes);
        if (TrailingAxes(along, x.Shape.Rank) is int trailing)
            return Variable.FromOp(Ops.SubtractRowMean(x.Value, trailing), [x], g => g.Send(x, Ops.SubtractRowMean(g, trailing)));
        using var mean = Ops.Mean(x.Value, along, keepDim: true);
        return Variable.FromOp(Ops.Sub(x.Value, mean), [x], g =>
        {
            using var gMean = Ops.Mean(g, along, keepDim: true);
            g.Send(x, Ops.Sub(g, gMean));
        });
    }

    /// <summary>
    /// x / √mean(x²) along <paramref name="axes"/>, no epsilon (Modula's RMSDivide), as one rule:
    /// with r = 1/√mean(x²) and y = x·r, dx = r·(g − y·mean(g⊙y)). Over trailing axes each row
    /// is one fused pass forward and one backward (<see cref="Ops.RmsNormalize"/>).
    /// </summary>
    public static Variable RmsDivide(Variable x, params int[] axes)
    {
        var along = LastIfNone(axes);
        if (TrailingAxes(along, x.Shape.Rank) is int trailing)
        {
            var normalized = Ops.RmsNormalize(x.Value, trailing, out var rowInverse);
            if (NoGrad.IsActive || !x.RequiresGrad)
            {
                rowInverse.Dispose();
                return new Variable(normalized);
            }
            return Variable.FromOp(normalized, [x], g => g.Send(x, Ops.RmsNormalizeBackward(g, normalized, rowInverse, trailing)));
        }
        using var square = Ops.Mul(x.Value, x.Value);
        using var meanSquare = Ops.Mean(square, along, keepDim: true);
        var inverse = Ops.Rsqrt(meanSquare);
        var y = Ops.Mul(x.Value, inverse);
        if (NoGrad.IsActive || !x.RequiresGrad)
        {
            inverse.Dispose();
            return new Variable(y);
        }
        return Variable.FromOp(y, [x], g =>
        {
            using var gy = Ops.Mul(g, y);
            using var dot = Ops.Mean(gy, along, keepDim: true);
            using var projected = Ops.Mul(y, dot);
            using var centered = Ops.Sub(g, projected);
            g.Send(x, Ops.Mul(centered, inverse));
        });
    }

    /// <summary>q when <paramref name="axes"/> are exactly the last q axes of a rank-<paramref name="rank"/> tensor, else null.</summary>
    private static int? TrailingAxes(int[] axes, int rank)
    {
        var sorted = axes.Select(a => Shape.NormalizeAxis(a, rank)).Distinct().Order().ToArray();
        if (sorted.Length != axes.Length) return null;
        for (int i = 0; i < sorted.Length; i++)
            if (sorted[i] != rank - sorted.Length + i) return null;
        return sorted.Length;
    }

    private static int[] LastIfNone(int[] axes) => axes.Length == 0 ? [-1] : axes;
}
