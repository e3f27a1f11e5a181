namespace Modula.Cli.Commands;

/// <summary><c>modula summary MODEL</c>: the module tree with masses, sensitivities and per-atom targets.</summary>
public static class SummaryCommand
{
    /// <summary>Runs the subcommand.</summary>
    public static int Run(string[] args, TextWriter output)
    {
        if (args.Length == 0 || CommandLine.WantsHelp(args))
        {
            output.WriteLine(
                $"""
                modula summary {string.Join(
                    "|",
                    Models.Names
                )} [--recipe v1|v2] [--width N] [--blocks N] [--block-depth N] [--heads N] [--context N]
                               [--rms-epsilon X]

                Prints the model's module tree: every atom with its mass, the norm target it receives
                when the whole update is normalized to 1, and its weight shape; every bond with its
                sensitivity; and totals (atoms, bonds, mass, sensitivity) for each compound. The sizes
                and --rms-epsilon (resmlp and rescnn: the ε of their RMS divisions, as in 'modula train')
                describe the model as 'modula train' builds it.
                """
            );
            return args.Length == 0 ? 2 : 0;
        }
        var options = new Options(args[1..], Models.SizeOptions);
        output.Write(Models.Build(args[0], options).Summary());
        return 0;
    }
}
