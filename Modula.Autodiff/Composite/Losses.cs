using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
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
                $"CrossEntropy: labels {labels.Shape} must have the logits' shape {logits.Shape} without the last "
                    + $"axis, {expected}."
            );
        int classes = logits.Shape[-1];
        var logp = LogSoftmax(logits, -1);
        var onehot = new Variable(OneHot(labels, classes, logits.Value.DType));
        var picked = Mul(logp, onehot);
        var total = Sum(picked);
        return Scale(total, labels.Size == 0 ? double.NegativeInfinity : -1.0 / labels.Size); // NaN when empty, as Mean
    }
}
