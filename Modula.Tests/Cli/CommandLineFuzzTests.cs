using Modula.Cli;

namespace Modula.Tests.Cli;

/// <summary>
/// Mutated command lines through the whole command line: every one must end in a handled outcome
/// (exit 0, or 2 with one line for bad usage, 3 for a missing device, 4 for missing or damaged
/// files), never an exception, and a usage error must come before any output. Runs that would
/// train or benchmark are stopped at their first real work: the data folder is empty, the
/// checkpoint is not one, and benchmarks ask for a device that does not exist.
/// </summary>
[TestClass]
public sealed class CommandLineFuzzTests
{
    private static readonly string[] Hostile =
    [
        "0",
        "-1",
        "1",
        "2",
        "-0",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e309",
        "-1e-320",
        "0.5",
        "1e-3",
        "99999999999",
        "2147483647",
        "-2147483648",
        "",
        " ",
        "--",
        "-",
        "=",
        "--help",
        "cpu",
        "cuda:-1",
        "opencl:x",
        "ilgpu-cpu",
        "foo",
        "1,2,3",
        "0:3",
        "3:0",
        "-6:1",
        "1:99999999",
        ",",
        "1,,2",
        "v1",
        "v3",
        "/",
        "MISSING",
        "ünï",
        "\u0000",
        "%s{0}",
    ];

    private static readonly string[][] Lines =
    [
        ["summary", "gpt", "--width", "64", "--heads", "4", "--blocks", "2", "--context", "16", "--recipe", "v2"],
        ["summary", "resmlp", "--width", "32", "--blocks", "2", "--block-depth", "1"],
        ["summary", "rescnn", "--width", "8", "--blocks", "1"],
        ["summary", "mlp", "--width", "16"],
        [
            "train",
            "gpt",
            "--steps",
            "2",
            "--batch",
            "2",
            "--lr",
            "0.5",
            "--beta1",
            "0.9",
            "--beta2",
            "0.99",
            "--wd",
            "0.01",
            "--width",
            "32",
            "--heads",
            "4",
            "--seed",
            "1",
            "--eval-interval",
            "1",
            "--log",
            "LOG",
            "--data",
            "DATA",
            "--no-download",
        ],
        [
            "train",
            "resmlp",
            "--steps",
            "2",
            "--width",
            "16",
            "--blocks",
            "1",
            "--optimizer",
            "adam",
            "--rule",
            "plain",
            "--data",
            "DATA",
            "--no-download",
        ],
        ["generate", "--checkpoint", "JUNK", "--length", "3", "--temperature", "0.8", "--seed", "1", "--prompt", "a"],
        [
            "sweep",
            "resmlp",
            "--widths",
            "16,32",
            "--depths",
            "1",
            "--grid",
            "-2:0",
            "--steps",
            "2",
            "--seeds",
            "0",
            "--jobs",
            "1",
            "--data",
            "DATA",
            "--no-download",
        ],
        ["bench", "gemm", "--threads", "1", "--repeat", "1", "--shapes", "gpt"],
        ["bench", "gpt-step", "--threads", "1", "--steps", "1", "--warmup", "0", "--interleave"],
    ];

