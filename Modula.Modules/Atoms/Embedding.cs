using Modula.Autodiff;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Modules;

/// <summary>
/// A lookup table W [count, dim] applied to Int32 indices: <c>y = √dim · W[x]</c>. With unit
/// rows the outputs have RMS 1; the atom's norm is the largest row ℓ2 norm (Modula's ℓ1→RMS
/// operator norm), and every update operator acts row by row.
/// </summary>
public sealed class Embedding : Atom
{
    /// <summary>Creates an embedding of <paramref name="count"/> vectors of size <paramref name="dim"/>.</summary>
    public Embedding(int count, int dim, double mass = 1)
        : base(mass)
    {
        if (count <= 0 || dim <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(count),
                $"Embedding: sizes must be positive, got {count}×{dim}."
            );
        Count = count;
        Dim = dim;
    }

    /// <summary>Number of vectors (vocabulary or positions).</summary>
    public int Count { get; }

    /// <summary>Size of each vector.</summary>
    public int Dim { get; }

    /// <inheritdoc/>
    public override Shape WeightShape => new(Count, Dim);

    /// <inheritdoc/>
    public override string Label => $"Embedding({Count}×{Dim})";

    /// <inheritdoc/>
    protected override string NoLipschitzBoundBecause =>
        "its input is token indices, not a vector: a bound can start only after the embeddings";

    /// <inheritdoc/>
    public override int? OutputWidth => Dim;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x, Variable weight)
    {
        if (x.Value.DType != DType.Int32)
            throw new ModuleException($"input {x.Shape} must hold Int32 indices, got {x.Value.DType}.");
        return F.Scale(F.Embedding(weight, x.Value), Math.Sqrt(Dim));
    }

    /// <summary>Gaussian rows scaled to unit ℓ2 norm.</summary>
    public override Tensor InitializeWeight(Generator rng, Device device, DType dtype)
    {
        using var gaussian = Ops.Normal(WeightShape, rng, dtype, device);
        return Norms.ToNorm(gaussian, 1);
    }

    /// <summary>
    /// √dim times the largest row ℓ2 norm, whatever the input: every output vector is a scaled row. A relative
    /// 1e-6 covers rounding in float32 weights and lookups.
    /// </summary>
    public override double? TokenNormBound(Tensor weight, double? input) =>
        Math.Sqrt(Dim) * WeightNorm(weight) * (1 + 1e-6);

    /// <summary>The largest row ℓ2 norm; NaN when a row's is (a plain maximum would pass over it).</summary>
    public override double WeightNorm(Tensor weight)
    {
        using var rows = Norms.L2(weight, [1]);
        var norms = HostLinalg.HostArray(rows);
        return norms.Any(double.IsNaN) ? double.NaN : norms.DefaultIfEmpty(0).Max();
    }

    /// <summary>Every nonzero row rescaled to ℓ2 norm <paramref name="target"/> (zero rows stay zero); needs no
    /// state.</summary>
    public override Tensor NormalizeWeight(Tensor update, double target, NormalizeState state, int index) =>
        Norms.ToNorm(update, 1, target);

    /// <summary>The same row normalization: for the max-of-rows norm it is also the steepest direction.</summary>
    public override Tensor DualizeWeight(Tensor gradient, double target, Orthogonalizer method) =>
        Norms.ToNorm(gradient, 1, target);

    /// <summary>Rows rescaled to unit norm.</summary>
    public override Tensor ProjectWeight(Tensor weight) => Norms.ToNorm(weight, 1);

    /// <summary>
    /// Hyperspherical descent on every row: the gradient's component tangent to the unit sphere at the row,
    /// g − ŵ(ŵ·g), rescaled to norm <paramref name="target"/> (rows with no tangent component stay zero). The
    /// step followed by <see cref="ProjectWeight"/> is w ← normalize(w − a).
    /// </summary>
    public override Tensor ManifoldWeight(
        Tensor gradient,
        Tensor weight,
        double target,
        ManifoldMuonOptions options,
        ManifoldStats stats
    )
    {
        using var unit = Norms.ToNorm(weight, 1);
        using var product = Ops.Mul(unit, gradient);
        using var along = Ops.Sum(product, [1], keepDim: true);
        using var radial = Ops.Mul(unit, along);
        using var tangent = Ops.Sub(gradient, radial);
        return Norms.ToNorm(tangent, 1, target);
    }

    /// <summary>Modula v1: rows re-projected to unit norm; <paramref name="strength"/> is ignored, as in
    /// Modula.</summary>
    public override Tensor RegularizeWeight(Tensor weight, double strength) => Norms.ToNorm(weight, 1);

    /// <inheritdoc/>
    protected override Atom WithMass(double mass) => new Embedding(Count, Dim, mass);
}
