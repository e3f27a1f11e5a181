using System.Globalization;
using Modula.Cli;
using Modula.Cli.Commands;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;

namespace Modula.Tests.Cli;

/// <summary><c>modula certify</c> on checkpoints written by <c>modula train</c>.</summary>
[TestClass]
public sealed class CertifyCommandTests
{
    private string _dir = "";

    [TestInitialize]
    public void CreateDirectory() => _dir = Directory.CreateTempSubdirectory("modula-certify-").FullName;

    [TestCleanup]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = CommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [TestMethod]
    public void AnMlpCheckpointGetsTheLibrarysBoundPerAtomAndInTotal()
    {
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "fashion-mnist", "train-images-idx3-ubyte.gz")))
            Assert.Inconclusive("Fashion-MNIST not found in MODULA_DATA.");
        string path = Path.Combine(_dir, "mlp.safetensors");
        string[] train = ["train", "mlp", "--data", Path.Combine(data, "fashion-mnist"), "--steps", "5"];
        string log = Path.Combine(_dir, "mlp.csv");
        var trained = Run([.. train, "--width", "16", "--batch", "8", "--checkpoint", path, "--log", log]);
        Assert.AreEqual(0, trained.Code, trained.Error);

        var (code, output, error) = Run("certify", "--checkpoint", path);
        Assert.AreEqual(0, code, error);
        var (model, weights, _) = Checkpoint.LoadWeights(path, _ => Mlp.V2(10, 784, 16, 3), Device.Cpu);
        using (weights)
        {
            var certificate = model.CertifyLipschitz(weights);
            string total = certificate.Bound!.Value.ToString("G6", CultureInfo.InvariantCulture);
            StringAssert.Contains(output, $"certified Lipschitz bound (ℓ2, per example): L ≤ {total}");
            Assert.AreEqual(3, output.Split('\n').Count(l => l.Contains("Linear(") && l.Contains("L ≤")), output);
        }
    }

    [TestMethod]
    public void AResMlpWithAnRmsEpsilonIsCertifiedAndWithoutOneSaysWhyNot()
    {
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "fashion-mnist", "train-images-idx3-ubyte.gz")))
            Assert.Inconclusive("Fashion-MNIST not found in MODULA_DATA.");
        string[] train = ["train", "resmlp", "--data", Path.Combine(data, "fashion-mnist"), "--steps", "3"];
        string[] sizes = ["--width", "16", "--blocks", "2", "--batch", "8"];
        foreach (var epsilon in new[] { "0.5", "0" })
        {
            string path = Path.Combine(_dir, $"resmlp-{epsilon}.safetensors"),
                log = Path.Combine(_dir, $"resmlp-{epsilon}.csv");
            var trained = Run([.. train, .. sizes, "--rms-epsilon", epsilon, "--checkpoint", path, "--log", log]);
            Assert.AreEqual(0, trained.Code, trained.Error);
            var (code, output, error) = Run("certify", "--checkpoint", path);
            Assert.AreEqual(0, code, error);
            if (epsilon == "0")
            {
                StringAssert.Contains(output, "x/rms(x) has no global Lipschitz constant");
                continue;
            }
            var (model, weights, _) = Checkpoint.LoadWeights(
                path,
                _ => Mlp.ResMlp(16, 2, 2, 784, 10, rmsEpsilon: 0.5),
                Device.Cpu
            );
            using (weights)
            {
                string total = model
                    .CertifyLipschitz(weights)
                    .Bound!.Value.ToString("G6", CultureInfo.InvariantCulture);
                StringAssert.Contains(output, $"certified Lipschitz bound (ℓ2, per example): L ≤ {total}");
            }
        }
    }

    [TestMethod]
    [DataRow("v2")]
    [DataRow("v1")]
    public void AGptCheckpointIsCertifiedFromEmbeddingsOrSaysWhyNot(string recipe)
    {
        string? data = Environment.GetEnvironmentVariable("MODULA_DATA");
        if (data is null || !File.Exists(Path.Combine(data, "tinyshakespeare.txt")))
            Assert.Inconclusive("tinyshakespeare.txt not found in MODULA_DATA.");
        string path = Path.Combine(_dir, "gpt.safetensors");
        string[] sizes = ["--width", "16", "--heads", "2", "--blocks", "2", "--context", "8", "--batch", "2"];
        string[] files = ["--checkpoint", path, "--log", Path.Combine(_dir, "gpt.csv")];
        var trained = Run(["train", "gpt", "--recipe", recipe, "--steps", "2", .. sizes, .. files]);
        Assert.AreEqual(0, trained.Code, trained.Error);
        var (code, output, error) = Run("certify", "--checkpoint", path);
        Assert.AreEqual(0, code, error);
        if (recipe == "v1")
        {
            // Layer norm (x/rms(x)) has no bound anywhere near x = 0, so the v1 GPT gets none, with the reason.
            StringAssert.Contains(output, "layer norm has no global Lipschitz constant");
            StringAssert.Contains(output, "no certified bound");
            return;
        }
        var (model, weights, _, _) = GenerateCommand.LoadModel(Checkpoint.Load(path), Device.Cpu);
        using (weights)
        {
            var certificate = Gpt.CertifyFromEmbeddings(model, weights, 8);
            string total = certificate.Bound!.Value.ToString("G6", CultureInfo.InvariantCulture);
            StringAssert.Contains(output, $"on inputs of at most 8 positions, each of ℓ2 norm at most");
            StringAssert.Contains(output, $"L ≤ {total}");
        }
        // Per module: both attention blocks, both MLPs and the head, each with its bound.
        Assert.AreEqual(2, output.Split('\n').Count(l => l.TrimEnd().Contains("/Attention v2  L ≤")), output);
        Assert.AreEqual(2, output.Split('\n').Count(l => l.Contains("/MLP  L ≤")), output);
        StringAssert.Contains(output, "from embeddings/head  L ≤");
    }

    [TestMethod]
    [DataRow("mlp", "blocks", "3", "--blocks does not apply to mlp")]
    [DataRow("resmlp", "recipe", "v2", "--recipe does not apply to resmlp")]
    [DataRow("resmlp", "block-depth", "65", "--block-depth must be in 1..64")]
    public void ARecordedModelThatDoesNotBuildIsAnErrorInTheFile(string model, string key, string value, string why)
    {
        // Settings that pass the checks of the recorded values but that the model refuses: the file is at fault,
        // not the command line.
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Checkpoint.Format,
            ["run.model"] = model,
            ["run.width"] = "1",
            ["run." + key] = value,
        };
        var padding = new Dictionary<string, SafeTensor> { ["padding"] = new(DType.Float32, [1024], new byte[4096]) };
        string path = Path.Combine(_dir, "bad-model.safetensors");
        File.WriteAllBytes(path, SafeTensors.Serialize(padding, metadata));
        var (code, output, error) = Run("certify", "--checkpoint", path);
        Assert.AreEqual(4, code, error);
        StringAssert.StartsWith(error, $"modula: {path}: the recorded model does not build ({why}");
        Assert.AreEqual(1, error.Trim().Split('\n').Length, error);
        Assert.AreEqual("", output);
    }

    [TestMethod]
    public void BadUsageAndBadFilesAreErrorsNotStackTraces()
    {
        Assert.AreEqual(2, Run("certify").Code);
        var missing = Run("certify", "--checkpoint", Path.Combine(_dir, "none.safetensors"));
        Assert.AreNotEqual(0, missing.Code);
        StringAssert.Contains(missing.Error, "does not exist");
        string junk = Path.Combine(_dir, "junk.safetensors");
        File.WriteAllBytes(junk, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var bad = Run("certify", "--checkpoint", junk);
        Assert.AreNotEqual(0, bad.Code);
        Assert.IsFalse(bad.Error.Contains("   at "), bad.Error);
        StringAssert.Contains(Run("certify", "--help").Output, "modula certify --checkpoint PATH");
    }
}
