using Modula.Tensors.Backends;
using Modula.Tensors.Primitives;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>Applies an elementwise function: y[i] = op(x[i]). Strided inputs are made contiguous first.</summary>
    /// <param name="x">Input (float).</param>
    /// <param name="op">The function.</param>
    /// <param name="into">Optional contiguous output of x's shape (may be x itself; an input that overlaps it any other
    /// way is read from a copy).</param>
    public static Tensor Map<TOp>(Tensor x, TOp op, Tensor? into = null)
        where TOp : struct, IUnaryOp
    {
        string name = typeof(TOp).Name;
        Check.Float(name, x);
        Check.Supported(name, x);
        var y = into ?? Tensor.Empty(x.Shape, x.DType, x.Device);
        if (into is not null)
            Check.Output(name, into, x.Shape, x.DType, x.Device);
        if (x.Size == 0)
            return y;
        using var dense = x.IsContiguous ? null : Contiguous(x);
        using var separate = Aliasing.CopyIfOverwritten(dense ?? x, y, elementwise: true);
        using (x.Device.Time<TOp>(nameof(IBackend.Unary)))
            x.Device.Backend.Unary(separate ?? dense ?? x, y, op);
        return y;
    }

    /// <summary>Applies an elementwise function of two tensors with NumPy broadcasting: y = op(a, b).</summary>
    /// <param name="a">Left operand.</param>
    /// <param name="b">Right operand.</param>
    /// <param name="op">The function.</param>
    /// <param name="into">Optional contiguous output of the broadcast shape (may be a or b itself; an input that
    /// overlaps it any other way, a broadcast row of it say, is read from a copy).</param>
    public static Tensor Zip<TOp>(Tensor a, Tensor b, TOp op, Tensor? into = null)
        where TOp : struct, IBinaryOp
    {
        string name = typeof(TOp).Name;
        Check.Compatible(name, a, b);
        Check.Float(name, a);
        Check.Supported(name, a);
        var shape = Shape.Broadcast(a.Shape, b.Shape, name);
        var y = into ?? Tensor.Empty(shape, a.DType, a.Device);
        if (into is not null)
            Check.Output(name, into, shape, a.DType, a.Device);
        if (y.Size == 0)
            return y;
        // Copied before broadcasting, so that a row read from the output costs a row, not the whole output.
        using var sa = Aliasing.CopyIfOverwritten(a, y, elementwise: true);
        using var sb = Aliasing.CopyIfOverwritten(b, y, elementwise: true);
        var (ra, rb) = (sa ?? a, sb ?? b);
        using var ea = ra.Shape == shape ? null : ra.Expand(shape);
        using var eb = rb.Shape == shape ? null : rb.Expand(shape);
        using (a.Device.Time<TOp>(nameof(IBackend.Binary)))
            a.Device.Backend.Binary(ea ?? ra, eb ?? rb, y, op);
        return y;
    }

    /// <summary>Elementwise choice with broadcasting: y = condition ≠ 0 ? a : b.</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b)
    {
        Check.Compatible(nameof(Where), a, b);
        Check.Compatible(nameof(Where), condition, a);
        Check.Float(nameof(Where), a);
        var shape = Shape.Broadcast(Shape.Broadcast(condition.Shape, a.Shape, nameof(Where)), b.Shape, nameof(Where));
        var y = Tensor.Empty(shape, a.DType, a.Device);
        if (y.Size == 0)
            return y;
        using var ec = condition.Expand(shape);
        using var ea = a.Expand(shape);
        using var eb = b.Expand(shape);
        using (a.Device.Time(nameof(IBackend.Where)))
            a.Device.Backend.Where(ec, ea, eb, y);
        return y;
    }

    /// <summary>y = −x.</summary>
    public static Tensor Neg(Tensor x) => Map(x, new Neg());

    /// <summary>y = |x|.</summary>
    public static Tensor Abs(Tensor x) => Map(x, new Abs());

    /// <summary>y = eˣ.</summary>
    public static Tensor Exp(Tensor x) => Map(x, new Exp());

    /// <summary>y = ln x.</summary>
    public static Tensor Log(Tensor x) => Map(x, new Log());

    /// <summary>y = √x.</summary>
    public static Tensor Sqrt(Tensor x) => Map(x, new Sqrt());

    /// <summary>y = 1/√x.</summary>
    public static Tensor Rsqrt(Tensor x) => Map(x, new Rsqrt());

    /// <summary>y = 1/x.</summary>
    public static Tensor Reciprocal(Tensor x) => Map(x, new Reciprocal());

    /// <summary>y = tanh x.</summary>
    public static Tensor Tanh(Tensor x) => Map(x, new Tanh());

    /// <summary>y = sin x.</summary>
    public static Tensor Sin(Tensor x) => Map(x, new Sin());

    /// <summary>y = cos x.</summary>
    public static Tensor Cos(Tensor x) => Map(x, new Cos());

    /// <summary>y = erf x.</summary>
    public static Tensor Erf(Tensor x) => Map(x, new Erf());

    /// <summary>y = sign x ∈ {−1, 0, 1}.</summary>
    public static Tensor Sign(Tensor x) => Map(x, new Sign());

    /// <summary>y = x &gt; 0 ? 1 : 0.</summary>
    public static Tensor Step(Tensor x) => Map(x, new Step());

    /// <summary>y = xᵖ for a scalar p.</summary>
    public static Tensor Pow(Tensor x, double exponent) => Map(x, new PowScalar(exponent));

    /// <summary>y = x·s.</summary>
    public static Tensor Mul(Tensor x, double scale) => Map(x, new Affine(scale, 0));

    /// <summary>y = x + s.</summary>
    public static Tensor Add(Tensor x, double shift) => Map(x, new Affine(1, shift));

    /// <summary>y = a + b (broadcasting).</summary>
    public static Tensor Add(Tensor a, Tensor b) => Zip(a, b, new Add());

    /// <summary>y = a − b (broadcasting).</summary>
    public static Tensor Sub(Tensor a, Tensor b) => Zip(a, b, new Sub());

    /// <summary>y = a·b (broadcasting).</summary>
    public static Tensor Mul(Tensor a, Tensor b) => Zip(a, b, new Mul());

    /// <summary>y = a/b (broadcasting).</summary>
    public static Tensor Div(Tensor a, Tensor b) => Zip(a, b, new Div());

    /// <summary>y = max(a, b) (broadcasting).</summary>
    public static Tensor Maximum(Tensor a, Tensor b) => Zip(a, b, new Max());

    /// <summary>y = min(a, b) (broadcasting).</summary>
    public static Tensor Minimum(Tensor a, Tensor b) => Zip(a, b, new Min());

    /// <summary>y = a &gt; b ? 1 : 0 (broadcasting).</summary>
    public static Tensor Greater(Tensor a, Tensor b) => Zip(a, b, new Greater());

    /// <summary>y = a &lt; b ? 1 : 0 (broadcasting).</summary>
    public static Tensor Less(Tensor a, Tensor b) => Zip(a, b, new Less());

    /// <summary>y = a ≥ b ? 1 : 0 (broadcasting).</summary>
    public static Tensor GreaterOrEqual(Tensor a, Tensor b) => Zip(a, b, new GreaterOrEqual());

    /// <summary>y = a == b ? 1 : 0 (broadcasting).</summary>
    public static Tensor Equal(Tensor a, Tensor b) => Zip(a, b, new Equal());
}
