using System.Globalization;
using Modula.Tensors;

namespace Modula.Cli.Training;

/// <summary>
/// A run's CSV log: one row per report, written straight to the file so a killed run keeps every row
/// it printed. A fresh run refuses a log that already holds rows (it would destroy a run's record);
/// a resumed run continues its log, dropping rows past the checkpoint's step (they will be written
/// again, with the same values) and any row cut short. A row whose write fails (a full disk) is
/// taken back off the file, so the file holds whole rows only, exactly those reported written.
/// </summary>
public sealed class RunLog : IDisposable
{
    private readonly FileStream? _file; // null: a log that writes nothing
    private long _whole; // the file's length after its last whole row

    private RunLog(FileStream? file, string path, string? lastRow = null)
    {
        _file = file;
        _whole = file?.Length ?? 0;
        FilePath = path;
        LastRow = lastRow;
    }

    /// <summary>The log's file (empty for <see cref="Discard"/>).</summary>
    public string FilePath { get; }

    /// <summary>The last row in the file, as written (a continued log's last kept row until one is appended); null
    /// before the first row.</summary>
    public string? LastRow { get; private set; }

    /// <summary>
    /// True when the log at <paramref name="path"/> is the one whose last row, when a checkpoint of step <paramref
    /// name="step"/> was saved, read <paramref name="row"/> (<see cref="RunIdentity.LastLogRowKey"/>): it has a line
    /// that reads exactly that, or, for an empty <paramref name="row"/> (no row yet), no row up to that step.
    /// </summary>
    public static bool HoldsLastRow(string path, string row, int step)
    {
        try
        {
            var rows = File.ReadLines(path).Skip(1);
            return row.Length > 0 ? rows.Contains(row) : !rows.Any(l => RowStep(l) <= step);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UsageException($"--log {path}: {e.Message}");
        }
    }

    /// <summary>
    /// Refuses (as a <see cref="UsageException"/>) a fresh run whose log file already holds rows;
    /// call before anything changes.
    /// </summary>
    public static void CheckFresh(string path)
    {
        // A dangling link, or a loop of links, would read as a log with rows.
        if (FileChecks.BrokenLink(path) is { } broken)
            throw new UsageException($"--log {path} is {broken}; give the log a path of its own.");
        if (File.Exists(path) && HoldsOnlyAHeader(path))
            throw new UsageException(
                $"--log {path} holds only a log's header: a run that stopped before its first report, or one "
                    + "starting now. If none is running, remove the file and run again; or give another --log."
            );
        if (File.Exists(path) && new FileInfo(path).Length > 0)
            throw new UsageException(
                $"--log {path} already holds a run's rows; give another --log, remove the file, "
                    + "or continue that run with --resume CHECKPOINT."
            );
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && !Directory.Exists(folder))
            throw new UsageException($"--log {path}: the folder {folder} does not exist.");
    }

    // A run killed before its first report leaves a log of one header line, and so does a run that is starting now:
    // no file lock tells the two apart (.NET takes none for a file opened to write and shared for reading), so such a
    // log is refused too, saying what it may be (before, the advice was to resume a checkpoint that may not exist).
    private static bool HoldsOnlyAHeader(string path)
    {
        try
        {
            // A device reports no length (/dev/zero would never end): only a short regular file is read, and only
            // its first bytes.
            if (new FileInfo(path).Length is 0 or > 256)
                return false;
            var start = new byte[257];
            int read;
            using (var file = File.OpenRead(path))
                read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
            string text = System.Text.Encoding.UTF8.GetString(start, 0, read);
            return read < start.Length
                && text.TrimEnd('\r', '\n') is GptHeader or LegacyGptHeader or ClassifierHeader
                && text.Count(c => c == '\n') <= 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The header of <c>train gpt</c>'s log.</summary>
    public const string GptHeader = "step,batch_loss,train_loss,test_loss,ms_per_step,test_accuracy";

    /// <summary>
    /// The header of <c>train gpt</c>'s log before the <c>test_accuracy</c> column was appended: a run begun then
    /// continues its log with the column, empty in the older rows. No other header is taken for another: a log is
    /// continued only by the run that wrote it.
    /// </summary>
    public const string LegacyGptHeader = "step,batch_loss,train_loss,test_loss,ms_per_step";

    /// <summary>The header of <c>train mlp|resmlp|rescnn</c>'s log.</summary>
    public const string ClassifierHeader = "step,batch_loss,ms_per_step";

    /// <summary>
    /// Opens the log: fresh (header written), or for a run resumed at <paramref name="resumedStep"/>,
    /// the existing rows up to that step (the file is rewritten atomically) followed by new ones. The existing header
    /// must be <paramref name="header"/>, or <see cref="LegacyGptHeader"/> when it is <see cref="GptHeader"/> (the
    /// log then gains the appended column, empty in its older rows); any other is refused.
    /// </summary>
    public static RunLog Open(string path, string header, int? resumedStep)
    {
        try
        {
            return OpenOrThrow(path, header, resumedStep);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new UsageException($"--log {path}: {e.Message}");
        }
    }

    private static RunLog OpenOrThrow(string path, string header, int? resumedStep)
    {
        if (resumedStep is int step && File.Exists(path))
        {
            var lines = File.ReadAllLines(path);
            string found = lines.Length > 0 ? lines[0] : "";
            string padding =
                found == LegacyGptHeader && header == GptHeader
                    ? new string(',', header.Count(c => c == ',') - found.Count(c => c == ','))
                    : "";
            if (found != header && padding.Length == 0)
                throw new UsageException(
                    $"--log {path} is not this run's log: its header is '{found}', this run writes '{header}'; "
                        + "give another --log."
                );
            int fields = found.Count(c => c == ',');
            var rows = lines
                .Skip(1)
                .Where(l => RowStep(l) is int s && s <= step && l.Count(c => c == ',') == fields)
                .Select(l => l + padding);
            var kept = rows.Prepend(header).ToList();
            string temp = path + ".resume.tmp";
            File.WriteAllLines(temp, kept);
            File.Move(temp, path, overwrite: true);
            var continued = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read, bufferSize: 0);
            continued.Seek(0, SeekOrigin.End);
            return new RunLog(continued, path, kept.Count > 1 ? kept[^1] : null);
        }
        var log = new RunLog(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 0), path);
        try
        {
            log.Write(header);
        }
        catch
        {
            log.Dispose();
            throw;
        }
        return log;
    }

    private static int? RowStep(string line) =>
        int.TryParse(line.Split(',')[0], NumberStyles.None, CultureInfo.InvariantCulture, out int step) ? step : null;

    /// <summary>A log that writes nothing (the ranks of a data-parallel run other than rank 0).</summary>
    public static RunLog Discard() => new(null, "");

    /// <summary>Appends one row. A failed write throws <see cref="IOException"/> after cutting the file back to its
    /// last whole row.</summary>
    public void Append(string row)
    {
        Write(row);
        LastRow = row;
    }

    // Writes one line (a row or the header), cut back off the file if the write fails.
    private void Write(string line)
    {
        if (_file is null)
            return;
        var bytes = System.Text.Encoding.UTF8.GetBytes(line + "\n");
        try
        {
            _file.Write(bytes);
            _whole += bytes.Length;
        }
        catch (IOException)
        {
            try
            {
                _file.SetLength(_whole);
                _file.Seek(_whole, SeekOrigin.Begin);
            }
            catch (Exception e) when (e is IOException or NotSupportedException) { } // a device such as /dev/full
            throw;
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file?.Dispose();
}
