namespace Modula.Data;

/// <summary>
/// A character-level corpus: the vocabulary is the sorted set of distinct characters, the
/// tokens are their indices, and the first <see cref="TrainFraction"/> of the tokens train.
/// </summary>
public sealed class TextCorpus
{
    /// <summary>Share of the tokens used for training (the rest is held out).</summary>
    public const double TrainFraction = 0.9;

    /// <summary>Builds the corpus from <paramref name="text"/>.</summary>
    public TextCorpus(string text)
    {
        if (text.Length < 2)
            throw new DataException("the text corpus is empty.");
        Vocabulary = new string(text.Distinct().Order().ToArray());
        var index = Vocabulary.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
        var tokens = text.Select(c => index[c]).ToArray();
        int split = (int)(tokens.Length * TrainFraction);
        Train = tokens[..split];
        Test = tokens[split..];
    }

    /// <summary>Reads a UTF-8 text file; bytes that are not UTF-8 are a <see cref="DataException"/>, never
    /// replaced.</summary>
    public static TextCorpus Load(string path)
    {
        try
        {
            // UTF-8 only: a UTF-8 byte-order mark is skipped, other marks are not taken as another encoding.
            var bytes = File.ReadAllBytes(path).AsSpan();
            if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
                bytes = bytes[3..];
            return new(new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes));
        }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new DataException($"{path} is not UTF-8 text ({e.Message})");
        }
    }

    /// <summary>The distinct characters in sorted order; a token is an index into this string.</summary>
    public string Vocabulary { get; }

    /// <summary>Training tokens (the first 90 %).</summary>
    public int[] Train { get; }

    /// <summary>Held-out tokens (the last 10 %).</summary>
    public int[] Test { get; }

    /// <summary>SHA-256 (hex) of the vocabulary and tokens: identifies the data a run was trained on.</summary>
    public string Fingerprint => _fingerprint ??= Fingerprinted();

    private string Fingerprinted()
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(
            System.Security.Cryptography.HashAlgorithmName.SHA256
        );
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Vocabulary));
        hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Train.AsSpan()));
        hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Test.AsSpan()));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private string? _fingerprint;

    /// <summary>Tokens of <paramref name="text"/>; characters outside the vocabulary are an error.</summary>
    public int[] Encode(string text) =>
        text.Select(c =>
                Vocabulary.IndexOf(c) is int i and >= 0
                    ? i
                    : throw new ArgumentException($"character '{c}' is not in the corpus vocabulary.")
            )
            .ToArray();

    /// <summary>The text of <paramref name="tokens"/>.</summary>
    public string Decode(IEnumerable<int> tokens) => new(tokens.Select(t => Vocabulary[t]).ToArray());
}
