using Modula.Autodiff;
using Modula.Tensors;
using Modula.Tensors.Primitives;
using static Modula.Tests.Differential.CodeWriter;

namespace Modula.Tests.Differential;

/// <summary>An elementwise function: its float64 definition, the engine op, the autodiff op (null: not smooth) and
/// C#.</summary>
/// <param name="Exact">Exact inputs give exact float32 outputs, so a comparison may follow.</param>
/// <param name="NeedsExact">Discontinuous: only applied to exact values, where float32 and float64 agree.</param>
internal sealed record UnaryKind(
    string Name,
    Func<double, double> Ref,
    Func<Tensor, Tensor> Eng,
    Func<Variable, Variable>? Grad,
    string EngineCode,
    string GradCode,
    bool Exact = false,
    bool NeedsExact = false
)
{
    public static readonly UnaryKind[] All =
    [
        new("Neg", v => -v, Ops.Neg, F.Neg, "Ops.Neg({0})", "F.Neg({0})", Exact: true),
        new("Abs", Math.Abs, Ops.Abs, null, "Ops.Abs({0})", "", Exact: true),
        new("Exp", Math.Exp, Ops.Exp, F.Exp, "Ops.Exp({0})", "F.Exp({0})"),
        new("Tanh", Math.Tanh, Ops.Tanh, F.Tanh, "Ops.Tanh({0})", "F.Tanh({0})"),
        new("Sin", Math.Sin, Ops.Sin, F.Sin, "Ops.Sin({0})", "F.Sin({0})"),
        new("Cos", Math.Cos, Ops.Cos, F.Cos, "Ops.Cos({0})", "F.Cos({0})"),
        // Only on exact values: a float32 result just below 0 (tanh(0) is one) gives NaN where float64 gives 0.
        new("Sqrt", Math.Sqrt, Ops.Sqrt, null, "Ops.Sqrt({0})", "", NeedsExact: true),
        new("Square", v => v * v, x => Ops.Pow(x, 2), x => F.Pow(x, 2), "Ops.Pow({0}, 2)", "F.Pow({0}, 2)"),
        new(
            "Scale",
            v => v * 0.5,
            x => Ops.Mul(x, 0.5),
            x => F.Scale(x, 0.5),
            "Ops.Mul({0}, 0.5)",
            "F.Scale({0}, 0.5)",
            Exact: true
        ),
        new(
            "Shift",
            v => v - 0.25,
            x => Ops.Add(x, -0.25),
            x => F.AddScalar(x, -0.25),
            "Ops.Add({0}, -0.25)",
            "F.AddScalar({0}, -0.25)",
            Exact: true
        ),
        new(
            "Gelu",
            v => 0.5 * v * (1 + RefOps.Erf(v / Math.Sqrt(2))),
            x => Ops.Map(x, new GeluErf()),
            F.Gelu,
            "Ops.Map({0}, new GeluErf())",
            "F.Gelu({0})"
        ),
        new(
            "GeluTanh",
            v => 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))),
            x => Ops.Map(x, new GeluTanh()),
            F.GeluTanh,
            "Ops.Map({0}, new GeluTanh())",
            "F.GeluTanh({0})"
        ),
        new("Sign", v => Math.Sign(v), Ops.Sign, null, "Ops.Sign({0})", "", Exact: true, NeedsExact: true),
        new("Step", v => v > 0 ? 1 : 0, Ops.Step, null, "Ops.Step({0})", "", Exact: true, NeedsExact: true),
    ];
}

internal sealed record UnaryStep(UnaryKind Kind) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Map(x, Kind.Ref);

    public override Tensor Engine(Tensor x, Env env) => Kind.Eng(x);

    public override bool Differentiable => Kind.Grad is not null;

    public override Variable Grad(Variable x, Env env) => Kind.Grad!(x);

    public override string Code(string x, CodeWriter w) => string.Format(w.Grad ? Kind.GradCode : Kind.EngineCode, x);

    public override string ToString() => $"UnaryStep({Kind.Name})";
}

