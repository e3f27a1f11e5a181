using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;

namespace Modula.Tests.Optim;

[TestClass]
public sealed class OptimizerTests
{
    private static readonly double[] W0 = [1.0, -2.0, 0.5];
    private static readonly double[] G1 = [0.4, -0.1, 0.0];
    private static readonly double[] G2 = [-0.2, 0.3, 0.6];

    private static Weights Vector(double[] v) => new([Tensor.FromArray<double>(v, new Shape(1, 3))]);

    /// <summary>Two plain steps with lr 0.1 from W0 with gradients G1, G2; returns the weights after each.</summary>
    private static (double[] After1, double[] After2) TwoSteps(Optimizer optimizer, double weightDecay = 0)
    {
        using var trainer = new Trainer(
            new Linear(1, 3),
            Vector(W0),
            optimizer,
            new TrainerOptions(0.1, WeightDecay: weightDecay)
        );
        using (var g = Vector(G1))
            trainer.Apply(g);
        var after1 = trainer.Weights[0].ToArray<double>();
        using (var g = Vector(G2))
            trainer.Apply(g);
        return (after1, trainer.Weights[0].ToArray<double>());
    }

    private static void AssertEqual(double[] expected, double[] actual, string what) =>
        Reference.AssertClose(expected, actual, 1e-15, 1e-14, what);

    [TestMethod]
    public void SgdStepsAgainstTheGradientWithDecoupledDecay()
    {
        // AdamW's order: w ← w − η·(d + λ·w), the decay read from the weights before the step.
        var (a1, a2) = TwoSteps(new Sgd(), weightDecay: 0.5);
        var e1 = W0.Select((w, i) => w - 0.1 * (G1[i] + 0.5 * w)).ToArray();
        AssertEqual(e1, a1, "step 1");
        AssertEqual(e1.Select((w, i) => w - 0.1 * (G2[i] + 0.5 * w)).ToArray(), a2, "step 2");
    }

    [TestMethod]
    public void MomentumAveragesAndNesterovLooksAhead()
    {
        var (_, plain) = TwoSteps(new Momentum(0.9));
        var m1 = G1.Select(g => 0.1 * g).ToArray();
        var m2 = m1.Select((m, i) => 0.9 * m + 0.1 * G2[i]).ToArray();
        AssertEqual(W0.Select((w, i) => w - 0.1 * m1[i] - 0.1 * m2[i]).ToArray(), plain, "momentum");

        var (_, nesterov) = TwoSteps(new Momentum(0.9, nesterov: true));
        var d1 = G1.Select((g, i) => 0.1 * g + 0.9 * m1[i]).ToArray();
        var d2 = G2.Select((g, i) => 0.1 * g + 0.9 * m2[i]).ToArray();
        AssertEqual(W0.Select((w, i) => w - 0.1 * d1[i] - 0.1 * d2[i]).ToArray(), nesterov, "nesterov");
    }

    /// <summary>For the trainer's own rules, momentum lends its m and SGD the gradient (same storage), where
    /// <see cref="Optimizer.Direction"/> and Nesterov's look-ahead give a new vector.</summary>
    [TestMethod]
    public void MomentumAndSgdLendTheirVectorsToTheTrainer()
    {
        using var g = Vector(G1);
        using var momentum = new Momentum(0.9);
        using (var lent = momentum.DirectionToRead(g, 0))
            Assert.AreSame(momentum.Slots["m"][0].Storage, lent[0].Storage, "momentum lends m");
        using (var copy = momentum.Direction(g, 1))
            Assert.AreNotSame(momentum.Slots["m"][0].Storage, copy[0].Storage, "Direction copies m");
        using var sgd = new Sgd();
        using (var lent = sgd.DirectionToRead(g, 0))
            Assert.AreSame(g[0].Storage, lent[0].Storage, "sgd lends the gradient");
        using var nesterov = new Momentum(0.9, nesterov: true);
        using (var own = nesterov.DirectionToRead(g, 0))
        {
            Assert.AreNotSame(nesterov.Slots["m"][0].Storage, own[0].Storage, "Nesterov's is new");
            Assert.AreNotSame(g[0].Storage, own[0].Storage, "Nesterov's is new");
        }
    }

