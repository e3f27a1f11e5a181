using Modula.Tensors;

namespace Modula.Modules;

/// <summary>
/// Packed storage: every tensor of the vector is a view into one contiguous buffer, <see cref="Flat"/>.
/// Elementwise algebra between two vectors packed the same way then runs as one operation over the
/// whole buffer instead of one per tensor, which is what makes an optimizer step a handful of
/// kernel launches on an accelerator rather than a few per atom. Same-shaped tensors are placed
/// next to each other, so a group of them is also one batched view (<see cref="Group"/>).
/// Packing changes where values live, never what they are: every operation has an unpacked path
/// and both give the same numbers.
/// </summary>
public sealed partial class Weights
{
    private Tensor? _flat;
    private PackedLayout? _layout;

    /// <summary>The one contiguous buffer holding every tensor when <see cref="IsPacked"/>, else null.</summary>
    public Tensor? Flat => _flat;

    /// <summary>True when every tensor is a view into <see cref="Flat"/>.</summary>
    public bool IsPacked => _flat is not null;

    /// <summary>
    /// Moves the tensors into one contiguous buffer, same-shaped tensors adjacent (first appearance
    /// decides the order of the groups), and replaces each tensor by its view. The values are
    /// unchanged. A vector is left as it is when it is already packed or empty, when its tensors differ
    /// in dtype or device, or when any tensor shares its storage with another (a view from
    /// <see cref="ToVariables"/>, or a slice of a larger tensor) or stands in two places: moving it would
    /// leave that view reading the old values.
    /// </summary>
    public void Pack()
    {
        if (_flat is not null || Count == 0)
            return;
        var first = _tensors[0];
        if (_tensors.Any(t => t.DType != first.DType || t.Device != first.Device || t.Storage.IsShared))
            return;
        // One tensor given twice would be moved, disposed, then read again for its second place.
        if (_tensors.Distinct(ReferenceEqualityComparer.Instance).Count() != Count)
            return;
        var layout = PackedLayout.For(_tensors.Select(t => t.Shape).ToArray());
        var flat = TensorScope.Escape(Tensor.Empty(new Shape(layout.Total), first.DType, first.Device));
        for (int i = 0; i < Count; i++)
        {
            var view = layout.View(flat, i);
            Ops.CopyInto(_tensors[i], view);
            _tensors[i].Dispose();
            _tensors[i] = view;
        }
        (_flat, _layout) = (flat, layout);
    }

    /// <summary>
    /// The tensors <paramref name="members"/> of a packed vector as one [count, ...shape] view, when
    /// they share a shape and lie back to back in <see cref="Flat"/> in the order given; else null.
    /// </summary>
    public Tensor? Group(IReadOnlyList<int> members)
    {
        foreach (int m in members)
            if ((uint)m >= (uint)Count)
                throw new ArgumentOutOfRangeException(
                    nameof(members),
                    $"Weights.Group: member {m} is not one of the {Count} tensors."
                );
        if (_flat is null || _layout is null || members.Count == 0)
            return null;
        var shape = _tensors[members[0]].Shape;
        int start = _layout.Offsets[members[0]];
        for (int k = 0; k < members.Count; k++)
            if (_tensors[members[k]].Shape != shape || _layout.Offsets[members[k]] != start + k * shape.Size)
                return null;
        using var span = _flat.Slice(0, start, members.Count * shape.Size);
        return span.View([members.Count, .. shape.Dims]);
    }

    /// <summary>True when this vector and <paramref name="other"/> are packed with the same placement, so
    /// elementwise algebra between them is one operation over <see cref="Flat"/>.</summary>
    public bool IsPackedLike(Weights other) => SharesLayout(other);

    /// <summary>A packed vector of uninitialized values with this vector's layout (this vector must be
    /// packed).</summary>
    internal Weights EmptyLike() =>
        Repacked(Tensor.EmptyLike(_flat ?? throw new InvalidOperationException("Weights.EmptyLike: not packed.")));

