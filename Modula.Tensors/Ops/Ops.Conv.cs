using Modula.Tensors.Backends;
using Modula.Tensors.Primitives;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>Unfolds patches for convolution: x [N, C, H, W] → [N, C·kh·kw, Ho·Wo] with zero padding.</summary>
    public static Tensor Im2Col(Tensor x, int kernelHeight, int kernelWidth, int stride = 1, int padding = 0)
    {
        var g = Geometry(nameof(Im2Col), x.Shape, kernelHeight, kernelWidth, stride, padding);
        Check.Float(nameof(Im2Col), x);
        Check.Supported(nameof(Im2Col), x);
        var cols = Tensor.Empty(new Shape(g.Batch, g.PatchSize, g.OutHeight * g.OutWidth), x.DType, x.Device);
        if (cols.Size == 0)
            return cols;
        using var dense = x.IsContiguous ? null : Contiguous(x);
        using (x.Device.Time(nameof(IBackend.Im2Col)))
            x.Device.Backend.Im2Col(dense ?? x, cols, g);
        return cols;
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: sums columns [N, C·kh·kw, Ho·Wo] back into an image [N, C, H,
    /// W].</summary>
    public static Tensor Col2Im(Tensor cols, ConvGeometry geometry)
    {
        Check.Float(nameof(Col2Im), cols);
        var g = Geometry(
            nameof(Col2Im),
            new Shape(geometry.Batch, geometry.Channels, geometry.Height, geometry.Width),
            geometry.KernelHeight,
            geometry.KernelWidth,
            geometry.Stride,
            geometry.Padding
        );
        var expected = new Shape(g.Batch, g.PatchSize, g.OutHeight * g.OutWidth);
        if (cols.Shape != expected)
            throw new ArgumentException($"Col2Im: columns {cols.Shape} do not match geometry (expected {expected}).");
        var x = Tensor.Empty(new Shape(g.Batch, g.Channels, g.Height, g.Width), cols.DType, cols.Device);
        if (x.Size == 0)
            return x;
        using var dense = cols.IsContiguous ? null : Contiguous(cols);
        using (cols.Device.Time(nameof(IBackend.Col2Im)))
            cols.Device.Backend.Col2Im(dense ?? cols, x, g);
        return x;
    }

    /// <summary>Non-overlapping average pooling over k×k windows of x [N, C, H, W] (H, W divisible by k), lowered onto
    /// reshape and sum.</summary>
    public static Tensor AvgPool2d(Tensor x, int kernel)
    {
        Check.Float(nameof(AvgPool2d), x);
        if (x.Rank != 4 || kernel <= 0 || x.Shape[2] % kernel != 0 || x.Shape[3] % kernel != 0)
            throw new ArgumentException(
                $"AvgPool2d: needs [N, C, H, W] with H and W divisible by kernel {kernel}, got {x.Shape}."
            );
        using var windows = x.Reshape(x.Shape[0], x.Shape[1], x.Shape[2] / kernel, kernel, x.Shape[3] / kernel, kernel);
        return Mean(windows, [3, 5]);
    }

    /// <summary>Geometry of a convolution input, checked: rank 4, positive kernel and stride, non-negative padding,
    /// non-empty output.</summary>
    public static ConvGeometry Geometry(string op, Shape x, int kernelHeight, int kernelWidth, int stride, int padding)
    {
        if (x.Rank != 4)
            throw new ArgumentException($"{op}: needs an [N, C, H, W] input, got {x}.");
        if (kernelHeight <= 0 || kernelWidth <= 0 || stride <= 0 || padding < 0)
            throw new ArgumentException(
                $"{op}: kernel {kernelHeight}×{kernelWidth}, stride {stride} and padding {padding} must be positive "
                    + $"(padding ≥ 0)."
            );
        // The geometry's sizes are ints: counted in long first, so that a padding or kernel whose products pass 2³¹
        // is refused rather than wrapped into a wrong (even empty) shape.
        long outHeight = ((long)x[2] + 2L * padding - kernelHeight) / stride + 1,
            outWidth = ((long)x[3] + 2L * padding - kernelWidth) / stride + 1,
            patch = (long)x[1] * kernelHeight * kernelWidth;
        if (
            (long)x[2] + 2L * padding > int.MaxValue
            || (long)x[3] + 2L * padding > int.MaxValue
            || (outHeight > 0 && outWidth > 0 && (double)x[0] * patch * outHeight * outWidth > int.MaxValue)
            || patch > int.MaxValue
        )
            throw new ArgumentException(
                $"{op}: kernel {kernelHeight}×{kernelWidth}, stride {stride} and padding {padding} on input {x} make "
                    + "columns of more than 2³¹ − 1 elements."
            );
        var g = new ConvGeometry(x[0], x[1], x[2], x[3], kernelHeight, kernelWidth, stride, padding);
        if (g.OutHeight <= 0 || g.OutWidth <= 0)
            throw new ArgumentException(
                $"{op}: kernel {kernelHeight}×{kernelWidth} does not fit input {x} with padding {padding}."
            );
        return g;
    }
}
