using Modula.Modules.Linalg;
using Modula.Tensors;

namespace Modula.Modules;

public abstract partial class MatrixAtom
{
    /// <summary>
    /// Dualizes the gradients of every group of two or more matrix atoms whose matrices have the
    /// same shape up to transposition, dtype and device with one batched Newton–Schulz run: the
    /// atoms' slices are stacked, in their tall orientation (a wide 128×512 matrix joins the tall
    /// 512×128 ones as its transpose, as Newton–Schulz would orient it anyway), into one
    /// [Σ S, long, short] tensor, so each iteration issues three batched products
    /// instead of three per atom (fewer launches, and small products keep every thread busy, one
    /// matrix per thread). Each matrix is still orthogonalized on its own, so the result equals
    /// <see cref="DualizeWeight"/> atom by atom. Returns, per atom, its dualized update, or null
    /// for atoms left to the caller (other atoms, target 0, a subclass with its own
    /// <see cref="DualizeWeight"/>, or a shape no other atom shares).
    /// </summary>
    internal static Tensor?[] DualizeInGroups(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Weights gradient,
        IReadOnlyList<double> targets,
        Orthogonalizer method
    )
    {
        var results = new Tensor?[atoms.Count];
        var groups = Enumerable
            .Range(0, atoms.Count)
            .Where(i => targets[i] != 0 && atoms[i].Atom is MatrixAtom m && m.UsesSharedDualize)
            .GroupBy(i => (Tall((MatrixAtom)atoms[i].Atom), gradient[i].DType, gradient[i].Device))
            .Where(g => g.Count() > 1);
        try
        {
            foreach (var group in groups)
            {
                var members = group.ToArray();
                var slices = new List<Tensor>(members.Length);
                try
                {
                    foreach (int i in members)
                    {
                        var atom = (MatrixAtom)atoms[i].Atom;
                        var own = atom.ToSlices(gradient[i]);
                        if (!atom.IsWide)
                        {
                            slices.Add(own);
                            continue;
                        }
                        using (own)
                            slices.Add(own.Transpose());
                    }
                    using var stacked = Ops.Concat(slices, 0);
                    using var orthogonal = Orthogonalize.Apply(stacked, method);
                    int offset = 0;
                    foreach (int i in members)
                    {
                        var atom = (MatrixAtom)atoms[i].Atom;
                        using var own = orthogonal.Slice(0, offset, atom.Slices);
                        using var wide = atom.IsWide ? own.Transpose() : null;
                        using var oriented = wide is null ? null : Ops.Contiguous(wide);
                        using var scaled = Ops.Mul(oriented ?? own, targets[i]);
                        results[i] = atom.FromSlices(scaled);
                        offset += atom.Slices;
                    }
                }
                finally
                {
                    foreach (var s in slices)
                        s.Dispose();
                }
            }
        }
        catch
        {
            foreach (var r in results)
                r?.Dispose();
            throw;
        }
        return results;
    }

