using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tensors.Primitives;

/// <summary>Effectively computes <c>y = Σ x</c> over the reduced axes.</summary>
public readonly struct SumReduce : IReduceOp
{
    /// <inheritdoc/>
    public float Identity => 0f;

    /// <inheritdoc/>
    public float Combine(float a, float b) => a + b;

    /// <inheritdoc/>
    public T Reduce<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Sum(row);

    /// <inheritdoc/>
    public void Accumulate<T>(ReadOnlySpan<T> row, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Add(acc, row, acc);

    /// <inheritdoc/>
    public T IdentityOf<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => T.Zero;
}

/// <summary>Effectively computes <c>y = max x</c> over the reduced axes (−∞ for an empty reduction; NaN
/// propagates).</summary>
public readonly struct MaxReduce : IReduceOp
{
    /// <inheritdoc/>
    public float Identity => float.NegativeInfinity;

    /// <inheritdoc/>
    public float Combine(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : (a > b ? a : b);

    /// <inheritdoc/>
    public T Reduce<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T> => row.IsEmpty ? T.NegativeInfinity : TensorPrimitives.Max(row);

    /// <inheritdoc/>
    public void Accumulate<T>(ReadOnlySpan<T> row, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Max(acc, row, acc);

    /// <inheritdoc/>
    public T IdentityOf<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => T.NegativeInfinity;
}

/// <summary>
/// Effectively computes the ℓ2 norm <c>y = √Σ x²</c> over the reduced axes without losing
/// any element to overflow or underflow: float32 values near 1e-23 (a long-decayed moment)
/// would square to zero in float32, and values above 1e19 to infinity. A float32 row sums its
/// squares in float64, where neither happens; a float64 row is measured as s·√Σ(x/s)² with
/// s = max|x|. Partial norms combine as hypot(a, b).
/// </summary>
public readonly struct NormReduce : IReduceOp
{
    /// <inheritdoc/>
    public float Identity => 0f;

    /// <inheritdoc/>
    public float Combine(float a, float b)
    {
        a = MathF.Abs(a);
        b = MathF.Abs(b);
        // NaN first, then comparisons: CUDA lowers MathF.Max and Min to max.f32 and min.f32, which return the other
        // operand when one is NaN, so a NaN element would vanish from the norm there.
        if (float.IsNaN(a) || float.IsNaN(b))
            return float.NaN;
        float high = a > b ? a : b,
            low = a > b ? b : a;
        if (high == 0f || float.IsInfinity(high))
            return high + low; // 0 or ∞
        float ratio = low / high;
        return high * MathF.Sqrt(1f + ratio * ratio);
    }

    /// <inheritdoc/>
    public T Reduce<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (row.IsEmpty)
            return T.Zero;
        if (typeof(T) == typeof(float))
            return T.CreateTruncating(FloatNorm(MemoryMarshal.Cast<T, float>(row)));
        T largest = LargestMagnitude(row);
        if (largest == T.Zero || !T.IsFinite(largest))
            return largest; // 0, ∞ or NaN
        // s = 2^⌊log₂ max|x|⌋: a power of two, so x·(1/s) is exact (a multiply, not a divide) and every scaled
        // square is below 4. Near the bottom of the range 1/s would overflow; there s = max|x| and a divide.
        int exponent = T.ILogB(largest);
        bool power = exponent > MinPowerExponent<T>();
        T scale = power ? T.ScaleB(T.One, exponent) : largest;
        return scale * T.Sqrt(SumOfScaledSquares(row, scale, power));
    }

    // A float32 row needs no scaling: its squares, summed in float64, can neither overflow (3.4e38² = 1.2e77) nor
    // lose a subnormal (1.4e−45² = 2e−90), so one pass does what the scaled form below does in two. A NaN or an
    // infinity anywhere makes the sum NaN or +∞, as the norm should be.
    private static float FloatNorm(ReadOnlySpan<float> row) => (float)Math.Sqrt(WidenedSum.OfSquares(row));

    // max |x|, as T.Abs(TensorPrimitives.MaxMagnitude(row)) gives it, in one pass of native maxima of magnitudes: the
    // library's, which orders NaNs and signed zeros in every lane, took 0.68 µs on 4,096 floats against 0.27 for their
    // sum of squares, two thirds of the norm. Native maxima may drop a NaN, so x·0 + … also sums to NaN where the row
    // holds a NaN or an infinity, and such a row takes the library's maximum.
    private static T LargestMagnitude<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector<T>.Count,
            i = 0;
        ref T first = ref MemoryMarshal.GetReference(row);
        // Two chains of each, as a maximum or a sum waits on the one before it.
        Vector<T> largest0 = Vector<T>.Zero,
            largest1 = Vector<T>.Zero,
            special0 = Vector<T>.Zero,
            special1 = Vector<T>.Zero;
        for (; i <= row.Length - 2 * lanes; i += 2 * lanes)
        {
            var x0 = Vector.LoadUnsafe(ref first, (nuint)i);
            var x1 = Vector.LoadUnsafe(ref first, (nuint)(i + lanes));
            largest0 = Vector.MaxNative(largest0, Vector.Abs(x0));
            largest1 = Vector.MaxNative(largest1, Vector.Abs(x1));
            special0 += x0 * Vector<T>.Zero;
            special1 += x1 * Vector<T>.Zero;
        }
        var largest = Vector.MaxNative(largest0, largest1);
        T result = T.Zero,
            poison = Vector.Sum(special0 + special1);
        for (int lane = 0; lane < lanes; lane++)
            result = T.Max(result, largest[lane]);
        for (; i < row.Length; i++)
        {
            result = T.Max(result, T.Abs(row[i]));
            poison += row[i] * T.Zero;
        }
        return T.IsNaN(poison) ? T.Abs(TensorPrimitives.MaxMagnitude(row)) : result;
    }

    // Σ(x/s)² with four independent accumulators on the multiply path (one would wait on the add's latency every
    // vector); the rare divide path keeps one.
    private static T SumOfScaledSquares<T>(ReadOnlySpan<T> row, T scale, bool multiply)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector<T>.Count,
            i = 0;
        T inverse = T.One / scale;
        var factor = Vector.Create(inverse);
        var divisor = Vector.Create(scale);
        Vector<T> s0 = Vector<T>.Zero,
            s1 = Vector<T>.Zero,
            s2 = Vector<T>.Zero,
            s3 = Vector<T>.Zero;
        if (multiply)
            for (; i <= row.Length - 4 * lanes; i += 4 * lanes)
            {
                var x0 = Vector.Create(row.Slice(i, lanes)) * factor;
                var x1 = Vector.Create(row.Slice(i + lanes, lanes)) * factor;
                var x2 = Vector.Create(row.Slice(i + 2 * lanes, lanes)) * factor;
                var x3 = Vector.Create(row.Slice(i + 3 * lanes, lanes)) * factor;
                s0 += x0 * x0;
                s1 += x1 * x1;
                s2 += x2 * x2;
                s3 += x3 * x3;
            }
        for (; i <= row.Length - lanes; i += lanes)
        {
            var x = multiply
                ? Vector.Create(row.Slice(i, lanes)) * factor
                : Vector.Create(row.Slice(i, lanes)) / divisor;
            s0 += x * x;
        }
        T total = Vector.Sum((s0 + s1) + (s2 + s3));
        for (; i < row.Length; i++)
        {
            T x = multiply ? row[i] * inverse : row[i] / scale;
            total += x * x;
        }
        return total;
    }

    // Exponents at or below this take the divide: 2^−e stays finite down to −127 (float) and −1023 (double), and
    // the margin keeps 1/s away from the edge and from subnormal maxima, whose exponents ILogB reports exactly. (The
    // scaled form serves float64 rows; float32 rows take FloatNorm, but the helpers stay right for either.)
    private static int MinPowerExponent<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => typeof(T) == typeof(float) ? -120 : -1000;

    /// <inheritdoc/>
    public void Accumulate<T>(ReadOnlySpan<T> row, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < acc.Length; i++)
            acc[i] = T.Hypot(acc[i], row[i]);
    }

    /// <inheritdoc/>
    public T IdentityOf<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => T.Zero;
}
