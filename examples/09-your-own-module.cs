#:project ../Modula.Optim/Modula.Optim.csproj
// Lesson 9: your own module — a bond and an atom written outside the library.
//
// A *bond* has no weights: it needs a forward function and an honest sensitivity, the largest
// factor by which its output can move when its input moves. Here ScaledTanh(gain) computes
// gain·tanh(x); tanh has slope at most 1 (at 0), so the sensitivity is gain.
//
// An *atom* has one weight tensor and its own norm, and must say how to initialize, measure,
// normalize (Modula v1), dualize (Modula v2), project and regularize that weight. Here
// Diagonal(n) scales each feature by its own weight, y = x ⊙ d. On RMS-normed features its
// operator norm is max|dᵢ|, so that is the atom's norm: with max|dᵢ| ≤ 1 the output moves at most
// as much as the input (an atom's sensitivity is 1), and a weight change Δd moves the output by at
// most max|Δdᵢ|·‖x‖. The steepest direction of ℓ∞-norm t for a gradient g is t·sign(g), so
// dualizing a gradient sets every entry to ±t; normalizing rescales so that the largest entry is t.
// The constraint set (initialization, projection) is |dᵢ| = 1: it starts as the identity.
//
// Both classes are at the end of this file (C# puts types after the top-level code). The lesson
// gradient-checks them, measures their sensitivities on random pairs, composes them with Linear
// through >>, + and *, and trains the result with the Trainer, showing that its updates are the
// ones Diagonal defines.
//
// Run: dotnet run -c Release examples/09-your-own-module.cs   (a few seconds)
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
        throw new InvalidOperationException("your-own-module: " + what);
}

bool Close(double a, double b, double tol = 1e-9) => Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(b));

var generator = new Generator(0);
Tensor Random64(params int[] dims) => Ops.Normal(new Shape(dims), generator, DType.Float64);

// Row-wise RMS norms of a [rows, n] array: the feature norm Modula's sensitivities refer to.
double[] RowRms(double[] a, int n) =>
    [.. Enumerable.Range(0, a.Length / n).Select(r => Math.Sqrt(a.Skip(r * n).Take(n).Sum(v => v * v) / n))];

double[] Run(Module m, Tensor x, params Tensor[] weights)
{
    using var scope = TensorScope.Begin();
    return m.Forward(new Variable(x), [.. weights.Select(w => new Variable(w))]).Value.ToArray<double>();
}

double[] Minus(double[] a, double[] b) => [.. a.Zip(b, (p, q) => p - q)];

// 1. The bond.
Console.WriteLine("1. the bond: ScaledTanh(0.5)");
var tanh = new ScaledTanh(0.5);
Console.WriteLine($"  {tanh.Label}: mass {tanh.Mass}, sensitivity {tanh.Sensitivity}, smooth {tanh.Smooth}");
Check(tanh.Mass == 0 && tanh.AtomCount == 0 && tanh.Sensitivity == 0.5, "a bond: no weights, mass 0, sensitivity 0.5");
using (var x = Random64(4, 6))
{
    var result = GradCheck.Check(v => tanh.Forward(v[0], []), [x]);
    Console.WriteLine($"  GradCheck: largest error {result.MaxAbsoluteError:G3}");
    Check(result.Passed, "its backward pass (F ops, differentiated by the library) matches finite differences");
}

// Pairs at several input scales and distances; the ratio ‖f(x) − f(x')‖ / ‖x − x'‖ per row.
double worstBond = 0;
foreach (double scale in new[] { 0.01, 0.3, 1, 3 })
foreach (double distance in new[] { 1e-3, 0.1, 1 })
{
    using var x = Random64(64, 32);
    using var noise = Random64(64, 32);
    using var xs = Ops.Mul(x, scale);
    using var step = Ops.Mul(noise, distance);
    using var shifted = Ops.Add(xs, step);
    double[] dy = RowRms(Minus(Run(tanh, shifted), Run(tanh, xs)), 32);
    double[] dx = RowRms(Minus(shifted.ToArray<double>(), xs.ToArray<double>()), 32);
    worstBond = Math.Max(worstBond, dy.Zip(dx, (a, b) => a / b).Max());
}
Console.WriteLine($"  largest ‖Δy‖/‖Δx‖ over 12 × 64 random pairs: {worstBond:F6} (sensitivity 0.5)");
Check(worstBond <= 0.5 * (1 + 1e-12), "the output never moves more than sensitivity × the input's move");
Check(worstBond >= 0.49, "and the bound is tight: near 0, tanh's slope is 1");

