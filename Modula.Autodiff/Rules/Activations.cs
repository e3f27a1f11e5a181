using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>Exact GELU: x·Φ(x) = ½x(1 + erf(x/√2)), one fused pass each way; dx = g·(Φ(x) + x·φ(x)).</summary>
    public static Variable Gelu(Variable x) =>
        Variable.FromOp(Ops.Map(Given(x).Value, new GeluErf()), [x], g =>
            g.Send(x, Ops.Zip(x.Value, g, new GeluErfGrad()))
        );

    /// <summary>GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))), one fused pass each way.</summary>
    public static Variable GeluTanh(Variable x) =>
        Variable.FromOp(Ops.Map(Given(x).Value, new Tensors.Primitives.GeluTanh()), [x], g =>
            g.Send(x, Ops.Zip(x.Value, g, new GeluTanhGrad()))
        );
}
