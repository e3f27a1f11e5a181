namespace Modula.Tensors.Random;

/// <summary>Four 32-bit words: one Philox counter, key output or block.</summary>
public struct Philox4
{
    /// <summary>Word 0.</summary>
    public uint X;

    /// <summary>Word 1.</summary>
    public uint Y;

    /// <summary>Word 2.</summary>
    public uint Z;

    /// <summary>Word 3.</summary>
    public uint W;

    /// <summary>Creates a block from four words.</summary>
    public Philox4(uint x, uint y, uint z, uint w)
    {
        X = x;
        Y = y;
        Z = z;
        W = w;
    }

    /// <summary>Word <paramref name="i"/> (0..3).</summary>
    public readonly uint this[int i] =>
        i == 0 ? X
        : i == 1 ? Y
        : i == 2 ? Z
        : W;
}

/// <summary>
/// Philox4x32-10 (Salmon et al., SC'11): a counter-based generator. Block <c>b</c> of
/// stream (seed, offset) is <c>Philox(counter = b + offset, key = seed)</c>, so any element can
/// be computed independently and every backend produces bit-identical integers. The same
/// code runs on the CPU and inside accelerator kernels.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53,
        M1 = 0xCD9E8D57; // round multipliers
    private const uint W0 = 0x9E3779B9,
        W1 = 0xBB67AE85; // Weyl key increments

    /// <summary>Ten rounds of Philox4x32 on <paramref name="counter"/> with key (k0, k1).</summary>
    public static Philox4 Block(Philox4 counter, uint k0, uint k1)
    {
        uint c0 = counter.X,
            c1 = counter.Y,
            c2 = counter.Z,
            c3 = counter.W;
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0,
                p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32),
                lo0 = (uint)p0,
                hi1 = (uint)(p1 >> 32),
                lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }
        return new Philox4(c0, c1, c2, c3);
    }

    /// <summary>The block holding element <paramref name="index"/> of the stream (seed, offset in blocks).</summary>
    public static Philox4 BlockFor(long index, ulong seed, ulong offset)
    {
        ulong block = (ulong)(index >> 2) + offset;
        return Block(new Philox4((uint)block, (uint)(block >> 32), 0, 0), (uint)seed, (uint)(seed >> 32));
    }

    /// <summary>Uniform in [0, 1) from the top 24 bits of a word.</summary>
    public static float ToUniform(uint word) => (word >> 8) * (1f / 16777216f);

    /// <summary>Standard normal for element <paramref name="index"/>: Box–Muller on the word pair (2j, 2j+1) of its
    /// block.</summary>
    public static float ToNormal(Philox4 block, long index)
    {
        int lane = (int)(index & 3),
            pair = lane & ~1;
        float u1 = ((block[pair] >> 8) + 1) * (1f / 16777216f); // (0, 1]: log is finite
        float u2 = (block[pair + 1] >> 8) * (1f / 16777216f);
        float r = MathF.Sqrt(-2f * MathF.Log(u1));
        float angle = 2f * MathF.PI * u2;
        return (lane & 1) == 0 ? r * MathF.Cos(angle) : r * MathF.Sin(angle);
    }

    /// <summary>Float64 version of <see cref="ToNormal"/> (CPU).</summary>
    public static double ToNormalDouble(Philox4 block, long index)
    {
        int lane = (int)(index & 3),
            pair = lane & ~1;
        double u1 = ((block[pair] >> 8) + 1) * (1.0 / 16777216.0);
        double u2 = (block[pair + 1] >> 8) * (1.0 / 16777216.0);
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        double angle = 2.0 * Math.PI * u2;
        return (lane & 1) == 0 ? r * Math.Cos(angle) : r * Math.Sin(angle);
    }
}
