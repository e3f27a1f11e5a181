using System.Numerics;

namespace Modula.Tensors.Primitives;

// Binary elementwise functions with NumPy broadcasting. Comparisons return 1 or 0 in the
// inputs' dtype, so masks multiply like any other tensor.

/// <summary>Effectively computes <c>y = a + b</c>.</summary>
public readonly struct Add : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a + b;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => a + b;
}

/// <summary>Effectively computes <c>y = a − b</c>.</summary>
public readonly struct Sub : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a - b;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => a - b;
}

/// <summary>
/// Effectively computes <c>y = a / max(b, floor)</c>: a quotient whose small or zero denominators are floored,
/// the per-element form of <see cref="FlooredReciprocal"/> (numerators from a tensor, not one constant; NaN
/// propagates).
/// </summary>
public readonly record struct FlooredQuotient(double Floor) : IBinaryOp
{
    // A comparison, not MathF.Max, so that a NaN b gives NaN on CUDA too (max.f32 returns the other operand).
    /// <inheritdoc/>
    public float Apply(float a, float b) => a / (b < (float)Floor ? (float)Floor : b);

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => a / Vector.Max(b, Vector.Create(T.CreateTruncating(Floor)));
}

/// <summary>Effectively computes <c>y = a · b</c>.</summary>
public readonly struct Mul : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a * b;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => a * b;
}

/// <summary>Effectively computes <c>y = a / b</c>.</summary>
public readonly struct Div : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a / b;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => a / b;
}

/// <summary>Effectively computes <c>y = max(a, b)</c> (NaN propagates).</summary>
public readonly struct Max : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : (a > b ? a : b);

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => Vector.Max(a, b);
}

/// <summary>Effectively computes <c>y = min(a, b)</c> (NaN propagates).</summary>
public readonly struct Min : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : (a < b ? a : b);

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => Vector.Min(a, b);
}

/// <summary>Effectively computes <c>y = a &gt; b ? 1 : 0</c>.</summary>
public readonly struct Greater : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a > b ? 1f : 0f;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => Vector.GreaterThan(a, b) & Vector<T>.One;
}

/// <summary>Effectively computes <c>y = a &lt; b ? 1 : 0</c>.</summary>
public readonly struct Less : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a < b ? 1f : 0f;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => Vector.LessThan(a, b) & Vector<T>.One;
}

/// <summary>Effectively computes <c>y = a ≥ b ? 1 : 0</c>.</summary>
public readonly struct GreaterOrEqual : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a >= b ? 1f : 0f;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => Vector.GreaterThanOrEqual(a, b) & Vector<T>.One;
}

/// <summary>Effectively computes <c>y = a == b ? 1 : 0</c>.</summary>
public readonly struct Equal : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a == b ? 1f : 0f;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => Vector.Equals(a, b) & Vector<T>.One;
}

/// <summary>Effectively computes <c>y = α·a + β·b</c> (a sum of scalar multiples in one pass).</summary>
/// <param name="Alpha">The multiplier of a.</param>
/// <param name="Beta">The multiplier of b.</param>
public readonly record struct LinearCombination(double Alpha, double Beta) : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => (float)Alpha * a + (float)Beta * b;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Vector.Create(T.CreateTruncating(Alpha)) * a + Vector.Create(T.CreateTruncating(Beta)) * b;
}

/// <summary>Effectively computes <c>y = a + alpha·b</c> (the axpy of optimizer updates).</summary>
/// <param name="Alpha">The multiplier of b.</param>
public readonly record struct ScaledAdd(double Alpha) : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a + (float)Alpha * b;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> => a + Vector.Create(T.CreateTruncating(Alpha)) * b;
}
