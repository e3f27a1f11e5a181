using System.Globalization;
using Modula.Cli.Sweep;
using Modula.Cli.Training;
using Modula.Data;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;

namespace Modula.Cli.Commands;

/// <summary>
/// <c>modula sweep resmlp|gpt</c>: learning-rate grids across width and depth for each optimizer,
/// scored and plotted as in the Modula paper. Resumable: finished cells in the CSV are not rerun.
/// </summary>
public static class SweepCommand
{
    private const string Help = """
        modula sweep resmlp|gpt [options]

        Trains the family at every width (at the base depth) and every depth (at the base width)
        with every optimizer at every learning rate 2^k of its grid, and scores each run by its
        mean training loss over the last steps. Writes OUT/sweep.csv (one row per run, appended
        as runs finish; a rerun skips finished runs), OUT/FAMILY-width.svg, OUT/FAMILY-depth.svg,
        OUT/FAMILY-transfer.svg and OUT/summary.md, and prints the summary: the best learning
        rate per scale and its drift in grid steps.

        Options (defaults: resmlp | gpt):
          --optimizers LIST   normed-adam,adam,normed-sgd,sgd,dualized (the default), manifold, muon
                              (Muon's lr swept, Adam's for embeddings, input layer and head at 0.003)
          --widths LIST       32,64,128,256 | 32,64,128
          --depths LIST       2,4,8,16 | 1,2,4        (residual blocks)
          --base-width N      width of the depth sweep: 64 | 64
          --base-depth N      depth of the width sweep: 2 | 2
          --grid LIST|A:B     learning-rate exponents for every optimizer (default: each its own:
                              normed-adam, normed-sgd, dualized, manifold -6:1; adam -13:-3; sgd -6:4;
                              muon -10:-3)
          --steps N           training steps per run: 500 | 200
          --batch N           examples per step: 128 | 12
          --seeds LIST        seeds averaged per point: 0
          --average-last N    steps the score averages: 50 | 20
          --jobs N            runs at a time (each gets cores/jobs threads): cores
          --out DIR           output folder: sweep-FAMILY
          --report            only rewrite the plots and summary from the CSV: of the runs it holds
                              (or those the plan options given select; refused when none match)
          --device NAME       cpu (default), cuda, opencl, ilgpu-cpu
          --data PATH         dataset folder (else MODULA_DATA, ./data, download)
          --no-download       never download missing data
        """;

    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        if (args.Length == 0 || CommandLine.WantsHelp(args))
        {
            output.WriteLine(Help);
            return args.Length == 0 ? 2 : 0;
        }
        string family = args[0];
        if (family is not ("resmlp" or "gpt"))
            throw new UsageException(
                $"unknown sweep family '{family}'; use resmlp or gpt."
                    + Suggestions.DidYouMean(family, ["resmlp", "gpt"])
            );
        var options = new Options(
            args[1..],
            [.. PlanOptions, "average-last", "jobs", "out", "device", "data"],
            ["report", "no-download"]
        );
        string directory = options.GetOutputFolder("out", $"sweep-{family}");
        options.GetDevice();
        string? data = options.GetExistingDirectory("data");
        int jobs = options.GetInt("jobs", Environment.ProcessorCount, 1, 1024);
        string csv = Path.Combine(directory, "sweep.csv");
        if (options.Has("report") && !File.Exists(csv))
            throw new UsageException($"--report: {csv} does not exist; there are no runs to report.");
        var store = new SweepStore(csv, readOnly: options.Has("report"));
        var plan = options.Has("report") ? ReportPlan(family, options, store.Results, csv) : Plan(family, options);

