using Modula.Modules.Algebra;

namespace Modula.Modules;

/// <summary>Multi-head self-attention blocks of Modula v1 and v2 (four Linear atoms: Q, K, V and the output
/// W).</summary>
public static class Attention
{
    /// <summary>Why no attention bond alone has a certified Lipschitz constant.</summary>
    internal const string NotLipschitz =
        "dot-product attention has no global Lipschitz constant: q·kᵀ is bilinear, so its slope grows with its "
        + "inputs (only a whole Attention v2 block is certified, on a bounded domain)";

    /// <summary>
    /// Modula v1: q, k and v each scaled by 1/3 (so logits are q·k/(9·d) and values v/3; the
    /// tuple's sensitivity 3 times 1/3 gives 1), then <see cref="FunctionalAttention"/>.
    /// Input and output [B, T, dEmbed].
    /// </summary>
    public static Module V1(int heads, int dEmbed, int dQuery, int dValue, bool causal = true)
    {
        var q = new Linear(heads * dQuery, dEmbed) >> new SplitIntoHeads(heads);
        var k = new Linear(heads * dQuery, dEmbed) >> new SplitIntoHeads(heads);
        var v = new Linear(heads * dValue, dEmbed) >> new SplitIntoHeads(heads);
        var w = new MergeHeads() >> new Linear(dEmbed, heads * dValue);
        return (
            1.0 / 3 * Module.Tuple(q.Named("Q"), k.Named("K"), v.Named("V"))
            >> new FunctionalAttention(causal)
            >> w.Named("W")
        ).Named("Attention v1");
    }

    /// <summary>
    /// Modula v2: RoPE on q and k, logits q·k/d, causal mask, softmax with <paramref name="softmaxScale"/>,
    /// and 1/3 applied after the scores meet v. Sensitivity (1 + 2·scale)/3. Always causal. Its certified
    /// Lipschitz bound is the whole block's, on a bounded domain (<see cref="AttentionBound"/>).
    /// </summary>
    public static Module V2(int heads, int dEmbed, int dQuery, int dValue, double softmaxScale = 1)
    {
        var q = new Linear(heads * dQuery, dEmbed) >> new SplitIntoHeads(heads);
        var k = new Linear(heads * dQuery, dEmbed) >> new SplitIntoHeads(heads);
        var v = new Linear(heads * dValue, dEmbed) >> new SplitIntoHeads(heads);
        var w = new MergeHeads() >> new Linear(dEmbed, heads * dValue);
        var scores =
            Module.Tuple(q.Named("Q"), k.Named("K"))
            >> new Rope(dQuery)
            >> new AttentionQK()
            >> new CausalMask()
            >> new Softmax(softmaxScale);
        var block =
            Module.Tuple(v.Named("V"), scores.Named("scores")) >> 1.0 / 3 * new ApplyAttentionScores() >> w.Named("W");
        return new Named(block, "Attention v2", new AttentionBound(heads, dQuery, softmaxScale));
    }
}
