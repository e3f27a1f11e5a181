using Modula.Tensors.Backends;
using Modula.Tensors.Primitives;
using Modula.Tensors.Random;

namespace Modula.Tensors;

/// <summary>
/// The tensor operations. Every op validates its inputs (liveness, dtype, device, shapes)
/// before anything runs on a device, returns a new contiguous tensor unless it says it is a
/// view, and lowers onto the backend's primitive set.
/// </summary>
public static partial class Ops
{
    /// <summary>A tensor filled with <paramref name="value"/>.</summary>
    public static Tensor Full(Shape shape, double value, DType dtype = DType.Float32, Device? device = null)
    {
        RequireInt32(nameof(Full), dtype, value, "value");
        var y = Tensor.Empty(shape, dtype, device);
        if (y.Size > 0)
            using (y.Device.Time(nameof(IBackend.Fill)))
                y.Device.Backend.Fill(y, value);
        return y;
    }

    /// <summary>Sets every element of the contiguous tensor <paramref name="y"/> to <paramref name="value"/>, in
    /// place.</summary>
    public static void FillInto(Tensor y, double value)
    {
        Check.Alive(nameof(FillInto), y);
        if (!y.IsContiguous)
            throw new ArgumentException($"{nameof(FillInto)}: tensor {y.Shape} must be contiguous.", nameof(y));
        RequireInt32(nameof(FillInto), y.DType, value, "value");
        if (y.Size > 0)
            using (y.Device.Time(nameof(IBackend.Fill)))
                y.Device.Backend.Fill(y, value);
    }

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(Shape shape, DType dtype = DType.Float32, Device? device = null) =>
        Full(shape, 0, dtype, device);

    /// <summary>A tensor of ones.</summary>
    public static Tensor Ones(Shape shape, DType dtype = DType.Float32, Device? device = null) =>
        Full(shape, 1, dtype, device);

    /// <summary>Zeros with the shape, dtype and device of <paramref name="like"/>.</summary>
    public static Tensor ZerosLike(Tensor like)
    {
        Check.Alive(nameof(ZerosLike), like);
        return Zeros(like.Shape, like.DType, like.Device);
    }

    /// <summary>The vector <c>[start, start+step, …]</c> of <paramref name="count"/> elements.</summary>
    public static Tensor Arange(
        int count,
        double start = 0,
        double step = 1,
        DType dtype = DType.Float32,
        Device? device = null
    )
    {
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), $"Arange: count {count} is negative.");
        if (count > 0)
        {
            RequireInt32(nameof(Arange), dtype, start, "start");
            if (count > 1)
                RequireInt32(nameof(Arange), dtype, step, "step");
            RequireInt32(nameof(Arange), dtype, start + (count - 1) * step, "last value");
        }
        var y = Tensor.Empty(new Shape(count), dtype, device);
        if (count > 0)
            using (y.Device.Time(nameof(IBackend.Arange)))
                y.Device.Backend.Arange(y, start, step);
        return y;
    }

    // An Int32 tensor holds whole numbers in Int32's range: anything else would be rounded or overflow in the fill.
    private static void RequireInt32(string op, DType dtype, double value, string what)
    {
        if (dtype == DType.Int32 && !(value >= int.MinValue && value <= int.MaxValue && value == Math.Floor(value)))
            throw new ArgumentOutOfRangeException(
                what,
                $"{op}: {what} {value} is not a whole number in Int32's range, as an Int32 tensor needs."
            );
    }

    /// <summary>Raw 32-bit Philox words as an Int32 tensor; identical on every device for the same generator
    /// state.</summary>
    public static Tensor RandomBits(Shape shape, Generator generator, Device? device = null) =>
        Random(shape, generator, RandomKind.Bits, DType.Int32, device);

    /// <summary>Uniform samples in [0, 1).</summary>
    public static Tensor Uniform(
        Shape shape,
        Generator generator,
        DType dtype = DType.Float32,
        Device? device = null
    ) => Random(shape, generator, RandomKind.Uniform, dtype, device);

    /// <summary>Standard normal samples (Box–Muller).</summary>
    public static Tensor Normal(Shape shape, Generator generator, DType dtype = DType.Float32, Device? device = null) =>
        Random(shape, generator, RandomKind.Normal, dtype, device);

    private static Tensor Random(Shape shape, Generator generator, RandomKind kind, DType dtype, Device? device)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (kind != RandomKind.Bits && !dtype.IsFloat())
            throw new ArgumentException($"{kind}: needs a floating-point dtype, got {dtype}.");
        var y = Tensor.Empty(shape, dtype, device);
        ulong offset = generator.Take(y.Size);
        if (y.Size > 0)
            using (y.Device.Time(nameof(IBackend.Random)))
                y.Device.Backend.Random(y, kind, generator.Seed, offset);
        return y;
    }
}
