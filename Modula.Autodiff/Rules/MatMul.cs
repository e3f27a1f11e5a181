using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// Batched product y = α·op(a)·op(b) (op = optional transpose of the last two axes; α is
    /// applied inside the product). da = α·g·op(b)ᵀ (transposed back when a was), db =
    /// α·op(a)ᵀ·g (likewise); broadcast batch axes are summed away on delivery (<see cref="Upstream"/>).
    /// Operands that are scalar multiples (<see cref="Scale"/>) are read unscaled, their factors in α.
    /// </summary>
    public static Variable MatMul(
        Variable a,
        Variable b,
        bool transposeA = false,
        bool transposeB = false,
        double alpha = 1
    )
    {
        // Scalar multiples of the operands (Modula's Mul bonds) join α instead of costing a pass.
        (a, var fa) = Given(a).Unscaled();
        (b, var fb) = Given(b).Unscaled();
        alpha *= fa * fb;
        // Rows times one matrix ([..., M, K]·[K, N], a layer applied to a batch of sequences) is a
        // single product [(…·M), K]·[K, N]: one large GEMM forward, and the weight gradient is one
        // long-K product instead of a batch of products summed afterwards.
        if (b.Shape.Rank == 2 && a.Shape.Rank > 2 && !transposeA)
        {
            // The row count is spelled out: -1 cannot be inferred when K is 0.
            int count = 1;
            foreach (var d in a.Shape.Dims[..^1])
                count *= d;
            var rows = MatMulRule(Reshape(a, count, a.Shape[-1]), b, false, transposeB, alpha);
            return Reshape(rows, [.. a.Shape.Dims[..^1], rows.Shape[-1]]);
        }
        return MatMulRule(a, b, transposeA, transposeB, alpha);
    }

    private static Variable MatMulRule(Variable a, Variable b, bool transposeA, bool transposeB, double alpha) =>
        Variable.FromOp(Ops.MatMul(a.Value, b.Value, transposeA, transposeB, alpha), [a, b], g =>
        {
            if (a.RequiresGrad)
            {
                if (transposeA)
                    // (g·op(b)ᵀ)ᵀ = op(b)·gᵀ
                    g.SendProduct(a, b.Value, g, transposeA: transposeB, transposeB: true, alpha);
                else
                    g.SendProduct(a, g, b.Value, transposeA: false, transposeB: !transposeB, alpha);
            }
            if (b.RequiresGrad)
            {
                if (transposeB)
                    // (op(a)ᵀ·g)ᵀ = gᵀ·op(a)
                    g.SendProduct(b, g, a.Value, transposeA: true, transposeB: transposeA, alpha);
                else
                    g.SendProduct(b, a.Value, g, transposeA: !transposeA, transposeB: false, alpha);
            }
        });
}
