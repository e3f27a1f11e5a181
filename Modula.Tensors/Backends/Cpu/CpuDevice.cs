using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>The managed-SIMD CPU device: pooled managed arrays, multi-core SIMD kernels.</summary>
public sealed class CpuDevice : Device
{
    private readonly BufferPool<Array>[] _pools;

    internal static readonly CpuDevice Instance = new();

    private CpuDevice()
    {
        _pools =
        [
            new BufferPool<Array>(Allocate<float>, null, MostElements<float>()),
            new BufferPool<Array>(Allocate<double>, null, MostElements<double>()),
            new BufferPool<Array>(Allocate<int>, null, MostElements<int>()),
        ];
        CoreBackend = new CpuBackend();
    }

    /// <summary>
    /// Where every storage's first element lies: on a 64-byte boundary, a cache line and a 512-bit vector, and so
    /// does each row of a contiguous tensor whose rows are a multiple of 16 floats (a view from another offset, or
    /// rows of other lengths, start where they fall). A GEMM whose B is read in place loads two vectors per depth, and
    /// off a boundary each of them spans two lines: a 120 × 128 × 128 product ran 8 % faster with B aligned (Intel
    /// Xeon, family 6, model 207). A .NET array starts wherever the allocator puts it (8-byte aligned on 64-bit
    /// runtimes), so each array is made a line longer than asked and pinned, so that it never moves, and the storage's
    /// elements start at its first aligned one (<see cref="CpuStorage.Start"/>). Pinned arrays live on the pinned
    /// object heap, which is not compacted and is collected with generation 2: the pool reuses them, and a tensor
    /// dropped without Dispose waits for a full collection.
    /// </summary>
    internal const int AlignmentBytes = 64;

    // The slack an array of T carries for its aligned start, in elements.
    private static int Slack<T>()
        where T : unmanaged => AlignmentBytes / Unsafe.SizeOf<T>();

    // A tensor may hold up to int.MaxValue elements (Shape), a .NET array 56 fewer (Array.MaxLength), less the slack.
    private static long MostElements<T>()
        where T : unmanaged => Array.MaxLength - Slack<T>();

    private static T[] Allocate<T>(long elements)
        where T : unmanaged =>
        elements <= MostElements<T>()
            ? AlignedArray<T>((int)elements)
            : throw new OutOfMemoryException(
                FormattableString.Invariant($"CPU: a tensor of {elements:N0} elements is more than one array ")
                    + FormattableString.Invariant($"holds ({MostElements<T>():N0}).")
            );

    /// <summary>A pinned array that holds <paramref name="elements"/> from its <see cref="AlignedStart"/> on: one
    /// line longer. Tensors' storage and the GEMM's own buffers are made so.</summary>
    internal static T[] AlignedArray<T>(int elements)
        where T : unmanaged => GC.AllocateUninitializedArray<T>(elements + Slack<T>(), pinned: true);

    /// <summary>Index of the first element of a pinned array on an <see cref="AlignmentBytes"/> boundary. Array data
    /// is 8-byte aligned on the 64-bit runtimes the project targets, so a whole number of elements of any dtype
    /// reaches it.</summary>
    internal static unsafe int AlignedStart(Array array, int elementBytes)
    {
        long address = (long)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        int past = (int)(address % AlignmentBytes);
        return past == 0 ? 0 : (AlignmentBytes - past) / elementBytes;
    }

    private static int _threads = Environment.ProcessorCount;

    /// <summary>The open <see cref="UseThreads"/> scopes, oldest first (also the lock for them).</summary>
    private static readonly List<ThreadsScope> s_scopes = [];

    /// <summary>
    /// Worker threads that parallel kernels split work across: the processor count, or the count
    /// of the most recently opened <see cref="UseThreads"/> scope still open. One worker pool serves the process, so
    /// this is a process-wide setting; it changes only through a scope.
    /// </summary>
    public static int Threads => _threads;

    /// <summary>
    /// Runs parallel CPU kernels on <paramref name="threads"/> threads until the returned scope is
    /// disposed (<c>using var _ = CpuDevice.UseThreads(1);</c>); the count is then the newest scope's still open, or
    /// the processor count. Scopes may close in any order and on any thread: each one closing takes itself out, so
    /// two threads' overlapping scopes leave the count as it was once both close (each restoring the count it had
    /// found left the first one's in force for good). The count is the process's: a scope on one thread sets it for
    /// kernels started on every thread.
    /// </summary>
    public static IDisposable UseThreads(int threads)
    {
        if (threads < 1)
            throw new ArgumentOutOfRangeException(
                nameof(threads),
                threads,
                "CpuDevice.UseThreads: needs at least 1 thread."
            );
        var scope = new ThreadsScope(threads);
        lock (s_scopes)
        {
            s_scopes.Add(scope);
            _threads = threads;
        }
        return scope;
    }

