using System.Numerics;
using System.Numerics.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tensors.Primitives;

// One struct per elementwise function. Each states its math once for accelerators (scalar
// float, compiled by ILGPU) and once for the CPU (TensorPrimitives or a lane map).

/// <summary>Effectively computes <c>y[i] = -x[i]</c>.</summary>
public readonly struct Neg : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => -x;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Negate(x, y);
}

/// <summary>Effectively computes <c>y[i] = |x[i]|</c>.</summary>
public readonly struct Abs : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => MathF.Abs(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Abs(x, y);
}

/// <summary>Effectively computes <c>y[i] = e^x[i]</c>.</summary>
public readonly struct Exp : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => MathF.Exp(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Exp(x, y);
}

/// <summary>Effectively computes <c>y[i] = ln x[i]</c>.</summary>
public readonly struct Log : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => MathF.Log(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Log(x, y);
}

/// <summary>Effectively computes <c>y[i] = √x[i]</c>.</summary>
public readonly struct Sqrt : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => MathF.Sqrt(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Sqrt(x, y);
}

/// <summary>Effectively computes <c>y[i] = 1/√x[i]</c>.</summary>
public readonly struct Rsqrt : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => 1f / MathF.Sqrt(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.ReciprocalSqrt(x, y);
}

/// <summary>Effectively computes <c>y[i] = 1/x[i]</c>.</summary>
public readonly struct Reciprocal : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => 1f / x;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Reciprocal(x, y);
}

/// <summary>
/// Effectively computes <c>y[i] = numerator / max(x[i], floor)</c>: the factor that rescales a
/// slice of norm x to norm <c>numerator</c>, with zero slices (x = 0) mapped to a finite factor (NaN propagates).
/// </summary>
/// <param name="Numerator">The target the factor scales to.</param>
/// <param name="Floor">The smallest denominator used.</param>
public readonly record struct FlooredReciprocal(double Numerator, double Floor) : IUnaryOp, ILaneMap
{
    // A comparison, not MathF.Max: on CUDA that lowers to max.f32, which returns the floor for a NaN x.
    /// <inheritdoc/>
    public float Apply(float x) => (float)Numerator / (x < (float)Floor ? (float)Floor : x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => SimdLoop.Map(x, y, this);

    Vector<T> ILaneMap.Map<T>(Vector<T> x) =>
        Vector.Create(T.CreateTruncating(Numerator)) / Vector.Max(x, Vector.Create(T.CreateTruncating(Floor)));
}

/// <summary>Effectively computes <c>y[i] = x[i] &gt; 0 ? 1 : 0</c> (a mask for <see cref="Ops.Where"/>; NaN gives
/// 0).</summary>
public readonly struct IsPositive : IUnaryOp, ILaneMap
{
    /// <inheritdoc/>
    public float Apply(float x) => x > 0f ? 1f : 0f;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => SimdLoop.Map(x, y, this);

    Vector<T> ILaneMap.Map<T>(Vector<T> x) => Vector.GreaterThan(x, Vector<T>.Zero) & Vector<T>.One;
}

/// <summary>Effectively computes <c>y[i] = tanh x[i]</c>, within a few units in the last place of each result,
/// near 0 too.</summary>
/// <remarks>
/// The CPU does not take <c>TensorPrimitives.Tanh</c> (System.Numerics.Tensors 10.0.0): its float32 lanes form tanh
/// from e^(2x) − 1, which cancels near 0, so tanh 0 came out as −2⁻²⁴, tanh 10⁻³⁰ with the wrong sign and tanh 10⁻³
/// 2.7·10⁻⁵ off (relative), and its float64 lanes lose up to 10⁻⁸ the same way. Here float32 lanes take an odd Taylor
/// polynomial below <see cref="SeriesBelow"/> and (1 − e)/(1 + e) with e = e^(−2|x|) above it (<see
/// cref="ExpLanes"/>), where 1 − e no longer cancels; float64 takes <see cref="Math.Tanh"/> element by element.
/// </remarks>
public readonly struct Tanh : IUnaryOp, ILaneMap
{
    /// <summary>|x| below which the lanes take the series: its first omitted term, 21844/6081075·x¹³, is then under
    /// 1.3·10⁻⁸ of tanh x (about a tenth of float32's relative spacing), and above it e^(−2|x|) &lt; 0.5, so 1 − e
    /// loses nothing to cancellation.</summary>
    internal const double SeriesBelow = 0.35;

    // tanh x = x + x·s·(c₁ + s·(c₂ + …)) with s = x²: the Taylor coefficients −1/3, 2/15, −17/315, 62/2835,
    // −1382/155925.
    private const double C1 = -1.0 / 3,
        C2 = 2.0 / 15,
        C3 = -17.0 / 315,
        C4 = 62.0 / 2835,
        C5 = -1382.0 / 155925;

    /// <inheritdoc/>
    public float Apply(float x) => MathF.Tanh(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            SimdLoop.Map(x, y, this);
            return;
        }
        for (int i = 0; i < x.Length; i++)
            y[i] = T.Tanh(x[i]);
    }

    Vector<T> ILaneMap.Map<T>(Vector<T> x)
    {
        static Vector<T> C(double value) => Vector.Create(T.CreateTruncating(value));
        var s = x * x;
        var series = x + x * s * (C(C1) + s * (C(C2) + s * (C(C3) + s * (C(C4) + s * C(C5)))));
        var magnitude = Vector.Abs(x);
        var e = ExpLanes.OfNonPositive(-(magnitude + magnitude));
        var positive = (Vector<T>.One - e) / (Vector<T>.One + e);
        var signed = Vector.ConditionalSelect(Vector.LessThan(x, Vector<T>.Zero), -positive, positive);
        var tanh = Vector.ConditionalSelect(Vector.LessThan(magnitude, C(SeriesBelow)), series, signed);
        // ±0 and NaN are returned as they came: the series' x + x·s·(…) turns −0 into +0, and ExpLanes may take a
        // NaN to 0, whose ratio is 1.
        var asItCame = Vector.Equals(x, Vector<T>.Zero) | ~Vector.Equals(x, x);
        return Vector.ConditionalSelect(asItCame, x, tanh);
    }
}

