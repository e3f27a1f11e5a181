using System.Diagnostics;
using System.Globalization;
using Modula.Cli.Training;
using Modula.Data;
using Modula.Optim;
using Modula.Tensors;
using static System.FormattableString;

namespace Modula.Cli.Commands;

/// <summary><c>modula train gpt|mlp|resmlp|rescnn</c>: trains a model and ends with one machine-readable <c>final
/// …</c> line.</summary>
public static class TrainCommand
{
    private static readonly string[] Common =
    [
        "device",
        "seed",
        "steps",
        "batch",
        "data",
        "log",
        "eval-interval",
        "checkpoint",
        "checkpoint-every",
        "keep",
        "resume",
        .. OptimizerChoice.OptionNames,
    ];

    private static readonly string[] Switches = ["no-download", "extend"];

    /// <summary>
    /// The image classifiers' default learning rate (normed Modula-Adam): 0.25 rather than Modula's
    /// CIFAR default 0.5, since on Fashion-MNIST it gives the MLP and the ResMLP the lower training
    /// loss over the last 500 of 2000 steps on every seed, as the ResMLP sweep's optimum at width 256.
    /// </summary>
    public const double ClassifierLearningRate = 0.25;

    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length == 0 || CommandLine.WantsHelp(args))
        {
            output.WriteLine(
                """
                modula train gpt [--recipe v1|v2] [--steps 2000] [--batch 12] [--context 64] [--width 128] [--heads 4]
                                 [--blocks 4] [--optimizer modula-adam|adam|momentum|sgd|muon]
                                 [--rule normalize|dualize|manifold|plain] [--lr X] [--beta1 X] [--beta2 X] [--wd X]
                                 [--adam-lr X] [--spectral-cap hard|soft|normalize|hammer|decay] [--sigma-max X]
                                 [--spectral-strength X] [--orthogonalizer six-step|muon|polar-express]
                                 [--manifold-steps 10] [--manifold-tolerance 0.001]
                                 [--seed 0] [--device cpu] [--data DIR] [--no-download] [--log train-gpt.csv]
                                 [--eval-interval 200] [--eval-batches 100] [--checkpoint PATH] [--checkpoint-every N]
                                 [--keep K]
                modula train gpt --resume PATH [--steps N --extend]
                modula train mlp|resmlp|rescnn [--data DIR] [--steps N] [--batch 128] [--width N]
                                 [--blocks N] [--rms-epsilon X] [optimizer options] [--checkpoint PATH]
                                 [--checkpoint-every N] [--keep K] [--resume PATH]

                gpt: a character-level GPT on tinyshakespeare. The default is Modula v1's recipe (normed Adam,
                lr 0.5, β 0.9/0.99, wd 0.01, linear decay, 2000 steps of 12×64 tokens); --recipe v2 is Modula v2's
                (RoPE GPT, dualized momentum 0.95, lr 0.1, no weight decay). Every --eval-interval steps it prints
                the mean loss over --eval-batches fixed train and held-out batches, and held-out next-token accuracy.
                mlp/resmlp/rescnn: Fashion-MNIST classifiers (normed Adam, lr 0.25, β 0.9/0.99, wd 0.01, linear decay,
                2000 steps of 128 images); reports accuracy on the 10,000 test images. --rms-epsilon X (resmlp,
                rescnn) divides by √(mean(x²) + X) instead of Modula's RMS, so that `modula certify` can bound the
                network (each division's slope is at most 1/√X); X is 0 (the default) or at least 1e-30.
                --optimizer muon is K. Jordan's Muon (plain rule): the hidden matrices step by Nesterov momentum
                --beta1 (0.95) orthogonalized by Muon's quintic and scaled by √max(1, out/in), at --lr (0.02); the
                embeddings and the head step by Adam (β 0.9/--beta2 0.95) at --adam-lr (0.003); --wd is AdamW's, at each
                one's rate.
                --orthogonalizer picks the msign of --rule dualize (default six-step, Modula v2's Newton–Schulz) and of
                --optimizer muon (default muon, its five-step quintic); polar-express is Amsel et al.'s five steps.
                --spectral-cap bounds every weight matrix's spectral norm after each step (a Lipschitz bound): hard
                (σ ↦ min(σ, σ_max)), soft (a smooth cap, α = --spectral-strength), normalize (W/max(1, σ₁/σ_max)),
                hammer (σ₁ ↦ σ_max) or decay (σ₁ shrunk by the fraction --spectral-strength); --sigma-max defaults to 1,
                the norm of the initial weights. The cap is part of the run's identity, so --resume keeps it.
                --rule manifold keeps every matrix semi-orthogonal and every embedding row on the unit sphere: manifold
                Muon (--manifold-steps dual-ascent steps at most, fewer once the tangency violation is under
                --manifold-tolerance) and hyperspherical descent, then the projection back.

                Checkpoints: --checkpoint PATH writes the run atomically every --checkpoint-every steps (default: every
                --eval-interval) and at the end, in the background; --keep K also keeps the last K as NAME.step-N.EXT.
                Ctrl-C or SIGTERM finishes the current step (or stops a report's evaluation), saves, prints the command
                that resumes, and exits 130/143; a second Ctrl-C exits at once. A run whose gradient or reported loss
                turns NaN or infinite stops without saving that state (exit 6). A checkpoint holds the run's identity
                (model, sizes, --steps, schedule, optimizer, rule, lr, betas, wd, batch, seed, data fingerprint), so
                --resume PATH alone continues the run to its horizon with exactly the losses of an uninterrupted run,
                saving to PATH and continuing its log.
                A flag that contradicts the checkpoint is refused, listing every difference. A finished run is trained
                further only with --steps N --extend (a new horizon: the learning-rate schedule changes from there on).
                A fresh run refuses an existing --log or --checkpoint file rather than overwrite another run's work; a
                resumed run continues only its own log (another --log must be new), and a run that does not continue
                PATH refuses snapshots (NAME.step-N.EXT) of another run beside it. --eval-batches is at most 10000; --lr
                and --adam-lr lie in [1e-12, 1e6], --wd in [0, 1e6] and --sigma-max in [1e-6, 1e6].

                Data is looked up in --data, $MODULA_DATA and ./data (Fashion-MNIST also in /usr/share/datasets),
                and downloaded into ./data when missing (unless --no-download). The last line is machine-readable:
                  gpt:                final step=… train_loss=… test_loss=… test_accuracy=… ms_per_step=… peak_rss_mb=…
                  mlp/resmlp/rescnn:  final step=… test_loss=… test_accuracy=… seconds=… ms_per_step=… peak_rss_mb=…
                """
            );
            return args.Length == 0 ? 2 : 0;
        }
        return args[0] switch
        {
            "gpt" => TrainGpt(
                new Options(
                    args[1..],
                    [.. Common, "eval-batches", "recipe", "context", "width", "heads", "blocks"],
                    Switches
                ),
                output,
                error
            ),
            "mlp" or "resmlp" or "rescnn" => TrainClassifier(
                args[0],
                new Options(
                    args[1..],
                    [.. Common, "eval-batches", "width", "blocks", "block-depth", "rms-epsilon"],
                    Switches
                ),
                output,
                error
            ),
            var m => throw new UsageException(
                $"unknown model '{m}'; available: gpt, mlp, resmlp, "
                    + $"rescnn.{Suggestions.DidYouMean(m, ["gpt", "mlp", "resmlp", "rescnn"])}"
            ),
        };
    }

    private static int TrainGpt(Options options, TextWriter output, TextWriter error)
    {
        var launch = DistributedLaunch.Join(); // null unless started by mpiexec as one of several ranks
        output = launch?.Output(output) ?? output;
        CheckBeforeWork(options, gpt: true);
        var resume = LoadResume(options, "gpt");
        if (resume is not null)
            options = options.WithDefaults(RunIdentity.OptionsOf(resume.Metadata));
        string recipe = options.Get("recipe", "v1");
        if (recipe is not ("v1" or "v2"))
            throw new UsageException($"unknown recipe '{recipe}'; use v1 or v2.");
        var config = Models.GptConfig(options);
        if (resume is not null)
            CheckpointLimits.CheckGpt(resume.Path, config, resume.FileBytes);
        var settings = new GptSettings(
            recipe,
            config,
            OptimizerChoice.Parse(options, recipe == "v2" ? GptSettings.V2Optimizer : GptSettings.V1Optimizer),
            options.GetPositiveInt("steps", 2000),
            options.GetPositiveInt("batch", 12),
            (ulong)options.GetInt("seed", 0)
        );
        Models.CheckTensorSizes(settings.Config, settings.Batch);
        int interval = options.GetPositiveInt("eval-interval", 200),
            evalBatches = options.GetInt("eval-batches", 100, 1, GptRun.MaxEvalBatches);
        var files = Prepare(options, resume, "train-gpt.csv", interval, settings.Steps); // before data is looked for
        var corpus = TextCorpus.Load(
            DataFiles.Locate(
                DataFiles.Shakespeare,
                options.Has("data") ? options.Get("data", "") : null,
                !options.Has("no-download"),
                output
            )
        );
        var identity = RunIdentity.Of(settings, corpus.Fingerprint);
        CheckResumedIdentity(options, resume, identity);
        launch?.World.Barrier(); // every rank checked the files before rank 0 writes
        using var device = Device.Open(options.Get("device", "cpu"));
        using var run = new GptRun(settings, corpus, device);
        if (resume is not null)
            run.Resume(resume);
        launch?.Attach(run, identity, settings.Batch, output);
        output.WriteLine(
            $"train gpt {recipe}: {run.Model} | {settings.Optimizer} | {settings.Steps} steps × "
                + $"{settings.Batch}×{settings.Config.Context} tokens on {device.Name} from step "
                + $"{run.Trainer.StepCount}"
        );

        var defaults = ResumeDefaults(options, files, interval);
        defaults["eval-batches"] = evalBatches.ToString(CultureInfo.InvariantCulture);
        using var log = launch is { IsRoot: false }
            ? RunLog.Discard()
            : RunLog.Open(files.Log, RunLog.GptHeader, files.ContinuesLog ? run.Trainer.StepCount : null);
        var eval = new GptEvaluation(double.NaN, double.NaN, double.NaN);
        var driver = Driver("modula train gpt", settings.Steps, interval, files, identity, defaults, resume);
        if (launch is not null)
            driver = launch.ForRank(driver);
        var (code, stepTimes) = RunDriver.Run(
            run,
            driver,
            log,
            (step, batchLoss, ms, signalled) =>
            {
                if (run.Evaluate(evalBatches, signalled) is not { } evaluated)
                {
                    output.WriteLine(
                        $"step {step}/{settings.Steps}: evaluation stopped by the signal; the resumed run reports it"
                    );
                    return null;
                }
                eval = evaluated;
                output.WriteLine(
                    Invariant($"step {step}/{settings.Steps} batch_loss {batchLoss:F3} train_loss {eval.Train:F3} ")
                        + Invariant($"test_loss {eval.Test:F3} test_acc {eval.TestAccuracy:F3} ")
                        + Invariant($"lr {run.Trainer.CurrentLearningRate:F4} ms/step {ms:F1}")
                );
                TrainingDivergedException.ThrowIfNotFinite(
                    step,
                    ("mean batch loss", batchLoss),
                    ("train loss", eval.Train),
                    ("test loss", eval.Test)
                );
                return Invariant(
                    $"{step},{batchLoss:F5},{eval.Train:F5},{eval.Test:F5},{ms:F3},{eval.TestAccuracy:F5}"
                );
            },
            output,
            error
        );
        launch?.Report(output, stepTimes.Count);
        if (code == 0)
            output.WriteLine(
                Invariant($"final step={run.Trainer.StepCount} train_loss={eval.Train:F3} test_loss={eval.Test:F3} ")
                    + Invariant($"test_accuracy={eval.TestAccuracy:F4} ms_per_step={Measure.Median(stepTimes):F1} ")
                    + Invariant($"peak_rss_mb={Measure.PeakRssMb():F0}")
            );
        return code;
    }

    private static int TrainClassifier(string name, Options options, TextWriter output, TextWriter error)
    {
        options.Reject($"train {name} (it evaluates on the whole test set, once, at the end)", "eval-batches");
        var launch = DistributedLaunch.Join();
        output = launch?.Output(output) ?? output;
        CheckBeforeWork(options, gpt: false);
        var resume = LoadResume(options, name);
        if (resume is not null)
            options = options.WithDefaults(RunIdentity.OptionsOf(resume.Metadata));
        var sizes = Models.ClassifierSizes(name, options);
        Models.CheckTensorSizes(name, sizes, options.GetPositiveInt("batch", 128));
        if (resume is not null)
            CheckpointLimits.CheckClassifier(resume.Path, sizes, resume.FileBytes);
        var model = Models.Build(name, options); // a bad size or optimizer is a usage error before data loads
        var optimizer = OptimizerChoice.Parse(
            options,
            new OptimizerChoice("modula-adam", Optim.UpdateRule.Normalize, ClassifierLearningRate, 0.9, 0.99, 0.01)
        );
        var settings = new ClassifierSettings(
            optimizer,
            options.GetPositiveInt("steps", 2000),
            options.GetPositiveInt("batch", 128),
            (ulong)options.GetInt("seed", 0)
        );
        int interval = options.GetPositiveInt("eval-interval", 500);
        var files = Prepare(options, resume, $"train-{name}.csv", interval, settings.Steps); // before data is read
        string data = options.Get("data", "fashion-mnist");
        string? directory = data == "fashion-mnist" ? null : data;
        bool download = !options.Has("no-download");
        var train = ImageDataset.LoadFashionMnist(true, directory, download, output);
        var test = ImageDataset.LoadFashionMnist(false, directory, download, output);
        var identity = RunIdentity.Of(
            name,
            sizes,
            settings,
            train.Fingerprint + test.Fingerprint[..16],
            Models.RmsEpsilon(options)
        );
        CheckResumedIdentity(options, resume, identity);
        launch?.World.Barrier();
        using var device = Device.Open(options.Get("device", "cpu"));
        using var run = new ClassifierRun(name, model, settings, train, test, device);
        if (resume is not null)
            run.Resume(resume);
        launch?.Attach(run, identity, settings.Batch, output);
        output.WriteLine(
            $"train {name}: {model} | {optimizer} | {settings.Steps} steps × {settings.Batch} images on {device.Name} "
                + $"from step {run.Trainer.StepCount}"
        );

        var defaults = ResumeDefaults(options, files, interval);
        if (directory is not null)
            defaults["data"] = Path.GetFullPath(directory);
        else
            defaults.Remove("data"); // "fashion-mnist": the usual lookup
        using var log = launch is { IsRoot: false }
            ? RunLog.Discard()
            : RunLog.Open(files.Log, RunLog.ClassifierHeader, files.ContinuesLog ? run.Trainer.StepCount : null);
        var clockTotal = Stopwatch.StartNew();
        var driver = Driver($"modula train {name}", settings.Steps, interval, files, identity, defaults, resume);
        if (launch is not null)
            driver = launch.ForRank(driver);
        var (code, stepTimes) = RunDriver.Run(
            run,
            driver,
            log,
            (step, batchLoss, ms, _) =>
            {
                output.WriteLine(Invariant($"step {step}/{settings.Steps} batch_loss {batchLoss:F4} ms/step {ms:F1}"));
                TrainingDivergedException.ThrowIfNotFinite(step, ("mean batch loss", batchLoss));
                return Invariant($"{step},{batchLoss:F5},{ms:F3}");
            },
            output,
            error
        );
        launch?.Report(output, stepTimes.Count);
        if (code != 0)
            return code;
        // The run has finished and its checkpoint is saved: a signal now lets the final test end (a second one ends
        // the process at once), as it lets a GPT's horizon report end, rather than lose the run's last line (or, on
        // one rank of a parallel run, abort the job).
        double loss,
            accuracy;
        using (new Interruption())
            (loss, accuracy) = run.Test();
        output.WriteLine(
            Invariant($"final step={run.Trainer.StepCount} test_loss={loss:F4} test_accuracy={accuracy:F4} ")
                + Invariant($"seconds={clockTotal.Elapsed.TotalSeconds:F1} ms_per_step={Measure.Median(stepTimes):F2} ")
                + Invariant($"peak_rss_mb={Measure.PeakRssMb():F0}")
        );
        return 0;
    }

    /// <summary>The checkpoint named by <c>--resume</c>, read and validated, or null; one of another model's run is a
    /// usage error naming the command that resumes it.</summary>
    private static CheckpointFile? LoadResume(Options options, string model)
    {
        if (!options.Has("resume"))
            return null;
        string path = options.Get("resume", "");
        if (Directory.Exists(path))
            throw new UsageException($"--resume {path} is a folder; give the checkpoint file.");
        var file = Checkpoint.Load(path);
        RunIdentity.CheckRecorded(path, file.Metadata, options.Has);
        if (file.Metadata.TryGetValue(RunIdentity.Prefix + "model", out var recorded) && recorded != model)
            throw new UsageException(
                $"--resume {path} holds a {recorded} run; continue it with 'modula train {recorded} --resume {path}'."
            );
        return file;
    }

    /// <summary>
    /// Validates the options every run reads later (device, seed, intervals, files and folders), so a
    /// bad value is a usage error before data loads or a model is built.
    /// </summary>
    private static void CheckBeforeWork(Options options, bool gpt)
    {
        options.GetDevice();
        options.GetInt("seed", 0, 0, int.MaxValue);
        options.GetPositiveInt("eval-interval", 200);
        options.GetInt("eval-batches", 100, 1, GptRun.MaxEvalBatches);
        options.GetOutputFile("log", "train.csv");
        // Settings that would otherwise change nothing, silently: where no checkpoint is written, and a new horizon
        // that is not given.
        if (!options.Has("checkpoint") && !options.Has("resume"))
            options.Reject("a run without --checkpoint PATH (or --resume PATH)", "keep", "checkpoint-every");
        if (options.Has("extend") && !options.Has("resume"))
            throw new UsageException("--extend applies only with --resume PATH.");
        if (options.Has("extend") && !options.Has("steps"))
            throw new UsageException("--extend needs --steps N, the run's new horizon.");
        if (gpt || options.Get("data", "fashion-mnist") != "fashion-mnist")
            options.GetExistingDirectory("data");
        // What lies there is no checkpoint to continue or keep (a device such as /dev/null, a pipe, an empty file):
        // saying it holds one would send the user to --resume it.
        if (options.Has("checkpoint") && FileChecks.ReportsNoSize(options.GetOutputFile("checkpoint", "")))
            throw new UsageException(
                $"--checkpoint {options.Get("checkpoint", "")} is an empty file, a device or a pipe, not a place for "
                    + "checkpoints; remove it or choose another path."
            );
        if (options.Has("resume"))
            options.GetExistingFile("resume");
    }

    /// <summary>Where a run's checkpoint and log go; <paramref name="ContinuesLog"/> when the log is the resumed run's
    /// own.</summary>
    private sealed record RunFiles(string? Checkpoint, string Log, int CheckpointEvery, int Keep, bool ContinuesLog);

    /// <summary>
    /// Settles the run's files and refuses, before anything changes or any data is looked for, a fresh run that
    /// would overwrite another run's log or checkpoint, and a resumed run whose files clash with its checkpoint's
    /// (its recorded settings and data are checked once the data is loaded: <see cref="CheckResumedIdentity"/>).
    /// </summary>
    private static RunFiles Prepare(Options options, CheckpointFile? resume, string defaultLog, int interval, int steps)
    {
        string? checkpoint =
            options.Has("checkpoint") ? Path.GetFullPath(options.Get("checkpoint", ""))
            : resume is null ? null
            : Path.GetFullPath(resume.Path);
        string log = Path.GetFullPath(options.Get("log", defaultLog));
        int every = options.GetPositiveInt("checkpoint-every", interval);
        int keep = options.GetInt("keep", 0);
        if (keep < 0)
            throw new UsageException($"--keep must be 0 or more, got {keep}.");
        if (checkpoint is not null && Directory.Exists(checkpoint))
            throw new UsageException($"--checkpoint {checkpoint} is a folder; give a file path.");
        // The first save would fail only after an interval's work: a temporary file's name is the checkpoint's and 46
        // bytes more (.NAME.PID.ID.tmp; a kept copy's adds .step-NNNNNNN), and a file system takes 255 at most.
        int longest = checkpoint is null ? 0 : CheckpointWriter.LongestNameBytes(checkpoint, keep, steps);
        if (longest > CheckpointWriter.MaxNameBytes)
        {
            int over = longest - CheckpointWriter.MaxNameBytes;
            throw new UsageException(
                $"{(options.Has("checkpoint") ? "--checkpoint" : "--resume")} {Path.GetFileName(checkpoint)} is too "
                    + "long a name: saving it "
                    + (keep > 0 ? "and its kept copies " : "")
                    + $"writes temporary files of {longest} bytes of name beside it, more than a file system takes "
                    + $"({CheckpointWriter.MaxNameBytes}); give a name at least {over} byte{(over == 1 ? "" : "s")} "
                    + (keep > 0 ? "shorter, or --keep 0" : "shorter")
                    + (options.Has("checkpoint") ? "." : ", or save to a shorter --checkpoint PATH.")
            );
        }
        // After the name's length, which a file that cannot be created would otherwise be blamed on.
        if (checkpoint is not null)
            CheckpointWriter.CheckWritable(checkpoint, options.Has("checkpoint") ? "--checkpoint" : "--resume");
        if (
            log == checkpoint
            || (resume is not null && log == Path.GetFullPath(resume.Path))
            || (checkpoint is not null && CheckpointWriter.IsSnapshot(log, checkpoint))
        )
            throw new UsageException($"--log {log} is a checkpoint's file; give the log its own path.");
        // Snapshots beside PATH belong to the run that continues PATH (or resumes from one of them); any other run's
        // --keep, now or once resumed, would delete or overwrite them.
        string? resumed = resume is null ? null : Path.GetFullPath(resume.Path);
        if (
            checkpoint is not null
            && resumed != checkpoint
            && !(resumed is not null && CheckpointWriter.IsSnapshot(resumed, checkpoint))
            && CheckpointWriter.Snapshots(checkpoint) is [var first, ..]
        )
            throw new UsageException(
                $"{first} and any other NAME.step-N.EXT beside --checkpoint {checkpoint} are another run's "
                    + "snapshots, which this run's --keep would delete or overwrite; remove them or choose another "
                    + "--checkpoint."
            );
        if (
            resume is not null
            && checkpoint is not null
            && checkpoint != Path.GetFullPath(resume.Path)
            && File.Exists(checkpoint)
        )
            throw new UsageException(
                $"--checkpoint {checkpoint} already exists; resume into another path or remove it."
            );
        bool continuesLog = false;
        if (resume is not null)
        {
            // A resumed run continues (and trims past its step) only the log it recorded, and only a file with rows
            // to keep: a device or pipe there (/dev/null, or /dev/zero in a forged checkpoint) is written to, never
            // read. Any other log must be new.
            continuesLog =
                resume.Metadata.TryGetValue(RunIdentity.ResumePrefix + "log", out var recorded)
                && Path.GetFullPath(recorded) == log
                && File.Exists(log)
                && !FileChecks.ReportsNoSize(log)
                && FileChecks.BrokenLink(log) is null; // else refused as one by CheckFresh
            if (continuesLog)
            {
                RunIdentity.RefuseBranchContinuingLog(resume.Path, checkpoint!, resume.Metadata, log);
                // The checkpoint may have moved away with its log, and another run written a log at that path since:
                // that one would lose its rows past the step. (Checkpoints of earlier builds record no row.)
                if (
                    resume.Metadata.TryGetValue(RunIdentity.LastLogRowKey, out var lastRow)
                    && !RunLog.HoldsLastRow(log, lastRow, StepOf(resume))
                )
                    throw new UsageException(
                        $"--log {log} is not the log of the run --resume {resume.Path} continues: "
                            + (
                                lastRow.Length > 0
                                    ? $"it lacks the row that run wrote last ('{lastRow}')"
                                    : $"it has rows up to step {StepOf(resume)}, where that run had written none"
                            )
                            + ", so another run wrote it, or it was changed, since. Give this run its own --log PATH."
                    );
            }
            else
                RunLog.CheckFresh(log);
        }
        else
        {
            RunLog.CheckFresh(log);
            if (checkpoint is not null && File.Exists(checkpoint))
                throw new UsageException(
                    $"--checkpoint {checkpoint} already exists; if it is a run's checkpoint, continue that run with "
                        + $"--resume {checkpoint}; else remove it or choose another path."
                );
        }
        return new RunFiles(checkpoint, log, every, keep, continuesLog);
    }

    /// <summary>Refuses a resumed run whose settings or data contradict its checkpoint's run (<see
    /// cref="RunIdentity.Check"/>; Restore checks the step again).</summary>
    private static void CheckResumedIdentity(
        Options options,
        CheckpointFile? resume,
        IReadOnlyDictionary<string, string> identity
    )
    {
        if (resume is not null)
            RunIdentity.Check(resume.Path, resume.Metadata, identity, StepOf(resume), options.Has("extend"));
    }

    /// <summary>The options a resumed run takes from its checkpoint unless given again.</summary>
    private static Dictionary<string, string> ResumeDefaults(Options options, RunFiles files, int interval)
    {
        var defaults = new Dictionary<string, string>
        {
            ["eval-interval"] = interval.ToString(CultureInfo.InvariantCulture),
            ["checkpoint-every"] = files.CheckpointEvery.ToString(CultureInfo.InvariantCulture),
            ["keep"] = files.Keep.ToString(CultureInfo.InvariantCulture),
            ["log"] = files.Log,
            ["device"] = options.Get("device", "cpu"),
        };
        if (options.Has("data"))
            defaults["data"] = Path.GetFullPath(options.Get("data", ""));
        return defaults;
    }

    private static RunDriverOptions Driver(
        string command,
        int steps,
        int interval,
        RunFiles files,
        IReadOnlyDictionary<string, string> identity,
        IReadOnlyDictionary<string, string> defaults,
        CheckpointFile? resume
    ) =>
        new(
            command,
            steps,
            interval,
            files.Checkpoint,
            files.CheckpointEvery,
            files.Keep,
            RunIdentity.Metadata(identity, defaults),
            resume?.Metadata,
            resume is not null && files.Checkpoint == Path.GetFullPath(resume.Path) ? StepOf(resume) : null
        );

    private static int StepOf(CheckpointFile file) =>
        file.Metadata.TryGetValue("step", out var text)
        && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int s)
            ? s
            : 0;
}
