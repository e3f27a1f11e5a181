using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends;

/// <summary>
/// The primitive op set every device implements exactly once. <see cref="Ops"/> validates
/// shapes, dtypes, devices and liveness before calling in, allocates outputs, and lowers
/// everything else (views, broadcasting, concat, pooling, …) onto these.
/// </summary>
/// <remarks>Shapes use B = batch, M/N/K = matrix sizes, V = rows of a table, D = row width.</remarks>
internal interface IBackend
{
    /// <summary>Copies host values into the first elements of <paramref name="destination"/>.</summary>
    void Upload<T>(ReadOnlySpan<T> source, Storage destination)
        where T : unmanaged;

    /// <summary>Copies <c>destination.Length</c> elements starting at <paramref name="offset"/> to the host.</summary>
    void Download<T>(Storage source, int offset, Span<T> destination)
        where T : unmanaged;

    /// <summary>y[i] = value for contiguous y.</summary>
    void Fill(Tensor y, double value);

    /// <summary>y[i] = start + i·step for contiguous y.</summary>
    void Arange(Tensor y, double start, double step);

    /// <summary>y[idx] = x[idx] for every index; both any layout, same shape and dtype.</summary>
    void Copy(Tensor x, Tensor y);

    /// <summary>y[i] = op(x[i]); x and y contiguous with equal sizes.</summary>
    void Unary<TOp>(Tensor x, Tensor y, TOp op)
        where TOp : struct, IUnaryOp;

    /// <summary>y[idx] = op(a[idx], b[idx]); a and b are views already expanded to y's shape; y contiguous.</summary>
    void Binary<TOp>(Tensor a, Tensor b, Tensor y, TOp op)
        where TOp : struct, IBinaryOp;

    /// <summary>y[idx] = cond[idx] != 0 ? a[idx] : b[idx]; inputs expanded to y's shape; y contiguous.</summary>
    void Where(Tensor condition, Tensor a, Tensor b, Tensor y);

    /// <summary>x contiguous viewed as [outer, reduce, inner] → y contiguous [outer, inner].</summary>
    void Reduce<TOp>(Tensor x, Tensor y, int outer, int reduce, int inner, TOp op)
        where TOp : struct, IReduceOp;

    /// <summary>
    /// y = softmax(scale·x) over each contiguous row of <paramref name="length"/> elements (x, y
    /// contiguous, same size); when <paramref name="causal"/>, row r keeps columns j ≤ r mod length and zeroes the
    /// rest.
    /// </summary>
    void SoftmaxRows(Tensor x, Tensor y, int length, double scale, bool causal);

    /// <summary>dx = scale·y⊙(g − Σ g⊙y) over each contiguous row of <paramref name="length"/> elements.</summary>
    void SoftmaxRowsBackward(Tensor g, Tensor y, Tensor dx, int length, double scale);

    /// <summary>y = x − mean(x) over each contiguous row of <paramref name="length"/> elements.</summary>
    void CenterRows(Tensor x, Tensor y, int length);

    /// <summary>y = c·r, r = 1/√mean(c²) over each contiguous row of <paramref name="length"/>, where c = x, or
    /// c = x − mean(x) when <paramref name="center"/> (layer norm in one pass); inverse [rows] receives r.</summary>
    void RmsNormalizeRows(Tensor x, Tensor y, Tensor inverse, int length, bool center);

    /// <summary>dx = r·(g − y·mean(g⊙y)) over each contiguous row of <paramref name="length"/>, then minus its row
    /// mean when <paramref name="center"/> (the gradient of the centered form); added to dx's values when
    /// <paramref name="accumulate"/>.</summary>
    void RmsNormalizeRowsBackward(
        Tensor g,
        Tensor y,
        Tensor inverse,
        Tensor dx,
        int length,
        bool center,
        bool accumulate
    );

    /// <summary>Index of the first maximum along the middle axis of x [outer, reduce, inner] → int y [outer,
    /// inner].</summary>
    void ArgMax(Tensor x, Tensor y, int outer, int reduce, int inner);

