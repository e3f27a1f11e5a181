using Modula.Tensors;

namespace Modula.Modules.Linalg;

/// <summary>
/// Odd matrix polynomials applied to singular values: a step with (a, b, c) maps M = U Σ Vᵀ to U f(Σ) Vᵀ with
/// f(σ) = aσ + bσ³ + cσ⁵, using only matrix products. Orthogonalization and the spectral caps are compositions of
/// such steps.
/// </summary>
internal static class OddPolynomial
{
    /// <summary>
    /// Runs <paramref name="steps"/> on every matrix of <paramref name="g"/> [..., m, n] after <paramref
    /// name="prepare"/> (which returns a new tensor, say g rescaled, and must act alike on a matrix and its
    /// transpose: it receives either). Returns a new contiguous tensor shaped like g. Matrices whose long side is at
    /// least <see cref="GramAspect"/> times their short one run the steps on their small Gram matrix (<see
    /// cref="ComposeOnGram"/>), in g's own orientation; the others step the matrix itself, taken tall so that
    /// MᵀM is the small Gram matrix.
    /// </summary>
    public static Tensor Compose(
        Tensor g,
        IReadOnlyList<(double A, double B, double C)> steps,
        Func<Tensor, Tensor> prepare
    ) => Compose(g, steps, prepare, onGram: null);

    /// <summary><see cref="Compose(Tensor, IReadOnlyList{ValueTuple{double, double, double}}, Func{Tensor,
    /// Tensor})"/> with the form chosen by the caller (null: by shape); tests compare the two forms.</summary>
    internal static Tensor Compose(
        Tensor g,
        IReadOnlyList<(double A, double B, double C)> steps,
        Func<Tensor, Tensor> prepare,
        bool? onGram
    )
    {
        RequireMatrices(g);
        bool transpose = g.Shape[-1] > g.Shape[-2];
        if (steps.Count > 0 && (onGram ?? RunsOnGram(g.Shape[-2], g.Shape[-1])))
        {
            // No transpose: a wide M's Gram matrix is M·Mᵀ, and its result Q·M.
            using var same = g.View(g.Shape.Dims.ToArray());
            using var scaled = prepare(same);
            return ComposeOnGram([(scaled, transpose)], steps)[0];
        }
        using var tall = transpose ? g.Transpose() : g.View(g.Shape.Dims.ToArray());
        var m = prepare(tall);
        for (int i = 0; i < steps.Count; i++)
        {
            var (a, b, c) = steps[i];
            // The last step's result is returned: contiguous, unless a transpose copies it anyway.
            m = Step(m, a, b, c, padded: transpose || i < steps.Count - 1);
        }
        if (!transpose)
            return m;
        using (m)
        using (var back = m.Transpose())
            return Ops.Contiguous(back);
    }

    /// <summary>
    /// <see cref="Compose(Tensor, IReadOnlyList{ValueTuple{double, double, double}}, Func{Tensor, Tensor})"/> on
    /// each of <paramref name="gs"/>, with the same results. When all of them run on their Gram matrices, of one
    /// size, dtype and device (an MLP's tall and wide weights), those are stepped as one batch: each step's n×n
    /// products are then one call over all the matrices instead of one per tensor.
    /// </summary>
    internal static Tensor[] ComposeEach(
        IReadOnlyList<Tensor> gs,
        IReadOnlyList<(double A, double B, double C)> steps,
        Func<Tensor, Tensor> prepare
    )
    {
        foreach (var g in gs)
            RequireMatrices(g);
        bool together = RunTogether(gs, steps.Count);
        var results = new List<Tensor>();
        var scaled = new List<Tensor>();
        try
        {
            if (!together)
            {
                foreach (var g in gs)
                    results.Add(Compose(g, steps, prepare));
                return [.. results];
            }
            foreach (var g in gs)
                using (var same = g.View(g.Shape.Dims.ToArray()))
                    scaled.Add(prepare(same));
            return ComposeOnGram([.. scaled.Select(m => (m, m.Shape[-1] > m.Shape[-2]))], steps);
        }
        catch
        {
            foreach (var r in results)
                r.Dispose();
            throw;
        }
        finally
        {
            foreach (var m in scaled)
                m.Dispose();
        }
    }

    private static void RequireMatrices(Tensor g)
    {
        if (g.Rank < 2)
            throw new ArgumentException($"OddPolynomial: needs a matrix or a batch of matrices, got {g.Shape}.");
    }

