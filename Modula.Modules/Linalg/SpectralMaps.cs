using Modula.Tensors;
using Modula.Tensors.Primitives;
using Modula.Tensors.Random;

namespace Modula.Modules.Linalg;

/// <summary>
/// The maps behind <see cref="SpectralProjection"/> on stacks of matrices [..., m, n], each matrix on its own:
/// rank-one corrections along the top singular pair (found by power iteration) and odd-polynomial caps.
/// </summary>
internal static class SpectralMaps
{
    // The power iteration's start: a fixed Gaussian vector, so a projection is a deterministic function of the
    // weight (and never a structured vector such as all ones, which zero-mean rows would annihilate).
    private const ulong StartSeed = 0x5EC7_2A1;

    // Hard-cap polynomials from the paper's code (phess2/lipschitz-transformers, modula/atom.py `_hard_cap`, credited
    // there to Franz Cesista), numbers only. Their composition P approximates min(1, x): |P(x) − min(1, x)| ≤ 0.034
    // and P(x) ≤ 1.011 for 0 ≤ x ≤ 3.5, the worst error at x = 1 (P(1) = 0.966); past 3.55 it collapses
    // (P(3.7) < 0, P(5) ≈ 10¹²⁶).
    private static readonly (double A, double B, double C)[] HardCapCoefficients =
    [
        (0.805032, 0.206361, -0.019763),
        (0.649867, 0.162935, -0.011150),
        (1.810259, -0.200265, 0.008251),
        (1.004384, -0.183490, 0.014413),
    ];

    // Singular values the hard cap's polynomials are trusted up to, in units of σ_max, with room for the power
    // iteration's underestimate of σ₁ (they hold up to 3.5).
    private const double HardCapRange = 3;

    /// <summary>W / max(1, σ₁/σ_max).</summary>
    public static Tensor Normalize(Tensor w, double sigmaMax, int steps)
    {
        var (sigma, u, v) = TopSingularPair(w, steps);
        using (sigma)
        using (u)
        using (v)
        using (var factor = Ops.Map(sigma, new FlooredReciprocal(sigmaMax, sigmaMax)))
            return Ops.Mul(w, factor);
    }

    /// <summary>W + (σ_max − σ₁)·u₁v₁ᵀ: σ₁ becomes σ_max.</summary>
    public static Tensor Hammer(Tensor w, double sigmaMax, int steps) =>
        TopCorrection(w, steps, new Affine(-1, sigmaMax));

    /// <summary>W − strength·σ₁·u₁v₁ᵀ: σ₁ becomes (1 − strength)·σ₁.</summary>
    public static Tensor WeightDecay(Tensor w, double strength, int steps) =>
        TopCorrection(w, steps, new Affine(-strength, 0));

    /// <summary>
    /// σ ↦ σ_max·P(σ/σ_max) with the hard-cap polynomials P ≈ min(1, ·). A matrix whose σ₁ (estimated) exceeds
    /// 3·σ_max is first scaled down to 3·σ_max, where P still holds, instead of being sent past P's range.
    /// </summary>
    public static Tensor HardCap(Tensor w, double sigmaMax, int steps) =>
        Guarded(w, HardCapRange * sigmaMax, steps, Conjugated(HardCapCoefficients, sigmaMax));

    /// <summary>
    /// σ ↦ σ_max·s(σ/σ_max), s(x) = p + α·p³ with p = x − α·x³ (two cubic steps). s rises up to its turning point
    /// x* = 1/√(3α) and then falls (negative past 1/√α), so a matrix whose σ₁ (estimated) exceeds x*·σ_max is
    /// first scaled down to it: the map stays monotone and below σ_max·s(x*).
    /// </summary>
    public static Tensor SoftCap(Tensor w, double sigmaMax, double alpha, int steps)
    {
        var cubics = Conjugated([(1, -alpha, 0), (1, alpha, 0)], sigmaMax);
        return alpha == 0 ? Ops.Contiguous(w) : Guarded(w, sigmaMax / Math.Sqrt(3 * alpha), steps, cubics);
    }

