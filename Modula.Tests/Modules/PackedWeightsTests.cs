using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Primitives;
using Modula.Tensors.Random;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

/// <summary>
/// Packed weight vectors (one buffer, see <see cref="Weights.Pack"/>) against the same vectors unpacked: the fast
/// paths change where values live and how many operations run, never the values.
/// </summary>
[TestClass]
public sealed class PackedWeightsTests
{
    private static Weights Packed(Weights w)
    {
        var p = w.Clone();
        p.Pack();
        Assert.IsTrue(p.IsPacked);
        return p;
    }

    private static void AssertSame(Weights expected, Weights actual, double tolerance = 0, string what = "")
    {
        Assert.AreEqual(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.AreEqual(expected[i].Shape, actual[i].Shape, $"{what} tensor {i}");
            double[] e = Values(expected[i]),
                a = Values(actual[i]);
            for (int k = 0; k < e.Length; k++)
                Assert.IsTrue(
                    Math.Abs(e[k] - a[k]) <= tolerance * Math.Max(1, Math.Abs(e[k])),
                    $"{what} tensor {i} element {k}: {a[k]} against {e[k]}"
                );
        }
    }

    [TestMethod]
    [DynamicData(nameof(UpdateTests.Models), typeof(UpdateTests))]
    public void PackingKeepsValuesAndGroupsSameShapes(string name)
    {
        var m = UpdateTests.Model(name);
        using var w = RandomLike(m, 3);
        using var p = Packed(w);
        AssertSame(w, p, what: name);
        Assert.AreEqual(w.ElementCount, p.Flat!.Size);
        // Every run of equal shapes is one view: writing through it changes the vector's tensors.
        foreach (var shape in w.Select(t => t.Shape).Distinct())
        {
            var members = Enumerable.Range(0, w.Count).Where(i => w[i].Shape == shape).ToArray();
            using var group = p.Group(members);
            Assert.IsNotNull(group, $"{name}: tensors of shape {shape} are not adjacent");
            Assert.AreEqual(new Shape([members.Length, .. shape.Dims]), group.Shape);
            CollectionAssert.AreEqual(Values(p[members[^1]]), Values(group.Slice(0, members.Length - 1, 1)));
        }
        if (w.Count > 1)
            Assert.IsNull(p.Group([1, 0]), "reversed members are not one view");
    }

    [TestMethod]
    public void PackedAlgebraEqualsTensorByTensorAlgebra()
    {
        var m = UpdateTests.Model("gpt-v1");
        using Weights a = RandomLike(m, 1),
            b = RandomLike(m, 2);
        using Weights pa = Packed(a),
            pb = Packed(b);
        Assert.IsTrue(pa.IsPackedLike(pb));
        Assert.IsFalse(pa.IsPackedLike(a));

        using (
            Weights expected = a.Zip(b, new Sub()),
                actual = pa.Zip(pb, new Sub())
        )
        {
            AssertSame(expected, actual, what: "Zip");
            Assert.IsTrue(actual.IsPacked);
        }
        using (
            Weights expected = a.Map(new Affine(3, 1)),
                actual = pa.Map(new Affine(3, 1))
        )
            AssertSame(expected, actual, what: "Map");
        using (
            Weights expected = 0.25 * a,
                actual = 0.25 * pa
        )
            AssertSame(expected, actual, what: "scalar product");
        using (
            Weights expected = a.Clone(),
                actual = pa.Clone()
        )
        {
            expected.AddScaled(b, -0.5);
            actual.AddScaled(pb, -0.5);
            AssertSame(expected, actual, what: "AddScaled");
            expected.Combine(b, new Modula.Optim.Ema(0.1));
            actual.Combine(pb, new Modula.Optim.Ema(0.1));
            AssertSame(expected, actual, what: "Combine");
            expected.Scale(-2);
            actual.Scale(-2);
            AssertSame(expected, actual, what: "Scale");
            var factors = Enumerable.Range(0, a.Count).Select(i => i % 3 == 0 ? 1.0 : 0.5 + 0.01 * i).ToArray();
            expected.ScaleEach(factors);
            actual.ScaleEach(factors);
            AssertSame(expected, actual, what: "ScaleEach");
            actual.CopyFrom(pb);
            AssertSame(b, actual, what: "CopyFrom");
        }
        using (var zeros = pa.ZerosLike())
        {
            Assert.IsTrue(zeros.IsPackedLike(pa));
            Assert.IsTrue(zeros.SelectMany(Values).All(v => v == 0));
        }
    }