    /// <summary>
    /// Normalizes every group of two or more single-matrix atoms (Linear) with the same shape, dtype and device with
    /// one batched power-iteration step, writing each result into its tensor of <paramref name="output"/> (packed, so
    /// a group of same-shaped tensors is one view; see <see cref="Weights.Pack"/>). Each matrix keeps its own vector
    /// and target, so the results equal <see cref="NormalizeWeight"/> atom by atom; the targets of all groups are
    /// uploaded at once. Returns which atoms were done: the caller does the rest (target 0, stacks of matrices, a
    /// subclass with its own <see cref="NormalizeWeight"/>, a shape no other atom shares).
    /// </summary>
    internal static bool[] NormalizeInGroups(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Weights update,
        IReadOnlyList<double> targets,
        NormalizeState state,
        Weights output
    )
    {
        var done = new bool[atoms.Count];
        var shared = Enumerable
            .Range(0, atoms.Count)
            .Where(i => targets[i] != 0 && atoms[i].Atom is MatrixAtom m && m.UsesSharedNormalize)
            .ToArray();
        // Missing vectors are drawn in atom order, as the atom-by-atom path draws them, so the stream is the same.
        foreach (int i in shared)
            ((MatrixAtom)atoms[i].Atom).PowerVector(state, i, update[i]);
        var groups = shared
            .Where(i => ((MatrixAtom)atoms[i].Atom).Slices == 1)
            .GroupBy(i => (update[i].Shape, update[i].DType, update[i].Device))
            .Select(g => g.ToArray())
            .Where(members => members.Length > 1)
            .Select(members => (Members: members, Into: output.Group(members)))
            .Where(g => g.Into is not null)
            .ToList();
        if (groups.Count == 0)
            return done;
        var uploads = new Dictionary<(DType, Device), (Tensor Values, Dictionary<int, int> At)>();
        try
        {
            foreach (
                var key in groups.Select(g => (update[g.Members[0]].DType, update[g.Members[0]].Device)).Distinct()
            )
            {
                var members = groups.Where(g => (update[g.Members[0]].DType, update[g.Members[0]].Device) == key);
                var order = members.SelectMany(g => g.Members).ToArray();
                var values = order.Select(i => targets[i]).ToArray();
                var at = order.Select((atom, position) => (atom, position)).ToDictionary(p => p.atom, p => p.position);
                uploads[key] = (HostLinalg.Upload(values, new Shape(values.Length, 1, 1), key.DType, key.Device), at);
            }
            foreach (var (members, into) in groups)
                using (into)
                {
                    var first = update[members[0]];
                    var (values, at) = uploads[(first.DType, first.Device)];
                    using var groupTargets = values.Slice(0, at[members[0]], members.Length);
                    NormalizeGroup(atoms, update, state, members, groupTargets, into!);
                    foreach (int i in members)
                        done[i] = true;
                }
        }
        finally
        {
            foreach (var (values, _) in uploads.Values)
                values.Dispose();
        }
        return done;
    }

    /// <summary>One batched power-iteration step for <paramref name="members"/> (same-shaped single
    /// matrices).</summary>
    private static void NormalizeGroup(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Weights update,
        NormalizeState state,
        int[] members,
        Tensor groupTargets,
        Tensor into
    )
    {
        var slices = members.Select(i => ((MatrixAtom)atoms[i].Atom).ToSlices(update[i])).ToArray();
        try
        {
            // Views when the update is packed and the vectors came from the previous batched step: no copies.
            using var w = Ops.ConcatOrView(slices); // [B, out, in]
            using var u = Ops.ConcatOrView(members.Select(i => state.Vectors[i]!).ToArray()); // [B, in, 1]
            var (length, next) = PowerStep(w, u);
            using (length)
            using (next)
            {
                Norms.ScaleSafely(w, length, groupTargets, into);
                for (int k = 0; k < members.Length; k++)
                    state.Set(members[k], next.Slice(0, k, 1));
            }
        }
        finally
        {
            foreach (var s in slices)
                s.Dispose();
        }
    }

    /// <summary>True unless a subclass replaced <see cref="NormalizeWeight"/> (then it is called on its own).</summary>
    private bool UsesSharedNormalize =>
        GetType().GetMethod(nameof(NormalizeWeight))?.DeclaringType == typeof(MatrixAtom);

    /// <summary>More columns than rows: stacked as its transpose.</summary>
    private bool IsWide => FanIn > FanOut;

    /// <summary>The matrix shape in its tall orientation (rows ≥ columns).</summary>
    private static (int Rows, int Columns) Tall(MatrixAtom atom) =>
        (Math.Max(atom.FanOut, atom.FanIn), Math.Min(atom.FanOut, atom.FanIn));

    /// <summary>True unless a subclass replaced <see cref="DualizeWeight"/> (then it is called on its own).</summary>
    private bool UsesSharedDualize => GetType().GetMethod(nameof(DualizeWeight))?.DeclaringType == typeof(MatrixAtom);
}
