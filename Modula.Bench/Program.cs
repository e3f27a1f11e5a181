using BenchmarkDotNet.Running;

// dotnet run -c Release --project Modula.Bench -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Modula.Bench.GemmBenchmarks).Assembly).Run(args);
