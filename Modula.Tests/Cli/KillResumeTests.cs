using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Modula.Cli.Training;
using Modula.Optim;

namespace Modula.Tests.Cli;

/// <summary>
/// Starts real <c>modula train gpt</c> processes (a tiny GPT, 600 steps, a checkpoint every 10),
/// kills them with SIGKILL at random moments and while a checkpoint is being written, or stops them
/// with SIGINT/SIGTERM, resumes each time, and requires the final checkpoint and log to be
/// bit-identical to an uninterrupted run's. Needs tinyshakespeare (MODULA_DATA); Linux only.
/// </summary>
[TestClass]
public sealed partial class KillResumeTests
{
    private const int Steps = 600,
        Every = 10;

    private static readonly string[] Train =
    [
        "train",
        "gpt",
        "--steps",
        "600",
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
        "50",
        "--eval-batches",
        "2",
        "--checkpoint-every",
        "10",
        "--seed",
        "1",
        "--checkpoint",
        "run.safetensors",
        "--log",
        "run.csv",
    ];

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private static string Modula =>
        Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "modula.exe" : "modula");

    private static void RequireEnvironment()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Inconclusive("POSIX signals: Linux only.");
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "tinyshakespeare.txt")))
            Assert.Inconclusive("tinyshakespeare.txt not found in MODULA_DATA.");
    }

    // Train's run of this many steps, each reported with an evaluation of 4,000 batches: seconds, where a step takes
    // a fraction of one, so that a signal sent after the first step lands in an evaluation.
    private static string[] EvaluatingEveryStep(int steps)
    {
        var args = Train.ToArray();
        foreach (
            var (option, value) in new[]
            {
                ("--steps", $"{steps}"),
                ("--eval-interval", "1"),
                ("--eval-batches", "4000"),
            }
        )
            args[Array.IndexOf(args, option) + 1] = value;
        return args;
    }

    // MODULA_DATA's folder when it holds Fashion-MNIST, on Linux (POSIX signals); else the test is Inconclusive.
    private static string RequireFashionMnist()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Inconclusive("POSIX signals: Linux only.");
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "fashion-mnist", "train-images-idx3-ubyte.gz")))
            Assert.Inconclusive("Fashion-MNIST not found in MODULA_DATA.");
        return data;
    }

    private sealed class Child(Process process, StringBuilder output)
    {
        public Process Process { get; } = process;

        public string Output
        {
            get
            {
                lock (output)
                    return output.ToString();
            }
        }
    }

    private static Child Start(string directory, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(Modula)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        info.Environment["MODULA_DATA"] = Path.GetFullPath(Environment.GetEnvironmentVariable("MODULA_DATA")!);
        var output = new StringBuilder();
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) =>
        {
            lock (output)
                output.AppendLine(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (output)
                output.AppendLine(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Child(process, output);
    }

    private static Child Finish(Child child)
    {
        Assert.IsTrue(child.Process.WaitForExit(120_000), "the process ends");
        child.Process.WaitForExit();
        return child;
    }

    private static string Reference()
    {
        string directory = Directory.CreateTempSubdirectory("modula-kill-ref-").FullName;
        var child = Finish(Start(directory, Train));
        Assert.AreEqual(0, child.Process.ExitCode, child.Output);
        return directory;
    }

    private static int CheckpointStep(string directory) =>
        int.Parse(
            SafeTensors.Read(Path.Combine(directory, "run.safetensors")).Metadata["step"],
            System.Globalization.CultureInfo.InvariantCulture
        );

    /// <summary>The last step the child printed a report for (a checkpoint was started right after it).</summary>
    private static int LastReported(string output) =>
        output
            .Split('\n')
            .Where(l => l.StartsWith("step ", StringComparison.Ordinal))
            .Select(l => int.Parse(l[5..l.IndexOf('/')], System.Globalization.CultureInfo.InvariantCulture))
            .DefaultIfEmpty(0)
            .Max();

    /// <summary>The resume arguments: a fresh start while no checkpoint exists yet (its log is then
    /// discarded).</summary>
    private static string[] Next(string directory)
    {
        if (File.Exists(Path.Combine(directory, "run.safetensors")))
            return ["train", "gpt", "--resume", "run.safetensors"];
        File.Delete(Path.Combine(directory, "run.csv"));
        return Train;
    }

    /// <summary>Every tensor and every metadata entry of the two runs' final checkpoints agree (the paths of the
    /// resume.* entries and of the checkpoint itself aside, and the log's last row, whose time per step is a timing),
    /// and so do the logs' losses.</summary>
    private static void AssertSameRun(string expected, string actual)
    {
        var (et, em) = SafeTensors.Read(Path.Combine(expected, "run.safetensors"));
        var (at, am) = SafeTensors.Read(Path.Combine(actual, "run.safetensors"));
        CollectionAssert.AreEquivalent(et.Keys.ToList(), at.Keys.ToList(), "tensor names");
        foreach (var (key, t) in et)
            CollectionAssert.AreEqual(t.Data, at[key].Data, $"tensor {key} bit-identical");
        foreach (
            var (key, value) in em.Where(p =>
                !p.Key.StartsWith("resume.", StringComparison.Ordinal)
                && p.Key is not (SafeTensors.HeaderChecksumKey or RunIdentity.SavedAsKey or RunIdentity.LastLogRowKey)
            )
        )
            Assert.AreEqual(value, am[key], $"metadata {key}");
        Assert.AreEqual(Steps.ToString(System.Globalization.CultureInfo.InvariantCulture), am["step"]);
        static string[] Losses(string dir) =>
            File.ReadAllLines(Path.Combine(dir, "run.csv")).Select(l => string.Join(',', l.Split(',')[..4])).ToArray();
        CollectionAssert.AreEqual(
            Losses(expected),
            Losses(actual),
            $"log rows (step and losses)\nexpected:\n{string.Join('\n', Losses(expected))}\n"
                + $"actual:\n{string.Join('\n', Losses(actual))}"
        );
        Assert.AreEqual(Steps / 50 + 1, Losses(actual).Length, "one log row per report, no duplicates");
        Assert.AreEqual(
            0,
            Directory.GetFiles(actual, "*.tmp").Length + Directory.GetFiles(actual, ".*.tmp").Length,
            "no temporary file is left"
        );
    }

    [TestMethod]
    public void SigkillAtRandomMomentsAndMidWriteThenResumeIsBitIdentical()
    {
        RequireEnvironment();
        int seed = Environment.TickCount & 0xFFFF;
        Console.WriteLine($"kill test seed {seed}");
        var rng = new Random(seed);
        var referenceClock = Stopwatch.StartNew();
        string reference = Reference();
        // Kill moments scale with this machine's speed: a fixed delay lets a fast machine finish
        // the run before enough kills land, and a slow one never get past start-up.
        double fullRun = referenceClock.Elapsed.TotalSeconds;
        string directory = Directory.CreateTempSubdirectory("modula-kill-").FullName;
        try
        {
            int kills = 0,
                midWrite = 0,
                attempts = 0;
            var args = Train;
            while (true)
            {
                var child = Start(directory, args);
                bool aimAtWrite = attempts++ % 2 == 1 && attempts <= 14;
                bool killed = false;
                var clock = Stopwatch.StartNew();
                double delay = fullRun * (0.05 + rng.NextDouble() * 0.1);
                while (!child.Process.HasExited && attempts <= 14 && clock.Elapsed.TotalSeconds < 10)
                {
                    bool writing = aimAtWrite && Directory.EnumerateFiles(directory, "*.tmp").Any();
                    if (writing || (!aimAtWrite && clock.Elapsed.TotalSeconds >= delay))
                    {
                        child.Process.Kill();
                        killed = true;
                        break;
                    }
                    if (!aimAtWrite)
                        Thread.Sleep(5);
                }
                Finish(child);
                if (!killed || child.Process.ExitCode == 0)
                {
                    Assert.AreEqual(0, child.Process.ExitCode, child.Output);
                    if (LastReported(child.Output) == Steps)
                        break;
                }
                else
                {
                    kills++;
                    if (Directory.EnumerateFiles(directory, "*.tmp").Any())
                        midWrite++;
                    int reported = LastReported(child.Output);
                    if (reported > 0)
                        Assert.IsTrue(
                            CheckpointStep(directory) >= reported - Every,
                            $"after a kill the checkpoint (step {CheckpointStep(directory)}) holds all but the steps "
                                + $"since the last checkpoint (reported {reported})"
                        );
                }
                // Killed after its final checkpoint: the run is complete (resuming it would be refused).
                if (File.Exists(Path.Combine(directory, "run.safetensors")) && CheckpointStep(directory) == Steps)
                    break;
                args = Next(directory);
            }
            Console.WriteLine(
                $"{kills} SIGKILLs, {midWrite} of them while a checkpoint was being written (a temporary file was left)"
            );
            Assert.IsTrue(kills >= 4, $"{kills} kills (a full run takes {fullRun:F1} s here)");
            Assert.IsTrue(midWrite >= 1, "at least one kill landed in the middle of a checkpoint write");
            AssertSameRun(reference, directory);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            Directory.Delete(reference, recursive: true);
        }
    }

    [TestMethod]
    public void SigintAndSigtermSaveSayHowToResumeAndTheResumedRunIsBitIdentical()
    {
        RequireEnvironment();
        if (
            File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))
                is { } ignored
            && (Convert.ToUInt64(ignored[7..].Trim(), 16) & 2) != 0
        )
            Assert.Inconclusive("SIGINT is ignored by this test process (and so by its children).");
        int seed = Environment.TickCount & 0xFFFF;
        Console.WriteLine($"signal test seed {seed}");
        var rng = new Random(seed);
        var referenceClock = Stopwatch.StartNew();
        string reference = Reference();
        // Kill moments scale with this machine's speed: a fixed delay lets a fast machine finish
        // the run before enough kills land, and a slow one never get past start-up.
        double fullRun = referenceClock.Elapsed.TotalSeconds;
        string directory = Directory.CreateTempSubdirectory("modula-sigint-").FullName;
        try
        {
            var args = Train;
            int[] signals = [2, 2, 15, 2];
            int signalled = 0;
            foreach (var (signal, i) in signals.Select((s, i) => (s, i)))
            {
                var child = Start(directory, args);
                // Wait until it trains (a report line), then a random moment.
                var clock = Stopwatch.StartNew();
                while (LastReported(child.Output) == 0 && !child.Process.HasExited && clock.Elapsed.TotalSeconds < 30)
                    Thread.Sleep(5);
                Thread.Sleep(rng.Next(0, 150));
                if (child.Process.HasExited)
                {
                    Finish(child);
                    break;
                }
                Assert.AreEqual(0, Kill(child.Process.Id, signal));
                bool twice = i == signals.Length - 1;
                if (twice)
                    Assert.AreEqual(0, Kill(child.Process.Id, signal)); // a second Ctrl-C ends it at once
                Finish(child);
                signalled++;
                Assert.AreEqual(128 + signal, child.Process.ExitCode, child.Output);
                if (!twice)
                {
                    var line = child
                        .Output.Split('\n')
                        .Single(l => l.StartsWith("interrupted by", StringComparison.Ordinal));
                    StringAssert.Contains(line, signal == 2 ? "SIGINT" : "SIGTERM");
                    int step = int.Parse(
                        line.Split(" at step ")[1].Split('/')[0],
                        System.Globalization.CultureInfo.InvariantCulture
                    );
                    Assert.AreEqual(
                        step,
                        CheckpointStep(directory),
                        "the checkpoint holds the step it stopped at: nothing is lost"
                    );
                    string command = line.Split("resume with: modula ")[1].Trim();
                    Assert.AreEqual($"train gpt --resume {Path.Combine(directory, "run.safetensors")}", command);
                    args = command.Split(' ');
                }
                else
                {
                    // Unless the first signal's save ended the run before the second arrived, the second says what
                    // is left to resume from.
                    if (!child.Output.Contains("interrupted by", StringComparison.Ordinal))
                    {
                        var said = child
                            .Output.Split('\n')
                            .Single(l => l.Contains("stopped at once by a second signal", StringComparison.Ordinal));
                        // The step the file holds, counting a background write that landed after the last save
                        // began (a review found the line one interval behind).
                        if (said.Contains(" holds step ", StringComparison.Ordinal))
                            Assert.AreEqual(
                                CheckpointStep(directory),
                                int.Parse(
                                    said.Split(" holds step ")[1].TrimEnd('.', '\r'),
                                    System.Globalization.CultureInfo.InvariantCulture
                                ),
                                said
                            );
                    }
                    args = Next(directory);
                }
                Assert.AreEqual(0, Directory.GetFiles(directory, ".*.tmp").Length, "no temporary file after a signal");
            }
            var last = Finish(Start(directory, args));
            Assert.AreEqual(0, last.Process.ExitCode, last.Output);
            Console.WriteLine($"{signalled} signals (SIGINT, SIGTERM, a double SIGINT), each resumed");
            Assert.IsTrue(signalled >= 3, $"{signalled} signals were delivered while the run trained");
            AssertSameRun(reference, directory);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            Directory.Delete(reference, recursive: true);
        }
    }

    [TestMethod]
    public void ASignalDuringTheHorizonsReportLetsTheRunFinish()
    {
        // Found by review: a run signalled once its last step was taken (during the horizon's report, which a signal
        // does not stop) printed a resume command that would be refused, and exited 143. It has finished: exit 0.
        RequireEnvironment();
        var args = EvaluatingEveryStep(steps: 1);
        string directory = Directory.CreateTempSubdirectory("modula-horizon-").FullName;
        try
        {
            var child = Start(directory, args);
            var clock = Stopwatch.StartNew();
            while (!child.Output.Contains("train gpt", StringComparison.Ordinal) && clock.Elapsed.TotalSeconds < 30)
                Thread.Sleep(5);
            Thread.Sleep(800); // the one step takes a fraction of that; its evaluation, seconds
            if (Kill(child.Process.Id, 15) != 0)
                Assert.Inconclusive($"the run ended before the signal:\n{child.Output}");
            Finish(child);
            if (child.Output.Contains("at step 0/1", StringComparison.Ordinal))
                Assert.Inconclusive($"the signal came before the step:\n{child.Output}");
            Assert.AreEqual(0, child.Process.ExitCode, child.Output);
            StringAssert.Contains(child.Output, "final step=1");
            Assert.DoesNotContain("interrupted", child.Output);
            Assert.AreEqual("1", Checkpoint.Load(Path.Combine(directory, "run.safetensors")).Metadata["step"]);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void ASignalDuringAClassifiersFinalTestLetsItEnd()
    {
        // Found by review: the final test ran after the signal handler was gone, so a signal there ended the process
        // without the run's last line (and, on one rank of a parallel run, aborted the job).
        string data = RequireFashionMnist();
        string directory = Directory.CreateTempSubdirectory("modula-test-signal-").FullName;
        try
        {
            // A wide MLP: one step is quick, the test of 10,000 images takes about a second.
            string[] args =
            [
                "train",
                "mlp",
                "--data",
                Path.Combine(data, "fashion-mnist"),
                "--steps",
                "1",
                "--width",
                "2048",
                "--checkpoint",
                "run.safetensors",
            ];
            var child = Start(directory, args);
            var clock = Stopwatch.StartNew();
            // The driver's last line, after which the final test begins.
            while (
                !child.Output.Contains("checkpoints: 1 written", StringComparison.Ordinal)
                && clock.Elapsed.TotalSeconds < 60
            )
                Thread.Sleep(2);
            Thread.Sleep(20);
            if (Kill(child.Process.Id, 15) != 0)
                Assert.Inconclusive($"the run ended before the signal:\n{child.Output}");
            Finish(child);
            Assert.AreEqual(0, child.Process.ExitCode, child.Output);
            StringAssert.Contains(child.Output, "final step=1 test_loss=");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public void ASignalDuringAnEvaluationStopsItAndTheResumedRunMakesThatReport()
    {
        // Found by review: a signal waited for every --eval-batches forward pass. Now the evaluation stops, and the
        // checkpoint owes the report: the resumed run makes it first, so the log matches an uninterrupted run's.
        RequireEnvironment();
        var args = EvaluatingEveryStep(steps: 2);
        string reference = Directory.CreateTempSubdirectory("modula-eval-ref-").FullName;
        string directory = Directory.CreateTempSubdirectory("modula-eval-").FullName;
        try
        {
            var straight = Finish(Start(reference, args));
            Assert.AreEqual(0, straight.Process.ExitCode, straight.Output);
            var child = Start(directory, args);
            var clock = Stopwatch.StartNew();
            while (!child.Output.Contains("train gpt", StringComparison.Ordinal) && clock.Elapsed.TotalSeconds < 30)
                Thread.Sleep(5);
            Thread.Sleep(800); // step 1 takes a fraction of that; its evaluation, seconds
            Assert.AreEqual(0, Kill(child.Process.Id, 15));
            Finish(child);
            if (!child.Output.Contains("step 1/2: evaluation stopped by the signal", StringComparison.Ordinal))
                Assert.Inconclusive($"the signal did not land in the evaluation:\n{child.Output}");
            Assert.AreEqual(143, child.Process.ExitCode, child.Output);
            Assert.IsTrue(clock.Elapsed.TotalSeconds < 30, "the evaluation stopped early");
            var resumed = Finish(Start(directory, ["train", "gpt", "--resume", "run.safetensors"]));
            Assert.AreEqual(0, resumed.Process.ExitCode, resumed.Output);
            CollectionAssert.AreEqual(
                File.ReadAllLines(Path.Combine(reference, "run.csv"))
                    .Select(l => string.Join(',', l.Split(',')[..4]))
                    .ToArray(),
                File.ReadAllLines(Path.Combine(directory, "run.csv"))
                    .Select(l => string.Join(',', l.Split(',')[..4]))
                    .ToArray(),
                "the same log rows as the uninterrupted run"
            );
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            Directory.Delete(reference, recursive: true);
        }
    }

    [TestMethod]
    public void ASweepKilledInTheMiddleOfACellResumesWithEveryCellAndAValidCsv()
    {
        string data = RequireFashionMnist();
        string[] sweep =
        [
            "sweep",
            "resmlp",
            "--widths",
            "16,32",
            "--depths",
            "1,2",
            "--base-width",
            "16",
            "--base-depth",
            "1",
            "--steps",
            "150",
            "--optimizers",
            "normed-adam",
            "--grid",
            "-1:0",
            "--jobs",
            "1",
            "--out",
            "sw",
            "--data",
            Path.Combine(data, "fashion-mnist"),
        ];
        string reference = Directory.CreateTempSubdirectory("modula-sweep-ref-").FullName;
        string directory = Directory.CreateTempSubdirectory("modula-sweep-kill-").FullName;
        try
        {
            var straight = Finish(Start(reference, sweep));
            Assert.AreEqual(0, straight.Process.ExitCode, straight.Output);
            int seed = Environment.TickCount & 0xFFFF,
                kills = 0;
            Console.WriteLine($"sweep kill seed {seed}");
            var rng = new Random(seed);
            string csv = Path.Combine(directory, "sw", "sweep.csv");
            for (int round = 0; round < 2; round++)
            {
                var child = Start(directory, sweep);
                int rowsBefore = File.Exists(csv) ? File.ReadAllLines(csv).Length : 0;
                var clock = Stopwatch.StartNew();
                // Wait for one more finished cell, then kill inside the next one.
                while (
                    !child.Process.HasExited
                    && clock.Elapsed.TotalSeconds < 60
                    && (!File.Exists(csv) || File.ReadAllLines(csv).Length <= rowsBefore)
                )
                    Thread.Sleep(5);
                Thread.Sleep(rng.Next(10, 200));
                if (child.Process.HasExited)
                {
                    Finish(child);
                    break;
                }
                child.Process.Kill();
                Finish(child);
                kills++;
            }
            var last = Finish(Start(directory, sweep));
            Assert.AreEqual(0, last.Process.ExitCode, last.Output);
            static string[] Rows(string dir) =>
                File.ReadAllLines(Path.Combine(dir, "sw", "sweep.csv"))
                    .Select(l => string.Join(',', l.Split(',')[..^1]))
                    .Order(StringComparer.Ordinal)
                    .ToArray(); // all but the wall time
            CollectionAssert.AreEqual(
                Rows(reference),
                Rows(directory),
                "every cell once, with the uninterrupted sweep's scores"
            );
            Assert.AreEqual(7, Rows(directory).Length, "a header and six cells");
            Assert.IsTrue(kills >= 1, $"{kills} kills");
            Console.WriteLine($"{kills} SIGKILLs in the middle of sweep cells");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
            Directory.Delete(reference, recursive: true);
        }
    }
}
