using System.Security.Cryptography;
using Modula.Tensors;

namespace Modula.Data;

/// <summary>A dataset file: where it lives under a data directory, its SHA-256, and where to download it.</summary>
/// <param name="RelativePath">Path under a data directory, e.g.
/// <c>fashion-mnist/train-labels-idx1-ubyte.gz</c>.</param>
/// <param name="Sha256">Expected SHA-256 (lower-case hex).</param>
/// <param name="Url">Canonical download address.</param>
/// <param name="SystemDirectory">A system-wide directory that may hold the file under its bare name (Debian's dataset
/// packages).</param>
public sealed record DataFile(string RelativePath, string Sha256, string Url, string? SystemDirectory = null)
{
    /// <summary>The file name without directories.</summary>
    public string FileName => Path.GetFileName(RelativePath);
}

/// <summary>A dataset file could not be found, verified or downloaded; the message lists where we looked and what to
/// do.</summary>
public sealed class DataException(string message) : Exception(message);

/// <summary>Finds dataset files: an explicit directory, <c>$MODULA_DATA</c>, <c>./data</c>, then a system directory;
/// downloads when allowed.</summary>
public static class DataFiles
{
    /// <summary>Karpathy's tinyshakespeare (1,115,394 bytes, 65 distinct characters).</summary>
    public static readonly DataFile Shakespeare = new(
        "tinyshakespeare.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    );

    private const string FashionUrl = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
    private const string FashionSystem = "/usr/share/datasets/fashion-mnist";

    /// <summary>The four Fashion-MNIST IDX files.</summary>
    public static readonly DataFile FashionTrainImages = new(
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        FashionUrl + "train-images-idx3-ubyte.gz",
        FashionSystem
    );

    /// <summary>Training labels.</summary>
    public static readonly DataFile FashionTrainLabels = new(
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        FashionUrl + "train-labels-idx1-ubyte.gz",
        FashionSystem
    );

    /// <summary>Test images.</summary>
    public static readonly DataFile FashionTestImages = new(
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        FashionUrl + "t10k-images-idx3-ubyte.gz",
        FashionSystem
    );

    /// <summary>Test labels.</summary>
    public static readonly DataFile FashionTestLabels = new(
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        FashionUrl + "t10k-labels-idx1-ubyte.gz",
        FashionSystem
    );

    /// <summary>
    /// The places searched for <paramref name="file"/>, in order: only the explicit directory when
    /// one is given (a file missing there is an error, not a silent fall-back to another copy).
    /// </summary>
    public static IEnumerable<string> Candidates(DataFile file, string? explicitDirectory)
    {
        if (explicitDirectory is not null)
        {
            yield return Path.Combine(explicitDirectory, file.RelativePath);
            yield return Path.Combine(explicitDirectory, file.FileName);
            yield break;
        }
        if (Environment.GetEnvironmentVariable("MODULA_DATA") is { Length: > 0 } env)
            yield return Path.Combine(env, file.RelativePath);
        yield return Path.Combine("data", file.RelativePath);
        if (file.SystemDirectory is not null)
            yield return Path.Combine(file.SystemDirectory, file.FileName);
    }

    /// <summary>
    /// The path of a verified copy of <paramref name="file"/>. When none exists and
    /// <paramref name="download"/> is set, fetches it into <c>./data</c> or the explicit directory
    /// (temporary file, checksum, rename). Otherwise throws a <see cref="DataException"/> saying where it looked.
    /// </summary>
    public static string Locate(DataFile file, string? explicitDirectory, bool download, TextWriter log)
    {
        var looked = Candidates(file, explicitDirectory).ToList();
        foreach (var path in looked.Where(File.Exists))
        {
            if (FileChecks.BrokenLink(path) is { } broken)
                throw new DataException(
                    $"{path} is {broken}, not the data file {file.FileName}. Remove it and fetch {file.Url} again."
                );
            // Before hashing: a named pipe would wait for a writer, a device such as /dev/zero would never end.
            if (FileChecks.ReportsNoSize(path))
                throw new DataException(
                    $"{path} is empty, or a device or pipe, not the data file {file.FileName}. Remove it and fetch "
                        + $"{file.Url} again."
                );
            string actual = Sha256Of(path);
            if (actual == file.Sha256)
                return path;
            throw new DataException(
                $"{path} is corrupt: SHA-256 {actual}, expected {file.Sha256}. Delete it and fetch {file.Url} again."
            );
        }
        string target = Path.Combine(explicitDirectory ?? "data", file.RelativePath);
        string? failure = null;
        if (download)
        {
            try
            {
                log.WriteLine($"downloading {file.Url} → {target}");
                Download(file, target);
                return target;
            }
            catch (Exception e)
                when (e is HttpRequestException or IOException or TaskCanceledException or DataException)
            {
                failure = e.Message;
            }
        }
        throw new DataException(
            $"""
            cannot find {file.RelativePath}. Looked in:
              {string.Join("\n  ", looked.Select(p => Directory.Exists(p) ? $"{p} (a folder, not the file)" : p))}
            {(download ? $"Downloading {file.Url} failed: {failure}" : "Downloading is off (--no-download).")}
            Get it from {file.Url} into ./data/{file.RelativePath},
            or point --data or MODULA_DATA at a directory that holds it.
            """
        );
    }

    private static void Download(DataFile file, string target)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(target))!;
        string temp = target + $".{Environment.ProcessId}.part";
        var created = new List<string>();
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(120) };
            // Connect before touching the disk: without a network no folder is created.
            using var source = http.GetStreamAsync(file.Url).GetAwaiter().GetResult();
            for (var d = new DirectoryInfo(folder); d is not null && !d.Exists; d = d.Parent)
                created.Add(d.FullName);
            Directory.CreateDirectory(folder);
            using (var sink = File.Create(temp))
                source.CopyTo(sink);
            string actual = Sha256Of(temp);
            if (actual != file.Sha256)
                throw new DataException($"downloaded data has SHA-256 {actual}, expected {file.Sha256}");
            File.Move(temp, target, overwrite: true);
            created.Clear();
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
            // A failed download leaves no folders of its own behind (innermost first, only if empty).
            foreach (var d in created)
                if (Directory.Exists(d) && !Directory.EnumerateFileSystemEntries(d).Any())
                    Directory.Delete(d);
        }
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
