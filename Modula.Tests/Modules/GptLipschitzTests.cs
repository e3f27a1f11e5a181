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
