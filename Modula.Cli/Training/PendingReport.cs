using System.Globalization;

namespace Modula.Cli.Training;

/// <summary>
/// A report that a signal stopped part-way (a GPT's evaluation): its step, mean batch loss and median step time
/// travel in the checkpoint, and the resumed run makes the report first, so its log has every row an uninterrupted
/// run's has, with the same values.
/// </summary>
public sealed record PendingReport(int Step, double BatchLoss, double Milliseconds)
{
    private const string StepKey = "report.pending_step",
        LossKey = "report.pending_batch_loss",
        MillisecondsKey = "report.pending_ms";

    /// <summary>The report a checkpoint's metadata holds for <paramref name="step"/>, or null.</summary>
    public static PendingReport? Read(IReadOnlyDictionary<string, string>? metadata, int step) =>
        metadata is not null
        && metadata.TryGetValue(StepKey, out var s)
        && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int at)
        && at == step
        && metadata.TryGetValue(LossKey, out var l)
        && double.TryParse(l, NumberStyles.Float, CultureInfo.InvariantCulture, out double loss)
        && metadata.TryGetValue(MillisecondsKey, out var m)
        && double.TryParse(m, NumberStyles.Float, CultureInfo.InvariantCulture, out double ms)
            ? new PendingReport(at, loss, ms)
            : null;

    /// <summary>Adds the report to a checkpoint's <paramref name="metadata"/>.</summary>
    public void Write(Dictionary<string, string> metadata)
    {
        metadata[StepKey] = Step.ToString(CultureInfo.InvariantCulture);
        metadata[LossKey] = BatchLoss.ToString("R", CultureInfo.InvariantCulture);
        metadata[MillisecondsKey] = Milliseconds.ToString("R", CultureInfo.InvariantCulture);
    }
}
