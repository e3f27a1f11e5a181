using Modula.Modules.Linalg;
using Modula.Tensors;

namespace Modula.Modules;

public abstract partial class MatrixAtom
{
    /// <summary>
    /// Dualizes the gradients of every group of two or more matrix atoms whose matrices have the
    /// same shape up to transposition, dtype and device with batched Newton–Schulz runs, so each
    /// iteration issues a few batched products instead of a few per atom (fewer launches, and small
    /// products keep every thread busy, one matrix per thread). Shapes that run on their Gram matrix
    /// (<see cref="OddPolynomial.RunsOnGram"/>) are two batches, the tall members and the wide ones,
    /// each read and written as it lies, whose Gram matrices are iterated as one batch; other shapes
    /// are one [Σ S, long, short] batch, a wide member joining the tall ones as its transpose (as
    /// Newton–Schulz would orient it anyway).
    /// Each matrix is still orthogonalized on its own, so the result equals
    /// <see cref="DualizeWeight"/> atom by atom. Results, times each atom's target, are written into
    /// <paramref name="output"/>; when the gradient and output are packed (see <see cref="Weights.Pack"/>),
    /// a run of same-shaped atoms is read as one view and written by one pass, with the targets of all groups
    /// uploaded at once: the iteration's last product, which takes each matrix's target inside it (<see
    /// cref="Orthogonalize.ApplyEach"/>), where the run holds single matrices not transposed in, else one multiply.
    /// Returns which atoms were done: the caller does the rest (target 0, a
    /// subclass with its own <see cref="DualizeWeight"/>, a shape no other atom shares).
    /// </summary>
    internal static bool[] DualizeInGroups(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Weights gradient,
        IReadOnlyList<double> targets,
        Orthogonalizer method,
        Weights output
    )
    {
        var done = new bool[atoms.Count];
        var groups = Enumerable
            .Range(0, atoms.Count)
            .Where(i => targets[i] != 0 && atoms[i].Atom is MatrixAtom m && m.UsesSharedDualize)
            .GroupBy(i => (Tall((MatrixAtom)atoms[i].Atom), gradient[i].DType, gradient[i].Device))
            .Where(g => g.Count() > 1)
            .Select(g => g.ToArray())
            .ToArray();
        if (groups.Length == 0)
            return done;
        // Tall members first, then wide ones: each part is one view of a packed gradient, and one slice of the
        // uploaded targets.
        int[] TallOnes(int[] members) => members.Where(i => !((MatrixAtom)atoms[i].Atom).IsWide).ToArray();
        int[] WideOnes(int[] members) => members.Where(i => ((MatrixAtom)atoms[i].Atom).IsWide).ToArray();
        var order = groups.SelectMany(g => TallOnes(g).Concat(WideOnes(g))).ToArray();
        using var scalars = new GroupScalars(order, targets, gradient);
        foreach (var members in groups)
        {
            int[] tall = TallOnes(members),
                wide = WideOnes(members);
            var (rows, columns) = Tall((MatrixAtom)atoms[members[0]].Atom);
            if (OddPolynomial.RunsOnGram(rows, columns))
            {
                // The Gram form runs a wide matrix as it lies: tall and wide members are read and written in place,
                // rather than as one batch that transposes the wide ones in and out; their Gram matrices, all of one
                // size, are iterated as one batch.
                OrthogonalizeInPlace(atoms, gradient, tall, wide, method, scalars, output);
            }
            else
                OrthogonalizeStacked(atoms, gradient, tall, wide, method, scalars, output);
            foreach (int i in members)
                done[i] = true;
        }
        return done;
    }

    /// <summary>The tall members and the wide ones, each orthogonalized as they lie, their Gram iterations batched
    /// together (<see cref="Orthogonalize.ApplyEach"/>).</summary>
    private static void OrthogonalizeInPlace(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Weights gradient,
        int[] tall,
        int[] wide,
        Orthogonalizer method,
        GroupScalars scalars,
        Weights output
    )
    {
        var groups = new[] { tall, wide }.Where(members => members.Length > 0).ToArray();
        var owned = new List<Tensor?>();
        try
        {
            var stacks = new Tensor[groups.Length];
            var targets = new Tensor?[groups.Length];
            var into = new Tensor[groups.Length];
            var direct = new bool[groups.Length];
            for (int k = 0; k < groups.Length; k++)
            {
                owned.Add(stacks[k] = Stack(atoms, gradient, groups[k]));
                owned.Add(targets[k] = MatrixTargets(atoms, groups[k], scalars));
                var view = targets[k] is null ? null : GroupAs(output, groups[k], stacks[k]);
                direct[k] = view is not null;
                owned.Add(into[k] = view ?? Tensor.Empty(stacks[k].Shape, stacks[k].DType, stacks[k].Device));
            }
            Orthogonalize.ApplyEach(stacks, method, targets, into);
            for (int k = 0; k < groups.Length; k++)
                if (!direct[k])
                    WriteScaled(
                        atoms,
                        into[k],
                        groups[k],
                        scalars,
                        output,
                        transpose: false,
                        scaled: targets[k] is not null
                    );
        }
        finally
        {
            foreach (var t in owned)
                t?.Dispose();
        }
    }

