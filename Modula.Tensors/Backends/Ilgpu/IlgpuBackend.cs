using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Ilgpu;

/// <summary>
/// Launches the accelerator kernels. Kernels are compiled once per (kernel, op struct) and
/// cached; all launches go to the accelerator's default stream, so buffers recycled by the
/// pool are only reused by work ordered after their last reader.
/// </summary>
internal sealed partial class IlgpuBackend : IBackend
{
    private readonly IlgpuDevice _device;
    private readonly ConcurrentDictionary<(string Kernel, Type Type), Delegate> _kernels = new();

    public IlgpuBackend(IlgpuDevice device)
    {
        _device = device;
        Multiprocessors = device.Accelerator.NumMultiprocessors;
        MaxGrid = device.Accelerator.MaxGridSize;
        Layouts = new LayoutTables(device.Accelerator, device.Counter);
        IndexErrors = new IndexErrors(device.Accelerator, device.Counter, Clear);
    }

    /// <summary>The strided kernels' layout tables, uploaded once per distinct layout.</summary>
    internal LayoutTables Layouts { get; }

    /// <summary>Out-of-range indices met by the gather and scatter kernels, raised at the next host wait.</summary>
    internal IndexErrors IndexErrors { get; }

    /// <summary>Frees the device-owned tables; the caller has waited for the queue (the device is closing).</summary>
    internal void Close()
    {
        Layouts.Dispose();
        IndexErrors.Dispose();
    }

    private Accelerator Acc => _device.Accelerator;

    /// <summary>
    /// The kernel about to be launched, loaded on first use. Every launch in this class goes through
    /// here and is invoked at once, so this is where launches are counted: one place, none missed.
    /// </summary>
    private TDelegate Launch<TDelegate>(string name, Type type, Func<TDelegate> load)
        where TDelegate : Delegate
    {
        _device.Counter.Launch();
        return (TDelegate)_kernels.GetOrAdd((name, type), _ => load());
    }

    private static IlgpuStorage S(Tensor t) => (IlgpuStorage)t.Storage;

    private static ArrayView<T> V<T>(Tensor t)
        where T : unmanaged => S(t).View<T>();

    /// <summary>A contiguous tensor's elements as a view.</summary>
    private static ArrayView<T> Dense<T>(Tensor t)
        where T : unmanaged => V<T>(t).SubView(t.Offset, t.Size);

    /// <summary>Copies host values in; ILGPU's copy from a span waits for the stream, so this is also a
    /// synchronization.</summary>
    public void Upload<T>(ReadOnlySpan<T> source, Storage destination)
        where T : unmanaged
    {
        if (source.IsEmpty)
            return;
        _device.Counter.Upload();
        ((IlgpuStorage)destination).View<T>().SubView(0, source.Length).CopyFromCPU(source);
    }

    public void Download<T>(Storage source, int offset, Span<T> destination)
        where T : unmanaged
    {
        if (destination.IsEmpty)
            return;
        // One wait, counted once: the copy's own stream synchronization then finds nothing queued.
        _device.Counter.Download();
        Acc.Synchronize();
        IndexErrors.ThrowIfRecorded(_device.Name);
        ((IlgpuStorage)source).View<T>().SubView(offset, destination.Length).CopyToCPU(destination);
    }

    public void Fill(Tensor y, double value)
    {
        if (y.DType == DType.Int32)
            Launch("fill", typeof(int), () =>
                Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, int>(Kernels.Fill)
            )(y.Size, Dense<int>(y), checked((int)value));
        else
            Launch("fill", typeof(float), () =>
                Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(Kernels.Fill)
            )(y.Size, Dense<float>(y), (float)value);
    }

    public void Arange(Tensor y, double start, double step)
    {
        if (y.DType == DType.Int32)
            Launch("arange", typeof(int), () =>
                Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, int, int>(Kernels.ArangeInt)
            )(y.Size, Dense<int>(y), checked((int)start), checked((int)step));
        else
            Launch("arange", typeof(float), () =>
                Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, float>(Kernels.Arange)
            )(y.Size, Dense<float>(y), (float)start, (float)step);
    }

