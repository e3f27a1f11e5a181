using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// Long-lived worker threads for the CPU kernels' parallel loops. A training step runs a
/// thousand or more short kernels back to back; handing each to the thread pool costs a few
/// microseconds of wake-up, a large share of a 20 µs kernel. These workers instead spin for a
/// short while after each job, so the next one starts within a microsecond, and sleep once the
/// process goes quiet. One job runs at a time; a caller that finds the pool busy (another thread,
/// or a kernel started from inside a job) gets false and runs the job another way.
/// </summary>
internal sealed class WorkerPool
{
    /// <summary>How long an idle worker spins before it sleeps.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 5000; // 200 µs

    /// <summary>The process-wide pool.</summary>
    public static readonly WorkerPool Shared = new();

    private sealed record Job(long Generation, int Parts, Action<int> Body);

    private readonly object _sleep = new();
    private readonly List<Thread> _workers = [];
    private Job _current = new(0, 0, _ => { });
    private int _busy;
    private int _sleepers;
    private int _remaining;
    private ExceptionDispatchInfo? _error;

    /// <summary>
    /// Runs <paramref name="body"/>(0) … <paramref name="body"/>(parts − 1) on the calling thread
    /// and parts − 1 workers, and returns once all have finished (rethrowing the first exception).
    /// Returns false, having run nothing, when the pool is busy.
    /// </summary>
    public bool TryRun(int parts, Action<int> body)
    {
        if (parts <= 1)
        {
            if (parts == 1) body(0);
            return true;
        }
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            EnsureWorkers(parts - 1);
            _error = null;
            Volatile.Write(ref _remaining, parts - 1);
            var job = new Job(_current.Generation + 1, parts, body);
            Interlocked.Exchange(ref _current, job);          // full fence: pairs with a sleeper's Increment
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_sleep) Monitor.PulseAll(_sleep);
            Execute(body, 0);
            var wait = new SpinWait();
            while (Volatile.Read(ref _remaining) != 0) wait.SpinOnce(sleep1Threshold: -1);
            _error?.Throw();
            return true;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private void Execute(Action<int> body, int part)
    {
        try
        {
            body(part);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
        }
    }

    private void EnsureWorkers(int count)
    {
        while (_workers.Count < count)
        {
            int part = _workers.Count + 1;
            long seen = _current.Generation;                  // the thread may start after the next job is published
            var thread = new Thread(() => Work(part, seen)) { IsBackground = true, Name = $"modula-cpu-{part}" };
            _workers.Add(thread);
            thread.Start();
        }
    }

    private void Work(int part, long seen)
    {
        while (true)
        {
            var job = WaitForJob(seen);
            seen = job.Generation;
            if (part >= job.Parts) continue;                  // a smaller job than there are workers
            Execute(job.Body, part);
            Interlocked.Decrement(ref _remaining);
        }
    }

    private Job WaitForJob(long seen)
    {
        long until = Stopwatch.GetTimestamp() + SpinTicks;
        while (true)
        {
            var job = Volatile.Read(ref _current);
            if (job.Generation != seen) return job;
            if (Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(16);
                continue;
            }
            lock (_sleep)
            {
                Interlocked.Increment(ref _sleepers);         // full fence: pairs with the publisher's Exchange
                while (Volatile.Read(ref _current).Generation == seen) Monitor.Wait(_sleep);
                Interlocked.Decrement(ref _sleepers);
            }
            until = Stopwatch.GetTimestamp() + SpinTicks;
        }
    }
}
