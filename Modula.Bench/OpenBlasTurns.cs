using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Random;
using static Modula.Bench.BenchOptions;

namespace Modula.Bench;

/// <summary>
/// The engine's float32 GEMM against a native OpenBLAS in one process, in turns: each turn times a burst of the
/// engine's products and a burst of OpenBLAS's <c>cblas_sgemm</c> on the same operands (a burst: up to 20 ms of the
/// engine's products, at least one, and as many of OpenBLAS's), the order alternating from turn to turn, so that
/// both meet the same spells of a shared machine's load. Run separately, the two drift apart by more than the few
/// per cent the comparison is about. OpenBLAS is a developer's yardstick here, loaded from the path given; nothing
/// else in the project loads a native library.
/// </summary>
/// <remarks>
/// <c>dotnet run -c Release --project Modula.Bench -- gemm-vs-openblas --openblas PATH [--shape 1024x1024x1024]
/// [--threads 2] [--turns 41]</c>, the shape given as m×n×k, with <c>:At</c> or <c>:Bt</c> (or both) for an
/// operand stored transposed, as the GPT's gradient products read them (<c>768x128x128:Bt</c> is x·Wᵀ). OpenBLAS
/// reads <c>OPENBLAS_CORETYPE</c> when it loads, and its OpenMP build wants <c>OMP_WAIT_POLICY=passive</c>, so that
/// its idle threads do not spin through the engine's turn.
/// </remarks>
internal static unsafe class OpenBlasTurns
{
    // CBLAS enumerations: row-major storage, an operand as stored or transposed.
    private const int RowMajor = 101,
        NoTrans = 111,
        Trans = 112;

    private const string Command = "gemm-vs-openblas";

    private static readonly string[] Options = ["--openblas", "--shape", "--threads", "--turns"];

    public static int Run(string[] args)
    {
        var given = Parse(Command, args, Options);
        if (given is null)
            return 2;
        if (!given.TryGetValue("--openblas", out string? path))
        {
            Console.Error.WriteLine("gemm-vs-openblas: --openblas PATH (libopenblas.so) is required.");
            return 2;
        }
        var shape = ParseShape(Command, given.GetValueOrDefault("--shape", "1024x1024x1024"));
        int? threads = Positive(Command, given, "--threads", 2),
            turns = Positive(Command, given, "--turns", 41);
        if (shape is null || threads is null || turns is null)
            return 2;
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")?.ToLowerInvariant() != "passive")
            Console.Error.WriteLine(
                "gemm-vs-openblas: warning: OMP_WAIT_POLICY is not passive; an OpenMP OpenBLAS's idle threads may "
                    + "spin through the engine's turns."
            );
        // Loaded for the rest of the process and never freed: unloading OpenBLAS while its threads live has hung
        // or crashed processes on exit.
        if (!NativeLibrary.TryLoad(path, out var library))
        {
            Console.Error.WriteLine($"gemm-vs-openblas: cannot load '{path}' as a native library.");
            return 2;
        }
        if (!NativeLibrary.TryGetExport(library, "cblas_sgemm", out var sgemm))
        {
            Console.Error.WriteLine($"gemm-vs-openblas: '{path}' exports no cblas_sgemm.");
            return 2;
        }
        if (NativeLibrary.TryGetExport(library, "openblas_set_num_threads", out var setThreads))
            ((delegate* unmanaged[Cdecl]<int, void>)setThreads)(threads.Value);
        else
            Console.Error.WriteLine(
                $"gemm-vs-openblas: warning: '{path}' has no openblas_set_num_threads; it runs on its own thread count."
            );
        using var scope = CpuDevice.UseThreads(threads.Value);
        try
        {
            return Compare(sgemm, shape.Value, turns.Value, threads.Value);
        }
        catch (OutOfMemoryException)
        {
            var (m, n, k, _, _) = shape.Value;
            double gib = 2.0 * ((long)m * k + (long)k * n + (long)m * n) * sizeof(float) / (1 << 30);
            Console.Error.WriteLine(
                $"gemm-vs-openblas: {shape.Value}: out of memory (its three matrices, each held twice, take "
                    + $"{gib:F1} GiB)."
            );
            return 1;
        }
    }

