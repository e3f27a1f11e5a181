using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;
using Modula.Tests.Modules;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Optim;

/// <summary>
/// The trainer's one update loop against each rule's definition written with the module's own
/// operators, for every kind of atom (matrices, convolutions, embeddings re-projected to unit rows).
/// </summary>
[TestClass]
public sealed class UpdateLoopTests
{
    public static IEnumerable<object[]> Cases =>
        from model in UpdateTests.Models
        from rule in new[] { UpdateRule.Normalize, UpdateRule.Dualize }
        select new object[] { model[0], rule };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void AModularStepIsSubtractThenRegularize(string name, UpdateRule rule)
    {
        // Modula v1's order: w ← regularize(w − u, η·λ), u normalized or dualized to η.
        const double eta = 0.7,
            lambda = 0.3;
        var m = UpdateTests.Model(name);
        using var w0 = RandomLike(m, 22);
        using var gradient = RandomLike(m, 21);
        using var trainer = new Trainer(
            m,
            w0.Clone(),
            new Sgd(),
            new TrainerOptions(eta, Rule: rule, WeightDecay: lambda),
            normalizeSeed: 4
        );
        trainer.Apply(gradient);

        using var state = new NormalizeState(m, new Generator(4));
        using var update = rule == UpdateRule.Normalize ? m.Normalize(gradient, eta, state) : m.Dualize(gradient, eta);
        using var expected = w0.Clone();
        expected.AddScaled(update, -1);
        m.RegularizeInPlace(expected, eta * lambda);
        for (int i = 0; i < expected.Count; i++)
            Reference.AssertClose(
                Reference.Read(expected[i]),
                Reference.Read(trainer.Weights[i]),
                1e-12,
                1e-12,
                $"{name} {rule}: weight {i} ({m.Atoms()[i].Path})"
            );
    }

    [TestMethod]
    [DynamicData(nameof(UpdateTests.Models), typeof(UpdateTests))]
    public void APlainStepDecaysTheWeightsBeforeTheStep(string name)
    {
        // AdamW's order for every weight, embeddings included: w ← (1 − ηλ)·w − η·d.
        const double eta = 0.2,
            lambda = 0.5;
        var m = UpdateTests.Model(name);
        using var w0 = RandomLike(m, 12);
        using var gradient = RandomLike(m, 11);
        using var trainer = new Trainer(m, w0.Clone(), new Sgd(), new TrainerOptions(eta, WeightDecay: lambda));
        trainer.Apply(gradient);
        for (int i = 0; i < w0.Count; i++)
        {
            var w = Reference.Read(w0[i]);
            var d = Reference.Read(gradient[i]);
            var expected = w.Select((v, j) => (1 - eta * lambda) * v - eta * d[j]).ToArray();
            Reference.AssertClose(expected, Reference.Read(trainer.Weights[i]), 1e-13, 1e-13, $"{name}: weight {i}");
        }
    }

    [TestMethod]
    [DataRow(UpdateRule.Plain)]
    [DataRow(UpdateRule.Normalize)]
    [DataRow(UpdateRule.Dualize)]
    public void AZeroLearningRateLeavesTheWeightsAlone(UpdateRule rule)
    {
        // A schedule at its end gives η = 0: no update and, since the decay is η·λ, no decay either.
        var m = UpdateTests.Model("gpt-v1");
        using var w0 = RandomLike(m, 32);
        using var gradient = RandomLike(m, 31);
        var options = new TrainerOptions(0.5, Schedule.Linear(1), rule, WeightDecay: 0.3);
        using var trainer = new Trainer(m, w0.Clone(), new Sgd(), options) { StepCount = 1 };
        Assert.AreEqual(0, trainer.CurrentLearningRate);
        trainer.Apply(gradient);
        for (int i = 0; i < w0.Count; i++)
            CollectionAssert.AreEqual(Reference.Read(w0[i]), Reference.Read(trainer.Weights[i]), $"{rule}: weight {i}");
    }

    [TestMethod]
    public void AtomTargetsAreGivenOrRefused()
    {
        var m = UpdateTests.Model("gpt-v1");
        using var g = RandomLike(m, 3);
        using var byTarget = m.Dualize(g, 0.5);
        using var byTargets = m.Dualize(g, m.AtomTargets(0.5));
        for (int i = 0; i < g.Count; i++)
            CollectionAssert.AreEqual(Reference.Read(byTarget[i]), Reference.Read(byTargets[i]), $"weight {i}");
        var e = Assert.ThrowsExactly<ModuleException>(() => m.Dualize(g, new double[m.AtomCount - 1]));
        StringAssert.Contains(e.Message, "atom targets");
        var bad = m.AtomTargets(1);
        bad[2] = double.NaN;
        using var state = new NormalizeState(m, new Generator(1));
        Assert.ThrowsExactly<ModuleException>(() => m.Normalize(g, bad, state));
    }
}
