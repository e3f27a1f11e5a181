using Modula.Tensors.Backends;

namespace Modula.Tensors;

public static partial class Ops
{
    // Row-wise normalizations over the trailing axes, each one visit per row (a row is the
    // product of the last `trailingAxes` axes): what MeanSubtract and RMSDivide compute.

    /// <summary>y = x − mean(x) over the last <paramref name="trailingAxes"/> axes. It is its own gradient: dx = g −
    /// mean(g). The mean is exact for a row of one repeated value, which centers to zeros on every device and vector
    /// width (the CPU sums a float32 row in float64; a float64 row, and every row on an accelerator, takes the sum's
    /// mean corrected by the mean of the deviations from it, where that sum is finite). A row of float32 subnormals
    /// keeps only the bits that its mean, itself rounded to the subnormal spacing, leaves it.</summary>
    public static Tensor SubtractRowMean(Tensor x, int trailingAxes = 1)
    {
        int length = RowLength(nameof(SubtractRowMean), x, trailingAxes);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        if (y.Size == 0)
            return y;
        using var dense = x.IsContiguous ? null : Contiguous(x);
        using (x.Device.Time(nameof(IBackend.CenterRows)))
            x.Device.Backend.CenterRows(dense ?? x, y, length);
        return y;
    }

    /// <summary>
    /// y = x·r with r = 1/√mean(x²) over the last <paramref name="trailingAxes"/> axes (no
    /// epsilon: an all-zero row gives NaN; a row so small that r passes the dtype's range, float32 subnormals say,
    /// still gives y, with r = +∞, and then a gradient that is not finite); <paramref name="inverse"/> receives r,
    /// one per row,
    /// for <see cref="RmsNormalizeBackward"/>. With <paramref name="center"/>, x − mean(x) in place of x: layer
    /// norm without affine parameters (<see cref="SubtractRowMean"/> then this) in one visit per row; a row of one
    /// repeated value is then an all-zero row, NaN.
    /// </summary>
    public static Tensor RmsNormalize(Tensor x, int trailingAxes, out Tensor inverse, bool center = false)
    {
        int length = RowLength(nameof(RmsNormalize), x, trailingAxes);
        var y = Tensor.Empty(x.Shape, x.DType, x.Device);
        inverse = Tensor.Empty(new Shape(length == 0 ? 0 : x.Size / length), x.DType, x.Device);
        if (y.Size == 0)
            return y;
        using var dense = x.IsContiguous ? null : Contiguous(x);
        using (x.Device.Time(nameof(IBackend.RmsNormalizeRows)))
            x.Device.Backend.RmsNormalizeRows(dense ?? x, y, inverse, length, center);
        return y;
    }

    /// <summary>The gradient of <see cref="RmsNormalize"/>: dx = r·(g − y·mean(g⊙y)) per row, minus its row mean
    /// when the forward pass centered (<paramref name="center"/>).</summary>
    public static Tensor RmsNormalizeBackward(Tensor g, Tensor y, Tensor inverse, int trailingAxes, bool center = false)
    {
        var dx = Tensor.Empty(y.Shape, y.DType, y.Device);
        try
        {
            RmsNormalizeBackwardCore(nameof(RmsNormalizeBackward), g, y, inverse, trailingAxes, center, dx, false);
        }
        catch
        {
            dx.Dispose();
            throw;
        }
        return dx;
    }

    /// <summary>
    /// <see cref="RmsNormalizeBackward"/> added into <paramref name="destination"/> (contiguous, shaped like y) in the
    /// same pass: a gradient accumulated where it already lives, with no new tensor and no separate add.
    /// </summary>
    public static void RmsNormalizeBackwardInto(
        Tensor g,
        Tensor y,
        Tensor inverse,
        int trailingAxes,
        bool center,
        Tensor destination
    )
    {
        const string op = nameof(RmsNormalizeBackwardInto);
        Check.Compatible(op, destination, y);
        if (destination.Shape != y.Shape || !destination.IsContiguous)
            throw new ArgumentException($"{op}: destination {destination.Shape} must be contiguous and {y.Shape}.");
        // The kernel reads whole rows of g and y while it writes the destination's: an overlapping input is copied.
        using var gSeparate = Aliasing.CopyIfOverwritten(g, destination, elementwise: false);
        using var ySeparate = Aliasing.CopyIfOverwritten(y, destination, elementwise: false);
        using var inverseSeparate = Aliasing.CopyIfOverwritten(inverse, destination, elementwise: false);
        var (gRead, yRead, inverseRead) = (gSeparate ?? g, ySeparate ?? y, inverseSeparate ?? inverse);
        RmsNormalizeBackwardCore(op, gRead, yRead, inverseRead, trailingAxes, center, destination, true);
    }

    private static void RmsNormalizeBackwardCore(
        string op,
        Tensor g,
        Tensor y,
        Tensor inverse,
        int trailingAxes,
        bool center,
        Tensor dx,
        bool accumulate
    )
    {
        int length = RowLength(op, y, trailingAxes);
        Check.Compatible(op, g, y);
        Check.Compatible(op, inverse, y);
        if (g.Shape != y.Shape || inverse.Size * length != y.Size)
            throw new ArgumentException(
                $"{op}: gradient {g.Shape}, output {y.Shape} and inverse {inverse.Shape} do not match."
            );
        if (dx.Size == 0)
            return;
        using var gDense = g.IsContiguous ? null : Contiguous(g);
        using var yDense = y.IsContiguous ? null : Contiguous(y);
        using var rDense = inverse.IsContiguous ? null : Contiguous(inverse);
        using (y.Device.Time(nameof(IBackend.RmsNormalizeRowsBackward)))
            y.Device.Backend.RmsNormalizeRowsBackward(
                gDense ?? g,
                yDense ?? y,
                rDense ?? inverse,
                dx,
                length,
                center,
                accumulate
            );
    }

    private static int RowLength(string op, Tensor x, int trailingAxes)
    {
        Check.Float(op, x);
        Check.Supported(op, x);
        if (trailingAxes < 1 || trailingAxes > x.Rank)
            throw new ArgumentException(
                $"{op}: trailing axes must be in 1..{x.Rank} for {x.Shape}, got {trailingAxes}."
            );
        return Prod(x.Shape.Dims[^trailingAxes..]);
    }
}
