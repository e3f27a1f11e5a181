using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Primitives;
using Modula.Tensors.Random;

namespace Modula.Optim;

/// <summary>
/// Modular descent: owns a model's weights, their leaf <see cref="Parameters"/>, a base
/// optimizer and (for Modula v1's rule) the power-iteration state, and applies one update per
/// <see cref="Step(int)"/> call: base direction → plain, normalized or dualized to
/// <c>lr·schedule(step)</c> → subtracted with weight decay, one pass per matrix → optional
/// projection. The module supplies Modula's operators (targets, normalize, dualize, regularize,
/// project); the loop that applies them lives here, the same for every rule.
/// </summary>
/// <example><code>
/// using var trainer = new Trainer(model, model.Initialize(new Generator(0)), new ModulaAdam(),
///     new TrainerOptions(0.5, Schedule.Linear(2000), UpdateRule.Normalize, WeightDecay: 0.01));
/// for (int step = 0; step &lt; 2000; step++)
/// {
///     using var scope = TensorScope.Begin();
///     F.CrossEntropy(model.Forward(tokens, trainer.Parameters), targets).Backward();
///     trainer.Step();
/// }
/// </code></example>
public sealed class Trainer : IDisposable
{
    private readonly IReadOnlyList<(string Path, Atom Atom)> _atoms;

    /// <summary>Creates a trainer; it takes ownership of <paramref name="weights"/> and <paramref
    /// name="optimizer"/>, and packs the weights into one buffer (<see cref="Weights.Pack"/>; skipped when a
    /// weight's storage is shared, e.g. by variables made from it earlier).</summary>
    public Trainer(Module model, Weights weights, Optimizer optimizer, TrainerOptions options, ulong normalizeSeed = 0)
    {
        model.CheckWeights(weights);
        if (!(options.LearningRate >= 0) || double.IsInfinity(options.LearningRate))
            throw new ArgumentOutOfRangeException(
                nameof(options),
                $"Trainer: learning rate must be finite and ≥ 0, got {options.LearningRate}."
            );
        options.Schedule?.Check();
        if (!(options.WeightDecay >= 0) || double.IsInfinity(options.WeightDecay))
            throw new ArgumentOutOfRangeException(
                nameof(options),
                $"Trainer: weight decay must be finite and ≥ 0, got {options.WeightDecay}."
            );
        if ((options.Project || options.Rule == UpdateRule.Manifold) && options.SpectralProjections is not null)
            throw new ArgumentException(
                "Trainer: Project (or the manifold rule's retraction) and SpectralProjections both project the "
                    + "weights; choose one.",
                nameof(options)
            );
        if (optimizer.LearningRateScales is { } scales)
        {
            if (options.Rule != UpdateRule.Plain)
                throw new ArgumentException(
                    $"Trainer: {optimizer.Describe()} sets each weight's step size itself; use the plain rule, not "
                        + $"{options.Rule}.",
                    nameof(options)
                );
            if (scales.Count != weights.Count)
                throw new ArgumentException(
                    $"Trainer: the optimizer has {scales.Count} learning-rate scales for {weights.Count} weights.",
                    nameof(optimizer)
                );
        }
        Model = model;
        _atomsOnlyRead = model.Atoms().All(a => a.Atom.GetType().Assembly == typeof(Atom).Assembly);
        Weights = weights;
        Optimizer = optimizer;
        Options = options;
        Schedule = options.Schedule ?? Schedule.Constant();
        NormalizeState = new NormalizeState(model, new Generator(normalizeSeed));
        // One buffer for the weights and one for their gradients: the update's elementwise passes then run
        // once over all atoms (see Weights.Pack), and backward writes the gradients where the update reads them.
        weights.Pack();
        Parameters = weights.ToVariables();
        _gradients = weights.ZerosLike();
        for (int i = 0; i < Parameters.Length; i++)
            Parameters[i].UseGradientBuffer(_gradients[i]);
        _atoms = model.Atoms();
    }

    private readonly Weights _gradients;