/// <summary>A broadcasting binary function, with the operand on the left or the right.</summary>
internal sealed record BinaryKind(
    string Name,
    Func<double, double, double> Ref,
    Func<Tensor, Tensor, Tensor> Eng,
    Func<Variable, Variable, Variable>? Grad,
    bool Exact = false,
    bool NeedsExact = false,
    bool PositiveRight = false
)
{
    public static readonly BinaryKind[] All =
    [
        new("Add", (a, b) => a + b, Ops.Add, F.Add, Exact: true),
        new("Sub", (a, b) => a - b, Ops.Sub, F.Sub, Exact: true),
        new("Mul", (a, b) => a * b, Ops.Mul, F.Mul),
        new("Div", (a, b) => a / b, Ops.Div, F.Div, PositiveRight: true),
        new("Maximum", Math.Max, Ops.Maximum, null, Exact: true),
        new("Minimum", Math.Min, Ops.Minimum, null, Exact: true),
        new("Greater", (a, b) => a > b ? 1 : 0, Ops.Greater, null, Exact: true, NeedsExact: true),
        new("Less", (a, b) => a < b ? 1 : 0, Ops.Less, null, Exact: true, NeedsExact: true),
        new("GreaterOrEqual", (a, b) => a >= b ? 1 : 0, Ops.GreaterOrEqual, null, Exact: true, NeedsExact: true),
        new("Equal", (a, b) => a == b ? 1 : 0, Ops.Equal, null, Exact: true, NeedsExact: true),
    ];
}

/// <summary>x op b, or b op x when <see cref="OperandFirst"/>; b broadcasts against x.</summary>
internal sealed record BinaryStep(BinaryKind Kind, Operand B, bool OperandFirst) : Step
{
    public override RefTensor Reference(RefTensor x) =>
        OperandFirst ? RefOps.Zip(B.Reference(), x, Kind.Ref) : RefOps.Zip(x, B.Reference(), Kind.Ref);

    public override Tensor Engine(Tensor x, Env env)
    {
        var b = B.Engine(env);
        return OperandFirst ? Kind.Eng(b, x) : Kind.Eng(x, b);
    }

    public override bool Differentiable => Kind.Grad is not null;

    public override Variable Grad(Variable x, Env env)
    {
        var b = B.Grad(env);
        return OperandFirst ? Kind.Grad!(b, x) : Kind.Grad!(x, b);
    }

    public override string Code(string x, CodeWriter w)
    {
        string b = B.Code(w),
            ns = w.Grad ? "F" : "Ops";
        return OperandFirst ? $"{ns}.{Kind.Name}({b}, {x})" : $"{ns}.{Kind.Name}({x}, {b})";
    }

    public override IEnumerable<Step> Simpler() => B.Simpler().Select(o => this with { B = o });

    public override IEnumerable<Operand> Operands => [B];

    public override string ToString() => $"BinaryStep({Kind.Name}, {B.BaseShape.Length}-d operand, {OperandFirst})";
}

/// <summary>where(c ≠ 0, x, b) with a constant condition c; all three broadcast.</summary>
internal sealed record WhereStep(Operand Condition, Operand B) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Where(Condition.Reference(), x, B.Reference());

    public override Tensor Engine(Tensor x, Env env) => Ops.Where(Condition.Engine(env), x, B.Engine(env));

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Where(Condition.Grad(env).Value, x, B.Grad(env));

    public override string Code(string x, CodeWriter w)
    {
        string c = Condition.Code(w),
            b = B.Code(w);
        return w.Grad ? $"F.Where({c}.Value, {x}, {b})" : $"Ops.Where({c}, {x}, {b})";
    }

    public override IEnumerable<Step> Simpler() =>
        Condition
            .Simpler()
            .Select(o => this with { Condition = o })
            .Concat(B.Simpler().Select(o => this with { B = o }));

    public override IEnumerable<Operand> Operands => [Condition, B];
}

