using System.Runtime.InteropServices;

namespace Modula.Distributed;

/// <summary>Argument checks and conveniences shared by every <see cref="ICommunicator"/>.</summary>
public static class Collectives
{
    /// <summary>Broadcasts a float buffer from <paramref name="root"/> (as its bytes, in parts of at most 2²⁸
    /// floats: a span of bytes cannot reach 2³¹).</summary>
    public static void Broadcast(this ICommunicator world, Span<float> buffer, int root = 0) =>
        Broadcast(world, buffer, root, part: 1 << 28);

    /// <summary><see cref="Broadcast(ICommunicator, Span{float}, int)"/> in parts of <paramref name="part"/> floats
    /// (tests use small ones); an empty buffer is still one call, as on every other rank.</summary>
    internal static void Broadcast(ICommunicator world, Span<float> buffer, int root, int part)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(part);
        int start = 0;
        do
        {
            int length = Math.Min(part, buffer.Length - start);
            world.Broadcast(MemoryMarshal.AsBytes(buffer.Slice(start, length)), root);
            start += length;
        } while (start < buffer.Length);
    }

    /// <summary>The sum over ranks of one number (for example a loss or a flag).</summary>
    public static float Sum(this ICommunicator world, float value)
    {
        Span<float> one = [value];
        world.AllReduceSum(one);
        return one[0];
    }

    /// <summary>Checks an all-gather's counts against the group and the buffers.</summary>
    internal static void CheckGather(int mine, int all, ReadOnlySpan<int> counts, int rank, int size)
    {
        if (counts.Length != size)
            throw new ArgumentException(
                $"AllGather: {counts.Length} counts for a group of {size} ranks.",
                nameof(counts)
            );
        long total = 0;
        foreach (int c in counts)
        {
            if (c < 0)
                throw new ArgumentException($"AllGather: negative count {c}.", nameof(counts));
            total += c;
        }
        if (mine != counts[rank])
            throw new ArgumentException(
                $"AllGather: rank {rank} sends {mine} elements, its count is {counts[rank]}.",
                nameof(counts)
            );
        if (all < total)
            throw new ArgumentException(
                $"AllGather: the result holds {all} elements, the counts add up to {total}.",
                nameof(counts)
            );
    }
}
