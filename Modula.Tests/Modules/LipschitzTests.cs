using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

/// <summary>
/// Certified Lipschitz bounds against the ratio ‖f(x) − f(x′)‖ / ‖x − x′‖ measured on random pairs and on pairs
/// found by gradient ascent on that ratio (float64 throughout, so rounding cannot hide or fake an excess).
/// </summary>
[TestClass]
public sealed class LipschitzTests
{
    private const double Slack = 1e-9; // float64 rounding of the forward pass and of the host SVD

    /// <summary>Networks with a global bound, and the shape of one example.</summary>
    public static IEnumerable<object[]> Certifiable =>
        [
            ["mlp (Modula v2)", (Func<Module>)(() => Mlp.V2(4, 12, 16, 3)), new[] { 12 }],
            [
                "gelu, mean-subtract, abs",
                (Func<Module>)(
                    () =>
                        new Linear(16, 12)
                        >> Bonds.ScaledGelu()
                        >> new Linear(16, 16)
                        >> new MeanSubtract()
                        >> new Abs()
                        >> new Linear(4, 16)
                ),
                new[] { 12 },
            ],
            [
                "residual blocks",
                (Func<Module>)(
                    () =>
                        new Linear(16, 12)
                        >> Bonds.Residual(new Linear(16, 16) >> new ScaledTanhGelu() >> new Linear(16, 16), 4).Repeat(2)
                        >> new Linear(4, 16)
                ),
                new[] { 12 },
            ],
            [
                "convolutions",
                (Func<Module>)(
                    () =>
                        new Conv2D(4, 2)
                        >> new Relu()
                        >> new Conv2D(3, 4, stride: 2)
                        >> new AvgPool()
                        >> new Flatten()
                        >> new Linear(5, 3)
                ),
                new[] { 2, 6, 6 },
            ],
        ];

    [TestMethod]
    [DynamicData(nameof(Certifiable))]
    public void TheBoundHoldsOnRandomAndAdversarialPairs(string name, Func<Module> build, int[] example)
    {
        var m = build();
        // Initialized weights and weights far from any constraint set (entries uniform in ±1.5).
        foreach (var (label, weights) in new[] { ("initialized", Init(m, 3)), ("random", RandomLike(m, 5)) })
            using (weights)
            {
                var certificate = m.CertifyLipschitz(weights);
                double bound = certificate.Bound ?? throw new AssertFailedException(certificate.ToString());
                double random = RandomPairs(m, weights, example, pairs: 64, seed: 7);
                double adversarial = Adversarial(m, weights, example, pairs: 8, steps: 150, seed: 11);
                Console.WriteLine(
                    $"{name}, {label} weights: bound {bound:G6}, random pairs {random / bound:P1} of it, "
                        + $"adversarial {adversarial / bound:P1}"
                );
                Assert.IsTrue(random <= bound * (1 + Slack), $"{name}: a random pair has ratio {random} > {bound}");
                Assert.IsTrue(
                    adversarial <= bound * (1 + Slack),
                    $"{name}: the adversary found ratio {adversarial} > bound {bound}"
                );
            }
    }

    [TestMethod]
    public void ALinearBoundIsItsScaledSpectralNormAndTheAdversaryAttainsIt()
    {
        var linear = new Linear(5, 8);
        using var w = RandomLike(linear, 2);
        double sigma = HostLinalg.SpectralNorm(w[0]);
        double bound = linear.CertifyLipschitz(w).Bound!.Value;
        Assert.AreEqual(Math.Sqrt(5.0 / 8) * sigma, bound, 1e-11 * bound); // with the certified 1e-12 margin
        double found = Adversarial(linear, w, [8], pairs: 4, steps: 150, seed: 3);
        Assert.IsTrue(found >= bound * (1 - 1e-6) && found <= bound * (1 + Slack), $"found {found}, bound {bound}");
    }

