namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>Numerically stable softmax along <paramref name="axis"/> of scale·x.</summary>
    public static Variable Softmax(Variable x, int axis = -1, double scale = 1)
    {
        var (_, e, total) = ShiftedExp(scale == 1 ? x : Scale(x, scale), axis);
        return Div(e, total);
    }

    /// <summary>Numerically stable log-softmax along <paramref name="axis"/>: (x − max) − log Σ e^(x − max).</summary>
    public static Variable LogSoftmax(Variable x, int axis = -1)
    {
        var (shifted, _, total) = ShiftedExp(x, axis);
        return Sub(shifted, Log(total));
    }

    /// <summary>x − max (the max as a constant), its exponential, and the sum of that along <paramref name="axis"/>.</summary>
    private static (Variable Shifted, Variable Exp, Variable Total) ShiftedExp(Variable x, int axis)
    {
        var max = new Variable(Modula.Tensors.Ops.Max(x.Value, [axis], keepDim: true));
        var shifted = Sub(x, max);
        var e = Exp(shifted);
        return (shifted, e, Sum(e, [axis], keepDim: true));
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
