using Modula.Modules;

namespace Modula.Cli;

/// <summary>The default models the CLI trains and summarizes, with their size options.</summary>
public static class Models
{
    /// <summary>Model names accepted by <c>summary</c> and <c>train</c>.</summary>
    public static readonly string[] Names = ["gpt", "mlp", "resmlp", "rescnn"];

    /// <summary>Size options every model command accepts.</summary>
    public static readonly string[] SizeOptions =
    [
        "recipe",
        "width",
        "blocks",
        "block-depth",
        "heads",
        "context",
        "rms-epsilon",
    ];

    /// <summary>Largest accepted sizes (deeper trees would exhaust the stack or the memory).</summary>
    public const int MaxWidth = 65536,
        MaxBlocks = 256,
        MaxBlockDepth = 64,
        MaxContext = 65536;

    /// <summary>
    /// Builds a model: <c>gpt</c> is Modula v1's GPT (or v2's with <c>--recipe v2</c>) for the
    /// 65-character Shakespeare vocabulary; the others classify 28×28 Fashion-MNIST images into 10 classes.
    /// Sizes are checked first: a bad one is a <see cref="UsageException"/> naming the option.
    /// </summary>
    public static Module Build(string name, Options options)
    {
        if (name is not "gpt")
            options.Reject($"{name} (GPT options)", "heads", "context", "recipe");
        else
            options.Reject("gpt (its blocks have a fixed depth)", "block-depth");
        if (name is "gpt" or "mlp")
            options.Reject($"{name} (only resmlp and rescnn have RMSDivide bonds)", "rms-epsilon");
        return name switch
        {
            "gpt" => options.Get("recipe", "v1") switch
            {
                "v1" => Gpt.V1(GptConfig(options)),
                "v2" => Gpt.V2(GptConfig(options)),
                var r => throw new UsageException($"unknown recipe '{r}'; use v1 or v2."),
            },
            "mlp" => FixedMlp(options),
            "resmlp" => Mlp.ResMlp(
                Width(options, 256, "resmlp"),
                Blocks(options, 6),
                BlockDepth(options),
                28 * 28,
                10,
                RmsEpsilon(options)
            ),
            "rescnn" => Mlp.ResCnn(
                Width(options, 32, "rescnn"),
                Blocks(options, 3),
                BlockDepth(options),
                1,
                10,
                rmsEpsilon: RmsEpsilon(options)
            ),
            _ => throw new UsageException(
                $"unknown model '{name}'; available: {string.Join(", ", Names)}.{Suggestions.DidYouMean(name, Names)}"
            ),
        };
    }

    /// <summary>The fixed-depth MLP: only its width can change.</summary>
    private static Module FixedMlp(Options options)
    {
        options.Reject("mlp (its depth is fixed; use resmlp)", "blocks", "block-depth");
        return Mlp.V2(10, 28 * 28, Width(options, 256, "mlp"), 3);
    }

    /// <summary>
    /// <c>--width</c> or its default, refused when the model's largest weight would not fit one tensor: checked here,
    /// where every command that builds a model reads the width.
    /// </summary>
    private static int Width(Options options, int fallback, string model)
    {
        int width = options.GetInt("width", fallback, 1, MaxWidth);
        LargestWeightFits(model, width);
        return width;
    }

    /// <summary>Refuses a <paramref name="width"/> whose largest weight in <paramref name="model"/> would hold more
    /// elements than one tensor can.</summary>
    private static void LargestWeightFits(string model, double width)
    {
        switch (model)
        {
            case "gpt":
                Fits(4 * width * width, "4·--width² (an MLP weight)");
                break;
            case "rescnn":
                Fits(9 * width * width, "9·--width² (a convolution's weight)");
                break;
            case "mlp" or "resmlp":
                Fits(width * width, "--width² (a hidden weight)");
                break;
            default:
                throw new ArgumentException($"Models: no weight limit for model '{model}'.", nameof(model));
        }
    }

    private static int Blocks(Options options, int fallback) => options.GetInt("blocks", fallback, 1, MaxBlocks);

    /// <summary>
    /// The smallest positive <c>--rms-epsilon</c>. The network computes in float32, where a number under 1.18e-38
    /// (the smallest normal float32) loses precision and one under 1.4e-45 becomes 0: the division the network
    /// computes would then not be the one whose slope <c>modula certify</c> bounds by 1/√ε. 1e-30 keeps ε a
    /// normal float32 by eight orders of magnitude (a bound of at most 1e15 per division).
    /// </summary>
    public const double MinRmsEpsilon = 1e-30;

