using Modula.Autodiff;
using Modula.Modules;
using Modula.Tensors;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

/// <summary>
/// Measures ‖f(x) − f(x′)‖ / ‖x − x′‖ (ℓ2 over one example's whole tensors, float64) on random pairs and on pairs
/// found by gradient ascent, optionally inside a <see cref="LipschitzDomain"/>: every token vector (the last axis
/// of the example) is kept at ℓ2 norm ≤ R by projecting both points of a pair onto that ball after every step.
/// </summary>
internal static class LipschitzSearch
{
    /// <summary>The largest ratio over random pairs, at several distances.</summary>
    public static double RandomPairs(
        Module m,
        Weights w,
        int[] example,
        int pairs,
        int seed,
        LipschitzDomain? domain = null
    )
    {
        var rng = new System.Random(seed);
        int size = example.Aggregate(1, (a, b) => a * b);
        double best = 0;
        foreach (double distance in new[] { 1e-3, 0.1, 3 })
        {
            double[] x = Gaussian(rng, pairs * size, 1),
                d = Gaussian(rng, pairs * size, distance);
            if (domain is not null)
            {
                // Tokens at norms spread over [0, R], so that the boundary, where attention is steepest, is met.
                int dim = example[^1];
                for (int t = 0; t * dim < x.Length; t++)
                {
                    var token = x.AsSpan(t * dim, dim);
                    double scale = domain.TokenNorm * Math.Sqrt(rng.NextDouble()) / Math.Max(Norm(token), 1e-300);
                    foreach (ref double v in token)
                        v *= scale;
                }
                KeepPairsInside(x, d, dim, domain.TokenNorm);
            }
            best = Math.Max(best, Ratios(m, w, example, x, d).Max());
        }
        return best;
    }

    /// <summary>
    /// Gradient ascent on log ‖f(x + d) − f(x)‖ − log ‖d‖ for <paramref name="pairs"/> independent pairs
    /// (one example each, run as one batch); returns the largest ratio met on the way.
    /// </summary>
    public static double Adversarial(
        Module m,
        Weights w,
        int[] example,
        int pairs,
        int steps,
        int seed,
        LipschitzDomain? domain = null
    )
    {
        var rng = new System.Random(seed);
        int size = example.Aggregate(1, (a, b) => a * b);
        double[] x = Gaussian(rng, pairs * size, 1),
            d = Gaussian(rng, pairs * size, 0.1);
        // Steps relative to the pair's own scale: x moves by up to 30 % of an entry (unbounded inputs) or of a whole
        // token's radius (inside a domain), d by 30 % of itself.
        double unit = domain is null ? 1 : domain.TokenNorm;
        if (domain is not null)
        {
            foreach (ref double v in x.AsSpan())
                v *= unit;
            KeepPairsInside(x, d, example[^1], domain.TokenNorm);
        }
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
                    if (gxNorm > 0)
                        xs[i] += rate * unit * gxs[i] / gxNorm;
                    if (gdNorm > 0)
                        ds[i] += rate * dNorm * gds[i] / gdNorm;
                }
            }
            if (domain is not null)
                KeepPairsInside(x, d, example[^1], domain.TokenNorm);
        }
        return best;
    }

    /// <summary>Projects every token of x, and of x + d, onto the ball of radius <paramref name="radius"/>
    /// (d is then the difference of the projected points).</summary>
    private static void KeepPairsInside(double[] x, double[] d, int dim, double radius)
    {
        var end = new double[dim];
        for (int t = 0; t * dim < x.Length; t++)
        {
            Span<double> xs = x.AsSpan(t * dim, dim),
                ds = d.AsSpan(t * dim, dim);
            for (int i = 0; i < dim; i++)
                end[i] = xs[i] + ds[i];
            IntoBall(xs, radius);
            IntoBall(end, radius);
            for (int i = 0; i < dim; i++)
                ds[i] = end[i] - xs[i];
        }
    }

    private static void IntoBall(Span<double> v, double radius)
    {
        double norm = Norm(v);
        if (norm > radius)
            foreach (ref double a in v)
                a *= radius / norm;
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
                double den = Norm(d.AsSpan(p * size, size));
                return den > 0 ? Math.Sqrt(num) / den : 0;
            })
            .ToArray();
    }

    public static double Norm(ReadOnlySpan<double> v)
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
