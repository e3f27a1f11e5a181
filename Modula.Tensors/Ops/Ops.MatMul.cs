using Modula.Tensors.Backends;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Batched matrix product <c>op(a)·op(b)</c> where op transposes the last two axes when
    /// asked. a: [..., M, K] (or [..., K, M]), b: [..., K, N] (or [..., N, K]); batch axes
    /// broadcast. Returns [..., M, N], scaled by <paramref name="alpha"/> inside the product (no
    /// extra pass). Transposed and strided views are not copied first: the GEMM reads them in place
    /// or packs them tile by tile. The result is contiguous, except that it follows the layout of an
    /// untransposed operand of its own shape that is a head-split view (attention's p·v): merging
    /// the heads back is then a view, not a copy.
    /// <paramref name="symmetricResult"/> states that every product is symmetric whatever rounding does (say, two
    /// polynomials in one symmetric matrix, which commute): a backend may then compute one triangle and mirror it,
    /// about half the work (the CPU does), so the result is exactly symmetric. Products of the form XᵀX read from
    /// one tensor are recognized without it. <paramref name="triangle"/> states a triangle of the result that is
    /// not wanted or of op(a) that is zero (<see cref="MatMulTriangle"/>), so that a backend may skip it.
    /// </summary>
    public static Tensor MatMul(
        Tensor a,
        Tensor b,
        bool transposeA = false,
        bool transposeB = false,
        double alpha = 1,
        bool symmetricResult = false,
        MatMulTriangle triangle = MatMulTriangle.None
    )
    {
        var (a3, b3, batchShape, m, n) = PrepareMatMul(
            nameof(MatMul),
            a,
            b,
            transposeA,
            transposeB,
            symmetricResult,
            triangle
        );
        using (a3)
        using (b3)
        {
            var shape = new Shape([.. batchShape.Dims, m, n]);
            var like =
                !transposeA && HeadSplitLayouts.ProductCanFollow(a, shape) ? a
                : !transposeB && HeadSplitLayouts.ProductCanFollow(b, shape) ? b
                : null;
            if (like is not null)
            {
                var y = Tensor.EmptyLike(like);
                using var direct = HeadSplitLayouts.BatchView(y, batchShape, m, n);
                if (direct is not null)
                {
                    using (a.Device.Time(MatMulLabel, (a3, b3, direct)))
                        a.Device.Backend.MatMul(
                            a3,
                            b3,
                            direct,
                            accumulate: false,
                            alpha,
                            symmetricResult,
                            triangle,
                            null
                        );
                    return y;
                }
                y.Dispose();
            }
            var c = Tensor.Empty(new Shape([batchShape.Size, m, n]), a.DType, a.Device);
            if (c.Size > 0)
                using (a.Device.Time(MatMulLabel, (a3, b3, c)))
                    a.Device.Backend.MatMul(a3, b3, c, accumulate: false, alpha, symmetricResult, triangle, null);
            using (c)
                return c.Reshape(shape.Dims.ToArray());
        }
    }

    /// <summary>
    /// Writes (or with <paramref name="accumulate"/>, adds) <c>α·op(a)·op(b)</c> into <paramref name="c"/>.
    /// A <paramref name="c"/> whose rows are contiguous and whose batch axes merge into one or two
    /// strides (a contiguous tensor, a slice of wider rows, or a head-split view of [batch, T, heads·d]) is written
    /// in place by the product; any other layout, or a <paramref name="c"/> that overlaps a factor, receives the
    /// product through one extra pass. A broadcast <paramref name="c"/> is refused: its elements share storage.
    /// <paramref name="symmetricResult"/> is <see cref="MatMul"/>'s, and when accumulating it also states that
    /// <paramref name="c"/> is symmetric before, so that the sum is too: a backend may compute one triangle of the
    /// sum and mirror it into the other. <paramref name="triangle"/> is <see cref="MatMul"/>'s; a lower result
    /// (<see cref="MatMulTriangle.LowerResult"/>) cannot be accumulated. <paramref name="scales"/>, when given, holds
    /// one factor per matrix of the product (as many elements as the batch has matrices, say [..., 1, 1]; contiguous,
    /// of a's dtype and device): each matrix is then <c>α·scale·op(a)·op(b)</c>, scaled inside the product where the
    /// backend can (the CPU) rather than in a pass over <paramref name="c"/>. It cannot be accumulated.
    /// </summary>
    public static void MatMulInto(
        Tensor a,
        Tensor b,
        Tensor c,
        bool accumulate,
        bool transposeA = false,
        bool transposeB = false,
        double alpha = 1,
        bool symmetricResult = false,
        MatMulTriangle triangle = MatMulTriangle.None,
        Tensor? scales = null
    )
    {
        if (accumulate && triangle == MatMulTriangle.LowerResult)
            throw new ArgumentException(
                $"{nameof(MatMulInto)}: a lower-triangle result (MatMulTriangle.LowerResult) cannot be accumulated.",
                nameof(triangle)
            );
        var (a3, b3, batchShape, m, n) = PrepareMatMul(
            nameof(MatMulInto),
            a,
            b,
            transposeA,
            transposeB,
            symmetricResult,
            triangle
        );
        using (a3)
        using (b3)
        {
            var shape = new Shape([.. batchShape.Dims, m, n]);
            Check.Output(nameof(MatMulInto), c, shape, a.DType, a.Device, requireContiguous: false);
            using var given = MatrixScales(nameof(MatMulInto), scales, a, batchShape.Size, accumulate);
            if (c.Size == 0)
                return;
            Check.NotBroadcast(nameof(MatMulInto), c);
            // Factors stored in c itself would be overwritten by the products before them: they are read from a copy.
            using var copied = given is not null && Aliasing.Overlap(c, given) ? Contiguous(given) : null;
            var perMatrix = copied ?? given;
            // A backend that cannot scale inside its product gets none: the product is scaled in a pass after it.
            var fused = a.Device.ScalesInsideProducts ? perMatrix : null;
            // A product written over one of its factors would read rows it has already overwritten: such a c
            // receives the product through a separate tensor, as does one a pass must scale but cannot write.
            bool overwritesFactor = Aliasing.Overlap(c, a3) || Aliasing.Overlap(c, b3);
            bool scaledAfter = perMatrix is not null && fused is null;
            using var direct =
                !overwritesFactor && (c.Strides[^1] == 1 || n == 1) && (!scaledAfter || c.IsContiguous)
                    ? HeadSplitLayouts.BatchView(c, batchShape, m, n)
                    : null;
            if (direct is not null)
            {
                using (a.Device.Time(MatMulLabel, (a3, b3, direct)))
                    a.Device.Backend.MatMul(a3, b3, direct, accumulate, alpha, symmetricResult, triangle, fused);
                if (scaledAfter)
                    ScaleEachMatrix(direct, perMatrix!);
                return;
            }
            using var product = Tensor.Empty(new Shape([batchShape.Size, m, n]), a.DType, a.Device);
            using (a.Device.Time(MatMulLabel, (a3, b3, product)))
                a.Device.Backend.MatMul(a3, b3, product, accumulate: false, alpha, symmetricResult, triangle, fused);
            if (scaledAfter)
                ScaleEachMatrix(product, perMatrix!);
            using var shaped = product.View(shape.Dims.ToArray());
            using var sum = accumulate ? Add(c, shaped) : null;
            CopyInto(sum ?? shaped, c);
        }
    }

    /// <summary>
    /// The matrix polynomial a·I + b·R + c·R² of every matrix of <paramref name="r"/> [..., n, n], each of which the
    /// caller guarantees symmetric (a Gram matrix, or a polynomial in one): the polynomial of a Newton–Schulz step.
    /// Returns a new tensor of r's shape, symmetric (exactly on the CPU in float32, which computes one triangle of R²
    /// and mirrors it): laid out as r when r has the padded rows of <see cref="Tensor.EmptyMatrices"/> (a polynomial
    /// in a padded Gram matrix stays padded for the product that reads it next), else contiguous. One call instead of
    /// a pass forming a·I + b·R and a product added into it: for the small matrices of Newton–Schulz the CPU adds the
    /// linear part to each product while it is still in cache; with c = 0 it is one pass. For a matrix that is not
    /// symmetric the result is not this polynomial.
    /// </summary>
    /// <example>One Newton–Schulz step X ← X·(a·I + b·XᵀX + c·(XᵀX)²) on a tall X:
    /// <code>
    /// using var r = Ops.MatMul(x, x, transposeA: true);
    /// using var h = Ops.SymmetricPolynomial(r, 3.4445, -4.7750, 2.0315);
    /// var next = Ops.MatMul(x, h);
    /// </code></example>
    public static Tensor SymmetricPolynomial(Tensor r, double a, double b, double c) =>
        SymmetricPolynomial(r, a, b, c, scales: null);

    /// <summary>
    /// <see cref="SymmetricPolynomial(Tensor, double, double, double)"/> with each matrix's polynomial times its own
    /// factor of <paramref name="scales"/> (one per matrix of r, say [..., 1, 1]; contiguous, of r's dtype and
    /// device; null for none): the coefficients scaled, s·a·I + s·b·R + s·c·R², where the backend can (the CPU).
    /// A Newton–Schulz step whose polynomial carries the input's 1/‖M‖ needs no pass rescaling M.
    /// </summary>
    public static Tensor SymmetricPolynomial(Tensor r, double a, double b, double c, Tensor? scales)
    {
        const string op = nameof(SymmetricPolynomial);
        Check.Float(op, r);
        Check.Supported(op, r);
        if (r.Rank < 2 || r.Shape[-1] != r.Shape[-2])
            throw new ArgumentException($"{op}: needs square matrices [..., n, n], got {r.Shape}.");
        if (!double.IsFinite(a) || !double.IsFinite(b) || !double.IsFinite(c))
            throw new ArgumentException($"{op}: coefficients must be finite, got a = {a}, b = {b}, c = {c}.");
        int n = r.Shape[-1],
            count = new Shape(r.Shape.Dims[..^2]).Size;
        using var perMatrix = MatrixScales(op, scales, r, count, accumulate: false);
        bool padded = PaddedRows.Has(r);
        var h = padded ? Tensor.EmptyMatrices(r.Shape, r.DType, r.Device) : Tensor.Empty(r.Shape, r.DType, r.Device);
        if (h.Size == 0)
            return h;
        try
        {
            using var dense = r.IsContiguous || padded ? null : Contiguous(r);
            using var batched = (dense ?? r).View(count, n, n);
            using var into = h.View(count, n, n);
            var fused = r.Device.ScalesInsideProducts ? perMatrix : null;
            using (r.Device.Time(PolynomialLabel, (batched, c)))
                r.Device.Backend.SymmetricPolynomial(batched, into, a, b, c, fused);
            if (perMatrix is not null && fused is null)
                ScaleEachMatrix(into, perMatrix);
            return h;
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    // The per-matrix factors of a product or polynomial as a [count] view, checked; null for none.
    private static Tensor? MatrixScales(string op, Tensor? scales, Tensor like, int count, bool accumulate)
    {
        if (scales is null)
            return null;
        if (scales.DType != like.DType || scales.Device != like.Device)
            throw new ArgumentException(
                $"{op}: scales must be {like.DType} on {like.Device} as the operands are, got {scales.DType} on "
                    + $"{scales.Device}.",
                nameof(scales)
            );
        if (accumulate)
            throw new ArgumentException($"{op}: per-matrix scales cannot be accumulated.", nameof(scales));
        if (scales.Size != count || !scales.IsContiguous)
            throw new ArgumentException(
                $"{op}: scales needs one factor per matrix, {count} contiguous elements, got {scales.Shape}"
                    + $"{(scales.IsContiguous ? "" : " (not contiguous)")}.",
                nameof(scales)
            );
        return scales.View(count);
    }

    // Each matrix of a [count, m, n] tensor times its factor, in place: for a backend that does not scale inside its
    // products. The matrices' rows may be padded; the factors are broadcast along them.
    private static void ScaleEachMatrix(Tensor matrices, Tensor scales)
    {
        using var factors = scales.View(scales.Size, 1, 1);
        if (matrices.IsContiguous)
        {
            Zip(matrices, factors, new Primitives.Mul(), into: matrices);
            return;
        }
        using var scaled = Mul(matrices, factors);
        CopyInto(scaled, matrices);
    }

    /// <summary>The shape [..., M, N] of <c>op(a)·op(b)</c>; throws naming both shapes when they do not
    /// multiply.</summary>
    public static Shape MatMulShape(Shape a, Shape b, bool transposeA = false, bool transposeB = false) =>
        MatMulShape(a, b, transposeA, transposeB, nameof(MatMul));

    private static Shape MatMulShape(Shape a, Shape b, bool transposeA, bool transposeB, string op)
    {
        if (a.Rank < 2 || b.Rank < 2)
            throw new ArgumentException($"{op}: needs matrices (rank ≥ 2), got {a} and {b}.");
        int m = transposeA ? a[-1] : a[-2],
            ka = transposeA ? a[-2] : a[-1];
        int kb = transposeB ? b[-1] : b[-2],
            n = transposeB ? b[-2] : b[-1];
        if (ka != kb)
            throw new ArgumentException(
                $"{op}: inner dimensions differ: {a}{(transposeA ? "ᵀ" : "")} · {b}{(transposeB ? "ᵀ" : "")} ({ka} vs "
                    + $"{kb})."
            );
        var batch = Shape.Broadcast(new Shape(a.Dims[..^2]), new Shape(b.Dims[..^2]), op);
        return new Shape([.. batch.Dims, m, n]);
    }

    // The operands' checks, the product's shape, and a and b as [B, rows, cols] views (see Batched).
    private static (Tensor A, Tensor B, Shape Batch, int M, int N) PrepareMatMul(
        string op,
        Tensor a,
        Tensor b,
        bool transposeA,
        bool transposeB,
        bool symmetricResult,
        MatMulTriangle triangle = MatMulTriangle.None
    )
    {
        Check.Compatible(op, a, b);
        if (!Enum.IsDefined(triangle))
            throw new ArgumentOutOfRangeException(nameof(triangle), $"{op}: unknown triangle {triangle}.");
        Check.Float(op, a);
        Check.Supported(op, a);
        var shape = MatMulShape(a.Shape, b.Shape, transposeA, transposeB, op);
        var batch = new Shape(shape.Dims[..^2]);
        int m = shape[-2],
            n = shape[-1],
            k = transposeA ? a.Shape[-2] : a.Shape[-1];
        if (symmetricResult && m != n)
            throw new ArgumentException(
                $"{op}: a symmetric result must be square, got {m}×{n} from {a.Shape} and {b.Shape}."
            );
        if (symmetricResult && triangle != MatMulTriangle.None)
            throw new ArgumentException($"{op}: a symmetric result cannot also take a triangle ({triangle}).");
        if (triangle == MatMulTriangle.LowerResult && m != n)
            throw new ArgumentException(
                $"{op}: a lower-triangle result must be square, got {m}×{n} from {a.Shape} and {b.Shape}."
            );
        return (Batched(a, transposeA, batch, m, k), Batched(b, transposeB, batch, k, n), batch, m, n);
    }

    /// <summary>
    /// Views x (optionally transposed) as [B, rows, cols] with the batch axes broadcast and merged,
    /// or as [B₀, B₁, rows, cols] (see <see cref="HeadSplitLayouts"/>); only other layouts are copied.
    /// </summary>
    private static Tensor Batched(Tensor x, bool transpose, Shape batch, int rows, int cols)
    {
        using var t = transpose ? x.Transpose() : null;
        using var expanded = (t ?? x).Expand(new Shape([.. batch.Dims, rows, cols]));
        var view = HeadSplitLayouts.BatchView(expanded, batch, rows, cols);
        if (view is not null)
            return view;
        using var dense = Contiguous(expanded);
        return dense.View(batch.Size, rows, cols);
    }

    /// <summary>A polynomial's name in profiles: batch×n, and whether it ran the product R².</summary>
    private static string PolynomialLabel((Tensor R, double C) p) =>
        $"{nameof(SymmetricPolynomial)} {p.R.Shape[0]}×{p.R.Shape[-1]}{(p.C == 0 ? " linear" : "")}";

    /// <summary>A product's name in profiles: batch×rows×columns×depth, and which operands are transposed.</summary>
    private static string MatMulLabel((Tensor A, Tensor B, Tensor C) p) =>
        $"MatMul {MatMulBatch.Count(p.C)}×{p.C.Shape[-2]}×{p.C.Shape[-1]}×{p.A.Shape[-1]}"
        + $"{(p.A.Strides[^2] == 1 ? " Aᵀ" : "")}{(p.B.Strides[^2] == 1 ? " Bᵀ" : "")}";
}
