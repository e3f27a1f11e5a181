using System.Globalization;
using Modula.Optim;

namespace Modula.Cli.Training;

/// <summary>
/// What makes a training run the run it is — model, sizes, horizon (<c>--steps</c>), schedule,
/// optimizer, rule, hyperparameters, batch, seed and a fingerprint of the data — stored in its
/// checkpoints as <c>run.NAME</c> entries, next to <c>resume.NAME</c> entries (evaluation and
/// checkpoint intervals, log and data paths, device) that a resumed run uses unless told otherwise.
/// A resumed run takes every setting from its checkpoint, and a flag that contradicts one is refused.
/// </summary>
public static class RunIdentity
{
    /// <summary>Prefix of identity entries in checkpoint metadata.</summary>
    public const string Prefix = "run.";

    /// <summary>Prefix of the resumed run's default options in checkpoint metadata.</summary>
    public const string ResumePrefix = "resume.";

    /// <summary>
    /// The metadata entry that records where a run saved a checkpoint (its full path; a <c>--keep</c> copy records
    /// the checkpoint it was copied from). A run resumed from it that saves elsewhere while that file is still there is
    /// a branch, which must not continue the run's log (<see cref="RefuseBranchContinuingLog"/>).
    /// </summary>
    public const string SavedAsKey = "checkpoint.path";

    /// <summary>The metadata entries of the losses since the last report, carried across a resume: their sum, the
    /// part of it summed on the device (in float32) and their count. <see cref="RunDriver"/> writes and reads them;
    /// <see cref="CheckRecorded"/> checks them.</summary>
    public const string LossSumKey = "report.loss_sum",
        LossSumDeviceKey = "report.loss_sum_device",
        LossCountKey = "report.loss_count";

    /// <summary>The metadata entry of the run's last log row before the save, as written (empty before the first
    /// row): a resumed run continues a log only if the log holds that row (<see cref="RunLog.HoldsLastRow"/>), so a
    /// log that another run wrote at the same path since (the checkpoint moved away with its own) is refused, not
    /// trimmed.</summary>
    public const string LastLogRowKey = "report.last_row";

    /// <summary>Identity fields that are not command-line options.</summary>
    private static readonly HashSet<string> Derived = ["model", "schedule", "data"];

    /// <summary>The identity of a GPT run.</summary>
    public static Dictionary<string, string> Of(GptSettings s, string dataFingerprint)
    {
        var identity = new Dictionary<string, string>
        {
            ["model"] = "gpt",
            ["recipe"] = s.Recipe,
            ["context"] = Text(s.Config.Context),
            ["width"] = Text(s.Config.DEmbed),
            ["heads"] = Text(s.Config.Heads),
            ["blocks"] = Text(s.Config.Blocks),
        };
        return Finish(identity, s.Optimizer, s.Steps, s.Batch, s.Seed, dataFingerprint);
    }

    /// <summary>The identity of a classifier run; <paramref name="sizes"/> are its size options.</summary>
    public static Dictionary<string, string> Of(
        string model,
        IReadOnlyDictionary<string, int> sizes,
        ClassifierSettings s,
        string dataFingerprint,
        double rmsEpsilon = 0
    )
    {
        var identity = new Dictionary<string, string> { ["model"] = model };
        foreach (var (name, value) in sizes)
            identity[name] = Text(value);
        if (rmsEpsilon > 0) // recorded only when used, as the optional optimizer settings below
            identity["rms-epsilon"] = Text(rmsEpsilon);
        return Finish(identity, s.Optimizer, s.Steps, s.Batch, s.Seed, dataFingerprint);
    }

