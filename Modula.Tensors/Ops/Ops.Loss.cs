using Modula.Tensors.Backends;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Cross-entropy of every row of <paramref name="logits"/> [rows, C] (times <paramref name="scale"/>) against
    /// Int32 <paramref name="labels"/> [rows]: loss[r] = log Σⱼ e^(z·x[r, j]) − z·x[r, labels[r]], computed stably
    /// (shifted by the row's max, and for a row whose z·x overflows, before scaling, as <see cref="Softmax"/>) in one
    /// pass per row, a log-softmax, one-hot and pick in one kernel. A label
    /// outside [0, C) is refused (on an accelerator, at the next host wait; see
    /// <see cref="Device.ThrowPendingErrors"/>).
    /// </summary>
    public static Tensor CrossEntropyRows(Tensor logits, Tensor labels, double scale = 1)
    {
        const string op = nameof(CrossEntropyRows);
        int classes = CheckCrossEntropy(op, logits, labels);
        using var labelsDense = labels.IsContiguous ? null : Contiguous(labels);
        CheckIndices(op, labelsDense ?? labels, classes);
        var losses = Tensor.Empty(new Shape(logits.Shape[0]), logits.DType, logits.Device);
        if (losses.Size == 0)
            return losses;
        using var dense = logits.IsContiguous ? null : Contiguous(logits);
        using (logits.Device.Time(nameof(IBackend.CrossEntropyRows)))
            logits.Device.Backend.CrossEntropyRows(dense ?? logits, labelsDense ?? labels, losses, classes, scale);
        return losses;
    }

    /// <summary>
    /// The gradient of factor·Σ <see cref="CrossEntropyRows"/> with respect to the logits, for the upstream gradient
    /// <paramref name="upstream"/> (one element, left on the device): c·(softmax(z·x) − onehot(labels)) with
    /// c = upstream·factor·z, one pass per row.
    /// </summary>
    public static Tensor CrossEntropyRowsBackward(
        Tensor logits,
        Tensor labels,
        Tensor upstream,
        double factor,
        double scale = 1
    )
    {
        const string op = nameof(CrossEntropyRowsBackward);
        int classes = CheckCrossEntropy(op, logits, labels);
        Check.Compatible(op, upstream, logits);
        if (upstream.Size != 1)
            throw new ArgumentException($"{op}: the upstream gradient must have one element, got {upstream.Shape}.");
        using var labelsDense = labels.IsContiguous ? null : Contiguous(labels);
        CheckIndices(op, labelsDense ?? labels, classes);
        var dx = Tensor.Empty(logits.Shape, logits.DType, logits.Device);
        if (dx.Size == 0)
            return dx;
        using var dense = logits.IsContiguous ? null : Contiguous(logits);
        using var up = upstream.IsContiguous ? null : Contiguous(upstream);
        using (logits.Device.Time(nameof(IBackend.CrossEntropyRowsBackward)))
            logits.Device.Backend.CrossEntropyRowsBackward(
                dense ?? logits,
                labelsDense ?? labels,
                up ?? upstream,
                dx,
                classes,
                scale,
                factor
            );
        return dx;
    }

    /// <summary>Checks logits [rows, C] and labels [rows] (their range is checked by the caller, on the contiguous
    /// labels the kernel reads); returns C.</summary>
    private static int CheckCrossEntropy(string op, Tensor logits, Tensor labels)
    {
        Check.Float(op, logits);
        Check.Supported(op, logits);
        Check.Int(op, labels, "labels");
        Check.SameDevice(op, logits, labels);
        if (logits.Rank != 2 || labels.Shape != new Shape(logits.Shape[0]))
            throw new ArgumentException(
                $"{op}: logits must be [rows, classes] and labels [rows], got {logits.Shape} and {labels.Shape}."
            );
        return logits.Shape[1];
    }
}
