using Modula.Tensors.Backends;
using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Backends.Ilgpu;

namespace Modula.Tensors;

/// <summary>The kinds of device a tensor can live on.</summary>
public enum DeviceKind
{
    /// <summary>The managed-SIMD CPU backend: the fast path on machines without a GPU.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU through ILGPU's CUDA accelerator.</summary>
    Cuda,

    /// <summary>An OpenCL 2.0 device through ILGPU.</summary>
    OpenCL,

    /// <summary>ILGPU's CPU simulator: runs the accelerator kernels as scalar C#, for verifying them without a
    /// GPU.</summary>
    IlgpuCpu,
}

/// <summary>
/// A place where tensor buffers live and primitive ops run. Devices keep a caching pool of
/// buffers and count live bytes so that tests can check that memory returns to baseline.
/// </summary>
public abstract class Device : IDisposable
{
    private long _liveBytes;

    /// <summary>The process-wide CPU device.</summary>
    public static Device Cpu => CpuDevice.Instance;

    /// <summary>Device kind.</summary>
    public abstract DeviceKind Kind { get; }

    /// <summary>Human-readable name, e.g. <c>cpu</c> or <c>cuda:0 (NVIDIA H100)</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Bytes held by storages that are still referenced by a tensor.</summary>
    public long LiveBytes => Interlocked.Read(ref _liveBytes);

    /// <summary>Bytes cached in the pool for reuse (not live).</summary>
    public abstract long PooledBytes { get; }

    /// <summary>Releases every cached (not live) buffer.</summary>
    public abstract void TrimPool();

    /// <summary>True if the device supports <paramref name="dtype"/>.</summary>
    public abstract bool Supports(DType dtype);

    /// <summary>The device's own primitive ops.</summary>
    private protected abstract IBackend CoreBackend { get; }

    /// <summary>The primitive ops. <see cref="Ops"/> calls each inside <see cref="Time(string)"/>.</summary>
    internal IBackend Backend => CoreBackend;

    /// <summary>True when the per-matrix scales of <see cref="Ops.MatMulInto"/> and <see
    /// cref="Ops.SymmetricPolynomial(Tensor, double, double, double, Tensor)"/> cost nothing here: they multiply each
    /// product's α (the CPU) rather than taking a pass over the result afterwards.</summary>
    public bool ScalesInsideProducts => Backend.ScalesProducts;

    /// <summary>The profiler timing this device's primitives, if one was started.</summary>
    internal OpProfiler? Profiler;

    /// <summary>Times the primitive about to run here while a profiler runs: the one profiling hook.</summary>
    internal OpTimer Time(string primitive) => Profiler is { } p ? p.Begin(primitive) : default;

    /// <summary>
    /// <see cref="Time(string)"/> with a name built from <paramref name="state"/> only while profiling
    /// (a product's shape: no string is made on the hot path otherwise).
    /// </summary>
    internal OpTimer Time<TState>(Func<TState, string> name, TState state) =>
        Profiler is { } p ? p.Begin(name(state)) : default;

    /// <summary><see cref="Time(string)"/> for a primitive parameterized by an op struct, named
    /// <c>primitive&lt;TOp&gt;</c>.</summary>
    internal OpTimer Time<TOp>(string primitive) =>
        Profiler is { } p ? p.Begin($"{primitive}<{typeof(TOp).Name}>") : default;

    /// <summary>True once <see cref="Dispose"/> closed the device; ops on its tensors then throw.</summary>
    public virtual bool IsDisposed => false;

    /// <summary>Waits for queued work to finish (a no-op where ops run synchronously).</summary>
    public virtual void Synchronize() { }

    /// <summary>
    /// Raises an error that queued work met on the device and has not reported yet: today an index out
    /// of range in <see cref="Ops.GatherRows"/> or <see cref="Ops.ScatterAddRows"/>, as an
    /// <see cref="ArgumentOutOfRangeException"/> naming the op, the index, its position and the table's
    /// row count. The CPU checks indices before it runs an op, so there is never anything to raise. An
    /// accelerator checks them on the device instead (copying them back would make every embedding lookup
    /// wait for the device): the kernel skips a bad index (a gathered row reads as zeros, a scattered row
    /// is not added) and the error is raised at the next download or <see cref="Synchronize"/>, or here.
    /// This waits for the device only when a gather or scatter ran since the last wait.
    /// </summary>
    public virtual void ThrowPendingErrors() { }

