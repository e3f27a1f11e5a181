using System.Diagnostics;
using Modula.Cli.Training;
using Modula.Data;
using Modula.Modules;
using Modula.Tensors;

namespace Modula.Cli.Sweep;

/// <summary>
/// Runs the cells of a <see cref="SweepPlan"/> that the <see cref="SweepStore"/> lacks,
/// <c>jobs</c> at a time, recording each as it finishes.
/// </summary>
public sealed class SweepRunner(SweepPlan plan, SweepStore store, Func<SweepCell, IReadOnlyList<double>> train)
{
    /// <summary>
    /// The training function for a family: builds the model for a cell, trains it on
    /// <paramref name="device"/> and returns every step's training loss (stopping at the first
    /// non-finite one).
    /// </summary>
    public static Func<SweepCell, IReadOnlyList<double>> Trainer(
        string family,
        ImageDataset? images,
        TextCorpus? text,
        Device device
    ) =>
        family switch
        {
            "resmlp" => cell =>
            {
                var model = Mlp.ResMlp(cell.Width, cell.Depth, 2, 28 * 28, 10);
                using var run = new ClassifierRun("resmlp", model, Settings(cell), images!, images!, device);
                return Losses(cell, run.Step);
            },
            "gpt" => cell =>
            {
                var config = GptShape(text!.Vocabulary.Length, cell.Width, cell.Depth);
                var settings = new GptSettings("v1", config, Choice(cell), cell.Steps, cell.Batch, (ulong)cell.Seed);
                using var run = new GptRun(settings, text, device);
                return Losses(cell, run.Step);
            },
            _ => throw new UsageException($"unknown sweep family '{family}'; use resmlp or gpt."),
        };

    /// <summary>The GPT of a sweep's cell: Modula v1's, with 4 heads and a context of 64, at the cell's width and
    /// depth.</summary>
    public static GptConfig GptShape(int vocabulary, int width, int depth) =>
        new(
            Vocab: vocabulary,
            Context: 64,
            Heads: 4,
            DEmbed: width,
            DQuery: width / 4,
            DValue: width / 4,
            Blocks: depth
        );

    private static ClassifierSettings Settings(SweepCell cell) =>
        new(Choice(cell), cell.Steps, cell.Batch, (ulong)cell.Seed);

    private static OptimizerChoice Choice(SweepCell cell) => SweepOptimizer.Find(cell.Optimizer).At(cell.LrExponent);

    private static List<double> Losses(SweepCell cell, Func<double> step)
    {
        var losses = new List<double>(cell.Steps);
        for (int i = 0; i < cell.Steps; i++)
        {
            double loss;
            try
            {
                loss = step();
            }
            catch (Optim.NonFiniteGradientException)
            {
                loss = double.NaN;
            }
            losses.Add(loss);
            if (!double.IsFinite(loss))
                break; // diverged: the rest of the run tells nothing more
        }
        return losses;
    }

    /// <summary>
    /// Runs every missing cell, <paramref name="jobs"/> at a time; <paramref name="progress"/>
    /// hears of each finished cell with the count done and the total. Returns the number run.
    /// </summary>
    public int Run(int jobs, Action<SweepResult, int, int>? progress = null)
    {
        var todo = plan.Cells().Where(c => !store.Contains(c)).ToList();
        int done = 0;
        Parallel.ForEach(todo, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, jobs) }, cell =>
        {
            var clock = Stopwatch.StartNew();
            var losses = train(cell);
            var (score, diverged) = SweepScoring.Score(losses, plan.AverageLast);
            var result = new SweepResult(cell, score, diverged, losses[0], clock.Elapsed.TotalSeconds);
            store.Add(result);
            progress?.Invoke(result, Interlocked.Increment(ref done), todo.Count);
        });
        return todo.Count;
    }
}
