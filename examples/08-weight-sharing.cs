#:project ../Modula.Optim/Modula.Optim.csproj
// Lesson 8: weight sharing — one table as the input embedding and the output head.
//
// Language models often *tie* their two ends: the table W [V, D] that turns a token into a
// vector (row W[t]) is also, transposed, the matrix that turns the last hidden vector back into
// V logits (h·Wᵀ). Modula itself has no weight sharing (its FAQ: "not at present"); a module
// object used twice, as in block >> block, is two atoms with two independent weights. Modula.NET
// adds exactly one form of sharing, TiedEmbedding(embedding, body, headMass), and gives it these
// semantics, each checked below:
//   * forward: √D·W[x], then the body, then √(V/D)·h·Wᵀ — the untied network
//     Embedding >> body >> Linear(V, D) with the head's matrix replaced by the table;
//   * weights: one tensor and one atom for the table, so the weight vector is one entry shorter;
//   * mass: each *role* keeps its share of feature learning, m_embedding + m_body + m_head,
//     the same total as the untied network (the table is stored once, its mass counts twice);
//   * modular norm: the max form with both roles present, so it equals the untied network's norm
//     at the same weights; the table's update target is the smaller of its two roles' targets,
//     and its update is made in the head's spectral geometry, which also bounds every row;
//   * gradient: the table's gradient is the sum of the gradients of its two uses.
// Finally a tiny tied model learns a token permutation with the Trainer.
//
// Run: dotnet run -c Release examples/08-weight-sharing.cs   (a few seconds)
// Fails (throws) if any of the stated facts does not hold.
using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

void Check(bool ok, string what)
{
    Console.WriteLine($"  [{(ok ? "ok" : "FAILED")}] {what}");
    if (!ok)
        throw new InvalidOperationException("weight-sharing: " + what);
}

bool Close(double a, double b, double tol = 1e-9) => Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(b));

double MaxDifference(Tensor a, Tensor b) =>
    a.ToArray<double>().Zip(b.ToArray<double>(), (p, q) => Math.Abs(p - q)).DefaultIfEmpty(0).Max();

Tensor Tokens(int[] values) => Tensor.FromArray<int>(values, new Shape(values.Length));

// 0. Reusing a module object does not share weights.
Console.WriteLine("0. a module object used twice is two atoms");
var layer = new Linear(8, 8);
Module twice = layer >> layer;
using (Weights w = twice.Initialize(new Generator(0), Device.Cpu, DType.Float64))
{
    Console.WriteLine($"  layer >> layer: {twice.AtomCount} atoms, {w.Count} weight tensors");
    Check(twice.AtomCount == 2 && MaxDifference(w[0], w[1]) > 0, "two independent weights, drawn separately");
}

// 1. The tied model next to its untied twin. Sizes are small and float64, for exact checks.
const int V = 7,
    D = 5;
Module Body() => new Linear(D, D) >> new Relu() >> new Linear(D, D);
var tied = new TiedEmbedding(new Embedding(V, D), Body(), headMass: 1);
Module untied = new Embedding(V, D) >> Body() >> new Linear(V, D);
Console.WriteLine("1. tied and untied");
Console.WriteLine(tied.Summary());
Console.WriteLine($"  untied: {untied}");
Check(
    tied.AtomCount == untied.AtomCount - 1,
    $"the tied model has one atom fewer ({tied.AtomCount} vs {untied.AtomCount})"
);

using Weights wt = tied.Initialize(new Generator(1), Device.Cpu, DType.Float64);

// The untied twin at the same point: [table, body..., table] (copies, so each Weights owns its tensors).
using Weights wu = new([.. wt.Select(t => Ops.Contiguous(t)), Ops.Contiguous(wt[0])]);
long tiedCount = wt.ElementCount,
    untiedCount = wu.ElementCount;
Console.WriteLine($"  weights: tied {wt.Count} tensors, {tiedCount} numbers; untied {wu.Count}, {untiedCount}");
Check(untiedCount - tiedCount == V * D, "tying saves exactly the head's V·D numbers");

