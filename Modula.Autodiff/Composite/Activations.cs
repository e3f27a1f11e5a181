using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>ReLU: x·step(x).</summary>
    public static Variable Relu(Variable x)
    {
        var mask = Step(x);
        return Mul(x, mask);
    }

    /// <summary>Exact GELU: x·Φ(x) = ½x(1 + erf(x/√2)), one fused pass each way; dx = g·(Φ(x) + x·φ(x)).</summary>
    public static Variable Gelu(Variable x) =>
        Variable.FromOp(Ops.Map(x.Value, new GeluErf()), [x], g => g.Send(x, Ops.Zip(x.Value, g, new GeluErfGrad())));

    /// <summary>GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))), one fused pass each way.</summary>
    public static Variable GeluTanh(Variable x) =>
        Variable.FromOp(Ops.Map(x.Value, new Tensors.Primitives.GeluTanh()), [x], g => g.Send(x, Ops.Zip(x.Value, g, new GeluTanhGrad())));

    /// <summary>Mean over axes: the sum scaled by 1/count (NaN over an empty axis, as <see cref="Ops.Mean"/>).</summary>
    public static Variable Mean(Variable x, int[]? axes = null, bool keepDim = false)
    {
        var s = Sum(x, axes, keepDim);
        int count = s.Value.Size == 0 ? 1 : x.Value.Size / s.Value.Size;
        return Scale(s, count == 0 ? double.PositiveInfinity : 1.0 / count);
    }
}
