using System.Globalization;
using Modula.Modules;
using Modula.Tensors;

namespace Modula.Optim;

/// <summary>
/// Saves and restores a <see cref="Trainer"/> as one safetensors file: the weights (named
/// <c>weights/NNN/module path</c>), the optimizer's state vectors (<c>optimizer/slot/NNN</c>),
/// the power-iteration vectors (<c>normalize/NNN</c>), and in the metadata the step, skipped
/// steps, the optimizer, the update rule, the power-iteration stream position, the architecture
/// (the module summary with masses) and any caller entries (for example a data sampler's
/// position). Both checksums of <see cref="SafeTensors"/> cover all of it.
/// </summary>
public static class Checkpoint
{
    /// <summary>Metadata key of the architecture fingerprint.</summary>
    public const string ArchitectureKey = "architecture";

    /// <summary>Metadata key of what the fingerprint's labels leave out (<see cref="Module.ArchitectureDetails"/>):
    /// compared when the file has it; checkpoints of earlier builds do not.</summary>
    public const string ArchitectureDetailsKey = "architecture_details";

    /// <summary>The format tag of the files written here (files of an earlier format are refused).</summary>
    public const string Format = "modula.net-checkpoint-2";

    /// <summary>Writes <paramref name="trainer"/>'s state atomically to <paramref name="path"/>.</summary>
    public static void Save(
        string path,
        Trainer trainer,
        IReadOnlyDictionary<string, string>? extra = null,
        SafeTensorsWriteOptions? options = null
    ) => Capture(trainer, extra).Write(path, options);

    /// <summary>
    /// Copies <paramref name="trainer"/>'s state to the host: the copy can be written later (for
    /// example on another thread) while training goes on.
    /// </summary>
    /// <remarks>
    /// With <paramref name="buffers"/>, host buffers are reused from (and recorded in) that map by
    /// tensor name: a caller that snapshots repeatedly passes the same map, once the previous
    /// snapshot has been written.
    /// </remarks>
    public static CheckpointSnapshot Capture(
        Trainer trainer,
        IReadOnlyDictionary<string, string>? extra = null,
        Dictionary<string, byte[]>? buffers = null
    )
    {
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        void Add(string key, Tensor t)
        {
            var copy = SafeTensor.From(t, buffers?.GetValueOrDefault(key));
            if (buffers is not null)
                buffers[key] = copy.Data;
            tensors[key] = copy;
        }
        var keys = WeightKeys(trainer.Model);
        for (int i = 0; i < keys.Length; i++)
            Add(keys[i], trainer.Weights[i]);
        trainer.Optimizer.EnsureSlots(trainer.Weights);
        foreach (var (slot, values) in trainer.Optimizer.Slots)
            for (int i = 0; i < values.Count; i++)
                Add(SlotKey(slot, i), values[i]);
        var vectors = trainer.NormalizeState.Vectors;
        for (int i = 0; i < vectors.Count; i++)
            if (vectors[i] is { } v)
                Add(NormalizeKey(i), v);

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (extra is not null)
            foreach (var (k, v) in extra)
                metadata[k] = v;
        metadata["format"] = Format;
        metadata["step"] = trainer.StepCount.ToString(CultureInfo.InvariantCulture);
        metadata["skipped_steps"] = trainer.SkippedSteps.ToString(CultureInfo.InvariantCulture);
        metadata["optimizer"] = trainer.Optimizer.Describe();
        metadata["rule"] = trainer.Options.Rule.ToString();
        var g = trainer.NormalizeState.Generator;
        metadata["normalize_rng"] = string.Create(CultureInfo.InvariantCulture, $"{g.Seed}:{g.Offset}");
        metadata[ArchitectureKey] = trainer.Model.Summary();
        metadata[ArchitectureDetailsKey] = trainer.Model.ArchitectureDetails();
        return new CheckpointSnapshot(trainer.StepCount, tensors, metadata);
    }

    /// <summary>Reads and validates a checkpoint file (format, both checksums) without applying it.</summary>
    public static CheckpointFile Load(string path)
    {
        // The bytes read give the size: a link's own length, or a file replaced since, would not.
        var bytes = SafeTensors.ReadCheckpointBytes(path);
        var (tensors, metadata) = SafeTensors.Parse(bytes, path);
        return Validated(path, bytes.Length, tensors, metadata);
    }

    /// <summary>Validates the bytes of a checkpoint file (format, both checksums) without applying them.</summary>
    public static CheckpointFile Parse(byte[] bytes, string source)
    {
        var (tensors, metadata) = SafeTensors.Parse(bytes, source);
        return Validated(source, bytes.Length, tensors, metadata);
    }

