namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// C (+)= α·A·B computed as its transpose, Cᵀ = Bᵀ·Aᵀ, into a scratch matrix that is then transposed into C, for
/// the one layout where that reads the operands better: A column-major with its columns far apart (at least
/// <see cref="PackedGemm.PackedColumnStride"/> floats, which the direct product packs, a few floats from each of as
/// many cache lines and pages as it has depths, panel after panel) and B row-major with rows close enough to be read
/// in place. Transposed, B becomes the left operand read in place and A the right one, read a row at a time (packed,
/// or in place where small). A linear layer's weight gradient dyᵀ·x for a wide output (the GPT's MLP, dy [768
/// tokens, 512], x [768, 128]) is such a product: accumulated into C on two threads of a Zen 4 EPYC, transposes
/// included, it took 3 % less time at 512 bits and AVX2, 12 % less at 128 bits with AVX, and 9 % less at SSE4.2 with
/// the plain 128-bit tile, whose transposes there take 4 × 4 blocks of 128 bits, as on ARM64, where the route has not
/// been timed. (x86 without AVX now takes the spread tile, which this route leaves alone: below.)
/// </summary>
/// <remarks>
/// Each element of C is the same chain of multiply-adds, in the same depth order and in blocks of the same depth, as
/// the direct product computes (a multiply's operands swapped, which changes no bits), with α applied at the store;
/// a C to accumulate into is transposed into the scratch first and added to as C would be. So the result has the
/// direct product's bits. The spread 128-bit tile (<see cref="Kernel128Spread"/>), whose blocks are shallower, packs
/// A whatever its layout and is left to the direct product.
/// </remarks>
internal static unsafe class TransposedResult
{
    /// <summary>Whether products of that layout take this route; tests turn it off to compare the two.</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>Products that took this route in this process, for tests that must know it ran.</summary>
    internal static long Taken;

    /// <summary>The most floats a thread's scratch may hold (16 MiB), as for the GEMM's copy of a row-major A; a
    /// larger C takes the direct product.</summary>
    private const long MaxScratchFloats = 1 << 22;

    /// <summary>True when C = A·B (m × n) takes this route: A column-major with its columns at least <see
    /// cref="PackedGemm.PackedColumnStride"/> floats apart, B row-major with its rows fewer floats apart, and Cᵀ
    /// within the scratch's cap.</summary>
    public static bool Takes(MatrixRef<float> a, MatrixRef<float> b, int m, int n, int k) =>
        Enabled
        && !Kernel128Spread.IsChosen
        && m > 1
        && n > 1
        && k > 0
        && a.RowStride == 1
        && a.ColStride >= PackedGemm.PackedColumnStride
        && b.ColStride == 1
        && b.RowStride < PackedGemm.PackedColumnStride
        && n * ScratchStride(m) <= MaxScratchFloats;

    // The scratch's row stride for an m-column Cᵀ: an odd number of cache lines.
    private static long ScratchStride(int m) => PaddedRows.OddLines(m, CpuDevice.AlignmentBytes / sizeof(float));

    /// <summary>C (+)= α·A·B through Cᵀ = Bᵀ·Aᵀ in this thread's scratch matrix (n × m, rows an odd number of cache
    /// lines apart so that a block's rows fall into different sets).</summary>
    public static void Multiply(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int n,
        int k,
        bool accumulate,
        float alpha,
        int threads
    )
    {
        System.Diagnostics.Debug.Assert(c.ColStride == 1, "TransposedResult: C's rows must be contiguous.");
        Interlocked.Increment(ref Taken);
        int stride = (int)ScratchStride(m);
        var data = Scratch((long)n * stride);
        var t = new MatrixRef<float>(data, CpuDevice.AlignedStart(data, sizeof(float)), stride, 1);
        if (accumulate)
            Transpose(c, t, m, n, threads);
        PackedGemm.Multiply(b.Transposed(), a.Transposed(), t, n, m, k, accumulate, alpha, threads);
        Transpose(t, c, n, m, threads);
    }

    [ThreadStatic]
    private static float[]? _scratch;

    [ThreadStatic]
    private static long _scratchFloats;

    // This thread's scratch, grown to hold at least `floats` from its aligned start.
    private static float[] Scratch(long floats)
    {
        if (_scratch is null || _scratchFloats < floats)
        {
            _scratch = CpuDevice.AlignedArray<float>(checked((int)floats));
            _scratchFloats = floats;
        }
        return _scratch;
    }

    /// <summary>to[j, i] = from[i, j] for the leading rows × columns of <paramref name="from"/> (both with contiguous
    /// rows), in square blocks transposed in registers where the CPU can (<see cref="Transpose16"/>, <see
    /// cref="Transpose8"/>), bands of blocks over the threads.</summary>
    internal static void Transpose(MatrixRef<float> from, MatrixRef<float> to, int rows, int columns, int threads)
    {
        System.Diagnostics.Debug.Assert(from.ColStride == 1 && to.ColStride == 1, "TransposedResult: rows");
        int block = Transpose16.IsSupported ? 16 : 8;
        int bands = (rows + block - 1) / block;
        long elements = (long)rows * columns;
        CpuParallel.For(bands, threads > 1 ? elements : 0, (first, last) =>
        {
            fixed (
                float* f0 = from.Data,
                    t0 = to.Data
            )
            {
                float* source = f0 + from.Offset,
                    target = t0 + to.Offset;
                for (long band = first; band < last; band++)
                    TransposeBand(
                        source,
                        from.RowStride,
                        target,
                        to.RowStride,
                        (int)band * block,
                        block,
                        rows,
                        columns
                    );
            }
        });
    }

    // Rows [i0, i0 + block) of the source, every column: whole blocks in registers, the edges element by element.
    private static void TransposeBand(float* from, nint ldf, float* to, nint ldt, int i0, int block, int rows, int cols)
    {
        bool whole = i0 + block <= rows;
        int j = 0;
        if (whole && (block == 16 || Transpose8.IsSupported))
            for (; j + block <= cols; j += block)
            {
                float* source = from + i0 * ldf + j,
                    target = to + j * ldt + i0;
                if (block == 16)
                    Transpose16.Block(source, ldf, target, ldt);
                else
                    Transpose8.Block(source, ldf, target, ldt);
            }
        int end = Math.Min(i0 + block, rows);
        for (; j < cols; j++)
        for (int i = i0; i < end; i++)
            to[j * ldt + i] = from[i * ldf + j];
    }
}
