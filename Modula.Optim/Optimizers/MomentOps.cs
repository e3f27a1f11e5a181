using System.Numerics;
using Modula.Tensors.Primitives;

namespace Modula.Optim;

// The optimizers' elementwise updates, each one pass over a weight-sized tensor instead of
// three to five separate scale, add, square, root and divide passes. The arithmetic is the
// unfused sequence's, operation for operation, so the results are the same.

/// <summary>The moving average <c>y = (1 − w)·a + w·b</c> (a the average, b the new value).</summary>
/// <param name="Weight">The new value's weight w.</param>
public readonly record struct Ema(double Weight) : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a * (float)(1 - Weight) + (float)Weight * b;

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        a * Vector.Create(T.CreateTruncating(1 - Weight)) + Vector.Create(T.CreateTruncating(Weight)) * b;
}

/// <summary>The moving average of squares <c>y = (1 − w)·a + w·b²</c> (Adam's second moment).</summary>
/// <param name="Weight">The new square's weight w.</param>
public readonly record struct EmaOfSquare(double Weight) : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) => a * (float)(1 - Weight) + (float)Weight * (b * b);

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        a * Vector.Create(T.CreateTruncating(1 - Weight)) + Vector.Create(T.CreateTruncating(Weight)) * (b * b);
}

/// <summary>Modula v1's Adam ratio <c>y = a / √b</c>, with NaN and ±∞ (from 0/0 or b = 0) set to 0.</summary>
public readonly struct DivideByRootOrZero : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b)
    {
        float y = a / MathF.Sqrt(b);
        return y - y == 0f ? y : 0f;
    }

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = a / Vector.SquareRoot(b);
        return Vector.Equals(y - y, Vector<T>.Zero) & y;
    }
}

/// <summary>Adam's bias-corrected ratio <c>y = (c₁·a) / (√(c₂·b) + ε)</c> for moments a and b.</summary>
/// <param name="FirstScale">c₁ = 1/(1 − β₁ᵗ).</param>
/// <param name="SecondScale">c₂ = 1/(1 − β₂ᵗ).</param>
/// <param name="Epsilon">ε.</param>
public readonly record struct AdamRatio(double FirstScale, double SecondScale, double Epsilon) : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float a, float b) =>
        a * (float)FirstScale / (MathF.Sqrt(b * (float)SecondScale) + (float)Epsilon);

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        a
        * Vector.Create(T.CreateTruncating(FirstScale))
        / (
            Vector.SquareRoot(b * Vector.Create(T.CreateTruncating(SecondScale)))
            + Vector.Create(T.CreateTruncating(Epsilon))
        );
}
