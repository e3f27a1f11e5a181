using BenchmarkDotNet.Running;

// dotnet run -c Release --project Modula.Bench -- --filter '*'
// dotnet run -c Release --project Modula.Bench -- gemm-vs-openblas --openblas PATH   (see OpenBlasTurns)
// dotnet run -c Release --project Modula.Bench -- gemm-after-sleep [--shape MxNxK]   (see AfterSleep)
if (args.Length > 0 && args[0] == "gemm-vs-openblas")
    return Modula.Bench.OpenBlasTurns.Run(args[1..]);
if (args.Length > 0 && args[0] == "gemm-after-sleep")
    return Modula.Bench.AfterSleep.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Modula.Bench.GemmBenchmarks).Assembly).Run(args);
return 0;
