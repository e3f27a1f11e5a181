using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Modules;

/// <summary>
/// Manifold descent: manifold Muon's directions against the closed form (square case) and against the projected
/// gradient (tall case), hyperspherical rows, and a trainer that keeps weights on their manifolds.
/// </summary>
[TestClass]
public sealed class ManifoldTests
{
    private static Tensor Random(Shape shape, ulong seed) =>
        Ops.Normal(shape, new Generator(seed), dtype: DType.Float64);

    private static Tensor SemiOrthogonal(int rows, int cols, ulong seed) =>
        HostLinalg.Upload(
            HostLinalg.RandomSemiOrthogonal(rows, cols, new Generator(seed)),
            new Shape(1, rows, cols),
            DType.Float64,
            Device.Cpu
        );

    private static double Inner(Tensor a, Tensor b) =>
        HostLinalg.HostArray(a).Zip(HostLinalg.HostArray(b), (x, y) => x * y).Sum();

    /// <summary>‖WᵀA + AᵀW‖_F for a tall W (or ‖AWᵀ + WAᵀ‖_F for a wide one).</summary>
    private static double Violation(Tensor w, Tensor a)
    {
        bool wide = w.Shape[-1] > w.Shape[-2];
        using var cross = wide ? Ops.MatMul(a, w, transposeB: true) : Ops.MatMul(w, a, transposeA: true);
        using var t = cross.Transpose();
        using var h = Ops.Add(cross, t);
        return Math.Sqrt(HostLinalg.HostArray(h).Sum(x => x * x));
    }

    [TestMethod]
    public void OnASquareOrthogonalMatrixTheDirectionIsWTimesMsignOfTheSkewPart()
    {
        using var w = SemiOrthogonal(12, 12, 1);
        using var g = Random(new Shape(1, 12, 12), 2);
        var (a, iterations, violation) = ManifoldMuon.Direction(w, g, new ManifoldMuonOptions());
        using (a)
        {
            // Closed form: tangent vectors at an orthogonal W are W·S with S skew, and the best S is msign(skew(WᵀG)).
            using var wg = Ops.MatMul(w, g, transposeA: true);
            using var wgT = wg.Transpose();
            using var skew = Ops.Sub(wg, wgT);
            using var s = Orthogonalize.Apply(skew);
            using var expected = Ops.MatMul(w, s);
            using var error = Ops.Sub(a, expected);
            double relative = Math.Sqrt(Inner(error, error) / Inner(expected, expected));
            Console.WriteLine($"square: {iterations} dual steps, violation {violation:E2}, distance {relative:E2}");
            Assert.AreEqual(1, iterations, "Λ₀ is already optimal for an orthogonal W");
            Assert.IsTrue(relative < 1e-9, $"A is {relative} away from W·msign(skew(WᵀG))");
            Assert.IsTrue(Violation(w, a) < 0.02, $"violation {Violation(w, a)}");
        }
    }

    [TestMethod]
    [DataRow(24, 8, 1e-3)]
    [DataRow(8, 24, 1e-3)]
    [DataRow(16, 15, 2e-3)] // nearly square: the dual ascent converges slowly (see ManifoldMuon's remarks)
    public void OnAStiefelMatrixTheDirectionIsTangentAndBeatsTheProjectedGradient(int rows, int cols, double limit)
    {
        using var w = SemiOrthogonal(rows, cols, 3);
        using var g = Random(new Shape(1, rows, cols), 4);
        var options = new ManifoldMuonOptions(Iterations: 200);
        var (a, iterations, violation) = ManifoldMuon.Direction(w, g, options);
        using (a)
        {
            // A feasible competitor: the gradient's tangent part P(G) = G − W·sym(WᵀG) (tall case) scaled to
            // spectral norm 1. The optimum of ⟨G, A⟩ over tangent A with ‖A‖₂ ≤ 1 is at least its value.
            bool wide = cols > rows;
            using var wt = wide ? Ops.Contiguous(w.Transpose()) : Ops.Contiguous(w);
            using var gt = wide ? Ops.Contiguous(g.Transpose()) : Ops.Contiguous(g);
            using var wg = Ops.MatMul(wt, gt, transposeA: true);
            using var gw = wg.Transpose();
            using var sym = Ops.Zip(wg, gw, new Modula.Tensors.Primitives.LinearCombination(0.5, 0.5));
            using var radial = Ops.MatMul(wt, sym);
            using var tangent = Ops.Sub(gt, radial);
            double projected = Inner(tangent, gt) / HostLinalg.SpectralNorm(tangent);
            double achieved = Inner(a, g);
            double spectral = HostLinalg.SpectralNorm(a);
            Console.WriteLine(
                $"{rows}×{cols}: {iterations} dual steps, violation {violation:E2}, ⟨G, A⟩ {achieved:F4} against "
                    + $"the projected gradient's {projected:F4}, ‖A‖₂ {spectral:F4}"
            );
            double measured = Violation(w, a) / Math.Sqrt(Math.Min(rows, cols));
            Assert.IsTrue(violation <= limit && measured <= limit, $"not tangent: {violation}, {measured}");
            Assert.IsTrue(spectral < 1.001, $"‖A‖₂ = {spectral}");
            Assert.IsTrue(achieved >= projected * 0.999, $"⟨G, A⟩ = {achieved} < {projected}");
        }
    }

