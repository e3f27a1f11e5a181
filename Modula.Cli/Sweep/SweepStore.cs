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
    /// (its first write failed) is taken as new. A store opened only to read (<paramref name="readOnly"/>, for a
    /// report) leaves the file as it is, so a sweep appending to it meanwhile is not disturbed.</summary>
    public SweepStore(string path, bool readOnly = false)
    {
        _path = path;
        _readOnly = readOnly;
        // One read decides both the rows and whether the last one is whole, so a row a running sweep completes
        // meanwhile cannot be taken whole when it was read cut short.
        string text = File.Exists(path) ? File.ReadAllText(path) : "";
        if (text.Length == 0)
            return;
        _hasHeader = true;
        // After a final newline the last part is empty; without one it is a row an interrupted run was writing.
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        if (lines[0] != SweepResult.CsvHeader)
            throw new InvalidDataException(
                $"{path} is not a sweep CSV (its header is '{lines[0]}', expected '{SweepResult.CsvHeader}')."
            );
        // A row cut short may parse with a number cut short, so it is not read, and it is cut off the file so that
        // its cell runs again. (A header without its newline is whole, as it matched: it gets its newline.)
        bool cutShort = text[^1] != '\n';
        foreach (var line in lines.Skip(1).SkipLast(1))
            if (SweepResult.TryParse(line) is { } r)
                _results[r.Cell] = r;
        if (cutShort && !readOnly)
        {
            if (lines.Length == 1)
                File.AppendAllText(path, "\n");
            else
                TruncateAfterLastNewline(path);
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
                var bytes = System.Text.Encoding.UTF8.GetBytes(result.ToCsv() + "\n");
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            _results[result.Cell] = result;
        }
    }

    // Cuts the file after its last newline, found by reading back from its end a block at a time.
    private static void TruncateAfterLastNewline(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var block = new byte[4096];
        for (long end = file.Length; end > 0; )
        {
            int size = (int)Math.Min(block.Length, end);
            file.Seek(end - size, SeekOrigin.Begin);
            file.ReadExactly(block, 0, size);
            int newline = Array.LastIndexOf(block, (byte)'\n', size - 1, size);
            if (newline >= 0)
            {
                file.SetLength(end - size + newline + 1);
                file.Flush(flushToDisk: true);
                return;
            }
            end -= size;
        }
    }
}