    private sealed class ThreadsScope(int threads) : IDisposable
    {
        public int Threads => threads;

        public void Dispose()
        {
            lock (s_scopes)
                if (s_scopes.Remove(this))
                    _threads = s_scopes.Count > 0 ? s_scopes[^1].Threads : Environment.ProcessorCount;
        }
    }

    /// <summary>
    /// The instruction set the CPU kernels run with on this machine, as benchmarks print it: the
    /// widest vector extension the runtime reports (<c>avx512</c>, <c>avx2</c>, <c>avx</c>,
    /// <c>sse4.2</c>, <c>advsimd</c>, or <c>scalar</c>), the GEMM tile's vector width and the
    /// elementwise lane width in bits, e.g. <c>isa=avx2+fma gemm_bits=256 lane_bits=256</c>. The
    /// runtime's knobs (<c>DOTNET_EnableAVX512=0</c>, <c>DOTNET_EnableAVX2=0</c>,
    /// <c>DOTNET_EnableAVX=0</c>) narrow what it reports. AVX without AVX2 runs the 128-bit tile,
    /// as SSE does, but broadcasts from memory and encodes every instruction with three operands.
    /// </summary>
    public static string InstructionSet
    {
        get
        {
            string isa =
                System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "avx512"
                : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "avx2"
                : System.Runtime.Intrinsics.X86.Avx.IsSupported ? "avx"
                : System.Runtime.Intrinsics.X86.Sse42.IsSupported ? "sse4.2"
                : System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? "advsimd"
                : "scalar";
            if (System.Runtime.Intrinsics.X86.Fma.IsSupported)
                isa += "+fma";
            int lanes = System.Numerics.Vector.IsHardwareAccelerated ? System.Numerics.Vector<byte>.Count * 8 : 0;
            return $"isa={isa} gemm_bits={Gemm.PackedGemm.Bits} lane_bits={lanes}";
        }
    }

    /// <summary>
    /// Measures this machine's multiply-add ceiling at the GEMM tile's vector width: GFLOP/s of
    /// <paramref name="threads"/> threads running independent multiply-add chains in registers for
    /// about <paramref name="milliseconds"/>. Benchmarks quote GEMM figures as a share of it. Threads past the
    /// processor count add no multiply-add units, so at most that many are run: 64 threads on 2 cores once
    /// measured 1,078 GFLOP/s (each thread's best window, summed) and 256 took 18 s.
    /// </summary>
    public static double MeasureFmaPeakGflops(int threads, int milliseconds = 400)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(milliseconds, 1);
        return Gemm.FmaPeak.Measure(Math.Min(threads, Environment.ProcessorCount), milliseconds);
    }

    /// <inheritdoc/>
    public override DeviceKind Kind => DeviceKind.Cpu;

    /// <inheritdoc/>
    public override string Name => "cpu";

    /// <inheritdoc/>
    public override long PooledBytes =>
        _pools[0].CachedUnits * 4 + _pools[1].CachedUnits * 8 + _pools[2].CachedUnits * 4;

    private protected override IBackend CoreBackend { get; }

    /// <inheritdoc/>
    public override bool Supports(DType dtype) => true;

    /// <inheritdoc/>
    public override void TrimPool()
    {
        foreach (var p in _pools)
            p.Trim();
    }

    private protected override Storage AllocateCore(DType dtype, int length)
    {
        var pool = _pools[(int)dtype];
        var array = pool.Rent(length, out long capacity);
        return new CpuStorage(this, dtype, length, array, capacity, pool);
    }

    /// <summary>The CPU device lives for the whole process.</summary>
    public override void Dispose() { }
}

/// <summary>A pooled managed array holding a CPU tensor's elements.</summary>
internal sealed class CpuStorage : Storage
{
    private readonly long _capacity;
    private readonly BufferPool<Array> _pool;

    public CpuStorage(CpuDevice device, DType dtype, int length, Array array, long capacity, BufferPool<Array> pool)
        : base(device, dtype, length)
    {
        Array = array;
        Start = CpuDevice.AlignedStart(array, dtype.SizeOf());
        _capacity = capacity;
        _pool = pool;
    }

    /// <summary>The pooled array; the tensor's elements are <see cref="Storage.Length"/> of them from <see
    /// cref="Start"/>.</summary>
    public Array Array { get; }

    /// <summary>Index of the array's first element on a <see cref="CpuDevice.AlignmentBytes"/> boundary, where the
    /// elements start (the array is pinned, so the boundary stays put).</summary>
    public int Start { get; }

    public Span<T> Span<T>()
        where T : unmanaged => ((T[])Array).AsSpan(Start, Length);

    public ref T Ref<T>()
        where T : unmanaged => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference((T[])Array), Start);

    public ref T Ref<T>(int offset)
        where T : unmanaged => ref Unsafe.Add(ref Ref<T>(), offset);

    protected internal override void ReturnToPool() => _pool.Return(Array, _capacity);
}
