using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>
/// A 2-D convolution without bias on NCHW inputs: <c>y = √(out/in)/k² · conv(x, W)</c> with
/// W [out, in, k, k]. Its norm is the largest spectral norm over the k² kernel positions, and
/// normalize, dualize, project and initialize treat each position's [out, in] matrix separately.
/// </summary>
public sealed class Conv2D : MatrixAtom
{
    /// <summary>Creates a Conv2D atom (Modula's defaults: 3×3 kernel, stride 1, padding 1).</summary>
    public Conv2D(int outChannels, int inChannels, int kernelSize = 3, int stride = 1, int padding = 1, double mass = 1)
        : base(mass)
    {
        if (outChannels <= 0 || inChannels <= 0 || kernelSize <= 0 || stride <= 0 || padding < 0)
            throw new ArgumentOutOfRangeException(
                nameof(outChannels),
                $"Conv2D: invalid sizes out {outChannels}, in {inChannels}, kernel {kernelSize}, stride {stride}, "
                    + $"padding {padding}."
            );
        OutChannels = outChannels;
        InChannels = inChannels;
        KernelSize = kernelSize;
        Stride = stride;
        Padding = padding;
    }

    /// <summary>Output channels.</summary>
    public int OutChannels { get; }

    /// <summary>Input channels.</summary>
    public int InChannels { get; }

    /// <summary>Kernel height and width.</summary>
    public int KernelSize { get; }

    /// <summary>Stride in both directions.</summary>
    public int Stride { get; }

    /// <summary>Zero padding on every side.</summary>
    public int Padding { get; }

    /// <summary>The forward scale √(out/in)/k².</summary>
    public double Scale => Math.Sqrt((double)OutChannels / InChannels) / (KernelSize * KernelSize);

    /// <summary>
    /// The scale times the sum over kernel offsets of each offset's σ₁: the convolution is a sum over offsets of a
    /// zero-padded, strided shift (which cannot lengthen a vector) after that offset's matrix.
    /// </summary>
    public override double? LipschitzBound(Tensor weight) => Scale * SliceSpectralNormSum(weight);

    /// <inheritdoc/>
    public override Shape WeightShape => new(OutChannels, InChannels, KernelSize, KernelSize);

    /// <inheritdoc/>
    public override string Label => $"Conv2D({InChannels}→{OutChannels}, {KernelSize}×{KernelSize})";

    /// <inheritdoc/>
    internal override string? ArchitectureDetail => $"stride {Stride}, padding {Padding}";

    /// <inheritdoc/>
    public override int FanOut => OutChannels;

    /// <inheritdoc/>
    public override int FanIn => InChannels;

    /// <inheritdoc/>
    protected override int Slices => KernelSize * KernelSize;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x, Variable weight)
    {
        if (x.Shape.Rank != 4 || x.Shape[1] != InChannels)
            throw new ModuleException($"input {x.Shape} should be [N, {InChannels}, H, W].");
        return F.Scale(F.Conv2D(x, weight, Stride, Padding), Scale);
    }

    /// <inheritdoc/>
    protected override Tensor ToSlices(Tensor weight)
    {
        using var positions = weight.Permute(2, 3, 0, 1); // [k, k, out, in]
        using var dense = Ops.Contiguous(positions);
        return dense.View(Slices, OutChannels, InChannels);
    }

    /// <inheritdoc/>
    protected override Tensor FromSlices(Tensor slices)
    {
        using var positions = slices.Reshape(KernelSize, KernelSize, OutChannels, InChannels);
        using var weight = positions.Permute(2, 3, 0, 1);
        return Ops.Contiguous(weight);
    }

    /// <inheritdoc/>
    protected override Atom WithMass(double mass) =>
        new Conv2D(OutChannels, InChannels, KernelSize, Stride, Padding, mass);
}
