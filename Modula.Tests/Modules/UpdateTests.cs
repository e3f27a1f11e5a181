using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Tensors;
using Modula.Tensors.Random;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

[TestClass]
public sealed class UpdateTests
{
    private static Module SmallGpt(bool v2) =>
        v2
            ? Gpt.V2(new GptConfig(Vocab: 11, Context: 6, Heads: 2, DEmbed: 8, DQuery: 4, DValue: 4, Blocks: 2))
            : Gpt.V1(new GptConfig(Vocab: 11, Context: 6, Heads: 2, DEmbed: 8, DQuery: 4, DValue: 4, Blocks: 2));

    /// <summary>Small models with every kind of atom (matrices, convolutions, embeddings).</summary>
    public static IEnumerable<object[]> Models =>
        [
            ["resmlp"],
            ["rescnn"],
            ["gpt-v1"],
            ["gpt-v2"],
            ["mlp-v2"],
        ];

    internal static Module Model(string name) =>
        name switch
        {
            "resmlp" => Mlp.ResMlp(12, 3, 2, 20, 5),
            "rescnn" => Mlp.ResCnn(6, 2, 2, 3, 4),
            "gpt-v1" => SmallGpt(false),
            "gpt-v2" => SmallGpt(true),
            "mlp-v2" => Mlp.V2(5, 30, 16, 3),
            _ => throw new ArgumentException(name),
        };

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void DualizedUpdateHasModularNormEqualToTheTarget(string name)
    {
        var m = Model(name);
        using var g = RandomLike(m, 5);
        foreach (double target in new[] { 1.0, 0.03 })
        {
            using var update = m.Dualize(g, target);
            double norm = m.Norm(update);
            Assert.IsTrue(
                norm <= target * 1.0 + 1e-12 && norm >= target * 0.99,
                $"{name}: modular norm {norm} for target {target}"
            );
        }
    }

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void ModularNormIsTheLargestAtomNormOverItsTarget(string name)
    {
        var m = Model(name);
        using var w = RandomLike(m, 9);
        var atoms = m.Atoms();
        var targets = m.AtomTargets(1);
        double expected = atoms.Select((a, i) => a.Atom.WeightNorm(w[i]) / targets[i]).Max();
        Assert.AreEqual(expected, m.Norm(w), 1e-9 * expected);
    }

    [TestMethod]
    public void AMatrixHoldingANaNOrAnInfinityHasNaNSingularValues()
    {
        // Found by fuzzing the API: Module.Norm of a NaN weight threw ArithmeticException from the Jacobi sweeps.
        foreach (double bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            var values = new double[] { 1, 2, bad, 4, 5, 6 };
            using var matrix = Tensor.FromArray<double>(values, new Shape(2, 3));
            var singular = HostLinalg.SingularValues(matrix)[0];
            Assert.AreEqual(2, singular.Length);
            Assert.IsTrue(singular.All(double.IsNaN), $"{bad}: {string.Join(", ", singular)}");
        }
        var m = Model("mlp-v2");
        using var w = RandomLike(m, 9);
        Ops.FillInto(w[0], double.NaN);
        Assert.IsTrue(double.IsNaN(m.Norm(w)), "the modular norm of a NaN weight");
    }

    [TestMethod]
    public void SingularValuesAndTheirBoundHoldAtEveryScaleOfADouble()
    {
        // Found by an outside campaign: Jacobi's dot products squared the entries, so a matrix of entries near 1e-163
        // had singular values 0 (a certified Lipschitz bound of 0 for a layer that moves its input), and one near
        // 1e200 threw ArithmeticException from NaN rotations. σ₁ of this matrix is 4.039078928 (float64 reference).
        double[] m = [1, 2, -1, 0.5, -1, 1, 1, 1, -3];
        var reference = HostLinalg.SingularValues(Tensor.FromArray<double>(m, new Shape(3, 3)))[0].Order().ToArray();
        Assert.AreEqual(4.039078928, reference[^1], 1e-9);
        foreach (double scale in new[] { 1e-300, 1e-163, 1e-161, 1e150, 1e200, 1e300, 5e307 })
        {
            var scaled = m.Select(v => v * scale).ToArray();
            using var t = Tensor.FromArray<double>(scaled, new Shape(3, 3));
            var values = HostLinalg.SingularValues(t)[0].Order().ToArray();
            // At 5e307, σ₁ passes the largest double: ∞ is its value and its bound, and U·Vᵀ still comes out whole.
            for (int i = 0; i < 3; i++)
                Assert.AreEqual(reference[i] * scale, values[i], 1e-12 * reference[i] * scale, $"scale {scale}: σ{i}");
            double bound = HostLinalg.SpectralNormBound(scaled, 3, 3);
            Assert.IsTrue(bound >= reference[^1] * scale && bound <= reference[^1] * scale * (1 + 1e-9), $"{bound}");
            var orthogonal = HostLinalg.MapSingularValues(scaled, 3, 3, _ => 1);
            var unscaled = HostLinalg.MapSingularValues(m, 3, 3, _ => 1);
            for (int k = 0; k < 9; k++)
                Assert.AreEqual(unscaled[k], orthogonal[k], 1e-12, $"scale {scale}: U·Vᵀ element {k}");
        }
    }