    // True when every atom is the library's own, whose updates only read the direction (see Apply).
    private readonly bool _atomsOnlyRead;

    /// <summary>The model being trained.</summary>
    public Module Model { get; }

    /// <summary>The weights (updated in place).</summary>
    public Weights Weights { get; }

    /// <summary>Leaf variables over <see cref="Weights"/>: pass them to <see
    /// cref="Module.Forward(Variable, IReadOnlyList{Variable})"/>.</summary>
    public Variable[] Parameters { get; }

    /// <summary>The base optimizer.</summary>
    public Optimizer Optimizer { get; }

    /// <summary>The settings.</summary>
    public TrainerOptions Options { get; }

    /// <summary>The learning-rate multiplier in use.</summary>
    public Schedule Schedule { get; }

    /// <summary>Dual-ascent steps and final tangency of <see cref="UpdateRule.Manifold"/>'s matrix directions so
    /// far.</summary>
    public ManifoldStats ManifoldStats { get; } = new();

    /// <summary>Power-iteration vectors for <see cref="UpdateRule.Normalize"/>.</summary>
    public NormalizeState NormalizeState { get; }

    /// <summary>Updates applied so far (the 0-based index of the next step).</summary>
    public int StepCount { get; internal set; }

    /// <summary>Steps skipped for non-finite gradients under <see cref="NonFinitePolicy.Skip"/>.</summary>
    public int SkippedSteps { get; internal set; }

    /// <summary>
    /// Computes the normalized or dualized update from the base optimizer's direction and the
    /// learning rate times the schedule, in place of the model's own <c>Module.Normalize</c>
    /// or <c>Module.Dualize</c> (null: those). Data-parallel training sets it to divide the
    /// per-atom work among ranks; it must return what those would, within float tolerance.
    /// </summary>
    public Func<Weights, double, Weights>? RuleUpdate { get; set; }

    /// <summary>The learning rate times the schedule at the next step.</summary>
    public double CurrentLearningRate => Options.LearningRate * Schedule.At(StepCount);

    /// <summary>
    /// Applies one update from the gradients accumulated in <see cref="Parameters"/> (one or
    /// more <c>Backward</c> calls since the last step), divided by <paramref name="microBatches"/>
    /// so that summing the gradients of k micro-batch means gives the mean over the whole batch.
    /// Returns false when the step was skipped for a non-finite gradient.
    /// </summary>
    public bool Step(int microBatches = 1)
    {
        if (microBatches < 1)
            throw new ArgumentOutOfRangeException(
                nameof(microBatches),
                $"Trainer.Step: micro-batch count must be ≥ 1, got {microBatches}."
            );
        try
        {
            if (microBatches > 1)
                _gradients.Scale(1.0 / microBatches);
            return Step(_gradients);
        }
        finally
        {
            ClearGradients();
        }
    }

    /// <summary>Zeroes the gradient buffers: one fill when they are packed.</summary>
    private void ClearGradients()
    {
        if (_gradients.Flat is { } flat)
            Ops.FillInto(flat, 0);
        else
            foreach (var p in Parameters)
                p.ZeroGrad();
    }

    /// <summary>
    /// Applies one update from <paramref name="gradient"/> (not consumed), for example the mean
    /// gradient of a data-parallel group; returns false when it was skipped for a non-finite value.
    /// </summary>
    public bool Step(Weights gradient)
    {
        Model.CheckWeights(gradient); // before the weights are named by index below
        CheckLikeWeights(gradient);
        if (gradient.FirstNonFinite() is int bad)
        {
            string name = $"{bad} ({_atoms[bad].Path})";
            if (Options.NonFinite == NonFinitePolicy.Throw)
                throw new NonFiniteGradientException(name, StepCount);
            SkippedSteps++;
            return false;
        }
        ApplyChecked(gradient);
        return true;
    }

    /// <summary>
    /// One whole step: inside a <see cref="TensorScope"/>, evaluates <paramref name="loss"/> on
    /// <see cref="Parameters"/> and backpropagates it, then applies the update. Returns the loss value.
    /// </summary>
    public double Step(Func<Variable[], Variable> loss)
    {
        using var tally = new LossTally();
        Step(loss, tally);
        return tally.TakeMean();
    }