        if (!options.Has("report"))
        {
            using var threadScope = CpuDevice.UseThreads(Math.Max(1, Environment.ProcessorCount / jobs));
            bool download = !options.Has("no-download");
            var images = family == "resmlp" ? ImageDataset.LoadFashionMnist(true, data, download, output) : null;
            var text =
                family == "gpt"
                    ? TextCorpus.Load(DataFiles.Locate(DataFiles.Shakespeare, data, download, output))
                    : null;
            using var device = Device.Open(options.Get("device", "cpu"));
            CheckWritableFolder(directory); // once the data and the device are found, before any cell trains
            if (device.Kind != DeviceKind.Cpu && jobs > 1)
            {
                // One accelerator stream is not shared between concurrent runs.
                output.WriteLine(
                    $"sweep: {device.Name} runs one cell at a time (--jobs {jobs} applies to the CPU only)."
                );
                jobs = 1;
            }
            var cells = plan.Cells();
            output.WriteLine(
                $"sweep {family}: {cells.Count} runs ({cells.Count(store.Contains)} already in {directory}/sweep.csv), "
                    + $"{jobs} at a time on {device.Name}"
            );
            var runner = new SweepRunner(plan, store, SweepRunner.Trainer(family, images, text, device));
            var gate = new object();
            runner.Run(jobs, (r, done, total) =>
            {
                lock (gate)
                    output.WriteLine(
                        string.Create(
                            CultureInfo.InvariantCulture,
                            $"[{done}/{total}] {r.Cell.Optimizer} width {r.Cell.Width} depth {r.Cell.Depth} lr "
                                + $"2^{r.Cell.LrExponent} seed {r.Cell.Seed}: score "
                                + $"{r.Score:F4}{(r.Diverged ? " diverged" : "")} ({r.Seconds:F1} s)"
                        )
                    );
            });
        }

