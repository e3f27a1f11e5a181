using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Modula.Autodiff;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Modula.Distributed;

/// <summary>
/// Data-parallel training of one <see cref="Trainer"/> replica per rank: each rank evaluates its
/// own rows of every global batch (<see cref="Shard"/>), the gradients, weighted by each rank's
/// share of the rows, and the loss are summed over ranks in one all-reduce of a fused float32
/// buffer, and every rank applies the same update, so the replicas stay bit-identical and the run
/// follows a one-process run with the same global batch within float tolerance. With
/// <c>shardUpdate</c>, the per-atom normalization or dualization is divided among the ranks
/// (<see cref="ShardedUpdate"/>).
/// </summary>
/// <example><code>
/// using var world = MpiCommunicator.Open();                 // under mpiexec -n 4
/// var parallel = new DataParallel(trainer, world);
/// parallel.Synchronize();                                   // every rank starts from rank 0's state
/// for (int step = 0; step &lt; 1000; step++)
///     parallel.Step(batch, (start, count, w) =&gt; Loss(Rows(start, count), w));
/// </code></example>
public sealed class DataParallel
{
    private readonly float[] _buffer;
    private readonly int[] _sizes;

    /// <summary>Joins <paramref name="trainer"/> to <paramref name="world"/>; the weights must be float32.</summary>
    public DataParallel(Trainer trainer, ICommunicator world, bool shardUpdate = true)
    {
        Float32Weights.Require(trainer, "DataParallel", "data-parallel training exchanges float32 buffers");
        Trainer = trainer;
        World = world;
        _sizes = trainer.Weights.Select(w => w.Size).ToArray();
        long total = trainer.Weights.ElementCount + 2; // the gradients, the loss, the stop requests
        if (total > Array.MaxLength)
            throw new ArgumentException($"DataParallel: {total} parameters exceed one host buffer.", nameof(trainer));
        _buffer = new float[total];
        if (shardUpdate && world.Size > 1 && trainer.Options.Rule != UpdateRule.Plain)
        {
            Update = new ShardedUpdate(trainer, world);
            trainer.RuleUpdate = Update.Compute;
        }
    }

    /// <summary>
    /// Whether this rank wants the run to stop (for example after a signal); polled at every step
    /// and summed over ranks with the gradients, so <see cref="StopAgreed"/> turns true on every rank after the same
    /// step.
    /// </summary>
    public Func<bool>? StopRequested { get; set; }

    /// <summary>True on every rank once any rank's <see cref="StopRequested"/> was true at a step.</summary>
    public bool StopAgreed { get; private set; }

    /// <summary>The local replica.</summary>
    public Trainer Trainer { get; }

    /// <summary>The group.</summary>
    public ICommunicator World { get; }

    /// <summary>Steps between <see cref="CheckReplicas"/> calls made by <see cref="Step"/> (0: none).</summary>
    public int CheckEvery { get; init; }

    /// <summary>The divided per-atom update, or null when every rank computes all of it.</summary>
    public ShardedUpdate? Update { get; }

    /// <summary>Time spent in the gradient all-reduce, over all steps.</summary>
    public TimeSpan AllReduceTime { get; private set; }

    /// <summary>Bytes each rank contributes to one step's all-reduce (gradients, loss and stop flag,
    /// float32).</summary>
    public long AllReduceBytes => _buffer.LongLength * sizeof(float);

    /// <summary>
    /// This rank's rows of a global batch of <paramref name="rows"/>: consecutive, disjoint, covering
    /// the batch, the first <c>rows mod size</c> ranks taking one more.
    /// </summary>
    public (int Start, int Count) Shard(int rows)
    {
        if (rows < World.Size)
            throw new ArgumentException(
                $"DataParallel: a global batch of {rows} cannot give each of {World.Size} ranks a row; "
                    + $"use a batch of at least {World.Size}.",
                nameof(rows)
            );
        int r = World.Rank,
            size = World.Size,
            q = rows / size,
            extra = rows % size;
        return (r * q + Math.Min(r, extra), q + (r < extra ? 1 : 0));
    }

    /// <summary>
    /// One step on a global batch of <paramref name="rows"/>: <paramref name="loss"/>(start, count,
    /// parameters) gives the mean loss over this rank's rows; returns the mean loss over the
    /// whole batch (the same on every rank). Throws as <see cref="Trainer.Step(Weights)"/> does.
    /// </summary>
    public double Step(int rows, Func<int, int, Variable[], Variable> loss)
    {
        var (start, count) = Shard(rows);
        double share = (double)count / rows,
            local;
        using (TensorScope.Begin())
        {
            var l = loss(start, count, Trainer.Parameters);
            l.Backward();
            local = l.Value.Item();
        }
        using (var gradient = Weights.GradientsOf(Trainer.Parameters))
            Pack(gradient, _buffer);
        var values = _buffer.AsSpan(0, _buffer.Length - 2);
        TensorPrimitives.Multiply(values, (float)share, values);
        _buffer[^2] = (float)(local * share);
        _buffer[^1] = StopRequested?.Invoke() == true ? 1 : 0;

        var clock = Stopwatch.StartNew();
        World.AllReduceSum(_buffer);
        AllReduceTime += clock.Elapsed;

        using var mean = Unpack(_buffer, Trainer.Weights);
        StopAgreed |= _buffer[^1] > 0;
        Trainer.Step(mean);
        if (CheckEvery > 0 && Trainer.StepCount % CheckEvery == 0)
            CheckReplicas();
        return _buffer[^2];
    }