    /// <summary>
    /// <see cref="Step(Func{Variable[], Variable})"/> with the loss added to <paramref name="tally"/> where it was
    /// computed, not read: on an accelerator the step then waits for the device only where the update must.
    /// </summary>
    public void Step(Func<Variable[], Variable> loss, LossTally tally)
    {
        using (TensorScope.Begin())
        {
            var l = loss(Parameters);
            l.Backward();
            tally.Add(l.Value);
        }
        Step();
    }

    /// <summary>
    /// Applies one update from an explicit gradient vector (not consumed). Every rule goes through
    /// the same steps: the base optimizer's direction d; for the modular rules, the per-atom targets
    /// tᵢ of the learning rate η (the target recursion, once) and the normalized or dualized update
    /// uᵢ; then one pass per weight, two for embeddings (see <see cref="StepWeight"/>); then the optional projection.
    /// </summary>
    public void Apply(Weights gradient)
    {
        // Every rule, the plain one included, reads the gradient atom by atom: a wrong count or shape is named here.
        Model.CheckWeights(gradient);
        CheckLikeWeights(gradient);
        ApplyChecked(gradient);
    }

    /// <summary>
    /// Refuses a gradient whose tensors differ from the weights in dtype or device, before anything changes: the
    /// first step would otherwise create the optimizer's state in the gradient's dtype and then fail at the weights,
    /// leaving state that fails every later step.
    /// </summary>
    private void CheckLikeWeights(Weights gradient)
    {
        for (int i = 0; i < gradient.Count; i++)
            if (gradient[i].DType != Weights[i].DType || gradient[i].Device != Weights[i].Device)
                throw new ArgumentException(
                    $"Trainer: gradient {i} ({_atoms[i].Path}) is {gradient[i].DType} on {gradient[i].Device.Name}, "
                        + $"its weight {Weights[i].DType} on {Weights[i].Device.Name}."
                );
    }

    /// <summary><see cref="Apply"/> of a gradient whose count and shapes were checked.</summary>
    private void ApplyChecked(Weights gradient)
    {
        if (StepCount == int.MaxValue)
            throw new InvalidOperationException($"Trainer: {StepCount} steps taken; the step count cannot go on.");
        double eta = CurrentLearningRate;
        var custom = RuleUpdate;
        // The built-in rules, over the library's own atoms, only read the direction, so a momentum's m (or SGD's
        // gradient) is lent rather than copied; a custom RuleUpdate, or a model with an atom of its user's, gets a
        // copy of its own.
        using (
            var direction =
                custom is null && _atomsOnlyRead
                    ? Optimizer.DirectionToRead(gradient, StepCount)
                    : Optimizer.Direction(gradient, StepCount)
        )
        {
            if (Options.Rule == UpdateRule.Plain)
            {
                var scales = Optimizer.LearningRateScales;
                // One rate for all and a direction packed like the weights: one pass over the whole buffer.
                if (scales is null && Weights.IsPackedLike(direction))
                    StepTensor(Weights.Flat!, direction.Flat!, keep: 1 - eta * Options.WeightDecay, scale: eta);
                else
                    for (int i = 0; i < Weights.Count; i++)
                    {
                        double rate = eta * (scales?[i] ?? 1);
                        StepWeight(
                            i,
                            direction[i],
                            keep: 1 - rate * Options.WeightDecay,
                            scale: rate,
                            regularize: null
                        );
                    }
            }
            else
            {
                var targets = Model.AtomTargets(eta);
                using var update = custom is not null
                    ? custom(direction, eta)
                    : Options.Rule switch
                    {
                        UpdateRule.Normalize => Model.Normalize(direction, targets, NormalizeState),
                        UpdateRule.Dualize => Model.Dualize(direction, targets, Options.Orthogonalizer),
                        UpdateRule.Manifold => Model.ManifoldUpdate(
                            direction,
                            Weights,
                            targets,
                            Options.Manifold ?? new(),
                            ManifoldStats
                        ),
                        _ => throw new InvalidOperationException($"Trainer: unknown rule {Options.Rule}."),
                    };
                // Modula's weight decay is split over atoms like the targets: sᵢ = λ·tᵢ.
                bool decays = eta * Options.WeightDecay != 0;
                if (Weights.IsPackedLike(update))
                    StepPacked(update, decays ? targets.Select(t => Options.WeightDecay * t).ToArray() : null);
                else
                    for (int i = 0; i < Weights.Count; i++)
                        StepWeight(
                            i,
                            update[i],
                            keep: 1,
                            scale: 1,
                            regularize: decays ? Options.WeightDecay * targets[i] : null
                        );
            }
        }
        // The manifold rule's retraction is the projection: its steps are tangent, not on the manifold.
        if (Options.Project || Options.Rule == UpdateRule.Manifold)
            using (var projected = Model.Project(Weights))
                Weights.CopyFrom(projected);
        else if (Options.SpectralProjections is { } choose)
            Model.ProjectInPlace(Weights, choose);
        StepCount++;
    }

