using System.Globalization;
using System.Text.Json;
using Modula.Autodiff;
using Modula.Cli.Training;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Cli.Commands;

/// <summary><c>modula generate --checkpoint PATH</c>: samples text from a GPT trained by <c>modula train
/// gpt</c>.</summary>
public static class GenerateCommand
{
    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine(
                """
                modula generate --checkpoint PATH [--length 500] [--temperature 0.8] [--seed 0] [--prompt TEXT]
                                [--device cpu]

                Samples characters one at a time from the checkpoint's GPT: each step feeds the last
                context-length characters, divides the logits by the temperature and draws from the softmax.
                """
            );
            return 0;
        }
        var options = new Options(args, ["checkpoint", "length", "temperature", "seed", "prompt", "device"]);
        if (!options.Has("checkpoint"))
            throw new UsageException(
                "generate needs --checkpoint PATH (written by 'modula train gpt --checkpoint PATH')."
            );
        string path = options.GetExistingFile("checkpoint");
        // Every option is checked before the checkpoint is read.
        int length = options.GetInt("length", 500, 0, 10_000_000);
        double temperature = options.GetDouble("temperature", 0.8, v => v > 0, "above 0");
        int seed = options.GetInt("seed", 0, 0, int.MaxValue);
        if (options.Get("prompt", "\n").Length == 0)
            throw new UsageException("--prompt must not be empty (the model needs a first character).");
        options.GetDevice();
        using var device = Device.Open(options.Get("device", "cpu"));
        var (model, weights, config, vocabulary) = LoadModel(Checkpoint.Load(path), device);
        using (weights)
        {
            string prompt = options.Get("prompt", "\n");
            // By Unicode scalar, so a character outside the vocabulary is named whole (an emoji is two chars).
            var tokens = prompt
                .EnumerateRunes()
                .Select(r =>
                    r.IsBmp && vocabulary.IndexOf((char)r.Value) is int i and >= 0
                        ? i
                        : throw new UsageException(
                            $"the prompt character '{r}' (U+{r.Value:X4}) is not in the model's vocabulary."
                        )
                )
                .ToList();
            var rng = new System.Random(seed);
            var parameters = weights.ToVariables(requiresGrad: false);
            output.Write(prompt);
            using var noGrad = new NoGrad();
            for (int n = 0; n < length; n++)
            {
                using var scope = TensorScope.Begin();
                var window = tokens.Skip(Math.Max(0, tokens.Count - config.Context)).ToArray();
                var x = Tensor.FromArray<int>(window, new Shape(1, window.Length), device);
                var logits = model.Forward(new Variable(x), parameters);
                using var last = Ops.Contiguous(logits.Value.Slice(1, window.Length - 1, 1));
                var scores = HostLinalg.HostArray(last);
                if (scores.Any(v => !double.IsFinite(v)))
                    throw new InvalidDataException(
                        $"{path}: the model's next-character scores after {tokens.Count} characters are not finite "
                            + "(its forward pass overflows float32); no text can be sampled from it."
                    );
                int next = Sample(scores, temperature, rng);
                tokens.Add(next);
                output.Write(vocabulary[next]);
            }
            output.WriteLine();
            foreach (var p in parameters)
                p.Dispose();
        }
        return 0;
    }

    /// <summary>The GPT of a checkpoint with its weights on <paramref name="device"/>, everything validated
    /// first.</summary>
    public static (Module Model, Weights Weights, GptConfig Config, string Vocabulary) LoadModel(
        CheckpointFile file,
        Device device
    )
    {
        var (config, vocabulary, recipe) = ReadGpt(file);
        var (model, weights, _) = Checkpoint.LoadWeights(
            file,
            _ =>
            {
                try
                {
                    return recipe == "v2" ? Gpt.V2(config) : Gpt.V1(config);
                }
                catch (Exception e) when (e is ModuleException or ArgumentException)
                {
                    throw new InvalidDataException(
                        $"{file.Path}: the model configuration does not describe a GPT ({e.Message})."
                    );
                }
            },
            device
        );
        return (model, weights, config, vocabulary);
    }

    /// <summary>
    /// The GPT a checkpoint describes, validated before anything is built: a known recipe, a
    /// configuration that parses, sizes that are positive and fit in the file, and a vocabulary of
    /// the configured size.
    /// </summary>
    public static (GptConfig Config, string Vocabulary, string Recipe) ReadGpt(CheckpointFile file)
    {
        var m = file.Metadata;
        if (
            !m.TryGetValue("config", out var json)
            || !m.TryGetValue("vocabulary", out var vocabulary)
            || !m.TryGetValue("recipe", out var recipe)
        )
            throw new InvalidDataException(
                $"{file.Path} is not a GPT checkpoint from 'modula train gpt' (no config, vocabulary or recipe in its "
                    + $"metadata)."
            );
        if (recipe is not ("v1" or "v2"))
            throw new InvalidDataException($"{file.Path}: unknown recipe '{recipe}'.");
        GptConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<GptConfig>(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{file.Path}: unreadable model config ({e.Message}).");
        }
        if (config is null)
            throw new InvalidDataException($"{file.Path}: unreadable model config.");
        CheckpointLimits.CheckGpt(file.Path, config, file.FileBytes);
        if (vocabulary.Length != config.Vocab || vocabulary.Distinct().Count() != vocabulary.Length)
            throw new InvalidDataException(
                $"{file.Path}: the vocabulary has {vocabulary.Length} characters ({vocabulary.Distinct().Count()} "
                    + $"distinct), the model {config.Vocab}."
            );
        return (config, vocabulary, recipe);
    }

    private static int Sample(double[] logits, double temperature, System.Random rng)
    {
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        double u = rng.NextDouble() * p.Sum();
        for (int i = 0; i < p.Length; i++)
            if ((u -= p[i]) <= 0)
                return i;
        return p.Length - 1;
    }
}
