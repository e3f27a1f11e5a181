using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Optim;

[TestClass]
public sealed class TrainerTests
{
    internal static Module SmallResMlp(int width = 12) => Mlp.ResMlp(width, 2, 2, 20, 5);

    /// <summary>A fixed synthetic classification set: inputs [n, 20], labels in 0..4.</summary>
    internal static (Tensor X, int[] Labels) Data(int n, DType dtype, int seed = 7)
    {
        var x = Reference.RandomValues(n * 20, seed);
        var labels = Enumerable
            .Range(0, n)
            .Select(i => (int)(Math.Abs(x[i * 20] + 2 * x[i * 20 + 1]) * 2) % 5)
            .ToArray();
        return (Reference.Make(x, new Shape(n, 20), dtype, Device.Cpu), labels);
    }

    /// <summary>Forward and backward of the mean cross-entropy on rows [start, start + count).</summary>
    internal static double Backward(Trainer trainer, Tensor x, int[] labels, int start, int count)
    {
        using var scope = TensorScope.Begin();
        using var rows = x.Slice(0, start, count);
        using var y = Tensor.FromArray<int>(labels.AsSpan(start, count), new Shape(count));
        var loss = F.CrossEntropy(trainer.Model.Forward(new Variable(rows.View(count, 20)), trainer.Parameters), y);
        loss.Backward();
        return loss.Value.Item();
    }

    [TestMethod]
    public void GradientAccumulationEqualsOneLargeBatch()
    {
        var (x, labels) = Data(8, DType.Float64);
        using (x)
        {
            var model = SmallResMlp();
            using var whole = new Trainer(
                model,
                model.Initialize(new Generator(1), dtype: DType.Float64),
                new Adam(),
                new TrainerOptions(0.01)
            );
            using var parts = new Trainer(
                model,
                model.Initialize(new Generator(1), dtype: DType.Float64),
                new Adam(),
                new TrainerOptions(0.01)
            );
            Backward(whole, x, labels, 0, 8);
            whole.Step();
            Backward(parts, x, labels, 0, 4);
            Backward(parts, x, labels, 4, 4);
            parts.Step(microBatches: 2);
            for (int i = 0; i < whole.Weights.Count; i++)
                Reference.AssertClose(
                    Reference.Read(whole.Weights[i]),
                    Reference.Read(parts.Weights[i]),
                    1e-12,
                    1e-9,
                    $"weight {i}"
                );
        }
    }

    [TestMethod]
    public void NormalizedAndDualizedStepsMoveByTheTargetInTheModularNorm()
    {
        var (x, labels) = Data(16, DType.Float64);
        using (x)
            foreach (var rule in new[] { UpdateRule.Normalize, UpdateRule.Dualize })
            {
                var model = SmallResMlp();
                using var trainer = new Trainer(
                    model,
                    model.Initialize(new Generator(2), dtype: DType.Float64),
                    new ModulaAdam(),
                    new TrainerOptions(0.2, Schedule.Linear(10), rule)
                );
                for (int step = 0; step < 3; step++)
                {
                    using var before = trainer.Weights.Clone();
                    double target = trainer.CurrentLearningRate;
                    Backward(trainer, x, labels, 0, 16);
                    trainer.Step();
                    using var moved = before - trainer.Weights;
                    double norm = model.Norm(moved);
                    if (rule == UpdateRule.Dualize)
                        Assert.AreEqual(target, norm, target * 0.01, $"dualize step {step}");
                    else
                        Assert.IsTrue(
                            norm >= target * (1 - 1e-9) && norm < target * 2,
                            $"normalize step {step}: {norm} vs {target}"
                        );
                }
            }
    }

