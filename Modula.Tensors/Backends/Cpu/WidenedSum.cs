using System.Numerics;
using System.Runtime.InteropServices;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// Sums of float32 values in float64 lanes, each vector widened to two: the float32 ℓ2 norm's squares (<see
/// cref="Primitives.NormReduce"/>), which in float64 can neither overflow nor lose a subnormal, a row's mean for
/// centering it (<see cref="RowMean"/>), exact for a row of one repeated value, and the sums of long rows (<see
/// cref="RowSums"/>).
/// </summary>
internal static class WidenedSum
{
    /// <summary>Σ x in float64.</summary>
    public static double Of(ReadOnlySpan<float> x) => Sum<Value>(x);

    /// <summary>Σ x² in float64 (the multiply-adds fused where the CPU has FMA).</summary>
    public static double OfSquares(ReadOnlySpan<float> x) => Sum<Square>(x);

    /// <summary>Σ a·b in float64 (a and b of one length; fused as <see cref="OfSquares"/>).</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"WidenedSum.Dot: lengths differ ({a.Length} and {b.Length}).");
        int lanes = Vector<float>.Count,
            i = 0;
        ref float x = ref MemoryMarshal.GetReference(a);
        ref float y = ref MemoryMarshal.GetReference(b);
        Vector<double> s0 = Vector<double>.Zero,
            s1 = Vector<double>.Zero;
        for (; i <= a.Length - lanes; i += lanes)
        {
            Vector.Widen(Vector.LoadUnsafe(ref x, (nuint)i), out var x0, out var x1);
            Vector.Widen(Vector.LoadUnsafe(ref y, (nuint)i), out var y0, out var y1);
            s0 = Vector.MultiplyAddEstimate(x0, y0, s0);
            s1 = Vector.MultiplyAddEstimate(x1, y1, s1);
        }
        double total = Vector.Sum(s0 + s1);
        for (; i < a.Length; i++)
            total += (double)a[i] * b[i];
        return total;
    }

    private interface ITerm
    {
        static abstract Vector<double> Add(Vector<double> sum, Vector<double> x);

        static abstract double Add(double sum, double x);
    }

    private readonly struct Value : ITerm
    {
        public static Vector<double> Add(Vector<double> sum, Vector<double> x) => sum + x;

        public static double Add(double sum, double x) => sum + x;
    }

    // MultiplyAddEstimate: a fused multiply-add where the CPU has one; emulated, one would cost far more.
    private readonly struct Square : ITerm
    {
        public static Vector<double> Add(Vector<double> sum, Vector<double> x) => Vector.MultiplyAddEstimate(x, x, sum);

        public static double Add(double sum, double x) => sum + x * x;
    }

    // Four chains, as each sum waits on the one before it.
    private static double Sum<TTerm>(ReadOnlySpan<float> row)
        where TTerm : struct, ITerm
    {
        int lanes = Vector<float>.Count,
            i = 0;
        ref float first = ref MemoryMarshal.GetReference(row);
        Vector<double> s0 = Vector<double>.Zero,
            s1 = Vector<double>.Zero,
            s2 = Vector<double>.Zero,
            s3 = Vector<double>.Zero;
        for (; i <= row.Length - 2 * lanes; i += 2 * lanes)
        {
            Vector.Widen(Vector.LoadUnsafe(ref first, (nuint)i), out var x0, out var x1);
            Vector.Widen(Vector.LoadUnsafe(ref first, (nuint)(i + lanes)), out var x2, out var x3);
            s0 = TTerm.Add(s0, x0);
            s1 = TTerm.Add(s1, x1);
            s2 = TTerm.Add(s2, x2);
            s3 = TTerm.Add(s3, x3);
        }
        double total = Vector.Sum((s0 + s1) + (s2 + s3));
        for (; i < row.Length; i++)
            total = TTerm.Add(total, row[i]);
        return total;
    }
}
