using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Modules.Linalg;

/// <summary>Settings of the manifold Muon direction's dual ascent.</summary>
/// <param name="Iterations">Most dual-ascent steps; each costs one orthogonalization.</param>
/// <param name="Tolerance">Stop when the violation ‖WᵀA + AᵀW‖_F / √m (m the small side) of every matrix is at most
/// this, or at most twice W's own defect ‖WᵀW − I‖_F / √m if that is larger; it lies between 0 and 2.</param>
/// <param name="StepSize">The first dual step α on Λ, for a gradient scaled to spectral norm about 1; it shrinks
/// by 0.7 whenever the violation grows.</param>
public sealed record ManifoldMuonOptions(int Iterations = 10, double Tolerance = 1e-3, double StepSize = 0.2)
{
    /// <summary>Throws when a setting is out of range.</summary>
    public void Check()
    {
        if (Iterations < 1 || !(Tolerance >= 0) || !(StepSize > 0) || double.IsInfinity(StepSize))
            throw new ArgumentOutOfRangeException(
                nameof(ManifoldMuonOptions),
                $"ManifoldMuon: needs iterations ≥ 1, tolerance ≥ 0 and a finite step size > 0, got {this}."
            );
    }
}

/// <summary>
/// Steepest descent under the spectral norm on the Stiefel manifold ("manifold Muon", Bernstein 2025): for a
/// tall W with WᵀW = I and a gradient G, the direction A maximizing ⟨G, A⟩ subject to ‖A‖₂ ≤ 1 and
/// WᵀA + AᵀW = 0 (A tangent to the manifold). Solved through the dual: for a symmetric multiplier Λ the best A
/// is msign(G + 2WΛ), and Λ ascends on the dual by Λ ← Λ − α·H with H = WᵀA + AᵀW, the constraint's violation,
/// starting from Λ = −¼(WᵀG + GᵀW) (exact when W is square). A step is then W ← W − η·A followed by a retraction
/// onto the manifold (msign, the Linear atom's projection).
/// </summary>
/// <remarks>
/// The dual is non-smooth, so a fixed α either crawls or oscillates: the step starts at α for a gradient scaled
/// to spectral norm about 1 (8 power-iteration steps) and shrinks by 0.7 each time the violation grows. Tall
/// matrices (2:1 and more) reach a violation of 1e-3 in about 10 steps; nearly square ones converge slowly (about
/// 3e-3 after 100 steps for 64×63), and the retraction keeps the weights on the manifold either way. Newton–Schulz
/// leaves singular values far below the largest short of 1, so a nearly rank-deficient G + 2WΛ cannot become
/// exactly tangent: the violation the trainer reports (<see cref="ManifoldStats"/>) says how far it got.
/// </remarks>
public static class ManifoldMuon
{
    /// <summary>
    /// The direction for every matrix of <paramref name="w"/> [S, m, n] at gradient <paramref name="g"/> (same
    /// shape); wide matrices are handled through their transposes. Returns A (same shape, spectral norm about 1),
    /// the dual steps taken and the largest final violation ‖WᵀA + AᵀW‖_F / √m.
    /// </summary>
    public static (Tensor Direction, int Iterations, double Violation) Direction(
        Tensor w,
        Tensor g,
        ManifoldMuonOptions options
    )
    {
        options.Check();
        if (w.Rank != 3 || w.Shape != g.Shape)
            throw new ArgumentException(
                $"ManifoldMuon: needs W and G of one shape [S, m, n], got {w.Shape} and {g.Shape}."
            );
        bool wide = w.Shape[-1] > w.Shape[-2];
        using var tallW = Ops.Contiguous(wide ? w.Transpose() : w);
        using var tallG = UnitSpectral(wide ? g.Transpose() : g);
        double rootM = Math.Sqrt(tallW.Shape[-1]);
        // W is only as orthogonal as the last retraction made it (Newton–Schulz leaves σ within about 0.5 % of 1),
        // and A can be no more tangent than that: asking for more would spend every iteration for nothing.
        double tolerance = Math.Max(options.Tolerance, 2 * OrthogonalityDefect(tallW) / rootM);
        // Λ₀ = −¼(WᵀG + GᵀW): for a tangent G, 2WΛ₀ removes nothing of it and H starts small.
        using var crossA = Ops.MatMul(tallW, tallG, transposeA: true);
        using var crossB = crossA.Transpose();
        var lambda = Ops.Zip(crossA, crossB, new LinearCombination(-0.25, -0.25));
        Tensor? a = null,
            best = null;
        double violation = double.PositiveInfinity,
            previous = double.PositiveInfinity,
            bestViolation = double.PositiveInfinity,
            step = options.StepSize;
        int k = 0;
        try
        {
            while (k < options.Iterations)
            {
                using (var shifted = Ops.MatMul(tallW, lambda, alpha: 2))
                using (var target = Ops.Add(tallG, shifted))
                    a = Orthogonalize.Apply(target); // six-step, whatever the trainer's orthogonalizer
                k++;
                using var wa = Ops.MatMul(tallW, a, transposeA: true);
                using var aw = wa.Transpose();
                using var h = Ops.Add(wa, aw);
                using var norms = Norms.L2(h, [-2, -1]);
                violation = HostLinalg.HostArray(norms).Max() / rootM;
                // Keep the most tangent direction met (the ascent is not monotone).
                if (violation < bestViolation)
                {
                    best?.Dispose();
                    (best, bestViolation) = (a, violation);
                }
                else
                    a.Dispose();
                a = null;
                if (bestViolation <= tolerance || k == options.Iterations)
                    break;
                if (violation > previous)
                    step *= 0.7;
                previous = violation;
                var next = Ops.Zip(lambda, h, new LinearCombination(1, -step));
                lambda.Dispose();
                lambda = next;
            }
            // A NaN violation is never the best: no direction means the gradient or the weight is not finite.
            var found = best
                ?? throw new ModuleException(
                    "ManifoldMuon",
                    $"the gradient or the weight is not finite (violation {violation})."
                );
            best = null;
            if (!wide)
                return (found, k, bestViolation);
            using (found)
            using (var back = found.Transpose())
                return (Ops.Contiguous(back), k, bestViolation);
        }
        catch
        {
            a?.Dispose();
            best?.Dispose();
            throw;
        }
        finally
        {
            lambda.Dispose();
        }
    }

    /// <summary>The largest ‖WᵀW − I‖_F over the matrices of a tall <paramref name="w"/>.</summary>
    private static double OrthogonalityDefect(Tensor w)
    {
        using var gram = Ops.MatMul(w, w, transposeA: true);
        // WᵀW − I as the polynomial −I + 1·R + 0·R²: one pass, no identity matrix (c = 0 runs no product).
        using var defect = Ops.SymmetricPolynomial(gram, a: -1, b: 1, c: 0);
        using var norms = Norms.L2(defect, [-2, -1]);
        return HostLinalg.HostArray(norms).Max();
    }

    // msign ignores scale, so G/σ₁ changes nothing but makes the dual step size independent of the gradient's
    // magnitude (a zero matrix stays zero).
    private static Tensor UnitSpectral(Tensor g)
    {
        using var dense = Ops.Contiguous(g);
        var (sigma, u, v) = SpectralMaps.TopSingularPair(dense, 8);
        using (sigma)
        using (u)
        using (v)
            return Norms.DivideSafely(dense, sigma);
    }
}