    /// <summary>
    /// c[b] (+)= α·a[b]·b[b] with a [B, M, K] and b [B, K, N] of any strides; c [B, M, N] with unit
    /// column stride and any row and batch strides (it does not overlap itself). Any of the three
    /// may instead have two batch axes [B₀, B₁, ·, ·] (B₀·B₁ = B, batch b = b₀·B₁ + b₁), as a
    /// head-split view has; see <see cref="MatMulBatch"/>. With <paramref name="symmetric"/> the caller guarantees
    /// every product is symmetric (M = N), and when accumulating that c is symmetric before: a backend may compute
    /// one triangle and mirror it. <paramref name="triangle"/> (never with <paramref name="symmetric"/>): with
    /// <see cref="MatMulTriangle.LowerResult"/> (M = N, not accumulating) c's elements above the diagonal must be zero
    /// afterwards; with <see cref="MatMulTriangle.LowerA"/> or <see cref="MatMulTriangle.UpperA"/> the caller
    /// guarantees a's zeros, which a backend may skip.
    /// </summary>
    /// <remarks><paramref name="scales"/>, only where <see cref="ScalesProducts"/>: one factor per matrix ([B],
    /// contiguous, never with <paramref name="accumulate"/>), which multiplies that matrix's α.</remarks>
    void MatMul(
        Tensor a,
        Tensor b,
        Tensor c,
        bool accumulate,
        double alpha,
        bool symmetric,
        MatMulTriangle triangle,
        Tensor? scales
    );

    /// <summary>True when <see cref="MatMul"/> and <see cref="SymmetricPolynomial"/> take per-matrix scales; for a
    /// backend that does not, the caller scales each result in a pass of its own.</summary>
    bool ScalesProducts { get; }

    /// <summary>
    /// h = a·I + b·R + c·R² for every n×n matrix R of <paramref name="r"/> [B, n, n], into <paramref name="h"/> of
    /// that shape (not overlapping r), both contiguous or, on the CPU, both with <see cref="Tensor.EmptyMatrices"/>'s
    /// padded rows: an odd-polynomial step's polynomial (Newton–Schulz).
    /// The caller guarantees every R is symmetric, so h is too (up to rounding, or exactly where a backend computes
    /// R²'s lower triangle and mirrors it, as the CPU does in float32); a backend adds b·R + a·I where it likes (the
    /// CPU: to each product while it is in cache, rather than in a pass of its own). With c = 0 there is no
    /// product.
    /// </summary>
    /// <remarks><paramref name="scales"/>, only where <see cref="ScalesProducts"/>: one factor per matrix ([B],
    /// contiguous) that multiplies its polynomial's three coefficients.</remarks>
    void SymmetricPolynomial(Tensor r, Tensor h, double a, double b, double c, Tensor? scales);

    /// <summary>
    /// y[i, :] = table[indices[i], :]; table [V, D] and y [n, D] contiguous, int indices [n]. CPU indices are
    /// checked in range before the call; a device backend checks them itself, never reading outside the
    /// table, and reports through <see cref="Device.ThrowPendingErrors"/>.
    /// </summary>
    void GatherRows(Tensor table, Tensor indices, Tensor y);

    /// <summary>table[indices[i], :] += source[i, :]; repeated indices accumulate; indices checked as in
    /// <see cref="GatherRows"/>.</summary>
    void ScatterAddRows(Tensor source, Tensor indices, Tensor table);

    /// <summary>
    /// losses[r] = log Σⱼ exp(z·x[r, j] − m) − (z·x[r, labels[r]] − m), m = maxⱼ z·x[r, j], for contiguous logits
    /// x [rows, <paramref name="classes"/>], z = <paramref name="scale"/> and in-range Int32 labels [rows].
    /// </summary>
    void CrossEntropyRows(Tensor logits, Tensor labels, Tensor losses, int classes, double scale);

    /// <summary>dx[r, j] = c·(softmax(z·x[r])[j] − [j = labels[r]]), c = upstream[0]·factor·z: the gradient of
    /// factor·Σ losses with upstream gradient upstream[0] (a one-element tensor, read on the device).</summary>
    void CrossEntropyRowsBackward(
        Tensor logits,
        Tensor labels,
        Tensor upstream,
        Tensor dx,
        int classes,
        double scale,
        double factor
    );

    /// <summary>Unfolds image patches: x [N, C, H, W] → cols [N, C·kh·kw, Ho·Wo] (zero padding).</summary>
    void Im2Col(Tensor x, Tensor cols, ConvGeometry geometry);

    /// <summary>The adjoint of <see cref="Im2Col"/>: sums patch columns back into x [N, C, H, W] (overwrites
    /// x).</summary>
    void Col2Im(Tensor cols, Tensor x, ConvGeometry geometry);

    /// <summary>Philox4x32-10 stream into contiguous y: raw bits (int), uniform [0,1) or standard normal.</summary>
    void Random(Tensor y, RandomKind kind, ulong seed, ulong offset);
}
