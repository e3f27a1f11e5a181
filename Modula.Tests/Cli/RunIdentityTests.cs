using Modula.Cli.Training;

namespace Modula.Tests.Cli;

/// <summary>The settings a checkpoint records, checked before a resumed run or <c>modula certify</c> uses
/// them.</summary>
[TestClass]
public sealed class RunIdentityTests
{
    private const string CheckpointPath = "run.safetensors";

    /// <summary>A classifier run's recorded settings with <paramref name="changes"/> (key, value; a null value
    /// removes the key).</summary>
    private static Dictionary<string, string> Recorded(string model, params (string Key, string? Value)[] changes)
    {
        var metadata = new Dictionary<string, string>
        {
            ["run.model"] = model,
            ["run.width"] = "16",
            ["run.steps"] = "10",
            ["run.batch"] = "8",
            ["run.seed"] = "0",
            ["run.optimizer"] = "modula-adam",
            ["run.rule"] = "normalize",
            ["run.lr"] = "0.25",
        };
        foreach (var (key, value) in changes)
            if (value is null)
                metadata.Remove("run." + key);
            else
                metadata["run." + key] = value;
        return metadata;
    }

    [TestMethod]
    public void SaneSettingsPass()
    {
        RunIdentity.CheckRecorded(CheckpointPath, Recorded("resmlp", ("rms-epsilon", "0.5")));
        RunIdentity.CheckRecorded(CheckpointPath, Recorded("rescnn", ("rms-epsilon", "1E-30")));
        RunIdentity.CheckRecorded(
            CheckpointPath,
            Recorded("mlp", ("rule", "manifold"), ("manifold-steps", "10000"), ("manifold-tolerance", "0"))
        );
    }

    [TestMethod]
    [DataRow("resmlp", "rms-epsilon", "-0.5", "rms-epsilon '-0.5' is not 0 or a finite number of at least 1E-30")]
    [DataRow("resmlp", "rms-epsilon", "NaN", "rms-epsilon 'NaN' is not 0 or a finite number")]
    [DataRow("rescnn", "rms-epsilon", "Infinity", "rms-epsilon 'Infinity' is not 0 or a finite number")]
    [DataRow("resmlp", "rms-epsilon", "1e-40", "rms-epsilon '1e-40' is not 0 or a finite number")]
    [DataRow("resmlp", "rms-epsilon", "half", "rms-epsilon 'half' is not 0 or a finite number")]
    [DataRow("mlp", "rms-epsilon", "0.5", "rms-epsilon is recorded for model 'mlp', which has none")]
    [DataRow("gpt", "rms-epsilon", "0.5", "rms-epsilon is recorded for model 'gpt', which has none")]
    public void ACorruptedRmsEpsilonIsRefused(string model, string key, string value, string problem) =>
        AssertRefused(Recorded(model, (key, value)), problem);

    [TestMethod]
    [DataRow("manifold-steps", "0", "manifold-steps '0' is not an integer in 1..10000")]
    [DataRow("manifold-steps", "10001", "manifold-steps '10001' is not an integer in 1..10000")]
    [DataRow("manifold-steps", "2.5", "manifold-steps '2.5' is not an integer in 1..10000")]
    [DataRow("manifold-tolerance", "-0.001", "manifold-tolerance '-0.001' is not a finite number of at least 0")]
    [DataRow("manifold-tolerance", "NaN", "manifold-tolerance 'NaN' is not a finite number of at least 0")]
    [DataRow("manifold-tolerance", "-Infinity", "manifold-tolerance '-Infinity' is not a finite number")]
    public void ACorruptedManifoldSettingIsRefused(string key, string value, string problem) =>
        AssertRefused(Recorded("mlp", ("rule", "manifold"), (key, value)), problem);

    [TestMethod]
    [DataRow("manifold-steps", "10")]
    [DataRow("manifold-tolerance", "0.001")]
    public void AManifoldSettingOfAnotherRuleIsRefused(string key, string value) =>
        AssertRefused(Recorded("mlp", (key, value)), "manifold settings are recorded for rule 'normalize'");

    [TestMethod]
    [DataRow("resume.device", "", "device '' is not cpu, ilgpu-cpu, cuda[:N] or opencl[:N]")]
    [DataRow("resume.device", "tpu", "device 'tpu' is not cpu")]
    [DataRow("resume.device", "cuda:-1", "device 'cuda:-1' is not cpu")]
    [DataRow("resume.log", "", "log '' is not a path")]
    [DataRow("resume.log", "a\0b", "log 'a\0b' is not a path")]
    [DataRow("resume.data", "", "data '' is not a path")]
    [DataRow("report.loss_sum", "NaN", "report.loss_sum 'NaN' is not a finite number")]
    [DataRow("report.loss_sum", "-Infinity", "report.loss_sum '-Infinity' is not a finite number")]
    [DataRow("report.loss_sum", "", "report.loss_sum '' is not a finite number")]
    [DataRow("report.loss_count", "-1", "report.loss_count '-1' is not a non-negative integer")]
    [DataRow("report.loss_count", "1.5", "report.loss_count '1.5' is not a non-negative integer")]
    public void AForgedEntryOfTheResumedRunIsRefused(string key, string value, string problem)
    {
        var metadata = Recorded("mlp");
        metadata[key] = value;
        AssertRefused(metadata, problem);
    }

    [TestMethod]
    public void SaneResumeEntriesPass()
    {
        var metadata = Recorded("mlp");
        metadata["resume.device"] = "CUDA:1";
        metadata["resume.log"] = "/tmp/run log.csv";
        metadata["resume.data"] = "data";
        metadata["report.loss_sum"] = "12.5";
        metadata["report.loss_count"] = "5";
        RunIdentity.CheckRecorded(CheckpointPath, metadata);
    }

    private static void AssertRefused(Dictionary<string, string> metadata, string problem)
    {
        var error = Assert.ThrowsExactly<InvalidDataException>(() =>
            RunIdentity.CheckRecorded(CheckpointPath, metadata)
        );
        StringAssert.StartsWith(error.Message, $"Checkpoint '{CheckpointPath}' records an impossible run: ");
        StringAssert.Contains(error.Message, problem);
    }
}
