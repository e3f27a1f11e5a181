using Modula.Autodiff;
using Modula.Distributed;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;
using Modula.Tests.Optim;

namespace Modula.Tests.Distributed;

/// <summary>
/// Data-parallel training with threads as ranks against one process on the same global batches:
/// same losses and weights within float tolerance, replicas bit-identical, a failing rank stops the rest.
/// </summary>
[TestClass]
public sealed class DataParallelTests
{
    private const int Batch = 12,
        Steps = 8;

    /// <summary>Float32 sums in another order than one process: losses and weights agree to this relative tolerance
    /// after 8 steps.</summary>
    private const double Tolerance = 2e-4;

    private static Trainer NewTrainer(UpdateRule rule)
    {
        var model = TrainerTests.SmallResMlp();
        var optimizer = rule == UpdateRule.Dualize ? (Optimizer)new Momentum(0.9) : new ModulaAdam();
        return new Trainer(
            model,
            model.Initialize(new Generator(5)),
            optimizer,
            new TrainerOptions(0.1, Schedule.Linear(Steps), rule, 0.01),
            6
        );
    }

    /// <summary>Batch s is rows [s·12, s·12 + 12) of a fixed synthetic set.</summary>
    private static (Tensor X, int[] Labels) Data() => TrainerTests.Data(Batch * Steps, DType.Float32);

    private static (double[] Losses, float[][] Weights) OneProcess(UpdateRule rule)
    {
        var (x, labels) = Data();
        using (x)
        using (var trainer = NewTrainer(rule))
        {
            var losses = new double[Steps];
            for (int s = 0; s < Steps; s++)
            {
                losses[s] = TrainerTests.Backward(trainer, x, labels, s * Batch, Batch);
                trainer.Step();
            }
            return (losses, trainer.Weights.Select(w => w.ToArray<float>()).ToArray());
        }
    }

    private static (double[] Losses, float[][] Weights)[] Parallel(int ranks, UpdateRule rule, bool shard)
    {
        var (x, labels) = Data();
        using (x)
        using (var group = new InProcessGroup(ranks))
            return group.Run(world =>
            {
                using var trainer = NewTrainer(rule);
                var parallel = new DataParallel(trainer, world, shard) { CheckEvery = 2 };
                parallel.Synchronize();
                var losses = new double[Steps];
                for (int s = 0; s < Steps; s++)
                    losses[s] = parallel.Step(Batch, (start, count, parameters) =>
                    {
                        using var rows = x.Slice(0, s * Batch + start, count);
                        using var y = Tensor.FromArray<int>(labels.AsSpan(s * Batch + start, count), new Shape(count));
                        return F.CrossEntropy(trainer.Model.Forward(new Variable(rows.View(count, 20)), parameters), y);
                    });
                Assert.AreEqual(shard && ranks > 1, parallel.Update is not null, "the update is divided when asked");
                return (losses, trainer.Weights.Select(w => w.ToArray<float>()).ToArray());
            });
    }

    [TestMethod]
    [DataRow(2, UpdateRule.Normalize, true)]
    [DataRow(3, UpdateRule.Normalize, true)]
    [DataRow(2, UpdateRule.Dualize, true)]
    [DataRow(2, UpdateRule.Normalize, false)]
    [DataRow(3, UpdateRule.Plain, false)]
    public void RanksFollowOneProcessOnTheSameGlobalBatches(int ranks, UpdateRule rule, bool shard)
    {
        var (losses, weights) = OneProcess(rule);
        var results = Parallel(ranks, rule, shard);
        foreach (var (rankLosses, rankWeights) in results)
        {
            for (int s = 0; s < Steps; s++)
                Assert.AreEqual(losses[s], rankLosses[s], Tolerance * Math.Abs(losses[s]), $"loss of step {s}");
            for (int i = 0; i < weights.Length; i++)
            {
                double scale = weights[i].Max(v => Math.Abs(v));
                double worst = weights[i].Zip(rankWeights[i], (a, b) => Math.Abs(a - b)).Max();
                Assert.IsTrue(
                    worst <= Tolerance * scale,
                    $"weight {i}: max difference {worst:G3}, allowed {Tolerance * scale:G3}"
                );
            }
        }
        for (int r = 1; r < results.Length; r++)
        for (int i = 0; i < weights.Length; i++)
            CollectionAssert.AreEqual(
                results[0].Weights[i],
                results[r].Weights[i],
                $"rank {r}'s weight {i} is not rank 0's bits"
            );
    }

    [TestMethod]
    public void ShardsAreDisjointAndCoverTheBatch()
    {
        foreach (int ranks in new[] { 1, 2, 3, 5 })
        foreach (int rows in new[] { 5, 12, 13 })
        {
            using var group = new InProcessGroup(ranks);
            var shards = group.Run(world =>
            {
                using var trainer = NewTrainer(UpdateRule.Plain);
                return new DataParallel(trainer, world).Shard(rows);
            });
            int next = 0;
            foreach (var (start, count) in shards)
            {
                Assert.AreEqual(next, start, $"{ranks} ranks, {rows} rows: shards are consecutive");
                Assert.IsTrue(
                    count >= rows / ranks && count <= rows / ranks + 1,
                    $"{ranks} ranks, {rows} rows: balanced"
                );
                next += count;
            }
            Assert.AreEqual(rows, next, "the shards cover the batch");
        }
    }

