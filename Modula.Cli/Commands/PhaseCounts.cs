using System.Globalization;
using Modula.Tensors;

namespace Modula.Cli.Commands;

/// <summary>A training step's device counts (launches, synchronizations, transfers), summed over steps, per
/// phase.</summary>
internal sealed class PhaseCounts
{
    /// <summary>Forward (batch upload, model, loss), backward, and update (gradient checks, optimizer, rule).</summary>
    public DeviceCounters Forward { get; private set; }

    /// <inheritdoc cref="Forward"/>
    public DeviceCounters Backward { get; private set; }

    /// <inheritdoc cref="Forward"/>
    public DeviceCounters Update { get; private set; }

    /// <summary>All three phases.</summary>
    public DeviceCounters Total => Forward + Backward + Update;

    /// <summary>Adds one step's phases.</summary>
    public void Add(DeviceCounters forward, DeviceCounters backward, DeviceCounters update)
    {
        Forward += forward;
        Backward += backward;
        Update += update;
    }

    /// <summary>
    /// Means per step as key=value pairs: <c>launches= syncs= uploads= downloads=</c> for the whole step,
    /// then <c>forward_launches= forward_syncs=</c> and the same for backward and update. Whole numbers
    /// print without decimals (every step of a run usually makes the same calls).
    /// </summary>
    public string PerStep(int steps)
    {
        string Mean(long total) => (total / (double)steps).ToString("0.##", CultureInfo.InvariantCulture);
        string Phase(string name, DeviceCounters c) =>
            $"{name}_launches={Mean(c.Launches)} {name}_syncs={Mean(c.Synchronizations)}";
        var t = Total;
        return $"launches={Mean(t.Launches)} syncs={Mean(t.Synchronizations)} uploads={Mean(t.Uploads)} "
            + $"downloads={Mean(t.Downloads)} {Phase("forward", Forward)} {Phase("backward", Backward)} "
            + $"{Phase("update", Update)}";
    }
}
