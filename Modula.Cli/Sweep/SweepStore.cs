using System.Text;
using Modula.Optim;
using Modula.Tensors;

namespace Modula.Cli.Sweep;

/// <summary>
/// The sweep's CSV file, one row per finished cell. Opening an existing file reads its rows so
/// finished cells are not run again; rows are appended and flushed as cells finish (safe to call
/// from several threads), so an interrupted sweep loses at most the cells in flight. A
/// half-written last line is not read, and a store that will write cuts it off the file, so its
/// cell runs again. A new file (and its folder) is written with the first row, so a sweep that
/// fails before any cell finishes (missing data, a bad device) leaves nothing.
/// </summary>
public sealed class SweepStore
{
    private readonly string _path;
    private readonly object _gate = new();
    private readonly Dictionary<SweepCell, SweepResult> _results = new();

    private readonly bool _readOnly;
    private bool _hasHeader;

    /// <summary>Opens the CSV at <paramref name="path"/>, or prepares to create it with the first row. An empty file
    /// (its first write failed) is taken as new, and so is a path that reports no size (a pipe or a device, which
    /// would never end or never begin). A store opened only to read (<paramref name="readOnly"/>, for a report)
    /// leaves the file as it is, so a sweep appending to it meanwhile is not disturbed.</summary>
    public SweepStore(string path, bool readOnly = false)
    {
        _path = path;
        _readOnly = readOnly;
        if (!File.Exists(path) || FileChecks.ReportsNoSize(path))
            return;
        // One read decides both the rows and whether the last one is whole, so a row a running sweep completes
        // meanwhile cannot be taken whole when it was read cut short; the same bytes say where to cut it.
        byte[] bytes = File.ReadAllBytes(path);
        int bom = bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble) ? Encoding.UTF8.Preamble.Length : 0;
        string text = Encoding.UTF8.GetString(bytes, bom, bytes.Length - bom);
        _hasHeader = true;
        // After a final newline the last part is empty; without one it is a row an interrupted run was writing.
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        if (lines[0] != SweepResult.CsvHeader)
            throw new InvalidDataException(
                $"{path} is not a sweep CSV (its header is '{lines[0]}', expected '{SweepResult.CsvHeader}')."
            );
        foreach (var line in lines.Skip(1).SkipLast(1))
            if (SweepResult.TryParse(line) is { } r)
                _results[r.Cell] = r;
        // A row cut short may parse with a number cut short, so it is not read, and it is cut off the file so that
        // its cell runs again. (A header without its newline is whole, as it matched: it gets its newline.)
        if (bytes[^1] == '\n' || readOnly)
            return;
        if (lines.Length == 1)
            File.AppendAllText(path, "\n");
        else
            using (var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.Read))
            {
                file.SetLength(Array.LastIndexOf(bytes, (byte)'\n') + 1);
                file.Flush(flushToDisk: true);
            }
    }

    /// <summary>Every finished cell.</summary>
    public IReadOnlyList<SweepResult> Results
    {
        get
        {
            lock (_gate)
                return _results.Values.ToList();
        }
    }

    /// <summary>True when <paramref name="cell"/> has a row.</summary>
    public bool Contains(SweepCell cell)
    {
        lock (_gate)
            return _results.ContainsKey(cell);
    }

    /// <summary>Records a finished cell and appends its row to the file (not on a store opened to read).</summary>
    public void Add(SweepResult result)
    {
        if (_readOnly)
            throw new InvalidOperationException($"SweepStore: {_path} was opened to read; it takes no rows.");
        lock (_gate)
        {
            if (!_hasHeader)
            {
                // The header and the first row appear together or not at all (a full disk leaves no headless file).
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_path))!);
                string temp = $"{_path}.{Environment.ProcessId}.tmp";
                try
                {
                    File.WriteAllText(temp, SweepResult.CsvHeader + "\n" + result.ToCsv() + "\n");
                    File.Move(temp, _path, overwrite: true);
                }
                finally
                {
                    File.Delete(temp);
                }
                _hasHeader = true;
            }
            else
            {
                using var stream = new FileStream(_path, FileMode.Append, FileAccess.Write);
                var bytes = Encoding.UTF8.GetBytes(result.ToCsv() + "\n");
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            _results[result.Cell] = result;
        }
    }
}
