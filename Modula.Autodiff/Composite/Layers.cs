using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>The [T, T] mask with 1 on and below the diagonal (query i sees keys j ≤ i).</summary>
    public static Tensor CausalMask(int t, DType dtype = DType.Float32, Device? device = null)
    {
        using var range = Ops.Arange(t, dtype: dtype, device: device);
        using var rows = range.View(t, 1);
        using var cols = range.View(1, t);
        return Ops.GreaterOrEqual(rows, cols);
    }

    /// <summary>2-D convolution x [N, C, H, W] with weight [O, C, k, k] → [N, O, Ho, Wo] (no bias), via im2col and a
    /// batched product.</summary>
    public static Variable Conv2D(Variable x, Variable weight, int stride = 1, int padding = 0)
    {
        Given(x);
        Given(weight);
        if (x.Shape.Rank != 4 || weight.Shape.Rank != 4 || weight.Shape[1] != x.Shape[1])
            throw new ArgumentException(
                $"Conv2D: weight {weight.Shape} does not match input {x.Shape} (expected x [N, C, H, W] and weight [O, "
                    + $"C, kh, kw])."
            );
        int n = x.Shape[0],
            o = weight.Shape[0],
            kh = weight.Shape[2],
            kw = weight.Shape[3];
        var g = Ops.Geometry(nameof(Conv2D), x.Shape, kh, kw, stride, padding);
        var cols = Im2Col(x, kh, kw, stride, padding); // [N, C·kh·kw, Ho·Wo]
        var w2 = Reshape(weight, o, g.PatchSize); // [O, C·kh·kw]
        var y = MatMul(w2, cols); // [N, O, Ho·Wo]
        return Reshape(y, n, o, g.OutHeight, g.OutWidth);
    }

    /// <summary>Non-overlapping k×k average pooling of [N, C, H, W].</summary>
    public static Variable AvgPool2d(Variable x, int kernel)
    {
        if (Given(x).Shape.Rank != 4 || x.Shape[2] % kernel != 0 || x.Shape[3] % kernel != 0)
            throw new ArgumentException(
                $"AvgPool2d: needs [N, C, H, W] with H and W divisible by {kernel}, got {x.Shape}."
            );
        var windows = Reshape(x, x.Shape[0], x.Shape[1], x.Shape[2] / kernel, kernel, x.Shape[3] / kernel, kernel);
        return Mean(windows, [3, 5]);
    }

    /// <summary>Embedding lookup: rows of table [V, D] for Int32 indices.</summary>
    public static Variable Embedding(Variable table, Tensor indices) => GatherRows(Given(table), Given(indices));
}
