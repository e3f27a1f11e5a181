// modula-mpi-check: `mpiexec -n 2 modula-mpi-check` checks MPI the way data-parallel training uses it
// (collectives against known sums, the divided update against one process). Rank 0 prints one line
// per check; the exit code is 0 when every check passed on every rank, otherwise the job is aborted.
using Modula.Distributed;

var world = MpiCommunicator.Open();
var results = SelfCheck.Run(world);
if (world.Rank == 0)
{
    Console.WriteLine($"{world.Size} ranks over {world.Description}");
    foreach (var r in results) Console.WriteLine($"{(r.Passed ? "ok  " : "FAIL")} {r.Name}: {r.Detail}");
}
int failed = (int)world.Sum(results.Count(r => !r.Passed));
if (failed > 0) world.Abort(1, $"{failed} failed checks over all ranks");
world.Dispose();
return 0;
