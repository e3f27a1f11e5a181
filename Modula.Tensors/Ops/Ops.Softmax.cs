using Modula.Tensors.Backends;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Softmax of scale·x along the last axis, in one pass per row: y = e^(z − max z)/Σ e^(z − max z)
    /// with z = scale·x. With <paramref name="causal"/> the last two axes are a square [T, T] of
    /// queries × keys and key j &gt; query i is masked (y = 0), as in decoder attention. A row whose z passes the
    /// dtype's range for finite x (float32 logits near 10³⁸ at scale 10) is shifted before it is scaled,
    /// e^(scale·(x − a)) with a its largest x (smallest for a negative scale), so it gets the exact z's softmax rather
    /// than NaN. A NaN, or an infinite x that scale·x makes +∞ (or any at scale 0), makes its row NaN; one made −∞ is
    /// an ordinary 0.
    /// </summary>
    public static Tensor Softmax(Tensor x, double scale = 1, bool causal = false)
    {
        CheckSoftmax(nameof(Softmax), x, causal);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        if (y.Size == 0)
            return y;
        using var dense = x.IsContiguous ? null : Contiguous(x);
        using (x.Device.Time(nameof(IBackend.SoftmaxRows)))
            x.Device.Backend.SoftmaxRows(dense ?? x, y, x.Shape[-1], scale, causal);
        return y;
    }

    /// <summary>The gradient of <see cref="Softmax"/> from its output y and upstream g: dx = scale·y⊙(g − Σ g⊙y) per
    /// row.</summary>
    public static Tensor SoftmaxBackward(Tensor g, Tensor y, double scale = 1)
    {
        CheckSoftmax(nameof(SoftmaxBackward), y, causal: false);
        Check.Compatible(nameof(SoftmaxBackward), g, y);
        if (g.Shape != y.Shape)
            throw new ArgumentException($"SoftmaxBackward: gradient {g.Shape} does not match output {y.Shape}.");
        var dx = Tensor.Empty(y.Shape, y.DType, y.Device);
        if (dx.Size == 0)
            return dx;
        using var gDense = g.IsContiguous ? null : Contiguous(g);
        using var yDense = y.IsContiguous ? null : Contiguous(y);
        using (y.Device.Time(nameof(IBackend.SoftmaxRowsBackward)))
            y.Device.Backend.SoftmaxRowsBackward(gDense ?? g, yDense ?? y, dx, y.Shape[-1], scale);
        return dx;
    }

    private static void CheckSoftmax(string op, Tensor x, bool causal)
    {
        Check.Float(op, x);
        Check.Supported(op, x);
        if (x.Rank == 0)
            throw new ArgumentException($"{op}: needs at least one axis, got a scalar.");
        if (causal && (x.Rank < 2 || x.Shape[-2] != x.Shape[-1]))
            throw new ArgumentException($"{op}: a causal mask needs square trailing axes [..., T, T], got {x.Shape}.");
    }
}
