using System.Globalization;
using Modula.Modules.Linalg;
using Modula.Optim;

namespace Modula.Cli.Training;

/// <summary>
/// The Lipschitz bound a training command enforces after every step (<c>--spectral-cap</c>): one
/// <see cref="SpectralProjection"/> applied to every matrix atom through
/// <see cref="TrainerOptions.SpectralProjections"/>.
/// </summary>
/// <param name="Kind">hard, soft, normalize, hammer or decay.</param>
/// <param name="SigmaMax">The bound σ_max on each raw weight matrix's spectral norm (unused by decay).</param>
/// <param name="Strength">decay's fraction of σ₁ removed per step, or soft's α; 0 for the others.</param>
public sealed record SpectralCapChoice(string Kind, double SigmaMax, double Strength)
{
    /// <summary>Option names this choice reads.</summary>
    public static readonly string[] OptionNames = ["spectral-cap", "sigma-max", "spectral-strength"];

    private static readonly string[] Kinds = ["hard", "soft", "normalize", "hammer", "decay"];

    /// <summary>
    /// Reads <c>--spectral-cap KIND [--sigma-max X] [--spectral-strength S]</c>, or null when no cap is asked
    /// for. Every combination that would be ignored or cannot run is a usage error: a σ_max or strength without a
    /// cap, a σ_max for decay, a strength for a cap that takes none, soft and decay without one, and any cap with
    /// the manifold rule (whose retraction is its own projection).
    /// </summary>
    public static SpectralCapChoice? Parse(Options options, UpdateRule rule)
    {
        if (!options.Has("spectral-cap"))
        {
            foreach (var name in OptionNames[1..])
                if (options.Has(name))
                    throw new UsageException($"--{name} applies only with --spectral-cap {string.Join("|", Kinds)}.");
            return null;
        }
        string kind = options.Get("spectral-cap", "");
        if (!Kinds.Contains(kind))
            throw new UsageException(
                $"unknown --spectral-cap '{kind}'; use {string.Join(", ", Kinds)}.{Suggestions.DidYouMean(kind, Kinds)}"
            );
        if (rule == UpdateRule.Manifold)
            throw new UsageException(
                "--spectral-cap does not combine with --rule manifold: its retraction already projects the weights."
            );
        bool strong = kind is "soft" or "decay";
        if (kind == "decay" && options.Has("sigma-max"))
            throw new UsageException(
                "--sigma-max does not apply to --spectral-cap decay (it shrinks σ₁ by a fraction)."
            );
        if (!strong && options.Has("spectral-strength"))
            throw new UsageException($"--spectral-strength does not apply to --spectral-cap {kind}.");
        if (strong && !options.Has("spectral-strength"))
            throw new UsageException(
                $"--spectral-cap {kind} needs --spectral-strength "
                    + (kind == "soft" ? "α in (0, 1]." : "(the fraction of σ₁ removed per step) in (0, 1).")
            );
        double sigma =
            kind == "decay"
                ? 1
                : options.GetDouble("sigma-max", 1, v => v is >= MinSigma and <= MaxSigma, "in [1e-6, 1e6]");
        double strength = kind switch
        {
            "soft" => options.GetDouble("spectral-strength", 0, v => v is > 0 and <= 1, "in (0, 1]"),
            "decay" => options.GetDouble("spectral-strength", 0, v => v is > 0 and < 1, "in (0, 1)"),
            _ => 0,
        };
        return new SpectralCapChoice(kind, sigma, strength);
    }

    /// <summary>
    /// The range of <c>--sigma-max</c>: the cap is applied in float32, where σ_max outside it would round to 0 or
    /// overflow the capped weights; a cap of 10⁶ on weights whose initial norm is 1 already bounds nothing.
    /// </summary>
    public const double MinSigma = 1e-6,
        MaxSigma = 1e6;

    /// <summary>The projection applied to every matrix atom.</summary>
    public SpectralProjection Projection =>
        Kind switch
        {
            "hard" => SpectralProjection.HardCap(SigmaMax),
            "soft" => SpectralProjection.SoftCap(SigmaMax, Strength),
            "normalize" => SpectralProjection.Normalize(SigmaMax),
            "hammer" => SpectralProjection.Hammer(SigmaMax),
            _ => SpectralProjection.WeightDecay(Strength),
        };

    /// <summary>The options that recreate this choice, as a run's identity records them.</summary>
    public IEnumerable<(string Option, string Value)> Settings()
    {
        yield return ("spectral-cap", Kind);
        if (Kind != "decay")
            yield return ("sigma-max", Text(SigmaMax));
        if (Kind is "soft" or "decay")
            yield return ("spectral-strength", Text(Strength));
    }

    /// <inheritdoc/>
    public override string ToString() => string.Join(" ", Settings().Select(s => $"{s.Option}={s.Value}"));

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
