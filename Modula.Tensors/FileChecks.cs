namespace Modula.Tensors;

/// <summary>
/// Checks on a path before a file is read whole: checkpoints, data sets, a run's log. The library's projects share
/// them so that each refuses the same paths alike.
/// </summary>
public static class FileChecks
{
    /// <summary>
    /// True when <paramref name="path"/>, its links followed, exists but reports no size: an empty file, a named pipe,
    /// a socket or a character device such as <c>/dev/null</c> or <c>/dev/zero</c>. No checkpoint or data set is
    /// such a file, opening a pipe waits for a writer that may never come, and a device may never end.
    /// </summary>
    public static bool ReportsNoSize(string path)
    {
        var info = new FileInfo(path);
        try
        {
            // A link's own length is that of the path it names; the target's is the one that counts.
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target)
                info = target;
        }
        catch (IOException)
        {
            return false; // a loop of links: opening it fails, and says so
        }
        return info is { Exists: true, Length: 0 };
    }
}
