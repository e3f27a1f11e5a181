using Modula.Autodiff;

namespace Modula.Modules;

/// <summary>Absolute value, sensitivity 1 (used in Modula v1's residual MLP and CNN blocks).</summary>
public sealed class Abs : ElementwiseBond
{
    /// <summary>Creates the bond.</summary>
    public Abs()
        : base(1, smooth: false) { }

    /// <inheritdoc/>
    public override double? LipschitzConstant => 1;

    /// <summary>Its constant times the input's: it acts on each entry alone and maps 0 to 0.</summary>
    protected override double? TokenNormBound(double input) => LipschitzConstant * input;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.Abs(x);
}

/// <summary>
/// max(0, x). Sensitivity 1/√2 by default (Modula v1: the RMS gain on symmetric inputs);
/// Modula v2 uses sensitivity 1, which <see cref="Bonds.ReluV2"/> builds.
/// </summary>
public sealed class Relu : ElementwiseBond
{
    /// <summary>Creates the bond with the given sensitivity (default Modula v1's 1/√2).</summary>
    public Relu(double sensitivity = 0.70710678118654752)
        : base(sensitivity, smooth: false) { }

    /// <inheritdoc/>
    public override string Label => $"ReLU(s={Sensitivity:G4})";

    /// <summary>1 whatever the sensitivity: the forward function is max(0, x), unscaled.</summary>
    public override double? LipschitzConstant => 1;

    /// <summary>Its constant times the input's: it acts on each entry alone and maps 0 to 0.</summary>
    protected override double? TokenNormBound(double input) => LipschitzConstant * input;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.Relu(x);
}

/// <summary>The exact (erf) GELU, sensitivity 1/√2 (Modula v1).</summary>
public sealed class Gelu : ElementwiseBond
{
    /// <summary>Creates the bond.</summary>
    public Gelu()
        : base(0.70710678118654752, smooth: false) { }

    /// <inheritdoc/>
    public override string Label => "GELU";

    /// <summary>GELU's largest slope, Φ(√2) + √2·φ(√2) = 1.12890415, rounded up.</summary>
    public const double MaxSlope = 1.128905;

    /// <inheritdoc/>
    public override double? LipschitzConstant => MaxSlope;

    /// <summary>Its constant times the input's: it acts on each entry alone and maps 0 to 0.</summary>
    protected override double? TokenNormBound(double input) => LipschitzConstant * input;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.Gelu(x);
}

/// <summary>
/// Modula v2's GeLU: the tanh-approximated GELU divided by 1.1289 (its largest slope), so
/// the map is 1-Lipschitz; sensitivity 1.
/// </summary>
public sealed class ScaledTanhGelu : ElementwiseBond
{
    /// <summary>The largest derivative of GELU.</summary>
    public const double MaxSlope = 1.1289;

    /// <summary>Creates the bond.</summary>
    public ScaledTanhGelu()
        : base(1, smooth: false) { }

    /// <inheritdoc/>
    public override string Label => "GeLU/1.1289";

    /// <summary>The tanh approximation's largest slope, 1.12899307 (near x = 1.4), rounded up.</summary>
    public const double TanhMaxSlope = 1.128994;

    /// <summary>Slightly above 1: the divisor 1.1289 is a little below the approximation's largest slope.</summary>
    public override double? LipschitzConstant => TanhMaxSlope / MaxSlope;

    /// <summary>Its constant times the input's: it acts on each entry alone and maps 0 to 0.</summary>
    protected override double? TokenNormBound(double input) => LipschitzConstant * input;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => F.Scale(F.GeluTanh(x), 1 / MaxSlope);
}
