using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// The mean of a row for centering it (<see cref="CpuBackend.CenterRows"/>, the centered RMS normalization and its
/// gradient), so that a row of one repeated value has that value as its mean and centers to zeros at every vector
/// width: a float32 row is summed in float64, a float64 row's mean m is corrected by the mean of its deviations,
/// m + Σ(x − m)/n.
/// </summary>
/// <remarks>
/// A row of one repeated value v sums to n·v in float32 only up to rounding, which depends on how the vector width
/// splits the sum; centered with that mean, such a row kept a residue of a few units in the last place of v, which the
/// centered normalization then scaled up to ±1 or left at zero (NaN) depending on the row's length, v and the width.
/// In float64 the n floats sum exactly (their sum needs at most 24 + log₂ n bits), and the mean rounds back to v. A
/// float64 row gets the correction instead: its deviations v − m are one multiple of v's unit in the last place, they
/// sum without rounding, and m + (v − m) is v, wherever the sum is finite (a row holding ±∞ or NaN, or summing past
/// float64's range, keeps the sum's mean, and centers as x − mean(x) does in IEEE arithmetic). On long rows either way
/// also takes the sum's rounding, which grows with n, out of the mean. The float32 path costs one pass, as the plain
/// sum did, at half the lanes; the float64 path one more.
/// </remarks>
internal static class RowMean
{
    /// <summary>The mean of <paramref name="row"/> (not empty).</summary>
    public static T Of<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            return T.CreateTruncating(WidenedSum.Of(MemoryMarshal.Cast<T, float>(row)) / row.Length);
        var n = T.CreateTruncating(row.Length);
        var first = TensorPrimitives.Sum(row) / n;
        // A row holding ±∞ or NaN, or whose sum overflows, keeps the sum's mean: its deviations would be NaN.
        return T.IsFinite(first) ? first + SumOfDeviations(row, first) / n : first;
    }

    // Σ(x − m) in two chains of vectors.
    private static T SumOfDeviations<T>(ReadOnlySpan<T> row, T mean)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector<T>.Count,
            i = 0;
        ref T first = ref MemoryMarshal.GetReference(row);
        var m = Vector.Create(mean);
        Vector<T> s0 = Vector<T>.Zero,
            s1 = Vector<T>.Zero;
        for (; i <= row.Length - 2 * lanes; i += 2 * lanes)
        {
            s0 += Vector.LoadUnsafe(ref first, (nuint)i) - m;
            s1 += Vector.LoadUnsafe(ref first, (nuint)(i + lanes)) - m;
        }
        T total = Vector.Sum(s0 + s1);
        for (; i < row.Length; i++)
            total += row[i] - mean;
        return total;
    }
}
