#:project ../Modula.Optim/Modula.Optim.csproj
#:project ../Modula.Data/Modula.Data.csproj
#:project ../Modula.Cli/Modula.Cli.csproj
// Lesson 4: normalize (Modula v1) against dualize (Modula v2).
//
// Both turn a gradient G into an update whose size is set by the modular norm; they differ in its
// shape. Normalizing keeps G's direction and divides by its spectral norm: the update has G's
// singular values, scaled so the largest is the target. A gradient of a batch is nearly low rank
// (a few singular values carry most of it), so the update moves the weights along a few directions.
// Dualizing takes the steepest direction under the spectral norm instead, U Vᵀ for G = U Σ Vᵀ: all
// singular values set to the target, so every direction G touches moves by the same amount. Its
// stable rank ‖M‖_F² / ‖M‖₂² (how many directions carry the update) rises to G's rank.
//
// U Vᵀ comes without an SVD from Newton–Schulz: scale G to unit Frobenius norm (every σ ≤ 1),
// then repeatedly apply the odd polynomial X ← aX + b(XXᵀ)X + c(XXᵀ)²X, which maps each singular
// value σ to aσ + bσ³ + cσ⁵ and leaves the singular vectors alone. Modula v2 uses six steps with
// different (a, b, c), chosen to pull every σ in [~0.001, 1] close to 1.
//
// The lesson shows, with numbers: (1) the singular values of a raw, a normalized and a dualized
// gradient of an MLP on Fashion-MNIST; (2) Newton–Schulz step by step on singular values, checked
// against the library's Orthogonalize; (3) Modula's weight-erasure experiment: a letter is stamped
// into a hidden layer's initial weights; training with normalized updates leaves it visible, while
// dualized updates, which change the matrix in every direction, wash it out.
//
// Run: dotnet run -c Release examples/04-normalize-vs-dualize.cs [--full] [--out DIR]
//      (about 20 s; --full trains 1000 steps; the SVG goes to DIR, default the temporary folder)
// Data: fashion-mnist/*.gz in $MODULA_DATA (CI sets it to ../shared/data), ./data or /usr/share/datasets;
// otherwise downloaded into ./data, SHA-256 checked.
// Fails (throws) if the dualized update's stable rank is not well above the normalized one's, if
// Newton–Schulz disagrees with the scalar recursion, or if dualized training does not erase the
// letter more than normalized training does.
using Modula.Autodiff;
using Modula.Cli.Sweep;
using Modula.Data;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

bool full = args.Contains("--full");
int outIndex = Array.IndexOf(args, "--out");
string outDir = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.GetTempPath();
const int Width = 256;
var images = ImageDataset.LoadFashionMnist(train: true, null, download: true, TextWriter.Null);

void Check(bool ok, string what)
{
    Console.WriteLine($"  [{(ok ? "ok" : "FAILED")}] {what}");
    if (!ok)
        throw new InvalidOperationException("normalize-vs-dualize: " + what);
}

double StableRank(double[] sigma) => sigma.Sum(s => s * s) / (sigma[0] * sigma[0]);

// ---- 1. One gradient, three updates -------------------------------------------------------
Module mlp = Mlp.V2(10, 784, Width, 3); // Linear(784→256), ReLU, Linear(256→256), ReLU, Linear(256→10)
using var weights = mlp.Initialize(new Generator(0));
var parameters = weights.ToVariables();
var (x0, y0) = images.Batch(images.SampleRows(512, new Generator(1)));
F.CrossEntropy(mlp.Forward(new Variable(x0), parameters), y0).Backward();
using var gradient = Weights.GradientsOf(parameters);
using var state = new NormalizeState(mlp, new Generator(2));
using var normalized = mlp.Normalize(gradient, 1, state);
using var dualized = mlp.Dualize(gradient, 1);

Console.WriteLine("1. The hidden 256×256 layer's gradient of one batch, and the two updates of modular norm 1");
Console.WriteLine("   (each of the 3 layers gets target 1/3; v1 estimates σ₁ by one power-iteration step, which");
Console.WriteLine("   here starts cold and underestimates it, so this first normalized update exceeds its target):");
var stableRanks = new Dictionary<string, double>();
foreach (var (name, update) in new[] { ("raw", gradient), ("normalized", normalized), ("dualized", dualized) })
{
    double[] sigma = HostLinalg.SingularValues(update[1])[0];
    stableRanks[name] = StableRank(sigma);
    Console.WriteLine(
        $"   {name, -10}  σ₁ {sigma[0], 8:G4}  σ₁₀ {sigma[9], 8:G4}  σ₁₀₀ {sigma[99], 8:G4}  "
            + $"stable rank {stableRanks[name], 6:F1}"
    );
}
Check(
    Math.Abs(stableRanks["raw"] - stableRanks["normalized"]) < 1e-3 * stableRanks["raw"],
    "normalizing keeps the shape"
);
Check(stableRanks["dualized"] > 10 * stableRanks["normalized"], "dualizing raises the stable rank tenfold or more");

// ---- 2. Newton–Schulz on singular values --------------------------------------------------
Console.WriteLine(
    "\n2. Modula v2's six Newton–Schulz steps on singular values (after scaling to unit Frobenius norm):"
);
double[] start = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8];
double frobenius = Math.Sqrt(start.Sum(s => s * s));
var trajectories = start.Select(s => new List<double> { s / frobenius }).ToArray();
foreach (var (a, b, c) in Orthogonalize.Coefficients(Orthogonalizer.SixStep))
foreach (var t in trajectories)
{
    double s = t[^1];
    t.Add(a * s + b * s * s * s + c * s * s * s * s * s);
}
for (int step = 0; step < trajectories[0].Count; step++)
    Console.WriteLine($"   step {step}: " + string.Join("  ", trajectories.Select(t => $"{t[step], 7:F4}")));

