namespace Modula.Tensors;

/// <summary>
/// Disposes every tensor created on this thread while the scope is open, except those
/// passed to <see cref="Keep"/>. Scopes nest; a kept tensor moves to the enclosing scope
/// (or to no scope, becoming the caller's to dispose). Typical use: one scope per training step.
/// </summary>
/// <example><code>
/// using (var scope = TensorScope.Begin())
/// {
///     var y = Ops.Exp(x);           // intermediate: freed at the end of the scope
///     result = scope.Keep(Ops.Sum(y));
/// }
/// </code></example>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic]
    private static TensorScope? _current;

    private readonly TensorScope? _parent;
    private readonly List<Tensor> _owned = new();
    private bool _disposed;

    private TensorScope(TensorScope? parent) => _parent = parent;

    /// <summary>The innermost open scope on this thread, or null.</summary>
    public static TensorScope? Current => _current;

    /// <summary>Opens a scope on the current thread.</summary>
    public static TensorScope Begin() => _current = new TensorScope(_current);

    internal static void Register(Tensor tensor)
    {
        var scope = _current;
        if (scope is null)
            return;
        tensor.Owner = scope;
        scope._owned.Add(tensor);
    }

    /// <summary>Moves <paramref name="tensor"/> out of this scope into the enclosing one (or to the caller).</summary>
    public Tensor Keep(Tensor tensor)
    {
        if (tensor.Owner == this)
        {
            tensor.Owner = _parent;
            _parent?._owned.Add(tensor);
        }
        return tensor;
    }

    /// <summary>Takes <paramref name="tensor"/> out of whichever scope owns it: the caller now owns it.</summary>
    public static Tensor Escape(Tensor tensor)
    {
        tensor.Owner = null;
        return tensor;
    }

    /// <summary>Disposes the tensors this scope still owns and closes it.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        // Marked closed only once the order is right, so that after the inner scope is disposed this one still can
        // be (marked first, it stayed this thread's current scope for good).
        if (_current != this)
            throw new InvalidOperationException(
                "TensorScope: scopes must be disposed innermost first, on the thread that opened them."
            );
        _disposed = true;
        _current = _parent;
        foreach (var t in _owned)
            if (t.Owner == this)
                t.Dispose();
        _owned.Clear();
    }
}
