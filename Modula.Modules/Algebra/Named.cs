using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules.Algebra;

/// <summary>A module shown under a name (in summaries and error paths); otherwise identical to <see
/// cref="Inner"/>.</summary>
public sealed class Named : Module
{
    /// <summary>Names <paramref name="inner"/>.</summary>
    public Named(Module inner, string name)
        : base(Given(inner, nameof(inner)).Mass, inner.Sensitivity, inner.AtomCount, inner.BondCount, inner.Smooth)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (string.IsNullOrWhiteSpace(name))
            throw new ArgumentException($"Named: {inner.Label} needs a name that is not empty.", nameof(name));
        Inner = inner;
        Name = name;
    }

    /// <summary>Names <paramref name="inner"/> and bounds it by <paramref name="rule"/> instead of through its
    /// parts (for a compound whose parts have no bound alone, like attention's).</summary>
    internal Named(Module inner, string name, LipschitzRule? rule)
        : this(inner, name) => Rule = rule;

    /// <summary>The bound of the whole, when the parts' bounds do not compose into one.</summary>
    internal LipschitzRule? Rule { get; }

    /// <summary>The module being named.</summary>
    public Module Inner { get; }

    /// <summary>The name.</summary>
    public string Name { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<Module> Children => [Inner];

    /// <inheritdoc/>
    public override string Label => Name;

    /// <inheritdoc/>
    public override int? InputWidth => Inner.InputWidth;

    /// <inheritdoc/>
    public override int? OutputWidth => Inner.OutputWidth;

    /// <inheritdoc/>
    public override bool PreservesWidth => Inner.PreservesWidth;

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights) =>
        Inner.Run(inputs, weights);

    internal override void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms) =>
        Inner.CollectAtoms(path.Length == 0 ? Name : $"{path}/{Name}", atoms);

    internal override void AssignTargets(double target, Span<double> targets) => Inner.AssignTargets(target, targets);

    internal override double NormOf(ReadOnlySpan<Tensor> weights) => Inner.NormOf(weights);

    internal override double? LipschitzOf(ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace)
    {
        string here = Join(path, Name);
        if (Rule is not null)
            return Rule.Bound(Inner, weights, here, trace);
        double? bound = Inner.LipschitzOf(weights, here, trace);
        trace.Parts.Add(new LipschitzPart(here, Name, bound, null));
        return bound;
    }

    internal override Module Rescaled(double factor) => new Named(Inner.Rescaled(factor), Name, Rule);
}

/// <summary>A certified bound for a whole compound, from its atoms' weights and the trace's domain.</summary>
internal abstract class LipschitzRule
{
    /// <summary>
    /// The bound of <paramref name="inner"/> for <paramref name="weights"/> (null with a reported reason when
    /// there is none); reports its parts and itself under <paramref name="path"/> and replaces the trace's token
    /// norms by its output's.
    /// </summary>
    public abstract double? Bound(Module inner, ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace);
}
