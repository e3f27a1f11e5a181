using System.Diagnostics;

namespace Modula.Cli;

/// <summary>The statistics the timing commands report.</summary>
public static class Measure
{
    /// <summary>The median (upper median for an even count), or NaN for no values.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    /// <summary>This process's peak resident memory in MiB.</summary>
    public static double PeakRssMb() => Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
}
