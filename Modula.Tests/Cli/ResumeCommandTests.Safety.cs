using Modula.Cli.Sweep;
using Modula.Optim;

namespace Modula.Tests.Cli;

/// <summary>
/// What an outside review of the command line found losing or corrupting a run's files, or ending in a stack trace:
/// a run that diverges, a log that is another run's or the checkpoint itself, snapshots of another run, a sweep CSV
/// left empty by a full disk, files that are devices, a checkpoint whose weights overflow.
/// </summary>
public sealed partial class ResumeCommandTests
{
    [TestMethod]
    public void ADivergingRunEndsWithOneLineAndKeepsItsLastFiniteCheckpoint()
    {
        // Found by review: --lr far too high ended in an unhandled NonFiniteGradientException (exit 134), or printed
        // "train_loss NaN" as a normal report. Seed 0 at lr 10⁶ turns the losses NaN within a few steps.
        var (code, output, error) = Run(
            Tiny(40, "--lr", "1e6", "--eval-interval", "1", "--checkpoint", Checkpoint, "--checkpoint-every", "1")
        );
        Assert.AreEqual(6, code, output + error);
        StringAssert.StartsWith(error, "modula: training diverged: ");
        Assert.AreEqual(1, error.Trim().Split('\n').Length, error);
        StringAssert.DoesNotMatch(output, new System.Text.RegularExpressions.Regex("final step="));
        var saved = SafeTensors.Read(Checkpoint).Metadata["step"];
        StringAssert.Contains(error, $"{Checkpoint} holds step {saved}, saved before the divergence showed");
        // What the file holds passes Restore's checks (finite weights): the diverged step was not saved.
        var (resumed, _, resumeError) = Run(["train", "gpt", "--resume", Checkpoint]);
        Assert.AreNotEqual(4, resumed, resumeError);
        var logged = File.ReadAllLines(Path.Combine(_dir, "run.csv")).Skip(1);
        Assert.IsFalse(logged.Any(l => l.Contains("NaN", StringComparison.Ordinal)), "no NaN row is logged");
    }

    [TestMethod]
    public void TheLogIsNeverTheCheckpointNorAnotherRunsLog()
    {
        string csv = Path.Combine(_dir, "run.csv");
        var (code, _, error) = Run(Tiny(5, "--checkpoint", csv));
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "is a checkpoint's file");
        Assert.IsFalse(File.Exists(csv));

