using System.Diagnostics;
using System.Globalization;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Random;

namespace Modula.Bench;

/// <summary>
/// One thread's float32 product timed back to back and right after the thread has slept, in turns. A thread that
/// blocks (as the worker pool's threads do between jobs, after a short spin) may come back to its core in another
/// state than it left. On a Zen 4 VM told to hide AVX (<c>DOTNET_EnableAVX=0</c>), the SSE-encoded product ran
/// 20–55 % longer after a sleep, and as fast as back to back when <c>vzeroupper</c> ran after the sleep, while the
/// same product in AVX's encoding ran as fast either way ("SSE4.2 on a CPU told to hide AVX" in docs/benchmarks.md).
/// This command measures that cost on any machine and width.
/// </summary>
/// <remarks>
/// <c>dotnet run -c Release --project Modula.Bench -- gemm-after-sleep [--shape 768x128x512] [--turns 41]</c>, the
/// shape as for <see cref="OpenBlasTurns"/>. Each turn times a burst of products back to back (about 20 ms) and a
/// burst of as many products each after <c>Thread.Sleep(1)</c> (the sleeps untimed), the order alternating.
/// </remarks>
internal static class AfterSleep
{
    private const string Command = "gemm-after-sleep";

    private static readonly string[] Options = ["--shape", "--turns"];

    public static int Run(string[] args)
    {
        var given = BenchOptions.Parse(Command, args, Options);
        if (given is null)
            return 2;
        var shape = BenchOptions.ParseShape(Command, given.GetValueOrDefault("--shape", "768x128x512"));
        int? turns = BenchOptions.Positive(Command, given, "--turns", 41);
        if (shape is null || turns is null)
            return 2;
        using var scope = CpuDevice.UseThreads(1);
        var (m, n, k, ta, tb) = shape.Value;
        var g = new Generator(1);
        using var a = Ops.Normal(ta ? new Shape(k, m) : new Shape(m, k), g);
        using var b = Ops.Normal(tb ? new Shape(n, k) : new Shape(k, n), g);
        using var c = Ops.Zeros(new Shape(m, n));
        void Product() => Ops.MatMulInto(a, b, c, accumulate: false, transposeA: ta, transposeB: tb);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < 2) // the runtime's optimized code
            Product();
        int burst = Math.Max(1, (int)(0.02 / BenchOptions.Seconds(Product, 1)));
        var awake = new List<double>();
        var slept = new List<double>();
        for (int t = 0; t < turns; t++)
        {
            bool awakeFirst = t % 2 == 0;
            if (awakeFirst)
                awake.Add(BenchOptions.Seconds(Product, burst));
            slept.Add(AfterSleeps(Product, burst));
            if (!awakeFirst)
                awake.Add(BenchOptions.Seconds(Product, burst));
        }
        var ratios = slept.Select((s, t) => s / awake[t]).ToArray();
        Console.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"{Command} {CpuDevice.InstructionSet} {shape} turns={turns} burst={burst} "
                    + $"awake_ms={BenchOptions.Quantile(awake, 0.5) * 1e3:F3} "
                    + $"after_sleep_ms={BenchOptions.Quantile(slept, 0.5) * 1e3:F3} "
                    + $"after_sleep_over_awake median={BenchOptions.Quantile(ratios, 0.5):F3} "
                    + $"q1={BenchOptions.Quantile(ratios, 0.25):F3} q3={BenchOptions.Quantile(ratios, 0.75):F3}"
            )
        );
        return 0;
    }

    // Seconds per call of `run`, each call right after a millisecond's sleep, the sleeps not counted.
    private static double AfterSleeps(Action run, int count)
    {
        double total = 0;
        for (int i = 0; i < count; i++)
        {
            Thread.Sleep(1);
            long start = Stopwatch.GetTimestamp();
            run();
            total += Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return total / count;
    }
}
