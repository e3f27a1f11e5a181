namespace Modula.Modules;

/// <summary>
/// A module could not run or check its weights. <see cref="ModulePath"/> lists the modules
/// from the outermost to the one that failed, and the message includes the shapes involved.
/// </summary>
public sealed class ModuleException : Exception
{
    /// <summary>Creates an error raised by the module labelled <paramref name="module"/>.</summary>
    public ModuleException(string module, string problem, Exception? inner = null)
        : this([module], problem, inner) { }

    /// <summary>Creates an error raised inside a forward pass; the running modules add themselves to the path as it
    /// propagates.</summary>
    public ModuleException(string problem)
        : this([], problem, null) { }

    /// <summary>Wraps a lower-level error raised inside a forward pass.</summary>
    public ModuleException(string problem, Exception inner)
        : this([], problem, inner) { }

    private ModuleException(IReadOnlyList<string> path, string problem, Exception? inner)
        : base(path.Count == 0 ? problem : $"{string.Join(" > ", path)}: {problem}", inner)
    {
        ModulePath = path;
        Problem = problem;
    }

    /// <summary>The labels from the outermost module to the failing one.</summary>
    public IReadOnlyList<string> ModulePath { get; }

    /// <summary>The failure without the path.</summary>
    public string Problem { get; }

    /// <summary>The same error seen from a parent module labelled <paramref name="parent"/>.</summary>
    public ModuleException Within(string parent) => new([parent, .. ModulePath], Problem, InnerException);
}
