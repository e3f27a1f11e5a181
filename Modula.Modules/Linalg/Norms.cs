using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Modules.Linalg;

/// <summary>ℓ2 norms along axes and the zero-safe rescalings the update operators share.</summary>
internal static class Norms
{
    // Floor for divisors: a zero vector or matrix then maps to zero instead of NaN.
    private const double Tiny = 1e-30;

    /// <summary>
    /// √Σx² over <paramref name="axes"/>, keeping them as size-1 axes. <see cref="Ops.Norm"/>
    /// never squares an element as it stands, which matters in float32: a slice of values near
    /// 1e-23 (the decayed momentum of a token not seen for a thousand steps) squares to zero,
    /// and dividing by that underestimated norm would turn a vanishing update into a huge one.
    /// </summary>
    public static Tensor L2(Tensor x, int[] axes) => Ops.Norm(x, axes, keepDim: true);

    /// <summary>target / max(denominator, 1e-30): the factor <see cref="ScaleSafely(Tensor, Tensor, double)"/>
    /// multiplies by.</summary>
    public static Tensor SafeReciprocal(Tensor denominator, double target) =>
        Ops.Map(denominator, new FlooredReciprocal(target, Tiny));

    /// <summary>1 / (denominator + shift), Muon's guard against a zero norm.</summary>
    public static Tensor ShiftedReciprocal(Tensor denominator, double shift)
    {
        using var shifted = Ops.Add(denominator, shift);
        return Ops.Reciprocal(shifted);
    }

    /// <summary>x / max(denominator, 1e-30) with broadcasting: zero numerators over zero denominators give 0.</summary>
    public static Tensor DivideSafely(Tensor x, Tensor denominator) => ScaleSafely(x, denominator, 1);

    /// <summary>
    /// target·x / max(denominator, 1e-30) with broadcasting: the factor is formed on the (small)
    /// denominator first, so x is read once; zero numerators over zero denominators give 0.
    /// </summary>
    public static Tensor ScaleSafely(Tensor x, Tensor denominator, double target)
    {
        using var factor = SafeReciprocal(denominator, target);
        return Ops.Mul(x, factor);
    }

    /// <summary>
    /// targets·x / max(denominator, 1e-30) with broadcasting, one target per slice (targets shaped like the
    /// denominator), written into <paramref name="into"/>: the batched form of <see cref="ScaleSafely(Tensor, Tensor,
    /// double)"/>, the same arithmetic element for element.
    /// </summary>
    public static void ScaleSafely(Tensor x, Tensor denominator, Tensor targets, Tensor into)
    {
        using var factor = Ops.Zip(targets, denominator, new FlooredQuotient(Tiny));
        Ops.Zip(x, factor, new Tensors.Primitives.Mul(), into: into);
    }

    /// <summary>x rescaled so every slice along <paramref name="axis"/> has ℓ2 norm <paramref name="target"/>; zero
    /// slices stay zero.</summary>
    public static Tensor ToNorm(Tensor x, int axis, double target = 1)
    {
        using var norm = L2(x, [axis]);
        return ScaleSafely(x, norm, target);
    }
}
