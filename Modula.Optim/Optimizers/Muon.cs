using System.Globalization;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Optim;

/// <summary>
/// K. Jordan's Muon with its auxiliary Adam, as one base optimizer for the plain rule. The hidden matrix atoms
/// (every <see cref="MatrixAtom"/> but the model's first and last atom) take Nesterov momentum, orthogonalized:
/// <c>m ← β·m + g</c>, direction <c>msign(g + β·m)·√max(1, rows/cols)</c>, where msign is
/// <see cref="Orthogonalize"/> (Muon's quintic unless told otherwise) applied to each matrix of the atom and
/// rows/cols are its fan-out and fan-in (Muon's shape scaling for a [out, in] weight, not Modula's dualize target).
/// Every other atom (embeddings, the input layer, the output head) takes <see cref="Adam"/>'s bias-corrected
/// direction, and steps <see cref="AdamScale"/> times the learning rate through <see
/// cref="Optimizer.LearningRateScales"/>, so with learning rate η the trainer applies Muon at η and Adam at
/// AdamScale·η, each with AdamW's decoupled decay at its own rate, as Muon's reference code does.
/// </summary>
/// <remarks>A convolution's matrices are its kernel positions' [out, in] slices, orthogonalized one by one as in
/// Modula's dualize (Muon's reference code flattens the kernel into one [out, in·k·k] matrix instead).
/// Slot "m" holds the momentum of the hidden matrices and Adam's first moment of the others; slot "v" holds
/// Adam's second moment (left at zero for the hidden matrices).</remarks>
public sealed class Muon : Optimizer
{
    private readonly IReadOnlyList<(string Path, Atom Atom)> _atoms;
    private readonly bool[] _hidden;
    private readonly double[] _scales;

    /// <summary>Muon for <paramref name="model"/>'s weights.</summary>
    /// <param name="model">The model whose atoms decide which weights are hidden matrices.</param>
    /// <param name="adamScale">Adam's learning rate as a multiple of Muon's (Adam lr / Muon lr).</param>
    /// <param name="momentum">Muon's Nesterov momentum β.</param>
    /// <param name="adamBeta1">Adam's β₁.</param>
    /// <param name="adamBeta2">Adam's β₂.</param>
    /// <param name="epsilon">Adam's ε.</param>
    /// <param name="method">The orthogonalizer (msign).</param>
    public Muon(
        Module model,
        double adamScale,
        double momentum = 0.95,
        double adamBeta1 = 0.9,
        double adamBeta2 = 0.95,
        double epsilon = 1e-8,
        Orthogonalizer method = Orthogonalizer.MuonQuintic
    )
    {
        AdamScale = adamScale is > 0 and < double.PositiveInfinity
            ? adamScale
            : throw new ArgumentOutOfRangeException(
                nameof(adamScale),
                $"Muon: Adam's scale must be > 0, got {adamScale}."
            );
        Momentum = Fraction(momentum, nameof(momentum));
        AdamBeta1 = Fraction(adamBeta1, nameof(adamBeta1));
        AdamBeta2 = Fraction(adamBeta2, nameof(adamBeta2));
        Epsilon = epsilon;
        Method = method;
        _atoms = model.Atoms();
        _hidden = _atoms.Select((a, i) => a.Atom is MatrixAtom && i > 0 && i < _atoms.Count - 1).ToArray();
        _scales = _hidden.Select(h => h ? 1 : AdamScale).ToArray();
    }

    /// <summary>Adam's learning rate as a multiple of Muon's.</summary>
    public double AdamScale { get; }

    /// <summary>Muon's Nesterov momentum β.</summary>
    public double Momentum { get; }

    /// <summary>Adam's β₁.</summary>
    public double AdamBeta1 { get; }

    /// <summary>Adam's β₂.</summary>
    public double AdamBeta2 { get; }

    /// <summary>Adam's ε.</summary>
    public double Epsilon { get; }

    /// <summary>The orthogonalizer of the hidden matrices' momentum.</summary>
    public Orthogonalizer Method { get; }

    /// <summary>For each weight, whether Muon (true) or Adam (false) updates it.</summary>
    public IReadOnlyList<bool> Hidden => _hidden;

    /// <inheritdoc/>
    public override IReadOnlyList<double> LearningRateScales => _scales;

    /// <inheritdoc/>
    public override IReadOnlyList<string> SlotNames => ["m", "v"];

    /// <inheritdoc/>
    public override IReadOnlyList<string> NonNegativeSlots => ["v"];

    /// <inheritdoc/>
    public override string Describe() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"muon(momentum={Momentum}, nesterov=True, msign={Method}, adam_scale={AdamScale}, "
                + $"adam_beta1={AdamBeta1}, adam_beta2={AdamBeta2}, eps={Epsilon})"
        );

    /// <inheritdoc/>
    public override Weights Direction(Weights gradient, int step)
    {
        if (gradient.Count != _atoms.Count)
            throw new ArgumentException(
                $"Muon: expected {_atoms.Count} gradients (one per atom of the model), got {gradient.Count}."
            );
        var (m, v) = (Slot("m", gradient), Slot("v", gradient));
        int t = step + 1;
        var ratio = new AdamRatio(1 / (1 - Math.Pow(AdamBeta1, t)), 1 / (1 - Math.Pow(AdamBeta2, t)), Epsilon);
        var directions = new List<Tensor>(gradient.Count);
        try
        {
            for (int i = 0; i < gradient.Count; i++)
            {
                var g = gradient[i];
                if (_hidden[i])
                {
                    var matrix = (MatrixAtom)_atoms[i].Atom;
                    Ops.Zip(m[i], g, new LinearCombination(Momentum, 1), into: m[i]);
                    using var nesterov = Ops.Zip(g, m[i], new LinearCombination(1, Momentum));
                    double shape = Math.Sqrt(Math.Max(1, (double)matrix.FanOut / matrix.FanIn));
                    directions.Add(TensorScope.Escape(matrix.DualizeWeight(nesterov, shape, Method)));
                }
                else
                {
                    Ops.Zip(m[i], g, new Ema(1 - AdamBeta1), into: m[i]);
                    Ops.Zip(v[i], g, new EmaOfSquare(1 - AdamBeta2), into: v[i]);
                    directions.Add(TensorScope.Escape(Ops.Zip(m[i], v[i], ratio)));
                }
            }
        }
        catch
        {
            foreach (var d in directions)
                d.Dispose();
            throw;
        }
        return new Weights(directions);
    }

    private static double Fraction(double value, string name) =>
        value is >= 0 and < 1
            ? value
            : throw new ArgumentOutOfRangeException(name, $"Muon: {name} must be in [0, 1), got {value}.");
}
