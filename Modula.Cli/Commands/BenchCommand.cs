using System.Diagnostics;
using System.Globalization;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Cli.Commands;

/// <summary><c>modula bench gemm</c>: median time and GFLOP/s of matrix products, one line per shape.</summary>
public static class BenchCommand
{
    /// <summary>A benchmark shape: <c>batch</c> products of [m, k]·[k, n], with A or B read transposed (column-major)
    /// when set.</summary>
    /// <remarks>With <paramref name="Gram"/>, B is A's transpose read from the same tensor (C = Aᵀ·A, with
    /// TransposeA), the symmetric product Newton–Schulz forms; its flops are counted as a full product's.</remarks>
    public readonly record struct GemmShape(
        int Batch,
        int M,
        int N,
        int K,
        bool TransposeA = false,
        bool TransposeB = false,
        bool Gram = false
    )
    {
        /// <summary>2·batch·m·n·k.</summary>
        public double Flops => 2.0 * Batch * M * N * K;
    }

    /// <summary>The square anchor and the products of one step of the default GPT.</summary>
    public static readonly GemmShape[] Square = [new(1, 1024, 1024, 1024)];

    /// <summary>
    /// GPT-step shapes and layouts (batch 12 × context 64 = 768 rows, d 128, MLP 512, 48 attention
    /// heads of 64×32): a Linear's forward x·Wᵀ, its input gradient g·W, its weight gradient gᵀ·x,
    /// and attention's q·kᵀ, p·v and pᵀ·g.
    /// </summary>
    public static readonly GemmShape[] Gpt =
    [
        new(1, 768, 128, 128, TransposeB: true),
        new(1, 768, 128, 128),
        new(1, 128, 128, 768, TransposeA: true),
        new(1, 768, 512, 128, TransposeB: true),
        new(1, 768, 128, 512),
        new(1, 512, 128, 768, TransposeA: true),
        new(1, 768, 128, 512, TransposeB: true),
        new(1, 768, 512, 128),
        new(1, 128, 512, 768, TransposeA: true),
        new(48, 64, 64, 32, TransposeB: true),
        new(48, 64, 32, 64),
        new(48, 64, 32, 64, TransposeA: true),
    ];

