using System.Collections;

namespace Modula.Tensors;

/// <summary>
/// An immutable list of dimension sizes, outermost first (row-major order).
/// A rank-0 shape <c>[]</c> describes a scalar with one element.
/// </summary>
public readonly struct Shape : IEquatable<Shape>, IReadOnlyList<int>
{
    private readonly int[]? _dims;

    /// <summary>Creates a shape from dimension sizes; every size must be ≥ 0.</summary>
    public Shape(params ReadOnlySpan<int> dims)
    {
        foreach (var d in dims)
            if (d < 0)
                throw new ArgumentException($"Shape {Format(dims)} has a negative dimension.");
        _dims = dims.ToArray();
        long n = 1;
        foreach (var d in dims)
        {
            n *= d;
            if (n > int.MaxValue)
                throw new ArgumentException($"Shape {Format(dims)} has more than 2^31-1 elements.");
        }
    }

    /// <summary>The scalar shape <c>[]</c>.</summary>
    public static Shape Scalar => new([]);

    /// <summary>Number of dimensions.</summary>
    public int Rank => _dims?.Length ?? 0;

    /// <summary>Number of elements (product of the dimensions; 1 for a scalar).</summary>
    public int Size
    {
        get
        {
            int n = 1;
            foreach (var d in Dims)
                n *= d;
            return n;
        }
    }

    /// <summary>The dimensions as a span.</summary>
    public ReadOnlySpan<int> Dims => _dims ?? [];

    /// <summary>Size of dimension <paramref name="axis"/>; negative axes count from the end.</summary>
    public int this[int axis] => Dims[NormalizeAxis(axis, Rank)];

    int IReadOnlyCollection<int>.Count => Rank;

    /// <summary>Row-major (C-order) strides for this shape.</summary>
    public int[] ContiguousStrides()
    {
        var strides = new int[Rank];
        int s = 1;
        for (int i = Rank - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Dims[i];
        }
        return strides;
    }

    /// <summary>Maps a possibly negative axis into [0, rank) or throws naming the rank.</summary>
    public static int NormalizeAxis(int axis, int rank) =>
        InRange(axis, rank)
        ?? throw new ArgumentOutOfRangeException(nameof(axis), $"Axis {axis} is out of range for rank {rank}.");

    /// <summary>Maps a possibly negative axis of a tensor shaped <paramref name="shape"/> into [0, rank) or throws
    /// naming <paramref name="op"/>, the axis and the shape.</summary>
    public static int NormalizeAxis(int axis, Shape shape, string op) =>
        InRange(axis, shape.Rank)
        ?? throw new ArgumentOutOfRangeException(
            nameof(axis),
            $"{op}: axis {axis} is out of range for shape {shape} (rank {shape.Rank})."
        );

    private static int? InRange(int axis, int rank)
    {
        int a = axis < 0 ? axis + rank : axis;
        return a < 0 || a >= rank ? null : a;
    }

    /// <summary>NumPy broadcast of two shapes; throws naming <paramref name="op"/> and both shapes when they cannot
    /// meet.</summary>
    public static Shape Broadcast(Shape a, Shape b, string op)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        var dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Rank ? 1 : a.Dims[i - (rank - a.Rank)];
            int db = i < rank - b.Rank ? 1 : b.Dims[i - (rank - b.Rank)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException(
                    $"{op}: shapes {a} and {b} cannot be broadcast together (dimension {i}: {da} vs {db})."
                );
            dims[i] = da == 1 ? db : da;
        }
        return new Shape(dims);
    }

    /// <summary>Formats dimensions like <c>[2, 3]</c>.</summary>
    public static string Format(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";

    /// <inheritdoc/>
    public override string ToString() => Format(Dims);

    /// <inheritdoc/>
    public bool Equals(Shape other) => Dims.SequenceEqual(other.Dims);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in Dims)
            h.Add(d);
        return h.ToHashCode();
    }

    /// <summary>Shape equality.</summary>
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);

    /// <summary>Shape inequality.</summary>
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);

    /// <summary>Converts an array of dimensions to a shape.</summary>
    public static implicit operator Shape(int[] dims) => new(dims);

    /// <inheritdoc/>
    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)(_dims ?? [])).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
