using System.Globalization;

namespace Modula.Cli.Training;

/// <summary>
/// A run's loss became NaN or ±∞: the weights no longer describe a model worth training or saving.
/// <see cref="RunDriver"/> stops the run without saving it (the last checkpoint stays as it was) and exits 6, as it
/// does for a <see cref="Optim.NonFiniteGradientException"/>.
/// </summary>
public sealed class TrainingDivergedException(string message) : Exception(message)
{
    /// <summary>Throws when any of <paramref name="losses"/> (name, value) at <paramref name="step"/> is not
    /// finite.</summary>
    public static void ThrowIfNotFinite(int step, params ReadOnlySpan<(string Name, double Value)> losses)
    {
        foreach (var (name, value) in losses)
            if (!double.IsFinite(value))
                throw new TrainingDivergedException(
                    string.Create(CultureInfo.InvariantCulture, $"the {name} at step {step} is {value}.")
                );
    }
}
