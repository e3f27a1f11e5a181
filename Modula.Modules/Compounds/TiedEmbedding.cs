using Modula.Autodiff;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Modules;

/// <summary>
/// Weight sharing between the input embedding and the output projection: one table
/// W [V, D] embeds Int32 tokens (<c>√D·W[x]</c>), <see cref="Body"/> runs, and the same W,
/// used as a Linear(D→V), produces the logits <c>√(V/D)·h Wᵀ</c>.
/// </summary>
/// <remarks>
/// Semantics (Modula has no weight sharing; this is the natural extension of its definitions):
/// the network is <c>head ∘ body ∘ embedding</c> with the two ends tied, so its mass is
/// <c>m_embedding + m_body + m_head</c> (each use is a share of feature learning) and its
/// modular norm is the composite max form with both uses of W present:
/// <c>max(s_body·(M/m_e)·‖W‖_rows, (M/m_body)·‖w_body‖, (M/m_head)·‖W‖_spectral)</c>.
/// An update of W must respect both terms, so it is made in the head's (spectral) geometry with
/// target <c>min(t_embedding, t_head)</c>: a matrix of spectral norm τ has every row of ℓ2 norm ≤ τ,
/// so neither term exceeds the target. Initialization, projection and regularization are the
/// embedding's (unit rows).
/// </remarks>
public sealed class TiedEmbedding : Module
{
    private readonly TiedTable _table;

    /// <summary>Ties <paramref name="embedding"/> to an output head of mass <paramref name="headMass"/> around
    /// <paramref name="body"/>.</summary>
    public TiedEmbedding(Embedding embedding, Module body, double headMass = 1)
        : base(
            embedding.Mass + body.Mass + Checked(headMass),
            body.Sensitivity,
            1 + body.AtomCount,
            body.BondCount,
            body.Smooth
        )
    {
        if (body.InputWidth is int i && i != embedding.Dim || body.OutputWidth is int o && o != embedding.Dim)
            throw new ModuleException(
                $"TiedEmbedding({embedding.Label})",
                $"the body must map {embedding.Dim} features to {embedding.Dim}, it maps {body.InputWidth} to "
                    + $"{body.OutputWidth}."
            );
        Embedding = embedding;
        Body = body;
        HeadMass = headMass;
        _table = new TiedTable(embedding);
    }

    // The head's own mass, checked before the total is: a negative one could hide in a positive total.
    private static double Checked(double headMass) =>
        headMass >= 0 && !double.IsPositiveInfinity(headMass)
            ? headMass
            : throw new ArgumentOutOfRangeException(
                nameof(headMass),
                $"TiedEmbedding: the head's mass must be finite and ≥ 0, got {headMass}."
            );

    /// <summary>The shared table in its input role.</summary>
    public Embedding Embedding { get; }

    /// <summary>The network between the embedding and the head.</summary>
    public Module Body { get; }

    /// <summary>The mass of the output role.</summary>
    public double HeadMass { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<Module> Children => [_table, Body];

    /// <inheritdoc/>
    public override string Label => "TiedEmbedding";

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        var table = weights[0];
        var embedded = _table.Run(inputs, weights[..1]);
        var h = Body.Run(embedded, weights[1..]);
        if (h.Length != 1 || h[0].Shape[-1] != Embedding.Dim)
            throw new ModuleException(
                $"the body produced {string.Join(", ", h.Select(v => v.Shape.ToString()))}; the head needs one [..., "
                    + $"{Embedding.Dim}] tensor."
            );
        return [F.MatMul(h[0], table, transposeB: true, alpha: Math.Sqrt((double)Embedding.Count / Embedding.Dim))];
    }

    internal override void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms)
    {
        _table.CollectAtoms(path, atoms);
        Body.CollectAtoms(path, atoms);
    }

    internal override void AssignTargets(double target, Span<double> targets)
    {
        if (Mass == 0)
        {
            targets.Clear();
            return;
        }
        double embedding =
            Embedding.Mass == 0 ? double.PositiveInfinity : target * Embedding.Mass / Mass / Body.Sensitivity;
        double head = HeadMass == 0 ? double.PositiveInfinity : target * HeadMass / Mass;
        double tied = Math.Min(embedding, head);
        targets[0] = double.IsInfinity(tied) ? 0 : tied;
        Body.AssignTargets(target * Body.Mass / Mass, targets[1..]);
    }

    internal override double NormOf(ReadOnlySpan<Tensor> weights)
    {
        double input =
            Embedding.Mass == 0 ? 0 : Body.Sensitivity * Mass / Embedding.Mass * Embedding.WeightNorm(weights[0]);
        double body = Body.Mass == 0 ? 0 : Mass / Body.Mass * Body.NormOf(weights[1..]);
        double output = HeadMass == 0 ? 0 : Mass / HeadMass * _table.WeightNorm(weights[0]);
        return Math.Max(input, Math.Max(body, output));
    }

    internal override Module Rescaled(double factor) =>
        new TiedEmbedding((Embedding)Embedding.Rescaled(factor), Body.Rescaled(factor), HeadMass * factor);

    /// <summary>The shared table as an atom: embedding forward and constraint set, spectral (head) geometry for
    /// updates.</summary>
    private sealed class TiedTable(Embedding embedding) : MatrixAtom(embedding.Mass)
    {
        public override Shape WeightShape => embedding.WeightShape;
        public override string Label => $"{embedding.Label} tied to the head";
        public override int? OutputWidth => embedding.Dim;
        public override int FanOut => embedding.Count;
        public override int FanIn => embedding.Dim;
        protected override int Slices => 1;

        // The table's forward use is the embedding's, whose input is token indices: no bound to certify.
        protected override string NoLipschitzBoundBecause =>
            "its input is token indices, not a vector: a bound can start only after the embeddings";

        protected override Variable Forward(Variable x, Variable weight) => embedding.Run([x], [weight])[0];

        protected override Tensor ToSlices(Tensor weight) => weight.Reshape(1, FanOut, FanIn);

        protected override Tensor FromSlices(Tensor slices) => slices.Reshape(FanOut, FanIn);

        public override Tensor InitializeWeight(Generator rng, Device device, DType dtype) =>
            embedding.InitializeWeight(rng, device, dtype);

        public override Tensor ProjectWeight(Tensor weight) => embedding.ProjectWeight(weight);

        // The table's constraint set is the embedding's (unit rows), so its manifold step is the embedding's.
        public override Tensor ManifoldWeight(
            Tensor gradient,
            Tensor weight,
            double target,
            ManifoldMuonOptions options,
            ManifoldStats stats
        ) => embedding.ManifoldWeight(gradient, weight, target, options, stats);

        // Regularization is the embedding's (unit rows), in all three of its forms: a matrix's w·(1 − s) inherited in
        // any one of them would give the trainer, which folds a decay factor into its step, another rule.
        public override Tensor RegularizeWeight(Tensor weight, double strength) =>
            embedding.RegularizeWeight(weight, strength);

        public override void RegularizeWeightInPlace(Tensor weight, double strength) =>
            embedding.RegularizeWeightInPlace(weight, strength);

        public override double? DecayFactor(double strength) => embedding.DecayFactor(strength);

        protected override Atom WithMass(double mass) =>
            new TiedTable(new Embedding(embedding.Count, embedding.Dim, mass));
    }
}
