using System.Numerics;

namespace Modula.Tensors.Primitives;

/// <summary>
/// An elementwise function y = f(x). The scalar <see cref="Apply(float)"/> is what
/// accelerator kernels run (ILGPU compiles it); the span form is the CPU's SIMD path.
/// </summary>
public interface IUnaryOp
{
    /// <summary>f(x) for one float32 element (accelerator kernels).</summary>
    float Apply(float x);

    /// <summary>y[i] = f(x[i]) over contiguous spans (CPU). <paramref name="x"/> and <paramref name="y"/> may
    /// alias.</summary>
    void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>
/// An elementwise function y = f(a, b). The scalar form runs in accelerator kernels; the lane
/// form runs in the CPU's single broadcasting driver loop over <see cref="Vector{T}"/>, whose
/// width the runtime sets from the hardware (128-bit on ARM64 and SSE, 256-bit with AVX2 and on
/// AVX-512 machines too, where these memory-bound passes gain nothing from wider vectors), so the
/// same code is native on every CPU.
/// </summary>
public interface IBinaryOp
{
    /// <summary>f(a, b) for one float32 element pair (accelerator kernels).</summary>
    float Apply(float a, float b);

    /// <summary>f applied lane by lane (CPU).</summary>
    Vector<T> Apply<T>(Vector<T> a, Vector<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>An associative, commutative reduction (sum, max) with an identity.</summary>
public interface IReduceOp
{
    /// <summary>The identity as float32 (accelerator kernels).</summary>
    float Identity { get; }

    /// <summary>Combines two float32 partial results (accelerator kernels).</summary>
    float Combine(float a, float b);

    /// <summary>Reduces a contiguous row; returns the identity for an empty row (CPU).</summary>
    T Reduce<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>acc[i] = combine(acc[i], row[i]) (CPU; used when reducing a non-trailing axis).</summary>
    void Accumulate<T>(ReadOnlySpan<T> row, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>The identity in T (CPU).</summary>
    T IdentityOf<T>()
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>A lane-wise function used by unary ops that have no <c>TensorPrimitives</c> counterpart.</summary>
internal interface ILaneMap
{
    Vector<T> Map<T>(Vector<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>;
}
