using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
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
