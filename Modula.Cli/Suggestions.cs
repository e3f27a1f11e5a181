namespace Modula.Cli;

/// <summary>"Did you mean …?" for mistyped commands and options: the closest known word by edit distance.</summary>
public static class Suggestions
{
    /// <summary>
    /// The candidate nearest to <paramref name="typed"/> when it is close enough to be a typo (at most
    /// one edit for words up to 4 letters, two up to 8, three beyond; a swap of neighbours is one
    /// edit), else null. Ties go to the earlier candidate.
    /// </summary>
    public static string? Closest(string typed, IEnumerable<string> candidates)
    {
        int allowed =
            typed.Length <= 4 ? 1
            : typed.Length <= 8 ? 2
            : 3;
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            int d = Distance(typed, candidate);
            if (d < bestDistance)
                (best, bestDistance) = (candidate, d);
        }
        return bestDistance <= allowed ? best : null;
    }

    /// <summary>" Did you mean 'x'?" for the closest candidate, or an empty string.</summary>
    public static string DidYouMean(string typed, IEnumerable<string> candidates, string prefix = "") =>
        Closest(typed, candidates) is { } match ? $" Did you mean '{prefix}{match}'?" : "";

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
            d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++)
            d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        for (int j = 1; j <= b.Length; j++)
        {
            int cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
            d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
        }
        return d[a.Length, b.Length];
    }
}