    /// <summary>
    /// this[i] ← factors[i]·this[i], skipping factors of exactly 1. Packed: the factors are uploaded once and each
    /// run of adjacent same-shaped tensors is scaled by one broadcast multiply; else one pass per tensor.
    /// </summary>
    public void ScaleEach(IReadOnlyList<double> factors)
    {
        if (factors.Count != Count)
            throw new ArgumentException($"Weights.ScaleEach: {factors.Count} factors for {Count} tensors.");
        if (_flat is null || _layout is null)
        {
            for (int i = 0; i < Count; i++)
                if (factors[i] != 1)
                    Ops.Map(_tensors[i], new Tensors.Primitives.Affine(factors[i], 0), into: _tensors[i]);
            return;
        }
        var runs = _layout.Runs().Where(run => run.Any(i => factors[i] != 1)).ToArray();
        if (runs.Length == 0)
            return;
        var order = runs.SelectMany(run => run).ToArray();
        var values = order.Select(i => factors[i]).ToArray();
        using var uploaded = UploadFactors(values);
        int at = 0;
        foreach (var run in runs)
        {
            var shape = _layout.Shapes[run[0]];
            using var group = Group(run)!;
            using var slice = uploaded.Slice(0, at, run.Length);
            using var factor = slice.View([run.Length, .. Enumerable.Repeat(1, shape.Rank)]);
            Ops.Zip(group, factor, new Tensors.Primitives.Mul(), into: group);
            at += run.Length;
        }
    }

    private Tensor UploadFactors(double[] values) =>
        _flat!.DType == DType.Float64
            ? Tensor.FromArray<double>(values, new Shape(values.Length), _flat.Device)
            : Tensor.FromArray<float>(values.Select(v => (float)v).ToArray(), new Shape(values.Length), _flat.Device);

    /// <summary>A new packed vector over <paramref name="flat"/> (owned) with this vector's layout.</summary>
    private Weights Repacked(Tensor flat)
    {
        var layout = _layout!;
        TensorScope.Escape(flat);
        return new Weights(Enumerable.Range(0, Count).Select(i => layout.View(flat, i)))
        {
            _flat = flat,
            _layout = layout,
        };
    }

    /// <summary>True when both vectors are packed with the same placement, so one operation on the buffers
    /// serves.</summary>
    private bool SharesLayout(Weights other) =>
        _flat is not null
        && other._flat is not null
        && _flat.DType == other._flat.DType
        && _flat.Device == other._flat.Device
        && _layout!.SamePlacement(other._layout!);

    /// <summary>Where each tensor of a packed vector lies in its buffer: an offset and a shape per tensor.</summary>
    private sealed class PackedLayout(int[] offsets, Shape[] shapes, int total)
    {
        public int[] Offsets { get; } = offsets;

        public int Total { get; } = total;

        public Shape[] Shapes { get; } = shapes;

        /// <summary>Same-shaped tensors adjacent, groups in order of first appearance, tensors in order within a
        /// group.</summary>
        public static PackedLayout For(Shape[] shapes)
        {
            var offsets = new int[shapes.Length];
            int total = 0;
            foreach (var group in Enumerable.Range(0, shapes.Length).GroupBy(i => shapes[i]))
            foreach (int i in group)
            {
                offsets[i] = total;
                total = checked(total + shapes[i].Size);
            }
            return new PackedLayout(offsets, shapes, total);
        }

        /// <summary>Tensor <paramref name="index"/> as a view of <paramref name="flat"/>.</summary>
        public Tensor View(Tensor flat, int index)
        {
            using var span = flat.Slice(0, Offsets[index], Shapes[index].Size);
            return TensorScope.Escape(span.View(Shapes[index].Dims.ToArray()));
        }

        /// <summary>The tensors in buffer order, split into runs of adjacent same-shaped tensors.</summary>
        public IEnumerable<int[]> Runs()
        {
            var byOffset = Enumerable.Range(0, Offsets.Length).OrderBy(i => Offsets[i]).ToArray();
            for (int start = 0; start < byOffset.Length; )
            {
                int end = start + 1;
                while (end < byOffset.Length && Shapes[byOffset[end]] == Shapes[byOffset[start]])
                    end++;
                yield return byOffset[start..end];
                start = end;
            }
        }

        public bool SamePlacement(PackedLayout other) =>
            ReferenceEquals(this, other)
            || (
                Total == other.Total
                && Offsets.AsSpan().SequenceEqual(other.Offsets)
                && Shapes.SequenceEqual(other.Shapes)
            );
    }
}
