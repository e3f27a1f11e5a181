namespace Modula.Tensors;

/// <summary>
/// Head-split layouts: the one place that knows how attention's heads are laid out, so that
/// splitting and merging heads, and their gradients, cost no copies.
/// <para><b>A worked example.</b> A projection gives x [B, T, H·d], contiguous, strides
/// [T·H·d, H·d, 1]. Splitting heads is two views: [B, T, H, d], then the permutation
/// (0, 2, 1, 3) gives q [B, H, T, d] with strides [T·H·d, d, H·d, 1]. q is <i>dense</i> (its
/// elements fill consecutive slots in the axis order B, T, H, d) but not contiguous.</para>
/// <list type="number">
/// <item><b>Products read it in place.</b> A batched product needs each matrix [T, d] with unit
/// column stride and a batch that steps by fixed strides. q's batch axes (B, H) do not merge
/// into one stride (T·H·d ≠ H·d), but they are two: <see cref="BatchView"/> views q as
/// [B₀ = B, B₁ = H, T, d] with strides [T·H·d, d, H·d, 1], which the CPU GEMM and the ILGPU
/// kernel take directly.</item>
/// <item><b>Products write in it.</b> p·v, with p [B, H, T, T] contiguous and v head-split, has
/// v's shape; <see cref="ProductCanFollow"/> lets the product allocate its result in v's axis order
/// (<see cref="EmptyInAxisOrderOf"/>), so merging the heads back — permute to [B, T, H, d],
/// view as [B, T, H·d] — is a view.</item>
/// <item><b>Gradients arrive in it.</b> The gradient of q is written by a product into a tensor
/// laid out like q (autodiff's product delivery calls <see cref="Tensor.EmptyLike"/>), so its
/// inverse permutation and reshape back to [B, T, H·d] are views and the projection's backward
/// product reads it in place.</item>
/// </list>
/// Any other layout still works: it is copied once to a contiguous tensor.
/// </summary>
internal static class HeadSplitLayouts
{
    /// <summary>The axes from the largest stride to the smallest when the tensor is dense, else null.</summary>
    public static int[]? DenseAxisOrder(Tensor x)
    {
        var shape = x.Shape;
        var strides = x.Strides.ToArray();
        var order = Enumerable
            .Range(0, x.Rank)
            .OrderByDescending(i => shape.Dims[i] == 1 ? int.MaxValue : strides[i])
            .ThenBy(i => i)
            .ToArray();
        var dims = shape.Dims;
        int expected = 1;
        for (int j = x.Rank - 1; j >= 0; j--)
        {
            int axis = order[j];
            if (dims[axis] == 1)
                continue;
            if (strides[axis] != expected)
                return null;
            expected *= dims[axis];
        }
        return order;
    }

    /// <summary>A new tensor shaped like <paramref name="like"/>, in its axis order when it is dense, else
    /// contiguous.</summary>
    public static Tensor EmptyInAxisOrderOf(Tensor like)
    {
        var order = like.IsContiguous ? null : DenseAxisOrder(like);
        if (order is null)
            return Tensor.Empty(like.Shape, like.DType, like.Device);
        var strides = new int[like.Rank];
        int stride = 1;
        for (int j = like.Rank - 1; j >= 0; j--)
        {
            strides[order[j]] = stride;
            stride *= like.Shape.Dims[order[j]];
        }
        var storage = like.Device.Allocate(like.DType, like.Size);
        return new Tensor(storage, like.Shape, strides, 0, retain: false);
    }

    /// <summary>
    /// True for a head-split operand whose layout a product of <paramref name="shape"/> can take
    /// (item 2 above): the same shape, dense but not contiguous, rows contiguous.
    /// </summary>
    public static bool ProductCanFollow(Tensor x, Shape shape) =>
        x.Shape == shape && x.Rank > 2 && x.Size > 0 && x.Strides[^1] == 1 && !x.IsContiguous && x.IsDense;

    /// <summary>
    /// x [..batch, rows, cols] viewed as [B, rows, cols] when its batch axes merge into one stride,
    /// or as [B₀, B₁, rows, cols] when they merge into two (item 1 above); null for other layouts.
    /// </summary>
    public static Tensor? BatchView(Tensor x, Shape batch, int rows, int cols)
    {
        int b = batch.Size;
        var s = x.Strides;
        int r = batch.Rank;
        if (b == 0)
            return new Tensor(x.Storage, new Shape([0, rows, cols]), [0, s[r], s[r + 1]], x.Offset, retain: true);
        var axes = Enumerable.Range(0, r).Where(i => batch.Dims[i] != 1).ToArray();
        if (Merges(axes, batch, s))
        {
            int stride = axes.Length == 0 ? 0 : s[axes[^1]];
            return new Tensor(x.Storage, new Shape([b, rows, cols]), [stride, s[r], s[r + 1]], x.Offset, retain: true);
        }
        for (int split = 1; split < axes.Length; split++)
            if (Merges(axes[..split], batch, s) && Merges(axes[split..], batch, s))
            {
                int outer = axes[..split].Aggregate(1, (p, i) => p * batch.Dims[i]),
                    inner = b / outer;
                return new Tensor(
                    x.Storage,
                    new Shape([outer, inner, rows, cols]),
                    [s[axes[split - 1]], s[axes[^1]], s[r], s[r + 1]],
                    x.Offset,
                    retain: true
                );
            }
        return null;
    }

    /// <summary>True when the batch axes <paramref name="axes"/> step over each other exactly (one stride covers
    /// them).</summary>
    private static bool Merges(int[] axes, Shape batch, ReadOnlySpan<int> strides)
    {
        for (int i = 0; i + 1 < axes.Length; i++)
            if (strides[axes[i]] != strides[axes[i + 1]] * batch.Dims[axes[i + 1]])
                return false;
        return true;
    }
}