    /// <summary>Tall and wide members in one batch, the wide ones transposed in and out.</summary>
    private static void OrthogonalizeStacked(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Weights gradient,
        int[] tall,
        int[] wide,
        Orthogonalizer method,
        GroupScalars scalars,
        Weights output
    )
    {
        using var tallPart = tall.Length > 0 ? Stack(atoms, gradient, tall) : null;
        using var wideStack = wide.Length > 0 ? Stack(atoms, gradient, wide) : null;
        using var widePart = wideStack?.Transpose();
        using var stacked =
            tallPart is null ? null
            : widePart is null ? null
            : Ops.Concat([tallPart, widePart], 0);
        var input = stacked ?? tallPart ?? widePart!;
        // Each matrix's target rides in the last product; one batch of tall members is then written in place.
        using var targets = MatrixTargets(atoms, [.. tall, .. wide], scalars);
        using var into = targets is not null && wide.Length == 0 ? GroupAs(output, tall, input) : null;
        if (into is not null)
        {
            Orthogonalize.ApplyEach([input], method, [targets], [into]);
            return;
        }
        using var orthogonal = Orthogonalize.Apply(input, method, steps: null, targets);
        bool scaled = targets is not null;
        int tallSlices = tall.Sum(i => ((MatrixAtom)atoms[i].Atom).Slices);
        using (var ofTall = orthogonal.Slice(0, 0, tallSlices))
            WriteScaled(atoms, ofTall, tall, scalars, output, transpose: false, scaled);
        using (var ofWide = orthogonal.Slice(0, tallSlices, orthogonal.Shape[0] - tallSlices))
            WriteScaled(atoms, ofWide, wide, scalars, output, transpose: true, scaled);
    }

    /// <summary>
    /// The members' tensors of a packed <paramref name="output"/> as one view shaped like <paramref name="like"/>
    /// ([count, out, in]), or null where they are not one run or lie otherwise. A 1×1 convolution's group is
    /// [count, out, in, 1, 1]: the same elements in the same order, viewed. Only size-1 axes may differ, so a
    /// weight that its slices reorder is written member by member instead.
    /// </summary>
    private static Tensor? GroupAs(Weights output, int[] members, Tensor like)
    {
        var group = output.Group(members);
        if (group is null || group.Shape == like.Shape)
            return group;
        using (group)
            return Squeezed(group.Shape).SequenceEqual(Squeezed(like.Shape))
                ? group.View(like.Shape.Dims.ToArray())
                : null;
    }

    // A shape without its axes of 1: a packed group's view and its slices hold the same elements in the same order
    // when these agree.
    private static int[] Squeezed(Shape shape) => [.. shape.Dims.ToArray().Where(d => d != 1)];

    /// <summary>The members' targets, one per matrix, as a view of the uploaded scalars ([count, 1, 1]) when every
    /// member is a single matrix and they were uploaded in this order; else null.</summary>
    private static Tensor? MatrixTargets(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        int[] members,
        GroupScalars scalars
    ) => members.All(i => ((MatrixAtom)atoms[i].Atom).Slices == 1) ? scalars.For(members) : null;

    /// <summary>The members' gradient slices stacked [Σ S, out, in]: a view when they lie back to back.</summary>
    private static Tensor Stack(IReadOnlyList<(string Path, Atom Atom)> atoms, Weights gradient, int[] members)
    {
        var slices = members.Select(i => ((MatrixAtom)atoms[i].Atom).ToSlices(gradient[i])).ToArray();
        try
        {
            return Ops.ConcatOrView(slices);
        }
        finally
        {
            foreach (var s in slices)
                s.Dispose();
        }
    }

