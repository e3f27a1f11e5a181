using System.Text;
using Modula.Tensors.Backends;

namespace Modula.Tensors;

/// <summary>
/// An n-dimensional view of a <see cref="Storage"/>: shape, strides (in elements) and an offset.
/// Tensors hold data and layout only; the math lives in <see cref="Ops"/>. Views (reshape,
/// permute, slice, expand) share the storage without copying; each view is disposed on its
/// own, and the buffer returns to the pool when the last one goes.
/// </summary>
/// <remarks>
/// Threads: any number of threads may read one tensor at once, but a tensor must not be written or disposed while
/// another thread uses it or a view of it. A buffer freed that way returns to the pool while the other thread's op
/// still reads or writes it, and the next tensor to get that buffer sees those writes. Ops run their own work in
/// parallel (<c>CpuDevice.UseThreads</c>); callers that share tensors across their own threads synchronize
/// themselves.
/// </remarks>
public sealed class Tensor : IDisposable
{
    private Storage? _storage;
    private readonly int[] _strides;

    internal Tensor(Storage storage, Shape shape, int[] strides, int offset, bool retain)
    {
        if (retain)
            storage.Retain();
        _storage = storage;
        Shape = shape;
        _strides = strides;
        Offset = offset;
        TensorScope.Register(this);
    }

    /// <summary>The scope that disposes this tensor, if any.</summary>
    internal TensorScope? Owner { get; set; }

    /// <summary>Dimension sizes.</summary>
    public Shape Shape { get; }

    /// <summary>Element strides per dimension; 0 marks a broadcast (expanded) dimension.</summary>
    public ReadOnlySpan<int> Strides => _strides;

    internal int[] StrideArray => _strides;

