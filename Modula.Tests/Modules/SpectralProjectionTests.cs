using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Modules;

/// <summary>
/// The Lipschitz projections against a float64 SVD: for matrices of known spectrum, each result must equal
/// U·f(Σ)·Vᵀ for the map f the projection promises (so the singular vectors are kept), in float32 and float64.
/// </summary>
[TestClass]
public sealed class SpectralProjectionTests
{
    // Hard-cap polynomials as published (SpectralMaps documents their source and accuracy).
    private static readonly (double A, double B, double C)[] HardCap =
    [
        (0.805032, 0.206361, -0.019763),
        (0.649867, 0.162935, -0.011150),
        (1.810259, -0.200265, 0.008251),
        (1.004384, -0.183490, 0.014413),
    ];

    /// <summary>Shapes tall and wide, the two matrices' top singular values, and the dtype.</summary>
    public static IEnumerable<object[]> Cases =>
        [
            [24, 16, 2.5, 0.5, DType.Float64],
            [12, 30, 2.5, 0.5, DType.Float64],
            [24, 16, 2.5, 0.5, DType.Float32],
            [12, 30, 2.5, 0.5, DType.Float32],
        ];

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void EveryProjectionAppliesItsMapToTheSingularValues(
        int rows,
        int cols,
        double top0,
        double top1,
        DType dtype
    )
    {
        // Converged power iteration (σ₂/σ₁ = 0.55, 0.55⁸⁰ ≈ 1e-21) so the rank-one maps are exact to rounding;
        // the polynomial caps need no estimate. Entries are O(1); measured worst 2e-15 in float64, 1.5e-7 in
        // float32.
        const int steps = 40;
        double tolerance = dtype == DType.Float64 ? 1e-12 : 2e-6;
        const double sigmaMax = 0.7;
        var softCap = SpectralProjection.SoftCapFor(sigmaMax, 1.2 * sigmaMax);
        double turn = 1 / Math.Sqrt(3 * softCap.Strength);
        var checks = new (SpectralProjection Projection, Func<double, double, double> Map)[]
        {
            (SpectralProjection.Normalize(sigmaMax, steps), (s, top) => s * Math.Min(1, sigmaMax / top)),
            (SpectralProjection.Hammer(sigmaMax, steps), (s, top) => s == top ? sigmaMax : s),
            (SpectralProjection.WeightDecay(0.1, steps), (s, top) => s == top ? 0.9 * top : s),
            // Slice 0 (σ₁ = 3.6·σ_max) passes the range guard first: scaled so that σ₁ = 3·σ_max.
            (SpectralProjection.HardCap(sigmaMax, steps), (s, top) =>
                sigmaMax * Compose(HardCap, s * Math.Min(1, 3 * sigmaMax / top) / sigmaMax)
            ),
            // Slice 0 is past the soft cap's turning point 1/√(3α)·σ_max too, and is scaled down to it first.
            (softCap, (s, top) =>
                sigmaMax * SoftCap(softCap.Strength, s * Math.Min(1, turn * sigmaMax / top) / sigmaMax)
            ),
        };
        foreach (var (projection, map) in checks)
        {
            ulong seed = (ulong)(rows * 100 + cols);
            var (stack, spectra) = KnownSpectra(seed, rows, cols, [top0, top1]);
            using var input = HostLinalg.Upload(stack, new Shape(2, rows, cols), dtype, Device.Cpu);
            using var output = projection.Apply(input);
            var exact = HostLinalg.HostArray(input); // the rounded input is the reference's input too
            var actual = HostLinalg.HostArray(output);
            int size = rows * cols;
            double worst = 0;
            for (int slice = 0; slice < 2; slice++)
            {
                var matrix = exact.AsSpan(slice * size, size);
                double top = HostLinalg.SingularValues(matrix, rows, cols)[0];
                // The top singular value is told apart from the rest (0.55·σ₁ and below) by a wide margin.
                var expected = HostLinalg.MapSingularValues(matrix, rows, cols, s =>
                    map(s >= 0.9 * top ? top : s, top)
                );
                var got = actual[(slice * size)..((slice + 1) * size)];
                worst = Math.Max(worst, expected.Zip(got, (e, a) => Math.Abs(e - a)).Max());
                Reference.AssertClose(
                    expected,
                    got,
                    tolerance,
                    0,
                    $"{projection.Kind} {dtype} {rows}×{cols} slice {slice} (σ₁ {spectra[slice]}), seed {seed}"
                );
            }
            Console.WriteLine($"{projection.Kind} {dtype} {rows}×{cols} seed {seed}: |O − U·f(Σ)·Vᵀ| ≤ {worst}");
        }
    }