using var tokens = Tokens([0, 3, 6, 2, 2, 5]);
using var labels = Tokens([1, 4, 0, 3, 3, 6]);
double forwardGap;
using (TensorScope.Begin())
{
    var lt = tied.Forward(new Variable(tokens), wt.ToVariables(requiresGrad: false));
    var lu = untied.Forward(new Variable(tokens), wu.ToVariables(requiresGrad: false));
    forwardGap = MaxDifference(lt.Value, lu.Value);
    Console.WriteLine($"  logits {lt.Shape}; largest difference tied vs untied-with-head=table: {forwardGap:G3}");
}
Check(forwardGap <= 1e-12, "the tied forward is the untied one with the head's matrix set to the table");

// 2. Mass: both roles count.
Console.WriteLine("2. mass");
Console.WriteLine(
    $"  tied mass {tied.Mass} = embedding {tied.Embedding.Mass} + body {tied.Body.Mass} + head {tied.HeadMass}"
);
Console.WriteLine($"  untied mass {untied.Mass}");
Check(Close(tied.Mass, untied.Mass), "the tied model has the untied model's mass (the table's mass counts twice)");
Check(Close(tied.Tare(2).Mass, 2), "Tare rescales all three shares");

// 3. The modular norm and the per-atom targets.
Console.WriteLine("3. norm and targets");
double normTied = tied.Norm(wt),
    normUntied = untied.Norm(wu);
Console.WriteLine($"  modular norm at the same weights: tied {normTied:F6}, untied {normUntied:F6}");
Check(Close(normTied, normUntied, 1e-12), "the tied norm is the untied norm with both roles of the table present");
double[] tt = tied.AtomTargets(1),
    tu = untied.AtomTargets(1);
Console.WriteLine($"  tied targets   {string.Join(", ", tt.Select(t => t.ToString("F4")))}");
Console.WriteLine($"  untied targets {string.Join(", ", tu.Select(t => t.ToString("F4")))}");
Console.WriteLine(
    $"  (the ReLU in the body has sensitivity {tied.Body.Sensitivity:F4}, so the embedding role's target"
);
Console.WriteLine("   is larger than the head's: the head binds)");
Check(Close(tt[0], Math.Min(tu[0], tu[^1])), "the table's target is the smaller of its two roles' targets");
Check(Close(tt[1], tu[1]) && Close(tt[2], tu[2]), "the body's targets are unchanged");

using (Weights g = tied.Initialize(new Generator(2), Device.Cpu, DType.Float64)) // any gradient-shaped vector
using (Weights u = tied.Dualize(g, 0.5))
{
    double norm = tied.Norm(u);
    double spectral = HostLinalg.SpectralNorm(u[0]);
    double[] rows = u[0].ToArray<double>();
    double maxRow = Enumerable.Range(0, V).Max(r => Math.Sqrt(rows.Skip(r * D).Take(D).Sum(x => x * x)));
    Console.WriteLine(
        $"  dualized update at target 0.5: modular norm {norm:F4}; table: spectral {spectral:F4} "
            + $"(target {0.5 * tt[0]:F4}), largest row {maxRow:F4}"
    );
    Check(norm <= 0.5 * (1 + 1e-6) && norm >= 0.5 * 0.95, "the dualized update has modular norm 0.5 (within 5%)");
    Check(Math.Abs(spectral - 0.5 * tt[0]) <= 0.05 * 0.5 * tt[0], "the table's update has its target's spectral norm");
    Check(maxRow <= spectral * (1 + 1e-9), "no row of it is longer than its spectral norm (the embedding role holds)");
}

// 4. The gradient reaching the table is the sum of its two uses. In the untied twin the two
// uses are separate variables (same values), each with its own gradient.
Console.WriteLine("4. gradient of the shared table");
double[] shared,
    asEmbedding,
    asHead;