// 2. The atom.
Console.WriteLine("2. the atom: Diagonal(32)");
var diagonal = new Diagonal(32);
Console.WriteLine(
    $"  {diagonal.Label}: mass {diagonal.Mass}, sensitivity {diagonal.Sensitivity}, weight {diagonal.WeightShape}"
);
Check(diagonal.Tare(3).Mass == 3, "WithMass lets the algebra rescale it (Tare(3) has mass 3)");
using (var x = Random64(4, 6))
using (var d = Random64(6))
{
    var small = new Diagonal(6);
    var result = GradCheck.Check(v => small.Forward(v[0], [v[1]]), [x, d]);
    Console.WriteLine($"  GradCheck in the input and the weight: largest error {result.MaxAbsoluteError:G3}");
    Check(result.Passed, "the gradients with respect to input and weight match finite differences");
}

// Input sensitivity 1 at a weight of norm 1, and the weight bound ‖Δy‖ ≤ ‖Δd‖·‖x‖.
double worstInput = 0,
    worstWeight = 0;
for (int trial = 0; trial < 8; trial++)
{
    using var raw = Random64(32);
    using var d = Ops.Mul(raw, 1 / diagonal.WeightNorm(raw)); // norm exactly 1
    using var dd = Random64(32);
    using var d2 = Ops.Add(d, dd);
    using var x = Random64(64, 32);
    using var dx0 = Random64(64, 32);
    using var x2 = Ops.Add(x, dx0);
    double[] dy = RowRms(Minus(Run(diagonal, x2, d), Run(diagonal, x, d)), 32);
    double[] dx = RowRms(Minus(x2.ToArray<double>(), x.ToArray<double>()), 32);
    worstInput = Math.Max(worstInput, dy.Zip(dx, (a, b) => a / b).Max());
    double[] dyWeight = RowRms(Minus(Run(diagonal, x, d2), Run(diagonal, x, d)), 32);
    double[] xNorm = RowRms(x.ToArray<double>(), 32);
    worstWeight = Math.Max(worstWeight, dyWeight.Zip(xNorm, (a, b) => a / b).Max() / diagonal.WeightNorm(dd));
}
Console.WriteLine($"  largest ‖Δy‖/‖Δx‖ at ‖d‖ = 1: {worstInput:F4} (sensitivity 1)");
Console.WriteLine($"  largest ‖Δy‖/(‖Δd‖·‖x‖) when only the weight moves: {worstWeight:F4} (at most 1)");
Check(worstInput <= 1 + 1e-12, "input sensitivity 1 holds on random pairs");
Check(worstWeight <= 1 + 1e-12, "a weight change of norm ‖Δd‖ moves the output by at most ‖Δd‖·‖x‖");

// The update operators, called through the library's own Module API.
using (var grad = new Weights([Random64(32)]))
using (var dual = diagonal.Dualize(grad, 0.3))
using (var state = new NormalizeState(diagonal, new Generator(1)))
using (var normalized = diagonal.Normalize(grad, 0.3, state))
using (var projected = diagonal.Project(grad))
{
    double[] u = dual[0].ToArray<double>(),
        gv = grad[0].ToArray<double>();
    string first4 = string.Join(", ", u.Take(4).Select(v => v.ToString("F2")));
    Console.WriteLine($"  dualize at 0.3: norm {diagonal.Norm(dual):F4}, entries {first4}, …");
    Check(u.All(v => Math.Abs(v) == 0.3), "dualize sets every entry to ±0.3");
    double gain = u.Zip(gv, (a, b) => a * b).Sum(),
        l1 = gv.Sum(Math.Abs);
    double normalizedGain = normalized[0].ToArray<double>().Zip(gv, (a, b) => a * b).Sum();
    Console.WriteLine($"  ⟨g, update⟩ at norm 0.3: dualized {gain:F4}, normalized {normalizedGain:F4}");
    Check(Close(gain, 0.3 * l1), "the dualized update reaches 0.3·‖g‖₁, the most any update of norm 0.3 can");
    Check(Close(diagonal.Norm(normalized), 0.3), $"normalize at 0.3 gives norm {diagonal.Norm(normalized):F4}");
    Check(normalizedGain < gain, "the normalized update, of the same norm, gains less");
    Check(projected[0].ToArray<double>().All(v => Math.Abs(v) == 1), "project lands on |dᵢ| = 1");
}

