using System.Diagnostics;
using System.Globalization;
using Modula.Optim;
using static System.FormattableString;

namespace Modula.Cli.Training;

/// <summary>How <see cref="RunDriver"/> runs a training loop.</summary>
/// <param name="Command">The command that resumes it, without options (<c>modula train gpt</c>).</param>
/// <param name="Steps">The horizon.</param>
/// <param name="ReportInterval">Steps between reports (and log rows).</param>
/// <param name="CheckpointPath">Where checkpoints go; null for none.</param>
/// <param name="CheckpointEvery">Steps between checkpoints.</param>
/// <param name="Keep">Older checkpoints kept beside the newest.</param>
/// <param name="Metadata">The run's identity and resume defaults (saved in every checkpoint).</param>
/// <param name="Resumed">The checkpoint metadata the run was resumed from, or null.</param>
/// <param name="SavedStep">The step <paramref name="CheckpointPath"/> already holds (a run resumed from it), or
/// null.</param>
public sealed record RunDriverOptions(
    string Command,
    int Steps,
    int ReportInterval,
    string? CheckpointPath,
    int CheckpointEvery,
    int Keep,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, string>? Resumed,
    int? SavedStep
);

/// <summary>
/// The training loop every <c>train</c> command shares: steps to the horizon, reports and logs
/// every interval, writes a checkpoint every <see cref="RunDriverOptions.CheckpointEvery"/> steps
/// and at the end, and on SIGINT/SIGTERM finishes the step, saves, prints where and how to
/// resume, and returns 130/143.
/// </summary>
public static class RunDriver
{
    /// <summary>
    /// Runs <paramref name="run"/>; <paramref name="report"/> prints a report for (step, mean batch loss
    /// since the last report, median ms per step, whether a signal asks the run to stop) and returns its log row, or
    /// null when it gave up part-way because of that signal. Returns the exit code and every step's time: 0, 130/143
    /// after a signal, 5 when the final checkpoint or a log row could not be written, 6 when the run diverged (a
    /// non-finite gradient, or a report's <see cref="TrainingDivergedException"/>).
    /// </summary>
    public static (int ExitCode, List<double> StepTimes) Run(
        ITrainingRun run,
        RunDriverOptions o,
        RunLog log,
        Func<int, double, double, Func<bool>, string?> report,
        TextWriter output,
        TextWriter error
    )
    {
        var trainer = run.Trainer;
        using var writer = o.CheckpointPath is null
            ? null
            : new CheckpointWriter(o.CheckpointPath, o.Keep, output, o.SavedStep, horizon: o.Steps);
        writer?.RemoveStrayTemps();
        using var interrupt = new Interruption(() =>
        {
            if (writer is null)
                return; // nothing to resume from (and a data-parallel run's other ranks write no checkpoint)
            // The process ends as this returns: a save in flight gets a moment to land, none begins another file and
            // no temporary file is left; then the line says what is left to resume from.
            writer.StopAtOnce(TimeSpan.FromSeconds(1));
            error.WriteLine(
                writer.StepOnDisk is int saved
                    ? $"modula: stopped at once by a second signal; {writer.FullPath} holds step {saved}."
                    : "modula: stopped at once by a second signal, before any checkpoint was saved."
            );
            error.Flush();
        });
        // The mean batch loss of a report spans a resume, so its running sum is saved with the checkpoint, with the
        // part summed on the device apart: the resumed run goes on rounding that part as the uninterrupted run would.
        double Recorded(string key) =>
            o.Resumed is { } r
            && r.TryGetValue(key, out var text)
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                ? value
                : 0;
        int lossCount =
            o.Resumed is { } r2
            && r2.TryGetValue(RunIdentity.LossCountKey, out var count)
            && int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out int c)
                ? c
                : 0;
        // Losses stay on the device between reports: a step does not wait just to read its loss.
        using var tally = new LossTally(
            Recorded(RunIdentity.LossSumKey),
            lossCount,
            Recorded(RunIdentity.LossSumDeviceKey)
        );
        var times = new List<double>();
        var pending = PendingReport.Read(o.Resumed, trainer.StepCount);
        Dictionary<string, string> Metadata()
        {
            var m = new Dictionary<string, string>(o.Metadata, StringComparer.Ordinal);
            foreach (var (k, v) in run.State())
                m[k] = v;
            double onDevice = tally.DeviceSum; // one wait for the device
            m[RunIdentity.LossSumKey] = (tally.HostSum + onDevice).ToString("R", CultureInfo.InvariantCulture);
            m[RunIdentity.LossSumDeviceKey] = onDevice.ToString("R", CultureInfo.InvariantCulture);
            m[RunIdentity.LossCountKey] = tally.Count.ToString(CultureInfo.InvariantCulture);
            if (writer is not null)
                m[RunIdentity.SavedAsKey] = writer.FullPath; // a copy resumed elsewhere is told apart by it
            m[RunIdentity.LastLogRowKey] = log.LastRow ?? ""; // the log a resumed run may continue holds it
            pending?.Write(m);
            return m;
        }
        // The ranks of a data-parallel run stop only together: a signal travels with a step's all-reduce.
        if (run.Parallel is { } parallel)
            parallel.StopRequested = () => interrupt.Signal != 0;
        bool Stopping()
        {
            if (run.Parallel is not { } p)
                return interrupt.Signal != 0;
            if (p.StopAgreed)
                interrupt.Request(2);
            return p.StopAgreed;
        }
        // A report gives up on a signal only in a single-process run (the ranks of a parallel run stop together), and
        // not at the horizon, where no resumed run would make it.
        Func<bool> signalled = () => run.Parallel is null && interrupt.Signal != 0 && trainer.StepCount < o.Steps;
        int logFailures = 0;
        // A report a signal stopped (pending) is made when it can be: now, or by the run resumed from its checkpoint.
        void Report(PendingReport due)
        {
            pending = due;
            if (report(due.Step, due.BatchLoss, due.Milliseconds, signalled) is not { } row)
                return;
            pending = null;
            if (!TryAppend(log, row, due.Step, error))
                logFailures++;
        }
        try
        {
            if (pending is not null)
            {
                Report(pending);
                if (pending is null) // the checkpoint no longer owes the report: a later resume must not repeat it
                    writer?.Save(trainer, Metadata());
            }
            while (trainer.StepCount < o.Steps && !Stopping())
            {
                var clock = Stopwatch.StartNew();
                run.Step(tally);
                times.Add(clock.Elapsed.TotalMilliseconds);
                int step = trainer.StepCount;
                if (step % o.ReportInterval == 0 || step == o.Steps)
                    Report(new PendingReport(step, tally.TakeMean(), Measure.Median(times.TakeLast(o.ReportInterval))));
                if (writer is not null && (step % o.CheckpointEvery == 0 || step == o.Steps))
                    writer.Save(trainer, Metadata());
            }
        }
        catch (Exception e) when (e is NonFiniteGradientException or TrainingDivergedException)
        {
            // Nothing of the diverged state is saved: the checkpoint keeps the last step that was still finite.
            writer?.Wait();
            // Every rank of a parallel run diverges at once (its losses and gradients are all-reduced); rank 0, which
            // holds the checkpoint, says so.
            if (run.Parallel is { World.Rank: > 0 })
                return (6, times);
            error.WriteLine(
                $"modula: training diverged: {e.Message} A lower --lr may train; "
                    + (
                        writer?.SavedStep is int at
                            ? $"{writer.FullPath} holds step {at}, saved before the divergence showed (its weights may "
                                + "already be past recovery)."
                            : "no checkpoint was saved."
                    )
            );
            return (6, times);
        }
        if (writer is not null && writer.SavedStep != trainer.StepCount)
        {
            writer.Wait();
            // An interrupted run saves the step it stopped at; a save that just failed at this step is not retried.
            if (writer.SavedStep != trainer.StepCount && writer.AttemptedStep != trainer.StepCount)
                writer.Save(trainer, Metadata());
        }
        bool saved = writer?.Wait() ?? false;
        if (writer is not null && writer.WriteMs.Count > 0)
            output.WriteLine(
                Invariant($"checkpoints: {writer.WriteMs.Count} written to ")
                    + Invariant(
                        $"{writer.FullPath}{(writer.Failures > 0 ? $" ({writer.Failures} failed)" : "")}; snapshot "
                    )
                    + Invariant($"{Measure.Median(writer.CaptureMs):F1} ms median on the training thread, write ")
                    + Invariant($"{Measure.Median(writer.WriteMs):F1} ms median in the background")
            );

