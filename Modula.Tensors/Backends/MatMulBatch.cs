namespace Modula.Tensors.Backends;

/// <summary>
/// How a <see cref="IBackend.MatMul"/> operand steps from one batch member to the next: with one
/// batch axis [B, ·, ·] by a single stride; with two [B₀, B₁, ·, ·] (heads split out of a
/// [batch, T, heads·d] tensor, read in place) member b starts at
/// <c>(b / B₁)·outer + (b mod B₁)·inner</c>. Both cases use that formula, a single axis as B₁ = 1.
/// </summary>
internal readonly record struct MatMulBatch(int OuterStride, int InnerCount, int InnerStride)
{
    /// <summary>The batch layout of <paramref name="operand"/> (rank 3 or 4).</summary>
    public static MatMulBatch Of(Tensor operand) =>
        operand.Rank == 3
            ? new(operand.Strides[0], 1, 0)
            : new(operand.Strides[0], operand.Shape[1], operand.Strides[1]);

    /// <summary>Number of matrices in <paramref name="operand"/> (rank 3 or 4).</summary>
    public static int Count(Tensor operand) =>
        operand.Rank == 3 ? operand.Shape[0] : operand.Shape[0] * operand.Shape[1];

    /// <summary>Element offset of batch member <paramref name="b"/> from the operand's start.</summary>
    public int Offset(int b) => b / InnerCount * OuterStride + b % InnerCount * InnerStride;
}
