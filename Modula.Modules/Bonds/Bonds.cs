namespace Modula.Modules;

/// <summary>Bonds that Modula builds from others, and Modula v1's names for v2 bonds.</summary>
public static class Bonds
{
    /// <summary>√2·ReLU: sensitivity 1 (Modula v1's ScaledReLU).</summary>
    public static Module ScaledRelu() => Math.Sqrt(2) * new Relu();

    /// <summary>√2·GELU: sensitivity 1 (Modula v1's ScaledGELU).</summary>
    public static Module ScaledGelu() => Math.Sqrt(2) * new Gelu();

    /// <summary>ReLU with sensitivity 1, as in Modula v2.</summary>
    public static Module ReluV2() => new Relu(1);

    /// <summary>Mean-subtract then RMS-divide over the last axis: layer norm without gain or bias (Modula v1's
    /// LayerNorm), one fused bond (<see cref="Modules.LayerNorm"/>).</summary>
    public static Module LayerNorm() => new Modules.LayerNorm();

    /// <summary>Modula v1's name for <see cref="SplitIntoHeads"/>.</summary>
    public static Module AddHeads(int heads) => new SplitIntoHeads(heads);

    /// <summary>Modula v1's name for <see cref="MergeHeads"/>.</summary>
    public static Module RemoveHeads() => new MergeHeads();

    /// <summary>
    /// Modula's residual block: <c>(1 − 1/L)·x + (1/L)·block(x)</c>, a convex combination whose
    /// sensitivity stays 1 when the block's is at most 1 and whose mass is the block's.
    /// </summary>
    public static Module Residual(Module block, double depth)
    {
        if (!(depth >= 1))
            throw new ArgumentOutOfRangeException(nameof(depth), $"Residual: depth must be ≥ 1, got {depth}.");
        if (depth == 1)
            return block; // (1 − 1/1)·x vanishes; Mul(0) is not a module
        return (1 - 1 / depth) * new Identity() + 1 / depth * block;
    }
}
