using ILGPU;
using ILGPU.Runtime;

namespace Modula.Tensors.Backends.Ilgpu;

/// <summary>The index kernels that check their indices on the device (codes stored in the error record).</summary>
internal enum IndexOp
{
    GatherRows = 1,
    ScatterAddRows = 2,
    CrossEntropyRows = 3,
}

/// <summary>
/// Out-of-range indices found on the device. Checking indices on the host would copy them back (a host
/// wait) on every embedding lookup; instead the gather and scatter kernels skip an out-of-range index,
/// never touching memory outside the table, and the first thread to meet one records it here. The
/// record is read, and raised as <see cref="ArgumentOutOfRangeException"/>, at the next host wait the
/// program makes anyway (a download or <see cref="Device.Synchronize"/>) or at
/// <see cref="Device.ThrowPendingErrors"/>, and only when an index kernel ran since the last read.
/// </summary>
internal sealed class IndexErrors : IDisposable
{
    /// <summary>Ints of the record: [0] 1 once an index was recorded, [1] <see cref="IndexOp"/>, [2] position,
    /// [3] index, [4] rows of the table.</summary>
    public const int Length = 5;

    private readonly Accelerator _accelerator;
    private readonly DeviceCounter _counter;
    private readonly Action<ArrayView<int>> _clear;
    private readonly Lock _gate = new();
    private MemoryBuffer1D<int, Stride1D.Dense>? _record;
    private bool _pending;

    /// <param name="accelerator">Where the record lives.</param>
    /// <param name="counter">Counts the record's reads.</param>
    /// <param name="clear">Queues a zero fill of the record (a kernel, so no host wait).</param>
    public IndexErrors(Accelerator accelerator, DeviceCounter counter, Action<ArrayView<int>> clear)
    {
        _accelerator = accelerator;
        _counter = counter;
        _clear = clear;
    }

    /// <summary>True when an index kernel ran since the record was last read.</summary>
    public bool Pending
    {
        get
        {
            lock (_gate)
                return _pending;
        }
    }

    /// <summary>The record, for an index kernel about to be launched: it will be read at the next check.</summary>
    public ArrayView<int> ForLaunch()
    {
        lock (_gate)
        {
            if (_record is null)
            {
                _record = _accelerator.Allocate1D<int>(Length);
                _clear(_record.View);
            }
            _pending = true;
            return _record.View;
        }
    }

    /// <summary>
    /// Reads the record if an index kernel ran since the last read, and throws what it holds. The caller
    /// has just waited for the queue, so the read adds a copy (counted as a download) but no wait.
    /// </summary>
    public void ThrowIfRecorded(string device)
    {
        Span<int> record = stackalloc int[Length];
        lock (_gate)
        {
            if (!_pending || _record is null)
                return;
            _pending = false;
            _counter.DownloadAfterWait();
            ((ArrayView<int>)_record.View).CopyToCPU(record);
            if (record[0] == 0)
                return;
            _clear(_record.View);
        }
        string op = ((IndexOp)record[1]).ToString();
        throw new ArgumentOutOfRangeException(
            "indices",
            $"{op}: index {record[3]} at position {record[2]} is outside [0, {record[4]}) (found on device "
                + $"{device}, which skipped it; the step that ran it should be discarded)."
        );
    }

    /// <summary>Frees the record; the caller has waited for the queue (the device is closing).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _record?.Dispose();
            _record = null;
            _pending = false;
        }
    }
}
