using System.Globalization;
using Modula.Autodiff;
using Modula.Data;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Cli.Training;

/// <summary>The settings of a character-level GPT run.</summary>
/// <param name="Recipe">v1 (Modula's train-gpt.py) or v2 (Modula's hello-gpt).</param>
/// <param name="Config">Model sizes.</param>
/// <param name="Optimizer">Optimizer, rule and hyperparameters.</param>
/// <param name="Steps">Total updates (the schedule decays to 0 at this step).</param>
/// <param name="Batch">Sequences per step.</param>
/// <param name="Seed">Seeds the weights, the batch sampler and the power-iteration vectors.</param>
public sealed record GptSettings(
    string Recipe,
    GptConfig Config,
    OptimizerChoice Optimizer,
    int Steps,
    int Batch,
    ulong Seed
)
{
    /// <summary>Modula v1's recipe: normed Modula-Adam, lr 0.5, β 0.9/0.99, wd 0.01.</summary>
    public static readonly OptimizerChoice V1Optimizer = new("modula-adam", UpdateRule.Normalize, 0.5, 0.9, 0.99, 0.01);

    /// <summary>Modula v2's recipe: dualized momentum 0.95, lr 0.1, no weight decay.</summary>
    public static readonly OptimizerChoice V2Optimizer = new("momentum", UpdateRule.Dualize, 0.1, 0.95, 0.99, 0);
}

/// <summary>A GPT's evaluation on fixed batches.</summary>
/// <param name="Train">Mean next-token cross-entropy on training batches.</param>
/// <param name="Test">Mean next-token cross-entropy on held-out batches.</param>
/// <param name="TestAccuracy">The share of held-out tokens whose most likely prediction is the next token.</param>
public readonly record struct GptEvaluation(double Train, double Test, double TestAccuracy);

/// <summary>
/// One GPT training run on a <see cref="TextCorpus"/>: the model, its <see cref="Trainer"/>, and
/// a seeded batch sampler whose position is saved with checkpoints so a resumed run continues
/// exactly where it stopped.
/// </summary>
public sealed class GptRun : ITrainingRun
{
    /// <summary>
    /// The most batches an evaluation takes (<c>--eval-batches</c>): 10,000 batches (7.7 million tokens of the default
    /// GPT, some minutes on a CPU) already measure each split's mean loss far more finely than its change between
    /// reports.
    /// </summary>
    public const int MaxEvalBatches = 10_000;

    private readonly TextCorpus _corpus;
    private readonly Device _device;

    /// <summary>Builds the model and trainer for <paramref name="settings"/>.</summary>
    public GptRun(GptSettings settings, TextCorpus corpus, Device device)
    {
        if (corpus.Vocabulary.Length != settings.Config.Vocab)
            throw new UsageException(
                $"the corpus has {corpus.Vocabulary.Length} distinct characters, the model expects "
                    + $"{settings.Config.Vocab}."
            );
        Settings = settings;
        _corpus = corpus;
        _device = device;
        Model = settings.Recipe == "v2" ? Gpt.V2(settings.Config) : Gpt.V1(settings.Config);
        Trainer = settings.Optimizer.CreateTrainer(Model, settings.Steps, settings.Seed, device);
        Sampler = new Generator(settings.Seed + 2);
    }

    /// <summary>The run's settings.</summary>
    public GptSettings Settings { get; }

    /// <summary>The GPT.</summary>
    public Module Model { get; }

    /// <summary>Weights, optimizer and step counter.</summary>
    public Trainer Trainer { get; }

    /// <summary>The training batch sampler.</summary>
    public Generator Sampler { get; private set; }

    /// <inheritdoc/>
    public Distributed.DataParallel? Parallel { get; set; }

    /// <summary>One update on a freshly sampled training batch (this rank's rows of it, when data-parallel); returns
    /// its loss.</summary>
    public double Step()
    {
        using var tally = new LossTally();
        Step(tally);
        return tally.TakeMean();
    }

    /// <inheritdoc/>
    public void Step(LossTally tally)
    {
        if (Parallel is { } parallel)
            tally.Add(parallel.Step(Settings.Batch, (start, count, parameters) =>
                {
                    var (x, y) = Batch(_corpus.Train, Sampler, start, count);
                    return Loss(x, y, parameters);
                }));
        else
            Trainer.Step(
                parameters =>
                {
                    var (x, y) = SampleTrainBatch();
                    return Loss(x, y, parameters);
                },
                tally
            );
    }

    /// <summary>Mean next-token cross-entropy of the model on tokens <paramref name="x"/> against targets <paramref
    /// name="y"/>.</summary>
    public Variable Loss(Tensor x, Tensor y, IReadOnlyList<Variable> parameters) =>
        F.CrossEntropy(Model.Forward(new Variable(x), parameters), y);

