using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// The sums that normalize a row (softmax's and cross-entropy's Σ exp, the RMS normalization's Σ x², their
/// gradients' dot products), in float64 lanes for a float32 row of <see cref="LongRow"/> elements or more.
/// </summary>
/// <remarks>
/// A float32 sum in vector lanes adds about n / lanes terms into each lane, and its rounding grows with that count,
/// the more at 128 bits, whose four lanes each take four times the terms of a 512-bit sum's sixteen. Over rows of 10⁶
/// elements a fuzzing run found softmax and the RMS normalization up to 7·10⁻⁴ (relative) from float64, and
/// LongRowTests' rows came out up to 3·10⁻⁵ off at SSE4.2 (4·10⁻⁶ at 512 bits). Summed in float64 they land within
/// 2·10⁻⁷ at every width. Rows shorter than <see cref="LongRow"/> (the GPT's, of 64 to 512 elements) keep the float32
/// lanes, whose rounding there stays near 10⁻⁷, at half the cost.
/// </remarks>
internal static class RowSums
{
    /// <summary>The length from which float32 rows are summed in float64.</summary>
    public const int LongRow = 2048;

    /// <summary>Σ x.</summary>
    public static T Sum<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Widens<T>(x.Length) ? T.CreateTruncating(WidenedSum.Of(Floats(x))) : TensorPrimitives.Sum(x);

    /// <summary>Σ x².</summary>
    public static T SumOfSquares<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Widens<T>(x.Length) ? T.CreateTruncating(WidenedSum.OfSquares(Floats(x))) : TensorPrimitives.SumOfSquares(x);

    /// <summary>Σ a·b.</summary>
    public static T Dot<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Widens<T>(a.Length) ? T.CreateTruncating(WidenedSum.Dot(Floats(a), Floats(b))) : TensorPrimitives.Dot(a, b);

    /// <summary>True when a row of <paramref name="length"/> elements of T sums in float64 here.</summary>
    public static bool Widens<T>(int length) => typeof(T) == typeof(float) && length >= LongRow;

    private static ReadOnlySpan<float> Floats<T>(ReadOnlySpan<T> x)
        where T : unmanaged => MemoryMarshal.Cast<T, float>(x);
}
