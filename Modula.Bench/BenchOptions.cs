using System.Diagnostics;
using System.Globalization;

namespace Modula.Bench;

/// <summary>C[m × n] = A·B over depth k; A stored as [k, m] when TransposeA, B as [n, k] when TransposeB.</summary>
internal readonly record struct GemmShape(int M, int N, int K, bool TransposeA, bool TransposeB)
{
    public override string ToString() => $"m={M} n={N} k={K}{(TransposeA ? " Aᵀ" : "")}{(TransposeB ? " Bᵀ" : "")}";
}

/// <summary>
/// What the timing commands of Modula.Bench share: their options (<c>--name value</c> pairs), a product's shape,
/// and the clock and quantile they report with. Each problem is written to standard error after the command's
/// name, and the parser returns null.
/// </summary>
internal static class BenchOptions
{
    /// <summary>The options given, each one of <paramref name="options"/>, once and with a value, or null (with a
    /// message).</summary>
    public static Dictionary<string, string>? Parse(string command, string[] args, string[] options)
    {
        var given = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i += 2)
        {
            string name = args[i];
            string? problem =
                !options.Contains(name) ? $"unknown option '{name}'; options: {string.Join(", ", options)}"
                : i + 1 >= args.Length ? $"{name} needs a value"
                : given.ContainsKey(name) ? $"{name} given twice"
                : null;
            if (problem is not null)
            {
                Console.Error.WriteLine($"{command}: {problem}.");
                return null;
            }
            given[name] = args[i + 1];
        }
        return given;
    }

    /// <summary>The positive integer given for <paramref name="name"/>, <paramref name="otherwise"/> when absent,
    /// or null (with a message) when it is not one.</summary>
    public static int? Positive(string command, Dictionary<string, string> given, string name, int otherwise)
    {
        if (!given.TryGetValue(name, out string? text))
            return otherwise;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0)
            return value;
        Console.Error.WriteLine($"{command}: {name} expects a positive integer, got '{text}'.");
        return null;
    }

    /// <summary>"MxNxK" with ":At" and/or ":Bt" after it, or null (with a message).</summary>
    public static GemmShape? ParseShape(string command, string text)
    {
        var parts = text.Split(':');
        var sizes = parts[0].Split('x');
        var flags = parts[1..];
        if (
            sizes.Length == 3
            && sizes.All(d => int.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0)
            && flags.All(f => f is "At" or "Bt")
            && flags.Distinct().Count() == flags.Length
        )
        {
            int[] d = [.. sizes.Select(x => int.Parse(x, CultureInfo.InvariantCulture))];
            if (
                (long)d[0] * d[1] > int.MaxValue
                || (long)d[0] * d[2] > int.MaxValue
                || (long)d[2] * d[1] > int.MaxValue
            )
            {
                Console.Error.WriteLine($"{command}: --shape {text}: a matrix of more than 2³¹ − 1 floats.");
                return null;
            }
            return new GemmShape(d[0], d[1], d[2], flags.Contains("At"), flags.Contains("Bt"));
        }
        Console.Error.WriteLine($"{command}: --shape expects MxNxK with optional :At and :Bt, got '{text}'.");
        return null;
    }

    /// <summary>Seconds per call of <paramref name="run"/>, over <paramref name="count"/> calls.</summary>
    public static double Seconds(Action run, int count)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
            run();
        return clock.Elapsed.TotalSeconds / count;
    }

    /// <summary>The value at fraction <paramref name="p"/> of the way through the sorted values, between neighbours
    /// by linear interpolation.</summary>
    public static double Quantile(IReadOnlyList<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        double at = p * (sorted.Length - 1);
        int low = (int)at,
            high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (at - low) * (sorted[high] - sorted[low]);
    }
}