    [TestMethod]
    public void ABrokenBoundIsCaught()
    {
        // |W x| is as steep as W where no entry of W x changes sign, so the bound is attained; a certificate 10 %
        // too small must be exceeded by the search (random pairs alone need not find it).
        var m = new Linear(16, 8) >> new Abs();
        using var w = RandomLike(m, 4);
        double broken = 0.9 * m.CertifyLipschitz(w).Bound!.Value;
        double found = Adversarial(m, w, [8], pairs: 8, steps: 150, seed: 5);
        Assert.IsTrue(found > broken, $"the search found at most {found}, under the broken bound {broken}");
    }

    [TestMethod]
    public void NetworksWithoutAGlobalBoundSayWhy()
    {
        var resMlp = Mlp.ResMlp(16, 2, 2, 12, 4);
        using (var w = Init(resMlp))
        {
            var certificate = resMlp.CertifyLipschitz(w);
            Assert.IsNull(certificate.Bound);
            StringAssert.Contains(certificate.Excluded.First().Reason, "x/rms(x) has no global Lipschitz constant");
            StringAssert.Contains(certificate.ToString(), "no certified bound");
        }
        foreach (var gpt in new[] { Gpt.V1(new GptConfig(Blocks: 1)), Gpt.V2(new GptConfig(Blocks: 1)) })
        {
            using var w = Init(gpt);
            var certificate = gpt.CertifyLipschitz(w);
            Assert.IsNull(certificate.Bound);
            var reasons = certificate.Excluded.Select(p => p.Reason!).ToList();
            Assert.IsTrue(reasons.Any(r => r.Contains("token indices")), string.Join("\n", reasons));
            Assert.IsTrue(reasons.Any(r => r.Contains("dot-product attention")), string.Join("\n", reasons));
            // The linear parts of the blocks still get their own bounds.
            Assert.IsTrue(certificate.Parts.Any(p => p.Module.StartsWith("Linear") && p.Bound > 0));
        }
    }

    [TestMethod]
    public void GeluConstantsBoundTheirSlopesTightly()
    {
        var x = Enumerable.Range(-60_000, 120_001).Select(i => i * 1e-4).ToArray();
        foreach (
            var (name, f, constant) in new (string, Func<Variable, Variable>, double)[]
            {
                ("GELU", F.Gelu, Gelu.MaxSlope),
                ("tanh GELU", F.GeluTanh, ScaledTanhGelu.TanhMaxSlope),
            }
        )
        {
            var y = f(new Variable(Tensor.FromArray<double>(x, new Shape(x.Length)))).Value.ToArray<double>();
            double steepest = Enumerable.Range(1, x.Length - 1).Max(i => (y[i] - y[i - 1]) / (x[i] - x[i - 1]));
            Assert.IsTrue(steepest <= constant && steepest > constant - 1e-5, $"{name}: slope {steepest}, {constant}");
        }
    }

    [TestMethod]
    public void TheCertificateNamesEveryPartAndItsBound()
    {
        var m = (new Linear(8, 4).Named("in") >> new Relu() >> new Linear(2, 8).Named("out")).Named("net");
        using var w = Init(m);
        var certificate = m.CertifyLipschitz(w);
        CollectionAssert.AreEqual(
            new[] { "net/in/Linear(4→8)", "net/in", "net/out/Linear(8→2)", "net/out", "net" },
            certificate.Parts.Select(p => p.Path).ToArray()
        );
        double product = certificate.Parts[1].Bound!.Value * certificate.Parts[3].Bound!.Value;
        Assert.AreEqual(product, certificate.Bound!.Value, 1e-12);
        StringAssert.Contains(certificate.ToString(), "certified Lipschitz bound");
    }

    // ---- measuring ratios -----------------------------------------------------------------------

    /// <summary>The largest ‖f(x) − f(x′)‖ / ‖x − x′‖ over random pairs, at several distances.</summary>
    private static double RandomPairs(Module m, Weights w, int[] example, int pairs, int seed)
    {
        var rng = new System.Random(seed);
        int size = example.Aggregate(1, (a, b) => a * b);
        double best = 0;
        foreach (double distance in new[] { 1e-3, 0.1, 3 })
        {
            double[] x = Gaussian(rng, pairs * size, 1),
                d = Gaussian(rng, pairs * size, distance);
            best = Math.Max(best, Ratios(m, w, example, x, d).Max());
        }
        return best;
    }