    [TestMethod]
    public void AdamUsesBiasCorrectedMoments()
    {
        const double b1 = 0.9,
            b2 = 0.999,
            eps = 1e-8;
        var (a1, a2) = TwoSteps(new Adam(b1, b2, eps));
        var w = (double[])W0.Clone();
        var m = new double[3];
        var v = new double[3];
        var after = new List<double[]>();
        foreach (var (g, t) in new[] { (G1, 1), (G2, 2) })
        {
            for (int i = 0; i < 3; i++)
            {
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                w[i] -= 0.1 * (m[i] / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v[i] / (1 - Math.Pow(b2, t))) + eps);
            }
            after.Add((double[])w.Clone());
        }
        AssertEqual(after[0], a1, "adam step 1");
        AssertEqual(after[1], a2, "adam step 2");
    }

    [TestMethod]
    public void ModulaAdamWeightsMomentsByStepAndZeroesNaN()
    {
        var (a1, a2) = TwoSteps(new ModulaAdam(0.9, 0.99));
        // Step 0: weights (1−β)^0 = 1, so m = g, v = g², direction g/|g|; 0/0 for the zero gradient becomes 0.
        AssertEqual([W0[0] - 0.1, W0[1] + 0.1, W0[2]], a1, "modula adam step 0");
        double w1 = Math.Pow(0.1, 0.5),
            w2 = Math.Pow(0.01, 0.5);
        var expected = new double[3];
        for (int i = 0; i < 3; i++)
        {
            double m = G1[i] + w1 * (G2[i] - G1[i]);
            double v = G1[i] * G1[i] + w2 * (G2[i] * G2[i] - G1[i] * G1[i]);
            expected[i] = a1[i] - 0.1 * m / Math.Sqrt(v);
        }
        AssertEqual(expected, a2, "modula adam step 1");
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    [DataRow(TestDevices.Cuda)]
    public void FusedMomentOpsMatchTheirFormulasInFloat32(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        double[] a = [0.5, -1.5, 0.0, 2.0, 3.0, -0.25, 1e-3, 0.0, 4.0, -2.0, 0.75, 1.0, -3.0, 0.1, 0.2, 0.3, 7.0];
        double[] b = [0.25, 2.0, 0.0, 0.0, 1.0, 0.5, 1e-6, 3.0, 16.0, 0.1, 0.2, 0.3, 4.0, 9.0, 1.0, 2.0, 0.5];
        using var ta = Tensor.FromArray(a.Select(x => (float)x).ToArray(), new Shape(a.Length), device);
        using var tb = Tensor.FromArray(b.Select(x => (float)x).ToArray(), new Shape(b.Length), device);
        void Check<TOp>(TOp op, Func<double, double, double> f, string name)
            where TOp : struct, Modula.Tensors.Primitives.IBinaryOp
        {
            using var y = Ops.Zip(ta, tb, op);
            Reference.AssertClose(
                a.Select((x, i) => f(x, b[i])).ToArray(),
                Reference.Read(y),
                1e-6,
                1e-6,
                $"{name} on {deviceName}"
            );
        }
        Check(new Ema(0.1), (m, g) => 0.9 * m + 0.1 * g, "ema");
        Check(new EmaOfSquare(0.01), (v, g) => 0.99 * v + 0.01 * g * g, "ema of square");
        Check(new DivideByRootOrZero(), (m, v) => m / Math.Sqrt(v) is var r && double.IsFinite(r) ? r : 0, "m/√v or 0");
        Check(new AdamRatio(10, 1000, 1e-8), (m, v) => 10 * m / (Math.Sqrt(1000 * v) + 1e-8), "adam ratio");
    }

    [TestMethod]
    public void SchedulesAtChosenSteps()
    {
        var linear = Schedule.Linear(100);
        Assert.AreEqual(1.0, linear.At(0));
        Assert.AreEqual(0.5, linear.At(50), 1e-15);
        Assert.AreEqual(0.0, linear.At(100), 1e-15);
        Assert.AreEqual(0.0, linear.At(150), 1e-15, "past the end stays at the floor");
        Assert.AreEqual(0.55, Schedule.Linear(100, floor: 0.1).At(50), 1e-15);
        var cosine = Schedule.Cosine(100, floor: 0.2);
        Assert.AreEqual(1.0, cosine.At(0), 1e-15);
        Assert.AreEqual(0.6, cosine.At(50), 1e-15);
        Assert.AreEqual(0.2 + 0.8 * (1 + Math.Cos(Math.PI * 0.25)) / 2, cosine.At(25), 1e-15);
        var warm = Schedule.Linear(100, warmup: 10);
        Assert.AreEqual(0.1, warm.At(0), 1e-15);
        Assert.AreEqual(0.96 * 5 / 10, warm.At(4), 1e-15);
        Assert.AreEqual(0.9, warm.At(10), 1e-15);
        Assert.AreEqual(1.0, Schedule.Constant().At(12345));
        Assert.ThrowsExactly<ArgumentException>(() => Schedule.Parse("exp", 10));
    }
}