    [TestMethod]
    public void MutatedCommandLinesEndInAHandledOutcome()
    {
        int cases =
            int.TryParse(Environment.GetEnvironmentVariable("MODULA_FUZZ_CASES"), out int n) && n > 0 ? n : 1000;
        string folder = Directory.CreateTempSubdirectory("modula-cli-fuzz-").FullName;
        string data = Directory.CreateDirectory(Path.Combine(folder, "data")).FullName;
        string junk = Path.Combine(folder, "junk.safetensors");
        File.WriteAllBytes(junk, [8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}', 0, 0, 0, 0, 0, 0]);
        string? saved = Environment.GetEnvironmentVariable("MODULA_DATA");
        string directory = Environment.CurrentDirectory;
        try
        {
            // Relative paths a mutation produces land in the test's folder.
            Environment.CurrentDirectory = folder;
            Environment.SetEnvironmentVariable("MODULA_DATA", data);
            var rng = new Random(29);
            var outcomes = new int[5];
            for (int c = 0; c < cases; c++)
            {
                var line = Lines[rng.Next(Lines.Length)]
                    .Select(a =>
                        a switch
                        {
                            "LOG" => Path.Combine(folder, "log.csv"),
                            "DATA" => data,
                            "JUNK" => junk,
                            _ => a,
                        }
                    )
                    .ToList();
                Mutate(line, rng);
                // Paths stay inside the test's folder: a mutated --out may create what it names.
                for (int i = 0; i < line.Count; i++)
                    if (line[i] == "MISSING")
                        line[i] = Path.Combine(folder, "missing", "x.csv");
                // Benchmarks would run if their options survived: the device named last does not exist.
                if (line.Count > 0 && line[0] == "bench")
                    line.AddRange(["--device", "opencl:99"]);
                // A sweep writes its CSV into --out before it loads data: the folder named last is the test's.
                if (line.Count > 0 && line[0] == "sweep")
                    line.AddRange(["--out", Path.Combine(folder, "sweep")]);
                var output = new StringWriter();
                var error = new StringWriter();
                string shown = string.Join(" ", line.Select(a => a.Length == 0 || a.Contains(' ') ? $"'{a}'" : a));
                int code;
                try
                {
                    code = CommandLine.Run(line.ToArray(), output, error);
                }
                catch (Exception e)
                {
                    throw new AssertFailedException($"case {c} (seed 29): `modula {shown}` threw {e}");
                }
                Assert.IsTrue(code is >= 0 and <= 4, $"case {c}: `modula {shown}` exited {code}");
                outcomes[code]++;
                // A command alone prints its usage and exits 2 by design; so does --help anywhere.
                if (code == 2 && !line.Any(a => a is "--help" or "-h") && line.Count > 1)
                {
                    string message = error.ToString().TrimEnd();
                    Assert.AreEqual(
                        1,
                        message.Split('\n').Length,
                        $"case {c}: `modula {shown}`: usage error of several lines: {message}"
                    );
                    Assert.AreEqual(
                        "",
                        output.ToString(),
                        $"case {c}: `modula {shown}`: output before the usage error"
                    );
                }
            }
            Console.WriteLine($"{cases} command lines: exit codes 0..4 = {string.Join(", ", outcomes)}");
            Assert.IsTrue(
                outcomes[2] > 0 && outcomes[0] + outcomes[3] + outcomes[4] > 0,
                "the mutations should produce both usage errors and accepted lines"
            );
        }
        finally
        {
            Environment.SetEnvironmentVariable("MODULA_DATA", saved);
            Environment.CurrentDirectory = directory;
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void Mutate(List<string> line, Random rng)
    {
        for (int m = rng.Next(1, 4); m > 0; m--)
        {
            int at = rng.Next(line.Count + 1);
            switch (rng.Next(6))
            {
                case 0 or 1 when at < line.Count: // a value replaced by a hostile one
                    line[at] = Hostile[rng.Next(Hostile.Length)];
                    break;
                case 2 when at < line.Count:
                    line.RemoveAt(at);
                    break;
                case 3 when at < line.Count:
                    line.Insert(at, line[at]);
                    break;
                case 4 when at + 1 < line.Count && line[at].StartsWith("--"): // --name=value
                    line[at] = $"{line[at]}={line[at + 1]}";
                    line.RemoveAt(at + 1);
                    break;
                default:
                    line.Insert(
                        at,
                        rng.Next(2) == 0 ? Hostile[rng.Next(Hostile.Length)] : "--" + Hostile[rng.Next(Hostile.Length)]
                    );
                    break;
            }
        }
    }
}
