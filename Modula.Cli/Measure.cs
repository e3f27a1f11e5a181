using System.Diagnostics;

namespace Modula.Cli;

/// <summary>The statistics the timing commands report.</summary>
public static class Measure
{
    /// <summary>The median (upper median for an even count), or NaN for no values: <see cref="Quantile"/> at
    /// 0.5.</summary>
    public static double Median(IEnumerable<double> values) => Quantile(values, 0.5);

    /// <summary>
    /// The value at position ⌊p·n⌋ of the n values sorted (the upper one where p·n falls between two, as the median
    /// takes it), or NaN for no values: 0.25 and 0.75 give the quartiles, 0 the least value.
    /// </summary>
    public static double Quantile(IEnumerable<double> values, double p)
    {
        if (!(p >= 0 && p < 1))
            throw new ArgumentOutOfRangeException(nameof(p), $"Measure: quantile {p} is not in [0, 1).");
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[(int)(p * sorted.Length)];
    }

    /// <summary>
    /// The least time a process's benchmarks run their work untimed before the first samples (see <see
    /// cref="StillWarming"/>). The runtime first runs a method from quickly compiled code and replaces a hot one with
    /// optimized code only after a quiet spell and a count of calls, compiled on a background thread: a 1024³ product
    /// on 2 threads, timed after four products of warm-up (about 50 ms), read 7.9 ms (median of ten runs) where the
    /// same build read 7.1 after 1.5 s of it, or with tiered compilation off (AVX-512 Xeon).
    /// </summary>
    public static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(1.5);

    private static readonly Stopwatch Warming = new();

    /// <summary>
    /// True until this process has spent <see cref="WarmUp"/> warming up, counted from the first call: a benchmark
    /// goes on with untimed work while it holds. Only the first of several runs in a process (shapes, optimizers)
    /// waits for it; by then the code they share is optimized, and what is new to a later run (another tile's
    /// kernel) is replaced within its first samples.
    /// </summary>
    public static bool StillWarming()
    {
        if (!Warming.IsRunning)
            Warming.Start();
        return Warming.Elapsed < WarmUp;
    }

    /// <summary>This process's peak resident memory in MiB.</summary>
    public static double PeakRssMb() => Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
}
