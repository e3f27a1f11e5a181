using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Optim;

/// <summary>
/// Muon with its auxiliary Adam, two steps of the trainer's plain rule against a float64 reference written from
/// the definitions: Nesterov momentum m ← βm + g, d = g + βm, orthogonalized and scaled by √max(1, out/in) for the
/// hidden matrices; Adam with bias correction at Adam's rate for the embedding and the output head; AdamW's decay
/// at each weight's own rate.
/// </summary>
[TestClass]
public sealed class MuonTests
{
    // Embedding, a tall hidden matrix (8×4: shape factor √2), a wide one (5×8: factor 1), the head (3×5).
    private static Module Tiny() => new Embedding(7, 4) >> new Linear(8, 4) >> new Linear(5, 8) >> new Linear(3, 5);

    private const double Eta = 0.1,
        AdamScale = 0.5,
        Lambda = 0.2,
        Beta = 0.9,
        B1 = 0.8,
        B2 = 0.95,
        Eps = 1e-8;

    private static Muon NewMuon(Module model, Orthogonalizer method) =>
        new(model, AdamScale, Beta, B1, B2, Eps, method);

    [TestMethod]
    [DataRow(Orthogonalizer.SixStep)]
    [DataRow(Orthogonalizer.MuonQuintic)]
    [DataRow(Orthogonalizer.PolarExpress)]
    public void TwoStepsMatchTheDefinition(Orthogonalizer method)
    {
        var model = Tiny();
        var atoms = model.Atoms();
        using var w0 = RandomLike(model, 3);
        using var g1 = RandomLike(model, 5);
        using var g2 = RandomLike(model, 8);
        using var trainer = new Trainer(
            model,
            w0.Clone(),
            NewMuon(model, method),
            new TrainerOptions(Eta, WeightDecay: Lambda)
        );
        CollectionAssert.AreEqual(new[] { false, true, true, false }, ((Muon)trainer.Optimizer).Hidden.ToArray());
        trainer.Apply(g1);
        trainer.Apply(g2);

        for (int i = 0; i < atoms.Count; i++)
        {
            var w = Values(w0[i]);
            var m = new double[w.Length];
            var v = new double[w.Length];
            var shape = atoms[i].Atom.WeightShape;
            bool hidden = i is 1 or 2;
            double rate = hidden ? Eta : Eta * AdamScale;
            int t = 0;
            foreach (var g in new[] { Values(g1[i]), Values(g2[i]) })
            {
                t++;
                double[] d;
                if (hidden)
                {
                    for (int k = 0; k < m.Length; k++)
                        m[k] = Beta * m[k] + g[k];
                    var nesterov = g.Select((x, k) => x + Beta * m[k]).ToArray();
                    d = Msign(nesterov, shape, method);
                    // msign proper (U Vᵀ): the orthogonalizer lands within its own spread of it.
                    var exact = HostLinalg.MapSingularValues(nesterov, shape[0], shape[1], _ => 1);
                    double spread = method == Orthogonalizer.SixStep ? 5e-3 : 0.35;
                    Reference.AssertClose(exact, d, spread, 0, $"weight {i}: msign at step {t}");
                    double factor = Math.Sqrt(Math.Max(1.0, (double)shape[0] / shape[1]));
                    d = d.Select(x => factor * x).ToArray();
                }
                else
                {
                    d = new double[w.Length];
                    for (int k = 0; k < m.Length; k++)
                    {
                        m[k] = B1 * m[k] + (1 - B1) * g[k];
                        v[k] = B2 * v[k] + (1 - B2) * g[k] * g[k];
                        d[k] = m[k] / (1 - Math.Pow(B1, t)) / (Math.Sqrt(v[k] / (1 - Math.Pow(B2, t))) + Eps);
                    }
                }
                for (int k = 0; k < w.Length; k++)
                    w[k] = (1 - rate * Lambda) * w[k] - rate * d[k];
            }
            Reference.AssertClose(
                w,
                Values(trainer.Weights[i]),
                1e-12,
                1e-12,
                $"{method}: weight {i} ({atoms[i].Path})"
            );
            Reference.AssertClose(m, Values(trainer.Optimizer.Slots["m"][i]), 1e-13, 1e-13, $"weight {i}: m");
        }
    }

