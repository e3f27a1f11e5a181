using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Modula.Cli.Commands;
using Modula.Cli.Training;
using Modula.Data;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;

namespace Modula.Tests.Cli;

/// <summary>
/// Feeds mutated GPT checkpoints to everything that reads one — the safetensors parser, the checkpoint
/// format check, <c>generate</c>'s model loader and <c>train --resume</c>'s restore — and requires
/// each case to end in <see cref="InvalidDataException"/> or in exactly the original contents; never
/// another exception, and never an allocation far beyond the file's size. CI runs 1,200 cases;
/// MODULA_FUZZ_CASES=100000 runs a soak.
/// </summary>
[TestClass]
public sealed class CheckpointFuzzTests
{
    private static readonly TextCorpus Corpus = new(
        string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 60))
    );

    internal static GptSettings Settings() =>
        new(
            "v1",
            new GptConfig(
                Vocab: Corpus.Vocabulary.Length,
                Context: 16,
                Heads: 2,
                DEmbed: 16,
                DQuery: 8,
                DValue: 8,
                Blocks: 1
            ),
            GptSettings.V1Optimizer,
            Steps: 20,
            Batch: 4,
            Seed: 3
        );

    /// <summary>A valid checkpoint of a tiny GPT after three steps, as bytes.</summary>
    internal static byte[] BaseCheckpoint()
    {
        using var run = new GptRun(Settings(), Corpus, Device.Cpu);
        for (int i = 0; i < 3; i++)
            run.Step();
        var snapshot = Checkpoint.Capture(run.Trainer, run.State());
        return SafeTensors.Serialize(snapshot.Tensors, snapshot.Metadata);
    }

    /// <summary>What generate and train --resume do with a checkpoint's bytes.</summary>
    private static void ReadLikeTheCommands(byte[] bytes)
    {
        var file = Checkpoint.Parse(bytes, "fuzz");
        var (_, weights, _, _) = GenerateCommand.LoadModel(file, Device.Cpu);
        weights.Dispose();
        using var run = new GptRun(Settings(), Corpus, Device.Cpu);
        run.Resume(file);
    }

    [TestMethod]
    public void MutatedCheckpointsAreRefusedOrReadExactly()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("MODULA_FUZZ_CASES"), out int n) ? n : 1200;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("MODULA_FUZZ_SEED"), out int s)
            ? s
            : Environment.TickCount & 0xFFFF;
        Console.WriteLine($"checkpoint fuzz: {cases} cases, seed {seed} (MODULA_FUZZ_SEED={seed} repeats them)");
        var original = BaseCheckpoint();
        ReadLikeTheCommands(original); // the unmutated file is accepted
        var (tensors, metadata) = SafeTensors.Parse(original);
        var rng = new Random(seed);
        var outcomes = new Dictionary<string, int>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int c = 0; c < cases; c++)
        {
            var (kind, bytes, mustRefuse) = Mutate(original, tensors, metadata, rng, c);
            long before = GC.GetAllocatedBytesForCurrentThread();
            string outcome;
            try
            {
                ReadLikeTheCommands(bytes);
                Assert.IsFalse(mustRefuse, $"case {c} ({kind}, seed {seed}): an altered checkpoint was accepted");
                var (t, m) = SafeTensors.Parse(bytes);
                CollectionAssert.AreEquivalent(
                    metadata,
                    m,
                    $"case {c} ({kind}, seed {seed}): accepted with other metadata"
                );
                foreach (var (key, value) in tensors)
                    CollectionAssert.AreEqual(
                        value.Data,
                        t[key].Data,
                        $"case {c} ({kind}, seed {seed}): accepted with other data in '{key}'"
                    );
                outcome = "read exactly";
            }
            catch (InvalidDataException)
            {
                outcome = "refused";
            }
            catch (Exception e) when (e is not UnitTestAssertException)
            {
                Assert.Fail($"case {c} ({kind}, seed {seed}) ended in {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                throw;
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.IsTrue(
                allocated < 64L * original.Length + (64 << 20),
                $"case {c} ({kind}, seed {seed}) allocated {allocated} bytes"
            );
            string key2 = $"{kind}: {outcome}";
            outcomes[key2] = outcomes.GetValueOrDefault(key2) + 1;
        }
        Console.WriteLine(
            $"{cases} cases in {clock.Elapsed.TotalSeconds:F1} s: "
                + string.Join(", ", outcomes.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))
        );
        Assert.IsTrue(
            outcomes.Keys.Count(k => k.EndsWith("refused", StringComparison.Ordinal)) >= 10,
            "the mutations reach many kinds of refusal"
        );
    }

    private static (string Kind, byte[] Bytes, bool MustRefuse) Mutate(
        byte[] original,
        Dictionary<string, SafeTensor> tensors,
        Dictionary<string, string> metadata,
        Random rng,
        int c
    )
    {
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        int dataStart = 8 + headerLength;
        var bytes = (byte[])original.Clone();
        switch (c % 10)
        {
            case 0:
                int cut = rng.Next(3) switch
                {
                    0 => rng.Next(9),
                    1 => rng.Next(8, dataStart + 1),
                    _ => rng.Next(dataStart, original.Length),
                };
                return ("truncation", original[..cut], true);
            case 1:
                for (int i = rng.Next(1, 4); i > 0; i--)
                    bytes[rng.Next(8, dataStart)] ^= (byte)(1 << rng.Next(8));
                return ("header bit flip", bytes, false);
            case 2:
                for (int i = rng.Next(1, 4); i > 0; i--)
                    bytes[rng.Next(dataStart, bytes.Length)] ^= (byte)(1 << rng.Next(8));
                return ("data bit flip", bytes, true);
            case 3:
                ulong lie = rng.Next(6) switch
                {
                    0 => ulong.MaxValue - (ulong)rng.Next(100),
                    1 => 1UL << rng.Next(20, 64),
                    2 => (ulong)(headerLength + rng.Next(-16, 17)),
                    3 => (ulong)original.Length,
                    4 => 0,
                    _ => (ulong)rng.NextInt64(),
                };
                if (lie == (ulong)headerLength)
                    lie++;
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, lie);
                return ("lying header length", bytes, true);
            case 4:
                bytes[rng.Next(8, dataStart)] = (byte)(rng.Next(2) == 0 ? 0xFF : 0x80 + rng.Next(0x40));
                return ("non-UTF-8 byte", bytes, true);
            case 5:
                return (
                    "appended bytes",
                    [.. original, .. Enumerable.Range(0, rng.Next(1, 64)).Select(_ => (byte)rng.Next(256))],
                    true
                );
            case 6:
                return JsonLie(original, headerLength, rng);
            default:
                return Resigned(tensors, metadata, rng);
        }
    }

    /// <summary>Header text edits: duplicate keys, overlapping or reordered offsets, deep nesting, odd JSON.</summary>
    private static (string, byte[], bool) JsonLie(byte[] original, int headerLength, Random rng)
    {
        string header = Encoding.UTF8.GetString(original, 8, headerLength).TrimEnd();
        var root = JsonNode.Parse(header)!.AsObject();
        var names = root.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
        int pick = rng.Next(names.Count);
        string name = names[pick],
            other = names[(pick + 1 + rng.Next(names.Count - 1)) % names.Count];
        string kind;
        switch (rng.Next(7))
        {
            case 0:
                kind = "duplicate key";
                header = "{" + $"\"{name}\":{root[name]!.ToJsonString()}," + header[1..];
                break;
            case 1:
                kind = "overlapping offsets";
                root[name]!["data_offsets"] = root[other]!["data_offsets"]!.DeepClone();
                header = root.ToJsonString();
                break;
            case 2:
                kind = "offsets out of range";
                root[name]!["data_offsets"] = new JsonArray(rng.Next(2) == 0 ? -8 : long.MaxValue - 4, rng.NextInt64());
                header = root.ToJsonString();
                break;
            case 3:
                kind = "deep nesting";
                int depth = rng.Next(10, 5000);
                header = "{\"x\":" + new string('[', depth) + new string(']', depth) + "}";
                break;
            case 4:
                kind = "shape lie";
                root[name]!["shape"] = new JsonArray(
                    rng.Next(3) switch
                    {
                        0 => -1,
                        1 => int.MaxValue,
                        _ => rng.Next(1, 100),
                    },
                    2000000000
                );
                header = root.ToJsonString();
                break;
            case 5:
                kind = "dtype lie";
                root[name]!["dtype"] = rng.Next(3) switch
                {
                    0 => "I32",
                    1 => "BF16",
                    _ => "F64",
                };
                header = root.ToJsonString();
                break;
            default:
                kind = "metadata not a string map";
                root["__metadata__"]!["step"] = rng.Next(2) == 0 ? JsonValue.Create(5) : new JsonObject();
                header = root.ToJsonString();
                break;
        }
        return (kind, WithHeader(Encoding.UTF8.GetBytes(header), original[(8 + headerLength)..]), true);
    }

    /// <summary>Files with valid checksums whose content lies: every one must be refused by the commands'
    /// checks.</summary>
    private static (string, byte[], bool) Resigned(
        Dictionary<string, SafeTensor> tensors,
        Dictionary<string, string> metadata,
        Random rng
    )
    {
        var t = new Dictionary<string, SafeTensor>(tensors);
        var m = new Dictionary<string, string>(metadata);
        var weights = t.Keys.Where(k => k.StartsWith("weights/", StringComparison.Ordinal)).ToList();
        string w = weights[rng.Next(weights.Count)];
        var config = JsonSerializer.Deserialize<GptConfig>(m["config"])!;
        string kind;
        switch (rng.Next(12))
        {
            case 0:
                kind = "absurd model";
                var absurd = rng.Next(6) switch
                {
                    0 => config with { Blocks = 100_000_000 },
                    1 => config with { Context = 0 },
                    2 => config with { Heads = 0 },
                    3 => config with { DEmbed = 1 << 30 },
                    4 => config with { Vocab = -3 },
                    _ => config with { Blocks = 2 },
                };
                m["config"] = JsonSerializer.Serialize(absurd);
                break;
            case 1:
                kind = "config not JSON";
                m["config"] = rng.Next(2) == 0 ? "{\"Vocab\": \"x\"" : "null";
                break;
            case 2:
                kind = "vocabulary lie";
                m["vocabulary"] = rng.Next(2) == 0 ? m["vocabulary"][1..] : "Q" + m["vocabulary"][1..];
                break;
            case 3:
                kind = "step lie";
                m["step"] = new[] { "-1", "abc", "99999999999", "", "1e3" }[rng.Next(5)];
                break;
            case 4:
                kind = "sampler lie";
                m["sampler"] = new[] { "x:y", "1", "1:2:3", "18446744073709551616:0", "99:0", "-1:5" }[rng.Next(6)];
                break;
            case 5:
                kind = "power-iteration stream lie";
                m["normalize_rng"] = new[] { "", "4", "a:b", "5:1", "4:-1" }[rng.Next(5)];
                break;
            case 6:
                kind = "optimizer or rule lie";
                if (rng.Next(2) == 0)
                    m["optimizer"] = "adam(beta1=0.9, beta2=0.99, eps=1E-08)";
                else
                    m["rule"] = "Dualize";
                break;
            case 7:
                kind = "weight dtype relabel";
                t[w] = t[w] with { DType = DType.Int32 };
                break;
            case 8:
                kind = "weight shape lie";
                t[w] = t[w] with { Shape = [t[w].Shape.Aggregate(1, (a, d) => a * d)] };
                if (t[w].Shape.Length == tensors[w].Shape.Length)
                    t[w] = t[w] with { Shape = [1, .. t[w].Shape] };
                break;
            case 9:
                kind = "missing or extra tensor";
                if (rng.Next(2) == 0)
                    t.Remove(w);
                else
                    t["weights/999/extra"] = t[w];
                break;
            case 10:
                kind = "missing metadata";
                m.Remove(
                    new[] { "format", "architecture", "vocabulary", "config", "recipe", "step", "sampler" }[rng.Next(7)]
                );
                break;
            default:
                kind = "power-iteration vector lie";
                var vector = t.Keys.First(k => k.StartsWith("normalize/", StringComparison.Ordinal));
                t[vector] =
                    rng.Next(2) == 0
                        ? t[vector] with
                        {
                            DType = DType.Int32,
                        }
                        : t[w] with
                        {
                            Shape = [.. t[w].Shape, 1, 1],
                        };
                break;
        }
        return ($"re-signed {kind}", SafeTensors.Serialize(t, m), true);
    }

    private static byte[] WithHeader(byte[] header, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    [TestMethod]
    public void InvalidUtf8InTheHeaderIsInvalidData()
    {
        // Regression: a lone continuation byte inside a metadata string escaped as InvalidOperationException.
        var bytes = BaseCheckpoint();
        int at =
            Encoding.UTF8.GetString(bytes, 8, 4000).IndexOf("\"vocabulary\":\"", StringComparison.Ordinal) + 8 + 15;
        bytes[at] = 0x80;
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Parse(bytes));
        StringAssert.Contains(e.Message, "UTF-8");
    }

    [TestMethod]
    public void ChecksumsAreMandatoryAndCoverTheMetadata()
    {
        var bytes = BaseCheckpoint();
        var (t, m) = SafeTensors.Parse(bytes);
        // Regression: deleting the data checksum let any data flip load.
        string header = Encoding.UTF8.GetString(bytes, 8, (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        var root = JsonNode.Parse(header)!.AsObject();
        root["__metadata__"]!.AsObject().Remove("sha256");
        var e = Assert.ThrowsExactly<InvalidDataException>(() =>
            SafeTensors.Parse(WithHeader(Encoding.UTF8.GetBytes(root.ToJsonString()), bytes[(8 + header.Length)..]))
        );
        StringAssert.Contains(e.Message, "sha256");
        // Regression: an edited step or vocabulary (same length) loaded and ran.
        root = JsonNode.Parse(header)!.AsObject();
        root["__metadata__"]!["step"] = "2";
        e = Assert.ThrowsExactly<InvalidDataException>(() =>
            SafeTensors.Parse(WithHeader(Encoding.UTF8.GetBytes(root.ToJsonString()), bytes[(8 + header.Length)..]))
        );
        StringAssert.Contains(e.Message, "header checksum");
        Assert.AreEqual("3", m["step"]);
        Assert.IsTrue(t.Count > 9);
    }

    [TestMethod]
    public void GenerateRefusesAnAbsurdModelBeforeBuildingIt()
    {
        // Regression: 100,000,000 blocks made generate build the model before validating anything.
        var (t, m) = SafeTensors.Parse(BaseCheckpoint());
        m["config"] = JsonSerializer.Serialize(
            JsonSerializer.Deserialize<GptConfig>(m["config"])! with
            {
                Blocks = 100_000_000,
            }
        );
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<InvalidDataException>(() =>
            GenerateCommand.LoadModel(Checkpoint.Parse(SafeTensors.Serialize(t, m), "absurd"), Device.Cpu)
        );
        StringAssert.Contains(e.Message, "100000000 blocks");
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20);
        m["config"] = JsonSerializer.Serialize(
            JsonSerializer.Deserialize<GptConfig>(m["config"])! with
            {
                Blocks = 1,
                Context = 0,
            }
        );
        e = Assert.ThrowsExactly<InvalidDataException>(() =>
            GenerateCommand.LoadModel(Checkpoint.Parse(SafeTensors.Serialize(t, m), "ctx0"), Device.Cpu)
        );
        StringAssert.Contains(e.Message, "context 0");
    }

    [TestMethod]
    public void ResumeChecksTheVocabularyAndSamplerBeforeChangingTheWeights()
    {
        // Regression: the vocabulary was compared after the weights were overwritten, and a malformed
        // sampler position escaped as FormatException.
        var (t, m) = SafeTensors.Parse(BaseCheckpoint());
        m["vocabulary"] = "Q" + m["vocabulary"][1..];
        m["sampler"] = "x:y";
        using var run = new GptRun(Settings(), Corpus, Device.Cpu);
        var before = run.Trainer.Weights[0].ToArray<float>();
        var e = Assert.ThrowsExactly<InvalidDataException>(() =>
            run.Resume(Checkpoint.Parse(SafeTensors.Serialize(t, m), "edited"))
        );
        StringAssert.Contains(e.Message, "different vocabulary");
        StringAssert.Contains(e.Message, "'sampler'");
        CollectionAssert.AreEqual(before, run.Trainer.Weights[0].ToArray<float>(), "weights unchanged");
        Assert.AreEqual(0, run.Trainer.StepCount);
    }
}
