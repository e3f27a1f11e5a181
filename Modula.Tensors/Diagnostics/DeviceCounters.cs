using System.Globalization;

namespace Modula.Tensors;

/// <summary>
/// What a device has asked of the host since it opened: kernel launches, blocking host–device
/// synchronizations, host→device uploads and device→host downloads. A snapshot
/// (<see cref="Device.Counters"/>); subtract two to count a span of work:
/// <code>
/// var before = device.Counters;
/// RunOneStep();
/// var step = device.Counters - before; // step.Launches, step.Synchronizations, ...
/// </code>
/// </summary>
/// <param name="Launches">Kernels launched (one per primitive op hand-off on an accelerator).</param>
/// <param name="Synchronizations">
/// Times the host waited for the device's queue to drain: <see cref="Device.Synchronize"/>, every
/// download (it must wait for the work that writes what it reads) and every upload (ILGPU's copy from
/// host memory waits for the stream to drain).
/// </param>
/// <param name="Uploads">Host→device copies, including each distinct layout table strided kernels read (uploaded
/// once and kept by the device).</param>
/// <param name="Downloads">
/// Device→host copies: <c>ToArray</c>, <c>CopyTo</c>, <c>Item</c>, and the read of the device's index-error
/// record after a wait that follows a gather or scatter (that read waits for nothing more).
/// </param>
public readonly record struct DeviceCounters(long Launches, long Synchronizations, long Uploads, long Downloads)
{
    /// <summary>The work between two snapshots.</summary>
    public static DeviceCounters operator -(DeviceCounters later, DeviceCounters earlier) =>
        new(
            later.Launches - earlier.Launches,
            later.Synchronizations - earlier.Synchronizations,
            later.Uploads - earlier.Uploads,
            later.Downloads - earlier.Downloads
        );

    /// <summary>The work of two spans together.</summary>
    public static DeviceCounters operator +(DeviceCounters a, DeviceCounters b) =>
        new(
            a.Launches + b.Launches,
            a.Synchronizations + b.Synchronizations,
            a.Uploads + b.Uploads,
            a.Downloads + b.Downloads
        );

    /// <summary><c>launches=L syncs=S uploads=U downloads=D</c>, the key=value form benchmarks print.</summary>
    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"launches={Launches} syncs={Synchronizations} uploads={Uploads} downloads={Downloads}"
        );
}

/// <summary>
/// The running totals behind <see cref="DeviceCounters"/>: Interlocked increments, cheap enough to
/// stay on for every launch (a launch costs microseconds; an increment nanoseconds).
/// </summary>
internal sealed class DeviceCounter
{
    private long _launches,
        _synchronizations,
        _uploads,
        _downloads;

    /// <summary>One kernel launched.</summary>
    public void Launch() => Interlocked.Increment(ref _launches);

    /// <summary>The host waited for the device's queue.</summary>
    public void Synchronize() => Interlocked.Increment(ref _synchronizations);

    /// <summary>One host→device copy, which also waits for the queue.</summary>
    public void Upload()
    {
        Interlocked.Increment(ref _uploads);
        Synchronize();
    }

    /// <summary>One device→host copy, which first waits for the queue.</summary>
    public void Download()
    {
        Interlocked.Increment(ref _downloads);
        Synchronize();
    }

    /// <summary>One device→host copy made right after a wait that drained the queue: it waits for nothing
    /// more.</summary>
    public void DownloadAfterWait() => Interlocked.Increment(ref _downloads);

    /// <summary>The totals now (each read atomically; work running on other threads may fall between them).</summary>
    public DeviceCounters Snapshot() =>
        new(
            Interlocked.Read(ref _launches),
            Interlocked.Read(ref _synchronizations),
            Interlocked.Read(ref _uploads),
            Interlocked.Read(ref _downloads)
        );
}
