using System.Text;
using Modula.Tensors;
using Modula.Tensors.Backends.Cpu;
using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tests.Tensors;

/// <summary>
/// Random matrix products over random views, against a float64 product computed on the host from the views' logical
/// values. Each case draws m, n, k from the tiles' edges (0, 1..13, 15..17, …, 127..129), small randoms and, rarely,
/// sizes past the packed GEMM's blocks (depth past 1024 or 256, rows past 144, columns past 1024, rows 1024 floats
/// apart); 0–2 batch axes, each operand covering them fully, as size-1 axes, not at all, or through an explicit
/// <see cref="Tensor.Expand"/> (stride 0); float32 or float64; each operand contiguous, a transposed view, a block
/// sliced out of a wider and taller base (offset, row stride past the row), a transposed slice, a column-strided view
/// or a head-split (batch axes inside the rows) view, optionally sliced out of a longer batch, and transposed by the
/// flag or not. The result is a new tensor or is written, overwritten (over NaN) or accumulated, into an output of
/// the same kinds. Some cases are symmetric products with or without <c>symmetricResult</c>: XᵀX and X·Xᵀ of one
/// tensor (by the flag or by a transposed view), and two polynomials of one symmetric matrix (which commute).
/// Every element outside an operand's view holds NaN, so a read outside a view poisons the result, and every element
/// of an output's base outside the view holds a sentinel that must survive, which catches writes outside the view;
/// the operands' bases must come out unchanged. CPU on 1–3 threads and both forms of a symmetric diagonal tile, and
/// the ILGPU simulator at small sizes. CI runs 800 cases (about 4 s); MODULA_FUZZ_CASES and MODULA_FUZZ_SEED run
/// others, and MODULA_FUZZ_CASE runs one case alone. A failure is shrunk to a smaller case that still fails.
/// </summary>
[TestClass]
public sealed class MatMulViewFuzzTests
{
    private enum Layout
    {
        Contiguous,
        Transposed,
        Sliced,
        SlicedTransposed,
        Strided,
        HeadSplit,
    }

    private enum Symmetry
    {
        None,
        GramOfColumns,
        GramOfRows,
        Commuting,
    }

    /// <summary>How an operand covers the batch axes: the axes in <c>Ones</c> are 1 (broadcast), the first
    /// <c>Dropped</c> of them are left out, and <c>Expand</c> broadcasts it explicitly before the product.</summary>
    private sealed record Cover(int Ones, int Dropped, bool Expand, bool BatchSlice, Layout Layout);

    /// <summary>One case. <c>Out</c> null: MatMul returns a new tensor; else MatMulInto that layout, or with
    /// <c>IntoA</c> 1 or 2 into A's own view or its transpose (square products; A's values are then c₀).</summary>
    private sealed record Case(
        bool Simulator,
        DType DType,
        int Threads,
        bool HalfAndQuarter,
        int[] Batch,
        int M,
        int N,
        int K,
        bool TransposeA,
        bool TransposeB,
        Cover A,
        Cover B,
        Cover? Out,
        bool Accumulate,
        double Alpha,
        Symmetry Symmetry,
        bool ClaimSymmetric,
        bool WideRows,
        int IntoA,
        int DataSeed
    )
    {
        public override string ToString() =>
            $"{(Simulator ? "ilgpu-cpu" : "cpu")} {DType} threads={Threads} halfAndQuarter={HalfAndQuarter} "
            + $"batch={Shape.Format(Batch)} m={M} n={N} k={K} ta={TransposeA} tb={TransposeB} A={A} B={B} "
            + $"out={(Out is null ? "new" : Out.ToString())} accumulate={Accumulate} alpha={Alpha} "
            + $"symmetry={Symmetry} claim={ClaimSymmetric} wideRows={WideRows} intoA={IntoA} dataSeed={DataSeed}";
    }

    // 1..13, and each side of the tiles' edges: 15..17, 23..25, …, 127..129.
    private static readonly int[] EdgeSizes =
    [
        .. Enumerable.Range(1, 13),
        .. new[] { 16, 24, 32, 48, 64, 96, 128 }.SelectMany(e => new[] { e - 1, e, e + 1 }),
    ];

    private const double Sentinel = -1234.5; // exact in float32