    private static Dictionary<string, string> Finish(
        Dictionary<string, string> identity,
        OptimizerChoice o,
        int steps,
        int batch,
        ulong seed,
        string data
    )
    {
        identity["steps"] = Text(steps);
        identity["schedule"] = "linear";
        identity["batch"] = Text(batch);
        identity["seed"] = seed.ToString(CultureInfo.InvariantCulture);
        identity["optimizer"] = o.Name;
        identity["rule"] = o.Rule.ToString().ToLowerInvariant();
        identity["lr"] = Text(o.LearningRate);
        identity["beta1"] = Text(o.Beta1);
        identity["beta2"] = Text(o.Beta2);
        identity["wd"] = Text(o.WeightDecay);
        // Recorded only when used, so the checkpoints of runs without them keep their identity.
        if (o.AdamLearningRate is double adam)
            identity["adam-lr"] = Text(adam);
        if (o.Method is { } method)
            identity["orthogonalizer"] = OptimizerChoice.MethodName(method);
        if (o.Manifold is { } ascent)
        {
            identity["manifold-steps"] = Text(ascent.Iterations);
            identity["manifold-tolerance"] = Text(ascent.Tolerance);
        }
        foreach (var (option, value) in o.Cap?.Settings() ?? [])
            identity[option] = value;
        identity["data"] = data;
        return identity;
    }

    /// <summary>The options a resumed run starts from: the run's identity and its resume defaults.</summary>
    public static Dictionary<string, string> OptionsOf(IReadOnlyDictionary<string, string> metadata)
    {
        var options = new Dictionary<string, string>();
        foreach (var (key, value) in metadata)
        {
            if (key.StartsWith(Prefix, StringComparison.Ordinal) && !Derived.Contains(key[Prefix.Length..]))
                options[key[Prefix.Length..]] = value;
            else if (key.StartsWith(ResumePrefix, StringComparison.Ordinal))
                options[key[ResumePrefix.Length..]] = value;
        }
        return options;
    }

    /// <summary>Recorded settings that must be positive integers, and those that must be finite numbers.</summary>
    private static readonly string[] Counts =
    [
        "steps",
        "batch",
        "context",
        "width",
        "heads",
        "blocks",
        "block-depth",
        "eval-interval",
        "eval-batches",
        "checkpoint-every",
    ];

