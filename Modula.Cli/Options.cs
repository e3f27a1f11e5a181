namespace Modula.Cli;

/// <summary>
/// Parses <c>--name value</c> (or <c>--name=value</c>) options against a declared set, so a
/// mistyped option is an error that names it instead of being silently ignored.
/// </summary>
public sealed class Options
{
    private readonly Dictionary<string, string> _values = new();

    /// <summary>Parses <paramref name="args"/> against the option names in <paramref name="known"/> and the value-less <paramref name="flags"/>.</summary>
    public Options(string[] args, IEnumerable<string> known, IEnumerable<string>? flags = null)
    {
        var takesValue = known.ToHashSet();
        var switches = (flags ?? []).ToHashSet();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--")) throw new UsageException($"unexpected argument '{a}'.");
            string name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) (name, inline) = (name[..eq], name[(eq + 1)..]);
            if (switches.Contains(name) && inline is null) { _values[name] = "true"; continue; }
            if (!takesValue.Contains(name))
                throw new UsageException($"unknown option '--{name}'. Known: {string.Join(", ", takesValue.Concat(switches).Select(o => "--" + o))}.");
            if (inline is null)
            {
                if (i + 1 >= args.Length) throw new UsageException($"option '--{name}' needs a value.");
                inline = args[++i];
            }
            _values[name] = inline;
        }
    }

    /// <summary>A string option or its default.</summary>
    public string Get(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>An integer option or its default; a malformed value is a usage error.</summary>
    public int GetInt(string name, int fallback) =>
        !_values.TryGetValue(name, out var v) ? fallback
        : int.TryParse(v, out var i) ? i : throw new UsageException($"option '--{name}' expects an integer, got '{v}'.");

    /// <summary>A positive integer option or its default; zero, negative or malformed values are usage errors.</summary>
    public int GetPositiveInt(string name, int fallback)
    {
        int value = GetInt(name, fallback);
        return value > 0 ? value : throw new UsageException($"--{name} must be positive, got {value}.");
    }

    /// <summary>A floating-point option or its default; a malformed value is a usage error.</summary>
    public double GetDouble(string name, double fallback) =>
        !_values.TryGetValue(name, out var v) ? fallback
        : double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) ? d
        : throw new UsageException($"option '--{name}' expects a number, got '{v}'.");

    /// <summary>
    /// A list of integers, comma separated ("32,64,128") or an inclusive range ("-6:1"), or its
    /// default; a malformed value is a usage error.
    /// </summary>
    public IReadOnlyList<int> GetInts(string name, IReadOnlyList<int> fallback)
    {
        if (!_values.TryGetValue(name, out var v)) return fallback;
        try
        {
            if (v.Split(':') is [var low, var high])
            {
                int a = int.Parse(low, System.Globalization.CultureInfo.InvariantCulture), b = int.Parse(high, System.Globalization.CultureInfo.InvariantCulture);
                if (b < a) throw new FormatException();
                return Enumerable.Range(a, b - a + 1).ToList();
            }
            return v.Split(',').Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        }
        catch (FormatException)
        {
            throw new UsageException($"option '--{name}' expects integers like 32,64,128 or a range like -6:1, got '{v}'.");
        }
    }

    /// <summary>True when the option was given.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    private Options(Dictionary<string, string> values) => _values = values;

    /// <summary>
    /// These options with <paramref name="defaults"/> filling in the ones not given (a resumed run
    /// takes its settings from its checkpoint this way); given options win.
    /// </summary>
    public Options WithDefaults(IReadOnlyDictionary<string, string> defaults)
    {
        var values = new Dictionary<string, string>(_values);
        foreach (var (name, value) in defaults) values.TryAdd(name, value);
        return new Options(values);
    }
}
