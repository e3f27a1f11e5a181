using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Optim;

[TestClass]
public sealed class CheckpointTests
{
    private string _dir = "";

    [TestInitialize]
    public void CreateDirectory() => _dir = Directory.CreateTempSubdirectory("modula-ckpt-").FullName;

    [TestCleanup]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    private static Trainer NewTrainer(int width = 12) =>
        new(
            TrainerTests.SmallResMlp(width),
            TrainerTests.SmallResMlp(width).Initialize(new Generator(5)),
            new ModulaAdam(),
            new TrainerOptions(0.3, Schedule.Linear(20), UpdateRule.Normalize, WeightDecay: 0.01),
            normalizeSeed: 9
        );

    /// <summary>Trains on batches sampled by <paramref name="sampler"/>; returns the losses.</summary>
    private static List<double> Train(Trainer trainer, Generator sampler, Tensor x, int[] labels, int steps)
    {
        var losses = new List<double>();
        for (int s = 0; s < steps; s++)
        {
            using var bits = Ops.RandomBits(new Shape(1), sampler);
            int start = (int)((uint)bits.ToArray<int>()[0] % (uint)(labels.Length - 8));
            losses.Add(TrainerTests.Backward(trainer, x, labels, start, 8));
            trainer.Step();
        }
        return losses;
    }

    [TestMethod]
    public void ResumingFromACheckpointReproducesAnUninterruptedRunBitForBit()
    {
        var (x, labels) = TrainerTests.Data(64, DType.Float32);
        using (x)
        {
            using var straight = NewTrainer();
            var straightLosses = Train(straight, new Generator(11), x, labels, 20);

            string path = Path.Combine(_dir, "run.safetensors");
            List<double> resumedLosses;
            using (var first = NewTrainer())
            {
                var sampler = new Generator(11);
                resumedLosses = Train(first, sampler, x, labels, 10);
                Checkpoint.Save(
                    path,
                    first,
                    new Dictionary<string, string>
                    {
                        ["sampler_offset"] = sampler.Offset.ToString(CultureInfo.InvariantCulture),
                    }
                );
            }
            using var second = NewTrainer();
            var metadata = Checkpoint.Restore(path, second);
            Assert.AreEqual(10, second.StepCount);
            var resumedSampler = new Generator(
                11,
                ulong.Parse(metadata["sampler_offset"], CultureInfo.InvariantCulture)
            );
            resumedLosses.AddRange(Train(second, resumedSampler, x, labels, 10));

            CollectionAssert.AreEqual(straightLosses, resumedLosses, "losses");
            for (int i = 0; i < straight.Weights.Count; i++)
                CollectionAssert.AreEqual(
                    straight.Weights[i].ToArray<float>(),
                    second.Weights[i].ToArray<float>(),
                    $"weight {i}"
                );
            Assert.IsTrue(straightLosses[^1] < straightLosses[0], "training reduces the loss");
        }
    }

    [TestMethod]
    public void AFailureDuringSaveLeavesThePreviousCheckpointLoadable()
    {
        string path = Path.Combine(_dir, "run.safetensors");
        using var trainer = NewTrainer();
        Checkpoint.Save(path, trainer);
        var original = File.ReadAllBytes(path);
        trainer.StepCount = 7;
        Assert.ThrowsExactly<IOException>(() => Checkpoint.Save(path, trainer, options: FailingStream.After(200)));
        CollectionAssert.AreEqual(original, File.ReadAllBytes(path), "the old file is untouched");
        Assert.AreEqual(1, Directory.GetFiles(_dir).Length, "no temporary file is left behind");
        using var restored = NewTrainer();
        Checkpoint.Restore(path, restored);
        Assert.AreEqual(0, restored.StepCount);
    }

