using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>Sum over <paramref name="axes"/> (all when null); the gradient broadcasts back.</summary>
    public static Variable Sum(Variable x, int[]? axes = null, bool keepDim = false) =>
        Variable.FromOp(Ops.Sum(Given(x).Value, axes, keepDim), [x], g => g.Pass(x, t =>
            {
                using var kept = KeepDims(t, x.Shape, axes);
                return kept.Expand(x.Shape);
            }));

    /// <summary>Max over <paramref name="axes"/>; the gradient is shared equally among tied maxima.</summary>
    public static Variable Max(Variable x, int[]? axes = null, bool keepDim = false)
    {
        var y = Ops.Max(Given(x).Value, axes, keepDim);
        return Variable.FromOp(y, [x], g =>
        {
            using var yk = KeepDims(y, x.Shape, axes);
            using var mask = Ops.Equal(x.Value, yk);
            using var ties = Ops.Sum(mask, axes, keepDim: true);
            using var gk = KeepDims(g, x.Shape, axes);
            using var share = Ops.Div(gk, ties);
            g.Send(x, Ops.Mul(mask, share));
        });
    }

    /// <summary>A reduced tensor viewed in keep-dim form: the reduced axes of <paramref name="input"/> as size
    /// 1.</summary>
    private static Tensor KeepDims(Tensor reduced, Shape input, int[]? axes)
    {
        var dims = input.Dims.ToArray();
        var axesReduced =
            axes is null || axes.Length == 0
                ? Enumerable.Range(0, dims.Length)
                : axes.Select(a => Shape.NormalizeAxis(a, dims.Length));
        foreach (var a in axesReduced)
            dims[a] = 1;
        return reduced.Reshape(dims);
    }
}
