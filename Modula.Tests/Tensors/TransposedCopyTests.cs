using Modula.Tensors;

namespace Modula.Tests.Tensors;

/// <summary>
/// Copies whose source is a view with its last two axes swapped (the CPU's blocked transpose): every element where an
/// index computation on the base tensor puts it, for whole and partial 8 × 8 blocks, batches whose other axes are
/// permuted too, a batch large enough to be split across threads mid-matrix, a sliced source, a destination with
/// rows wider than the matrix, sources broadcast along a column or a batch axis, and float32, float64 and Int32
/// elements, with the register transposes in each form the CPU has (<see cref="GemmKernelTests.EachTransposeForm"/>).
/// </summary>
[TestClass]
public sealed class TransposedCopyTests
{
    // Base shapes and the permutation viewed; each swaps the base's last two axes (and maybe others).
    public static IEnumerable<object[]> Cases =>
        [
            [new[] { 8, 8 }, new[] { 1, 0 }],
            [new[] { 128, 65 }, new[] { 1, 0 }],
            [new[] { 9, 17 }, new[] { 1, 0 }],
            [new[] { 3, 24, 16 }, new[] { 0, 2, 1 }],
            [new[] { 2, 3, 16, 11 }, new[] { 1, 0, 3, 2 }],
            // 83,200 elements: past the size at which the copy takes both threads, with partial blocks.
            [new[] { 4, 160, 130 }, new[] { 0, 2, 1 }],
        ];

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void TransposedViewsCopyEveryElementWhereItBelongs(int[] baseShape, int[] axes)
    {
        int n = baseShape.Aggregate(1, (a, b) => a * b);
        var values = Enumerable.Range(0, n).Select(i => i * 0.5 - 7).ToArray();
        GemmKernelTests.EachTransposeForm(form =>
        {
            foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int32 })
            {
                using var source = Make(values, baseShape, dtype);
                using var view = source.Permute(axes);
                using var copy = Ops.Contiguous(view);
                var stored = dtype == DType.Int32 ? values.Select(Math.Floor).ToArray() : values;
                var expected = Permuted(stored, baseShape, axes);
                string what = $"{form}, {dtype} [{string.Join(", ", baseShape)}] permuted";
                CollectionAssert.AreEqual(expected, Read(copy), what);
            }
        });
    }

    [TestMethod]
    public void SlicedSourcesAndWideDestinationsKeepTheirOffsetsAndStrides()
    {
        // A [20, 30] base, its rows 3..19 and columns 2..27 taken, transposed into columns 5..21 of a [25, 40].
        var values = Enumerable.Range(0, 20 * 30).Select(i => (double)i).ToArray();
        using var source = Make(values, [20, 30], DType.Float32);
        using var rows = source.Slice(0, 3, 16);
        using var block = rows.Slice(1, 2, 25);
        using var turned = block.Transpose();
        using var destination = Ops.Zeros(new Shape(25, 40));
        using (var window = destination.Slice(1, 5, 16))
            Ops.CopyInto(turned, window);
        var actual = Read(destination);
        for (int r = 0; r < 25; r++)
        for (int c = 0; c < 40; c++)
        {
            double want = c is >= 5 and < 21 ? values[(3 + c - 5) * 30 + 2 + r] : 0;
            Assert.AreEqual(want, actual[r * 40 + c], $"element ({r}, {c})");
        }
    }

    [TestMethod]
    public void ASourceBroadcastAlongItsColumnsRepeatsItsColumn()
    {
        // x [12, 1] expanded to [12, 9]: stride 1 down the rows, 0 along the columns.
        var values = Enumerable.Range(0, 12).Select(i => i + 0.25).ToArray();
        using var column = Make(values, [12, 1], DType.Float32);
        using var wide = column.Expand(new Shape(12, 9));
        using var copy = Ops.Contiguous(wide);
        var actual = Read(copy);
        for (int r = 0; r < 12; r++)
        for (int c = 0; c < 9; c++)
            Assert.AreEqual(values[r], actual[r * 9 + c], $"element ({r}, {c})");
    }

    [TestMethod]
    public void ASourceBroadcastAlongABatchAxisRepeatsItsMatrix()
    {
        // x [1, 16, 9] expanded to [3, 16, 9] (stride 0 along the batch), then its last two axes swapped.
        var values = Enumerable.Range(0, 16 * 9).Select(i => i - 20.5).ToArray();
        using var matrix = Make(values, [1, 16, 9], DType.Float32);
        using var batch = matrix.Expand(new Shape(3, 16, 9));
        using var turned = batch.Transpose();
        using var copy = Ops.Contiguous(turned);
        var actual = Read(copy);
        for (int b = 0; b < 3; b++)
        for (int r = 0; r < 9; r++)
        for (int c = 0; c < 16; c++)
            Assert.AreEqual(values[c * 9 + r], actual[(b * 9 + r) * 16 + c], $"element ({b}, {r}, {c})");
    }

    private static Tensor Make(double[] values, int[] shape, DType dtype) =>
        dtype switch
        {
            DType.Float32 => Tensor.FromArray(values.Select(v => (float)v).ToArray(), new Shape(shape)),
            DType.Float64 => Tensor.FromArray(values, new Shape(shape)),
            _ => Tensor.FromArray(values.Select(v => (int)Math.Floor(v)).ToArray(), new Shape(shape)),
        };

    private static double[] Read(Tensor t) =>
        t.DType switch
        {
            DType.Float32 => t.ToArray<float>().Select(v => (double)v).ToArray(),
            DType.Float64 => t.ToArray<double>(),
            _ => t.ToArray<int>().Select(v => (double)v).ToArray(),
        };

    // The base's elements in the order of its view permuted by `axes`, by index arithmetic on the base.
    private static double[] Permuted(double[] values, int[] shape, int[] axes)
    {
        int rank = shape.Length;
        var strides = new int[rank];
        for (int d = rank - 1, s = 1; d >= 0; s *= shape[d], d--)
            strides[d] = s;
        var viewShape = axes.Select(a => shape[a]).ToArray();
        var result = new double[values.Length];
        var index = new int[rank];
        for (int flat = 0; flat < values.Length; flat++)
        {
            int rest = flat,
                offset = 0;
            for (int d = rank - 1; d >= 0; d--)
            {
                index[d] = rest % viewShape[d];
                rest /= viewShape[d];
                offset += index[d] * strides[axes[d]];
            }
            result[flat] = values[offset];
        }
        return result;
    }
}
