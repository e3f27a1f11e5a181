using System.Security;
using System.Text;
using static System.FormattableString;

namespace Modula.Cli.Sweep;

/// <summary>A line of a plot: its points in order, an optional marked point (drawn as a red dot) and x positions of
/// failed runs (drawn as crosses at the top).</summary>
/// <param name="Label">Legend text.</param>
/// <param name="Points">The finite points, in x order.</param>
/// <param name="Marked">The point to highlight (a curve's best), if any.</param>
/// <param name="Failed">X positions where the run failed (diverged), if any.</param>
public sealed record PlotSeries(
    string Label,
    IReadOnlyList<(double X, double Y)> Points,
    (double X, double Y)? Marked = null,
    IReadOnlyList<double>? Failed = null
);

/// <summary>One panel of a figure: axes, labels and its series.</summary>
/// <param name="Title">Panel title.</param>
/// <param name="XLabel">X axis label.</param>
/// <param name="YLabel">Y axis label.</param>
/// <param name="Series">The lines.</param>
/// <param name="XTick">Label of an integer x tick (for example "2^-3" for a log₂ axis).</param>
public sealed record PlotPanel(
    string Title,
    string XLabel,
    string YLabel,
    IReadOnlyList<PlotSeries> Series,
    Func<int, string> XTick
);

/// <summary>
/// Writes line plots as standalone SVG: a grid of panels, each with its own axes, x ticks at
/// integers spaced so their labels never overlap, y ticks at round values, a legend, and y limited
/// to where the curves' minima are readable (points above the limit are drawn as triangles on the
/// top edge, so a clipped value is never mistaken for a drawn one).
/// </summary>
public static class SvgPlot
{
    private const int PanelWidth = 300,
        PanelHeight = 220,
        Left = 60,
        Top = 40,
        Legend = 130,
        Bottom = 50;

    /// <summary>Font size of tick labels, in pixels.</summary>
    internal const double FontSize = 11;

    /// <summary>Smallest gap between neighbouring x tick labels, in pixels.</summary>
    internal const double LabelGap = 6;

    private static readonly string[] Palette =
    [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#17becf",
        "#7f7f7f",
    ];

