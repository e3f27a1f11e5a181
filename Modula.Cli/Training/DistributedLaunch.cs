using Modula.Distributed;
using Modula.Optim;
using static System.FormattableString;

namespace Modula.Cli.Training;

/// <summary>
/// A training command started by an MPI launcher (<c>mpiexec -n 4 modula train gpt …</c>):
/// detected from the rank and size the launcher sets (<c>PMI_RANK</c>, <c>PMI_SIZE</c>: MPICH's
/// Hydra and Microsoft MPI), so a one-process run never loads MPI. Rank 0 alone prints, writes the
/// CSV and the checkpoints; the others train their shard silently. A rank that ends with an error
/// stops the whole job (MPI_Abort) after printing it, so no rank waits for one that is gone.
/// Environment knobs: <c>MODULA_CHECK_REPLICAS=N</c> hashes the replicas every N steps
/// (default 100, 0: never); <c>MODULA_SHARD_UPDATE=0</c> makes every rank compute the whole
/// normalized or dualized update instead of dividing it among the ranks (docs/distributed.md
/// measures both).
/// </summary>
public sealed class DistributedLaunch
{
    private static DistributedLaunch? s_current;
    private DataParallel? _parallel;
    private bool _refusedTogether;

    private DistributedLaunch(ICommunicator world) => World = world;

    /// <summary>The group of ranks.</summary>
    public ICommunicator World { get; }

    /// <summary>True on rank 0, the rank that prints and writes files.</summary>
    public bool IsRoot => World.Rank == 0;

    /// <summary>
    /// Joins the MPI job when this process is one of several ranks started by a launcher (null for
    /// a lone process, or when <c>MODULA_DISTRIBUTED=0</c>); initializes MPI once per process.
    /// </summary>
    public static DistributedLaunch? Join()
    {
        if (s_current is not null)
            return s_current;
        if (Environment.GetEnvironmentVariable("MODULA_DISTRIBUTED") == "0")
            return null;
        if (!int.TryParse(Environment.GetEnvironmentVariable("PMI_SIZE"), out int size) || size <= 1)
            return null;
        try
        {
            return s_current = new DistributedLaunch(MpiCommunicator.Open());
        }
        catch (DllNotFoundException e)
        {
            throw new NotSupportedException(
                $"this process was started as one of {size} ranks (PMI_SIZE), but {e.Message}",
                e
            );
        }
    }

    /// <summary><paramref name="output"/> on rank 0, nothing elsewhere.</summary>
    public TextWriter Output(TextWriter output) => IsRoot ? output : TextWriter.Null;

    /// <summary>The driver settings of this rank: only rank 0 writes checkpoints.</summary>
    public RunDriverOptions ForRank(RunDriverOptions options) =>
        IsRoot ? options : options with { CheckpointPath = null };

    /// <summary>The run's log on rank 0; a log that writes nothing elsewhere.</summary>
    public RunLog Log(Func<RunLog> open) => IsRoot ? open() : RunLog.Discard();

    /// <summary>
    /// Runs one command line on this rank: under a launcher, an error the command line has no exit code for (a bug,
    /// or replicas found to differ) is printed in one line and stops the job with exit code 1 through <see
    /// cref="Exit"/>, instead of a stack trace whose abort the launcher reports as a crash.
    /// </summary>
    public static int Run(Func<int> commandLine, TextWriter error)
    {
        try
        {
            return commandLine();
        }
        catch (Exception e) when (s_current is { } launch)
        {
            error.WriteLine(
                $"modula: rank {launch.World.Rank} of {launch.World.Size}: {e.GetType().Name}: "
                    + CommandLine.Printable(e.Message)
            );
            return 1;
        }
    }

    /// <summary>
    /// Makes <paramref name="run"/> data-parallel over the group, starting from rank 0's state, and
    /// prints the arrangement. Every rank's run <paramref name="identity"/> (<see cref="RunIdentity"/>: model, sizes,
    /// horizon, global batch, optimizer, data) must be rank 0's, and the global <paramref name="batch"/> must give
    /// every rank a row: else every rank refuses the run alike (a usage error), before its log or checkpoint is begun.
    /// </summary>
    public void Attach(ITrainingRun run, IReadOnlyDictionary<string, string> identity, int batch, TextWriter output)
    {
        CheckSameRun(identity);
        if (batch < World.Size)
            throw RefusedByEveryRank(
                $"--batch {batch} cannot give each of the {World.Size} ranks a row; use a batch of at least "
                    + $"{World.Size}, or fewer ranks."
            );
        bool shard = Environment.GetEnvironmentVariable("MODULA_SHARD_UPDATE") != "0";
        int every =
            int.TryParse(Environment.GetEnvironmentVariable("MODULA_CHECK_REPLICAS"), out int n) && n >= 0 ? n : 100;
        _parallel = new DataParallel(run.Trainer, World, shard) { CheckEvery = every };
        _parallel.Synchronize(run.Sampler);
        run.Parallel = _parallel;
        string update = _parallel.Update is { } u
            ? $"; {run.Trainer.Options.Rule.ToString().ToLowerInvariant()} update divided over the ranks (cost shares "
                + string.Join("/", Enumerable.Range(0, World.Size).Select(r => Invariant($"{Share(u, r):P0}")))
                + ")"
            : "";
        Output(output)
            .WriteLine(
                Invariant($"data-parallel: {World.Size} ranks over {World.Description}; ")
                    + Invariant($"{_parallel.AllReduceBytes / 1e6:F2} MB all-reduced per step{update}; ")
                    + Invariant($"replicas hashed every {every} steps")
            );
    }

