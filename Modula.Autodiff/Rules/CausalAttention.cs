using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// Causal self-attention on q, k, v [B, heads, T, d]: softmax(scale·q·kᵀ masked above the diagonal)·v, as one
    /// rule. Modula uses scale = 1/d (not 1/√d). Forward and backward are those of <see cref="MatMul"/>, <see
    /// cref="CausalSoftmax"/> and <see cref="MatMul"/> in turn, with the same results for finite inputs (on the CPU in
    /// float32 to the bit, the signs of zero gradients aside); but query i sees keys j ≤ i
    /// only, so the scores and their gradient are wanted on and below the diagonal only, and the weights and their
    /// gradient are zero above it. Each of the six products says which (<see cref="MatMulTriangle"/>), and the CPU
    /// skips about a third of its work.
    /// </summary>
    public static Variable CausalAttention(Variable q, Variable k, Variable v, double scale)
    {
        Given(q);
        Given(k);
        Given(v);
        // Said here, where the cause is, rather than by the lower-triangle product that would refuse it.
        if (q.Shape.Rank >= 2 && k.Shape.Rank >= 2 && q.Shape[-2] != k.Shape[-2])
            throw new ArgumentException(
                $"CausalAttention: q {q.Shape} and k {k.Shape} must have as many positions: query i sees keys j ≤ i."
            );
        // Scalar multiples of the operands (Modula's Mul bonds) join the products' α, as in MatMul.
        (q, var fq) = q.Unscaled();
        (k, var fk) = k.Unscaled();
        (v, var fv) = v.Unscaled();
        double qk = fq * fk;
        Tensor weights;
        using (
            var scores = Ops.MatMul(q.Value, k.Value, transposeB: true, alpha: qk, triangle: MatMulTriangle.LowerResult)
        )
            weights = Ops.Softmax(scores, scale, causal: true);
        Tensor output;
        try
        {
            output = Ops.MatMul(weights, v.Value, alpha: fv, triangle: MatMulTriangle.LowerA);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
        if (NoGrad.IsActive || !(q.RequiresGrad || k.RequiresGrad || v.RequiresGrad))
        {
            weights.Dispose();
            return new Variable(output);
        }
        return Variable.FromOp(output, [q, k, v], g =>
        {
            // v: (fv·P)ᵀ·dO, the weights' transpose upper triangular.
            g.SendProduct(v, weights, g, transposeA: true, transposeB: false, fv, MatMulTriangle.UpperA);
            if (!q.RequiresGrad && !k.RequiresGrad)
                return;
            // The weights' gradient below the diagonal is all the softmax's backward reads; the scores' gradient is
            // then zero above it, as the weights are.
            Tensor scoresGradient;
            using (
                var weightsGradient = Ops.MatMul(
                    g,
                    v.Value,
                    transposeB: true,
                    alpha: fv,
                    triangle: MatMulTriangle.LowerResult
                )
            )
                scoresGradient = Ops.SoftmaxBackward(weightsGradient, weights, scale);
            using (scoresGradient)
            {
                g.SendProduct(
                    q,
                    scoresGradient,
                    k.Value,
                    transposeA: false,
                    transposeB: false,
                    qk,
                    MatMulTriangle.LowerA
                );
                g.SendProduct(
                    k,
                    scoresGradient,
                    q.Value,
                    transposeA: true,
                    transposeB: false,
                    qk,
                    MatMulTriangle.UpperA
                );
            }
        });
    }
}
