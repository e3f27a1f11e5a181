using System.Diagnostics;
using System.Globalization;
using Modula.Optim;

namespace Modula.Cli.Training;

/// <summary>
/// Writes a run's checkpoints to one path: each snapshot is taken on the training thread (a host
/// copy) and written atomically on a background thread while training goes on, at most one write
/// at a time. With <c>keep</c> &gt; 0 the last <c>keep</c> checkpoints also stay as
/// <c>NAME.step-NNNNNNN.EXT</c> beside it. A failed write (disk full, unwritable folder) leaves the
/// previous checkpoint in place and is reported in one line; the next interval tries again.
/// </summary>
public sealed class CheckpointWriter : IDisposable
{
    private readonly string _path;
    private readonly int _keep;
    private readonly TextWriter _output;
    private readonly SafeTensorsWriteOptions? _options;
    private Task? _writing;
    private Task? _lastWrite; // the newest write, kept for a signal's thread (Wait clears _writing)
    private volatile bool _stopping; // set by StopAtOnce: no new file is begun
    private int _writingStep;
    private readonly int _horizon;
    private readonly Dictionary<string, byte[]> _buffers = new(StringComparer.Ordinal); // reused by every snapshot

    /// <summary>The step of the last snapshot handed to a write (successful or not), null before the first.</summary>
    public int? AttemptedStep { get; private set; }

    /// <summary>Writes that failed.</summary>
    public int Failures { get; private set; }

    /// <summary>A writer for <paramref name="path"/>; <paramref name="savedStep"/> is the step the file already holds
    /// (resumed runs).</summary>
    public CheckpointWriter(
        string path,
        int keep,
        TextWriter output,
        int? savedStep = null,
        SafeTensorsWriteOptions? options = null,
        int horizon = int.MaxValue
    )
    {
        _horizon = horizon;
        _path = Path.GetFullPath(path);
        _keep = keep;
        _output = output;
        _options = options;
        SavedStep = savedStep;
        _onDisk = savedStep ?? -1;
    }

    /// <summary>The checkpoint's full path.</summary>
    public string FullPath => _path;

    /// <summary>The step of the newest checkpoint written (or found at the start), null when none; a write in the
    /// background counts once <see cref="Wait"/> has seen it end (see <see cref="StepOnDisk"/>).</summary>
    public int? SavedStep { get; private set; }

    // The step the file holds, set by the background write as soon as its rename lands: a signal's thread reads it.
    private int _onDisk;

    /// <summary>The step the checkpoint file holds now, null when none: unlike <see cref="SavedStep"/>, it counts a
    /// background write as soon as it lands, and it may be read from any thread.</summary>
    public int? StepOnDisk => Volatile.Read(ref _onDisk) is var step and >= 0 ? step : null;

    /// <summary>The message of the last failed write, null when the last write succeeded.</summary>
    public string? LastFailure { get; private set; }

    /// <summary>Milliseconds each snapshot took on the training thread.</summary>
    public List<double> CaptureMs { get; } = [];

    /// <summary>Milliseconds each background write took (file write, flush to disk and rename).</summary>
    public List<double> WriteMs { get; } = [];