internal enum ReduceKind
{
    Sum,
    Max,
    Mean,
    Norm,
}

/// <summary>A reduction over <see cref="Axes"/> (all when empty) with or without kept axes.</summary>
internal sealed record ReduceStep(ReduceKind Kind, int[] Axes, bool KeepDim) : Step
{
    public override RefTensor Reference(RefTensor x) =>
        Kind switch
        {
            ReduceKind.Sum => RefOps.Sum(x, Axes, KeepDim),
            ReduceKind.Max => RefOps.Max(x, Axes, KeepDim),
            ReduceKind.Mean => RefOps.Mean(x, Axes, KeepDim),
            _ => RefOps.Norm(x, Axes, KeepDim),
        };

    public override Tensor Engine(Tensor x, Env env) =>
        Kind switch
        {
            ReduceKind.Sum => Ops.Sum(x, Axes, KeepDim),
            ReduceKind.Max => Ops.Max(x, Axes, KeepDim),
            ReduceKind.Mean => Ops.Mean(x, Axes, KeepDim),
            _ => Ops.Norm(x, Axes, KeepDim),
        };

    // Max has ties wherever a broadcast repeats a value; the norm has no autodiff op.
    public override bool Differentiable => Kind is ReduceKind.Sum or ReduceKind.Mean;

    public override Variable Grad(Variable x, Env env) =>
        Kind == ReduceKind.Sum ? F.Sum(x, Axes, KeepDim) : F.Mean(x, Axes, KeepDim);

    public override string Code(string x, CodeWriter w) =>
        $"{(w.Grad ? "F" : "Ops")}.{Kind}({x}, [{Ints(Axes)}], keepDim: {(KeepDim ? "true" : "false")})";
}

/// <summary>Index of the first maximum (Int32); always a program's last step.</summary>
internal sealed record ArgMaxStep(int Axis, bool KeepDim) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.ArgMax(x, Axis, KeepDim);

    public override Tensor Engine(Tensor x, Env env) => Ops.ArgMax(x, Axis, KeepDim);

    public override string Code(string x, CodeWriter w) =>
        $"Ops.ArgMax({x}, {Axis}, keepDim: {(KeepDim ? "true" : "false")})";
}

/// <summary>op(x)·op(b) or op(b)·op(x) with batch broadcasting.</summary>
internal sealed record MatMulStep(Operand B, bool OperandFirst, bool TransposeA, bool TransposeB) : Step
{
    public override RefTensor Reference(RefTensor x) =>
        OperandFirst
            ? RefOps.MatMul(B.Reference(), x, TransposeA, TransposeB)
            : RefOps.MatMul(x, B.Reference(), TransposeA, TransposeB);

    public override Tensor Engine(Tensor x, Env env)
    {
        var b = B.Engine(env);
        return OperandFirst ? Ops.MatMul(b, x, TransposeA, TransposeB) : Ops.MatMul(x, b, TransposeA, TransposeB);
    }

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env)
    {
        var b = B.Grad(env);
        return OperandFirst ? F.MatMul(b, x, TransposeA, TransposeB) : F.MatMul(x, b, TransposeA, TransposeB);
    }

    public override string Code(string x, CodeWriter w)
    {
        string b = B.Code(w);
        var (l, r) = OperandFirst ? (b, x) : (x, b);
        return $"{(w.Grad ? "F" : "Ops")}.MatMul({l}, {r}, transposeA: {(TransposeA ? "true" : "false")}, transposeB: "
            + $"{(TransposeB ? "true" : "false")})";
    }

    public override IEnumerable<Step> Simpler() => B.Simpler().Select(o => this with { B = o });

    public override IEnumerable<Operand> Operands => [B];
}

