using ILGPU;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Ilgpu;

/// <summary>
/// Row kernels (softmax, centering, RMS normalization): one group of <see cref="RowGroupSize"/> threads per row of
/// <c>length</c> contiguous elements. Thread t takes elements t, t + G, t + 2G, …, so a group reads its row in
/// coalesced runs; the row's sums and maxima combine in shared memory. (One thread per row walked its row alone,
/// every neighbouring thread a row further on: the GPT's 768 rows of 128 cost 0.25–0.46 ms per call on an H200.)
/// Launch with <c>new KernelConfig(rows, RowGroupSize)</c>.
/// </summary>
internal static partial class Kernels
{
    /// <summary>Threads per row (a power of two; one warp on NVIDIA GPUs).</summary>
    public const int RowGroupSize = 32;

    // Row sums and maxima over the group (Kernels.GroupCombine); MaxReduce keeps NaN, where CUDA's max.f32 would
    // return the other operand.
    private static float GroupSum(ArrayView<float> partial, float value) =>
        GroupCombine(partial, value, new SumReduce());

    private static float GroupMax(ArrayView<float> partial, float value) =>
        GroupCombine(partial, value, new MaxReduce());

    /// <summary>Softmax of scale·x along rows of <paramref name="length"/>; causal rows keep columns j ≤ r mod
    /// length and zero the rest.</summary>
    public static void SoftmaxRows(ArrayView<float> x, ArrayView<float> y, int length, float scale, int causal)
    {
        int r = Grid.IdxX,
            t = Group.IdxX,
            at = r * length,
            valid = causal != 0 ? r % length + 1 : length;
        var partial = SharedMemory.Allocate<float>(RowGroupSize);
        float max = float.NegativeInfinity;
        for (int j = t; j < valid; j += RowGroupSize)
            max = new MaxReduce().Combine(max, scale * x[at + j]);
        max = GroupMax(partial, max);
        // A row whose scaled values overflow is anchored at its largest x (smallest for scale < 0), as on the CPU.
        // max is the group's, so every thread takes the same branch to the barriers in it.
        float anchor = float.NaN;
        if (!(MathF.Abs(max) <= float.MaxValue))
        {
            float extreme = float.NegativeInfinity;
            for (int j = t; j < valid; j += RowGroupSize)
                extreme = new MaxReduce().Combine(extreme, scale >= 0f ? x[at + j] : -x[at + j]);
            extreme = GroupMax(partial, extreme);
            anchor = scale >= 0f ? extreme : -extreme;
        }
        bool anchored = MathF.Abs(anchor) <= float.MaxValue;
        float sum = 0f;
        for (int j = t; j < valid; j += RowGroupSize)
        {
            float e = MathF.Exp(anchored ? scale * (x[at + j] - anchor) : scale * x[at + j] - max);
            y[at + j] = e;
            sum += e;
        }
        sum = GroupSum(partial, sum);
        // Each thread divides the elements it wrote itself: no barrier needed.
        for (int j = t; j < valid; j += RowGroupSize)
            y[at + j] /= sum;
        for (int j = valid + t; j < length; j += RowGroupSize)
            y[at + j] = 0f;
    }

    /// <summary>dx = scale·y⊙(g − Σ g⊙y) along rows of <paramref name="length"/>.</summary>
    public static void SoftmaxRowsBackward(
        ArrayView<float> g,
        ArrayView<float> y,
        ArrayView<float> dx,
        int length,
        float scale
    )
    {
        int t = Group.IdxX,
            at = Grid.IdxX * length;
        var partial = SharedMemory.Allocate<float>(RowGroupSize);
        float dot = 0f;
        for (int j = t; j < length; j += RowGroupSize)
            dot += g[at + j] * y[at + j];
        dot = GroupSum(partial, dot);
        for (int j = t; j < length; j += RowGroupSize)
            dx[at + j] = scale * y[at + j] * (g[at + j] - dot);
    }

    /// <summary>y = x − mean(x) along rows of <paramref name="length"/>.</summary>
    public static void CenterRows(ArrayView<float> x, ArrayView<float> y, int length)
    {
        int t = Group.IdxX,
            at = Grid.IdxX * length;
        var partial = SharedMemory.Allocate<float>(RowGroupSize);
        float mean = RowMean(partial, x, at, length);
        for (int j = t; j < length; j += RowGroupSize)
            y[at + j] = x[at + j] - mean;
    }