    /// <summary>
    /// Gradient ascent on log ‖f(x + d) − f(x)‖ − log ‖d‖ for <paramref name="pairs"/> independent pairs
    /// (one example each, run as one batch); returns the largest ratio met on the way.
    /// </summary>
    private static double Adversarial(Module m, Weights w, int[] example, int pairs, int steps, int seed)
    {
        var rng = new System.Random(seed);
        int size = example.Aggregate(1, (a, b) => a * b);
        double[] x = Gaussian(rng, pairs * size, 1),
            d = Gaussian(rng, pairs * size, 0.1);
        var parameters = w.ToVariables(requiresGrad: false);
        var shape = new Shape([pairs, .. example]);
        int[] axes = Enumerable.Range(1, example.Length).ToArray();
        double best = 0;
        for (int step = 0; step < steps; step++)
        {
            using var scope = TensorScope.Begin();
            var xv = new Variable(Tensor.FromArray<double>(x, shape), requiresGrad: true);
            var dv = new Variable(Tensor.FromArray<double>(d, shape), requiresGrad: true);
            var diff = F.Sub(m.Forward(F.Add(xv, dv), parameters), m.Forward(xv, parameters));
            int[] outAxes = Enumerable.Range(1, diff.Shape.Rank - 1).ToArray();
            var num = F.Sum(F.Mul(diff, diff), outAxes);
            var den = F.Sum(F.Mul(dv, dv), axes);
            var ratios = F.Div(num, den).Value.ToArray<double>();
            best = Math.Max(best, ratios.Max(r => Math.Sqrt(r)));
            F.Sum(F.Sub(F.Log(num), F.Log(den))).Backward();
            double[] gx = xv.Grad!.ToArray<double>(),
                gd = dv.Grad!.ToArray<double>();
            double rate = 0.3 * (1 - (double)step / steps);
            for (int p = 0; p < pairs; p++)
            {
                Span<double> xs = x.AsSpan(p * size, size),
                    ds = d.AsSpan(p * size, size),
                    gxs = gx.AsSpan(p * size, size),
                    gds = gd.AsSpan(p * size, size);
                double dNorm = Norm(ds),
                    gxNorm = Norm(gxs),
                    gdNorm = Norm(gds);
                for (int i = 0; i < size; i++)
                {
                    // Steps relative to the pair's own scale: x moves by up to 30 % of a unit, d by 30 % of itself.
                    if (gxNorm > 0)
                        xs[i] += rate * gxs[i] / gxNorm;
                    if (gdNorm > 0)
                        ds[i] += rate * dNorm * gds[i] / gdNorm;
                }
            }
        }
        return best;
    }

    private static double[] Ratios(Module m, Weights w, int[] example, double[] x, double[] d)
    {
        int size = example.Aggregate(1, (a, b) => a * b),
            pairs = x.Length / size;
        var shape = new Shape([pairs, .. example]);
        double[] xd = x.Zip(d, (a, b) => a + b).ToArray();
        double[] fx = Run(m, w, Tensor.FromArray<double>(x, shape)),
            fxd = Run(m, w, Tensor.FromArray<double>(xd, shape));
        int outSize = fx.Length / pairs;
        return Enumerable
            .Range(0, pairs)
            .Select(p =>
            {
                double num = 0;
                for (int i = p * outSize; i < (p + 1) * outSize; i++)
                    num += (fxd[i] - fx[i]) * (fxd[i] - fx[i]);
                return Math.Sqrt(num) / Norm(d.AsSpan(p * size, size));
            })
            .ToArray();
    }

    private static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double a in v)
            s += a * a;
        return Math.Sqrt(s);
    }

    private static double[] Gaussian(System.Random rng, int n, double scale) =>
        Enumerable
            .Range(0, n)
            .Select(_ =>
                scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())
            )
            .ToArray();
}