    /// <summary>
    /// Weight i after one step: w ← keep·w − scale·step, then the atom's regularize with strength
    /// <paramref name="regularize"/> when given. Plain rule: keep = 1 − ηᵢλ, scale = ηᵢ (AdamW's
    /// decoupled decay, w − ηᵢ·(d + λ·w)), ηᵢ = η times the optimizer's learning-rate scale of weight i.
    /// Modular rules: keep = scale = 1 and sᵢ = λ·tᵢ, Modula v1's order: (1 − sᵢ)·(w − u) for matrices in one
    /// pass, w − u re-projected to unit rows for embeddings (a second pass). No decay at all when η·λ = 0.
    /// </summary>
    private void StepWeight(int i, Tensor step, double keep, double scale, double? regularize)
    {
        var w = Weights[i];
        var atom = _atoms[i].Atom;
        // A regularize that is a scaling folds into the same pass: f·(w − u) = f·w − f·u.
        double? factor = regularize is double s ? atom.DecayFactor(s) : null;
        if (factor is double f)
            (keep, scale) = (keep * f, scale * f);
        StepTensor(w, step, keep, scale);
        if (regularize is double strength && factor is null)
            atom.RegularizeWeightInPlace(w, strength);
    }

    /// <summary>w ← keep·w − scale·step in one pass (a plain subtraction when both are 1).</summary>
    private static void StepTensor(Tensor w, Tensor step, double keep, double scale)
    {
        if (keep == 1 && scale == 1)
            Ops.Zip(w, step, new Sub(), into: w);
        else
            Ops.Zip(w, step, new LinearCombination(keep, -scale), into: w);
    }

    /// <summary>
    /// <see cref="StepWeight"/> for every atom at once when the update is packed like the weights: w ← w − u in one
    /// pass over all of them, then the decay factors (1 − sᵢ for matrices) by one broadcast multiply per run of
    /// same-shaped weights, then the atoms whose regularize is not a scaling (embeddings) one by one.
    /// </summary>
    private void StepPacked(Weights update, double[]? strengths)
    {
        Weights.Combine(update, new Sub());
        if (strengths is null)
            return;
        var factors = new double[Weights.Count];
        for (int i = 0; i < factors.Length; i++)
            factors[i] = _atoms[i].Atom.DecayFactor(strengths[i]) ?? 1;
        Weights.ScaleEach(factors);
        for (int i = 0; i < factors.Length; i++)
            if (_atoms[i].Atom.DecayFactor(strengths[i]) is null)
                _atoms[i].Atom.RegularizeWeightInPlace(Weights[i], strengths[i]);
    }

    /// <summary>Frees weights, optimizer state and power-iteration vectors.</summary>
    public void Dispose()
    {
        foreach (var p in Parameters)
            p.Dispose();
        _gradients.Dispose();
        Weights.Dispose();
        Optimizer.Dispose();
        NormalizeState.Dispose();
    }
}
