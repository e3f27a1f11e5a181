using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace Modula.Tensors.Backends.Ilgpu;

/// <summary>
/// The layout tables the strided kernels read ([dims, strides of each operand], see <see cref="Kernels"/>),
/// uploaded once per distinct content and kept until the device closes. Uploading a table per launch
/// cost a host wait per launch (ILGPU's copy from host memory drains the stream); a training step
/// repeats the same few dozen layouts, so after the first step no strided launch uploads anything.
/// </summary>
/// <remarks>
/// Tables live outside the device's pool and its live-byte count: they belong to the device, not to a
/// tensor. At most <see cref="Capacity"/> are kept (tests may ask for fewer); the next new layout then waits for the
/// queue (a queued kernel may still read any of them) and frees them all before caching afresh.
/// </remarks>
internal sealed class LayoutTables : IDisposable
{
    /// <summary>Distinct layouts kept at once (a GPT step uses under a hundred; each table is a few ints).</summary>
    public const int Capacity = 4096;

    private readonly Accelerator _accelerator;
    private readonly int _capacity;
    private readonly DeviceCounter _counter;
    private readonly Dictionary<int[], MemoryBuffer1D<int, Stride1D.Dense>> _tables = new(Contents.Instance);
    private readonly Dictionary<int[], MemoryBuffer1D<int, Stride1D.Dense>>.AlternateLookup<ReadOnlySpan<int>> _find;
    private readonly Lock _gate = new();

    public LayoutTables(Accelerator accelerator, DeviceCounter counter, int capacity = Capacity)
    {
        _accelerator = accelerator;
        _capacity = capacity;
        _counter = counter;
        _find = _tables.GetAlternateLookup<ReadOnlySpan<int>>();
    }

    /// <summary>Tables held now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _tables.Count;
        }
    }

    /// <summary>The device copy of <paramref name="layout"/>, uploaded (one upload, one wait) the first time it is
    /// seen.</summary>
    public ArrayView<int> Get(ReadOnlySpan<int> layout)
    {
        lock (_gate)
        {
            if (_find.TryGetValue(layout, out var table))
                return table.View;
            if (_tables.Count >= _capacity)
            {
                // Queued kernels may still read the tables: wait for them before freeing any.
                _counter.Synchronize();
                _accelerator.Synchronize();
                FreeAll();
            }
            table = _accelerator.Allocate1D<int>(layout.Length);
            _counter.Upload();
            ((ArrayView<int>)table.View).CopyFromCPU(layout);
            _find[layout] = table;
            return table.View;
        }
    }

    /// <summary>Frees every table; the caller has waited for the queue (the device is closing).</summary>
    public void Dispose()
    {
        lock (_gate)
            FreeAll();
    }

    private void FreeAll()
    {
        foreach (var table in _tables.Values)
            table.Dispose();
        _tables.Clear();
    }

    /// <summary>Compares tables by content, and looks them up by a span without allocating a key.</summary>
    private sealed class Contents : IEqualityComparer<int[]>, IAlternateEqualityComparer<ReadOnlySpan<int>, int[]>
    {
        public static readonly Contents Instance = new();

        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(int[] obj) => GetHashCode((ReadOnlySpan<int>)obj);

        public bool Equals(ReadOnlySpan<int> alternate, int[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<int> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(MemoryMarshal.AsBytes(alternate));
            return hash.ToHashCode();
        }

        public int[] Create(ReadOnlySpan<int> alternate) => alternate.ToArray();
    }
}
