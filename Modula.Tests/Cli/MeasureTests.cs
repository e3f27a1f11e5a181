using System.Diagnostics;
using System.Reflection.Emit;
using Modula.Cli;
using Modula.Cli.Commands;

namespace Modula.Tests.Cli;

/// <summary>The statistics the benchmarks print, against values worked out by hand, and how they wait for the
/// runtime's compiler.</summary>
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

    [TestMethod]
    public void StillCompilingEndsAfterAQuietSpellAndResumesWhenAMethodIsCompiled()
    {
        // Tests run one at a time, but the runtime may still be optimizing earlier tests' code in the background:
        // wait for a spell without compilation, which ends long before the limit unless the quiet is never seen.
        var limit = TimeSpan.FromSeconds(20);
        var waited = Stopwatch.StartNew();
        while (Measure.StillCompiling())
        {
            if (waited.Elapsed > limit)
                Assert.Fail(
                    $"StillCompiling held for {limit.TotalSeconds} s: no spell of {Measure.CompilerQuiet} seen."
                );
            Thread.Sleep(20);
        }
        var fresh = new DynamicMethod("Fresh", typeof(int), Type.EmptyTypes);
        var il = fresh.GetILGenerator();
        il.Emit(OpCodes.Ldc_I4, 42);
        il.Emit(OpCodes.Ret);
        Assert.AreEqual(42, fresh.CreateDelegate<Func<int>>()()); // compiled on its first call
        Assert.IsTrue(Measure.StillCompiling(), "a method was compiled just now");
        Assert.IsTrue(Measure.StillCompiling(), $"a method was compiled less than {Measure.CompilerQuiet} ago");
    }
}
