using Modula.Modules;

namespace Modula.Tests.Modules;

[TestClass]
public sealed class TargetTests
{
    private static void AssertTargets(Module m, Func<string, double> expected)
    {
        var targets = m.AtomTargets(1);
        var atoms = m.Atoms();
        for (int i = 0; i < atoms.Count; i++)
            Assert.AreEqual(expected(atoms[i].Path), targets[i], 1e-12, atoms[i].Path);
    }

    public static IEnumerable<object[]> Depths =>
        [
            [1],
            [2],
            [4],
            [8],
        ];

    [TestMethod]
    [DynamicData(nameof(Depths))]
    public void GptTargetsAreSeventhsIndependentOfDepth(int blocks)
    {
        foreach (var gpt in new[] { Gpt.V1(new GptConfig(Blocks: blocks)), Gpt.V2(new GptConfig(Blocks: blocks)) })
            AssertTargets(gpt, path => path.Contains("Embedding") || path.Contains("head") ? 1.0 / 7
                : path.Contains("/Q/") || path.Contains("/K/") || path.Contains("/V/") ? 5.0 / 7
                : 5.0 / 21);
    }

    [TestMethod]
    [DynamicData(nameof(Depths))]
    public void ResMlpTargetsAreAThirdAndASixth(int blocks)
    {
        var m = Mlp.ResMlp(32, blocks, 2, 784, 10);
        var targets = m.AtomTargets(1);
        Assert.AreEqual(2 + 2 * blocks, targets.Length);
        Assert.AreEqual(1.0 / 3, targets[0], 1e-12);
        Assert.AreEqual(1.0 / 3, targets[^1], 1e-12);
        for (int i = 1; i < targets.Length - 1; i++)
            Assert.AreEqual(1.0 / 6, targets[i], 1e-12, $"block atom {i}");
    }

    [TestMethod]
    public void ResCnnTargetsAreElevenths()
    {
        var targets = Mlp.ResCnn(16, 3, 2, 3, 10).AtomTargets(1);
        Assert.AreEqual(8, targets.Length);
        Assert.AreEqual(1.0 / 22, targets[0], 1e-12);
        Assert.AreEqual(1.0 / 22, targets[^1], 1e-12);
        for (int i = 1; i < 7; i++)
            Assert.AreEqual(10.0 / 22, targets[i], 1e-12);
    }

    [TestMethod]
    public void HelloWorldMlpDividesTheInputTargetByTheReluSensitivity()
    {
        var m = new Linear(10000, 10) >> new Relu() >> new Linear(10, 10000);
        var targets = m.AtomTargets(1);
        Assert.AreEqual(0.5 * Math.Sqrt(2), targets[0], 1e-12);
        Assert.AreEqual(0.5, targets[1], 1e-12);
        Assert.AreEqual(1 / 3.0, Mlp.V2(10, 784, 256, 3).AtomTargets(1)[1], 1e-12);
    }

    [TestMethod]
    public void TargetsScaleLinearlyAndZeroMassGetsZero()
    {
        var m = new Linear(4, 4, mass: 1) >> new Relu() >> new Linear(4, 4, mass: 3);
        var one = m.AtomTargets(1);
        var half = m.AtomTargets(0.5);
        for (int i = 0; i < one.Length; i++)
            Assert.AreEqual(one[i] / 2, half[i], 1e-15);
        var frozen = new Linear(4, 4, mass: 0) >> new Linear(4, 4, mass: 1);
        CollectionAssert.AreEqual(new[] { 0.0, 1.0 }, frozen.AtomTargets(1));
    }
}
