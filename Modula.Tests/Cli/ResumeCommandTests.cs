using Modula.Cli;
using Modula.Cli.Sweep;
using Modula.Cli.Training;
using Modula.Optim;
using Modula.Tensors;

namespace Modula.Tests.Cli;

/// <summary>
/// The command line's checkpoint and resume rules, run in-process on a tiny GPT: contradicting flags,
/// finished runs, logs and checkpoints that a fresh run would overwrite, saves that fail, sweep reports.
/// </summary>
[TestClass]
public sealed partial class ResumeCommandTests
{
    private string _dir = "";

    [TestInitialize]
    public void CreateDirectory() => _dir = Directory.CreateTempSubdirectory("modula-resume-").FullName;

    [TestCleanup]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    // A tiny GPT run; an option in `more` replaces the base's own value.
    private string[] Tiny(int steps, params string[] more) =>
        CommandArguments.Overriding(
            [
                "train",
                "gpt",
                "--steps",
                steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--width",
                "16",
                "--heads",
                "2",
                "--blocks",
                "1",
                "--context",
                "16",
                "--batch",
                "4",
                "--eval-interval",
                "5",
                "--eval-batches",
                "1",
                "--log",
                Path.Combine(_dir, "run.csv"),
            ],
            more
        );

    private string Checkpoint => Path.Combine(_dir, "run.safetensors");

    // The log of a run resumed from a copy of another run's checkpoint.
    private string EarlyLog => Path.Combine(_dir, "early.csv");

    // `train MODEL --resume EARLY` into a log of its own (EarlyLog), with more options.
    private (int Code, string Output, string Error) ResumeEarly(string model, string early, params string[] more) =>
        Run(["train", model, "--resume", early, "--log", EarlyLog, .. more]);

