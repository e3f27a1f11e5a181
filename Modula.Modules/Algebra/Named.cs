using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules.Algebra;

/// <summary>A module shown under a name (in summaries and error paths); otherwise identical to <see
/// cref="Inner"/>.</summary>
public sealed class Named : Module
{
    /// <summary>Names <paramref name="inner"/>.</summary>
    public Named(Module inner, string name)
        : base(inner.Mass, inner.Sensitivity, inner.AtomCount, inner.BondCount, inner.Smooth)
    {
        Inner = inner;
        Name = name;
    }

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

    internal override double? LipschitzOf(ReadOnlySpan<Tensor> weights, string path, List<LipschitzPart> parts)
    {
        string here = Join(path, Name);
        double? bound = Inner.LipschitzOf(weights, here, parts);
        parts.Add(new LipschitzPart(here, Name, bound, null));
        return bound;
    }

    internal override Module Rescaled(double factor) => new Named(Inner.Rescaled(factor), Name);
}
