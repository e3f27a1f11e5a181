using System.Globalization;
using Modula.Modules;
using Modula.Tensors;

namespace Modula.Optim;

/// <summary>
/// Saves and restores a <see cref="Trainer"/> as one safetensors file: the weights (named
/// <c>weights/NNN/module path</c>), the optimizer's state vectors (<c>optimizer/slot/NNN</c>),
/// the power-iteration vectors (<c>normalize/NNN</c>), and in the metadata the step, skipped
/// steps, the optimizer, the power-iteration stream position, the architecture (the module
/// summary with masses) and any caller entries (for example a data sampler's position).
/// </summary>
public static class Checkpoint
{
    /// <summary>Metadata key of the architecture fingerprint.</summary>
    public const string ArchitectureKey = "architecture";

    /// <summary>Writes <paramref name="trainer"/>'s state atomically to <paramref name="path"/>.</summary>
    public static void Save(string path, Trainer trainer, IReadOnlyDictionary<string, string>? extra = null)
    {
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        var keys = WeightKeys(trainer.Model);
        for (int i = 0; i < keys.Length; i++) tensors[keys[i]] = SafeTensor.From(trainer.Weights[i]);
        trainer.Optimizer.EnsureSlots(trainer.Weights);
        foreach (var (slot, values) in trainer.Optimizer.Slots)
            for (int i = 0; i < values.Count; i++) tensors[SlotKey(slot, i)] = SafeTensor.From(values[i]);
        var vectors = trainer.NormalizeState.Vectors;
        for (int i = 0; i < vectors.Count; i++)
            if (vectors[i] is { } v) tensors[NormalizeKey(i)] = SafeTensor.From(v);

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (extra is not null) foreach (var (k, v) in extra) metadata[k] = v;
        metadata["format"] = "modula.net-checkpoint-1";
        metadata["step"] = trainer.StepCount.ToString(CultureInfo.InvariantCulture);
        metadata["skipped_steps"] = trainer.SkippedSteps.ToString(CultureInfo.InvariantCulture);
        metadata["optimizer"] = trainer.Optimizer.Describe();
        metadata["rule"] = trainer.Options.Rule.ToString();
        metadata["normalize_rng"] = string.Create(CultureInfo.InvariantCulture, $"{trainer.NormalizeState.Generator.Seed}:{trainer.NormalizeState.Generator.Offset}");
        metadata[ArchitectureKey] = trainer.Model.Summary();
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>
    /// Restores <paramref name="trainer"/> from <paramref name="path"/>. Loading is strict: every
    /// missing tensor, unexpected tensor, shape or dtype mismatch and architecture difference is
    /// listed in one <see cref="InvalidDataException"/>, and the trainer is left unchanged unless
    /// everything fits. Returns the file's metadata (including the caller's entries).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Restore(string path, Trainer trainer)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        var expected = new Dictionary<string, (Shape Shape, DType? DType)>(StringComparer.Ordinal);
        var keys = WeightKeys(trainer.Model);
        for (int i = 0; i < keys.Length; i++) expected[keys[i]] = (trainer.Weights[i].Shape, trainer.Weights[i].DType);
        foreach (var slot in trainer.Optimizer.SlotNames)
            for (int i = 0; i < trainer.Weights.Count; i++) expected[SlotKey(slot, i)] = (trainer.Weights[i].Shape, trainer.Weights[i].DType);
        var problems = Mismatches(tensors, metadata, expected, trainer.Model,
            key => TryNormalizeIndex(key, out int index) && index < trainer.Weights.Count);
        int step = metadata.TryGetValue("step", out var stepText) && int.TryParse(stepText, CultureInfo.InvariantCulture, out int parsed) ? parsed : -1;
        if (step < 0) problems.Add("metadata 'step' is missing or invalid");
        ThrowIfAny(path, problems);

        // Everything fits: copy in.
        for (int i = 0; i < keys.Length; i++)
        {
            using var loaded = tensors[keys[i]].ToTensor(trainer.Weights[i].Device);
            Ops.CopyInto(loaded, trainer.Weights[i]);
        }
        foreach (var slot in trainer.Optimizer.SlotNames)
            trainer.Optimizer.SetSlot(slot, new Weights(Enumerable.Range(0, trainer.Weights.Count)
                .Select(i => tensors[SlotKey(slot, i)].ToTensor(trainer.Weights[i].Device))));
        for (int i = 0; i < trainer.Weights.Count; i++)
            if (tensors.TryGetValue(NormalizeKey(i), out var v)) trainer.NormalizeState.Set(i, v.ToTensor(trainer.Weights[i].Device));
        trainer.StepCount = step;
        trainer.SkippedSteps = metadata.TryGetValue("skipped_steps", out var skipped) && int.TryParse(skipped, CultureInfo.InvariantCulture, out int s) ? s : 0;
        if (metadata.TryGetValue("normalize_rng", out var rng) && rng.Split(':') is [_, var offset] && ulong.TryParse(offset, CultureInfo.InvariantCulture, out ulong o))
            trainer.NormalizeState.Generator.Offset = o;
        return metadata;
    }

