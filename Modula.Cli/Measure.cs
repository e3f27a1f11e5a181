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
    /// waits for it. For <c>bench gemm</c> the code its shapes share is optimized by then, and what is new to a later
    /// shape (another tile's kernel) is replaced within its first samples; a training step's code takes longer, so
    /// <c>bench gpt-step</c> also waits for <see cref="StillCompiling"/>.
    /// </summary>
    public static bool StillWarming()
    {
        if (!Warming.IsRunning)
            Warming.Start();
        return Warming.Elapsed < WarmUp;
    }

    /// <summary>
    /// How long the runtime must have compiled no method for <see cref="StillCompiling"/> to turn false. The runtime
    /// replaces a method with optimized code only after a count of calls (and, with profile-guided optimization, a
    /// second count in an instrumented build), each after a short quiet spell, so a method called once a training
    /// step is optimized only after some 60 steps. The default GPT's step at 512 bits on two cores of an AMD EPYC Zen
    /// 5 (family 26, model 2) read 27.5–31.1 ms after 30 warm-up steps stretched to <see cref="WarmUp"/>, and
    /// 19.2–20.2 ms after warming up until such a spell (about 5 s and 4,570 methods in); the same processes' later
    /// runs read 18.2–19.7 ms either way.
    /// </summary>
    public static readonly TimeSpan CompilerQuiet = TimeSpan.FromSeconds(1);

    /// <summary>How long after its start a benchmark's warm-up stops waiting for <see cref="StillCompiling"/> to turn
    /// false, in case other work in the process keeps the runtime compiling: no unit of warm-up work starts past
    /// it, but one started before it runs to its end, and the warm-up units asked for run in full.</summary>
    public static readonly TimeSpan CompilerWaitLimit = TimeSpan.FromSeconds(30);

    private static readonly Lock Compiling = new();
    private static long compiledMethods = -1,
        lastCompiled;

    /// <summary>
    /// True when the runtime has compiled a method (on any thread, in any tier) within <see cref="CompilerQuiet"/>
    /// before this call, as far as the calls see: each compares the runtime's count of compiled methods with the
    /// count at the call before, so call it once per unit of warm-up work (a training step). The first call counts
    /// as a compilation.
    /// </summary>
    public static bool StillCompiling()
    {
        lock (Compiling)
        {
            long now = Stopwatch.GetTimestamp(),
                compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (compiled != compiledMethods)
                (compiledMethods, lastCompiled) = (compiled, now);
            return Stopwatch.GetElapsedTime(lastCompiled, now) < CompilerQuiet;
        }
    }

    /// <summary>This process's peak resident memory in MiB.</summary>
    public static double PeakRssMb() => Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024.0);
}
