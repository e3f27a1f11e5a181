using System.Xml.Linq;
using Modula.Cli;
using Modula.Cli.Commands;
using Modula.Cli.Sweep;
using Modula.Data;
using Modula.Tensors;
using static Modula.Cli.Sweep.SweepScoring;

namespace Modula.Tests.Cli;

[TestClass]
public sealed class SweepTests
{
    private string _dir = "";

    [TestInitialize]
    public void CreateDirectory() => _dir = Directory.CreateTempSubdirectory("modula-sweep-").FullName;

    [TestCleanup]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    private static List<Point> Curve(params double[] scoresFromExponentMinus3) =>
        scoresFromExponentMinus3.Select((s, i) => new Point(i - 3, s, double.IsNaN(s))).ToList();

    [TestMethod]
    public void ScoreIsTheMeanOfTheLastLossesAndMarksDivergence()
    {
        Assert.AreEqual((2.5, false), Score([4, 3, 2, 3], 2));
        Assert.AreEqual((3.0, false), Score([4, 3, 2, 3], 10)); // fewer losses than asked: all of them
        var (nan, diverged) = Score([4, 3, double.PositiveInfinity], 2);
        Assert.IsTrue(double.IsNaN(nan) && diverged, "a non-finite loss diverges");
        Assert.AreEqual((5.0, true), Score([4, 5, 5], 2), "ending above the first loss counts as diverged");
        Assert.ThrowsExactly<ArgumentException>(() => Score([], 2));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Score([1], 0));
    }

    [TestMethod]
    public void BestDriftEdgeAndTransferOnSyntheticCurves()
    {
        var small = Curve(3.0, 2.0, 1.5, 1.8, double.NaN); // best at 2^-1
        var medium = Curve(2.8, 1.9, 1.6, 1.2, double.NaN); // best at 2^0
        var large = Curve(2.5, 1.0, 1.4, 1.9, 2.2); // best at 2^-2
        Assert.AreEqual(-1, Best(small)!.Value.LrExponent);
        Assert.AreEqual(0, Best(medium)!.Value.LrExponent);
        Assert.AreEqual(2, Drift([small, medium, large]), "best exponents -1, 0, -2 span two grid steps");
        Assert.AreEqual(0, Drift([small, small]));
        Assert.IsNull(Drift([small, Curve(double.NaN, double.NaN)]), "no best at one scale: drift undefined");
        Assert.IsNull(Best(Curve(double.NaN)));

        Assert.IsFalse(AtGridEdge(small, Best(small)!.Value));
        var edge = Curve(1.0, 2.0, 3.0);
        Assert.IsTrue(AtGridEdge(edge, Best(edge)!.Value));

        var transfer = AtSmallestScaleOptimum([(256, large), (32, small), (64, medium)]);
        CollectionAssert.AreEqual(new[] { 32, 64, 256 }, transfer.Select(t => t.Scale).ToArray());
        CollectionAssert.AreEqual(
            new[] { 1.5, 1.6, 1.4 },
            transfer.Select(t => t.Score).ToArray(),
            "scores at 2^-1, tuned on width 32"
        );
    }

    [TestMethod]
    public void CurvesAverageSeedsAndKeepDivergedPoints()
    {
        SweepResult R(int width, int exponent, int seed, double score, bool diverged = false) =>
            new(new SweepCell("resmlp", "adam", width, 2, exponent, seed, 10, 4), score, diverged, 3, 0.1);
        var curves = Curves(
            [
                R(32, -2, 0, 1.0),
                R(32, -2, 1, 2.0),
                R(32, -1, 0, 0.5),
                R(32, -1, 1, 9, diverged: true),
                R(64, -2, 0, 0.7),
            ],
            SweepAxis.Width
        );
        Assert.AreEqual(2, curves.Count);
        var c = curves[("adam", 32)];
        Assert.AreEqual(new Point(-2, 1.5, false), c[0]);
        Assert.IsTrue(c[1].Diverged && double.IsNaN(c[1].Score), "one diverged seed marks the point");
    }

    [TestMethod]
    public void SvgPlotDrawsOneLinePerSeriesWithBestPointsAndFailures()
    {
        var panel = new PlotPanel(
            "normed-adam",
            "learning rate",
            "training loss",
            [
                new PlotSeries("width 32", [(-3, 2.0), (-2, 1.5), (-1, 1.7)], (-2, 1.5), [0]),
                new PlotSeries("width 64", [(-3, 1.9), (-2, 1.4)], (-2, 1.4)),
                new PlotSeries("width 128 <all diverged>", [], null, [-3, -2]),
            ],
            e => $"2^{e}"
        );
        var svg = XDocument.Parse(SvgPlot.Write("sweep & test", [panel, panel with { Title = "adam" }], 2));
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.AreEqual(4, svg.Descendants(ns + "polyline").Count(), "two panels × two non-empty series");
        Assert.AreEqual(4, svg.Descendants(ns + "circle").Count(e => (string?)e.Attribute("class") == "best"));
        Assert.AreEqual(6, svg.Descendants(ns + "text").Count(e => (string?)e.Attribute("class") == "failed"));
        Assert.IsTrue(svg.Descendants(ns + "text").Any(e => e.Value == "sweep & test"), "title escaped and kept");
        Assert.IsTrue(svg.Descendants(ns + "text").Any(e => e.Value == "2^-2"), "x ticks label the exponents");
        var first = svg.Descendants(ns + "polyline")
            .First()
            .Attribute("points")!
            .Value.Split(' ')
            .Select(p =>
                p.Split(',').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()
            )
            .ToArray();
        Assert.IsTrue(first[0][0] < first[1][0] && first[1][0] < first[2][0], "x increases left to right");
        Assert.IsTrue(first[1][1] > first[0][1], "a lower loss is drawn lower on the page (larger y)");

        var (low, high) = SvgPlot.YRange([1.0, 1.1, 1.2, 50.0, 900.0]);
        Assert.IsTrue(low < 1.0 && high < 2.0, $"huge losses are clipped: range {low}..{high}");
    }

    [TestMethod]
    public void StoreResumesAndSurvivesAHalfWrittenLine()
    {
        string path = Path.Combine(_dir, "out", "sweep.csv");
        var a = new SweepResult(new SweepCell("gpt", "sgd", 32, 1, -3, 0, 5, 2), 1.25, false, 4.1, 0.5);
        var b = a with { Cell = a.Cell with { LrExponent = -2 }, Score = double.NaN, Diverged = true };
        new SweepStore(path).Add(a);
        File.AppendAllText(path, "gpt,sgd,32,1,-1,0.5,0,5"); // interrupted mid-row
        var store = new SweepStore(path);
        Assert.AreEqual(1, store.Results.Count);
        Assert.IsTrue(store.Contains(a.Cell) && !store.Contains(b.Cell));
        store.Add(b);
        var reread = new SweepStore(path).Results.OrderBy(r => r.Cell.LrExponent).ToList();
        Assert.AreEqual(2, reread.Count);
        Assert.AreEqual(a, reread[0]);
        Assert.IsTrue(reread[1].Diverged && double.IsNaN(reread[1].Score));

        // Cut short inside its last number, a row still parses (seconds 12 for 12.5): it is dropped, not kept.
        var c = a with { Cell = a.Cell with { LrExponent = -1 }, Seconds = 12.5 };
        string whole = File.ReadAllText(path);
        File.AppendAllText(path, c.ToCsv()[..^2]);
        Assert.IsNotNull(SweepResult.TryParse(c.ToCsv()[..^2]), "the cut row parses");
        var afterCut = new SweepStore(path);
        Assert.IsFalse(afterCut.Contains(c.Cell), "a row cut short is not taken as its cell's result");
        Assert.AreEqual(whole, File.ReadAllText(path), "the file is cut back to its last whole row");
        afterCut.Add(c);
        Assert.AreEqual(c, new SweepStore(path).Results.Single(r => r.Cell == c.Cell));

        // A report reads without repairing: the row a running sweep is appending stays as it is.
        File.AppendAllText(path, c.ToCsv()[..^2]);
        string appending = File.ReadAllText(path);
        var reader = new SweepStore(path, readOnly: true);
        Assert.AreEqual(c, reader.Results.Single(r => r.Cell == c.Cell), "the whole row is read, the cut one not");
        Assert.AreEqual(appending, File.ReadAllText(path), "a read-only store leaves the file as it is");
        Assert.ThrowsExactly<InvalidOperationException>(() => reader.Add(b), "a read-only store takes no rows");

        // A header without its newline (an edited file) is whole: it keeps its place, and gets the newline.
        File.WriteAllText(path, SweepResult.CsvHeader);
        var headerOnly = new SweepStore(path);
        Assert.AreEqual(SweepResult.CsvHeader + "\n", File.ReadAllText(path));
        headerOnly.Add(a);
        Assert.AreEqual(a, new SweepStore(path).Results.Single());

        // A path that reports no size is taken as new, not read: /dev/zero would never end.
        if (OperatingSystem.IsLinux())
        {
            string device = Path.Combine(_dir, "device.csv");
            File.CreateSymbolicLink(device, "/dev/zero");
            Assert.AreEqual(0, new SweepStore(device, readOnly: true).Results.Count, "a device holds no rows");
        }

        File.WriteAllText(path, "step,loss\n1,2\n");
        StringAssert.Contains(
            Assert.ThrowsExactly<InvalidDataException>(() => new SweepStore(path)).Message,
            "not a sweep CSV"
        );
    }

    /// <summary>Synthetic 28×28 images whose label is the row band that is bright.</summary>
    private static ImageDataset Bands(int count)
    {
        var rng = new System.Random(1);
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
        var pixels = new byte[count * 28 * 28];
        for (int i = 0; i < count; i++)
        for (int p = 0; p < 28 * 28; p++)
            pixels[i * 784 + p] = (byte)((p / 28) / 3 == labels[i] ? 200 + rng.Next(50) : rng.Next(60));
        return new ImageDataset(new IdxArray([count, 28, 28], pixels), new IdxArray([count], labels));
    }

    [TestMethod]
    public void TinyEndToEndSweepResumesAndIsDeterministicInParallel()
    {
        var plan = new SweepPlan(
            "resmlp",
            [SweepOptimizer.Find("normed-adam"), SweepOptimizer.Find("adam")],
            [8, 16],
            [],
            8,
            1,
            [-8, -2],
            Steps: 12,
            Batch: 16,
            Seeds: [0],
            AverageLast: 4
        );
        var train = SweepRunner.Trainer("resmlp", Bands(200), null, Device.Cpu);
        var parallel = new SweepStore(Path.Combine(_dir, "a.csv"));
        Assert.AreEqual(8, new SweepRunner(plan, parallel, train).Run(jobs: 2));
        Assert.AreEqual(
            0,
            new SweepRunner(plan, new SweepStore(Path.Combine(_dir, "a.csv")), train).Run(jobs: 2),
            "a rerun finds every cell done"
        );
        var serial = new SweepStore(Path.Combine(_dir, "b.csv"));
        new SweepRunner(plan, serial, train).Run(jobs: 1);
        foreach (var r in parallel.Results)
        {
            var twin = serial.Results.Single(s => s.Cell == r.Cell);
            Assert.AreEqual(twin.Score, r.Score, $"{r.Cell}: same score run alone or beside another");
        }
        var normed = parallel.Results.Single(r => r.Cell is { Optimizer: "normed-adam", Width: 16, LrExponent: -2 });
        Assert.IsTrue(
            !normed.Diverged && normed.Score < normed.FirstLoss - 0.3,
            $"normed Adam learns: {normed.FirstLoss} → {normed.Score}"
        );

        var files = SweepReport.WritePlots(plan, parallel.Results, _dir);
        CollectionAssert.AreEquivalent(
            new[] { "resmlp-width.svg", "resmlp-transfer.svg" },
            files.Select(Path.GetFileName).ToArray()
        );
        foreach (var f in files)
            XDocument.Load(f);
        string summary = SweepReport.Summary(plan, parallel.Results);
        StringAssert.Contains(summary, "| normed-adam |");
        StringAssert.Contains(summary, "| optimizer | 8 | 16 | drift |");
    }

    [TestMethod]
    public void MuonIsASweepOptimizerOutsideTheDefaultSet()
    {
        var muon = SweepOptimizer.Find("muon");
        Assert.IsFalse(SweepOptimizer.Default.Contains(muon), "not in the default set");
        Assert.AreEqual(0.003, muon.Choice.AdamLearningRate);
        Assert.AreEqual(Math.Pow(2, -5), muon.At(-5).LearningRate);
        var plan = new SweepPlan("resmlp", [muon], [8], [], 8, 1, [-5], 12, 16, [0], 4);
        var store = new SweepStore(Path.Combine(_dir, "muon.csv"));
        Assert.AreEqual(
            1,
            new SweepRunner(plan, store, SweepRunner.Trainer("resmlp", Bands(200), null, Device.Cpu)).Run(1)
        );
        var result = store.Results.Single();
        Assert.IsTrue(
            !result.Diverged && result.Score < result.FirstLoss,
            $"Muon learns: {result.FirstLoss} → {result.Score}"
        );
    }

    [TestMethod]
    public void SweepCommandExplainsItselfAndRejectsBadFlags()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.AreEqual(0, CommandLine.Run(["sweep", "--help"], output, error));
        StringAssert.Contains(output.ToString(), "--average-last");
        Assert.AreEqual(2, CommandLine.Run(["sweep", "resmlp", "--widths", "32,x"], output, error));
        StringAssert.Contains(error.ToString(), "--widths");
        Assert.AreEqual(2, CommandLine.Run(["sweep", "resmlp", "--optimizers", "lion"], output, error));
        StringAssert.Contains(error.ToString(), "unknown sweep optimizer 'lion'");
        Assert.AreEqual(2, CommandLine.Run(["sweep", "cnn"], output, error));
        Assert.AreEqual(2, CommandLine.Run(["sweep", "gpt", "--widths", "30"], output, error));
        StringAssert.Contains(error.ToString(), "divisible");
    }

    /// <summary>A list entry given twice runs once (a fuzzing run found --seeds 0,0 and --optimizers adam,adam running
    /// the same job twice, writing duplicate rows and counting one seed twice in the averages).</summary>
    [TestMethod]
    public void RepeatedListEntriesRunOnce()
    {
        string[] args =
        [
            "--optimizers",
            "adam,sgd,adam",
            "--seeds",
            "0,1,0",
            "--widths",
            "32,32",
            "--depths",
            "2,2",
            "--grid",
            "-3,-3,-2",
        ];
        var plan = SweepCommand.Plan("resmlp", new Options(args, ["optimizers", "seeds", "widths", "depths", "grid"]));
        CollectionAssert.AreEqual(new[] { "adam", "sgd" }, plan.Optimizers.Select(o => o.Name).ToArray());
        CollectionAssert.AreEqual(new[] { 0, 1 }, plan.Seeds.ToArray());
        CollectionAssert.AreEqual(new[] { 32 }, plan.Widths.ToArray());
        CollectionAssert.AreEqual(new[] { 2 }, plan.Depths.ToArray());
        CollectionAssert.AreEqual(new[] { -3, -2 }, plan.Grid!.ToArray());
    }

    [TestMethod]
    public void AnOutputFolderThatTakesNoFilesIsRefusedBeforeAnyCellTrains()
    {
        // Found by fuzzing the command line: the first row's write failed only after the first cell's run, and exited
        // 4, the code of damaged input, with "Could not find file".
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "fashion-mnist", "t10k-labels-idx1-ubyte.gz")))
            Assert.Inconclusive("Fashion-MNIST not found in MODULA_DATA.");
        if (!Directory.Exists("/proc/self"))
            Assert.Inconclusive("/proc: Linux only.");
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(
            ["sweep", "resmlp", "--data", data, "--no-download", "--out", "/proc/modula-sweep", "--steps", "1"],
            output,
            error
        );
        Assert.AreEqual(2, code, error.ToString());
        StringAssert.Contains(error.ToString(), "--out /proc/modula-sweep: cannot create the folder");
        Assert.IsFalse(output.ToString().Contains("[1/"), "a cell ran: " + output);
    }

    [TestMethod]
    public void ASweepThatCannotStartLeavesNoOutputFolder()
    {
        // Missing data is found before any cell runs: the --out folder must not be created.
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "no-data")).FullName;
        string outDir = Path.Combine(_dir, "out");
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(
            ["sweep", "resmlp", "--data", empty, "--no-download", "--out", outDir, "--steps", "1"],
            output,
            error
        );
        Assert.AreEqual(4, code, error.ToString());
        StringAssert.Contains(error.ToString(), "cannot find");
        Assert.IsFalse(Directory.Exists(outDir), "the sweep created its output folder before failing");
    }
}