/// <summary>Softmax of scale·x along <see cref="Axis"/> (log-softmax when <see cref="Log"/>): the engine's
/// row op along the last axis, the autodiff rule along any other.</summary>
internal sealed record SoftmaxStep(double Scale, bool Log, int Axis = -1) : Step
{
    public override RefTensor Reference(RefTensor x) =>
        Log ? RefOps.LogSoftmax(x, Scale, Axis) : RefOps.Softmax(x, Scale, Axis);

    public override Tensor Engine(Tensor x, Env env)
    {
        if (!Log && Axis == -1)
            return Ops.Softmax(x, Scale);
        using var noGrad = new NoGrad();
        return Log
            ? F.LogSoftmax(new Variable(Ops.Mul(x, Scale)), Axis).Value
            : F.Softmax(new Variable(x), Axis, Scale).Value;
    }

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) =>
        Log ? F.LogSoftmax(F.Scale(x, Scale), Axis) : F.Softmax(x, Axis, Scale);

    public override string Code(string x, CodeWriter w) =>
        (Log, w.Grad, Axis) switch
        {
            (false, false, -1) => $"Ops.Softmax({x}, {Num(Scale)})",
            (false, false, _) => $"F.Softmax(new Variable({x}), {Axis}, {Num(Scale)}).Value",
            (false, true, _) => $"F.Softmax({x}, {Axis}, {Num(Scale)})",
            (true, false, _) => $"F.LogSoftmax(new Variable(Ops.Mul({x}, {Num(Scale)})), {Axis}).Value",
            _ => $"F.LogSoftmax(F.Scale({x}, {Num(Scale)}), {Axis})",
        };
}

internal enum NormalizeKind
{
    MeanSubtract,
    RmsDivide,
    RmsDivideEpsilon,
    LayerNorm,
}

/// <summary>
/// A row normalization over <see cref="Axes"/> (distinct, non-empty): x − mean x, x / √(mean x² + ε) with ε 0 or
/// 0.5, or both in turn (layer norm without affine parameters). The last axes take the engine's fused row ops, any
/// others its means and elementwise ops.
/// </summary>
internal sealed record NormalizeStep(NormalizeKind Kind, int[] Axes) : Step
{
    private const double Epsilon = 0.5;

    public override RefTensor Reference(RefTensor x) =>
        Kind switch
        {
            NormalizeKind.MeanSubtract => Centered(x),
            NormalizeKind.RmsDivide => RmsDivided(x, 0),
            NormalizeKind.RmsDivideEpsilon => RmsDivided(x, Epsilon),
            _ => RmsDivided(Centered(x), 0),
        };

    public override Tensor Engine(Tensor x, Env env)
    {
        using var noGrad = new NoGrad();
        return Grad(new Variable(x), env).Value;
    }

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) =>
        Kind switch
        {
            NormalizeKind.MeanSubtract => F.MeanSubtract(x, Axes),
            NormalizeKind.RmsDivide => F.RmsDivide(x, Axes),
            NormalizeKind.RmsDivideEpsilon => F.RmsDivide(x, Axes, Epsilon),
            _ => F.LayerNorm(x, Axes),
        };

    public override string Code(string x, CodeWriter w)
    {
        string call = Kind switch
        {
            NormalizeKind.MeanSubtract => $"F.MeanSubtract({{0}}, [{Ints(Axes)}])",
            NormalizeKind.RmsDivide => $"F.RmsDivide({{0}}, [{Ints(Axes)}])",
            NormalizeKind.RmsDivideEpsilon => $"F.RmsDivide({{0}}, [{Ints(Axes)}], {Num(Epsilon)})",
            _ => $"F.LayerNorm({{0}}, [{Ints(Axes)}])",
        };
        return w.Grad ? string.Format(call, x) : string.Format(call, $"new Variable({x})") + ".Value";
    }

    private RefTensor Centered(RefTensor x) => RefOps.Zip(x, RefOps.Mean(x, Axes, keepDim: true), (v, m) => v - m);

    // A row of zeros without ε is 0/0, NaN in the reference, while float32 may center a row of equal values on a
    // mean one ulp off (their sum rounded) and divide that to ±1: such programs are not drawn.
    private RefTensor RmsDivided(RefTensor x, double epsilon)
    {
        var meanSquare = RefOps.Mean(RefOps.Map(x, v => v * v), Axes, keepDim: true);
        if (meanSquare.Data.Any(m => m + epsilon == 0))
            throw new RefInvalidException("an RMS division of a row of zeros");
        return RefOps.Zip(x, meanSquare, (v, m) => v / Math.Sqrt(m + epsilon));
    }
}

