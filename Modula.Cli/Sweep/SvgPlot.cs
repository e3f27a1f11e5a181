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
/// Writes line plots as standalone SVG: a grid of panels, each with its own axes, ticks at
/// integer x values, a legend, and y limited to where the curves' minima are readable (points
/// above the limit are clipped at the top edge).
/// </summary>
public static class SvgPlot
{
    private const int PanelWidth = 300,
        PanelHeight = 220,
        Left = 60,
        Top = 40,
        Legend = 110,
        Bottom = 50;
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
                + Invariant($"{width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n")
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
        var (y0, y1) = YRange(points.Select(p => p.Y).ToList());
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
        int step = Math.Max(1, (int)Math.Ceiling((x1 - x0) / 10));
        for (int t = (int)x0; t <= x1; t += step)
        {
            svg.Append(
                Invariant(
                    $"<line x1=\"{X(t):F1}\" y1=\"{py + PanelHeight}\" x2=\"{X(t):F1}\" y2=\"{py + PanelHeight + 4}\" "
                ) + Invariant($"stroke=\"#444\"/>")
            );
            svg.Append(
                Invariant($"<text x=\"{X(t):F1}\" y=\"{py + PanelHeight + 16}\" ")
                    + Invariant($"text-anchor=\"middle\">{Escape(panel.XTick(t))}</text>\n")
            );
        }
        for (int t = 0; t <= 4; t++)
        {
            double y = y0 + (y1 - y0) * t / 4;
            svg.Append(
                Invariant($"<line x1=\"{px - 4}\" y1=\"{Y(y):F1}\" x2=\"{px}\" y2=\"{Y(y):F1}\" stroke=\"#444\"/>")
            );
            svg.Append(Invariant($"<text x=\"{px - 6}\" y=\"{Y(y) + 4:F1}\" text-anchor=\"end\">{y:G3}</text>\n"));
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
            foreach (var failed in series.Failed ?? [])
                svg.Append(
                    Invariant($"<text class=\"failed\" x=\"{X(failed):F1}\" y=\"{py + 4}\" text-anchor=\"middle\" ")
                        + Invariant($"fill=\"{color}\">×</text>\n")
                );
            if (series.Marked is { } m)
                svg.Append(
                    Invariant($"<circle class=\"best\" cx=\"{X(m.X):F1}\" cy=\"{Y(m.Y):F1}\" r=\"3.5\" fill=\"red\" ")
                        + Invariant($"stroke=\"{color}\"/>\n")
                );
            double ly = py + 8 + 16 * s;
            svg.Append(
                Invariant($"<line x1=\"{px + PanelWidth + 10}\" y1=\"{ly}\" x2=\"{px + PanelWidth + 28}\" y2=\"{ly}\" ")
                    + Invariant($"stroke=\"{color}\" stroke-width=\"2\"/>")
            );
            svg.Append(Invariant($"<text x=\"{px + PanelWidth + 32}\" y=\"{ly + 4}\">{Escape(series.Label)}</text>\n"));
        }
        svg.Append("</g>\n");
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