/// <summary>Effectively computes <c>y[i] = sin x[i]</c>.</summary>
public readonly struct Sin : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => MathF.Sin(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Sin(x, y);
}

/// <summary>Effectively computes <c>y[i] = cos x[i]</c>.</summary>
public readonly struct Cos : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => MathF.Cos(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Cos(x, y);
}

/// <summary>Effectively computes <c>y[i] = erf x[i]</c> (float32: |error| ≤ 6.7e-7, see <see
/// cref="SpecialFunctions.ErfApprox(float)"/>; float64: ≤ 1e-13).</summary>
public readonly struct Erf : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => SpecialFunctions.ErfApprox(x);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            SpecialFunctions.ErfApprox(
                System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(x),
                System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(y)
            );
        else
            for (int i = 0; i < x.Length; i++)
                y[i] = T.CreateTruncating(SpecialFunctions.Erf(double.CreateTruncating(x[i])));
    }
}

/// <summary>Effectively computes <c>y[i] = sign(x[i])</c> ∈ {−1, 0, 1} (NaN maps to 0).</summary>
public readonly struct Sign : IUnaryOp, ILaneMap
{
    /// <inheritdoc/>
    public float Apply(float x) =>
        x > 0f ? 1f
        : x < 0f ? -1f
        : 0f;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => SimdLoop.Map(x, y, this);

    Vector<T> ILaneMap.Map<T>(Vector<T> x) =>
        (Vector.GreaterThan(x, Vector<T>.Zero) & Vector<T>.One) - (Vector.LessThan(x, Vector<T>.Zero) & Vector<T>.One);
}

/// <summary>Effectively computes the Heaviside step <c>y[i] = x[i] &gt; 0 ? 1 : 0</c>.</summary>
public readonly struct Step : IUnaryOp, ILaneMap
{
    /// <inheritdoc/>
    public float Apply(float x) => x > 0f ? 1f : 0f;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => SimdLoop.Map(x, y, this);

    Vector<T> ILaneMap.Map<T>(Vector<T> x) => Vector.GreaterThan(x, Vector<T>.Zero) & Vector<T>.One;
}

/// <summary>Effectively computes <c>y[i] = x[i]^p</c> for a scalar exponent p.</summary>
/// <param name="Exponent">p.</param>
public readonly record struct PowScalar(double Exponent) : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => MathF.Pow(x, (float)Exponent);

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Exponent == 2)
            TensorPrimitives.Multiply(x, x, y);
        else if (Exponent == 1)
            x.CopyTo(y);
        else
            TensorPrimitives.Pow(x, T.CreateTruncating(Exponent), y);
    }
}

/// <summary>Effectively computes <c>y[i] = x[i] / divisor</c>: one rounding, where a multiply by the divisor's
/// reciprocal rounds twice (<see cref="Ops.Mean"/>'s sum over its count).</summary>
/// <param name="Divisor">What every element is divided by.</param>
public readonly record struct DivideBy(double Divisor) : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => x / (float)Divisor;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => TensorPrimitives.Divide(x, T.CreateTruncating(Divisor), y);
}

/// <summary>Effectively computes <c>y[i] = x[i]·scale + shift</c>.</summary>
/// <param name="Scale">Multiplier.</param>
/// <param name="Shift">Addend.</param>
public readonly record struct Affine(double Scale, double Shift) : IUnaryOp
{
    /// <inheritdoc/>
    public float Apply(float x) => x * (float)Scale + (float)Shift;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Shift == 0)
            TensorPrimitives.Multiply(x, T.CreateTruncating(Scale), y);
        else if (Scale == 1)
            TensorPrimitives.Add(x, T.CreateTruncating(Shift), y);
        else
        {
            TensorPrimitives.Multiply(x, T.CreateTruncating(Scale), y);
            TensorPrimitives.Add(y, T.CreateTruncating(Shift), y);
        }
    }
}

/// <summary>Effectively computes <c>y[i] = isfinite(x[i]) ? x[i] : 0</c> (Modula v1's <c>zero_nans</c>: NaN and ±∞
/// become 0).</summary>
public readonly struct ZeroNonFinite : IUnaryOp, ILaneMap
{
    /// <inheritdoc/>
    public float Apply(float x) => x - x == 0f ? x : 0f;

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => SimdLoop.Map(x, y, this);

    Vector<T> ILaneMap.Map<T>(Vector<T> x) => Vector.Equals(x - x, Vector<T>.Zero) & x;
}
