using Modula.Modules;

namespace Modula.Cli.Training;

/// <summary>
/// Sanity checks of the model a checkpoint's metadata describes, made before any model is built:
/// every size must be positive and the model's weights must fit in the file, so a lying
/// checkpoint cannot make the command build a model of unbounded size.
/// </summary>
public static class CheckpointLimits
{
    /// <summary>The longest context a checkpoint may declare.</summary>
    public const int MaxContext = 1 << 16;

    /// <summary>Throws <see cref="InvalidDataException"/> unless <paramref name="config"/> is a sane GPT that fits in
    /// <paramref name="fileBytes"/>.</summary>
    public static void CheckGpt(string path, GptConfig config, long fileBytes)
    {
        var problems = new List<string>();
        if (config.Vocab < 1)
            problems.Add($"vocabulary size {config.Vocab}");
        if (config.Context is < 1 or > MaxContext)
            problems.Add($"context {config.Context} (1..{MaxContext})");
        if (
            !(
                double.IsFinite(config.BlocksMass)
                && config.BlocksMass > 0
                && double.IsFinite(config.AttentionScale)
                && config.AttentionScale > 0
                && double.IsFinite(config.FinalScale)
                && config.FinalScale > 0
            )
        )
            problems.Add(
                $"blocks mass {config.BlocksMass}, attention scale {config.AttentionScale}, final scale "
                    + $"{config.FinalScale} (each must be finite and > 0)"
            );
        if (config.Heads < 1 || config.DEmbed < 1 || config.DQuery < 1 || config.DValue < 1 || config.Blocks < 1)
            problems.Add(
                $"heads {config.Heads}, width {config.DEmbed}, query/value widths {config.DQuery}/{config.DValue}, "
                    + $"blocks {config.Blocks} (each must be ≥ 1)"
            );
        else
        {
            // Each block holds at least the four d×d attention matrices and the embedding a vocab×d table, in float32.
            long d = config.DEmbed;
            if (
                config.Blocks * 4 * d * d * 4 > fileBytes
                || config.Vocab * d * 4 > fileBytes
                || (long)config.Heads * config.DQuery * 4 > fileBytes
            )
                problems.Add(
                    $"a GPT of width {d}, {config.Heads} heads and {config.Blocks} blocks needs more weights than the "
                        + $"{fileBytes}-byte file holds"
                );
        }
        Throw(path, problems);
    }

    /// <summary>Throws <see cref="InvalidDataException"/> unless the classifier <paramref name="sizes"/> are positive
    /// and fit in <paramref name="fileBytes"/>.</summary>
    public static void CheckClassifier(string path, IReadOnlyDictionary<string, int> sizes, long fileBytes)
    {
        var problems = sizes.Where(p => p.Value < 1).Select(p => $"{p.Key} {p.Value} (must be ≥ 1)").ToList();
        if (problems.Count == 0)
        {
            long width = sizes["width"],
                blocks = sizes.GetValueOrDefault("blocks", 1),
                depth = sizes.GetValueOrDefault("block-depth", 1);
            if (width * width * blocks * depth * 4 > fileBytes)
                problems.Add(
                    $"a model of width {width}, {blocks} blocks of depth {depth} needs more weights than the "
                        + $"{fileBytes}-byte file holds"
                );
        }
        Throw(path, problems);
    }

    private static void Throw(string path, List<string> problems)
    {
        if (problems.Count > 0)
            throw new InvalidDataException(
                $"Checkpoint '{path}' describes an impossible model: {string.Join("; ", problems)}."
            );
    }
}