        string resume = $"{o.Command} --resume {writer?.FullPath}";
        // A signal that came once the last step was taken (during the final report) interrupts nothing: the run has
        // finished, its checkpoint saved, and a resume would be refused. The ranks of a parallel run stop only
        // together, so there a signal counts only as the stop they agreed on; one that came after the last step's
        // all-reduce, which no other rank heard of, lets this rank finish with them rather than end the job under
        // their final report.
        bool interrupted = run.Parallel is { } group
            ? group.StopAgreed
            : interrupt.Signal != 0 && trainer.StepCount < o.Steps;
        if (interrupted)
        {
            output.WriteLine(
                writer is null
                    ? $"interrupted by {interrupt.Name} at step {trainer.StepCount}/{o.Steps}; nothing was saved (no "
                        + $"--checkpoint was given)"
                : saved
                    ? $"interrupted by {interrupt.Name} at step {trainer.StepCount}/{o.Steps}; checkpoint saved to "
                        + $"{writer.FullPath}; resume with: {resume}"
                : $"interrupted by {interrupt.Name} at step {trainer.StepCount}/{o.Steps}; the checkpoint could not be "
                    + $"written ({writer.LastFailure}); "
                    + (
                        writer.SavedStep is int at
                            ? $"{writer.FullPath} holds step {at}; resume with: {resume}"
                            : "nothing was saved"
                    )
            );
            return (interrupt.ExitCode, times);
        }
        if (writer is not null && !saved)
        {
            error.WriteLine(
                $"modula: the final checkpoint could not be written ({writer.LastFailure}); "
                    + (
                        writer.SavedStep is int at
                            ? $"{writer.FullPath} holds step {at} (resume with: {resume})"
                            : "no checkpoint was saved"
                    )
            );
            return (5, times);
        }
        if (logFailures > 0)
        {
            error.WriteLine($"modula: {logFailures} log rows could not be written to {log.FilePath}.");
            return (5, times);
        }
        return (0, times);
    }

    /// <summary>Appends a log row; a failed write (a full disk) is reported in one line and training goes on.</summary>
    private static bool TryAppend(RunLog log, string row, int step, TextWriter error)
    {
        try
        {
            log.Append(row);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"modula: the log row of step {step} was not written to {log.FilePath} ({e.Message}).");
            return false;
        }
    }
}
