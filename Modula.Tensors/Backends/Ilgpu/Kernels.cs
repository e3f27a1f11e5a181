using ILGPU;
using Modula.Tensors.Primitives;
using Modula.Tensors.Random;

namespace Modula.Tensors.Backends.Ilgpu;

/// <summary>
/// The accelerator kernels: one generic kernel per primitive family, specialised by the op
/// struct as TensorPrimitives' drivers are. Strided operands carry their layout in a small
/// int buffer <c>meta</c> = [dims(rank), strides of operand 0 (rank), strides of operand 1, …].
/// </summary>
internal static partial class Kernels
{
    /// <summary>Element offset of linear index <paramref name="i"/> (row-major over dims) in operand <paramref
    /// name="operand"/>.</summary>
    private static int Offset(int i, ArrayView<int> meta, int rank, int operand, int baseOffset)
    {
        int offset = baseOffset,
            rest = i;
        for (int d = rank - 1; d >= 0; d--)
        {
            int dim = meta[d];
            int idx = rest % dim;
            rest /= dim;
            offset += idx * meta[(operand + 1) * rank + d];
        }
        return offset;
    }

    public static void Fill<T>(Index1D i, ArrayView<T> y, T value)
        where T : unmanaged => y[i] = value;

    /// <summary>h[i] = b·r[i] + a·[row = column] over a batch of n×n matrices (the linear part of <see
    /// cref="IBackend.SymmetricPolynomial"/>).</summary>
    public static void ScaledPlusIdentity(Index1D i, ArrayView<float> r, ArrayView<float> h, int n, float a, float b) =>
        h[i] = b * r[i] + (i / n % n == i % n ? a : 0f);

    public static void Arange(Index1D i, ArrayView<float> y, float start, float step) => y[i] = start + i * step;

    public static void ArangeInt(Index1D i, ArrayView<int> y, int start, int step) => y[i] = start + i * step;

    /// <summary>y[idx] = x[idx], both strided (operands 0 = x, 1 = y).</summary>
    public static void Copy<T>(
        Index1D i,
        ArrayView<T> x,
        ArrayView<T> y,
        ArrayView<int> meta,
        int rank,
        int xOffset,
        int yOffset
    )
        where T : unmanaged => y[Offset(i, meta, rank, 1, yOffset)] = x[Offset(i, meta, rank, 0, xOffset)];

    /// <summary>y[i] = x[i], both contiguous views of the same shape: no layout table.</summary>
    public static void CopyDense<T>(Index1D i, ArrayView<T> x, ArrayView<T> y)
        where T : unmanaged => y[i] = x[i];

    public static void Unary<TOp>(Index1D i, ArrayView<float> x, ArrayView<float> y, TOp op)
        where TOp : struct, IUnaryOp => y[i] = op.Apply(x[i]);

    /// <summary>y[i] = op(a, b) with a, b strided (operands 0, 1) and y contiguous.</summary>
    public static void Binary<TOp>(
        Index1D i,
        ArrayView<float> a,
        ArrayView<float> b,
        ArrayView<float> y,
        ArrayView<int> meta,
        int rank,
        int aOffset,
        int bOffset,
        TOp op
    )
        where TOp : struct, IBinaryOp =>
        y[i] = op.Apply(a[Offset(i, meta, rank, 0, aOffset)], b[Offset(i, meta, rank, 1, bOffset)]);

    /// <summary>y[i] = op(a[i], b[i]), all contiguous with y's shape (nothing broadcast): no layout table.</summary>
    public static void BinaryDense<TOp>(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, TOp op)
        where TOp : struct, IBinaryOp => y[i] = op.Apply(a[i], b[i]);

    /// <summary>y[i] = c[i] != 0 ? a[i] : b[i], all contiguous with y's shape: no layout table.</summary>
    public static void WhereDense(
        Index1D i,
        ArrayView<float> c,
        ArrayView<float> a,
        ArrayView<float> b,
        ArrayView<float> y
    ) => y[i] = c[i] != 0f ? a[i] : b[i];

    public static void Where(
        Index1D i,
        ArrayView<float> c,
        ArrayView<float> a,
        ArrayView<float> b,
        ArrayView<float> y,
        ArrayView<int> meta,
        int rank,
        int cOffset,
        int aOffset,
        int bOffset
    ) =>
        y[i] =
            c[Offset(i, meta, rank, 0, cOffset)] != 0f
                ? a[Offset(i, meta, rank, 1, aOffset)]
                : b[Offset(i, meta, rank, 2, bOffset)];

