using System.Globalization;
using System.Xml.Linq;
using Modula.Cli.Sweep;

namespace Modula.Tests.Cli;

/// <summary>The sweep plot's layout: tick labels that do not collide, round y ticks, clipped points marked.</summary>
[TestClass]
public sealed class SvgPlotLayoutTests
{
    private static readonly XNamespace Ns = "http://www.w3.org/2000/svg";

    private static XDocument Plot(params PlotSeries[] series) =>
        XDocument.Parse(SvgPlot.Write("t", [new PlotPanel("p", "lr", "loss", series, e => $"2^{e}")], 1));

    private static double Num(XElement e, string attribute) =>
        double.Parse(e.Attribute(attribute)!.Value, CultureInfo.InvariantCulture);

    [TestMethod]
    [DataRow(-13, 0)]
    [DataRow(-20, 3)]
    [DataRow(-3, -1)]
    [DataRow(-40, 0)]
    public void XTickLabelsDoNotOverlap(int from, int to)
    {
        var points = Enumerable.Range(from, to - from + 1).Select(e => ((double)e, 1.0 + 0.01 * e * e)).ToList();
        var ticks = Plot(new PlotSeries("s", points))
            .Descendants(Ns + "text")
            .Where(e => (string?)e.Attribute("class") == "xtick")
            .OrderBy(e => Num(e, "x"))
            .ToList();
        Assert.IsTrue(ticks.Count >= 2, $"{from}..{to}: at least two labelled ticks, got {ticks.Count}");
        for (int i = 1; i < ticks.Count; i++)
        {
            double right = Num(ticks[i - 1], "x") + SvgPlot.LabelWidth(ticks[i - 1].Value.Length) / 2;
            double left = Num(ticks[i], "x") - SvgPlot.LabelWidth(ticks[i].Value.Length) / 2;
            Assert.IsTrue(
                left - right >= SvgPlot.LabelGap - 1e-9,
                $"{from}..{to}: labels '{ticks[i - 1].Value}' and '{ticks[i].Value}' are {left - right:F1}px apart"
            );
        }
        Assert.IsTrue(ticks.Any(t => t.Value == $"2^{to}"), "the right end is labelled");
    }

    [TestMethod]
    public void YTicksAreRoundNumbers()
    {
        int seed = 20;
        var random = new Random(seed);
        for (int trial = 0; trial < 50; trial++)
        {
            double scale = Math.Pow(10, random.Next(-3, 3)),
                offset = random.NextDouble() * 10 * scale;
            var ys = Enumerable.Range(0, 8).Select(_ => offset + random.NextDouble() * scale).ToList();
            var (low, high, step) = SvgPlot.YAxis(ys);
            double mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step) + 1e-9));
            Assert.IsTrue(
                new[] { 1.0, 2.0, 5.0 }.Any(m => Math.Abs(mantissa - m) < 1e-6),
                $"seed {seed} trial {trial}: step {step} is not 1, 2 or 5 times a power of ten"
            );
            Assert.AreEqual(
                0,
                Math.Abs(low / step - Math.Round(low / step)),
                1e-6,
                $"seed {seed} trial {trial}: low {low}"
            );
            Assert.AreEqual(
                0,
                Math.Abs(high / step - Math.Round(high / step)),
                1e-6,
                $"seed {seed} trial {trial}: high {high}"
            );
            double intervals = (high - low) / step;
            Assert.IsTrue(
                intervals >= 2 - 1e-9 && intervals <= 7 + 1e-9,
                $"seed {seed} trial {trial}: {intervals} intervals"
            );
            var (rawLow, rawHigh) = SvgPlot.YRange(ys);
            Assert.IsTrue(low <= rawLow && high >= rawHigh, $"seed {seed} trial {trial}: axis covers the range");
        }
        var labels = Plot(new PlotSeries("s", [(-3, 0.516), (-2, 0.465), (-1, 0.49)]))
            .Descendants(Ns + "text")
            .Where(e => (string?)e.Attribute("class") == "ytick")
            .Select(e => e.Value)
            .ToList();
        CollectionAssert.AreEqual(new[] { "0.46", "0.48", "0.50", "0.52" }, labels);
    }

    [TestMethod]
    public void ClippedPointsAreMarkedAndTheLegendExplainsEveryMarker()
    {
        var svg = Plot(
            new PlotSeries("a", [(-4, 0.50), (-3, 0.48), (-2, 0.47), (-1, 0.49), (0, 1.09)], (-2, 0.47), [1]),
            new PlotSeries("b", [(-4, 0.52), (-3, 0.50), (-2, 0.49), (-1, 0.51)])
        );
        var clipped = svg.Descendants(Ns + "path").Where(e => (string?)e.Attribute("class") == "clipped").ToList();
        Assert.AreEqual(1, clipped.Count, "only the 1.09 lies above the y range");
        var legend = svg.Descendants(Ns + "text")
            .Where(e => (string?)e.Attribute("class") == "legend")
            .Select(e => e.Value)
            .ToList();
        CollectionAssert.AreEqual(new[] { "a", "b", "best point", "diverged", "above the y range" }, legend);

        var inRange = Plot(new PlotSeries("a", [(-2, 0.5), (-1, 0.6)]));
        Assert.IsFalse(inRange.Descendants(Ns + "path").Any(e => (string?)e.Attribute("class") == "clipped"));
        CollectionAssert.AreEqual(
            new[] { "a" },
            inRange
                .Descendants(Ns + "text")
                .Where(e => (string?)e.Attribute("class") == "legend")
                .Select(e => e.Value)
                .ToList(),
            "no key for markers not drawn"
        );
    }
}
