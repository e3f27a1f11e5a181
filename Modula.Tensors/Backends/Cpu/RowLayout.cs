namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// Walks several same-shaped strided operands row by row. Adjacent dimensions that are
/// contiguous in every operand are merged first, so a dense tensor is one long row and a
/// broadcast over the last axis becomes rows with element stride 0.
/// </summary>
internal sealed class RowLayout
{
    private readonly int[] _outerDims;
    private readonly int[][] _outerStrides;
    private readonly int[] _baseOffsets;

    private RowLayout(int[] outerDims, int[][] outerStrides, int[] baseOffsets, int rowLength, int[] rowStrides)
    {
        _outerDims = outerDims;
        _outerStrides = outerStrides;
        _baseOffsets = baseOffsets;
        RowLength = rowLength;
        RowStrides = rowStrides;
        long rows = 1;
        foreach (var d in outerDims)
            rows *= d;
        Rows = rows;
    }

    /// <summary>Elements per row.</summary>
    public int RowLength { get; }

    /// <summary>Element stride within a row, per operand.</summary>
    public int[] RowStrides { get; }

    /// <summary>Number of rows.</summary>
    public long Rows { get; }

    /// <summary>Builds the layout of <paramref name="operands"/>, all of shape <paramref name="shape"/>.</summary>
    public static RowLayout Create(Shape shape, params Tensor[] operands)
    {
        int k = operands.Length;
        var dims = new List<int>();
        var strides = new List<int[]>();
        for (int d = 0; d < shape.Rank; d++)
        {
            if (shape.Dims[d] == 1)
                continue; // size-1 dims carry no information
            var s = new int[k];
            for (int o = 0; o < k; o++)
                s[o] = operands[o].Strides[d];
            int last = dims.Count - 1;
            bool merge = last >= 0;
            for (int o = 0; merge && o < k; o++)
                merge = strides[last][o] == s[o] * shape.Dims[d];
            if (merge)
            {
                dims[last] *= shape.Dims[d];
                strides[last] = s;
            }
            else
            {
                dims.Add(shape.Dims[d]);
                strides.Add(s);
            }
        }
        var offsets = operands.Select(t => t.Offset).ToArray();
        if (dims.Count == 0)
            return new RowLayout([], [], offsets, shape.Size, new int[k]);
        int rowLength = dims[^1];
        var rowStrides = strides[^1];
        dims.RemoveAt(dims.Count - 1);
        strides.RemoveAt(strides.Count - 1);
        return new RowLayout(dims.ToArray(), strides.ToArray(), offsets, rowLength, rowStrides);
    }

    /// <summary>Writes each operand's element offset at the start of <paramref name="row"/>, and the row's index per
    /// outer axis.</summary>
    private void RowOffsets(long row, Span<int> offsets, Span<int> index)
    {
        _baseOffsets.CopyTo(offsets);
        for (int d = _outerDims.Length - 1; d >= 0; d--)
        {
            int idx = (int)(row % _outerDims[d]);
            row /= _outerDims[d];
            index[d] = idx;
            for (int o = 0; o < offsets.Length; o++)
                offsets[o] += idx * _outerStrides[d][o];
        }
    }

    /// <summary>Steps <paramref name="offsets"/> to the next row like an odometer: no division per row.</summary>
    private void NextRow(Span<int> offsets, Span<int> index)
    {
        for (int d = _outerDims.Length - 1; d >= 0; d--)
        {
            var strides = _outerStrides[d];
            if (++index[d] < _outerDims[d])
            {
                for (int o = 0; o < offsets.Length; o++)
                    offsets[o] += strides[o];
                return;
            }
            index[d] = 0;
            for (int o = 0; o < offsets.Length; o++)
                offsets[o] -= (_outerDims[d] - 1) * strides[o];
        }
    }

