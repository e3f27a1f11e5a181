using Modula.Cli;

namespace Modula.Tests.Cli;

/// <summary>
/// Every bad option value is a usage error: exit code 2, one line naming the option, no stack
/// trace, and nothing done first (no output, no data read, no model built).
/// </summary>
[TestClass]
public sealed class BadOptionTests
{
    private static string _folder = "",
        _file = "";

    [ClassInitialize]
    public static void CreateFiles(TestContext _)
    {
        _folder = Directory.CreateTempSubdirectory("modula-options-").FullName;
        _file = Path.Combine(_folder, "not-a-checkpoint.safetensors");
        File.WriteAllText(_file, "not read: the options fail first");
    }

    [ClassCleanup]
    public static void DeleteFiles() => Directory.Delete(_folder, recursive: true);

    [TestMethod]
    [DataRow("train gpt --heads 0", "--heads")]
    [DataRow("train gpt --steps 2 --log --no-download", "option '--log' needs a value, got the option '--no-download'")]
    [DataRow("generate --checkpoint FILE --prompt --seed 3", "write --prompt=--seed")]
    [DataRow("train gpt --lr 0.1 --lr 0.2", "'--lr' is given twice")]
    [DataRow("train gpt --lr=0.1 --width 64 --lr 0.1", "'--lr' is given twice")]
    [DataRow("bench gpt-step --profile --profile", "'--profile' is given twice")]
    [DataRow("train gpt --lr NaN", "--lr")]
    [DataRow("train gpt --lr -1", "--lr")]
    [DataRow("train gpt --lr 0", "--lr")]
    [DataRow("train gpt --lr inf", "--lr")]
    [DataRow("train gpt --lr Infinity", "--lr")]
    [DataRow("train gpt --beta2 -1", "--beta2")]
    [DataRow("train gpt --beta1 1", "--beta1")]
    [DataRow("train gpt --wd -3", "--wd")]
    [DataRow("train gpt --width 0", "--width")]
    [DataRow("train gpt --sigma-max 2", "--sigma-max applies only with --spectral-cap")]
    [DataRow("train gpt --spectral-strength 0.1", "--spectral-strength applies only")]
    [DataRow("train gpt --spectral-cap tight", "--spectral-cap 'tight'")]
    [DataRow("train gpt --spectral-cap hard --sigma-max 0", "--sigma-max")]
    [DataRow("train gpt --spectral-cap hard --sigma-max NaN", "--sigma-max")]
    [DataRow("train gpt --spectral-cap soft", "needs --spectral-strength")]
    [DataRow("train gpt --spectral-cap soft --spectral-strength 2", "--spectral-strength")]
    [DataRow("train gpt --spectral-cap decay --sigma-max 2", "--sigma-max does not apply")]
    [DataRow("train gpt --spectral-cap decay --spectral-strength 1", "--spectral-strength")]
    [DataRow("train gpt --spectral-cap hard --spectral-strength 0.5", "--spectral-strength does not apply")]
    [DataRow("train gpt --spectral-cap hard --rule manifold", "--rule manifold")]
    [DataRow("train mlp --spectral-cap hard --sigma-max -1", "--sigma-max")]
    [DataRow("train gpt --optimizer muon --rule dualize", "--rule dualize")]
    [DataRow("train gpt --adam-lr 0.01", "--adam-lr applies only to --optimizer muon")]
    [DataRow("train gpt --optimizer sgd --beta1 0.5", "--beta1 does not apply to --optimizer sgd")]
    [DataRow("train mlp --optimizer sgd --beta2 0.5", "--beta2 does not apply to --optimizer sgd")]
    [DataRow("train gpt --optimizer momentum --beta2 0.5", "--beta2 does not apply to --optimizer momentum")]
    [DataRow("train gpt --optimizer muon --adam-lr 0", "--adam-lr")]
    [DataRow("train resmlp --optimizer muom", "Did you mean 'muon'")]
    [DataRow("train gpt --manifold-steps 5", "--manifold-steps and --manifold-tolerance apply only")]
    [DataRow("train gpt --rule manifold --manifold-steps 0", "--manifold-steps")]
    [DataRow("train gpt --rule manifold --manifold-tolerance -1", "--manifold-tolerance")]
    [DataRow("train gpt --orthogonalizer muon", "--orthogonalizer applies only to --rule dualize")]
    [DataRow("train gpt --rule manifold --orthogonalizer muon", "--rule manifold always uses six-step")]
    [DataRow("train gpt --recipe v2 --orthogonalizer polar-expres", "Did you mean 'polar-express'")]
    [DataRow("train mlp --optimizer muon --orthogonalizer newton", "unknown --orthogonalizer 'newton'")]
    [DataRow("sweep resmlp --optimizers muon,nuon", "sweep optimizer 'nuon'")]
    [DataRow("train gpt --width 100 --heads 3", "--heads")]
    [DataRow("train gpt --context 0", "--context")]
    [DataRow("summary gpt --recipe v2 --width 12 --heads 4", "must be even")]
    [DataRow("train gpt --blocks 100000", "--blocks")]
    [DataRow("train gpt --device foo", "device 'foo'")]
    [DataRow("train gpt --device cuda:x", "device 'cuda:x'")]
    [DataRow("train gpt --seed -1", "--seed")]
    [DataRow("train gpt --eval-interval 0", "--eval-interval")]
    [DataRow("train gpt --log /nonexistent-folder/run.csv", "--log")]
    [DataRow("train gpt --checkpoint /nonexistent-folder/run.safetensors", "--checkpoint")]
    [DataRow("train gpt --checkpoint /dev/null", "--checkpoint /dev/null is an empty file, a device or a pipe")]
    [DataRow("train gpt --resume FOLDER", "is a folder")]
    [DataRow("train gpt --data /nonexistent", "--data /nonexistent")]
    [DataRow("train mlp --data /nonexistent", "--data /nonexistent")]
    [DataRow("train mlp --blocks 3", "--blocks")]
    [DataRow("train mlp --block-depth 3", "--block-depth")]
    [DataRow("train mlp --rms-epsilon 0.5", "--rms-epsilon")]
    [DataRow("train gpt --rms-epsilon 0.5", "--rms-epsilon")]
    [DataRow("train resmlp --rms-epsilon -1", "--rms-epsilon")]
    [DataRow("train rescnn --rms-epsilon NaN", "--rms-epsilon")]
    [DataRow("train resmlp --rms-epsilon 1e-35", "--rms-epsilon must be a finite number of 0 or at least 1e-30")]
    [DataRow("summary rescnn --rms-epsilon 5e-31", "--rms-epsilon")]
    [DataRow("train resmlp --block-depth 0", "--block-depth")]
    [DataRow("summary gpt --blocks 100000", "--blocks")]
    [DataRow("summary mlp --blocks 3", "--blocks")]
    [DataRow("summary resmlp --heads 3", "--heads")]
    [DataRow("summary rescnn --width -1", "--width")]
    [DataRow("train gpt --keep 2", "--keep does not apply to a run without --checkpoint PATH")]
    [DataRow("train mlp --checkpoint-every 5", "--checkpoint-every does not apply to a run without --checkpoint")]
    [DataRow("train gpt --resume FILE --extend", "--extend needs --steps N")]
    [DataRow("train gpt --resume EMPTY", "--resume is empty")]
    [DataRow("train gpt --device NUL", "unknown device 'a\\u0000b'")]
    [DataRow("train gpt --checkpoint FILE", "already exists; if it is a run's checkpoint, continue that run with")]
    // Files are checked before any data is looked for: FOLDER holds no data set.
    [DataRow("train gpt --checkpoint FILE --data FOLDER --no-download", "already exists; if it is a run's checkpoint")]
    [DataRow("train mlp --checkpoint FILE --data FOLDER --no-download", "already exists; if it is a run's checkpoint")]
    [DataRow("train gpt --log FILE --data FOLDER --no-download", "already holds a run's rows")]
    [DataRow("certify --checkpoint EMPTY", "--checkpoint is empty")]
    [DataRow("bench gpt-step --profile=true", "option '--profile' takes no value")]
    [DataRow("train gpt --no-download=false", "option '--no-download' takes no value")]
    [DataRow("train gpt --extend --steps 5", "--extend applies only with --resume PATH")]
    [DataRow("train resmlp --eval-batches 5", "--eval-batches does not apply to train resmlp")]
    [DataRow(
        "summary mlp --width 46341",
        "--width² (a hidden weight) is 2,147,488,281 elements, more than one tensor holds (2,147,483,647)"
    )]
    [DataRow("summary resmlp --width 46341", "--width² (a hidden weight)")]
    [DataRow("summary rescnn --width 32768", "9·--width² (a convolution's weight)")]
    [DataRow("summary gpt --width 23172 --heads 1", "4·--width² (an MLP weight)")]
    [DataRow("sweep gpt --widths 32,65536", "sweep gpt at --widths 65536 with --batch 12: 4·--width² (an MLP weight)")]
    [DataRow("sweep resmlp --widths 46341", "--width² (a hidden weight)")]
    [DataRow("sweep resmlp --base-width 46341", "sweep resmlp at --base-width 46341 with --batch 128: --width²")]
    [DataRow("sweep gpt --batch 100000000", "--batch × --context × 4·--width")]
    [DataRow("sweep resmlp --batch 100000000", "--batch × max(--width, 28²)")]
    [DataRow("sweep resmlp --widths 99999999999", "--widths")]
    [DataRow("sweep resmlp --widths 0,64", "--widths")]
    [DataRow("sweep resmlp --depths 100000", "--depths")]
    [DataRow("sweep resmlp --seeds 0:2000000000", "--seeds")]
    [DataRow("sweep resmlp --grid 1000:1001", "--grid")]
    [DataRow("sweep resmlp --jobs 0", "--jobs")]
    [DataRow("sweep resmlp --out FILE", "--out")]
    [DataRow("train gpt --log NUL", "--log")]
    [DataRow("sweep resmlp --device foo", "device 'foo'")]
    [DataRow("sweep resmlp --data /nonexistent", "--data /nonexistent")]
    [DataRow("bench gemm --threads 0", "--threads")]
    [DataRow("bench gemm --repeat 0", "--repeat")]
    [DataRow("bench gemm --device foo", "device 'foo'")]
    [DataRow("bench gpt-step --steps 0", "--steps")]
    [DataRow("bench gpt-step --warmup -1", "--warmup")]
    [DataRow("generate --checkpoint FILE --prompt EMPTY", "--prompt")]
    [DataRow("generate --checkpoint FILE --length -5", "--length")]
    [DataRow("generate --checkpoint FILE --temperature 0", "--temperature")]
    [DataRow("generate --checkpoint FILE --temperature NaN", "--temperature")]
    [DataRow("generate --checkpoint FILE --seed -2", "--seed")]
    [DataRow("generate --checkpoint FILE --device foo", "device 'foo'")]
    [DataRow("generate --checkpoint FOLDER", "is a folder")]
    // Values that parse but would overflow later: rates, caps and sizes past what float32 and one tensor hold.
    [DataRow("train gpt --lr 1e308", "--lr must be a finite number in [1e-12, 1e6]")]
    [DataRow("train gpt --lr 1e-320", "--lr must be a finite number in [1e-12, 1e6], got 1e-320.")]
    [DataRow("train gpt --width 2 --heads 1 --context 2 --batch 16600000", "--batch × --context × 65 (the logits")]
    [DataRow("train gpt --optimizer muon --adam-lr 1e308", "--adam-lr")]
    [DataRow("train gpt --wd 1e308", "--wd")]
    [DataRow("train gpt --spectral-cap hard --sigma-max 1e39", "--sigma-max")]
    [DataRow("train gpt --spectral-cap hard --sigma-max 1e-40", "--sigma-max")]
    [DataRow("train gpt --eval-batches 2147483647", "--eval-batches")]
    [DataRow("train gpt --width 65536", "4·--width²")]
    [DataRow("train gpt --batch 100000000", "--batch × --context × 4·--width")]
    [DataRow("train gpt --context 65536", "--batch × --heads × --context²")]
    [DataRow("train resmlp --width 65536", "--width²")]
    [DataRow("train rescnn --batch 100000", "--batch × 9·--width × 28²")]
    [DataRow("bench gpt-step --width 65536", "4·--width²")]
    [DataRow("summary gpt --block-depth 3", "--block-depth does not apply to gpt")]
    [DataRow("sweep resmlp --steps 10 --average-last 20", "--average-last 20 exceeds the --steps 10")]
    [DataRow("sweep resmlp --grid -2000:2000", "2^-60..2^60), got -2000.")]
    public void IsAOneLineUsageErrorBeforeAnyWork(string line, string named)
    {
        var args = line.Split(' ')
            .Select(a =>
                a switch
                {
                    "FOLDER" => _folder,
                    "FILE" => _file,
                    "EMPTY" => "",
                    "NUL" => "a\0b",
                    _ => a.Replace("MISSING", Path.Combine(_folder, "missing")),
                }
            )
            .ToArray();
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        string message = error.ToString().TrimEnd();
        Assert.AreEqual(2, code, $"{line}: exit code; stderr: {message}");
        Assert.AreEqual(1, message.Split('\n').Length, $"{line}: one line expected, got: {message}");
        StringAssert.StartsWith(message, "modula: ");
        StringAssert.Contains(
            message,
            named.Replace("FOLDER", _folder).Replace("MISSING", Path.Combine(_folder, "missing")),
            line
        );
        Assert.AreEqual("", output.ToString(), $"{line}: nothing may run before the options are checked");
    }