    /// <summary>Whether <paramref name="epsilon"/> is an <c>--rms-epsilon</c> the CLI accepts: 0, or finite and at
    /// least <see cref="MinRmsEpsilon"/>.</summary>
    public static bool IsRmsEpsilon(double epsilon) =>
        epsilon == 0 || (epsilon >= MinRmsEpsilon && double.IsFinite(epsilon));

    /// <summary>
    /// <c>--rms-epsilon</c> of resmlp and rescnn: the ε of their RMS divisions, 0 (Modula's) by default; a positive
    /// one (at least <see cref="MinRmsEpsilon"/>) gives the network a certified Lipschitz bound.
    /// </summary>
    public static double RmsEpsilon(Options options) =>
        options.GetDouble("rms-epsilon", 0, IsRmsEpsilon, "of 0 or at least 1e-30 (smaller ones vanish in float32)");

    private static int BlockDepth(Options options) => options.GetInt("block-depth", 2, 1, MaxBlockDepth);

    /// <summary>The size options of a classifier with their values (defaults where not given), as <see cref="Build"/>
    /// reads them.</summary>
    public static Dictionary<string, int> ClassifierSizes(string name, Options options) =>
        name switch
        {
            "mlp" => new() { ["width"] = options.GetInt("width", 256) },
            "resmlp" => new()
            {
                ["width"] = options.GetInt("width", 256),
                ["blocks"] = options.GetInt("blocks", 6),
                ["block-depth"] = options.GetInt("block-depth", 2),
            },
            "rescnn" => new()
            {
                ["width"] = options.GetInt("width", 32),
                ["blocks"] = options.GetInt("blocks", 3),
                ["block-depth"] = options.GetInt("block-depth", 2),
            },
            _ => throw new UsageException(
                $"unknown model '{name}'; available: mlp, resmlp, rescnn."
                    + Suggestions.DidYouMean(name, ["mlp", "resmlp", "rescnn"])
            ),
        };

    /// <summary>The characters of tinyshakespeare, the vocabulary of every GPT the command line builds.</summary>
    public const int GptVocabulary = 65;

    /// <summary>The GPT sizes from the options (defaults: Modula's Shakespeare configuration).</summary>
    public static GptConfig GptConfig(Options options)
    {
        int width = Width(options, 128, "gpt"),
            heads = options.GetInt("heads", 4, 1, MaxWidth);
        if (width % heads != 0)
            throw new UsageException($"--width {width} must be divisible by --heads {heads}.");
        if (options.Get("recipe", "v1") == "v2" && width / heads % 2 != 0)
            throw new UsageException(
                $"--recipe v2 rotates pairs of features (RoPE): --width {width} / --heads {heads} must be even."
            );
        return new GptConfig(
            Vocab: GptVocabulary,
            Context: options.GetInt("context", 64, 1, MaxContext),
            Heads: heads,
            DEmbed: width,
            DQuery: width / heads,
            DValue: width / heads,
            Blocks: Blocks(options, 4)
        );
    }

    /// <summary>
    /// Refuses, as a <see cref="UsageException"/> naming the options, GPT sizes whose largest tensor would hold more
    /// than <see cref="int.MaxValue"/> elements (a tensor's limit), before anything is allocated.
    /// </summary>
    public static void CheckTensorSizes(GptConfig c, int batch)
    {
        double tokens = (double)batch * c.Context;
        Fits(tokens * 4 * c.DEmbed, "--batch × --context × 4·--width (the MLP's hidden activations)");
        Fits(tokens * c.Heads * c.Context, "--batch × --heads × --context² (the attention scores)");
        Fits(tokens * c.Vocab, $"--batch × --context × {c.Vocab} (the logits over the vocabulary)");
        LargestWeightFits("gpt", c.DEmbed);
    }

    /// <summary>The same check for a classifier of <paramref name="sizes"/> (see <see
    /// cref="ClassifierSizes"/>).</summary>
    public static void CheckTensorSizes(string name, IReadOnlyDictionary<string, int> sizes, int batch)
    {
        double width = sizes["width"];
        if (name == "rescnn")
        {
            // Each 3×3 convolution unfolds its input to [batch, 9·width, 28·28] patches.
            Fits((double)batch * 9 * width * 28 * 28, "--batch × 9·--width × 28² (a convolution's unfolded patches)");
            LargestWeightFits(name, width);
            return;
        }
        Fits((double)batch * Math.Max(width, 28 * 28), "--batch × max(--width, 28²) (one layer's activations)");
        LargestWeightFits(name, width);
    }

    private static void Fits(double elements, string what)
    {
        if (elements > int.MaxValue)
            throw new UsageException(
                FormattableString.Invariant($"{what} is {elements:N0} elements, more than one tensor holds ")
                    + FormattableString.Invariant($"({int.MaxValue:N0}); use smaller sizes.")
            );
    }
}
