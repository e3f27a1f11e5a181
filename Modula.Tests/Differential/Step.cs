using Modula.Autodiff;
using Modula.Tensors;
using static Modula.Tests.Differential.CodeWriter;

namespace Modula.Tests.Differential;

/// <summary>
/// One step of a random program: a view or an op applied to the current value, computed three
/// ways — the float64 reference, the engine (Ops on tensors) and autodiff (F on variables) —
/// and written as C# for a reproduction.
/// </summary>
internal abstract record Step
{
    public abstract RefTensor Reference(RefTensor x);

    public abstract Tensor Engine(Tensor x, Env env);

    /// <summary>The step on variables (only when <see cref="Differentiable"/>).</summary>
    public virtual Variable Grad(Variable x, Env env) =>
        throw new NotSupportedException($"{GetType().Name} has no gradient");

    public virtual bool Differentiable => false;

    /// <summary>A C# expression for the step applied to the variable <paramref name="x"/> (operands are written
    /// first).</summary>
    public abstract string Code(string x, CodeWriter w);

    /// <summary>The same step with simpler operands, for shrinking.</summary>
    public virtual IEnumerable<Step> Simpler() => [];

    /// <summary>Operands in the order the step uses them.</summary>
    public virtual IEnumerable<Operand> Operands => [];
}

// ---- views ----------------------------------------------------------------------------------

internal sealed record PermuteStep(int[] Axes) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Permute(x, Axes);

    public override Tensor Engine(Tensor x, Env env) => x.Permute(Axes);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Permute(x, Axes);

    public override string Code(string x, CodeWriter w) =>
        w.Grad ? $"F.Permute({x}, {Ints(Axes)})" : $"{x}.Permute({Ints(Axes)})";
}

internal sealed record TransposeStep(int A, int B) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Transpose(x, A, B);

    public override Tensor Engine(Tensor x, Env env) => x.Transpose(A, B);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Transpose(x, A, B);

    public override string Code(string x, CodeWriter w) =>
        w.Grad ? $"F.Transpose({x}, {A}, {B})" : $"{x}.Transpose({A}, {B})";
}

internal sealed record SliceStep(int Axis, int Start, int Length) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Slice(x, Axis, Start, Length);

    public override Tensor Engine(Tensor x, Env env) => x.Slice(Axis, Start, Length);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Slice(x, Axis, Start, Length);

    public override string Code(string x, CodeWriter w) =>
        w.Grad ? $"F.Slice({x}, {Axis}, {Start}, {Length})" : $"{x}.Slice({Axis}, {Start}, {Length})";
}

internal sealed record ExpandStep(int[] Shape) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Expand(x, Shape);

    public override Tensor Engine(Tensor x, Env env) => x.Expand(new Shape(Shape));

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Expand(x, new Shape(Shape));

    public override string Code(string x, CodeWriter w) =>
        w.Grad ? $"F.Expand({x}, new Shape({Ints(Shape)}))" : $"{x}.Expand(new Shape({Ints(Shape)}))";
}

internal sealed record UnsqueezeStep(int Axis) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Unsqueeze(x, Axis);

    public override Tensor Engine(Tensor x, Env env) => x.Unsqueeze(Axis);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Reshape(x, RefOps.Unsqueeze(Shaped(x), Axis).Shape);

    public override string Code(string x, CodeWriter w) =>
        w.Grad ? $"F.Reshape({x}, {Ints(RefOps.Unsqueeze(Shaped(x, w), Axis).Shape)})" : $"{x}.Unsqueeze({Axis})";

    internal static RefTensor Shaped(Variable x) => new(x.Shape.Dims.ToArray(), new double[x.Shape.Size]);

    internal static RefTensor Shaped(string x, CodeWriter w) => new(w.Shape, new double[RefTensor.Count(w.Shape)]);
}

internal sealed record SqueezeStep(int Axis) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Squeeze(x, Axis);

    public override Tensor Engine(Tensor x, Env env) => x.Squeeze(Axis);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) =>
        F.Reshape(x, RefOps.Squeeze(UnsqueezeStep.Shaped(x), Axis).Shape);

    public override string Code(string x, CodeWriter w) =>
        w.Grad
            ? $"F.Reshape({x}, {Ints(RefOps.Squeeze(UnsqueezeStep.Shaped(x, w), Axis).Shape)})"
            : $"{x}.Squeeze({Axis})";
}

/// <summary>Reshape to <see cref="Dims"/> (one may be −1): a view when the layout allows, else a copy.</summary>
internal sealed record ReshapeStep(int[] Dims) : Step
{
    public override RefTensor Reference(RefTensor x) => RefOps.Reshape(x, Dims);

    public override Tensor Engine(Tensor x, Env env) => x.Reshape(Dims);

    public override bool Differentiable => true;

    public override Variable Grad(Variable x, Env env) => F.Reshape(x, Dims);

    public override string Code(string x, CodeWriter w) =>
        w.Grad ? $"F.Reshape({x}, {Ints(Dims)})" : $"{x}.Reshape({Ints(Dims)})";
}