    [TestMethod]
    public void StrictLoadListsEveryMismatchAndLeavesTheModelUnchanged()
    {
        string path = Path.Combine(_dir, "wide.safetensors");
        using (var wide = NewTrainer(width: 16))
            Checkpoint.Save(path, wide);
        using var narrow = NewTrainer(width: 12);
        using var before = narrow.Weights.Clone();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Checkpoint.Restore(path, narrow));
        StringAssert.Contains(e.Message, "missing tensor 'weights/000/ResMLP/Linear(20→12)'");
        StringAssert.Contains(e.Message, "unexpected tensor 'weights/000/ResMLP/Linear(20→16)'");
        StringAssert.Contains(
            e.Message,
            "tensor 'optimizer/m/000' is Float32 [16, 20] in the file, the model needs Float32 [12, 20]"
        );
        StringAssert.Contains(e.Message, "different architecture");
        for (int i = 0; i < before.Count; i++)
            CollectionAssert.AreEqual(
                before[i].ToArray<float>(),
                narrow.Weights[i].ToArray<float>(),
                $"weight {i} unchanged"
            );
    }

    [TestMethod]
    public void ValuesNoRunProducesAreRefusedEvenWithValidChecksums()
    {
        // Found by an outside review: a file re-written with a negative second moment restored, then turned the
        // weights NaN at the first step; a step count of int.MaxValue wrapped to int.MinValue at the next step.
        string weight = "";
        string edited = SavedAndEdited(
            (tensors, metadata) =>
            {
                Floats(tensors["optimizer/v/001"])[3] = -1;
                weight = FirstWeight(tensors);
                Floats(tensors[weight])[0] = float.NaN;
                metadata["step"] = int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        );

        using var fresh = NewTrainer();
        using var before = fresh.Weights.Clone();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Checkpoint.Restore(edited, fresh));
        StringAssert.Contains(e.Message, "tensor 'optimizer/v/001': element 3 is -1");
        StringAssert.Contains(e.Message, $"tensor '{weight}': element 0 is NaN");
        StringAssert.Contains(e.Message, "metadata 'step' is missing or invalid");
        for (int i = 0; i < before.Count; i++)
            CollectionAssert.AreEqual(before[i].ToArray<float>(), fresh.Weights[i].ToArray<float>(), $"weight {i}");
    }

    [TestMethod]
    public void AHandMadeTensorShortOfItsShapeIsRefusedAndChangesNothing()
    {
        // Found by an outside campaign: Restore compared the declared shape but not the bytes, copied the weights in
        // one by one, and failed at the short one with the weights before it overwritten.
        string path = Path.Combine(_dir, "saved.safetensors");
        using (var saved = NewTrainer())
            Checkpoint.Save(path, saved);
        var file = Checkpoint.Load(path);
        string second = file
            .Tensors.Keys.Where(k => k.StartsWith("weights/", StringComparison.Ordinal))
            .Order()
            .ElementAt(1);
        file.Tensors[second] = file.Tensors[second] with { Data = file.Tensors[second].Data[..8] };
        using var fresh = NewTrainer();
        using var before = fresh.Weights.Clone();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Checkpoint.Restore(file, fresh));
        StringAssert.Contains(e.Message, $"tensor '{second}' holds 8 bytes, where Float32");
        for (int i = 0; i < before.Count; i++)
            CollectionAssert.AreEqual(before[i].ToArray<float>(), fresh.Weights[i].ToArray<float>(), $"weight {i}");
        var load = Assert.ThrowsExactly<InvalidDataException>(() =>
            Checkpoint.LoadWeights(file, _ => TrainerTests.SmallResMlp(12), Device.Cpu)
        );
        StringAssert.Contains(load.Message, $"tensor '{second}' holds 8 bytes");
    }

    [TestMethod]
    public void AConvolutionOfAnotherStrideOrPaddingIsAnotherArchitecture()
    {
        // Found by an outside campaign: the architecture check compared labels, which leave a convolution's stride
        // and padding out, so a checkpoint restored into a model that differed there. They are recorded apart, in
        // architecture_details, so that checkpoints of earlier builds, which lack the entry, still load.
        static Trainer Convolutions(int stride, int padding)
        {
            var model = new Conv2D(4, 3, stride: stride, padding: padding) >> new Conv2D(4, 4);
            return new Trainer(model, model.Initialize(new Generator(2)), new Sgd(), new TrainerOptions(0.1));
        }
        string path = Path.Combine(_dir, "conv.safetensors");
        using (var saved = Convolutions(1, 1))
            Checkpoint.Save(path, saved);
        using var other = Convolutions(2, 0);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Checkpoint.Restore(path, other));
        StringAssert.Contains(e.Message, "it records '1 Conv2D(3→4, 3×3): stride 1, padding 1;");
        StringAssert.Contains(e.Message, "this model is '1 Conv2D(3→4, 3×3): stride 2, padding 0;");
        using var same = Convolutions(1, 1);
        Checkpoint.Restore(path, same);
        // A file written before the entry existed: loaded as before.
        var file = Checkpoint.Load(path);
        file.Metadata.Remove(Checkpoint.ArchitectureDetailsKey);
        using var older = Convolutions(2, 0);
        Checkpoint.Restore(file, older);
    }

    [TestMethod]
    public void LoadingWeightsForInferenceRefusesNonFiniteValuesAsRestoreDoes()
    {
        // Found by an outside campaign: LoadWeights returned a NaN weight that Restore refuses.
        string weight = "";
        string edited = SavedAndEdited(
            (tensors, _) =>
            {
                weight = FirstWeight(tensors);
                Floats(tensors[weight])[0] = float.PositiveInfinity;
            }
        );
        string path = Path.Combine(_dir, "saved.safetensors");
        var e = Assert.ThrowsExactly<InvalidDataException>(() =>
            Checkpoint.LoadWeights(edited, _ => TrainerTests.SmallResMlp(12), Device.Cpu)
        );
        StringAssert.Contains(e.Message, $"tensor '{weight}': element 0 is Infinity");
        var (_, loaded, _) = Checkpoint.LoadWeights(path, _ => TrainerTests.SmallResMlp(12), Device.Cpu);
        using (loaded)
            Assert.AreEqual(TrainerTests.SmallResMlp(12).AtomCount, loaded.Count, "the saved file loads");
    }

    /// <summary>
    /// Saves a fresh trainer to saved.safetensors, lets <paramref name="edit"/> change its tensors and metadata, and
    /// writes the result to edited.safetensors with checksums of its own: a file whose checksums hold but whose values
    /// no run produces. Returns the edited file's path.
    /// </summary>
    private string SavedAndEdited(Action<Dictionary<string, SafeTensor>, Dictionary<string, string>> edit)
    {
        string path = Path.Combine(_dir, "saved.safetensors");
        using (var saved = NewTrainer())
            Checkpoint.Save(path, saved);
        var (tensors, metadata) = SafeTensors.Read(path);
        edit(tensors, metadata);
        string edited = Path.Combine(_dir, "edited.safetensors");
        var kept = metadata
            .Where(p => p.Key != SafeTensors.ChecksumKey && p.Key != SafeTensors.HeaderChecksumKey)
            .ToDictionary(p => p.Key, p => p.Value);
        SafeTensors.Write(edited, tensors, kept);
        return edited;
    }

    private static Span<float> Floats(SafeTensor t) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.Data.AsSpan());

    private static string FirstWeight(Dictionary<string, SafeTensor> tensors) =>
        tensors.Keys.Where(k => k.StartsWith("weights/", StringComparison.Ordinal)).Min()!;

    private static byte[] File8(string header, byte[] data)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        return bytes;
    }

    public static IEnumerable<object[]> Corruptions =>
        [
            ["too short", new byte[] { 1, 2, 3 }],
            ["huge header", BitConverter.GetBytes(ulong.MaxValue - 5)],
            ["header past the end", BitConverter.GetBytes(200UL).Concat(new byte[] { (byte)'{', (byte)'}' }).ToArray()],
            ["malformed json", File8("{\"a\": {\"dtype\": \"F32\", ", new byte[8])],
            [
                "duplicate keys",
                File8(
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    new byte[8]
                ),
            ],
            [
                "overlapping offsets",
                File8(
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    new byte[8]
                ),
            ],
            [
                "offsets past the data",
                File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]),
            ],
            [
                "size does not match shape",
                File8("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]),
            ],
            [
                "huge shape",
                File8(
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2000000000,2000000000],\"data_offsets\":[0,8]}}",
                    new byte[8]
                ),
            ],
            ["unknown dtype", File8("{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", new byte[8])],
            [
                "wrong checksum",
                File8(
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"__metadata__\":{\"sha256\":\"00\"}}",
                    new byte[8]
                ),
            ],
        ];

    [TestMethod]
    [DynamicData(nameof(Corruptions))]
    public void CorruptFilesAreInvalidData(string what, byte[] bytes)
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Parse(bytes, what));
        StringAssert.Contains(e.Message, "Invalid safetensors file");
    }

    [TestMethod]
    public void TruncatedOrBitFlippedCheckpointsAreInvalidData()
    {
        string path = Path.Combine(_dir, "run.safetensors");
        using var trainer = NewTrainer();
        Checkpoint.Save(path, trainer);
        var bytes = File.ReadAllBytes(path);
        var (tensors, metadata) = SafeTensors.Parse(bytes);
        Assert.IsTrue(
            tensors.Count > 6 && metadata.ContainsKey("sha256") && metadata.ContainsKey(Checkpoint.ArchitectureKey)
        );
        Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Parse(bytes[..(bytes.Length - 3)]));
        Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Parse(bytes[..100]));
        bytes[^10] ^= 0x40;
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Parse(bytes));
        StringAssert.Contains(e.Message, "checksum");
        File.WriteAllBytes(path, bytes);
        using var other = NewTrainer();
        Assert.ThrowsExactly<InvalidDataException>(() => Checkpoint.Restore(path, other));
    }

    [TestMethod]
    public void RestoreComparesTheOptimizerAndTheRuleAndChangesNothingOnAMismatch()
    {
        // Regression: a plain-Adam checkpoint loaded into another optimizer or rule without a word.
        string path = Path.Combine(_dir, "run.safetensors");
        using (var saved = NewTrainer())
        {
            saved.StepCount = 4;
            Checkpoint.Save(path, saved);
        }
        using var adam = new Trainer(
            TrainerTests.SmallResMlp(),
            TrainerTests.SmallResMlp().Initialize(new Generator(6)),
            new Adam(),
            new TrainerOptions(0.3, Schedule.Linear(20), UpdateRule.Dualize),
            normalizeSeed: 9
        );
        using var before = adam.Weights.Clone();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => Checkpoint.Restore(path, adam));
        StringAssert.Contains(
            e.Message,
            "optimizer: the checkpoint has 'modula-adam(beta1=0.9, beta2=0.99)', this run uses 'adam("
        );
        StringAssert.Contains(e.Message, "rule: the checkpoint has 'Normalize', this run uses 'Dualize'");
        Assert.AreEqual(0, adam.StepCount);
        for (int i = 0; i < before.Count; i++)
            CollectionAssert.AreEqual(
                before[i].ToArray<float>(),
                adam.Weights[i].ToArray<float>(),
                $"weight {i} unchanged"
            );
    }
}
