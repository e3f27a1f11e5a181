using Modula.Modules;
using Modula.Tensors;
using static Modula.Tests.Modules.LipschitzSearch;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

/// <summary>
/// The certified bound of attention and of a Modula v2 GPT from embedded inputs to logits, on the domain of token
/// vectors of ℓ2 norm ≤ R, against ratios measured inside that domain (random pairs and gradient ascent).
/// </summary>
[TestClass]
public sealed class GptLipschitzTests
{
    private const double Slack = 1e-9; // float64 rounding of the forward pass and of the host SVD

    private static readonly GptConfig Small = new(
        Vocab: 11,
        Context: 8,
        Heads: 2,
        DEmbed: 16,
        DQuery: 8,
        DValue: 8,
        Blocks: 2
    );

    [TestMethod]
    [DataRow(3UL, 1.0)]
    [DataRow(5UL, 1.5)]
    public void TheGptBoundHoldsFromEmbeddingsToLogits(ulong seed, double weightScale)
    {
        var gpt = Gpt.V2(Small);
        // The blocks' and head's weights scaled (sharper attention, larger bounds); the embedding keeps unit rows.
        using var w = Scaled(Init(gpt, seed), weightScale, skip: 1);
        var certificate = Gpt.CertifyFromEmbeddings(gpt, w, Small.Context);
        Console.WriteLine(certificate);
        double bound = certificate.Bound ?? throw new AssertFailedException(certificate.ToString());
        var body = Gpt.AfterEmbedding(gpt)!;
        using var bodyWeights = new Weights(w.Skip(1).Select(t => Ops.Contiguous(t)));
        int[] example = [Small.Context, Small.DEmbed];
        double random = RandomPairs(body, bodyWeights, example, pairs: 64, seed: 7, certificate.Domain);
        double adversarial = Adversarial(
            body,
            bodyWeights,
            example,
            pairs: 8,
            steps: 150,
            seed: 11,
            certificate.Domain
        );
        Console.WriteLine(
            $"GPT (init seed {seed}, weights ×{weightScale}, search seeds 7 and 11): bound {bound:G6}, random "
                + $"{random / bound:P1} of it, adversarial {adversarial / bound:P1}"
        );
        Assert.IsTrue(random <= bound * (1 + Slack), $"a random pair has ratio {random} > {bound}");
        Assert.IsTrue(adversarial <= bound * (1 + Slack), $"the adversary found {adversarial} > bound {bound}");
    }

    [TestMethod]
    [DataRow(3UL, 1.0)]
    [DataRow(5UL, 3.0)]
    public void TheAttentionBoundHoldsOnItsDomain(ulong seed, double weightScale)
    {
        var attention = Attention.V2(Small.Heads, Small.DEmbed, Small.DQuery, Small.DValue);
        using var w = Scaled(Init(attention, seed), weightScale, skip: 0);
        var domain = new LipschitzDomain(Small.Context, 4);
        var certificate = attention.CertifyLipschitz(w, domain);
        double bound = certificate.Bound ?? throw new AssertFailedException(certificate.ToString());
        int[] example = [Small.Context, Small.DEmbed];
        double random = RandomPairs(attention, w, example, pairs: 64, seed: 7, domain);
        double adversarial = Adversarial(attention, w, example, pairs: 8, steps: 150, seed: 11, domain);
        Console.WriteLine(
            $"attention (init seed {seed}, weights ×{weightScale}, search seeds 7 and 11): bound {bound:G6}, "
                + $"random {random / bound:P1} of it, adversarial {adversarial / bound:P1}"
        );
        Assert.IsTrue(random <= bound * (1 + Slack), $"a random pair has ratio {random} > {bound}");
        Assert.IsTrue(adversarial <= bound * (1 + Slack), $"the adversary found {adversarial} > bound {bound}");
    }

