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

    /// <summary>
    /// Why <paramref name="path"/> is a symbolic link that leads to no file: "a symbolic link to T, which does not
    /// exist", or "a loop of symbolic links"; null when it is no link, or its links end at a file or folder that
    /// exists. Either broken link would pass for a file with content: the system reports the link's own length.
    /// </summary>
    public static string? BrokenLink(string path)
    {
        if (new FileInfo(path).LinkTarget is null)
            return null;
        return FinalTarget(path) switch
        {
            null => "a loop of symbolic links",
            { Exists: false } target when !Directory.Exists(target.FullName) =>
                $"a symbolic link to {target.FullName}, which does not exist",
            _ => null,
        };
    }

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
