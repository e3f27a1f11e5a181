using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>ReLU: x·step(x).</summary>
    public static Variable Relu(Variable x)
    {
        var mask = Step(Given(x));
        return Mul(x, mask);
    }

    /// <summary>Mean over axes: the sum scaled by 1/count (NaN over an empty axis, as <see
    /// cref="Ops.Mean"/>).</summary>
    public static Variable Mean(Variable x, int[]? axes = null, bool keepDim = false)
    {
        var s = Sum(Given(x), axes, keepDim);
        int count = s.Value.Size == 0 ? 1 : x.Value.Size / s.Value.Size;
        return Scale(s, count == 0 ? double.PositiveInfinity : 1.0 / count);
    }
}
