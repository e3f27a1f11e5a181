using ILGPU;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Ilgpu;

internal static partial class Kernels
{
    /// <summary>
    /// One thread per row: loss[r] = log Σⱼ exp(z·x[r, j] − m) − (z·x[r, label] − m), m the row's max of z·x, or with
    /// exponents z·(x − a) where z·x overflows (a the row's largest x, smallest for z &lt; 0; see OverflowAnchor). An
    /// out-of-range label reads nothing, gives NaN and is recorded in <paramref name="errors"/> (see
    /// <see cref="IndexErrors"/>).
    /// </summary>
    public static void CrossEntropyRows(
        Index1D r,
        ArrayView<float> x,
        ArrayView<int> labels,
        ArrayView<float> losses,
        int classes,
        float scale,
        ArrayView<int> errors
    )
    {
        int at = r * classes,
            label = labels[r];
        float max = RowMax(x, at, classes, scale),
            anchor = OverflowAnchor(x, at, classes, scale, max),
            sum = 0f;
        for (int j = 0; j < classes; j++)
            sum += MathF.Exp(Argument(x[at + j], scale, max, anchor));
        if ((uint)label < (uint)classes)
            losses[r] = MathF.Log(sum) - Argument(x[at + label], scale, max, anchor);
        else
        {
            losses[r] = float.NaN;
            RecordBadIndex(errors, (int)IndexOp.CrossEntropyRows, r, label, classes);
        }
    }

    /// <summary>One thread per row: dx[r, j] = c·(softmax(z·x[r])[j] − [j = label]), c =
    /// upstream[0]·factor·z.</summary>
    public static void CrossEntropyRowsBackward(
        Index1D r,
        ArrayView<float> x,
        ArrayView<int> labels,
        ArrayView<float> upstream,
        ArrayView<float> dx,
        int classes,
        float scale,
        float factor
    )
    {
        int at = r * classes,
            label = labels[r];
        float max = RowMax(x, at, classes, scale),
            anchor = OverflowAnchor(x, at, classes, scale, max),
            sum = 0f;
        for (int j = 0; j < classes; j++)
        {
            float e = MathF.Exp(Argument(x[at + j], scale, max, anchor));
            dx[at + j] = e;
            sum += e;
        }
        float coefficient = upstream[0] * factor * scale,
            share = coefficient / sum;
        for (int j = 0; j < classes; j++)
            dx[at + j] = dx[at + j] * share - (j == label ? coefficient : 0f);
    }

    // The largest x of a row whose scaled maximum overflowed (the smallest for scale < 0), as the CPU's
    // CpuBackend.OverflowAnchor; NaN for every other row.
    private static float OverflowAnchor(ArrayView<float> x, int at, int classes, float scale, float max)
    {
        if (MathF.Abs(max) <= float.MaxValue)
            return float.NaN;
        float extreme = float.NegativeInfinity;
        for (int j = 0; j < classes; j++)
            extreme = new MaxReduce().Combine(extreme, scale >= 0f ? x[at + j] : -x[at + j]);
        return scale >= 0f ? extreme : -extreme;
    }

    // A logit's exponent: scale·x − max, or scale·(x − anchor) where the row is anchored (a finite anchor).
    private static float Argument(float x, float scale, float max, float anchor) =>
        MathF.Abs(anchor) <= float.MaxValue ? scale * (x - anchor) : scale * x - max;

    private static float RowMax(ArrayView<float> x, int at, int classes, float scale)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < classes; j++)
            max = new MaxReduce().Combine(max, scale * x[at + j]);
        return max;
    }
}
