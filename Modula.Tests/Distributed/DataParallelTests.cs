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
    }
}
