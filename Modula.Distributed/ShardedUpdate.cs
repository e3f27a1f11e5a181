using System.Diagnostics;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;

namespace Modula.Distributed;

/// <summary>
/// Modula's per-atom update (v1's normalization or v2's dualization) with the atoms divided
/// among the ranks of a data-parallel group: the atoms are sorted by their cost and dealt out
/// round-robin, each rank computes only its own atoms' updates (and, for normalization, their
/// power-iteration vectors), and one all-gather gives every rank all of them. Every rank ends
/// with the same update bits, equal to the one-process <c>Module.Normalize</c> or
/// <c>Module.Dualize</c> within float tolerance (a one-process dualization runs
/// same-shaped atoms in one batched Newton–Schulz product, here each atom runs on its own).
/// Set <see cref="Trainer.RuleUpdate"/> to <see cref="Compute"/> to use it.
/// </summary>
public sealed class ShardedUpdate
{
    private readonly Trainer _trainer;
    private readonly ICommunicator _world;
    private readonly IReadOnlyList<(string Path, Atom Atom)> _atoms;
    private float[] _mine = [],
        _all = []; // reused: a step allocates no large host arrays

    /// <summary>Divides <paramref name="trainer"/>'s atoms among the ranks of <paramref name="world"/>.</summary>
    public ShardedUpdate(Trainer trainer, ICommunicator world)
    {
        if (trainer.Options.Rule == UpdateRule.Plain)
            throw new ArgumentException(
                "ShardedUpdate: the plain rule has no per-atom update to divide.",
                nameof(trainer)
            );
        // Updates are exchanged as float32 (all-gathered): a float64 trainer failed on the ranks that own atoms only,
        // leaving the others in the all-gather.
        Float32Weights.Require(trainer, "ShardedUpdate", "the divided update exchanges float32");
        _trainer = trainer;
        _world = world;
        _atoms = trainer.Model.Atoms();
        var costs = _atoms.Select(a => Cost(a.Atom, trainer.Options.Rule)).ToArray();
        Owners = Assign(costs, world.Size);
        Costs = costs;
    }

    /// <summary>The rank that computes each atom's update.</summary>
    public IReadOnlyList<int> Owners { get; }

    /// <summary>Each atom's estimated cost (multiply-adds, up to a constant).</summary>
    public IReadOnlyList<double> Costs { get; }

    /// <summary>Time spent computing this rank's atoms, over all calls.</summary>
    public TimeSpan ComputeTime { get; private set; }

    /// <summary>Time spent in the all-gather, over all calls.</summary>
    public TimeSpan GatherTime { get; private set; }

    /// <summary>Floats every rank received in the last all-gather.</summary>
    public long GatheredFloats { get; private set; }

    /// <summary>
    /// The cost of one atom's update: a dualized matrix runs Newton–Schulz, whose products cost
    /// about rows·columns·min(rows, columns); a normalized one runs a power-iteration step and a
    /// scale, about its element count, as does an embedding's row normalization.
    /// </summary>
    public static double Cost(Atom atom, UpdateRule rule)
    {
        var dims = atom.WeightShape.Dims;
        double size = atom.WeightShape.Size;
        return rule is UpdateRule.Dualize or UpdateRule.Manifold && atom is MatrixAtom && dims.Length >= 2
            ? size * Math.Min(dims[^1], dims[^2])
            : size;
    }

    /// <summary>
    /// The owner of each item: items sorted by cost, largest first (ties by index), dealt to ranks
    /// 0, 1, …, <paramref name="ranks"/> − 1, 0, 1, … in turn.
    /// </summary>
    public static int[] Assign(IReadOnlyList<double> costs, int ranks)
    {
        if (ranks < 1)
            throw new ArgumentOutOfRangeException(nameof(ranks), $"ShardedUpdate.Assign: {ranks} ranks.");
        var order = Enumerable.Range(0, costs.Count).OrderByDescending(i => costs[i]).ThenBy(i => i).ToArray();
        var owners = new int[costs.Count];
        for (int k = 0; k < order.Length; k++)
            owners[order[k]] = k % ranks;
        return owners;
    }

