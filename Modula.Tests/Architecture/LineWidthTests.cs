namespace Modula.Tests.Architecture;

/// <summary>Source stays readable at 120 columns, comments and string literals included.</summary>
[TestClass]
public sealed class LineWidthTests
{
    [TestMethod]
    public void NoSourceLineIsWiderThan120Columns()
    {
        // CSharpier formats code to 120 columns (.editorconfig, `dotnet csharpier check .` in CI)
        // but does not break comments or string literals; this catches those.
        var offenders = SourceTree
            .CSharpFiles(".")
            .SelectMany(file => File.ReadLines(file).Select((line, i) => (file, line, i)))
            .Where(x => x.line.Length > 120)
            .Select(x => $"{SourceTree.Relative(x.file)}:{x.i + 1} ({x.line.Length} columns)")
            .ToList();
        Assert.IsEmpty(offenders, "lines over 120 columns:\n" + string.Join("\n", offenders));
    }
}
