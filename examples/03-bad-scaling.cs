#:project ../Modula.Optim/Modula.Optim.csproj
#:project ../Modula.Data/Modula.Data.csproj
#:project ../Modula.Cli/Modula.Cli.csproj
// Lesson 3: bad scaling, and how the modular norm fixes it.
//
// Tune the learning rate of a small network, then make it wider or deeper: with plain Adam the
// tuned rate is no longer the best one. Adam's update has entries of about ±lr whatever the
// layer's size, and such an update moves a wider matrix's output by more (its spectral norm grows
// with the width); in a deeper network more layers move at once. So the best step shrinks as the
// network grows and has to be found again at every size. Normalizing the update in the modular
// norm (Modula v1) gives every atom an update of a set size in the norm that bounds how much its
// output moves, shared out by mass and sensitivity, so the rate tuned on the small network stays
// best. (Plain SGD drifts less here: these MLPs start from Modula's well-normed initialization,
// which keeps gradients of a fitting size; still its best rate moves with depth.)
//
// This is a small version of `modula sweep`: MLPs (Mlp.V2: Linear, ReLU, …, Linear) of growing
// width and depth on Fashion-MNIST, each trained briefly at every learning rate 2^k of a grid with
// plain Adam and SGD (with momentum) and with their normalized versions. A run's score is its
// mean training loss over the last steps (× marks a run that diverged); the best exponent per size
// is printed, and the drift is how many factors of 2 the best rate moves. The curves go to an SVG.
//
// Run: dotnet run -c Release examples/03-bad-scaling.cs [--full] [--out DIR]
//      (about a minute; --full adds width 2048 and trains longer; the SVG goes to DIR, default the
//      system's temporary folder)
// Data: fashion-mnist/*.gz in $MODULA_DATA (CI sets it to ../shared/data), ./data or /usr/share/datasets;
// otherwise downloaded into ./data, SHA-256 checked.
// Fails (throws) if a normalized optimizer's best rate drifts by more than one factor of 2, or if
// plain Adam's does not drift by at least two across width.
using Modula.Autodiff;
using Modula.Cli.Sweep;
using Modula.Data;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

bool full = args.Contains("--full");
int outIndex = Array.IndexOf(args, "--out");
string outDir = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.GetTempPath();
int[] widths = full ? [32, 128, 512, 2048] : [32, 128, 512],
    depths = full ? [2, 4, 8, 16] : [2, 4, 8];
int steps = full ? 300 : 100,
    averageLast = full ? 50 : 20,
    batch = 128,
    depth = 3, // Linear layers of the width sweep
    baseWidth = 128; // width of the depth sweep
var images = ImageDataset.LoadFashionMnist(train: true, null, download: true, TextWriter.Null);

// Each optimizer: a base direction, an update rule, and a grid of learning-rate exponents wide
// enough to hold the optimum at every width.
var optimizers = new (string Name, Func<Optimizer> Create, UpdateRule Rule, int Low, int High)[]
{
    ("adam", () => new Adam(0.9, 0.99), UpdateRule.Plain, -11, -4),
    ("normed adam", () => new Adam(0.9, 0.99), UpdateRule.Normalize, -5, 0),
    ("sgd", () => new Momentum(0.9), UpdateRule.Plain, -3, 4),
    ("normed sgd", () => new Momentum(0.9), UpdateRule.Normalize, -5, 0),
};

