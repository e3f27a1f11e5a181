using Modula.Tensors;

namespace Modula.Autodiff;

/// <summary>
/// Differentiable ops on <see cref="Variable"/>s. Ops with a hand-written backward live in
/// <c>Rules/</c>, each forward beside its backward, sending gradients through <see cref="Upstream"/>;
/// composites in <c>Composite/</c> are built from them and have none (a test checks).
/// </summary>
public static partial class F
{
    // Unary: y = f(x), dx = g · f'(x).

    /// <summary>y = −x.</summary>
    public static Variable Neg(Variable x) => Variable.FromOp(Ops.Neg(Given(x).Value), [x], g => g.Send(x, Ops.Neg(g)));

    /// <summary>y = |x|; dy/dx = sign x (0 at 0).</summary>
    public static Variable Abs(Variable x) => Variable.FromOp(Ops.Abs(Given(x).Value), [x], g =>
        {
            using var s = Ops.Sign(x.Value);
            g.Send(x, Ops.Mul(g, s));
        });

    /// <summary>y = eˣ; dy/dx = y.</summary>
    public static Variable Exp(Variable x)
    {
        var y = Ops.Exp(Given(x).Value);
        return Variable.FromOp(y, [x], g => g.Send(x, Ops.Mul(g, y)));
    }

    /// <summary>y = ln x; dy/dx = 1/x.</summary>
    public static Variable Log(Variable x) =>
        Variable.FromOp(Ops.Log(Given(x).Value), [x], g => g.Send(x, Ops.Div(g, x.Value)));

    /// <summary>y = √x; dy/dx = 1/(2y).</summary>
    public static Variable Sqrt(Variable x)
    {
        var y = Ops.Sqrt(Given(x).Value);
        return Variable.FromOp(y, [x], g =>
        {
            using var h = Ops.Mul(g, 0.5);
            g.Send(x, Ops.Div(h, y));
        });
    }

    /// <summary>y = 1/√x; dy/dx = −y³/2.</summary>
    public static Variable Rsqrt(Variable x)
    {
        var y = Ops.Rsqrt(Given(x).Value);
        return Variable.FromOp(y, [x], g =>
        {
            using var y3 = Ops.Pow(y, 3);
            using var d = Ops.Mul(y3, -0.5);
            g.Send(x, Ops.Mul(g, d));
        });
    }

    /// <summary>y = 1/x; dy/dx = −y².</summary>
    public static Variable Reciprocal(Variable x)
    {
        var y = Ops.Reciprocal(Given(x).Value);
        return Variable.FromOp(y, [x], g =>
        {
            using var y2 = Ops.Mul(y, y);
            using var d = Ops.Neg(y2);
            g.Send(x, Ops.Mul(g, d));
        });
    }

    /// <summary>y = tanh x; dy/dx = 1 − y².</summary>
    public static Variable Tanh(Variable x)
    {
        var y = Ops.Tanh(Given(x).Value);
        return Variable.FromOp(y, [x], g =>
        {
            using var y2 = Ops.Mul(y, y);
            using var d = Ops.Map(y2, new Modula.Tensors.Primitives.Affine(-1, 1));
            g.Send(x, Ops.Mul(g, d));
        });
    }

    /// <summary>y = sin x; dy/dx = cos x.</summary>
    public static Variable Sin(Variable x) => Variable.FromOp(Ops.Sin(Given(x).Value), [x], g =>
        {
            using var d = Ops.Cos(x.Value);
            g.Send(x, Ops.Mul(g, d));
        });

    /// <summary>y = cos x; dy/dx = −sin x.</summary>
    public static Variable Cos(Variable x) => Variable.FromOp(Ops.Cos(Given(x).Value), [x], g =>
        {
            using var s = Ops.Sin(x.Value);
            using var d = Ops.Neg(s);
            g.Send(x, Ops.Mul(g, d));
        });

    /// <summary>y = erf x; dy/dx = (2/√π) e^(−x²).</summary>
    public static Variable Erf(Variable x) => Variable.FromOp(Ops.Erf(Given(x).Value), [x], g =>
        {
            using var x2 = Ops.Mul(x.Value, x.Value);
            using var nx2 = Ops.Mul(x2, -1.0);
            using var e = Ops.Exp(nx2);
            using var d = Ops.Mul(e, 2 / Math.Sqrt(Math.PI));
            g.Send(x, Ops.Mul(g, d));
        });

