namespace Modula.Tensors;

/// <summary>
/// A triangle in a matrix product that its caller states (<see cref="Ops.MatMul"/>, <see cref="Ops.MatMulInto"/>),
/// so that a backend may skip the work it implies: causal attention's scores are wanted below the diagonal only, and
/// its weights are zero above it. The CPU skips that work tile by tile in float32; a backend that does not computes
/// the whole product, with the same result for finite operands (a skipped zero is not multiplied by an infinity or
/// a NaN of the other operand).
/// </summary>
public enum MatMulTriangle
{
    /// <summary>A general product.</summary>
    None,

    /// <summary>
    /// Only the lower triangle of each (square) product is wanted, its diagonal included: the elements above the
    /// diagonal come back zero. The product cannot be added into its output (<c>accumulate</c>), and is not also
    /// declared symmetric.
    /// </summary>
    LowerResult,

    /// <summary>
    /// op(a) is lower triangular: the caller guarantees its elements above the diagonal (row i, column p &gt; i) are
    /// zero. The product then skips them; where they are not zero, the result is not the product.
    /// </summary>
    LowerA,

    /// <summary>
    /// op(a) is upper triangular: the caller guarantees its elements below the diagonal (row i, column p &lt; i) are
    /// zero, as in the transpose of a lower triangular matrix. The product then skips them; where they are not zero,
    /// the result is not the product.
    /// </summary>
    UpperA,
}