    /// <summary>
    /// One Newton–Schulz iteration of the default GPT's dualized update, batched by shape: the
    /// sixteen 128×128 attention matrices' M·P, and the eight MLP matrices (512×128 tall) M·P and
    /// Gram MᵀM, each Gram product both as a general product of two tensors and as the symmetric
    /// product of one tensor with itself (Gram: lower triangle and mirror).
    /// </summary>
    public static readonly GemmShape[] NewtonSchulz =
    [
        new(16, 128, 128, 128),
        new(16, 128, 128, 128, TransposeA: true),
        new(16, 128, 128, 128, TransposeA: true, Gram: true),
        new(8, 512, 128, 128),
        new(8, 128, 128, 512, TransposeA: true),
        new(8, 128, 128, 512, TransposeA: true, Gram: true),
    ];

    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        if (args.Length == 0 || CommandLine.WantsHelp(args))
        {
            output.WriteLine(
                """
                modula bench gemm [--device cpu|cuda|opencl|ilgpu-cpu] [--threads N] [--repeat N]
                                  [--shapes all|square|gpt|newton-schulz]
                modula bench gpt-step [--device cpu|cuda|opencl|ilgpu-cpu] [--threads N] [--steps 100] [--warmup 30]
                                      [--optimizers normed-adam,adam,dualized-momentum,manifold-momentum,muon]
                                      [--recipe v1|v2]
                                      [--width 128] [--heads 4] [--blocks 4] [--context 64] [--batch 12] [--profile]
                                      [--interleave]

                Times C = A·B (float32) and prints per shape (Aᵀ / Bᵀ: that operand is read column-major,
                as in a GPT step's gradient products):
                  gemm batch=B m=M n=N k=K [Aᵀ] [Bᵀ] device=D threads=T median_ms=X gflops=Y
                after one line naming the CPU's instruction set and vector widths in use:
                  cpu isa=avx2+fma gemm_bits=256 lane_bits=256 threads=T fma_peak_gflops=P
                where P is the multiply-add ceiling measured in registers at the tile's width (on at most as
                many threads as the machine has processors, as more add no multiply-add units); on the CPU
                each shape also prints its share of it (of_peak=). Other devices print 'device D' instead.
                Each timed run repeats the product enough times to last about 20 ms (at least once). Untimed
                products come first, for at least 1.5 s before the first shape's samples (the runtime's
                optimized code replaces its first code by then).
                --threads sets CPU worker threads (default: all cores); --repeat the timed runs (default 30).
                gpt-step times full training steps (forward, backward, update) of Modula v1's GPT (default:
                width 128, 4 heads, 4 blocks, batch 12 × 64 tokens; the size flags change it) for each
                optimizer and prints one line each, timing --steps steps after --warmup untimed ones (with any,
                more follow until the process is 1.5 s into them and the runtime has compiled nothing for 1 s,
                but none starts 30 s or more after the run's first: a step's code is optimized only after some
                60 steps):
                  gpt-step optimizer=O device=D threads=T median_ms=X forward_ms=F backward_ms=B update_ms=U
                and one of device work per step (means over the timed steps; the bench's own synchronizations
                between phases are not counted; zeros on the CPU device, which launches nothing):
                  gpt-step-counts optimizer=O device=D launches=L syncs=S uploads=U downloads=N
                                  forward_launches= forward_syncs= backward_launches= backward_syncs=
                                  update_launches= update_syncs=
                where syncs are host waits for the device: synchronizations, downloads and uploads.
                --profile then runs as many steps again timing every primitive op (each followed by a
                device synchronization) and prints a table of calls and milliseconds per step.
                --interleave builds every optimizer's run first, then warms them up and times them in turns,
                one step of each per turn, each turn starting one run further along the list, so that all
                meet the same spells of a shared machine's load (peak_rss_mb then counts all the runs). Lines
                come in the order given, and each optimizer after the first also prints the median and
                quartiles, over the turns, of its step's time over the first optimizer's in the same turn
                (the value at position p·n of the n ratios sorted):
                  gpt-step-ratio optimizer=O over=F median=R q1=Q1 q3=Q3
                Listing an optimizer twice measures the method's own spread. With --warmup 0 the first turn
                includes the runtime's first compilation. With --profile each run is profiled after the
                others' steps, after a line 'gpt-step-profile optimizer=O'.
                """
            );
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] == "gpt-step")
            return GptStepBench.Run(
                new Options(
                    args[1..],
                    [
                        "device",
                        "threads",
                        "steps",
                        "warmup",
                        "recipe",
                        "optimizers",
                        "width",
                        "heads",
                        "blocks",
                        "context",
                        "batch",
                    ],
                    ["profile", "interleave"]
                ),
                output
            );
        if (args[0] != "gemm")
            throw new UsageException(
                $"unknown benchmark '{args[0]}'; available: gemm, "
                    + $"gpt-step.{Suggestions.DidYouMean(args[0], ["gemm", "gpt-step"])}"
            );
        var options = new Options(args[1..], ["device", "threads", "repeat", "shapes"]);
        int threads = options.GetInt("threads", Environment.ProcessorCount, 1, 1024);
        int repeat = options.GetInt("repeat", 30, 1, 1_000_000);
        using var device = Device.Open(options.GetDevice());
        using var threadScope = CpuDevice.UseThreads(threads);
        var shapes = options.Get("shapes", "all") switch
        {
            "all" => Square.Concat(Gpt).Concat(NewtonSchulz).ToArray(),
            "newton-schulz" => NewtonSchulz,
            "square" => Square,
            "gpt" => Gpt,
            var s => throw new UsageException($"unknown shape set '{s}'; use all, square, gpt or newton-schulz."),
        };
        double peak = device.Kind == DeviceKind.Cpu ? CpuDevice.MeasureFmaPeakGflops(CpuDevice.Threads) : double.NaN;
        output.WriteLine(
            device.Kind == DeviceKind.Cpu
                ? string.Create(
                    CultureInfo.InvariantCulture,
                    $"cpu {CpuDevice.InstructionSet} threads={CpuDevice.Threads} fma_peak_gflops={peak:F1}"
                )
                : $"device {device.Name} (no FMA peak: the figure is measured for the CPU engine only)"
        );
        foreach (var shape in shapes)
        {
            double ms = MedianMilliseconds(shape, device, repeat);
            output.WriteLine(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"gemm batch={shape.Batch} m={shape.M} n={shape.N} "
                        + $"k={shape.K}{(shape.TransposeA ? " Aᵀ" : "")}{(shape.TransposeB ? " Bᵀ" : "")}"
                        + $"{(shape.Gram ? " gram" : "")} device={device.Name} threads={CpuDevice.Threads} "
                        + $"median_ms={ms:F4} gflops={Rate(shape.Flops / ms / 1e6)}"
                        + $"{PeakShare(shape.Flops / ms / 1e6, peak)}"
                )
            );
        }
        return 0;
    }

    /// <summary>GFLOP/s to one decimal, or three below 10 (the ILGPU simulator's rates are fractions of one).</summary>
    private static string Rate(double gflops) =>
        gflops.ToString(gflops < 10 ? "F3" : "F1", CultureInfo.InvariantCulture);

    private static string PeakShare(double gflops, double peak) =>
        double.IsNaN(peak) ? "" : string.Create(CultureInfo.InvariantCulture, $" of_peak={100 * gflops / peak:F0}%");

    /// <summary>Median wall time of one product, after warm-up, writing into a reused output.</summary>
    public static double MedianMilliseconds(GemmShape shape, Device device, int repeat)
    {
        var generator = new Tensors.Random.Generator(1);
        using var a = Ops.Normal(
            shape.TransposeA ? new Shape(shape.Batch, shape.K, shape.M) : new Shape(shape.Batch, shape.M, shape.K),
            generator,
            device: device
        );
        using var b = shape.Gram
            ? a.View(shape.Batch, shape.K, shape.N)
            : Ops.Normal(
                shape.TransposeB ? new Shape(shape.Batch, shape.N, shape.K) : new Shape(shape.Batch, shape.K, shape.N),
                generator,
                device: device
            );
        using var c = Ops.Zeros(new Shape(shape.Batch, shape.M, shape.N), device: device);
        // One untimed product compiles; more follow while the process warms up (Measure.WarmUp: the runtime's
        // optimized code replaces its first code), and then one timed product sets how many make a sample of ~20 ms,
        // so timer resolution does not matter and a slow device (the ILGPU simulator) is not run for hours.
        Measure.StillWarming();
        do
        {
            Ops.MatMulInto(a, b, c, accumulate: false, shape.TransposeA, shape.TransposeB);
            c.Item0(); // a device's queue must not run ahead of the clock
        } while (Measure.StillWarming());
        var once = Stopwatch.StartNew();
        Ops.MatMulInto(a, b, c, accumulate: false, shape.TransposeA, shape.TransposeB);
        c.Item0();
        int inner = (int)Math.Clamp(20 / Math.Max(once.Elapsed.TotalMilliseconds, 1e-4), 1, 100_000);
        for (int i = 0; inner > 1 && i < 2 * inner; i++) // a product slower than a sample is warm already
            Ops.MatMulInto(a, b, c, accumulate: false, shape.TransposeA, shape.TransposeB);
        c.Item0();
        var samples = new double[repeat];
        for (int r = 0; r < repeat; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < inner; i++)
                Ops.MatMulInto(a, b, c, accumulate: false, shape.TransposeA, shape.TransposeB);
            c.Item0();
            samples[r] = sw.Elapsed.TotalMilliseconds / inner;
        }
        return Measure.Median(samples);
    }

    /// <summary>Forces completion of queued device work by reading one element back.</summary>
    private static void Item0(this Tensor t)
    {
        using var flat = t.View(-1);
        using var first = flat.Slice(0, 0, 1);
        _ = first.Item();
    }
}