    /// <summary>The SVG document for <paramref name="panels"/>, <paramref name="columns"/> per row, under <paramref
    /// name="title"/>.</summary>
    public static string Write(string title, IReadOnlyList<PlotPanel> panels, int columns)
    {
        if (panels.Count == 0)
            throw new ArgumentException("SvgPlot: a figure needs at least one panel.", nameof(panels));
        columns = Math.Clamp(columns, 1, panels.Count);
        int rows = (panels.Count + columns - 1) / columns;
        int cellW = Left + PanelWidth + Legend,
            cellH = Top + PanelHeight + Bottom;
        int width = columns * cellW + 20,
            height = rows * cellH + 40;
        var svg = new StringBuilder();
        svg.Append(
            Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 ")
                + Invariant($"{width} {height}\" font-family=\"sans-serif\" font-size=\"{FontSize}\">\n")
        );
        svg.Append(Invariant($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"));
        svg.Append(
            Invariant(
                $"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n"
            )
        );
        for (int i = 0; i < panels.Count; i++)
            WritePanel(svg, panels[i], i, 10 + (i % columns) * cellW, 30 + (i / columns) * cellH);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static void WritePanel(StringBuilder svg, PlotPanel panel, int index, double ox, double oy)
    {
        var points = panel.Series.SelectMany(s => s.Points).ToList();
        var xs = points.Select(p => p.X).Concat(panel.Series.SelectMany(s => s.Failed ?? [])).ToList();
        double x0 = xs.Count > 0 ? Math.Floor(xs.Min()) : 0,
            x1 = xs.Count > 0 ? Math.Ceiling(xs.Max()) : 1;
        if (x1 <= x0)
            x1 = x0 + 1;
        var (y0, y1, yStep) = YAxis(points.Select(p => p.Y).ToList());
        double px = ox + Left,
            py = oy + Top;
        double X(double x) => px + (x - x0) / (x1 - x0) * PanelWidth;
        double Y(double y) => py + PanelHeight - (Math.Min(y, y1) - y0) / (y1 - y0) * PanelHeight;

        svg.Append(
            Invariant($"<g>\n<text x=\"{px + PanelWidth / 2}\" y=\"{py - 10}\" text-anchor=\"middle\" ")
                + Invariant($"font-size=\"13\">{Escape(panel.Title)}</text>\n")
        );
        svg.Append(
            Invariant($"<rect x=\"{px}\" y=\"{py}\" width=\"{PanelWidth}\" height=\"{PanelHeight}\" fill=\"none\" ")
                + Invariant($"stroke=\"#444\"/>\n")
        );
        int widest = Enumerable.Range((int)x0, (int)(x1 - x0) + 1).Max(t => panel.XTick(t).Length);
        int step = XTickStep(x0, x1, PanelWidth, widest);
        // Ticks count from the right end so the largest x (the usual region of interest) is always labelled.
        for (int t = (int)x1; t >= x0; t -= step)
        {
            svg.Append(
                Invariant(
                    $"<line x1=\"{X(t):F1}\" y1=\"{py + PanelHeight}\" x2=\"{X(t):F1}\" y2=\"{py + PanelHeight + 4}\" "
                ) + Invariant($"stroke=\"#444\"/>")
            );
            svg.Append(
                Invariant($"<text class=\"xtick\" x=\"{X(t):F1}\" y=\"{py + PanelHeight + 16}\" ")
                    + Invariant($"text-anchor=\"middle\">{Escape(panel.XTick(t))}</text>\n")
            );
        }
        int yCount = (int)Math.Round((y1 - y0) / yStep);
        for (int t = 0; t <= yCount; t++)
        {
            double y = y0 + yStep * t;
            svg.Append(
                Invariant($"<line x1=\"{px - 4}\" y1=\"{Y(y):F1}\" x2=\"{px}\" y2=\"{Y(y):F1}\" stroke=\"#444\"/>")
            );
            svg.Append(
                Invariant($"<text class=\"ytick\" x=\"{px - 6}\" y=\"{Y(y) + 4:F1}\" ")
                    + Invariant($"text-anchor=\"end\">{TickText(y, yStep)}</text>\n")
            );
        }
        svg.Append(
            Invariant($"<text x=\"{px + PanelWidth / 2}\" y=\"{py + PanelHeight + 34}\" ")
                + Invariant($"text-anchor=\"middle\">{Escape(panel.XLabel)}</text>\n")
        );
        svg.Append(
            Invariant($"<text transform=\"translate({px - 44},{py + PanelHeight / 2}) rotate(-90)\" ")
                + Invariant($"text-anchor=\"middle\">{Escape(panel.YLabel)}</text>\n")
        );
        svg.Append(
            Invariant($"<clipPath id=\"clip{index}\"><rect x=\"{px}\" y=\"{py - 6}\" width=\"{PanelWidth}\" ")
                + Invariant($"height=\"{PanelHeight + 6}\"/></clipPath>\n")
        );

        bool anyBest = false,
            anyFailed = false,
            anyClipped = false;
        double lx = px + PanelWidth + 10;
        for (int s = 0; s < panel.Series.Count; s++)
        {
            var series = panel.Series[s];
            string color = Palette[s % Palette.Length];
            if (series.Points.Count > 0)
            {
                string path = string.Join(" ", series.Points.Select(p => Invariant($"{X(p.X):F1},{Y(p.Y):F1}")));
                svg.Append(
                    Invariant(
                        $"<polyline class=\"series\" clip-path=\"url(#clip{index})\" fill=\"none\" stroke=\"{color}\" "
                    ) + Invariant($"stroke-width=\"1.6\" points=\"{path}\"/>\n")
                );
            }
            foreach (var (x, _) in series.Points.Where(p => p.Y > y1))
            {
                anyClipped = true;
                svg.Append(Invariant($"<path class=\"clipped\" d=\"{Triangle(X(x), py + 1)}\" fill=\"{color}\"/>\n"));
            }
            foreach (var failed in series.Failed ?? [])
            {
                anyFailed = true;
                svg.Append(
                    Invariant($"<text class=\"failed\" x=\"{X(failed):F1}\" y=\"{py - 2}\" text-anchor=\"middle\" ")
                        + Invariant($"fill=\"{color}\">×</text>\n")
                );
            }
            if (series.Marked is { } m)
            {
                anyBest = true;
                svg.Append(
                    Invariant($"<circle class=\"best\" cx=\"{X(m.X):F1}\" cy=\"{Y(m.Y):F1}\" r=\"3.5\" fill=\"red\" ")
                        + Invariant($"stroke=\"{color}\"/>\n")
                );
            }
            double ly = py + 8 + 16 * s;
            svg.Append(
                Invariant($"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{lx + 18}\" y2=\"{ly}\" stroke=\"{color}\" ")
                    + Invariant($"stroke-width=\"2\"/>")
            );
            svg.Append(
                Invariant($"<text class=\"legend\" x=\"{lx + 22}\" y=\"{ly + 4}\">{Escape(series.Label)}</text>\n")
            );
        }
        double ky = py + 8 + 16 * panel.Series.Count + 6;
        if (anyBest)
        {
            svg.Append(Invariant($"<circle cx=\"{lx + 9}\" cy=\"{ky}\" r=\"3.5\" fill=\"red\" stroke=\"#444\"/>"));
            svg.Append(Invariant($"<text class=\"legend\" x=\"{lx + 22}\" y=\"{ky + 4}\">best point</text>\n"));
            ky += 16;
        }
        if (anyFailed)
        {
            svg.Append(Invariant($"<text x=\"{lx + 9}\" y=\"{ky + 4}\" text-anchor=\"middle\" fill=\"#444\">×</text>"));
            svg.Append(Invariant($"<text class=\"legend\" x=\"{lx + 22}\" y=\"{ky + 4}\">diverged</text>\n"));
            ky += 16;
        }
        if (anyClipped)
        {
            svg.Append(Invariant($"<path d=\"{Triangle(lx + 9, ky - 4)}\" fill=\"#444\"/>"));
            svg.Append(Invariant($"<text class=\"legend\" x=\"{lx + 22}\" y=\"{ky + 4}\">above the y range</text>\n"));
        }
        svg.Append("</g>\n");
    }

    private static string Triangle(double x, double top) =>
        Invariant($"M{x:F1},{top:F1} L{x - 4:F1},{top + 7:F1} L{x + 4:F1},{top + 7:F1} Z");

    /// <summary>Estimated width in pixels of <paramref name="chars"/> characters of tick text (sans-serif, about 0.6
    /// em each).</summary>
    internal static double LabelWidth(int chars) => chars * 0.6 * FontSize;

    /// <summary>
    /// The smallest whole step between x ticks on [<paramref name="x0"/>, <paramref name="x1"/>] drawn
    /// <paramref name="pixels"/> wide such that labels of <paramref name="widestLabel"/> characters,
    /// centred on their ticks, stay at least <see cref="LabelGap"/> apart.
    /// </summary>
    internal static int XTickStep(double x0, double x1, double pixels, int widestLabel)
    {
        double perUnit = pixels / Math.Max(1e-9, x1 - x0);
        return Math.Max(1, (int)Math.Ceiling((LabelWidth(widestLabel) + LabelGap) / perUnit));
    }

    /// <summary>
    /// The y axis: <see cref="YRange"/> widened to whole multiples of a round step (1, 2 or 5 times a
    /// power of ten) chosen to give two to seven intervals.
    /// </summary>
    internal static (double Low, double High, double Step) YAxis(IReadOnlyList<double> ys)
    {
        var (low, high) = YRange(ys);
        double step = RoundStep((high - low) / 5);
        double lo = Math.Floor(low / step + 1e-9) * step,
            hi = Math.Ceiling(high / step - 1e-9) * step;
        return (lo, hi, step);
    }

    /// <summary>The round number (1, 2 or 5 times a power of ten) nearest above <paramref name="rough"/>.</summary>
    internal static double RoundStep(double rough)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double m = rough / power;
        return (
                m <= 1 ? 1
                : m <= 2 ? 2
                : m <= 5 ? 5
                : 10
            ) * power;
    }

    private static string TickText(double y, double step)
    {
        int decimals = Math.Max(0, (int)-Math.Floor(Math.Log10(step) + 1e-9));
        return Math.Round(y, decimals).ToString("F" + decimals, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The y range: from the lowest value to at most three times the spread between the lowest
    /// value and the median, so the minima stay readable when a few runs have huge losses.
    /// </summary>
    internal static (double Low, double High) YRange(IReadOnlyList<double> ys)
    {
        if (ys.Count == 0)
            return (0, 1);
        var sorted = ys.Order().ToArray();
        double low = sorted[0],
            high = Math.Min(sorted[^1], low + 3 * (sorted[sorted.Length / 2] - low));
        if (high - low < 1e-9)
            high = low + Math.Max(1e-3, Math.Abs(low) * 0.1);
        double pad = (high - low) * 0.05;
        return (low - pad, high + pad);
    }

    private static string Escape(string s) => SecurityElement.Escape(s);
}
