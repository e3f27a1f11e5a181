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
        norm and RMS division, dot-product attention, token embeddings) are listed with the reason, and
        then no total is certified. Reads checkpoints of 'modula train' (gpt, mlp, resmlp, rescnn).
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
        var (model, weights) = LoadModel(file);
        using (weights)
            output.WriteLine($"{model.Label} from {file.Path}\n{model.CertifyLipschitz(weights)}");
        return 0;
    }

    /// <summary>The model a checkpoint of <c>modula train</c> describes, with its weights on the CPU.</summary>
    private static (Module Model, Weights Weights) LoadModel(CheckpointFile file)
    {
        if (file.Metadata.ContainsKey("config"))
        {
            var (gpt, gptWeights, _, _) = GenerateCommand.LoadModel(file, Device.Cpu);
            return (gpt, gptWeights);
        }
        if (!file.Metadata.TryGetValue(RunIdentity.Prefix + "model", out var name))
            throw new InvalidDataException($"{file.Path} does not record which model it holds (no run.model entry).");
        if (name is "gpt")
            throw new InvalidDataException($"{file.Path} is a GPT checkpoint without its model config.");
        RunIdentity.CheckRecorded(file.Path, file.Metadata);
        var options = new Options([], Models.SizeOptions).WithDefaults(RunIdentity.OptionsOf(file.Metadata));
        try
        {
            CheckpointLimits.CheckClassifier(file.Path, Models.ClassifierSizes(name, options), file.FileBytes);
        }
        catch (UsageException e)
        {
            throw new InvalidDataException($"{file.Path}: the recorded model does not build ({e.Message})");
        }
        var (model, weights, _) = Checkpoint.LoadWeights(file, _ => Models.Build(name, options), Device.Cpu);
        return (model, weights);
    }
}
