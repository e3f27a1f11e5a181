using Modula.Autodiff;
using Modula.Modules.Algebra;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;

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
public abstract class Module
{
    private protected Module(double mass, double sensitivity, int atoms, int bonds, bool smooth)
    {
        if (!(mass >= 0) || double.IsInfinity(mass)) throw new ArgumentException($"{GetType().Name}: mass must be finite and ≥ 0, got {mass}.");
        if (!(sensitivity >= 0) || double.IsInfinity(sensitivity)) throw new ArgumentException($"{GetType().Name}: sensitivity must be finite and ≥ 0, got {sensitivity}.");
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

    /// <summary>Composition in data-flow order: <paramref name="first"/> runs, then <paramref name="then"/> (Modula's <c>then @ first</c>).</summary>
    public static Module operator >>(Module first, Module then) => new Composition(first, then);

    /// <summary>Feeds this module's output to two modules side by side (their outputs form a tuple).</summary>
    public static Module operator >>(Module first, (Module, Module) then) => new Composition(first, Tuple(then.Item1, then.Item2));

    /// <summary>Feeds this module's output to three modules side by side (their outputs form a tuple).</summary>
    public static Module operator >>(Module first, (Module, Module, Module) then) =>
        new Composition(first, Tuple(then.Item1, then.Item2, then.Item3));

    /// <summary>Runs both modules on the same input and adds their outputs (Modula's <c>Add() @ (a, b)</c>).</summary>
    public static Module operator +(Module a, Module b) => new Composition(Tuple(a, b), new Add());

    /// <summary>Scales the output: <c>s * m</c> is Modula's <c>Mul(s) @ m</c>.</summary>
    public static Module operator *(double scale, Module m) => new Composition(m, new Mul(scale));

    /// <summary>Scales the input: <c>m * s</c> is Modula's <c>m @ Mul(s)</c>.</summary>
    public static Module operator *(Module m, double scale) => new Composition(new Mul(scale), m);

    /// <summary>Runs every child on the same input; the output is the list of their outputs (mass and sensitivity add).</summary>
    public static Module Tuple(params Module[] children) => new TupleModule(children);

    /// <summary>Alias of <c>first &gt;&gt; then</c> for callers that prefer a method.</summary>
    public Module Then(Module then) => new Composition(this, then);

    /// <summary>
    /// This module composed with itself <paramref name="times"/> times, each copy with its own
    /// weights (Modula's <c>M ** n</c>, which ends in an Identity).
    /// </summary>
    public Module Repeat(int times)
    {
        if (times < 0) throw new ArgumentOutOfRangeException(nameof(times), $"{Label}.Repeat: count must be ≥ 0, got {times}.");
        var (inner, name) = this is Named named ? (named.Inner, named.Name) : (this, Label);
        Module result = new Identity();
        for (int i = 0; i < times; i++) result = new Composition(result, new Named(inner, $"{name}[{i}]"));
        return result;
    }

    /// <summary>
    /// Rescales every mass in this module so its total becomes <paramref name="absolute"/>,
    /// returning a new module (this one is unchanged). Bonds keep mass 0.
    /// </summary>
    public Module Tare(double absolute = 1)
    {
        if (!(absolute > 0)) throw new ArgumentOutOfRangeException(nameof(absolute), $"{Label}.Tare: target mass must be > 0, got {absolute}.");
        if (Mass == 0) throw new InvalidOperationException($"{Label}.Tare: a module of mass 0 cannot be rescaled.");
        return Rescaled(absolute / Mass);
    }

    /// <summary>The same module under a name shown in summaries and error paths.</summary>
    public Module Named(string name) => new Named(this, name);

    // ---- forward ----------------------------------------------------------------------------

    /// <summary>Runs the module on one input with weights from <see cref="Weights.ToVariables"/>.</summary>
    /// <exception cref="ModuleException">The weights or the input do not fit; the message names the module path and shapes.</exception>
    public Variable Forward(Variable input, IReadOnlyList<Variable> weights)
    {
        var outputs = Forward([input], weights);
        if (outputs.Length != 1) throw new ModuleException(Label, $"produces {outputs.Length} outputs; use the list overload of Forward.");
        return outputs[0];
    }

    /// <summary>Runs the module on a list of inputs (for modules that take tuples).</summary>
    public Variable[] Forward(IReadOnlyList<Variable> inputs, IReadOnlyList<Variable> weights)
    {
        CheckWeights(weights.Select(w => w.Shape).ToArray());
        var array = weights as Variable[] ?? weights.ToArray();
        return Run(inputs, array);
    }

    /// <summary>Runs this module as a child: errors are wrapped with this module's label so the path accumulates.</summary>
    internal Variable[] Run(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        try
        {
            return Apply(inputs, weights);
        }
        catch (ModuleException e)
        {
            throw this is Composition ? e : e.Within(Label);          // a chain is transparent: its steps name themselves
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            string shapes = string.Join(", ", inputs.Select(i => i.Shape.ToString()));
            var error = new ModuleException($"input {shapes}: {e.Message}", e);
            throw this is Composition ? error : error.Within(Label);
        }
    }

    /// <summary>The forward function on a list of inputs, with exactly <see cref="AtomCount"/> weights.</summary>
    protected internal abstract Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights);

