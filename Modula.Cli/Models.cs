using Modula.Modules;

namespace Modula.Cli;

/// <summary>The default models the CLI trains and summarizes, with their size options.</summary>
public static class Models
{
    /// <summary>Model names accepted by <c>summary</c> and <c>train</c>.</summary>
    public static readonly string[] Names = ["gpt", "mlp", "resmlp", "rescnn"];

    /// <summary>Size options every model command accepts.</summary>
    public static readonly string[] SizeOptions = ["recipe", "width", "blocks", "block-depth", "heads", "context"];

    /// <summary>
    /// Builds a model: <c>gpt</c> is Modula v1's GPT (or v2's with <c>--recipe v2</c>) for the
    /// 65-character Shakespeare vocabulary; the others classify 28×28 Fashion-MNIST images into 10 classes.
    /// </summary>
    public static Module Build(string name, Options options) => name switch
    {
        "gpt" => options.Get("recipe", "v1") switch
        {
            "v1" => Gpt.V1(GptConfig(options)),
            "v2" => Gpt.V2(GptConfig(options)),
            var r => throw new UsageException($"unknown recipe '{r}'; use v1 or v2."),
        },
        "mlp" => Mlp.V2(10, 28 * 28, options.GetInt("width", 256), 3),
        "resmlp" => Mlp.ResMlp(options.GetInt("width", 256), options.GetInt("blocks", 6), options.GetInt("block-depth", 2), 28 * 28, 10),
        "rescnn" => Mlp.ResCnn(options.GetInt("width", 32), options.GetInt("blocks", 3), options.GetInt("block-depth", 2), 1, 10),
        _ => throw new UsageException($"unknown model '{name}'; available: {string.Join(", ", Names)}."),
    };

    /// <summary>The size options of a classifier with their values (defaults where not given), as <see cref="Build"/> reads them.</summary>
    public static Dictionary<string, int> ClassifierSizes(string name, Options options) => name switch
    {
        "mlp" => new() { ["width"] = options.GetInt("width", 256) },
        "resmlp" => new() { ["width"] = options.GetInt("width", 256), ["blocks"] = options.GetInt("blocks", 6), ["block-depth"] = options.GetInt("block-depth", 2) },
        "rescnn" => new() { ["width"] = options.GetInt("width", 32), ["blocks"] = options.GetInt("blocks", 3), ["block-depth"] = options.GetInt("block-depth", 2) },
        _ => throw new UsageException($"unknown model '{name}'; available: mlp, resmlp, rescnn."),
    };

    /// <summary>The GPT sizes from the options (defaults: Modula's Shakespeare configuration).</summary>
    public static GptConfig GptConfig(Options options)
    {
        int width = options.GetInt("width", 128), heads = options.GetInt("heads", 4);
        if (width % heads != 0) throw new UsageException($"--width {width} must be divisible by --heads {heads}.");
        return new GptConfig(Vocab: 65, Context: options.GetInt("context", 64), Heads: heads, DEmbed: width,
            DQuery: width / heads, DValue: width / heads, Blocks: options.GetInt("blocks", 4));
    }
}
