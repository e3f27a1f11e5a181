using System.Numerics;
using System.Runtime.InteropServices;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Tensors.Primitives;

/// <summary>
/// Effectively computes the exact GELU <c>y[i] = x·Φ(x) = ½x(1 + erf(x/√2))</c> in one pass
/// (float32 erf to 6.7e-7, float64 to 1e-14).
/// </summary>
public readonly struct GeluErf : IUnaryOp, ILaneMap
{
    /// <inheritdoc/>
    public float Apply(float x) => 0.5f * x * (1f + SpecialFunctions.ErfApprox(x * GeluLanes.InvSqrt2F));

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int done = 0;
        if (typeof(T) == typeof(float) && WideGelu.IsSupported)
            done = WideGelu.Forward(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        SimdLoop.Map(x[done..], y[done..], this);
    }

    Vector<T> ILaneMap.Map<T>(Vector<T> x) =>
        GeluLanes.Half<T>()
        * x
        * (Vector<T>.One + GeluLanes.Erf(x * Vector.Create(T.CreateTruncating(GeluLanes.InvSqrt2))));
}

/// <summary>Effectively computes the exact GELU's backward <c>y = g·(Φ(x) + x·φ(x))</c> from a = x and b = g.</summary>
public readonly struct GeluErfGrad : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float x, float g) =>
        g
        * (
            0.5f * (1f + SpecialFunctions.ErfApprox(x * GeluLanes.InvSqrt2F))
            + x * GeluLanes.InvSqrt2PiF * MathF.Exp(-0.5f * x * x)
        );

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> x, Vector<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            // erf(x/√2) is built on e^(−x²/2), which is also the Gaussian density's exponential.
            var xf = x.As<T, float>();
            var erf = SpecialFunctions.ErfApprox(xf * Vector.Create(GeluLanes.InvSqrt2F), out var gaussian);
            var cdf32 = Vector.Create(0.5f) * (Vector<float>.One + erf);
            return g * (cdf32 + xf * Vector.Create(GeluLanes.InvSqrt2PiF) * gaussian).As<float, T>();
        }
        var cdf =
            GeluLanes.Half<T>()
            * (Vector<T>.One + GeluLanes.Erf(x * Vector.Create(T.CreateTruncating(GeluLanes.InvSqrt2))));
        var pdf =
            Vector.Create(T.CreateTruncating(GeluLanes.InvSqrt2Pi))
            * ExpLanes.OfNonPositive(-GeluLanes.Half<T>() * x * x);
        return g * (cdf + x * pdf);
    }
}

/// <summary>Effectively computes the tanh GELU <c>y[i] = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))</c> in one pass (as
/// x·σ(2u)).</summary>
public readonly struct GeluTanh : IUnaryOp, ILaneMap
{
    /// <inheritdoc/>
    public float Apply(float x) => x / (1f + MathF.Exp(-2f * GeluLanes.TanhCF * (x + GeluLanes.TanhKF * x * x * x)));

    /// <inheritdoc/>
    public void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> => SimdLoop.Map(x, y, this);

    Vector<T> ILaneMap.Map<T>(Vector<T> x) =>
        GeluLanes.Half<T>() * x * GeluLanes.OnePlusAndMinusTanh(GeluLanes.TanhArgument(x)).Plus;
}