    /// <summary>True when <see cref="ComposeEach"/> steps the Gram matrices of <paramref name="gs"/> as one batch:
    /// two or more tensors, all on the Gram form, of one short side, dtype and device.</summary>
    internal static bool RunTogether(IReadOnlyList<Tensor> gs, int steps)
    {
        static int ShortSide(Tensor g) => Math.Min(g.Shape[-2], g.Shape[-1]);
        return gs.Count > 1
            && steps > 0
            && gs.All(g =>
                RunsOnGram(g.Shape[-2], g.Shape[-1])
                && ShortSide(g) == ShortSide(gs[0])
                && g.DType == gs[0].DType
                && g.Device == gs[0].Device
            );
    }

    /// <summary>True when <see cref="Compose(Tensor, IReadOnlyList{ValueTuple{double, double, double}}, Func{Tensor,
    /// Tensor})"/> runs a <paramref name="rows"/> × <paramref name="columns"/> matrix on its Gram matrix.</summary>
    internal static bool RunsOnGram(int rows, int columns) =>
        Math.Max(rows, columns) >= GramAspect * Math.Min(rows, columns);

    /// <summary>How many times longer than its short side a matrix must be for <see cref="ComposeOnGram"/> to
    /// run.</summary>
    /// <remarks>
    /// Per step the direct form costs about 3m·n² + n³ flops (symmetric products counted at half, as the CPU
    /// computes only their lower triangles). The Gram form costs about 3n³ per step on average, plus 3m·n² every
    /// <see cref="GramRestart"/> steps to multiply back and restart: 3n³ + m·n² per step. At m = 2n that is 7n³
    /// against 5n³. Squarer matrices gain little, and they are the ones whose small singular values lose most in
    /// the Gram matrix.
    /// </remarks>
    internal const int GramAspect = 2;

    /// <summary>
    /// Steps on the Gram form multiply back into M after this many steps and start again from its new Gram
    /// matrix. Without restarts, rounding in the n×n products builds up: on a 512×128 float32 matrix with singular
    /// values spread over six decades, six six-step iterations on the Gram matrix alone land 1.6·10⁻³ (relative,
    /// Frobenius) from the float64 result, against 1.3·10⁻⁵ for the direct form; one restart after three steps
    /// brings it to 1.7·10⁻⁵.
    /// </summary>
    internal const int GramRestart = 3;

    /// <summary>
    /// The steps run on the n×n Gram matrix of a tall M (m × n): each step's polynomial h = a·I + b·R + c·R² of
    /// R = MᵀM is a polynomial in M₀ᵀM₀, so M_k = M₀·Q with Q = h₁·h₂·…, and the next Gram matrix is
    /// h·R·h = R·h². Every product there is of two polynomials in one symmetric matrix: they commute, their product
    /// is symmetric, and the CPU computes only its lower triangle. Nothing but the first Gram product and the final
    /// M₀·Q (and one pair per restart) touches the tall M. A wide M (n × m) is the transpose of that: R = M·Mᵀ and
    /// M_k = Q·M₀. Several <paramref name="parts"/> (tensors [..., m, n] or, wide, [..., n, m], one n) have their
    /// Gram matrices stacked into one batch, so the n×n products are one call for all; the result has one tensor
    /// per part, shaped like it. The parts stay the caller's.
    /// </summary>
    private static Tensor[] ComposeOnGram(
        IReadOnlyList<(Tensor M, bool Wide)> parts,
        IReadOnlyList<(double A, double B, double C)> steps
    )
    {
        var first = parts[0];
        int shortSide = first.Wide ? first.M.Shape[-2] : first.M.Shape[-1];
        var m0 = parts.Select(p => p.M).ToArray();
        var wide = parts.Select(p => p.Wide).ToArray();
        var m = (Tensor[])m0.Clone();
        Tensor? gram = null,
            q = null;
        try
        {
            for (int i = 0; i < steps.Count; i++)
            {
                if (gram is null)
                {
                    if (q is not null)
                        (m, q) = (MultiplyBack(m, m0, q, wide), null);
                    gram = Grams(m, wide, shortSide);
                }
                var (a, b, c) = steps[i];
                var h = Ops.SymmetricPolynomial(gram, a, b, c);
                try
                {
                    bool restartNext = i == steps.Count - 1 || (i + 1) % GramRestart == 0;
                    using (var current = gram)
                    {
                        gram = null;
                        if (!restartNext)
                            using (var rh = Product(current, h, symmetricResult: true))
                                gram = Product(rh, h, symmetricResult: true);
                    }
                    using (var before = q)
                    {
                        q = null;
                        q = before is null ? h : Product(before, h, symmetricResult: true);
                    }
                }
                finally
                {
                    if (!ReferenceEquals(q, h))
                        h.Dispose(); // folded into Q, or the step failed
                }
            }
            var result = MultiplyBack(m, m0, q!, wide);
            q = null;
            m = m0;
            return result;
        }
        finally
        {
            for (int k = 0; k < m.Length; k++)
                if (m[k] != m0[k])
                    m[k].Dispose();
            gram?.Dispose();
            q?.Dispose();
        }
    }

