using Modula.Autodiff;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Modules;

/// <summary>The README's module and training samples, run at a small size.</summary>
[TestClass]
public sealed class ReadmeSampleTests
{
    [TestMethod]
    public void ModuleSampleRunsAsDocumented()
    {
        var mlp = new Flatten() >> new Linear(256, 784) >> new Relu() >> new Linear(10, 256);
        var sum = mlp + 0.5 * new Linear(10, 784) * 2.0;
        Assert.AreEqual(3.0, sum.Mass, 1e-15);
        var deep = (new Linear(64, 64) >> new Relu()).Repeat(4);
        Assert.AreEqual(4, deep.AtomCount);

        var gpt = Gpt.V1(new GptConfig(Blocks: 1));
        StringAssert.StartsWith(gpt.Summary(), "GPT v1");
        using var w = gpt.Initialize(new Generator(0));
        using var tokens = Tensor.FromArray<int>(Enumerable.Range(0, 2 * 64).Select(i => i % 65).ToArray(), new Shape(2, 64));
        using var grad = ModuleTesting.RandomLike(gpt, 1);
        using var gradF32 = new Weights(grad.Select(t => Tensor.FromArray<float>(Reference.Read(t).Select(v => (float)v).ToArray(), t.Shape)));
        using (TensorScope.Begin())
        {
            var logits = gpt.Forward(new Variable(tokens.View(2, 64)), w.ToVariables());
            Assert.AreEqual(new Shape(2, 64, 65), logits.Shape);
        }
        using var step = gpt.Dualize(gradF32, target: 0.1);
        using var state = new NormalizeState(gpt, new Generator(2));
        using var same = gpt.Normalize(gradF32, 0.1, state);
        Assert.AreEqual(0.1, gpt.Norm(step), 0.1 * 0.01);
    }

    [TestMethod]
    public void TrainingSampleReducesTheLoss()
    {
        var gpt = Gpt.V1(new GptConfig(Vocab: 13, Context: 8, Heads: 2, DEmbed: 16, DQuery: 8, DValue: 8, Blocks: 1));
        using var trainer = new Trainer(gpt, gpt.Initialize(new Generator(0)), new ModulaAdam(0.9, 0.99),
            new TrainerOptions(LearningRate: 0.5, Schedule.Linear(30), UpdateRule.Normalize, WeightDecay: 0.01));
        // A repeating sequence: the next token is always (t + 3) mod 13.
        using var x = Tensor.FromArray<int>(Enumerable.Range(0, 4 * 8).Select(i => i * 3 % 13).ToArray(), new Shape(4, 8));
        using var y = Tensor.FromArray<int>(Enumerable.Range(0, 4 * 8).Select(i => (i * 3 + 3) % 13).ToArray(), new Shape(4, 8));
        var losses = new List<double>();
        for (int i = 0; i < 30; i++)
        {
            using var scope = TensorScope.Begin();
            var loss = F.CrossEntropy(gpt.Forward(new Variable(x.View(4, 8)), trainer.Parameters), y);
            loss.Backward();
            losses.Add(loss.Value.Item());
            trainer.Step();
        }
        Assert.IsTrue(losses[^1] < 0.5 * losses[0], $"loss {losses[0]:F3} → {losses[^1]:F3}");
    }
}