/// <summary>
/// Effectively computes the tanh GELU's backward <c>y = g·(½(1 + t) + ½x(1 + t)(1 − t)·√(2/π)(1 + 3·0.044715x²))</c>,
/// t = tanh(√(2/π)(x + 0.044715x³)), from a = x and b = g; 1 ± t are formed without cancellation.
/// </summary>
public readonly struct GeluTanhGrad : IBinaryOp
{
    /// <inheritdoc/>
    public float Apply(float x, float g)
    {
        float u = GeluLanes.TanhCF * (x + GeluLanes.TanhKF * x * x * x);
        float plus = 2f / (1f + MathF.Exp(-2f * u)),
            minus = 2f / (1f + MathF.Exp(2f * u)); // 1 + t and 1 − t without cancellation
        float square = MathF.Min(x * x, GeluLanes.SquareCap);
        return g * (0.5f * plus + 0.5f * x * plus * minus * GeluLanes.TanhCF * (1f + 3f * GeluLanes.TanhKF * square));
    }

    /// <inheritdoc/>
    public Vector<T> Apply<T>(Vector<T> x, Vector<T> g)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var half = GeluLanes.Half<T>();
        var u = GeluLanes.TanhArgument(x);
        var (plus, minus) = GeluLanes.OnePlusAndMinusTanh(u);
        var square = Vector.Min(x * x, Vector.Create(T.CreateTruncating(GeluLanes.SquareCap)));
        var slope =
            Vector.Create(T.CreateTruncating(GeluLanes.TanhC))
            * (Vector<T>.One + Vector.Create(T.CreateTruncating(3 * GeluLanes.TanhK)) * square);
        return g * (half * plus + half * x * plus * minus * slope);
    }
}

/// <summary>Constants and lane functions the fused GELU ops share.</summary>
internal static class GeluLanes
{
    public const double InvSqrt2 = 0.70710678118654752,
        InvSqrt2Pi = 0.39894228040143268,
        TanhC = 0.79788456080286536,
        TanhK = 0.044715;

    /// <summary>
    /// The most of x² the tanh GELU's gradient takes into its slope 1 + 3·0.044715x². Past it (|x| &gt; 10¹⁵) one of
    /// 1 ± tanh is exactly 0 in float32 and float64 alike, so the term they multiply is 0; uncapped, float32's x²
    /// overflows from |x| ≈ 1.8·10¹⁹ and that term was 0·∞, NaN.
    /// </summary>
    public const float SquareCap = 1e30f;

    public const float InvSqrt2F = (float)InvSqrt2,
        InvSqrt2PiF = (float)InvSqrt2Pi,
        TanhCF = (float)TanhC,
        TanhKF = (float)TanhK;

    public static Vector<T> Half<T>()
        where T : unmanaged, IFloatingPointIeee754<T> => Vector.Create(T.CreateTruncating(0.5));

    /// <summary>√(2/π)(x + 0.044715x³).</summary>
    public static Vector<T> TanhArgument<T>(Vector<T> x)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Vector.Create(T.CreateTruncating(TanhC)) * (x + Vector.Create(T.CreateTruncating(TanhK)) * x * x * x);

    /// <summary>erf per lane: the float32 approximation, or float64 <see cref="SpecialFunctions.Erf(double)"/> lane by
    /// lane.</summary>
    public static Vector<T> Erf<T>(Vector<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            return SpecialFunctions.ErfApprox(x.As<T, float>()).As<float, T>();
        Span<T> lanes = stackalloc T[Vector<T>.Count];
        x.CopyTo(lanes);
        for (int i = 0; i < lanes.Length; i++)
            lanes[i] = T.CreateTruncating(SpecialFunctions.Erf(double.CreateTruncating(lanes[i])));
        return Vector.Create<T>(lanes);
    }

    /// <summary>
    /// 1 + tanh u and 1 − tanh u, without cancellation where either is near 0, from one exponential e = e^(−2|u|) ≤ 1:
    /// the one whose sign agrees with u's is 2/(1 + e), the other 2e/(1 + e). Never an exponential of a positive
    /// argument, so float32 lanes take <see cref="ExpLanes"/>, and nothing overflows: at u = +∞ the two are 2 and 0,
    /// at −∞ 0 and 2. A NaN u gives a number or NaN; the GELU ops multiply it by x, NaN too.
    /// </summary>
    public static (Vector<T> Plus, Vector<T> Minus) OnePlusAndMinusTanh<T>(Vector<T> u)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var two = Vector.Create(T.CreateTruncating(2));
        var e = ExpLanes.OfNonPositive(-(two * Vector.Abs(u)));
        var agreeing = two / (Vector<T>.One + e);
        var opposing = agreeing * e;
        var nonNegative = Vector.GreaterThanOrEqual(u, Vector<T>.Zero);
        return (
            Vector.ConditionalSelect(nonNegative, agreeing, opposing),
            Vector.ConditionalSelect(nonNegative, opposing, agreeing)
        );
    }
}
