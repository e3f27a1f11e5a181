using Modula.Modules.Linalg;
using Modula.Tensors;

namespace Modula.Modules;

// Modula's operators on weight vectors: the target recursion, the modular norm, and the
// per-atom normalize (v1), dualize (v2), project and regularize. Applying an update is the
// trainer's (Modula.Optim).
public abstract partial class Module
{
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
    public Weights Dualize(
        Weights gradient,
        IReadOnlyList<double> targets,
        Orthogonalizer method = Orthogonalizer.SixStep
    )
    {
        CheckTargets(targets);
        CheckWeights(gradient);
        // Same-shaped matrix atoms share one batched Newton–Schulz run; the rest go one by one. A packed gradient
        // gives a result packed the same way (so the trainer subtracts it from the weights in one pass).
        var atoms = Atoms();
        var result = gradient.IsPacked
            ? gradient.EmptyLike()
            : new Weights(gradient.Select(g => Tensor.Empty(g.Shape, g.DType, g.Device)));
        try
        {
            var done = MatrixAtom.DualizeInGroups(atoms, gradient, targets, method, result);
            for (int i = 0; i < atoms.Count; i++)
                if (!done[i])
                    WriteInto(
                        result[i],
                        targets[i] == 0 ? null : atoms[i].Atom.DualizeWeight(gradient[i], targets[i], method)
                    );
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>Writes an atom's result (consumed) into its tensor of a result vector; null writes zeros.</summary>
    private static void WriteInto(Tensor destination, Tensor? value)
    {
        if (value is null)
        {
            Ops.FillInto(destination, 0);
            return;
        }
        using (value)
            Ops.CopyInto(value, destination);
    }

    /// <summary>
    /// Modula v1's normalization: each atom's update divided by its own norm (spectral norm by
    /// one warm-started power-iteration step whose vectors live in <paramref name="state"/>)
    /// and scaled to the atom's target. The modular norm of the result is at least
    /// <paramref name="target"/> and approaches it as the power iteration warms up. Returns a new vector.
    /// </summary>
    public Weights Normalize(Weights update, double target, NormalizeState state) =>
        Normalize(update, AtomTargets(target), state);

    /// <summary><see cref="Normalize(Weights, double, NormalizeState)"/> with each atom's target given (see <see
    /// cref="AtomTargets"/>).</summary>
    public Weights Normalize(Weights update, IReadOnlyList<double> targets, NormalizeState state)
    {
        CheckTargets(targets);
        state.CheckFits(this);
        if (!update.IsPacked)
            return PerAtom(update, targets, (atom, u, t, i) =>
                t == 0 ? Ops.ZerosLike(u) : atom.NormalizeWeight(u, t, state, i)
            );
        // Packed: same-shaped matrices share one batched power-iteration step, written straight into a result
        // packed the same way (so the trainer subtracts it from the weights in one pass); the rest one by one.
        CheckWeights(update);
        var atoms = Atoms();
        var result = update.EmptyLike();
        try
        {
            var done = MatrixAtom.NormalizeInGroups(atoms, update, targets, state, result);
            for (int i = 0; i < atoms.Count; i++)
            {
                if (!done[i])
                    WriteInto(
                        result[i],
                        targets[i] == 0 ? null : atoms[i].Atom.NormalizeWeight(update[i], targets[i], state, i)
                    );
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Manifold descent (Modular Manifolds, Bernstein 2025): each atom's steepest direction tangent to its
    /// constraint set at <paramref name="weights"/> — manifold Muon for matrices, hyperspherical descent for
    /// embedding rows — scaled to the atom's target. Subtract it and project (<see cref="Project(Weights)"/>, the
    /// retraction) to stay on the manifolds. Returns a new vector.
    /// </summary>
    public Weights ManifoldUpdate(
        Weights gradient,
        Weights weights,
        IReadOnlyList<double> targets,
        ManifoldMuonOptions options,
        ManifoldStats stats
    )
    {
        CheckTargets(targets);
        CheckWeights(weights);
        return PerAtom(gradient, targets, (atom, g, t, i) =>
            t == 0 ? Ops.ZerosLike(g) : atom.ManifoldWeight(g, weights[i], t, options, stats)
        );
    }

    private void CheckTargets(IReadOnlyList<double> targets)
    {
        if (targets.Count != AtomCount)
            throw new ModuleException(Label, $"{targets.Count} atom targets given for {AtomCount} atoms.");
        for (int i = 0; i < targets.Count; i++)
            if (!(targets[i] >= 0) || double.IsPositiveInfinity(targets[i]))
                throw new ModuleException(Label, $"atom {i}'s target {targets[i]} is not a finite number ≥ 0.");
    }

    /// <summary>Maps every weight back to its atom's constraint set (Modula v2's project). Returns a new
    /// vector.</summary>
    public Weights Project(Weights weights) =>
        PerAtom(weights, new double[AtomCount], (atom, w, _, _) => atom.ProjectWeight(w));

    /// <summary>
    /// The spectral projection <paramref name="choose"/> picks for each matrix atom (given its path and the atom;
    /// null leaves it), applied to its weight; every other weight is copied unchanged. A Lipschitz bound chosen per
    /// module, or for the whole network with <c>(_, _) =&gt; projection</c>. Returns a new vector.
    /// </summary>
    public Weights Project(Weights weights, Func<string, MatrixAtom, SpectralProjection?> choose)
    {
        var atoms = Atoms();
        return PerAtom(weights, new double[AtomCount], (_, w, _, i) =>
            SpectralChoice(atoms[i], choose) is ({ } matrix, { } projection)
                ? matrix.ProjectWeight(w, projection)
                : Ops.Contiguous(w)
        );
    }

    /// <summary><see cref="Project(Weights, Func{string, MatrixAtom, SpectralProjection})"/> written back into
    /// <paramref name="weights"/>, touching only the chosen atoms (what a trainer does after each step).</summary>
    public void ProjectInPlace(Weights weights, Func<string, MatrixAtom, SpectralProjection?> choose)
    {
        CheckWeights(weights);
        var atoms = Atoms();
        for (int i = 0; i < atoms.Count; i++)
            if (SpectralChoice(atoms[i], choose) is ({ } matrix, { } projection))
                using (var projected = matrix.ProjectWeight(weights[i], projection))
                    Ops.CopyInto(projected, weights[i]);
    }

    // A decay strength is a trainer's η·λ: finite and ≥ 0 (a negative one would grow the weights, NaN poison them).
    private double CheckStrength(double strength) =>
        strength >= 0 && double.IsFinite(strength)
            ? strength
            : throw new ModuleException(Label, $"regularize strength {strength} is not a finite number ≥ 0.");

    private static (MatrixAtom Matrix, SpectralProjection Projection)? SpectralChoice(
        (string Path, Atom Atom) entry,
        Func<string, MatrixAtom, SpectralProjection?> choose
    ) => entry.Atom is MatrixAtom matrix && choose(entry.Path, matrix) is { } projection ? (matrix, projection) : null;

    /// <summary>
    /// Modula v1's mass-aware weight decay: <paramref name="strength"/> is split over atoms by
    /// the target recursion and each atom applies it (matrices shrink by <c>1 − s</c>,
    /// embeddings are re-projected to unit rows). Returns a new vector.
    /// </summary>
    public Weights Regularize(Weights weights, double strength) =>
        PerAtom(weights, AtomTargets(CheckStrength(strength)), (atom, w, s, _) => atom.RegularizeWeight(w, s));

    /// <summary><see cref="Regularize"/> applied to <paramref name="weights"/> in place (what a trainer's weight decay
    /// does each step).</summary>
    public void RegularizeInPlace(Weights weights, double strength) =>
        PerAtomInPlace(weights, strength, (atom, i, s) => atom.RegularizeWeightInPlace(weights[i], s));

    /// <summary>Calls <paramref name="step"/>(atom, index, its share of <paramref name="strength"/>) for every atom of
    /// checked <paramref name="weights"/>.</summary>
    private void PerAtomInPlace(Weights weights, double strength, Action<Atom, int, double> step)
    {
        CheckWeights(weights);
        var atoms = Atoms();
        var strengths = AtomTargets(CheckStrength(strength));
        for (int i = 0; i < atoms.Count; i++)
            step(atoms[i].Atom, i, strengths[i]);
    }

    private Weights PerAtom(Weights input, IReadOnlyList<double> scalars, Func<Atom, Tensor, double, int, Tensor> op)
    {
        CheckWeights(input);
        var atoms = Atoms();
        var results = new List<Tensor>(atoms.Count);
        try
        {
            for (int i = 0; i < atoms.Count; i++)
                results.Add(op(atoms[i].Atom, input[i], scalars[i], i));
        }
        catch
        {
            foreach (var t in results)
                t.Dispose();
            throw;
        }
        return new Weights(results);
    }
}