        var results = store.Results;
        foreach (var path in SweepReport.WritePlots(plan, results, directory))
            output.WriteLine($"wrote {path}");
        string summary = SweepReport.Summary(plan, results);
        File.WriteAllText(Path.Combine(directory, "summary.md"), summary);
        output.WriteLine();
        output.Write(summary);
        return 0;
    }

    /// <summary>The plan the options describe, with the family's defaults.</summary>
    public static SweepPlan Plan(string family, Options options)
    {
        bool gpt = family == "gpt";
        var optimizers = options.Has("optimizers")
            ? Once(options.Get("optimizers", "").Split(',').Select(SweepOptimizer.Find))
            : SweepOptimizer.Default;
        var widths = Positive(
            options.GetInts("widths", gpt ? [32, 64, 128] : [32, 64, 128, 256]),
            "widths",
            Models.MaxWidth
        );
        if (gpt && widths.FirstOrDefault(w => w % 4 != 0) is > 0 and var bad)
            throw new UsageException($"GPT widths must be divisible by its 4 heads, got {bad}.");
        int baseWidth = options.GetInt("base-width", 64, 1, Models.MaxWidth);
        if (gpt && baseWidth % 4 != 0)
            throw new UsageException($"GPT widths must be divisible by its 4 heads, got --base-width {baseWidth}.");
        var seeds = Once(options.GetInts("seeds", [0]));
        if (seeds.Any(s => s < 0))
            throw new UsageException($"--seeds must not be negative, got {string.Join(",", seeds)}.");
        var grid = options.Has("grid") ? Once(options.GetInts("grid", [])) : null;
        foreach (int exponent in grid ?? [])
            if (exponent is < -60 or > 60)
                throw new UsageException(
                    $"--grid exponents must lie in -60..60 (learning rates 2^-60..2^60), got {exponent}."
                );
        var depths = Positive(options.GetInts("depths", gpt ? [1, 2, 4] : [2, 4, 8, 16]), "depths", Models.MaxBlocks);
        int steps = options.GetPositiveInt("steps", gpt ? 200 : 500),
            averaged = options.GetPositiveInt("average-last", Math.Min(steps, gpt ? 20 : 50));
        if (averaged > steps)
            throw new UsageException($"--average-last {averaged} exceeds the --steps {steps} each run trains.");
        int batch = options.GetPositiveInt("batch", gpt ? 12 : 128);
        // Every run's tensors must fit before the first starts, not when a later cell reaches them.
        foreach (int width in widths.Append(baseWidth))
            try
            {
                if (gpt)
                    Models.CheckTensorSizes(SweepRunner.GptShape(Models.GptVocabulary, width, 1), batch);
                else
                    Models.CheckTensorSizes(family, new Dictionary<string, int> { ["width"] = width }, batch);
            }
            catch (UsageException e)
            {
                // The rule is train's, in train's terms (--width, a GPT's --context of 64 here): say which cell.
                string source = widths.Contains(width) ? "--widths" : "--base-width";
                throw new UsageException($"sweep {family} at {source} {width} with --batch {batch}: {e.Message}");
            }
        return new SweepPlan(
            family,
            optimizers,
            widths,
            depths,
            baseWidth,
            options.GetInt("base-depth", 2, 1, Models.MaxBlocks),
            grid,
            steps,
            batch,
            seeds,
            averaged
        );
    }

    /// <summary>Options that shape a sweep's plan.</summary>
    private static readonly string[] PlanOptions =
    [
        "optimizers",
        "widths",
        "depths",
        "base-width",
        "base-depth",
        "grid",
        "steps",
        "batch",
        "seeds",
    ];

    /// <summary>
    /// The plan a report describes: the one the options give when any plan option is given, else the
    /// one the CSV's rows describe. A report that would describe no row is refused, so an existing
    /// report is never overwritten with empty plots.
    /// </summary>
    public static SweepPlan ReportPlan(string family, Options options, IReadOnlyList<SweepResult> results, string csv)
    {
        var rows = results.Where(r => r.Cell.Family == family).ToList();
        if (rows.Count == 0)
            throw new UsageException($"--report: {csv} holds no {family} runs; there is nothing to report.");
        var plan = PlanOptions.Any(options.Has)
            ? Plan(family, options)
            : SweepPlan.Describing(family, rows, options.GetPositiveInt("average-last", family == "gpt" ? 20 : 50));
        if (!plan.Along(SweepAxis.Width, rows).Any() && !plan.Along(SweepAxis.Depth, rows).Any())
            throw new UsageException(
                $"--report: no run in {csv} belongs to the sweep the options describe; run without the plan options to "
                    + $"report the CSV's own runs."
            );
        return plan;
    }

    /// <summary>A list's entries, each once in the order first given: an entry given twice is one run (run twice, it
    /// wrote duplicate rows and counted one seed twice in the averages).</summary>
    private static List<T> Once<T>(IEnumerable<T> entries) => entries.Distinct().ToList();

    private static IReadOnlyList<int> Positive(IReadOnlyList<int> values, string name, int max) =>
        values.All(v => v > 0 && v <= max)
            ? Once(values)
            : throw new UsageException($"--{name} must all lie in 1..{max}, got {string.Join(",", values)}.");

    /// <summary>Refuses (a <see cref="UsageException"/>) a sweep folder in which no file can be created, before any
    /// cell trains: the first row is written only after the first cell's run. The folders made for the check are
    /// removed again (the first row makes them), so a sweep stopped before its first row leaves none.</summary>
    private static void CheckWritableFolder(string directory)
    {
        // Innermost first: --out may name several levels that do not exist yet.
        var made = new List<string>();
        for (
            string? d = Path.GetFullPath(directory);
            d is not null && !Directory.Exists(d);
            d = Path.GetDirectoryName(d)
        )
            made.Add(d);
        try
        {
            Directory.CreateDirectory(directory);
            CheckpointWriter.CheckWritable(Path.Combine(directory, "sweep.csv"), "--out");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(
                $"--out {directory}: cannot create the folder ({CheckpointWriter.WhyNotCreated(e)})."
            );
        }
        finally
        {
            foreach (var d in made.Where(Directory.Exists))
                try
                {
                    Directory.Delete(d);
                }
                catch (IOException) { } // another sweep began writing there meanwhile: it is that sweep's now
        }
    }
}
