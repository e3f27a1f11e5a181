using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>
/// Modula v1's attention on (q, k, v) [B, H, T, d]: softmax(q·kᵀ/d)·v with scale 1/d (not 1/√d),
/// causally masked when asked; sensitivity 1.
/// </summary>
public sealed class FunctionalAttention(bool causal) : Bond
{
    /// <summary>True to mask keys after each query.</summary>
    public bool Causal { get; } = causal;

    /// <inheritdoc/>
    public override string Label => $"FunctionalAttention(causal={Causal})";

    /// <inheritdoc/>
    protected override string NoLipschitzConstantBecause => Attention.NotLipschitz;

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        Expect(inputs, 3, "q, k, v");
        var (q, k, v) = (inputs[0], inputs[1], inputs[2]);
        double scale = 1.0 / q.Shape[-1];
        if (Causal)
            return [F.CausalAttention(q, k, v, scale)];
        return [F.MatMul(F.Softmax(F.MatMul(q, k, transposeB: true), -1, scale), v)];
    }
}

/// <summary>Modula v2's attention logits: (q, k) [B, H, T, d] → q·kᵀ/d [B, H, T, T]; sensitivity 1.</summary>
public sealed class AttentionQK : Bond
{
    /// <inheritdoc/>
    protected override string NoLipschitzConstantBecause => Attention.NotLipschitz;

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        Expect(inputs, 2, "q, k");
        var (q, k) = (inputs[0], inputs[1]);
        if (q.Shape != k.Shape)
            throw new ModuleException($"q {q.Shape} and k {k.Shape} must have the same shape.");
        return [F.MatMul(q, k, transposeB: true, alpha: 1.0 / q.Shape[-1])];
    }
}

/// <summary>Sets scores [..., T, T] above the diagonal to −∞ (query i sees keys j ≤ i); sensitivity 1.</summary>
public sealed class CausalMask : ElementwiseBond
{
    /// <inheritdoc/>
    protected override string NoLipschitzConstantBecause =>
        "it writes −∞ into attention scores; " + Attention.NotLipschitz;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x)
    {
        int t = x.Shape[-1];
        if (x.Shape.Rank < 2 || x.Shape[-2] != t)
            throw new ModuleException($"input {x.Shape} should be square in its last two axes.");
        using var mask = F.CausalMask(t, x.Value.DType, x.Value.Device);
        var blocked = new Variable(Ops.Full(Shape.Scalar, double.NegativeInfinity, x.Value.DType, x.Value.Device));
        return F.Where(mask, x, blocked);
    }
}

/// <summary>softmax(scale·x) over the last axis; sensitivity = scale (Modula v2).</summary>
public sealed class Softmax : ElementwiseBond
{
    /// <summary>Creates the bond with temperature factor <paramref name="scale"/> (must be positive).</summary>
    public Softmax(double scale = 1)
        : base(
            scale > 0
                ? scale
                : throw new ArgumentOutOfRangeException(nameof(scale), $"Softmax: scale must be positive, got {scale}.")
        ) => Scale = scale;

    /// <summary>The factor applied before the softmax.</summary>
    public double Scale { get; }

    /// <inheritdoc/>
    public override string Label => $"Softmax({Scale:G4})";

    /// <summary>The scale: softmax's Jacobian diag(p) − ppᵀ has spectral norm below 1.</summary>
    public override double? LipschitzConstant => Scale;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.Softmax(x, -1, Scale);
}

/// <summary>Modula v2: (v [B, H, T, d], scores [B, H, T, T]) → scores·v; sensitivity 1.</summary>
public sealed class ApplyAttentionScores : Bond
{
    /// <inheritdoc/>
    protected override string NoLipschitzConstantBecause => Attention.NotLipschitz;

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        Expect(inputs, 2, "v, scores");
        return [F.MatMul(inputs[1], inputs[0])];
    }
}
