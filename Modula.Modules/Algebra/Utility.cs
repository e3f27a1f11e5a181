using Modula.Autodiff;

namespace Modula.Modules;

/// <summary>The identity map (sensitivity 1): the base of <see cref="Module.Repeat"/> and the skip path of residual
/// blocks.</summary>
public sealed class Identity : ElementwiseBond
{
    /// <inheritdoc/>
    public override double? LipschitzConstant => 1;

    /// <inheritdoc/>
    protected override double? TokenNormBound(double input) => input;

    /// <inheritdoc/>
    protected override Variable Forward(Variable x) => x;
}

/// <summary>Sums a list of inputs; sensitivity 1. <c>a + b</c> is <c>Tuple(a, b) &gt;&gt; Add</c>. Leading axes
/// broadcast (a position embedding [T, D] added to token embeddings [B, T, D]), but every input must have the same
/// number of features on the last axis (a rank-0 input only with others of rank 0): a feature broadcast across others
/// would count once per copy in each token's norm, and sensitivity 1 would no longer bound the sum.</summary>
public sealed class Add : Bond
{
    /// <inheritdoc/>
    public override bool PreservesWidth => true;

    /// <summary>1: ‖Σ yᵢ‖ ≤ Σ ‖yᵢ‖ token by token, the norm a tuple's output is measured in (inputs of one feature
    /// width, which Forward checks).</summary>
    public override double? LipschitzConstant => 1;

    /// <summary>The sum of the inputs': ‖Σ yᵢ‖ ≤ Σ ‖yᵢ‖ token by token (inputs of one shape, as above).</summary>
    internal override double[]? TokenNormBounds(double[] inputs) => [inputs.Sum()];

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        if (inputs.Count == 0)
            throw new ModuleException("needs at least one input.");
        // A rank-0 input has no feature axis (−1, unlike any width): added to the others it would land on every
        // feature, as a one-feature input would.
        static int Features(Variable x) => x.Shape.Rank == 0 ? -1 : x.Shape[-1];
        var sum = inputs[0];
        for (int i = 1; i < inputs.Count; i++)
        {
            if (Features(inputs[i]) != Features(sum))
                throw new ModuleException(
                    $"inputs {string.Join(", ", inputs.Select(x => x.Shape))} differ in features (last axis): "
                        + "Add broadcasts leading axes only."
                );
            sum = F.Add(sum, inputs[i]);
        }
        return [sum];
    }
}

/// <summary>
/// Multiplies every input by a nonzero scalar; sensitivity |scalar| (Modula v1; v2 keeps the
/// sign, which only matters for negative scalars). Maps over a list of inputs as v1 does.
/// </summary>
public sealed class Mul : Bond
{
    /// <summary>Creates the scaling by <paramref name="scalar"/> (must be nonzero and finite).</summary>
    public Mul(double scalar)
        : base(Math.Abs(CheckScalar(scalar)))
    {
        Scalar = scalar;
    }

    /// <summary>The multiplier.</summary>
    public double Scalar { get; }

    /// <inheritdoc/>
    public override string Label => $"Mul({Scalar:G4})";

    /// <inheritdoc/>
    public override double? LipschitzConstant => Math.Abs(Scalar);

    /// <summary>Each input's times |scalar|.</summary>
    internal override double[]? TokenNormBounds(double[] inputs) => inputs.Select(r => Math.Abs(Scalar) * r).ToArray();

    /// <inheritdoc/>
    public override bool PreservesWidth => true;

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights) =>
        inputs.Select(x => F.Scale(x, Scalar)).ToArray();

    private static double CheckScalar(double scalar) =>
        scalar != 0 && double.IsFinite(scalar)
            ? scalar
            : throw new ArgumentException($"Mul: the scalar must be nonzero and finite, got {scalar}.");
}
