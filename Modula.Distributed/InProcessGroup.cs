namespace Modula.Distributed;

/// <summary>
/// A communicator group whose ranks are threads of this process, for unit tests of
/// distributed code without MPI: <c>var group = new InProcessGroup(2)</c>, then run rank r's
/// code on its own thread with <c>group[r]</c>. Collectives meet at a barrier; a sum adds the
/// ranks' buffers in rank order, so every rank gets the same bits. A rank that calls
/// <see cref="ICommunicator.Abort"/>, or a collective that waits longer than the timeout, makes
/// every rank's pending and later calls throw <see cref="CommunicatorAbortedException"/>.
/// Calls whose kind or count differ between ranks are reported as such.
/// </summary>
public sealed class InProcessGroup : IDisposable
{
    private readonly Barrier _barrier;
    private readonly float[][] _floats;
    private readonly byte[]?[] _bytes;
    private readonly string[] _calls;
    private readonly CancellationTokenSource _abort = new();
    private readonly Member[] _ranks;
    private string? _abortReason;
    private bool _disposed;

    /// <summary>
    /// A group of <paramref name="size"/> ranks whose collectives give up after
    /// <paramref name="timeout"/> (default 60 s).
    /// </summary>
    public InProcessGroup(int size, TimeSpan? timeout = null)
    {
        if (size < 1)
            throw new ArgumentOutOfRangeException(nameof(size), $"InProcessGroup: size must be ≥ 1, got {size}.");
        Timeout = timeout ?? TimeSpan.FromSeconds(60);
        _barrier = new Barrier(size);
        _floats = new float[size][];
        _bytes = new byte[size][];
        _calls = new string[size];
        _ranks = Enumerable.Range(0, size).Select(r => new Member(this, r)).ToArray();
        for (int r = 0; r < size; r++)
            _floats[r] = [];
    }

    /// <summary>How long a rank waits for the others in one collective.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>The number of ranks.</summary>
    public int Size => _ranks.Length;

    /// <summary>The communicator of rank <paramref name="rank"/>.</summary>
    public ICommunicator this[int rank] => _ranks[rank];

    /// <summary>
    /// Runs <paramref name="body"/>(communicator) for every rank on its own thread and returns the
    /// results in rank order; rethrows the first failure.
    /// </summary>
    public T[] Run<T>(Func<ICommunicator, T> body)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var tasks = _ranks
            .Select(r =>
                Task.Factory.StartNew(
                    () =>
                    {
                        try
                        {
                            return body(r);
                        }
                        catch (Exception e) when (e is not CommunicatorAbortedException)
                        {
                            Abort($"rank {r.Rank} failed: {e.Message}");
                            throw;
                        }
                    },
                    TaskCreationOptions.LongRunning
                )
            )
            .ToArray();
        try
        {
            Task.WaitAll(tasks);
        }
        catch (AggregateException e)
        {
            // The rank that failed first explains the others' aborts.
            var first = e.InnerExceptions.FirstOrDefault(x => x is not CommunicatorAbortedException)
                ?? e.InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        return tasks.Select(t => t.Result).ToArray();
    }

    /// <summary>Frees the barrier.</summary>
    public void Dispose()
    {
        _disposed = true;
        _barrier.Dispose();
        _abort.Dispose();
    }

    private void Meet(int rank, string call)
    {
        if (_disposed)
            throw new ObjectDisposedException(
                nameof(InProcessGroup),
                $"InProcessGroup: rank {rank} called {call} after the group was disposed."
            );
        _calls[rank] = call;
        Wait(rank, call);
        for (int r = 0; r < Size; r++)
            if (_calls[r] != call)
                Fail(rank, $"rank {rank} called {call} while rank {r} called {_calls[r]}");
    }

    private void Wait(int rank, string call)
    {
        try
        {
            if (!_barrier.SignalAndWait(Timeout, _abort.Token))
                Fail(rank, $"rank {rank} waited more than {Timeout.TotalSeconds:F0} s for the other ranks in {call}");
        }
        catch (OperationCanceledException)
        {
            throw new CommunicatorAbortedException(
                $"in-process group aborted ({_abortReason}); rank {rank} was in {call}"
            );
        }
        catch (BarrierPostPhaseException) { }
    }

    private void Fail(int rank, string reason)
    {
        Abort(reason);
        throw new CommunicatorAbortedException($"in-process group aborted: {reason}");
    }

    private void Abort(string reason)
    {
        Interlocked.CompareExchange(ref _abortReason, reason, null);
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException) { }
    }

    private sealed class Member(InProcessGroup group, int rank) : ICommunicator
    {
        public int Rank => rank;

        public int Size => group.Size;

        public string Description => $"in-process group of {group.Size} threads";

        public void AllReduceSum(Span<float> buffer)
        {
            var mine = group._floats[rank];
            if (mine.Length < buffer.Length)
                group._floats[rank] = mine = new float[buffer.Length];
            buffer.CopyTo(mine);
            group.Meet(rank, $"AllReduceSum({buffer.Length})");
            buffer.Clear();
            for (int r = 0; r < group.Size; r++) // rank order: the same bits everywhere
            {
                var other = group._floats[r].AsSpan(0, buffer.Length);
                for (int i = 0; i < buffer.Length; i++)
                    buffer[i] += other[i];
            }
            group.Wait(rank, "AllReduceSum (read)"); // no rank reuses its slot before all have read
        }

        public void Broadcast(Span<byte> buffer, int root = 0)
        {
            CheckRoot(root);
            if (rank == root)
                group._bytes[root] = buffer.ToArray();
            group.Meet(rank, $"Broadcast({buffer.Length}, root {root})");
            if (rank != root)
                group._bytes[root].AsSpan().CopyTo(buffer);
            group.Wait(rank, "Broadcast (read)");
        }

        public void AllGather(ReadOnlySpan<float> mine, Span<float> all, ReadOnlySpan<int> counts)
        {
            Collectives.CheckGather(mine.Length, all.Length, counts, rank, group.Size);
            group._floats[rank] = mine.ToArray();
            group.Meet(rank, $"AllGather({string.Join(",", counts.ToArray())})");
            int offset = 0;
            for (int r = 0; r < group.Size; r++)
            {
                group._floats[r].AsSpan(0, counts[r]).CopyTo(all[offset..]);
                offset += counts[r];
            }
            group.Wait(rank, "AllGather (read)");
        }

        public void Barrier()
        {
            group.Meet(rank, "Barrier");
            group.Wait(rank, "Barrier (leave)"); // the call names stay until every rank compared them
        }

        public void Abort(int code, string reason)
        {
            group.Abort($"rank {rank} aborted with code {code}: {reason}");
            throw new CommunicatorAbortedException(
                $"rank {rank} aborted the in-process group with code {code}: {reason}"
            );
        }

        private void CheckRoot(int root)
        {
            if (root < 0 || root >= group.Size)
                throw new ArgumentOutOfRangeException(
                    nameof(root),
                    $"Broadcast: root {root} is not a rank of a group of {group.Size}."
                );
        }

        public void Dispose() { }
    }
}
