using Modula.Tensors;

namespace Modula.Autodiff;

/// <summary>
/// The gradient arriving at an op's output during <see cref="Variable.Backward"/>, and the only way
/// a backward rule adds to its inputs' gradients: micrograd's <c>input.grad += …</c>, in six forms
/// that differ only in who pays for the tensor.
/// <list type="bullet">
/// <item><see cref="Send"/>: the rule computed a new tensor (g·f′(x)); the input takes it.</item>
/// <item><see cref="Pass(Variable, double)"/>: the input receives the upstream itself, or a view
/// of it (sums, reshapes, broadcasts). The last input that waits for it takes its storage; every
/// earlier one is added from it, so no two gradients ever share storage.</item>
/// <item><see cref="SendProduct"/>: the input receives α·op(a)·op(b), written by the product in the
/// input's own layout or accumulated by it (no separate add pass).</item>
/// <item><see cref="SplitAmong"/>: each input takes its own window of the upstream (a concatenation's
/// rule); windows are disjoint, so all of them may keep views.</item>
/// <item><see cref="SendAccumulating"/>: like <see cref="Send"/>, but the op adds its result into the
/// input's gradient itself when there is one.</item>
/// <item><see cref="SendScatterRows"/>: the input receives rows of the upstream added at given row indices,
/// scattered into its own gradient when it has one (an embedding's rule).</item>
/// </list>
/// A rule may read <see cref="Value"/> (or use the object where a <see cref="Tensor"/> is expected)
/// at any point: a handover of the storage happens only when the rule has returned.
/// </summary>
public sealed class Upstream
{
    private readonly Tensor _gradient;
    private int _waiting;
    private (Variable Input, Func<Tensor, Tensor>? View)? _taker;

    internal Upstream(Tensor gradient, Variable[] inputs)
    {
        _gradient = gradient;
        foreach (var input in inputs)
            if (input.RequiresGrad)
                _waiting++;
    }

    /// <summary>The upstream gradient (borrowed: read it, never keep or modify it).</summary>
    public Tensor Value => _gradient;

    /// <summary>Reads the upstream gradient where an op expects a tensor.</summary>
    public static implicit operator Tensor(Upstream upstream) => upstream._gradient;

    /// <summary>
    /// input.grad += <paramref name="gradient"/>; the input takes ownership of the new tensor (it is
    /// disposed when the input needs no gradient). Broadcast shapes are summed down to the input's.
    /// </summary>
    public void Send(Variable input, Tensor gradient)
    {
        if (ReferenceEquals(gradient.Storage, _gradient.Storage))
            throw new InvalidOperationException(
                "Upstream.Send: the tensor shares the upstream gradient's storage; use Pass to hand it on."
            );
        Served(input);
        input.Accumulate(gradient);
    }

    /// <summary>input.grad += <paramref name="scale"/>·upstream, in one pass.</summary>
    public void Pass(Variable input, double scale = 1)
    {
        if (!Served(input))
            return;
        if (scale == 1 && _waiting == 0 && _taker is null)
            _taker = (input, null);
        else
            input.AccumulateBorrowed(_gradient, scale);
    }

    /// <summary>
    /// input.grad += <paramref name="view"/>(upstream), where the view is a reshape, permutation or
    /// broadcast of the upstream (no new storage). The last waiting input keeps the view itself.
    /// </summary>
    public void Pass(Variable input, Func<Tensor, Tensor> view)
    {
        if (!Served(input))
            return;
        if (_waiting == 0 && _taker is null)
        {
            _taker = (input, view);
            return;
        }
        using var borrowed = ViewOf(view);
        input.AccumulateBorrowed(borrowed, 1);
    }

    /// <summary>A new view of the upstream; the upstream itself is not a view (the graph still owns it).</summary>
    private Tensor ViewOf(Func<Tensor, Tensor> view)
    {
        var t = view(_gradient);
        return ReferenceEquals(t, _gradient)
            ? throw new InvalidOperationException("Upstream.Pass: the view function returned the upstream itself.")
            : t;
    }

    /// <summary>
    /// input.grad += α·op(a)·op(b) (op: optional transpose of the last two axes), written by the
    /// product itself; <paramref name="a"/> and <paramref name="b"/> are borrowed. <paramref name="triangle"/> may
    /// state that op(a) is triangular (<see cref="MatMulTriangle.LowerA"/>, <see cref="MatMulTriangle.UpperA"/>).
    /// </summary>
    public void SendProduct(
        Variable input,
        Tensor a,
        Tensor b,
        bool transposeA,
        bool transposeB,
        double alpha,
        MatMulTriangle triangle = MatMulTriangle.None
    )
    {
        if (Served(input))
            input.AccumulateProduct(a, b, transposeA, transposeB, alpha, triangle);
    }

    /// <summary>
    /// input.grad += the rule's result, for ops that can add their output into a tensor: <paramref name="addInto"/>
    /// writes it into the input's gradient when one already exists (an activation used twice: the residual stream),
    /// else <paramref name="compute"/> returns it as a new tensor, as <see cref="Send"/> would take it.
    /// </summary>
    public void SendAccumulating(Variable input, Func<Tensor> compute, Action<Tensor> addInto)
    {
        if (Served(input))
            input.AccumulateWith(compute, addInto);
    }

    /// <summary>
    /// table.grad[indices[i], :] += upstream[i, :] (an embedding lookup's rule; repeated indices add up), scattered
    /// straight into the table's gradient when it already has a contiguous one (a trainer's gradient buffer: no
    /// zero tensor, no add pass), else into zeros that the table takes.
    /// </summary>
    public void SendScatterRows(Variable table, Tensor indices)
    {
        if (Served(table))
            table.AccumulateScatterRows(indices, _gradient);
    }

    /// <summary>
    /// Each input receives its window of the upstream along <paramref name="axis"/>, in order (the
    /// rule of a concatenation): input i takes the slice that its value occupied in the output.
    /// </summary>
    public void SplitAmong(IReadOnlyList<Variable> inputs, int axis)
    {
        int at = 0;
        foreach (var input in inputs)
        {
            int length = input.Shape[axis];
            // Disjoint windows: keeping one as a gradient can never alias another input's.
            if (Served(input))
                input.Accumulate(_gradient.Slice(axis, at, length));
            at += length;
        }
    }

    /// <summary>Called by the graph once the rule has returned: the deferred taker gets the storage.</summary>
    internal void Complete()
    {
        if (_taker is not (var input, var view))
            return;
        _taker = null;
        input.Accumulate(view is null ? _gradient.View(_gradient.Shape.Dims.ToArray()) : ViewOf(view));
    }

    /// <summary>Counts a delivery; false when the input takes no gradient (nothing to do).</summary>
    private bool Served(Variable input)
    {
        if (!input.RequiresGrad)
            return false;
        _waiting--;
        return true;
    }
}
