using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class WorkerPoolTests
{
    [TestMethod]
    public void ThreadScopesNestAndRestoreTheCount()
    {
        int before = CpuDevice.Threads;
        using (CpuDevice.UseThreads(3))
        {
            Assert.AreEqual(3, CpuDevice.Threads);
            var inner = CpuDevice.UseThreads(1);
            Assert.AreEqual(1, CpuDevice.Threads);
            inner.Dispose();
            inner.Dispose(); // a second dispose must not restore twice
            Assert.AreEqual(3, CpuDevice.Threads);
        }
        Assert.AreEqual(before, CpuDevice.Threads);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => CpuDevice.UseThreads(0));
        StringAssert.Contains(e.Message, "UseThreads");
        Assert.AreEqual(before, CpuDevice.Threads);
    }

    [TestMethod]
    public void ScopesClosedOutOfOrderLeaveTheNewestOpenOnesCount()
    {
        // Found by an outside campaign: two threads' overlapping scopes each restored the count they had found, so
        // the first one's count stayed in force after both had closed. Here closed out of order on one thread,
        // which is what the interleaving of two threads comes to.
        int before = CpuDevice.Threads;
        var first = CpuDevice.UseThreads(1);
        var second = CpuDevice.UseThreads(3);
        first.Dispose();
        Assert.AreEqual(3, CpuDevice.Threads, "the scope still open sets the count");
        second.Dispose();
        Assert.AreEqual(before, CpuDevice.Threads, "both closed: the count as it was");
        var outer = CpuDevice.UseThreads(2);
        var inner = CpuDevice.UseThreads(1);
        outer.Dispose();
        Assert.AreEqual(1, CpuDevice.Threads);
        inner.Dispose();
        Assert.AreEqual(before, CpuDevice.Threads);
    }

    [TestMethod]
    public void EveryPartRunsExactlyOnceAcrossManyJobs()
    {
        var pool = new WorkerPool();
        var rng = new System.Random(17);
        for (int job = 0; job < 2000; job++)
        {
            int parts = rng.Next(2, 9);
            var runs = new int[parts];
            // Every few jobs the workers go to sleep first, so both the spinning and the blocking hand-offs run.
            if (job % 100 == 99)
                Thread.Sleep(2);
            Assert.IsTrue(pool.TryRun(parts, parts, p => Interlocked.Increment(ref runs[p])), $"job {job}: pool busy");
            for (int p = 0; p < parts; p++)
                Assert.AreEqual(1, runs[p], $"job {job} (seed 17): part {p} of {parts}");
        }
    }

    /// <summary>
    /// Jobs with more parts than threads (as <c>CpuParallel</c> splits a product): every part runs once, and no more
    /// distinct threads than asked take part, even after jobs that woke more workers.
    /// </summary>
    [TestMethod]
    public void JobsWithMorePartsThanThreadsKeepToTheirThreads()
    {
        var pool = new WorkerPool();
        var rng = new System.Random(23);
        for (int job = 0; job < 1000; job++)
        {
            int threads = rng.Next(1, 5),
                parts = rng.Next(1, 17);
            var runs = new int[parts];
            var runners = new int[parts];
            if (job % 100 == 99)
                Thread.Sleep(2);
            Assert.IsTrue(pool.TryRun(parts, threads, p =>
                {
                    Interlocked.Increment(ref runs[p]);
                    runners[p] = Environment.CurrentManagedThreadId;
                    Thread.SpinWait(200); // long enough that idle workers would join if allowed
                }), $"job {job}: pool busy");
            string what = $"job {job} (seed 23): {parts} parts on {threads} threads";
            for (int p = 0; p < parts; p++)
                Assert.AreEqual(1, runs[p], $"{what}: part {p}");
            int distinct = runners.Distinct().Count();
            Assert.IsTrue(distinct <= threads, $"{what}: ran on {distinct} threads");
        }
    }

    /// <summary>
    /// Eight parts on two threads are two blocks, 0–3 for the caller and 4–7 for the worker, each thread taking its
    /// own block first so that consecutive jobs over the same tensors leave each thread's half in its cache. Part 0
    /// holds the caller until another part has started, so the worker's first part shows which it claims first: 4,
    /// where a single shared claim counter would hand it part 1 (or part 0 itself, had the worker come first). The
    /// other parts wait for part 0 to start, so a worker that outruns the caller cannot finish its block and take
    /// part 0 before the caller has claimed it.
    /// </summary>
    [TestMethod]
    public void EachThreadClaimsItsOwnBlockOfPartsFirst()
    {
        var pool = new WorkerPool();
        for (int job = 0; job < 20; job++)
        {
            int caller = Environment.CurrentManagedThreadId,
                started = 0;
            var order = new int[8];
            var runners = new int[8];
            Assert.IsTrue(pool.TryRun(8, 2, p =>
                {
                    runners[p] = Environment.CurrentManagedThreadId;
                    Volatile.Write(ref order[p], Interlocked.Increment(ref started));
                    var deadline = DateTime.UtcNow.AddSeconds(10);
                    while (
                        (p == 0 ? Volatile.Read(ref started) < 2 : Volatile.Read(ref order[0]) == 0)
                        && DateTime.UtcNow < deadline
                    )
                        Thread.Sleep(1);
                }), $"job {job}: pool busy");
            Assert.AreEqual(caller, runners[0], $"job {job}: the caller starts on its own block");
            var byWorker = Enumerable.Range(0, 8).Where(p => runners[p] != caller).ToArray();
            Assert.IsTrue(byWorker.Length > 0, $"job {job}: no worker joined within 10 s");
            int first = byWorker.MinBy(p => order[p]);
            Assert.AreEqual(
                4,
                first,
                $"job {job}: the worker's first part (parts by worker: {string.Join(",", byWorker)})"
            );
        }
    }

    [TestMethod]
    public void NestedRunsReportBusyAndExceptionsReachTheCaller()
    {
        var pool = new WorkerPool();
        bool? nested = null;
        pool.TryRun(2, 2, p =>
        {
            if (p == 0)
                nested = pool.TryRun(2, 2, _ => { });
        });
        Assert.IsFalse(nested, "a job started inside a job must be refused");
        var error = Assert.ThrowsExactly<InvalidOperationException>(() => pool.TryRun(4, 4, p =>
            {
                if (p == 3)
                    throw new InvalidOperationException("part 3");
            }));
        Assert.AreEqual("part 3", error.Message);
        var runs = new int[3];
        Assert.IsTrue(pool.TryRun(3, 3, p => runs[p]++), "the pool is usable after a failed job");
        CollectionAssert.AreEqual(new[] { 1, 1, 1 }, runs);
    }
}
