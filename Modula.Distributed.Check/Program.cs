// modula-mpi-check: `mpiexec -n 2 modula-mpi-check` checks MPI the way data-parallel training uses it
// (collectives against known sums, the divided update against one process). Rank 0 prints one line
// per check; the exit code is 0 when every check passed on every rank, otherwise the job is aborted.
// `--time FLOATS` then times the all-reduce and the all-gather of FLOATS floats without any training,
// the transfer alone (in training the calls also wait for the slowest rank).
using System.Diagnostics;
using System.Globalization;
using Modula.Distributed;

var world = MpiCommunicator.Open();
var results = SelfCheck.Run(world);
if (world.Rank == 0)
{
    Console.WriteLine($"{world.Size} ranks over {world.Description}");
    foreach (var r in results)
        Console.WriteLine($"{(r.Passed ? "ok  " : "FAIL")} {r.Name}: {r.Detail}");
}
int failed = (int)world.Sum(results.Count(r => !r.Passed));
if (failed > 0)
    world.Abort(1, $"{failed} failed checks over all ranks");
if (args is ["--time", var count] && int.TryParse(count, CultureInfo.InvariantCulture, out int floats) && floats > 0)
{
    var buffer = new float[floats];
    var counts = Enumerable
        .Range(0, world.Size)
        .Select(r => floats / world.Size + (r < floats % world.Size ? 1 : 0))
        .ToArray();
    var all = new float[floats];
    var mine = new float[counts[world.Rank]];
    double Median(Action call)
    {
        var times = new List<double>();
        for (int i = 0; i < 120; i++)
        {
            world.Barrier();
            var clock = Stopwatch.StartNew();
            call();
            if (i >= 20)
                times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
    double reduce = Median(() => world.AllReduceSum(buffer)),
        gather = Median(() => world.AllGather(mine, all, counts));
    if (world.Rank == 0)
        Console.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"all-reduce of {floats * 4 / 1e6:F2} MB: {reduce:F3} ms median; "
            )
                + string.Create(
                    CultureInfo.InvariantCulture,
                    $"all-gather of {floats * 4 / 1e6:F2} MB: {gather:F3} ms median (100 calls each)"
                )
        );
}
world.Dispose();

// MPI is finalized now: the communicator refuses calls, and MPI cannot be opened again in this process, each as a
// .NET exception rather than MPICH ending the process.
try
{
    world.Barrier();
    Console.WriteLine("FAIL a call after Dispose was accepted");
    return 1;
}
catch (ObjectDisposedException) { }
try
{
    MpiCommunicator.Open();
    Console.WriteLine("FAIL MPI opened again after it was finalized");
    return 1;
}
catch (InvalidOperationException) { }
if (world.Rank == 0)
    Console.WriteLine("ok   after Dispose: calls and a second Open are refused");
return 0;
