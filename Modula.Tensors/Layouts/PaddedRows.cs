using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tensors;

/// <summary>
/// The layout of <see cref="Tensor.EmptyMatrices"/>: on the CPU, each matrix row starts an odd number of 64-byte
/// cache lines after the one before, the padding at its end never read or written; elsewhere rows are contiguous.
/// </summary>
/// <remarks>
/// A GEMM reads its right operand B one panel of columns at a time, a depth per row of B. With rows a power of two
/// of lines apart (128 floats: 8 lines), a panel's depths all fall into a few sets of the L1 cache and evict each
/// other, so the CPU's 256- and 128-bit tiles copy B into panels first (PackedGemm.ReadsBInPlace). Rows an odd number
/// of lines apart fall into every set in turn, and those tiles read B where it lies, as the 512-bit ones read any
/// small B (a block spanning at most 256 KiB: PackedGemm.InPlaceBFloats). Newton–Schulz lays out its intermediate
/// matrices so, which are B of the next product.
/// </remarks>
internal static class PaddedRows
{
    /// <summary>Rows of fewer cache lines stay as they are: padding could more than double them (17 floats to 48),
    /// and rows of 65 and 128 floats are the ones measured.</summary>
    internal const int MinLines = 4;

    /// <summary>The elements from one row's start to the next's for a matrix of <paramref name="rows"/> × <paramref
    /// name="columns"/> on <paramref name="device"/>: on the CPU, a row of at least <see cref="MinLines"/> lines
    /// rounded up to an odd number of lines (<see cref="OddLines"/>) where the padded matrix spans at most what the
    /// GEMM reads in place (<see cref="PackedGemm.InPlaceBFloats"/>'s 256 KiB); otherwise columns. A larger matrix is
    /// packed whatever its rows, and its padding would only cost memory: Newton–Schulz's six steps on 32 matrices of
    /// 512 × 512 ran 3.5 % slower at AVX2 with it (even at 512 bits).</summary>
    public static int RowStride(int rows, int columns, DType dtype, Device device)
    {
        int size = dtype.SizeOf(),
            lineElements = CpuDevice.AlignmentBytes / size;
        long stride = OddLines(columns, lineElements);
        bool pad =
            device.Kind == DeviceKind.Cpu
            && stride / lineElements >= MinLines
            && rows * stride * size <= PackedGemm.InPlaceBFloats * sizeof(float);
        return pad ? (int)stride : columns;
    }

    /// <summary><paramref name="elements"/> rounded up to a whole, odd number of cache lines of <paramref
    /// name="lineElements"/> each: the stride at which rows spread over the L1's sets. The GEMM's copy of an A whose
    /// rows fall into one set takes it too (<c>PackedGemm.WithRowsApart</c>).</summary>
    public static long OddLines(long elements, int lineElements)
    {
        long lines = (elements + lineElements - 1) / lineElements;
        return (lines % 2 == 0 ? lines + 1 : lines) * lineElements;
    }

    /// <summary>True when rows <paramref name="rowStride"/> elements apart, the first starting at <paramref
    /// name="lineOffset"/> elements past a cache line's start, lie as <see cref="RowStride"/> lays them out: each
    /// starting a line, an odd number of lines (at least <see cref="MinLines"/>) after the one before.</summary>
    public static bool SpreadOverCacheSets(long rowStride, long lineOffset, int lineElements) =>
        lineOffset % lineElements == 0
        && rowStride % lineElements == 0
        && rowStride / lineElements >= MinLines
        && rowStride / lineElements % 2 == 1;

    /// <summary>The strides of <paramref name="shape"/> (rank ≥ 2) with rows <see cref="RowStride"/> apart and
    /// everything else packed around them (as <see cref="Shape.ContiguousStrides"/> packs them around contiguous
    /// rows). The caller keeps the storage they span within a tensor's reach.</summary>
    public static int[] Strides(Shape shape, DType dtype, Device device)
    {
        var strides = new int[shape.Rank];
        long step = RowStride(shape[-2], shape[-1], dtype, device);
        strides[^1] = 1;
        for (int axis = shape.Rank - 2; axis >= 0; axis--)
        {
            strides[axis] = (int)step;
            step *= shape.Dims[axis];
        }
        return strides;
    }

    /// <summary>Elements of storage that <paramref name="shape"/> needs with <see cref="Strides"/>: the last row's
    /// padding is left out.</summary>
    public static long StorageSize(Shape shape, DType dtype, Device device)
    {
        if (shape.Size == 0)
            return 0;
        int stride = RowStride(shape[-2], shape[-1], dtype, device);
        return shape.Size / shape[-1] * (long)stride - (stride - shape[-1]);
    }

    /// <summary>True when <paramref name="t"/> is laid out as <see cref="Tensor.EmptyMatrices"/> lays out its shape
    /// on its device, with rows padded (a tensor it leaves contiguous is not counted).</summary>
    public static bool Has(Tensor t) =>
        t.Rank >= 2
        && t.Size > 0
        && RowStride(t.Shape[-2], t.Shape[-1], t.DType, t.Device) != t.Shape[-1]
        && t.Strides.SequenceEqual(Strides(t.Shape, t.DType, t.Device));
}
