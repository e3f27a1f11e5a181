namespace Modula.Tests.Architecture;

/// <summary>The repository's source files, for tests of rules that span the layout rather than one type.</summary>
internal static class SourceTree
{
    /// <summary>The folder holding <c>Modula.sln</c>, found upward from the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The C# files under <paramref name="folder"/> (relative to the root), build outputs excluded.</summary>
    public static IEnumerable<string> CSharpFiles(string folder) =>
        Directory
            .EnumerateFiles(Path.Combine(Root, folder), "*.cs", SearchOption.AllDirectories)
            .Where(p =>
                !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")
            );

    /// <summary>A path relative to the root, for messages.</summary>
    public static string Relative(string path) => Path.GetRelativePath(Root, path);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Modula.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"No Modula.sln above {AppContext.BaseDirectory}.");
    }
}