    /// <summary>One thread per output of x [outer, reduce, inner] → y [outer, inner].</summary>
    public static void Reduce<TOp>(Index1D i, ArrayView<float> x, ArrayView<float> y, int reduce, int inner, TOp op)
        where TOp : struct, IReduceOp
    {
        int o = i / inner,
            c = i % inner;
        y[i] = FoldStrided(x, o * reduce * inner + c, reduce, inner, op);
    }

    /// <summary>Elements one thread folds into a block result before adding it to its running total.</summary>
    private const int FoldBlock = 64;

    /// <summary>
    /// <paramref name="op"/>'s fold of x[first + k·stride] for k &lt; <paramref name="count"/>, in blocks of
    /// <see cref="FoldBlock"/> whose results are folded in turn. A float32 sum run straight along 10⁷ elements drifts
    /// by about 10⁻⁴ of its value; the blocks keep each running sum 64 or count/64 additions long (about 10⁻⁶).
    /// </summary>
    private static float FoldStrided<TOp>(ArrayView<float> x, int first, int count, int stride, TOp op)
        where TOp : struct, IReduceOp
    {
        float total = op.Identity;
        for (int k = 0; k < count; k += FoldBlock)
        {
            float block = op.Identity;
            int end = k + FoldBlock < count ? k + FoldBlock : count;
            for (int q = k; q < end; q++)
                block = op.Combine(block, x[first + q * stride]);
            total = op.Combine(total, block);
        }
        return total;
    }

    /// <summary>Threads per group of <see cref="ReduceGrouped{TOp}"/> (a power of two).</summary>
    public const int ReduceGroupSize = 256;

    /// <summary>
    /// One group per output of x [outer, reduce, inner] → y [outer, inner], for long reductions
    /// with few outputs (norms, scalar losses): each thread folds a strided share of the row,
    /// then the group combines the partial results as a tree in shared memory.
    /// </summary>
    public static void ReduceGrouped<TOp>(ArrayView<float> x, ArrayView<float> y, int reduce, int inner, TOp op)
        where TOp : struct, IReduceOp
    {
        int output = Grid.IdxX,
            o = output / inner,
            c = output % inner,
            t = Group.IdxX;
        var partial = SharedMemory.Allocate<float>(ReduceGroupSize);
        int count = t < reduce ? (reduce - t + ReduceGroupSize - 1) / ReduceGroupSize : 0;
        float acc = FoldStrided(x, (o * reduce + t) * inner + c, count, ReduceGroupSize * inner, op);
        float total = GroupCombine(partial, acc, op);
        if (t == 0)
            y[output] = total;
    }

    /// <summary>
    /// <paramref name="op"/>'s combination of every thread's <paramref name="value"/> in the group, as a tree in
    /// <paramref name="partial"/> (one float of shared memory per thread; the group size is a power of two), returned
    /// to every thread. The trailing barrier frees <paramref name="partial"/> for the next call.
    /// </summary>
    private static float GroupCombine<TOp>(ArrayView<float> partial, float value, TOp op)
        where TOp : struct, IReduceOp
    {
        int t = Group.IdxX;
        partial[t] = value;
        Group.Barrier();
        for (int half = Group.DimX / 2; half > 0; half /= 2)
        {
            if (t < half)
                partial[t] = op.Combine(partial[t], partial[t + half]);
            Group.Barrier();
        }
        float total = partial[0];
        Group.Barrier();
        return total;
    }

    public static void ArgMax(Index1D i, ArrayView<float> x, ArrayView<int> y, int reduce, int inner)
    {
        int o = i / inner,
            c = i % inner;
        int best = 0;
        float bestValue = x[o * reduce * inner + c];
        for (int r = 1; r < reduce; r++)
        {
            float v = x[(o * reduce + r) * inner + c];
            if (v > bestValue || (float.IsNaN(v) && !float.IsNaN(bestValue)))
            {
                best = r;
                bestValue = v;
            }
        }
        y[i] = best;
    }

