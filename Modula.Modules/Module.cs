using Modula.Modules.Algebra;

namespace Modula.Modules;

/// <summary>
/// A Modula module: a forward function with a <see cref="Mass"/> (its share of feature
/// learning) and a <see cref="Sensitivity"/> (its Lipschitz constant in the input), plus the
/// norm its weights are measured in. Modules are immutable descriptions; their weights live
/// in a <see cref="Weights"/> vector addressed by position, input side first, so one module
/// object may appear several times in a network without sharing weights.
/// </summary>
/// <remarks>
/// Composition reads in data-flow order: <c>a &gt;&gt; b</c> runs <c>a</c> first and feeds its
/// output to <c>b</c> (Modula's <c>b @ a</c>). <c>Module.Tuple(a, b)</c> runs both on the same
/// input, <c>a + b</c> adds their outputs, <c>s * m</c> scales the output and <c>m * s</c> the
/// input, and <c>m.Repeat(n)</c> chains n independent copies.
/// </remarks>
public abstract partial class Module
{
    /// <summary>A combinator's argument, or an ArgumentNullException naming it (checked before its mass is
    /// read).</summary>
    private protected static Module Given(Module? module, string name) =>
        module ?? throw new ArgumentNullException(name, $"A module combinator was given a null {name}.");

    private protected Module(double mass, double sensitivity, int atoms, int bonds, bool smooth)
    {
        if (!(mass >= 0) || double.IsInfinity(mass))
            throw new ArgumentException($"{GetType().Name}: mass must be finite and ≥ 0, got {mass}.");
        if (!(sensitivity >= 0) || double.IsInfinity(sensitivity))
            throw new ArgumentException($"{GetType().Name}: sensitivity must be finite and ≥ 0, got {sensitivity}.");
        Mass = mass;
        Sensitivity = sensitivity;
        AtomCount = atoms;
        BondCount = bonds;
        Smooth = smooth;
    }

    /// <summary>The proportion of feature learning this module contributes to any supermodule.</summary>
    public double Mass { get; }

    /// <summary>Bound on how much the output moves per unit move of the input (in the module's norms).</summary>
    public double Sensitivity { get; }

    /// <summary>Number of weight tensors (atoms) in this module: the length of its weight vector.</summary>
    public int AtomCount { get; }

    /// <summary>Number of weightless modules (bonds) in this module.</summary>
    public int BondCount { get; }

    /// <summary>True when every piece is smooth (Modula v2's flag; ReLU and GELU are not).</summary>
    public bool Smooth { get; }

    /// <summary>The direct submodules in data-flow order.</summary>
    public virtual IReadOnlyList<Module> Children => [];

    /// <summary>A short description used in summaries and error messages, e.g. <c>Linear(128→512)</c>.</summary>
    public virtual string Label => GetType().Name;

    // ---- the algebra ------------------------------------------------------------------------

    /// <summary>Composition in data-flow order: <paramref name="first"/> runs, then <paramref name="then"/> (Modula's
    /// <c>then @ first</c>).</summary>
    public static Module operator >>(Module first, Module then) => new Composition(first, then);

    /// <summary>Feeds this module's output to two modules side by side (their outputs form a tuple).</summary>
    public static Module operator >>(Module first, (Module, Module) then) =>
        new Composition(first, Tuple(then.Item1, then.Item2));

    /// <summary>Feeds this module's output to three modules side by side (their outputs form a tuple).</summary>
    public static Module operator >>(Module first, (Module, Module, Module) then) =>
        new Composition(first, Tuple(then.Item1, then.Item2, then.Item3));

    /// <summary>Runs both modules on the same input and adds their outputs (Modula's <c>Add() @ (a, b)</c>).
    /// Throws when their declared output widths differ.</summary>
    public static Module operator +(Module a, Module b)
    {
        Given(a, nameof(a));
        Given(b, nameof(b));
        // A side that declares no output width but preserves its input's (Identity, a residual's skip path) produces
        // the width the other side reads.
        int? input = a.InputWidth ?? b.InputWidth;
        int? Produced(Module m) => m.OutputWidth ?? (m.PreservesWidth ? input : null);
        if (Produced(a) is int left && Produced(b) is int right && left != right)
            throw new ModuleException(
                $"{Composition.Describe(a)} + {Composition.Describe(b)}",
                $"cannot add: the first produces {left} features, the second {right}."
            );
        return new Composition(Tuple(a, b), new Add());
    }

