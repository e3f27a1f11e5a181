using Modula.Tensors;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// x − mean(x) along <paramref name="axes"/> (Modula's MeanSubtract), as one rule: dx = g − mean(g).
    /// Over trailing axes each row is one fused pass (<see cref="Ops.SubtractRowMean"/>).
    /// </summary>
    public static Variable MeanSubtract(Variable x, params int[] axes)
    {
        Given(x);
        Given(axes);
        var along = LastIfNone(axes);
        if (TrailingAxes(along, x.Shape, nameof(MeanSubtract)) is int trailing)
            return Variable.FromOp(Ops.SubtractRowMean(x.Value, trailing), [x], g =>
                g.Send(x, Ops.SubtractRowMean(g, trailing))
            );
        using var mean = Ops.Mean(x.Value, along, keepDim: true);
        return Variable.FromOp(Ops.Sub(x.Value, mean), [x], g =>
        {
            using var gMean = Ops.Mean(g, along, keepDim: true);
            g.Send(x, Ops.Sub(g, gMean));
        });
    }

    /// <summary>
    /// x / √mean(x²) along <paramref name="axes"/>, no epsilon (Modula's RMSDivide), as one rule:
    /// with r = 1/√mean(x²) and y = x·r, dx = r·(g − y·mean(g⊙y)). Over trailing axes each row
    /// is one fused pass forward and one backward (<see cref="Ops.RmsNormalize"/>).
    /// </summary>
    public static Variable RmsDivide(Variable x, params int[] axes)
    {
        Given(x);
        Given(axes);
        var along = LastIfNone(axes);
        if (TrailingAxes(along, x.Shape, nameof(RmsDivide)) is int trailing)
        {
            var normalized = Ops.RmsNormalize(x.Value, trailing, out var rowInverse);
            if (NoGrad.IsActive || !x.RequiresGrad)
            {
                rowInverse.Dispose();
                return new Variable(normalized);
            }
            return Variable.FromOp(normalized, [x], g =>
                g.Send(x, Ops.RmsNormalizeBackward(g, normalized, rowInverse, trailing))
            );
        }
        return RmsDivideByParts(x, along, 0);
    }

    /// <summary>
    /// x / √(mean(x²) + ε) along <paramref name="axes"/> (none = the last): <see cref="RmsDivide(Variable, int[])"/>
    /// when ε = 0. With ε &gt; 0 the slope is at most 1/√ε everywhere, so the map has a global Lipschitz constant.
    /// The gradient keeps its form, dx = r·(g − y·mean(g⊙y)) with r = 1/√(mean(x²) + ε): ∂r/∂x = −r³x/n.
    /// </summary>
    public static Variable RmsDivide(Variable x, int[] axes, double epsilon)
    {
        Given(x);
        Given(axes);
        if (!(epsilon >= 0) || double.IsPositiveInfinity(epsilon))
            throw new ArgumentOutOfRangeException(
                nameof(epsilon),
                $"RmsDivide: epsilon must be finite and ≥ 0, got {epsilon}."
            );
        return epsilon == 0 ? RmsDivide(x, axes) : RmsDivideByParts(x, LastIfNone(axes), epsilon);
    }

    /// <summary>
    /// RMS division built from elementwise ops and means: any axes, any ε. Each row is taken divided by s = max(1,
    /// max|x|) and ε by s², which is the same quotient: x / √(mean x² + ε) = (x/s) / √(mean (x/s)² + ε/s²). The
    /// squares then stay at most 1, where rows past about 1.8·10¹⁹ in float32 (10¹⁵⁴ in float64) made mean x²
    /// overflow and the output 0; rows under 1 are left as they are, so a small ε/s² cannot overflow either.
    /// </summary>
    private static Variable RmsDivideByParts(Variable x, int[] along, double epsilon)
    {
        Tensor inverse;
        using (var magnitude = Ops.Abs(x.Value))
        using (var largest = Ops.Max(magnitude, along, keepDim: true))
        using (var one = Ops.Ones(Shape.Scalar, largest.DType, largest.Device))
        using (var scale = Ops.Maximum(largest, one))
        using (var scaled = Ops.Div(x.Value, scale))
        using (var square = Ops.Mul(scaled, scaled))
        using (var meanSquare = Ops.Mean(square, along, keepDim: true))
        using (var scaleSquared = Ops.Mul(scale, scale))
        using (var eps = Ops.Full(Shape.Scalar, epsilon, largest.DType, largest.Device))
        using (var shift = Ops.Div(eps, scaleSquared))
        using (var shifted = Ops.Add(meanSquare, shift))
        using (var scaledInverse = Ops.Rsqrt(shifted))
            inverse = Ops.Div(scaledInverse, scale);
        var y = Ops.Mul(x.Value, inverse);
        if (NoGrad.IsActive || !x.RequiresGrad)
        {
            inverse.Dispose();
            return new Variable(y);
        }
        return Variable.FromOp(y, [x], g =>
        {
            using var gy = Ops.Mul(g, y);
            using var dot = Ops.Mean(gy, along, keepDim: true);
            using var projected = Ops.Mul(y, dot);
            using var centered = Ops.Sub(g, projected);
            g.Send(x, Ops.Mul(centered, inverse));
        });
    }

    /// <summary>
    /// Layer norm without affine parameters, (x − mean x) / rms(x − mean x) along <paramref name="axes"/>: Modula's
    /// MeanSubtract then RMSDivide as one rule. Over trailing axes it is one fused pass per row forward and one
    /// backward, dx = centered(r·(g − y·mean(g⊙y))) (each rule's gradient in turn); otherwise the two rules.
    /// </summary>
    public static Variable LayerNorm(Variable x, params int[] axes)
    {
        Given(x);
        Given(axes);
        var along = LastIfNone(axes);
        if (TrailingAxes(along, x.Shape, nameof(LayerNorm)) is not int trailing)
            return RmsDivide(MeanSubtract(x, along), along);
        var normalized = Ops.RmsNormalize(x.Value, trailing, out var rowInverse, center: true);
        if (NoGrad.IsActive || !x.RequiresGrad)
        {
            rowInverse.Dispose();
            return new Variable(normalized);
        }
        // The input is usually the residual stream, whose gradient the residual sum has already delivered: the
        // backward pass adds into it.
        return Variable.FromOp(normalized, [x], g =>
            g.SendAccumulating(
                x,
                () => Ops.RmsNormalizeBackward(g, normalized, rowInverse, trailing, center: true),
                into => Ops.RmsNormalizeBackwardInto(g, normalized, rowInverse, trailing, center: true, into)
            )
        );
    }

    /// <summary>q when <paramref name="axes"/> are exactly the last q axes of a tensor shaped <paramref
    /// name="shape"/>, else null; an axis out of range throws naming <paramref name="op"/>.</summary>
    private static int? TrailingAxes(int[] axes, Shape shape, string op)
    {
        int rank = shape.Rank;
        var sorted = axes.Select(a => Shape.NormalizeAxis(a, shape, op)).Distinct().Order().ToArray();
        if (sorted.Length != axes.Length)
            return null;
        for (int i = 0; i < sorted.Length; i++)
            if (sorted[i] != rank - sorted.Length + i)
                return null;
        return sorted.Length;
    }

    private static int[] LastIfNone(int[] axes) => axes.Length == 0 ? [-1] : axes;
}