    // ---- weights ----------------------------------------------------------------------------

    /// <summary>The atoms in weight-vector order with their paths from this module.</summary>
    public IReadOnlyList<(string Path, Atom Atom)> Atoms()
    {
        if (_atoms is null)                                     // modules are immutable: walk the tree once
        {
            var list = new List<(string, Atom)>(AtomCount);
            CollectAtoms("", list);
            _atoms = list;
        }
        return _atoms;
    }

    private IReadOnlyList<(string Path, Atom Atom)>? _atoms;

    internal abstract void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms);

    /// <summary>Draws fresh weights (float32 on the CPU unless told otherwise).</summary>
    public Weights Initialize(Generator rng, Device? device = null, DType dtype = DType.Float32)
    {
        device ??= Device.Cpu;
        var tensors = new List<Tensor>(AtomCount);
        try
        {
            foreach (var (_, atom) in Atoms()) tensors.Add(TensorScope.Escape(atom.InitializeWeight(rng, device, dtype)));
        }
        catch
        {
            foreach (var t in tensors) t.Dispose();
            throw;
        }
        return new Weights(tensors);
    }

    /// <summary>Throws a <see cref="ModuleException"/> listing every weight whose shape or count does not fit.</summary>
    public void CheckWeights(IReadOnlyList<Shape> shapes)
    {
        var atoms = Atoms();
        var problems = new List<string>();
        if (shapes.Count != atoms.Count)
            problems.Add($"expected {atoms.Count} weight tensors, got {shapes.Count}");
        for (int i = 0; i < Math.Min(shapes.Count, atoms.Count); i++)
            if (shapes[i] != atoms[i].Atom.WeightShape)
                problems.Add($"weight {i} ({atoms[i].Path}) should be {atoms[i].Atom.WeightShape}, got {shapes[i]}");
        if (problems.Count > 0) throw new ModuleException(Label, "weights do not fit: " + string.Join("; ", problems) + ".");
    }

    /// <summary>Checks a weight vector against this module (count and shapes).</summary>
    public void CheckWeights(Weights weights) => CheckWeights(weights.Select(w => w.Shape).ToArray());

    // ---- the target recursion ---------------------------------------------------------------

    /// <summary>
    /// The norm target each atom receives when the whole module's update is normalized to
    /// <paramref name="target"/>: composition gives the input side <c>t·m₀/(M·s₁)</c> and the
    /// output side <c>t·m₁/M</c>, a tuple gives each child <c>t·mᵢ/M</c>, and a module of mass 0 gives 0.
    /// </summary>
    public double[] AtomTargets(double target = 1)
    {
        var targets = new double[AtomCount];
        AssignTargets(target, targets);
        return targets;
    }

    internal abstract void AssignTargets(double target, Span<double> targets);

    /// <summary>
    /// The modular norm of <paramref name="weights"/> in its max form (Modula's Definitions 6
    /// and 7): composition takes <c>max(s₁·(M/m₀)·‖w₀‖, (M/m₁)·‖w₁‖)</c>, a tuple
    /// <c>maxᵢ (M/mᵢ)·‖wᵢ‖</c>, terms of mass-0 parts are 0, atoms use their own norm.
    /// Downloads weights to the host; meant for checks and reports, not the training loop.
    /// </summary>
    public double Norm(Weights weights)
    {
        CheckWeights(weights);
        return NormOf(weights.AsSpan());
    }

    internal abstract double NormOf(ReadOnlySpan<Tensor> weights);

    internal abstract Module Rescaled(double factor);

    // ---- update operators -------------------------------------------------------------------

    /// <summary>
    /// Modula v2's dualization: each atom's gradient mapped to its steepest direction (U Vᵀ for
    /// matrices, normalized rows for embeddings) and scaled to the atom's target, so the
    /// result has modular norm <paramref name="target"/> up to Newton–Schulz error. Returns a new vector.
    /// </summary>
    public Weights Dualize(Weights gradient, double target = 1, Orthogonalizer method = Orthogonalizer.SixStep) =>
        Dualize(gradient, AtomTargets(target), method);

    /// <summary>
    /// <see cref="Dualize(Weights, double, Orthogonalizer)"/> with each atom's target given, as
    /// <see cref="AtomTargets"/> returns them (a trainer computes them once per step).
    /// </summary>
    public Weights Dualize(Weights gradient, IReadOnlyList<double> targets, Orthogonalizer method = Orthogonalizer.SixStep)
    {
        CheckTargets(targets);
        CheckWeights(gradient);
        // Same-shaped matrix atoms share one batched Newton–Schulz run; the rest go one by one.
        var grouped = MatrixAtom.DualizeInGroups(Atoms(), gradient, targets, method);
        try
        {
            return PerAtom(gradient, targets, (atom, g, t, i) =>
                grouped[i] is { } done ? done : t == 0 ? Ops.ZerosLike(g) : atom.DualizeWeight(g, t, method));
        }
        catch
        {
            foreach (var t in grouped) t?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Modula v1's normalization: each atom's update divided by its own norm (spectral norm by
    /// one warm-started power-iteration step whose vectors live in <paramref name="state"/>)
    /// and scaled to the atom's target. The modular norm of the result is at least
    /// <paramref name="target"/> and approaches it as the power iteration warms up. Returns a new vector.
    /// </summary>
    public Weights Normalize(Weights update, double target, NormalizeState state) =>
        Normalize(update, AtomTargets(target), state);

    /// <summary><see cref="Normalize(Weights, double, NormalizeState)"/> with each atom's target given (see <see cref="AtomTargets"/>).</summary>
    public Weights Normalize(Weights update, IReadOnlyList<double> targets, NormalizeState state)
    {
        CheckTargets(targets);
        state.CheckFits(this);
        return PerAtom(update, targets,
            (atom, u, t, i) => t == 0 ? Ops.ZerosLike(u) : atom.NormalizeWeight(u, t, state, i));
    }

    private void CheckTargets(IReadOnlyList<double> targets)
    {
        if (targets.Count != AtomCount)
            throw new ModuleException(Label, $"{targets.Count} atom targets given for {AtomCount} atoms.");
        for (int i = 0; i < targets.Count; i++)
            if (!(targets[i] >= 0) || double.IsPositiveInfinity(targets[i]))
                throw new ModuleException(Label, $"atom {i}'s target {targets[i]} is not a finite number ≥ 0.");
    }

    /// <summary>Maps every weight back to its atom's constraint set (Modula v2's project). Returns a new vector.</summary>
    public Weights Project(Weights weights) => PerAtom(weights, new double[AtomCount], (atom, w, _, _) => atom.ProjectWeight(w));

    /// <summary>
    /// Modula v1's mass-aware weight decay: <paramref name="strength"/> is split over atoms by
    /// the target recursion and each atom applies it (matrices shrink by <c>1 − s</c>,
    /// embeddings are re-projected to unit rows). Returns a new vector.
    /// </summary>
    public Weights Regularize(Weights weights, double strength) =>
        PerAtom(weights, AtomTargets(strength), (atom, w, s, _) => atom.RegularizeWeight(w, s));

    /// <summary><see cref="Regularize"/> applied to <paramref name="weights"/> in place (what a trainer's weight decay does each step).</summary>
    public void RegularizeInPlace(Weights weights, double strength) =>
        PerAtomInPlace(weights, strength, (atom, i, s) => atom.RegularizeWeightInPlace(weights[i], s));

    /// <summary>Calls <paramref name="step"/>(atom, index, its share of <paramref name="strength"/>) for every atom of checked <paramref name="weights"/>.</summary>
    private void PerAtomInPlace(Weights weights, double strength, Action<Atom, int, double> step)
    {
        CheckWeights(weights);
        var atoms = Atoms();
        var strengths = AtomTargets(strength);
        for (int i = 0; i < atoms.Count; i++) step(atoms[i].Atom, i, strengths[i]);
    }

    private Weights PerAtom(Weights input, IReadOnlyList<double> scalars, Func<Atom, Tensor, double, int, Tensor> op)
    {
        CheckWeights(input);
        var atoms = Atoms();
        var results = new List<Tensor>(atoms.Count);
        try
        {
            for (int i = 0; i < atoms.Count; i++) results.Add(op(atoms[i].Atom, input[i], scalars[i], i));
        }
        catch
        {
            foreach (var t in results) t.Dispose();
            throw;
        }
        return new Weights(results);
    }

    // ---- shape hints for composition checks ------------------------------------------------

    /// <summary>Feature width this module expects on the last input axis, when it is fixed.</summary>
    public virtual int? InputWidth => null;

    /// <summary>Feature width this module produces on the last output axis, when it is fixed.</summary>
    public virtual int? OutputWidth => null;

    /// <summary>True when the output has the input's feature width (elementwise bonds, normalizations).</summary>
    public virtual bool PreservesWidth => false;

    /// <summary>The module tree with atoms, bonds, mass, sensitivity and each atom's target at top-level target 1.</summary>
    public string Summary() => ModuleSummary.Format(this);

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Label}: {AtomCount} atoms, {BondCount} bonds, {(Smooth ? "smooth" : "non-smooth")}, mass {Mass:G4}, sensitivity {Sensitivity:G4}";
}
