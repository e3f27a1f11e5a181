using System.Runtime.CompilerServices;
using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// A copy whose source is a transposed view: y[..., r, c] = x[..., r, c] where y's rows are contiguous and x steps
/// by one element along r, by more along c (a matrix, or a batch of them, seen through <see
/// cref="Tensor.Transpose"/>). The general copy walks y's rows, each element from another row of x: eight cache
/// lines of x per eight elements written. Here each matrix goes in 8 × 8 blocks, read and written within eight lines
/// each, transposed in registers where <see cref="Transpose8"/> can (32-bit elements; its 4 × 4 form without AVX)
/// and element by element otherwise. On a Zen 4 (float32, one process of each build in turn), a 65 × 128 copy of
/// a transposed 128 × 65 took 47–51 µs the general way and takes 3.7 here; 128 × 512 of a 512 × 128, 29–31 µs and
/// 7.7–7.9; 512 × 768, 275–301 µs and 49; at SSE4.2 alone 4.2, 14 and 46 µs.
/// </summary>
internal static unsafe class TransposedCopy
{
    private const int Block = 8;

    /// <summary>True when copying <paramref name="x"/> into <paramref name="y"/> (same shape) is such a copy, with
    /// at least one whole block per matrix.</summary>
    public static bool Takes(Tensor x, Tensor y) =>
        y.Rank >= 2
        && y.Strides[y.Rank - 1] == 1
        && x.Strides[x.Rank - 2] == 1
        && x.Strides[x.Rank - 1] != 1
        && y.Shape[-2] >= Block
        && y.Shape[-1] >= Block;

    /// <summary>y ← x for a pair that <see cref="Takes"/> accepts.</summary>
    public static void Copy<T>(CpuStorage xs, Tensor x, CpuStorage ys, Tensor y)
        where T : unmanaged
    {
        System.Diagnostics.Debug.Assert(x.Shape == y.Shape, "TransposedCopy: x expanded to y's shape first.");
        int rows = y.Shape[-2],
            columns = y.Shape[-1],
            matrices = y.Size / (rows * columns),
            rowBlocks = (rows + Block - 1) / Block;
        nint sx = x.Strides[x.Rank - 1],
            ldy = y.Strides[y.Rank - 2];
        bool inRegisters = Unsafe.SizeOf<T>() == sizeof(float) && Transpose8.IsSupported;
        var outer = y.Shape.Dims[..^2].ToArray();
        CpuParallel.For((long)matrices * rowBlocks, y.Size, (start, end) =>
        {
            T* x0 = (T*)Unsafe.AsPointer(ref xs.Ref<T>()),
                y0 = (T*)Unsafe.AsPointer(ref ys.Ref<T>()); // pooled arrays are pinned
            for (long item = start; item < end; item++)
            {
                int matrix = (int)(item / rowBlocks),
                    r0 = (int)(item % rowBlocks) * Block;
                var (xOffset, yOffset) = MatrixOffsets(outer, matrix, x, y);
                T* source = x0 + xOffset + r0,
                    target = y0 + yOffset + r0 * ldy;
                int height = Math.Min(Block, rows - r0);
                int c0 = 0;
                if (inRegisters && height == Block)
                    for (; c0 + Block <= columns; c0 += Block)
                        Transpose8.Block((float*)(source + c0 * sx), sx, (float*)(target + c0), ldy);
                // The rest (all of it without register transposes): eight rows of y filled column by column,
                // each column a contiguous piece of x.
                for (int c = c0; c < columns; c++)
                for (int r = 0; r < height; r++)
                    target[r * ldy + c] = source[r + c * sx];
            }
        });
    }

    // Where matrix `index` of the batch starts in x and in y (their offsets included).
    private static (nint X, nint Y) MatrixOffsets(int[] outer, int index, Tensor x, Tensor y)
    {
        nint xOffset = x.Offset,
            yOffset = y.Offset;
        for (int d = outer.Length - 1; d >= 0; d--)
        {
            int i = index % outer[d];
            index /= outer[d];
            xOffset += (nint)i * x.Strides[d];
            yOffset += (nint)i * y.Strides[d];
        }
        return (xOffset, yOffset);
    }
}