// The same on a matrix: a diagonal matrix has these singular values; Orthogonalize must end where
// the scalar recursion ends.
var diagonal = new float[start.Length * start.Length];
for (int i = 0; i < start.Length; i++)
    diagonal[i * start.Length + i] = (float)start[i];
using var matrix = Tensor.FromArray<float>(diagonal, new Shape(start.Length, start.Length));
using var orthogonal = Orthogonalize.Apply(matrix);
float[] result = orthogonal.ToArray<float>();
double worst = Enumerable.Range(0, start.Length).Max(i => Math.Abs(result[i * start.Length + i] - trajectories[i][^1]));
Check(worst < 1e-4, $"Orthogonalize gives the scalar recursion's values (largest difference {worst:E1})");
Check(trajectories.All(t => t[^1] is > 0.68 and < 1.2), "every σ from 0.001 to 0.8 ends in [0.68, 1.2]");

var panels = new List<PlotPanel>
{
    new(
        "Newton–Schulz, six steps",
        "step",
        "singular value",
        trajectories
            .Select((t, i) => new PlotSeries($"σ₀ = {start[i]}", t.Select((s, k) => ((double)k, s)).ToList()))
            .ToList(),
        k => k.ToString()
    ),
};

// ---- 3. Weight erasure --------------------------------------------------------------------
// The letter A, 7 rows by 5 columns, stretched over the 256×256 hidden matrix.
string[] letter = [".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"];
var mask = new float[Width * Width];
for (int r = 0; r < Width; r++)
for (int c = 0; c < Width; c++)
    mask[r * Width + c] = letter[r * 7 / Width][c * 5 / Width] == '#' ? 1 : 0;

// How visible the letter is: the correlation of |W| with the mask (1 at the start, where every
// weight outside the letter is zero; near 0 when magnitudes no longer follow the letter).
double Visibility(Tensor w)
{
    float[] v = w.ToArray<float>();
    double[] m = Array.ConvertAll(mask, f => (double)f),
        a = Array.ConvertAll(v, f => (double)Math.Abs(f));
    double ma = a.Average(),
        mm = m.Average();
    double cov = 0,
        va = 0,
        vm = 0;
    for (int i = 0; i < a.Length; i++)
    {
        cov += (a[i] - ma) * (m[i] - mm);
        va += (a[i] - ma) * (a[i] - ma);
        vm += (m[i] - mm) * (m[i] - mm);
    }
    return cov / Math.Sqrt(va * vm);
}

int steps = full ? 1000 : 200;
(double Visibility, double Loss) Erase(UpdateRule rule, double lr)
{
    using var stamp = Tensor.FromArray<float>(mask, new Shape(Width, Width));
    Weights w;
    using (var initial = mlp.Initialize(new Generator(0)))
        w = new Weights(initial.Select((t, i) => i == 1 ? Ops.Mul(t, stamp) : Ops.Contiguous(t)));
    using var trainer = new Trainer(mlp, w, new Sgd(), new TrainerOptions(lr, Schedule.Linear(steps), rule));
    var batches = new Generator(3);
    double loss = 0;
    for (int step = 0; step < steps; step++)
        loss = trainer.Step(p =>
        {
            var (x, y) = images.Batch(images.SampleRows(256, batches));
            return F.CrossEntropy(mlp.Forward(new Variable(x), p), y);
        });
    return (Visibility(trainer.Weights[1]), loss);
}

Console.WriteLine($"\n3. Weight erasure: the letter A stamped into the hidden layer, {steps} steps of descent");
Console.WriteLine("   (visibility: correlation of |W| with the letter, 1 before training)");
var best = new Dictionary<UpdateRule, (double Lr, double Visibility, double Loss)>();
foreach (var rule in new[] { UpdateRule.Normalize, UpdateRule.Dualize })
foreach (double lr in new[] { 0.25, 0.5, 1, 2, 4 })
{
    var (visibility, loss) = Erase(rule, lr);
    Console.WriteLine($"   {rule, -9} lr {lr, 4}: final batch loss {loss:F3}, visibility {visibility:F3}");
    if (double.IsFinite(loss) && (!best.TryGetValue(rule, out var b) || loss < b.Loss))
        best[rule] = (lr, visibility, loss);
}
var (n, d) = (best[UpdateRule.Normalize], best[UpdateRule.Dualize]);
Console.WriteLine(
    $"   at each rule's best rate: normalized {n.Visibility:F3} (lr {n.Lr}), dualized {d.Visibility:F3} (lr {d.Lr})"
);
Check(d.Visibility < n.Visibility / 2, "dualized descent erases the letter: its visibility is under half normalized's");

string svg = Path.Combine(outDir, "newton-schulz.svg");
Directory.CreateDirectory(outDir);
File.WriteAllText(svg, SvgPlot.Write("Newton–Schulz on singular values (Modula v2's six steps)", panels, 1));
Console.WriteLine($"\nwrote {svg}");
Console.WriteLine(
    "OK: normalizing keeps a gradient's shape, dualizing flattens its spectrum and erases the watermark."
);
