using Modula.Cli;
using Modula.Cli.Training;
using Modula.Tensors;

namespace Modula.Tests.Cli;

/// <summary>A resumed run's log: rows past the checkpoint dropped, the GPT log's appended accuracy column, other
/// runs' logs refused.</summary>
[TestClass]
public sealed class RunLogTests
{
    private string _path = "";

    [TestInitialize]
    public void Create() => _path = Path.Combine(Path.GetTempPath(), $"modula-log-{Guid.NewGuid():N}.csv");

    [TestCleanup]
    public void Remove() => File.Delete(_path);

    [TestMethod]
    public void ADanglingLinkOrALoopOfLinksGivenAsTheLogIsNamedAsOne()
    {
        // Found by fuzzing the command line: the link's own length made it read as a log holding a run's rows.
        string target = _path + ".missing";
        File.CreateSymbolicLink(_path, target);
        var e = Assert.ThrowsExactly<UsageException>(() => RunLog.CheckFresh(_path));
        StringAssert.Contains(e.Message, $"is a symbolic link to {target}, which does not exist");
        Assert.IsFalse(File.Exists(target), "nothing was created");
        // Two links that name each other: the same, as a loop.
        string other = _path + ".other";
        File.CreateSymbolicLink(target, other);
        File.CreateSymbolicLink(other, _path);
        try
        {
            e = Assert.ThrowsExactly<UsageException>(() => RunLog.CheckFresh(_path));
            Assert.AreEqual($"--log {_path} is a loop of symbolic links; give the log a path of its own.", e.Message);
        }
        finally
        {
            File.Delete(target);
            File.Delete(other);
        }
        // A link to a folder is no broken link: it is refused later, as the folder it is.
        string folderLink = _path + ".folder";
        Directory.CreateSymbolicLink(folderLink, Path.GetTempPath());
        try
        {
            Assert.IsNull(FileChecks.BrokenLink(folderLink));
        }
        finally
        {
            Directory.Delete(folderLink);
        }
    }

    [TestMethod]
    public void ALogHoldsItsRunsLastRowOrNoRowUpToTheStepWhereThereWasNone()
    {
        File.WriteAllLines(_path, ["step,loss", "1,0.5", "2,0.4", "5,0.3"]);
        Assert.IsTrue(RunLog.HoldsLastRow(_path, "2,0.4", step: 2));
        Assert.IsTrue(RunLog.HoldsLastRow(_path, "2,0.4", step: 4), "a checkpoint between reports");
        Assert.IsFalse(RunLog.HoldsLastRow(_path, "2,0.41", step: 2), "another run's row of that step");
        // A checkpoint saved before its run's first row: the log it continues has no row up to its step.
        Assert.IsFalse(RunLog.HoldsLastRow(_path, "", step: 2));
        Assert.IsTrue(RunLog.HoldsLastRow(_path, "", step: 0));
        File.WriteAllLines(_path, ["step,loss", "5,0.3"]);
        Assert.IsTrue(RunLog.HoldsLastRow(_path, "", step: 4), "its own later rows, which the resumed run drops");
    }

    [TestMethod]
    public void AResumedLogKeepsRowsUpToTheCheckpoint()
    {
        File.WriteAllLines(_path, ["step,loss", "1,0.5", "2,0.4", "3,0.3"]);
        using (var log = RunLog.Open(_path, "step,loss", resumedStep: 2))
            log.Append("3,0.25");
        CollectionAssert.AreEqual(new[] { "step,loss", "1,0.5", "2,0.4", "3,0.25" }, File.ReadAllLines(_path));
    }

    [TestMethod]
    public void AResumedLogDropsARowCutShort()
    {
        // A kill in the middle of a row, or a row merged from two by a full disk (found by review), has another
        // number of fields than the header.
        File.WriteAllText(_path, "step,loss,accuracy\n1,0.5,0.1\n2,0.4,0.2,1.2,0.3\n2,0.4");
        using (var log = RunLog.Open(_path, "step,loss,accuracy", resumedStep: 2))
            log.Append("3,0.3,0.3");
        CollectionAssert.AreEqual(new[] { "step,loss,accuracy", "1,0.5,0.1", "3,0.3,0.3" }, File.ReadAllLines(_path));
    }

    [TestMethod]
    public void AGptLogBegunBeforeTheAccuracyColumnGainsItEmptyInItsRows()
    {
        File.WriteAllLines(_path, [RunLog.LegacyGptHeader, "1,2.5,2.4,2.45,10.0", "2,2.4,2.3,2.35,10.0"]);
        using (var log = RunLog.Open(_path, RunLog.GptHeader, resumedStep: 2))
            log.Append("3,2.3,2.2,2.25,10.0,0.3");
        CollectionAssert.AreEqual(
            new[] { RunLog.GptHeader, "1,2.5,2.4,2.45,10.0,", "2,2.4,2.3,2.35,10.0,", "3,2.3,2.2,2.25,10.0,0.3" },
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

    [TestMethod]
    [DataRow("step,loss", "step,loss,accuracy")]
    [DataRow("step,batch_loss", RunLog.GptHeader)]
    [DataRow(RunLog.ClassifierHeader, RunLog.ClassifierHeader + ",test_accuracy")]
    [DataRow(RunLog.LegacyGptHeader, RunLog.LegacyGptHeader + ",other")]
    public void ALogWhoseHeaderIsOnlyAPrefixOfTheRunsIsRefused(string found, string header)
    {
        File.WriteAllLines(_path, [found, "1,0.5"]);
        var error = Assert.ThrowsExactly<UsageException>(() => RunLog.Open(_path, header, 1));
        StringAssert.Contains(error.Message, $"--log {_path} is not this run's log");
        StringAssert.Contains(error.Message, $"its header is '{found}', this run writes '{header}'");
        CollectionAssert.AreEqual(new[] { found, "1,0.5" }, File.ReadAllLines(_path), "the log is untouched");
    }
}
