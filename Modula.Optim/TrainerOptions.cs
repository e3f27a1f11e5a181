using Modula.Modules;
using Modula.Modules.Linalg;

namespace Modula.Optim;

/// <summary>How the base optimizer's direction becomes a weight update.</summary>
public enum UpdateRule
{
    /// <summary>Unnormalized: <c>w ← w − lr·schedule·direction</c> (plain SGD, Adam, …).</summary>
    Plain,

    /// <summary>Modula v1: the direction is normalized in the modular norm to <c>lr·schedule</c> (power
    /// iteration).</summary>
    Normalize,

    /// <summary>Modula v2: the direction is dualized in the modular norm with target <c>lr·schedule</c>
    /// (Newton–Schulz).</summary>
    Dualize,

    /// <summary>Modular manifolds: each atom steps along its steepest direction tangent to its constraint set
    /// (manifold Muon for matrices, hyperspherical descent for embedding rows) with target <c>lr·schedule</c>, then
    /// the weights are projected back onto the manifolds (the retraction).</summary>
    Manifold,
}

/// <summary>What to do when a gradient holds NaN or ±∞.</summary>
public enum NonFinitePolicy
{
    /// <summary>Throw a <see cref="NonFiniteGradientException"/> naming the first bad weight; nothing is
    /// changed.</summary>
    Throw,

    /// <summary>Discard the gradient, leave weights and optimizer state unchanged, and count the step in <see
    /// cref="Trainer.SkippedSteps"/>.</summary>
    Skip,
}

/// <summary>Settings of a <see cref="Trainer"/>.</summary>
/// <param name="LearningRate">Base learning rate (the norm target of each update for normalized rules).</param>
/// <param name="Schedule">Multiplier of the learning rate by step (default constant).</param>
/// <param name="Rule">Plain, normalized (v1) or dualized (v2) updates.</param>
/// <param name="WeightDecay">
/// Decay coefficient λ, with η = lr·schedule. Normalized and dualized rules follow Modula v1: subtract
/// the update, then the module's mass-aware <c>Regularize(w, η·λ)</c>. The plain rule follows AdamW:
/// decoupled and read before the step, <c>w ← w − η·(d + λ·w)</c>.
/// </param>
/// <param name="Project">Map the weights back to their constraint set after every update (Modula v2's project).</param>
/// <param name="NonFinite">What to do when a gradient is not finite.</param>
/// <param name="Orthogonalizer">The Newton–Schulz variant used by <see cref="UpdateRule.Dualize"/>.</param>
/// <param name="Manifold">The dual ascent of <see cref="UpdateRule.Manifold"/>'s matrix directions (defaults when
/// null).</param>
/// <param name="SpectralProjections">
/// A Lipschitz bound enforced after every update: for each matrix atom (path, atom) the
/// <see cref="SpectralProjection"/> to apply, or null to leave it (see
/// <see cref="Module.ProjectInPlace(Weights, Func{string, MatrixAtom, SpectralProjection})"/>). Cannot be combined
/// with <paramref name="Project"/>.
/// </param>
public sealed record TrainerOptions(
    double LearningRate,
    Schedule? Schedule = null,
    UpdateRule Rule = UpdateRule.Plain,
    double WeightDecay = 0,
    bool Project = false,
    NonFinitePolicy NonFinite = NonFinitePolicy.Throw,
    Orthogonalizer Orthogonalizer = Orthogonalizer.SixStep,
    ManifoldMuonOptions? Manifold = null,
    Func<string, MatrixAtom, SpectralProjection?>? SpectralProjections = null
);

/// <summary>A gradient held NaN or ±∞ under <see cref="NonFinitePolicy.Throw"/>.</summary>
public sealed class NonFiniteGradientException(string parameter, int step)
    : ArithmeticException($"Non-finite gradient at step {step} in weight {parameter}; no update was applied.")
{
    /// <summary>The first weight (index and module path) whose gradient is not finite.</summary>
    public string Parameter { get; } = parameter;

    /// <summary>The 0-based step.</summary>
    public int Step { get; } = step;
}