    /// <summary><see cref="Weights.Alias"/>, packed or not: writes through either handle show in both, a packed alias
    /// is packed like its source, and disposing the alias leaves the source's values alive.</summary>
    [TestMethod]
    public void AnAliasSharesMemoryAndOutlivesNothing()
    {
        var m = UpdateTests.Model("gpt-v1");
        using var plain = RandomLike(m, 5);
        using var packed = Packed(plain);
        foreach (var (source, what) in new[] { (plain, "unpacked"), (packed, "packed") })
        {
            var expected = source.Select(t => t.ToArray<double>().Select(v => 2 * v).ToArray()).ToArray();
            using (var alias = source.Alias())
            {
                Assert.AreEqual(source.IsPacked, alias.IsPacked, $"{what}: packed alike");
                Assert.AreEqual(source.IsPacked, source.IsPackedLike(alias), $"{what}: same layout");
                alias.Scale(2);
            }
            for (int i = 0; i < source.Count; i++)
            {
                Assert.IsFalse(source[i].Storage.IsReleased, $"{what}: tensor {i} alive");
                CollectionAssert.AreEqual(expected[i], source[i].ToArray<double>(), $"{what}: tensor {i}");
            }
        }
    }

    [TestMethod]
    public void MixedOperandsFallBackToTensorByTensor()
    {
        var m = UpdateTests.Model("resmlp");
        using Weights a = RandomLike(m, 4),
            b = RandomLike(m, 5);
        using var pa = Packed(a);
        using (
            Weights expected = a.Zip(b, new Modula.Tensors.Primitives.Add()),
                actual = pa.Zip(b, new Modula.Tensors.Primitives.Add())
        )
            AssertSame(expected, actual, what: "packed with unpacked");
        // A view taken before packing must keep seeing the weights: a shared storage is not moved.
        using var shared = a.Clone();
        var early = shared.ToVariables();
        shared.Pack();
        Assert.IsFalse(shared.IsPacked, "a weight viewed by a variable stays where it is");
        shared.Scale(2);
        CollectionAssert.AreEqual(Values(shared[0]), Values(early[0].Value));
        foreach (var v in early)
            v.Dispose();
        using var mixed = new Weights([Ops.Zeros(new Shape(2), DType.Float32), Ops.Zeros(new Shape(2), DType.Float64)]);
        mixed.Pack();
        Assert.IsFalse(mixed.IsPacked, "tensors of different dtypes stay unpacked");
    }

    [TestMethod]
    public void TheTrainerPacksItsWeightsUnlessTheyAreAlreadyViewed()
    {
        var m = UpdateTests.Model("resmlp");
        var options = new Modula.Optim.TrainerOptions(0.1, Rule: Modula.Optim.UpdateRule.Normalize);
        using (var packed = new Modula.Optim.Trainer(m, Init(m), new Modula.Optim.Adam(), options))
            Assert.IsTrue(packed.Weights.IsPacked);
        var w = Init(m);
        var early = w.ToVariables();
        using (var trainer = new Modula.Optim.Trainer(m, w, new Modula.Optim.Adam(), options))
        {
            Assert.IsFalse(trainer.Weights.IsPacked, "variables made earlier still view the weights");
            using var g = RandomLike(m, 8);
            Assert.IsTrue(trainer.Step(g));
            for (int i = 0; i < m.AtomCount; i++)
                CollectionAssert.AreEqual(Values(trainer.Weights[i]), Values(early[i].Value), $"weight {i}");
        }
        foreach (var v in early)
            v.Dispose();
    }

    [TestMethod]
    public void NonFiniteValuesAreFoundInAPackedVector()
    {
        var m = UpdateTests.Model("gpt-v1");
        using var w = Packed(RandomLike(m, 6));
        Assert.IsNull(w.FirstNonFinite());
        foreach (var (index, value) in new[] { (3, double.NaN), (0, double.PositiveInfinity), (w.Count - 1, -1e308) })
        {
            using var copy = w.Clone();
            var values = Values(copy[index]);
            values[values.Length / 2] = value;
            using var bad = Tensor.FromArray<double>(values, copy[index].Shape);
            Ops.CopyInto(bad, copy[index]);
            // −1e308 is finite, but the sums overflow: the tensor-by-tensor probe then clears it.
            Assert.AreEqual(double.IsFinite(value) ? null : index, copy.FirstNonFinite(), $"value {value}");
        }
    }

