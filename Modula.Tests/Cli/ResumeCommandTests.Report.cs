using Modula.Optim;

namespace Modula.Tests.Cli;

/// <summary>
/// A report interval split by a resume, without a signal: the run is resumed from a copy of a snapshot it kept in
/// the middle of an interval, so the split lands at a chosen step every time (the kill tests split wherever their
/// signal lands).
/// </summary>
public sealed partial class ResumeCommandTests
{
    /// <summary>
    /// A GPT run saving every step and reporting every 4 is resumed from its step-5 snapshot (losses 5 of the interval
    /// 5–8 carried). Its snapshots of steps 6 and 7 must record the loss sum, its device part and the count exactly as
    /// the straight run's do (the carried part goes on rounding in float32 as the straight sum does), and its log rows
    /// from step 8 on and its final weights must equal the straight run's.
    /// </summary>
    [TestMethod]
    public void AResumeInsideAReportIntervalRecordsTheLossSumsOfTheStraightRun()
    {
        string Named(string name, string extension) => Path.Combine(_dir, name + extension);
        string[] Saving(string name) =>
            Tiny(
                12,
                "--eval-interval",
                "4",
                "--checkpoint",
                Named(name, ".safetensors"),
                "--checkpoint-every",
                "1",
                "--keep",
                "12",
                "--log",
                Named(name, ".csv")
            );
        var (code, output, error) = Run(Saving("straight"));
        Assert.AreEqual(0, code, output + error);
        string early = Named("early", ".safetensors");
        File.Copy(Named("straight.step-0000005", ".safetensors"), early);
        (code, output, error) = ResumeEarly("gpt", early, "--checkpoint-every", "1", "--keep", "12");
        Assert.AreEqual(0, code, output + error);
        StringAssert.Contains(output, "from step 5");

        string[] keys = ["report.loss_sum", "report.loss_sum_device", "report.loss_count"];
        foreach (int step in new[] { 6, 7 })
        {
            string snapshot = $".step-{step:D7}";
            var (_, expected) = SafeTensors.Read(Named("straight" + snapshot, ".safetensors"));
            var (_, actual) = SafeTensors.Read(Named("early" + snapshot, ".safetensors"));
            Assert.AreEqual(
                (step - 4).ToString(System.Globalization.CultureInfo.InvariantCulture),
                actual["report.loss_count"],
                $"step {step}: losses since the report at step 4"
            );
            foreach (string key in keys)
                Assert.AreEqual(expected[key], actual[key], $"step {step}: {key}");
        }

        static string[] Rows(string log, int from) =>
            [
                .. File.ReadAllLines(log)
                    .Skip(1)
                    .Select(line => string.Join(',', line.Split(',')[..4]))
                    .Where(row =>
                        int.Parse(row.Split(',')[0], System.Globalization.CultureInfo.InvariantCulture) >= from
                    ),
            ];
        var straightRows = Rows(Named("straight", ".csv"), 8);
        Assert.AreEqual(2, straightRows.Length, string.Join('\n', straightRows));
        CollectionAssert.AreEqual(
            straightRows,
            Rows(EarlyLog, 8),
            $"log rows (step and losses)\nstraight:\n{string.Join('\n', straightRows)}\nresumed:\n"
                + string.Join('\n', Rows(EarlyLog, 8))
        );
        var (weights, _) = SafeTensors.Read(Named("straight", ".safetensors"));
        var (resumed, metadata) = SafeTensors.Read(early);
        Assert.AreEqual("12", metadata["step"]);
        foreach (var (key, t) in weights)
            CollectionAssert.AreEqual(t.Data, resumed[key].Data, $"tensor {key}");
    }
}
