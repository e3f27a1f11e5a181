namespace Modula.Tensors.Random;

/// <summary>
/// A seeded Philox stream. Each draw takes the next unused blocks, so a sequence of draws
/// is reproducible from (<see cref="Seed"/>, <see cref="Offset"/>) on any device: save both
/// to resume a run exactly.
/// </summary>
public sealed class Generator
{
    /// <summary>Creates a generator at the start of the stream for <paramref name="seed"/>.</summary>
    public Generator(ulong seed, ulong offset = 0)
    {
        Seed = seed;
        Offset = offset;
    }

    /// <summary>The key.</summary>
    public ulong Seed { get; }

    /// <summary>Blocks (of four 32-bit words) consumed so far.</summary>
    public ulong Offset { get; set; }

    /// <summary>Reserves the blocks for <paramref name="count"/> elements and returns the first block index.</summary>
    public ulong Take(long count)
    {
        ulong start = Offset;
        Offset += (ulong)((count + 3) / 4);
        return start;
    }
}
