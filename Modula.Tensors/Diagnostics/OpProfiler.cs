using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Modula.Tensors;

/// <summary>Time spent in one primitive op while an <see cref="OpProfiler"/> ran.</summary>
/// <param name="Op">The primitive and its op struct, e.g. <c>Binary&lt;Mul&gt;</c> or <c>MatMul</c>.</param>
/// <param name="Calls">How many times it ran.</param>
/// <param name="Milliseconds">Total wall time, including a device synchronization after each call.</param>
public readonly record struct OpTiming(string Op, long Calls, double Milliseconds);

/// <summary>
/// Times every primitive op (each hand-off from <see cref="Ops"/> to the device's backend) on one
/// device while it runs, to show where a workload spends its time. Each call is followed by a
/// device synchronization so asynchronous GPU work is charged to the op that queued it; that makes
/// profiled runs slower than unprofiled ones. Time outside primitives (allocation, checks, graph
/// building) is the difference between a step's wall time and the sum here.
/// <code>
/// var profiler = OpProfiler.Start(Device.Cpu);
/// RunSomeSteps();
/// Console.Write(OpProfiler.Format(profiler.Stop(), units: steps));
/// </code>
/// </summary>
public sealed class OpProfiler : IDisposable
{
    private readonly ConcurrentDictionary<string, long[]> _totals = new(); // [calls, ticks]
    private readonly Device _device;

    private OpProfiler(Device device) => _device = device;

    /// <summary>Starts timing the primitives that run on <paramref name="device"/>; one profiler per device at a
    /// time.</summary>
    public static OpProfiler Start(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var profiler = new OpProfiler(device);
        if (Interlocked.CompareExchange(ref device.Profiler, profiler, null) is not null)
            throw new InvalidOperationException($"OpProfiler: device {device.Name} is already being profiled.");
        return profiler;
    }

    /// <summary>Stops timing; returns the timings, largest total first.</summary>
    public IReadOnlyList<OpTiming> Stop()
    {
        Interlocked.CompareExchange(ref _device.Profiler, null, this);
        return _totals
            .Select(p => new OpTiming(
                p.Key,
                Interlocked.Read(ref p.Value[0]),
                Interlocked.Read(ref p.Value[1]) * 1000.0 / Stopwatch.Frequency
            ))
            .OrderByDescending(t => t.Milliseconds)
            .ToList();
    }

    /// <summary>Stops timing if <see cref="Stop"/> was not called.</summary>
    public void Dispose() => Interlocked.CompareExchange(ref _device.Profiler, null, this);

    /// <summary>A table of <paramref name="timings"/> per unit of work (for example per training step), with each op's
    /// share.</summary>
    public static string Format(IReadOnlyList<OpTiming> timings, int units)
    {
        double total = timings.Sum(t => t.Milliseconds);
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(string.Create(c, $"{"op", -34} {"calls", 8} {"ms", 9} {"share", 6}   (per unit of {units})"));
        foreach (var t in timings)
            text.AppendLine(
                string.Create(
                    c,
                    $"{t.Op, -34} {t.Calls / (double)units, 8:F1} {t.Milliseconds / units, 9:F3} "
                        + $"{t.Milliseconds / total, 6:P0}"
                )
            );
        text.AppendLine(
            string.Create(
                c,
                $"{"total in primitives", -34} {timings.Sum(t => t.Calls) / (double)units, 8:F1} {total / units, 9:F3}"
            )
        );
        return text.ToString();
    }

    internal OpTimer Begin(string op) => new(this, op, Stopwatch.GetTimestamp());

    internal void Record(string op, long startTicks)
    {
        _device.Synchronize();
        long elapsed = Stopwatch.GetTimestamp() - startTicks;
        var entry = _totals.GetOrAdd(op, _ => new long[2]);
        Interlocked.Increment(ref entry[0]);
        Interlocked.Add(ref entry[1], elapsed);
    }
}

/// <summary>
/// One primitive's timing, opened where <see cref="Ops"/> hands work to a backend
/// (<c>using (device.Time(op)) backend.Op(…)</c>); a no-op value when the device is not profiled.
/// </summary>
internal readonly struct OpTimer(OpProfiler? profiler, string op, long startTicks) : IDisposable
{
    public void Dispose() => profiler?.Record(op, startTicks);
}