    /// <summary>
    /// Reads a checkpoint once for inference: <paramref name="buildModel"/> makes the model from
    /// the file's metadata, and its weights are loaded strictly (weight tensors and architecture);
    /// optimizer state in the file is ignored.
    /// </summary>
    public static (Module Model, Weights Weights, IReadOnlyDictionary<string, string> Metadata) LoadWeights(
        string path, Func<IReadOnlyDictionary<string, string>, Module> buildModel, Device device)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        var model = buildModel(metadata);
        var keys = WeightKeys(model);
        var atoms = model.Atoms();
        var expected = keys.Select((k, i) => (k, atoms[i].Atom.WeightShape))
            .ToDictionary(p => p.k, p => (p.WeightShape, (DType?)null), StringComparer.Ordinal);
        ThrowIfAny(path, Mismatches(tensors, metadata, expected, model, key => !key.StartsWith("weights/", StringComparison.Ordinal)));
        return (model, new Weights(keys.Select(k => tensors[k].ToTensor(device))), metadata);
    }

    /// <summary>Every missing, mismatched or unexpected tensor and an architecture difference, as messages.</summary>
    private static List<string> Mismatches(Dictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata,
        Dictionary<string, (Shape Shape, DType? DType)> expected, Module model, Func<string, bool> allowedExtra)
    {
        var problems = new List<string>();
        foreach (var (key, want) in expected)
        {
            if (!tensors.TryGetValue(key, out var have)) { problems.Add($"missing tensor '{key}'"); continue; }
            if ((want.DType is { } dtype && have.DType != dtype) || !have.Shape.SequenceEqual(want.Shape.Dims.ToArray()))
                problems.Add($"tensor '{key}' is {have.DType} {Shape.Format(have.Shape)} in the file, the model needs {want.DType?.ToString() ?? "a tensor of"} {want.Shape}");
        }
        foreach (var key in tensors.Keys.Where(k => !expected.ContainsKey(k) && !allowedExtra(k)))
            problems.Add($"unexpected tensor '{key}'");
        if (metadata.TryGetValue(ArchitectureKey, out var architecture) && architecture != model.Summary())
            problems.Add("the checkpoint was written for a different architecture (module tree or masses differ)");
        return problems;
    }

    private static void ThrowIfAny(string path, List<string> problems)
    {
        if (problems.Count > 0)
            throw new InvalidDataException($"Checkpoint '{path}' does not fit this model:\n  " + string.Join("\n  ", problems));
    }

    /// <summary>The weight tensor names in weight order: position and module path.</summary>
    private static string[] WeightKeys(Module model) => model.Atoms().Select((a, i) => $"weights/{i:D3}/{a.Path}").ToArray();

    private static string SlotKey(string slot, int i) => $"optimizer/{slot}/{i:D3}";

    private static string NormalizeKey(int i) => $"normalize/{i:D3}";

    private static bool TryNormalizeIndex(string key, out int index)
    {
        index = -1;
        return key.StartsWith("normalize/", StringComparison.Ordinal) && int.TryParse(key["normalize/".Length..], CultureInfo.InvariantCulture, out index) && index >= 0;
    }
}
