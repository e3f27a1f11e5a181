using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// Measures the multiply-add throughput the GEMM's tile width can reach on this machine: each
/// thread runs twelve independent accumulator chains (enough to hide the FMA latency on two
/// pipes) in registers, with no memory traffic, so the figure is the ceiling a GEMM is judged
/// against, measured instead of computed from a nominal clock.
/// </summary>
internal static class FmaPeak
{
    /// <summary>
    /// GFLOP/s of <paramref name="threads"/> threads running multiply-adds, the best of windows of
    /// about 20 ms over roughly <paramref name="milliseconds"/> (the best, because another process
    /// on the machine can only slow a window down).
    /// </summary>
    public static double Measure(int threads, int milliseconds)
    {
        double best = 0;
        for (int window = 0; window < Math.Max(1, milliseconds / 20); window++)
            best = Math.Max(best, Window(threads, 20));
        return best;
    }

    private static double Window(int threads, int milliseconds)
    {
        long flops = 0;
        using var start = new Barrier(threads);
        long begin = 0, end = 0;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            if (t == 0) Volatile.Write(ref begin, Stopwatch.GetTimestamp());
            long done = 0;
            var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency * milliseconds / 1000;
            while (Stopwatch.GetTimestamp() < until) done += Burst();
            Interlocked.Add(ref flops, done);
            long now = Stopwatch.GetTimestamp();
            long seen;
            do seen = Volatile.Read(ref end); while (now > seen && Interlocked.CompareExchange(ref end, now, seen) != seen);
        })).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        return flops / ((double)(end - begin) / Stopwatch.Frequency) / 1e9;
    }

    /// <summary>Flops of one burst at the native tile width.</summary>
    private static long Burst() => PackedGemm.Bits switch
    {
        512 => Burst512(),
        256 => Burst256(),
        _ => Burst128(),
    };

    private const int Iterations = 4096;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long Burst512()
    {
        var (x, y) = (Vector512.Create(0.999f), Vector512.Create(1e-4f));
        Vector512<float> a0 = y, a1 = y, a2 = y, a3 = y, a4 = y, a5 = y, a6 = y, a7 = y, a8 = y, a9 = y, aa = y, ab = y;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, x, y); a1 = Vector512.FusedMultiplyAdd(a1, x, y);
            a2 = Vector512.FusedMultiplyAdd(a2, x, y); a3 = Vector512.FusedMultiplyAdd(a3, x, y);
            a4 = Vector512.FusedMultiplyAdd(a4, x, y); a5 = Vector512.FusedMultiplyAdd(a5, x, y);
            a6 = Vector512.FusedMultiplyAdd(a6, x, y); a7 = Vector512.FusedMultiplyAdd(a7, x, y);
            a8 = Vector512.FusedMultiplyAdd(a8, x, y); a9 = Vector512.FusedMultiplyAdd(a9, x, y);
            aa = Vector512.FusedMultiplyAdd(aa, x, y); ab = Vector512.FusedMultiplyAdd(ab, x, y);
        }
        Keep(Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab));
        return 12L * 2 * 16 * Iterations;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long Burst256()
    {
        var (x, y) = (Vector256.Create(0.999f), Vector256.Create(1e-4f));
        Vector256<float> a0 = y, a1 = y, a2 = y, a3 = y, a4 = y, a5 = y, a6 = y, a7 = y, a8 = y, a9 = y, aa = y, ab = y;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector256.MultiplyAddEstimate(a0, x, y); a1 = Vector256.MultiplyAddEstimate(a1, x, y);
            a2 = Vector256.MultiplyAddEstimate(a2, x, y); a3 = Vector256.MultiplyAddEstimate(a3, x, y);
            a4 = Vector256.MultiplyAddEstimate(a4, x, y); a5 = Vector256.MultiplyAddEstimate(a5, x, y);
            a6 = Vector256.MultiplyAddEstimate(a6, x, y); a7 = Vector256.MultiplyAddEstimate(a7, x, y);
            a8 = Vector256.MultiplyAddEstimate(a8, x, y); a9 = Vector256.MultiplyAddEstimate(a9, x, y);
            aa = Vector256.MultiplyAddEstimate(aa, x, y); ab = Vector256.MultiplyAddEstimate(ab, x, y);
        }
        Keep(Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab));
        return 12L * 2 * 8 * Iterations;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long Burst128()
    {
        var (x, y) = (Vector128.Create(0.999f), Vector128.Create(1e-4f));
        Vector128<float> a0 = y, a1 = y, a2 = y, a3 = y, a4 = y, a5 = y, a6 = y, a7 = y, a8 = y, a9 = y, aa = y, ab = y;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector128.MultiplyAddEstimate(a0, x, y); a1 = Vector128.MultiplyAddEstimate(a1, x, y);
            a2 = Vector128.MultiplyAddEstimate(a2, x, y); a3 = Vector128.MultiplyAddEstimate(a3, x, y);
            a4 = Vector128.MultiplyAddEstimate(a4, x, y); a5 = Vector128.MultiplyAddEstimate(a5, x, y);
            a6 = Vector128.MultiplyAddEstimate(a6, x, y); a7 = Vector128.MultiplyAddEstimate(a7, x, y);
            a8 = Vector128.MultiplyAddEstimate(a8, x, y); a9 = Vector128.MultiplyAddEstimate(a9, x, y);
            aa = Vector128.MultiplyAddEstimate(aa, x, y); ab = Vector128.MultiplyAddEstimate(ab, x, y);
        }
        Keep(Vector128.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + aa + ab));
        return 12L * 2 * 4 * Iterations;
    }

    private static float _sink;

    /// <summary>Stores the result so the loop cannot be removed as dead code.</summary>
    private static void Keep(float value) => _sink = value;
}
