using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Modules.Linalg;

/// <summary>Which odd-polynomial iteration <see cref="Orthogonalize"/> runs.</summary>
public enum Orthogonalizer
{
    /// <summary>Modula v2's six-step Newton–Schulz: every singular value of a Gaussian matrix lands in about [0.9956,
    /// 0.9993].</summary>
    SixStep,

    /// <summary>Muon's five steps of the quintic (3.4445, −4.7750, 2.0315): faster to saturate, singular values spread
    /// over about (0.68, 1.2).</summary>
    MuonQuintic,
}

/// <summary>
/// Newton–Schulz orthogonalization: maps G = U Σ Vᵀ to approximately U Vᵀ (the steepest
/// direction under the spectral norm) using only matrix products, so it runs on any device.
/// </summary>
public static class Orthogonalize
{
    private static readonly (double A, double B, double C)[] SixStepCoefficients =
    [
        (3955 / 1024.0, -8306 / 1024.0, 5008 / 1024.0),
        (3735 / 1024.0, -6681 / 1024.0, 3463 / 1024.0),
        (3799 / 1024.0, -6499 / 1024.0, 3211 / 1024.0),
        (4019 / 1024.0, -6385 / 1024.0, 2906 / 1024.0),
        (2677 / 1024.0, -3029 / 1024.0, 1162 / 1024.0),
        (2172 / 1024.0, -1833 / 1024.0, 682 / 1024.0),
    ];

    private static readonly (double A, double B, double C)[] MuonCoefficients = Enumerable
        .Repeat((3.4445, -4.7750, 2.0315), 5)
        .ToArray();

    /// <summary>
    /// The (a, b, c) of each step of <paramref name="method"/>, in order: step k maps every singular
    /// value σ to aσ + bσ³ + cσ⁵, after the matrix is scaled to unit Frobenius norm.
    /// </summary>
    public static IReadOnlyList<(double A, double B, double C)> Coefficients(Orthogonalizer method) =>
        method switch
        {
            Orthogonalizer.SixStep => SixStepCoefficients,
            Orthogonalizer.MuonQuintic => MuonCoefficients,
            _ => throw new ArgumentOutOfRangeException(nameof(method), $"Orthogonalize: unknown method {method}."),
        };

    /// <summary>
    /// Orthogonalizes every matrix of <paramref name="g"/> [..., m, n]: the result has g's
    /// singular vectors and singular values near 1 (zero singular values stay zero, and a zero
    /// matrix maps to zero rather than NaN).
    /// </summary>
    public static Tensor Apply(Tensor g, Orthogonalizer method = Orthogonalizer.SixStep)
    {
        if (g.Rank < 2)
            throw new ArgumentException($"Orthogonalize: needs a matrix or a batch of matrices, got {g.Shape}.");
        bool transpose = g.Shape[-1] > g.Shape[-2]; // work on the tall orientation so MᵀM is the small Gram matrix
        using var tall = transpose ? g.Transpose() : g.View(g.Shape.Dims.ToArray());
        var m = ScaleToUnitFrobenius(tall, method);
        var coefficients = Coefficients(method);
        using (var identity = Identity(m.Shape[-1], m.DType, m.Device))
            foreach (var (a, b, c) in coefficients)
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
    // elementwise passes over M and A.
    private static Tensor Step(Tensor m, Tensor identity, double a, double b, double c)
    {
        using (m)
        {
            using var gram = Ops.MatMul(m, m, transposeA: true);
            // A² written as c·AᵀA (A is symmetric): like MᵀM a Gram product, which the CPU computes
            // as a lower triangle and mirrors (accumulating it into the polynomial would forgo that).
            using var square = Ops.MatMul(gram, gram, transposeA: true, alpha: c);
            using var linear = Ops.Zip(identity, gram, new LinearCombination(a, b));
            using var poly = Ops.Add(linear, square);
            return Ops.MatMul(m, poly);
        }
    }

    /// <summary>
    /// The n×n identity matrix, built on the device as [i == j] (no host array: a 128×128 one
    /// per update would be a large-object allocation every step).
    /// </summary>
    private static Tensor Identity(int n, DType dtype, Device device)
    {
        using var index = Ops.Arange(n, dtype: dtype, device: device);
        using var rows = index.View(n, 1);
        using var columns = index.View(1, n);
        return Ops.Equal(rows, columns);
    }

    private static Tensor ScaleToUnitFrobenius(Tensor m, Orthogonalizer method)
    {
        using var norm = Norms.L2(m, [-2, -1]);
        // Six-step has no epsilon in Modula; the safe division only keeps a zero matrix at zero instead of NaN.
        if (method == Orthogonalizer.SixStep)
            return Norms.DivideSafely(m, norm);
        using var shifted = Ops.Add(norm, 1e-7);
        return Ops.Div(m, shifted);
    }
}