    /// <summary>
    /// Writes target·slices (transposed back for wide atoms; the slices themselves when already <paramref
    /// name="scaled"/>) into the members' tensors of <paramref name="output"/>: one pass into the group's view when the
    /// output is packed and the members are single matrices lying back to back, else one pass per member.
    /// </summary>
    private static void WriteScaled(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Tensor slices,
        int[] members,
        GroupScalars scalars,
        Weights output,
        bool transpose,
        bool scaled
    )
    {
        if (members.Length == 0)
            return;
        using var oriented = transpose ? slices.Transpose() : null;
        var source = oriented ?? slices;
        using (
            var into = members.All(i => ((MatrixAtom)atoms[i].Atom).Slices == 1)
                ? GroupAs(output, members, source)
                : null
        )
        {
            if (into is not null && scaled)
            {
                Ops.CopyInto(source, into);
                return;
            }
            if (into is not null && scalars.For(members) is { } factors)
                using (factors)
                {
                    Ops.Zip(source, factors, new Tensors.Primitives.Mul(), into: into);
                    return;
                }
        }
        int offset = 0;
        foreach (int i in members)
        {
            var atom = (MatrixAtom)atoms[i].Atom;
            using var own = source.Slice(0, offset, atom.Slices);
            using var times = scaled ? null : Ops.Mul(own, scalars.Target(i));
            using var laid = atom.FromSlices(times ?? own);
            Ops.CopyInto(laid, output[i]);
            offset += atom.Slices;
        }
    }

    /// <summary>
    /// Per-atom scalars (targets) of the atoms in batched groups, uploaded once as a [n, 1, 1] tensor in the order
    /// given, so a run of members that appears in that order is one slice of it.
    /// </summary>
    private sealed class GroupScalars : IDisposable
    {
        private readonly Dictionary<int, int> _at = new();
        private readonly IReadOnlyList<double> _targets;
        private readonly Tensor? _values;

        public GroupScalars(int[] order, IReadOnlyList<double> targets, Weights like)
        {
            _targets = targets;
            for (int k = 0; k < order.Length; k++)
                _at[order[k]] = k;
            var first = like[order[0]];
            // One dtype and device for all, or no upload: each member then uses its scalar on its own.
            if (order.All(i => like[i].DType == first.DType && like[i].Device == first.Device))
                _values = HostLinalg.Upload(
                    order.Select(i => targets[i]).ToArray(),
                    new Shape(order.Length, 1, 1),
                    first.DType,
                    first.Device
                );
        }

        public double Target(int atom) => _targets[atom];

        /// <summary>The members' scalars as one [count, 1, 1] view, when they were uploaded in this order.</summary>
        public Tensor? For(int[] members)
        {
            if (_values is null)
                return null;
            int start = _at[members[0]];
            for (int k = 0; k < members.Length; k++)
                if (_at[members[k]] != start + k)
                    return null;
            return _values.Slice(0, start, members.Length);
        }

        public void Dispose() => _values?.Dispose();
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
        try
        {
            using var scalars = new GroupScalars(groups.SelectMany(g => g.Members).ToArray(), targets, update);
            foreach (var (members, into) in groups)
            {
                using var groupTargets = scalars.For(members);
                if (groupTargets is null)
                    continue; // mixed dtypes or devices: atom by atom
                if (!NormalizeGroup(atoms, update, state, members, groupTargets, into!))
                    continue; // a group the packed view cannot hold as its slices: atom by atom
                foreach (int i in members)
                    done[i] = true;
            }
        }
        finally
        {
            foreach (var (_, into) in groups)
                into?.Dispose();
        }
        return done;
    }

    /// <summary>One batched power-iteration step for <paramref name="members"/> (same-shaped single
    /// matrices); false, with nothing done, when <paramref name="into"/> is not their slices' [B, out, in] up to axes
    /// of 1 (a subclass whose slices reorder its weight).</summary>
    private static bool NormalizeGroup(
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
            // A packed group of 1×1 convolutions is [B, out, in, 1, 1]: written as the [B, out, in] of its slices.
            using var written = Squeezed(into.Shape).SequenceEqual(Squeezed(w.Shape))
                ? into.View(w.Shape.Dims.ToArray())
                : null;
            if (written is null)
                return false;
            using var u = Ops.ConcatOrView(members.Select(i => state.Vectors[i]!).ToArray()); // [B, in, 1]
            var (length, next) = PowerStep(w, u);
            using (length)
            using (next)
            {
                Norms.ScaleSafely(w, length, groupTargets, written);
                for (int k = 0; k < members.Length; k++)
                    state.Set(members[k], next.Slice(0, k, 1));
            }
            return true;
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