    private static Span<float> Reuse(ref float[] buffer, int length)
    {
        if (buffer.Length < length)
            buffer = new float[length];
        return buffer.AsSpan(0, length);
    }

    /// <summary>
    /// The update for <paramref name="direction"/> at learning rate <paramref name="eta"/> (a new
    /// vector, the same on every rank).
    /// </summary>
    public Weights Compute(Weights direction, double eta)
    {
        var model = _trainer.Model;
        var state = _trainer.NormalizeState;
        bool normalize = _trainer.Options.Rule == UpdateRule.Normalize;
        var targets = model.AtomTargets(eta);
        // The first normalization draws the power-iteration vectors, atom by atom, from one
        // stream: every rank does it in full so the draws match a one-process run. Atoms whose
        // norm needs no vector (embeddings) keep none.
        if (normalize && state.Vectors.All(v => v is null))
            return model.Normalize(direction, eta, state);

        var vectorSizes = state.Vectors.Select(v => normalize && v is not null ? v.Size : 0).ToArray();
        int VectorSize(int i) => vectorSizes[i];
        int Segment(int i) => targets[i] == 0 ? 0 : direction[i].Size + VectorSize(i);
        var counts = new int[_world.Size];
        for (int i = 0; i < _atoms.Count; i++)
            counts[Owners[i]] += Segment(i);
        var results = new Tensor?[_atoms.Count];
        try
        {
            var clock = Stopwatch.StartNew();
            var mine = Reuse(ref _mine, counts[_world.Rank]);
            int offset = 0;
            for (int i = 0; i < _atoms.Count; i++)
            {
                if (Owners[i] != _world.Rank || targets[i] == 0)
                    continue;
                var atom = _atoms[i].Atom;
                var options = _trainer.Options;
                results[i] = options.Rule switch
                {
                    UpdateRule.Normalize => atom.NormalizeWeight(direction[i], targets[i], state, i),
                    UpdateRule.Dualize => atom.DualizeWeight(direction[i], targets[i], options.Orthogonalizer),
                    UpdateRule.Manifold => atom.ManifoldWeight(
                        direction[i],
                        _trainer.Weights[i],
                        targets[i],
                        options.Manifold ?? new(),
                        _trainer.ManifoldStats
                    ),
                    var rule => throw new InvalidOperationException($"ShardedUpdate: no update for rule {rule}."),
                };
                results[i]!.CopyTo<float>(mine[offset..]);
                offset += direction[i].Size;
                if (VectorSize(i) == 0)
                    continue;
                state.Vectors[i]!.CopyTo<float>(mine[offset..]);
                offset += VectorSize(i);
            }
            ComputeTime += clock.Elapsed;

            clock.Restart();
            var all = Reuse(ref _all, counts.Sum());
            _world.AllGather(mine, all, counts);
            GatherTime += clock.Elapsed;
            GatheredFloats = all.Length;

            offset = 0;
            for (int r = 0; r < _world.Size; r++)
            for (int i = 0; i < _atoms.Count; i++)
            {
                if (Owners[i] != r || targets[i] == 0)
                    continue;
                var d = direction[i];
                if (r != _world.Rank)
                    results[i] = Tensor.FromArray<float>(all.Slice(offset, d.Size), d.Shape, d.Device);
                offset += d.Size;
                if (VectorSize(i) == 0)
                    continue;
                var v = state.Vectors[i]!;
                if (r != _world.Rank)
                    state.Set(i, Tensor.FromArray<float>(all.Slice(offset, v.Size), v.Shape, v.Device));
                offset += v.Size;
            }
            for (int i = 0; i < _atoms.Count; i++)
                results[i] ??= Ops.ZerosLike(direction[i]);
            return new Weights(results!);
        }
        catch
        {
            foreach (var t in results)
                t?.Dispose();
            throw;
        }
    }
}
