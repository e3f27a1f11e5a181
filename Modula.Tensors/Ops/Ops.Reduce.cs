using Modula.Tensors.Backends;
using Modula.Tensors.Primitives;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>Sum over <paramref name="axes"/> (all axes when null or empty).</summary>
    public static Tensor Sum(Tensor x, int[]? axes = null, bool keepDim = false) =>
        Reduce(x, axes, keepDim, new SumReduce(), nameof(Sum));

    /// <summary>Maximum over <paramref name="axes"/> (all axes when null or empty); −∞ for an empty
    /// reduction.</summary>
    public static Tensor Max(Tensor x, int[]? axes = null, bool keepDim = false) =>
        Reduce(x, axes, keepDim, new MaxReduce(), nameof(Max));

    /// <summary>
    /// ℓ2 norm √Σx² over <paramref name="axes"/> (all axes when null or empty), computed without
    /// underflow or overflow for float32 values far from 1 (see <see cref="NormReduce"/>).
    /// </summary>
    public static Tensor Norm(Tensor x, int[]? axes = null, bool keepDim = false) =>
        Reduce(x, axes, keepDim, new NormReduce(), nameof(Norm));

    /// <summary>
    /// Mean over <paramref name="axes"/> (all axes when null or empty), lowered onto <see cref="Sum"/> and divided
    /// by the count, as NumPy and PyTorch do: one rounding, so the mean of equal values is that value wherever their
    /// sum is exact (a multiply by 1/n rounds twice and may land an ulp off). NaN over an empty axis (0/0).
    /// </summary>
    public static Tensor Mean(Tensor x, int[]? axes = null, bool keepDim = false)
    {
        using var sum = Reduce(x, axes, keepDim, new SumReduce(), nameof(Mean));
        if (sum.Size == 0)
            return Mul(sum, 1.0);
        return Map(sum, new DivideBy(x.Size / sum.Size));
    }

    /// <summary>Index (Int32) of the first maximum along <paramref name="axis"/> on every device: −0 and +0 tie, and a
    /// NaN outranks every number (the first NaN wins).</summary>
    public static Tensor ArgMax(Tensor x, int axis, bool keepDim = false)
    {
        Check.Float(nameof(ArgMax), x);
        int a = Shape.NormalizeAxis(axis, x.Shape, nameof(ArgMax));
        if (x.Shape[a] == 0)
            throw new ArgumentException($"ArgMax: axis {a} of {x.Shape} is empty.");
        var (outer, inner) = (Prod(x.Shape.Dims[..a]), Prod(x.Shape.Dims[(a + 1)..]));
        var outShape = ReducedShape(x.Shape, [a], keepDim);
        var y = Tensor.Empty(outShape, DType.Int32, x.Device);
        if (y.Size == 0)
            return y;
        using var dense = x.IsContiguous ? null : Contiguous(x);
        using (x.Device.Time(nameof(IBackend.ArgMax)))
            x.Device.Backend.ArgMax(dense ?? x, y, outer, x.Shape[a], inner);
        return y;
    }

    private static Tensor Reduce<TOp>(Tensor x, int[]? axes, bool keepDim, TOp op, string name)
        where TOp : struct, IReduceOp
    {
        Check.Float(name, x);
        Check.Supported(name, x);
        var reduced = NormalizeAxes(axes, x.Shape, name);
        var outShape = ReducedShape(x.Shape, reduced, keepDim);
        var y = Tensor.Empty(outShape, x.DType, x.Device);
        if (y.Size == 0)
            return y;
        bool consecutive = reduced.Length == 0 || reduced[^1] - reduced[0] == reduced.Length - 1;
        if (x.IsContiguous && consecutive)
        {
            int first = reduced.Length == 0 ? 0 : reduced[0],
                last = reduced.Length == 0 ? -1 : reduced[^1];
            int outer = Prod(x.Shape.Dims[..first]),
                reduce = Prod(x.Shape.Dims[first..(last + 1)]),
                inner = Prod(x.Shape.Dims[(last + 1)..]);
            using (x.Device.Time<TOp>(nameof(IBackend.Reduce)))
                x.Device.Backend.Reduce(x, y, outer, reduce, inner, op);
            return y;
        }
        // Move the reduced axes last and lay them out densely.
        var order = Enumerable.Range(0, x.Rank).Where(i => Array.IndexOf(reduced, i) < 0).Concat(reduced).ToArray();
        using var permuted = x.Permute(order);
        using var dense = Contiguous(permuted);
        int kept = y.Size;
        using (x.Device.Time<TOp>(nameof(IBackend.Reduce)))
            x.Device.Backend.Reduce(dense, y, kept, x.Size / Math.Max(1, kept), 1, op);
        return y;
    }

    private static int[] NormalizeAxes(int[]? axes, Shape shape, string op)
    {
        if (axes is null || axes.Length == 0)
            return Enumerable.Range(0, shape.Rank).ToArray();
        var result = axes.Select(a => Shape.NormalizeAxis(a, shape, op)).Distinct().Order().ToArray();
        if (result.Length != axes.Length)
            throw new ArgumentException($"{op}: repeated axis in [{string.Join(", ", axes)}].");
        return result;
    }

    private static Shape ReducedShape(Shape shape, int[] reduced, bool keepDim)
    {
        var dims = new List<int>();
        for (int i = 0; i < shape.Rank; i++)
        {
            bool r = Array.IndexOf(reduced, i) >= 0;
            if (!r)
                dims.Add(shape.Dims[i]);
            else if (keepDim)
                dims.Add(1);
        }
        return new Shape(dims.ToArray());
    }

    private static int Prod(ReadOnlySpan<int> dims)
    {
        int p = 1;
        foreach (var d in dims)
            p *= d;
        return p;
    }
}
