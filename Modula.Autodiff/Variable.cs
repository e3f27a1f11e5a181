using Modula.Tensors;

namespace Modula.Autodiff;

/// <summary>
/// A node of the reverse-mode graph: a tensor value, an optional gradient, and (for op
/// results) the rule that sends gradients to its inputs. Leaves that require a gradient
/// accumulate into <see cref="Grad"/> across <see cref="Backward"/> calls; the graph links
/// and intermediate gradients are released once backward has passed through them.
/// Values of intermediate results belong to the <see cref="TensorScope"/> that was open
/// when they were computed: run a training step inside one scope and every intermediate is
/// freed at its end (a backward rule may read any forward value, so none is freed earlier).
/// </summary>
public sealed partial class Variable : IDisposable
{
    private Node? _node;
    private bool _graphFreed;
    private Tensor? _value;

    /// <summary>Wraps <paramref name="value"/> as a leaf; the variable owns the tensor.</summary>
    public Variable(Tensor value, bool requiresGrad = false, string? name = null)
    {
        _value = value ?? throw new ArgumentNullException(nameof(value), "Variable: value is null.");
        RequiresGrad = requiresGrad;
        Name = name;
    }

    private Variable(Tensor value, Node node)
    {
        _value = value;
        RequiresGrad = true;
        _node = node;
    }

    /// <summary>
    /// The forward value. A lazy scalar multiple (<see cref="F.Scale"/>) computes it on first
    /// read, one full pass; the ops that fold factors in never read it (Variable.Scaled.cs).
    /// </summary>
    public Tensor Value => _value ??= MaterializeMultiple();

    /// <summary>The accumulated gradient (same shape as <see cref="Value"/>), or null before any backward.</summary>
    public Tensor? Grad { get; private set; }

    /// <summary>True if gradients flow to or through this variable.</summary>
    public bool RequiresGrad { get; }

    /// <summary>True for variables created by the user rather than by an op.</summary>
    public bool IsLeaf => _node is null && !_graphFreed;

    /// <summary>Optional label used in error messages.</summary>
    public string? Name { get; }

    /// <summary>Shape of the value.</summary>
    public Shape Shape => _scaledFrom?.Shape ?? Value.Shape;

    internal Node? Node => _node;

    internal bool GraphFreed => _graphFreed;

    /// <summary>
    /// Creates an op result. When no input needs a gradient, or inside <see cref="NoGrad"/>,
    /// the result is a constant and <paramref name="backward"/> is never kept.
    /// </summary>
    /// <param name="value">The op's output (owned by the new variable).</param>
    /// <param name="inputs">The op's inputs.</param>
    /// <param name="backward">Given the output gradient, adds to the inputs' gradients through it (see <see
    /// cref="Upstream"/>).</param>
    public static Variable FromOp(Tensor value, Variable[] inputs, Action<Upstream> backward)
    {
        CheckOp(value, inputs, backward);
        if (NoGrad.IsActive || !inputs.Any(i => i.RequiresGrad))
            return new Variable(value);
        return new Variable(value, new Node(inputs, backward));
    }

