using Modula.Autodiff;
using Modula.Modules;
using Modula.Tensors;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

[TestClass]
public sealed class ErrorTests
{
    [TestMethod]
    public void ComposingMismatchedWidthsNamesBothModules()
    {
        var e = Assert.ThrowsExactly<ModuleException>(() => _ = new Linear(5, 3) >> new Relu() >> new Linear(2, 4));
        StringAssert.Contains(e.Message, "Linear(3→5) >> ReLU(s=0.7071) >> Linear(4→2)");
        StringAssert.Contains(e.Message, "produces 5 features, the second expects 4");
        Assert.ThrowsExactly<ModuleException>(() => _ = Module.Tuple(new Linear(2, 3), new Linear(2, 4)));
    }

    [TestMethod]
    public void NullModulesAreNamedByTheCombinator()
    {
        var e = Assert.ThrowsExactly<ArgumentNullException>(() => _ = new Linear(2, 3) >> (Module)null!);
        Assert.AreEqual("then", e.ParamName);
        Assert.ThrowsExactly<ArgumentNullException>(() => _ = (Module)null! + new Linear(2, 3));
        Assert.ThrowsExactly<ArgumentNullException>(() => _ = Module.Tuple(new Linear(2, 3), null!));
    }

    [TestMethod]
    public void ANullInputOrWeightOfForwardIsNamedWithTheModule()
    {
        // Found by an outside campaign: each of these was a NullReferenceException from deep inside the module.
        var model = new Linear(3, 2) >> new Relu();
        using var x = Rand(7, 4, 2);
        using var w = Init(model);
        var weights = w.ToVariables();
        var input = new Variable(x);
        var e = Assert.ThrowsExactly<ArgumentNullException>(() => model.Forward((Variable)null!, weights));
        Assert.AreEqual("input", e.ParamName);
        e = Assert.ThrowsExactly<ArgumentNullException>(() => model.Forward(input, null!));
        StringAssert.Contains(e.Message, "the weights are null");
        e = Assert.ThrowsExactly<ArgumentNullException>(() => model.Forward(input, [null!]));
        StringAssert.Contains(e.Message, "weight 0 is null");
        e = Assert.ThrowsExactly<ArgumentNullException>(() => model.Forward((IReadOnlyList<Variable>)null!, weights));
        StringAssert.Contains(e.Message, "the inputs are null");
        e = Assert.ThrowsExactly<ArgumentNullException>(() => new Add().Forward([input, null!], []));
        StringAssert.Contains(e.Message, "Add: input 1 is null");
        Assert.ThrowsExactly<ArgumentNullException>(() => new Variable(null!));
        Assert.AreEqual(new Shape(4, 3), model.Forward(input, weights).Shape, "the same call with its arguments");
    }

