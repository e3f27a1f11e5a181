using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// Numerically stable softmax of scale·x along <paramref name="axis"/>, as one rule (forward
    /// and backward without intermediate graph nodes): y = e^(z − max z)/Σ e^(z − max z) with
    /// z = scale·x; dx = scale·y⊙(g − Σ g⊙y). Entries of −∞ (masked) get y = 0 and no gradient.
    /// </summary>
    public static Variable Softmax(Variable x, int axis = -1, double scale = 1)
    {
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
                if (scale == 1) { x.Accumulate(dx); return; }
                using (dx) x.Accumulate(Ops.Mul(dx, scale));
            });
        }
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
                x.Accumulate(Ops.Sub(g, share));
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

    /// <summary>Mean cross-entropy of logits [..., C] against Int32 labels [...].</summary>
    public static Variable CrossEntropy(Variable logits, Modula.Tensors.Tensor labels)
    {
        int classes = logits.Shape[-1];
        var logp = LogSoftmax(logits, -1);
        var onehot = new Variable(OneHot(labels, classes, logits.Value.DType));
        var picked = Mul(logp, onehot);
        var total = Sum(picked);
        return Scale(total, -1.0 / Math.Max(1, labels.Size));
    }

    /// <summary>x − mean(x) along <paramref name="axes"/> (Modula's MeanSubtract).</summary>
    public static Variable MeanSubtract(Variable x, params int[] axes)
    {
        var mean = Mean(x, LastIfNone(axes), keepDim: true);
        return Sub(x, mean);
    }

    /// <summary>x / √mean(x²) along <paramref name="axes"/>, no epsilon (Modula's RMSDivide).</summary>
    public static Variable RmsDivide(Variable x, params int[] axes)
    {
        var square = Mul(x, x);
        var meanSquare = Mean(square, LastIfNone(axes), keepDim: true);
        var inverse = Rsqrt(meanSquare);
        return Mul(x, inverse);
    }

    private static int[] LastIfNone(int[] axes) => axes.Length == 0 ? [-1] : axes;
}
