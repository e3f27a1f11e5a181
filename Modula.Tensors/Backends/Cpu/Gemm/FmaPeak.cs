using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// Measures the multiply-add throughput the GEMM's tile width can reach on this machine: each
/// thread runs fourteen independent accumulator chains in registers, with no memory traffic, so
/// the figure is the ceiling a GEMM is judged against, measured instead of computed from a nominal
/// clock. Twelve would hide a fused multiply-add's latency on two pipes. Without FMA a link of a
/// chain is a multiply and then an add, and twelve chains only just fill three pipes: they read
/// about 6 % below what the 128-bit GEMM reaches (docs/benchmarks.md). Fourteen and the two
/// constants fill the 16 registers of SSE and AVX2.
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
        long begin = 0,
            end = 0;
        var workers = Enumerable
            .Range(0, threads)
            .Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                if (t == 0)
                    Volatile.Write(ref begin, Stopwatch.GetTimestamp());
                long done = 0;
                var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency * milliseconds / 1000;
                while (Stopwatch.GetTimestamp() < until)
                    done += Burst();
                Interlocked.Add(ref flops, done);
                long now = Stopwatch.GetTimestamp();
                long seen;
                do seen = Volatile.Read(ref end);
                while (now > seen && Interlocked.CompareExchange(ref end, now, seen) != seen);
            }))
            .ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        return flops / ((double)(end - begin) / Stopwatch.Frequency) / 1e9;
    }

    /// <summary>Flops of one burst at the native tile width.</summary>
    private static long Burst() =>
        PackedGemm.Bits switch
        {
            512 => Burst<Vector512<float>, Ops512>(),
            256 => Burst<Vector256<float>, Ops256>(),
            _ => Burst<Vector128<float>, Ops128>(),
        };

    private const int Iterations = 4096;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe long Burst<TVector, TOps>()
        where TVector : struct
        where TOps : struct, IVectorOps<TVector>
    {
        var (x, y) = (TOps.Broadcast(0.999f), TOps.Broadcast(1e-4f));
        TVector a0 = y,
            a1 = y,
            a2 = y,
            a3 = y,
            a4 = y,
            a5 = y,
            a6 = y,
            a7 = y,
            a8 = y,
            a9 = y,
            aa = y,
            ab = y,
            ac = y,
            ad = y;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = TOps.MultiplyAdd(a0, x, y);
            a1 = TOps.MultiplyAdd(a1, x, y);
            a2 = TOps.MultiplyAdd(a2, x, y);
            a3 = TOps.MultiplyAdd(a3, x, y);
            a4 = TOps.MultiplyAdd(a4, x, y);
            a5 = TOps.MultiplyAdd(a5, x, y);
            a6 = TOps.MultiplyAdd(a6, x, y);
            a7 = TOps.MultiplyAdd(a7, x, y);
            a8 = TOps.MultiplyAdd(a8, x, y);
            a9 = TOps.MultiplyAdd(a9, x, y);
            aa = TOps.MultiplyAdd(aa, x, y);
            ab = TOps.MultiplyAdd(ab, x, y);
            ac = TOps.MultiplyAdd(ac, x, y);
            ad = TOps.MultiplyAdd(ad, x, y);
        }
        var sum = TOps.Add(TOps.Add(TOps.Add(a0, a1), TOps.Add(a2, a3)), TOps.Add(TOps.Add(a4, a5), TOps.Add(a6, a7)));
        sum = TOps.Add(sum, TOps.Add(TOps.Add(a8, a9), TOps.Add(aa, ab)));
        sum = TOps.Add(sum, TOps.Add(ac, ad));
        float* lanes = stackalloc float[TOps.Lanes];
        TOps.Store(sum, lanes);
        Keep(lanes[0]);
        return 14L * 2 * TOps.Lanes * Iterations;
    }

    private static float _sink;

    /// <summary>Stores the result so the loop cannot be removed as dead code.</summary>
    private static void Keep(float value) => _sink = value;
}