    /// <summary>
    /// Calls <paramref name="body"/>(offsets, length) for every row, split into chunks so that
    /// long rows and many rows both spread over the CPU's threads. Each thread finds its first
    /// row once and then steps from row to row, so short rows (a permuted copy's 32-element
    /// runs) cost little more than their elements.
    /// </summary>
    public void ForEachChunk(Action<int[], int> body)
    {
        const int maxChunk = 1 << 15;
        int threads = CpuDevice.Threads;
        int chunksPerRow = Math.Max(1, (RowLength + maxChunk - 1) / maxChunk);
        if (Rows < threads && chunksPerRow > 1)
            chunksPerRow = (chunksPerRow + threads - 1) / threads * threads; // split a long row evenly
        int chunk = (RowLength + chunksPerRow - 1) / chunksPerRow;
        chunk = (chunk + 63) & ~63; // whole vectors in every chunk but the last
        chunksPerRow = Math.Max(1, (RowLength + chunk - 1) / chunk);
        long items = Rows * chunksPerRow;
        int operands = _baseOffsets.Length;
        long total = Rows * RowLength;
        CpuParallel.For(items, total, (start, end) =>
        {
            var offsets = new int[operands];
            var shifted = new int[operands];
            var index = new int[_outerDims.Length];
            RowOffsets(start / chunksPerRow, offsets, index);
            int c = (int)(start % chunksPerRow);
            for (long item = start; item < end; item++)
            {
                int begin = c * chunk,
                    length = Math.Min(chunk, RowLength - begin);
                for (int o = 0; o < operands; o++)
                    shifted[o] = offsets[o] + begin * RowStrides[o];
                body(shifted, length);
                if (++c == chunksPerRow)
                {
                    c = 0;
                    NextRow(offsets, index);
                }
            }
        });
    }
}

/// <summary>Splits work across <see cref="CpuDevice.Threads"/> when it is large enough to pay for the
/// hand-off.</summary>
internal static class CpuParallel
{
    /// <summary>Below this many elements of work, run on the calling thread.</summary>
    public const long MinParallelWork = 1 << 16;

    /// <summary>
    /// Parts per thread of work that splits evenly into more parts than threads. Each thread claims another part
    /// when it finishes one (its own block's first, see <see cref="WorkerPool"/>), so when another process takes a
    /// thread's core for a while, the other thread runs the parts it has not started instead of waiting for half of
    /// the work (1024³ products with an intermittent competing process: 265–277 GFLOP/s with one part per thread,
    /// 305–316 with four).
    /// </summary>
    public const int PartsPerThread = 4;

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, count), in parallel when <paramref name="work"/> is
    /// large: at least one part per thread, more (up to <see cref="PartsPerThread"/> per thread) while each keeps
    /// about <see cref="MinParallelWork"/> of work.</summary>
    public static void For(long count, long work, Action<long, long> body)
    {
        int threads = Math.Min(CpuDevice.Threads, (int)Math.Min(count, int.MaxValue));
        if (threads <= 1 || work < MinParallelWork)
        {
            body(0, count);
            return;
        }
        long byWork = Math.Max(threads, work / MinParallelWork);
        int parts = (int)Math.Min(Math.Min(count, byWork), (long)threads * PartsPerThread);
        Run(parts, threads, p =>
        {
            long start = count * p / parts,
                end = count * (p + 1) / parts;
            if (start < end)
                body(start, end);
        });
    }

    /// <summary>Runs <paramref name="body"/>(0) … <paramref name="body"/>(parts − 1), one part per thread, and
    /// waits for all.</summary>
    public static void Run(int parts, Action<int> body) => Run(parts, parts, body);

    /// <summary>Runs <paramref name="body"/>(0) … <paramref name="body"/>(parts − 1) on up to <paramref
    /// name="threads"/> threads, each claiming parts not yet started (its own block of consecutive parts first, see
    /// <see cref="WorkerPool"/>), and waits for all.</summary>
    public static void Run(int parts, int threads, Action<int> body)
    {
        if (!WorkerPool.Shared.TryRun(parts, threads, body))
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(parts, threads) }, body);
    }
}
