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
    [DataRow("resume.log", "", "log '' is not a full path")]
    [DataRow("resume.log", "/tmp/a\0b", "log '/tmp/a\0b' is not a full path")]
    [DataRow("resume.log", "run.csv", "log 'run.csv' is not a full path")]
    [DataRow("resume.data", "", "data '' is not a full path")]
    [DataRow("resume.keep", "-1", "keep '-1' is not a non-negative integer")]
    [DataRow("resume.eval-batches", "20000", "eval-batches '20000' is more than 10000")]
    [DataRow("report.loss_sum", "NaN", "report.loss_sum 'NaN' is not the sum of 5 batch losses")]
    [DataRow("report.loss_sum", "-Infinity", "report.loss_sum '-Infinity' is not the sum of 5 batch losses")]
    [DataRow("report.loss_sum", "", "report.loss_sum '' is not the sum of 5 batch losses")]
    [DataRow("report.loss_sum", null, "report.loss_sum and report.loss_count are not recorded together")]
    [DataRow("report.loss_sum_device", "NaN", "report.loss_sum_device 'NaN' is not a float32 sum of 5 batch")]
    [DataRow("report.loss_sum_device", "1e300", "report.loss_sum_device '1e300' is not a float32 sum of 5")]
    [DataRow("report.loss_sum_device", "0.1", "report.loss_sum_device '0.1' is not a float32 sum of 5 batch")]
    [DataRow("report.loss_sum_device", "twelve", "report.loss_sum_device 'twelve' is not a float32 sum of 5")]
    [DataRow("report.loss_count", "0", "report.loss_sum '12.5' is not the sum of 0 batch losses")]
    [DataRow("report.loss_count", "-1", "report.loss_count '-1' is not a count of steps up to the step 10")]
    [DataRow("report.loss_count", "1.5", "report.loss_count '1.5' is not a count of steps up to the step 10")]
    [DataRow("report.loss_count", "2147483647", "report.loss_count '2147483647' is not a count of steps up to")]
    public void AForgedEntryOfTheResumedRunIsRefused(string key, string? value, string problem)
    {
        var metadata = Resumed();
        if (value is null)
            metadata.Remove(key);
        else
            metadata[key] = value;
        AssertRefused(metadata, problem);
    }

    [TestMethod]
    public void ADeviceSumOfNoLossesOrWithoutItsTotalIsRefused()
    {
        var metadata = Resumed();
        (metadata["report.loss_sum"], metadata["report.loss_count"]) = ("0", "0");
        AssertRefused(metadata, "report.loss_sum_device '12.5' is not a float32 sum of 0 batch losses");
        metadata.Remove("report.loss_sum");
        metadata.Remove("report.loss_count");
        AssertRefused(metadata, "report.loss_sum_device is recorded without report.loss_sum");
    }

    [TestMethod]
    public void SaneResumeEntriesPass()
    {
        RunIdentity.CheckRecorded(CheckpointPath, Resumed(), resumedWith: _ => false);
        var metadata = Resumed();
        metadata["report.loss_sum"] = "0";
        metadata["report.loss_sum_device"] = "0";
        metadata["report.loss_count"] = "0";
        metadata["resume.device"] = "CUDA:1";
        RunIdentity.CheckRecorded(CheckpointPath, metadata, resumedWith: _ => false);
        metadata.Remove("report.loss_sum_device"); // a checkpoint from before the entry
        RunIdentity.CheckRecorded(CheckpointPath, metadata, resumedWith: _ => false);
    }

    [TestMethod]
    [DataRow("eval-batches", "20000")]
    [DataRow("eval-interval", "soon")]
    [DataRow("log", "")]
    [DataRow("device", "tpu")]
    public void AResumeEntryGivenAgainOrNotResumedIsNotChecked(string option, string value)
    {
        // A checkpoint from before a limit (--eval-batches was once unbounded) resumes when the option is given again,
        // and certify, which resumes nothing, reads none of these.
        var metadata = Resumed();
        metadata["resume." + option] = value;
        AssertRefused(metadata, $"{option} '{value}'");
        RunIdentity.CheckRecorded(CheckpointPath, metadata, resumedWith: given => given == option);
        RunIdentity.CheckRecorded(CheckpointPath, metadata);
    }

    /// <summary>A classifier's settings with what a resumed run reads: at step 10, five losses into a report.</summary>
    private static Dictionary<string, string> Resumed()
    {
        var metadata = Recorded("mlp");
        metadata["step"] = "10";
        metadata["resume.device"] = "cpu";
        metadata["resume.log"] = Path.GetFullPath("run log.csv");
        metadata["resume.data"] = Path.GetFullPath("data");
        metadata["resume.keep"] = "0";
        metadata["report.loss_sum"] = "12.5";
        metadata["report.loss_sum_device"] = "12.5";
        metadata["report.loss_count"] = "5";
        return metadata;
    }

    private static void AssertRefused(Dictionary<string, string> metadata, string problem)
    {
        var error = Assert.ThrowsExactly<InvalidDataException>(() =>
            RunIdentity.CheckRecorded(CheckpointPath, metadata, resumedWith: _ => false)
        );
        StringAssert.StartsWith(error.Message, $"Checkpoint '{CheckpointPath}' records an impossible run: ");
        StringAssert.Contains(error.Message, problem);
    }
}