/// <summary>Mean cross-entropy of scale·x [..., C] against constant labels [...] (the fused row op, its scale the
/// lazy multiple <see cref="F.Scale"/> leaves): a scalar.</summary>
internal sealed record CrossEntropyStep(double Scale, int[] LabelShape, int[] Labels) : Step
{
    private Tensor LabelTensor(Device device) => Tensor.FromArray<int>(Labels, new Shape(LabelShape), device);

    public override RefTensor Reference(RefTensor x)
    {
        if (x.Rank == 0 || !x.Shape[..^1].SequenceEqual(LabelShape) || Labels.Any(l => l < 0 || l >= x.Shape[^1]))
            throw new RefInvalidException("cross-entropy labels that do not fit the logits");
        int classes = x.Shape[^1];
        var logProbabilities = RefOps.LogSoftmax(x, Scale);
        double total = -Labels.Select((label, row) => logProbabilities.Data[row * classes + label]).Sum();
        return new RefTensor([], [Labels.Length == 0 ? double.NaN : total / Labels.Length]);
    }

    public override Tensor Engine(Tensor x, Env env)
    {
        using var noGrad = new NoGrad();
        return Grad(new Variable(x), env).Value;
    }

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.CrossEntropy(F.Scale(x, Scale), LabelTensor(env.Device));

    public override string Code(string x, CodeWriter w)
    {
        string labels = $"Tensor.FromArray<int>([{Ints(Labels)}], new Shape({Ints(LabelShape)}), device)";
        return w.Grad
            ? $"F.CrossEntropy(F.Scale({x}, {Num(Scale)}), {labels})"
            : $"F.CrossEntropy(F.Scale(new Variable({x}), {Num(Scale)}), {labels}).Value";
    }
}

/// <summary>Softmax of scale·x over the keys j ≤ i of each query i of x [..., T, T] (decoder attention): the keys
/// past the query get 0, whatever they hold.</summary>
internal sealed record CausalSoftmaxStep(double Scale) : Step
{
    public override RefTensor Reference(RefTensor x)
    {
        if (x.Rank < 2 || x.Shape[^1] != x.Shape[^2])
            throw new RefInvalidException("a causal softmax needs square [..., T, T] scores");
        int t = x.Shape[^1];
        var y = new double[x.Size];
        for (int row = 0; row * t < x.Size; row++)
        {
            int query = row % t;
            var z = Enumerable.Range(0, query + 1).Select(j => Scale * x.Data[row * t + j]).ToArray();
            double max = z.Max(),
                total = z.Sum(v => Math.Exp(v - max));
            for (int j = 0; j <= query; j++)
                y[row * t + j] = Math.Exp(z[j] - max) / total;
        }
        return new RefTensor(x.Shape, y);
    }

    public override Tensor Engine(Tensor x, Env env) => Ops.Softmax(x, Scale, causal: true);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.CausalSoftmax(x, Scale);

    public override string Code(string x, CodeWriter w) =>
        w.Grad ? $"F.CausalSoftmax({x}, {Num(Scale)})" : $"Ops.Softmax({x}, {Num(Scale)}, causal: true)";
}

