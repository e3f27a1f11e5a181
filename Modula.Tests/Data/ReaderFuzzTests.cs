using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Modula.Data;

namespace Modula.Tests.Data;

/// <summary>
/// In-process fuzzing of the readers of outside files: every mutated input must end in the
/// documented <see cref="DataException"/> or in exactly the result a correct reader gives, never
/// another exception, a hang, or an allocation far beyond the file's size.
/// </summary>
[TestClass]
public sealed class ReaderFuzzTests
{
    private static string _dir = "";

    [ClassInitialize]
    public static void CreateDirectory(TestContext _) =>
        _dir = Directory.CreateTempSubdirectory("modula-fuzz-").FullName;

    [ClassCleanup]
    public static void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    /// <summary>Cases per reader in the default run; MODULA_FUZZ_CASES asks for more (the soak).</summary>
    private static int Cases(int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable("MODULA_FUZZ_CASES"), out int n) && n > 0 ? n : fallback;

    private static byte[] Gzip(byte[] payload)
    {
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Fastest))
            gz.Write(payload);
        return memory.ToArray();
    }

    /// <summary>An uncompressed IDX payload: magic, big-endian dimensions, bytes.</summary>
    private static byte[] Payload(int[] dims, byte[] data)
    {
        var bytes = new List<byte> { 0, 0, 8, (byte)dims.Length };
        var d = new byte[4];
        foreach (var dim in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(d, dim);
            bytes.AddRange(d);
        }
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    /// <summary>What a correct reader returns for an uncompressed payload, or null when it must be rejected.</summary>
    private static IdxArray? Parse(byte[] p)
    {
        if (p.Length < 4 || p[0] != 0 || p[1] != 0 || p[2] != 8 || p[3] is 0 or > 4 || p.Length < 4 + 4 * p[3])
            return null;
        var dims = Enumerable
            .Range(0, p[3])
            .Select(i => BinaryPrimitives.ReadInt32BigEndian(p.AsSpan(4 + 4 * i)))
            .ToArray();
        if (dims.Any(d => d < 0))
            return null;
        long size = dims.Aggregate(1L, (a, d) => a * d);
        return p.Length - 4 - 4 * dims.Length == size ? new IdxArray(dims, p[(4 + 4 * dims.Length)..]) : null;
    }

    /// <summary>Reads a file, checking the outcome and the bytes allocated on the way.</summary>
    private static void ReadAndCheck(byte[] file, bool gzip, IdxArray? expected, string what)
    {
        string path = Path.Combine(_dir, "case.idx");
        File.WriteAllBytes(path, file);
        long before = GC.GetAllocatedBytesForCurrentThread();
        IdxArray? actual = null;
        try
        {
            actual = IdxArray.Read(path, gzip);
        }
        catch (DataException) { }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // What the file can hold, plus the reader's fixed buffers.
        long bound = (gzip ? file.Length * IdxArray.MaxGzipRatio : file.Length) + 1_000_000;
        Assert.IsTrue(allocated <= bound, $"{what}: allocated {allocated} bytes reading a {file.Length}-byte file");
        if (expected is null)
        {
            Assert.IsNull(actual, $"{what}: a damaged file was accepted");
            return;
        }
        Assert.IsNotNull(actual, $"{what}: a valid file was rejected");
        CollectionAssert.AreEqual(expected.Dims, actual.Dims, what);
        CollectionAssert.AreEqual(expected.Data, actual.Data, what);
    }

    [TestMethod]
    public void IdxReaderSurvivesMutatedFiles()
    {
        int cases = Cases(1000);
        var rng = new Random(17);
        for (int c = 0; c < cases; c++)
        {
            var dims = Enumerable.Range(0, rng.Next(1, 4)).Select(_ => rng.Next(0, 6)).ToArray();
            var data = new byte[dims.Aggregate(1, (a, d) => a * d)];
            rng.NextBytes(data);
            var payload = Payload(dims, data);
            string what = $"case {c} (seed 17)";
            switch (rng.Next(6))
            {
                case 0: // the compressed file cut short anywhere (the trailer holds CRC and length)
                    var full = Gzip(payload);
                    int cut = rng.Next(0, full.Length);
                    ReadAndCheck(full[..cut], true, null, $"{what}: gzip truncated to {cut} of {full.Length}");
                    break;
                // one bit flipped in the compressed file: only the header's time, flags and OS byte are harmless
                case 1:
                    var flipped = Gzip(payload);
                    int at = rng.Next(flipped.Length);
                    flipped[at] ^= (byte)(1 << rng.Next(8));
                    bool harmless = at is >= 4 and <= 9 && at != 3;
                    try
                    {
                        ReadAndCheck(
                            flipped,
                            true,
                            harmless ? new IdxArray(dims, data) : null,
                            $"{what}: bit flipped at byte {at}"
                        );
                    }
                    catch (AssertFailedException) when (!harmless)
                    {
                        // A flip inside deflate's data can, rarely, still decode to the same bytes and CRC; that is a
                        // correct result.
                        ReadAndCheck(
                            flipped,
                            true,
                            new IdxArray(dims, data),
                            $"{what}: bit flipped at byte {at}, same content"
                        );
                    }
                    break;
                case 2: // the header lies: a dimension replaced by a huge, negative or slightly wrong value
                    int dim = rng.Next(dims.Length);
                    int lie = rng.Next(4) switch
                    {
                        0 => int.MaxValue,
                        1 => -rng.Next(1, 100),
                        2 => 2_000_000_000,
                        _ => dims[dim] + rng.Next(1, 3),
                    };
                    BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4 + 4 * dim), lie);
                    ReadAndCheck(Gzip(payload), true, Parse(payload), $"{what}: dimension {dim} claims {lie}");
                    break;
                case 3: // the uncompressed payload cut or extended
                    var changed =
                        rng.Next(2) == 0
                            ? payload[..rng.Next(0, payload.Length + 1)]
                            : [.. payload, .. new byte[rng.Next(1, 5)]];
                    ReadAndCheck(Gzip(changed), true, Parse(changed), $"{what}: payload of {changed.Length} bytes");
                    break;
                case 4: // a plain (uncompressed) file, mutated in its header bytes
                    var plain = (byte[])payload.Clone();
                    if (plain.Length > 0)
                        plain[rng.Next(Math.Min(plain.Length, 4 + 4 * dims.Length))] = (byte)rng.Next(256);
                    ReadAndCheck(plain, false, Parse(plain), $"{what}: plain header byte changed");
                    break;
                default: // random bytes, gzip or not
                    var noise = new byte[rng.Next(0, 64)];
                    rng.NextBytes(noise);
                    bool asGzip = rng.Next(2) == 0;
                    ReadAndCheck(noise, asGzip, asGzip ? null : Parse(noise), $"{what}: {noise.Length} random bytes");
                    break;
            }
        }
    }

    [TestMethod]
    public void ATinyFileClaimingBillionsOfLabelsIsRejectedBeforeAllocating()
    {
        var payload = Payload([2_000_000_000], new byte[100]);
        var file = Gzip(payload);
        ReadAndCheck(file, true, null, "2e9 labels in a small file");
        string path = Path.Combine(_dir, "lying.gz");
        File.WriteAllBytes(path, file);
        StringAssert.Contains(Assert.ThrowsExactly<DataException>(() => IdxArray.Read(path)).Message, "more than a");
    }

    [TestMethod]
    public void ABitFlipInTheCompressedDataFailsTheCrc()
    {
        var data = Enumerable.Range(0, 4000).Select(i => (byte)(i * 7)).ToArray();
        var file = Gzip(Payload([4000], data));
        int flips = 0;
        for (int at = 10; at < file.Length - 8; at++)
        {
            var copy = (byte[])file.Clone();
            copy[at] ^= 0x10;
            string path = Path.Combine(_dir, "flip.gz");
            File.WriteAllBytes(path, copy);
            try
            {
                var read = IdxArray.Read(path);
                CollectionAssert.AreEqual(data, read.Data, $"flip at {at} decoded to different data without an error");
            }
            catch (DataException)
            {
                flips++;
            }
        }
        Assert.IsTrue(flips > 0, "no flip was detected at all");
        // The trailer itself: a changed CRC-32 must be refused even though the data decodes.
        var badCrc = (byte[])file.Clone();
        badCrc[^8] ^= 1;
        File.WriteAllBytes(Path.Combine(_dir, "crc.gz"), badCrc);
        Assert.ThrowsExactly<DataException>(() => IdxArray.Read(Path.Combine(_dir, "crc.gz")));
    }

    [TestMethod]
    public void TextCorpusLoaderSurvivesMutatedFiles()
    {
        int cases = Cases(1000);
        var rng = new Random(23);
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        string sample = "First Citizen:\nBefore we proceed any further, hear me speak.\n— ünïcödé ✓ 𝄞\n";
        for (int c = 0; c < cases; c++)
        {
            var bytes = Encoding.UTF8.GetBytes(sample).ToList();
            for (int m = rng.Next(0, 4); m > 0 && bytes.Count > 0; m--)
            {
                int at = rng.Next(bytes.Count);
                switch (rng.Next(4))
                {
                    case 0:
                        bytes[at] ^= (byte)(1 << rng.Next(8));
                        break;
                    case 1:
                        bytes.RemoveRange(at, bytes.Count - at);
                        break;
                    case 2:
                        bytes.Insert(at, (byte)rng.Next(256));
                        break;
                    default:
                        bytes.InsertRange(0, rng.Next(2) == 0 ? [0xEF, 0xBB, 0xBF] : [0xFF, 0xFE]);
                        break;
                }
            }
            var file = bytes.ToArray();
            string path = Path.Combine(_dir, "corpus.txt");
            File.WriteAllBytes(path, file);
            var body = file.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? file[3..] : file;
            string? text;
            try
            {
                text = strict.GetString(body);
            }
            catch (DecoderFallbackException)
            {
                text = null;
            }
            TextCorpus? corpus = null;
            try
            {
                corpus = TextCorpus.Load(path);
            }
            catch (DataException) { }
            if (text is null || text.Length < 2)
            {
                Assert.IsNull(
                    corpus,
                    $"case {c}: {(text is null ? "invalid UTF-8" : "a text under 2 characters")} was accepted"
                );
                continue;
            }
            Assert.IsNotNull(corpus, $"case {c}: valid UTF-8 was rejected");
            Assert.AreEqual(new string(text.Distinct().Order().ToArray()), corpus.Vocabulary, $"case {c}");
            Assert.AreEqual(text, corpus.Decode(corpus.Train.Concat(corpus.Test)), $"case {c}");
            Assert.AreEqual((int)(text.Length * TextCorpus.TrainFraction), corpus.Train.Length, $"case {c}");
        }
    }
}
