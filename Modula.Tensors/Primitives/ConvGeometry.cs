namespace Modula.Tensors.Primitives;

/// <summary>Sizes of a 2-D convolution over NCHW images (square stride and padding).</summary>
/// <param name="Batch">N.</param>
/// <param name="Channels">C, input channels.</param>
/// <param name="Height">H, input height.</param>
/// <param name="Width">W, input width.</param>
/// <param name="KernelHeight">kh.</param>
/// <param name="KernelWidth">kw.</param>
/// <param name="Stride">Step between patches.</param>
/// <param name="Padding">Zero padding on every side.</param>
public readonly record struct ConvGeometry(
    int Batch,
    int Channels,
    int Height,
    int Width,
    int KernelHeight,
    int KernelWidth,
    int Stride,
    int Padding
)
{
    /// <summary>Ho = (H + 2·pad − kh) / stride + 1.</summary>
    public int OutHeight => (Height + 2 * Padding - KernelHeight) / Stride + 1;

    /// <summary>Wo = (W + 2·pad − kw) / stride + 1.</summary>
    public int OutWidth => (Width + 2 * Padding - KernelWidth) / Stride + 1;

    /// <summary>Rows of the column matrix: C·kh·kw.</summary>
    public int PatchSize => Channels * KernelHeight * KernelWidth;
}

/// <summary>What a random fill produces.</summary>
public enum RandomKind
{
    /// <summary>Raw 32-bit Philox output words (int tensors).</summary>
    Bits,

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    Uniform,

    /// <summary>Standard normal by Box–Muller on pairs of words.</summary>
    Normal,
}
