namespace Modula.Tests.Differential;

/// <summary>An input that the engine's documented semantics do not accept (the program is invalid, not the
/// engine).</summary>
internal sealed class RefInvalidException(string message) : Exception(message);

/// <summary>
/// The float64 reference of a tensor: a shape and its elements in row-major order, nothing else.
/// Views here are copies defined by index maps (NumPy's definitions), so the reference has no
/// strides that could be wrong; the engine's strided views are compared against it.
/// </summary>
internal sealed class RefTensor
{
    public RefTensor(int[] shape, double[] data)
    {
        if (shape.Any(d => d < 0))
            throw new RefInvalidException($"negative dimension in {Fmt(shape)}");
        if (data.Length != Count(shape))
            throw new ArgumentException($"{data.Length} values for shape {Fmt(shape)}");
        Shape = shape;
        Data = data;
    }

    public int[] Shape { get; }

    public double[] Data { get; }

    public int Rank => Shape.Length;

    public int Size => Data.Length;

    /// <summary>The element at a full index.</summary>
    public double this[int[] index] => Data[Flat(Shape, index)];

    /// <summary>Builds a tensor by evaluating <paramref name="f"/> at every index in row-major order.</summary>
    public static RefTensor Build(int[] shape, Func<int[], double> f)
    {
        var data = new double[Count(shape)];
        int i = 0;
        foreach (var index in Indices(shape))
            data[i++] = f(index);
        return new RefTensor(shape, data);
    }

    /// <summary>Every index of <paramref name="shape"/> in row-major order (the array is reused: copy it to keep
    /// it).</summary>
    public static IEnumerable<int[]> Indices(int[] shape)
    {
        if (Count(shape) == 0)
            yield break;
        var index = new int[shape.Length];
        while (true)
        {
            yield return index;
            int axis = shape.Length - 1;
            while (axis >= 0 && ++index[axis] == shape[axis])
                index[axis--] = 0;
            if (axis < 0)
                yield break;
        }
    }

    /// <summary>Row-major position of <paramref name="index"/>.</summary>
    public static int Flat(int[] shape, int[] index)
    {
        int flat = 0;
        for (int i = 0; i < shape.Length; i++)
            flat = flat * shape[i] + index[i];
        return flat;
    }

    public static int Count(int[] shape) => shape.Aggregate(1, (p, d) => p * d);

    public static string Fmt(int[] shape) => "[" + string.Join(", ", shape) + "]";

    public override string ToString() =>
        $"{Fmt(Shape)} {{{string.Join(", ", Data.Take(24).Select(v => v.ToString("G6")))}{(Size > 24 ? ", …" : "")}}}";
}
