namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// What the caller of <see cref="PackedGemm{TKernel}"/> states about op(A): nothing, or that it is triangular, its
/// elements on one side of the diagonal (element (i, p) with p = i on it) all zero. The product then skips, tile by
/// tile, the depths that meet only those zeros, and is otherwise the same: each element of C sums the same terms in
/// the same order, less terms that are exactly zero.
/// </summary>
internal enum TriangularA
{
    /// <summary>A general A.</summary>
    None,

    /// <summary>Lower triangular: A(i, p) = 0 for p &gt; i, as causal attention's weights and their
    /// gradient.</summary>
    Lower,

    /// <summary>Upper triangular: A(i, p) = 0 for p &lt; i, as the transpose of a lower triangular matrix.</summary>
    Upper,
}