    /// <summary>Zeroes an int buffer with a kernel (queued: no host wait).</summary>
    private void Clear(ArrayView<int> buffer) =>
        Launch("fill", typeof(int), () => Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, int>(Kernels.Fill))(
            buffer.IntLength,
            buffer,
            0
        );

    /// <summary>True when every operand is contiguous with y's shape, so the dense kernels (no layout table)
    /// apply.</summary>
    private static bool AllContiguous(params ReadOnlySpan<Tensor> operands)
    {
        foreach (var t in operands)
            if (!t.IsContiguous)
                return false;
        return true;
    }

    /// <summary>The device table [dims, strides of each operand] the strided kernels read, from the cache (an
    /// upload only the first time this layout is seen).</summary>
    private ArrayView<int> Layout(Shape shape, params ReadOnlySpan<Tensor> operands)
    {
        int rank = shape.Rank,
            length = Math.Max(1, rank * (operands.Length + 1));
        Span<int> meta = length <= 64 ? stackalloc int[length] : new int[length];
        meta.Clear();
        shape.Dims.CopyTo(meta);
        for (int o = 0; o < operands.Length; o++)
            operands[o].Strides.CopyTo(meta[((o + 1) * rank)..]);
        return Layouts.Get(meta);
    }

    public void Copy(Tensor x, Tensor y)
    {
        if (AllContiguous(x, y))
        {
            if (x.DType == DType.Int32)
                Launch("copy-dense", typeof(int), () =>
                    Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<int>>(Kernels.CopyDense)
                )(y.Size, Dense<int>(x), Dense<int>(y));
            else
                Launch("copy-dense", typeof(float), () =>
                    Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(Kernels.CopyDense)
                )(y.Size, Dense<float>(x), Dense<float>(y));
            return;
        }
        var m = Layout(y.Shape, x, y);
        if (x.DType == DType.Int32)
            Launch("copy", typeof(int), () =>
                Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<int>, ArrayView<int>, int, int, int>(
                    Kernels.Copy
                )
            )(y.Size, V<int>(x), V<int>(y), m, y.Rank, x.Offset, y.Offset);
        else
            Launch("copy", typeof(float), () =>
                Acc.LoadAutoGroupedStreamKernel<
                    Index1D,
                    ArrayView<float>,
                    ArrayView<float>,
                    ArrayView<int>,
                    int,
                    int,
                    int
                >(Kernels.Copy)
            )(y.Size, V<float>(x), V<float>(y), m, y.Rank, x.Offset, y.Offset);
    }

    public void Unary<TOp>(Tensor x, Tensor y, TOp op)
        where TOp : struct, IUnaryOp =>
        Launch("unary", typeof(TOp), () =>
            Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, TOp>(Kernels.Unary)
        )(y.Size, Dense<float>(x), Dense<float>(y), op);

    public void Binary<TOp>(Tensor a, Tensor b, Tensor y, TOp op)
        where TOp : struct, IBinaryOp
    {
        if (AllContiguous(a, b))
        {
            Launch("binary-dense", typeof(TOp), () =>
                Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, TOp>(
                    Kernels.BinaryDense
                )
            )(y.Size, Dense<float>(a), Dense<float>(b), Dense<float>(y), op);
            return;
        }
        var meta = Layout(y.Shape, a, b);
        Launch("binary", typeof(TOp), () =>
            Acc.LoadAutoGroupedStreamKernel<
                Index1D,
                ArrayView<float>,
                ArrayView<float>,
                ArrayView<float>,
                ArrayView<int>,
                int,
                int,
                int,
                TOp
            >(Kernels.Binary)
        )(y.Size, V<float>(a), V<float>(b), Dense<float>(y), meta, y.Rank, a.Offset, b.Offset, op);
    }

    public void Where(Tensor condition, Tensor a, Tensor b, Tensor y)
    {
        if (AllContiguous(condition, a, b))
        {
            Launch("where-dense", typeof(float), () =>
                Acc.LoadAutoGroupedStreamKernel<
                    Index1D,
                    ArrayView<float>,
                    ArrayView<float>,
                    ArrayView<float>,
                    ArrayView<float>
                >(Kernels.WhereDense)
            )(y.Size, Dense<float>(condition), Dense<float>(a), Dense<float>(b), Dense<float>(y));
            return;
        }
        var meta = Layout(y.Shape, condition, a, b);
        Launch("where", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<
                Index1D,
                ArrayView<float>,
                ArrayView<float>,
                ArrayView<float>,
                ArrayView<float>,
                ArrayView<int>,
                int,
                int,
                int,
                int
            >(Kernels.Where)
        )(
            y.Size,
            V<float>(condition),
            V<float>(a),
            V<float>(b),
            Dense<float>(y),
            meta,
            y.Rank,
            condition.Offset,
            a.Offset,
            b.Offset
        );
    }

