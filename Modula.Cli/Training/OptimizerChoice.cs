using System.Globalization;
using Modula.Modules.Linalg;
using Modula.Optim;

namespace Modula.Cli.Training;

/// <summary>The optimizer a training command uses: a base optimizer, an update rule, its hyperparameters and the
/// optional Lipschitz bound enforced after each step.</summary>
/// <param name="Name">modula-adam, adam, momentum, sgd or muon.</param>
/// <param name="Rule">Plain, normalized (Modula v1), dualized (Modula v2) or manifold; plain for muon.</param>
/// <param name="LearningRate">Base learning rate (the norm target for normalized rules; Muon's rate for muon).</param>
/// <param name="Beta1">First-moment / momentum factor (Muon's Nesterov momentum for muon).</param>
/// <param name="Beta2">Second-moment factor (Adam variants, and muon's Adam).</param>
/// <param name="WeightDecay">Weight decay (mass-aware for normalized rules, decoupled for plain).</param>
/// <param name="AdamLearningRate">muon only: Adam's learning rate for the embeddings, input layer and head.</param>
/// <param name="Cap">The spectral projection enforced after every step, or null.</param>
/// <param name="Method">The msign of the dualized rule and of muon when <c>--orthogonalizer</c> chose another than
/// the default; null for each one's default (six-step for dualize, Muon's quintic for muon).</param>
/// <param name="Manifold">The manifold rule's dual ascent when <c>--manifold-steps</c> or <c>--manifold-tolerance</c>
/// set it to other than <see cref="ManifoldMuonOptions"/>' defaults; null for those.</param>
public sealed record OptimizerChoice(
    string Name,
    UpdateRule Rule,
    double LearningRate,
    double Beta1,
    double Beta2,
    double WeightDecay,
    double? AdamLearningRate = null,
    SpectralCapChoice? Cap = null,
    Orthogonalizer? Method = null,
    ManifoldMuonOptions? Manifold = null
)
{
    /// <summary>Option names this choice reads.</summary>
    public static readonly string[] OptionNames =
    [
        "optimizer",
        "rule",
        "lr",
        "beta1",
        "beta2",
        "wd",
        "adam-lr",
        "orthogonalizer",
        "manifold-steps",
        "manifold-tolerance",
        .. SpectralCapChoice.OptionNames,
    ];

    /// <summary>The most dual-ascent steps <c>--manifold-steps</c> accepts.</summary>
    public const int MaxManifoldSteps = 10_000;

    private static readonly string[] Names = ["modula-adam", "adam", "momentum", "sgd", "muon"];

    /// <summary>The <c>--orthogonalizer</c> values, in the order of <see cref="Orthogonalizer"/>.</summary>
    private static readonly string[] MethodNames = ["six-step", "muon", "polar-express"];

    /// <summary>
    /// Muon's own defaults (K. Jordan's reference code), whatever the command's: lr 0.02 with Nesterov momentum 0.95
    /// for the hidden matrices, Adam (β 0.9/0.95) at lr 0.003 for the rest, no weight decay, the plain rule.
    /// </summary>
    public static readonly OptimizerChoice MuonDefaults = new("muon", UpdateRule.Plain, 0.02, 0.95, 0.95, 0, 0.003);

    /// <summary>Reads the options, falling back to <paramref name="defaults"/> (to <see cref="MuonDefaults"/> for
    /// <c>--optimizer muon</c>).</summary>
    public static OptimizerChoice Parse(Options options, OptimizerChoice defaults)
    {
        string name = options.Get("optimizer", defaults.Name);
        if (!Names.Contains(name))
            throw new UsageException(
                $"unknown optimizer '{name}'; use {string.Join(", ", Names)}.{Suggestions.DidYouMean(name, Names)}"
            );
        if (name == "muon")
            defaults = defaults.Name == "muon" ? defaults : MuonDefaults;
        var rule = options.Get("rule", defaults.Rule.ToString().ToLowerInvariant()) switch
        {
            "plain" => UpdateRule.Plain,
            "normalize" or "normed" => UpdateRule.Normalize,
            "dualize" or "dualized" => UpdateRule.Dualize,
            "manifold" => UpdateRule.Manifold,
            var r => throw new UsageException($"unknown rule '{r}'; use plain, normalize, dualize or manifold."),
        };
        if (name == "muon" && rule != UpdateRule.Plain)
            throw new UsageException(
                $"--optimizer muon orthogonalizes its own updates; --rule {options.Get("rule", "")} does not apply "
                    + "(leave --rule out, or give plain)."
            );
        if (name != "muon" && options.Has("adam-lr"))
            throw new UsageException("--adam-lr applies only to --optimizer muon.");
        // A factor the optimizer has no use for would be shown in the run's header and kept in its identity while
        // changing nothing: sgd has no moments, momentum a first one only. (Every checkpoint records both factors,
        // which a resumed run's options hold without their being given.)
        string? unused =
            options.IsGiven("beta1") && name == "sgd" ? "beta1"
            : options.IsGiven("beta2") && name is ("sgd" or "momentum") ? "beta2"
            : null;
        if (unused is not null)
            throw new UsageException($"--{unused} does not apply to --optimizer {name}, which has no use for it.");
        return new OptimizerChoice(
            name,
            rule,
            Rate(options, "lr", defaults.LearningRate),
            options.GetDouble("beta1", defaults.Beta1, v => v is >= 0 and < 1, "in [0, 1)"),
            options.GetDouble("beta2", defaults.Beta2, v => v is >= 0 and < 1, "in [0, 1)"),
            options.GetDouble("wd", defaults.WeightDecay, v => v is >= 0 and <= MaxRate, "in [0, 1e6]"),
            name == "muon" ? Rate(options, "adam-lr", defaults.AdamLearningRate ?? 0.003) : null,
            SpectralCapChoice.Parse(options, rule),
            ParseMethod(options, name, rule),
            ParseManifold(options, rule)
        );
    }

    /// <summary>
    /// The range of <c>--lr</c> and <c>--adam-lr</c> (and the most <c>--wd</c>): far wider than any run that learns,
    /// narrow enough that the products and ratios the optimizers form from them (targets, Muon's Adam scale
    /// <c>adam-lr / lr</c>, the decay factor <c>1 − lr·wd</c>) stay finite numbers, in float32 too.
    /// </summary>
    public const double MinRate = 1e-12,
        MaxRate = 1e6;

    private static double Rate(Options options, string name, double fallback) =>
        options.GetDouble(name, fallback, v => v is >= MinRate and <= MaxRate, "in [1e-12, 1e6]");

    private static ManifoldMuonOptions? ParseManifold(Options options, UpdateRule rule)
    {
        if (!options.Has("manifold-steps") && !options.Has("manifold-tolerance"))
            return null;
        if (rule != UpdateRule.Manifold)
            throw new UsageException("--manifold-steps and --manifold-tolerance apply only to --rule manifold.");
        var defaults = new ManifoldMuonOptions();
        var chosen = defaults with
        {
            Iterations = options.GetInt("manifold-steps", defaults.Iterations, 1, MaxManifoldSteps),
            Tolerance = options.GetDouble("manifold-tolerance", defaults.Tolerance, v => v >= 0, "of at least 0"),
        };
        return chosen == defaults ? null : chosen; // the defaults given explicitly are the run without them
    }

    /// <summary>
    /// The value of <paramref name="option"/> (<c>--orthogonalizer</c>, <c>--manifold-steps</c>,
    /// <c>--manifold-tolerance</c>) that a run of <paramref name="optimizer"/> gets without it, as a run's identity
    /// would write it; null for other options. Such values are not part of a run's identity.
    /// </summary>
    public static string? DefaultSetting(string option, string optimizer) =>
        option switch
        {
            "orthogonalizer" => MethodName(DefaultMethod(optimizer)),
            "manifold-steps" => new ManifoldMuonOptions().Iterations.ToString(CultureInfo.InvariantCulture),
            "manifold-tolerance" => new ManifoldMuonOptions().Tolerance.ToString("R", CultureInfo.InvariantCulture),
            _ => null,
        };

    /// <summary>Whether <paramref name="value"/> of <paramref name="option"/> is its <see cref="DefaultSetting"/>
    /// (numbers compared as numbers): checkpoints of earlier builds record defaults given explicitly.</summary>
    public static bool IsDefault(string option, string value, string optimizer) =>
        DefaultSetting(option, optimizer) is { } setting
        && (
            value == setting
            || (
                option != "orthogonalizer"
                && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                && x == double.Parse(setting, CultureInfo.InvariantCulture)
            )
        );

    /// <summary>The msign <paramref name="optimizer"/> uses without <c>--orthogonalizer</c>: Muon's quintic for
    /// muon, six-step for the dualized rule.</summary>
    private static Orthogonalizer DefaultMethod(string optimizer) =>
        optimizer == "muon" ? Orthogonalizer.MuonQuintic : Orthogonalizer.SixStep;

    /// <summary>The name <c>--orthogonalizer</c> gives <paramref name="method"/>.</summary>
    public static string MethodName(Orthogonalizer method) => MethodNames[(int)method];

    private static Orthogonalizer? ParseMethod(Options options, string name, UpdateRule rule)
    {
        if (!options.Has("orthogonalizer"))
            return null;
        if (name != "muon" && rule != UpdateRule.Dualize)
            throw new UsageException(
                "--orthogonalizer applies only to --rule dualize and --optimizer muon (--rule manifold always "
                    + "uses six-step; normalize and plain take no msign)."
            );
        string method = options.Get("orthogonalizer", "");
        int index = Array.IndexOf(MethodNames, method);
        if (index < 0)
            throw new UsageException(
                $"unknown --orthogonalizer '{method}'; use {string.Join(", ", MethodNames)}."
                    + Suggestions.DidYouMean(method, MethodNames)
            );
        // The default given explicitly is the run without it (and its checkpoints resume without it).
        return (Orthogonalizer)index == DefaultMethod(name) ? null : (Orthogonalizer)index;
    }

    /// <summary>A fresh base optimizer for <paramref name="model"/>.</summary>
    public Optimizer Create(Modules.Module model) =>
        Name switch
        {
            "modula-adam" => new ModulaAdam(Beta1, Beta2),
            "adam" => new Adam(Beta1, Beta2),
            "momentum" => new Momentum(Beta1),
            "muon" => new Muon(
                model,
                AdamLearningRate!.Value / LearningRate,
                momentum: Beta1,
                adamBeta2: Beta2,
                method: Method ?? Orthogonalizer.MuonQuintic
            ),
            _ => new Sgd(),
        };

    /// <summary>
    /// A trainer for <paramref name="model"/> over <paramref name="steps"/> steps: weights drawn from
    /// <paramref name="seed"/>, power-iteration vectors from seed + 1 (runs draw their batches from seed + 2).
    /// </summary>
    public Trainer CreateTrainer(Modules.Module model, int steps, ulong seed, Tensors.Device device) =>
        new(
            model,
            model.Initialize(new Tensors.Random.Generator(seed), device),
            Create(model),
            TrainerOptions(steps),
            normalizeSeed: seed + 1
        );

    /// <summary>Trainer settings for a run of <paramref name="steps"/> with linear decay.</summary>
    public TrainerOptions TrainerOptions(int steps) =>
        new(
            LearningRate,
            Schedule.Linear(steps),
            Rule,
            WeightDecay,
            Orthogonalizer: Method ?? Orthogonalizer.SixStep, // read by the dualized rule alone
            Manifold: Manifold,
            SpectralProjections: Cap is { Projection: var projection } ? (_, _) => projection : null
        );

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{Rule.ToString().ToLowerInvariant()} {Name} lr={LearningRate} beta1={Beta1} beta2={Beta2} "
                + $"wd={WeightDecay}"
        )
        + (AdamLearningRate is double a ? string.Create(CultureInfo.InvariantCulture, $" adam-lr={a}") : "")
        + (Cap is null ? "" : $" {Cap}")
        + (Method is Orthogonalizer m ? $" orthogonalizer={MethodName(m)}" : "")
        + (
            Manifold is { } ascent
                ? string.Create(
                    CultureInfo.InvariantCulture,
                    $" manifold-steps={ascent.Iterations} manifold-tolerance={ascent.Tolerance}"
                )
                : ""
        );
}
