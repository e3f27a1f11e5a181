using static System.FormattableString;
using System.Diagnostics;
using Modula.Cli.Data;
using Modula.Cli.Training;
using Modula.Tensors;

namespace Modula.Cli.Commands;

/// <summary><c>modula train gpt|mlp|resmlp|rescnn</c>: trains a model and ends with one machine-readable <c>final …</c> line.</summary>
public static class TrainCommand
{
    private static readonly string[] Common = ["device", "seed", "steps", "batch", "data", "log", "eval-interval", "eval-batches", .. OptimizerChoice.OptionNames];

    /// <summary>
    /// The image classifiers' default learning rate (normed Modula-Adam): 0.25 rather than Modula's
    /// CIFAR default 0.5, since on Fashion-MNIST it gives the MLP and the ResMLP the lower training
    /// loss over the last 500 of 2000 steps on every seed, as the ResMLP sweep's optimum at width 256.
    /// </summary>
    public const double ClassifierLearningRate = 0.25;

    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length == 0 || CommandLine.WantsHelp(args))
        {
            output.WriteLine("""
                modula train gpt [--recipe v1|v2] [--steps 2000] [--batch 12] [--context 64] [--width 128] [--heads 4] [--blocks 4]
                                 [--optimizer modula-adam|adam|momentum|sgd] [--rule normalize|dualize|plain] [--lr X] [--beta1 X] [--beta2 X] [--wd X]
                                 [--seed 0] [--device cpu] [--data DIR] [--no-download] [--checkpoint PATH] [--resume PATH]
                                 [--log run.csv] [--eval-interval 200] [--eval-batches 100]
                modula train mlp|resmlp|rescnn --data fashion-mnist [--steps N] [--batch 128] [--width N] [--blocks N] [optimizer options]

                gpt: a character-level GPT on tinyshakespeare. The default is Modula v1's recipe (normed Adam,
                lr 0.5, β 0.9/0.99, wd 0.01, linear decay, 2000 steps of 12×64 tokens); --recipe v2 is Modula v2's
                (RoPE GPT, dualized momentum 0.95, lr 0.1, no weight decay). Every --eval-interval steps it prints
                the mean loss over --eval-batches fixed train and held-out batches; --resume continues a run from a
                checkpoint to --steps with exactly the losses of an uninterrupted run.
                mlp/resmlp/rescnn: Fashion-MNIST classifiers (normed Adam, lr 0.25, β 0.9/0.99, wd 0.01, linear decay,
                2000 steps of 128 images); reports accuracy on the 10,000 test images.
                Data is looked up in --data, $MODULA_DATA, ./data and /usr/share/datasets, and downloaded into ./data
                when missing (unless --no-download). The last line is machine-readable:
                  final step=… train_loss=… test_loss=… ms_per_step=… peak_rss_mb=…
                """);
            return args.Length == 0 ? 2 : 0;
        }
        return args[0] switch
        {
            "gpt" => TrainGpt(new Options(args[1..], [.. Common, "recipe", "context", "width", "heads", "blocks", "checkpoint", "resume"], ["no-download"]), output),
            "mlp" or "resmlp" or "rescnn" => TrainClassifier(args[0], new Options(args[1..], [.. Common, "width", "blocks", "block-depth"], ["no-download"]), output),
            var m => throw new UsageException($"unknown model '{m}'; available: gpt, mlp, resmlp, rescnn."),
        };
    }

    private static int TrainGpt(Options options, TextWriter output)
    {
        CheckBeforeWork(options, gpt: true);
        string recipe = options.Get("recipe", "v1");
        if (recipe is not ("v1" or "v2")) throw new UsageException($"unknown recipe '{recipe}'; use v1 or v2.");
        var settings = new GptSettings(recipe, Models.GptConfig(options),
            OptimizerChoice.Parse(options, recipe == "v2" ? GptSettings.V2Optimizer : GptSettings.V1Optimizer),
            options.GetPositiveInt("steps", 2000), options.GetPositiveInt("batch", 12), (ulong)options.GetInt("seed", 0));
        var corpus = TextCorpus.Load(DataFiles.Locate(DataFiles.Shakespeare, options.Has("data") ? options.Get("data", "") : null, !options.Has("no-download"), output));
        using var device = Device.Open(options.Get("device", "cpu"));
        using var run = new GptRun(settings, corpus, device);
        if (options.Has("resume")) run.Resume(options.Get("resume", ""));
        output.WriteLine($"train gpt {recipe}: {run.Model} | {settings.Optimizer} | {settings.Steps} steps × {settings.Batch}×{settings.Config.Context} tokens on {device.Name} from step {run.Trainer.StepCount}");

        int interval = options.GetPositiveInt("eval-interval", 200), evalBatches = options.GetPositiveInt("eval-batches", 100);
        using var log = CsvLog(options.Get("log", "train-gpt.csv"), "step,batch_loss,train_loss,test_loss,ms_per_step");
        (double Train, double Test) eval = (double.NaN, double.NaN);
        var stepTimes = Loop(run.Trainer, settings.Steps, run.Step, interval, (step, batchLoss, ms) =>
        {
            eval = run.Evaluate(evalBatches);
            output.WriteLine(Invariant($"step {step}/{settings.Steps} batch_loss {batchLoss:F3} train_loss {eval.Train:F3} test_loss {eval.Test:F3} lr {run.Trainer.CurrentLearningRate:F4} ms/step {ms:F1}"));
            log.WriteLine(Invariant($"{step},{batchLoss:F5},{eval.Train:F5},{eval.Test:F5},{ms:F3}"));
        });
        if (options.Has("checkpoint")) run.Save(options.Get("checkpoint", ""));
        output.WriteLine(Invariant($"final step={run.Trainer.StepCount} train_loss={eval.Train:F3} test_loss={eval.Test:F3} ms_per_step={Measure.Median(stepTimes):F1} peak_rss_mb={Measure.PeakRssMb():F0}"));
        return 0;
    }

    private static int TrainClassifier(string name, Options options, TextWriter output)
    {
        CheckBeforeWork(options, gpt: false);
        var model = Models.Build(name, options);
        var optimizer = OptimizerChoice.Parse(options, new OptimizerChoice("modula-adam", Optim.UpdateRule.Normalize, ClassifierLearningRate, 0.9, 0.99, 0.01));
        var settings = new ClassifierSettings(optimizer, options.GetPositiveInt("steps", 2000), options.GetPositiveInt("batch", 128), (ulong)options.GetInt("seed", 0));
        string data = options.Get("data", "fashion-mnist");
        string? directory = data == "fashion-mnist" ? null : data;
        bool download = !options.Has("no-download");
        var train = ImageDataset.LoadFashionMnist(true, directory, download, output);
        var test = ImageDataset.LoadFashionMnist(false, directory, download, output);
        using var device = Device.Open(options.Get("device", "cpu"));
        using var run = new ClassifierRun(name, model, settings, train, test, device);
        output.WriteLine($"train {name}: {model} | {optimizer} | {settings.Steps} steps × {settings.Batch} images on {device.Name}");

        int interval = options.GetPositiveInt("eval-interval", 500);
        using var log = CsvLog(options.Get("log", $"train-{name}.csv"), "step,batch_loss,ms_per_step");
        var clockTotal = Stopwatch.StartNew();
        var stepTimes = Loop(run.Trainer, settings.Steps, run.Step, interval, (step, batchLoss, ms) =>
        {
            output.WriteLine(Invariant($"step {step}/{settings.Steps} batch_loss {batchLoss:F4} ms/step {ms:F1}"));
            log.WriteLine(Invariant($"{step},{batchLoss:F5},{ms:F3}"));
        });
        var (loss, accuracy) = run.Test();
        output.WriteLine(Invariant($"final step={run.Trainer.StepCount} test_loss={loss:F4} test_acc={accuracy:F4} seconds={clockTotal.Elapsed.TotalSeconds:F1} ms_per_step={Measure.Median(stepTimes):F2} peak_rss_mb={Measure.PeakRssMb():F0}"));
        return 0;
    }

    /// <summary>
    /// Steps until <paramref name="steps"/>, timing each; every <paramref name="interval"/> steps (and
    /// at the end) reports the step, the mean batch loss since the last report and the median ms/step.
    /// Returns every step's time.
    /// </summary>
    private static List<double> Loop(Optim.Trainer trainer, int steps, Func<double> step, int interval, Action<int, double, double> report)
    {
        var times = new List<double>();
        var losses = new List<double>();
        while (trainer.StepCount < steps)
        {
            var clock = Stopwatch.StartNew();
            losses.Add(step());
            times.Add(clock.Elapsed.TotalMilliseconds);
            if (trainer.StepCount % interval == 0 || trainer.StepCount == steps)
            {
                report(trainer.StepCount, losses.Average(), Measure.Median(times.TakeLast(interval)));
                losses.Clear();
            }
        }
        return times;
    }

    /// <summary>
    /// Validates the options every run reads later (device, seed, intervals, files and folders), so a
    /// bad value is a usage error before data loads or a model is built.
    /// </summary>
    private static void CheckBeforeWork(Options options, bool gpt)
    {
        options.GetDevice();
        options.GetInt("seed", 0, 0, int.MaxValue);
        options.GetPositiveInt("eval-interval", 200);
        options.GetPositiveInt("eval-batches", 100);
        options.GetOutputFile("log", "train.csv");
        if (gpt || options.Get("data", "fashion-mnist") != "fashion-mnist") options.GetExistingDirectory("data");
        if (options.Has("checkpoint")) options.GetOutputFile("checkpoint", "");
        if (options.Has("resume")) options.GetExistingFile("resume");
    }

    private static StreamWriter CsvLog(string path, string header)
    {
        var writer = new StreamWriter(path, append: false);
        writer.WriteLine(header);
        return writer;
    }
}
