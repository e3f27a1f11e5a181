using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>Reshape (a view when possible); the gradient is reshaped back.</summary>
    public static Variable Reshape(Variable x, params int[] dims)
    {
        Given(dims);
        var (x0, factor) = Given(x).Unscaled();
        if (factor != 1)
            return Scale(Reshape(x0, dims), factor); // views commute with scalar multiples
        return Variable.FromOp(x.Value.Reshape(dims), [x], g => g.Pass(x, t => t.Reshape(x.Shape.Dims.ToArray())));
    }

    /// <summary>Permutes axes (a view); the gradient takes the inverse permutation.</summary>
    public static Variable Permute(Variable x, params int[] axes)
    {
        Given(axes);
        var (x0, factor) = Given(x).Unscaled();
        if (factor != 1)
            return Scale(Permute(x0, axes), factor);
        var value = x.Value.Permute(axes); // checks the axes, naming the op and the shape
        var inverse = new int[axes.Length];
        for (int i = 0; i < axes.Length; i++)
            inverse[Shape.NormalizeAxis(axes[i], axes.Length)] = i;
        return Variable.FromOp(value, [x], g => g.Pass(x, t => t.Permute(inverse)));
    }

    /// <summary>Swaps two axes (default: the last two).</summary>
    public static Variable Transpose(Variable x, int axis0 = -2, int axis1 = -1)
    {
        var axes = Enumerable.Range(0, Given(x).Shape.Rank).ToArray();
        int a = Shape.NormalizeAxis(axis0, x.Shape, nameof(Transpose)),
            b = Shape.NormalizeAxis(axis1, x.Shape, nameof(Transpose));
        (axes[a], axes[b]) = (axes[b], axes[a]);
        return Permute(x, axes);
    }

    /// <summary>A slice along one axis (a view); the gradient is zero outside the slice.</summary>
    public static Variable Slice(Variable x, int axis, int start, int length) =>
        Variable.FromOp(Given(x).Value.Slice(axis, start, length), [x], g =>
        {
            var full = Ops.ZerosLike(x.Value);
            using (var window = full.Slice(axis, start, length))
                Ops.CopyInto(g, window);
            g.Send(x, full);
        });

    /// <summary>Broadcasts to <paramref name="shape"/> (a view); the gradient is summed back.</summary>
    public static Variable Expand(Variable x, Shape shape) =>
        Variable.FromOp(Given(x).Value.Expand(shape), [x], g => g.Pass(x));

    /// <summary>Joins along <paramref name="axis"/>; each input receives its slice of the gradient.</summary>
    public static Variable Concat(IReadOnlyList<Variable> xs, int axis) =>
        Variable.FromOp(Ops.Concat(GivenEach(xs).Select(v => v.Value).ToList(), axis), xs.ToArray(), g =>
            g.SplitAmong(xs, axis)
        );

    /// <summary>Splits along <paramref name="axis"/> into slices of the given sizes.</summary>
    public static Variable[] Split(Variable x, int[] sizes, int axis)
    {
        Given(x);
        var parts = new Variable[Given(sizes).Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Slice(x, axis, at, sizes[i]);
            at += sizes[i];
        }
        return parts;
    }
}