    /// <summary>
    /// Random products over random views equal the float64 product of the views' values: float32 within
    /// 1e-5·(1 + |α|·Σₚ|aᵢₚ||bₚⱼ| + |c₀ᵢⱼ|) per element (about 80 float32 ulps of the sum of magnitudes: the
    /// rounding of a random-sign sum of k ≤ 1100 terms in any order and blocking grows about as √k ulps, while a wrong
    /// stride or offset errs by about the element's own size), float64 within 1e-12 of the same. Nothing outside the
    /// output view changes, and the operands do not.
    /// </summary>
    [TestMethod]
    public void RandomViewsMatchTheFloat64Product()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("MODULA_FUZZ_CASES"), out int n) ? n : 800;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("MODULA_FUZZ_SEED"), out int s) ? s : 20_250_611;
        int only = int.TryParse(Environment.GetEnvironmentVariable("MODULA_FUZZ_CASE"), out int o) ? o : -1;
        Console.WriteLine(
            $"matmul view fuzz: {cases} cases, seed {seed} (MODULA_FUZZ_SEED={seed} repeats them), "
                + $"{PackedGemm.Bits}-bit tiles"
        );
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var failures = new List<string>();
        int run = 0;
        for (int c = only >= 0 ? only : 0; c < (only >= 0 ? only + 1 : cases) && failures.Count < 3; c++)
        {
            var x = Draw(new Random(unchecked(seed * 1_000_003 + c)), c);
            run++;
            string? failure = Run(x);
            if (failure is null)
                continue;
            var (small, smallFailure) = Shrink(x, failure);
            string report =
                $"seed {seed} case {c} (MODULA_FUZZ_SEED={seed} MODULA_FUZZ_CASE={c}), {PackedGemm.Bits}-bit tiles:"
                + $"\n  case: {x}\n  {failure}\n  shrunk: {small}\n  {smallFailure}";
            Console.WriteLine(report);
            failures.Add(report);
        }
        Console.WriteLine($"{run} cases in {clock.Elapsed.TotalSeconds:F1} s, {failures.Count} failed");
        if (failures.Count > 0)
            Assert.Fail(string.Join("\n", failures));
    }

    // ---- drawing a case -------------------------------------------------------------------------------------------

    private static int Dim(Random r) =>
        r.Next(20) switch
        {
            0 => 0,
            < 12 => EdgeSizes[r.Next(EdgeSizes.Length)],
            _ => 1 + r.Next(40),
        };

    private static Layout AnyLayout(Random r) => (Layout)r.Next(Enum.GetValues<Layout>().Length);

    private static Case Draw(Random r, int index)
    {
        // Drawn whether or not the simulator is skipped, so that case c has the same shapes in every run (a skipped
        // simulator case runs on the CPU).
        bool drawn = r.Next(25) == 0,
            simulator = drawn && !TestDevices.SkipsSimulator;
        var dtype = drawn || r.Next(4) > 0 ? DType.Float32 : DType.Float64;
        int m = Dim(r),
            n = Dim(r),
            k = Dim(r);
        bool wideRows = false;
        if (r.Next(12) == 0) // past a block of the packed GEMM, the other sizes small
        {
            (m, n, k) = (Math.Min(m, 33), Math.Min(n, 33), Math.Min(k, 33));
            switch (r.Next(5))
            {
                case 0:
                    k = r.Next(2) == 0 ? 1020 + r.Next(90) : 250 + r.Next(12);
                    break;
                case 1: // past a block of rows; symmetric ones wide enough for the spread tile where it is chosen
                    m = r.Next(3) switch
                    {
                        0 => 140 + r.Next(12),
                        1 => 188 + r.Next(16),
                        _ => 286 + r.Next(6),
                    };
                    break;
                case 2:
                    n = 1020 + r.Next(40);
                    break;
                case 3: // rows 1024 floats apart, n past 16 tiles: the copy of A to rows further apart
                    (m, n, wideRows) = (12 + r.Next(30), 512 + r.Next(20), true);
                    break;
                default:
                    k = 1020 + r.Next(90);
                    m = 140 + r.Next(12);
                    break;
            }
        }
        var symmetry = r.Next(4) == 0 ? (Symmetry)(1 + r.Next(3)) : Symmetry.None;
        if (simulator)
            (m, n, k) = (Math.Min(m, 20), Math.Min(n, 20), Math.Min(k, 20));
        var batch = Enumerable.Range(0, r.Next(3)).Select(_ => r.Next(10) == 0 ? 0 : 1 + r.Next(3)).ToArray();
        Cover AnyCover(int rank) =>
            new(
                Ones: r.Next(3) == 0 ? r.Next(1 << rank) : 0,
                Dropped: r.Next(2) == 0 ? rank : r.Next(rank + 1),
                Expand: r.Next(3) == 0,
                BatchSlice: r.Next(4) == 0,
                Layout: AnyLayout(r)
            );
        var x = new Case(
            simulator,
            dtype,
            Threads: 1 + r.Next(3),
            HalfAndQuarter: r.Next(2) == 0,
            batch,
            m,
            n,
            k,
            TransposeA: r.Next(2) == 0,
            TransposeB: r.Next(2) == 0,
            A: AnyCover(batch.Length),
            B: AnyCover(batch.Length),
            Out: r.Next(3) == 0
                ? null
                : new Cover(0, 0, false, r.Next(4) == 0, r.Next(3) == 0 ? Layout.Contiguous : AnyLayout(r)),
            Accumulate: r.Next(2) == 0,
            Alpha: r.Next(6) switch
            {
                0 => -0.5,
                1 => 3,
                2 => Math.Round(r.NextDouble() * 4 - 2, 3),
                3 when r.Next(4) == 0 => 0,
                _ => 1,
            },
            symmetry,
            ClaimSymmetric: symmetry != Symmetry.None && r.Next(4) > 0,
            wideRows,
            IntoA: r.Next(12) == 0 ? 1 + r.Next(2) : 0,
            DataSeed: r.Next()
        );
        return Normalize(x);
    }

    /// <summary>Makes a drawn or shrunk case valid: square symmetric products, one operand for a Gram product,
    /// every batch axis covered by an operand, dropped axes only among leading broadcast ones, and the host
    /// reference small enough.</summary>
    private static Case Normalize(Case x)
    {
        int m = x.M,
            n = x.N,
            k = x.K;
        if (x.Symmetry != Symmetry.None)
            n = m;
        if (x.Symmetry == Symmetry.Commuting)
            k = m;
        int intoA = x.Out is null ? 0 : x.IntoA;
        bool claim = x.ClaimSymmetric;
        var batch = x.Batch.ToArray();
        int rank = batch.Length,
            all = (1 << rank) - 1;
        var a = x.A with { Ones = x.A.Ones & all };
        if (intoA != 0)
        {
            // A product written over A: square, A covering the whole batch, and c₀ (A) symmetric where claimed.
            (n, k) = (m, m);
            a = a with { Ones = 0, Dropped = 0, Expand = false };
            claim &= !x.Accumulate || x.Symmetry == Symmetry.Commuting;
        }
        var b = x.B with { Ones = x.B.Ones & all };
        if (x.Symmetry is Symmetry.GramOfColumns or Symmetry.GramOfRows)
        {
            // One tensor is both operands: it covers the batch itself, broadcast only by an explicit Expand.
            a = a with { Ones = a.Expand ? a.Ones : 0, Dropped = a.Expand ? a.Dropped : 0 };
            b = a;
        }
        for (int axis = 0; axis < rank; axis++)
            if ((a.Ones & b.Ones & (1 << axis)) != 0 && !a.Expand && batch[axis] != 1)
                b = b with { Ones = b.Ones & ~(1 << axis) };
        a = a with { Dropped = LeadingOnes(a.Ones, Math.Min(a.Dropped, rank)) };
        b = b with { Dropped = LeadingOnes(b.Ones, Math.Min(b.Dropped, rank)) };
        if (a.Dropped > 0 && b.Dropped > 0 && !a.Expand && !b.Expand)
            b = b with { Dropped = 0 }; // the output keeps every batch axis
        var output = x.Out is null ? null : x.Out with { Ones = 0, Dropped = 0, Expand = false };
        while (batch.Length > 0 && batch.Max() > 1 && batch.Aggregate(1L, (p, d) => p * d) * m * n * k > 3_000_000)
            batch[Array.IndexOf(batch, batch.Max())]--;
        return x with
        {
            M = m,
            N = n,
            K = k,
            Batch = batch,
            A = a,
            B = b,
            Out = output,
            Accumulate = x.Accumulate && output is not null,
            IntoA = intoA,
            ClaimSymmetric = claim,
            Threads = Math.Max(1, x.Threads),
        };
    }

    // How many of the first `dropped` axes are all broadcast (only those may be left out).
    private static int LeadingOnes(int ones, int dropped)
    {
        int count = 0;
        while (count < dropped && (ones & (1 << count)) != 0)
            count++;
        return count;
    }

    // ---- running a case -------------------------------------------------------------------------------------------

    /// <summary>An operand or output built as a view of a base tensor whose other elements hold a poison
    /// value.</summary>
    private sealed class Built
    {
        public required Tensor View;
        public required Tensor Base;
        public required double[] BaseValues; // the base's contents before the product
        public required int[] Positions; // base index of each logical element of View (before any Expand)
        public required int[] Dims; // View's dims before any Expand
        public required double[] Values; // logical values in Dims, row-major
    }

    private static string? Run(Case x)
    {
        var owned = new List<Tensor>();
        Tensor Own(Tensor t)
        {
            owned.Add(t);
            return t;
        }
        bool halfAndQuarter = PackedGemm.DiagonalHalfAndQuarter;
        PackedGemm.DiagonalHalfAndQuarter = x.HalfAndQuarter;
        var threadsScope = CpuDevice.UseThreads(x.Threads);
        string stage = "building the operands";
        var description = new StringBuilder();
        try
        {
            var device = TestDevices.Get(x.Simulator ? TestDevices.Simulator : TestDevices.Cpu);
            var r = new Random(x.DataSeed);
            bool f32 = x.DType == DType.Float32;
            double Value() => f32 ? (float)(r.NextDouble() * 2 - 1) : r.NextDouble() * 2 - 1;
            int rank = x.Batch.Length;
            int[] OperandBatch(Cover cover) =>
                Enumerable
                    .Range(cover.Dropped, rank - cover.Dropped)
                    .Select(axis => (cover.Ones & (1 << axis)) != 0 ? 1 : x.Batch[axis])
                    .ToArray();
            int Count(int[] dims) => dims.Aggregate(1, (p, d) => p * d);

            // Logical values of op(A) and op(B) per operand matrix, and the tensors passed to the product.
            Built a,
                b;
            Tensor argA,
                argB;
            bool flagA = x.TransposeA,
                flagB = x.TransposeB;
            int[] batchA = OperandBatch(x.A),
                batchB = OperandBatch(x.B);
            if (x.Symmetry is Symmetry.GramOfColumns or Symmetry.GramOfRows)
            {
                // C = XᵀX (X [.., k, m]) or X·Xᵀ (X [.., m, k]), both operands read from X.
                bool columns = x.Symmetry == Symmetry.GramOfColumns;
                var dims = (int[])[.. batchA, columns ? x.K : x.M, columns ? x.M : x.K];
                var values = Enumerable.Range(0, Count(dims)).Select(_ => Value()).ToArray();
                a = Build(x.A, dims, values, x, r, device, Own, double.NaN);
                b = a;
                var shared = Expanded(a, x.A, x, Own);
                // By the flag, or by a transposed view of X with the flag off.
                bool byFlag = columns ? x.TransposeA : x.TransposeB;
                var transposed = byFlag ? shared : Own(shared.Transpose());
                (argA, argB) = columns ? (transposed, shared) : (shared, transposed);
                (flagA, flagB) = columns ? (byFlag, false) : (false, byFlag);
            }
            else
            {
                Func<double[]>? polynomial = null;
                if (x.Symmetry == Symmetry.Commuting)
                {
                    // Polynomials α·S²/n + β·S + γ·I of one symmetric S, one per matrix: they commute.
                    int size = x.M;
                    var sym = new double[size * size];
                    for (int i = 0; i < size; i++)
                    for (int j = 0; j <= i; j++)
                        sym[i * size + j] = sym[j * size + i] = Value();
                    var square = new double[size * size];
                    for (int i = 0; i < size; i++)
                    for (int j = 0; j < size; j++)
                    for (int p = 0; p < size; p++)
                        square[i * size + j] += sym[i * size + p] * sym[p * size + j];
                    polynomial = () =>
                    {
                        double c2 = r.NextDouble() * 2 - 1,
                            c1 = r.NextDouble() * 2 - 1,
                            c0 = r.NextDouble() * 2 - 1;
                        return Enumerable
                            .Range(0, size * size)
                            .Select(e =>
                            {
                                double v = c2 * square[e] / size + c1 * sym[e] + (e / size == e % size ? c0 : 0);
                                return f32 ? (float)v : v;
                            })
                            .ToArray();
                    };
                }
                double[] Values(int[] dims) =>
                    polynomial is null
                        ? Enumerable.Range(0, Count(dims)).Select(_ => Value()).ToArray()
                        : Enumerable.Range(0, Count(dims[..^2])).SelectMany(_ => polynomial()).ToArray();
                var dimsA = (int[])[.. batchA, flagA ? x.K : x.M, flagA ? x.M : x.K];
                var dimsB = (int[])[.. batchB, flagB ? x.N : x.K, flagB ? x.K : x.N];
                a = Build(x.A, dimsA, Values(dimsA), x, r, device, Own, double.NaN);
                b = Build(x.B, dimsB, Values(dimsB), x, r, device, Own, double.NaN);
                argA = Expanded(a, x.A, x, Own);
                argB = Expanded(b, x.B, x, Own);
            }

            // The output, its values before (c₀, symmetric where the product is declared so) and the reference.
            var outDims = (int[])[.. x.Batch, x.M, x.N];
            int matrices = Count(x.Batch),
                mn = x.M * x.N;
            var before = new double[matrices * mn];
            for (int q = 0; q < matrices; q++)
            for (int i = 0; i < x.M; i++)
            for (int j = 0; j < x.N; j++)
                before[q * mn + i * x.N + j] =
                    x.IntoA != 0 ? a.Values[q * mn + (x.IntoA == 1 ? i * x.N + j : j * x.N + i)]
                    : !x.Accumulate ? double.NaN
                    : x.ClaimSymmetric && j < i ? before[q * mn + j * x.N + i]
                    : Value();
            Built? output =
                x.Out is null ? null
                : x.IntoA == 0 ? Build(x.Out, outDims, before, x, r, device, Own, Sentinel)
                : new Built
                {
                    View = x.IntoA == 1 ? a.View : Own(a.View.Transpose()),
                    Base = a.Base,
                    BaseValues = a.BaseValues,
                    Positions = Enumerable
                        .Range(0, before.Length)
                        .Select(e =>
                        {
                            int q = e / mn,
                                i = e % mn / x.N,
                                j = e % x.N;
                            return a.Positions[q * mn + (x.IntoA == 1 ? i * x.N + j : j * x.N + i)];
                        })
                        .ToArray(),
                    Dims = outDims,
                    Values = before,
                };

            var (expected, tolerance) = Expect(x, a, b, flagA, flagB, before);
            description.Append(
                $"A {argA.Shape} strides {Shape.Format(argA.Strides)} offset {argA.Offset} flag {flagA}; "
                    + $"B {argB.Shape} strides {Shape.Format(argB.Strides)} offset {argB.Offset} flag {flagB}"
            );
            if (output is not null)
                description.Append(
                    $"; C {output.View.Shape} strides {Shape.Format(output.View.Strides)} offset {output.View.Offset}"
                        + $" of base {output.Base.Shape}"
                );

            stage = "the product";
            Tensor? result = null;
            if (output is null)
                result = Own(Ops.MatMul(argA, argB, flagA, flagB, x.Alpha, x.ClaimSymmetric));
            else
                Ops.MatMulInto(argA, argB, output.View, x.Accumulate, flagA, flagB, x.Alpha, x.ClaimSymmetric);

            stage = "checking";
            // The first element off the reference, with the count of all that are.
            string? FirstWrong(double[] actual)
            {
                for (int e = 0; e < actual.Length; e++)
                    if (Wrong(expected[e], actual[e], tolerance[e]))
                        return Mismatch(
                            e,
                            actual,
                            expected,
                            tolerance,
                            x,
                            description,
                            Enumerable.Range(0, actual.Length).Count(i => Wrong(expected[i], actual[i], tolerance[i]))
                        );
                return null;
            }
            if (result is not null)
            {
                if (result.Shape != new Shape(outDims))
                    return $"[shape] {description}: result shape {result.Shape}, expected {Shape.Format(outDims)}";
                var actual = Reference.Read(result);
                if (FirstWrong(actual) is { } wrong)
                    return wrong;
            }
            else
            {
                var all = Reference.Read(output!.Base);
                var inside = new bool[all.Length];
                var actual = new double[expected.Length];
                for (int e = 0; e < expected.Length; e++)
                {
                    inside[output.Positions[e]] = true;
                    actual[e] = all[output.Positions[e]];
                }
                if (FirstWrong(actual) is { } wrong)
                    return wrong;
                for (int p = 0; p < all.Length; p++)
                    if (!inside[p] && !Same(all[p], output.BaseValues[p]))
                        return $"[outside] {description}: output base element {p} outside the view was overwritten: "
                            + $"{all[p]} (was {output.BaseValues[p]})";
            }
            foreach (var (operand, name) in new[] { (a, "A"), (b, "B") })
            {
                if (ReferenceEquals(operand.Base, output?.Base))
                    continue; // written over by the product
                var now = Reference.Read(operand.Base);
                for (int p = 0; p < now.Length; p++)
                    if (!Same(now[p], operand.BaseValues[p]))
                        return $"[operand] {description}: operand {name}'s base element {p} changed from "
                            + $"{operand.BaseValues[p]} to {now[p]}";
            }
            return null;
        }
        catch (Exception e) when (e is not UnitTestAssertException)
        {
            return $"[{e.GetType().Name}] {description}: during {stage}: {e.Message}\n{e.StackTrace}";
        }
        finally
        {
            foreach (var t in owned)
                t.Dispose();
            threadsScope.Dispose();
            PackedGemm.DiagonalHalfAndQuarter = halfAndQuarter;
        }
    }

    private static bool Same(double u, double v) => u.Equals(v); // NaN equals NaN

    private static bool Wrong(double expected, double actual, double tolerance) =>
        !(Math.Abs(actual - expected) <= tolerance); // NaN is wrong

    private static string Mismatch(
        int e,
        double[] actual,
        double[] expected,
        double[] tolerance,
        Case x,
        StringBuilder description,
        int wrong
    )
    {
        int mn = Math.Max(1, x.M * x.N);
        int q = e / mn,
            i = e % mn / Math.Max(1, x.N),
            j = e % Math.Max(1, x.N);
        var index = new int[x.Batch.Length];
        for (int axis = index.Length - 1, rest = q; axis >= 0; axis--)
        {
            index[axis] = rest % x.Batch[axis];
            rest /= x.Batch[axis];
        }
        return $"[mismatch] {description}: C[{string.Join(", ", [.. index, i, j])}] expected {expected[e]:R}, "
            + $"got {actual[e]:R} "
            + $"(tolerance {tolerance[e]:G3}); {wrong} of {expected.Length} elements wrong";
    }

    /// <summary>
    /// Builds a tensor of logical shape <paramref name="dims"/> holding <paramref name="values"/> as a view of the
    /// cover's layout in a base tensor whose other elements hold <paramref name="poison"/>; the base's extents and the
    /// view's place in it are drawn from <paramref name="r"/>.
    /// </summary>
    private static Built Build(
        Cover cover,
        int[] dims,
        double[] values,
        Case x,
        Random r,
        Device device,
        Func<Tensor, Tensor> own,
        double poison
    )
    {
        int rank = dims.Length - 2,
            rows = dims[^2],
            cols = dims[^1];
        var batch = dims[..^2];
        int Pad(int length) =>
            x.WideRows ? 1024 * (1 + r.Next(2)) - length
            : r.Next(3) == 0 ? (length / 16 + 1) * 16 - length
            : 1 + r.Next(9);
        int[] baseDims;
        Func<Tensor, Tensor> derive;
        var layout = cover.Layout == Layout.HeadSplit && rank == 0 ? Layout.Sliced : cover.Layout;
        int batchAxis = 0; // the base's axis that holds the first batch axis
        switch (layout)
        {
            case Layout.Transposed:
                baseDims = [.. batch, cols, rows];
                derive = t => own(t.Transpose());
                break;
            case Layout.Sliced:
            {
                int extraRows = r.Next(4),
                    extraCols = Pad(cols),
                    row0 = r.Next(extraRows + 1),
                    col0 = r.Next(extraCols + 1);
                baseDims = [.. batch, rows + extraRows, cols + extraCols];
                derive = t => own(own(t.Slice(-2, row0, rows)).Slice(-1, col0, cols));
                break;
            }
            case Layout.SlicedTransposed:
            {
                int extraRows = Pad(rows),
                    extraCols = r.Next(4),
                    row0 = r.Next(extraRows + 1),
                    col0 = r.Next(extraCols + 1);
                baseDims = [.. batch, cols + extraCols, rows + extraRows];
                derive = t => own(own(own(t.Slice(-2, col0, cols)).Slice(-1, row0, rows)).Transpose());
                break;
            }
            case Layout.Strided:
            {
                int step = 2 + r.Next(2),
                    phase = r.Next(step);
                baseDims = [.. batch, rows, cols * step];
                derive = t => own(own(own(t.View([.. batch, rows, cols, step])).Slice(-1, phase, 1)).Squeeze(-1));
                break;
            }
            case Layout.HeadSplit:
                // [B₀, rows, B₁, cols] or [rows, B₀, cols] permuted to [B₀, (B₁,) rows, cols].
                if (rank == 2)
                {
                    baseDims = [batch[0], rows, batch[1], cols];
                    derive = t => own(t.Permute(0, 2, 1, 3));
                }
                else
                {
                    baseDims = [rows, batch[0], cols];
                    derive = t => own(t.Permute(1, 0, 2));
                    batchAxis = 1;
                }
                break;
            default:
                baseDims = dims.ToArray();
                derive = t => t;
                break;
        }
        if (cover.BatchSlice && rank > 0)
        {
            int extra = 1 + r.Next(2),
                start = r.Next(extra + 1),
                length = baseDims[batchAxis];
            baseDims[batchAxis] += extra;
            var inner = derive;
            derive = t => inner(own(t.Slice(batchAxis, start, length)));
        }
        int size = baseDims.Aggregate(1, (p, d) => p * d);
        var baseValues = Enumerable.Repeat(poison, size).ToArray();
        var baseTensor = own(Reference.Make(baseValues, new Shape(baseDims), x.DType, device));
        var view = derive(baseTensor);
        if (view.Shape != new Shape(dims))
            throw new InvalidOperationException($"test bug: {layout} view {view.Shape} for {Shape.Format(dims)}");
        var positions = new int[values.Length];
        var strides = view.Strides.ToArray();
        for (int e = 0; e < values.Length; e++)
        {
            int position = view.Offset;
            for (int axis = dims.Length - 1, rest = e; axis >= 0; axis--)
            {
                position += rest % dims[axis] * strides[axis];
                rest /= dims[axis];
            }
            if (!baseValues[position].Equals(poison))
                throw new InvalidOperationException($"test bug: {layout} view writes base element {position} twice");
            baseValues[position] = values[e];
            positions[e] = position;
        }
        using (var filled = Reference.Make(baseValues, new Shape(baseDims), x.DType, device))
            Ops.CopyInto(filled, baseTensor);
        return new Built
        {
            View = view,
            Base = baseTensor,
            BaseValues = Reference.Read(baseTensor),
            Positions = positions,
            Dims = dims,
            Values = values,
        };
    }

    /// <summary>The operand as passed: broadcast to the whole batch by an explicit Expand where the case
    /// asks.</summary>
    private static Tensor Expanded(Built operand, Cover cover, Case x, Func<Tensor, Tensor> own) =>
        cover.Expand && x.Batch.Length > 0
            ? own(operand.View.Expand(new Shape([.. x.Batch, .. operand.Dims[^2..]])))
            : operand.View;

    /// <summary>The expected output in float64, row-major [batch.., m, n], and each element's tolerance.</summary>
    private static (double[] Expected, double[] Tolerance) Expect(
        Case x,
        Built a,
        Built b,
        bool flagA,
        bool flagB,
        double[] before
    )
    {
        bool gram = x.Symmetry is Symmetry.GramOfColumns or Symmetry.GramOfRows;
        // A Gram product's A is X read transposed (XᵀX) and its B X itself, or the other way round (X·Xᵀ).
        bool transA = gram ? x.Symmetry == Symmetry.GramOfColumns : flagA,
            transB = gram ? x.Symmetry == Symmetry.GramOfRows : flagB;
        int m = x.M,
            n = x.N,
            k = x.K,
            matrices = x.Batch.Aggregate(1, (p, d) => p * d);
        double relative = x.DType == DType.Float32 ? 1e-5 : 1e-12;
        var expected = new double[matrices * m * n];
        var tolerance = new double[expected.Length];
        var opA = new double[m * k];
        var opB = new double[k * n];
        for (int q = 0; q < matrices; q++)
        {
            int startA = MatrixStart(a.Dims, x.Batch, q),
                startB = MatrixStart(b.Dims, x.Batch, q);
            int colsA = a.Dims[^1],
                colsB = b.Dims[^1];
            for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
                opA[i * k + p] = a.Values[startA + (transA ? p * colsA + i : i * colsA + p)];
            for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++)
                opB[p * n + j] = b.Values[startB + (transB ? j * colsB + p : p * colsB + j)];
            for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0,
                    magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double term = opA[i * k + p] * opB[p * n + j];
                    sum += term;
                    magnitude += Math.Abs(term);
                }
                int e = (q * m + i) * n + j;
                double c0 = x.Accumulate ? before[e] : 0;
                expected[e] = c0 + x.Alpha * sum;
                tolerance[e] = relative * (1 + Math.Abs(x.Alpha) * magnitude + Math.Abs(c0));
            }
        }
        return (expected, tolerance);
    }

    /// <summary>Where matrix <paramref name="q"/> of the output batch starts in an operand's values, its batch axes
    /// aligned from the right and broadcast where they are 1.</summary>
    private static int MatrixStart(int[] operandDims, int[] batch, int q)
    {
        int operandRank = operandDims.Length - 2,
            matrix = operandDims[^2] * operandDims[^1],
            start = 0,
            scale = matrix;
        for (int axis = batch.Length - 1, rest = q; axis >= 0; axis--)
        {
            int index = rest % batch[axis];
            rest /= batch[axis];
            int own = axis - (batch.Length - operandRank);
            if (own < 0)
                continue;
            if (operandDims[own] != 1)
                start += index * scale;
            scale *= operandDims[own];
        }
        return start;
    }

    // ---- shrinking a failure --------------------------------------------------------------------------------------

    /// <summary>The smallest case found, by greedy steps toward smaller sizes and plainer views, that still fails (at
    /// most 40 s of tries).</summary>
    private static (Case Case, string Failure) Shrink(Case x, string failure)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool progress = true;
        while (progress && clock.Elapsed.TotalSeconds < 40)
        {
            progress = false;
            foreach (var candidate in Simpler(x).Select(Normalize).Where(c => Weight(c) < Weight(x)))
            {
                if (clock.Elapsed.TotalSeconds >= 40)
                    break;
                string? f = Run(candidate);
                if (f is null || Tag(f) != Tag(failure))
                    continue; // passes, or fails otherwise (a different defect, or a case the shrink made invalid)
                (x, failure, progress) = (candidate, f, true);
                break;
            }
        }
        return (x, failure);
    }

    private static string Tag(string failure) => failure[..(failure.IndexOf(']') + 1)];

    private static long Weight(Case x) =>
        x.Batch.Aggregate(1L, (p, d) => p * (d + 1)) * (x.M + 1) * (x.N + 1) * (x.K + 1) * 64
        + Complexity(x.A)
        + Complexity(x.B)
        + (x.Out is null ? 0 : 1 + Complexity(x.Out))
        + (x.Accumulate ? 1 : 0)
        + (x.Alpha == 1 ? 0 : 1)
        + x.Threads
        + (x.ClaimSymmetric ? 1 : 0)
        + (x.Simulator ? 1 : 0)
        + (x.IntoA != 0 ? 1 : 0)
        + (x.TransposeA ? 1 : 0)
        + (x.TransposeB ? 1 : 0);

    private static int Complexity(Cover c) =>
        (c.Layout == Layout.Contiguous ? 0 : 2)
        + (c.BatchSlice ? 1 : 0)
        + (c.Expand ? 1 : 0)
        + (c.Ones != 0 ? 1 : 0)
        + c.Dropped;

    private static IEnumerable<Case> Simpler(Case x)
    {
        foreach (int d in Fewer(x.M))
            yield return x with
            {
                M = d,
            };
        foreach (int d in Fewer(x.N))
            yield return x with
            {
                N = d,
            };
        foreach (int d in Fewer(x.K))
            yield return x with
            {
                K = d,
            };
        for (int axis = 0; axis < x.Batch.Length; axis++)
        {
            yield return x with
            {
                Batch = [.. x.Batch[..axis], .. x.Batch[(axis + 1)..]],
                A = Drop(x.A, axis),
                B = Drop(x.B, axis),
            };
            foreach (int d in Fewer(x.Batch[axis]).Where(d => d > 0))
                yield return x with
                {
                    Batch = [.. x.Batch[..axis], d, .. x.Batch[(axis + 1)..]],
                };
        }
        foreach (var a in Plainer(x.A))
            yield return x with
            {
                A = a,
            };
        foreach (var b in Plainer(x.B))
            yield return x with
            {
                B = b,
            };
        if (x.Out is not null)
        {
            yield return x with
            {
                Out = null,
            };
            foreach (var o in Plainer(x.Out))
                yield return x with
                {
                    Out = o,
                };
        }
        yield return x with
        {
            Simulator = false,
        };
        yield return x with
        {
            IntoA = 0,
        };
        yield return x with
        {
            Accumulate = false,
        };
        yield return x with
        {
            Alpha = 1,
        };
        yield return x with
        {
            ClaimSymmetric = false,
        };
        yield return x with
        {
            Threads = 1,
        };
        yield return x with
        {
            Threads = x.Threads - 1,
        };
        yield return x with
        {
            TransposeA = false,
        };
        yield return x with
        {
            TransposeB = false,
        };
    }

    // Removing batch axis `axis` from a cover's bit mask.
    private static Cover Drop(Cover c, int axis) =>
        c with
        {
            Ones = (c.Ones & ((1 << axis) - 1)) | ((c.Ones >> (axis + 1)) << axis),
            Dropped = Math.Max(0, c.Dropped - (axis < c.Dropped ? 1 : 0)),
        };

    private static IEnumerable<Cover> Plainer(Cover c)
    {
        if (c.Layout != Layout.Contiguous)
            yield return c with
            {
                Layout = Layout.Contiguous,
            };
        if (c.Layout is Layout.SlicedTransposed)
            yield return c with
            {
                Layout = Layout.Transposed,
            };
        if (c.Layout is Layout.SlicedTransposed or Layout.Strided or Layout.HeadSplit)
            yield return c with
            {
                Layout = Layout.Sliced,
            };
        if (c.BatchSlice)
            yield return c with
            {
                BatchSlice = false,
            };
        if (c.Expand)
            yield return c with
            {
                Expand = false,
            };
        if (c.Ones != 0)
            yield return c with
            {
                Ones = 0,
                Dropped = 0,
            };
        if (c.Dropped > 0)
            yield return c with
            {
                Dropped = c.Dropped - 1,
            };
    }

    private static IEnumerable<int> Fewer(int d) =>
        new[] { 0, 1, d / 2, d - 1, d - 8, d - 12, d - 16, d - 32 }.Where(v => v >= 0 && v < d).Distinct();
}