// 3. Composition with built-in modules: >>, + and * do the bookkeeping.
Console.WriteLine("3. composing");
Module block = new Linear(32, 32) >> new ScaledTanh(0.5);
Module net =
    new Linear(32, 16)
    >> new ScaledTanh(0.5)
    >> new Diagonal(32)
    >> (0.5 * block + 0.5 * new Diagonal(32))
    >> new Linear(4, 32);
Console.WriteLine(net.Summary());
double[] targets = net.AtomTargets(1);

// Sensitivities: 1 · 0.5 · 1 · (0.5·(1·0.5) + 0.5·1) · 1 = 0.375; every atom has mass 1.
Check(net.Mass == 5 && Close(net.Sensitivity, 0.375), "mass 5 (five atoms), sensitivity 1·0.5·1·0.75·1 = 0.375");
Check(Close(targets[0], 0.2 / 0.375), "the first Linear's target is 1/5 ÷ the sensitivity after it (0.375)");
Check(Close(targets[1], 0.2 / 0.75), "the first Diagonal's target is 1/5 ÷ 0.75");
Check(Close(targets[3], 0.2 / 0.5), "the Diagonal inside 0.5·(…) gets 1/5 ÷ 0.5");

// 4. The Trainer. The network will fit a random teacher of the same architecture.
Console.WriteLine("4. the Trainer calls Diagonal's update rules");
int[] diagonals = [.. net.Atoms().Select((a, i) => (a.Atom, i)).Where(p => p.Atom is Diagonal).Select(p => p.i)];
using var teacherWeights = net.Initialize(new Generator(100));
using var input = Ops.Normal(new Shape(256, 16), generator);
Tensor output;
using (TensorScope.Begin())
    output = TensorScope.Escape(net.Forward(new Variable(input), teacherWeights.ToVariables(false)).Value);
using var teacher = output;

Variable Mse(Variable[] p)
{
    Variable d = F.Sub(net.Forward(new Variable(input), p), new Variable(teacher));
    return F.Mean(F.Mul(d, d));
}

// First a single plain-gradient step with each modular rule: the Diagonal slots move exactly
// as DualizeWeight / NormalizeWeight say, by the target the network's algebra gave them.
foreach (var rule in new[] { UpdateRule.Dualize, UpdateRule.Normalize })
{
    using var one = new Trainer(net, net.Initialize(new Generator(1)), new Sgd(), new TrainerOptions(0.1, null, rule));
    double[][] before = [.. diagonals.Select(i => one.Weights[i].ToArray<float>().Select(v => (double)v).ToArray())];
    one.Step(Mse);
    double[] t = net.AtomTargets(0.1);
    for (int k = 0; k < diagonals.Length; k++)
    {
        int i = diagonals[k];
        double[] step = Minus(one.Weights[i].ToArray<float>().Select(v => (double)v).ToArray(), before[k]);
        double largest = step.Max(Math.Abs),
            smallest = step.Min(Math.Abs);
        Console.WriteLine(
            $"  {rule, -9} atom {i} ({net.Atoms()[i].Atom.Label}): |Δd| from {smallest:F5} to {largest:F5}, "
                + $"target {t[i]:F5}"
        );
        Check(Math.Abs(largest - t[i]) <= 1e-5 * t[i], $"{rule}: the largest move is the atom's target");
        if (rule == UpdateRule.Dualize)
            Check(Math.Abs(smallest - t[i]) <= 1e-5 * t[i], "dualize: every entry moves by exactly the target");
    }
}

