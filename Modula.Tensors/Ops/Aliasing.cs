namespace Modula.Tensors;

/// <summary>
/// Whether an op's output can change one of its inputs before the op has read it: the two are views of one storage
/// whose elements interleave or shift against each other (a transpose written into its own base, a slice shifted by
/// one row, a product written over a factor). Ops read such an input from a copy, so the result is the one the
/// caller would get with separate tensors.
/// </summary>
internal static class Aliasing
{
    /// <summary>
    /// A contiguous copy of <paramref name="input"/> when writing <paramref name="output"/> could change it before it
    /// is read, else null (read the input itself). An <paramref name="elementwise"/> op reads each element before it
    /// writes the element of the same index, so an input laid out exactly like the output (an op in place) needs no
    /// copy; any other overlap of their storage ranges does. The caller disposes the copy.
    /// </summary>
    public static Tensor? CopyIfOverwritten(Tensor input, Tensor output, bool elementwise) =>
        !Overlap(input, output) || (elementwise && SameLayout(input, output)) ? null : Ops.Contiguous(input);

    /// <summary>True when the two views share a storage and the ranges of storage slots they span intersect (a
    /// conservative test: views that interleave without sharing a slot count as overlapping).</summary>
    public static bool Overlap(Tensor a, Tensor b)
    {
        if (a.Size == 0 || b.Size == 0 || !ReferenceEquals(a.Storage, b.Storage))
            return false;
        var (aLow, aHigh) = Range(a);
        var (bLow, bHigh) = Range(b);
        return aLow <= bHigh && bLow <= aHigh;
    }

    // The first and last storage slots a non-empty view reaches.
    private static (long Low, long High) Range(Tensor t)
    {
        long low = t.Offset,
            high = t.Offset;
        for (int i = 0; i < t.Rank; i++)
        {
            long reach = (long)(t.Shape[i] - 1) * t.Strides[i];
            if (reach > 0)
                high += reach;
            else
                low += reach;
        }
        return (low, high);
    }

    // Element i of one is the storage slot of element i of the other.
    private static bool SameLayout(Tensor a, Tensor b)
    {
        if (a.Offset != b.Offset || a.Shape != b.Shape)
            return false;
        for (int i = 0; i < a.Rank; i++)
            if (a.Shape[i] > 1 && a.Strides[i] != b.Strides[i])
                return false;
        return true;
    }
}