    private static CheckpointFile Validated(
        string path,
        long bytes,
        Dictionary<string, SafeTensor> tensors,
        Dictionary<string, string> metadata
    )
    {
        if (!metadata.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException(
                $"Checkpoint '{path}' has format '{format ?? "(none)"}'; this build reads '{Format}'."
            );
        return new CheckpointFile(path, bytes, tensors, metadata);
    }

    /// <summary>
    /// Restores <paramref name="trainer"/> from <paramref name="path"/> (see
    /// <see
    /// cref="Restore(CheckpointFile, Trainer, Func{IReadOnlyDictionary{string, string}, IEnumerable{string}}?)"/>).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Restore(
        string path,
        Trainer trainer,
        Func<IReadOnlyDictionary<string, string>, IEnumerable<string>>? validate = null
    ) => Restore(Load(path), trainer, validate);

    /// <summary>
    /// Restores <paramref name="trainer"/> from <paramref name="file"/>. Loading is strict: every
    /// missing tensor, unexpected tensor, shape or dtype mismatch, architecture, optimizer or
    /// update-rule difference, malformed step or stream position, and every problem
    /// <paramref name="validate"/> finds in the metadata is listed in one
    /// <see cref="InvalidDataException"/>, and the trainer is left unchanged unless everything
    /// fits. Returns the file's metadata (including the caller's entries).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Restore(
        CheckpointFile file,
        Trainer trainer,
        Func<IReadOnlyDictionary<string, string>, IEnumerable<string>>? validate = null
    )
    {
        var (tensors, metadata) = (file.Tensors, file.Metadata);
        var expected = new Dictionary<string, (Shape Shape, DType? DType)>(StringComparer.Ordinal);
        var keys = WeightKeys(trainer.Model);
        for (int i = 0; i < keys.Length; i++)
            expected[keys[i]] = (trainer.Weights[i].Shape, trainer.Weights[i].DType);
        foreach (var slot in trainer.Optimizer.SlotNames)
            for (int i = 0; i < trainer.Weights.Count; i++)
                expected[SlotKey(slot, i)] = (trainer.Weights[i].Shape, trainer.Weights[i].DType);
        var problems = Mismatches(tensors, metadata, expected, trainer.Model, key => TryNormalizeIndex(key, out _));
        problems.AddRange(NormalizeVectorProblems(tensors, trainer));
        Compare(problems, metadata, "optimizer", trainer.Optimizer.Describe());
        Compare(problems, metadata, "rule", trainer.Options.Rule.ToString());
        problems.AddRange(BadValues(tensors, expected, trainer.Optimizer.NonNegativeSlots));
        // One below the largest int: the next step's count must not wrap around.
        int step = Int(problems, metadata, "step", int.MaxValue - 1);
        int skipped = Int(problems, metadata, "skipped_steps", Math.Max(0, step));
        ulong offset = 0;
        var g = trainer.NormalizeState.Generator;
        if (!TryParseStream(metadata, "normalize_rng", out ulong seed, out offset))
            problems.Add("metadata 'normalize_rng' is missing or not 'seed:offset'");
        else if (seed != g.Seed)
            problems.Add($"the power-iteration stream has seed {seed} in the file, the trainer uses {g.Seed}");
        if (validate is not null)
            problems.AddRange(validate(metadata));
        ThrowIfAny(file.Path, problems);

        // Everything fits: copy in.
        for (int i = 0; i < keys.Length; i++)
        {
            using var loaded = tensors[keys[i]].ToTensor(trainer.Weights[i].Device);
            Ops.CopyInto(loaded, trainer.Weights[i]);
        }
        foreach (var slot in trainer.Optimizer.SlotNames)
        {
            var values = new Weights(
                Enumerable
                    .Range(0, trainer.Weights.Count)
                    .Select(i => tensors[SlotKey(slot, i)].ToTensor(trainer.Weights[i].Device))
            );
            values.Pack(); // packed like the trainer's gradients, so the optimizer's passes stay one per buffer
            trainer.Optimizer.SetSlot(slot, values);
        }
        for (int i = 0; i < trainer.Weights.Count; i++)
            if (tensors.TryGetValue(NormalizeKey(i), out var v))
                trainer.NormalizeState.Set(i, v.ToTensor(trainer.Weights[i].Device));
        trainer.StepCount = step;
        trainer.SkippedSteps = skipped;
        g.Offset = offset;
        return metadata;
    }

    /// <summary>
    /// Every expected tensor of the right shape that holds NaN or ±∞, or a negative value in a slot that cannot have
    /// one: a file whose checksums hold can still carry values no run produces (a diverged run's, or an edited file's),
    /// which would turn the weights NaN at the first step without a word.
    /// </summary>
    private static IEnumerable<string> BadValues(
        Dictionary<string, SafeTensor> tensors,
        Dictionary<string, (Shape Shape, DType? DType)> expected,
        IEnumerable<string> nonNegativeSlots
    )
    {
        var nonNegative = nonNegativeSlots.ToHashSet(StringComparer.Ordinal);
        foreach (var (key, (shape, _)) in expected)
        {
            if (!tensors.TryGetValue(key, out var t) || new Shape(t.Shape) != shape || !HoldsItsShape(t))
                continue; // reported as missing or mismatched
            bool positive = nonNegative.Any(slot => key.StartsWith(SlotPrefix(slot), StringComparison.Ordinal));
            if (t.FirstBadValue(positive) is { } bad)
                yield return $"tensor '{key}': {bad}";
        }
    }

    /// <summary>Parses a <c>seed:offset</c> stream position; false when missing or malformed.</summary>
    public static bool TryParseStream(
        IReadOnlyDictionary<string, string> metadata,
        string key,
        out ulong seed,
        out ulong offset
    )
    {
        seed = offset = 0;
        return metadata.TryGetValue(key, out var text)
            && text.Split(':') is [var s, var o]
            && ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out seed)
            && ulong.TryParse(o, NumberStyles.None, CultureInfo.InvariantCulture, out offset);
    }

    /// <summary>
    /// Reads a checkpoint once for inference: <paramref name="buildModel"/> makes the model from
    /// the file's metadata (it must validate what it reads before building anything large), and
    /// its weights are loaded strictly (every weight tensor float32 of the atom's shape, and the
    /// architecture, and no NaN or infinite value); optimizer state in the file is ignored.
    /// </summary>
    public static (Module Model, Weights Weights, IReadOnlyDictionary<string, string> Metadata) LoadWeights(
        string path,
        Func<CheckpointFile, Module> buildModel,
        Device device
    ) => LoadWeights(Load(path), buildModel, device);

    /// <summary>Loads the weights of an already read <paramref name="file"/> (see <see
    /// cref="LoadWeights(string, Func{CheckpointFile, Module}, Device)"/>).</summary>
    public static (Module Model, Weights Weights, IReadOnlyDictionary<string, string> Metadata) LoadWeights(
        CheckpointFile file,
        Func<CheckpointFile, Module> buildModel,
        Device device
    )
    {
        string path = file.Path;
        var model = buildModel(file);
        var keys = WeightKeys(model);
        var atoms = model.Atoms();
        var expected = keys.Select((k, i) => (k, atoms[i].Atom.WeightShape))
            .ToDictionary(p => p.k, p => (p.WeightShape, (DType?)DType.Float32), StringComparer.Ordinal);
        var problems = Mismatches(file.Tensors, file.Metadata, expected, model, key =>
            !key.StartsWith("weights/", StringComparison.Ordinal)
        );
        problems.AddRange(BadValues(file.Tensors, expected, nonNegativeSlots: []));
        ThrowIfAny(path, problems);
        return (model, new Weights(keys.Select(k => file.Tensors[k].ToTensor(device))), file.Metadata);
    }

    /// <summary>Every missing, mismatched or unexpected tensor and an architecture difference, as messages.</summary>
    private static List<string> Mismatches(
        Dictionary<string, SafeTensor> tensors,
        IReadOnlyDictionary<string, string> metadata,
        Dictionary<string, (Shape Shape, DType? DType)> expected,
        Module model,
        Func<string, bool> allowedExtra
    )
    {
        var problems = new List<string>();
        foreach (var (key, want) in expected)
        {
            if (!tensors.TryGetValue(key, out var have))
            {
                problems.Add($"missing tensor '{key}'");
                continue;
            }
            if (
                (want.DType is { } dtype && have.DType != dtype) || !have.Shape.SequenceEqual(want.Shape.Dims.ToArray())
            )
                problems.Add(
                    $"tensor '{key}' is {have.DType} {Shape.Format(have.Shape)} in the file, the model needs "
                        + $"{want.DType?.ToString() ?? "a tensor of"} {want.Shape}"
                );
            else if (!HoldsItsShape(have))
                problems.Add(
                    $"tensor '{key}' holds {have.Data.Length} bytes, where {have.DType} {want.Shape} takes "
                        + $"{BytesOf(have)}"
                );
        }
        foreach (var key in tensors.Keys.Where(k => !expected.ContainsKey(k) && !allowedExtra(k)))
            problems.Add($"unexpected tensor '{key}'");
        if (!metadata.TryGetValue(ArchitectureKey, out var architecture))
            problems.Add($"metadata '{ArchitectureKey}' is missing");
        else if (architecture != model.Summary())
            problems.Add("the checkpoint was written for a different architecture (module tree or masses differ)");
        else if (
            metadata.TryGetValue(ArchitectureDetailsKey, out var details)
            && model.ArchitectureDetails() is var ours
            && details != ours
        )
            problems.Add(
                $"the checkpoint was written for a different architecture: it records '{details.Replace('\n', ';')}', "
                    + $"this model is '{ours.Replace('\n', ';')}'"
            );
        return problems;
    }

    // A tensor read from a file holds its shape's bytes (the reader checks); one made by hand may not, or may have a
    // negative dimension.
    private static bool HoldsItsShape(SafeTensor t) => t.Shape.All(d => d >= 0) && t.Data.Length == BytesOf(t);

    private static long BytesOf(SafeTensor t) =>
        t.Shape.Aggregate((long)DTypeInfo.SizeOf(t.DType), (bytes, d) => bytes * Math.Max(d, 0));

    /// <summary>Power-iteration vectors must belong to an atom and be no larger than its weight, in its
    /// dtype.</summary>
    private static IEnumerable<string> NormalizeVectorProblems(Dictionary<string, SafeTensor> tensors, Trainer trainer)
    {
        foreach (var (key, t) in tensors)
        {
            if (!key.StartsWith("normalize/", StringComparison.Ordinal))
                continue;
            if (!TryNormalizeIndex(key, out int i) || i >= trainer.Weights.Count)
            {
                yield return $"unexpected tensor '{key}'";
                continue;
            }
            var w = trainer.Weights[i];
            long count = t.Shape.Aggregate(1L, (a, d) => a * d);
            if (t.DType != w.DType || t.Shape.Length is < 1 or > 3 || count > w.Shape.Size || !HoldsItsShape(t))
                yield return $"power-iteration vector '{key}' is {t.DType} {Shape.Format(t.Shape)}, which does not fit "
                    + $"weight {i} ({w.DType} {w.Shape})";
            else if (t.FirstBadValue() is { } bad)
                yield return $"tensor '{key}': {bad}";
        }
    }

    private static void Compare(
        List<string> problems,
        IReadOnlyDictionary<string, string> metadata,
        string key,
        string want
    )
    {
        if (!metadata.TryGetValue(key, out var have))
            problems.Add($"metadata '{key}' is missing");
        else if (have != want)
            problems.Add($"{key}: the checkpoint has '{have}', this run uses '{want}'");
    }

    private static int Int(List<string> problems, IReadOnlyDictionary<string, string> metadata, string key, int max)
    {
        if (
            metadata.TryGetValue(key, out var text)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            && value <= max
        )
            return value;
        problems.Add($"metadata '{key}' is missing or invalid");
        return 0;
    }

    private static void ThrowIfAny(string path, List<string> problems)
    {
        if (problems.Count > 0)
            throw new InvalidDataException(
                $"Checkpoint '{path}' does not fit this run (nothing was changed):\n  " + string.Join("\n  ", problems)
            );
    }

    /// <summary>The weight tensor names in weight order: position and module path.</summary>
    private static string[] WeightKeys(Module model) =>
        model.Atoms().Select((a, i) => $"weights/{i:D3}/{a.Path}").ToArray();

    private static string SlotKey(string slot, int i) => $"{SlotPrefix(slot)}{i:D3}";

    private static string SlotPrefix(string slot) => $"optimizer/{slot}/";

    private static string NormalizeKey(int i) => $"normalize/{i:D3}";

    private static bool TryNormalizeIndex(string key, out int index)
    {
        index = -1;
        return key.StartsWith("normalize/", StringComparison.Ordinal)
            && int.TryParse(key["normalize/".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out index);
    }
}

