using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Modula.Tensors.Primitives;

/// <summary>The error function, which .NET does not provide.</summary>
public static class SpecialFunctions
{
    // Abramowitz & Stegun 7.1.26: erf(x) ≈ 1 − (a1 t + … + a5 t⁵) e^(−x²), t = 1/(1 + p x), |error| ≤ 1.5e-7
    // in exact arithmetic.
    internal const float P = 0.3275911f;
    internal const float A1 = 0.254829592f,
        A2 = -0.284496736f,
        A3 = 1.421413741f,
        A4 = -1.453152027f,
        A5 = 1.061405429f;

    /// <summary>
    /// erf(x) in float32 with absolute error ≤ 6.7e-7 (runs in accelerator kernels too): the formula's 1.5e-7 plus
    /// float32 rounding, largest near 0, where 1 − poly·e^(−x²) cancels. Over every float with 0.002 ≤ |x| ≤ 0.3,
    /// where the largest errors lie, the CPU's lanes measured 5.8e-7 (x ≈ 0.0514) where they fuse multiply-adds and
    /// 6.6e-7 (x ≈ 0.0380) at 128 bits without FMA, where each multiply and add rounds; <c>ElementwiseTests</c> checks
    /// the bound on the CPU, the simulator and, where there is one, a CUDA device, whose exponential may round
    /// differently.
    /// </summary>
    public static float ErfApprox(float x)
    {
        float ax = MathF.Abs(x);
        float t = 1f / (1f + P * ax);
        float poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
        float r = 1f - poly * MathF.Exp(-ax * ax);
        return x < 0f ? -r : r;
    }

    /// <summary>Vectorized <see cref="ErfApprox(float)"/> over a span; <paramref name="x"/> and <paramref name="y"/>
    /// may alias.</summary>
    public static void ErfApprox(ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length,
            i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            ErfApprox(Vector.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        for (; i < n; i++)
            Unsafe.Add(ref yr, i) = ErfApprox(Unsafe.Add(ref xr, i));
    }

    /// <summary><see cref="ErfApprox(float)"/> lane by lane.</summary>
    public static Vector<float> ErfApprox(Vector<float> v) => ErfApprox(v, out _);

    /// <summary>
    /// <see cref="ErfApprox(float)"/> lane by lane, also returning the e^(−v²) it is built on (the
    /// Gaussian a GELU gradient needs, so that gradient takes one exponential, not two). The exponential is
    /// <see cref="ExpLanes"/>'s, not the runtime's, and the multiply-adds are fused where the CPU has FMA, so lanes
    /// may differ from the scalar form in their last bits; the bound is the same (largest error 5.8·10⁻⁷ with FMA,
    /// 6.6·10⁻⁷ without, over every float with 0.002 ≤ |x| ≤ 0.3).
    /// </summary>
    public static Vector<float> ErfApprox(Vector<float> v, out Vector<float> gaussian)
    {
        var ax = Vector.Abs(v);
        var t = Vector<float>.One / Vector.MultiplyAddEstimate(Vector.Create(P), ax, Vector<float>.One);
        var poly = Vector.MultiplyAddEstimate(Vector.Create(A5), t, Vector.Create(A4));
        poly = Vector.MultiplyAddEstimate(poly, t, Vector.Create(A3));
        poly = Vector.MultiplyAddEstimate(poly, t, Vector.Create(A2));
        poly = Vector.MultiplyAddEstimate(poly, t, Vector.Create(A1)) * t;
        gaussian = ExpLanes.OfNonPositive(-(ax * ax));
        var r = Vector.MultiplyAddEstimate(-poly, gaussian, Vector<float>.One);
        return r | (v & Vector.Create(-0f));
    }

    /// <summary>erf(x) in float64, accurate to about 1e-14 (Taylor series below 3, continued fraction for erfc
    /// above).</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x))
            return double.NaN;
        double ax = Math.Abs(x);
        double r;
        if (ax < 3.0)
        {
            // erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
            double term = ax,
                sum = ax,
                x2 = ax * ax;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum))
                    break;
            }
            r = 2.0 / Math.Sqrt(Math.PI) * sum;
        }
        else if (ax > 27)
            r = 1.0;
        else
        {
            // erfc x = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated by modified Lentz.
            const double tiny = 1e-300;
            double f = ax,
                c = ax,
                d = 0;
            for (int k = 1; k < 500; k++)
            {
                double a = k * 0.5;
                d = ax + a * d;
                if (Math.Abs(d) < tiny)
                    d = tiny;
                d = 1 / d;
                c = ax + a / c;
                if (Math.Abs(c) < tiny)
                    c = tiny;
                double delta = c * d;
                f *= delta;
                if (Math.Abs(delta - 1) < 1e-16)
                    break;
            }
            r = 1.0 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }
}