    /// <summary>
    /// The mean of a row for centering it: the sum's mean m, corrected by the mean of the deviations from it (as the
    /// CPU corrects a float64 row's; it sums a float32 row in float64), so that a row of one repeated value has that
    /// value as its mean and centers to zeros. A row whose sum is not finite keeps m: its deviations would be NaN.
    /// Every thread of the group sees the same m, so all take the same branch to the group's barriers.
    /// </summary>
    private static float RowMean(ArrayView<float> partial, ArrayView<float> x, int at, int length)
    {
        int t = Group.IdxX;
        float sum = 0f;
        for (int j = t; j < length; j += RowGroupSize)
            sum += x[at + j];
        float mean = GroupSum(partial, sum) / length;
        if (!(MathF.Abs(mean) <= float.MaxValue)) // ±∞ or NaN
            return mean;
        float deviations = 0f;
        for (int j = t; j < length; j += RowGroupSize)
            deviations += x[at + j] - mean;
        return mean + GroupSum(partial, deviations) / length;
    }

    /// <summary>y = c·r along rows of <paramref name="length"/>, r = 1/√mean(c²) stored in inverse[row]; c = x, or
    /// x − mean(x) when centering (layer norm).</summary>
    public static void RmsNormalizeRows(
        ArrayView<float> x,
        ArrayView<float> y,
        ArrayView<float> inverse,
        int length,
        int center
    )
    {
        int r = Grid.IdxX,
            t = Group.IdxX,
            at = r * length;
        var partial = SharedMemory.Allocate<float>(RowGroupSize);
        float mean = center != 0 ? RowMean(partial, x, at, length) : 0f;
        float squares = 0f;
        for (int j = t; j < length; j += RowGroupSize)
        {
            float c = x[at + j] - mean;
            squares += c * c;
        }
        float meanSquare = GroupSum(partial, squares) / length,
            scale = 1f; // the mean square is of c / scale
        // As on the CPU (RmsRescue): squares that overflowed (values past about 1e19) or may have lost bits below
        // float32's normal range are taken again on the row scaled to a largest magnitude of 1.
        // The branch is the same for every thread of the group: each sees the group's total.
        if (!(meanSquare >= RmsRescue.MeanSquareFloat32 && meanSquare <= float.MaxValue))
        {
            float largest = 0f;
            for (int j = t; j < length; j += RowGroupSize)
                largest = new MaxReduce().Combine(largest, MathF.Abs(x[at + j] - mean));
            largest = GroupMax(partial, largest);
            if (largest > 0f && largest <= float.MaxValue)
            {
                scale = largest;
                squares = 0f;
                for (int j = t; j < length; j += RowGroupSize)
                {
                    float c = (x[at + j] - mean) / scale;
                    squares += c * c;
                }
                meanSquare = GroupSum(partial, squares) / length;
            }
        }
        float ofScaled = 1f / MathF.Sqrt(meanSquare),
            inv = ofScaled / scale;
        if (t == 0)
            inverse[r] = inv;
        // A rescued row is scaled first, as on the CPU: a row of subnormals has an r past float32's range (+∞).
        for (int j = t; j < length; j += RowGroupSize)
            y[at + j] = scale == 1f ? (x[at + j] - mean) * inv : (x[at + j] - mean) / scale * ofScaled;
    }

    /// <summary>dx = r·(g − y·mean(g⊙y)) along rows of <paramref name="length"/>, minus its row mean when centering,
    /// added to dx when accumulating.</summary>
    public static void RmsNormalizeRowsBackward(
        ArrayView<float> g,
        ArrayView<float> y,
        ArrayView<float> inverse,
        ArrayView<float> dx,
        int length,
        int center,
        int accumulate
    )
    {
        int r = Grid.IdxX,
            t = Group.IdxX,
            at = r * length;
        var partial = SharedMemory.Allocate<float>(RowGroupSize);
        float dot = 0f;
        for (int j = t; j < length; j += RowGroupSize)
            dot += g[at + j] * y[at + j];
        float mean = GroupSum(partial, dot) / length,
            inv = inverse[r],
            shift = 0f;
        if (center != 0)
        {
            // The mean of d, corrected as RowMean corrects a row's, so that the fused gradient centers d on the mean
            // the two-pass one (CenterRows) takes.
            float sum = 0f;
            for (int j = t; j < length; j += RowGroupSize)
                sum += inv * (g[at + j] - y[at + j] * mean);
            shift = GroupSum(partial, sum) / length;
            if (MathF.Abs(shift) <= float.MaxValue)
            {
                float deviations = 0f;
                for (int j = t; j < length; j += RowGroupSize)
                    deviations += inv * (g[at + j] - y[at + j] * mean) - shift;
                shift += GroupSum(partial, deviations) / length;
            }
        }
        for (int j = t; j < length; j += RowGroupSize)
        {
            float d = inv * (g[at + j] - y[at + j] * mean) - shift;
            dx[at + j] = accumulate != 0 ? dx[at + j] + d : d;
        }
    }
}