    [TestMethod]
    public void RopeRefusesInputsItsTableDoesNotFitAndABaseThatIsNoFrequency()
    {
        // Found by an outside campaign: a second input of width 8 came back with width 4, and a k of 5 positions after
        // a q of 1 was rotated with position 0's angles at every row; a NaN, zero or negative base gave NaN outputs.
        using var q = Rand(1, 1, 3, 4);
        foreach (var k in new[] { Rand(2, 1, 3, 8), Rand(3, 1, 5, 4), Rand(4, 4) })
            using (k)
            {
                var e = Assert.ThrowsExactly<ModuleException>(() =>
                    new Rope(4).Forward([new Variable(q), new Variable(k)], [])
                );
                StringAssert.Contains(e.Message, "should each end in [T, 4], one T for all");
            }
        foreach (double theta in new[] { double.NaN, 0, -5, double.PositiveInfinity })
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Rope(4, theta));
    }

    [TestMethod]
    public void AlgebraRefusesWhatWouldGiveInfiniteTargetsOrNamelessModules()
    {
        // Found by an outside campaign: each of these was accepted, or named the wrong thing.
        var e = Assert.ThrowsExactly<ModuleException>(() => _ = new Linear(4, 4) >> new Relu(0));
        StringAssert.Contains(e.Message, "the second has sensitivity 0");
        _ = new Relu(0) >> new Linear(4, 4); // nothing before it to take an infinite target
        var tare = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            new Linear(4, 4).Tare(double.PositiveInfinity)
        );
        StringAssert.Contains(tare.Message, "Linear(4→4).Tare: target mass must be finite and > 0");
        tare = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Linear(4, 4, mass: 1e-310).Tare(1e10));
        StringAssert.Contains(tare.Message, "past a double's range");
        Assert.ThrowsExactly<ArgumentException>(() => new Linear(4, 4).Named(""));
        Assert.ThrowsExactly<ArgumentNullException>(() => new Linear(4, 4).Named(null!));
        e = Assert.ThrowsExactly<ModuleException>(() => _ = new Linear(4, 4) >> new Relu(1e-320));
        StringAssert.Contains(e.Message, "the second has sensitivity 0");
        var tuple = Assert.ThrowsExactly<ArgumentNullException>(() => Module.Tuple(null!));
        Assert.AreEqual("children", tuple.ParamName);
        // An empty batch keeps its feature count through Flatten.
        using var empty = Ops.Zeros(new Shape(0, 5), DType.Float64);
        Assert.AreEqual(new Shape(0, 5), new Flatten().Forward(new Variable(empty), []).Shape);
    }

    [TestMethod]
    public void AddingOutputsOfDifferentWidthsIsRefusedNotBroadcast()
    {
        // Found by an outside review: Linear(1, 3) + Linear(5, 3) built, and Forward broadcast [B, 1] against [B, 5].
        var e = Assert.ThrowsExactly<ModuleException>(() => _ = new Linear(1, 3) + new Linear(5, 3));
        StringAssert.Contains(e.Message, "Linear(3→1) + Linear(3→5)");
        StringAssert.Contains(e.Message, "cannot add: the first produces 1 features, the second 5");
        // A side that only preserves its input's width (a residual's skip path) produces the width the other reads.
        e = Assert.ThrowsExactly<ModuleException>(() => _ = new Identity() + new Linear(64, 32));
        StringAssert.Contains(e.Message, "cannot add: the first produces 32 features, the second 64");
        _ = new Identity() + new Linear(32, 32);
        // Widths the modules do not declare are checked when the sum runs.
        using var narrow = Rand(3, 2, 1);
        using var wide = Rand(4, 2, 5);
        e = Assert.ThrowsExactly<ModuleException>(() =>
            new Add().Forward([new Variable(narrow), new Variable(wide)], [])
        );
        StringAssert.Contains(e.Message, "inputs [2, 1], [2, 5] differ in features (last axis)");
        // A rank-0 input has no feature axis to match, and would be added to every feature.
        using var scalar = Rand(6);
        foreach (var (first, second) in new[] { (scalar, wide), (wide, scalar) })
        {
            e = Assert.ThrowsExactly<ModuleException>(() =>
                new Add().Forward([new Variable(first), new Variable(second)], [])
            );
            StringAssert.Contains(e.Message, "differ in features (last axis)");
        }
        Assert.AreEqual(new Shape(), new Add().Forward([new Variable(scalar), new Variable(scalar)], [])[0].Shape);
        using var row = Rand(5, 5);
        var sum = new Add().Forward([new Variable(wide), new Variable(row)], []);
        Assert.AreEqual(new Shape(2, 5), sum[0].Shape, "leading axes broadcast");
    }

    [TestMethod]
    public void WrongWeightsAreListedWithPathsAndShapes()
    {
        var gpt = Gpt.V1(new GptConfig(Vocab: 11, Context: 6, Heads: 2, DEmbed: 8, DQuery: 4, DValue: 4, Blocks: 1));
        using var w = Init(gpt);
        var shapes = w.Select(t => t.Shape).ToList();
        shapes[0] = new Shape(12, 8);
        var e = Assert.ThrowsExactly<ModuleException>(() => gpt.CheckWeights(shapes));
        StringAssert.Contains(
            e.Message,
            "weight 0 (GPT v1/embeddings(0)/Embedding(11×8)) should be [11, 8], got [12, 8]"
        );
        e = Assert.ThrowsExactly<ModuleException>(() => gpt.CheckWeights(shapes.Skip(1).ToList()));
        StringAssert.Contains(e.Message, $"expected {gpt.AtomCount} weight tensors, got {gpt.AtomCount - 1}");
        using var fewer = new Weights(w.Skip(1).Select(t => Ops.Contiguous(t)));
        Assert.ThrowsExactly<ModuleException>(() => gpt.Dualize(fewer));
    }

    [TestMethod]
    public void BadInputsNameTheModulePathAndShape()
    {
        var gpt = Gpt.V2(new GptConfig(Vocab: 11, Context: 6, Heads: 2, DEmbed: 8, DQuery: 4, DValue: 4, Blocks: 1));
        using var w = Init(gpt);
        using var floats = Rand(1, 2, 6, 8);
        var e = Assert.ThrowsExactly<ModuleException>(() => Run(gpt, w, floats));
        StringAssert.Contains(e.Message, "GPT v2 > Embedding(11×8): input [2, 6, 8]");
        StringAssert.Contains(e.Message, "must hold Int32 indices");

        var mlp = new Linear(3, 4) >> new Relu();
        using var mw = Init(mlp);
        using var x = Rand(2, 2, 5);
        e = Assert.ThrowsExactly<ModuleException>(() => Run(mlp, mw, x));
        StringAssert.Contains(e.Message, "Linear(4→3): input [2, 5] should have 4 features");

        var heads = new SplitIntoHeads(3);
        using var none = Init(heads);
        e = Assert.ThrowsExactly<ModuleException>(() => Run(heads, none, x));
        StringAssert.Contains(e.Message, "input [2, 5] should be [B, T, C] with C divisible by 3");
        e = Assert.ThrowsExactly<ModuleException>(() => new FunctionalAttention(true).Forward([new Variable(x)], []));
        StringAssert.Contains(e.Message, "expects 3 inputs (q, k, v), got 1");
    }
}
