namespace Modula.Tensors;

/// <summary>
/// Validation that runs before any kernel launch: accelerators terminate the process on a
/// bad launch or a disposed buffer, so every op checks liveness, dtype and device here and
/// throws a .NET exception naming the op and the shapes or devices involved.
/// </summary>
internal static class Check
{
    public static void Alive(string op, Tensor t)
    {
        if (t is null)
            throw new ArgumentNullException(nameof(t), $"{op}: a tensor argument is null.");
        t.CheckAlive(op);
    }

    public static void Alive(string op, Tensor a, Tensor b)
    {
        Alive(op, a);
        Alive(op, b);
    }

    public static void Float(string op, Tensor t)
    {
        Alive(op, t);
        if (!t.DType.IsFloat())
            throw new ArgumentException($"{op}: needs a floating-point tensor, got {t.DType} tensor {t.Shape}.");
    }

    public static void Int(string op, Tensor t, string role)
    {
        Alive(op, t);
        if (t.DType != DType.Int32)
            throw new ArgumentException($"{op}: {role} must be an Int32 tensor, got {t.DType} tensor {t.Shape}.");
    }

    /// <summary>Both alive, same device and same dtype.</summary>
    public static void Compatible(string op, Tensor a, Tensor b)
    {
        SameDevice(op, a, b);
        if (a.DType != b.DType)
            throw new ArgumentException($"{op}: dtypes differ ({a.Shape} is {a.DType}, {b.Shape} is {b.DType}).");
    }

    public static void SameDevice(string op, Tensor a, Tensor b)
    {
        Alive(op, a, b);
        if (a.Device != b.Device)
            throw new ArgumentException(
                $"{op}: tensors are on different devices ({a.Shape} on {a.Device.Name}, {b.Shape} on {b.Device.Name}); "
                    + $"copy one with To(device) first."
            );
    }

    public static void Supported(string op, Tensor t)
    {
        if (!t.Device.Supports(t.DType))
            throw new NotSupportedException($"{op}: device {t.Device.Name} does not support {t.DType}.");
    }

    /// <summary>
    /// An output written in place must not be a broadcast view (a zero stride over an axis longer than one), whose
    /// elements share storage slots, so that parallel writes would race. The other views (slices, permutations,
    /// reshapes of contiguous tensors) never overlap, gaps between their rows or columns included.
    /// </summary>
    public static void NotBroadcast(string op, Tensor output)
    {
        if (output.Size <= 1)
            return; // nothing to share: an empty view, or one element, may carry any strides
        for (int i = 0; i < output.Rank; i++)
            if (output.Shape[i] > 1 && output.Strides[i] == 0)
                throw new ArgumentException(
                    $"{op}: output {output.Shape} with strides {Shape.Format(output.Strides.ToArray())} is a "
                        + "broadcast view: its elements overlap, so writing to it would race."
                );
    }

    /// <summary>An output tensor supplied by the caller must be alive, contiguous and of the expected shape, dtype and
    /// device.</summary>
    public static void Output(
        string op,
        Tensor output,
        Shape shape,
        DType dtype,
        Device device,
        bool requireContiguous = true
    )
    {
        if (output is null)
            throw new ArgumentNullException(nameof(output), $"{op}: the output tensor is null.");
        output.CheckAlive(op);
        if (output.Shape != shape)
            throw new ArgumentException($"{op}: output has shape {output.Shape}, expected {shape}.");
        if (output.DType != dtype || output.Device != device)
            throw new ArgumentException(
                $"{op}: output is {output.DType} on {output.Device.Name}, expected {dtype} on {device.Name}."
            );
        if (requireContiguous && !output.IsContiguous)
            throw new ArgumentException($"{op}: output {output.Shape} must be contiguous.");
    }
}