    private static readonly string[] Numbers =
    [
        "lr",
        "beta1",
        "beta2",
        "wd",
        "adam-lr",
        "sigma-max",
        "spectral-strength",
    ];

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> when the settings a checkpoint records are not sane
    /// (sizes and counts positive integers, hyperparameters finite numbers, the RMS epsilon and the manifold rule's
    /// settings in the ranges the command line accepts and recorded only where they apply), before any is used. The
    /// entries only a resumed run reads (<c>resume.*</c>, the report's tally) are checked when <paramref
    /// name="resumedWith"/> is given, except those it says the command line gives again (their values are the ones
    /// used); <c>certify</c>, which resumes nothing, passes none.
    /// </summary>
    public static void CheckRecorded(
        string path,
        IReadOnlyDictionary<string, string> metadata,
        Func<string, bool>? resumedWith = null
    )
    {
        var options = OptionsOf(metadata);
        foreach (var key in metadata.Keys.Where(k => k.StartsWith(ResumePrefix, StringComparison.Ordinal)))
            if (resumedWith is null || resumedWith(key[ResumePrefix.Length..]))
                options.Remove(key[ResumePrefix.Length..]);
        var problems = new List<string>();
        foreach (var key in Counts)
            if (
                options.TryGetValue(key, out var v)
                && !(int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0)
            )
                problems.Add($"{key} '{v}' is not a positive integer");
        foreach (var key in Numbers)
            if (
                options.TryGetValue(key, out var v)
                && !(
                    double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x)
                    && double.IsFinite(x)
                )
            )
                problems.Add($"{key} '{v}' is not a finite number");
        if (options.TryGetValue("rms-epsilon", out var epsilon))
        {
            if (!(Number(epsilon) is double e && Models.IsRmsEpsilon(e)))
                problems.Add(
                    $"rms-epsilon '{epsilon}' is not 0 or a finite number of at least {Text(Models.MinRmsEpsilon)}"
                );
            if (metadata.GetValueOrDefault(Prefix + "model") is not ("resmlp" or "rescnn"))
                problems.Add(
                    $"rms-epsilon is recorded for model '{metadata.GetValueOrDefault(Prefix + "model")}', which has "
                        + "none (only resmlp and rescnn do)"
                );
        }
        if (
            options.TryGetValue("manifold-steps", out var manifoldSteps)
            && !(
                int.TryParse(manifoldSteps, NumberStyles.None, CultureInfo.InvariantCulture, out int iterations)
                && iterations is >= 1 and <= OptimizerChoice.MaxManifoldSteps
            )
        )
            problems.Add(
                $"manifold-steps '{manifoldSteps}' is not an integer in 1..{OptimizerChoice.MaxManifoldSteps}"
            );
        if (
            options.TryGetValue("manifold-tolerance", out var tolerance)
            && !(Number(tolerance) is double t && double.IsFinite(t) && t >= 0)
        )
            problems.Add($"manifold-tolerance '{tolerance}' is not a finite number of at least 0");
        if (
            (options.ContainsKey("manifold-steps") || options.ContainsKey("manifold-tolerance"))
            && options.GetValueOrDefault("rule") != "manifold"
        )
            problems.Add($"manifold settings are recorded for rule '{options.GetValueOrDefault("rule")}'");
        if (
            options.TryGetValue("seed", out var seed)
            && !int.TryParse(seed, NumberStyles.None, CultureInfo.InvariantCulture, out _)
        )
            problems.Add($"seed '{seed}' is not a non-negative integer");
        if (resumedWith is not null)
            problems.AddRange(ResumedRunProblems(metadata, options));
        if (problems.Count > 0)
            throw new InvalidDataException(
                $"Checkpoint '{path}' records an impossible run: {string.Join("; ", problems)}."
            );
    }

    /// <summary>
    /// What is wrong with the entries only a resumed run reads (its device, files, counts, and the running tally of
    /// its next report), which the command line never checked: each is used as if the user had given it.
    /// </summary>
    private static IEnumerable<string> ResumedRunProblems(
        IReadOnlyDictionary<string, string> metadata,
        Dictionary<string, string> options
    )
    {
        if (options.TryGetValue("device", out var device) && !Options.IsDeviceName(device))
            yield return $"device '{device}' is not cpu, ilgpu-cpu, cuda[:N] or opencl[:N]";
        // Written as full paths: a relative one would resolve against wherever the run is resumed.
        foreach (var key in (string[])["log", "data"])
            if (
                options.TryGetValue(key, out var file) && !(Options.IsPathText(file) && Path.IsPathFullyQualified(file))
            )
                yield return $"{key} '{file}' is not a full path";
        if (
            metadata.TryGetValue(SavedAsKey, out var savedAs)
            && !(Options.IsPathText(savedAs) && Path.IsPathFullyQualified(savedAs))
        )
            yield return $"{SavedAsKey} '{savedAs}' is not a full path";
        if (options.TryGetValue("keep", out var keep) && !Count(keep).HasValue)
            yield return $"keep '{keep}' is not a non-negative integer";
        if (options.TryGetValue("eval-batches", out var batches) && Count(batches) > GptRun.MaxEvalBatches)
            yield return $"eval-batches '{batches}' is more than {GptRun.MaxEvalBatches}";
        // The tally of the next report's batch losses, one per step since the last report: a NaN sum would be reported
        // as a diverged run, a count past the step would mean losses never taken. (A sum is not required to be ≥ 0:
        // a fused multiply-add can round a loss of about 0 below it.)
        bool hasSum = metadata.TryGetValue(LossSumKey, out var sum),
            hasCount = metadata.TryGetValue(LossCountKey, out var count);
        if (hasSum != hasCount)
            yield return $"{LossSumKey} and {LossCountKey} are not recorded together";
        else if (hasSum)
        {
            int? n = Count(count!);
            int step = Count(metadata.GetValueOrDefault("step", "")) ?? 0;
            if (!(Number(sum!) is double total && double.IsFinite(total) && (n != 0 || total == 0)))
                yield return $"{LossSumKey} '{sum}' is not the sum of {count} batch losses";
            if (!(n <= step))
                yield return $"{LossCountKey} '{count}' is not a count of steps up to the step {step}";
        }
        // The part of the sum made on the device, a float32 sum of float32 losses (checkpoints from before it was
        // recorded lack it): the resumed tally makes a float32 scalar of it, which would round any other value.
        if (metadata.TryGetValue(LossSumDeviceKey, out var part))
        {
            if (!hasSum)
                yield return $"{LossSumDeviceKey} is recorded without {LossSumKey}";
            else if (
                hasCount
                && !(
                    Number(part) is double value
                    && float.IsFinite((float)value)
                    && (float)value == value
                    && (Count(count!) != 0 || value == 0)
                )
            )
                yield return $"{LossSumDeviceKey} '{part}' is not a float32 sum of {count} batch losses";
        }
    }

    private static int? Count(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : null;

    private static double? Number(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x : null;

    /// <summary>
    /// Refuses a resumed run that would continue its checkpoint's log while saving somewhere other than where that
    /// checkpoint was saved (<see cref="SavedAsKey"/>), when a file is still there: a copy resumed from its own path,
    /// a <c>--keep</c> copy resumed in place, or <c>--resume PATH --checkpoint OTHER</c>. Two runs would then write
    /// one log, the later rewriting the other's rows past its step. Such a run must be given its own <c>--log</c>. A
    /// run that saves where its checkpoint was saved, and one whose checkpoint was moved away (nothing left at the
    /// old path), continue the log, as does a checkpoint written before the entry existed. Paths are compared with
    /// the symbolic links among their folders resolved (<see cref="PhysicalPath"/>).
    /// </summary>
    /// <param name="resumed">The checkpoint given to <c>--resume</c>.</param>
    /// <param name="checkpoint">Where the resumed run saves.</param>
    /// <param name="metadata">The resumed checkpoint's metadata, checked by <see cref="CheckRecorded"/>.</param>
    /// <param name="log">The log the run would continue.</param>
    public static void RefuseBranchContinuingLog(
        string resumed,
        string checkpoint,
        IReadOnlyDictionary<string, string> metadata,
        string log
    )
    {
        if (!metadata.TryGetValue(SavedAsKey, out var savedAs))
            return;
        string original = PhysicalPath(savedAs);
        if (PhysicalPath(checkpoint) == original || !File.Exists(original))
            return;
        string step = metadata.GetValueOrDefault("step", "?");
        string goOn =
            PhysicalPath(resumed) == original
                ? "resume it without --checkpoint"
                : $"copy this file over {savedAs} and resume that";
        throw new UsageException(
            $"--resume {resumed} was saved as {savedAs}, which is still there, and this run saves to {checkpoint}: "
                + $"continuing that run's log {log} would mix two runs' rows in it (its rows past step {step} would "
                + $"be replaced). Give this run its own --log PATH; to go on with that run instead, {goOn}."
        );
    }

    /// <summary>
    /// The full path of <paramref name="path"/> with every symbolic link among its folders resolved, as far as the file
    /// system has them: two texts of one file (a folder reached through a link, a run's working folder under one)
    /// compare equal. The file name is kept as it is, link or not: a save renames a new file over that name, which
    /// replaces a link there rather than writing through it, so a link to a checkpoint is another file once saved. A
    /// part that does not exist, or cannot be read, is kept as written.
    /// </summary>
    internal static string PhysicalPath(string path)
    {
        string full = Path.GetFullPath(path);
        string? folder = Path.GetDirectoryName(full);
        if (folder is null)
            return full; // a root
        int links = 40; // the most links followed, as in Linux's path lookup: more means a loop
        return Path.Combine(ResolveLinks(folder, ref links), Path.GetFileName(full));
    }

    // The path with its links resolved, taking each link followed off the budget.
    private static string ResolveLinks(string full, ref int links)
    {
        string root = Path.GetPathRoot(full) ?? "",
            current = root;
        foreach (
            var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries)
        )
        {
            string next = Path.Combine(current, part);
            string? target = null;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // unreadable: kept as written
            }
            if (target is not null && links-- > 0)
                next = ResolveLinks(Path.GetFullPath(target, current), ref links);
            current = next;
        }
        return current;
    }

    /// <summary>Metadata entries for <paramref name="identity"/> and the resume defaults.</summary>
    public static Dictionary<string, string> Metadata(
        IReadOnlyDictionary<string, string> identity,
        IReadOnlyDictionary<string, string> resumeDefaults
    )
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in identity)
            metadata[Prefix + k] = v;
        foreach (var (k, v) in resumeDefaults)
            metadata[ResumePrefix + k] = v;
        return metadata;
    }

    /// <summary>
    /// Refuses, in one <see cref="UsageException"/> listing every difference, a resumed run whose
    /// settings contradict the checkpoint's run. A new horizon (<c>--steps</c>) is accepted only with
    /// <paramref name="extend"/> and only beyond the checkpoint's step; a finished run is not resumed
    /// without it.
    /// </summary>
    public static void Check(
        string path,
        IReadOnlyDictionary<string, string> metadata,
        IReadOnlyDictionary<string, string> identity,
        int checkpointStep,
        bool extend
    )
    {
        var problems = new List<string>();
        foreach (var (key, value) in identity)
        {
            if (!metadata.TryGetValue(Prefix + key, out var recorded))
            {
                problems.Add($"the checkpoint records no '{key}'");
                continue;
            }
            if (recorded == value || (key == "steps" && extend))
                continue;
            problems.Add(
                key switch
                {
                    "data" =>
                        $"the data differs from the run's (fingerprint {Short(value)}, the run's {Short(recorded)})",
                    "steps" =>
                        $"--steps {value} (the run's horizon is {recorded}; add --extend to train it to a new horizon, "
                            + $"which changes its schedule)",
                    _ when Derived.Contains(key) => $"{key} {value} (the run's is {recorded})",
                    _ => $"--{key} {value} (the run's is {recorded})",
                }
            );
        }
        foreach (
            var (key, value) in metadata.Where(p =>
                p.Key.StartsWith(Prefix, StringComparison.Ordinal) && !identity.ContainsKey(p.Key[Prefix.Length..])
            )
        )
        {
            string option = key[Prefix.Length..],
                optimizer = identity.GetValueOrDefault("optimizer", "");
            // An explicit default that earlier builds recorded is the same run as one without it.
            if (OptimizerChoice.IsDefault(option, value, optimizer))
                continue;
            // A setting taken from the checkpoint is missing from the identity only when a flag set it to its default.
            problems.Add(
                OptimizerChoice.DefaultSetting(option, optimizer) is { } given
                    ? $"--{option} {given} (the run's is {value})"
                    : $"the checkpoint records '{option}', which this command does not have"
            );
        }
        if (problems.Count > 0)
            throw new UsageException(
                $"--resume {path}: these settings contradict the checkpoint's run (nothing was changed):\n  "
                    + $"{string.Join("\n  ", problems)}"
            );
        int steps = int.Parse(identity["steps"], CultureInfo.InvariantCulture);
        if (extend && steps <= checkpointStep)
            throw new UsageException(
                $"--resume {path} --extend: --steps {steps} must exceed the checkpoint's step {checkpointStep}."
            );
        if (!extend && checkpointStep >= steps)
            throw new UsageException(
                $"--resume {path}: the run already reached its horizon of {steps} steps; "
                    + "to train further, give a new horizon with --steps N --extend (this changes its learning-rate "
                    + "schedule)."
            );
    }

    private static string Short(string fingerprint) => fingerprint.Length > 12 ? fingerprint[..12] + "…" : fingerprint;

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
