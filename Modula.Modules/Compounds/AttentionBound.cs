using Modula.Modules.Algebra;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>
/// The certified bound of a whole Modula v2 attention block, x ↦ W·merge(softmax(s·mask(q·kᵀ/d))·v)/3 with
/// q, k = RoPE(split(Q x)), RoPE(split(K x)) and v = split(V x), on inputs of at most T tokens each of ℓ2 norm at
/// most r (no such bound exists on all inputs: q·kᵀ is bilinear). In the ℓ2 norm of the whole [T, C] example:
/// <code>
/// L = L_W/3 · ( √T·L_V + (s/d)·r_v·(r_k·L_Q + √T·r_q·L_K) ),   r_q = L_Q·r, r_k = L_K·r, r_v = L_V·r,
/// </code>
/// where L_Q, L_K, L_V, L_W are the Linear atoms' bounds and d the query size per head. Why, for one head and
/// one query i with weights p over the keys it sees: the output moves by Σⱼ pⱼ·dvⱼ + Cov_p(dz, v), where
/// dzⱼ = (s/d)(dqᵢ·kⱼ + qᵢ·dkⱼ) is the move of the logits (softmax's Jacobian diag(p) − ppᵀ turns Σⱼ dpⱼ·vⱼ
/// into that covariance). By Cauchy–Schwarz in L²(p) the covariance is at most √Var_p(v)·√Var_p(dz) ≤
/// r_v·(s/d)·(r_k·‖dqᵢ‖ + r_q·√(Σⱼ pⱼ‖dkⱼ‖²)), and ‖Σⱼ pⱼ·dvⱼ‖² ≤ Σⱼ pⱼ‖dvⱼ‖² (Jensen).
/// Summing squares over queries, every key is weighted by its column sum of p, at most T, which gives
/// the √T factors; the heads add in squares the same way, RoPE keeps each position's norms, and the
/// bound holds along every segment of the (convex) domain, hence between any two of its points. The
/// output's tokens are convex combinations of value vectors head by head, so their norm is at most
/// L_W/3·√H·r_v, which the next module receives.
/// </summary>
internal sealed class AttentionBound(int heads, int queryDim, double softmaxScale) : LipschitzRule
{
    /// <summary>Why the block has no bound when no domain is given.</summary>
    internal const string NeedsDomain =
        "dot-product attention has no global Lipschitz constant: q·kᵀ is bilinear, so its slope grows with its "
        + "inputs; it is certified only on a bounded domain (a LipschitzDomain: at most T tokens of norm ≤ R)";

    public override double? Bound(Module inner, ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace)
    {
        var atoms = new List<(string Path, Atom Atom)>();
        inner.CollectAtoms(path, atoms);
        if (atoms.Count != 4 || atoms.Any(a => a.Atom is not Linear))
            throw new InvalidOperationException($"{path}: an attention block holds four Linear atoms (V, Q, K, W).");
        // The atoms in tree order: V, then the scores' Q and K, then the output W.
        var bounds = new double?[4];
        bool complete = true;
        for (int i = 0; i < 4; i++)
        {
            double? b = atoms[i].Atom.LipschitzBound(weights[i]);
            bool finite = b is double v && v >= 0 && double.IsFinite(v);
            trace.Parts.Add(
                new LipschitzPart(
                    atoms[i].Path,
                    atoms[i].Atom.Label,
                    finite ? b : null,
                    finite ? null : $"its weight is not finite (bound {b})"
                )
            );
            bounds[i] = finite ? b : null;
            complete &= finite;
        }
        double? r = trace.TokenNorms is [double given] ? given : null;
        trace.TokenNorms = null;
        string? reason =
            trace.Domain is null ? NeedsDomain
            : r is null
                ? "its input has no certified bound on its token norms (a module before it states none), "
                    + "and attention is Lipschitz only on bounded inputs"
            : null;
        if (reason is not null || !complete)
        {
            trace.Parts.Add(new LipschitzPart(path, "Attention", null, reason));
            return null;
        }
        double lv = bounds[0]!.Value,
            lq = bounds[1]!.Value,
            lk = bounds[2]!.Value,
            lw = bounds[3]!.Value;
        double rootT = Math.Sqrt(trace.Domain!.Tokens),
            rq = lq * r!.Value,
            rk = lk * r.Value,
            rv = lv * r.Value;
        double bound = lw / 3 * (rootT * lv + softmaxScale / queryDim * rv * (rk * lq + rootT * rq * lk));
        trace.TokenNorms = [lw / 3 * Math.Sqrt(heads) * rv];
        trace.Parts.Add(new LipschitzPart(path, path[(path.LastIndexOf('/') + 1)..], bound, null));
        return bound;
    }
}