    [TestMethod]
    [DataRow(DType.Float64)]
    [DataRow(DType.Float32)]
    public void DefaultPowerStepsOnAGaussianMatrix(DType dtype)
    {
        // 16 steps on a Gaussian matrix, whose top singular values are close (a poor gap for power iteration).
        // Normalize never overshoots the bound (σ₁ is never overestimated) and stops at most a little short;
        // hammer and weight decay lower σ₁, and a rank-one change cannot take the result below σ₂ (interlacing).
        const ulong seed = 3;
        double rounding = dtype == DType.Float64 ? 1e-12 : 1e-6;
        using var g = Ops.Normal(new Shape(40, 24), new Generator(seed), dtype);
        var before = HostLinalg.SingularValues(g)[0];
        using var normalized = SpectralProjection.Normalize(2).Apply(g);
        using var hammered = SpectralProjection.Hammer(2).Apply(g);
        using var decayed = SpectralProjection.WeightDecay(0.5).Apply(g);
        double normalizedTop = HostLinalg.SingularValues(normalized)[0][0],
            hammeredTop = HostLinalg.SingularValues(hammered)[0][0],
            decayedTop = HostLinalg.SingularValues(decayed)[0][0];
        Console.WriteLine(
            $"{dtype} seed {seed}: σ₁ {before[0]}, σ₂ {before[1]}; normalize(2) {normalizedTop}, "
                + $"hammer(2) {hammeredTop}, decay(0.5) {decayedTop}"
        );
        Assert.IsTrue(normalizedTop >= 2 * (1 - rounding) && normalizedTop <= 2 * 1.05, $"seed {seed}");
        Assert.IsTrue(hammeredTop < before[0] && hammeredTop >= before[1] * (1 - rounding), $"seed {seed}");
        Assert.IsTrue(decayedTop < before[0] && decayedTop >= before[1] * (1 - rounding), $"seed {seed}");
    }

    /// <summary>
    /// A float32 matrix of σ₁ = 10²⁰ under caps whose guard (limit/σ₁, 3·10⁻¹² for the hard cap at σ_max = 10⁸)
    /// lies within the range where a factor 1/‖M‖ may ride in the products: the guard does not bound ‖M‖, so the
    /// unscaled Gram product would overflow (a NaN result once); it must take the rescaled copy and end at the cap.
    /// </summary>
    [TestMethod]
    public void CapsOfHugeFloat32MatricesStayFinite()
    {
        var (stack, _) = KnownSpectra(4, 20, 14, [1e20, 3e19]);
        using var input = HostLinalg.Upload(stack, new Shape(2, 20, 14), DType.Float32, Device.Cpu);
        using var hard = SpectralProjection.HardCap(1e8).Apply(input);
        foreach (var s in HostLinalg.SingularValues(hard))
            Assert.IsTrue(s[0] <= 1.011e8 && s[0] >= 0.95e8, $"hard-capped σ₁ {s[0]}");
        var soft = SpectralProjection.SoftCap(1, 1e-20);
        using var softened = soft.Apply(input);
        double peak = SoftCap(1e-20, 1 / Math.Sqrt(3e-20));
        foreach (var s in HostLinalg.SingularValues(softened))
            Assert.AreEqual(peak, s[0], peak * 1e-3, $"soft-capped σ₁ {s[0]}, peak {peak}");
    }