Console.WriteLine("5. training (momentum, dualized) to fit a random teacher");
double teacherSquare = teacher.ToArray<float>().Average(v => (double)v * v);
const int Steps = 100;
using var trainer = new Trainer(
    net,
    net.Initialize(new Generator(1)),
    new Momentum(0.9),
    new TrainerOptions(LearningRate: 0.2, Schedule.Linear(Steps), UpdateRule.Dualize)
);
double first = double.NaN,
    loss = double.NaN;
for (int step = 0; step < Steps; step++)
{
    loss = trainer.Step(Mse);
    if (step == 0)
        first = loss;
    if (step % 10 == 0 || step == Steps - 1)
        Console.WriteLine($"  step {step, 3}  loss {loss:0.000e+0}");
}
Console.WriteLine(
    $"  loss {first:0.000e+0} → {loss:0.000e+0}: {loss / teacherSquare:P1} of the teacher's mean square "
        + $"{teacherSquare:0.000e+0}"
);
Check(loss < 0.05 * teacherSquare, "the network with the custom bond and atom learns (loss < 5% of the mean square)");
Console.WriteLine("OK: the custom bond and atom check out and train with the library's update rules.");

/// <summary>A bond: y = gain·tanh(x). tanh's slope is at most 1, so the sensitivity is gain.</summary>
sealed class ScaledTanh : ElementwiseBond
{
    public ScaledTanh(double gain)
        : base(sensitivity: gain, smooth: true) => Gain = gain;

    public double Gain { get; }

    public override string Label => $"{Gain:G3}·tanh";

    protected override Variable Forward(Variable x) => F.Scale(F.Tanh(x), Gain);
}

/// <summary>An atom: y = x ⊙ d for a weight d [n], measured in max|dᵢ|.</summary>
sealed class Diagonal(int width, double mass = 1) : Atom(mass)
{
    public override Shape WeightShape => new(width);

    public override string Label => $"Diagonal({width})";

    public override int? InputWidth => width;

    public override int? OutputWidth => width;

    public override bool PreservesWidth => true;

    protected override Variable Forward(Variable x, Variable weight)
    {
        ExpectFeatures(x, width);
        return F.Mul(x, weight); // d broadcasts over the leading axes
    }

    // The identity: on the constraint set |dᵢ| = 1, like a semi-orthogonal Linear.
    public override Tensor InitializeWeight(Generator rng, Device device, DType dtype) =>
        Ops.Ones(WeightShape, dtype, device);

    public override double WeightNorm(Tensor weight) =>
        HostLinalg.HostArray(weight).Select(Math.Abs).DefaultIfEmpty(0).Max();

    // Modula v1: the update rescaled so that its norm is the target (a zero update stays zero).
    // The norm is exact here, so the power-iteration state is not needed.
    public override Tensor NormalizeWeight(Tensor update, double target, NormalizeState state, int index)
    {
        double norm = WeightNorm(update);
        return norm == 0 ? Ops.ZerosLike(update) : Ops.Mul(update, target / norm);
    }

    // Modula v2: the steepest direction of ℓ∞-norm target, target·sign(g).
    public override Tensor DualizeWeight(Tensor gradient, double target, Orthogonalizer method)
    {
        using var sign = Ops.Sign(gradient);
        return Ops.Mul(sign, target);
    }

    // The nearest point with |dᵢ| = 1: the sign, with 0 sent to +1.
    public override Tensor ProjectWeight(Tensor weight)
    {
        using var zero = Ops.ZerosLike(weight);
        using var nonNegative = Ops.GreaterOrEqual(weight, zero);
        using var plus = Ops.Full(weight.Shape, 1, weight.DType, weight.Device);
        using var minus = Ops.Full(weight.Shape, -1, weight.DType, weight.Device);
        return Ops.Where(nonNegative, plus, minus);
    }

    // Modula v1's weight decay for a linear map: shrink by 1 − strength (the trainer folds it in).
    public override Tensor RegularizeWeight(Tensor weight, double strength) => Ops.Mul(weight, 1 - strength);

    public override double? DecayFactor(double strength) => 1 - strength;

    protected override Atom WithMass(double mass) => new Diagonal(width, mass);
}