    private static (int Code, string Output, string Error) Run(string[] args)
    {
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "tinyshakespeare.txt")))
            Assert.Inconclusive("tinyshakespeare.txt not found in MODULA_DATA.");
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [TestMethod]
    public void FlagsThatContradictTheCheckpointAreRefusedTogetherBeforeAnythingChanges()
    {
        Assert.AreEqual(0, Run(Tiny(10, "--checkpoint", Checkpoint)).Code);
        var checkpoint = File.ReadAllBytes(Checkpoint);
        var log = File.ReadAllText(Path.Combine(_dir, "run.csv"));
        var (code, _, error) = Run([
            "train",
            "gpt",
            "--resume",
            Checkpoint,
            "--lr",
            "0.3",
            "--seed",
            "2",
            "--batch",
            "5",
            "--width",
            "32",
            "--heads",
            "4",
            "--optimizer",
            "adam",
            "--steps",
            "20",
        ]);
        Assert.AreEqual(2, code, error);
        foreach (
            var difference in new[]
            {
                "--lr 0.3 (the run's is 0.5)",
                "--seed 2 (the run's is 0)",
                "--batch 5 (the run's is 4)",
                "--width 32 (the run's is 16)",
                "--heads 4 (the run's is 2)",
                "--optimizer adam (the run's is modula-adam)",
                "--steps 20 (the run's horizon is 10",
            }
        )
            StringAssert.Contains(error, difference);
        CollectionAssert.AreEqual(checkpoint, File.ReadAllBytes(Checkpoint), "the checkpoint is untouched");
        Assert.AreEqual(log, File.ReadAllText(Path.Combine(_dir, "run.csv")), "the log is untouched");
    }

    [TestMethod]
    public void AFinishedRunIsExtendedOnlyExplicitlyAndItsLogContinues()
    {
        // Regression: --steps at or below the checkpoint's step exited 0 with train_loss=NaN, and a
        // second invocation's --steps silently became the first one's horizon.
        Assert.AreEqual(0, Run(Tiny(10, "--checkpoint", Checkpoint)).Code);
        var (code, _, error) = Run(["train", "gpt", "--resume", Checkpoint]);
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "already reached its horizon of 10 steps");
        (code, _, error) = Run(["train", "gpt", "--resume", Checkpoint, "--steps", "10", "--extend"]);
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "must exceed the checkpoint's step 10");
        var (extended, output, _) = Run(["train", "gpt", "--resume", Checkpoint, "--steps", "15", "--extend"]);
        Assert.AreEqual(0, extended, output);
        StringAssert.Contains(output, "from step 10");
        StringAssert.Contains(output, "final step=15");
        var steps = File.ReadAllLines(Path.Combine(_dir, "run.csv")).Skip(1).Select(l => l.Split(',')[0]).ToArray();
        CollectionAssert.AreEqual(new[] { "5", "10", "15" }, steps, "the log was continued, not overwritten");
        Assert.AreEqual("15", SafeTensors.Read(Checkpoint).Metadata["run.steps"], "the new horizon is recorded");
    }

    /// <summary>
    /// A copy of a checkpoint resumed from its own path (a branch of the run) continued the log its run recorded, and
    /// rewrote that run's rows past the copy's step. A run that would continue its checkpoint's log while saving
    /// anywhere but where that checkpoint was saved, with a file still there, is now refused unless given its own
    /// --log: a copy, the same log given again, --checkpoint elsewhere. A checkpoint moved away, or reached through a
    /// symbolic link to its folder, still continues its log.
    /// </summary>
    [TestMethod]
    public void ABranchOfARunIsRefusedTheRunsLogUnlessGivenItsOwn()
    {
        string log = Path.Combine(_dir, "run.csv"),
            branch = Path.Combine(_dir, "branch.safetensors");
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        Assert.AreEqual(Checkpoint, SafeTensors.Read(Checkpoint).Metadata[RunIdentity.SavedAsKey]);
        File.Copy(Checkpoint, branch);
        Assert.AreEqual(0, Run(["train", "gpt", "--resume", Checkpoint, "--steps", "10", "--extend"]).Code);
        var original = File.ReadAllBytes(log);
        string[][] refused =
        [
            ["train", "gpt", "--resume", branch, "--steps", "15", "--extend"],
            ["train", "gpt", "--resume", branch, "--steps", "15", "--extend", "--log", log],
            ["train", "gpt", "--resume", Checkpoint, "--steps", "15", "--extend", "--checkpoint", $"{_dir}/b2.st"],
        ];
        // A link to the checkpoint file is another file once saved: the save renames a new file over the link.
        string alias = Path.Combine(_dir, "alias.safetensors");
        File.CreateSymbolicLink(alias, Checkpoint);
        refused = [.. refused, ["train", "gpt", "--resume", alias, "--steps", "15", "--extend"]];
        foreach (var args in refused)
        {
            var (code, _, error) = Run(args);
            Assert.AreEqual(2, code, $"{string.Join(' ', args)}: {error}");
            StringAssert.Contains(error, $"was saved as {Checkpoint}, which is still there, and this run saves to");
            StringAssert.Contains(error, $"continuing that run's log {log} would mix two runs' rows");
            StringAssert.Contains(
                error,
                args[3] == Checkpoint ? "resume it without --checkpoint" : $"copy this file over {Checkpoint}"
            );
            CollectionAssert.AreEqual(original, File.ReadAllBytes(log), "the original run's log is untouched");
        }
        File.Delete(alias);

        string own = Path.Combine(_dir, "branch.csv");
        var (branched, output, _) = Run([
            "train",
            "gpt",
            "--resume",
            branch,
            "--steps",
            "15",
            "--extend",
            "--log",
            own,
        ]);
        Assert.AreEqual(0, branched, output);
        CollectionAssert.AreEqual(original, File.ReadAllBytes(log), "the original run's log is untouched");
        var branchSteps = File.ReadAllLines(own).Skip(1).Select(l => l.Split(',')[0]).ToArray();
        CollectionAssert.AreEqual(new[] { "10", "15" }, branchSteps, "the branch's log starts at its step");
        Assert.AreEqual(branch, SafeTensors.Read(branch).Metadata[RunIdentity.SavedAsKey], "saved where resumed");

        // Through a symbolic link to its folder, the checkpoint is the same file and its run goes on in its log.
        string link = Path.Combine(_dir, "link");
        Directory.CreateSymbolicLink(link, _dir);
        var (linked, linkedOutput, linkedError) = Run([
            "train",
            "gpt",
            "--resume",
            Path.Combine(link, "run.safetensors"),
            "--steps",
            "15",
            "--extend",
        ]);
        Assert.AreEqual(0, linked, linkedOutput + linkedError);
        Directory.Delete(link);

        // Moved, the run goes on in its log: nothing is left at the path it was saved as.
        string moved = Path.Combine(_dir, "moved.safetensors");
        File.Move(Checkpoint, moved);
        var (continued, movedOutput, movedError) = Run([
            "train",
            "gpt",
            "--resume",
            moved,
            "--steps",
            "20",
            "--extend",
        ]);
        Assert.AreEqual(0, continued, movedOutput + movedError);
        var steps = File.ReadAllLines(log).Skip(1).Select(l => l.Split(',')[0]).ToArray();
        CollectionAssert.AreEqual(new[] { "5", "10", "15", "20" }, steps, "the run's log continues");

        // The entry is checked as the other recorded paths are (re-signed: the checksums hold, the content lies).
        var (tensors, metadata) = SafeTensors.Read(branch);
        metadata[RunIdentity.SavedAsKey] = "relative/run.safetensors";
        File.WriteAllBytes(branch, SafeTensors.Serialize(tensors, metadata));
        var (forged, _, forgedError) = Run(["train", "gpt", "--resume", branch, "--steps", "20", "--extend"]);
        Assert.AreEqual(4, forged, forgedError);
        StringAssert.Contains(forgedError, "checkpoint.path 'relative/run.safetensors' is not a full path");
    }

    [TestMethod]
    public void ACheckpointMovedAwayWithItsLogDoesNotContinueAnotherRunsLogAtThatPath()
    {
        // Found by fuzzing the command line: the moved checkpoint's run trimmed the later run's log past its own step
        // and appended its rows there.
        string log = Path.Combine(_dir, "run.csv"),
            archive = Directory.CreateDirectory(Path.Combine(_dir, "archive")).FullName,
            moved = Path.Combine(archive, "run.safetensors");
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        Assert.AreEqual(
            File.ReadLines(log).Last(),
            SafeTensors.Read(Checkpoint).Metadata[RunIdentity.LastLogRowKey],
            "the checkpoint records its run's last row"
        );
        File.Move(Checkpoint, moved);
        File.Move(log, Path.Combine(archive, "run.csv"));
        var (later, laterOutput, laterError) = Run(
            Tiny(10, "--seed", "1", "--checkpoint", Path.Combine(_dir, "later.safetensors"))
        );
        Assert.AreEqual(0, later, laterOutput + laterError);
        var laterLog = File.ReadAllBytes(log);

        var (code, _, error) = Run(["train", "gpt", "--resume", moved, "--steps", "10", "--extend"]);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, $"--log {log} is not the log of the run --resume {moved} continues");
        StringAssert.Contains(error, "Give this run its own --log PATH");
        CollectionAssert.AreEqual(laterLog, File.ReadAllBytes(log), "the later run's log is untouched");

        // With a log of its own it goes on, and its checkpoint records the new log's last row.
        string own = Path.Combine(_dir, "own.csv");
        Assert.AreEqual(0, Run(["train", "gpt", "--resume", moved, "--steps", "10", "--extend", "--log", own]).Code);
        Assert.AreEqual(File.ReadLines(own).Last(), SafeTensors.Read(moved).Metadata[RunIdentity.LastLogRowKey]);
    }

    [TestMethod]
    [DataRow("--recipe", "v2")]
    [DataRow("--optimizer", "sgd")]
    [DataRow("--optimizer", "momentum")]
    public void ARunOfAnOptimizerWithoutBothFactorsResumes(string option, string value)
    {
        // Every checkpoint records beta1 and beta2; a resumed run holds them without their being given, so the check
        // against factors an optimizer ignores must not see them (a second reading of that check found every v2 run,
        // whose momentum has no beta2, refused its resume).
        Assert.AreEqual(0, Run(Tiny(5, option, value, "--checkpoint", Checkpoint)).Code);
        var (code, output, error) = Run(["train", "gpt", "--resume", Checkpoint, "--steps", "10", "--extend"]);
        Assert.AreEqual(0, code, output + error);
    }

    [TestMethod]
    public void APhysicalPathResolvesLinkedFoldersAndStopsInALoop()
    {
        string real = Directory.CreateDirectory(Path.Combine(_dir, "real")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(_dir, "link"), real);
        Directory.CreateSymbolicLink(Path.Combine(_dir, "chain"), Path.Combine(_dir, "link"));
        Directory.CreateSymbolicLink(Path.Combine(_dir, "relative"), "real"); // resolved against its folder
        // Compared with the folder's own physical path: the temporary folder may itself lie under a link (macOS).
        string expected = RunIdentity.PhysicalPath(Path.Combine(real, "ck.safetensors"));
        StringAssert.EndsWith(expected, Path.Combine("real", "ck.safetensors"));
        foreach (var name in new[] { "link", "chain", "relative" })
            Assert.AreEqual(expected, RunIdentity.PhysicalPath(Path.Combine(_dir, name, "ck.safetensors")), name);
        Assert.AreEqual(
            Path.Combine(RunIdentity.PhysicalPath(_dir), "none", "x"),
            RunIdentity.PhysicalPath(Path.Combine(_dir, "none", "x")),
            "a path that does not exist is kept as written past its last existing folder"
        );
        // A link to a file is kept as it is named (a save replaces it); the links among its folders are resolved.
        File.CreateSymbolicLink(Path.Combine(_dir, "link", "alias"), Path.Combine(real, "ck.safetensors"));
        Assert.AreEqual(
            RunIdentity.PhysicalPath(Path.Combine(real, "alias")),
            RunIdentity.PhysicalPath(Path.Combine(_dir, "link", "alias"))
        );
        // A loop of links ends after the budget of links followed, with a path rather than a hang.
        Directory.CreateSymbolicLink(Path.Combine(_dir, "a"), Path.Combine(_dir, "b"));
        Directory.CreateSymbolicLink(Path.Combine(_dir, "b"), Path.Combine(_dir, "a"));
        StringAssert.EndsWith(RunIdentity.PhysicalPath(Path.Combine(_dir, "a", "ck")), "ck");
    }

    [TestMethod]
    public void ACheckpointThatRecordsAnImpossibleRunIsRefusedInOneLine()
    {
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        var (tensors, metadata) = SafeTensors.Read(Checkpoint);
        metadata["run.heads"] = "0"; // re-signed: the checksums hold, the content lies
        metadata["run.lr"] = "NaN";
        File.WriteAllBytes(Checkpoint, SafeTensors.Serialize(tensors, metadata));
        var (code, _, error) = Run(["train", "gpt", "--resume", Checkpoint]);
        Assert.AreEqual(4, code, error);
        StringAssert.Contains(error, "heads '0' is not a positive integer; lr 'NaN' is not a finite number");
        Assert.AreEqual(1, error.Trim().Split('\n').Length, error);
    }

    /// <summary>
    /// A run killed before its first report leaves a log of its header alone, as a run starting now does. Rerunning the
    /// command was told the log held a run's rows and to resume a checkpoint that did not exist (found by a fuzzing
    /// run); it is now told what the file may be and what to do. Taking the file instead would clobber a run that is
    /// starting (a review found it so), and no file lock tells the two apart.
    /// </summary>
    [TestMethod]
    public void ALogHoldingOnlyItsHeaderIsRefusedSayingWhatItMayBe()
    {
        string log = Path.Combine(_dir, "run.csv");
        foreach (var header in new[] { RunLog.GptHeader + "\n", RunLog.GptHeader + "\r\n", RunLog.ClassifierHeader })
        {
            File.WriteAllText(log, header);
            var (code, _, error) = Run(Tiny(5));
            Assert.AreEqual(2, code, error);
            StringAssert.Contains(error, "holds only a log's header: a run that stopped before its first report");
            Assert.AreEqual(header, File.ReadAllText(log), "the file is left as it was");
        }
        File.WriteAllText(log, RunLog.GptHeader + "\n5,2.0\n");
        var (rowsCode, _, rowsError) = Run(Tiny(5));
        Assert.AreEqual(2, rowsCode);
        StringAssert.Contains(rowsError, "already holds a run's rows");
    }

    /// <summary>
    /// A --checkpoint whose folder takes no new file is refused before training, naming the flag: it was found only
    /// at the first save, and the run trained on with every save failing (found by a fuzzing run in a read-only
    /// folder; /proc stands in for one here, as root may write anywhere else).
    /// </summary>
    [TestMethod]
    public void ACheckpointFolderThatTakesNoFileIsRefusedBeforeTraining()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Inconclusive("uses /proc, which only Linux has.");
        var (code, output, error) = Run(Tiny(5, "--checkpoint", "/proc/modula-run.safetensors"));
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "--checkpoint /proc/modula-run.safetensors: cannot create a file in its folder");
        Assert.IsFalse(output.Contains("step", StringComparison.Ordinal), output);
    }

    [TestMethod]
    public void AFreshRunRefusesToOverwriteAnotherRunsLogOrCheckpoint()
    {
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        string log = File.ReadAllText(Path.Combine(_dir, "run.csv"));
        var (code, _, error) = Run(Tiny(5));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "already holds a run's rows");
        Assert.AreEqual(log, File.ReadAllText(Path.Combine(_dir, "run.csv")));
        File.Delete(Path.Combine(_dir, "run.csv"));
        (code, _, error) = Run(Tiny(5, "--checkpoint", Checkpoint));
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, $"continue that run with --resume {Checkpoint}");
    }

    [TestMethod]
    public void ACheckpointFolderLostDuringTheRunIsReportedAndEndsTheRunWithOneLine()
    {
        // Saves that start failing mid-run, as on a disk that fills: the folder becomes a file once the run has logged
        // a row (a folder that takes no file from the start is refused before training, as the test above checks).
        string folder = Path.Combine(_dir, "checkpoints");
        Directory.CreateDirectory(folder);
        string log = Path.Combine(_dir, "run.csv");
        var run = Task.Run(() =>
            Run(Tiny(2000, "--checkpoint", Path.Combine(folder, "run.safetensors"), "--checkpoint-every", "5"))
        );
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!run.IsCompleted && clock.Elapsed.TotalSeconds < 60 && !(File.Exists(log) && LogRows(log) > 0))
            Thread.Sleep(2);
        // A save in flight may add a file, or make the folder again, between the deletions: retry until the file lands.
        for (int attempt = 0; ; attempt++)
            try
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
                File.WriteAllText(folder, "a file where the folder was: the writer cannot make the folder again");
                break;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && attempt < 1000)
            {
                Thread.Sleep(1);
            }
        var (code, output, error) = run.GetAwaiter().GetResult(); // rethrown as thrown: an Inconclusive stays one
        Assert.AreEqual(5, code, output + error);
        Assert.IsTrue(
            output
                .Split('\n')
                .Any(l => l.StartsWith("checkpoint of step", StringComparison.Ordinal) && l.Contains("not saved")),
            output
        );
        StringAssert.StartsWith(error, "modula: the final checkpoint could not be written");
        Assert.AreEqual(1, error.Trim().Split('\n').Length, error);
    }

    private static int LogRows(string log)
    {
        using var reader = new StreamReader(new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1;
    }

    [TestMethod]
    public void AFailedSaveKeepsThePreviousCheckpointAndTheNextSaveSucceeds()
    {
        using var trainer = new Trainer(
            Tests.Optim.TrainerTests.SmallResMlp(),
            Tests.Optim.TrainerTests.SmallResMlp().Initialize(new Modula.Tensors.Random.Generator(1)),
            new ModulaAdam(),
            new TrainerOptions(0.1, Schedule.Linear(10), UpdateRule.Normalize)
        );
        var output = new StringWriter();
        using (var ok = new CheckpointWriter(Checkpoint, 0, output))
            ok.Save(trainer, new Dictionary<string, string>());
        var saved = File.ReadAllBytes(Checkpoint);
        trainer.StepCount = 5;
        using (var full = new CheckpointWriter(Checkpoint, 0, output, savedStep: 0, FailingStream.After(1000)))
        {
            full.Save(trainer, new Dictionary<string, string>());
            Assert.IsFalse(full.Wait());
            Assert.AreEqual(0, full.SavedStep);
        }
        StringAssert.Contains(
            output.ToString(),
            $"checkpoint of step 5 not saved (simulated failure while writing (no space left on device).); "
                + $"{Checkpoint} still holds step 0; training goes on"
        );
        CollectionAssert.AreEqual(saved, File.ReadAllBytes(Checkpoint), "the previous checkpoint is intact");
        Assert.AreEqual(1, Directory.GetFiles(_dir).Length, "no temporary file is left");
        using (var next = new CheckpointWriter(Checkpoint, 2, output, savedStep: 0))
        {
            next.Save(trainer, new Dictionary<string, string>());
            Assert.IsTrue(next.Wait());
            Assert.AreEqual(5, next.SavedStep);
            Assert.IsTrue(File.Exists(next.StepPath(5)), "--keep keeps a step copy");
        }
        Assert.AreEqual("5", SafeTensors.Read(Checkpoint).Metadata["step"]);
    }

    [TestMethod]
    public void StrayTemporaryFilesOfAKilledSaveAreRemoved()
    {
        string stray = Path.Combine(
            _dir,
            $"{SafeTensors.TempPrefix(Checkpoint)}999999999.0123456789abcdef0123456789abcdef.tmp"
        );
        File.WriteAllText(stray, "half a checkpoint");
        // A kept copy's temp (left by a double Ctrl-C, found by a fuzzing run) goes too; a running process's temp and
        // another file's temp, whose name starts alike, stay.
        var output = new StringWriter();
        using var writer = new CheckpointWriter(Checkpoint, 2, output);
        string TempIn(string written, int processId) =>
            Path.Combine(_dir, SafeTensors.TempName(written, processId, Guid.NewGuid()));
        string keptStray = TempIn(writer.StepPath(5), 999_999_999),
            live = TempIn(writer.StepPath(6), Environment.ProcessId),
            other = TempIn(Path.Combine(_dir, "run-other.safetensors"), 999_999_999);
        foreach (var file in new[] { keptStray, live, other })
            File.WriteAllText(file, "half a checkpoint");
        Assert.AreEqual(2, writer.RemoveStrayTemps());
        Assert.IsFalse(File.Exists(stray));
        Assert.IsFalse(File.Exists(keptStray), "a kept copy's temp");
        Assert.IsTrue(File.Exists(live), "this process's temp");
        Assert.IsTrue(File.Exists(other), "another file's temp");
        StringAssert.Contains(output.ToString(), "left by an interrupted save");
        writer.DeleteOwnTemps();
        Assert.IsFalse(File.Exists(live), "deleted on a second interrupt");
        Assert.IsTrue(File.Exists(other));
    }

    [TestMethod]
    public void SweepReportDescribesTheRunsInTheCsvAndNeverAnEmptyPlan()
    {
        // Regression: --report without the sweep's options overwrote its plots and summary with an empty default plan.
        string outDir = Path.Combine(_dir, "sweep");
        var store = new SweepStore(Path.Combine(outDir, "sweep.csv"));
        foreach (var (width, depth) in new[] { (8, 1), (16, 1), (8, 3) })
        foreach (int lr in new[] { -2, -1, 0 })
            store.Add(
                new SweepResult(
                    new SweepCell("resmlp", "normed-adam", width, depth, lr, 0, 7, 4),
                    1.0 + Math.Abs(lr + 1) + width / 100.0,
                    false,
                    2.3,
                    0.1
                )
            );
        var output = new StringWriter();
        Assert.AreEqual(
            0,
            CommandLine.Run(["sweep", "resmlp", "--report", "--out", outDir], output, new StringWriter())
        );
        string summary = File.ReadAllText(Path.Combine(outDir, "summary.md"));
        StringAssert.Contains(summary, "resmlp across width (depth 1, 7 steps, batch 4");
        StringAssert.Contains(summary, "| normed-adam | -1 | -1 | 0 |");
        StringAssert.Contains(summary, "resmlp across depth (width 8, 7 steps");

        string empty = Path.Combine(_dir, "empty");
        Directory.CreateDirectory(empty);
        File.WriteAllText(Path.Combine(empty, "sweep.csv"), SweepResult.CsvHeader + "\n");
        File.WriteAllText(Path.Combine(empty, "summary.md"), "kept");
        var error = new StringWriter();
        Assert.AreEqual(2, CommandLine.Run(["sweep", "resmlp", "--report", "--out", empty], new StringWriter(), error));
        StringAssert.Contains(error.ToString(), "holds no resmlp runs");
        Assert.AreEqual("kept", File.ReadAllText(Path.Combine(empty, "summary.md")));
        Assert.AreEqual(
            2,
            CommandLine.Run(
                ["sweep", "resmlp", "--report", "--out", outDir, "--widths", "64"],
                new StringWriter(),
                error
            )
        );
        StringAssert.Contains(summary, "| normed-adam |");
    }

    [TestMethod]
    public void AClassifierResumedFromAnEarlierCheckpointEndsBitIdenticalToAStraightRun()
    {
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "fashion-mnist", "train-images-idx3-ubyte.gz")))
            Assert.Inconclusive("Fashion-MNIST not found in MODULA_DATA.");
        string[] Mlp(string name, params string[] more) =>
            [
                "train",
                "mlp",
                "--data",
                Path.Combine(data, "fashion-mnist"),
                "--steps",
                "10",
                "--batch",
                "8",
                "--width",
                "16",
                "--eval-interval",
                "5",
                "--log",
                Path.Combine(_dir, name + ".csv"),
                "--checkpoint",
                Path.Combine(_dir, name + ".safetensors"),
                .. more,
            ];
        Assert.AreEqual(0, Run(Mlp("straight")).Code);
        var (code, output, error) = Run(Mlp("kept", "--keep", "2"));
        Assert.AreEqual(0, code, output + error);
        // Resume the step-5 copy as if the run had stopped there, into a log of its own (the kept run's log is not
        // the copy's to rewrite).
        string early = Path.Combine(_dir, "early.safetensors");
        File.Copy(Path.Combine(_dir, "kept.step-0000005.safetensors"), early);
        (code, output, error) = ResumeEarly("mlp", early);
        Assert.AreEqual(0, code, output + error);
        StringAssert.Contains(output, "from step 5");
        StringAssert.Matches(
            output,
            new System.Text.RegularExpressions.Regex(@"\nfinal step=10 test_loss=\S+ test_accuracy=")
        );
        var (expected, _) = SafeTensors.Read(Path.Combine(_dir, "straight.safetensors"));
        var (actual, metadata) = SafeTensors.Read(early);
        Assert.AreEqual("10", metadata["step"]);
        foreach (var (key, t) in expected)
            CollectionAssert.AreEqual(t.Data, actual[key].Data, $"tensor {key}");
    }

    [TestMethod]
    public void AResMlpResumesWithItsOwnRmsEpsilonAndRefusesAnother()
    {
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "fashion-mnist", "train-images-idx3-ubyte.gz")))
            Assert.Inconclusive("Fashion-MNIST not found in MODULA_DATA.");
        string path = Path.Combine(_dir, "resmlp.safetensors");
        string[] train =
        [
            "train",
            "resmlp",
            "--data",
            Path.Combine(data, "fashion-mnist"),
            "--steps",
            "6",
            "--batch",
            "8",
            "--width",
            "16",
            "--blocks",
            "1",
            "--eval-interval",
            "3",
            "--rms-epsilon",
            "0.5",
            "--log",
            Path.Combine(_dir, "resmlp.csv"),
            "--checkpoint",
            path,
            "--keep",
            "2",
        ];
        var (code, output, error) = Run(train);
        Assert.AreEqual(0, code, output + error);
        string early = Path.Combine(_dir, "early.safetensors");
        File.Copy(Path.Combine(_dir, "resmlp.step-0000003.safetensors"), early);
        Assert.AreEqual("0.5", SafeTensors.Read(early).Metadata["run.rms-epsilon"]);
        var before = File.ReadAllBytes(early);

        (code, _, error) = ResumeEarly("resmlp", early, "--rms-epsilon", "0.25");
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "--rms-epsilon 0.25 (the run's is 0.5)");
        (code, _, error) = ResumeEarly("resmlp", early, "--rms-epsilon", "0");
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "the checkpoint records 'rms-epsilon', which this command does not have");
        CollectionAssert.AreEqual(before, File.ReadAllBytes(early), "the refused resumes change nothing");

        (code, output, error) = ResumeEarly("resmlp", early, "--rms-epsilon", "0.5");
        Assert.AreEqual(0, code, output + error);
        StringAssert.Contains(output, "from step 3");
        StringAssert.Contains(output, "final step=6");
        var (expected, _) = SafeTensors.Read(path);
        var (actual, metadata) = SafeTensors.Read(early);
        Assert.AreEqual("0.5", metadata["run.rms-epsilon"]);
        foreach (var (key, t) in expected)
            CollectionAssert.AreEqual(t.Data, actual[key].Data, $"tensor {key}");
    }

    [TestMethod]
    public void MuonAndASpectralCapAreRecordedAndAResumedRunKeepsThem()
    {
        string[] Run(string name, params string[] more) =>
            Tiny(
                10,
                [
                    "--optimizer",
                    "muon",
                    "--spectral-cap",
                    "soft",
                    "--sigma-max",
                    "2",
                    "--spectral-strength",
                    "0.2",
                    "--orthogonalizer",
                    "polar-express",
                    "--log",
                    Path.Combine(_dir, name + ".csv"),
                    "--checkpoint",
                    Path.Combine(_dir, name + ".safetensors"),
                    .. more,
                ]
            );
        var (code, output, error) = ResumeCommandTests.Run(Run("straight"));
        Assert.AreEqual(0, code, output + error);
        StringAssert.Contains(
            output,
            "plain muon lr=0.02 beta1=0.95 beta2=0.95 wd=0 adam-lr=0.003 "
                + "spectral-cap=soft sigma-max=2 spectral-strength=0.2 orthogonalizer=polar-express"
        );
        Assert.AreEqual(0, ResumeCommandTests.Run(Run("kept", "--keep", "2")).Code);
        string early = Path.Combine(_dir, "early.safetensors");
        File.Copy(Path.Combine(_dir, "kept.step-0000005.safetensors"), early);

        foreach (
            var (flag, value, refusal) in new[]
            {
                ("--sigma-max", "3", "--sigma-max 3 (the run's is 2)"),
                ("--orthogonalizer", "muon", "--orthogonalizer muon (the run's is polar-express)"),
            }
        )
        {
            (code, _, error) = ResumeEarly("gpt", early, flag, value);
            Assert.AreEqual(2, code, error);
            StringAssert.Contains(error, refusal);
        }

        (code, output, error) = ResumeEarly("gpt", early);
        Assert.AreEqual(0, code, output + error);
        StringAssert.Contains(output, "spectral-strength=0.2 orthogonalizer=polar-express | 10 steps");
        StringAssert.Contains(output, "from step 5");
        var (expected, _) = SafeTensors.Read(Path.Combine(_dir, "straight.safetensors"));
        var (actual, metadata) = SafeTensors.Read(early);
        Assert.AreEqual("soft", metadata["run.spectral-cap"]);
        Assert.AreEqual("0.003", metadata["run.adam-lr"]);
        Assert.AreEqual("polar-express", metadata["run.orthogonalizer"]);
        StringAssert.StartsWith(metadata["optimizer"], "muon(");
        foreach (var (key, t) in expected)
            CollectionAssert.AreEqual(t.Data, actual[key].Data, $"tensor {key}");
    }
}
