using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
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
    /// The float at <paramref name="source"/> as the multiplier of <see cref="MultiplyAddScalar"/>: in every lane,
    /// read by one broadcasting load, where the CPU has one, or in lane 0 alone on ARM64, whose multiply-add takes
    /// its multiplier from one lane of a register. A register tile reads one A value per row and depth; filled by a
    /// load and then a shuffle (x86 without AVX) or a lane copy (ARM64's <c>dup</c>), the second instruction
    /// takes an issue port or pipe that the tile's multiplies and adds need.
    /// </summary>
    static abstract TVector ScalarFrom(float* source);

    /// <summary><paramref name="vector"/> times the multiplier <paramref name="scalar"/> (from <see
    /// cref="ScalarFrom"/>) plus <paramref name="addend"/>, fused where <see cref="MultiplyAdd"/> is.</summary>
    static abstract TVector MultiplyAddScalar(TVector vector, TVector scalar, TVector addend);

    /// <summary><paramref name="vector"/> times the vector at <paramref name="spread"/> (one value in every lane, on a
    /// 16-byte boundary: a spread panel's) plus <paramref name="addend"/>, with the load read by the multiply itself
    /// where the CPU allows it.</summary>
    static abstract TVector MultiplyAddSpread(TVector vector, float* spread, TVector addend);

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

    /// <remarks>
    /// ARM64: <c>ldr s</c>, a load alone, for <c>fmla</c> by element; from <c>Vector128.Create(*source)</c> the JIT
    /// emits <c>ldr s</c> and <c>dup</c>, six <c>dup</c>s per depth of the 6 × 8 tile on the vector pipes beside
    /// its twelve <c>fmla</c>s. x86: AVX's <c>vbroadcastss xmm, m32</c> where the CPU has AVX; from
    /// <c>Vector128.Create(*source)</c> the JIT emits it only with AVX2, and otherwise a load and a shuffle
    /// (<c>vmovss</c>, <c>vpermilps</c>), six shuffles per depth on ports that the tile's twelve multiplies and
    /// twelve adds need when there is no FMA.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ScalarFrom(float* source) =>
        AdvSimd.Arm64.IsSupported ? Vector128.CreateScalarUnsafe(*source)
        : Avx.IsSupported ? Avx.BroadcastScalarToVector128(source)
        : Vector128.Create(*source);

    /// <remarks>ARM64: <c>fmla</c> by element, the multiplier in lane 0.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAddScalar(
        Vector128<float> vector,
        Vector128<float> scalar,
        Vector128<float> addend
    ) =>
        AdvSimd.Arm64.IsSupported
            ? AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar(addend, vector, scalar, 0)
            : MultiplyAdd(scalar, vector, addend);

    /// <remarks>
    /// SSE without AVX: <c>movaps</c> copies the vector and <c>mulps</c> multiplies it by the spread value in memory,
    /// which legacy SSE can read only from an aligned load. From an unaligned one the JIT loaded the value into a
    /// register, copied it and multiplied there: the same count of instructions, yet on Zen 4 (family 25, model 17)
    /// the 6 × 8 tile over a spread A ran a 144 × 128 block of depth 1024 in 0.65 of the time the plain tile takes,
    /// against 0.86 so (one thread, alternating in one process). The same bits: the product commutes.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAddSpread(Vector128<float> vector, float* spread, Vector128<float> addend) =>
        Sse.IsSupported && !Avx.IsSupported
            ? Sse.Add(addend, Sse.Multiply(vector, Sse.LoadAlignedVector128(spread)))
            : MultiplyAdd(Load(spread), vector, addend);

    /// <remarks>
    /// Without FMA, a multiply and then an add with the addend first. SSE's two-operand <c>addps</c> writes its first
    /// operand: from <c>MultiplyAddEstimate</c> (product first) the JIT added into the product's register and copied
    /// the sum back to the accumulator in three of every four depths of the 6 × 8 tile, twelve moves a depth; written
    /// so, it adds into the accumulator. 1024³ on SSE4.2 alone ran 5–10 % faster (Zen 5, two threads: "Zen 5" in
    /// docs/benchmarks.md). AVX's three-operand forms take either order alike. The same bits: addition commutes.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
        Fma.IsSupported || AdvSimd.IsSupported ? Vector128.MultiplyAddEstimate(a, b, c) : c + a * b;

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
    public static Vector256<float> ScalarFrom(float* source) => Vector256.Create(*source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAddScalar(
        Vector256<float> vector,
        Vector256<float> scalar,
        Vector256<float> addend
    ) => MultiplyAdd(scalar, vector, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAddSpread(Vector256<float> vector, float* spread, Vector256<float> addend) =>
        MultiplyAdd(Load(spread), vector, addend);

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
    public static Vector512<float> ScalarFrom(float* source) => Vector512.Create(*source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAddScalar(
        Vector512<float> vector,
        Vector512<float> scalar,
        Vector512<float> addend
    ) => MultiplyAdd(scalar, vector, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAddSpread(Vector512<float> vector, float* spread, Vector512<float> addend) =>
        MultiplyAdd(Load(spread), vector, addend);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Vector512.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
}