    /// <summary>The next training batch from <see cref="Sampler"/>: tokens and next-token targets [B, T].</summary>
    public (Tensor X, Tensor Y) SampleTrainBatch() => Batch(_corpus.Train, Sampler);

    /// <summary>Mean loss over <paramref name="batches"/> batches of the train and test splits, and the share of
    /// held-out tokens whose most likely next token is the right one (the same batches every call).</summary>
    public GptEvaluation Evaluate(int batches) => Evaluate(batches, () => false)!.Value;

    /// <summary>
    /// <see cref="Evaluate(int)"/>, given up between two batches once <paramref name="stop"/> is true (a signal
    /// during a long evaluation): then null, since a mean over fewer batches is not the report's number.
    /// </summary>
    public GptEvaluation? Evaluate(int batches, Func<bool> stop)
    {
        if (EvaluateSplit(_corpus.Train, batches, Settings.Seed + 3, accuracy: false, stop) is not var (train, _))
            return null;
        if (EvaluateSplit(_corpus.Test, batches, Settings.Seed + 4, accuracy: true, stop) is not var (test, accuracy))
            return null;
        return new GptEvaluation(train, test, accuracy);
    }

    /// <summary>Mean loss over <paramref name="batches"/> batches of <paramref name="tokens"/>, and when
    /// <paramref name="accuracy"/> the share of tokens predicted right (else NaN: no argmax is computed); null when
    /// <paramref name="stop"/> became true first.</summary>
    private (double Loss, double Accuracy)? EvaluateSplit(
        int[] tokens,
        int batches,
        ulong seed,
        bool accuracy,
        Func<bool> stop
    )
    {
        var sampler = new Generator(seed);
        double total = 0;
        long correct = 0,
            count = 0;
        using var _ = new NoGrad();
        for (int b = 0; b < batches; b++)
        {
            if (stop())
                return null;
            using var scope = TensorScope.Begin();
            var (x, y) = Batch(tokens, sampler);
            var logits = Model.Forward(new Variable(x), Trainer.Parameters);
            total += F.CrossEntropy(logits, y).Value.Item();
            if (!accuracy)
                continue;
            var predicted = Ops.ArgMax(logits.Value, -1).ToArray<int>();
            var targets = y.ToArray<int>();
            for (int i = 0; i < targets.Length; i++)
                correct += predicted[i] == targets[i] ? 1 : 0;
            count += targets.Length;
        }
        return (total / Math.Max(1, batches), accuracy ? (double)correct / Math.Max(1, count) : double.NaN);
    }

    /// <summary>Random windows of the context length: inputs [B, T] and next-token targets [B, T].</summary>
    private (Tensor X, Tensor Y) Batch(int[] tokens, Generator sampler, int first = 0, int? rows = null) =>
        TokenBatches.Sample(
            tokens,
            Settings.Batch,
            Settings.Config.Context,
            sampler,
            first,
            rows ?? Settings.Batch,
            _device
        );

    /// <summary>The run's own checkpoint entries: the vocabulary and the sampler's position.</summary>
    public Dictionary<string, string> State() =>
        new()
        {
            ["recipe"] = Settings.Recipe,
            ["config"] = System.Text.Json.JsonSerializer.Serialize(Settings.Config),
            ["vocabulary"] = _corpus.Vocabulary,
            ["sampler"] = string.Create(CultureInfo.InvariantCulture, $"{Sampler.Seed}:{Sampler.Offset}"),
        };

    /// <summary>Problems with a checkpoint's run entries: another vocabulary, a missing or malformed sampler
    /// position.</summary>
    public IEnumerable<string> CheckState(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("vocabulary", out var vocabulary))
            yield return "metadata 'vocabulary' is missing";
        else if (vocabulary != _corpus.Vocabulary)
            yield return "the checkpoint was trained on a different vocabulary";
        if (!Checkpoint.TryParseStream(metadata, "sampler", out ulong seed, out _))
            yield return "metadata 'sampler' is missing or not 'seed:offset'";
        else if (seed != Sampler.Seed)
            yield return $"the batch sampler has seed {seed} in the checkpoint, this run uses {Sampler.Seed}";
    }

    /// <summary>Writes a checkpoint with the run's settings, vocabulary and sampler position.</summary>
    public void Save(string path) => Checkpoint.Save(path, Trainer, State());

    /// <summary>Continues from a checkpoint of the same run (strict: everything is checked before anything
    /// changes).</summary>
    public void Resume(string path) => Resume(Checkpoint.Load(path));

    /// <summary>Continues from a loaded checkpoint of the same run.</summary>
    public void Resume(CheckpointFile file)
    {
        var metadata = Checkpoint.Restore(file, Trainer, CheckState);
        Checkpoint.TryParseStream(metadata, "sampler", out ulong seed, out ulong offset);
        Sampler = new Generator(seed, offset);
    }

    /// <summary>Frees the weights and optimizer state.</summary>
    public void Dispose() => Trainer.Dispose();
}
