using System.Diagnostics;
using Modula.Distributed;

namespace Modula.Tests.Distributed;

/// <summary>The in-process communicator (threads as ranks) against sums known in closed form, and its failure
/// behaviour.</summary>
[TestClass]
public sealed class InProcessGroupTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void SelfCheckPassesOnEveryRank(int size)
    {
        using var group = new InProcessGroup(size);
        var results = group.Run(SelfCheck.Run);
        foreach (var rank in results)
        foreach (var r in rank)
            Assert.IsTrue(r.Passed, $"{size} ranks: {r.Name}: {r.Detail}");
        Assert.IsTrue(
            results.All(r => r.Select(x => x.Detail).SequenceEqual(results[0].Select(x => x.Detail))),
            "every rank sees the same results"
        );
    }

    [TestMethod]
    public void AllReduceGivesEveryRankTheSameBits()
    {
        // Values whose float sum depends on the order: every rank must still get identical bits.
        int seed = Environment.TickCount;
        Console.WriteLine($"seed {seed}");
        using var group = new InProcessGroup(4);
        var sums = group.Run(world =>
        {
            var rng = new Random(seed + world.Rank);
            var buffer = Enumerable
                .Range(0, 1000)
                .Select(_ => (float)(rng.NextDouble() * Math.Pow(10, rng.Next(-8, 8))))
                .ToArray();
            var reference = new double[1000];
            for (int r = 0; r < world.Size; r++)
            {
                var other = new Random(seed + r);
                for (int i = 0; i < 1000; i++)
                    reference[i] += (float)(other.NextDouble() * Math.Pow(10, other.Next(-8, 8)));
            }
            world.AllReduceSum(buffer);
            for (int i = 0; i < 1000; i++)
                Assert.AreEqual(
                    reference[i],
                    buffer[i],
                    1e-6 * Math.Abs(reference[i]),
                    $"element {i} against the float64 sum"
                );
            return buffer;
        });
        for (int r = 1; r < sums.Length; r++)
            CollectionAssert.AreEqual(sums[0], sums[r], $"rank {r} got other bits than rank 0");
    }

    [TestMethod]
    public void AbortStopsTheOtherRanksAtOnce()
    {
        using var group = new InProcessGroup(3, TimeSpan.FromSeconds(30));
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            group.Run<int>(world =>
            {
                if (world.Rank == 1)
                    throw new InvalidOperationException("rank 1 lost its data");
                world.AllReduceSum(new float[10]); // ranks 0 and 2 wait here for rank 1
                return 0;
            })
        );
        StringAssert.Contains(e.Message, "rank 1 lost its data");
        Assert.IsTrue(
            clock.Elapsed < TimeSpan.FromSeconds(10),
            $"the others stopped after {clock.Elapsed.TotalSeconds:F1} s, not at once"
        );
    }

    [TestMethod]
    public void WaitingRanksGiveUpAfterTheTimeout()
    {
        using var group = new InProcessGroup(2, TimeSpan.FromMilliseconds(300));
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsExactly<CommunicatorAbortedException>(() =>
            group.Run(world =>
            {
                if (world.Rank == 0)
                    world.Barrier(); // rank 1 never arrives
                return 0;
            })
        );
        StringAssert.Contains(e.Message, "waited more than");
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(10), $"gave up after {clock.Elapsed.TotalSeconds:F1} s");
    }

    [TestMethod]
    public void ADisposedGroupIsNamedAsOne()
    {
        // Found by an outside campaign: a call then threw about a disposed CancellationTokenSource.
        var group = new InProcessGroup(1);
        var rank = group[0];
        group.Dispose();
        var e = Assert.ThrowsExactly<ObjectDisposedException>(() => rank.Barrier());
        StringAssert.Contains(e.Message, "InProcessGroup: rank 0 called Barrier after the group was disposed.");
        Assert.ThrowsExactly<ObjectDisposedException>(() => group.Run(world => 0));
    }

    [TestMethod]
    public void MismatchedCallsAreNamed()
    {
        using var group = new InProcessGroup(2);
        var e = Assert.ThrowsExactly<CommunicatorAbortedException>(() =>
            group.Run(world =>
            {
                world.AllReduceSum(new float[world.Rank == 0 ? 4 : 5]);
                return 0;
            })
        );
        StringAssert.Contains(e.Message, "AllReduceSum(");
    }

    [TestMethod]
    public void RoundRobinByCostDealsTheLargestFirst()
    {
        int[] owners = ShardedUpdate.Assign([1, 9, 5, 7, 3], 2);
        // sorted by cost: 9 (item 1), 7 (3), 5 (2), 3 (4), 1 (0) → ranks 0, 1, 0, 1, 0
        CollectionAssert.AreEqual(new[] { 0, 0, 0, 1, 1 }, owners);
        CollectionAssert.AreEqual(new[] { 0, 1, 2, 0 }, ShardedUpdate.Assign([4, 3, 2, 1], 3));
    }
}
