using Modula.Tensors;

namespace Modula.Modules;

public abstract partial class Module
{
    // ---- certified Lipschitz bounds -----------------------------------------------------------

    /// <summary>
    /// A certified upper bound on this module's Lipschitz constant with respect to its input, for the given
    /// weights: ‖f(x) − f(x′)‖ ≤ L·‖x − x′‖ for every pair of inputs (every pair inside <paramref name="domain"/>
    /// when one is given), in the ℓ2 norm of one example's whole input and output tensors (a tuple's output is
    /// measured by the sum of its parts' norms, so a tuple's bound is the sum of its children's and <see
    /// cref="Add"/>'s is 1). Computed through the algebra from the weights, not sampled: a composition multiplies
    /// its parts' bounds, a tuple adds them, a scalar multiple scales them, a Linear contributes √(out/in)·σ₁(W)
    /// (exact singular values on the host, in float64). Modules with no global bound (RMS division and layer norm,
    /// embeddings of token indices) are excluded with their reason and leave the total undefined; dot-product
    /// attention has a bound only on a bounded domain (<see cref="LipschitzDomain"/>: at most T tokens per example,
    /// each of ℓ2 norm at most R), where every module also carries a bound on its outputs' token norms to the
    /// next. Caveats: "per example" assumes no bond mixes the batch axis (a mean over axis 0 would bound the whole
    /// batch instead), an <see cref="Add"/> whose inputs broadcast counts a broadcast input once per copy (not
    /// covered by its bound of 1), and a network of several inputs is bounded in the sum of their norms.
    /// </summary>
    public LipschitzCertificate CertifyLipschitz(Weights weights, LipschitzDomain? domain = null)
    {
        CheckWeights(weights);
        return Certify(weights.AsSpan(), domain);
    }

    /// <summary><see cref="CertifyLipschitz"/> on weights already checked against this module.</summary>
    internal LipschitzCertificate Certify(ReadOnlySpan<Tensor> weights, LipschitzDomain? domain)
    {
        var trace = new LipschitzTrace(domain);
        double? bound = LipschitzOf(weights, "", trace);
        // A product of finite bounds can still overflow, and a bound built on an infinite token norm is none: an
        // infinite or NaN total certifies nothing, and is reported as no bound.
        if (bound is double b && !double.IsFinite(b))
        {
            trace.Parts.Add(
                new LipschitzPart(
                    Label,
                    Label,
                    null,
                    string.Create(
                        System.Globalization.CultureInfo.InvariantCulture,
                        $"the bound its parts give is {b} (weights too large for a double, or a part's bound is)"
                    )
                )
            );
            bound = null;
        }
        return new LipschitzCertificate(bound, trace.Parts, domain);
    }

    /// <summary>
    /// This module's bound for <paramref name="weights"/>, or null when it has none; the parts worth reporting
    /// (named modules, atoms, excluded modules) are added to <paramref name="trace"/> under <paramref
    /// name="path"/>, and the trace's token-norm bounds of the value flowing are replaced by this module's
    /// outputs'. A module type the algebra does not know has no bound: certification never guesses.
    /// </summary>
    internal virtual double? LipschitzOf(ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace)
    {
        trace.Parts.Add(
            new LipschitzPart(
                Join(path, Label),
                Label,
                null,
                $"{GetType().Name} declares no Lipschitz bound, so none is certified"
            )
        );
        trace.TokenNorms = null;
        return null;
    }

    /// <summary><paramref name="path"/>/<paramref name="name"/>, or the name alone at the root.</summary>
    private protected static string Join(string path, string name) => path.Length == 0 ? name : $"{path}/{name}";
}

/// <summary>
/// The inputs a certificate covers: examples of at most <paramref name="Tokens"/> positions (the axis before the
/// last) whose vectors (the last axis) each have ℓ2 norm at most <paramref name="TokenNorm"/>. Attention is
/// Lipschitz only on such a set (q·kᵀ is bilinear), so a network with attention is certified on one.
/// </summary>
/// <param name="Tokens">The most positions one example has (a GPT's context).</param>
/// <param name="TokenNorm">The largest ℓ2 norm of one position's vector.</param>
/// <param name="Source">Where the bound comes from, for the reader (e.g. the largest embedding row).</param>
public sealed record LipschitzDomain(int Tokens, double TokenNorm, string Source = "")
{
    // Each property checks its value in its init accessor, which a `with` expression calls, and in its initializer,
    // which the constructor's parameter takes without the accessor.

