using Modula.Cli;

// A rank of an MPI job ends through MPI: finalized on success, the whole job aborted otherwise.
return Modula.Cli.Training.DistributedLaunch.Exit(
    Modula.Cli.Training.DistributedLaunch.Run(() => CommandLine.Run(args, Console.Out, Console.Error), Console.Error)
);
