using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Primitives;

/// <summary>
/// The exact GELU and its gradient in float32 at 512 bits, for CPUs where <c>Vector512</c> is
/// native. Elementwise ops otherwise run at <c>Vector&lt;T&gt;</c>'s width, which the runtime keeps
/// at 256 bits on AVX-512 machines; that costs nothing for passes that stream memory, but GELU is
/// bound by arithmetic (an exponential, a division and a polynomial per element) and ran at half
/// speed (profiled on Zen 5: 0.65 → 1.16 ms per step for each direction). Same formulas as
/// <see cref="GeluErf"/>, <see cref="GeluErfGrad"/> and the lanes of <see cref="SpecialFunctions"/>' erf (the
/// exponential of <see cref="ExpLanes"/>, multiply-adds fused); the caller handles the tail of fewer than 16
/// elements.
/// </summary>
internal static class WideGelu
{
    public static bool IsSupported => Vector512.IsHardwareAccelerated;

    /// <summary>y = ½x(1 + erf(x/√2)) over whole vectors; returns how many elements were done.</summary>
    public static int Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        for (; i + 16 <= x.Length; i += 16)
        {
            var v = Vector512.LoadUnsafe(ref xr, (nuint)i);
            var erf = Erf(v * Vector512.Create(GeluLanes.InvSqrt2F), out _);
            (Vector512.Create(0.5f) * v * (Vector512<float>.One + erf)).StoreUnsafe(ref yr, (nuint)i);
        }
        return i;
    }

    /// <summary>y = g·(Φ(x) + x·φ(x)) for contiguous x and g over whole vectors; returns how many elements were
    /// done.</summary>
    public static int Backward(ref float x, ref float g, ref float y, int n)
    {
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var xv = Vector512.LoadUnsafe(ref x, (nuint)i);
            var erf = Erf(xv * Vector512.Create(GeluLanes.InvSqrt2F), out var gaussian);
            var cdf = Vector512.Create(0.5f) * (Vector512<float>.One + erf);
            (
                Vector512.LoadUnsafe(ref g, (nuint)i) * (cdf + xv * Vector512.Create(GeluLanes.InvSqrt2PiF) * gaussian)
            ).StoreUnsafe(ref y, (nuint)i);
        }
        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Erf(Vector512<float> v, out Vector512<float> gaussian)
    {
        var ax = Vector512.Abs(v);
        var t = Vector512<float>.One / MultiplyAdd(SpecialFunctions.P, ax, Vector512<float>.One);
        var poly = MultiplyAdd(SpecialFunctions.A5, t, Vector512.Create(SpecialFunctions.A4));
        poly = MultiplyAdd(poly, t, Vector512.Create(SpecialFunctions.A3));
        poly = MultiplyAdd(poly, t, Vector512.Create(SpecialFunctions.A2));
        poly = MultiplyAdd(poly, t, Vector512.Create(SpecialFunctions.A1)) * t;
        gaussian = ExpLanes.OfNonPositive(-(ax * ax));
        return MultiplyAdd(-poly, gaussian, Vector512<float>.One) | (v & Vector512.Create(-0f));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Vector512.MultiplyAddEstimate(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MultiplyAdd(float a, Vector512<float> b, Vector512<float> c) =>
        Vector512.MultiplyAddEstimate(Vector512.Create(a), b, c);
}
