using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// Batched product y = op(a)·op(b) (op = optional transpose of the last two axes).
    /// da = g·op(b)ᵀ (transposed back when a was), db = op(a)ᵀ·g (likewise); broadcast batch
    /// axes are summed away by <see cref="Variable.Accumulate"/>.
    /// </summary>
    public static Variable MatMul(Variable a, Variable b, bool transposeA = false, bool transposeB = false) =>
        Variable.FromOp(Ops.MatMul(a.Value, b.Value, transposeA, transposeB), [a, b], g =>
        {
            if (a.RequiresGrad)
                a.Accumulate(transposeA
                    ? Ops.MatMul(b.Value, g, transposeA: transposeB, transposeB: true)     // (g·op(b)ᵀ)ᵀ = op(b)·gᵀ
                    : Ops.MatMul(g, b.Value, transposeA: false, transposeB: !transposeB));
            if (b.RequiresGrad)
                b.Accumulate(transposeB
                    ? Ops.MatMul(g, a.Value, transposeA: true, transposeB: transposeA)     // (op(a)ᵀ·g)ᵀ = gᵀ·op(a)
                    : Ops.MatMul(a.Value, g, transposeA: !transposeA, transposeB: false));
        });
}
