using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Modula.Tensors.Backends.Ilgpu;

/// <summary>
/// An ILGPU accelerator (CUDA, OpenCL, or the CPU simulator) as a tensor device. Accelerator
/// kernels support float32 and int32; float64 stays on the CPU device.
/// </summary>
public sealed class IlgpuDevice : Device
{
    private readonly Context _context;
    private readonly BufferPool<MemoryBuffer1D<byte, Stride1D.Dense>> _pool;
    private static readonly object OpenGate = new();
    private static IlgpuDevice? _simulator;
    private bool _disposed,
        _released;
    private int _liveStorages;

    static IlgpuDevice() => CudaLibraryResolver.Install();

    private IlgpuDevice(Context context, Accelerator accelerator, DeviceKind kind, string name)
    {
        _context = context;
        Accelerator = accelerator;
        Kind = kind;
        Name = name;
        _pool = new BufferPool<MemoryBuffer1D<byte, Stride1D.Dense>>(
            bytes => accelerator.Allocate1D<byte>(bytes),
            b => b.Dispose()
        );
        Kernels = new IlgpuBackend(this);
    }

    /// <summary>The ILGPU accelerator running the kernels.</summary>
    public Accelerator Accelerator { get; }

    /// <inheritdoc/>
    public override DeviceKind Kind { get; }

    /// <inheritdoc/>
    public override string Name { get; }

    /// <inheritdoc/>
    /// <remarks>Also raises an out-of-range index met by a gather or scatter since the last wait (see
    /// <see cref="ThrowPendingErrors"/>).</remarks>
    public override void Synchronize()
    {
        Counter.Synchronize();
        Accelerator.Synchronize();
        Kernels.IndexErrors.ThrowIfRecorded(Name);
    }

    /// <inheritdoc/>
    public override void ThrowPendingErrors()
    {
        if (Kernels.IndexErrors.Pending)
            Synchronize();
    }

    /// <summary>Counts launches and transfers; the backend reports each one here.</summary>
    internal DeviceCounter Counter { get; } = new();

    /// <inheritdoc/>
    public override DeviceCounters Counters => Counter.Snapshot();

    /// <inheritdoc/>
    public override long PooledBytes => _pool.CachedUnits;

    private protected override IBackend CoreBackend => Kernels;

    /// <summary>The backend, with the device-owned tables it keeps.</summary>
    internal IlgpuBackend Kernels { get; }

    /// <summary>Group size used by the simulator (threads per warp × warps): large enough for the 16×16 GEMM
    /// tile.</summary>
    internal const int SimulatorWarp = 16,
        SimulatorWarps = 16;

    /// <inheritdoc/>
    public override bool Supports(DType dtype) => dtype is DType.Float32 or DType.Int32;

    /// <summary>The shared ILGPU CPU simulator device (created on first use, lives for the process).</summary>
    /// <remarks>
    /// For checking kernels, not for speed. The simulator starts a thread for each thread of the largest group it
    /// has run, and every launch passes all of them through a barrier twice: once a product or a reduction (groups of
    /// 256) has run, even a one-element op takes about 10 ms on 2 cores (0.4 ms before).
    /// </remarks>
    public static IlgpuDevice OpenCpuSimulator()
    {
        lock (OpenGate)
            return _simulator ??= CreateCpuSimulator();
    }

    /// <summary>A simulator device of its own, which <see cref="Dispose"/> really closes (for tests of
    /// disposal).</summary>
    internal static IlgpuDevice CreateCpuSimulator()
    {
        var context = Context.Create(b => b.CPU(new CPUDevice(SimulatorWarp, SimulatorWarps, 1)).EnableAlgorithms());
        var accelerator = context.CreateCPUAccelerator(0);
        return new IlgpuDevice(context, accelerator, DeviceKind.IlgpuCpu, "ilgpu-cpu");
    }

    /// <inheritdoc/>
    public override bool IsDisposed => _disposed;