    [TestMethod]
    [DataRow("gpt-v1")]
    [DataRow("resmlp")]
    [DataRow("rescnn")]
    public void BatchedNormalizeEqualsAtomByAtomNormalize(string name)
    {
        // Three steps, so the second and third start from the vectors the batched step left (views of one buffer).
        var m = UpdateTests.Model(name);
        var targets = m.AtomTargets(0.7).Select((t, i) => i == 1 ? 0 : t).ToArray(); // one target 0
        using var plainState = new NormalizeState(m, new Generator(11));
        using var packedState = new NormalizeState(m, new Generator(11));
        for (int step = 0; step < 3; step++)
        {
            using var g = RandomLike(m, 20 + step);
            using var pg = Packed(g);
            using var expected = m.Normalize(g, targets, plainState);
            using var actual = m.Normalize(pg, targets, packedState);
            Assert.IsTrue(actual.IsPackedLike(pg), "the result is packed like the update");
            AssertSame(expected, actual, 1e-12, $"{name} step {step}");
            for (int i = 0; i < m.AtomCount; i++)
                if (plainState.Vectors[i] is { } v)
                    CollectionAssert.AreEqual(
                        Values(v).Select(x => Math.Round(x, 10)).ToArray(),
                        Values(packedState.Vectors[i]!).Select(x => Math.Round(x, 10)).ToArray(),
                        $"{name} step {step}: power-iteration vector {i}"
                    );
            Assert.AreEqual(plainState.Generator.Offset, packedState.Generator.Offset, "same draws from the stream");
        }
    }

    [TestMethod]
    public void ATensorGivenTwiceIsLeftUnpacked()
    {
        // Found by an outside campaign: Pack moved the tensor, disposed it, then read it again for its second place,
        // and a trainer built on such weights failed with ObjectDisposedException.
        using var t = Rand(3, 4, 4);
        var w = new Weights([t, t]);
        w.Pack();
        Assert.IsFalse(w.IsPacked);
        Assert.IsFalse(t.IsDisposed);
        // A member that is not one of the tensors is named, not an IndexOutOfRangeException.
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => w.Group([0, 2]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => w.Group([-1]));
        CollectionAssert.AreEqual(Values(t), Values(w[1]));
    }

    [TestMethod]
    public void PackedNormalizeOfPointwiseConvolutionsEqualsUnpacked()
    {
        // Found by an outside campaign: the group's [2, 4, 4, 1, 1] view was written as [2, 4, 4], which failed, and
        // a trainer with the normalize rule failed every step on such a model.
        var m = new Conv2D(4, 4, kernelSize: 1, padding: 0) >> new Conv2D(4, 4, kernelSize: 1, padding: 0);
        var targets = m.AtomTargets(0.5);
        using var plainState = new NormalizeState(m, new Generator(3));
        using var packedState = new NormalizeState(m, new Generator(3));
        using var g = RandomLike(m, 60);
        using var pg = Packed(g);
        using var expected = m.Normalize(g, targets, plainState);
        using var actual = m.Normalize(pg, targets, packedState);
        Assert.IsTrue(actual.IsPackedLike(pg), "the result is packed like the update");
        AssertSame(expected, actual, 1e-12, "1×1 convolutions");
    }

    [TestMethod]
    [DynamicData(nameof(UpdateTests.Models), typeof(UpdateTests))]
    public void PackedDualizeEqualsUnpackedDualize(string name)
    {
        // Groups mixing tall and wide matrices (the GPT's MLP), convolution stacks, a target of 0.
        var m = UpdateTests.Model(name);
        var targets = m.AtomTargets(0.3).Select((t, i) => i == 2 ? 0 : t).ToArray();
        using var g = RandomLike(m, 40);
        using var pg = Packed(g);
        using var expected = m.Dualize(g, targets);
        using var actual = m.Dualize(pg, targets);
        Assert.IsTrue(actual.IsPackedLike(pg), "the result is packed like the gradient");
        Assert.IsFalse(expected.IsPacked);
        AssertSame(expected, actual, 1e-12, name);
        // And atom by atom, each matrix on its own (no batching at all).
        var atoms = m.Atoms();
        for (int i = 0; i < atoms.Count; i++)
        {
            if (targets[i] == 0)
            {
                Assert.IsTrue(Values(actual[i]).All(v => v == 0), $"{name}: atom {i} has target 0");
                continue;
            }
            using var alone = atoms[i].Atom.DualizeWeight(g[i], targets[i], Orthogonalizer.SixStep);
            var (e, a) = (Values(alone), Values(actual[i]));
            for (int k = 0; k < e.Length; k++)
                Assert.AreEqual(e[k], a[k], 1e-9, $"{name}: atom {i} element {k}");
        }
    }

