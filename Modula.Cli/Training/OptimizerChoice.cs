using System.Globalization;
using Modula.Optim;

namespace Modula.Cli.Training;

/// <summary>The optimizer a training command uses: a base optimizer, an update rule and its hyperparameters.</summary>
/// <param name="Name">modula-adam, adam, momentum or sgd.</param>
/// <param name="Rule">Plain, normalized (Modula v1) or dualized (Modula v2).</param>
/// <param name="LearningRate">Base learning rate (the norm target for normalized rules).</param>
/// <param name="Beta1">First-moment / momentum factor.</param>
/// <param name="Beta2">Second-moment factor (Adam variants).</param>
/// <param name="WeightDecay">Weight decay (mass-aware for normalized rules, decoupled for plain).</param>
public sealed record OptimizerChoice(
    string Name,
    UpdateRule Rule,
    double LearningRate,
    double Beta1,
    double Beta2,
    double WeightDecay
)
{
    /// <summary>Option names this choice reads.</summary>
    public static readonly string[] OptionNames = ["optimizer", "rule", "lr", "beta1", "beta2", "wd"];

    /// <summary>Reads the options, falling back to <paramref name="defaults"/>.</summary>
    public static OptimizerChoice Parse(Options options, OptimizerChoice defaults)
    {
        string name = options.Get("optimizer", defaults.Name);
        if (name is not ("modula-adam" or "adam" or "momentum" or "sgd"))
            throw new UsageException($"unknown optimizer '{name}'; use modula-adam, adam, momentum or sgd.");
        var rule = options.Get("rule", defaults.Rule.ToString().ToLowerInvariant()) switch
        {
            "plain" => UpdateRule.Plain,
            "normalize" or "normed" => UpdateRule.Normalize,
            "dualize" or "dualized" => UpdateRule.Dualize,
            "manifold" => UpdateRule.Manifold,
            var r => throw new UsageException($"unknown rule '{r}'; use plain, normalize, dualize or manifold."),
        };
        return new OptimizerChoice(
            name,
            rule,
            options.GetDouble("lr", defaults.LearningRate, v => v > 0, "above 0"),
            options.GetDouble("beta1", defaults.Beta1, v => v is >= 0 and < 1, "in [0, 1)"),
            options.GetDouble("beta2", defaults.Beta2, v => v is >= 0 and < 1, "in [0, 1)"),
            options.GetDouble("wd", defaults.WeightDecay, v => v >= 0, "of at least 0")
        );
    }

    /// <summary>A fresh base optimizer.</summary>
    public Optimizer Create() =>
        Name switch
        {
            "modula-adam" => new ModulaAdam(Beta1, Beta2),
            "adam" => new Adam(Beta1, Beta2),
            "momentum" => new Momentum(Beta1),
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
            Create(),
            TrainerOptions(steps),
            normalizeSeed: seed + 1
        );

    /// <summary>Trainer settings for a run of <paramref name="steps"/> with linear decay.</summary>
    public TrainerOptions TrainerOptions(int steps) => new(LearningRate, Schedule.Linear(steps), Rule, WeightDecay);

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{Rule.ToString().ToLowerInvariant()} {Name} lr={LearningRate} beta1={Beta1} beta2={Beta2} "
                + $"wd={WeightDecay}"
        );
}
