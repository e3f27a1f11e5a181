using Modula.Cli;
using Modula.Cli.Commands;

namespace Modula.Tests.Cli;

/// <summary>The statistics the benchmarks print, against values worked out by hand.</summary>
[TestClass]
public sealed class MeasureTests
{
    [TestMethod]
    public void QuantileTakesTheValueAtItsPositionInTheSortedValues()
    {
        double[] values = [7, 1, 5, 3, 9, 11, 13, 15]; // sorted: 1 3 5 7 9 11 13 15
        Assert.AreEqual(1, Measure.Quantile(values, 0));
        Assert.AreEqual(5, Measure.Quantile(values, 0.25)); // position 2
        Assert.AreEqual(9, Measure.Quantile(values, 0.5)); // position 4: the upper median
        Assert.AreEqual(13, Measure.Quantile(values, 0.75)); // position 6
        Assert.AreEqual(9, Measure.Median(values));
        Assert.AreEqual(5, Measure.Median([9, 5, 1])); // an odd count: the middle one
        Assert.IsTrue(double.IsNaN(Measure.Quantile([], 0.5)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Measure.Quantile(values, 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Measure.Quantile(values, double.NaN));
    }

    [TestMethod]
    public void TurnRatiosPairEachStepWithTheFirstRunsStepOfTheSameTurn()
    {
        // Turn by turn the ratios are 2, 0.5, 3 and 1: sorted 0.5 1 2 3. Pairing across turns, or dividing the other
        // way round, gives other quartiles.
        double[] firsts = [10, 40, 20, 30];
        double[] times = [20, 20, 60, 30];
        var (median, q1, q3) = GptStepBench.TurnRatios(times, firsts);
        Assert.AreEqual(2, median);
        Assert.AreEqual(1, q1);
        Assert.AreEqual(3, q3);
        Assert.ThrowsExactly<ArgumentException>(() => GptStepBench.TurnRatios(times, firsts[..3]));
        Assert.ThrowsExactly<ArgumentException>(() => GptStepBench.TurnRatios([], []));
    }
}
