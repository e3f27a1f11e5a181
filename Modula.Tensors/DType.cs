namespace Modula.Tensors;

/// <summary>Element type of a tensor.</summary>
public enum DType
{
    /// <summary>32-bit IEEE float: the training type, supported on every device.</summary>
    Float32,

    /// <summary>64-bit IEEE float: references and gradient checks, CPU only.</summary>
    Float64,

    /// <summary>32-bit signed integer: indices (embedding rows, argmax results, random bits).</summary>
    Int32,
}

/// <summary>Facts about <see cref="DType"/> values.</summary>
public static class DTypeInfo
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType dtype) =>
        dtype switch
        {
            DType.Float32 => 4,
            DType.Float64 => 8,
            DType.Int32 => 4,
            _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
        };

    /// <summary>True for the floating-point types, the only ones arithmetic accepts.</summary>
    public static bool IsFloat(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <summary>The dtype whose CLR element type is <typeparamref name="T"/>.</summary>
    public static DType Of<T>()
        where T : unmanaged =>
        typeof(T) == typeof(float) ? DType.Float32
        : typeof(T) == typeof(double) ? DType.Float64
        : typeof(T) == typeof(int) ? DType.Int32
        : throw new NotSupportedException($"No tensor dtype for CLR type {typeof(T).Name}; use float, double or int.");

    /// <summary>The CLR element type of a dtype.</summary>
    public static Type ClrType(this DType dtype) =>
        dtype switch
        {
            DType.Float32 => typeof(float),
            DType.Float64 => typeof(double),
            DType.Int32 => typeof(int),
            _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
        };
}
