using Modula.Tensors;

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

    /// <summary>
    /// Polar Express (Amsel et al. 2025): a different minimax-optimal quintic each step, five by default (the cost
    /// of Muon's). Every singular value of at least 10⁻²·‖G‖_F lands in [0.870, 1.124], of at least 10⁻³·‖G‖_F in
    /// [0.840, 1.124]; six steps narrow that to [0.9974, 1.0012] and [0.9935, 1.0012], eight reach 1 to rounding.
    /// (A Gaussian m×n matrix with m and n well apart has all its singular values above 10⁻²·‖G‖_F; a square one
    /// has a few far smaller, which every method here leaves well below 1.)
    /// </summary>
    PolarExpress,
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

    /// <summary>Steps <see cref="Orthogonalizer.PolarExpress"/> takes unless told otherwise: as many as Muon's
    /// quintic (the setting of the paper's GPT-2 runs and of modded-nanogpt).</summary>
    public const int PolarExpressSteps = 5;

    // Polar Express's safety factor: the input is divided by 1.01·‖G‖_F and every polynomial but the limiting one
    // is p(x/1.01), so rounding that lifts a singular value slightly above the interval a polynomial was built for
    // cannot push it onto the polynomial's steep outer branch.
    private const double PolarExpressSafety = 1.01;

    // The minimax-optimal odd quintics of Polar Express for ℓ = 10⁻³, u = 1 (greedy: step t is optimal for the
    // interval [ℓₜ, 2 − ℓₜ] that step t − 1 leaves, computed on the cushioned interval [max(ℓₜ, 0.024·uₜ), uₜ] and
    // rescaled so that p(ℓₜ) + p(uₜ) = 2). Numbers from Algorithm 1 of Amsel, Persson, Musco, Gower, "The Polar
    // Express", arXiv 2505.16932 (also github.com/NoahAmsel/PolarExpress); OrthogonalizeTests recomputes them from
    // that recipe. After the eighth the polynomial is numerically (15x − 10x³ + 3x⁵)/8, repeated as needed.
    private static readonly (double A, double B, double C)[] PolarExpressPublished =
    [
        (8.28721201814563, -23.595886519098837, 17.300387312530933),
        (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
        (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
        (3.3184196573706015, -2.488488024314874, 0.51004894012372),
        (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
        (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
        (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
        (1.875, -1.25, 0.375),
    ];

    /// <summary>
    /// The (a, b, c) of each step of <paramref name="method"/>, f(σ) = aσ + bσ³ + cσ⁵, as applied after the
    /// input is scaled (Polar Express's safety factor included). <paramref name="steps"/> is only for Polar
    /// Express (the others have a fixed count); null means the method's usual count.
    /// </summary>
    public static (double A, double B, double C)[] Coefficients(Orthogonalizer method, int? steps = null)
    {
        if (method != Orthogonalizer.PolarExpress)
        {
            var fixedSteps = method switch
            {
                Orthogonalizer.SixStep => SixStepCoefficients,
                Orthogonalizer.MuonQuintic => MuonCoefficients,
                _ => throw new ArgumentOutOfRangeException(nameof(method), $"Orthogonalize: unknown method {method}."),
            };
            if (steps is int n && n != fixedSteps.Length)
                throw new ArgumentException(
                    $"Orthogonalize: {method} always takes {fixedSteps.Length} steps, not {n}."
                );
            return [.. fixedSteps];
        }
        int count = steps ?? PolarExpressSteps;
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(steps), $"Orthogonalize: {count} Polar Express steps.");
        int last = PolarExpressPublished.Length - 1;
        var result = new (double A, double B, double C)[count];
        for (int i = 0; i < count; i++)
        {
            var (a, b, c) = PolarExpressPublished[Math.Min(i, last)];
            double s = i < last ? PolarExpressSafety : 1;
            result[i] = (a / s, b / (s * s * s), c / (s * s * s * s * s));
        }
        return result;
    }

    /// <summary>
    /// Orthogonalizes every matrix of <paramref name="g"/> [..., m, n]: the result has g's
    /// singular vectors and singular values near 1 (zero singular values stay zero, and a zero
    /// matrix maps to zero rather than NaN). <paramref name="steps"/> sets Polar Express's step
    /// count (default <see cref="PolarExpressSteps"/>); the other methods have a fixed count.
    /// </summary>
    public static Tensor Apply(Tensor g, Orthogonalizer method = Orthogonalizer.SixStep, int? steps = null) =>
        Apply(g, method, steps, times: null);

    /// <summary><see cref="Apply(Tensor, Orthogonalizer, int?)"/> with each result matrix times its factor of
    /// <paramref name="times"/> (one per matrix, [..., 1, 1]; null for none), taken inside the last product where the
    /// device allows (<see cref="Device.ScalesInsideProducts"/>).</summary>
    internal static Tensor Apply(Tensor g, Orthogonalizer method, int? steps, Tensor? times)
    {
        if (g.Rank < 2)
            throw new ArgumentException($"Orthogonalize: needs a matrix or a batch of matrices, got {g.Shape}.");
        return OddPolynomial.Compose(
            g,
            Coefficients(method, steps),
            matrix => UnitFrobeniusFactor(matrix, method),
            onGram: null,
            times,
            ReciprocalNorm(method)
        );
    }

    /// <summary>
    /// <see cref="Apply(Tensor, Orthogonalizer, int?)"/> on each of <paramref name="gs"/>, with the same results, each
    /// times its <paramref name="times"/> (as in <see cref="Apply(Tensor, Orthogonalizer, int?, Tensor)"/>) and
    /// written into its tensor of <paramref name="into"/>; tensors that all run on Gram matrices of one size (an MLP's
    /// tall and wide weights) are iterated as one batch (<see cref="OddPolynomial.ComposeEach"/>).
    /// </summary>
    internal static void ApplyEach(
        IReadOnlyList<Tensor> gs,
        Orthogonalizer method,
        IReadOnlyList<Tensor?> times,
        IReadOnlyList<Tensor> into
    ) =>
        OddPolynomial.ComposeEach(
            gs,
            Coefficients(method),
            matrix => UnitFrobeniusFactor(matrix, method),
            times,
            into,
            ReciprocalNorm(method)
        );

    // True when the method's factor is c/‖M‖_F with c ≤ 1 (not Muon's 1/(‖M‖_F + 10⁻⁷)), so that it may ride in the
    // first step's products (OddPolynomial.Compose). A method added later takes the rescaled copy until it is listed.
    private static bool ReciprocalNorm(Orthogonalizer method) =>
        method is Orthogonalizer.SixStep or Orthogonalizer.PolarExpress;

    /// <summary>The factor per matrix [..., 1, 1] that scales it to unit Frobenius norm as <paramref name="method"/>
    /// does.</summary>
    internal static Tensor UnitFrobeniusFactor(Tensor m, Orthogonalizer method)
    {
        using var norm = Norms.L2(m, [-2, -1]);
        return method switch
        {
            // Six-step has no epsilon in Modula; the safe division only keeps a zero matrix at zero instead of NaN.
            Orthogonalizer.SixStep => Norms.SafeReciprocal(norm, 1),
            // Polar Express divides by 1.01·‖G‖_F. The paper adds 1e-7 too, a guard for bfloat16 that would bend the
            // result for small float32 and float64 gradients, so the safe division stands in for it here.
            Orthogonalizer.PolarExpress => Norms.SafeReciprocal(norm, 1 / PolarExpressSafety),
            // Muon: 1 / (‖G‖_F + 1e-7).
            _ => Norms.ShiftedReciprocal(norm, 1e-7),
        };
    }
}