/// <summary>
/// Newton–Schulz's two symmetric products on x [..., m, n]: R = s²·xᵀx, computed as a symmetric result (its lower
/// triangle, then mirrored) with each matrix's own factor s² inside the product, then h = s·(a·I + b·R + c·R²) by
/// <see cref="Ops.SymmetricPolynomial(Tensor, double, double, double, Tensor)"/> ([..., n, n]). Factors s = 0.5,
/// 0.75, 1, … by matrix.
/// </summary>
internal sealed record GramPolynomialStep(double A, double B, double C) : Step
{
    public override RefTensor Reference(RefTensor x)
    {
        if (x.Rank < 2)
            throw new RefInvalidException("a Gram product needs matrices");
        int n = x.Shape[^1],
            count = RefTensor.Count(x.Shape[..^2]);
        var r = RefOps.MatMul(x, x, transposeA: true, transposeB: false);
        var square = RefOps.MatMul(r, r, transposeA: false, transposeB: false);
        var h = new double[r.Size];
        for (int matrix = 0; matrix < count; matrix++)
        {
            double s = Factor(matrix);
            for (int i = 0; i < n * n; i++)
            {
                int at = matrix * n * n + i;
                double identity = i / n == i % n ? 1 : 0;
                h[at] = s * (A * identity + B * s * s * r.Data[at] + C * s * s * s * s * square.Data[at]);
            }
        }
        return new RefTensor(r.Shape, h);
    }

    public override Tensor Engine(Tensor x, Env env) => Run(x, A, B, C);

    /// <summary>The engine's side, callable from a printed program.</summary>
    public static Tensor Run(Tensor x, double a, double b, double c)
    {
        int n = x.Shape[-1];
        var batch = x.Shape.Dims[..^2].ToArray();
        int count = new Shape(batch).Size;
        var factors = Enumerable.Range(0, count).Select(Factor).ToArray();
        using var squares = Scales(factors.Select(f => f * f), batch, x);
        using var scales = Scales(factors, batch, x);
        using var r = Tensor.EmptyMatrices(new Shape([.. batch, n, n]), x.DType, x.Device);
        Ops.MatMulInto(x, x, r, accumulate: false, transposeA: true, symmetricResult: true, scales: squares);
        return Ops.SymmetricPolynomial(r, a, b, c, scales);
    }

    public override string Code(string x, CodeWriter w) => $"GramPolynomialStep.Run({x}, {Num(A)}, {Num(B)}, {Num(C)})";

    private static double Factor(int matrix) => 0.5 + 0.25 * matrix;

    private static Tensor Scales(IEnumerable<double> values, int[] batch, Tensor like)
    {
        var shape = new Shape([.. batch, 1, 1]);
        var data = values.ToArray();
        return like.DType == DType.Float64
            ? Tensor.FromArray(data, shape, like.Device)
            : Tensor.FromArray(data.Select(v => (float)v).ToArray(), shape, like.Device);
    }
}

internal sealed record ContiguousStep : Step
{
    public override RefTensor Reference(RefTensor x) => x;

    public override Tensor Engine(Tensor x, Env env) => Ops.Contiguous(x);

    public override string Code(string x, CodeWriter w) => $"Ops.Contiguous({x})";
}

/// <summary>Concat([x, b]) or Concat([b, x]) along an axis.</summary>
internal sealed record ConcatStep(Operand B, int Axis, bool OperandFirst) : Step
{
    public override RefTensor Reference(RefTensor x) =>
        RefOps.Concat(OperandFirst ? [B.Reference(), x] : [x, B.Reference()], Axis);

    public override Tensor Engine(Tensor x, Env env)
    {
        var b = B.Engine(env);
        return Ops.Concat(OperandFirst ? [b, x] : [x, b], Axis);
    }

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env)
    {
        var b = B.Grad(env);
        return F.Concat(OperandFirst ? [b, x] : [x, b], Axis);
    }

    public override string Code(string x, CodeWriter w)
    {
        string b = B.Code(w);
        return $"{(w.Grad ? "F" : "Ops")}.Concat([{(OperandFirst ? $"{b}, {x}" : $"{x}, {b}")}], {Axis})";
    }

    public override IEnumerable<Step> Simpler() => B.Simpler().Select(o => this with { B = o });

    public override IEnumerable<Operand> Operands => [B];
}