    [TestMethod]
    [DataRow("train gpt --resume /nonexistent/run.safetensors")]
    [DataRow("generate --checkpoint /nonexistent.safetensors")]
    public void AMissingInputFileIsAOneLineErrorBeforeAnyWork(string line)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.AreEqual(4, CommandLine.Run(line.Split(' '), output, error), line);
        Assert.AreEqual(
            $"modula: {line.Split(' ')[^2]} {line.Split(' ')[^1]} does not exist.",
            error.ToString().TrimEnd()
        );
        Assert.AreEqual("", output.ToString());
    }

    [TestMethod]
    public void ValidValuesAtTheLimitsAreAccepted()
    {
        var output = new StringWriter();
        Assert.AreEqual(
            0,
            CommandLine.Run(
                ["summary", "resmlp", "--width", "8", "--blocks", "1", "--block-depth", "1"],
                output,
                new StringWriter()
            )
        );
        StringAssert.Contains(output.ToString(), "Linear");
        var options = new Options(
            ["--lr", "1e-3", "--beta2", "0", "--wd", "0", "--device", "CUDA:1"],
            ["lr", "beta2", "wd", "device"]
        );
        Assert.AreEqual(1e-3, options.GetDouble("lr", 1, v => v > 0, "above 0"));
        Assert.AreEqual(0, options.GetDouble("beta2", 0.9, v => v is >= 0 and < 1, "in [0, 1)"));
        Assert.AreEqual("CUDA:1", options.GetDevice());
    }
}
