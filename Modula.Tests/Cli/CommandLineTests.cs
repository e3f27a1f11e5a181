using Modula.Cli;

namespace Modula.Tests.Cli;

[TestClass]
public sealed class CommandLineTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [TestMethod]
    public void HelpExplainsTheCommands()
    {
        var (code, output, _) = Run("--help");
        Assert.AreEqual(0, code);
        StringAssert.Contains(output, "bench gemm");
        var (benchCode, benchHelp, _) = Run("bench", "--help");
        Assert.AreEqual(0, benchCode);
        StringAssert.Contains(benchHelp, "--threads");
    }

    [TestMethod]
    public void TheTopLevelUsageListsEverySubcommand()
    {
        var (_, output, _) = Run("--help");
        foreach (
            var command in new[]
            {
                "train",
                "generate",
                "summary",
                "sweep",
                "bench gemm",
                "bench gpt-step",
                "help",
                "--version",
            }
        )
            StringAssert.Contains(output, $"modula {command}", $"the usage does not show 'modula {command}'");
        foreach (var command in CommandLine.Commands)
            StringAssert.Contains(output, $"\n  {command}", $"the command list does not explain '{command}'");
    }

    [TestMethod]
    public void VersionPrintsThePackageVersion()
    {
        var (code, output, _) = Run("--version");
        Assert.AreEqual(0, code);
        StringAssert.StartsWith(output, $"modula {CommandLine.Version}");
        StringAssert.Matches(CommandLine.Version, new System.Text.RegularExpressions.Regex(@"^\d+\.\d+\.\d+"));
        Assert.AreEqual(output, Run("version").Out);
    }

    [TestMethod]
    public void MessagesShowControlCharactersAsEscapes()
    {
        // A message can quote a forged checkpoint's entry: an escape sequence there must not reach the terminal.
        Assert.AreEqual("device '\\u001B[31mred\\u0000' here", CommandLine.Printable("device '\u001b[31mred\0' here"));
        Assert.AreEqual("two\nlines, no change", CommandLine.Printable("two\nlines, no change"));
        var error = new StringWriter();
        Assert.AreEqual(
            2,
            CommandLine.Run(["summary", "gpt", "--recipe", "\u001b]0;title\u0007"], new StringWriter(), error)
        );
        StringAssert.Contains(error.ToString(), "unknown recipe '\\u001B]0;title\\u0007'");
        Assert.IsFalse(error.ToString().Any(c => char.IsControl(c) && c != '\n'), error.ToString());
    }

    [TestMethod]
    [DataRow("help train", "--recipe")]
    [DataRow("help bench gpt-step", "--optimizers")]
    [DataRow("help sweep", "--widths")]
    [DataRow("help help", "modula help [COMMAND]")]
    [DataRow("help --help", "modula help [COMMAND]")]
    [DataRow("help train --help", "--recipe")]
    [DataRow("help bench gemm -h", "--shapes")]
    [DataRow("help train gpt", "--recipe")]
    [DataRow("help summary gpt", "--rms-epsilon")]
    public void HelpWithACommandShowsItsUsage(string line, string mentioned)
    {
        var (code, output, error) = Run(line.Split(' '));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, mentioned);
    }

    /// <summary>Extra words after --version, or a help line of more than a command and its subject, are usage errors
    /// (a fuzzing run found '--version --bogus' exiting 0).</summary>
    [TestMethod]
    [DataRow("--version --bogus", "--version takes no arguments, got '--bogus'")]
    [DataRow("version 2", "version takes no arguments")]
    [DataRow("help generate gpt", "help takes a command and")]
    [DataRow("help train gpt more", "help takes a command and")]
    public void ExtraWordsAfterVersionOrHelpAreRefused(string line, string expected)
    {
        var (code, _, error) = Run(line.Split(' '));
        Assert.AreEqual(2, code, error);
        StringAssert.Contains(error, expected);
    }

    [TestMethod]
    [DataRow("trian gpt", "Did you mean 'train'?")]
    [DataRow("help sumary", "Did you mean 'summary'?")]
    [DataRow("train gtp", "Did you mean 'gpt'?")]
    [DataRow("bench gem", "Did you mean 'gemm'?")]
    [DataRow("summary gptt", "Did you mean 'gpt'?")]
    [DataRow("sweep resmpl", "Did you mean 'resmlp'?")]
    [DataRow("train gpt --stesp 3", "Did you mean '--steps'?")]
    [DataRow("train gpt --learning-rate 3", "Known:")]
    public void TyposAreRefusedWithASuggestion(string line, string expected)
    {
        var (code, output, error) = Run(line.Split(' '));
        Assert.AreEqual(2, code);
        Assert.AreEqual("", output);
        StringAssert.Contains(error, expected);
        Assert.AreEqual(1, error.Trim().Split('\n').Length, $"one line: {error}");
    }

    [TestMethod]
    public void AFarOffWordGetsNoSuggestion()
    {
        Assert.IsNull(Suggestions.Closest("quantize", CommandLine.Commands));
        Assert.AreEqual(
            "train",
            Suggestions.Closest("tarin", CommandLine.Commands),
            "a swap of neighbours is one edit"
        );
        Assert.AreEqual(1, Suggestions.Distance("steps", "stesp"));
        Assert.AreEqual(3, Suggestions.Distance("", "abc"));
    }

    [TestMethod]
    [DataRow("train gpt --help", "--recipe")]
    [DataRow("train mlp -h", "--recipe")]
    [DataRow("bench gemm --help", "--shapes")]
    [DataRow("bench gpt-step --steps 3 --help", "--optimizers")]
    [DataRow("summary gpt --help", "--block-depth")]
    [DataRow("sweep gpt --help", "--widths")]
    [DataRow("generate --help", "--temperature")]
    public void HelpAfterASubcommandShowsThatCommandsUsage(string line, string mentioned)
    {
        var (code, output, error) = Run(line.Split(' '));
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, mentioned);
    }

    [TestMethod]
    public void MistypedCommandsAndOptionsFailWithAMessage()
    {
        var (code, _, error) = Run("trian");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "unknown command 'trian'");
        var (optCode, _, optError) = Run("bench", "gemm", "--thread", "2");
        Assert.AreEqual(2, optCode);
        StringAssert.Contains(optError, "unknown option '--thread'");
        var (valueCode, _, valueError) = Run("bench", "gemm", "--repeat", "many");
        Assert.AreEqual(2, valueCode);
        StringAssert.Contains(valueError, "expects an integer");
    }

    [TestMethod]
    public void BenchGemmPrintsOneParsableLinePerShape()
    {
        var (code, output, _) = Run("bench", "gemm", "--shapes", "gpt", "--repeat", "1");
        Assert.AreEqual(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // First the instruction set, vector widths and measured multiply-add ceiling, then a line per shape.
        Assert.AreEqual(Modula.Cli.Commands.BenchCommand.Gpt.Length + 1, lines.Length);
        StringAssert.StartsWith(lines[0], "cpu isa=");
        StringAssert.Contains(lines[0], "gemm_bits=");
        Assert.IsTrue(Field(lines[0], "fma_peak_gflops") > 0, lines[0]);
        foreach (var line in lines[1..])
        {
            StringAssert.StartsWith(line, "gemm batch=");
            Assert.IsTrue(Field(line, "gflops") > 0, line);
            StringAssert.Contains(line, "of_peak=");
        }
    }

    /// <summary>A GPT small enough for a test to time a few of its steps.</summary>
    private static readonly string[] TinyGpt =
    [
        "--width",
        "16",
        "--heads",
        "2",
        "--blocks",
        "1",
        "--context",
        "8",
        "--batch",
        "2",
    ];

    [TestMethod]
    public void BenchGptStepInterleavedPrintsEachOptimizerAndItsRatioToTheFirst()
    {
        var (code, output, error) = Run([
            "bench",
            "gpt-step",
            "--threads",
            "1",
            "--steps",
            "6",
            "--warmup",
            "0",
            "--interleave",
            "--optimizers",
            "normed-adam,dualized-momentum,normed-adam",
            .. TinyGpt,
        ]);
        Assert.AreEqual(0, code, error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] Optimizers(string prefix) =>
            lines
                .Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
                .Select(l => Token(l, "optimizer"))
                .ToArray();
        CollectionAssert.AreEqual(
            new[] { "normed-adam", "dualized-momentum", "normed-adam" },
            Optimizers("gpt-step optimizer="),
            output
        );
        Assert.AreEqual(3, Optimizers("gpt-step-counts ").Length, output);
        var ratios = lines.Where(l => l.StartsWith("gpt-step-ratio ", StringComparison.Ordinal)).ToArray();
        CollectionAssert.AreEqual(
            new[] { "dualized-momentum", "normed-adam" },
            ratios.Select(l => Token(l, "optimizer")).ToArray(),
            output
        );
        foreach (var line in ratios)
        {
            Assert.AreEqual("normed-adam", Token(line, "over"), line);
            Assert.IsTrue(Field(line, "q1") > 0, line);
            Assert.IsTrue(
                Field(line, "q1") <= Field(line, "median") && Field(line, "median") <= Field(line, "q3"),
                line
            );
        }
        // Without --interleave, no ratio lines.
        var (plain, sequential, _) = Run([
            "bench",
            "gpt-step",
            "--threads",
            "1",
            "--steps",
            "2",
            "--warmup",
            "0",
            "--optimizers",
            "normed-adam",
            .. TinyGpt,
        ]);
        Assert.AreEqual(0, plain);
        Assert.IsFalse(sequential.Contains("gpt-step-ratio"), sequential);
    }

    /// <summary>The text after "name=" in a line of key=value fields.</summary>
    private static string Token(string line, string name) =>
        line.Split(' ').Single(t => t.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];

    /// <summary>The number after "name=" in a line of key=value fields (a trailing % dropped).</summary>
    private static double Field(string line, string name)
    {
        var token = line.Split(' ').Single(t => t.StartsWith(name + "=", StringComparison.Ordinal));
        return double.Parse(token[(name.Length + 1)..].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture);
    }

    [TestMethod]
    public void SummaryPrintsTheModelTreeWithTargets()
    {
        var (code, output, _) = Run("summary", "resmlp", "--blocks", "2");
        Assert.AreEqual(0, code);
        StringAssert.StartsWith(output, "ResMLP: 6 atoms");
        StringAssert.Contains(output, "Linear(784→256)  mass 1  target 0.3333");
        StringAssert.Contains(output, "Linear(256→256)  mass 0.25  target 0.1667");
        var (v2, gpt, _) = Run("summary", "gpt", "--recipe", "v2");
        Assert.AreEqual(0, v2);
        StringAssert.StartsWith(gpt, "GPT v2: 26 atoms, 78 bonds");
        var (bad, _, error) = Run("summary", "gpt", "--width", "130");
        Assert.AreEqual(2, bad);
        StringAssert.Contains(error, "--width 130 must be divisible by --heads 4");
    }

    [TestMethod]
    public void SummaryTakesTheRmsEpsilonOfResMlpAndResCnn()
    {
        var (code, output, error) = Run("summary", "resmlp", "--blocks", "1", "--rms-epsilon", "0.5");
        Assert.AreEqual(0, code, error);
        Assert.AreEqual(2, output.Split('\n').Count(l => l.Contains("RMSDivide(-1)[ε=0.5]  sensitivity 1")), output);
        (code, output, error) = Run("summary", "rescnn", "--blocks", "1", "--rms-epsilon", "1e-30");
        Assert.AreEqual(0, code, error);
        StringAssert.Contains(output, "[ε=1E-30]");
        (code, _, error) = Run("summary", "mlp", "--rms-epsilon", "0.5");
        Assert.AreEqual(2, code);
        StringAssert.Contains(error, "--rms-epsilon does not apply to mlp");
        StringAssert.Contains(Run("summary", "--help").Out, "[--rms-epsilon X]");
    }
}