    [TestMethod]
    public void TooSmallABatchIsRefused()
    {
        using var group = new InProcessGroup(3);
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            group.Run(world =>
            {
                using var trainer = NewTrainer(UpdateRule.Plain);
                return new DataParallel(trainer, world).Shard(2);
            })
        );
        StringAssert.Contains(e.Message, "global batch of 2");
    }

    [TestMethod]
    public void DivergedReplicasAreReported()
    {
        using var group = new InProcessGroup(2);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            group.Run(world =>
            {
                using var trainer = NewTrainer(UpdateRule.Plain);
                var parallel = new DataParallel(trainer, world);
                if (world.Rank == 1)
                    trainer.Weights.Scale(1.0001);
                parallel.CheckReplicas();
                return 0;
            })
        );
        StringAssert.Contains(e.Message, "rank 1 holds other weights");
    }

    [TestMethod]
    public void SynchronizeStartsEveryRankFromRankZero()
    {
        using var group = new InProcessGroup(2);
        var weights = group.Run(world =>
        {
            var model = TrainerTests.SmallResMlp();
            using var trainer = new Trainer(
                model,
                model.Initialize(new Generator(100 + (ulong)world.Rank)),
                new Adam(),
                new TrainerOptions(0.1)
            );
            var parallel = new DataParallel(trainer, world);
            parallel.Synchronize();
            parallel.CheckReplicas();
            return trainer.Weights.Select(w => w.ToArray<float>()).ToArray();
        });
        var model = TrainerTests.SmallResMlp();
        using var root = model.Initialize(new Generator(100));
        for (int i = 0; i < root.Count; i++)
        {
            CollectionAssert.AreEqual(root[i].ToArray<float>(), weights[0][i], $"rank 0 keeps its weight {i}");
            CollectionAssert.AreEqual(root[i].ToArray<float>(), weights[1][i], $"rank 1 takes rank 0's weight {i}");
        }
    }

    [TestMethod]
    public void SynchronizeGivesEveryRankRankZerosCountsAndStreamPositions()
    {
        // Found by an outside campaign: ranks resumed from checkpoints of different steps took rank 0's weights but
        // kept their own step counts and batch samplers, so they trained on other batches at other learning rates,
        // and the one that reached the last step first waited in a barrier while the others waited in an all-reduce.
        using var group = new InProcessGroup(3);
        var states = group.Run(world =>
        {
            using var trainer = NewTrainer(UpdateRule.Normalize);
            trainer.StepCount = 10 + 5 * world.Rank;
            trainer.SkippedSteps = world.Rank;
            trainer.NormalizeState.Generator.Offset = 100 + (ulong)world.Rank;
            var sampler = new Generator(7, offset: 1000 + 37 * (ulong)world.Rank);
            var parallel = new DataParallel(trainer, world);
            parallel.Synchronize(sampler);
            return (
                trainer.StepCount,
                trainer.SkippedSteps,
                trainer.NormalizeState.Generator.Offset,
                sampler.Offset,
                trainer.CurrentLearningRate
            );
        });
        for (int rank = 0; rank < 3; rank++)
            Assert.AreEqual((10, 0, 100UL, 1000UL, states[0].CurrentLearningRate), states[rank], $"rank {rank}");
    }

    [TestMethod]
    public void SynchronizeRefusesANullStreamBeforeAnyCollective()
    {
        // On one rank alone, a null stream found after the first broadcast would leave the others waiting.
        using var group = new InProcessGroup(1);
        using var trainer = NewTrainer(UpdateRule.Normalize);
        var parallel = new DataParallel(trainer, group[0]);
        var e = Assert.ThrowsExactly<ArgumentNullException>(() => parallel.Synchronize(new Generator(1), null!));
        StringAssert.Contains(e.Message, "stream 1 is null");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            Collectives.Broadcast(group[0], new float[4], root: 0, part: 0)
        );
    }

    [TestMethod]
    public void ABroadcastLargerThanOnePartArrivesWhole()
    {
        // A span of bytes cannot reach 2³¹, so more than 2²⁹ floats failed with an OverflowException: the broadcast
        // now goes in parts, here of 3 floats so that the parts show at a test's size.
        using var group = new InProcessGroup(2);
        var received = group.Run(world =>
        {
            var buffer = world.Rank == 0 ? Enumerable.Range(1, 10).Select(i => (float)i).ToArray() : new float[10];
            Collectives.Broadcast(world, buffer, root: 0, part: 3);
            var empty = Array.Empty<float>();
            Collectives.Broadcast(world, empty, root: 0, part: 3);
            return buffer;
        });
        CollectionAssert.AreEqual(Enumerable.Range(1, 10).Select(i => (float)i).ToArray(), received[1]);
    }

    [TestMethod]
    public void Float64WeightsAreRefused()
    {
        var model = TrainerTests.SmallResMlp();
        using var trainer = new Trainer(
            model,
            model.Initialize(new Generator(1), dtype: DType.Float64),
            new Sgd(),
            new TrainerOptions(0.1)
        );
        using var group = new InProcessGroup(1);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new DataParallel(trainer, group[0]));
        StringAssert.Contains(e.Message, "Float64");
        // The divided update on its own too: before, it failed at its first call, on the ranks that own atoms only.
        using var normalized = new Trainer(
            model,
            model.Initialize(new Generator(1), dtype: DType.Float64),
            new Sgd(),
            new TrainerOptions(0.1, Rule: UpdateRule.Normalize)
        );
        e = Assert.ThrowsExactly<ArgumentException>(() => new ShardedUpdate(normalized, group[0]));
        StringAssert.Contains(e.Message, "ShardedUpdate: weight 0 is Float64");
    }
}
