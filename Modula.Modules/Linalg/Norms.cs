using Modula.Tensors;

namespace Modula.Modules.Linalg;

/// <summary>ℓ2 norms along axes and the zero-safe divisions the update operators share.</summary>
internal static class Norms
{
    // Floor for divisors: a zero vector or matrix then maps to zero instead of NaN.
    private const double Tiny = 1e-30;

    /// <summary>√Σx² over <paramref name="axes"/>, keeping them as size-1 axes.</summary>
    public static Tensor L2(Tensor x, int[] axes)
    {
        using var square = Ops.Mul(x, x);
        using var sum = Ops.Sum(square, axes, keepDim: true);
        return Ops.Sqrt(sum);
    }

    /// <summary>x / max(denominator, 1e-30) with broadcasting: zero numerators over zero denominators give 0.</summary>
    public static Tensor DivideSafely(Tensor x, Tensor denominator)
    {
        using var floor = Tensor.Scalar(Tiny, denominator.DType, denominator.Device);
        using var safe = Ops.Maximum(denominator, floor);
        return Ops.Div(x, safe);
    }

    /// <summary>x rescaled so every slice along <paramref name="axis"/> has ℓ2 norm <paramref name="target"/>; zero slices stay zero.</summary>
    public static Tensor ToNorm(Tensor x, int axis, double target = 1)
    {
        using var norm = L2(x, [axis]);
        var unit = DivideSafely(x, norm);
        if (target == 1) return unit;
        using (unit) return Ops.Mul(unit, target);
    }
}