    /// <summary>
    /// The α ≥ 0 with s(<paramref name="x"/>) = 1 (0 when x ≤ 1). With β = α·x², s(x) = x·(1 − g(β)) for
    /// g(β) = β²(3 − 3β + β²), which rises from 0 to 1 on [0, 1], so bisection finds the one root.
    /// </summary>
    public static double SoftCapStrength(double x)
    {
        if (!(x > 0) || double.IsPositiveInfinity(x))
            throw new ArgumentOutOfRangeException(nameof(x), $"SpectralProjection: soft-cap ratio {x}.");
        if (x <= 1)
            return 0;
        double target = 1 - 1 / x,
            low = 0,
            high = 1;
        for (int i = 0; i < 200 && high - low > 1e-17; i++)
        {
            double mid = (low + high) / 2;
            if (mid * mid * (3 - 3 * mid + mid * mid) < target)
                low = mid;
            else
                high = mid;
        }
        return (low + high) / 2 / (x * x);
    }

    /// <summary>
    /// σ₁ [..., 1, 1] and the unit singular vectors u₁ [..., m, 1], v₁ [..., n, 1] of every matrix by <paramref
    /// name="steps"/> power-iteration steps on WᵀW (σ₁ is never overestimated). A zero matrix gives zeros.
    /// </summary>
    public static (Tensor Sigma, Tensor U, Tensor V) TopSingularPair(Tensor w, int steps)
    {
        var dims = w.Shape.Dims.ToArray();
        dims[^2] = dims[^1];
        dims[^1] = 1;
        var v = Ops.Normal(new Shape(dims), new Generator(StartSeed), w.DType, w.Device);
        try
        {
            for (int i = 0; i < steps; i++)
            {
                using var image = Ops.MatMul(w, v);
                using var unit = Norms.ToNorm(image, -2);
                using var back = Ops.MatMul(w, unit, transposeA: true);
                var next = Norms.ToNorm(back, -2);
                v.Dispose();
                v = next;
            }
            using var top = Ops.MatMul(w, v);
            var sigma = Norms.L2(top, [-2]);
            try
            {
                return (sigma, Norms.DivideSafely(top, sigma), v);
            }
            catch
            {
                sigma.Dispose();
                throw;
            }
        }
        catch
        {
            v.Dispose();
            throw;
        }
    }

    // The steps applied to W scaled by limit/max(σ₁, limit) (σ₁ estimated): only a matrix past the limit changes.
    private static Tensor Guarded(Tensor w, double limit, int steps, (double A, double B, double C)[] polynomial)
    {
        // A limit past float32's range (a soft cap's σ_max/√(3α) for a tiny α: under about 1e-77 at σ_max = 1) bounds
        // no finite weight; as a float32 it would be ∞, and the guard ∞/∞.
        if (!(limit < float.MaxValue))
            return OddPolynomial.Compose(w, polynomial, _ => null);
        var (sigma, u, v) = TopSingularPair(w, steps);
        u.Dispose();
        v.Dispose();
        using (sigma)
        using (var guard = Ops.Map(sigma, new FlooredReciprocal(limit, limit)))
            return OddPolynomial.Compose(w, polynomial, _ => guard.View(guard.Shape.Dims.ToArray()));
    }

    // W + f(σ₁)·u₁v₁ᵀ, the correction formed on the short vector u₁ before the outer product.
    private static Tensor TopCorrection(Tensor w, int steps, Affine change)
    {
        var (sigma, u, v) = TopSingularPair(w, steps);
        using (sigma)
        using (u)
        using (v)
        {
            using var factor = Ops.Map(sigma, change);
            using var scaled = Ops.Mul(u, factor);
            using var outer = Ops.MatMul(scaled, v, transposeB: true);
            return Ops.Add(w, outer);
        }
    }

    // s·p(x/s) for every step p: the steps applied to W act on W/σ_max and scale back, with no extra passes.
    private static (double A, double B, double C)[] Conjugated(
        IReadOnlyList<(double A, double B, double C)> steps,
        double s
    ) => steps.Select(p => (p.A, p.B / (s * s), p.C / (s * s * s * s))).ToArray();
}