    // How many matrices a tensor [..., rows, columns] holds.
    private static int BatchOf(Tensor t)
    {
        int count = 1;
        foreach (int d in t.Shape.Dims[..^2])
            count *= d;
        return count;
    }

    // The Gram matrices of the parts, MᵀM (M·Mᵀ for a wide part), one after the other in one [Σ, n, n] batch.
    private static Tensor Grams(Tensor[] m, bool[] wide, int n)
    {
        var gram = Tensor.EmptyMatrices(new Shape(m.Sum(BatchOf), n, n), m[0].DType, m[0].Device);
        try
        {
            int offset = 0;
            for (int k = 0; k < m.Length; k++)
            {
                using var own = OwnSlice(gram, m[k], offset, n);
                Ops.MatMulInto(m[k], m[k], own, accumulate: false, transposeA: !wide[k], transposeB: wide[k]);
                offset += BatchOf(m[k]);
            }
            return gram;
        }
        catch
        {
            gram.Dispose();
            throw;
        }
    }

    // The n×n matrices of a stacked batch that belong to part m (from offset), shaped like m's batch.
    private static Tensor OwnSlice(Tensor stacked, Tensor m, int offset, int n)
    {
        using var slice = stacked.Slice(0, offset, BatchOf(m));
        return slice.View([.. m.Shape.Dims[..^2], n, n]);
    }

    // Each part's M·Q (Q·M for a wide part), with its own Q of the stacked batch. Disposes Q; on success also the
    // current matrices that are not the caller's (on failure the caller's cleanup does).
    private static Tensor[] MultiplyBack(Tensor[] m, Tensor[] caller, Tensor q, bool[] wide)
    {
        using (q)
        {
            var result = new Tensor[m.Length];
            int filled = 0;
            try
            {
                int n = q.Shape[-1],
                    offset = 0;
                for (; filled < m.Length; filled++)
                {
                    using var own = OwnSlice(q, m[filled], offset, n);
                    result[filled] = wide[filled] ? Ops.MatMul(own, m[filled]) : Ops.MatMul(m[filled], own);
                    offset += BatchOf(m[filled]);
                }
            }
            catch
            {
                for (int k = 0; k < filled; k++)
                    result[k].Dispose();
                throw;
            }
            for (int k = 0; k < m.Length; k++)
                if (m[k] != caller[k])
                    m[k].Dispose();
            return result;
        }
    }

    // M ← M·(a·I + b·A + c·A²) with A = MᵀM applies f(σ) = aσ + bσ³ + cσ⁵ to every singular value.
    // The polynomial is formed on the small n×n side (one op, Ops.SymmetricPolynomial), so nothing but the one
    // product touches the tall M: three products per step (two for a cubic one) instead of five elementwise passes
    // over M and A. The new M has padded rows unless told otherwise (see Product).
    private static Tensor Step(Tensor m, double a, double b, double c, bool padded)
    {
        using (m)
        {
            using var gram = Product(m, m, transposeA: true);
            using var poly = Ops.SymmetricPolynomial(gram, a, b, c);
            return Product(m, poly, padded: padded);
        }
    }

    // op(a)·b into a new tensor, with the padded rows of Tensor.EmptyMatrices unless told otherwise: the intermediate
    // matrices of the steps are the right operands of the products after them, which the CPU then reads where they
    // lie instead of copying each into panels (6–8 % off Newton–Schulz on 128 × 128 matrices at AVX2). A
    // polynomial of a padded matrix is padded too (Ops.SymmetricPolynomial).
    private static Tensor Product(
        Tensor a,
        Tensor b,
        bool transposeA = false,
        bool symmetricResult = false,
        bool padded = true
    )
    {
        var shape = Ops.MatMulShape(a.Shape, b.Shape, transposeA);
        var c = padded ? Tensor.EmptyMatrices(shape, a.DType, a.Device) : Tensor.Empty(shape, a.DType, a.Device);
        try
        {
            Ops.MatMulInto(a, b, c, accumulate: false, transposeA, symmetricResult: symmetricResult);
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }
}