    /// <summary>True when a CUDA device is present and its driver loads.</summary>
    public static bool CudaAvailable()
    {
        try
        {
            using var context = Context.Create(b => b.Cuda());
            return context.GetCudaDevices().Count > 0;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>Opens accelerator number <paramref name="index"/> of a kind; throws listing what exists when it is
    /// absent.</summary>
    public static IlgpuDevice Open(DeviceKind kind, int index)
    {
        Context context;
        try
        {
            context =
                kind == DeviceKind.Cuda
                    ? Context.Create(b => b.Cuda().EnableAlgorithms())
                    : Context.Create(b => b.OpenCL().EnableAlgorithms());
        }
        catch (Exception e)
        {
            throw new NotSupportedException(
                $"Device {kind}: the driver could not be loaded ({e.Message}). Use --device cpu.",
                e
            );
        }
        var devices = new List<ILGPU.Runtime.Device>();
        if (kind == DeviceKind.Cuda)
            foreach (var d in context.GetCudaDevices())
                devices.Add(d);
        else
            foreach (var d in context.GetCLDevices())
                devices.Add(d);
        if (index >= devices.Count)
        {
            context.Dispose();
            throw new NotSupportedException(
                $"Device {kind.ToString().ToLowerInvariant()}:{index} not found ({devices.Count} present). Use "
                    + $"--device cpu or ilgpu-cpu."
            );
        }
        var accelerator = devices[index].CreateAccelerator(context);
        return new IlgpuDevice(
            context,
            accelerator,
            kind,
            $"{kind.ToString().ToLowerInvariant()}:{index} ({accelerator.Name})"
        );
    }

    /// <inheritdoc/>
    public override void TrimPool() => _pool.Trim();

    private protected override Storage AllocateCore(DType dtype, int length)
    {
        lock (OpenGate)
        {
            if (_disposed)
                throw new ObjectDisposedException(Name, $"Device {Name} was disposed; no tensor can be created on it.");
            _liveStorages++;
        }
        long bytes = Math.Max(1, (long)length * dtype.SizeOf());
        var buffer = _pool.Rent(bytes, out long capacity);
        return new IlgpuStorage(this, dtype, length, buffer, capacity);
    }

    /// <summary>
    /// Takes back a storage's buffer: into the pool while the device is open; after
    /// <see cref="Dispose"/> the buffer is freed, and the last one closes the accelerator.
    /// </summary>
    internal void Return(MemoryBuffer1D<byte, Stride1D.Dense> buffer, long capacity)
    {
        lock (OpenGate)
        {
            _liveStorages--;
            if (!_disposed)
            {
                _pool.Return(buffer, capacity);
                return;
            }
            buffer.Dispose();
            if (_liveStorages == 0)
                Release();
        }
    }

    /// <summary>
    /// Closes the device: no tensor can be created on it or used by an op afterwards
    /// (<see cref="ObjectDisposedException"/>). Tensors still alive keep their buffers until they
    /// are disposed; the accelerator closes when the last one goes, so no buffer outlives it.
    /// The shared simulator stays open.
    /// </summary>
    public override void Dispose()
    {
        lock (OpenGate)
        {
            if (this == _simulator || _disposed)
                return;
            _disposed = true;
            // Queued kernels may still read a kept constant (Rope's tables) or a pooled buffer: wait for them
            // before either is freed.
            Accelerator.Synchronize();
            FreeConstants();
            _pool.Trim();
            if (_liveStorages == 0)
                Release();
        }
    }

    private void Release()
    {
        if (_released)
            return;
        _released = true;
        // Queued kernels may still read the layout tables or the index-error record.
        Accelerator.Synchronize();
        Kernels.Close();
        Accelerator.Dispose();
        _context.Dispose();
    }
}

/// <summary>A pooled accelerator buffer viewed as elements of the storage's dtype.</summary>
internal sealed class IlgpuStorage : Storage
{
    private readonly long _capacity;
    private readonly IlgpuDevice _device;

    public IlgpuStorage(
        IlgpuDevice device,
        DType dtype,
        int length,
        MemoryBuffer1D<byte, Stride1D.Dense> buffer,
        long capacity
    )
        : base(device, dtype, length)
    {
        Buffer = buffer;
        _capacity = capacity;
        _device = device;
    }

    public MemoryBuffer1D<byte, Stride1D.Dense> Buffer { get; }

    /// <summary>The elements as a typed view (exactly <see cref="Storage.Length"/> long).</summary>
    public ArrayView<T> View<T>()
        where T : unmanaged => ((ArrayView<byte>)Buffer.View).Cast<T>().SubView(0, Length);

    protected internal override void ReturnToPool() => _device.Return(Buffer, _capacity);
}

/// <summary>Maps ILGPU's "cuda" P/Invoke name to the driver's libcuda.so.1 where only that file exists.</summary>
internal static class CudaLibraryResolver
{
    private static int _installed;

    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) != 0 || !OperatingSystem.IsLinux())
            return;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(Context).Assembly, (name, assembly, path) =>
            {
                if (name != "cuda" && name != "nvcuda")
                    return IntPtr.Zero;
                foreach (var candidate in new[] { "libcuda.so.1", "libcuda.so" })
                    if (NativeLibrary.TryLoad(candidate, out var handle))
                        return handle;
                return IntPtr.Zero;
            });
        }
        catch (InvalidOperationException)
        {
            // Another component already installed a resolver for ILGPU; keep it.
        }
    }
}
