using Modula.Tensors;

namespace Modula.Modules.Linalg;

/// <summary>The map a <see cref="SpectralProjection"/> applies to a matrix's singular values.</summary>
public enum SpectralProjectionKind
{
    /// <summary>W / max(1, σ₁/σ_max): every singular value shrinks by the same factor, only when σ₁ &gt;
    /// σ_max.</summary>
    Normalize,

    /// <summary>σ₁ ↦ σ_max, the rest unchanged (a rank-one correction along the top singular pair).</summary>
    Hammer,

    /// <summary>σ₁ ↦ (1 − strength)·σ₁, the rest unchanged: weight decay on the top singular value only.</summary>
    WeightDecay,

    /// <summary>σ ↦ ≈ min(σ_max, σ) on every singular value, by four odd quintic steps: within 0.034·σ_max of it and
    /// never above 1.011·σ_max for σ ≤ 3.5·σ_max; σ₁ past 3·σ_max is first scaled down to 3·σ_max.</summary>
    HardCap,

    /// <summary>σ ↦ σ_max·s(σ/σ_max) with s(x) = p + α·p³, p = x − α·x³: near σ for small σ, bending below
    /// σ_max for large ones; σ₁ past s's turning point 1/√(3α)·σ_max is first scaled down to it.</summary>
    SoftCap,
}

/// <summary>
/// A weight projection that enforces a spectral-norm (Lipschitz) bound on matrix atoms after each step, after
/// Newhouse et al., "Training Transformers with Enforced Lipschitz Constants" (arXiv 2507.13338). Each acts on every
/// matrix of an atom's stack independently, keeps the singular vectors, and maps a zero matrix to zero. Normalize,
/// hammer and weight decay find the top singular pair by <see cref="PowerSteps"/> steps of power iteration from a
/// fixed random start (deterministic, so data-parallel ranks agree; accurate when (σ₂/σ₁)^(2·steps) is small). The
/// caps are matrix polynomials; they use the estimate of σ₁ only to scale a matrix that lies past their range. A
/// projection keeps no state, and its strength is applied as given at every step (not scaled by the learning rate).
/// </summary>
/// <param name="Kind">The map.</param>
/// <param name="SigmaMax">The bound σ_max (the atom's norm, the raw weight's spectral norm); unused by weight
/// decay.</param>
/// <param name="Strength">Weight decay's fraction of σ₁ removed, or the soft cap's α; 0 otherwise.</param>
/// <param name="PowerSteps">Power-iteration steps for normalize, hammer and weight decay, and for the caps' range
/// guards.</param>
public sealed record SpectralProjection(
    SpectralProjectionKind Kind,
    double SigmaMax = 1,
    double Strength = 0,
    int PowerSteps = SpectralProjection.DefaultPowerSteps
)
{
    /// <summary>Power-iteration steps unless told otherwise (as in the paper's code).</summary>
    public const int DefaultPowerSteps = 16;

    /// <summary>Spectral normalization: W / max(1, σ₁/σ_max).</summary>
    public static SpectralProjection Normalize(double sigmaMax = 1, int powerSteps = DefaultPowerSteps) =>
        new(SpectralProjectionKind.Normalize, sigmaMax, 0, powerSteps);

    /// <summary>Spectral hammer: the top singular value set to σ_max (raised as well as lowered, as in the paper),
    /// the others untouched.</summary>
    public static SpectralProjection Hammer(double sigmaMax = 1, int powerSteps = DefaultPowerSteps) =>
        new(SpectralProjectionKind.Hammer, sigmaMax, 0, powerSteps);

    /// <summary>Spectral weight decay: σ₁ ↦ (1 − <paramref name="strength"/>)·σ₁.</summary>
    public static SpectralProjection WeightDecay(double strength, int powerSteps = DefaultPowerSteps) =>
        new(SpectralProjectionKind.WeightDecay, 1, strength, powerSteps);

    /// <summary>Spectral hard cap: σ ↦ ≈ min(σ_max, σ) (see <see cref="SpectralProjectionKind.HardCap"/> for its
    /// accuracy).</summary>
    public static SpectralProjection HardCap(double sigmaMax = 1, int powerSteps = DefaultPowerSteps) =>
        new(SpectralProjectionKind.HardCap, sigmaMax, 0, powerSteps);

    /// <summary>Spectral soft cap with strength <paramref name="alpha"/> (for matrices scaled to σ_max = 1).</summary>
    public static SpectralProjection SoftCap(double sigmaMax, double alpha, int powerSteps = DefaultPowerSteps) =>
        new(SpectralProjectionKind.SoftCap, sigmaMax, alpha, powerSteps);

    /// <summary>
    /// The soft cap whose α maps a singular value of <paramref name="largest"/> exactly to σ_max (the paper's
    /// coupling: largest = σ_max·(1 − weight decay) + the largest update's norm). Below σ_max·1.3 the cap is
    /// increasing up to <paramref name="largest"/>, so no smaller singular value ends above σ_max either.
    /// </summary>
    public static SpectralProjection SoftCapFor(double sigmaMax, double largest) =>
        SoftCap(sigmaMax, SpectralMaps.SoftCapStrength(largest / sigmaMax));

    /// <summary>Applies the projection to every matrix of <paramref name="matrices"/> [..., m, n]; returns a new
    /// tensor.</summary>
    public Tensor Apply(Tensor matrices)
    {
        Validate();
        if (matrices.Rank < 2)
            throw new ArgumentException(
                $"SpectralProjection: needs a matrix or a stack of them, got {matrices.Shape}."
            );
        return Kind switch
        {
            SpectralProjectionKind.Normalize => SpectralMaps.Normalize(matrices, SigmaMax, PowerSteps),
            SpectralProjectionKind.Hammer => SpectralMaps.Hammer(matrices, SigmaMax, PowerSteps),
            SpectralProjectionKind.WeightDecay => SpectralMaps.WeightDecay(matrices, Strength, PowerSteps),
            SpectralProjectionKind.HardCap => SpectralMaps.HardCap(matrices, SigmaMax, PowerSteps),
            _ => SpectralMaps.SoftCap(matrices, SigmaMax, Strength, PowerSteps),
        };
    }

    private void Validate()
    {
        if (!Enum.IsDefined(Kind))
            throw new ArgumentOutOfRangeException(nameof(Kind), $"SpectralProjection: unknown kind {Kind}.");
        if (!(SigmaMax > 0) || double.IsPositiveInfinity(SigmaMax))
            throw new ArgumentOutOfRangeException(nameof(SigmaMax), $"SpectralProjection: σ_max {SigmaMax} ≤ 0.");
        if (!(Strength >= 0 && Strength <= 1))
            throw new ArgumentOutOfRangeException(nameof(Strength), $"SpectralProjection: strength {Strength}.");
        if (PowerSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(PowerSteps), $"SpectralProjection: {PowerSteps} steps.");
    }
}
