namespace Modula.Modules;

/// <summary>Multi-layer perceptrons and residual networks from Modula.</summary>
public static class Mlp
{
    /// <summary>
    /// Modula v2's MLP: <paramref name="depth"/> Linear atoms with sensitivity-1 ReLUs between
    /// them (input → width → … → output). Mass = depth, sensitivity 1.
    /// </summary>
    public static Module V2(int outputs, int inputs, int width, int depth)
    {
        if (depth < 2)
            throw new ArgumentOutOfRangeException(nameof(depth), $"Mlp: depth must be ≥ 2, got {depth}.");
        Module m = new Linear(width, inputs);
        for (int i = 0; i < depth - 2; i++)
            m = m >> Bonds.ReluV2() >> new Linear(width, width);
        return (m >> Bonds.ReluV2() >> new Linear(outputs, width)).Named("MLP");
    }

    /// <summary>
    /// Modula v1's ResMLP: flatten, Linear to <paramref name="width"/>, <paramref name="blocks"/>
    /// residual blocks of <paramref name="blockDepth"/> × (RMSDivide → Linear → Abs → MeanSubtract)
    /// with weight 1/blocks and total mass 1, then the output Linear. Mass 3. A positive
    /// <paramref name="rmsEpsilon"/> divides by √(mean(x²) + ε) instead, which gives the network a certified
    /// Lipschitz bound (<see cref="RmsDivide.Epsilon"/>); Modula's has none.
    /// </summary>
    public static Module ResMlp(int width, int blocks, int blockDepth, int inputs, int outputs, double rmsEpsilon = 0)
    {
        var initial = new Flatten() >> new Linear(width, inputs);
        var residue =
            new RmsDivide { Epsilon = rmsEpsilon } >> new Linear(width, width) >> new Abs() >> new MeanSubtract();
        var block = Bonds.Residual(residue.Repeat(blockDepth), blocks);
        var body = block.Named("block").Repeat(blocks).Tare().Named("blocks");
        return (initial >> body >> new Linear(outputs, width)).Named("ResMLP");
    }

    /// <summary>
    /// Modula v1's ResCNN on NCHW images: a Conv2D to <paramref name="width"/> channels, residual
    /// blocks of (RMSDivide → Conv2D → Abs → MeanSubtract over C, H, W) with total mass
    /// <paramref name="blocksMass"/>, average pooling, flatten and the output Linear. Mass 2 + blocksMass. A positive
    /// <paramref name="rmsEpsilon"/> divides by √(mean(x²) + ε), as in <see cref="ResMlp"/>.
    /// </summary>
    public static Module ResCnn(
        int width,
        int blocks,
        int blockDepth,
        int inputChannels,
        int outputs,
        double blocksMass = 20,
        double rmsEpsilon = 0
    )
    {
        var initial = new Conv2D(width, inputChannels);
        var residue =
            new RmsDivide(1, 2, 3) { Epsilon = rmsEpsilon }
            >> new Conv2D(width, width)
            >> new Abs()
            >> new MeanSubtract(1, 2, 3);
        var block = Bonds.Residual(residue.Repeat(blockDepth), blocks);
        var body = block.Named("block").Repeat(blocks).Tare(blocksMass).Named("blocks");
        var final = new AvgPool() >> new Flatten() >> new Linear(outputs, width);
        return (initial >> body >> final).Named("ResCNN");
    }
}
