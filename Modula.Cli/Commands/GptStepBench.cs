using System.Diagnostics;
using System.Globalization;
using Modula.Cli.Training;
using Modula.Data;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Cli.Commands;

/// <summary><c>modula bench gpt-step</c>: median time of one training step of the default GPT, per optimizer, side by
/// side.</summary>
public static class GptStepBench
{
    private static readonly Dictionary<string, OptimizerChoice> Choices = new()
    {
        ["normed-adam"] = GptSettings.V1Optimizer,
        ["adam"] = new("adam", UpdateRule.Plain, 1e-3, 0.9, 0.99, 0.01),
        ["dualized-momentum"] = GptSettings.V2Optimizer,
        ["manifold-momentum"] = GptSettings.V2Optimizer with { Rule = UpdateRule.Manifold },
        ["muon"] = OptimizerChoice.MuonDefaults,
    };

    /// <summary>Runs the benchmark.</summary>
    public static int Run(Options options, TextWriter output)
    {
        int threads = options.GetInt("threads", Environment.ProcessorCount, 1, 1024);
        int steps = options.GetInt("steps", 100, 1, 1_000_000),
            warmup = options.GetInt("warmup", 30, 0, 1_000_000);
        string recipe = options.Get("recipe", "v1");
        if (recipe is not ("v1" or "v2"))
            throw new UsageException($"unknown recipe '{recipe}'; use v1 or v2.");
        using var device = Device.Open(options.GetDevice());
        using var threadScope = CpuDevice.UseThreads(threads);
        // Manifold descent only when asked: its dual ascent makes it several times slower than the rest.
        var names = options.Get("optimizers", "normed-adam,adam,dualized-momentum").Split(',');
        foreach (var name in names.Where(n => !Choices.ContainsKey(n)))
            throw new UsageException($"unknown optimizer '{name}'; available: {string.Join(", ", Choices.Keys)}.");
        var config = Models.GptConfig(options);
        int batch = options.GetPositiveInt("batch", 12);
        Models.CheckTensorSizes(config, batch);
        output.WriteLine($"cpu {CpuDevice.InstructionSet}");
        output.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"model width={config.DEmbed} heads={config.Heads} blocks={config.Blocks} context={config.Context} "
                    + $"batch={batch}"
            )
        );
        var rng = new System.Random(0);
        var text = new string(Enumerable.Range(0, 20000).Select(_ => (char)(' ' + rng.Next(config.Vocab))).ToArray());
        var corpus = new TextCorpus(text);
        foreach (var name in names)
        {
            var settings = new GptSettings(options.Get("recipe", "v1"), config, Choices[name], 2000, batch, 0);
            using var run = new GptRun(settings, corpus, device);
            var total = new List<double>();
            var forward = new List<double>();
            var backward = new List<double>();
            var counts = new PhaseCounts();
            // Warm-up steps, and with any at all, more until the process has warmed up for Measure.WarmUp (its clock
            // starts with the first optimizer's first step).
            bool warming = warmup > 0 && Measure.StillWarming();
            for (int i = 0; i < warmup || (warming && Measure.StillWarming()); i++)
                TimedStep(run, device);
            for (int i = 0; i < steps; i++)
            {
                var (f, b, u) = TimedStep(run, device, counts);
                forward.Add(f);
                backward.Add(b);
                total.Add(f + b + u);
            }
            double median = Measure.Median(total);
            output.WriteLine(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"gpt-step optimizer={name} recipe={settings.Recipe} device={device.Name} "
                        + $"threads={CpuDevice.Threads} median_ms={median:F2} forward_ms={Measure.Median(forward):F2} "
                        + $"backward_ms={Measure.Median(backward):F2} "
                        + $"update_ms={median - Measure.Median(forward) - Measure.Median(backward):F2} "
                        + $"peak_rss_mb={Measure.PeakRssMb():F0}"
                )
            );
            output.WriteLine($"gpt-step-counts optimizer={name} device={device.Name} {counts.PerStep(steps)}");
            if (options.Has("profile"))
                Profile(run, device, steps, output);
        }
        return 0;
    }

    /// <summary>
    /// One step split into forward, backward and update milliseconds (the device is synchronized at each
    /// boundary); adds each phase's launches and transfers to <paramref name="counts"/> when given.
    /// </summary>
    private static (double Forward, double Backward, double Update) TimedStep(
        GptRun run,
        Device device,
        PhaseCounts? counts = null
    )
    {
        var clock = Stopwatch.StartNew();
        var start = device.Counters;
        using var scope = TensorScope.Begin();
        var (x, y) = run.SampleTrainBatch();
        var loss = run.Loss(x, y, run.Trainer.Parameters);
        var forward = Boundary(device, ref start);
        double f = clock.Elapsed.TotalMilliseconds;
        loss.Backward();
        var backward = Boundary(device, ref start);
        double b = clock.Elapsed.TotalMilliseconds;
        run.Trainer.Step();
        var update = Boundary(device, ref start);
        counts?.Add(forward, backward, update);
        return (f, b - f, clock.Elapsed.TotalMilliseconds - b);
    }

    /// <summary>Ends a phase: its counts since <paramref name="start"/>, then the bench's own synchronization
    /// (not counted: a training step does not make it), after which the next phase starts.</summary>
    private static DeviceCounters Boundary(Device device, ref DeviceCounters start)
    {
        var phase = device.Counters - start;
        device.Synchronize();
        start = device.Counters;
        return phase;
    }

    /// <summary>Runs <paramref name="steps"/> more steps under the <see cref="OpProfiler"/> and prints where a step's
    /// time goes.</summary>
    private static void Profile(GptRun run, Device device, int steps, TextWriter output)
    {
        var clock = Stopwatch.StartNew();
        using var profiler = OpProfiler.Start(device);
        for (int i = 0; i < steps; i++)
            TimedStep(run, device);
        var timings = profiler.Stop();
        output.Write(OpProfiler.Format(timings, steps));
        output.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"profiled step {clock.Elapsed.TotalMilliseconds / steps:F3} ms, of which outside primitives "
                    + $"{(clock.Elapsed.TotalMilliseconds - timings.Sum(t => t.Milliseconds)) / steps:F3} ms"
            )
        );
    }
}
