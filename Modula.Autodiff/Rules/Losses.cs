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
        Given(logits);
        Given(labels);
        if (logits.Shape.Rank == 0)
            throw new ArgumentException("CrossEntropy: logits must have a class axis [..., C], got a scalar.");
        var expected = new Shape(logits.Shape.Dims[..^1]);
        if (labels.Shape != expected)
            throw new ArgumentException(
                $"CrossEntropy: labels {labels.Shape} must have the logits' shape {logits.Shape} without the last "
                    + $"axis, {expected}."
            );
        int classes = logits.Shape[-1],
            rows = labels.Size;
        // One rule: per-row losses in one pass (log-softmax, one-hot and pick fused), their mean, and one pass
        // backward. A lazy multiple of the logits (Modula v2's scaled head) is folded into the kernels.
        var (root, scale) = logits.Unscaled();
        using var flatLogits = root.Value.Reshape(rows, classes);
        var flatLabels = labels.Reshape(rows); // a copy when the labels are strided: disposed here on failure
        Tensor mean;
        try
        {
            using var losses = Ops.CrossEntropyRows(flatLogits, flatLabels, scale);
            mean = Ops.Mean(losses); // NaN when there are no rows, as a mean of nothing
        }
        catch
        {
            flatLabels.Dispose();
            throw;
        }
        if (NoGrad.IsActive || !root.RequiresGrad)
        {
            flatLabels.Dispose();
            return new Variable(mean);
        }
        var kept = flatLogits.View(rows, classes);
        return Variable.FromOp(mean, [root], g =>
        {
            using var dx = Ops.CrossEntropyRowsBackward(kept, flatLabels, g, 1.0 / rows, scale);
            g.Send(root, dx.Reshape(root.Shape.Dims.ToArray()));
        });
    }
}
