namespace Modula.Tests.Architecture;

/// <summary>The autodiff layer's layout is a promise to readers: it is checked, not only described.</summary>
[TestClass]
public sealed class AutodiffLayoutTests
{
    [TestMethod]
    public void CompositesHaveNoHandWrittenBackward()
    {
        // Rules/ holds every op with its own backward; Composite/ only combines them, so a
        // composite's gradient is correct whenever the rules it calls are.
        var offenders = SourceTree
            .CSharpFiles("Modula.Autodiff/Composite")
            .SelectMany(file => File.ReadLines(file).Select((line, i) => (file, line, i)))
            .Where(x => x.line.Contains("FromOp") || x.line.Contains("Upstream") || x.line.Contains("new Node("))
            .Select(x => $"{SourceTree.Relative(x.file)}:{x.i + 1}: {x.line.Trim()}")
            .ToList();
        Assert.IsEmpty(offenders, "hand-written backward in Composite/:\n" + string.Join("\n", offenders));
    }

    [TestMethod]
    public void GradientsAreAddedOnlyThroughUpstream()
    {
        // Gradients are added through Upstream alone; a rule elsewhere would bypass its ownership rule.
        var allowed = new[] { "Variable.cs", "Upstream.cs", "Graph.cs" };
        var offenders = SourceTree
            .CSharpFiles("Modula.Autodiff")
            .Where(f => !allowed.Contains(Path.GetFileName(f)))
            .SelectMany(file => File.ReadLines(file).Select((line, i) => (file, line, i)))
            .Where(x => x.line.Contains(".Accumulate"))
            .Select(x => $"{SourceTree.Relative(x.file)}:{x.i + 1}")
            .ToList();
        Assert.IsEmpty(offenders, "direct gradient accumulation outside Upstream:\n" + string.Join("\n", offenders));
    }
}