    [TestMethod]
    public void NormalizedUpdateIsAtLeastTheTargetAndConvergesWithWarmStarts()
    {
        var m = Mlp.ResMlp(24, 2, 2, 40, 8);
        using var state = new NormalizeState(m, new Generator(3));
        using var g = RandomLike(m, 2);
        double first = 0,
            last = 0;
        for (int step = 0; step < 40; step++)
        {
            using var u = m.Normalize(g, 0.5, state);
            double norm = m.Norm(u);
            Assert.IsTrue(norm >= 0.5 * (1 - 1e-9), $"step {step}: modular norm {norm} below the target");
            if (step == 0)
                first = norm;
            last = norm;
        }
        Assert.IsTrue(first > 0.5 * 1.05, $"a cold power iteration overshoots (first {first})");
        Assert.AreEqual(0.5, last, 0.5 * 1e-3, "warm starts converge to the target");
    }

    [TestMethod]
    public void ZeroMassModulesGetZeroUpdates()
    {
        var m = new Linear(6, 4, mass: 0) >> new Relu();
        using var g = RandomLike(m, 1);
        using var d = m.Dualize(g, 1);
        using var state = new NormalizeState(m, new Generator(1));
        using var n = m.Normalize(g, 1, state);
        Assert.IsTrue(Values(d[0]).All(v => v == 0) && Values(n[0]).All(v => v == 0));
    }

    [TestMethod]
    public void NewtonSchulzSingularValuesLieInTheBandAndKeepRank()
    {
        foreach (var (rows, cols) in new[] { (50, 100), (256, 78), (10, 64), (96, 32) })
        {
            using var g = Rand(rows + cols, rows, cols);
            using var o = Orthogonalize.Apply(g);
            var s = HostLinalg.SingularValues(o)[0];
            Assert.IsTrue(
                s.Min() >= 0.99 && s.Max() <= 1.0,
                $"{rows}×{cols}: singular values in [{s.Min()}, {s.Max()}]"
            );
            using var ot = Orthogonalize.Apply(g.Transpose());
            Reference.AssertClose(Values(o.Transpose()), Values(ot), 1e-12, 1e-10, "orth(Mᵀ) = orth(M)ᵀ");
        }
        // Rank 3: three singular values near 1, the rest stay zero.
        using var a = Rand(1, 20, 3);
        using var b = Rand(2, 3, 16);
        using var low = Ops.MatMul(a, b);
        var sv = HostLinalg.SingularValues(Orthogonalize.Apply(low))[0];
        Assert.IsTrue(sv.Take(3).All(x => x > 0.9) && sv.Skip(3).All(x => x < 1e-8), string.Join(", ", sv));
        using var zero = Ops.Zeros(new Shape(4, 3), DType.Float64);
        Assert.IsTrue(Values(Orthogonalize.Apply(zero)).All(v => v == 0), "a zero matrix stays zero");
    }

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void BatchedDualizeEqualsDualizingEachAtomAlone(string name)
    {
        // Same-shaped matrix atoms are orthogonalized in one batched Newton–Schulz run; each
        // matrix must come out as if it had been dualized on its own.
        var m = Model(name);
        using var g = RandomLike(m, 5);
        var targets = m.AtomTargets(0.3);
        using var batched = m.Dualize(g, 0.3);
        var atoms = m.Atoms();
        for (int i = 0; i < atoms.Count; i++)
        {
            using var alone = atoms[i].Atom.DualizeWeight(g[i], targets[i], Orthogonalizer.SixStep);
            Reference.AssertClose(Values(alone), Values(batched[i]), 1e-12, 1e-10, $"{name} atom {i} {atoms[i].Path}");
        }
    }

