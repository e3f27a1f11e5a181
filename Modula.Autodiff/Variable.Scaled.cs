using Modula.Tensors;

namespace Modula.Autodiff;

/// <summary>
/// Lazy scalar multiples, the one place that owns the idea.
/// <para>
/// Modula's networks multiply by constants everywhere: <c>Mul</c> bonds, residual weights
/// (1 − 1/L)·x + (1/L)·block(x), attention's 1/d, a mean's 1/n. Each would be a full pass over an
/// activation forward and another over its gradient. Instead <see cref="F.Scale"/> records
/// factor · base without computing it, and the ops below take the factor into work they do anyway:
/// </para>
/// <list type="bullet">
/// <item><see cref="F.MatMul"/>: into the product's α, forward and for both gradients.</item>
/// <item><see cref="F.Add"/>: one pass α·a + β·b (a residual connection), gradients scaled in
/// the same pass that delivers them (<see cref="Upstream.Pass(Variable, double)"/>).</item>
/// <item><see cref="F.Softmax"/> (any axis) and <see cref="F.CausalSoftmax"/>: into the softmax's
/// scale.</item>
/// <item><see cref="F.Reshape"/> and <see cref="F.Permute"/>: a view of a multiple stays a
/// multiple of the view.</item>
/// <item><see cref="F.Scale"/>: factors multiply.</item>
/// </list>
/// Every other op reads <see cref="Value"/>, which materializes the multiple in one pass, correctly
/// but at full cost. An op that can fold a factor should call <see cref="Unscaled"/>, apply the
/// factor itself, list the base (not the multiple) as its input and scale the base's gradient.
/// A test walks a GPT's graph and fails if any multiple reaches an op that reads its value.
/// </summary>
public sealed partial class Variable
{
    private readonly Variable? _scaledFrom;
    private readonly double _factor = 1;

    private Variable(Variable source, double factor, Node? node)
    {
        _scaledFrom = source;
        _factor = factor;
        RequiresGrad = node is not null;
        _node = node;
    }

    /// <summary>
    /// This variable as factor · base: (the variable it scales, the factor) for a lazy multiple
    /// from <see cref="F.Scale"/>, else (this, 1). An op that reads the base and applies the
    /// factor itself must also send its gradient to the base, scaled by the factor.
    /// </summary>
    public (Variable Base, double Factor) Unscaled() => _scaledFrom is null ? (this, 1) : (_scaledFrom, _factor);

    /// <summary>True for a lazy multiple whose value some op computed in a full pass.</summary>
    internal bool IsMaterializedMultiple => _scaledFrom is not null && _value is not null && _factor != 1;

    /// <summary>factor · <paramref name="source"/>, computed only if its value is read.</summary>
    internal static Variable Scaled(Variable source, double factor)
    {
        var (root, f) = source.Unscaled();
        factor *= f;
        var node = NoGrad.IsActive || !root.RequiresGrad ? null : new Node([root], g => g.Pass(root, factor));
        return new Variable(root, factor, node);
    }

    /// <summary>The value of factor · base: a view of the base's value for a unit factor (Modula's
    /// <c>Mul(1)</c> bonds), which therefore follows later in-place changes to the base, else one
    /// pass, a snapshot taken at first read.</summary>
    private Tensor MaterializeMultiple()
    {
        var value = _scaledFrom!.Value;
        return _factor == 1 ? value.View(value.Shape.Dims.ToArray()) : Ops.Mul(value, _factor);
    }
}
