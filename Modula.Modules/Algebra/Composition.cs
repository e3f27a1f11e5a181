using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules.Algebra;

/// <summary>
/// <c>First &gt;&gt; Then</c>: runs <see cref="First"/> and feeds its output to <see cref="Then"/>.
/// Masses add, sensitivities multiply; weights are <see cref="First"/>'s followed by <see cref="Then"/>'s.
/// </summary>
public sealed class Composition : Module
{
    /// <summary>Composes two modules; throws when their declared feature widths cannot meet.</summary>
    public Composition(Module first, Module then)
        : base(
            Given(first, nameof(first)).Mass + Given(then, nameof(then)).Mass,
            first.Sensitivity * then.Sensitivity,
            first.AtomCount + then.AtomCount,
            first.BondCount + then.BondCount,
            first.Smooth && then.Smooth
        )
    {
        if (first.OutputWidth is int produced && then.InputWidth is int expected && produced != expected)
            throw new ModuleException(
                $"{Describe(first)} >> {Describe(then)}",
                $"cannot compose: the first produces {produced} features, the second expects {expected}."
            );
        // First's share of a target is divided by Then's sensitivity: at 0 (a bond of sensitivity 0, or a product of
        // sensitivities that underflowed), or one so small its reciprocal overflows, it would be infinite.
        if (!double.IsFinite(1 / then.Sensitivity) && first.Mass > 0)
            throw new ModuleException(
                $"{Describe(first)} >> {Describe(then)}",
                "cannot compose: the second has sensitivity 0, so the first's weights would take updates of any size "
                    + "(their targets are divided by it)."
            );
        First = first;
        Then = then;
    }

    /// <summary>The input-side module (Modula's m0).</summary>
    public Module First { get; }

    /// <summary>The output-side module (Modula's m1).</summary>
    public new Module Then { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<Module> Children => [First, Then];

    /// <inheritdoc/>
    public override string Label => "Sequence";

    /// <inheritdoc/>
    public override int? InputWidth => First.InputWidth ?? (First.PreservesWidth ? Then.InputWidth : null);

    /// <inheritdoc/>
    public override int? OutputWidth => Then.OutputWidth ?? (Then.PreservesWidth ? First.OutputWidth : null);

    /// <inheritdoc/>
    public override bool PreservesWidth => First.PreservesWidth && Then.PreservesWidth;

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        var middle = First.Run(inputs, weights[..First.AtomCount]);
        return Then.Run(middle, weights[First.AtomCount..]);
    }

    internal override void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms)
    {
        First.CollectAtoms(path, atoms);
        Then.CollectAtoms(path, atoms);
    }

    internal override void AssignTargets(double target, Span<double> targets)
    {
        if (Mass == 0)
        {
            targets.Clear();
            return;
        }
        First.AssignTargets(target * First.Mass / Mass / Then.Sensitivity, targets[..First.AtomCount]);
        Then.AssignTargets(target * Then.Mass / Mass, targets[First.AtomCount..]);
    }

    internal override double? LipschitzOf(ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace)
    {
        // Both sides are visited, so every excluded part is reported, not only the first; the trace carries the
        // token-norm bounds of First's output on to Then.
        double? first = First.LipschitzOf(weights[..First.AtomCount], path, trace);
        double? then = Then.LipschitzOf(weights[First.AtomCount..], path, trace);
        return first * then;
    }

    internal override double NormOf(ReadOnlySpan<Tensor> weights)
    {
        double first =
            First.Mass == 0 ? 0 : Then.Sensitivity * (Mass / First.Mass) * First.NormOf(weights[..First.AtomCount]);
        double then = Then.Mass == 0 ? 0 : Mass / Then.Mass * Then.NormOf(weights[First.AtomCount..]);
        return Math.Max(first, then);
    }

    /// <summary>A chain's steps in data-flow order, for messages.</summary>
    internal static string Describe(Module m) =>
        m is Composition c ? $"{Describe(c.First)} >> {Describe(c.Then)}" : m.Label;

    internal override Module Rescaled(double factor) => new Composition(First.Rescaled(factor), Then.Rescaled(factor));
}