    [TestMethod]
    [DataRow(DType.Float64)]
    [DataRow(DType.Float32)]
    public void CapsStayBoundedFarOutsideTheirRangeAndZeroStaysZero(DType dtype)
    {
        // σ₁ = 10·σ_max is past where the polynomials hold (3.5·σ_max); the range guard scales the matrix to
        // 3·σ_max first, so every singular value ends at most 1.011·σ_max instead of exploding.
        const double sigmaMax = 0.5;
        var (stack, _) = KnownSpectra(9, 20, 14, [10 * sigmaMax, 50 * sigmaMax]);
        using var input = HostLinalg.Upload(stack, new Shape(2, 20, 14), dtype, Device.Cpu);
        using var capped = SpectralProjection.HardCap(sigmaMax).Apply(input);
        foreach (var s in HostLinalg.SingularValues(capped))
            Assert.IsTrue(s[0] <= 1.011 * sigmaMax && s[0] >= 0.95 * sigmaMax, $"capped σ₁ {s[0]}");

        // The soft cap likewise (past its turning point it would fall and turn negative): the largest singular
        // value lands at the cap's peak σ_max·s(x*), and every one is ≥ 0.
        var soft = SpectralProjection.SoftCapFor(sigmaMax, 1.1 * sigmaMax);
        double peak = sigmaMax * SoftCap(soft.Strength, 1 / Math.Sqrt(3 * soft.Strength));
        using var softened = soft.Apply(input);
        foreach (var s in HostLinalg.SingularValues(softened))
            Assert.AreEqual(peak, s[0], peak * 1e-4, $"soft-capped σ₁ {s[0]}, peak {peak}");

        using var zeros = Ops.Zeros(new Shape(3, 5, 4), dtype);
        foreach (
            var projection in new[]
            {
                SpectralProjection.Normalize(),
                SpectralProjection.Hammer(),
                SpectralProjection.WeightDecay(0.1),
                SpectralProjection.HardCap(),
                SpectralProjection.SoftCap(1, 0.1),
            }
        )
        {
            using var result = projection.Apply(zeros);
            Assert.IsTrue(HostLinalg.HostArray(result).All(v => v == 0), $"{projection.Kind}: zero maps to zero");
        }
    }

    [TestMethod]
    [DataRow(1e-78)]
    [DataRow(1e-60)]
    public void ASoftCapTooWeakForFloat32LeavesTheWeightsAsTheyAre(double alpha)
    {
        // Found by fuzzing: with α = 1e-78 the guard's limit 1/√(3α) was ∞ in float32, and ∞/∞ made the weights
        // NaN. p = x − α·x³ and p + α·p³ differ from x by at most α·x³, far below float32's resolution here.
        using var input = Ops.Normal(new Shape(2, 6, 4), new Generator(5), DType.Float32);
        using var capped = SpectralProjection.SoftCap(1, alpha).Apply(input);
        CollectionAssert.AreEqual(HostLinalg.HostArray(input), HostLinalg.HostArray(capped));
    }

    [TestMethod]
    public void HardCapAndSoftCapApproximateTheClip()
    {
        // The scalar maps themselves: P within 0.034 of min(1, x) up to 3.5, and the coupled soft cap sends the
        // largest expected singular value exactly to σ_max and nothing below it above σ_max.
        for (int i = 0; i <= 3500; i++)
        {
            double x = i / 1000.0;
            double p = Compose(HardCap, x);
            Assert.IsTrue(Math.Abs(p - Math.Min(1, x)) <= 0.034 && p <= 1.011, $"P({x}) = {p}");
        }
        foreach (double largest in new[] { 1.0, 1.05, 1.2, 1.3 })
        {
            var cap = SpectralProjection.SoftCapFor(2, 2 * largest);
            Assert.AreEqual(1, SoftCap(cap.Strength, largest), 1e-12, $"s({largest})");
            for (int i = 0; i <= 1000; i++)
                Assert.IsTrue(SoftCap(cap.Strength, largest * i / 1000) <= 1 + 1e-12, $"largest {largest}, i {i}");
        }
        Assert.AreEqual(0, SpectralProjection.SoftCapFor(1, 0.9).Strength);
    }

