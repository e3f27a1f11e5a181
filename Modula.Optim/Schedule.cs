using System.Globalization;

namespace Modula.Optim;

/// <summary>
/// A learning-rate multiplier as a pure function of the 0-based step: constant, linear decay
/// or cosine decay from 1 to <see cref="Floor"/> over <see cref="TotalSteps"/>, with optional
/// linear warmup over the first <see cref="Warmup"/> steps. Linear and cosine follow Modula's
/// paper harness: progress p = step / TotalSteps, linear <c>1 − p(1 − floor)</c>, cosine
/// <c>floor + (1 − floor)(1 + cos πp)/2</c>.
/// </summary>
public sealed record Schedule(ScheduleKind Kind, int TotalSteps = 1, double Floor = 0, int Warmup = 0)
{
    /// <summary>Steps the decay runs over (at least 1).</summary>
    public int TotalSteps { get; init; } = TotalSteps;

    /// <summary>The multiplier the decay ends at (finite, at least 0).</summary>
    public double Floor { get; init; } = Floor;

    /// <summary>Steps of linear warmup (at least 0).</summary>
    public int Warmup { get; init; } = Warmup;

    /// <summary>Throws naming the first setting out of range. The trainer calls it, and so does every multiplier
    /// (<see cref="At"/>), so that neither a constructor nor a <c>with</c> expression lets one through.</summary>
    public void Check()
    {
        if (TotalSteps < 1)
            throw new ArgumentOutOfRangeException(
                nameof(TotalSteps),
                $"Schedule: the decay needs at least 1 step, got {TotalSteps}."
            );
        if (!(Floor >= 0) || double.IsInfinity(Floor))
            throw new ArgumentOutOfRangeException(
                nameof(Floor),
                $"Schedule: floor must be finite and ≥ 0, got {Floor}."
            );
        if (Warmup < 0)
            throw new ArgumentOutOfRangeException(nameof(Warmup), $"Schedule: warmup must be ≥ 0, got {Warmup}.");
    }

    /// <summary>Multiplier 1 at every step.</summary>
    public static Schedule Constant(int warmup = 0) => new(ScheduleKind.Constant, 1, 1, warmup);

    /// <summary>Linear decay from 1 at step 0 to <paramref name="floor"/> at <paramref name="totalSteps"/>.</summary>
    public static Schedule Linear(int totalSteps, double floor = 0, int warmup = 0) =>
        Checked(new(ScheduleKind.Linear, totalSteps, floor, warmup));

    /// <summary>Cosine decay from 1 to <paramref name="floor"/> over <paramref name="totalSteps"/>.</summary>
    public static Schedule Cosine(int totalSteps, double floor = 0, int warmup = 0) =>
        Checked(new(ScheduleKind.Cosine, totalSteps, floor, warmup));

    private static Schedule Checked(Schedule schedule)
    {
        schedule.Check();
        return schedule;
    }

    /// <summary>The multiplier at <paramref name="step"/> (steps past the end keep the floor).</summary>
    public double At(int step)
    {
        if (step < 0)
            throw new ArgumentOutOfRangeException(nameof(step), $"Schedule: step must be ≥ 0, got {step}.");
        Check();
        double p = Math.Min(1, (double)step / Math.Max(1, TotalSteps));
        double decay = Kind switch
        {
            ScheduleKind.Constant => 1,
            ScheduleKind.Linear => 1 - p * (1 - Floor),
            ScheduleKind.Cosine => Floor + (1 - Floor) * (1 + Math.Cos(Math.PI * p)) / 2,
            _ => throw new InvalidOperationException($"Schedule: unknown kind {Kind}."),
        };
        return step < Warmup ? decay * (step + 1) / Warmup : decay;
    }

    /// <summary>Parses <c>constant</c>, <c>linear</c> or <c>cosine</c> for a run of <paramref
    /// name="totalSteps"/>.</summary>
    public static Schedule Parse(string name, int totalSteps, double floor = 0, int warmup = 0) =>
        name switch
        {
            "constant" or "none" => Constant(warmup),
            "linear" => Linear(totalSteps, floor, warmup),
            "cosine" => Cosine(totalSteps, floor, warmup),
            _ => throw new ArgumentException($"Schedule: unknown schedule '{name}'; use constant, linear or cosine."),
        };

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{Kind.ToString().ToLowerInvariant()}(total={TotalSteps}, floor={Floor}, warmup={Warmup})"
        );
}

/// <summary>The shape of a <see cref="Schedule"/>.</summary>
public enum ScheduleKind
{
    /// <summary>Always 1.</summary>
    Constant,

    /// <summary>Straight line from 1 to the floor.</summary>
    Linear,

    /// <summary>Half cosine from 1 to the floor.</summary>
    Cosine,
}
