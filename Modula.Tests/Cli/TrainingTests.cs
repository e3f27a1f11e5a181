using Modula.Cli;
using Modula.Cli.Training;
using Modula.Data;
using Modula.Modules;
using Modula.Tensors;

namespace Modula.Tests.Cli;

[TestClass]
public sealed class TrainingTests
{
    private static readonly TextCorpus Corpus = new(
        string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 60))
    );

    private static GptSettings Settings(string recipe = "v1") =>
        new(
            recipe,
            new GptConfig(
                Vocab: Corpus.Vocabulary.Length,
                Context: 16,
                Heads: 2,
                DEmbed: 16,
                DQuery: 8,
                DValue: 8,
                Blocks: 1
            ),
            recipe == "v1" ? GptSettings.V1Optimizer : GptSettings.V2Optimizer,
            Steps: 20,
            Batch: 4,
            Seed: 3
        );

    private static List<double> Steps(GptRun run, int until)
    {
        var losses = new List<double>();
        while (run.Trainer.StepCount < until)
            losses.Add(run.Step());
        return losses;
    }

    [TestMethod]
    public void ShortGptRunsAreDeterministicAndLearn()
    {
        foreach (var recipe in new[] { "v1", "v2" })
        {
            using var a = new GptRun(Settings(recipe), Corpus, Device.Cpu);
            using var b = new GptRun(Settings(recipe), Corpus, Device.Cpu);
            var la = Steps(a, 20);
            CollectionAssert.AreEqual(la, Steps(b, 20), $"{recipe}: same seed, same losses");
            Assert.IsTrue(
                la.Skip(15).Average() < la.Take(5).Average() - 0.3,
                $"{recipe}: loss {la[0]:F3} → {la[^1]:F3}"
            );
        }
    }

    [TestMethod]
    public void ResumedRunEndsWithTheLossesOfAStraightRun()
    {
        string path = Path.Combine(Path.GetTempPath(), $"modula-resume-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var straight = new GptRun(Settings(), Corpus, Device.Cpu);
            var expected = Steps(straight, 20);
            List<double> actual;
            using (var first = new GptRun(Settings(), Corpus, Device.Cpu))
            {
                actual = Steps(first, 10);
                first.Save(path);
            }
            using var second = new GptRun(Settings(), Corpus, Device.Cpu);
            second.Resume(path);
            actual.AddRange(Steps(second, 20));
            CollectionAssert.AreEqual(expected, actual);
            var (train, test, accuracy) = second.Evaluate(2);
            Assert.IsTrue(double.IsFinite(train) && double.IsFinite(test) && accuracy is >= 0 and <= 1);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void AnEvaluationStopsBetweenBatchesWhenASignalAsks()
    {
        // Found by review: SIGTERM waited for --eval-batches forward passes, however many were asked.
        using var run = new GptRun(Settings(), Corpus, Device.Cpu);
        int asked = 0;
        Assert.IsNull(run.Evaluate(1000, () => ++asked > 3), "a stopped evaluation reports nothing");
        Assert.AreEqual(4, asked, "it stops at the first check after the signal");
        Assert.AreEqual(run.Evaluate(2), run.Evaluate(2, () => false), "unstopped, it is the usual evaluation");
    }

    [TestMethod]
    public void HeldOutAccuracyCountsTheTokensWhoseLikeliestPredictionIsNext()
    {
        using var run = new GptRun(Settings(), Corpus, Device.Cpu);
        Steps(run, 20);
        const int batches = 3;
        var evaluation = run.Evaluate(batches);

        // Reference: the same held-out batches (Evaluate draws them from seed + 4), argmax taken here by a loop.
        var settings = run.Settings;
        var sampler = new Modula.Tensors.Random.Generator(settings.Seed + 4);
        int correct = 0,
            count = 0,
            vocab = settings.Config.Vocab;
        using var _ = new Modula.Autodiff.NoGrad();
        for (int b = 0; b < batches; b++)
        {
            var (x, y) = TokenBatches.Sample(
                Corpus.Test,
                settings.Batch,
                settings.Config.Context,
                sampler,
                0,
                settings.Batch,
                Device.Cpu
            );
            var logits = run.Model.Forward(new Modula.Autodiff.Variable(x), run.Trainer.Parameters).Value;
            var values = logits.ToArray<float>();
            var targets = y.ToArray<int>();
            for (int t = 0; t < targets.Length; t++)
            {
                int best = 0;
                for (int v = 1; v < vocab; v++)
                    if (values[t * vocab + v] > values[t * vocab + best])
                        best = v;
                correct += best == targets[t] ? 1 : 0;
                count++;
            }
        }
        Assert.AreEqual((double)correct / count, evaluation.TestAccuracy, 1e-12);
        Assert.IsTrue(evaluation.TestAccuracy > 2.0 / vocab, $"accuracy {evaluation.TestAccuracy} after 20 steps");
    }

    [TestMethod]
    public void TrainingCommandsExplainMissingDataAndBadFlags()
    {
        string empty = Directory.CreateTempSubdirectory("modula-empty-").FullName;
        string? saved = Environment.GetEnvironmentVariable("MODULA_DATA");
        try
        {
            Environment.SetEnvironmentVariable("MODULA_DATA", empty);
            var output = new StringWriter();
            var error = new StringWriter();
            int code = CommandLine.Run(
                ["train", "gpt", "--data", empty, "--no-download", "--steps", "1"],
                output,
                error
            );
            Assert.AreEqual(4, code);
            StringAssert.Contains(error.ToString(), "cannot find tinyshakespeare.txt");
            StringAssert.Contains(error.ToString(), "MODULA_DATA");

            code = CommandLine.Run(["train", "gpt", "--stpes", "10"], output, error);
            Assert.AreEqual(2, code);
            StringAssert.Contains(error.ToString(), "unknown option '--stpes'");
            code = CommandLine.Run(["train", "--help"], output, error);
            Assert.AreEqual(0, code);
            StringAssert.Contains(output.ToString(), "final step=");
            code = CommandLine.Run(["generate"], output, error);
            Assert.AreEqual(2, code);
            StringAssert.Contains(error.ToString(), "generate needs --checkpoint");
            code = CommandLine.Run(
                ["generate", "--checkpoint", Path.Combine(empty, "none.safetensors")],
                output,
                error
            );
            Assert.AreEqual(4, code);
        }
        finally
        {
            Environment.SetEnvironmentVariable("MODULA_DATA", saved);
            Directory.Delete(empty, recursive: true);
        }
    }
}