    [TestMethod]
    public void HypersphericalRowsAreTangentAndOfTheTargetNorm()
    {
        var embedding = new Embedding(6, 5);
        using var w = embedding.InitializeWeight(new Generator(5), Device.Cpu, DType.Float64);
        using var g = Random(new Shape(6, 5), 6);
        using var a = embedding.ManifoldWeight(g, w, 0.3, new ManifoldMuonOptions(), new ManifoldStats());
        double[] wv = HostLinalg.HostArray(w),
            av = HostLinalg.HostArray(a);
        for (int r = 0; r < 6; r++)
        {
            double dot = 0,
                norm = 0;
            for (int c = 0; c < 5; c++)
            {
                dot += wv[r * 5 + c] * av[r * 5 + c];
                norm += av[r * 5 + c] * av[r * 5 + c];
            }
            Assert.AreEqual(0, dot, 1e-12, $"row {r} is not tangent");
            Assert.AreEqual(0.3, Math.Sqrt(norm), 1e-12, $"row {r}'s norm");
        }
    }

    [TestMethod]
    public void TheManifoldRuleKeepsWeightsOnTheirManifoldsWhileTheLossFalls()
    {
        Module model = new Embedding(10, 8) >> new Linear(16, 8) >> new Relu(1) >> new Linear(4, 16);
        using var tokens = Tensor.FromArray<int>(Enumerable.Range(0, 24).Select(i => i % 10).ToArray(), new Shape(24));
        using var targets = Ops.Normal(new Shape(24, 4), new Generator(8));
        using var trainer = new Trainer(
            model,
            model.Initialize(new Generator(9)),
            new Momentum(0.9),
            new TrainerOptions(0.1, Schedule.Linear(60), UpdateRule.Manifold)
        );
        Variable Loss(Variable[] p)
        {
            var d = F.Sub(model.Forward(new Variable(tokens), p), new Variable(targets));
            return F.Mean(F.Mul(d, d));
        }
        double first = trainer.Step(Loss),
            last = first;
        for (int step = 1; step < 60; step++)
            last = trainer.Step(Loss);
        Console.WriteLine(
            $"loss {first:F4} → {last:F4}; {trainer.ManifoldStats.MeanIterations:F1} dual steps per direction, "
                + $"worst violation {trainer.ManifoldStats.WorstViolation:E2}"
        );
        Assert.IsTrue(last < 0.7 * first, $"loss {first} → {last}");
        Assert.AreEqual(2 * 60, trainer.ManifoldStats.Directions, "one direction per matrix atom per step");
        double[] rows = HostLinalg.HostArray(trainer.Weights[0]);
        for (int r = 0; r < 10; r++)
            Assert.AreEqual(1, Math.Sqrt(rows.Skip(r * 8).Take(8).Sum(x => x * x)), 1e-5, $"embedding row {r}");
        foreach (int i in new[] { 1, 2 })
        foreach (double sigma in HostLinalg.SingularValues(trainer.Weights[i])[0])
            Assert.IsTrue(sigma is > 0.99 and < 1.01, $"weight {i} has singular value {sigma}");
    }

    [TestMethod]
    public void BadOptionsAreRefusedByName()
    {
        using var w = SemiOrthogonal(4, 3, 1);
        using var g = Random(new Shape(1, 4, 3), 2);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ManifoldMuon.Direction(w, g, new ManifoldMuonOptions(Iterations: 0))
        );
        StringAssert.Contains(e.Message, "ManifoldMuon");
        var refused = Assert.ThrowsExactly<ModuleException>(() => new TestAtom().ManifoldWeight(g, w, 1, new(), new()));
        StringAssert.Contains(refused.Message, "has no manifold update");
    }

    /// <summary>An atom without a manifold: its ManifoldWeight must refuse, naming it.</summary>
    private sealed class TestAtom() : Atom(1)
    {
        public override Shape WeightShape => new(1);

        protected override Variable Forward(Variable x, Variable weight) => x;

        public override Tensor InitializeWeight(Generator rng, Device device, DType dtype) =>
            Ops.Zeros(new Shape(1), dtype, device);

        public override double WeightNorm(Tensor weight) => 0;

        public override Tensor NormalizeWeight(Tensor update, double target, NormalizeState state, int index) =>
            Ops.Contiguous(update);

        public override Tensor DualizeWeight(Tensor gradient, double target, Orthogonalizer method) =>
            Ops.Contiguous(gradient);

        public override Tensor ProjectWeight(Tensor weight) => Ops.Contiguous(weight);

        public override Tensor RegularizeWeight(Tensor weight, double strength) => Ops.Contiguous(weight);

        protected override Atom WithMass(double mass) => new TestAtom();
    }
}
