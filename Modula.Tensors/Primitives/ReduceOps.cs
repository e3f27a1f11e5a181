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
    public T Reduce<T>(ReadOnlySpan<T> row) where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Sum(row);
    /// <inheritdoc/>
    public void Accumulate<T>(ReadOnlySpan<T> row, Span<T> acc) where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Add(acc, row, acc);
    /// <inheritdoc/>
    public T IdentityOf<T>() where T : unmanaged, IFloatingPointIeee754<T> => T.Zero;
}

/// <summary>Effectively computes <c>y = max x</c> over the reduced axes (−∞ for an empty reduction; NaN propagates).</summary>
public readonly struct MaxReduce : IReduceOp
{
    /// <inheritdoc/>
    public float Identity => float.NegativeInfinity;
    /// <inheritdoc/>
    public float Combine(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : (a > b ? a : b);
    /// <inheritdoc/>
    public T Reduce<T>(ReadOnlySpan<T> row) where T : unmanaged, IFloatingPointIeee754<T> =>
        row.IsEmpty ? T.NegativeInfinity : TensorPrimitives.Max(row);
    /// <inheritdoc/>
    public void Accumulate<T>(ReadOnlySpan<T> row, Span<T> acc) where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Max(acc, row, acc);
    /// <inheritdoc/>
    public T IdentityOf<T>() where T : unmanaged, IFloatingPointIeee754<T> => T.NegativeInfinity;
}