using (TensorScope.Begin())
{
    Variable[] p = wt.ToVariables();
    F.CrossEntropy(tied.Forward(new Variable(tokens), p), labels).Backward();
    shared = p[0].Grad!.ToArray<double>();
    Variable[] q = wu.ToVariables();
    F.CrossEntropy(untied.Forward(new Variable(tokens), q), labels).Backward();
    asEmbedding = q[0].Grad!.ToArray<double>();
    asHead = q[^1].Grad!.ToArray<double>();
}
double sumGap = shared.Select((s, i) => Math.Abs(s - (asEmbedding[i] + asHead[i]))).Max();
double L2(double[] x) => Math.Sqrt(x.Sum(v => v * v));
Console.WriteLine(
    $"  ‖grad as embedding‖ {L2(asEmbedding):F4}, ‖grad as head‖ {L2(asHead):F4}, ‖grad of the tied table‖ "
        + $"{L2(shared):F4}"
);
Console.WriteLine($"  largest |tied − (embedding + head)| {sumGap:G3}");
Check(L2(asEmbedding) > 0 && L2(asHead) > 0, "both uses contribute");
Check(sumGap <= 1e-12, "the tied gradient is the sum of the two uses' gradients");

// Finite differences on every weight of the tied model (float64 central differences).
Tensor[] inputs = [.. wt.Select(t => Ops.Contiguous(t))];
var check = GradCheck.Check(v => F.CrossEntropy(tied.Forward(new Variable(tokens), v), labels), inputs);
foreach (var t in inputs)
    t.Dispose();
Console.WriteLine($"  GradCheck on all {tiedCount} weights: largest error {check.MaxAbsoluteError:G3}");
Check(check.Passed, "backpropagation through both uses matches finite differences");

// 5. Training: a tied model learns the permutation t → (5t + 3) mod 16 with dualized momentum.
Console.WriteLine("5. training a tied model");
const int Vocab = 16,
    Dim = 32,
    Steps = 40;
var model = new TiedEmbedding(
    new Embedding(Vocab, Dim),
    new Linear(Dim, Dim) >> new Relu() >> new Linear(Dim, Dim),
    headMass: 1
);
using var x = Tokens([.. Enumerable.Range(0, Vocab)]);
int[] target = [.. Enumerable.Range(0, Vocab).Select(t => (5 * t + 3) % Vocab)];
using var y = Tokens(target);
using var trainer = new Trainer(
    model,
    model.Initialize(new Generator(3)),
    new Momentum(0.9),
    new TrainerOptions(LearningRate: 0.1, Schedule.Linear(Steps), UpdateRule.Dualize)
);
float[] tableBefore = trainer.Weights[0].ToArray<float>();
double first = double.NaN,
    loss = double.NaN;
for (int step = 0; step < Steps; step++)
{
    loss = trainer.Step(p => F.CrossEntropy(model.Forward(new Variable(x), p), y));
    if (step == 0)
        first = loss;
    if (step % 5 == 0 || step == Steps - 1)
        Console.WriteLine($"  step {step, 3}  loss {loss:F4}");
}
int correct;
using (TensorScope.Begin())
{
    var logits = model.Forward(new Variable(x), trainer.Weights.ToVariables(requiresGrad: false));
    int[] predicted = Ops.ArgMax(logits.Value, -1).ToArray<int>();
    correct = predicted.Where((p, i) => p == target[i]).Count();
}
float[] tableAfter = trainer.Weights[0].ToArray<float>();
double moved = Math.Sqrt(tableBefore.Zip(tableAfter, (a, b) => (double)(a - b) * (a - b)).Sum());
Console.WriteLine($"  {trainer.Weights.Count} weight tensors trained; the table moved by {moved:F3} (Frobenius)");
Console.WriteLine($"  loss {first:F3} → {loss:F4}; {correct}/{Vocab} tokens mapped correctly");
Check(moved > 0, "the shared table is trained");
Check(loss < 0.1 * first && correct == Vocab, "the tied model learns the permutation");
Console.WriteLine("OK: one table, two roles: mass, norm, targets and gradient behave as stated.");