    public void Reduce<TOp>(Tensor x, Tensor y, int outer, int reduce, int inner, TOp op)
        where TOp : struct, IReduceOp
    {
        var (xs, ys) = (Dense<float>(x), Dense<float>(y));
        int outputs = outer * inner;
        // A thread per output leaves the GPU idle when a few outputs each sum a long row; then a group per output.
        if (reduce >= 64 && outputs <= 16384)
            Launch("reduce-grouped", typeof(TOp), () =>
                Acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, TOp>(Kernels.ReduceGrouped)
            )(new KernelConfig(outputs, Kernels.ReduceGroupSize), xs, ys, reduce, inner, op);
        else
            Launch("reduce", typeof(TOp), () =>
                Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, TOp>(
                    Kernels.Reduce
                )
            )(outputs, xs, ys, reduce, inner, op);
    }

    // The row kernels run one group per row (Kernels.Rows.cs); callers return first on an empty tensor.
    private static KernelConfig Rows(Tensor y, int length) => new(y.Size / length, Kernels.RowGroupSize);

    public void SoftmaxRows(Tensor x, Tensor y, int length, double scale, bool causal)
    {
        if (y.Size == 0)
            return;
        Launch("softmax", typeof(float), () =>
            Acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, float, int>(Kernels.SoftmaxRows)
        )(Rows(y, length), Dense<float>(x), Dense<float>(y), length, (float)scale, causal ? 1 : 0);
    }

    public void SoftmaxRowsBackward(Tensor g, Tensor y, Tensor dx, int length, double scale)
    {
        if (y.Size == 0)
            return;
        Launch("softmax-backward", typeof(float), () =>
            Acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(
                Kernels.SoftmaxRowsBackward
            )
        )(Rows(y, length), Dense<float>(g), Dense<float>(y), Dense<float>(dx), length, (float)scale);
    }

    public void CenterRows(Tensor x, Tensor y, int length)
    {
        if (y.Size == 0)
            return;
        Launch("center-rows", typeof(float), () =>
            Acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(Kernels.CenterRows)
        )(Rows(y, length), Dense<float>(x), Dense<float>(y), length);
    }

