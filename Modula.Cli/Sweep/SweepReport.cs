using System.Globalization;
using System.Text;
using static System.FormattableString;
using static Modula.Cli.Sweep.SweepScoring;

namespace Modula.Cli.Sweep;

/// <summary>
/// Turns a sweep's results into the paper-style figures (loss against learning rate per
/// optimizer, one curve per scale; loss against scale at the learning rate tuned on the smallest
/// model) and a Markdown summary of the best learning rate per scale and its drift.
/// </summary>
public static class SweepReport
{
    /// <summary>Writes <c>FAMILY-width.svg</c>, <c>FAMILY-depth.svg</c> and <c>FAMILY-transfer.svg</c> into <paramref
    /// name="directory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> WritePlots(SweepPlan plan, IReadOnlyList<SweepResult> results, string directory)
    {
        Directory.CreateDirectory(directory);
        var paths = new List<string>();
        var curvesByAxis = Axes(plan).ToDictionary(axis => axis, axis => Curves(plan.Along(axis, results), axis));
        foreach (var (axis, curves) in curvesByAxis)
        {
            var panels = plan
                .Optimizers.Select(o => new PlotPanel(
                    o.Name,
                    "learning rate",
                    "training loss",
                    curves
                        .Where(c => c.Key.Optimizer == o.Name)
                        .Select(c => CurveSeries($"{Name(axis)} {c.Key.Scale}", c.Value))
                        .ToList(),
                    e => $"2^{e}"
                ))
                .ToList();
            paths.Add(
                Save(
                    directory,
                    $"{plan.Family}-{Name(axis)}.svg",
                    SvgPlot.Write(
                        $"{plan.Family}: learning-rate sweeps across {Name(axis)} ({Fixed(plan, axis)}, {plan.Steps} "
                            + $"steps)",
                        panels,
                        Math.Min(3, panels.Count)
                    )
                )
            );
        }
        var transfer = curvesByAxis
            .Select(c => new PlotPanel(
                $"across {Name(c.Key)}",
                Name(c.Key),
                "training loss at tuned lr",
                plan.Optimizers.Select(o => TransferSeries(o.Name, c.Value)).ToList(),
                e => Math.Pow(2, e).ToString(CultureInfo.InvariantCulture)
            ))
            .ToList();
        paths.Add(
            Save(
                directory,
                $"{plan.Family}-transfer.svg",
                SvgPlot.Write(
                    $"{plan.Family}: loss at the learning rate tuned on the smallest model",
                    transfer,
                    transfer.Count
                )
            )
        );
        return paths;
    }

    /// <summary>
    /// The Markdown summary: per axis, the best log₂ learning rate of each optimizer at each scale
    /// (<c>*</c> at a grid edge, <c>—</c> when every run diverged), its drift in grid steps, the
    /// diverged-run count, and the loss at the learning rate tuned on the smallest model.
    /// </summary>
    public static string Summary(SweepPlan plan, IReadOnlyList<SweepResult> results)
    {
        var text = new StringBuilder();
        foreach (var axis in Axes(plan))
        {
            var scales = axis == SweepAxis.Width ? plan.Widths : plan.Depths;
            var curves = Curves(plan.Along(axis, results), axis);
            text.AppendLine(
                Invariant(
                    $"{plan.Family} across {Name(axis)} ({Fixed(plan, axis)}, {plan.Steps} steps, batch {plan.Batch}, "
                ) + Invariant($"seeds {string.Join(" ", plan.Seeds)}): best log2(lr) per {Name(axis)}")
            );
            text.AppendLine();
            text.AppendLine(
                $"| optimizer | {string.Join(" | ", scales)} | drift | diverged | loss at lr tuned on {scales.Min()}: "
                    + $"{string.Join(" → ", scales)} |"
            );
            text.AppendLine($"|---|{string.Concat(scales.Select(_ => "---:|"))}---:|---:|---|");
            foreach (var o in plan.Optimizers)
            {
                var own = scales.Select(s => curves.TryGetValue((o.Name, s), out var c) ? c : []).ToList();
                var bests = own.Select(c =>
                    c.Count == 0 ? ""
                    : Best(c) is { } b ? Invariant($"{b.LrExponent}{(AtGridEdge(c, b) ? "*" : "")}")
                    : "—"
                );
                int? drift = own.Any(c => c.Count == 0) ? null : Drift(own);
                int diverged = own.Sum(c => c.Count(p => p.Diverged));
                var transfer = AtSmallestScaleOptimum(scales.Zip(own, (s, c) => (s, (IReadOnlyList<Point>)c)).ToList());
                text.AppendLine(
                    Invariant($"| {o.Name} | {string.Join(" | ", bests)} | ")
                        + Invariant(
                            $"{(drift is { } d ? d.ToString(CultureInfo.InvariantCulture) : "n/a")} | {diverged} | "
                        )
                        + Invariant($"{string.Join(" → ", transfer.Select(t => Score(t.Score)))} |")
                );
            }
            text.AppendLine();
        }
        text.AppendLine(
            "`*` best at the edge of the grid (the optimum may lie beyond it); `—` every run diverged; drift = largest "
                + "− smallest best exponent (factors of 2)."
        );
        return text.ToString();
    }

    private static PlotSeries CurveSeries(string label, IReadOnlyList<Point> curve) =>
        new(
            label,
            curve.Where(p => !p.Diverged).Select(p => ((double)p.LrExponent, p.Score)).ToList(),
            Best(curve) is { } b ? (b.LrExponent, b.Score) : null,
            curve.Where(p => p.Diverged).Select(p => (double)p.LrExponent).ToList()
        );

    private static PlotSeries TransferSeries(
        string optimizer,
        SortedDictionary<(string Optimizer, int Scale), List<Point>> curves
    )
    {
        var own = curves
            .Where(c => c.Key.Optimizer == optimizer)
            .Select(c => (c.Key.Scale, (IReadOnlyList<Point>)c.Value))
            .ToList();
        var points = AtSmallestScaleOptimum(own);
        return new(
            optimizer,
            points.Where(p => !double.IsNaN(p.Score)).Select(p => (Math.Log2(p.Scale), p.Score)).ToList(),
            Failed: points.Where(p => double.IsNaN(p.Score)).Select(p => Math.Log2(p.Scale)).ToList()
        );
    }

    private static IEnumerable<SweepAxis> Axes(SweepPlan plan)
    {
        if (plan.Widths.Count > 0)
            yield return SweepAxis.Width;
        if (plan.Depths.Count > 0)
            yield return SweepAxis.Depth;
    }

    private static string Name(SweepAxis axis) => axis == SweepAxis.Width ? "width" : "depth";

    private static string Fixed(SweepPlan plan, SweepAxis axis) =>
        axis == SweepAxis.Width ? $"depth {plan.BaseDepth}" : $"width {plan.BaseWidth}";

    private static string Save(string directory, string name, string content)
    {
        string path = Path.Combine(directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static string Score(double score) =>
        double.IsNaN(score) ? "—" : score.ToString("F3", CultureInfo.InvariantCulture);
}