    /// <summary>
    /// Removes temporary files that an earlier, killed save of this checkpoint or of one of its kept copies left
    /// behind (those of processes no longer running); returns how many.
    /// </summary>
    public int RemoveStrayTemps()
    {
        int removed = 0;
        foreach (var (file, pid) in Temps())
        {
            if (pid is int id && IsRunning(id))
                continue;
            try
            {
                File.Delete(file);
                removed++;
                _output.WriteLine($"removed {file}, left by an interrupted save");
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>Deletes this process's temporary files at once (on a second interrupt, just before the process
    /// ends).</summary>
    public void DeleteOwnTemps()
    {
        try
        {
            foreach (var (file, pid) in Temps())
                if (pid == Environment.ProcessId)
                    File.Delete(file);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// The temporary files of saves of this checkpoint and of its kept copies (<c>.NAME.PID.ID.tmp</c>, NAME the
    /// checkpoint's or a kept copy's file name), with the process id each names (null when it names none).
    /// </summary>
    private List<(string File, int? ProcessId)> Temps()
    {
        string directory = Path.GetDirectoryName(_path)!;
        if (!Directory.Exists(directory))
            return [];
        var temps = new List<(string, int?)>();
        foreach (var file in Directory.EnumerateFiles(directory, $".{Path.GetFileNameWithoutExtension(_path)}*.tmp"))
        {
            var parts = Path.GetFileName(file)[1..^".tmp".Length].Split('.');
            if (parts.Length < 3)
                continue;
            string written = Path.Combine(directory, string.Join('.', parts[..^2]));
            if (written != _path && !IsSnapshot(written, _path))
                continue; // another file's temp
            bool named = int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out int pid);
            temps.Add((file, named ? pid : null));
        }
        return temps;
    }

    /// <summary>
    /// Refuses (as a <see cref="UsageException"/> naming <paramref name="flag"/>) a <paramref name="path"/> in whose
    /// folder no file can be created, by creating and deleting a temporary file there: a read-only folder was found
    /// only at the first save, after an interval's training, and every later save failed too.
    /// </summary>
    public static void CheckWritable(string path, string flag)
    {
        string full = Path.GetFullPath(path),
            folder = Path.GetDirectoryName(full)!;
        string probe = Path.Combine(folder, SafeTensors.TempName(full, Environment.ProcessId, Guid.NewGuid()));
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(
                $"{flag} {path}: cannot create a file in its folder {folder} ({WhyNotCreated(e, probe)})."
            );
        }
    }

    /// <summary>Why a file or folder could not be created, in a few words for a usage error; <paramref name="probe"/>
    /// (a temporary name the user never gave) is not repeated.</summary>
    internal static string WhyNotCreated(Exception e, string? probe = null) =>
        e switch
        {
            UnauthorizedAccessException => "no permission",
            FileNotFoundException or DirectoryNotFoundException => "its file system takes nothing new there", // /proc
            _ => probe is null ? e.Message : e.Message.Replace(probe, "a new file"),
        };

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId)
            return true;
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Snapshots <paramref name="trainer"/> now and writes it in the background (after the previous write
    /// ends).</summary>
    public void Save(Trainer trainer, IReadOnlyDictionary<string, string> metadata)
    {
        Wait();
        if (_stopping)
            return; // the process is ending (StopAtOnce): no snapshot to take
        var clock = Stopwatch.StartNew();
        // the previous write has ended: its buffers are free
        var snapshot = Checkpoint.Capture(trainer, metadata, _buffers);
        CaptureMs.Add(clock.Elapsed.TotalMilliseconds);
        _writingStep = snapshot.Step;
        AttemptedStep = snapshot.Step;
        _writing = Task.Run(() => Write(snapshot));
        Volatile.Write(ref _lastWrite, _writing);
    }

    /// <summary>
    /// For a second signal, whose handler the process ends after: no save begins another file, the write in flight
    /// gets up to <paramref name="wait"/> to land, and this process's temporary files are deleted. A file the write
    /// had begun but not renamed is then gone, and none is begun after it (the write checks between its files); the
    /// checkpoint holds the step <see cref="StepOnDisk"/> gives.
    /// </summary>
    public void StopAtOnce(TimeSpan wait)
    {
        _stopping = true;
        try
        {
            Volatile.Read(ref _lastWrite)?.Wait(wait);
        }
        catch (AggregateException) { } // a failed write leaves its temp to DeleteOwnTemps
        DeleteOwnTemps();
    }

    /// <summary>Waits for the write in flight; true when every write so far ended with the file on disk.</summary>
    public bool Wait()
    {
        if (_writing is null)
            return LastFailure is null;
        try
        {
            _writing.Wait();
            SavedStep = _writingStep;
            LastFailure = null;
        }
        catch (AggregateException e) when (e.InnerException is IOException or UnauthorizedAccessException)
        {
            LastFailure = e.InnerException.Message;
            Failures++;
            string kept = SavedStep is int s ? $"{_path} still holds step {s}" : "no earlier checkpoint exists";
            string next = _writingStep < _horizon ? "; training goes on and the next checkpoint tries again" : "";
            _output.WriteLine($"checkpoint of step {_writingStep} not saved ({LastFailure}); {kept}{next}");
        }
        _writing = null;
        return LastFailure is null;
    }

    private void Write(CheckpointSnapshot snapshot)
    {
        var clock = Stopwatch.StartNew();
        if (_keep > 0)
        {
            if (_stopping)
                return;
            snapshot.Write(StepPath(snapshot.Step), _options);
            RemoveOldSteps();
        }
        if (_stopping)
            return;
        snapshot.Write(_path, _options);
        Volatile.Write(ref _onDisk, snapshot.Step);
        lock (WriteMs)
            WriteMs.Add(clock.Elapsed.TotalMilliseconds);
    }

    /// <summary>Where the copy of step <paramref name="step"/> is kept (with <c>keep</c> &gt; 0).</summary>
    public string StepPath(int step) => StepPath(_path, step);

    private static string StepPath(string path, int step) =>
        Path.Combine(
            Path.GetDirectoryName(path)!,
            string.Create(
                CultureInfo.InvariantCulture,
                $"{Path.GetFileNameWithoutExtension(path)}.step-{step:D7}{Path.GetExtension(path)}"
            )
        );

    /// <summary>The most bytes a file name may hold on Linux and macOS file systems (NAME_MAX).</summary>
    public const int MaxNameBytes = 255;

    // The largest process id Linux gives (pid_max is at most 4,194,304) has 7 digits, as has this process's.
    private const int LongestProcessId = 9_999_999;

    /// <summary>
    /// The bytes of the longest file name a writer for <paramref name="path"/> may create in a run of <paramref
    /// name="horizon"/> steps keeping <paramref name="keep"/> copies: the temporary file of a kept copy (with
    /// <paramref name="keep"/> &gt; 0) or of the checkpoint, for any process id. A run checks it against <see
    /// cref="MaxNameBytes"/> before training, since the first save would otherwise fail only after an interval's work.
    /// </summary>
    public static int LongestNameBytes(string path, int keep, int horizon)
    {
        string full = Path.GetFullPath(path),
            written = keep > 0 ? StepPath(full, horizon) : full;
        int processId = Math.Max(LongestProcessId, Environment.ProcessId);
        return System.Text.Encoding.UTF8.GetByteCount(SafeTensors.TempName(written, processId, Guid.Empty));
    }

    /// <summary>The kept copies (<c>NAME.step-NNNNNNN.EXT</c>) beside the checkpoint <paramref name="path"/>, oldest
    /// first; none when its folder does not exist.</summary>
    public static List<string> Snapshots(string path)
    {
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
            return [];
        string prefix = $"{Path.GetFileNameWithoutExtension(full)}.step-",
            extension = Path.GetExtension(full);
        // By step, not by name: past step 9,999,999 the step has more digits, and "step-10000000" sorts by name before
        // "step-9999999". A name whose step is no number sorts last, so it is the last deleted.
        long StepOf(string file)
        {
            string name = Path.GetFileName(file);
            return long.TryParse(
                name.AsSpan(prefix.Length, name.Length - prefix.Length - extension.Length),
                NumberStyles.None,
                CultureInfo.InvariantCulture,
                out long step
            )
                ? step
                : long.MaxValue;
        }
        return Directory
            .EnumerateFiles(directory, prefix + "*" + extension)
            .OrderBy(StepOf)
            .ThenBy(f => f, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>True when <paramref name="path"/> is named as a kept copy of the checkpoint <paramref
    /// name="checkpoint"/> (<c>NAME.step-NNNNNNN.EXT</c> in its folder).</summary>
    public static bool IsSnapshot(string path, string checkpoint)
    {
        string full = Path.GetFullPath(path),
            of = Path.GetFullPath(checkpoint);
        string name = Path.GetFileName(full),
            prefix = $"{Path.GetFileNameWithoutExtension(of)}.step-",
            extension = Path.GetExtension(of);
        return Path.GetDirectoryName(full) == Path.GetDirectoryName(of)
            && name.StartsWith(prefix, StringComparison.Ordinal)
            && name.EndsWith(extension, StringComparison.Ordinal)
            && name.Length > prefix.Length + extension.Length;
    }

    private void RemoveOldSteps()
    {
        var old = Snapshots(_path);
        foreach (var file in old.Take(Math.Max(0, old.Count - _keep)))
            File.Delete(file);
    }

    /// <summary>Waits for the write in flight.</summary>
    public void Dispose() => Wait();
}
