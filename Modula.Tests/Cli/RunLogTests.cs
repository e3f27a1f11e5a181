using Modula.Cli;
using Modula.Cli.Training;

namespace Modula.Tests.Cli;

/// <summary>A resumed run's log: rows past the checkpoint dropped, columns appended since the log began.</summary>
[TestClass]
public sealed class RunLogTests
{
    private string _path = "";

    [TestInitialize]
    public void Create() => _path = Path.Combine(Path.GetTempPath(), $"modula-log-{Guid.NewGuid():N}.csv");

    [TestCleanup]
    public void Remove() => File.Delete(_path);

    [TestMethod]
    public void AResumedLogKeepsRowsUpToTheCheckpoint()
    {
        File.WriteAllLines(_path, ["step,loss", "1,0.5", "2,0.4", "3,0.3"]);
        using (var log = RunLog.Open(_path, "step,loss", resumedStep: 2))
            log.Append("3,0.25");
        CollectionAssert.AreEqual(new[] { "step,loss", "1,0.5", "2,0.4", "3,0.25" }, File.ReadAllLines(_path));
    }

    [TestMethod]
    public void AnOlderLogGainsTheAppendedColumnsEmptyInItsRows()
    {
        File.WriteAllLines(_path, ["step,loss", "1,0.5", "2,0.4"]);
        using (var log = RunLog.Open(_path, "step,loss,accuracy,ms", resumedStep: 2))
            log.Append("3,0.3,0.6,1.5");
        CollectionAssert.AreEqual(
            new[] { "step,loss,accuracy,ms", "1,0.5,,", "2,0.4,,", "3,0.3,0.6,1.5" },
            File.ReadAllLines(_path)
        );
    }

    [TestMethod]
    [DataRow("step,accuracy")]
    [DataRow("step,los")]
    [DataRow("")]
    public void AnotherRunsLogIsRefused(string header)
    {
        File.WriteAllLines(_path, [header, "1,0.5"]);
        var error = Assert.ThrowsExactly<UsageException>(() => RunLog.Open(_path, "step,loss,accuracy", 1));
        StringAssert.Contains(error.Message, "is not this run's log");
    }
}