        // Found by review: --resume X --log OTHER kept OTHER's rows up to X's step and dropped the rest.
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        string other = Path.Combine(_dir, "other.csv");
        File.WriteAllLines(other, [File.ReadAllLines(csv)[0], "1,4.0,4.0,4.0,1.0,0.1", "9,3.0,3.0,3.0,1.0,0.2"]);
        var before = File.ReadAllBytes(other);
        (code, _, error) = Run(["train", "gpt", "--resume", Checkpoint, "--steps", "10", "--extend", "--log", other]);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, $"--log {other} already holds a run's rows");
        CollectionAssert.AreEqual(before, File.ReadAllBytes(other), "another run's log is untouched");

        // A new log is begun fresh, from the resumed step on; the run's own log keeps its rows.
        string fresh = Path.Combine(_dir, "fresh.csv");
        var (extended, output, _) = Run([
            "train",
            "gpt",
            "--resume",
            Checkpoint,
            "--steps",
            "10",
            "--extend",
            "--log",
            fresh,
        ]);
        Assert.AreEqual(0, extended, output);
        var rows = File.ReadAllLines(fresh);
        Assert.AreEqual(Modula.Cli.Training.RunLog.GptHeader, rows[0]);
        CollectionAssert.AreEqual(new[] { "10" }, rows.Skip(1).Select(l => l.Split(',')[0]).ToArray());
        Assert.AreEqual(2, File.ReadAllLines(csv).Length, "the first log keeps its header and step 5");
    }

    [TestMethod]
    public void AnotherModelsCheckpointNamesTheCommandThatResumesIt()
    {
        // Found by review: train mlp --resume GPT.safetensors complained about --heads, an option never given.
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        var (code, _, error) = Run(["train", "mlp", "--resume", Checkpoint]);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, $"holds a gpt run; continue it with 'modula train gpt --resume {Checkpoint}'");
    }

    [TestMethod]
    public void KeepRefusesToMixItsSnapshotsWithAnotherRuns()
    {
        // Found by review: snapshots left beside a removed checkpoint were deleted, or kept in place of the new
        // run's, by the next run's --keep.
        Assert.AreEqual(0, Run(Tiny(10, "--checkpoint", Checkpoint, "--keep", "2")).Code);
        File.Delete(Checkpoint);
        File.Delete(Path.Combine(_dir, "run.csv"));
        var snapshots = Directory.GetFiles(_dir).Order(StringComparer.Ordinal).ToArray();
        Assert.AreEqual(2, snapshots.Length, string.Join(", ", snapshots));
        var (code, _, error) = Run(Tiny(10, "--checkpoint", Checkpoint, "--keep", "2"));
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "are another run's snapshots, which this run's --keep would delete or overwrite");
        CollectionAssert.AreEqual(snapshots, Directory.GetFiles(_dir).Order(StringComparer.Ordinal).ToArray());
        // Without --keep too: once resumed with --keep, the run would delete them (found by review).
        (code, _, error) = Run(Tiny(10, "--checkpoint", Checkpoint));
        Assert.AreEqual(2, code, error);
        // A snapshot's own run may go on from it into PATH, keeping its copies (the way back from a lost PATH).
        var (resumed, output, _) = Run(["train", "gpt", "--resume", snapshots[0], "--checkpoint", Checkpoint]);
        Assert.AreEqual(0, resumed, output);
        StringAssert.Contains(output, "final step=10");
        // A log named like a snapshot would be overwritten by one.
        var extend = new[]
        {
            "train",
            "gpt",
            "--resume",
            Checkpoint,
            "--steps",
            "12",
            "--extend",
            "--log",
            snapshots[0],
        };
        (code, _, error) = Run(extend);
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, "is a checkpoint's file");
    }

    [TestMethod]
    public void ALogThatCannotBeWrittenIsOneLineWithExitCode5()
    {
        if (!File.Exists("/dev/full"))
            Assert.Inconclusive("/dev/full: Linux only.");
        var args = Tiny(5);
        args[Array.IndexOf(args, "--log") + 1] = "/dev/full";
        var (code, output, error) = Run(args);
        Assert.AreEqual(5, code, output + error);
        Assert.AreEqual("modula: No space left on device : '/dev/full'", error.Trim());
    }

    [TestMethod]
    public void ADeviceOrPipeGivenAsACheckpointIsRefusedWithoutWaitingOrReadingToTheEnd()
    {
        // Found by review: certify --checkpoint /dev/zero read until memory ran out.
        if (!File.Exists("/dev/zero"))
            Assert.Inconclusive("/dev/zero: Unix only.");
        var e = Assert.ThrowsExactly<InvalidDataException>(() => SafeTensors.Read("/dev/zero"));
        StringAssert.Contains(e.Message, "a device or pipe, not a checkpoint file");
        var (code, _, error) = Run(["certify", "--checkpoint", "/dev/zero"]);
        Assert.AreEqual(4, code, error);
        // A named pipe with no writer: refused before it is opened, since opening it would wait for a writer.
        string fifo = Path.Combine(_dir, "fifo");
        if (System.Diagnostics.Process.Start("mkfifo", fifo) is not { } mkfifo || !mkfifo.WaitForExit(10_000))
            Assert.Inconclusive("mkfifo did not run.");
        // Reads path on another thread; fails, after letting the reader go, if it waits for a writer.
        InvalidDataException RefusedWithoutWaiting(string path)
        {
            var reader = Task.Run(() => SafeTensors.Read(path));
            bool finished = ((IAsyncResult)reader).AsyncWaitHandle.WaitOne(10_000);
            if (!finished)
                using (File.OpenWrite(fifo)) { }
            Assert.IsTrue(finished, $"reading {path} waited for a writer");
            return Assert.ThrowsExactly<InvalidDataException>(() => reader.GetAwaiter().GetResult());
        }
        StringAssert.Contains(RefusedWithoutWaiting(fifo).Message, "a device or pipe, not a checkpoint file");
        (code, _, error) = Run(["certify", "--checkpoint", fifo]);
        Assert.AreEqual(4, code, error);
        // Through a symbolic link, whose own length is that of the path it names.
        string link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, fifo);
        StringAssert.Contains(RefusedWithoutWaiting(link).Message, "a device or pipe, not a checkpoint file");
    }

    [TestMethod]
    public void ACheckpointPipedToStandardInputIsRefusedAsAPipe()
    {
        // /dev/stdin fed by a pipe reports no pipe of its own (its link names "pipe:[N]", which is no path), so it
        // passes the size check and is refused once opened, as a stream that cannot seek.
        if (!OperatingSystem.IsLinux())
            Assert.Inconclusive("/dev/stdin: Linux only.");
        var info = new System.Diagnostics.ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "modula"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in (string[])["certify", "--checkpoint", "/dev/stdin"])
            info.ArgumentList.Add(a);
        using var child = System.Diagnostics.Process.Start(info)!;
        var error = child.StandardError.ReadToEndAsync();
        try
        {
            // Past the writer's buffer, so nothing is left to flush when the child has gone.
            child.StandardInput.BaseStream.Write("not a checkpoint"u8);
            child.StandardInput.BaseStream.Close();
        }
        catch (IOException) { } // the child refused the pipe and ended first
        Assert.IsTrue(child.WaitForExit(60_000), "the process ends");
        Assert.AreEqual(4, child.ExitCode, error.Result);
        StringAssert.Contains(error.Result, "'/dev/stdin': it is a pipe or socket, not a checkpoint file.");
    }

    [TestMethod]
    public void ACheckpointReachedThroughALinkIsReadWhole()
    {
        // Found by fuzzing: the size bound was the link's own length, so a valid checkpoint behind a link was
        // refused as "an impossible model".
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        string link = Path.Combine(_dir, "latest.safetensors");
        File.CreateSymbolicLink(link, Checkpoint);
        Assert.AreEqual(new FileInfo(Checkpoint).Length, Modula.Optim.Checkpoint.Load(link).FileBytes);
        var (code, output, error) = Run(["generate", "--checkpoint", link, "--length", "5"]);
        Assert.AreEqual(0, code, output + error);
    }

    [TestMethod]
    public void AForgedDeviceOrLogInTheCheckpointIsRefusedOrWrittenNeverRead()
    {
        // Found by fuzzing: an empty resume.device crashed the process, and a resume.log naming /dev/zero was read
        // as the log to continue, without end.
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        var (tensors, metadata) = SafeTensors.Read(Checkpoint);
        string[] extend = ["train", "gpt", "--resume", Checkpoint, "--steps", "10", "--extend"];
        File.WriteAllBytes(Checkpoint, SafeTensors.Serialize(tensors, Forged(metadata, "resume.device", "")));
        var (code, output, error) = Run(extend);
        Assert.AreEqual(4, code, output + error);
        StringAssert.Contains(error, "device '' is not cpu, ilgpu-cpu, cuda[:N] or opencl[:N]");
        if (!File.Exists("/dev/zero"))
            Assert.Inconclusive("/dev/zero: Unix only.");
        File.WriteAllBytes(Checkpoint, SafeTensors.Serialize(tensors, Forged(metadata, "resume.log", "/dev/zero")));
        (code, output, error) = Run(extend);
        Assert.AreEqual(0, code, output + error);
    }

    private static Dictionary<string, string> Forged(
        IReadOnlyDictionary<string, string> metadata,
        string key,
        string value
    ) => new(metadata) { [key] = value };

    [TestMethod]
    public void ACheckpointNameTooLongForItsTemporaryFilesIsRefusedBeforeTraining()
    {
        // Found by fuzzing: a name of about 210 bytes failed only at the first save, after an interval's work. A
        // temporary file's name is 46 bytes longer (.NAME.PID.ID.tmp, a 7-digit process id), a kept copy's 13 more
        // (.step-NNNNNNN): 209 bytes leave room for the first, not for the second (268).
        string name = new string('c', 197) + ".safetensors";
        var (code, output, error) = Run(Tiny(5, "--checkpoint", Path.Combine(_dir, name)));
        Assert.AreEqual(0, code, output + error);
        Assert.IsTrue(File.Exists(Path.Combine(_dir, name)));
        string[] extend = ["train", "gpt", "--resume", Path.Combine(_dir, name), "--steps", "10", "--extend"];
        (code, output, error) = Run(extend);
        Assert.AreEqual(0, code, output + error);
        (code, output, error) = Run([.. extend[..5], "15", "--extend", "--keep", "1"]);
        Assert.AreEqual(2, code, output + error);
        Assert.AreEqual("", output);
        StringAssert.Contains(error, $"--resume {name} is too long a name: saving it and its kept copies writes");
        StringAssert.Contains(error, "temporary files of 268 bytes of name beside it, more than a file system takes");
        StringAssert.Contains(error, "give a name at least 13 bytes shorter, or --keep 0, or save to a shorter");
        // Without kept copies, a name too long for the checkpoint's own temporary file: the length is named, not the
        // folder check's failure to create a file there (a review found it blamed on the folder).
        string longer = Path.Combine(_dir, new string('d', 200) + ".safetensors");
        (code, output, error) = Run(Tiny(5, "--checkpoint", longer, "--log", Path.Combine(_dir, "longer.csv")));
        Assert.AreEqual(2, code, output + error);
        StringAssert.Contains(error, "is too long a name: saving it writes temporary files of");
        // A step past 9,999,999 takes more digits in a kept copy's name.
        string other = Path.Combine(_dir, "other");
        Directory.CreateDirectory(other);
        string[] keeping = Tiny(
            5,
            "--checkpoint",
            Path.Combine(other, "c.safetensors"),
            "--keep",
            "1",
            "--log",
            other + ".csv"
        );
        Assert.AreEqual(
            Modula.Cli.Training.CheckpointWriter.LongestNameBytes(Path.Combine(other, "c.safetensors"), 1, 9_999_999)
                + 3,
            Modula.Cli.Training.CheckpointWriter.LongestNameBytes(Path.Combine(other, "c.safetensors"), 1, int.MaxValue)
        );
        Assert.AreEqual(0, Run(keeping).Code);
    }

    [TestMethod]
    public void APromptCharacterOutsideTheVocabularyIsNamedWhole()
    {
        // Found by fuzzing: an emoji (two UTF-16 chars) was named by its first half, printed as '�'.
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        var (code, output, error) = Run(["generate", "--checkpoint", Checkpoint, "--prompt", "hi \U0001F642"]);
        Assert.AreEqual(2, code, output + error);
        StringAssert.Contains(error, "the prompt character '\U0001F642' (U+1F642) is not in the model's vocabulary");
    }

    [TestMethod]
    public void KeptCopiesAreOrderedByStepPastSevenDigits()
    {
        // Found by review: ordered by name, step-10000000 came before step-9999999, and --keep deleted the newest.
        foreach (var step in (string[])["10000000", "0000005", "9999999", "notastep"])
            File.WriteAllText(Path.Combine(_dir, $"run.step-{step}.safetensors"), "");
        var order = Modula.Cli.Training.CheckpointWriter.Snapshots(Checkpoint).Select(Path.GetFileName).ToArray();
        CollectionAssert.AreEqual(
            new[]
            {
                "run.step-0000005.safetensors",
                "run.step-9999999.safetensors",
                "run.step-10000000.safetensors",
                "run.step-notastep.safetensors",
            },
            order,
            string.Join(", ", order)
        );
    }

    [TestMethod]
    public void GenerateRefusesScoresThatAreNotFinite()
    {
        // Found by review: NaN scores made every character equally likely. Weights of 10³⁸ are finite (Restore takes
        // them) but overflow float32 in the forward pass.
        Assert.AreEqual(0, Run(Tiny(5, "--checkpoint", Checkpoint)).Code);
        var (tensors, metadata) = SafeTensors.Read(Checkpoint);
        foreach (var (_, tensor) in tensors.Where(t => t.Key.StartsWith("weights/", StringComparison.Ordinal)))
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.Data.AsSpan()).Fill(1e38f);
        File.WriteAllBytes(Checkpoint, SafeTensors.Serialize(tensors, metadata)); // re-signed
        var (code, output, error) = Run(["generate", "--checkpoint", Checkpoint, "--length", "5"]);
        Assert.AreEqual(4, code, output + error);
        StringAssert.Contains(error, "next-character scores after 1 characters are not finite");
    }

    [TestMethod]
    public void ASweepCsvLeftEmptyByAFailedFirstWriteGetsItsHeader()
    {
        // Found by review: a full disk left sweep.csv empty; the next sweep wrote rows without a header, and every
        // later one refused the file. The header and first row are now written together, and an empty file is new.
        string path = Path.Combine(_dir, "sweep.csv");
        File.WriteAllText(path, "");
        var row = new SweepResult(new SweepCell("resmlp", "sgd", 64, 2, -3, 0, 100, 32), 1.5, false, 2.5, 10);
        new SweepStore(path).Add(row);
        var lines = File.ReadAllLines(path);
        CollectionAssert.AreEqual(new[] { SweepResult.CsvHeader, row.ToCsv() }, lines);
        Assert.AreEqual(1, new SweepStore(path).Results.Count);
        Assert.AreEqual(1, Directory.GetFiles(_dir).Length, "no temporary file is left");
    }
}
