namespace Modula.Tensors;

/// <summary>
/// Checks on a path before a file is read whole or written: checkpoints, data sets, a run's log. The library's
/// projects share them so that each refuses the same paths alike.
/// </summary>
public static class FileChecks
{
    /// <summary>
    /// True when <paramref name="path"/>, its links followed, exists but reports no size: an empty file, a named pipe,
    /// a socket or a character device such as <c>/dev/null</c> or <c>/dev/zero</c>. No checkpoint or data set is
    /// such a file, opening a pipe waits for a writer that may never come, and a device may never end.
    /// </summary>
    public static bool ReportsNoSize(string path) => FinalTarget(path) is { Exists: true, Length: 0 };

    /// <summary>The final target of a symbolic link at <paramref name="path"/> when it does not exist, else null (no
    /// link, or a loop of links, which opening the path reports). A dangling link's own length is that of the path
    /// it names, so it would pass for a file with content.</summary>
    public static string? DanglingLinkTarget(string path) =>
        new FileInfo(path).LinkTarget is not null && FinalTarget(path) is { Exists: false } target
            ? target.FullName
            : null;

    // The file at the end of path's links (path itself when it is none), or null for a loop of links.
    private static FileInfo? FinalTarget(string path)
    {
        var info = new FileInfo(path);
        try
        {
            return info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target
                ? target
                : info;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