    /// <summary>
    /// Kernel launches, host–device synchronizations, uploads and downloads since the device opened:
    /// always counted on ILGPU accelerators, the cost a GPU step pays per small op. The CPU device
    /// reports zeros, truthfully: it runs every primitive inline on the calling threads, so nothing is
    /// launched, queued, copied between memories or waited for.
    /// </summary>
    public virtual DeviceCounters Counters => default;

    private readonly DeviceConstants _constants = new();

    /// <summary>
    /// A constant tensor kept by this device: made by <paramref name="create"/> (on this device) the first
    /// time <paramref name="key"/> is asked for, then returned as is until the device is disposed, which
    /// frees it. Keys compare by value (use a record or a tuple naming the owner and every parameter).
    /// The device owns the tensor: do not dispose it or write into it; take views of it freely. It spares
    /// an accelerator an upload, and so a host wait, each time the same table is needed. Past
    /// <c>256</c> kept constants, a call makes a fresh tensor owned by the current <see cref="TensorScope"/>,
    /// as any op's result is.
    /// </summary>
    public Tensor Constant(object key, Func<Tensor> create)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(create);
        if (IsDisposed)
            throw new ObjectDisposedException(Name, $"Device {Name} was disposed; it keeps no constants.");
        return _constants.GetOrCreate(key, () =>
        {
            var made = create();
            var on = made.Device;
            if (on == this)
                return made;
            made.Dispose();
            throw new ArgumentException($"Constant {key}: made on device {on.Name}, asked of {Name}.");
        });
    }

    /// <summary>Constants kept by <see cref="Constant"/>.</summary>
    internal int ConstantCount => _constants.Count;

    /// <summary>Frees the constants kept by <see cref="Constant"/>; a closing device calls it.</summary>
    private protected void FreeConstants() => _constants.Clear();

    /// <summary>Allocates storage for <paramref name="length"/> elements from the pool; contents are
    /// unspecified.</summary>
    internal Storage Allocate(DType dtype, int length)
    {
        if (!Supports(dtype))
            throw new NotSupportedException($"Device {Name} does not support dtype {dtype}.");
        var storage = AllocateCore(dtype, length);
        Interlocked.Add(ref _liveBytes, storage.Bytes);
        return storage;
    }

    internal void Free(Storage storage)
    {
        Interlocked.Add(ref _liveBytes, -storage.Bytes);
        storage.ReturnToPool();
    }

    /// <summary>Takes a pooled buffer and wraps it in a storage.</summary>
    private protected abstract Storage AllocateCore(DType dtype, int length);

    /// <summary>
    /// Opens a device by name: <c>cpu</c>, <c>cuda</c> (or <c>cuda:N</c>), <c>opencl</c>
    /// (or <c>opencl:N</c>), <c>ilgpu-cpu</c>. Throws <see cref="NotSupportedException"/>
    /// listing what exists when the requested device is absent.
    /// </summary>
    public static Device Open(string name) =>
        name.Trim().ToLowerInvariant() switch
        {
            "cpu" => Cpu,
            "ilgpu-cpu" => IlgpuDevice.OpenCpuSimulator(),
            var n when n == "cuda" || n.StartsWith("cuda:") => IlgpuDevice.Open(DeviceKind.Cuda, IndexOf(n)),
            var n when n == "opencl" || n.StartsWith("opencl:") => IlgpuDevice.Open(DeviceKind.OpenCL, IndexOf(n)),
            _ => throw new ArgumentException($"Unknown device '{name}'. Use cpu, cuda[:N], opencl[:N] or ilgpu-cpu."),
        };

    private static int IndexOf(string name)
    {
        int colon = name.IndexOf(':');
        if (colon < 0)
            return 0;
        return int.TryParse(name.AsSpan(colon + 1), out var i) && i >= 0
            ? i
            : throw new ArgumentException($"Bad device index in '{name}'.");
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>Releases the device's pool and native resources (no-op for the CPU device).</summary>
    public abstract void Dispose();
}
