using Modula.Cli.Training;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;

namespace Modula.Cli.Commands;

/// <summary>
/// <c>modula certify</c>: a certified upper bound on a trained network's Lipschitz constant in its input,
/// computed from the checkpoint's weights through the module algebra, per module and in total.
/// </summary>
public static class CertifyCommand
{
    private const string Help = """
        modula certify --checkpoint PATH

        Prints a certified upper bound L on how far the network's output can move per unit move of its
        input (||f(x) - f(x')|| <= L ||x - x'|| in the l2 norm of one example, for every pair of inputs),
        computed from the checkpoint's weights: every Linear contributes sqrt(out/in) times its largest
        singular value, compositions multiply, sums add, scalars scale, each activation its largest
        slope. One line per named module and atom, then the total. Parts without a global bound (layer
        norm, RMS division without an epsilon, token embeddings) are listed with the reason, and then no
        total is certified. RMS division with an epsilon > 0 (resmlp and rescnn trained with
        --rms-epsilon) is 1/sqrt(epsilon)-Lipschitz; with epsilon 0 (Modula's) it has no bound. Reads
        checkpoints of 'modula train' (gpt, mlp, resmlp, rescnn).

        A v2 GPT (--recipe v2: no normalization) is certified from its embedded inputs to its logits, in
        the l2 norm of the whole [context, width] example, on the domain where every position's vector
        has l2 norm at most sqrt(width) times the largest embedding row (all embedded token sequences,
        and every point between two of them): dot-product attention is Lipschitz only on bounded inputs,
        and each attention block is bounded as a whole there. A v1 GPT keeps its layer norms, which have
        no bound, so it gets none.
        """;

    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        if (CommandLine.WantsHelp(args))
        {
            output.WriteLine(Help);
            return 0;
        }
        var options = new Options(args, ["checkpoint"]);
        if (!options.Has("checkpoint"))
            throw new UsageException("certify needs --checkpoint PATH (written by 'modula train ... --checkpoint').");
        var file = Checkpoint.Load(options.GetExistingFile("checkpoint"));
        var (model, weights, context) = LoadModel(file);
        using (weights)
        {
            // A GPT from its embedded inputs (the v2 recipe; any other GPT is certified whole and says why not).
            var certificate = context is int t
                ? Gpt.CertifyFromEmbeddings(model, weights, t)
                : model.CertifyLipschitz(weights);
            output.WriteLine($"{model.Label} from {file.Path}\n{certificate}");
        }
        return 0;
    }

    /// <summary>The model a checkpoint of <c>modula train</c> describes, with its weights on the CPU, and its
    /// context when it is a GPT.</summary>
    private static (Module Model, Weights Weights, int? Context) LoadModel(CheckpointFile file)
    {
        if (file.Metadata.ContainsKey("config"))
        {
            var (gpt, gptWeights, config, _) = GenerateCommand.LoadModel(file, Device.Cpu);
            return (gpt, gptWeights, config.Context);
        }
        if (!file.Metadata.TryGetValue(RunIdentity.Prefix + "model", out var name))
            throw new InvalidDataException($"{file.Path} does not record which model it holds (no run.model entry).");
        if (name is "gpt")
            throw new InvalidDataException($"{file.Path} is a GPT checkpoint without its model config.");
        RunIdentity.CheckRecorded(file.Path, file.Metadata);
        var options = new Options([], Models.SizeOptions).WithDefaults(RunIdentity.OptionsOf(file.Metadata));
        Module built;
        try
        {
            CheckpointLimits.CheckClassifier(file.Path, Models.ClassifierSizes(name, options), file.FileBytes);
            built = Models.Build(name, options);
        }
        catch (Exception e) when (e is UsageException or ArgumentException)
        {
            throw new InvalidDataException($"{file.Path}: the recorded model does not build ({e.Message})");
        }
        var (model, weights, _) = Checkpoint.LoadWeights(file, _ => built, Device.Cpu);
        return (model, weights, null);
    }
}
