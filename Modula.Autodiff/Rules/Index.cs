using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>Embedding lookup y[..., :] = table[indices[...], :]; the gradient scatter-adds into the table's
    /// rows.</summary>
    public static Variable GatherRows(Variable table, Tensor indices) =>
        Variable.FromOp(Ops.GatherRows(Given(table).Value, Given(indices)), [table], g =>
            g.SendScatterRows(table, indices)
        );

    /// <summary>Patch unfolding x [N, C, H, W] → [N, C·kh·kw, Ho·Wo]; the gradient folds back with col2im.</summary>
    public static Variable Im2Col(Variable x, int kernelHeight, int kernelWidth, int stride = 1, int padding = 0)
    {
        var geometry = Ops.Geometry(nameof(Im2Col), Given(x).Shape, kernelHeight, kernelWidth, stride, padding);
        return Variable.FromOp(Ops.Im2Col(x.Value, kernelHeight, kernelWidth, stride, padding), [x], g =>
            g.Send(x, Ops.Col2Im(g, geometry))
        );
    }

    /// <summary>A constant one-hot matrix [..., classes] (float) for Int32 labels, built from primitives.</summary>
    public static Tensor OneHot(Tensor labels, int classes, DType dtype = DType.Float32)
    {
        using var range = Ops.Arange(classes, dtype: dtype, device: Given(labels).Device);
        using var rows = range.View(classes, 1);
        using var cols = range.View(1, classes);
        using var identity = Ops.Equal(rows, cols);
        return Ops.GatherRows(identity, labels);
    }
}
