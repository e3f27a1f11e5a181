using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The few float vector operations a register tile needs, for one fixed-width vector type
/// <typeparamref name="TVector"/>. Code generic over this interface is specialized by the JIT for
/// each width (the vector stays in registers), so one tile body serves the 128- and 256-bit
/// widths. (.NET's own width-generic vector interface is not public.)
/// </summary>
internal unsafe interface IVectorOps<TVector>
    where TVector : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Lanes { get; }

    static abstract TVector Load(float* source);
    static abstract void Store(TVector value, float* destination);
    static abstract TVector Broadcast(float value);

    /// <summary>
    /// The float at <paramref name="source"/> in every lane, read by one broadcasting load where the CPU has one. A
    /// register tile broadcasts an A value per row and depth: as a load and a shuffle, the shuffle takes an issue port
    /// the tile's multiplies and adds need.
    /// </summary>
    static abstract TVector BroadcastFrom(float* source);

    /// <summary>a·b + c, fused where the CPU has FMA (never a software-emulated fused add).</summary>
    static abstract TVector MultiplyAdd(TVector a, TVector b, TVector c);

    static abstract TVector Add(TVector a, TVector b);
    static abstract TVector Multiply(TVector a, TVector b);
}

/// <summary>128-bit float vectors: SSE on x86, AdvSimd on ARM64.</summary>
internal readonly unsafe struct Ops128 : IVectorOps<Vector128<float>>
{
    public static int Lanes => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(float* source) => Vector128.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, float* destination) => Vector128.Store(value, destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(float value) => Vector128.Create(value);

    /// <remarks>AVX's <c>vbroadcastss xmm, m32</c> where the CPU has AVX: from <c>Vector128.Create(*source)</c>
    /// the JIT emits it only with AVX2, and otherwise loads and shuffles (<c>vmovss</c>, <c>vpermilps</c>). On
    /// Intel's Golden Cove cores the shuffle runs on port 5, one of the two ports that add: in the 6 × 8 tile without
    /// FMA the six shuffles per depth joined the twelve multiplies and twelve adds on three ports.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> BroadcastFrom(float* source) =>
        Avx.IsSupported ? Avx.BroadcastScalarToVector128(source) : Vector128.Create(*source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
        Vector128.MultiplyAddEstimate(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;
}

/// <summary>256-bit float vectors: AVX2 (with FMA on every AVX2 CPU in practice).</summary>
internal readonly unsafe struct Ops256 : IVectorOps<Vector256<float>>
{
    public static int Lanes => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* source) => Vector256.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, float* destination) => Vector256.Store(value, destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    /// <remarks>The JIT emits <c>vbroadcastss ymm, m32</c> for this.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BroadcastFrom(float* source) => Vector256.Create(*source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Vector256.MultiplyAddEstimate(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
}

/// <summary>512-bit float vectors: AVX-512F (which always has fused multiply-add).</summary>
internal readonly unsafe struct Ops512 : IVectorOps<Vector512<float>>
{
    public static int Lanes => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* source) => Vector512.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, float* destination) => Vector512.Store(value, destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BroadcastFrom(float* source) => Vector512.Create(*source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Vector512.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
}