    /// <summary>Scales the output: <c>s * m</c> is Modula's <c>Mul(s) @ m</c>.</summary>
    public static Module operator *(double scale, Module m) => new Composition(m, new Mul(scale));

    /// <summary>Scales the input: <c>m * s</c> is Modula's <c>m @ Mul(s)</c>.</summary>
    public static Module operator *(Module m, double scale) => new Composition(new Mul(scale), m);

    /// <summary>Runs every child on the same input; the output is the list of their outputs (mass and sensitivity
    /// add).</summary>
    public static Module Tuple(params Module[] children) => new TupleModule(children);

    /// <summary>Alias of <c>first &gt;&gt; then</c> for callers that prefer a method.</summary>
    public Module Then(Module then) => new Composition(this, then);

    /// <summary>
    /// This module composed with itself <paramref name="times"/> times, each copy with its own
    /// weights (Modula's <c>M ** n</c>, which ends in an Identity).
    /// </summary>
    public Module Repeat(int times)
    {
        if (times < 0)
            throw new ArgumentOutOfRangeException(nameof(times), $"{Label}.Repeat: count must be ≥ 0, got {times}.");
        var (inner, name) = this is Named named ? (named.Inner, named.Name) : (this, Label);
        Module result = new Identity();
        for (int i = 0; i < times; i++)
            result = new Composition(result, new Named(inner, $"{name}[{i}]"));
        return result;
    }

    /// <summary>
    /// Rescales every mass in this module so its total becomes <paramref name="absolute"/>,
    /// returning a new module (this one is unchanged). Bonds keep mass 0.
    /// </summary>
    public Module Tare(double absolute = 1)
    {
        if (!(absolute > 0) || double.IsPositiveInfinity(absolute))
            throw new ArgumentOutOfRangeException(
                nameof(absolute),
                $"{Label}.Tare: target mass must be finite and > 0, got {absolute}."
            );
        if (Mass == 0)
            throw new InvalidOperationException($"{Label}.Tare: a module of mass 0 cannot be rescaled.");
        double factor = absolute / Mass;
        if (!double.IsFinite(factor))
            throw new ArgumentOutOfRangeException(
                nameof(absolute),
                $"{Label}.Tare: mass {absolute} is {factor} times this module's {Mass}, past a double's range."
            );
        return Rescaled(factor);
    }

    /// <summary>The same module under a name shown in summaries and error paths.</summary>
    public Module Named(string name) => new Named(this, name);

    // ---- shape hints for composition checks ------------------------------------------------

    /// <summary>Feature width this module expects on the last input axis, when it is fixed.</summary>
    public virtual int? InputWidth => null;

    /// <summary>Feature width this module produces on the last output axis, when it is fixed.</summary>
    public virtual int? OutputWidth => null;

    /// <summary>True when the output has the input's feature width (elementwise bonds, normalizations).</summary>
    public virtual bool PreservesWidth => false;

    /// <summary>The module tree with atoms, bonds, mass, sensitivity and each atom's target at top-level target
    /// 1.</summary>
    public string Summary() => ModuleSummary.Format(this);

    /// <summary>
    /// What this module's <see cref="Label"/> leaves out and a checkpoint of it must match (a convolution's stride and
    /// padding, a rotary encoding's base), or null. Kept out of the label, which names the weights in a checkpoint,
    /// so that checkpoints written before a detail was recorded still load. Internal: the library's modules say what
    /// their labels leave out; a module of another assembly records its details in its label.
    /// </summary>
    internal virtual string? ArchitectureDetail => null;

    /// <summary>
    /// Every module's <see cref="ArchitectureDetail"/> in tree order, numbered by its place in that order: the part of
    /// the architecture that <see cref="Summary"/> does not show (empty when no module has one).
    /// </summary>
    public string ArchitectureDetails()
    {
        var lines = new List<string>();
        var pending = new Stack<Module>([this]);
        for (int index = 0; pending.TryPop(out var m); index++)
        {
            if (m.ArchitectureDetail is { } detail)
                lines.Add($"{index} {m.Label}: {detail}");
            for (int c = m.Children.Count - 1; c >= 0; c--)
                pending.Push(m.Children[c]);
        }
        return string.Join("\n", lines);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Label}: {AtomCount} atoms, {BondCount} bonds, {(Smooth ? "smooth" : "non-smooth")}, mass {Mass:G4}, "
        + $"sensitivity {Sensitivity:G4}";
}
