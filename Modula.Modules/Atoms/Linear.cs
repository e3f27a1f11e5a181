using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>
/// A dense layer without bias: <c>y = √(out/in) · x Wᵀ</c> for x [..., in] and W [out, in].
/// The √(out/in) factor makes a semi-orthogonal W map RMS-1 inputs to RMS-1 outputs, so the
/// atom's norm is the raw spectral norm ‖W‖ (Modula's RMS→RMS operator norm).
/// </summary>
public sealed class Linear : MatrixAtom
{
    /// <summary>Creates a Linear atom (Modula's argument order: outputs, then inputs).</summary>
    public Linear(int outputs, int inputs, double mass = 1)
        : base(mass)
    {
        if (outputs <= 0 || inputs <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(outputs),
                $"Linear: sizes must be positive, got {outputs}×{inputs}."
            );
        Outputs = outputs;
        Inputs = inputs;
    }

    /// <summary>Output features.</summary>
    public int Outputs { get; }

    /// <summary>Input features.</summary>
    public int Inputs { get; }

    /// <summary>The forward scale √(out/in).</summary>
    public double Scale => Math.Sqrt((double)Outputs / Inputs);

    /// <summary>√(out/in)·σ₁(W), exactly (up to a certified rounding margin).</summary>
    public override double? LipschitzBound(Tensor weight) => Scale * SliceSpectralNormSum(weight);

    /// <summary>Its bound times the input's: it maps each token vector alone, linearly.</summary>
    public override double? TokenNormBound(Tensor weight, double? input) => LipschitzBound(weight) * input;

    /// <inheritdoc/>
    public override Shape WeightShape => new(Outputs, Inputs);

    /// <inheritdoc/>
    public override string Label => $"Linear({Inputs}→{Outputs})";

    /// <inheritdoc/>
    public override int? InputWidth => Inputs;

    /// <inheritdoc/>
    public override int? OutputWidth => Outputs;

    /// <inheritdoc/>
    public override int FanOut => Outputs;

    /// <inheritdoc/>
    public override int FanIn => Inputs;

    /// <inheritdoc/>
    protected override int Slices => 1;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x, Variable weight)
    {
        ExpectFeatures(x, Inputs);
        return F.MatMul(x, weight, transposeB: true, alpha: Scale);
    }

    /// <inheritdoc/>
    protected override Tensor ToSlices(Tensor weight) => weight.Reshape(1, Outputs, Inputs);

    /// <inheritdoc/>
    protected override Tensor FromSlices(Tensor slices) => slices.Reshape(Outputs, Inputs);

    /// <inheritdoc/>
    protected override Atom WithMass(double mass) => new Linear(Outputs, Inputs, mass);
}
