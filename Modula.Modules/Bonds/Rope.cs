using System.Globalization;
using System.Numerics;
using Modula.Autodiff;
using Modula.Modules.Linalg;
using Modula.Tensors;

namespace Modula.Modules;

/// <summary>
/// Rotary position encoding on (q, k) [B, H, T, d], exactly as Modula v2 computes it: with
/// r = d/2, θ[t, i] = t / base^(i/r), x₁ = x[..., r:], x₂ = x[..., :r], the output is
/// [sin θ·x₁ + cos θ·x₂, −cos θ·x₁ + sin θ·x₂]. Each pair is rotated by an orthogonal map
/// (so norms are kept) and q·k depends only on the offset between positions. Sensitivity 1.
/// </summary>
public sealed class Rope : Bond
{
    /// <summary>Creates the encoding for heads of size <paramref name="headDim"/> (even).</summary>
    public Rope(int headDim, double theta = DefaultBase)
    {
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(
                nameof(headDim),
                $"Rope: head size must be positive and even, got {headDim}."
            );
        if (!(theta > 0) || double.IsPositiveInfinity(theta))
            throw new ArgumentOutOfRangeException(
                nameof(theta),
                $"Rope: the base must be finite and > 0, got {theta}."
            );
        HeadDim = headDim;
        Base = theta;
    }

    /// <summary>Size of each head.</summary>
    public int HeadDim { get; }

    /// <summary>The frequency base (10000 as in Modula).</summary>
    public double Base { get; }

    /// <inheritdoc/>
    public override string Label => $"Rope({HeadDim})";

    /// <inheritdoc/>
    internal override string? ArchitectureDetail => string.Create(CultureInfo.InvariantCulture, $"base {Base:R}");

    private const double DefaultBase = 10000;

    /// <summary>1: a rotation of each pair of features at each position.</summary>
    public override double? LipschitzConstant => 1;

    /// <summary>The inputs': each position's vector is rotated, so its norm is kept.</summary>
    internal override double[]? TokenNormBounds(double[] inputs) => inputs;

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        if (inputs.Count == 0)
            throw new ModuleException("needs at least one input.");
        var first = inputs[0];
        // Every input takes the first one's table: each must have its T positions and head size.
        int positions = first.Shape.Rank < 2 ? -1 : first.Shape[-2];
        foreach (var x in inputs)
            if (x.Shape.Rank < 2 || x.Shape[-1] != HeadDim || x.Shape[-2] != positions)
                throw new ModuleException(
                    $"inputs {string.Join(", ", inputs.Select(i => i.Shape))} should each end in [T, {HeadDim}], "
                        + "one T for all."
                );
        var (sin, cos) = Tables(first.Shape[-2], first.Value.DType, first.Value.Device);
        return inputs.Select(x => Rotate(x, sin, cos)).ToArray();
    }

    private Variable Rotate(Variable x, Variable sin, Variable cos)
    {
        int r = HeadDim / 2;
        var x1 = F.Slice(x, -1, r, r);
        var x2 = F.Slice(x, -1, 0, r);
        var y1 = F.Add(F.Mul(sin, x1), F.Mul(cos, x2));
        var y2 = F.Sub(F.Mul(sin, x2), F.Mul(cos, x1));
        return F.Concat([y1, y2], -1);
    }

    /// <summary>
    /// sin θ and cos θ as constants [T, d/2]: views of tables the device keeps (<see cref="Device.Constant"/>),
    /// so a forward pass uploads nothing after the first (an upload waits for an accelerator). Row t depends
    /// only on t, so a table of a power-of-two row count serves every length down to half of it, and sampling
    /// with a growing context makes a logarithmic number of tables, not one per length.
    /// </summary>
    private (Variable Sin, Variable Cos) Tables(int t, DType dtype, Device device)
    {
        int rows = t <= 1 << 30 ? (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(t, 1)) : t;
        var sin = device.Constant(new TableKey(HeadDim, Base, rows, dtype, Cosine: false), () =>
            Table(rows, dtype, device, false)
        );
        var cos = device.Constant(new TableKey(HeadDim, Base, rows, dtype, Cosine: true), () =>
            Table(rows, dtype, device, true)
        );
        return (new Variable(sin.Slice(0, 0, t)), new Variable(cos.Slice(0, 0, t)));
    }

    /// <summary>sin θ (or cos θ) for positions 0 .. rows−1, [rows, d/2].</summary>
    private Tensor Table(int rows, DType dtype, Device device, bool cosine)
    {
        int r = HeadDim / 2;
        var values = new double[rows * r];
        for (int pos = 0; pos < rows; pos++)
        for (int i = 0; i < r; i++)
        {
            double angle = pos / Math.Pow(Base, (double)i / r);
            values[pos * r + i] = cosine ? Math.Cos(angle) : Math.Sin(angle);
        }
        return HostLinalg.Upload(values, new Shape(rows, r), dtype, device);
    }

    /// <summary>Names one kept table: equal for every Rope of the same head size and base.</summary>
    private sealed record TableKey(int HeadDim, double Base, int Rows, DType DType, bool Cosine);
}
