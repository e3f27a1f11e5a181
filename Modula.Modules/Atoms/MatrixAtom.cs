using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Modules;

/// <summary>
/// An atom whose weight is a stack of matrices [S, out, in] measured in the spectral norm
/// (the largest over the stack): Linear (S = 1) and Conv2D (one matrix per kernel position).
/// Normalize, dualize, project and initialize act on every matrix of the stack independently.
/// </summary>
public abstract partial class MatrixAtom : Atom
{
    /// <summary>Creates a matrix atom of the given mass.</summary>
    protected MatrixAtom(double mass)
        : base(mass) { }

    /// <summary>Number of matrices in the stack.</summary>
    protected abstract int Slices { get; }

    /// <summary>Rows (fan-out) of each matrix.</summary>
    public abstract int FanOut { get; }

    /// <summary>Columns (fan-in) of each matrix.</summary>
    public abstract int FanIn { get; }

    /// <summary>The weight viewed as [S, out, in] (a view or a contiguous copy).</summary>
    protected abstract Tensor ToSlices(Tensor weight);

    /// <summary>A stack [S, out, in] laid out as this atom's weight.</summary>
    protected abstract Tensor FromSlices(Tensor slices);

    /// <inheritdoc/>
    public override Tensor InitializeWeight(Generator rng, Device device, DType dtype)
    {
        var values = new double[Slices * FanOut * FanIn];
        for (int s = 0; s < Slices; s++)
            HostLinalg.RandomSemiOrthogonal(FanOut, FanIn, rng).CopyTo(values, s * FanOut * FanIn);
        using var slices = HostLinalg.Upload(values, new Shape(Slices, FanOut, FanIn), dtype, device);
        return FromSlices(slices);
    }

    /// <summary>
    /// The sum of certified upper bounds on the slices' spectral norms (<see cref="HostLinalg.SpectralNormBound"/>),
    /// for atoms whose forward pass is the scale times a sum of slice products (Linear, Conv2D). Not a default: a
    /// subclass states its own <see cref="Atom.LipschitzBound"/>.
    /// </summary>
    protected double SliceSpectralNormSum(Tensor weight)
    {
        using var slices = ToSlices(weight);
        return HostLinalg.SpectralNormBounds(slices).Sum();
    }

    /// <inheritdoc/>
    public override double WeightNorm(Tensor weight)
    {
        using var slices = ToSlices(weight);
        return HostLinalg.SpectralNorm(slices);
    }

    /// <summary>
    /// One power-iteration step per matrix with the state's vector u: v = W u / ‖W u‖,
    /// u ← Wᵀ v, W · target/‖u‖. Since ‖u‖ ≤ σ_max, the result's spectral norm is ≥ target,
    /// with equality once u has converged to the top right singular vector.
    /// </summary>
    public override Tensor NormalizeWeight(Tensor update, double target, NormalizeState state, int index)
    {
        using var w = ToSlices(update);
        var (length, next) = PowerStep(w, PowerVector(state, index, update));
        using (length)
        using (var result = Norms.ScaleSafely(w, length, target))
        {
            state.Set(index, next);
            return FromSlices(result);
        }
    }

    /// <summary>Atom <paramref name="index"/>'s power-iteration vector [S, in, 1], drawn on first use.</summary>
    private Tensor PowerVector(NormalizeState state, int index, Tensor update) =>
        state.Vector(index, new Shape(Slices, FanIn, 1), update.DType, update.Device);

    /// <summary>
    /// One power-iteration step on every matrix of <paramref name="w"/> [N, out, in] from the vectors
    /// <paramref name="u"/> [N, in, 1]: v = W u / ‖W u‖, u' = Wᵀ v. Returns ‖u'‖ [N, 1, 1] and the next
    /// vectors (the old one where u' = 0: a zero update keeps its vector).
    /// </summary>
    private static (Tensor Length, Tensor Next) PowerStep(Tensor w, Tensor u)
    {
        using var v = Ops.MatMul(w, u); // [N, out, 1]
        using var vUnit = Norms.ToNorm(v, 1);
        using var next = Ops.MatMul(w, vUnit, transposeA: true); // [N, in, 1]
        var length = Norms.L2(next, [1]); // [N, 1, 1]
        using var moved = Ops.Map(length, new Tensors.Primitives.IsPositive());
        return (length, Ops.Where(moved, next, u));
    }

    /// <inheritdoc/>
    public override Tensor DualizeWeight(Tensor gradient, double target, Orthogonalizer method)
    {
        using var g = ToSlices(gradient);
        using var o = Orthogonalize.Apply(g, method);
        using var scaled = Ops.Mul(o, target);
        return FromSlices(scaled);
    }

    /// <summary>Manifold Muon on every matrix of the stack (see <see cref="ManifoldMuon"/>), times the
    /// target.</summary>
    public override Tensor ManifoldWeight(
        Tensor gradient,
        Tensor weight,
        double target,
        ManifoldMuonOptions options,
        ManifoldStats stats
    )
    {
        using var g = ToSlices(gradient);
        using var w = ToSlices(weight);
        var (direction, iterations, violation) = ManifoldMuon.Direction(w, g, options);
        stats.Add(iterations, violation);
        using (direction)
        using (var scaled = Ops.Mul(direction, target))
            return FromSlices(scaled);
    }

    /// <inheritdoc/>
    public override Tensor ProjectWeight(Tensor weight)
    {
        using var w = ToSlices(weight);
        using var o = Orthogonalize.Apply(w);
        return FromSlices(o);
    }

    /// <summary>
    /// <paramref name="projection"/> applied to every matrix of the stack (a Lipschitz bound on the atom's norm; see
    /// <see cref="SpectralProjection"/>). Returns a new tensor.
    /// </summary>
    public Tensor ProjectWeight(Tensor weight, SpectralProjection projection)
    {
        using var w = ToSlices(weight);
        using var projected = projection.Apply(w);
        return FromSlices(projected);
    }

    /// <summary>Modula v1: <c>W · (1 − strength)</c>.</summary>
    public override Tensor RegularizeWeight(Tensor weight, double strength) => Ops.Mul(weight, 1 - strength);

    /// <inheritdoc/>
    public override void RegularizeWeightInPlace(Tensor weight, double strength) =>
        Ops.Map(weight, new Tensors.Primitives.Affine(1 - strength, 0), into: weight);

    /// <inheritdoc/>
    public override double? DecayFactor(double strength) => 1 - strength;
}
