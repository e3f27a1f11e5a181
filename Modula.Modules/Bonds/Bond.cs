using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>
/// A module without weights: mass 0, no atoms, one bond. Its update, norm and targets are
/// all zero-dimensional. Derive from <see cref="UnaryBond"/> for one-input bonds.
/// </summary>
public abstract class Bond : Module
{
    /// <summary>Creates a bond with the given input sensitivity.</summary>
    protected Bond(double sensitivity = 1, bool smooth = true)
        : base(0, sensitivity, 0, 1, smooth) { }

    internal sealed override void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms) { }

    internal sealed override void AssignTargets(double target, Span<double> targets) { }

    internal sealed override double NormOf(ReadOnlySpan<Tensor> weights) => 0;

    internal sealed override Module Rescaled(double factor) => this;

    /// <summary>
    /// A true Lipschitz constant of the bond's forward function in the ℓ2 norm (not its Modula sensitivity, which
    /// may be an RMS gain: ReLU's 1/√2), or null when the function has no global one. Null by default: a bond is
    /// only certified once it states its constant.
    /// </summary>
    public virtual double? LipschitzConstant => null;

    /// <summary>Why <see cref="LipschitzConstant"/> is null, for a certificate's reader.</summary>
    protected virtual string NoLipschitzConstantBecause => $"{Label} declares no Lipschitz constant";

    /// <summary>
    /// Bounds on the ℓ2 norm of each token vector of every output (see <see cref="LipschitzDomain"/>), given
    /// bounds on every input's; null when the bond gives none (the default: only bonds that keep each token
    /// apart, or combine whole tensors, state one).
    /// </summary>
    internal virtual double[]? TokenNormBounds(double[] inputs) => null;

    internal sealed override double? LipschitzOf(ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace)
    {
        trace.TokenNorms = trace.TokenNorms is double[] input ? TokenNormBounds(input) : null;
        if (LipschitzConstant is null)
            trace.Parts.Add(new LipschitzPart(Join(path, Label), Label, null, NoLipschitzConstantBecause));
        return LipschitzConstant;
    }

    /// <summary>The single input of a one-input bond, or an error naming the bond.</summary>
    protected Variable Single(IReadOnlyList<Variable> inputs) =>
        inputs.Count == 1 ? inputs[0] : throw new ModuleException($"expects one input, got {inputs.Count}.");

    /// <summary>Exactly <paramref name="count"/> inputs, or an error naming the bond.</summary>
    protected void Expect(IReadOnlyList<Variable> inputs, int count, string what)
    {
        if (inputs.Count != count)
            throw new ModuleException($"expects {count} inputs ({what}), got {inputs.Count}.");
    }
}

/// <summary>A bond with one input and one output.</summary>
public abstract class UnaryBond : Bond
{
    /// <summary>Creates a one-input bond.</summary>
    protected UnaryBond(double sensitivity = 1, bool smooth = true)
        : base(sensitivity, smooth) { }

    /// <summary>The forward function.</summary>
    protected abstract Variable Forward(Variable x);

    /// <summary>
    /// A bound on the ℓ2 norm of each output token vector given one on the input's, or null (the default). A
    /// bond applied to each entry alone with f(0) = 0 returns its Lipschitz constant times the input's:
    /// |f(a)| = |f(a) − f(0)| ≤ L·|a| entry by entry.
    /// </summary>
    protected virtual double? TokenNormBound(double input) => null;

    internal sealed override double[]? TokenNormBounds(double[] inputs) =>
        inputs is [double r] && TokenNormBound(r) is double t ? [t] : null;

    /// <inheritdoc/>
    protected internal sealed override Variable[] Apply(
        IReadOnlyList<Variable> inputs,
        ReadOnlySpan<Variable> weights
    ) => [Forward(Single(inputs))];
}

/// <summary>A one-input bond whose output has its input's shape (activations, normalizations).</summary>
public abstract class ElementwiseBond : UnaryBond
{
    /// <summary>Creates a shape-preserving bond.</summary>
    protected ElementwiseBond(double sensitivity = 1, bool smooth = true)
        : base(sensitivity, smooth) { }

    /// <inheritdoc/>
    public override bool PreservesWidth => true;
}