    // FromOp's arguments, named when null: a custom op's mistake surfaces here rather than in a later backward.
    private static void CheckOp(Tensor value, Variable[] inputs, Action<Upstream> backward)
    {
        if (value is null)
            throw new ArgumentNullException(nameof(value), "Variable.FromOp: value is null.");
        if (inputs is null)
            throw new ArgumentNullException(nameof(inputs), "Variable.FromOp: inputs is null.");
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i] is null)
                throw new ArgumentNullException(nameof(inputs), $"Variable.FromOp: inputs[{i}] is null.");
        if (backward is null)
            throw new ArgumentNullException(nameof(backward), "Variable.FromOp: backward is null.");
    }

    /// <summary>
    /// Adds <paramref name="gradient"/> (owned: it is consumed) into this variable's gradient,
    /// first summing it down to this variable's shape where the forward op broadcast it.
    /// This is the one place broadcast un-reduction happens. Rules reach it through <see cref="Upstream"/>.
    /// </summary>
    internal void Accumulate(Tensor gradient)
    {
        if (!RequiresGrad)
        {
            gradient.Dispose();
            return;
        }
        var g = SumToShape(gradient, Shape);
        if (Grad is null)
        {
            // An intermediate keeps its gradient in whatever layout it arrives (a permuted
            // head-split gradient, a broadcast one from a sum): the ops reading it take any
            // strides. A leaf's gradient outlives the step's scope and is made contiguous.
            Grad = g.IsContiguous || _node is not null ? g : Contiguous(g);
            if (_node is null)
                TensorScope.Escape(Grad);
            return;
        }
        Combine(g, new Modula.Tensors.Primitives.Add());
        g.Dispose();
    }

    /// <summary>Grad ← op(Grad, g): in place when the gradient is contiguous, else into a new tensor.</summary>
    private void Combine<TOp>(Tensor g, TOp op)
        where TOp : struct, Modula.Tensors.Primitives.IBinaryOp
    {
        if (Grad!.IsContiguous)
        {
            Ops.Zip(Grad, g, op, into: Grad);
            return;
        }
        var combined = Ops.Zip(Grad, g, op);
        Grad.Dispose();
        Grad = combined;
    }

    /// <summary>
    /// Adds the product <c>α·op(a)·op(b)</c> into this variable's gradient: the first gradient is
    /// written by the product in this variable's own layout (no copy when the value is a head-split
    /// view), a later one is accumulated by the product itself (no separate add pass). <paramref name="triangle"/>
    /// may state that op(a) is triangular.
    /// </summary>
    internal void AccumulateProduct(
        Tensor a,
        Tensor b,
        bool transposeA,
        bool transposeB,
        double alpha,
        MatMulTriangle triangle = MatMulTriangle.None
    )
    {
        if (!RequiresGrad)
            return;
        if (Ops.MatMulShape(a.Shape, b.Shape, transposeA, transposeB) != Shape)
        {
            // Broadcast batch: sum down.
            Accumulate(Ops.MatMul(a, b, transposeA, transposeB, alpha, triangle: triangle));
            return;
        }
        if (Grad is null)
        {
            var product = Tensor.EmptyLike(Value);
            Ops.MatMulInto(a, b, product, accumulate: false, transposeA, transposeB, alpha, triangle: triangle);
            Accumulate(product);
            return;
        }
        if (Grad.IsDense)
            Ops.MatMulInto(a, b, Grad, accumulate: true, transposeA, transposeB, alpha, triangle: triangle);
        else // a broadcast gradient is read-only
            Accumulate(Ops.MatMul(a, b, transposeA, transposeB, alpha, triangle: triangle));
    }

    /// <summary>
    /// Grad += the rule's result: <paramref name="addInto"/> writes it into an existing contiguous gradient (no new
    /// tensor, no add pass), else <paramref name="compute"/> makes it as a new tensor that is accumulated as usual.
    /// </summary>
    internal void AccumulateWith(Func<Tensor> compute, Action<Tensor> addInto)
    {
        if (!RequiresGrad)
            return;
        if (Grad is { IsContiguous: true } grad && grad.Shape == Shape)
            addInto(grad);
        else
            Accumulate(compute());
    }

    /// <summary>Grad[indices[i], :] += rows[i, :] (rows borrowed): in place when a contiguous gradient
    /// exists.</summary>
    internal void AccumulateScatterRows(Tensor indices, Tensor rows)
    {
        if (!RequiresGrad)
            return;
        if (Grad is { IsContiguous: true } grad && grad.Shape == Shape)
        {
            Ops.ScatterAddRows(grad, indices, rows);
            return;
        }
        var fresh = Ops.ZerosLike(Value);
        try
        {
            Ops.ScatterAddRows(fresh, indices, rows);
        }
        catch
        {
            fresh.Dispose();
            throw;
        }
        Accumulate(fresh);
    }

    /// <summary>
    /// Adds <paramref name="scale"/>·<paramref name="gradient"/> (borrowed: not consumed) into
    /// this variable's gradient in one pass, whether or not a gradient is already there.
    /// </summary>
    internal void AccumulateBorrowed(Tensor gradient, double scale)
    {
        if (!RequiresGrad)
            return;
        if (Grad is null || gradient.Shape != Shape)
        {
            Accumulate(scale == 1 ? Ops.Contiguous(gradient) : Ops.Mul(gradient, scale));
            return;
        }
        if (scale == 1)
            Combine(gradient, new Modula.Tensors.Primitives.Add());
        else
            Combine(gradient, new Modula.Tensors.Primitives.ScaledAdd(scale));
    }

    private static Tensor Contiguous(Tensor t)
    {
        using (t)
            return Ops.Contiguous(t);
    }

    /// <summary>Sums a broadcast gradient back to <paramref name="shape"/>; consumes <paramref name="g"/>.</summary>
    internal static Tensor SumToShape(Tensor g, Shape shape)
    {
        if (g.Shape == shape)
            return g;
        int lead = g.Rank - shape.Rank;
        if (lead < 0)
            throw new InvalidOperationException($"Gradient {g.Shape} has lower rank than its variable {shape}.");
        var axes = new List<int>();
        for (int i = 0; i < g.Rank; i++)
            if (i < lead || (shape.Dims[i - lead] == 1 && g.Shape.Dims[i] != 1))
                axes.Add(i);
        using (g)
        {
            if (axes.Count == 0)
                return g.Reshape(shape.Dims.ToArray());
            using var summed = Ops.Sum(g, axes.ToArray(), keepDim: true);
            return summed.Reshape(shape.Dims.ToArray());
        }
    }

    /// <summary>Clears the accumulated gradient (a gradient buffer is zeroed and kept).</summary>
    public void ZeroGrad()
    {
        if (HasGradientBuffer)
        {
            Ops.FillInto(Grad!, 0);
            return;
        }
        Grad?.Dispose();
        Grad = null;
    }

    /// <summary>True when gradients accumulate into a caller's buffer (<see cref="UseGradientBuffer"/>).</summary>
    public bool HasGradientBuffer { get; private set; }

    /// <summary>
    /// Makes this leaf accumulate its gradients into <paramref name="buffer"/> (borrowed: the caller
    /// keeps ownership and must keep it alive), which then is <see cref="Grad"/>. The buffer is zeroed
    /// here; <see cref="ZeroGrad"/> zeroes it again instead of dropping it. A trainer uses this to have
    /// every gradient land in one packed buffer (see <c>Weights.Pack</c>), so the whole update reads it
    /// without a copy and clears it with one fill.
    /// </summary>
    public void UseGradientBuffer(Tensor buffer)
    {
        if (!IsLeaf || !RequiresGrad)
            throw new InvalidOperationException(
                $"UseGradientBuffer: '{Name ?? Shape.ToString()}' must be a leaf that requires a gradient."
            );
        if (buffer.Shape != Shape || !buffer.IsContiguous)
            throw new ArgumentException(
                $"UseGradientBuffer: buffer {buffer.Shape} must be contiguous with the variable's shape {Shape}.",
                nameof(buffer)
            );
        if (!HasGradientBuffer)
            Grad?.Dispose();
        Ops.FillInto(buffer, 0);
        Grad = buffer;
        HasGradientBuffer = true;
    }

    /// <summary>A constant sharing this value: gradients do not flow through it.</summary>
    public Variable Detach() => new(Value.View(Value.Shape.Dims.ToArray()));

    /// <summary>
    /// Backpropagates from this variable. Without <paramref name="seed"/> the value must be a
    /// scalar (one element) and the seed is 1. The graph behind this variable is freed afterwards.
    /// </summary>
    public void Backward(Tensor? seed = null) => Graph.Backward(this, seed);

    internal void ReleaseGraph()
    {
        _node = null;
        _graphFreed = true;
        if (Grad is not null)
        {
            Grad.Dispose();
            Grad = null;
        }
    }

    /// <summary>Disposes the value and gradient (not a borrowed gradient buffer).</summary>
    public void Dispose()
    {
        _value?.Dispose();
        if (!HasGradientBuffer)
            Grad?.Dispose();
        Grad = null;
        _node = null;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Variable({Name ?? ""}{Value})";

    /// <summary>a + b with broadcasting.</summary>
    public static Variable operator +(Variable a, Variable b) => F.Add(a, b);

    /// <summary>a − b with broadcasting.</summary>
    public static Variable operator -(Variable a, Variable b) => F.Sub(a, b);

    /// <summary>a · b (elementwise) with broadcasting.</summary>
    public static Variable operator *(Variable a, Variable b) => F.Mul(a, b);

    /// <summary>a / b with broadcasting.</summary>
    public static Variable operator /(Variable a, Variable b) => F.Div(a, b);

    /// <summary>−a.</summary>
    public static Variable operator -(Variable a) => F.Neg(a);

    /// <summary>a · s.</summary>
    public static Variable operator *(Variable a, double s) => F.Scale(a, s);

    /// <summary>s · a.</summary>
    public static Variable operator *(double s, Variable a) => F.Scale(a, s);
}

/// <summary>An op's link in the graph: its inputs and the rule that sends the output gradient to them.</summary>
internal sealed class Node(Variable[] inputs, Action<Upstream> backward)
{
    public Variable[] Inputs { get; } = inputs;
    public Action<Upstream> Backward { get; } = backward;
}
