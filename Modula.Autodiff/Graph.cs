using Modula.Tensors;

namespace Modula.Autodiff;

/// <summary>Reverse-mode traversal: topological order from the root, rules applied outputs-first.</summary>
internal static class Graph
{
    public static void Backward(Variable root, Tensor? seed)
    {
        if (root.GraphFreed)
            throw new InvalidOperationException(
                "Backward: the graph behind this variable was already freed by an earlier Backward; recompute the "
                    + "forward pass."
            );
        if (!root.RequiresGrad)
            throw new InvalidOperationException(
                $"Backward: {root.Shape} does not require a gradient (no input requires one, or it was computed under "
                    + $"NoGrad)."
            );
        Tensor first;
        if (seed is null)
        {
            if (root.Value.Size != 1)
                throw new InvalidOperationException(
                    $"Backward: output {root.Shape} is not a scalar; pass a seed gradient of that shape."
                );
            first = Ops.Ones(root.Shape, root.Value.DType, root.Value.Device);
        }
        else
        {
            if (seed.Shape != root.Shape)
                throw new ArgumentException(
                    $"Backward: seed gradient {seed.Shape} does not match output {root.Shape}."
                );
            first = Ops.Contiguous(seed);
        }

        var order = TopologicalOrder(root);
        root.Accumulate(first);
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var v = order[i];
            var node = v.Node!;
            if (v.Grad is not null)
            {
                var upstream = new Upstream(v.Grad, node.Inputs);
                node.Backward(upstream);
                upstream.Complete();
            }
            v.ReleaseGraph();
        }
    }

    /// <summary>Op results reachable from <paramref name="root"/>, inputs before outputs (iterative DFS).</summary>
    private static List<Variable> TopologicalOrder(Variable root)
    {
        var order = new List<Variable>();
        var seen = new HashSet<Variable>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Variable V, bool Expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (v, expanded) = stack.Pop();
            if (expanded)
            {
                order.Add(v);
                continue;
            }
            if (!seen.Add(v))
                continue;
            if (v.GraphFreed)
                throw new InvalidOperationException(
                    $"Backward: reached {v.Shape} whose graph was already freed by an earlier Backward; recompute the "
                        + $"forward pass."
                );
            if (v.Node is null)
                continue; // leaf or constant
            stack.Push((v, true));
            foreach (var input in v.Node.Inputs)
                if (input.RequiresGrad && !seen.Contains(input))
                    stack.Push((input, false));
        }
        return order;
    }
}

/// <summary>
/// While a <see cref="NoGrad"/> scope is open on this thread, ops record no graph
/// (evaluation, optimizer updates).
/// </summary>
public sealed class NoGrad : IDisposable
{
    [ThreadStatic]
    private static int _depth;
    private bool _disposed;

    /// <summary>Opens the scope.</summary>
    public NoGrad() => _depth++;

    /// <summary>True inside at least one open scope on this thread.</summary>
    public static bool IsActive => _depth > 0;

    /// <summary>Closes the scope.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _depth--;
    }
}
