using System.Globalization;
using Modula.Modules;

namespace Modula.Optim;

/// <summary>Plain gradient descent: the direction is the gradient itself.</summary>
public sealed class Sgd : Optimizer
{
    /// <inheritdoc/>
    public override IReadOnlyList<string> SlotNames => [];

    /// <inheritdoc/>
    public override string Describe() => "sgd";

    /// <inheritdoc/>
    public override Weights Direction(Weights gradient, int step) => gradient.Clone();

    internal override Weights DirectionToRead(Weights gradient, int step) => gradient.Alias();
}

/// <summary>
/// Momentum as an exponential moving average, as Modula v2 and Muon use it:
/// <c>m ← β·m + (1 − β)·g</c>; the direction is m, or with Nesterov <c>(1 − β)·g + β·m</c>.
/// </summary>
public sealed class Momentum(double beta = 0.9, bool nesterov = false) : Optimizer
{
    /// <summary>The averaging factor β.</summary>
    public double Beta { get; } =
        beta is >= 0 and < 1
            ? beta
            : throw new ArgumentOutOfRangeException(nameof(beta), $"Momentum: beta must be in [0, 1), got {beta}.");

    /// <summary>True for the Nesterov look-ahead.</summary>
    public bool Nesterov { get; } = nesterov;

    /// <inheritdoc/>
    public override IReadOnlyList<string> SlotNames => ["m"];

    /// <inheritdoc/>
    public override string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"momentum(beta={Beta}, nesterov={Nesterov})");

    /// <inheritdoc/>
    public override Weights Direction(Weights gradient, int step)
    {
        var m = Advance(gradient);
        return Nesterov ? gradient.Zip(m, new Ema(Beta)) : m.Clone(); // Nesterov: (1 − β)·g + β·m
    }

    internal override Weights DirectionToRead(Weights gradient, int step) =>
        Nesterov ? Direction(gradient, step) : Advance(gradient).Alias();

    // m ← β·m + (1 − β)·g; returns m.
    private Weights Advance(Weights gradient)
    {
        var m = Slot("m", gradient);
        m.Combine(gradient, new Ema(1 - Beta));
        return m;
    }
}