internal sealed record SplitStep(int[] Sizes, int Axis, int Part) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.SplitPart(x, Sizes, Axis, Part);

    public override Tensor Engine(Tensor x, Env env) => Ops.Split(x, Sizes, Axis)[Part];

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Split(x, Sizes, Axis)[Part];

    public override string Code(string x, CodeWriter w) =>
        $"{(w.Grad ? "F" : "Ops")}.Split({x}, [{Ints(Sizes)}], {Axis})[{Part}]";
}

/// <summary>Rows of the table x [V, D] at constant Int32 indices.</summary>
internal sealed record GatherStep(int[] IndexShape, int[] Indices) : Step
{
    private RefTensor Index => new(IndexShape, Indices.Select(i => (double)i).ToArray());

    private Tensor IndexTensor(Device device) => Tensor.FromArray<int>(Indices, new Shape(IndexShape), device);

    public override RefTensor Reference(RefTensor x) => RefOps.GatherRows(x, Index);

    public override Tensor Engine(Tensor x, Env env) => Ops.GatherRows(x, IndexTensor(env.Device));

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.GatherRows(x, IndexTensor(env.Device));

    public override string Code(string x, CodeWriter w) =>
        $"{(w.Grad ? "F" : "Ops")}.GatherRows({x}, Tensor.FromArray<int>([{Ints(Indices)}], new "
        + $"Shape({Ints(IndexShape)}), device))";
}

/// <summary>A [Rows, D] table of zeros with the rows of x [..., D] added at constant indices [...].</summary>
internal sealed record ScatterStep(int Rows, int[] Indices) : Step
{
    public override RefTensor Reference(RefTensor x)
    {
        if (x.Rank < 1 || Indices.Length != RefTensor.Count(x.Shape[..^1]))
            throw new RefInvalidException("scatter indices do not match the source");
        return RefOps.ScatterAddRows(Rows, new RefTensor(x.Shape[..^1], Indices.Select(i => (double)i).ToArray()), x);
    }

    public override Tensor Engine(Tensor x, Env env)
    {
        var table = Ops.Zeros(new Shape(Rows, x.Shape[-1]), env.DType, env.Device);
        Ops.ScatterAddRows(table, Tensor.FromArray<int>(Indices, new Shape(x.Shape.Dims[..^1]), env.Device), x);
        return table;
    }

    public override string Code(string x, CodeWriter w)
    {
        string table = w.Let(
            $"Ops.Zeros(new Shape({Rows}, {w.Shape[^1]}), "
                + $"{(w.Element == "float" ? "DType.Float32" : "DType.Float64")}, device)"
        );
        w.Line(
            $"Ops.ScatterAddRows({table}, Tensor.FromArray<int>([{Ints(Indices)}], new Shape({Ints(w.Shape[..^1])}), "
                + $"device), {x});"
        );
        return table;
    }
}

internal sealed record Im2ColStep(int KernelHeight, int KernelWidth, int Stride, int Padding) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Im2Col(x, KernelHeight, KernelWidth, Stride, Padding);

    public override Tensor Engine(Tensor x, Env env) => Ops.Im2Col(x, KernelHeight, KernelWidth, Stride, Padding);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Im2Col(x, KernelHeight, KernelWidth, Stride, Padding);

    public override string Code(string x, CodeWriter w) =>
        $"{(w.Grad ? "F" : "Ops")}.Im2Col({x}, {KernelHeight}, {KernelWidth}, {Stride}, {Padding})";
}

internal sealed record AvgPoolStep(int Kernel) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.AvgPool2d(x, Kernel);

    public override Tensor Engine(Tensor x, Env env) => Ops.AvgPool2d(x, Kernel);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.AvgPool2d(x, Kernel);

    public override string Code(string x, CodeWriter w) => $"{(w.Grad ? "F" : "Ops")}.AvgPool2d({x}, {Kernel})";
}
