using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Modula.Tensors;

/// <summary>Time spent in one primitive op while the <see cref="OpProfiler"/> ran.</summary>
/// <param name="Op">The primitive and its op struct, e.g. <c>Binary&lt;Mul&gt;</c> or <c>MatMul</c>.</param>
/// <param name="Calls">How many times it ran.</param>
/// <param name="Milliseconds">Total wall time, including a device synchronization after each call.</param>
public readonly record struct OpTiming(string Op, long Calls, double Milliseconds);

/// <summary>
/// Times every primitive op (the device backends' calls) on every device while running, to show
/// where a workload spends its time. Each call is followed by a device synchronization so
/// asynchronous GPU work is charged to the op that queued it; that makes profiled runs slower
/// than unprofiled ones. Time outside primitives (allocation, checks, graph building) is the
/// difference between a step's wall time and the sum here.
/// </summary>
public static class OpProfiler
{
    private static readonly ConcurrentDictionary<string, long[]> Totals = new(); // [calls, ticks]
    private static volatile bool _running;

    /// <summary>True between <see cref="Start"/> and <see cref="Stop"/>.</summary>
    public static bool IsRunning => _running;

    /// <summary>Clears earlier timings and starts timing.</summary>
    public static void Start()
    {
        Totals.Clear();
        _running = true;
    }

    /// <summary>Stops timing; returns the timings, largest total first.</summary>
    public static IReadOnlyList<OpTiming> Stop()
    {
        _running = false;
        return Totals.Select(p => new OpTiming(p.Key, Interlocked.Read(ref p.Value[0]), Interlocked.Read(ref p.Value[1]) * 1000.0 / Stopwatch.Frequency))
            .OrderByDescending(t => t.Milliseconds).ToList();
    }

    /// <summary>A table of <paramref name="timings"/> per unit of work (for example per training step), with each op's share.</summary>
    public static string Format(IReadOnlyList<OpTiming> timings, int units)
    {
        double total = timings.Sum(t => t.Milliseconds);
        var text = new StringBuilder();
        text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{"op",-34} {"calls",8} {"ms",9} {"share",6}   (per unit of {units})"));
        foreach (var t in timings)
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{t.Op,-34} {t.Calls / (double)units,8:F1} {t.Milliseconds / units,9:F3} {t.Milliseconds / total,6:P0}"));
        text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{"total in primitives",-34} {timings.Sum(t => t.Calls) / (double)units,8:F1} {total / units,9:F3}"));
        return text.ToString();
    }

    internal static void Record(string op, long startTicks)
    {
        long elapsed = Stopwatch.GetTimestamp() - startTicks;
        var entry = Totals.GetOrAdd(op, _ => new long[2]);
        Interlocked.Increment(ref entry[0]);
        Interlocked.Add(ref entry[1], elapsed);
    }
}