    /// <summary>
    /// Same-shaped 1×1 convolutions, whose packed group is [count, out, in, 1, 1] where their batched run is
    /// [count, out, in]: square (one stacked batch, written in place), tall and wide (the Gram form), and near-square
    /// tall and wide (one stacked batch, the wide one transposed in and out), each against the atom dualized alone.
    /// </summary>
    [TestMethod]
    public void PackedDualizeOfPointwiseConvolutionsEqualsEachAlone()
    {
        var m =
            new Conv2D(6, 6, kernelSize: 1, padding: 0)
            >> new Conv2D(6, 6, kernelSize: 1, padding: 0)
            >> new Conv2D(24, 6, kernelSize: 1, padding: 0)
            >> new Conv2D(6, 24, kernelSize: 1, padding: 0)
            >> new Conv2D(24, 6, kernelSize: 1, padding: 0)
            >> new Conv2D(6, 24, kernelSize: 1, padding: 0)
            >> new Conv2D(8, 6, kernelSize: 1, padding: 0)
            >> new Conv2D(6, 8, kernelSize: 1, padding: 0);
        var targets = m.AtomTargets(0.3);
        using var g = RandomLike(m, 50);
        using var pg = Packed(g);
        using var actual = m.Dualize(pg, targets);
        var atoms = m.Atoms();
        for (int i = 0; i < atoms.Count; i++)
        {
            using var alone = atoms[i].Atom.DualizeWeight(g[i], targets[i], Orthogonalizer.SixStep);
            Reference.AssertClose(Values(alone), Values(actual[i]), 1e-6, 1e-5, $"1×1 convolution {i}");
        }
    }

    [TestMethod]
    public void GradientBuffersAccumulateLikeOwnedGradients()
    {
        var m = UpdateTests.Model("gpt-v1");
        using var w = Init(m, 2);
        using var tokens = Tokens(7, 11, 2, 6);
        using var targets = Tokens(8, 11, 2, 6);
        Weights Gradients(bool buffered)
        {
            var parameters = w.ToVariables();
            using var buffers = w.ZerosLike();
            buffers.Pack();
            if (buffered)
                for (int i = 0; i < parameters.Length; i++)
                    parameters[i].UseGradientBuffer(buffers[i]);
            for (int pass = 0; pass < 2; pass++) // two backward passes accumulate
                using (TensorScope.Begin())
                    F.CrossEntropy(m.Forward(new Variable(tokens.View(2, 6)), parameters), targets).Backward();
            var result = Weights.GradientsOf(parameters);
            if (buffered)
                Assert.IsTrue(buffers.SelectMany(Values).All(v => v == 0), "GradientsOf zeroes the buffers");
            foreach (var p in parameters)
                p.Dispose();
            return result;
        }
        using var owned = Gradients(false);
        using var buffered = Gradients(true);
        AssertSame(owned, buffered, 1e-12, "gradients");
    }

    [TestMethod]
    public void ConcatOrViewCopiesOnlyWhatIsNotAlreadyAdjacent()
    {
        using var whole = Tensor.FromArray<float>([1, 2, 3, 4, 5, 6], new Shape(3, 2));
        var parts = Ops.Split(whole, [1, 2], 0);
        using (var view = Ops.ConcatOrView(parts))
        {
            Ops.FillInto(view, 9);
            Assert.IsTrue(whole.ToArray<float>().All(v => v == 9), "adjacent parts give a view");
        }
        using (var reversed = Ops.ConcatOrView([parts[1], parts[0]]))
        {
            CollectionAssert.AreEqual(new float[] { 9, 9, 9, 9, 9, 9 }, reversed.ToArray<float>());
            Ops.FillInto(reversed, 0);
            Assert.IsTrue(whole.ToArray<float>().All(v => v == 9), "parts out of order are copied");
        }
        foreach (var p in parts)
            p.Dispose();
    }
}