    public void RmsNormalizeRows(Tensor x, Tensor y, Tensor inverse, int length, bool center)
    {
        if (y.Size == 0)
            return;
        Launch("rms-rows", typeof(float), () =>
            Acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
                Kernels.RmsNormalizeRows
            )
        )(Rows(y, length), Dense<float>(x), Dense<float>(y), Dense<float>(inverse), length, center ? 1 : 0);
    }

    public void RmsNormalizeRowsBackward(
        Tensor g,
        Tensor y,
        Tensor inverse,
        Tensor dx,
        int length,
        bool center,
        bool accumulate
    )
    {
        if (y.Size == 0)
            return;
        Launch("rms-rows-backward", typeof(float), () =>
            Acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(
                Kernels.RmsNormalizeRowsBackward
            )
        )(
            Rows(y, length),
            Dense<float>(g),
            Dense<float>(y),
            Dense<float>(inverse),
            Dense<float>(dx),
            length,
            center ? 1 : 0,
            accumulate ? 1 : 0
        );
    }

    public void ArgMax(Tensor x, Tensor y, int outer, int reduce, int inner) =>
        Launch("argmax", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, int, int>(Kernels.ArgMax)
        )(outer * inner, Dense<float>(x), Dense<int>(y), reduce, inner);

    /// <summary>
    /// The device's multiprocessors. A product with fewer tiles than this is split along K into enough parts for
    /// about two groups per multiprocessor (see <see cref="GemmKernel"/>). Tests raise it to run the split on the
    /// simulator, which has one.
    /// </summary>
    internal int Multiprocessors { get; set; }

    /// <summary>The largest grid a launch may have (65535 in y and z on CUDA); tests lower it on the
    /// simulator.</summary>
    internal Index3D MaxGrid { get; set; }

    // Each split sums at least this much of K (four slabs), so the partial sums stay worth their traffic.
    private const int MinSplitDepth = 4 * GemmKernel.Slab;

    // Fetched at each launch, so that the device counts every launch of a product that takes several.
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs> Gemm() =>
        Launch("gemm", typeof(float), () =>
            Acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(GemmKernel.Run)
        );

    // The tiled kernel takes one α for all its matrices: per-matrix scales are a pass after the product (Ops runs it).
    public bool ScalesProducts => false;

    // A symmetric product is computed whole: the tiled kernel has no triangle mode.
    // The whole product, whatever the triangle: a lower result's elements above the diagonal are stored as zeros, and
    // a triangular a's zeros are multiplied as any other element.
    public void MatMul(
        Tensor a,
        Tensor b,
        Tensor c,
        bool accumulate,
        double alpha,
        bool symmetric,
        MatMulTriangle triangle,
        Tensor? scales
    )
    {
        if (scales is not null)
            throw new NotSupportedException("IlgpuBackend.MatMul: per-matrix scales (see ScalesProducts).");
        int batch = MatMulBatch.Count(c),
            m = c.Shape[-2],
            n = c.Shape[-1],
            k = a.Shape[-1];
        if (c.Size == 0)
            return;
        var args = new GemmArgs
        {
            M = m,
            N = n,
            K = k,
            AOffset = a.Offset,
            ABatch = MatMulBatch.Of(a),
            ARow = a.Strides[^2],
            ACol = a.Strides[^1],
            BOffset = b.Offset,
            BBatch = MatMulBatch.Of(b),
            BRow = b.Strides[^2],
            BCol = b.Strides[^1],
            COffset = c.Offset,
            CBatch = MatMulBatch.Of(c),
            CRow = c.Strides[^2],
            Accumulate = accumulate ? 1 : 0,
            Alpha = (float)alpha,
            Batches = batch,
            KChunk = k,
            LowerOnly = triangle == MatMulTriangle.LowerResult ? 1 : 0,
        };
        int tilesX = (n + GemmKernel.Tile - 1) / GemmKernel.Tile,
            tilesY = (m + GemmKernel.Tile - 1) / GemmKernel.Tile,
            tiles = tilesX * tilesY * batch,
            splits = tiles >= Multiprocessors
                ? 1
                : Math.Min((2 * Multiprocessors + tiles - 1) / tiles, k / MinSplitDepth);
        var group = new Index3D(GemmKernel.Threads, GemmKernel.Threads, 1);
        if (splits < 2)
        {
            // CUDA caps grid y and z at 65535: more row tiles (M over 4 million) or a larger batch run in launches
            // of at most that many.
            int mostRows = Math.Max(1, MaxGrid.Y),
                mostMatrices = Math.Max(1, MaxGrid.Z);
            for (int first = 0; first < batch; first += mostMatrices)
            for (int firstRow = 0; firstRow < tilesY; firstRow += mostRows)
            {
                int count = Math.Min(mostMatrices, batch - first),
                    rows = Math.Min(mostRows, tilesY - firstRow);
                Gemm()(
                    new KernelConfig(new Index3D(tilesX, rows, count), group),
                    V<float>(a),
                    V<float>(b),
                    V<float>(c),
                    args with
                    {
                        BatchBase = first,
                        Batches = count,
                        RowTileBase = firstRow,
                    }
                );
            }
            return;
        }
        // Whole slabs per split; rounding up can leave fewer splits than asked.
        int chunk = ((k + splits - 1) / splits + GemmKernel.Slab - 1) / GemmKernel.Slab * GemmKernel.Slab;
        splits = (k + chunk - 1) / chunk;
        using var partial = Tensor.Empty(new Shape(splits, batch, m, n), DType.Float32, _device);
        var partialArgs = args with
        {
            COffset = 0,
            CBatch = new MatMulBatch(m * n, 1, 0),
            CRow = n,
            Accumulate = 0,
            Alpha = 1,
            KChunk = chunk,
            SplitStride = batch * m * n,
            LowerOnly = 0, // applied when the splits are summed
        };
        Gemm()(
            new KernelConfig(new Index3D(tilesX, tilesY, batch * splits), group),
            V<float>(a),
            V<float>(b),
            V<float>(partial),
            partialArgs
        );
        Launch("gemm-sum-splits", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, GemmArgs, int>(
                GemmKernel.SumSplits
            )
        )(batch * m * n, Dense<float>(partial), V<float>(c), args, splits);
    }

    // The linear part as a kernel, then R² added by the product (computed whole: see MatMul).
    public void SymmetricPolynomial(Tensor r, Tensor h, double a, double b, double c, Tensor? scales)
    {
        if (scales is not null)
            throw new NotSupportedException(
                "IlgpuBackend.SymmetricPolynomial: per-matrix scales (see ScalesProducts)."
            );
        Launch("scaled-plus-identity", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float, float>(
                Kernels.ScaledPlusIdentity
            )
        )(h.Size, Dense<float>(r), Dense<float>(h), h.Shape[-1], (float)a, (float)b);
        if (c != 0)
            MatMul(r, r, h, accumulate: true, c, symmetric: true, MatMulTriangle.None, scales: null);
    }

    public void GatherRows(Tensor table, Tensor indices, Tensor y)
    {
        int width = table.Shape[1],
            rows = table.Shape[0];
        var errors = IndexErrors.ForLaunch();
        if (table.DType == DType.Int32)
            Launch("gather", typeof(int), () =>
                Acc.LoadAutoGroupedStreamKernel<
                    Index1D,
                    ArrayView<int>,
                    ArrayView<int>,
                    ArrayView<int>,
                    int,
                    int,
                    ArrayView<int>
                >(Kernels.GatherRows)
            )(y.Size, Dense<int>(table), Dense<int>(indices), Dense<int>(y), width, rows, errors);
        else
            Launch("gather", typeof(float), () =>
                Acc.LoadAutoGroupedStreamKernel<
                    Index1D,
                    ArrayView<float>,
                    ArrayView<int>,
                    ArrayView<float>,
                    int,
                    int,
                    ArrayView<int>
                >(Kernels.GatherRows)
            )(y.Size, Dense<float>(table), Dense<int>(indices), Dense<float>(y), width, rows, errors);
    }

    public void ScatterAddRows(Tensor source, Tensor indices, Tensor table)
    {
        var errors = IndexErrors.ForLaunch();
        Launch("scatter", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<
                Index1D,
                ArrayView<float>,
                ArrayView<int>,
                ArrayView<float>,
                int,
                int,
                ArrayView<int>
            >(Kernels.ScatterAddRows)
        )(
            source.Size,
            Dense<float>(source),
            Dense<int>(indices),
            Dense<float>(table),
            table.Shape[1],
            table.Shape[0],
            errors
        );
    }

    public void Im2Col(Tensor x, Tensor cols, ConvGeometry geometry) =>
        Launch("im2col", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvGeometry>(Kernels.Im2Col)
        )(cols.Size, Dense<float>(x), Dense<float>(cols), geometry);

    public void Col2Im(Tensor cols, Tensor x, ConvGeometry geometry) =>
        Launch("col2im", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvGeometry>(Kernels.Col2Im)
        )(x.Size, Dense<float>(cols), Dense<float>(x), geometry);

    public void Random(Tensor y, RandomKind kind, ulong seed, ulong offset)
    {
        switch (kind)
        {
            case RandomKind.Bits:
                Launch("bits", typeof(int), () =>
                    Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ulong, ulong>(Kernels.RandomBits)
                )(y.Size, Dense<int>(y), seed, offset);
                break;
            case RandomKind.Uniform:
                Launch("uniform", typeof(float), () =>
                    Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ulong, ulong>(Kernels.RandomUniform)
                )(y.Size, Dense<float>(y), seed, offset);
                break;
            default:
                Launch("normal", typeof(float), () =>
                    Acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ulong, ulong>(Kernels.RandomNormal)
                )(y.Size, Dense<float>(y), seed, offset);
                break;
        }
    }
}
