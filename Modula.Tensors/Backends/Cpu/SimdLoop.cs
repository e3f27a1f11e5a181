using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>
/// The CPU's lane loops: one driver per arity serves every op struct. Operands have an
/// element stride of 1 (a vector), 0 (a broadcast scalar) or anything else (gathered).
/// Tails run through the same vector op on a padded stack buffer, so each op states its
/// CPU math once. Lanes are <see cref="Vector{T}"/>: as wide as the CPU runs natively, never an
/// emulated width.
/// </summary>
internal static class SimdLoop
{
    /// <summary>y[i] = map(x[i]) for contiguous spans.</summary>
    public static void Map<T, TMap>(ReadOnlySpan<T> x, Span<T> y, TMap map)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TMap : struct, ILaneMap
    {
        int lanes = Vector<T>.Count,
            n = x.Length,
            i = 0;
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        for (; i + lanes <= n; i += lanes)
            map.Map(Vector.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
        if (i < n)
        {
            var tail = Load(ref Unsafe.Add(ref xr, i), 1, n - i);
            Store(map.Map(tail), ref Unsafe.Add(ref yr, i), n - i);
        }
    }

    /// <summary>y[i] = op(a[i·sa], b[i·sb]) for i &lt; n, y contiguous.</summary>
    public static void Binary<T, TOp>(ref T a, int sa, ref T b, int sb, ref T y, int n, TOp op)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : struct, IBinaryOp
    {
        int lanes = Vector<T>.Count,
            i = 0;
        // The exact GELU's gradient is bound by arithmetic, not memory: native 512-bit lanes where
        // the CPU has them (see WideGelu).
        if (
            typeof(TOp) == typeof(GeluErfGrad)
            && typeof(T) == typeof(float)
            && WideGelu.IsSupported
            && sa == 1
            && sb == 1
        )
            i = WideGelu.Backward(
                ref Unsafe.As<T, float>(ref a),
                ref Unsafe.As<T, float>(ref b),
                ref Unsafe.As<T, float>(ref y),
                n
            );
        if (sa == 1 && sb == 1)
            for (; i + lanes <= n; i += lanes)
                op.Apply(Vector.LoadUnsafe(ref a, (nuint)i), Vector.LoadUnsafe(ref b, (nuint)i))
                    .StoreUnsafe(ref y, (nuint)i);
        else if (sa == 0 && sb == 1)
        {
            var va = Vector.Create(a);
            for (; i + lanes <= n; i += lanes)
                op.Apply(va, Vector.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref y, (nuint)i);
        }
        else if (sa == 1 && sb == 0)
        {
            var vb = Vector.Create(b);
            for (; i + lanes <= n; i += lanes)
                op.Apply(Vector.LoadUnsafe(ref a, (nuint)i), vb).StoreUnsafe(ref y, (nuint)i);
        }
        for (; i < n; i += lanes)
        {
            int count = Math.Min(lanes, n - i);
            var va = Load(ref Unsafe.Add(ref a, (nint)i * sa), sa, count);
            var vb = Load(ref Unsafe.Add(ref b, (nint)i * sb), sb, count);
            Store(op.Apply(va, vb), ref Unsafe.Add(ref y, i), count);
        }
    }

    /// <summary>y[i] = c[i·sc] != 0 ? a[i·sa] : b[i·sb] for i &lt; n, y contiguous.</summary>
    public static void Where<T>(ref T c, int sc, ref T a, int sa, ref T b, int sb, ref T y, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector<T>.Count;
        for (int i = 0; i < n; i += lanes)
        {
            int count = Math.Min(lanes, n - i);
            var vc = Load(ref Unsafe.Add(ref c, (nint)i * sc), sc, count);
            var va = Load(ref Unsafe.Add(ref a, (nint)i * sa), sa, count);
            var vb = Load(ref Unsafe.Add(ref b, (nint)i * sb), sb, count);
            Store(
                Vector.ConditionalSelect(~Vector.Equals(vc, Vector<T>.Zero), va, vb),
                ref Unsafe.Add(ref y, i),
                count
            );
        }
    }

    /// <summary>Loads up to one vector of elements at a stride; missing lanes are zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<T> Load<T>(ref T source, int stride, int count)
        where T : unmanaged
    {
        if (stride == 1 && count == Vector<T>.Count)
            return Vector.LoadUnsafe(ref source);
        if (stride == 0)
            return Vector.Create(source);
        Span<T> buffer = stackalloc T[Vector<T>.Count];
        buffer.Clear();
        for (int k = 0; k < count; k++)
            buffer[k] = Unsafe.Add(ref source, (nint)k * stride);
        return Vector.LoadUnsafe(ref MemoryMarshal.GetReference(buffer));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(Vector<T> value, ref T destination, int count)
        where T : unmanaged
    {
        if (count == Vector<T>.Count)
        {
            value.StoreUnsafe(ref destination);
            return;
        }
        Span<T> buffer = stackalloc T[Vector<T>.Count];
        value.StoreUnsafe(ref MemoryMarshal.GetReference(buffer));
        buffer[..count].CopyTo(MemoryMarshal.CreateSpan(ref destination, count));
    }
}
