using Modula.Modules;
using Modula.Modules.Algebra;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

[TestClass]
public sealed class AlgebraTests
{
    [TestMethod]
    public void CompositionAddsMassesAndMultipliesSensitivities()
    {
        var a = new Linear(8, 4, mass: 2);
        var relu = new Relu();
        var b = new Linear(3, 8, mass: 0.5);
        var m = a >> relu >> b;
        Assert.AreEqual(2.5, m.Mass, 1e-15);
        Assert.AreEqual(1 / Math.Sqrt(2), m.Sensitivity, 1e-15);
        Assert.AreEqual(2, m.AtomCount);
        Assert.AreEqual(1, m.BondCount);
        Assert.AreEqual(0.0, relu.Mass);
        Assert.IsFalse(m.Smooth);
    }

    [TestMethod]
    public void TupleAndSumAddMassesAndSensitivities()
    {
        var t = Module.Tuple(new Linear(4, 4, mass: 1), 3 * new Linear(4, 4, mass: 2));
        Assert.AreEqual(3.0, t.Mass, 1e-15);
        Assert.AreEqual(4.0, t.Sensitivity, 1e-15);
        var sum = new Linear(4, 4) + 0.5 * new Identity();
        Assert.AreEqual(1.0, sum.Mass, 1e-15);
        Assert.AreEqual(1.5, sum.Sensitivity, 1e-15);
        Assert.AreEqual(3, sum.BondCount); // Identity, Mul, Add
    }

    [TestMethod]
    public void ShiftRunsTheLeftModuleFirst()
    {
        var first = new Linear(5, 3);
        var second = new Linear(2, 5);
        var m = first >> second;
        using var w = Init(m);
        using var x = Rand(3, 4, 3);
        var y = Run(m, w, x);
        var h = MatMulT(Values(x), Values(w[0]), 4, 3, 5).Select(v => v * Math.Sqrt(5.0 / 3)).ToArray();
        var expected = MatMulT(h, Values(w[1]), 4, 5, 2).Select(v => v * Math.Sqrt(2.0 / 5)).ToArray();
        Reference.AssertClose(expected, y, 1e-12, 1e-12, "a >> b = b(a(x))");
        Assert.AreEqual(new Modula.Tensors.Shape(5, 3), w[0].Shape, "weights are ordered input side first");
    }

    [TestMethod]
    public void ScalarOnTheLeftScalesTheOutputAndOnTheRightTheInput()
    {
        using var x = Rand(4, 2, 6);
        using var none = Init(new Identity());
        var gelu = new ScaledTanhGelu();
        var plain = Run(gelu, none, x);
        var output = Run(3 * gelu, none, x);
        var input = Run(gelu * 3, none, x);
        Reference.AssertClose(plain.Select(v => 3 * v).ToArray(), output, 1e-12, 1e-12, "3 * m scales the output");
        using var scaled = Modula.Tensors.Ops.Mul(x, 3);
        Reference.AssertClose(Run(gelu, none, scaled), input, 1e-12, 1e-12, "m * 3 scales the input");
        Assert.AreEqual(3.0, (3 * gelu).Sensitivity, 1e-15);
        Assert.ThrowsExactly<ArgumentException>(() => _ = 0 * gelu);
    }

    [TestMethod]
    public void RepeatChainsIndependentCopiesEndingInIdentity()
    {
        var layer = new Linear(4, 4) >> new Relu();
        var three = layer.Repeat(3);
        Assert.AreEqual(3, three.AtomCount);
        Assert.AreEqual(3.0, three.Mass, 1e-15);
        Assert.AreEqual(Math.Pow(2, -1.5), three.Sensitivity, 1e-12);
        Assert.AreEqual(4, three.BondCount); // three ReLUs and the Identity base
        using var w = Init(three);
        var distinct = w.Select(t => Values(t)[0]).Distinct().Count();
        Assert.AreEqual(3, distinct, "each copy draws its own weights");
        Assert.AreEqual(0, layer.Repeat(0).AtomCount);
    }

    [TestMethod]
    public void TareRescalesEveryMassAndLeavesTheOriginal()
    {
        var m = new Linear(4, 4, mass: 1) >> new Relu() >> new Linear(4, 4, mass: 3);
        var tared = m.Tare(2);
        Assert.AreEqual(2.0, tared.Mass, 1e-15);
        var masses = tared.Atoms().Select(a => a.Atom.Mass).ToArray();
        CollectionAssert.AreEqual(new[] { 0.5, 1.5 }, masses);
        Assert.AreEqual(4.0, m.Mass, 1e-15, "the original is unchanged");
        Assert.AreEqual(m.Sensitivity, tared.Sensitivity, 1e-15);
        Assert.ThrowsExactly<InvalidOperationException>(() => new Relu().Tare());
    }

    [TestMethod]
    public void ModulaV2BookkeepingMatchesItsPrintouts()
    {
        var gpt = Gpt.V2(new GptConfig());
        Assert.AreEqual((26, 78), (gpt.AtomCount, gpt.BondCount));
        Assert.AreEqual(7.0, gpt.Mass, 1e-12);
        Assert.AreEqual(1.0, gpt.Sensitivity, 1e-12);
        Assert.IsFalse(gpt.Smooth);

        var attention = Attention.V2(4, 128, 32, 32);
        Assert.AreEqual((4, 10), (attention.AtomCount, attention.BondCount));
        Assert.AreEqual(4.0, attention.Mass, 1e-12);
        Assert.AreEqual(1.0, attention.Sensitivity, 1e-12);
        Assert.AreEqual((1 + 2 * 2.0) / 3, Attention.V2(4, 128, 32, 32, softmaxScale: 2).Sensitivity, 1e-12);

        var mlp = Mlp.V2(10, 784, 256, 3);
        Assert.AreEqual((3, 2), (mlp.AtomCount, mlp.BondCount));
        Assert.AreEqual(3.0, mlp.Mass, 1e-12);
        Assert.AreEqual(1.0, mlp.Sensitivity, 1e-12);
        Assert.IsFalse(mlp.Smooth);
    }

    [TestMethod]
    public void ModulaV1CompoundsHaveTheirMassesAndUnitSensitivity()
    {
        var gpt = Gpt.V1(new GptConfig());
        Assert.AreEqual(7.0, gpt.Mass, 1e-12);
        Assert.AreEqual(1.0, gpt.Sensitivity, 1e-12);
        Assert.AreEqual(4 * 6 + 3, gpt.AtomCount);
        Assert.AreEqual(3.0, Mlp.ResMlp(64, 4, 2, 784, 10).Mass, 1e-12);
        Assert.AreEqual(22.0, Mlp.ResCnn(16, 3, 2, 1, 10).Mass, 1e-12);
    }

    [TestMethod]
    public void SummaryListsTheTreeWithTargets()
    {
        var text = Gpt.V1(new GptConfig()).Summary();
        StringAssert.StartsWith(text, "GPT v1: 27 atoms");
        StringAssert.Contains(text, "Linear(128→128)  mass 0.2083  target 0.7143");
        StringAssert.Contains(text, "Embedding(65×128)  mass 0.5  target 0.1429");
        StringAssert.Contains(text, "FunctionalAttention(causal=True)  sensitivity 1");
        Assert.AreEqual(27, text.Split('\n').Count(l => l.Contains("  target ")), "one line per atom");
    }
}