    /// <summary>
    /// Refuses, on every rank and before the first step, ranks started for different runs: other options or data, or
    /// checkpoints of different runs, or of one run to different horizons (<c>--extend</c>). Rank 0's state would be
    /// taken, but each rank would keep its own
    /// schedule and step count, and the first to reach its horizon would wait for the others in the last barrier
    /// while they waited in the next step's all-reduce. Rank 0's identity is broadcast (its length, then its text);
    /// each rank compares, and one all-reduce tells every rank which differ.
    /// </summary>
    private void CheckSameRun(IReadOnlyDictionary<string, string> identity)
    {
        string mine = string.Join(
            "\n",
            identity.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}")
        );
        var bytes = System.Text.Encoding.UTF8.GetBytes(mine);
        var length = BitConverter.GetBytes(bytes.Length);
        World.Broadcast(length);
        var root = IsRoot ? bytes : new byte[BitConverter.ToInt32(length)];
        World.Broadcast(root);
        var differs = new float[World.Size];
        differs[World.Rank] = root.AsSpan().SequenceEqual(bytes) ? 0 : 1;
        World.AllReduceSum(differs);
        var ranks = Enumerable.Range(0, World.Size).Where(r => differs[r] != 0).ToArray();
        if (ranks.Length == 0)
            return;
        // What this rank has that rank 0 has not, and the reverse (an entry recorded only when used, such as
        // rms-epsilon, is missing on one side).
        var rootEntries = System.Text.Encoding.UTF8.GetString(root).Split('\n');
        var mineEntries = mine.Split('\n');
        static string Only(string[] these, string[] those) =>
            string.Join(", ", these.Except(those, StringComparer.Ordinal).DefaultIfEmpty("nothing"));
        string own =
            differs[World.Rank] == 0
                ? ""
                : $" This rank has {Only(mineEntries, rootEntries)} where rank 0 has {Only(rootEntries, mineEntries)}.";
        throw RefusedByEveryRank(
            $"rank{(ranks.Length > 1 ? "s" : "")} {string.Join(", ", ranks)} of {World.Size} "
                + $"{(ranks.Length > 1 ? "were" : "was")} started for another run than rank 0: other options or data, "
                + "or another checkpoint, or the same run to another horizon. Every rank must run the same command on "
                + $"the same data, and resume one checkpoint (the same file, or copies of it).{own}"
        );
    }

    /// <summary>
    /// A usage error that every rank raises at the same point (after a collective that told each of them), so the
    /// job ends with every rank finalized rather than aborted: an abort can end the processes before the launcher has
    /// passed on what they printed.
    /// </summary>
    private UsageException RefusedByEveryRank(string message)
    {
        _refusedTogether = true;
        return new UsageException(message);
    }

    /// <summary>One line of communication times per step, for the end of a run (rank 0).</summary>
    public void Report(TextWriter output, int steps)
    {
        if (_parallel is not { } p || steps == 0)
            return;
        string gather = p.Update is { } u
            ? Invariant($", update {u.ComputeTime.TotalMilliseconds / steps:F2} ms ")
                + Invariant($"+ all-gather {u.GatherTime.TotalMilliseconds / steps:F2} ms ")
                + Invariant($"of {u.GatheredFloats * 4 / 1e6:F2} MB")
            : "";
        Output(output)
            .WriteLine(
                Invariant($"data-parallel: all-reduce {p.AllReduceTime.TotalMilliseconds / steps:F2} ms of ")
                    + Invariant($"{p.AllReduceBytes / 1e6:F2} MB per step{gather} (means over {steps} steps on rank 0)")
            );
    }

    private static double Share(ShardedUpdate u, int rank) =>
        u.Costs.Where((_, i) => u.Owners[i] == rank).Sum() / Math.Max(1e-300, u.Costs.Sum());

    /// <summary>How long a rank other than 0 that saw the run diverge waits for rank 0 to end the job.</summary>
    private static readonly TimeSpan DivergenceWait = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Ends this process's part of the job with <paramref name="code"/>. When every rank ends the same way (0, 130/143
    /// after a stop the ranks agreed on, or 2 for a run every rank refused), it waits for the others (rank 0 may still
    /// be writing the checkpoint) and calls MPI_Finalize; otherwise MPI_Abort stops every rank at once (the error is
    /// already printed), but for a divergence (6), which the other ranks leave to rank 0 to report. Returns
    /// <paramref name="code"/> when no job was joined.
    /// </summary>
    public static int Exit(int code)
    {
        if (s_current is not { } launch)
            return code;
        bool together =
            code == 0
            || (code is 130 or 143 && launch._parallel is { StopAgreed: true })
            || (code == 2 && launch._refusedTogether);
        if (together)
        {
            launch.World.Barrier();
            launch.World.Dispose();
        }
        else
        {
            // A divergence comes to every rank at the same step (losses and gradients are all-reduced): the others
            // give rank 0, which names the checkpoint it saved, time to say so and end the job (its MPI_Abort ends
            // this wait) rather than end it first. A rank that diverged alone ends the job itself after the wait. The
            // wait assumes rank 0's checkpoint write in flight lands within it; one slower still is kept whole (a
            // write goes to a temporary file, renamed when done), only rank 0's line about it would be lost.
            if (code == 6 && launch._parallel is not null && !launch.IsRoot)
            {
                Thread.Sleep(DivergenceWait);
                Console.Error.WriteLine($"modula: rank {launch.World.Rank} of {launch.World.Size}: training diverged.");
            }
            launch.World.Abort(code, $"rank {launch.World.Rank} of {launch.World.Size} ended with exit code {code}");
        }
        return code;
    }
}
