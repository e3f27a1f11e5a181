namespace Modula.Distributed;

/// <summary>
/// <see cref="ICommunicator"/> over MPI_COMM_WORLD of the MPI job this process was started in
/// (<c>mpiexec -n 4 …</c>). Creating it loads the MPI library (see <see cref="Open"/>) and calls
/// MPI_Init_thread (serialized: calls may come from any thread, one at a time); disposing it calls
/// MPI_Finalize. MPI's default error handler stays in force, so an MPI error, or a rank of the job
/// that dies, ends the whole job (the launcher stops the other ranks) rather than leaving ranks waiting.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    // MPI counts are int: larger buffers go in pieces of this many elements.
    private const int MaxCount = 1 << 30;
    private static MpiCommunicator? s_world;
    private readonly MpiLibrary _mpi;
    private bool _finalized;

    private MpiCommunicator(MpiLibrary mpi)
    {
        _mpi = mpi;
        int initialized = 0,
            provided = 0,
            rank = 0,
            size = 0;
        mpi.Check(mpi.Initialized(&initialized), "MPI_Initialized");
        if (initialized == 0)
            mpi.Check(mpi.InitThread(null, null, MpiLibrary.ThreadSerialized, &provided), "MPI_Init_thread");
        mpi.Check(mpi.CommRank(MpiLibrary.CommWorld, &rank), "MPI_Comm_rank");
        mpi.Check(mpi.CommSize(MpiLibrary.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        var version = mpi.Version().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries); // tabs in MPICH's
        Description = $"{string.Join(' ', version)} ({mpi.Name})";
    }

    /// <summary>
    /// The world communicator of this process (MPI is initialized once per process; later calls
    /// return the same object). Throws <see cref="DllNotFoundException"/> listing the library
    /// names tried when no MPI library is installed.
    /// </summary>
    /// <exception cref="InvalidOperationException">This process's communicator was disposed: MPI allows one
    /// initialization per process, so it cannot be opened again.</exception>
    public static MpiCommunicator Open() =>
        s_world is { _finalized: true }
            ? throw new InvalidOperationException(
                "MpiCommunicator: MPI was finalized in this process (the communicator was disposed), and MPI cannot be "
                    + "initialized twice in one process."
            )
            : s_world ??= new MpiCommunicator(MpiLibrary.Load());

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
    public void AllReduceSum(Span<float> buffer)
    {
        CheckOpen("AllReduceSum");
        fixed (float* p = buffer)
            for (int start = 0; start < buffer.Length; start += MaxCount)
                _mpi.Check(
                    _mpi.Allreduce(
                        (void*)MpiLibrary.InPlace,
                        p + start,
                        Math.Min(MaxCount, buffer.Length - start),
                        MpiLibrary.Float,
                        MpiLibrary.Sum,
                        MpiLibrary.CommWorld
                    ),
                    "MPI_Allreduce"
                );
    }

    /// <inheritdoc/>
    public void Broadcast(Span<byte> buffer, int root = 0)
    {
        CheckOpen("Broadcast");
        if (root < 0 || root >= Size)
            throw new ArgumentOutOfRangeException(nameof(root), $"Broadcast: root {root} is not a rank of {Size}.");
        fixed (byte* p = buffer)
            for (int start = 0; start < buffer.Length; start += MaxCount)
                _mpi.Check(
                    _mpi.Bcast(
                        p + start,
                        Math.Min(MaxCount, buffer.Length - start),
                        MpiLibrary.Byte,
                        root,
                        MpiLibrary.CommWorld
                    ),
                    "MPI_Bcast"
                );
    }

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<float> mine, Span<float> all, ReadOnlySpan<int> counts)
    {
        CheckOpen("AllGather");
        Collectives.CheckGather(mine.Length, all.Length, counts, Rank, Size);
        var countArray = counts.ToArray();
        var displacements = new int[Size];
        long offset = 0;
        for (int r = 0; r < Size; r++)
        {
            if (offset > int.MaxValue)
                throw new ArgumentException(
                    $"AllGather: {offset} elements exceed MPI's int displacements.",
                    nameof(counts)
                );
            displacements[r] = (int)offset;
            offset += countArray[r];
        }
        fixed (float* send = mine)
        fixed (float* receive = all)
        fixed (int* c = countArray)
        fixed (int* d = displacements)
            _mpi.Check(
                _mpi.Allgatherv(
                    send,
                    mine.Length,
                    MpiLibrary.Float,
                    receive,
                    c,
                    d,
                    MpiLibrary.Float,
                    MpiLibrary.CommWorld
                ),
                "MPI_Allgatherv"
            );
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        CheckOpen("Barrier");
        _mpi.Check(_mpi.BarrierCall(MpiLibrary.CommWorld), "MPI_Barrier");
    }

    /// <inheritdoc/>
    public void Abort(int code, string reason)
    {
        Console.Error.WriteLine($"modula: rank {Rank} of {Size} aborts the MPI job (code {code}): {reason}");
        Console.Error.Flush();
        _mpi.AbortCall(MpiLibrary.CommWorld, code);
        Environment.Exit(code); // MPI_Abort does not return; this is a fallback
    }

    // After MPI_Finalize, MPICH ends the process on any call: refused here as a .NET exception instead.
    private void CheckOpen(string call)
    {
        if (_finalized)
            throw new ObjectDisposedException(
                nameof(MpiCommunicator),
                $"MpiCommunicator: {call} after the communicator was disposed (MPI is finalized)."
            );
    }

    /// <summary>Calls MPI_Finalize (once); every rank must call it.</summary>
    public void Dispose()
    {
        if (_finalized)
            return;
        _finalized = true;
        int done = 0;
        _mpi.Check(_mpi.Finalized(&done), "MPI_Finalized");
        if (done == 0)
            _mpi.Check(_mpi.Finalize(), "MPI_Finalize");
    }
}
