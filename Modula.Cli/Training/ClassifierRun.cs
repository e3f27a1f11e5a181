using Modula.Autodiff;
using Modula.Data;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Cli.Training;

/// <summary>The settings of an image-classifier run.</summary>
/// <param name="Optimizer">Optimizer, rule and hyperparameters.</param>
/// <param name="Steps">Total updates (linear decay to 0).</param>
/// <param name="Batch">Images per step.</param>
/// <param name="Seed">Seeds the weights and the batch sampler.</param>
public sealed record ClassifierSettings(OptimizerChoice Optimizer, int Steps, int Batch, ulong Seed);

/// <summary>Trains an MLP, ResMLP or ResCNN on an <see cref="ImageDataset"/> with cross-entropy.</summary>
public sealed class ClassifierRun : ITrainingRun
{
    private readonly ImageDataset _train,
        _test;
    private readonly Device _device;
    private readonly bool _flat;

    /// <summary>Builds the trainer; <paramref name="kind"/> "mlp" feeds flat [N, H·W] inputs, the others [N, 1, H,
    /// W].</summary>
    public ClassifierRun(
        string kind,
        Module model,
        ClassifierSettings settings,
        ImageDataset train,
        ImageDataset test,
        Device device
    )
    {
        Model = model;
        Settings = settings;
        _train = train;
        _test = test;
        _device = device;
        _flat = kind == "mlp";
        Trainer = settings.Optimizer.CreateTrainer(model, settings.Steps, settings.Seed, device);
        Sampler = new Generator(settings.Seed + 2);
    }

    /// <summary>The classifier.</summary>
    public Module Model { get; }

    /// <summary>The run's settings.</summary>
    public ClassifierSettings Settings { get; }

    /// <summary>Weights, optimizer and step counter.</summary>
    public Trainer Trainer { get; }

    /// <summary>The training batch sampler.</summary>
    public Generator Sampler { get; private set; }

    /// <summary>The run's own checkpoint entries: the sampler's position.</summary>
    public Dictionary<string, string> State() =>
        new()
        {
            ["sampler"] = string.Create(
                System.Globalization.CultureInfo.InvariantCulture,
                $"{Sampler.Seed}:{Sampler.Offset}"
            ),
        };

    /// <summary>Problems with a checkpoint's run entries: a missing or malformed sampler position.</summary>
    public IEnumerable<string> CheckState(IReadOnlyDictionary<string, string> metadata)
    {
        if (!Checkpoint.TryParseStream(metadata, "sampler", out ulong seed, out _))
            yield return "metadata 'sampler' is missing or not 'seed:offset'";
        else if (seed != Sampler.Seed)
            yield return $"the batch sampler has seed {seed} in the checkpoint, this run uses {Sampler.Seed}";
    }

    /// <summary>Continues from a loaded checkpoint of the same run.</summary>
    public void Resume(CheckpointFile file)
    {
        var metadata = Checkpoint.Restore(file, Trainer, CheckState);
        Checkpoint.TryParseStream(metadata, "sampler", out ulong seed, out ulong offset);
        Sampler = new Generator(seed, offset);
    }

    /// <inheritdoc/>
    public Distributed.DataParallel? Parallel { get; set; }

    /// <summary>One update on a random batch of training images (this rank's rows of it, when data-parallel); returns
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
            tally.Add(parallel.Step(Settings.Batch, (start, count, parameters) => Loss(start, count, parameters)));
        else
            Trainer.Step(parameters => Loss(0, Settings.Batch, parameters), tally);
    }

    /// <summary>Draws the next batch of training images and returns the mean loss over its rows [first, first +
    /// count).</summary>
    private Variable Loss(int first, int count, Variable[] parameters)
    {
        var rows = _train.SampleRows(Settings.Batch, Sampler).AsSpan(first, count);
        var (x, y) = _train.Batch(rows, _flat, _device);
        return F.CrossEntropy(Model.Forward(new Variable(x), parameters), y);
    }

    /// <summary>
    /// Images per evaluation batch: small enough that a ResCNN's activations and im2col buffers stay
    /// in the hundreds of megabytes (batches of 1,000 peaked at 10 GB resident).
    /// </summary>
    public const int EvaluationBatch = 100;

    /// <summary>Mean loss and accuracy over the whole test set.</summary>
    public (double Loss, double Accuracy) Test()
    {
        using var _ = new NoGrad();
        double loss = 0;
        int correct = 0;
        for (int start = 0; start < _test.Count; start += EvaluationBatch)
        {
            using var scope = TensorScope.Begin();
            var rows = Enumerable.Range(start, Math.Min(EvaluationBatch, _test.Count - start)).ToArray();
            var (x, y) = _test.Batch(rows, _flat, _device);
            var logits = Model.Forward(new Variable(x), Trainer.Parameters);
            loss += F.CrossEntropy(logits, y).Value.Item() * rows.Length;
            var predicted = Ops.ArgMax(logits.Value, -1).ToArray<int>();
            correct += predicted.Where((p, i) => p == _test.Labels[rows[i]]).Count();
        }
        return (loss / _test.Count, (double)correct / _test.Count);
    }

    /// <summary>Frees the weights and optimizer state.</summary>
    public void Dispose() => Trainer.Dispose();
}
