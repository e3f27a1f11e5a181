using System.Globalization;
using Modula.Modules;
using Modula.Tensors.Primitives;

namespace Modula.Optim;

/// <summary>
/// Adam with standard bias correction: <c>m ← β₁m + (1−β₁)g</c>, <c>v ← β₂v + (1−β₂)g²</c>,
/// direction <c>m̂ / (√v̂ + ε)</c> with <c>m̂ = m/(1−β₁ᵗ)</c>, <c>v̂ = v/(1−β₂ᵗ)</c>, t = step + 1.
/// With <see cref="TrainerOptions.WeightDecay"/> on a plain (unnormalized) trainer this is AdamW.
/// </summary>
public sealed class Adam(double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : Optimizer
{
    /// <summary>First-moment factor β₁.</summary>
    public double Beta1 { get; } =
        beta1 is >= 0 and < 1
            ? beta1
            : throw new ArgumentOutOfRangeException(nameof(beta1), $"Adam: beta1 must be in [0, 1), got {beta1}.");

    /// <summary>Second-moment factor β₂.</summary>
    public double Beta2 { get; } =
        beta2 is >= 0 and < 1
            ? beta2
            : throw new ArgumentOutOfRangeException(nameof(beta2), $"Adam: beta2 must be in [0, 1), got {beta2}.");

    /// <summary>ε added to √v̂: finite and positive (0 would divide 0 by 0 where a gradient is zero).</summary>
    public double Epsilon { get; } =
        epsilon > 0 && double.IsFinite(epsilon)
            ? epsilon
            : throw new ArgumentOutOfRangeException(
                nameof(epsilon),
                $"Adam: epsilon must be finite and > 0, got {epsilon}."
            );

    /// <inheritdoc/>
    public override IReadOnlyList<string> SlotNames => ["m", "v"];

    /// <inheritdoc/>
    public override IReadOnlyList<string> NonNegativeSlots => ["v"];

    /// <inheritdoc/>
    public override string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"adam(beta1={Beta1}, beta2={Beta2}, eps={Epsilon})");

    /// <inheritdoc/>
    public override Weights Direction(Weights gradient, int step)
    {
        var (m, v) = (Slot("m", gradient), Slot("v", gradient));
        Moments.Update(m, v, gradient, 1 - Beta1, 1 - Beta2);
        int t = step + 1;
        return m.Zip(v, new AdamRatio(1 / (1 - Math.Pow(Beta1, t)), 1 / (1 - Math.Pow(Beta2, t)), Epsilon));
    }
}

/// <summary>
/// Modula v1's Adam (examples/train-gpt.py): moment weights <c>(1−β)^(k/(k+1))</c> for 0-based
/// step k (1 at the first step, tending to 1−β), no bias correction, no ε, and NaN/±∞ in the
/// direction <c>m/√v</c> set to 0.
/// </summary>
public sealed class ModulaAdam(double beta1 = 0.9, double beta2 = 0.99) : Optimizer
{
    /// <summary>First-moment factor β₁.</summary>
    public double Beta1 { get; } =
        beta1 is >= 0 and < 1
            ? beta1
            : throw new ArgumentOutOfRangeException(
                nameof(beta1),
                $"ModulaAdam: beta1 must be in [0, 1), got {beta1}."
            );

    /// <summary>Second-moment factor β₂.</summary>
    public double Beta2 { get; } =
        beta2 is >= 0 and < 1
            ? beta2
            : throw new ArgumentOutOfRangeException(
                nameof(beta2),
                $"ModulaAdam: beta2 must be in [0, 1), got {beta2}."
            );

    /// <inheritdoc/>
    public override IReadOnlyList<string> SlotNames => ["m", "v"];

    /// <inheritdoc/>
    public override IReadOnlyList<string> NonNegativeSlots => ["v"];

    /// <inheritdoc/>
    public override string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"modula-adam(beta1={Beta1}, beta2={Beta2})");

    /// <inheritdoc/>
    public override Weights Direction(Weights gradient, int step)
    {
        double exponent = step / (step + 1.0);
        Moments.Update(
            Slot("m", gradient),
            Slot("v", gradient),
            gradient,
            Math.Pow(1 - Beta1, exponent),
            Math.Pow(1 - Beta2, exponent)
        );
        return Slots["m"].Zip(Slots["v"], new DivideByRootOrZero());
    }
}

/// <summary>The moment updates shared by the Adam variants.</summary>
internal static class Moments
{
    /// <summary>m ← (1 − a)·m + a·g, v ← (1 − b)·v + b·g².</summary>
    public static void Update(Weights m, Weights v, Weights g, double a, double b)
    {
        m.Combine(g, new Ema(a));
        v.Combine(g, new EmaOfSquare(b));
    }
}