    /// <summary>The most positions one example has: at least 1.</summary>
    public int Tokens
    {
        get;
        init => field = CheckTokens(value);
    } = CheckTokens(Tokens);

    /// <summary>The largest ℓ2 norm of one position's vector: finite and ≥ 0.</summary>
    public double TokenNorm
    {
        get;
        init => field = CheckTokenNorm(value);
    } = CheckTokenNorm(TokenNorm);

    /// <summary>Where the bound comes from, for the reader; empty when not given, never null.</summary>
    public string Source
    {
        get;
        init => field = CheckSource(value);
    } = CheckSource(Source);

    /// <summary>A sentence a person reads.</summary>
    public override string ToString() =>
        $"inputs of at most {Tokens} positions, each of ℓ2 norm at most {TokenNorm:G6}"
        + (Source.Length > 0 ? $" ({Source})" : "");

    private static int CheckTokens(int tokens) =>
        tokens >= 1
            ? tokens
            : throw new ArgumentOutOfRangeException(nameof(Tokens), $"LipschitzDomain: {tokens} positions; needs ≥ 1.");

    private static double CheckTokenNorm(double norm) =>
        norm >= 0 && double.IsFinite(norm)
            ? norm
            : throw new ArgumentOutOfRangeException(
                nameof(TokenNorm),
                $"LipschitzDomain: token norm {norm}; needs a finite value ≥ 0."
            );

    private static string CheckSource(string source) =>
        source ?? throw new ArgumentNullException(nameof(Source), "LipschitzDomain: the source is null; give \"\".");
}

/// <summary>
/// What a certification pass carries from module to module: the parts reported so far, the domain, and bounds on
/// the token norms of the value flowing (one per tensor of a tuple's output; null when some is unknown).
/// </summary>
internal sealed class LipschitzTrace(LipschitzDomain? domain)
{
    public List<LipschitzPart> Parts { get; } = [];

    public LipschitzDomain? Domain { get; } = domain;

    /// <summary>
    /// A bound on the ℓ2 norm of every token vector of each tensor flowing: of x[b, t, :] for [B, T, C], of all
    /// heads of one position, x[b, :, t, :], for head-split [B, H, T, d]. Null when no bound is known.
    /// </summary>
    public double[]? TokenNorms { get; set; } = domain is null ? null : [domain.TokenNorm];
}

/// <summary>One line of a <see cref="LipschitzCertificate"/>.</summary>
/// <param name="Path">Where the module sits in the tree (names joined by '/').</param>
/// <param name="Module">The module's label.</param>
/// <param name="Bound">Its certified bound, or null when it has none.</param>
/// <param name="Reason">Why it has no bound, when <paramref name="Bound"/> is null.</param>
public sealed record LipschitzPart(string Path, string Module, double? Bound, string? Reason);

/// <summary>
/// A certified upper bound on a network's Lipschitz constant in its input (see <see
/// cref="Module.CertifyLipschitz"/>), with the bound of every named module and atom, and every excluded module
/// with its reason.
/// </summary>
/// <param name="Bound">The whole network's bound; null when some part has none.</param>
/// <param name="Parts">Named modules, atoms and excluded modules, in data-flow order (a named module after its
/// contents).</param>
/// <param name="Domain">The inputs the bound covers; null for every input.</param>
public sealed record LipschitzCertificate(
    double? Bound,
    IReadOnlyList<LipschitzPart> Parts,
    LipschitzDomain? Domain = null
)
{
    /// <summary>The parts that have no bound, each with its reason.</summary>
    public IEnumerable<LipschitzPart> Excluded => Parts.Where(p => p.Reason is not null);

    /// <summary>A table a person reads: one line per part, then the total or why there is none.</summary>
    public override string ToString()
    {
        var lines = Parts.Select(p =>
            p.Bound is double b ? $"  {p.Path}  L ≤ {b:G6}"
            : p.Reason is null ? $"  {p.Path}  no bound (a part of it has none)"
            : $"  {p.Path}  no bound: {p.Reason}"
        );
        string where = Domain is null ? "" : $" on {Domain}";
        string total = Bound is double l
            ? $"certified Lipschitz bound (ℓ2, per example){where}: L ≤ {l:G6}"
            : $"no certified bound{where}: {Excluded.Count()} part(s) have none";
        return string.Join('\n', lines.Append(total));
    }
}