    [TestMethod]
    public void NonFiniteGradientsThrowNamingTheWeightOrAreSkipped()
    {
        var model = SmallResMlp();
        foreach (var policy in new[] { NonFinitePolicy.Throw, NonFinitePolicy.Skip })
        {
            using var trainer = new Trainer(
                model,
                model.Initialize(new Generator(3), dtype: DType.Float64),
                new Adam(),
                new TrainerOptions(0.1, NonFinite: policy)
            );
            using var before = trainer.Weights.Clone();
            using (var scope = TensorScope.Begin())
            {
                // A loss whose gradient in weight 2 is NaN: sum(w2 · NaN).
                var nan = new Variable(Ops.Full(trainer.Parameters[2].Shape, double.NaN, DType.Float64));
                F.Sum(F.Mul(trainer.Parameters[2], nan)).Backward();
                F.Sum(trainer.Parameters[0]).Backward();
            }
            if (policy == NonFinitePolicy.Throw)
            {
                var e = Assert.ThrowsExactly<NonFiniteGradientException>(() => trainer.Step());
                StringAssert.Contains(e.Message, "weight 2 (ResMLP/blocks/block[0]");
                Assert.AreEqual(0, e.Step);
            }
            else
            {
                Assert.IsFalse(trainer.Step());
                Assert.AreEqual(1, trainer.SkippedSteps);
            }
            Assert.AreEqual(0, trainer.StepCount);
            for (int i = 0; i < before.Count; i++)
                CollectionAssert.AreEqual(
                    before[i].ToArray<double>(),
                    trainer.Weights[i].ToArray<double>(),
                    $"{policy}: weight {i} unchanged"
                );
        }
    }

