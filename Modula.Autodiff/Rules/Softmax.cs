using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// Numerically stable softmax of scale·x along <paramref name="axis"/>, as one rule (forward
    /// and backward without intermediate graph nodes): y = e^(z − max z)/Σ e^(z − max z) with
    /// z = scale·x; dx = scale·y⊙(g − Σ g⊙y). Entries of −∞ (masked) get y = 0 and no gradient.
    /// Each row along the axis is one fused pass (<see cref="Ops.Softmax(Tensor, double, bool)"/>), which also shifts
    /// a row whose z passes the dtype's range before it scales it. Along an axis other than the last, the op and its
    /// gradient run on views with that axis swapped with the last one, and their results are copied back into place,
    /// so every axis is treated alike.
    /// </summary>
    public static Variable Softmax(Variable x, int axis = -1, double scale = 1)
    {
        int last = Given(x).Shape.Rank - 1,
            along = Shape.NormalizeAxis(axis, x.Shape, nameof(Softmax));
        if (along == last)
            return RowSoftmax(x, scale, causal: false);
        (x, var factor) = x.Unscaled();
        scale *= factor;
        var y = AlongLast(along, [x.Value], t => Ops.Softmax(t[0], scale));
        return Variable.FromOp(y, [x], g =>
            g.Send(x, AlongLast(along, [g, y], t => Ops.SoftmaxBackward(t[0], t[1], scale)))
        );
    }

    /// <summary><paramref name="op"/> of <paramref name="inputs"/> viewed with <paramref name="axis"/> swapped with
    /// the last one, its result swapped back into a new contiguous tensor.</summary>
    private static Tensor AlongLast(int axis, Tensor[] inputs, Func<Tensor[], Tensor> op)
    {
        var turned = new List<Tensor>();
        try
        {
            foreach (var t in inputs)
                turned.Add(t.Transpose(axis, -1));
            using var result = op([.. turned]);
            using var back = result.Transpose(axis, -1);
            return Ops.Contiguous(back);
        }
        finally
        {
            foreach (var t in turned)
                t.Dispose();
        }
    }

    /// <summary>
    /// Softmax of scale·scores along the last axis with a causal mask: scores [..., T, T] of
    /// queries × keys, key j &gt; query i gets weight 0 (decoder attention), in one fused pass per row.
    /// </summary>
    public static Variable CausalSoftmax(Variable scores, double scale = 1) =>
        RowSoftmax(Given(scores), scale, causal: true);

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
        var (shifted, e, total) = ShiftedExp(Given(x).Value, axis);
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

    /// <summary>x − max, its exponential, and the sum of that along <paramref name="axis"/> (new tensors the caller
    /// disposes).</summary>
    private static (Tensor Shifted, Tensor Exp, Tensor Total) ShiftedExp(Tensor x, int axis)
    {
        using var max = Ops.Max(x, [axis], keepDim: true);
        var shifted = Ops.Sub(x, max);
        var e = Ops.Exp(shifted);
        return (shifted, e, Ops.Sum(e, [axis], keepDim: true));
    }
}
