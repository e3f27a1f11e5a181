using Modula.Distributed;
using Modula.Optim;

namespace Modula.Cli.Training;

/// <summary>A training run the command line can checkpoint, interrupt and resume.</summary>
public interface ITrainingRun : IDisposable
{
    /// <summary>Weights, optimizer and step counter.</summary>
    Trainer Trainer { get; }

    /// <summary>
    /// The data-parallel group this replica trains in, or null for a lone process: with one,
    /// <see cref="Step()"/> samples the same global batch and evaluates only this rank's rows.
    /// </summary>
    DataParallel? Parallel { get; set; }

    /// <summary>One update on a freshly sampled batch; returns its loss (the whole global batch's mean).</summary>
    double Step();

    /// <summary>One update on a freshly sampled batch, its loss added to <paramref name="tally"/> (left on the
    /// device when it is there).</summary>
    void Step(LossTally tally);

    /// <summary>The stream that samples the training batches: every rank of a data-parallel run draws the same
    /// global batch from it, so it starts where rank 0's does.</summary>
    Modula.Tensors.Random.Generator Sampler { get; }

    /// <summary>The run's own checkpoint entries (sampler position and the like).</summary>
    Dictionary<string, string> State();

    /// <summary>Every problem with a checkpoint's run entries (checked before anything is restored).</summary>
    IEnumerable<string> CheckState(IReadOnlyDictionary<string, string> metadata);

    /// <summary>Restores the run from a checkpoint of the same run; nothing changes on a mismatch.</summary>
    void Resume(CheckpointFile file);
}