    /// <summary>
    /// y[i] = table[indices[i / width], i % width]; an index outside [0, rows) writes 0 instead, reads
    /// nothing, and is recorded in <paramref name="errors"/> (see <see cref="IndexErrors"/>).
    /// </summary>
    public static void GatherRows<T>(
        Index1D i,
        ArrayView<T> table,
        ArrayView<int> indices,
        ArrayView<T> y,
        int width,
        int rows,
        ArrayView<int> errors
    )
        where T : unmanaged
    {
        int position = i / width,
            index = indices[position];
        if ((uint)index < (uint)rows)
            y[i] = table[index * width + i % width];
        else
        {
            y[i] = default;
            RecordBadIndex(errors, (int)IndexOp.GatherRows, position, index, rows);
        }
    }

    /// <summary>table[indices[i / width], i % width] += source[i]; an index outside [0, rows) adds nothing and is
    /// recorded in <paramref name="errors"/>.</summary>
    public static void ScatterAddRows(
        Index1D i,
        ArrayView<float> source,
        ArrayView<int> indices,
        ArrayView<float> table,
        int width,
        int rows,
        ArrayView<int> errors
    )
    {
        int position = i / width,
            index = indices[position];
        if ((uint)index < (uint)rows)
            Atomic.Add(ref table[index * width + i % width], source[i]);
        else
            RecordBadIndex(errors, (int)IndexOp.ScatterAddRows, position, index, rows);
    }

    /// <summary>The first thread to meet a bad index since the record was cleared fills it; the rest leave it (so
    /// the record always describes one index, whole).</summary>
    internal static void RecordBadIndex(ArrayView<int> errors, int op, int position, int index, int rows)
    {
        if (Atomic.CompareExchange(ref errors[0], 0, 1) != 0)
            return;
        errors[1] = op;
        errors[2] = position;
        errors[3] = index;
        errors[4] = rows;
    }

    /// <summary>One thread per column element of cols [N, C·kh·kw, Ho·Wo].</summary>
    public static void Im2Col(Index1D i, ArrayView<float> x, ArrayView<float> cols, ConvGeometry g)
    {
        int plane = g.OutHeight * g.OutWidth;
        int pos = i % plane,
            row = i / plane % g.PatchSize,
            n = i / plane / g.PatchSize;
        int c = row / (g.KernelHeight * g.KernelWidth),
            ki = row / g.KernelWidth % g.KernelHeight,
            kj = row % g.KernelWidth;
        int ih = pos / g.OutWidth * g.Stride - g.Padding + ki,
            iw = pos % g.OutWidth * g.Stride - g.Padding + kj;
        cols[i] =
            ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width
                ? x[((n * g.Channels + c) * g.Height + ih) * g.Width + iw]
                : 0f;
    }

    /// <summary>One thread per image pixel: gathers every patch column that read it (no atomics).</summary>
    public static void Col2Im(Index1D i, ArrayView<float> cols, ArrayView<float> x, ConvGeometry g)
    {
        int iw = i % g.Width,
            ih = i / g.Width % g.Height,
            c = i / (g.Width * g.Height) % g.Channels,
            n = i / (g.Width * g.Height * g.Channels);
        int ho = g.OutHeight,
            wo = g.OutWidth,
            plane = ho * wo,
            kk = g.KernelHeight * g.KernelWidth;
        float sum = 0f;
        for (int ki = 0; ki < g.KernelHeight; ki++)
        {
            int oh = ih + g.Padding - ki;
            if (oh < 0 || oh % g.Stride != 0 || oh / g.Stride >= ho)
                continue;
            for (int kj = 0; kj < g.KernelWidth; kj++)
            {
                int ow = iw + g.Padding - kj;
                if (ow < 0 || ow % g.Stride != 0 || ow / g.Stride >= wo)
                    continue;
                sum += cols[
                    ((n * g.Channels + c) * kk + ki * g.KernelWidth + kj) * plane + oh / g.Stride * wo + ow / g.Stride
                ];
            }
        }
        x[i] = sum;
    }

    /// <summary>One thread per element; recomputes its Philox block (counter-based, so threads are
    /// independent).</summary>
    public static void RandomBits(Index1D i, ArrayView<int> y, ulong seed, ulong offset) =>
        y[i] = (int)Philox.BlockFor(i, seed, offset)[i & 3];

    public static void RandomUniform(Index1D i, ArrayView<float> y, ulong seed, ulong offset) =>
        y[i] = Philox.ToUniform(Philox.BlockFor(i, seed, offset)[i & 3]);

    public static void RandomNormal(Index1D i, ArrayView<float> y, ulong seed, ulong offset) =>
        y[i] = Philox.ToNormal(Philox.BlockFor(i, seed, offset), i);
}
