using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Modules.Linalg;

/// <summary>
/// Odd matrix polynomials applied to singular values: a step with (a, b, c) maps M = U Σ Vᵀ to U f(Σ) Vᵀ with
/// f(σ) = aσ + bσ³ + cσ⁵, using only matrix products. Orthogonalization and the spectral caps are compositions of
/// such steps.
/// </summary>
internal static class OddPolynomial
{
    /// <summary>
    /// Runs <paramref name="steps"/> on every matrix of <paramref name="g"/> [..., m, n] after <paramref
    /// name="prepare"/> (which receives g in its tall orientation and returns a new tensor, say g rescaled). Works on
    /// the tall orientation so that MᵀM is the small Gram matrix; returns a new contiguous tensor shaped like g.
    /// </summary>
    public static Tensor Compose(
        Tensor g,
        IReadOnlyList<(double A, double B, double C)> steps,
        Func<Tensor, Tensor> prepare
    )
    {
        if (g.Rank < 2)
            throw new ArgumentException($"OddPolynomial: needs a matrix or a batch of matrices, got {g.Shape}.");
        bool transpose = g.Shape[-1] > g.Shape[-2];
        using var tall = transpose ? g.Transpose() : g.View(g.Shape.Dims.ToArray());
        var m = prepare(tall);
        using (var identity = Identity(m.Shape[-1], m.DType, m.Device))
            foreach (var (a, b, c) in steps)
                m = Step(m, identity, a, b, c);
        if (!transpose)
            return m;
        using (m)
        using (var back = m.Transpose())
            return Ops.Contiguous(back);
    }

    // M ← M·(a·I + b·A + c·A²) with A = MᵀM applies f(σ) = aσ + bσ³ + cσ⁵ to every singular value.
    // The polynomial is formed on the small n×n side (two passes there), so nothing but the one
    // product touches the tall M: three products and two n×n passes per step instead of five
    // elementwise passes over M and A. A cubic step (c = 0) skips A².
    private static Tensor Step(Tensor m, Tensor identity, double a, double b, double c)
    {
        using (m)
        {
            using var gram = Ops.MatMul(m, m, transposeA: true);
            using var linear = Ops.Zip(identity, gram, new LinearCombination(a, b));
            if (c == 0)
                return Ops.MatMul(m, linear);
            // A² written as c·AᵀA (A is symmetric): like MᵀM a Gram product, which the CPU computes
            // as a lower triangle and mirrors (accumulating it into the polynomial would forgo that).
            using var square = Ops.MatMul(gram, gram, transposeA: true, alpha: c);
            using var poly = Ops.Add(linear, square);
            return Ops.MatMul(m, poly);
        }
    }

    /// <summary>
    /// The n×n identity matrix, built on the device as [i == j] (no host array: a 128×128 one
    /// per update would be a large-object allocation every step).
    /// </summary>
    internal static Tensor Identity(int n, DType dtype, Device device)
    {
        using var index = Ops.Arange(n, dtype: dtype, device: device);
        using var rows = index.View(n, 1);
        using var columns = index.View(1, n);
        return Ops.Equal(rows, columns);
    }
}
