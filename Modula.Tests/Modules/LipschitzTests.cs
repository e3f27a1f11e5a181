using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;
using static Modula.Tests.Modules.LipschitzSearch;
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
                "ResMLP with ε = 0.25", // residual convex combinations around RMS division: bound 1/√ε = 2 each
                (Func<Module>)(() => Mlp.ResMlp(16, 2, 2, 12, 4, rmsEpsilon: 0.25)),
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
    public void AnRmsDivisionStatedAtItsModulaSensitivityIsCaught()
    {
        // Modula gives RMSDivide sensitivity 1, but with ε its slope reaches 1/√ε at x = 0: a certificate that
        // took the sensitivity for the Lipschitz constant (here 0.9 of the true bound of 10 suffices) is exceeded.
        var m = new Linear(8, 8) >> new RmsDivide { Epsilon = 0.01 };
        using var w = Init(m, 2);
        double bound = m.CertifyLipschitz(w).Bound!.Value;
        Assert.AreEqual(10 * HostLinalg.SpectralNorm(w[0]), bound, 1e-9 * bound);
        double found = Adversarial(m, w, [8], pairs: 8, steps: 150, seed: 9);
        Console.WriteLine($"bound {bound:G6}, adversary {found:G6}");
        Assert.IsTrue(found > 0.9 * bound && found <= bound * (1 + Slack), $"found {found}, bound {bound}");
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
}
