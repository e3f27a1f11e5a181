using System.Numerics;
using System.Numerics.Tensors;

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
/// Effectively computes the ℓ2 norm <c>y = √Σ x²</c> over the reduced axes without squaring
/// any element as it stands: a whole row is measured as s·√Σ(x/s)² with s = max|x|, and
/// partial norms combine as hypot(a, b). Float32 values near 1e-23 (a long-decayed moment)
/// would square to zero, and values above 1e19 to infinity.
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
        float high = MathF.Max(a, b),
            low = MathF.Min(a, b);
        if (high == 0f || float.IsInfinity(high))
            return high + low; // 0, ∞ or NaN
        float ratio = low / high;
        return high * MathF.Sqrt(1f + ratio * ratio);
    }

    /// <inheritdoc/>
    public T Reduce<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (row.IsEmpty)
            return T.Zero;
        T scale = T.Abs(TensorPrimitives.MaxMagnitude(row));
        if (scale == T.Zero || !T.IsFinite(scale))
            return scale; // 0, ∞ or NaN
        var sum = Vector<T>.Zero;
        var s = Vector.Create(scale);
        int i = 0;
        for (; i <= row.Length - Vector<T>.Count; i += Vector<T>.Count)
        {
            var x = Vector.Create(row.Slice(i, Vector<T>.Count)) / s;
            sum += x * x;
        }
        T total = Vector.Sum(sum);
        for (; i < row.Length; i++)
        {
            T x = row[i] / scale;
            total += x * x;
        }
        return scale * T.Sqrt(total);
    }

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
