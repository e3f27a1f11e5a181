namespace Modula.Tensors;

/// <summary>
/// A caching pool of raw buffers keyed by capacity class. Capacities are rounded up to
/// one of four steps per power of two (at most 25 % slack) so that buffers of nearby sizes
/// are reused: a training step allocates the same sizes every iteration, and reusing a
/// buffer avoids the cost of touching fresh pages.
/// </summary>
/// <typeparam name="TBuffer">The raw buffer type (a managed array, a device buffer).</typeparam>
internal sealed class BufferPool<TBuffer>
    where TBuffer : class
{
    private readonly Dictionary<long, Stack<TBuffer>> _free = new();
    private readonly Func<long, TBuffer> _create;
    private readonly Action<TBuffer>? _destroy;
    private readonly object _gate = new();
    private readonly long _maxCapacity;

    /// <summary>A pool that makes buffers with <paramref name="create"/>, which can make none above <paramref
    /// name="maxCapacity"/> units (a .NET array's length limit, say): a request whose class would pass it gets a
    /// buffer of exactly its size.</summary>
    public BufferPool(Func<long, TBuffer> create, Action<TBuffer>? destroy = null, long maxCapacity = long.MaxValue)
    {
        _create = create;
        _destroy = destroy;
        _maxCapacity = maxCapacity;
    }

    /// <summary>Bytes (or elements, as the caller counts) currently cached and not in use.</summary>
    public long CachedUnits { get; private set; }

    /// <summary>Rounds a request up to its capacity class.</summary>
    public static long CapacityClass(long units)
    {
        if (units <= 64)
            return 64;
        int log = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(units - 1));
        long step = 1L << (log - 2); // quarter of the power of two below
        return (units + step - 1) / step * step;
    }

    /// <summary>Takes a buffer whose capacity is at least <paramref name="units"/>.</summary>
    public TBuffer Rent(long units, out long capacity)
    {
        capacity = CapacityClass(units);
        if (capacity > _maxCapacity)
            capacity = units; // rounding up would pass what can be made (2,013,265,920 floats rounded to 2³¹)
        lock (_gate)
        {
            if (_free.TryGetValue(capacity, out var stack) && stack.Count > 0)
            {
                CachedUnits -= capacity;
                return stack.Pop();
            }
        }
        return _create(capacity);
    }

    /// <summary>Gives a buffer back for reuse.</summary>
    public void Return(TBuffer buffer, long capacity)
    {
        lock (_gate)
        {
            if (!_free.TryGetValue(capacity, out var stack))
                _free[capacity] = stack = new Stack<TBuffer>();
            stack.Push(buffer);
            CachedUnits += capacity;
        }
    }

    /// <summary>Drops every cached buffer.</summary>
    public void Trim()
    {
        lock (_gate)
        {
            if (_destroy is not null)
                foreach (var stack in _free.Values)
                foreach (var b in stack)
                    _destroy(b);
            _free.Clear();
            CachedUnits = 0;
        }
    }
}
