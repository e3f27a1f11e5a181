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
        GptSettings Settings(string name) => new(recipe, config, Choices[name], 2000, batch, 0);
        if (options.Has("interleave"))
        {
            RunInterleaved(names, Settings, corpus, device, warmup, steps, options.Has("profile"), output);
            return 0;
        }
        foreach (var name in names)
        {
            var settings = Settings(name);
            using var run = new GptRun(settings, corpus, device);
            WarmUp([run], device, warmup);
            var timings = new StepTimings();
            for (int i = 0; i < steps; i++)
                timings.Add(TimedStep(run, device, timings.Counts));
            Report(name, settings, device, timings, steps, output);
            if (options.Has("profile"))
                Profile(run, device, steps, output);
        }
        return 0;
    }

    /// <summary>
    /// <c>--interleave</c>: every optimizer's run is built first, then warmed up and timed in turns, one step of each
    /// per turn, so that all of them meet the same spells of a shared machine's load. Each turn starts one run further
    /// along the list (turn i at run i mod n), so that no run always follows the same one: a step leaves the caches,
    /// the collector and the clock to the step after it. Besides the usual lines, in the order given, each optimizer
    /// after the first gets <see cref="TurnRatios"/> of its steps over the first optimizer's:
    ///   gpt-step-ratio optimizer=O over=F median=R q1=Q1 q3=Q3
    /// With <c>--profile</c>, each run is then profiled in turn after a <c>gpt-step-profile optimizer=O</c> line.
    /// </summary>
    private static void RunInterleaved(
        string[] names,
        Func<string, GptSettings> settingsOf,
        TextCorpus corpus,
        Device device,
        int warmup,
        int steps,
        bool profile,
        TextWriter output
    )
    {
        var settings = names.Select(settingsOf).ToArray();
        var runs = new List<GptRun>();
        try
        {
            foreach (var s in settings)
                runs.Add(new GptRun(s, corpus, device));
            int n = runs.Count;
            WarmUp(runs, device, warmup);
            var timings = runs.Select(_ => new StepTimings()).ToArray();
            for (int i = 0; i < steps; i++)
            for (int j = 0; j < n; j++)
            {
                int k = (i + j) % n;
                timings[k].Add(TimedStep(runs[k], device, timings[k].Counts));
            }
            for (int k = 0; k < n; k++)
                Report(names[k], settings[k], device, timings[k], steps, output);
            for (int k = 1; k < n; k++)
            {
                var (median, q1, q3) = TurnRatios(timings[k].Total, timings[0].Total);
                output.WriteLine(
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"gpt-step-ratio optimizer={names[k]} over={names[0]} median={median:F3} q1={q1:F3} q3={q3:F3}"
                    )
                );
            }
            if (profile)
                for (int k = 0; k < n; k++)
                {
                    output.WriteLine($"gpt-step-profile optimizer={names[k]}");
                    Profile(runs[k], device, steps, output);
                }
        }
        finally
        {
            foreach (var run in runs)
                run.Dispose();
        }
    }

    /// <summary>
    /// The median and quartiles (<see cref="Measure.Quantile"/>) of the ratios <paramref name="times"/>[i] /
    /// <paramref name="firsts"/>[i]: one run's step time over the first run's in the same turn i.
    /// </summary>
    internal static (double Median, double Q1, double Q3) TurnRatios(
        IReadOnlyList<double> times,
        IReadOnlyList<double> firsts
    )
    {
        if (times.Count != firsts.Count || times.Count == 0)
            throw new ArgumentException(
                $"GptStepBench: {times.Count} step times against {firsts.Count} of the first run's."
            );
        var ratios = times.Select((t, i) => t / firsts[i]).ToArray();
        return (Measure.Quantile(ratios, 0.5), Measure.Quantile(ratios, 0.25), Measure.Quantile(ratios, 0.75));
    }

    /// <summary>The warm-up steps of <paramref name="runs"/> in turns, as the timed ones take them, and with any at
    /// all, more turns until the process has warmed up for <see cref="Measure.WarmUp"/> (its clock starts with the
    /// first warm-up step of the process) and the runtime has stopped compiling (<see cref="Measure.StillCompiling"/>),
    /// but none past <see cref="Measure.CompilerWaitLimit"/> from this warm-up's start: the code these runs bring is
    /// then optimized before their first timed step.</summary>
    private static void WarmUp(IReadOnlyList<GptRun> runs, Device device, int warmup)
    {
        if (warmup == 0)
            return;
        var started = Stopwatch.StartNew();
        Measure.StillWarming(); // starts the process's clock, if this is its first warm-up
        for (int i = 0; ; i++)
        {
            for (int j = 0; j < runs.Count; j++)
                TimedStep(runs[(i + j) % runs.Count], device);
            bool compiling = Measure.StillCompiling(); // asked after every turn, so that it sees each compilation
            bool more = (Measure.StillWarming() || compiling) && started.Elapsed < Measure.CompilerWaitLimit;
            if (i + 1 >= warmup && !more)
                return;
        }
    }

    /// <summary>One optimizer's timed steps: whole, forward and backward milliseconds, and device work.</summary>
    private sealed class StepTimings
    {
        public List<double> Total { get; } = [];
        public List<double> Forward { get; } = [];
        public List<double> Backward { get; } = [];
        public PhaseCounts Counts { get; } = new();

        public void Add((double Forward, double Backward, double Update) step)
        {
            Forward.Add(step.Forward);
            Backward.Add(step.Backward);
            Total.Add(step.Forward + step.Backward + step.Update);
        }
    }

    /// <summary>Prints an optimizer's <c>gpt-step</c> and <c>gpt-step-counts</c> lines.</summary>
    private static void Report(
        string name,
        GptSettings settings,
        Device device,
        StepTimings timings,
        int steps,
        TextWriter output
    )
    {
        double median = Measure.Median(timings.Total),
            forward = Measure.Median(timings.Forward),
            backward = Measure.Median(timings.Backward);
        output.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"gpt-step optimizer={name} recipe={settings.Recipe} device={device.Name} "
                    + $"threads={CpuDevice.Threads} median_ms={median:F2} forward_ms={forward:F2} "
                    + $"backward_ms={backward:F2} update_ms={median - forward - backward:F2} "
                    + $"peak_rss_mb={Measure.PeakRssMb():F0}"
            )
        );
        output.WriteLine($"gpt-step-counts optimizer={name} device={device.Name} {timings.Counts.PerStep(steps)}");
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
