using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>ReLU: x·step(x).</summary>
    public static Variable Relu(Variable x)
    {
        var mask = Step(x);
        return Mul(x, mask);
    }

    /// <summary>Exact GELU: x·Φ(x) = ½x(1 + erf(x/√2)).</summary>
    public static Variable Gelu(Variable x)
    {
        var scaled = Scale(x, 1 / Math.Sqrt(2));
        var erf = Erf(scaled);
        var onePlus = AddScalar(erf, 1);
        var half = Scale(x, 0.5);
        return Mul(half, onePlus);
    }

    /// <summary>GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
    public static Variable GeluTanh(Variable x)
    {
        var cube = Pow(x, 3);
        var inner = Add(x, Scale(cube, 0.044715));
        var arg = Scale(inner, Math.Sqrt(2 / Math.PI));
        var t = Tanh(arg);
        var onePlus = AddScalar(t, 1);
        var half = Scale(x, 0.5);
        return Mul(half, onePlus);
    }

    /// <summary>Mean over axes: the sum scaled by 1/count.</summary>
    public static Variable Mean(Variable x, int[]? axes = null, bool keepDim = false)
    {
        var s = Sum(x, axes, keepDim);
        return Scale(s, (double)s.Value.Size / Math.Max(1, x.Value.Size));
    }
}