    /// <summary>The library's orthogonalizer on a float64 matrix (tested against U Vᵀ in OrthogonalizeTests).</summary>
    private static double[] Msign(double[] matrix, Shape shape, Orthogonalizer method)
    {
        using var x = Tensor.FromArray<double>(matrix, shape);
        using var o = Orthogonalize.Apply(x, method);
        return Values(o);
    }

    [TestMethod]
    public void HiddenMatricesAreTheGptsBlocksNotItsEmbeddingsOrHead()
    {
        var gpt = Gpt.V1(new GptConfig(Vocab: 11, Context: 8, Heads: 2, DEmbed: 8, DQuery: 4, DValue: 4, Blocks: 2));
        var atoms = gpt.Atoms();
        var muon = new Muon(gpt, 0.1);
        for (int i = 0; i < atoms.Count; i++)
        {
            bool expected = atoms[i].Atom is Linear && !atoms[i].Path.Contains("head", StringComparison.Ordinal);
            Assert.AreEqual(expected, muon.Hidden[i], atoms[i].Path);
            Assert.AreEqual(expected ? 1 : 0.1, muon.LearningRateScales[i], atoms[i].Path);
        }
        Assert.AreEqual(3, muon.Hidden.Count(h => !h), "two embeddings and the head take Adam");
        Assert.IsTrue(atoms[^1].Path.Contains("head", StringComparison.Ordinal), atoms[^1].Path);
    }

    [TestMethod]
    public void TheModularRulesRefuseMuonAndBadSettingsAreNamed()
    {
        var model = Tiny();
        foreach (var rule in new[] { UpdateRule.Normalize, UpdateRule.Dualize, UpdateRule.Manifold })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() =>
                new Trainer(model, Init(model), new Muon(model, 1), new TrainerOptions(0.1, Rule: rule))
            );
            StringAssert.Contains(e.Message, "plain rule");
        }
        StringAssert.Contains(
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Muon(model, 0)).Message,
            "Adam's scale"
        );
        StringAssert.Contains(
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Muon(model, 1, momentum: 1)).Message,
            "momentum"
        );
        using var muon = new Muon(model, 1);
        using var wrong = new Weights([Rand(1, 7, 4)]);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => muon.Direction(wrong, 0)).Message, "4");
    }

    [TestMethod]
    public void ResumingMuonFromACheckpointReproducesTheRunBitForBit()
    {
        string dir = Directory.CreateTempSubdirectory("modula-muon-").FullName;
        try
        {
            var model = TrainerTests.SmallResMlp();
            Trainer New() =>
                new(
                    model,
                    model.Initialize(new Generator(5)),
                    new Muon(model, 0.3),
                    new TrainerOptions(0.05, Schedule.Linear(12), WeightDecay: 0.01)
                );
            var (x, labels) = TrainerTests.Data(64, DType.Float32);
            using (x)
            {
                void Train(Trainer trainer, int from, int steps)
                {
                    for (int s = from; s < from + steps; s++)
                    {
                        TrainerTests.Backward(trainer, x, labels, 8 * (s % 7), 8);
                        trainer.Step();
                    }
                }
                using var straight = New();
                Train(straight, 0, 12);
                string path = Path.Combine(dir, "muon.safetensors");
                using (var first = New())
                {
                    Train(first, 0, 6);
                    Checkpoint.Save(path, first);
                }
                using var second = New();
                Checkpoint.Restore(path, second);
                Assert.AreEqual(6, second.StepCount);
                Train(second, 6, 6);
                for (int i = 0; i < straight.Weights.Count; i++)
                    CollectionAssert.AreEqual(
                        straight.Weights[i].ToArray<float>(),
                        second.Weights[i].ToArray<float>(),
                        $"weight {i}"
                    );
                // A checkpoint of another optimizer is refused by name.
                using var adam = new Trainer(
                    model,
                    model.Initialize(new Generator(5)),
                    new Adam(),
                    new TrainerOptions(0.05, Schedule.Linear(12))
                );
                StringAssert.Contains(
                    Assert.ThrowsExactly<InvalidDataException>(() => Checkpoint.Restore(path, adam)).Message,
                    "optimizer: the checkpoint has 'muon(momentum=0.95"
                );
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
