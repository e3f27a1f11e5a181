using ILGPU;

namespace Modula.Tensors.Backends.Ilgpu;

/// <summary>Sizes, offsets and strides of one batched product C (+)= A·B as a kernel argument.</summary>
internal struct GemmArgs
{
    public int M,
        N,
        K;
    public int AOffset,
        ARow,
        ACol;
    public int BOffset,
        BRow,
        BCol;
    public MatMulBatch ABatch,
        BBatch,
        CBatch;
    public int COffset,
        CRow;
    public int Accumulate;
    public float Alpha;

    /// <summary>Matrices in this launch; grid z runs over Batches × splits of K.</summary>
    public int Batches;

    /// <summary>The batch index of this launch's first matrix (a batch beyond the grid's z limit takes several
    /// launches).</summary>
    public int BatchBase;

    /// <summary>The row tile of this launch's first group row (rows beyond the grid's y limit take several
    /// launches).</summary>
    public int RowTileBase;

    /// <summary>Depth of K each split sums (K when not split).</summary>
    public int KChunk;

    /// <summary>Distance in C between the partial products of consecutive splits (0 when not split).</summary>
    public int SplitStride;

    /// <summary>1 to store zeros above the diagonal (a lower-triangle result), 0 to store every element.</summary>
    public int LowerOnly;
}

/// <summary>
/// Register-blocked shared-memory GEMM. A 16×16 thread group computes a 64×64 tile of C;
/// each thread holds a 4×4 block of accumulators at rows ty + 16·i and columns tx + 16·j
/// (strided so that shared-memory reads and global writes stay coalesced). K advances in
/// slabs of 16 staged through shared memory; every load is bounds-checked against M, N and
/// K, so any shape works, including K not a multiple of 16 and M &lt; K. Split along K (grid z counts
/// Batches × splits), the groups of split s sum K range [s·KChunk, (s + 1)·KChunk) into their own partial C, and
/// <see cref="SumSplits"/> adds the partials in order: a product with few tiles and a long K (a weight gradient)
/// keeps the GPU busy.
/// </summary>
internal static class GemmKernel
{
    public const int Tile = 64,
        Slab = 16,
        Threads = 16,
        PerThread = 4;

    public static void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs g)
    {
        var sa = SharedMemory.Allocate<float>(Slab * Tile); // sa[k * Tile + m]
        var sb = SharedMemory.Allocate<float>(Slab * Tile); // sb[k * Tile + n]
        int tx = Group.IdxX,
            ty = Group.IdxY;
        int row0 = (g.RowTileBase + Grid.IdxY) * Tile,
            col0 = Grid.IdxX * Tile,
            batch = g.BatchBase + Grid.IdxZ % g.Batches,
            split = Grid.IdxZ / g.Batches,
            kBegin = split * g.KChunk,
            kEnd = IntrinsicMath.Min(g.K, kBegin + g.KChunk);
        int aBase = g.AOffset + g.ABatch.Offset(batch),
            bBase = g.BOffset + g.BBatch.Offset(batch);
        int linear = ty * Threads + tx;

        float c00 = 0,
            c01 = 0,
            c02 = 0,
            c03 = 0,
            c10 = 0,
            c11 = 0,
            c12 = 0,
            c13 = 0;
        float c20 = 0,
            c21 = 0,
            c22 = 0,
            c23 = 0,
            c30 = 0,
            c31 = 0,
            c32 = 0,
            c33 = 0;

        for (int k0 = kBegin; k0 < kEnd; k0 += Slab)
        {
            // Stage a 64×16 slab of A and a 16×64 slab of B: 1024 elements each, 4 per thread.
            for (int e = linear; e < Slab * Tile; e += Threads * Threads)
            {
                int kk = e / Tile,
                    mm = e % Tile;
                int gm = row0 + mm,
                    gk = k0 + kk;
                sa[e] = gm < g.M && gk < kEnd ? a[aBase + gm * g.ARow + gk * g.ACol] : 0f;
                int gn = col0 + mm;
                sb[e] = gk < kEnd && gn < g.N ? b[bBase + gk * g.BRow + gn * g.BCol] : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < Slab; kk++)
            {
                float a0 = sa[kk * Tile + ty],
                    a1 = sa[kk * Tile + ty + 16],
                    a2 = sa[kk * Tile + ty + 32],
                    a3 = sa[kk * Tile + ty + 48];
                float b0 = sb[kk * Tile + tx],
                    b1 = sb[kk * Tile + tx + 16],
                    b2 = sb[kk * Tile + tx + 32],
                    b3 = sb[kk * Tile + tx + 48];
                c00 += a0 * b0;
                c01 += a0 * b1;
                c02 += a0 * b2;
                c03 += a0 * b3;
                c10 += a1 * b0;
                c11 += a1 * b1;
                c12 += a1 * b2;
                c13 += a1 * b3;
                c20 += a2 * b0;
                c21 += a2 * b1;
                c22 += a2 * b2;
                c23 += a2 * b3;
                c30 += a3 * b0;
                c31 += a3 * b1;
                c32 += a3 * b2;
                c33 += a3 * b3;
            }
            Group.Barrier();
        }

        int cBase = g.COffset + split * g.SplitStride + g.CBatch.Offset(batch);
        Store(c, g, cBase, row0 + ty, col0 + tx, c00, c01, c02, c03);
        Store(c, g, cBase, row0 + ty + 16, col0 + tx, c10, c11, c12, c13);
        Store(c, g, cBase, row0 + ty + 32, col0 + tx, c20, c21, c22, c23);
        Store(c, g, cBase, row0 + ty + 48, col0 + tx, c30, c31, c32, c33);
    }

    /// <summary>
    /// One thread per element of C: c = α·Σₛ partial[s] (+ c when accumulating), the splits added in order so the
    /// result does not depend on scheduling. <paramref name="partial"/> holds <paramref name="splits"/> dense
    /// [Batches, M, N] blocks; <paramref name="g"/> describes the real C.
    /// </summary>
    public static void SumSplits(Index1D i, ArrayView<float> partial, ArrayView<float> c, GemmArgs g, int splits)
    {
        int size = g.Batches * g.M * g.N,
            matrix = g.M * g.N,
            batch = i / matrix,
            row = i % matrix / g.N,
            col = i % g.N;
        float sum = 0f;
        for (int s = 0; s < splits; s++)
            sum += partial[s * size + i];
        int at = g.COffset + g.CBatch.Offset(batch) + row * g.CRow + col;
        float v = g.LowerOnly != 0 && col > row ? 0f : g.Alpha * sum;
        c[at] = g.Accumulate != 0 ? c[at] + v : v;
    }

    private static void Store(
        ArrayView<float> c,
        GemmArgs g,
        int cBase,
        int row,
        int col,
        float v0,
        float v1,
        float v2,
        float v3
    )
    {
        if (row >= g.M)
            return;
        Put(c, g, cBase + row * g.CRow, row, col, v0);
        Put(c, g, cBase + row * g.CRow, row, col + 16, v1);
        Put(c, g, cBase + row * g.CRow, row, col + 32, v2);
        Put(c, g, cBase + row * g.CRow, row, col + 48, v3);
    }

    private static void Put(ArrayView<float> c, GemmArgs g, int rowBase, int row, int col, float v)
    {
        if (col >= g.N)
            return;
        v = g.LowerOnly != 0 && col > row ? 0f : v * g.Alpha;
        c[rowBase + col] = g.Accumulate != 0 ? c[rowBase + col] + v : v;
    }
}
