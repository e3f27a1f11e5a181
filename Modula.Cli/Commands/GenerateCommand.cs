using System.Globalization;
using System.Text.Json;
using Modula.Autodiff;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Cli.Commands;

/// <summary><c>modula generate --checkpoint PATH</c>: samples text from a GPT trained by <c>modula train gpt</c>.</summary>
public static class GenerateCommand
{
    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine("""
                modula generate --checkpoint PATH [--length 500] [--temperature 0.8] [--seed 0] [--prompt TEXT] [--device cpu]

                Samples characters one at a time from the checkpoint's GPT: each step feeds the last
                context-length characters, divides the logits by the temperature and draws from the softmax.
                """);
            return 0;
        }
        var options = new Options(args, ["checkpoint", "length", "temperature", "seed", "prompt", "device"]);
        if (!options.Has("checkpoint")) throw new UsageException("generate needs --checkpoint PATH (written by 'modula train gpt --checkpoint PATH').");
        string path = options.GetExistingFile("checkpoint");
        // Every option is checked before the checkpoint is read.
        int length = options.GetInt("length", 500, 0, 10_000_000);
        double temperature = options.GetDouble("temperature", 0.8, v => v > 0, "above 0");
        int seed = options.GetInt("seed", 0, 0, int.MaxValue);
        if (options.Get("prompt", "\n").Length == 0)
            throw new UsageException("--prompt must not be empty (the model needs a first character).");
        options.GetDevice();
        using var device = Device.Open(options.Get("device", "cpu"));
        GptConfig config = null!;
        string vocabulary = "";
        var (model, weights, _) = Checkpoint.LoadWeights(path, metadata =>
        {
            if (!metadata.TryGetValue("config", out var json) || !metadata.TryGetValue("vocabulary", out var v) || !metadata.TryGetValue("recipe", out var recipe))
                throw new InvalidDataException($"{path} is not a GPT checkpoint from 'modula train gpt' (no config or vocabulary in its metadata).");
            config = JsonSerializer.Deserialize<GptConfig>(json) ?? throw new InvalidDataException($"{path}: unreadable model config.");
            vocabulary = v;
            return recipe == "v2" ? Gpt.V2(config) : Gpt.V1(config);
        }, device);
        using (weights)
        {
            string prompt = options.Get("prompt", "\n");
            var tokens = prompt.Select(c => vocabulary.IndexOf(c) is int i and >= 0 ? i
                : throw new UsageException($"the prompt character '{c}' is not in the model's vocabulary.")).ToList();
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
                int next = Sample(HostLinalg.HostArray(last), temperature, rng);
                tokens.Add(next);
                output.Write(vocabulary[next]);
            }
            output.WriteLine();
            foreach (var p in parameters) p.Dispose();
        }
        return 0;
    }

    private static int Sample(double[] logits, double temperature, System.Random rng)
    {
        double max = logits.Max();
        var p = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        double u = rng.NextDouble() * p.Sum();
        for (int i = 0; i < p.Length; i++) if ((u -= p[i]) <= 0) return i;
        return p.Length - 1;
    }
}
