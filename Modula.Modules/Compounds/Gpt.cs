using Modula.Modules.Algebra;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>The sizes of a GPT. Defaults are Karpathy's smallest config used by Modula's examples.</summary>
/// <param name="Vocab">Vocabulary size.</param>
/// <param name="Context">Longest sequence (size of the v1 position embedding).</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="DEmbed">Residual stream width.</param>
/// <param name="DQuery">Query/key size per head.</param>
/// <param name="DValue">Value size per head.</param>
/// <param name="Blocks">Number of (attention, MLP) block pairs.</param>
/// <param name="BlocksMass">Total mass of all blocks (embedding and head have mass 1 each).</param>
/// <param name="AttentionScale">v2 softmax scale.</param>
/// <param name="FinalScale">v2 multiplier on the logits.</param>
public sealed record GptConfig(
    int Vocab = 65,
    int Context = 64,
    int Heads = 4,
    int DEmbed = 128,
    int DQuery = 32,
    int DValue = 32,
    int Blocks = 4,
    double BlocksMass = 5,
    double AttentionScale = 1,
    double FinalScale = 1
);

/// <summary>Modula's GPTs. Input: Int32 tokens [B, T]; output: logits [B, T, Vocab].</summary>
public static class Gpt
{
    /// <summary>
    /// Modula v1: token + learned position embeddings (½ each, mass 1), pre-LayerNorm attention
    /// and √2·GELU MLP blocks with residual weight 1/(2L), blocks tared to
    /// <see cref="GptConfig.BlocksMass"/>, then LayerNorm and the output Linear. Mass 2 + blocks mass.
    /// </summary>
    public static Module V1(GptConfig c)
    {
        var tokens = new Embedding(c.Vocab, c.DEmbed);
        var positions = new Enumerate() >> new Embedding(c.Context, c.DEmbed);
        var initial = (0.5 * tokens + 0.5 * positions).Tare();
        var attention = Bonds.LayerNorm() >> Attention.V1(c.Heads, c.DEmbed, c.DQuery, c.DValue, causal: true);
        var mlp =
            Bonds.LayerNorm()
            >> new Linear(4 * c.DEmbed, c.DEmbed)
            >> Bonds.ScaledGelu()
            >> new Linear(c.DEmbed, 4 * c.DEmbed);
        var blocks = Blocks(attention, mlp.Named("MLP"), c);
        var final = Bonds.LayerNorm() >> new Linear(c.Vocab, c.DEmbed);
        return (initial.Named("embeddings") >> blocks >> final.Named("head")).Named("GPT v1");
    }

    /// <summary>
    /// Modula v2: token embedding only (position enters through RoPE), no LayerNorm, GeLU/1.1289
    /// MLP, 1/3 after attention, residual weight 1/(2L), output Linear times <see cref="GptConfig.FinalScale"/>.
    /// </summary>
    public static Module V2(GptConfig c)
    {
        var embed = new Embedding(c.Vocab, c.DEmbed).Tare();
        var attention = Attention.V2(c.Heads, c.DEmbed, c.DQuery, c.DValue, c.AttentionScale);
        var mlp = new Linear(4 * c.DEmbed, c.DEmbed) >> new ScaledTanhGelu() >> new Linear(c.DEmbed, 4 * c.DEmbed);
        var blocks = Blocks(attention, mlp.Named("MLP"), c);
        var output = c.FinalScale * new Linear(c.Vocab, c.DEmbed);
        return (embed >> blocks >> output.Named("head")).Named("GPT v2");
    }

    /// <summary>
    /// A certified Lipschitz bound of a Modula v2 GPT (<see cref="V2"/>) from its embedded inputs to its logits:
    /// the blocks and head, on the domain of at most <paramref name="context"/> positions whose vectors have ℓ2
    /// norm at most √dim times the largest embedding row (every embedded token sequence lies in it, and so does
    /// every point between two of them). The token embedding itself has no bound (its input is indices) and is
    /// not part of the certificate. Any other module is certified from its raw input, where a GPT's attention or
    /// embedding leaves no total.
    /// </summary>
    public static LipschitzCertificate CertifyFromEmbeddings(Module gpt, Weights weights, int context)
    {
        gpt.CheckWeights(weights);
        if (FromEmbeddings(gpt) is not (Module body, Embedding embedding))
            return gpt.Certify(weights.AsSpan(), null);
        double norm = embedding.TokenNormBound(weights[0], null)!.Value;
        if (!double.IsFinite(norm)) // a NaN row, or rows whose norms overflow: no domain, so no bound
            return new LipschitzCertificate(
                null,
                [
                    new LipschitzPart(
                        embedding.Label,
                        embedding.Label,
                        null,
                        string.Create(
                            System.Globalization.CultureInfo.InvariantCulture,
                            $"its largest row's ℓ2 norm is {norm}, so the inputs of the blocks are not bounded"
                        )
                    ),
                ]
            );
        var domain = new LipschitzDomain(context, norm, $"√{embedding.Dim} × the largest row of {embedding.Label}");
        return body.Certify(weights.AsSpan()[1..], domain);
    }

    /// <summary>
    /// The part of a v2 GPT after its token embedding (blocks and head, named "… from embeddings"): a module
    /// from embedded inputs [B, T, dim] to logits whose weights are the GPT's without the first (the embedding
    /// table). Null for any other module.
    /// </summary>
    public static Module? AfterEmbedding(Module gpt) => FromEmbeddings(gpt)?.Body;

    private static (Module Body, Embedding Embedding)? FromEmbeddings(Module gpt) =>
        gpt
            is Named
            {
                Name: var name,
                Inner: Composition { First: Composition { First: Embedding e, Then: var blocks }, Then: var head },
            }
            ? ((blocks >> head).Named($"{name} from embeddings"), e)
            : null;

    private static Module Blocks(Module attention, Module mlp, GptConfig c)
    {
        double depth = 2 * c.Blocks;
        var pair = Bonds.Residual(attention, depth) >> Bonds.Residual(mlp, depth);
        return pair.Named("block").Repeat(c.Blocks).Tare(c.BlocksMass).Named("blocks");
    }
}