// Trains one MLP and returns its score, or NaN when it diverged (a loss that is not finite, or an
// average at the end above the first loss).
double Train(int width, int layers, Func<Optimizer> optimizer, UpdateRule rule, double lr)
{
    Module mlp = Mlp.V2(10, 784, width, layers);
    using var trainer = new Trainer(
        mlp,
        mlp.Initialize(new Generator(0)),
        optimizer(),
        new TrainerOptions(lr, Schedule.Constant(), rule)
    );
    var batches = new Generator(1); // every run sees the same batches
    var losses = new List<double>();
    for (int step = 0; step < steps; step++)
    {
        double loss;
        try
        {
            loss = trainer.Step(w =>
            {
                var (x, y) = images.Batch(images.SampleRows(batch, batches));
                return F.CrossEntropy(mlp.Forward(new Variable(x), w), y);
            });
        }
        catch (NonFiniteGradientException)
        {
            return double.NaN; // the trainer refuses to apply a NaN or infinite gradient: diverged
        }
        losses.Add(loss);
        if (!double.IsFinite(loss))
            return double.NaN;
    }
    double score = losses.TakeLast(averageLast).Average();
    return score > losses[0] ? double.NaN : score;
}

var clock = System.Diagnostics.Stopwatch.StartNew();
var panels = new List<PlotPanel>();
var drifts = new Dictionary<(string Optimizer, string Scale), int>();

// One optimizer across one family of sizes: the score of every learning rate at every size, the
// best exponent per size, and its drift.
void Sweep(string name, Func<Optimizer> create, UpdateRule rule, int low, int high, string scale, int[] sizes)
{
    Console.WriteLine($"{name} across {scale}: best log2(lr), then the score at each 2^k from 2^{low}");
    var series = new List<PlotSeries>();
    var bests = new List<int>();
    foreach (int size in sizes)
    {
        var (width, layers) = scale == "width" ? (size, depth) : (baseWidth, size);
        var scores = Enumerable
            .Range(low, high - low + 1)
            .Select(k => (K: k, Score: Train(width, layers, create, rule, Math.Pow(2, k))))
            .ToList();
        var finite = scores.Where(s => double.IsFinite(s.Score)).ToList();
        if (finite.Count == 0)
            throw new InvalidOperationException($"bad-scaling: every {name} run diverged at {scale} {size}");
        var best = finite.MinBy(s => s.Score);
        bests.Add(best.K);
        Console.WriteLine(
            $"  {scale} {size, 4}: 2^{best.K, -3}  "
                + string.Join(" ", scores.Select(s => double.IsFinite(s.Score) ? $"{s.Score:F2}" : "  × "))
        );
        series.Add(
            new PlotSeries(
                $"{scale} {size}",
                finite.Select(s => ((double)s.K, s.Score)).ToList(),
                (best.K, best.Score),
                scores.Where(s => !double.IsFinite(s.Score)).Select(s => (double)s.K).ToList()
            )
        );
    }
    drifts[(name, scale)] = bests.Max() - bests.Min();
    Console.WriteLine($"  drift {drifts[(name, scale)]}   [{clock.Elapsed.TotalSeconds:F0} s]");
    panels.Add(new PlotPanel($"{name} across {scale}", "learning rate", "train loss", series, k => $"2^{k}"));
}

foreach (var (name, create, rule, low, high) in optimizers)
{
    Sweep(name, create, rule, low, high, "width", widths);
    Sweep(name, create, rule, low, high, "depth", depths);
}

string svg = Path.Combine(outDir, "bad-scaling.svg");
Directory.CreateDirectory(outDir);
File.WriteAllText(
    svg,
    SvgPlot.Write($"MLPs on Fashion-MNIST, {steps} steps: the best learning rate across width and depth", panels, 4)
);
Console.WriteLine($"wrote {svg}");

foreach (var ((name, scale), drift) in drifts)
    if (name.StartsWith("normed") && drift > 1)
        throw new InvalidOperationException($"bad-scaling: {name}'s best rate drifted by {drift} across {scale}");
int adamDrift = drifts[("adam", "width")];
if (adamDrift < 2)
    throw new InvalidOperationException(
        $"bad-scaling: plain Adam's best rate drifted by only {adamDrift} across width"
    );
Console.WriteLine(
    $"OK: normalized, the best rates move by at most one factor of 2 across width and depth; plain "
        + $"Adam's moves by {adamDrift} across width and {drifts[("adam", "depth")]} across depth, SGD's by "
        + $"{drifts[("sgd", "width")]} and {drifts[("sgd", "depth")]}."
);