    /// <summary>
    /// Makes every rank's weights, optimizer state, power-iteration vectors, step and skipped-step counts and the
    /// position of each of <paramref name="streams"/> (a run's batch sampler, say; the same streams in the same order
    /// on every rank) rank 0's; call once after building or resuming the replicas. Ranks that resumed from different
    /// checkpoints then go on as rank 0's run: without the counts, a rank would take other learning rates, sample
    /// other batches, and end at another step than the rest, waiting there for collectives that never come.
    /// </summary>
    public void Synchronize(params Generator[] streams)
    {
        // Checked before the first collective: a rank that failed between them would leave the others waiting.
        ArgumentNullException.ThrowIfNull(streams);
        if (Array.IndexOf(streams, null) is int missing and >= 0)
            throw new ArgumentNullException(nameof(streams), $"DataParallel.Synchronize: stream {missing} is null.");
        SynchronizeTensors();
        var normalize = Trainer.NormalizeState.Generator;
        // Positions and counts as their bytes: a float would round offsets past 2²⁴.
        var counts = new ulong[3 + streams.Length];
        (counts[0], counts[1], counts[2]) = ((ulong)Trainer.StepCount, (ulong)Trainer.SkippedSteps, normalize.Offset);
        for (int i = 0; i < streams.Length; i++)
            counts[3 + i] = streams[i].Offset;
        World.Broadcast(MemoryMarshal.AsBytes(counts.AsSpan()));
        (Trainer.StepCount, Trainer.SkippedSteps, normalize.Offset) = ((int)counts[0], (int)counts[1], counts[2]);
        for (int i = 0; i < streams.Length; i++)
            streams[i].Offset = counts[3 + i];
    }

    // The weights, optimizer slots and power-iteration vectors of rank 0, one broadcast.
    private void SynchronizeTensors()
    {
        var state = State();
        var present = state.Select(t => t is null ? (byte)0 : (byte)1).ToArray();
        var rootPresent = present.ToArray();
        World.Broadcast(rootPresent);
        if (!present.AsSpan().SequenceEqual(rootPresent))
            throw new InvalidOperationException(
                $"DataParallel: rank {World.Rank}'s power-iteration vectors are not rank 0's "
                    + "(one rank resumed from another checkpoint?)."
            );
        var tensors = state.OfType<Tensor>().ToList();
        var buffer = new float[tensors.Sum(t => (long)t.Size)];
        long offset = 0;
        foreach (var t in tensors)
        {
            t.CopyTo<float>(buffer.AsSpan((int)offset));
            offset += t.Size;
        }
        World.Broadcast(buffer.AsSpan());
        offset = 0;
        foreach (var t in tensors)
        {
            using var copy = Tensor.FromArray<float>(buffer.AsSpan((int)offset, t.Size), t.Shape, t.Device);
            Ops.CopyInto(copy, t);
            offset += t.Size;
        }
    }

    /// <summary>
    /// Checks that every rank holds the same weights and optimizer state as rank 0 (SHA-256 of
    /// their bits); on a difference every rank throws, naming the ranks that differ.
    /// </summary>
    public void CheckReplicas()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var t in State().OfType<Tensor>())
            sha.AppendData(MemoryMarshal.AsBytes<float>(t.ToArray<float>()));
        var mine = sha.GetHashAndReset();
        var root = mine.ToArray();
        World.Broadcast(root);
        var differs = new float[World.Size];
        differs[World.Rank] = mine.AsSpan().SequenceEqual(root) ? 0 : 1;
        World.AllReduceSum(differs);
        var ranks = Enumerable.Range(0, World.Size).Where(r => differs[r] != 0).ToArray();
        if (ranks.Length > 0)
            throw new InvalidOperationException(
                $"DataParallel: the replicas diverged before step {Trainer.StepCount}: "
                    + (ranks.Length > 1 ? $"ranks {string.Join(", ", ranks)} hold" : $"rank {ranks[0]} holds")
                    + " other weights "
                    + "or optimizer state than rank 0."
            );
    }

    /// <summary>
    /// The tensors every replica must agree on: weights, optimizer slots (created if missing),
    /// power-iteration vectors.
    /// </summary>
    private List<Tensor?> State()
    {
        var state = new List<Tensor?>(Trainer.Weights);
        Trainer.Optimizer.EnsureSlots(Trainer.Weights);
        foreach (var (_, slot) in Trainer.Optimizer.Slots.OrderBy(s => s.Key, StringComparer.Ordinal))
            state.AddRange(slot);
        state.AddRange(Trainer.NormalizeState.Vectors);
        return state;
    }

    private static void Pack(Weights gradient, float[] buffer)
    {
        long offset = 0;
        foreach (var g in gradient)
        {
            g.CopyTo<float>(buffer.AsSpan((int)offset, g.Size));
            offset += g.Size;
        }
    }

    private Weights Unpack(float[] buffer, Weights like)
    {
        var tensors = new List<Tensor>(like.Count);
        long offset = 0;
        for (int i = 0; i < like.Count; i++)
        {
            tensors.Add(Tensor.FromArray<float>(buffer.AsSpan((int)offset, _sizes[i]), like[i].Shape, like[i].Device));
            offset += _sizes[i];
        }
        return new Weights(tensors);
    }
}
