using Modula.Tensors;

namespace Modula.Autodiff;

/// <summary>The outcome of a gradient check: the worst disagreement found.</summary>
/// <param name="Passed">True if every compared entry was within tolerance.</param>
/// <param name="MaxAbsoluteError">Largest |analytic − numeric|.</param>
/// <param name="Detail">Where the worst entry was, for the failure message.</param>
public readonly record struct GradCheckResult(bool Passed, double MaxAbsoluteError, string Detail);

/// <summary>
/// Compares backward-mode gradients with float64 central differences, as PyTorch's
/// <c>gradcheck</c> does (defaults eps = 1e-6, atol = 1e-5, rtol = 1e-3). A non-scalar output
/// y is reduced to L = Σ w⊙y with fixed random weights w, which checks the vector–Jacobian
/// product for that w. Inputs must be float64 CPU tensors.
/// </summary>
public static class GradCheck
{
    /// <summary>Entry by entry: perturbs each input element in turn (2 forward passes per element).</summary>
    public static GradCheckResult Check(
        Func<Variable[], Variable> f,
        Tensor[] inputs,
        double eps = 1e-6,
        double atol = 1e-5,
        double rtol = 1e-3,
        int seed = 0
    )
    {
        var (analytic, weights) = Analytic(f, inputs, seed);
        double worst = 0;
        string detail = "";
        bool passed = true;
        var data = inputs.Select(t => t.ToArray<double>()).ToArray();
        for (int i = 0; i < inputs.Length; i++)
        for (int j = 0; j < data[i].Length; j++)
        {
            double saved = data[i][j];
            data[i][j] = saved + eps;
            double plus = Loss(f, inputs, data, weights);
            data[i][j] = saved - eps;
            double minus = Loss(f, inputs, data, weights);
            data[i][j] = saved;
            double numeric = (plus - minus) / (2 * eps);
            Compare(analytic[i][j], numeric, $"input {i} element {j}", atol, rtol, ref worst, ref detail, ref passed);
        }
        return new GradCheckResult(passed, worst, detail);
    }

    /// <summary>
    /// Directional check for large inputs: for <paramref name="directions"/> random unit
    /// directions u, compares ⟨∇L, u⟩ with (L(x + εu) − L(x − εu)) / 2ε.
    /// </summary>
    public static GradCheckResult CheckDirectional(
        Func<Variable[], Variable> f,
        Tensor[] inputs,
        int directions = 4,
        double eps = 1e-6,
        double atol = 1e-5,
        double rtol = 1e-3,
        int seed = 0
    )
    {
        var (analytic, weights) = Analytic(f, inputs, seed);
        var rng = new System.Random(seed + 1);
        double worst = 0;
        string detail = "";
        bool passed = true;
        var baseData = inputs.Select(t => t.ToArray<double>()).ToArray();
        for (int d = 0; d < directions; d++)
        {
            var u = baseData.Select(x => x.Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
            double norm = Math.Sqrt(u.Sum(a => a.Sum(v => v * v)));
            double expected = 0;
            for (int i = 0; i < u.Length; i++)
            for (int j = 0; j < u[i].Length; j++)
            {
                u[i][j] /= norm;
                expected += analytic[i][j] * u[i][j];
            }
            double plus = Loss(f, inputs, Shift(baseData, u, eps), weights);
            double minus = Loss(f, inputs, Shift(baseData, u, -eps), weights);
            Compare(
                expected,
                (plus - minus) / (2 * eps),
                $"direction {d}",
                atol,
                rtol,
                ref worst,
                ref detail,
                ref passed
            );
        }
        return new GradCheckResult(passed, worst, detail);
    }

    private static void Compare(
        double analytic,
        double numeric,
        string where,
        double atol,
        double rtol,
        ref double worst,
        ref string detail,
        ref bool passed
    )
    {
        double error = Math.Abs(analytic - numeric);
        if (error > atol + rtol * Math.Abs(numeric))
            passed = false;
        if (error >= worst)
        {
            worst = error;
            detail = $"{where}: analytic {analytic:G10}, numeric {numeric:G10}";
        }
    }

    private static (double[][] Gradients, double[]? Weights) Analytic(
        Func<Variable[], Variable> f,
        Tensor[] inputs,
        int seed
    )
    {
        foreach (var t in inputs)
            if (t.DType != DType.Float64 || t.Device.Kind != DeviceKind.Cpu)
                throw new ArgumentException(
                    $"GradCheck: inputs must be float64 CPU tensors, got {t.DType} {t.Shape} on {t.Device.Name}."
                );
        using var scope = TensorScope.Begin();
        var vars = inputs.Select(t => new Variable(Ops.Contiguous(t), requiresGrad: true)).ToArray();
        var y = f(vars);
        double[]? weights = null;
        Variable loss = y;
        if (y.Value.Size != 1)
        {
            var rng = new System.Random(seed);
            weights = Enumerable.Range(0, y.Value.Size).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var w = new Variable(Tensor.FromArray<double>(weights, y.Shape));
            loss = F.Sum(F.Mul(y, w));
        }
        loss.Backward();
        var grads = vars.Select(v => v.Grad?.ToArray<double>() ?? new double[v.Value.Size]).ToArray();
        foreach (var v in vars)
            v.ZeroGrad();
        return (grads, weights);
    }

    /// <summary>The (weighted) output with every input replaced by the given values, without recording a
    /// graph.</summary>
    private static double Loss(Func<Variable[], Variable> f, Tensor[] inputs, double[][] data, double[]? weights)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = new NoGrad();
        var vars = inputs.Select((t, i) => new Variable(Tensor.FromArray<double>(data[i], t.Shape))).ToArray();
        return Reduce(f(vars).Value, weights);
    }

    private static double[][] Shift(double[][] data, double[][] u, double step) =>
        data.Select((x, i) => x.Select((v, j) => v + step * u[i][j]).ToArray()).ToArray();

    private static double Reduce(Tensor y, double[]? weights)
    {
        var values = y.ToArray<double>();
        if (weights is null)
            return values[0];
        double s = 0;
        for (int i = 0; i < values.Length; i++)
            s += values[i] * weights[i];
        return s;
    }
}
