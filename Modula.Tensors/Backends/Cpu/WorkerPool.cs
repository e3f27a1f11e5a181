using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// Long-lived worker threads for the CPU kernels' parallel loops. A training step runs a
/// thousand or more short kernels back to back; handing each to the thread pool costs a few
/// microseconds of wake-up, a large share of a 20 µs kernel. These workers instead spin for a
/// short while after each job, so the next one starts within a microsecond, and then block.
/// <para>
/// The pool stays polite on a busy machine: parts of a job are claimed, not assigned, so the
/// calling thread runs every part no worker has started (a worker that the OS has not scheduled
/// delays nothing), spinning yields the core to other threads, and both the workers and the
/// caller block after a short spin instead of burning a core another process needs.
/// </para>
/// <para>
/// Each thread claims from its own block of consecutive parts first (the caller the first block,
/// worker w the w-th), so jobs that split the same tensors alike give each thread the same share
/// every time, already in its core's cache: on Newton–Schulz's batches of 128 × 128 products,
/// where each thread's matrices pass through a dozen products and sums per step, the GPT's
/// gradients took 5.8–7.4 ms against 7.2–8.3 ms when parts were claimed in one shared order
/// (five alternating rounds, each faster).
/// </para>
/// One job runs at a time; a caller that finds the pool busy (another thread, or a kernel started
/// from inside a job) gets false and runs the job another way.
/// </summary>
internal sealed class WorkerPool
{
    /// <summary>How long an idle worker, or a caller waiting for the last parts, spins before it blocks.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 20000; // 50 µs

    /// <summary>The process-wide pool.</summary>
    public static readonly WorkerPool Shared = new();

    /// <summary>
    /// One parallel loop. Its parts are cut into one block of consecutive parts per thread it may use, and each
    /// thread claims the parts of its own block first (the caller block 0, worker w block w), then those left in the
    /// others. So when consecutive jobs split the same tensors alike, each thread's share stays in its own core's
    /// cache from one job to the next, and a thread the OS has not scheduled still delays nothing.
    /// </summary>
    private sealed class Job(long generation, int parts, int helpers, Action<int> body)
    {
        public readonly long Generation = generation;
        public readonly int Parts = parts;
        public readonly Action<int> Body = body;

        /// <summary>Workers that have joined so far. Only the first Blocks − 1 run parts, so a job with more parts
        /// than threads keeps to its threads.</summary>
        public int Helpers;
        public int Done;

        /// <summary>Parts claimed so far in each block (a claim past the block's end finds it empty).</summary>
        public readonly int[] Claimed = new int[helpers + 1];

        /// <summary>One per thread the job may use: the caller's and one per worker that may join.</summary>
        public int Blocks => Claimed.Length;

        /// <summary>The first part of <paramref name="block"/> (of <see cref="Blocks"/> + 1 boundaries).</summary>
        public int BlockStart(int block) => (int)((long)Parts * block / Blocks);
    }

    private readonly object _sleep = new();
    private readonly object _finished = new();
    private readonly List<Thread> _workers = [];
    private Job _current = new(0, 0, 0, _ => { });
    private int _busy;
    private int _sleepers;
    private int _callerWaiting;
    private ExceptionDispatchInfo? _error;

    /// <summary>
    /// Runs <paramref name="body"/>(0) … <paramref name="body"/>(parts − 1) on the calling thread
    /// and up to min(parts, <paramref name="threads"/>) − 1 workers, each claiming parts not yet
    /// started (its own block first), and returns once all have finished (rethrowing the first exception). Returns
    /// false, having run nothing, when the pool is busy.
    /// </summary>
    public bool TryRun(int parts, int threads, Action<int> body)
    {
        if (parts <= 1)
        {
            if (parts == 1)
                body(0);
            return true;
        }
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            return false;
        try
        {
            int helpers = Math.Max(0, Math.Min(parts, threads) - 1);
            EnsureWorkers(helpers);
            _error = null;
            var job = new Job(_current.Generation + 1, parts, helpers, body);
            Interlocked.Exchange(ref _current, job); // full fence: pairs with a sleeper's Increment
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_sleep)
                    Monitor.PulseAll(_sleep);
            RunParts(job, home: 0);
            WaitUntilFinished(job);
            _error?.Throw();
            return true;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Claims and runs parts of <paramref name="job"/> until none is left unclaimed: those of block
    /// <paramref name="home"/> first, then the other blocks' in turn.</summary>
    private void RunParts(Job job, int home)
    {
        for (int i = 0; i < job.Blocks; i++)
        {
            int block = (home + i) % job.Blocks,
                start = job.BlockStart(block),
                end = job.BlockStart(block + 1);
            while (true)
            {
                int part = start + Interlocked.Increment(ref job.Claimed[block]) - 1;
                if (part >= end)
                    break;
                RunPart(job, part);
            }
        }
    }

    private void RunPart(Job job, int part)
    {
        try
        {
            job.Body(part);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
        }
        if (Interlocked.Increment(ref job.Done) == job.Parts && Volatile.Read(ref _callerWaiting) != 0)
            lock (_finished)
                Monitor.PulseAll(_finished);
    }

    /// <summary>Waits for parts still running on workers: a short polite spin, then blocking.</summary>
    private void WaitUntilFinished(Job job)
    {
        long until = Stopwatch.GetTimestamp() + SpinTicks;
        var spin = new SpinWait();
        while (Volatile.Read(ref job.Done) != job.Parts)
        {
            if (Stopwatch.GetTimestamp() < until)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            lock (_finished)
            {
                Interlocked.Exchange(ref _callerWaiting, 1); // full fence: pairs with the finisher's Increment
                while (Volatile.Read(ref job.Done) != job.Parts)
                    Monitor.Wait(_finished);
                Volatile.Write(ref _callerWaiting, 0);
            }
        }
    }

    private void EnsureWorkers(int count)
    {
        while (_workers.Count < count)
        {
            long seen = _current.Generation; // the thread may start after the next job is published
            int index = _workers.Count + 1;
            var thread = new Thread(() => Work(index, seen)) { IsBackground = true, Name = $"modula-cpu-{index}" };
            _workers.Add(thread);
            thread.Start();
        }
    }

    /// <summary>The loop of worker <paramref name="index"/> (1, 2, …): its home block in a job is its index, or,
    /// in a job cut into fewer blocks, the index it joined with.</summary>
    private void Work(int index, long seen)
    {
        while (true)
        {
            var job = WaitForJob(seen);
            seen = job.Generation;
            int joined = Interlocked.Increment(ref job.Helpers);
            if (joined < job.Blocks) // else the job has all the threads it may use: wait for the next one
                RunParts(job, home: index < job.Blocks ? index : joined);
        }
    }

    private Job WaitForJob(long seen)
    {
        long until = Stopwatch.GetTimestamp() + SpinTicks;
        var spin = new SpinWait();
        while (true)
        {
            var job = Volatile.Read(ref _current);
            if (job.Generation != seen)
                return job;
            if (Stopwatch.GetTimestamp() < until)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            lock (_sleep)
            {
                Interlocked.Increment(ref _sleepers); // full fence: pairs with the publisher's Exchange
                while (Volatile.Read(ref _current).Generation == seen)
                    Monitor.Wait(_sleep);
                Interlocked.Decrement(ref _sleepers);
            }
            until = Stopwatch.GetTimestamp() + SpinTicks;
            spin.Reset();
        }
    }
}
