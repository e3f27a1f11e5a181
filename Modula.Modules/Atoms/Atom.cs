using Modula.Autodiff;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Modules;

/// <summary>
/// A module with exactly one weight tensor, sensitivity 1 and its own norm. An atom knows how
/// to draw its weights, measure them, and turn a gradient into an update of a given norm.
/// Weights use Modula v1's parametrization: the forward pass applies the atom's scale factor,
/// so the stored tensor is the "raw" one (semi-orthogonal matrices, unit-norm embedding rows).
/// </summary>
public abstract class Atom : Module
{
    /// <summary>Creates an atom of the given mass.</summary>
    protected Atom(double mass, bool smooth = true)
        : base(mass, 1, 1, 0, smooth) { }

    /// <summary>The shape of this atom's weight tensor.</summary>
    public abstract Shape WeightShape { get; }

    /// <summary>The forward function for one input and this atom's weight.</summary>
    protected abstract Variable Forward(Variable x, Variable weight);

    /// <inheritdoc/>
    protected internal sealed override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        if (inputs.Count != 1)
            throw new ModuleException($"expects one input, got {inputs.Count}.");
        return [Forward(inputs[0], weights[0])];
    }

    /// <summary>Draws a fresh weight tensor.</summary>
    public abstract Tensor InitializeWeight(Generator rng, Device device, DType dtype);

    /// <summary>The atom's norm of <paramref name="weight"/> (host computation).</summary>
    public abstract double WeightNorm(Tensor weight);

    /// <summary>Modula v1: <paramref name="update"/> rescaled to norm <paramref name="target"/>, estimating the norm
    /// with the warm-started vector <paramref name="index"/> of <paramref name="state"/>. Returns a new tensor and
    /// only reads <paramref name="update"/>, which may be an optimizer's own state.</summary>
    public abstract Tensor NormalizeWeight(Tensor update, double target, NormalizeState state, int index);

    /// <summary>Modula v2: the steepest direction of norm <paramref name="target"/> for <paramref
    /// name="gradient"/>. Returns a new tensor and only reads <paramref name="gradient"/>, which may be an
    /// optimizer's own state.</summary>
    public abstract Tensor DualizeWeight(Tensor gradient, double target, Orthogonalizer method);

    /// <summary>
    /// Manifold descent: the steepest direction of norm <paramref name="target"/> for <paramref name="gradient"/>
    /// that is tangent to the atom's constraint set at <paramref name="weight"/>, so that a step followed by <see
    /// cref="ProjectWeight"/> stays on it. Matrices: manifold Muon on the Stiefel manifold; embeddings:
    /// hyperspherical descent on each row. Dual-ascent costs are added to <paramref name="stats"/>. Returns a new
    /// tensor and only reads <paramref name="gradient"/>, which may be an optimizer's own state.
    /// </summary>
    public virtual Tensor ManifoldWeight(
        Tensor gradient,
        Tensor weight,
        double target,
        ManifoldMuonOptions options,
        ManifoldStats stats
    ) => throw new ModuleException(Label, "has no manifold update (Linear, Conv2D and Embedding atoms do).");

    /// <summary>The nearest weight on the atom's constraint set.</summary>
    public abstract Tensor ProjectWeight(Tensor weight);

    /// <summary>Modula v1's weight decay with <paramref name="strength"/>.</summary>
    public abstract Tensor RegularizeWeight(Tensor weight, double strength);

    /// <summary><see cref="RegularizeWeight"/> written back into <paramref name="weight"/> (atoms that can, do it in
    /// one pass).</summary>
    public virtual void RegularizeWeightInPlace(Tensor weight, double strength)
    {
        using var regularized = RegularizeWeight(weight, strength);
        Ops.CopyInto(regularized, weight);
    }

    /// <summary>
    /// The factor f when <see cref="RegularizeWeight"/> is the multiplication <c>w·f</c> (matrices:
    /// 1 − strength), else null. A trainer folds such a decay into the pass that applies the update.
    /// </summary>
    public virtual double? DecayFactor(double strength) => null;

    /// <summary>
    /// A certified Lipschitz bound of the atom's forward function in its input, in the ℓ2 norm, for <paramref
    /// name="weight"/>; null when there is none (see <see cref="NoLipschitzBoundBecause"/>).
    /// </summary>
    public virtual double? LipschitzBound(Tensor weight) => null;

    /// <summary>Why <see cref="LipschitzBound"/> is null, for a certificate's reader.</summary>
    protected virtual string NoLipschitzBoundBecause => $"{Label} declares no Lipschitz bound";

    /// <summary>
    /// A bound on the ℓ2 norm of each token vector of the output for <paramref name="weight"/>, given one on the
    /// input's (null when unknown); null when the atom gives none. Atoms that act on each token alone with
    /// f(0) = 0 (Linear) return their Lipschitz bound times the input's.
    /// </summary>
    public virtual double? TokenNormBound(Tensor weight, double? input) => null;

    internal sealed override double? LipschitzOf(ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace)
    {
        double[]? input = trace.TokenNorms;
        double? tokens = TokenNormBound(weights[0], input is [double r] ? r : null);
        trace.TokenNorms = tokens is double t && double.IsFinite(t) ? [t] : null;
        double? bound = LipschitzBound(weights[0]);
        string? reason = bound switch
        {
            null => NoLipschitzBoundBecause,
            double b when !(b >= 0) || double.IsInfinity(b) => $"its weight is not finite (bound {b})",
            _ => null,
        };
        if (reason is not null)
            bound = null;
        trace.Parts.Add(new LipschitzPart(Join(path, Label), Label, bound, reason));
        return bound;
    }

    /// <summary>The same atom with a different mass.</summary>
    protected abstract Atom WithMass(double mass);

    internal sealed override void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms) =>
        atoms.Add((path.Length == 0 ? Label : $"{path}/{Label}", this));

    internal sealed override void AssignTargets(double target, Span<double> targets) =>
        targets[0] = Mass == 0 ? 0 : target;

    internal sealed override double NormOf(ReadOnlySpan<Tensor> weights) => WeightNorm(weights[0]);

    internal sealed override Module Rescaled(double factor) => WithMass(Mass * factor);

    /// <summary>Checks that the input's last axis has <paramref name="width"/> features.</summary>
    protected void ExpectFeatures(Variable x, int width, int axis = -1)
    {
        if (x.Shape.Rank == 0 || x.Shape[axis] != width)
            throw new ModuleException($"input {x.Shape} should have {width} features on axis {axis}.");
    }
}
