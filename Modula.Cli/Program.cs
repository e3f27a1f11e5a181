using Modula.Cli;

// A rank of an MPI job ends through MPI: finalized on success, the whole job aborted otherwise.
return Modula.Cli.Training.DistributedLaunch.Exit(CommandLine.Run(args, Console.Out, Console.Error));