    private static int Compare(nint sgemm, GemmShape shape, int turns, int threads)
    {
        var (m, n, k, ta, tb) = shape;
        var g = new Generator(1);
        using var a = Ops.Normal(ta ? new Shape(k, m) : new Shape(m, k), g);
        using var b = Ops.Normal(tb ? new Shape(n, k) : new Shape(k, n), g);
        using var c = Ops.Zeros(new Shape(m, n));
        float[] ha = a.ToArray<float>(),
            hb = b.ToArray<float>(),
            hc = new float[m * n];
        var pins = new[] { ha, hb, hc }.Select(h => GCHandle.Alloc(h, GCHandleType.Pinned)).ToArray();
        try
        {
            // Addresses as integers, which a closure can hold.
            nint x = pins[0].AddrOfPinnedObject(),
                y = pins[1].AddrOfPinnedObject(),
                z = pins[2].AddrOfPinnedObject();
            void Ours() => Ops.MatMulInto(a, b, c, accumulate: false, transposeA: ta, transposeB: tb);
            void Theirs() => Sgemm(sgemm, shape, (float*)x, (float*)y, (float*)z);
            // Both compute the same product: the largest difference, over the largest magnitude, within float32's
            // rounding over k terms.
            Ours();
            Theirs();
            var ours = c.ToArray<float>();
            double worst = 0,
                scale = 0;
            for (int i = 0; i < ours.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(ours[i] - hc[i]));
                scale = Math.Max(scale, Math.Abs(hc[i]));
            }
            double difference = scale > 0 ? worst / scale : worst;
            if (!(difference <= 1e-5 * Math.Sqrt(k)))
            {
                Console.Error.WriteLine(
                    $"gemm-vs-openblas: {shape}: the two products differ by {difference:E1} of the largest element."
                );
                return 1;
            }
            // Warm-up, 3 s of alternating calls: the runtime's optimized code, and OpenBLAS's threads started.
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < 3)
            {
                Ours();
                Theirs();
            }
            int burst = Math.Max(1, (int)(0.02 / Seconds(Ours, 1)));
            var ourTimes = new List<double>();
            var theirTimes = new List<double>();
            for (int t = 0; t < turns; t++)
            {
                bool oursFirst = t % 2 == 0;
                double first = Seconds(oursFirst ? Ours : Theirs, burst),
                    second = Seconds(oursFirst ? Theirs : Ours, burst);
                ourTimes.Add(oursFirst ? first : second);
                theirTimes.Add(oursFirst ? second : first);
            }
            var ratios = theirTimes.Select((theirs, t) => theirs / ourTimes[t]).ToArray();
            double flops = 2.0 * m * n * k,
                oursMedian = Quantile(ourTimes, 0.5),
                theirsMedian = Quantile(theirTimes, 0.5);
            Console.WriteLine(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"gemm-vs-openblas {shape} threads={threads} turns={turns} burst={burst} "
                        + $"ours_ms={oursMedian * 1e3:F3} ({flops / oursMedian / 1e9:F1} GFLOP/s) "
                        + $"openblas_ms={theirsMedian * 1e3:F3} ({flops / theirsMedian / 1e9:F1} GFLOP/s) "
                        + $"openblas_over_ours median={Quantile(ratios, 0.5):F3} q1={Quantile(ratios, 0.25):F3} "
                        + $"q3={Quantile(ratios, 0.75):F3} ours_faster_turns={ratios.Count(r => r > 1)}/{turns} "
                        + $"max_difference={difference:E1}"
                )
            );
        }
        finally
        {
            foreach (var pin in pins)
                pin.Free();
        }
        return 0;
    }

    // C = op(A)·op(B), row-major, through cblas_sgemm at `function`; the leading dimensions are the stored rows'
    // lengths.
    private static void Sgemm(nint function, GemmShape s, float* a, float* b, float* c) =>
        (
            (delegate* unmanaged[Cdecl]<
                int,
                int,
                int,
                int,
                int,
                int,
                float,
                float*,
                int,
                float*,
                int,
                float,
                float*,
                int,
                void>)function
        )(
            RowMajor,
            s.TransposeA ? Trans : NoTrans,
            s.TransposeB ? Trans : NoTrans,
            s.M,
            s.N,
            s.K,
            1f,
            a,
            s.TransposeA ? s.M : s.K,
            b,
            s.TransposeB ? s.K : s.N,
            0f,
            c,
            s.N
        );
}