    [TestMethod]
    [DataRow(DType.Float64, 1e-12)]
    [DataRow(DType.Float32, 2e-5)]
    public void NewtonSchulzFollowsModulaFormulaStepByStep(DType dtype, double tolerance)
    {
        // Modula v2's iteration in plain float64 loops: X = G/‖G‖_F, then for each (a, b, c):
        // A = XᵀX, B = b·A + c·A², X = a·X + X·B (on the orientation with the smaller Gram matrix).
        const int rows = 9,
            cols = 5;
        var g = Reference.RandomValues(rows * cols, 23);
        double norm = Math.Sqrt(g.Sum(v => v * v));
        var x = g.Select(v => v / norm).ToArray();
        double[][] coefficients =
        [
            [3955 / 1024.0, -8306 / 1024.0, 5008 / 1024.0],
            [3735 / 1024.0, -6681 / 1024.0, 3463 / 1024.0],
            [3799 / 1024.0, -6499 / 1024.0, 3211 / 1024.0],
            [4019 / 1024.0, -6385 / 1024.0, 2906 / 1024.0],
            [2677 / 1024.0, -3029 / 1024.0, 1162 / 1024.0],
            [2172 / 1024.0, -1833 / 1024.0, 682 / 1024.0],
        ];
        foreach (var abc in coefficients)
        {
            var gram = new double[cols * cols];
            for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
            for (int p = 0; p < rows; p++)
                gram[i * cols + j] += x[p * cols + i] * x[p * cols + j];
            var poly = new double[cols * cols];
            for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++)
            {
                double square = 0;
                for (int p = 0; p < cols; p++)
                    square += gram[i * cols + p] * gram[p * cols + j];
                poly[i * cols + j] = abc[1] * gram[i * cols + j] + abc[2] * square;
            }
            var next = new double[rows * cols];
            for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                double sum = abc[0] * x[i * cols + j];
                for (int p = 0; p < cols; p++)
                    sum += x[i * cols + p] * poly[p * cols + j];
                next[i * cols + j] = sum;
            }
            x = next;
        }
        using var input = Reference.Make(g, new Shape(rows, cols), dtype, Device.Cpu);
        using var result = Orthogonalize.Apply(input);
        Reference.AssertClose(x, Values(result), tolerance, tolerance, $"six-step Newton–Schulz in {dtype}");
    }

    [TestMethod]
    public void MuonQuinticSpreadsSingularValuesAroundOne()
    {
        using var g = Rand(7, 64, 128);
        var s = HostLinalg.SingularValues(Orthogonalize.Apply(g, Orthogonalizer.MuonQuintic))[0];
        Assert.IsTrue(s.Min() > 0.6 && s.Max() < 1.25 && s.Max() - s.Min() > 0.1, $"[{s.Min()}, {s.Max()}]");
    }

    [TestMethod]
    public void LinearAndConvDualizeAndProjectToScaledOrthogonalMatrices()
    {
        var linear = new Linear(12, 30);
        using var g = Rand(3, 12, 30);
        using var d = linear.DualizeWeight(g, 0.25, Orthogonalizer.SixStep);
        var s = HostLinalg.SingularValues(d)[0];
        Assert.IsTrue(s.All(x => x >= 0.25 * 0.99 && x <= 0.25), $"dualized s.v. [{s.Min()}, {s.Max()}]");

        var conv = new Conv2D(5, 4, kernelSize: 3);
        using var cg = Rand(4, 5, 4, 3, 3);
        using var p = conv.ProjectWeight(cg);
        for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
        {
            using var slice = Ops.Contiguous(p.Slice(2, i, 1).Slice(3, j, 1).Reshape(5, 4));
            var sv = HostLinalg.SingularValues(slice)[0];
            Assert.IsTrue(sv.All(x => x >= 0.99 && x <= 1), $"slice ({i},{j}) [{sv.Min()}, {sv.Max()}]");
        }
    }

    [TestMethod]
    public void InitializationHasUnitSingularValuesAndUnitRows()
    {
        var m = new Linear(7, 19) >> new Linear(19, 7);
        using var w = Init(m);
        foreach (var t in w)
        {
            var s = HostLinalg.SingularValues(t)[0];
            Assert.IsTrue(s.All(x => Math.Abs(x - 1) < 1e-12), $"semi-orthogonal init: [{s.Min()}, {s.Max()}]");
        }
        var conv = new Conv2D(6, 3);
        using var cw = Init(conv);
        Assert.AreEqual(1.0, conv.WeightNorm(cw[0]), 1e-12);

        var emb = new Embedding(9, 16);
        using var ew = Init(emb);
        using var tokens = Tokens(1, 9, 2, 5);
        var y = Run(emb, ew, tokens);
        for (int r = 0; r < 10; r++)
        {
            double ms = y.Skip(r * 16).Take(16).Sum(v => v * v) / 16;
            Assert.AreEqual(1.0, ms, 1e-12, "embedding outputs have RMS 1");
        }
    }

    [TestMethod]
    public void EmbeddingUpdatesActRowByRow()
    {
        var emb = new Embedding(5, 4);
        var values = Reference.RandomValues(20, 3);
        for (int j = 0; j < 4; j++)
            values[2 * 4 + j] = 0; // row 2 is zero
        using var g = Tensor.FromArray<double>(values, new Shape(5, 4));
        using var d = emb.DualizeWeight(g, 0.3, Orthogonalizer.SixStep);
        using var state = new NormalizeState(emb, new Generator(0));
        using var n = emb.NormalizeWeight(g, 0.3, state, 0);
        using var r = emb.RegularizeWeight(g, 0.9);
        foreach (var (t, norm) in new[] { (d, 0.3), (n, 0.3), (r, 1.0) })
        {
            var v = Values(t);
            for (int row = 0; row < 5; row++)
            {
                double l2 = Math.Sqrt(v.Skip(row * 4).Take(4).Sum(x => x * x));
                Assert.AreEqual(row == 2 ? 0 : norm, l2, 1e-12, $"row {row}");
            }
        }
        Assert.AreEqual(0.3, emb.WeightNorm(d), 1e-12);
    }

    [TestMethod]
    public void TinyFloat32GradientsNormalizeWithoutUnderflow()
    {
        // Rows whose squares underflow float32 (a rare token's decayed momentum): the update must
        // still have the target norm, not the huge norm of a value divided by a vanished norm.
        var emb = new Embedding(3, 128);
        var values = Reference.RandomValues(3 * 128, 4).Select(v => (float)(v * (v > 0 ? 1e-24 : 1e-3))).ToArray();
        using var g = Tensor.FromArray<float>(values, new Shape(3, 128));
        using var d = emb.DualizeWeight(g, 0.5, Orthogonalizer.SixStep);
        var v = d.ToArray<float>();
        for (int row = 0; row < 3; row++)
            Assert.AreEqual(0.5, Math.Sqrt(v.Skip(row * 128).Take(128).Sum(x => (double)x * x)), 1e-5, $"row {row}");

        var linear = new Linear(16, 32);
        using var tiny = Tensor.FromArray<float>(
            Reference.RandomValues(16 * 32, 5).Select(x => (float)(x * 1e-24)).ToArray(),
            new Shape(16, 32)
        );
        using var o = linear.DualizeWeight(tiny, 1, Orthogonalizer.SixStep);
        var sv = HostLinalg.SingularValues(o.ToArray<float>().Select(x => (double)x).ToArray(), 16, 32);
        Assert.IsTrue(
            sv.All(s => s > 0.9 && s <= 1.0 + 1e-3),
            $"orthogonalized tiny gradient: singular values {sv.Min()}..{sv.Max()}"
        );
    }

    [TestMethod]
    public void RegularizeShrinksMatricesByTheirShareOfTheStrength()
    {
        var m = new Linear(4, 4, mass: 1) >> new Linear(4, 4, mass: 3);
        using var w = Init(m);
        using var r = m.Regularize(w, 0.1);
        var shares = m.AtomTargets(0.1);
        for (int i = 0; i < 2; i++)
            Reference.AssertClose(
                Values(w[i]).Select(v => v * (1 - shares[i])).ToArray(),
                Values(r[i]),
                1e-15,
                1e-15,
                $"atom {i}"
            );
    }

    [TestMethod]
    public void FirstNonFiniteFindsNaNAndInfinityButNotAnOverflowingSum()
    {
        // 3e38 + 3e38 overflows float32 although both entries are finite.
        using var finite = new Weights([Tensor.FromArray<float>([3e38f, 3e38f], new Shape(2))]);
        Assert.IsNull(finite.FirstNonFinite());
        using var mixed = new Weights([
            Tensor.FromArray<float>([3e38f, 3e38f], new Shape(2)),
            Tensor.FromArray<float>([1f, float.NaN], new Shape(2)),
            Tensor.FromArray<float>([float.NegativeInfinity], new Shape(1)),
        ]);
        Assert.AreEqual(1, mixed.FirstNonFinite());
    }

    [TestMethod]
    public void RegularizingInPlaceMatchesTheNewVector()
    {
        // Matrices shrink in place, embeddings are re-projected and copied back.
        var m = new Embedding(6, 4) >> new Linear(5, 4, mass: 2) >> new Linear(3, 5);
        using var w = Init(m);
        using var expected = m.Regularize(w, 0.2);
        m.RegularizeInPlace(w, 0.2);
        for (int i = 0; i < 3; i++)
            Reference.AssertClose(Values(expected[i]), Values(w[i]), 1e-15, 1e-15, $"atom {i}");
    }
}
