namespace Modula.Cli.Sweep;

/// <summary>
/// How a sweep is scored, as in the Modula paper: a run's score is its mean training loss over
/// the last logged steps; the best learning rate of a curve is its lowest score among runs that
/// did not diverge; a learning rate "transfers" when the best exponent stays put across scales.
/// </summary>
public static class SweepScoring
{
    /// <summary>
    /// Scores one run from its per-step training losses: the mean of the last
    /// <paramref name="averageLast"/>. A run diverged when any loss is not finite (score NaN) or the
    /// score is above the first loss (it ended worse than it started).
    /// </summary>
    public static (double Score, bool Diverged) Score(IReadOnlyList<double> losses, int averageLast)
    {
        if (losses.Count == 0)
            throw new ArgumentException("Score: a run needs at least one loss.", nameof(losses));
        if (averageLast < 1)
            throw new ArgumentOutOfRangeException(
                nameof(averageLast),
                $"Score: averageLast must be ≥ 1, got {averageLast}."
            );
        if (losses.Any(l => !double.IsFinite(l)))
            return (double.NaN, true);
        double score = losses.Skip(Math.Max(0, losses.Count - averageLast)).Average();
        return (score, score > losses[0]);
    }

    /// <summary>A point of a learning-rate curve: the mean score over seeds, diverged if any seed diverged.</summary>
    public readonly record struct Point(int LrExponent, double Score, bool Diverged);

    /// <summary>Groups results into curves: per optimizer and scale, the points in learning-rate order.</summary>
    public static SortedDictionary<(string Optimizer, int Scale), List<Point>> Curves(
        IEnumerable<SweepResult> results,
        SweepAxis axis
    ) =>
        new(
            results
                .GroupBy(r => (r.Cell.Optimizer, Scale: r.Cell.Scale(axis)))
                .ToDictionary(
                    g => g.Key,
                    g =>
                        g.GroupBy(r => r.Cell.LrExponent)
                            .OrderBy(p => p.Key)
                            .Select(p => new Point(
                                p.Key,
                                p.Any(r => r.Diverged) ? double.NaN : p.Average(r => r.Score),
                                p.Any(r => r.Diverged)
                            ))
                            .ToList()
                )
        );

    /// <summary>The best point of a curve (lowest score among non-diverged points), or null when every point
    /// diverged.</summary>
    public static Point? Best(IReadOnlyList<Point> curve)
    {
        Point? best = null;
        foreach (var p in curve.Where(p => !p.Diverged))
            if (best is null || p.Score < best.Value.Score)
                best = p;
        return best;
    }

    /// <summary>True when <paramref name="point"/> lies at either end of its curve's grid (the true optimum may lie
    /// outside it).</summary>
    public static bool AtGridEdge(IReadOnlyList<Point> curve, Point point) =>
        point.LrExponent == curve[0].LrExponent || point.LrExponent == curve[^1].LrExponent;

    /// <summary>
    /// The drift of the best learning rate across scales, in grid steps (factors of 2): the largest
    /// minus the smallest best exponent; null when a scale has no non-diverged point.
    /// </summary>
    public static int? Drift(IEnumerable<IReadOnlyList<Point>> curvesAcrossScales)
    {
        var bests = curvesAcrossScales.Select(Best).ToList();
        if (bests.Count == 0 || bests.Any(b => b is null))
            return null;
        return bests.Max(b => b!.Value.LrExponent) - bests.Min(b => b!.Value.LrExponent);
    }

    /// <summary>
    /// The score at every scale at the learning rate that was best at the smallest scale (the
    /// paper's "transfer" plot); NaN where that run diverged or is missing.
    /// </summary>
    public static List<(int Scale, double Score)> AtSmallestScaleOptimum(
        IReadOnlyList<(int Scale, IReadOnlyList<Point> Curve)> curves
    )
    {
        var ordered = curves.OrderBy(c => c.Scale).ToList();
        if (ordered.Count == 0 || Best(ordered[0].Curve) is not { } tuned)
            return ordered.Select(c => (c.Scale, double.NaN)).ToList();
        return ordered
            .Select(c =>
                (
                    c.Scale,
                    c.Curve.Where(p => p.LrExponent == tuned.LrExponent && !p.Diverged)
                        .Select(p => p.Score)
                        .DefaultIfEmpty(double.NaN)
                        .First()
                )
            )
            .ToList();
    }
}
