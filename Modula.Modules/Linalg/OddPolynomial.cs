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
    /// Runs <paramref name="steps"/> on every matrix of <paramref name="g"/> [..., m, n] scaled by <paramref
    /// name="scaleOf"/>(g), which returns one factor per matrix ([..., 1, 1], say 1/‖M‖_F, a new tensor that the call
    /// disposes; null for none) and must act alike on a matrix and its transpose: it receives either. The input is
    /// rescaled into a copy first (see <see cref="ScaledInput"/> for when it need not be). Returns a new contiguous
    /// tensor shaped like g.
    /// Matrices whose long side is at least <see cref="GramAspect"/> times their short one run the steps on their small
    /// Gram matrix (<see cref="ComposeOnGram"/>), in g's own orientation; the others step the matrix itself, taken
    /// tall so that MᵀM is the small Gram matrix.
    /// </summary>
    public static Tensor Compose(
        Tensor g,
        IReadOnlyList<(double A, double B, double C)> steps,
        Func<Tensor, Tensor?> scaleOf
    ) => Compose(g, steps, scaleOf, onGram: null);

    /// <summary><see cref="Compose(Tensor, IReadOnlyList{ValueTuple{double, double, double}}, Func{Tensor,
    /// Tensor})"/> with the form chosen by the caller (null: by shape; tests compare the two forms), the result's
    /// matrices times <paramref name="times"/> (one factor per matrix, or null), and <paramref name="reciprocalNorm"/>
    /// stating that every factor of <paramref name="scaleOf"/> is c/‖M‖_F with 0 &lt; c ≤ 1, which lets it ride in the
    /// first step's products (<see cref="ScaledInput"/>).</summary>
    internal static Tensor Compose(
        Tensor g,
        IReadOnlyList<(double A, double B, double C)> steps,
        Func<Tensor, Tensor?> scaleOf,
        bool? onGram,
        Tensor? times = null,
        bool reciprocalNorm = false
    )
    {
        RequireMatrices(g);
        var result = Tensor.Empty(g.Shape, g.DType, g.Device);
        try
        {
            ComposeInto(g, steps, new InputScaling(scaleOf, reciprocalNorm), onGram, times, result);
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    // Compose, written into `into` (g's shape, contiguous or a view the products can write).
    private static void ComposeInto(
        Tensor g,
        IReadOnlyList<(double A, double B, double C)> steps,
        InputScaling scaleOf,
        bool? onGram,
        Tensor? times,
        Tensor into
    )
    {
        bool transpose = g.Shape[-1] > g.Shape[-2];
        if (steps.Count > 0 && (onGram ?? RunsOnGram(g.Shape[-2], g.Shape[-1])))
        {
            // No transpose: a wide M's Gram matrix is M·Mᵀ, and its result Q·M.
            using var same = g.View(g.Shape.Dims.ToArray());
            using var input = ScaledInput.Of(same, scaleOf);
            ComposeOnGram([(input, transpose, times, into)], steps);
            return;
        }
        using var tall = transpose ? g.Transpose() : g.View(g.Shape.Dims.ToArray());
        using var start = ScaledInput.Of(tall, scaleOf);
        if (steps.Count == 0)
        {
            using var prepared = start.Scaled();
            using var timed = times is null ? null : Ops.Mul(prepared, times);
            using var back = transpose ? (timed ?? prepared).Transpose() : null;
            Ops.CopyInto(back ?? timed ?? prepared, into);
            return;
        }
        // The steps' matrices are ours, but the first (the caller's M or its rescaled copy); the last step writes
        // into `into` unless the result is transposed back.
        Tensor? current = null;
        try
        {
            for (int i = 0; i < steps.Count; i++)
            {
                var (a, b, c) = steps[i];
                bool last = i == steps.Count - 1;
                var next = Step(
                    current ?? start.Matrix,
                    a,
                    b,
                    c,
                    i == 0 ? start.Factor : null,
                    last ? times : null,
                    last && !transpose ? into : null
                );
                current?.Dispose();
                current = next;
            }
            if (current is not null)
                using (var back = current.Transpose())
                    Ops.CopyInto(back, into);
        }
        finally
        {
            current?.Dispose();
        }
    }

    /// <summary>
    /// <see cref="Compose(Tensor, IReadOnlyList{ValueTuple{double, double, double}}, Func{Tensor, Tensor})"/> on
    /// each of <paramref name="gs"/>, with the same results, each times its <paramref name="times"/> (one factor per
    /// matrix, or null) and written into its tensor of <paramref name="into"/> (shaped like it). When all of them run
    /// on their Gram matrices, of one size, dtype and device (an MLP's tall and wide weights), those are stepped as one
    /// batch: each step's n×n products are then one call over all the matrices instead of one per tensor.
    /// <paramref name="reciprocalNorm"/> is <see cref="Compose(Tensor, IReadOnlyList{ValueTuple{double, double,
    /// double}}, Func{Tensor, Tensor}, bool?, Tensor, bool)"/>'s.
    /// </summary>
    internal static void ComposeEach(
        IReadOnlyList<Tensor> gs,
        IReadOnlyList<(double A, double B, double C)> steps,
        Func<Tensor, Tensor?> factorOf,
        IReadOnlyList<Tensor?> times,
        IReadOnlyList<Tensor> into,
        bool reciprocalNorm = false
    )
    {
        var scaleOf = new InputScaling(factorOf, reciprocalNorm);
        foreach (var g in gs)
            RequireMatrices(g);
        if (!RunTogether(gs, steps.Count))
        {
            for (int k = 0; k < gs.Count; k++)
                ComposeInto(gs[k], steps, scaleOf, onGram: null, times[k], into[k]);
            return;
        }
        var inputs = new List<ScaledInput>();
        try
        {
            foreach (var g in gs)
                using (var same = g.View(g.Shape.Dims.ToArray()))
                    inputs.Add(ScaledInput.Of(same, scaleOf));
            ComposeOnGram(
                [.. inputs.Select((m, k) => (m, m.Matrix.Shape[-1] > m.Matrix.Shape[-2], times[k], into[k]))],
                steps
            );
        }
        finally
        {
            foreach (var m in inputs)
                m.Dispose();
        }
    }

    /// <summary>The caller's per-matrix factors of an iteration's input, and whether each is c/‖M‖_F with
    /// 0 &lt; c ≤ 1.</summary>
    private readonly record struct InputScaling(Func<Tensor, Tensor?> FactorOf, bool ReciprocalNorm);

    /// <summary>
    /// The input s·M of an iteration, where s is one factor per matrix. Where the backend scales inside its products
    /// (the CPU), s is c/‖M‖_F with 0 &lt; c ≤ 1 (<see cref="InputScaling.ReciprocalNorm"/>) and every s lies within
    /// 2^±40 in float32 (2^±400 in float64), M stays as it lies and s goes into the first step's products: on the
    /// direct form the Gram product takes s² and the polynomial s, on the Gram form the Gram product s² and the first
    /// multiply-back s. The range bounds ‖M‖_F, so the unscaled Gram product MᵀM stays finite and clear of
    /// subnormals; a zero, infinite or NaN factor, or one not stated to bound the norm from both sides (Muon's
    /// 1/(‖M‖ + 10⁻⁷) bounds it only from above, the spectral caps' guard not at all), takes a rescaled copy
    /// instead, as does every input on a backend that scales in a pass.
    /// </summary>
    private sealed class ScaledInput : IDisposable
    {
        private ScaledInput(Tensor matrix, Tensor? factor)
        {
            Matrix = matrix;
            Factor = factor;
        }

        /// <summary>M itself (a view of the caller's) with <see cref="Factor"/>, or without it either s·M (a copy) or,
        /// where there is no factor, M itself.</summary>
        public Tensor Matrix { get; }

        /// <summary>s for the first step's products, or null when <see cref="Matrix"/> is already the input.</summary>
        public Tensor? Factor { get; }

        public static ScaledInput Of(Tensor m, InputScaling scaling)
        {
            var factor = scaling.FactorOf(m);
            if (factor is null)
                return new ScaledInput(m.View(m.Shape.Dims.ToArray()), null);
            try
            {
                if (scaling.ReciprocalNorm && Folds(factor))
                    return new ScaledInput(m.View(m.Shape.Dims.ToArray()), factor);
                using (factor)
                    return new ScaledInput(Ops.Mul(m, factor), null);
            }
            catch
            {
                factor.Dispose();
                throw;
            }
        }

        /// <summary>s·M as a new tensor (or a view of M without a factor).</summary>
        public Tensor Scaled() => Factor is null ? Matrix.View(Matrix.Shape.Dims.ToArray()) : Ops.Mul(Matrix, Factor);

        private static bool Folds(Tensor factor)
        {
            if (!factor.Device.ScalesInsideProducts)
                return false;
            double bound = factor.DType == DType.Float64 ? Math.Pow(2, 400) : Math.Pow(2, 40);
            var values =
                factor.DType == DType.Float64
                    ? factor.ToArray<double>()
                    : factor.ToArray<float>().Select(v => (double)v).ToArray();
            return values.All(s => s >= 1 / bound && s <= bound);
        }

        public void Dispose()
        {
            Matrix.Dispose();
            Factor?.Dispose();
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
    /// M_k = Q·M₀. Several <paramref name="parts"/> (inputs [..., m, n] or, wide, [..., n, m], one n) have their
    /// Gram matrices stacked into one batch, so the n×n products are one call for all. A part's input factor s (see
    /// <see cref="ScaledInput"/>) goes into its first Gram product (s²) and first multiply-back (s); its result, times
    /// its <c>Times</c>, is written by the last multiply-back into its <c>Into</c>. The parts stay the caller's.
    /// </summary>
    private static void ComposeOnGram(
        IReadOnlyList<(ScaledInput Input, bool Wide, Tensor? Times, Tensor Into)> parts,
        IReadOnlyList<(double A, double B, double C)> steps
    )
    {
        var first = parts[0];
        int shortSide = first.Wide ? first.Input.Matrix.Shape[-2] : first.Input.Matrix.Shape[-1];
        var m0 = parts.Select(p => p.Input.Matrix).ToArray();
        var wide = parts.Select(p => p.Wide).ToArray();
        var m = (Tensor[])m0.Clone();
        // The inputs' factors s, while m is still the unscaled M₀: its Gram product takes s², its multiply-back s.
        var factors = parts.Select(p => p.Input.Factor).ToArray();
        Tensor? gram = null,
            q = null;
        try
        {
            for (int i = 0; i < steps.Count; i++)
            {
                if (gram is null)
                {
                    if (q is not null)
                    {
                        (m, q) = (MultiplyBack(m, m0, q, wide, factors), null);
                        factors = new Tensor?[m.Length];
                    }
                    gram = Grams(m, wide, shortSide, factors);
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
            var product = q!;
            q = null;
            using (product)
            {
                int n = product.Shape[-1],
                    offset = 0;
                for (int k = 0; k < m.Length; k++)
                {
                    using var own = OwnSlice(product, m[k], offset, n);
                    using var scales = Times(factors[k], parts[k].Times);
                    MultiplyBackInto(m[k], own, wide[k], scales, parts[k].Into);
                    offset += BatchOf(m[k]);
                }
            }
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

    // The product of two optional per-matrix factors as a new tensor, or null when both are.
    private static Tensor? Times(Tensor? first, Tensor? second) =>
        first is null ? second?.View(second.Shape.Dims.ToArray())
        : second is null ? first.View(first.Shape.Dims.ToArray())
        : Ops.Mul(first, second);

    // How many matrices a tensor [..., rows, columns] holds.
    private static int BatchOf(Tensor t)
    {
        int count = 1;
        foreach (int d in t.Shape.Dims[..^2])
            count *= d;
        return count;
    }

    // The Gram matrices of the parts, MᵀM (M·Mᵀ for a wide part), one after the other in one [Σ, n, n] batch; a part
    // with a factor s takes s² inside its product.
    private static Tensor Grams(Tensor[] m, bool[] wide, int n, Tensor?[] factors)
    {
        var gram = Tensor.EmptyMatrices(new Shape(m.Sum(BatchOf), n, n), m[0].DType, m[0].Device);
        try
        {
            int offset = 0;
            for (int k = 0; k < m.Length; k++)
            {
                using var own = OwnSlice(gram, m[k], offset, n);
                using var squares = factors[k] is { } s ? Ops.Mul(s, s) : null;
                Ops.MatMulInto(
                    m[k],
                    m[k],
                    own,
                    accumulate: false,
                    transposeA: !wide[k],
                    transposeB: wide[k],
                    scales: squares
                );
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

    // Each part's M·Q (Q·M for a wide part), with its own Q of the stacked batch, times its factor if it has one.
    // Disposes Q; on success also the current matrices that are not the caller's (on failure the caller's cleanup
    // does).
    private static Tensor[] MultiplyBack(Tensor[] m, Tensor[] caller, Tensor q, bool[] wide, Tensor?[] factors)
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
                    var into = Tensor.Empty(m[filled].Shape, m[filled].DType, m[filled].Device);
                    try
                    {
                        MultiplyBackInto(m[filled], own, wide[filled], factors[filled], into);
                    }
                    catch
                    {
                        into.Dispose();
                        throw;
                    }
                    result[filled] = into;
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

    // scales·M·Q (scales·Q·M for a wide M) into `into`, shaped like M.
    private static void MultiplyBackInto(Tensor m, Tensor q, bool wide, Tensor? scales, Tensor into)
    {
        if (wide)
            Ops.MatMulInto(q, m, into, accumulate: false, scales: scales);
        else
            Ops.MatMulInto(m, q, into, accumulate: false, scales: scales);
    }

    // M ← M·(a·I + b·A + c·A²) with A = MᵀM applies f(σ) = aσ + bσ³ + cσ⁵ to every singular value.
    // The polynomial is formed on the small n×n side (one op, Ops.SymmetricPolynomial), so nothing but the one
    // product touches the tall M: three products per step (two for a cubic one) instead of five elementwise passes
    // over M and A. With a factor s (one per matrix) the step runs on s·M: A takes s² and the polynomial s, inside
    // their products. The new M, times `times` when given, goes into `into` when given, else into a new tensor with
    // padded rows (see Product). M stays the caller's.
    private static Tensor? Step(Tensor m, double a, double b, double c, Tensor? factor, Tensor? times, Tensor? into)
    {
        using var squares = factor is null ? null : Ops.Mul(factor, factor);
        using var gram = Product(m, m, transposeA: true, scales: squares);
        using var poly = Ops.SymmetricPolynomial(gram, a, b, c, factor);
        if (into is null)
            return Product(m, poly, scales: times);
        Ops.MatMulInto(m, poly, into, accumulate: false, scales: times);
        return null;
    }

    // op(a)·b (times per-matrix scales, if any) into a new tensor with the padded rows of Tensor.EmptyMatrices: the
    // intermediate matrices of the steps are the right operands of the products after them, which the CPU then reads
    // where they lie instead of copying each into panels (6–8 % off Newton–Schulz on 128 × 128 matrices at AVX2). A
    // polynomial of a padded matrix is padded too (Ops.SymmetricPolynomial).
    private static Tensor Product(
        Tensor a,
        Tensor b,
        bool transposeA = false,
        bool symmetricResult = false,
        Tensor? scales = null
    )
    {
        var shape = Ops.MatMulShape(a.Shape, b.Shape, transposeA);
        var c = Tensor.EmptyMatrices(shape, a.DType, a.Device);
        try
        {
            Ops.MatMulInto(a, b, c, accumulate: false, transposeA, symmetricResult: symmetricResult, scales: scales);
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }
}
