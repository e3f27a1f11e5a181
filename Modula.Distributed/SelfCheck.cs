using System.Globalization;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Distributed;

/// <summary>
/// Checks a communicator the way data-parallel training uses it, on every rank: all-reduce,
/// broadcast and all-gather against sums and values known in closed form, a barrier, and the
/// divided update (<see cref="ShardedUpdate"/>) of a small GPT against the one-process
/// normalization and dualization. Every rank must call <see cref="Run"/>; each returns the
/// same list of results when the communicator works.
/// </summary>
public static class SelfCheck
{
    /// <summary>
    /// Largest relative difference allowed between the divided and the one-process dualized update
    /// (Newton–Schulz run per atom versus batched).
    /// </summary>
    public const double DualizeTolerance = 1e-4;

    /// <summary>One named check: passed or not, with what was seen.</summary>
    public sealed record Result(string Name, bool Passed, string Detail);

    /// <summary>Runs every check on <paramref name="world"/>.</summary>
    public static IReadOnlyList<Result> Run(ICommunicator world) =>
        [
            AllReduce(world, 1),
            AllReduce(world, 1_000_003),
            Broadcast(world),
            AllGather(world),
            Barrier(world),
            Update(world, UpdateRule.Normalize),
            Update(world, UpdateRule.Dualize),
        ];

    /// <summary>
    /// Rank r contributes (r + 1)·(i mod 7) at index i: the sum is size(size + 1)/2·(i mod 7),
    /// exact in float32.
    /// </summary>
    private static Result AllReduce(ICommunicator world, int length)
    {
        var buffer = new float[length];
        for (int i = 0; i < length; i++)
            buffer[i] = (world.Rank + 1) * (i % 7);
        world.AllReduceSum(buffer);
        float ranks = world.Size * (world.Size + 1) / 2f;
        int bad = Enumerable.Range(0, length).Count(i => buffer[i] != ranks * (i % 7));
        return new(
            $"all-reduce of {length} floats",
            bad == 0,
            bad == 0 ? $"sums of {world.Size} ranks exact" : $"{bad} wrong sums"
        );
    }

    /// <summary>The last rank broadcasts bytes 0, 1, 2, … (mod 251).</summary>
    private static Result Broadcast(ICommunicator world)
    {
        int root = world.Size - 1;
        var buffer = new byte[65_537];
        for (int i = 0; i < buffer.Length; i++)
            buffer[i] = world.Rank == root ? (byte)(i % 251) : (byte)0xEE;
        world.Broadcast(buffer, root);
        int bad = Enumerable.Range(0, buffer.Length).Count(i => buffer[i] != (byte)(i % 251));
        return new(
            $"broadcast from rank {root}",
            bad == 0,
            bad == 0 ? $"{buffer.Length} bytes received" : $"{bad} wrong bytes"
        );
    }

    /// <summary>Rank r contributes r·2 values 1000r + k (rank 0 none): the result is every rank's in order.</summary>
    private static Result AllGather(ICommunicator world)
    {
        var counts = Enumerable.Range(0, world.Size).Select(r => 2 * r).ToArray();
        var mine = Enumerable.Range(0, counts[world.Rank]).Select(k => 1000f * world.Rank + k).ToArray();
        var all = new float[counts.Sum()];
        world.AllGather(mine, all, counts);
        var expected = Enumerable
            .Range(0, world.Size)
            .SelectMany(r => Enumerable.Range(0, counts[r]).Select(k => 1000f * r + k));
        bool ok = all.SequenceEqual(expected);
        return new(
            "all-gather of uneven counts",
            ok,
            ok ? $"{all.Length} values in rank order" : "values out of place"
        );
    }

    private static Result Barrier(ICommunicator world)
    {
        world.Barrier();
        return new("barrier", true, "every rank arrived");
    }

    /// <summary>Two updates of a small GPT from seeded directions: divided among the ranks against this process
    /// alone.</summary>
    private static Result Update(ICommunicator world, UpdateRule rule)
    {
        var config = new GptConfig(Vocab: 17, Context: 8, Heads: 2, DEmbed: 16, DQuery: 8, DValue: 8, Blocks: 2);
        var model = Gpt.V1(config);
        var options = new TrainerOptions(0.1, Rule: rule);
        using var divided = new Trainer(
            model,
            model.Initialize(new Generator(3)),
            new Sgd(),
            options,
            normalizeSeed: 4
        );
        using var alone = new Trainer(model, model.Initialize(new Generator(3)), new Sgd(), options, normalizeSeed: 4);
        var sharded = new ShardedUpdate(divided, world);
        double worst = 0;
        for (int step = 0; step < 2; step++) // the first normalization draws the vectors
        {
            var rng = new Generator(10 + (ulong)step);
            using var direction = new Weights(model.Initialize(rng).Select(t => t));
            using var a = sharded.Compute(direction, 0.1);
            using var b =
                rule == UpdateRule.Normalize
                    ? model.Normalize(direction, 0.1, alone.NormalizeState)
                    : model.Dualize(direction, 0.1, options.Orthogonalizer);
            worst = Math.Max(worst, MaxRelativeDifference(a, b));
        }
        double tolerance = rule == UpdateRule.Normalize ? 0 : DualizeTolerance;
        string shares = string.Join(
            "/",
            Enumerable.Range(0, world.Size).Select(r => sharded.Owners.Count(o => o == r))
        );
        return new(
            $"divided {rule.ToString().ToLowerInvariant()} update",
            worst <= tolerance,
            string.Create(
                CultureInfo.InvariantCulture,
                $"max relative difference {worst:G3} (allowed {tolerance:G3}); atoms per rank {shares}"
            )
        );
    }

    /// <summary>max |a − b| / max |b| over each tensor, the largest over tensors.</summary>
    internal static double MaxRelativeDifference(Weights a, Weights b)
    {
        double worst = 0;
        for (int i = 0; i < a.Count; i++)
        {
            var x = a[i].ToArray<float>();
            var y = b[i].ToArray<float>();
            double scale = Math.Max(1e-30, y.Max(v => Math.Abs((double)v)));
            worst = Math.Max(worst, x.Zip(y, (p, q) => Math.Abs((double)p - q)).DefaultIfEmpty(0).Max() / scale);
        }
        return worst;
    }
}