    /// <summary>Offset of element [0, …, 0] in the storage, in elements.</summary>
    public int Offset { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => Shape.Rank;

    /// <summary>Number of elements.</summary>
    public int Size => Shape.Size;

    /// <summary>Element type.</summary>
    public DType DType => Storage.DType;

    /// <summary>The device holding the data.</summary>
    public Device Device => Storage.Device;

    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => _storage is null;

    /// <summary>The underlying buffer; throws <see cref="ObjectDisposedException"/> after disposal.</summary>
    public Storage Storage =>
        _storage
        ?? throw new ObjectDisposedException(nameof(Tensor), $"Tensor {Shape} was used after it was disposed.");

    /// <summary>True if the elements are laid out densely in row-major order (offset may be non-zero).</summary>
    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (Shape.Dims[i] != 1 && _strides[i] != expected)
                    return false;
                expected *= Shape.Dims[i];
            }
            return true;
        }
    }

    /// <summary>
    /// True if the elements fill <see cref="Size"/> consecutive storage slots in some axis order:
    /// a contiguous tensor or a permutation of one (a head-split view, a transpose). Such a
    /// tensor can be written elementwise without one element aliasing another (see
    /// <see cref="HeadSplitLayouts"/>).
    /// </summary>
    public bool IsDense => IsContiguous || HeadSplitLayouts.DenseAxisOrder(this) is not null;

    /// <summary>Throws <see cref="ObjectDisposedException"/> naming the op if this tensor was disposed.</summary>
    internal void CheckAlive(string op)
    {
        if (_storage is null)
            throw new ObjectDisposedException(nameof(Tensor), $"{op}: tensor {Shape} was used after it was disposed.");
        // An op on a closed accelerator would launch on freed native state and end the process.
        if (_storage.Device.IsDisposed)
            throw new ObjectDisposedException(
                nameof(Tensor),
                $"{op}: tensor {Shape} lives on device {_storage.Device.Name}, which was disposed."
            );
    }

    // ---- creation ----------------------------------------------------------------------

    /// <summary>An uninitialized contiguous tensor (contents unspecified; pooled memory).</summary>
    public static Tensor Empty(Shape shape, DType dtype = DType.Float32, Device? device = null)
    {
        device ??= Device.Cpu;
        var storage = device.Allocate(dtype, shape.Size);
        return new Tensor(storage, shape, shape.ContiguousStrides(), 0, retain: false);
    }

    /// <summary>
    /// An uninitialized tensor of matrices [..., rows, columns] laid out for products that read it as their right
    /// operand: on the CPU, rows longer than three 64-byte cache lines start an odd number of lines apart (the padding
    /// at each row's end is never read or written), which its GEMM reads in place instead of copying into panels,
    /// in matrices that span at most 256 KiB so (up to 455 rows of 128 floats); elsewhere, for shorter rows or larger
    /// matrices, and for an empty shape, contiguous. Such a tensor is an ordinary strided one: ops and views take it,
    /// and <see cref="Reshape"/> across its last two axes copies. Newton–Schulz keeps its intermediate matrices so.
    /// </summary>
    public static Tensor EmptyMatrices(Shape shape, DType dtype = DType.Float32, Device? device = null)
    {
        if (shape.Rank < 2)
            throw new ArgumentException($"EmptyMatrices: needs matrices [..., rows, columns], got {shape}.");
        device ??= Device.Cpu;
        if (shape.Size == 0 || PaddedRows.RowStride(shape[-2], shape[-1], dtype, device) == shape[-1])
            return Empty(shape, dtype, device);
        long size = PaddedRows.StorageSize(shape, dtype, device);
        if (size > int.MaxValue)
            throw new ArgumentException(
                $"EmptyMatrices: {shape} with padded rows needs {size} elements, more than one tensor holds."
            );
        var storage = device.Allocate(dtype, (int)size);
        return new Tensor(storage, shape, PaddedRows.Strides(shape, dtype, device), 0, retain: false);
    }

    /// <summary>
    /// An uninitialized tensor with the shape, dtype and device of <paramref name="like"/>, laid out
    /// in the same axis order when <paramref name="like"/> is dense (a gradient for a head-split view
    /// is then itself a head-split view; see <see cref="HeadSplitLayouts"/>); otherwise contiguous.
    /// </summary>
    public static Tensor EmptyLike(Tensor like)
    {
        like.CheckAlive(nameof(EmptyLike));
        return HeadSplitLayouts.EmptyInAxisOrderOf(like);
    }

    /// <summary>Copies <paramref name="data"/> (row-major) into a new tensor of shape <paramref
    /// name="shape"/>.</summary>
    public static Tensor FromArray<T>(ReadOnlySpan<T> data, Shape shape, Device? device = null)
        where T : unmanaged
    {
        if (data.Length != shape.Size)
            throw new ArgumentException(
                $"FromArray: {data.Length} values do not fill shape {shape} ({shape.Size} elements)."
            );
        var t = Empty(shape, DTypeInfo.Of<T>(), device);
        Upload(data, t);
        return t;
    }

    private static void Upload<T>(ReadOnlySpan<T> data, Tensor into)
        where T : unmanaged
    {
        using (into.Device.Time(nameof(IBackend.Upload)))
            into.Device.Backend.Upload(data, into.Storage);
    }

    /// <summary>Copies a one-dimensional array into a new vector tensor.</summary>
    public static Tensor FromArray<T>(T[] data, Device? device = null)
        where T : unmanaged => FromArray<T>(data, new Shape(data.Length), device);

    /// <summary>A rank-0 tensor holding <paramref name="value"/>.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device? device = null) =>
        Ops.Full(Shape.Scalar, value, dtype, device);

    /// <summary>Copies the elements to a new row-major host array.</summary>
    public T[] ToArray<T>()
        where T : unmanaged
    {
        CheckAlive("ToArray");
        if (DTypeInfo.Of<T>() != DType)
            throw new InvalidOperationException($"ToArray<{typeof(T).Name}>: tensor has dtype {DType}.");
        using var dense = IsContiguous ? null : Ops.Contiguous(this);
        var source = dense ?? this;
        var result = new T[Size];
        if (Size > 0)
            using (source.Device.Time(nameof(IBackend.Download)))
                source.Device.Backend.Download(source.Storage, source.Offset, result);
        return result;
    }

    /// <summary>
    /// Copies the elements in row-major order into the first <see cref="Size"/> elements of
    /// <paramref name="destination"/> (lets a caller reuse one host buffer, as checkpoint snapshots do).
    /// </summary>
    public void CopyTo<T>(Span<T> destination)
        where T : unmanaged
    {
        CheckAlive("CopyTo");
        if (DTypeInfo.Of<T>() != DType)
            throw new InvalidOperationException($"CopyTo<{typeof(T).Name}>: tensor has dtype {DType}.");
        if (destination.Length < Size)
            throw new ArgumentException(
                $"CopyTo: the destination holds {destination.Length} elements, the tensor {Shape} has {Size}.",
                nameof(destination)
            );
        using var dense = IsContiguous ? null : Ops.Contiguous(this);
        var source = dense ?? this;
        using (source.Device.Time(nameof(IBackend.Download)))
            source.Device.Backend.Download(source.Storage, source.Offset, destination[..Size]);
    }

    /// <summary>The value of a one-element tensor as a double.</summary>
    public double Item()
    {
        if (Size != 1)
            throw new InvalidOperationException($"Item: tensor {Shape} has {Size} elements, not 1.");
        return DType switch
        {
            DType.Float32 => ToArray<float>()[0],
            DType.Float64 => ToArray<double>()[0],
            _ => ToArray<int>()[0],
        };
    }

    /// <summary>Copies this tensor to <paramref name="device"/> (always a new tensor).</summary>
    public Tensor To(Device device)
    {
        CheckAlive("To");
        using var dense = IsContiguous ? null : Ops.Contiguous(this);
        var source = dense ?? this;
        var result = Empty(Shape, DType, device);
        switch (DType)
        {
            case DType.Float32:
                Upload<float>(source.ToArray<float>(), result);
                break;
            case DType.Float64:
                Upload<double>(source.ToArray<double>(), result);
                break;
            default:
                Upload<int>(source.ToArray<int>(), result);
                break;
        }
        return result;
    }

    // ---- views (no copy) ---------------------------------------------------------------

    private Tensor View(Shape shape, int[] strides, int offset) => new(Storage, shape, strides, offset, retain: true);

    /// <summary>A view with a new shape; one dimension may be -1 (inferred). Throws if the layout cannot be viewed
    /// without a copy (use <see cref="Reshape"/>).</summary>
    public Tensor View(params int[] dims)
    {
        CheckAlive("View");
        var shape = InferShape(dims, "View");
        var strides = ViewStrides(shape)
            ?? throw new InvalidOperationException(
                $"View: tensor {Shape} with strides {Shape.Format(_strides)} cannot be viewed as {shape} without a "
                    + $"copy; use Reshape."
            );
        return View(shape, strides, Offset);
    }

    /// <summary>A tensor with a new shape: a view when the layout allows, otherwise a contiguous copy.</summary>
    public Tensor Reshape(params int[] dims)
    {
        CheckAlive("Reshape");
        var shape = InferShape(dims, "Reshape");
        var strides = ViewStrides(shape);
        if (strides is not null)
            return View(shape, strides, Offset);
        using var dense = Ops.Contiguous(this);
        return dense.View(shape, shape.ContiguousStrides(), dense.Offset);
    }

    /// <summary>Reorders dimensions: output dimension i is input dimension <c>axes[i]</c>.</summary>
    public Tensor Permute(params int[] axes)
    {
        CheckAlive("Permute");
        if (axes.Length != Rank)
            throw new ArgumentException($"Permute: {axes.Length} axes given for tensor {Shape} of rank {Rank}.");
        var dims = new int[Rank];
        var strides = new int[Rank];
        var seen = new bool[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int a = Shape.NormalizeAxis(axes[i], Shape, nameof(Permute));
            if (seen[a])
                throw new ArgumentException($"Permute: axis {a} repeated in [{string.Join(", ", axes)}].");
            seen[a] = true;
            dims[i] = Shape.Dims[a];
            strides[i] = _strides[a];
        }
        return View(new Shape(dims), strides, Offset);
    }

    /// <summary>Swaps two dimensions (default: the last two, a matrix transpose).</summary>
    public Tensor Transpose(int axis0 = -2, int axis1 = -1)
    {
        var axes = Enumerable.Range(0, Rank).ToArray();
        int a = Shape.NormalizeAxis(axis0, Shape, nameof(Transpose)),
            b = Shape.NormalizeAxis(axis1, Shape, nameof(Transpose));
        (axes[a], axes[b]) = (axes[b], axes[a]);
        return Permute(axes);
    }

    /// <summary>Elements <c>start .. start+length-1</c> along <paramref name="axis"/>.</summary>
    public Tensor Slice(int axis, int start, int length)
    {
        CheckAlive("Slice");
        int a = Shape.NormalizeAxis(axis, Shape, nameof(Slice));
        // In long arithmetic: start + length can pass int.MaxValue and wrap to a negative that passes the check.
        if (start < 0 || length < 0 || (long)start + length > Shape.Dims[a])
            throw new ArgumentOutOfRangeException(
                nameof(start),
                $"Slice: range [{start}, {(long)start + length}) is outside dimension {a} of size {Shape.Dims[a]} "
                    + $"in tensor {Shape}."
            );
        var dims = Shape.Dims.ToArray();
        dims[a] = length;
        var shape = new Shape(dims);
        // An empty view keeps the offset: moving it could point past the end of an empty storage.
        return View(shape, (int[])_strides.Clone(), shape.Size == 0 ? Offset : Offset + start * _strides[a]);
    }

    /// <summary>Broadcasts size-1 dimensions (and new leading ones) to <paramref name="shape"/> with stride
    /// 0.</summary>
    public Tensor Expand(Shape shape)
    {
        CheckAlive("Expand");
        if (shape.Rank < Rank)
            throw new ArgumentException($"Expand: cannot expand {Shape} to lower rank {shape}.");
        var strides = new int[shape.Rank];
        int lead = shape.Rank - Rank;
        for (int i = 0; i < shape.Rank; i++)
        {
            if (i < lead)
            {
                strides[i] = 0;
                continue;
            }
            int d = Shape.Dims[i - lead];
            if (d == shape.Dims[i])
                strides[i] = _strides[i - lead];
            else if (d == 1)
                strides[i] = 0;
            else
                throw new ArgumentException(
                    $"Expand: cannot expand {Shape} to {shape} (dimension {i}: {d} vs {shape.Dims[i]})."
                );
        }
        return View(shape, strides, Offset);
    }

    /// <summary>Inserts a size-1 dimension at <paramref name="axis"/> (in the output's numbering).</summary>
    public Tensor Unsqueeze(int axis)
    {
        if (axis < -(Rank + 1) || axis > Rank)
            throw new ArgumentOutOfRangeException(
                nameof(axis),
                $"Unsqueeze: axis {axis} is out of range for shape {Shape} "
                    + $"(a new axis goes at {-(Rank + 1)} to {Rank})."
            );
        int a = Shape.NormalizeAxis(axis, Rank + 1);
        var dims = Shape.Dims.ToArray().ToList();
        var strides = _strides.ToList();
        dims.Insert(a, 1);
        strides.Insert(a, a < Rank ? _strides[a] * Shape.Dims[a] : 1);
        return View(new Shape(dims.ToArray()), strides.ToArray(), Offset);
    }

    /// <summary>Removes a size-1 dimension.</summary>
    public Tensor Squeeze(int axis)
    {
        int a = Shape.NormalizeAxis(axis, Shape, nameof(Squeeze));
        if (Shape.Dims[a] != 1)
            throw new ArgumentException($"Squeeze: dimension {a} of {Shape} has size {Shape.Dims[a]}, not 1.");
        var dims = Shape.Dims.ToArray().ToList();
        var strides = _strides.ToList();
        dims.RemoveAt(a);
        strides.RemoveAt(a);
        return View(new Shape(dims.ToArray()), strides.ToArray(), Offset);
    }

    private Shape InferShape(int[] dims, string op)
    {
        int infer = -1,
            known = 1;
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] == -1)
            {
                if (infer >= 0)
                    throw new ArgumentException($"{op}: only one dimension may be -1 in {Shape.Format(dims)}.");
                infer = i;
            }
            else if (dims[i] < 0)
                throw new ArgumentException($"{op}: negative dimension in {Shape.Format(dims)}.");
            else
                known *= dims[i];
        }
        var result = (int[])dims.Clone();
        if (infer >= 0)
        {
            if (known == 0 || Size % known != 0)
                throw new ArgumentException(
                    $"{op}: cannot infer -1 in {Shape.Format(dims)} for tensor {Shape} of {Size} elements."
                );
            result[infer] = Size / known;
        }
        var shape = new Shape(result);
        if (shape.Size != Size)
            throw new ArgumentException($"{op}: tensor {Shape} has {Size} elements; shape {shape} needs {shape.Size}.");
        return shape;
    }

    /// <summary>Strides that view the current layout as <paramref name="shape"/>, or null if a copy is
    /// needed.</summary>
    private int[]? ViewStrides(Shape shape)
    {
        if (IsContiguous || Size == 0)
            return shape.ContiguousStrides();
        // Size-1 axes never move the address, so drop them from the old layout. Then walk both
        // shapes in groups whose element counts match: an old group must step through memory as
        // one run (each stride = next stride × next size), and the new group's strides follow
        // from the group's innermost stride.
        var oldDims = new List<int>();
        var oldStrides = new List<int>();
        for (int i = 0; i < Rank; i++)
            if (Shape.Dims[i] != 1)
            {
                oldDims.Add(Shape.Dims[i]);
                oldStrides.Add(_strides[i]);
            }
        var newDims = shape.Dims;
        var result = new int[shape.Rank];
        int oi = 0,
            ni = 0;
        while (ni < newDims.Length)
        {
            if (newDims[ni] == 1)
            {
                result[ni++] = 1;
                continue;
            }
            if (oi >= oldDims.Count)
                return null;
            int o0 = oi,
                n0 = ni;
            long oc = oldDims[oi++],
                nc = newDims[ni++];
            while (oc != nc)
            {
                if (oc < nc)
                {
                    if (oi >= oldDims.Count)
                        return null;
                    oc *= oldDims[oi++];
                }
                else
                {
                    if (ni >= newDims.Length)
                        return null;
                    nc *= newDims[ni++];
                }
            }
            for (int k = o0; k < oi - 1; k++)
                if (oldStrides[k] != oldStrides[k + 1] * oldDims[k + 1])
                    return null;
            int stride = oldStrides[oi - 1];
            for (int k = ni - 1; k >= n0; k--)
            {
                result[k] = stride;
                stride *= newDims[k];
            }
        }
        return oi == oldDims.Count ? result : null;
    }

    /// <summary>Releases this tensor's reference to its storage. Safe to call twice.</summary>
    public void Dispose()
    {
        var s = Interlocked.Exchange(ref _storage, null);
        s?.Release();
    }

    /// <summary>Shape, dtype, device and (for small tensors) the values.</summary>
    public override string ToString()
    {
        if (_storage is null)
            return $"Tensor({Shape}, disposed)";
        var sb = new StringBuilder($"Tensor({Shape}, {DType}, {Device.Name}");
        if (Size <= 16 && DType != DType.Int32)
        {
            var values = DType == DType.Float32 ? ToArray<float>().Select(v => (double)v) : ToArray<double>();
            sb.Append(", [").AppendJoin(", ", values.Select(v => v.ToString("G6"))).Append(']');
        }
        return sb.Append(')').ToString();
    }
}
