namespace Modula.Cli;

/// <summary>
/// Parses <c>--name value</c> (or <c>--name=value</c>) options against a declared set, so a
/// mistyped option is an error that names it instead of being silently ignored, as is an option
/// given twice, and an option whose value is missing: a value that starts with <c>--</c> is given
/// as <c>--name=--value</c>, or it would be taken for the next option.
/// </summary>
public sealed class Options
{
    private readonly Dictionary<string, string> _values = new();
    private readonly HashSet<string> _given; // the names on the command line, not filled in by WithDefaults

    /// <summary>Parses <paramref name="args"/> against the option names in <paramref name="known"/> and the value-less
    /// <paramref name="flags"/>.</summary>
    public Options(string[] args, IEnumerable<string> known, IEnumerable<string>? flags = null)
    {
        var takesValue = known.ToHashSet();
        var switches = (flags ?? []).ToHashSet();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--"))
                throw new UsageException($"unexpected argument '{a}'.");
            string name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
                (name, inline) = (name[..eq], name[(eq + 1)..]);
            // A second value would silently replace the first (a script that appends an override, a pasted line):
            // the run must not quietly use other settings than one of the two lines says.
            if (_values.ContainsKey(name))
                throw new UsageException($"option '--{name}' is given twice; give it once.");
            if (switches.Contains(name))
            {
                if (inline is not null)
                    throw new UsageException($"option '--{name}' takes no value; give '--{name}' alone.");
                _values[name] = "true";
                continue;
            }
            if (!takesValue.Contains(name))
            {
                var all = takesValue.Concat(switches).ToList();
                throw new UsageException(
                    $"unknown option '--{name}'.{Suggestions.DidYouMean(name, all, "--")}"
                        + $" Known: {string.Join(", ", all.Select(o => "--" + o))}."
                );
            }
            if (inline is null)
            {
                if (i + 1 >= args.Length)
                    throw new UsageException($"option '--{name}' needs a value.");
                // An option left without its value would take the next option as its value (`--log --no-download`
                // writing a file named --no-download, and not applying it): such a value must be given with '='.
                if (args[i + 1].StartsWith("--"))
                    throw new UsageException(
                        $"option '--{name}' needs a value, got the option '{args[i + 1]}'; "
                            + $"to give a value that starts with '--', write --{name}={args[i + 1]}."
                    );
                inline = args[++i];
            }
            _values[name] = inline;
        }
        _given = [.. _values.Keys];
    }

    /// <summary>A string option or its default.</summary>
    public string Get(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>An integer option or its default; a malformed value is a usage error.</summary>
    public int GetInt(string name, int fallback) =>
        !_values.TryGetValue(name, out var v) ? fallback
        : int.TryParse(v, out var i) ? i
        : throw new UsageException($"option '--{name}' expects an integer, got '{v}'.");

    /// <summary>A positive integer option or its default; zero, negative or malformed values are usage
    /// errors.</summary>
    public int GetPositiveInt(string name, int fallback)
    {
        int value = GetInt(name, fallback);
        return value > 0 ? value : throw new UsageException($"--{name} must be positive, got {value}.");
    }

    /// <summary>An integer option in [<paramref name="min"/>, <paramref name="max"/>] or its default; else a usage
    /// error.</summary>
    public int GetInt(string name, int fallback, int min, int max)
    {
        int value = GetInt(name, fallback);
        return value >= min && value <= max
            ? value
            : throw new UsageException($"--{name} must be in {min}..{max}, got {value}.");
    }

    /// <summary>
    /// A finite number accepted by <paramref name="valid"/> (described by <paramref name="rule"/>, e.g.
    /// "positive"), or its default; NaN, infinities and values outside the rule are usage errors.
    /// </summary>
    public double GetDouble(string name, double fallback, Func<double, bool> valid, string rule)
    {
        double value = GetDouble(name, fallback);
        // The value as given (1e-13, not 1E-13); a default outside the rule is printed as a number.
        string given = _values.TryGetValue(name, out var text)
            ? text
            : value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return double.IsFinite(value) && valid(value)
            ? value
            : throw new UsageException($"--{name} must be a finite number {rule}, got {given}.");
    }

    /// <summary>
    /// The device option (default cpu), checked for form only — cpu, ilgpu-cpu, cuda[:N] or opencl[:N] —
    /// so a misspelling is a usage error before any work; whether the device exists is known when it opens.
    /// </summary>
    public string GetDevice()
    {
        string device = Get("device", "cpu");
        return IsDeviceName(device)
            ? device
            : throw new UsageException($"unknown device '{device}'; use cpu, cuda[:N], opencl[:N] or ilgpu-cpu.");
    }

    /// <summary>True when <paramref name="device"/> has the form of a device: cpu, ilgpu-cpu, cuda[:N] or
    /// opencl[:N], in any case.</summary>
    public static bool IsDeviceName(string device)
    {
        string name = device.Trim().ToLowerInvariant();
        int colon = name.IndexOf(':');
        string kind = colon < 0 ? name : name[..colon];
        bool indexOk =
            colon < 0 || (kind is "cuda" or "opencl" && int.TryParse(name[(colon + 1)..], out int i) && i >= 0);
        return kind is "cpu" or "ilgpu-cpu" or "cuda" or "opencl" && indexOk;
    }

    /// <summary>True when <paramref name="path"/> can name a file: not empty, and free of characters no path may
    /// hold (NUL).</summary>
    public static bool IsPathText(string path) => path.Length > 0 && path.IndexOfAny(Path.GetInvalidPathChars()) < 0;

    /// <summary>
    /// A file to read: a folder is a usage error; a missing file is a <see cref="FileNotFoundException"/>
    /// (the command line's exit code 4, as for missing data).
    /// </summary>
    public string GetExistingFile(string name)
    {
        string path = GetPath(name, "");
        if (path.Length == 0)
            throw new UsageException($"--{name} is empty; give a file.");
        if (Directory.Exists(path))
            throw new UsageException($"--{name} {path} is a folder, not a file.");
        return File.Exists(path) ? path : throw new FileNotFoundException($"--{name} {path} does not exist.", path);
    }

    /// <summary>A folder to read: when given, it must exist (no silent fallback elsewhere); null when not
    /// given.</summary>
    public string? GetExistingDirectory(string name)
    {
        if (!Has(name))
            return null;
        string path = GetPath(name, "");
        return Directory.Exists(path) ? path : throw new UsageException($"--{name} {path} is not an existing folder.");
    }

    /// <summary>A file to write: its folder must exist and the path must not be a folder.</summary>
    public string GetOutputFile(string name, string fallback)
    {
        string path = GetPath(name, fallback);
        if (path.Length == 0 || Directory.Exists(path))
            throw new UsageException($"--{name} '{path}' is a folder or empty, not a file to write.");
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        return folder is null || Directory.Exists(folder)
            ? path
            : throw new UsageException($"--{name} {path}: the folder {folder} does not exist.");
    }

    /// <summary>A folder to write into (created later if missing): a usable path that is not a file.</summary>
    public string GetOutputFolder(string name, string fallback)
    {
        string path = GetPath(name, fallback);
        return path.Length > 0 && !File.Exists(path)
            ? path
            : throw new UsageException($"--{name} '{path}' is a file or empty, not a folder to write into.");
    }

    /// <summary>A path option or its default; characters no path may hold (NUL) are a usage error.</summary>
    private string GetPath(string name, string fallback)
    {
        string path = Get(name, fallback);
        return path.IndexOfAny(Path.GetInvalidPathChars()) < 0
            ? path
            : throw new UsageException($"--{name} holds a character no path may contain.");
    }

    /// <summary>A usage error when any of <paramref name="names"/> was given: they do not apply to <paramref
    /// name="what"/>.</summary>
    public void Reject(string what, params string[] names)
    {
        foreach (var name in names)
            if (Has(name))
                throw new UsageException($"--{name} does not apply to {what}.");
    }

    /// <summary>A floating-point option or its default; a malformed value is a usage error.</summary>
    public double GetDouble(string name, double fallback) =>
        !_values.TryGetValue(name, out var v) ? fallback
        : double.TryParse(
            v,
            System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture,
            out var d
        )
            ? d
        : throw new UsageException($"option '--{name}' expects a number, got '{v}'.");

    /// <summary>
    /// A list of integers, comma separated ("32,64,128") or an inclusive range ("-6:1"), or its
    /// default; a malformed value is a usage error.
    /// </summary>
    public IReadOnlyList<int> GetInts(string name, IReadOnlyList<int> fallback)
    {
        if (!_values.TryGetValue(name, out var v))
            return fallback;
        try
        {
            if (v.Split(':') is [var low, var high])
            {
                int a = int.Parse(low, System.Globalization.CultureInfo.InvariantCulture),
                    b = int.Parse(high, System.Globalization.CultureInfo.InvariantCulture);
                if (b < a)
                    throw new FormatException();
                if ((long)b - a >= MaxListLength)
                    throw new UsageException($"option '--{name}' range {v} has more than {MaxListLength} values.");
                return Enumerable.Range(a, b - a + 1).ToList();
            }
            return v.Split(',').Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new UsageException(
                $"option '--{name}' expects integers like 32,64,128 or a range like -6:1, got '{v}'."
            );
        }
    }

    /// <summary>The most values a list option may hold.</summary>
    public const int MaxListLength = 10_000;

    /// <summary>True when the option was given, or filled in by <see cref="WithDefaults"/>.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>True when the option was given on the command line, not filled in by <see cref="WithDefaults"/> (a
    /// resumed run's checkpoint records settings that its command line need not repeat).</summary>
    public bool IsGiven(string name) => _given.Contains(name);

    private Options(Dictionary<string, string> values, HashSet<string> given)
    {
        _values = values;
        _given = given;
    }

    /// <summary>
    /// These options with <paramref name="defaults"/> filling in the ones not given (a resumed run
    /// takes its settings from its checkpoint this way); given options win.
    /// </summary>
    public Options WithDefaults(IReadOnlyDictionary<string, string> defaults)
    {
        var values = new Dictionary<string, string>(_values);
        foreach (var (name, value) in defaults)
            values.TryAdd(name, value);
        return new Options(values, _given);
    }
}