    [TestMethod]
    public void NonsensicalSettingsAreRefused()
    {
        var model = SmallResMlp();
        using var weights = model.Initialize(new Generator(3), dtype: DType.Float64);
        foreach (
            var options in new[]
            {
                new TrainerOptions(double.PositiveInfinity),
                new TrainerOptions(double.NaN),
                new TrainerOptions(-0.1),
                new TrainerOptions(0.1, WeightDecay: double.NaN),
                new TrainerOptions(0.1, WeightDecay: -1),
                new TrainerOptions(0.1, WeightDecay: double.PositiveInfinity),
            }
        )
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(
                () => new Trainer(model, weights, new Adam(), options),
                $"{options}"
            );
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Schedule.Linear(0));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Schedule.Cosine(-5));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Schedule.Linear(10, floor: double.NaN));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Schedule.Linear(10, warmup: -1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Schedule.Linear(10, floor: -0.5));
        // A with expression builds no checked factory call: the trainer and every multiplier check it.
        var edited = Schedule.Linear(10) with { Floor = double.NaN };
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => edited.At(3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            new Trainer(model, weights, new Adam(), new TrainerOptions(0.1, Schedule.Linear(5) with { TotalSteps = 0 }))
        );
        Assert.AreEqual(0.5, Schedule.Linear(10).At(5), 1e-12);
    }

    [TestMethod]
    public void AGradientOfTheWrongCountOrShapeIsRefusedUnderEveryRule()
    {
        // Found by an outside review: the plain rule indexed past a short gradient (IndexOutOfRangeException).
        var model = SmallResMlp();
        foreach (var rule in new[] { UpdateRule.Plain, UpdateRule.Normalize, UpdateRule.Dualize })
        {
            using var trainer = new Trainer(
                model,
                model.Initialize(new Generator(3), dtype: DType.Float64),
                new Adam(),
                new TrainerOptions(0.1, Rule: rule)
            );
            using var shorter = new Weights(trainer.Weights.Skip(1).Select(w => Ops.ZerosLike(w)));
            var e = Assert.ThrowsExactly<ModuleException>(() => trainer.Step(shorter));
            StringAssert.Contains(e.Message, $"expected {model.AtomCount} weight tensors", $"{rule}");
            using var reshaped = new Weights(
                trainer.Weights.Select(
                    (w, i) => i == 1 ? Ops.Zeros(new Shape(w.Size), DType.Float64) : Ops.ZerosLike(w)
                )
            );
            e = Assert.ThrowsExactly<ModuleException>(() => trainer.Step(reshaped));
            StringAssert.Contains(e.Message, "weight 1 (", $"{rule}");
            Assert.AreEqual(0, trainer.StepCount, $"{rule}: no step taken");
        }
    }

    [TestMethod]
    public void AGradientOfAnotherDTypeIsRefusedAndLeavesTheTrainerAsItWas()
    {
        // Found by fuzzing the API: a float64 gradient to a fresh float32 trainer made the optimizer's moments in
        // float64, then failed at the weights; every later float32 step failed on those moments.
        var model = SmallResMlp();
        foreach (var optimizer in new Optimizer[] { new Adam(), new Momentum(), new Sgd() })
        {
            using var trainer = new Trainer(
                model,
                model.Initialize(new Generator(3)),
                optimizer,
                new TrainerOptions(0.1)
            );
            var before = trainer.Weights.Select(w => w.ToArray<float>()).ToArray();
            using var wide = model.Initialize(new Generator(4), dtype: DType.Float64);
            var e = Assert.ThrowsExactly<ArgumentException>(() => trainer.Step(wide));
            StringAssert.Contains(e.Message, "Trainer: gradient 0 (", $"{optimizer.Describe()}");
            StringAssert.Contains(e.Message, "is Float64 on cpu, its weight Float32 on cpu");
            Assert.ThrowsExactly<ArgumentException>(() => trainer.Apply(wide));
            Assert.AreEqual(0, trainer.StepCount);
            for (int i = 0; i < before.Length; i++)
                CollectionAssert.AreEqual(before[i], trainer.Weights[i].ToArray<float>(), $"weight {i} unchanged");
            using var gradient = model.Initialize(new Generator(5));
            Assert.IsTrue(trainer.Step(gradient), "a float32 step still runs");
        }
    }

    [TestMethod]
    public void AdamsEpsilonAndARegularizeStrengthMustBeFiniteAndPositive()
    {
        // Found by fuzzing the API: NaN turned every weight to NaN in one step, a negative strength grew the weights.
        foreach (double epsilon in new[] { double.NaN, -1, 0, double.PositiveInfinity })
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new Adam(epsilon: epsilon), $"{epsilon}");
        var model = SmallResMlp();
        using var weights = model.Initialize(new Generator(3));
        var before = weights.Select(w => w.ToArray<float>()).ToArray();
        foreach (double strength in new[] { double.NaN, -5, double.PositiveInfinity })
        {
            StringAssert.Contains(
                Assert.ThrowsExactly<ModuleException>(() => model.RegularizeInPlace(weights, strength)).Message,
                $"regularize strength {strength} is not a finite number ≥ 0"
            );
            Assert.ThrowsExactly<ModuleException>(() => model.Regularize(weights, strength).Dispose());
        }
        for (int i = 0; i < before.Length; i++)
            CollectionAssert.AreEqual(before[i], weights[i].ToArray<float>(), $"weight {i} unchanged");
    }

    /// <summary>
    /// The trainer lends momentum's m and SGD's gradient to its own rules instead of copying them. Three steps of
    /// each rule on a packed ResMLP give the same weights and the same m, bit for bit, as a trainer whose custom
    /// <see cref="Trainer.RuleUpdate"/> (which gets a copy) runs the same rule; and an explicit gradient handed to
    /// <see cref="Trainer.Apply"/> is left as it was.
    /// </summary>
    [TestMethod]
    public void LentDirectionsGiveTheSameStepsAsCopies()
    {
        var (x, labels) = Data(8, DType.Float64);
        using (x)
            foreach (var rule in new[] { UpdateRule.Plain, UpdateRule.Normalize, UpdateRule.Dualize })
            foreach (bool momentum in new[] { true, false })
            {
                string what = $"{rule} {(momentum ? "momentum" : "sgd")}";
                var model = SmallResMlp();
                Trainer Make() =>
                    new(
                        model,
                        model.Initialize(new Generator(4), dtype: DType.Float64),
                        momentum ? new Momentum(0.9) : new Sgd(),
                        new TrainerOptions(0.05, Rule: rule)
                    );
                using var lent = Make();
                using var copied = Make();
                copied.RuleUpdate = (direction, eta) =>
                    rule == UpdateRule.Normalize
                        ? model.Normalize(direction, model.AtomTargets(eta), copied.NormalizeState)
                        : model.Dualize(direction, model.AtomTargets(eta));
                for (int step = 0; step < 3; step++)
                    foreach (var trainer in new[] { lent, copied })
                    {
                        Backward(trainer, x, labels, 0, 8);
                        trainer.Step();
                    }
                for (int i = 0; i < lent.Weights.Count; i++)
                    CollectionAssert.AreEqual(
                        copied.Weights[i].ToArray<double>(),
                        lent.Weights[i].ToArray<double>(),
                        $"{what}: weight {i}"
                    );
                if (momentum)
                    for (int i = 0; i < lent.Weights.Count; i++)
                        CollectionAssert.AreEqual(
                            copied.Optimizer.Slots["m"][i].ToArray<double>(),
                            lent.Optimizer.Slots["m"][i].ToArray<double>(),
                            $"{what}: m of weight {i}"
                        );
                using var gradient = lent.Weights.Clone();
                using var before = gradient.Clone();
                lent.Apply(gradient);
                for (int i = 0; i < gradient.Count; i++)
                    CollectionAssert.AreEqual(
                        before[i].ToArray<double>(),
                        gradient[i].ToArray<double>(),
                        $"{what}: gradient {i} after Apply"
                    );
            }
    }

    /// <summary>
    /// A model with an atom of its user's gets a copy of the direction: an atom that writes into the gradient it is
    /// given (against <see cref="Atom.DualizeWeight"/>'s contract) then spoils only that copy, and momentum's m is
    /// (1 − β)·g after the first step.
    /// </summary>
    [TestMethod]
    public void AUserAtomGetsACopyOfTheDirection()
    {
        var atom = new ScribblingAtom();
        using var trainer = new Trainer(
            atom,
            atom.Initialize(new Generator(1), dtype: DType.Float64),
            new Momentum(0.9),
            new TrainerOptions(0.1, Rule: UpdateRule.Dualize)
        );
        double[] g = [1.0, -2.0, 3.0];
        using var gradient = new Weights([Tensor.FromArray<double>(g, new Shape(3))]);
        trainer.Apply(gradient);
        Reference.AssertClose(
            g.Select(v => (1 - 0.9) * v).ToArray(),
            trainer.Optimizer.Slots["m"][0].ToArray<double>(),
            1e-15,
            1e-15,
            "m after one step"
        );
    }

    /// <summary>A user's atom whose dualize zeroes the gradient it reads (which an atom must not do).</summary>
    private sealed class ScribblingAtom() : Atom(1)
    {
        public override Shape WeightShape => new(3);

        protected override Variable Forward(Variable x, Variable weight) => F.Mul(x, weight);

        public override Tensor InitializeWeight(Generator rng, Device device, DType dtype) =>
            Ops.Zeros(new Shape(3), dtype, device);

        public override double WeightNorm(Tensor weight) => 0;

        public override Tensor NormalizeWeight(Tensor update, double target, NormalizeState state, int index) =>
            Ops.Contiguous(update);

        public override Tensor DualizeWeight(Tensor gradient, double target, Orthogonalizer method)
        {
            var result = Ops.Contiguous(gradient);
            Ops.FillInto(gradient, 0);
            return result;
        }

        public override Tensor ProjectWeight(Tensor weight) => Ops.Contiguous(weight);

        public override Tensor RegularizeWeight(Tensor weight, double strength) => Ops.Contiguous(weight);

        protected override Atom WithMass(double mass) => new ScribblingAtom();
    }
}
