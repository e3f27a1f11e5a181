using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>Flattens every axis after the first: [N, ...] → [N, prod(...)]; sensitivity 1.</summary>
public sealed class Flatten : UnaryBond
{
    /// <summary>1: it only rearranges entries.</summary>
    public override double? LipschitzConstant => 1;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x)
    {
        if (x.Shape.Rank < 1)
            throw new ModuleException($"input {x.Shape} has no batch axis.");
        // The product of the other axes, not the size over the batch: an empty batch [0, 5] still has 5 features.
        long features = 1;
        foreach (int d in x.Shape.Dims[1..])
            features = Math.Min(features * d, (long)int.MaxValue + 1);
        if (features > int.MaxValue)
            throw new ModuleException($"input {x.Shape} has more than 2³¹ − 1 features per row.");
        return F.Reshape(x, x.Shape[0], (int)features);
    }
}

/// <summary>[B, T, H·d] → [B, H, T, d] (Modula v1 AddHeads, v2 SplitIntoHeads); sensitivity 1.</summary>
public sealed class SplitIntoHeads : UnaryBond
{
    /// <summary>1: it only rearranges entries.</summary>
    public override double? LipschitzConstant => 1;

    /// <summary>The input's: a token's heads together are the token's vector.</summary>
    protected override double? TokenNormBound(double input) => input;

    /// <summary>Creates the split into <paramref name="heads"/> heads.</summary>
    public SplitIntoHeads(int heads) =>
        Heads =
            heads > 0
                ? heads
                : throw new ArgumentOutOfRangeException(
                    nameof(heads),
                    $"SplitIntoHeads: heads must be positive, got {heads}."
                );

    /// <summary>Number of heads.</summary>
    public int Heads { get; }

    /// <inheritdoc/>
    public override string Label => $"SplitIntoHeads({Heads})";

    /// <inheritdoc/>
    protected override Variable Forward(Variable x)
    {
        if (x.Shape.Rank != 3 || x.Shape[2] % Heads != 0)
            throw new ModuleException($"input {x.Shape} should be [B, T, C] with C divisible by {Heads}.");
        var split = F.Reshape(x, x.Shape[0], x.Shape[1], Heads, x.Shape[2] / Heads);
        return F.Permute(split, 0, 2, 1, 3);
    }
}

/// <summary>[B, H, T, d] → [B, T, H·d] (Modula v1 RemoveHeads, v2 MergeHeads); sensitivity 1.</summary>
public sealed class MergeHeads : UnaryBond
{
    /// <summary>1: it only rearranges entries.</summary>
    public override double? LipschitzConstant => 1;

    /// <summary>The input's: a token's heads together are the token's vector.</summary>
    protected override double? TokenNormBound(double input) => input;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x)
    {
        if (x.Shape.Rank != 4)
            throw new ModuleException($"input {x.Shape} should be [B, H, T, d].");
        var merged = F.Permute(x, 0, 2, 1, 3);
        return F.Reshape(merged, x.Shape[0], x.Shape[2], x.Shape[1] * x.Shape[3]);
    }
}

/// <summary>The positions 0..T−1 of a [B, T] index input, as Int32 (feeds a position embedding); sensitivity
/// 1.</summary>
public sealed class Enumerate : UnaryBond
{
    /// <inheritdoc/>
    protected override string NoLipschitzConstantBecause =>
        "its input is token indices, not a vector: a bound can start only after the embeddings";

    /// <inheritdoc/>
    protected override Variable Forward(Variable x)
    {
        if (x.Shape.Rank < 2)
            throw new ModuleException($"input {x.Shape} should be [B, T].");
        return new Variable(Ops.Arange(x.Shape[1], dtype: DType.Int32, device: x.Value.Device));
    }
}
