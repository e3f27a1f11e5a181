namespace Modula.Distributed;

/// <summary>
/// A group of <see cref="Size"/> processes (ranks) that run the same program and exchange
/// host buffers in collective calls: every rank makes the same calls in the same order with the
/// same counts. Implemented over MPI (<see cref="MpiCommunicator"/>) and over threads of one
/// process (<see cref="InProcessGroup"/>, for tests); a device communicator (NCCL) would add
/// device-buffer overloads beside these host ones.
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's 0-based index in the group.</summary>
    int Rank { get; }

    /// <summary>How many ranks the group has.</summary>
    int Size { get; }

    /// <summary>What carries the messages, for reports (for example <c>MPICH Version: 4.0.2</c>).</summary>
    string Description { get; }

    /// <summary>
    /// Replaces <paramref name="buffer"/> on every rank by the elementwise sum over ranks; every
    /// rank receives the same bits.
    /// </summary>
    void AllReduceSum(Span<float> buffer);

    /// <summary>Copies <paramref name="root"/>'s <paramref name="buffer"/> into every other rank's.</summary>
    void Broadcast(Span<byte> buffer, int root = 0);

    /// <summary>
    /// Concatenates every rank's <paramref name="mine"/> in rank order into <paramref name="all"/>;
    /// rank r contributes <paramref name="counts"/>[r] elements (the same counts on every rank).
    /// </summary>
    void AllGather(ReadOnlySpan<float> mine, Span<float> all, ReadOnlySpan<int> counts);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// Stops every rank of the group at once with exit code <paramref name="code"/> (MPI_Abort);
    /// for a group of threads, every rank's pending or next call throws
    /// <see cref="CommunicatorAbortedException"/>.
    /// </summary>
    void Abort(int code, string reason);
}

/// <summary>A collective call failed because a rank aborted the group or did not arrive in time.</summary>
public sealed class CommunicatorAbortedException(string message) : Exception(message);
