using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

[TestClass]
public sealed class TiedEmbeddingTests
{
    private static TiedEmbedding Model() =>
        new(
            new Embedding(11, 6),
            Bonds.LayerNorm() >> new Linear(6, 6, mass: 2) >> new Relu() >> new Linear(6, 6, mass: 2),
            headMass: 1
        );

    [TestMethod]
    public void OneTableEmbedsAndProjects()
    {
        var m = Model();
        Assert.AreEqual(3, m.AtomCount);
        Assert.AreEqual(6.0, m.Mass, 1e-15);
        using var w = Init(m);
        using var tokens = Tokens(2, 11, 2, 4);
        var logits = Run(m, w, tokens);

        var body = m.Body;
        using var bodyWeights = new Weights(w.Skip(1).Select(t => Ops.Contiguous(t)));
        var embedded = Run(m.Embedding, new Weights([Ops.Contiguous(w[0])]), tokens);
        using var h = Tensor.FromArray<double>(embedded, new Shape(2, 4, 6));
        var hidden = Run(body, bodyWeights, h);
        var expected = MatMulT(hidden, Values(w[0]), 8, 6, 11).Select(v => v * Math.Sqrt(11.0 / 6)).ToArray();
        Reference.AssertClose(expected, logits, 1e-12, 1e-12, "logits = √(V/D)·h·Wᵀ with the embedding table");
    }

    [TestMethod]
    public void TiedUpdateRespectsBothRolesAndSaturatesTheBindingOne()
    {
        var m = Model();
        var targets = m.AtomTargets(1);
        // Input role: 1·m_e/(M·s_body) = 1/6 / (1/√2); head role: 1/6. The head binds.
        Assert.AreEqual(1.0 / 6, targets[0], 1e-12);
        using var g = RandomLike(m, 4);
        using var update = m.Dualize(g, 0.5);
        double norm = m.Norm(update);
        Assert.IsTrue(norm <= 0.5 * (1 + 1e-9) && norm >= 0.5 * 0.99, $"modular norm {norm}");
        Assert.AreEqual(0.5 / 6, HostLinalg.SpectralNorm(update[0]), 0.5 / 6 * 0.01, "head role saturated");
    }

    [TestMethod]
    public void TheTableIsRegularizedAsTheEmbeddingInEveryForm()
    {
        // Found by an outside campaign: the table inherited a matrix's in-place decay and decay factor, w·(1 − s),
        // while its RegularizeWeight projected rows to unit norm; the trainer, which folds the factor into its step,
        // left rows of norm 0.84–0.98.
        var m = Model();
        using var w = Init(m, 5);
        w.Scale(3);
        using var copied = m.Regularize(w, 0.1);
        using var inPlace = w.Clone();
        m.RegularizeInPlace(inPlace, 0.1);
        Reference.AssertClose(Values(copied[0]), Values(inPlace[0]), 1e-15, 0, "in place as copied");
        AssertUnitRows(inPlace[0], "regularized");
        Assert.IsNull(m.Atoms()[0].Atom.DecayFactor(0.1), "no decay factor to fold into a step");

        using var trainer = new Trainer(
            m,
            w.Clone(),
            new Sgd(),
            new TrainerOptions(0.5, WeightDecay: 0.5, Rule: UpdateRule.Dualize)
        );
        using var g = RandomLike(m, 6);
        trainer.Apply(g);
        AssertUnitRows(trainer.Weights[0], "after a trainer's step with weight decay");
    }

    [TestMethod]
    public void ANegativeOrNonFiniteHeadMassIsRefused()
    {
        foreach (double mass in new[] { -0.5, double.NaN, double.PositiveInfinity })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
                new TiedEmbedding(new Embedding(10, 4), new Linear(4, 4), headMass: mass)
            );
            StringAssert.Contains(e.Message, "TiedEmbedding: the head's mass must be finite and ≥ 0");
        }
        var (embedding, body) = (new Embedding(10, 4), new Linear(4, 4));
        Assert.AreEqual(embedding.Mass + body.Mass, new TiedEmbedding(embedding, body, headMass: 0).Mass, 1e-15);
    }

    private static void AssertUnitRows(Tensor table, string when)
    {
        var values = Values(table);
        int dim = table.Shape[-1];
        for (int row = 0; row < table.Shape[0]; row++)
        {
            double norm = Math.Sqrt(values.Skip(row * dim).Take(dim).Sum(v => v * v));
            Assert.AreEqual(1.0, norm, 1e-12, $"row {row} {when}");
        }
    }

    [TestMethod]
    public void GradientsFromBothUsesReachTheTable()
    {
        var m = Model();
        using var w = Init(m, 3);
        using var tokens = Tokens(4, 11, 1, 3);
        var tensors = w.Select(t => Ops.Contiguous(t)).ToArray();
        var result = GradCheck.Check(v => m.Forward(new Variable(tokens.View(1, 3)), v), tensors);
        Assert.IsTrue(result.Passed, result.Detail);
        foreach (var t in tensors)
            t.Dispose();
        Assert.AreEqual(2.0, m.Tare(2).Mass, 1e-12);
    }
}