/// <summary>A validated checkpoint file in memory: its tensors and metadata, not yet applied to anything.</summary>
/// <param name="Path">Where it was read from (for messages).</param>
/// <param name="FileBytes">The file's size: an upper bound for any model its metadata may describe.</param>
/// <param name="Tensors">Tensors by name.</param>
/// <param name="Metadata">Metadata entries, both checksums verified.</param>
public sealed record CheckpointFile(
    string Path,
    long FileBytes,
    Dictionary<string, SafeTensor> Tensors,
    Dictionary<string, string> Metadata
);

/// <summary>A trainer's state copied to the host by <see cref="Checkpoint.Capture"/>, ready to be written.</summary>
/// <param name="Step">The trainer's step when captured.</param>
/// <param name="Tensors">Host copies of weights, optimizer state and power-iteration vectors.</param>
/// <param name="Metadata">The metadata entries.</param>
public sealed record CheckpointSnapshot(
    int Step,
    IReadOnlyDictionary<string, SafeTensor> Tensors,
    IReadOnlyDictionary<string, string> Metadata
)
{
    /// <summary>Writes the snapshot atomically to <paramref name="path"/>.</summary>
    public void Write(string path, SafeTensorsWriteOptions? options = null) =>
        SafeTensors.Write(path, Tensors, Metadata, options);
}
