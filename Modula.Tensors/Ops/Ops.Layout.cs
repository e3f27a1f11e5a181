using Modula.Tensors.Backends;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>A dense row-major copy of any view (always a new tensor).</summary>
    public static Tensor Contiguous(Tensor x)
    {
        Check.Alive(nameof(Contiguous), x);
        Check.Supported(nameof(Contiguous), x);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        if (y.Size > 0)
            using (x.Device.Time(nameof(IBackend.Copy)))
                x.Device.Backend.Copy(x, y);
        return y;
    }

    /// <summary>Copies <paramref name="source"/> into the view <paramref name="destination"/> (same shape; source may
    /// broadcast).</summary>
    public static void CopyInto(Tensor source, Tensor destination)
    {
        Check.Compatible(nameof(CopyInto), source, destination);
        Check.NotBroadcast(nameof(CopyInto), destination);
        if (
            source.Shape != destination.Shape
            && Shape.Broadcast(source.Shape, destination.Shape, nameof(CopyInto)) != destination.Shape
        )
            throw new ArgumentException(
                $"CopyInto: source {source.Shape} does not broadcast to destination {destination.Shape}."
            );
        using var expanded = source.Shape == destination.Shape ? null : source.Expand(destination.Shape);
        if (destination.Size == 0)
            return;
        // A transpose copied into its own base, say, would overwrite elements before they are read. The source is
        // copied before broadcasting, so that a row read from the destination costs a row.
        using var separate = Aliasing.CopyIfOverwritten(source, destination, elementwise: true);
        using var spread = separate is null || expanded is null ? null : separate.Expand(destination.Shape);
        using (source.Device.Time(nameof(IBackend.Copy)))
            source.Device.Backend.Copy(spread ?? separate ?? expanded ?? source, destination);
    }

    /// <summary>Joins tensors along <paramref name="axis"/>; all other dimensions must match.</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> tensors, int axis) => Join(tensors, axis, nameof(Concat));

    // Concat, its errors naming op: Concat, or ConcatOrView where that copies.
    private static Tensor Join(IReadOnlyList<Tensor> tensors, int axis, string op)
    {
        if (tensors.Count == 0)
            throw new ArgumentException($"{op}: no tensors given.");
        var first = tensors[0];
        Check.Alive(op, first);
        int a = Shape.NormalizeAxis(axis, first.Shape, op);
        int total = 0;
        foreach (var t in tensors)
        {
            Check.Compatible(op, first, t);
            bool match = t.Rank == first.Rank;
            for (int i = 0; match && i < t.Rank; i++)
                match = i == a || t.Shape[i] == first.Shape[i];
            if (!match)
                throw new ArgumentException(
                    $"{op}: shapes {string.Join(", ", tensors.Select(x => x.Shape))} differ outside axis {a}."
                );
            total += t.Shape[a];
        }
        var dims = first.Shape.Dims.ToArray();
        dims[a] = total;
        var y = Tensor.Empty(new Shape(dims), first.DType, first.Device);
        int at = 0;
        foreach (var t in tensors)
        {
            using var slot = y.Slice(a, at, t.Shape[a]);
            CopyInto(t, slot);
            at += t.Shape[a];
        }
        return y;
    }

    /// <summary>
    /// <see cref="Concat"/> along axis 0, but a view (no copy, no launch) when the tensors are contiguous and already
    /// lie back to back in one storage in the order given — as the slices of an earlier result do.
    /// </summary>
    public static Tensor ConcatOrView(IReadOnlyList<Tensor> tensors)
    {
        if (tensors.Count == 0)
            throw new ArgumentException("ConcatOrView: no tensors given.");
        var first = tensors[0];
        Check.Alive(nameof(ConcatOrView), first);
        bool adjacent = first.Rank > 0 && first.IsContiguous;
        int next = first.Offset;
        foreach (var t in tensors)
        {
            Check.Alive(nameof(ConcatOrView), t);
            // && rather than &=: a rank-0 tensor must not reach the shape comparison.
            adjacent =
                adjacent
                && t.IsContiguous
                && ReferenceEquals(t.Storage, first.Storage)
                && t.Offset == next
                && t.Rank == first.Rank
                && t.Shape.Dims[1..].SequenceEqual(first.Shape.Dims[1..]);
            next += t.Size;
        }
        if (!adjacent)
            return Join(tensors, 0, nameof(ConcatOrView));
        var dims = first.Shape.Dims.ToArray();
        dims[0] = tensors.Sum(t => t.Shape[0]);
        var shape = new Shape(dims);
        return new Tensor(first.Storage, shape, shape.ContiguousStrides(), first.Offset, retain: true);
    }

    /// <summary>Splits into views of the given sizes along <paramref name="axis"/> (no copy).</summary>
    public static Tensor[] Split(Tensor x, int[] sizes, int axis)
    {
        Check.Alive(nameof(Split), x);
        int a = Shape.NormalizeAxis(axis, x.Shape, nameof(Split));
        if (sizes.Any(s => s < 0) || sizes.Sum(s => (long)s) != x.Shape[a])
            throw new ArgumentException(
                $"Split: sizes [{string.Join(", ", sizes)}] do not add up to dimension {a} of {x.Shape}."
            );
        var parts = new Tensor[sizes.Length];
        int at = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = x.Slice(a, at, sizes[i]);
            at += sizes[i];
        }
        return parts;
    }
}
