using Modula.Autodiff;

namespace Modula.Modules;

/// <summary>x − mean(x) over <see cref="Axes"/> (default the last); sensitivity 1.</summary>
public sealed class MeanSubtract : ElementwiseBond
{
    /// <summary>Creates the bond over the given axes (none = the last axis).</summary>
    public MeanSubtract(params int[] axes) => Axes = axes.Length == 0 ? [-1] : axes;

    /// <summary>The axes averaged over.</summary>
    public int[] Axes { get; }

    /// <inheritdoc/>
    public override string Label => $"MeanSubtract({string.Join(",", Axes)})";

    /// <summary>1: subtracting the mean is an orthogonal projection.</summary>
    public override double? LipschitzConstant => 1;

    /// <summary>The input's when only the last axis is averaged (a projection of each token vector); none when
    /// other axes mix tokens.</summary>
    protected override double? TokenNormBound(double input) => Axes is [-1] ? input : null;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.MeanSubtract(x, Axes);
}

/// <summary>
/// x / √mean(x²) over <see cref="Axes"/> (default the last), with no epsilon as in Modula; sensitivity 1. With an
/// <see cref="Epsilon"/> &gt; 0, x / √(mean(x²) + ε): slope at most 1/√ε, a certifiable variant.
/// </summary>
public sealed class RmsDivide : ElementwiseBond
{
    private readonly double _epsilon;

    /// <summary>Creates the bond over the given axes (none = the last axis).</summary>
    public RmsDivide(params int[] axes) => Axes = axes.Length == 0 ? [-1] : axes;

    /// <summary>The axes the RMS is taken over.</summary>
    public int[] Axes { get; }

    /// <summary>Added to the mean square before the root: 0 (Modula's) or a finite positive number.</summary>
    public double Epsilon
    {
        get => _epsilon;
        init =>
            _epsilon =
                value >= 0 && !double.IsPositiveInfinity(value)
                    ? value
                    : throw new ArgumentOutOfRangeException(
                        nameof(Epsilon),
                        $"RMSDivide: epsilon must be finite and ≥ 0, got {value}."
                    );
    }

    /// <inheritdoc/>
    public override string Label =>
        $"RMSDivide({string.Join(",", Axes)})"
        + (Epsilon == 0 ? "" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"[ε={Epsilon}]"));

    /// <summary>
    /// 1/√ε when ε &gt; 0, else none. Each group's Jacobian is r·(I − y·yᵀ/n) with r = 1/√(mean(x²) + ε): its
    /// eigenvalues are r and r·ε/(mean(x²) + ε), so its norm is r ≤ 1/√ε, attained at x = 0; groups are
    /// independent and the domain convex, so the bound holds between any two inputs.
    /// </summary>
    public override double? LipschitzConstant => Epsilon > 0 ? 1 / Math.Sqrt(Epsilon) : null;

    /// <inheritdoc/>
    protected override string NoLipschitzConstantBecause =>
        "x/rms(x) has no global Lipschitz constant: its slope grows without bound as x approaches 0 "
        + "(layer norm likewise; an epsilon > 0 bounds it by 1/√ε)";

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.RmsDivide(x, Axes, Epsilon);
}

/// <summary>
/// Layer norm without affine parameters over <see cref="Axes"/> (default the last): <see cref="MeanSubtract"/> then
/// <see cref="RmsDivide"/>, computed as one fused row pass forward and backward; sensitivity 1, like the
/// composition it replaces.
/// </summary>
public sealed class LayerNorm : ElementwiseBond
{
    /// <summary>Creates the bond over the given axes (none = the last axis).</summary>
    public LayerNorm(params int[] axes) => Axes = axes.Length == 0 ? [-1] : axes;

    /// <summary>The axes normalized over.</summary>
    public int[] Axes { get; }

    /// <inheritdoc/>
    public override string Label => $"LayerNorm({string.Join(",", Axes)})";

    /// <inheritdoc/>
    protected override string NoLipschitzConstantBecause =>
        "layer norm has no global Lipschitz constant: its slope grows without bound as the centered input "
        + "approaches 0 (as x/rms(x) does)";

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.LayerNorm(x, Axes);
}

/// <summary>The mean over one axis (the axis is removed); sensitivity 1.</summary>
public sealed class Mean(int axis) : UnaryBond
{
    /// <summary>The axis averaged away.</summary>
    public int Axis { get; } = axis;

    /// <inheritdoc/>
    public override string Label => $"Mean({Axis})";

    /// <summary>1 (in fact 1/√n for a mean of n entries: |mean| ≤ rms).</summary>
    public override double? LipschitzConstant => 1;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.Mean(x, [Axis]);
}

/// <summary>Adaptive average pooling of [N, C, H, W] to [N, C, 1, 1] (Modula v1's AvgPool default); sensitivity
/// 1.</summary>
public sealed class AvgPool : UnaryBond
{
    /// <summary>1 (in fact 1/√(H·W): a mean is at most the RMS of what it averages).</summary>
    public override double? LipschitzConstant => 1;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x)
    {
        if (x.Shape.Rank != 4)
            throw new ModuleException($"input {x.Shape} should be [N, C, H, W].");
        return F.Mean(x, [2, 3], keepDim: true);
    }
}