    /// <summary>y = xᵖ; dy/dx = p·xᵖ⁻¹.</summary>
    public static Variable Pow(Variable x, double p) => Variable.FromOp(Ops.Pow(Given(x).Value, p), [x], g =>
        {
            using var xp = Ops.Pow(x.Value, p - 1);
            using var d = Ops.Mul(xp, p);
            g.Send(x, Ops.Mul(g, d));
        });

    /// <summary>
    /// y = x·s, deferred: the multiple is computed only if its value is read, since products,
    /// sums and softmax take the factor into their own pass (see <see cref="Variable.Unscaled"/>).
    /// </summary>
    public static Variable Scale(Variable x, double s) => Variable.Scaled(Given(x), s);

    /// <summary>y = x + s.</summary>
    public static Variable AddScalar(Variable x, double s) =>
        Variable.FromOp(Ops.Add(Given(x).Value, s), [x], g => g.Pass(x));

    /// <summary>y = x &gt; 0 ? 1 : 0, a constant (zero gradient).</summary>
    public static Variable Step(Variable x) => new(Ops.Step(Given(x).Value));

    // Binary with broadcasting: each input's gradient is summed back to its shape by Accumulate.

    /// <summary>y = a + b; scalar multiples α·a₀ + β·b₀ are summed in one pass (Modula's residual blocks).</summary>
    public static Variable Add(Variable a, Variable b)
    {
        var ((a0, alpha), (b0, beta)) = (Given(a).Unscaled(), Given(b).Unscaled());
        if (alpha == 1 && beta == 1)
            return Variable.FromOp(Ops.Add(a.Value, b.Value), [a, b], g =>
            {
                g.Pass(b);
                g.Pass(a);
            });
        var y = Ops.Zip(a0.Value, b0.Value, new Modula.Tensors.Primitives.LinearCombination(alpha, beta));
        return Variable.FromOp(y, [a0, b0], g =>
        {
            g.Pass(b0, beta);
            g.Pass(a0, alpha);
        });
    }

    /// <summary>y = a − b.</summary>
    public static Variable Sub(Variable a, Variable b) =>
        Variable.FromOp(Ops.Sub(Given(a).Value, Given(b).Value), [a, b], g =>
        {
            g.Send(b, Ops.Neg(g));
            g.Pass(a);
        });

    /// <summary>y = a·b; da = g·b, db = g·a.</summary>
    public static Variable Mul(Variable a, Variable b) =>
        Variable.FromOp(Ops.Mul(Given(a).Value, Given(b).Value), [a, b], g =>
        {
            g.Send(a, Ops.Mul(g, b.Value));
            g.Send(b, Ops.Mul(g, a.Value));
        });

    /// <summary>y = a/b; da = g/b, db = −g·y/b.</summary>
    public static Variable Div(Variable a, Variable b)
    {
        var y = Ops.Div(Given(a).Value, Given(b).Value);
        return Variable.FromOp(y, [a, b], g =>
        {
            g.Send(a, Ops.Div(g, b.Value));
            using var gy = Ops.Mul(g, y);
            using var q = Ops.Div(gy, b.Value);
            g.Send(b, Ops.Neg(q));
        });
    }

    /// <summary>y = max(a, b); the gradient goes to a where a ≥ b, else to b.</summary>
    public static Variable Maximum(Variable a, Variable b) =>
        Select(Ops.GreaterOrEqual(Given(a).Value, Given(b).Value), a, b);

    /// <summary>y = min(a, b); the gradient goes to a where a ≤ b, else to b.</summary>
    public static Variable Minimum(Variable a, Variable b)
    {
        using var lt = Ops.Greater(Given(a).Value, Given(b).Value);
        return Select(Ops.Map(lt, new Modula.Tensors.Primitives.Affine(-1, 1)), a, b);
    }

    /// <summary>y = condition ≠ 0 ? a : b (condition is a constant mask).</summary>
    public static Variable Where(Tensor condition, Variable a, Variable b)
    {
        Given(a);
        Given(b);
        return Select(Ops.Contiguous(Given(condition)), a, b);
    }

    /// <summary>Shared rule of Maximum, Minimum and Where; takes ownership of <paramref name="mask"/>.</summary>
    private static Variable Select(Tensor mask, Variable a, Variable b)
    {
        var y = Ops.Where(mask, a.Value, b.Value);
        return Variable.FromOp(y, [a, b], g =>
        {
            using var zero = Ops.Zeros(Shape.Scalar, g.Value.DType, g.Value.Device);
            g.Send(a, Ops.Where(mask, g, zero));
            g.Send(b, Ops.Where(mask, zero, g));
        });
    }
}