    [TestMethod]
    public void WeightsOrDomainsWithoutAFiniteBoundCertifyNothing()
    {
        // Found by an outside campaign: a NaN embedding row was passed over by the row norms' maximum and a v2 GPT
        // got a finite "certified" bound; a domain of infinite or NaN token norm, or an overflowing product of
        // bounds, was printed as certified "L ≤ ∞" or "L ≤ NaN"; a domain of no positions was taken.
        var gpt = Gpt.V2(Small);
        using (var w = Init(gpt, 3))
        {
            Assert.IsNotNull(Gpt.CertifyFromEmbeddings(gpt, w, Small.Context).Bound, "finite weights: a bound");
            var table = Values(w[0]);
            table[1] = double.NaN;
            using var bad = Tensor.FromArray<double>(table, w[0].Shape);
            Ops.CopyInto(bad, w[0]);
            var certificate = Gpt.CertifyFromEmbeddings(gpt, w, Small.Context);
            Assert.IsNull(certificate.Bound, certificate.ToString());
            StringAssert.Contains(certificate.ToString(), "its largest row's ℓ2 norm is NaN");
        }
        foreach (
            var (tokens, norm) in new[]
            {
                (0, 1.0),
                (-3, 1.0),
                (4, double.NaN),
                (4, double.PositiveInfinity),
                (4, -1.0),
            }
        )
        {
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => new LipschitzDomain(tokens, norm),
                $"{tokens}, {norm}"
            );
            // A `with` expression sets the properties through their init accessors, which check as well.
            var valid = new LipschitzDomain(4, 1.0, "rows");
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => valid with { Tokens = tokens, TokenNorm = norm },
                $"with {tokens}, {norm}"
            );
        }
        var source = new LipschitzDomain(4, 1.0, "rows");
        Assert.ThrowsExactly<ArgumentNullException>(() => new LipschitzDomain(4, 1.0, null!), "null source");
        Assert.ThrowsExactly<ArgumentNullException>(() => source with { Source = null! }, "with a null source");
        Assert.AreEqual(new LipschitzDomain(8, 2.5, "rows"), source with { Tokens = 8, TokenNorm = 2.5 });
        // Each layer's bound is finite (σ₁ about 1e300), their product is not.
        var deep = new Linear(3, 3) >> new Linear(3, 3);
        double[] m = [1, 2, -1, 0.5, -1, 1, 1, 1, -3];
        using var large = new Weights([
            Tensor.FromArray<double>(m.Select(v => v * 1e300).ToArray(), new Shape(3, 3)),
            Tensor.FromArray<double>(m.Select(v => v * 1e300).ToArray(), new Shape(3, 3)),
        ]);
        var overflowing = deep.CertifyLipschitz(large);
        Assert.IsNull(overflowing.Bound, overflowing.ToString());
        StringAssert.Contains(overflowing.ToString(), "the bound its parts give is Infinity");
        // Tiny weights: a bound of σ₁ itself, not 0 (the singular values' squares vanished).
        using var tiny = new Weights([Tensor.FromArray<double>(m.Select(v => v * 1e-163).ToArray(), new Shape(3, 3))]);
        Assert.AreEqual(4.039078928e-163, new Linear(3, 3).CertifyLipschitz(tiny).Bound!.Value, 1e-171);
    }

    [TestMethod]
    public void ABrokenAttentionConstantIsCaught()
    {
        // The tempting mistake: attention's rows are convex combinations, so the block would be as steep as
        // W·V/3 alone. Moving the scores and piling several queries onto one key make it steeper; the search
        // must find a pair above that constant, for the block alone and for a one-block GPT (weights after the
        // embedding doubled, so that attention weighs in the total) where it enters as the residual ½ + ½·L.
        var attention = Attention.V2(Small.Heads, Small.DEmbed, Small.DQuery, Small.DValue);
        var domain = new LipschitzDomain(Small.Context, 4);
        using (var w = Init(attention, 3))
        {
            var parts = attention.CertifyLipschitz(w, domain).Parts;
            double broken = Part(parts, "/W/Linear(16→16)") * Part(parts, "/V/Linear(16→16)") / 3;
            double found = Adversarial(attention, w, [Small.Context, Small.DEmbed], 8, 150, seed: 11, domain);
            Console.WriteLine($"attention: broken constant {broken:G6}, search (seed 11) found {found:G6}");
            Assert.IsTrue(found > broken, $"the search found at most {found}, under the broken constant {broken}");
        }
        var config = Small with { Blocks = 1 };
        var gpt = Gpt.V2(config);
        using (var w = Scaled(Init(gpt, 3), 2, skip: 1))
        {
            var certificate = Gpt.CertifyFromEmbeddings(gpt, w, config.Context);
            var parts = certificate.Parts;
            double att = Part(parts, "Attention v2"),
                mlp = Part(parts, "/MLP"),
                head = Part(parts, "/head");
            // The algebra's total, recomputed from the parts: residual weights ½ (two residuals in one block).
            Assert.AreEqual((0.5 + 0.5 * att) * (0.5 + 0.5 * mlp) * head, certificate.Bound!.Value, 1e-12);
            double brokenAttention = Part(parts, "/W/Linear(16→16)") * Part(parts, "/V/Linear(16→16)") / 3;
            double broken = (0.5 + 0.5 * brokenAttention) * (0.5 + 0.5 * mlp) * head;
            using var bodyWeights = new Weights(w.Skip(1).Select(t => Ops.Contiguous(t)));
            double found = Adversarial(
                Gpt.AfterEmbedding(gpt)!,
                bodyWeights,
                [config.Context, config.DEmbed],
                8,
                150,
                seed: 11,
                certificate.Domain
            );
            Console.WriteLine(
                $"one-block GPT: bound {certificate.Bound:G6}, broken {broken:G6}, search (seed 11) found {found:G6}"
            );
            Assert.IsTrue(found > broken, $"the search found at most {found}, under the broken bound {broken}");
        }
    }

    /// <summary>The bound of the one part whose path ends with <paramref name="suffix"/>.</summary>
    private static double Part(IReadOnlyList<LipschitzPart> parts, string suffix) =>
        parts.Single(p => p.Path.EndsWith(suffix, StringComparison.Ordinal)).Bound!.Value;

    /// <summary>Every weight after the first <paramref name="skip"/> times <paramref name="factor"/>.</summary>
    private static Weights Scaled(Weights w, double factor, int skip)
    {
        using (w)
            return new Weights(w.Select((t, i) => i < skip ? Ops.Contiguous(t) : Ops.Mul(t, factor)));
    }
}