    [TestMethod]
    public void ModulesAndTrainersProjectOnlyTheChosenAtoms()
    {
        // Per module: only Linear atoms with 8 outputs are normalized; the rest (embeddings included) are kept.
        var model = UpdateTests.Model("gpt-v2");
        using var w = ModuleTesting.RandomLike(model, 2);
        var atoms = model.Atoms();
        SpectralProjection? Choose(string path, MatrixAtom atom) =>
            atom.FanOut == 8 ? SpectralProjection.Normalize(0.5, 40) : null;
        using var projected = model.Project(w, Choose);
        int chosen = 0;
        for (int i = 0; i < atoms.Count; i++)
        {
            var values = HostLinalg.HostArray(projected[i]);
            if (atoms[i].Atom is MatrixAtom { FanOut: 8 } matrix)
            {
                chosen++;
                // Power iteration on random matrices (unknown gap): at or just above the bound, never below.
                double norm = matrix.WeightNorm(projected[i]);
                Assert.IsTrue(norm >= 0.5 * (1 - 1e-12) && norm <= 0.5 * 1.001, $"{atoms[i].Path}: {norm}");
            }
            else
                Assert.IsTrue(values.SequenceEqual(HostLinalg.HostArray(w[i])), $"{atoms[i].Path} unchanged");
        }
        Assert.IsTrue(chosen > 0 && chosen < atoms.Count, $"{chosen} of {atoms.Count} atoms chosen");

        // Whole network through the trainer: large plain steps, then every matrix atom is back within σ_max.
        var mlp = Mlp.V2(5, 30, 16, 3);
        var options = new TrainerOptions(3, SpectralProjections: (_, _) => SpectralProjection.Normalize(0.5, 40));
        using var trainer = new Trainer(
            mlp,
            mlp.Initialize(new Generator(4), dtype: DType.Float64),
            new Sgd(),
            options
        );
        for (int step = 0; step < 3; step++)
        {
            using var gradient = ModuleTesting.RandomLike(mlp, 10 + step);
            trainer.Apply(gradient);
        }
        foreach (var (atom, i) in mlp.Atoms().Select((a, i) => (a.Atom, i)))
            if (atom is MatrixAtom matrix)
            {
                double norm = matrix.WeightNorm(trainer.Weights[i]);
                Assert.IsTrue(norm >= 0.5 * (1 - 1e-12) && norm <= 0.5 * 1.001, $"atom {i}: norm {norm}");
            }
        Assert.ThrowsExactly<ArgumentException>(() =>
            new Trainer(mlp, trainer.Weights, new Sgd(), options with { Project = true })
        );
    }

    [TestMethod]
    public void TheIlgpuSimulatorAgreesWithTheCpu()
    {
        // Same ops on the ILGPU backend (what a GPU runs; float32 only there): Polar Express and every
        // projection on a stack, to float32 rounding.
        const DType dtype = DType.Float32;
        const double tolerance = 1e-5;
        var (stack, _) = KnownSpectra(21, 18, 10, [2.5, 0.5]);
        var simulator = TestDevices.Get(TestDevices.Simulator);
        using var cpu = HostLinalg.Upload(stack, new Shape(2, 18, 10), dtype, Device.Cpu);
        using var sim = HostLinalg.Upload(stack, new Shape(2, 18, 10), dtype, simulator);
        var cases = new (string Name, Func<Tensor, Tensor> Run)[]
        {
            ("polar express", t => Orthogonalize.Apply(t, Orthogonalizer.PolarExpress)),
            ("normalize", SpectralProjection.Normalize(0.7).Apply),
            ("hammer", SpectralProjection.Hammer(0.7).Apply),
            ("weight decay", SpectralProjection.WeightDecay(0.1).Apply),
            ("hard cap", SpectralProjection.HardCap(0.7).Apply),
            ("soft cap", SpectralProjection.SoftCapFor(0.7, 0.84).Apply),
        };
        foreach (var (name, run) in cases)
        {
            using var onCpu = run(cpu);
            using var onSim = run(sim);
            Reference.AssertClose(
                HostLinalg.HostArray(onCpu),
                HostLinalg.HostArray(onSim),
                tolerance,
                tolerance,
                $"{name} {dtype}"
            );
        }
    }

    /// <summary>
    /// Two [rows, cols] matrices Q₁·diag(s)·Q₂ᵀ with Haar-random Q's: σ₁ = the given top, then evenly from 0.55·top
    /// down to exactly 0 (a gap for power iteration, a zero singular value, and a spread for the caps).
    /// </summary>
    private static (double[] Stack, double[] Tops) KnownSpectra(ulong seed, int rows, int cols, double[] tops)
    {
        int k = Math.Min(rows, cols);
        var stack = new double[tops.Length * rows * cols];
        var rng = new Generator(seed);
        for (int slice = 0; slice < tops.Length; slice++)
        {
            var left = HostLinalg.RandomSemiOrthogonal(rows, k, rng);
            var right = HostLinalg.RandomSemiOrthogonal(cols, k, rng);
            for (int j = 0; j < k; j++)
            {
                double s = j == 0 ? tops[slice] : 0.55 * tops[slice] * (k - 1 - j) / (k - 2);
                for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    stack[slice * rows * cols + r * cols + c] += s * left[r * k + j] * right[c * k + j];
            }
        }
        return (stack, tops);
    }

    private static double Compose(IEnumerable<(double A, double B, double C)> steps, double x)
    {
        foreach (var (a, b, c) in steps)
            x = a * x + b * x * x * x + c * Math.Pow(x, 5);
        return x;
    }

    private static double SoftCap(double alpha, double x)
    {
        double p = x - alpha * x * x * x;
        return p + alpha * p * p * p;
    }
}
