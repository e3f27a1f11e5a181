using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>Sum over <paramref name="axes"/> (all when null); the gradient broadcasts back.</summary>
    public static Variable Sum(Variable x, int[]? axes = null, bool keepDim = false) =>
        Variable.FromOp(Ops.Sum(x.Value, axes, keepDim), [x], g => x.Accumulate(Unreduce(g, x.Shape, axes)));

    /// <summary>Max over <paramref name="axes"/>; the gradient is shared equally among tied maxima.</summary>
    public static Variable Max(Variable x, int[]? axes = null, bool keepDim = false)
    {
        var y = Ops.Max(x.Value, axes, keepDim);
        return Variable.FromOp(y, [x], g =>
        {
            using var yk = Unreduce(Ops.Contiguous(y), x.Shape, axes, expand: false);
            using var mask = Ops.Equal(x.Value, yk);
            using var ties = Ops.Sum(mask, axes, keepDim: true);
            using var gk = Unreduce(Ops.Contiguous(g), x.Shape, axes, expand: false);
            using var share = Ops.Div(gk, ties);
            x.Accumulate(Ops.Mul(mask, share));
        });
    }

    /// <summary>
    /// Reshapes a reduced gradient to keep-dim form and (optionally) materialises it at the
    /// input's shape. Consumes <paramref name="g"/>.
    /// </summary>
    private static Tensor Unreduce(Tensor g, Shape input, int[]? axes, bool expand = true)
    {
        var dims = input.Dims.ToArray();
        var reduced = axes is null || axes.Length == 0 ? Enumerable.Range(0, dims.Length) : axes.Select(a => Shape.NormalizeAxis(a, dims.Length));
        foreach (var a in reduced) dims[a] = 1;
        using (g)
        {
            var kept = g.Reshape(dims);
            if (!expand) return kept;
            using (kept)
            using (var wide = kept.Expand(input))
                return Ops.Contiguous(wide);
        }
    }
}
