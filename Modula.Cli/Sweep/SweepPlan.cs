using Modula.Cli.Training;
using Modula.Optim;

namespace Modula.Cli.Sweep;

/// <summary>
/// An optimizer a sweep compares, with its learning-rate grid (powers of two). "Normed" variants
/// normalize the base update in the modular norm (Modula v1); "dualized" is Modula v2's
/// momentum with dualized updates; "muon" is K. Jordan's Muon with its auxiliary Adam. The
/// unnormed optimizers share the normed ones' base update (Modula-Adam, momentum), so the only
/// difference along a row of plots is the normalization.
/// </summary>
/// <param name="Name">The name used in flags, the CSV and the plots.</param>
/// <param name="Choice">The optimizer at learning rate 1 and without weight decay (as the paper's sweeps).</param>
/// <param name="GridLow">Lowest learning-rate exponent of the default grid.</param>
/// <param name="GridHigh">Highest learning-rate exponent of the default grid.</param>
public sealed record SweepOptimizer(string Name, OptimizerChoice Choice, int GridLow, int GridHigh)
{
    /// <summary>Every optimizer a sweep knows, in plot order.</summary>
    public static readonly IReadOnlyList<SweepOptimizer> All =
    [
        new("normed-adam", new OptimizerChoice("modula-adam", UpdateRule.Normalize, 1, 0.9, 0.99, 0), -6, 1),
        new("adam", new OptimizerChoice("modula-adam", UpdateRule.Plain, 1, 0.9, 0.99, 0), -13, -3),
        new("normed-sgd", new OptimizerChoice("momentum", UpdateRule.Normalize, 1, 0.9, 0.99, 0), -6, 1),
        new("sgd", new OptimizerChoice("momentum", UpdateRule.Plain, 1, 0.9, 0.99, 0), -6, 4),
        new("dualized", new OptimizerChoice("momentum", UpdateRule.Dualize, 1, 0.95, 0.99, 0), -6, 1),
        new("manifold", new OptimizerChoice("momentum", UpdateRule.Manifold, 1, 0.95, 0.99, 0), -6, 1),
        // Muon's lr is swept; Adam's, for embeddings, input layer and head, stays at Muon's default.
        new("muon", OptimizerChoice.MuonDefaults, -10, -3),
    ];

    /// <summary>What a sweep runs when not told: the optimizers of the Modula paper's sweeps, so neither manifold
    /// descent, whose dual ascent costs about ten orthogonalizations per matrix per step, nor Muon.</summary>
    public static IReadOnlyList<SweepOptimizer> Default =>
        All.Where(o => o.Name is not ("manifold" or "muon")).ToList();

    /// <summary>The optimizer called <paramref name="name"/>.</summary>
    public static SweepOptimizer Find(string name) =>
        All.FirstOrDefault(o => o.Name == name)
        ?? throw new UsageException(
            $"unknown sweep optimizer '{name}'; use {string.Join(", ", All.Select(o => o.Name))}."
        );

    /// <summary>The optimizer at learning rate 2^<paramref name="exponent"/>.</summary>
    public OptimizerChoice At(int exponent) => Choice with { LearningRate = Math.Pow(2, exponent) };
}

/// <summary>
/// What a sweep runs: for each optimizer and each learning rate of its grid, the family at every
/// width (at the base depth) and at every depth (at the base width), for each seed.
/// </summary>
/// <param name="Family">resmlp or gpt.</param>
/// <param name="Optimizers">The optimizers to compare.</param>
/// <param name="Widths">Widths of the width sweep (at <paramref name="BaseDepth"/>).</param>
/// <param name="Depths">Depths of the depth sweep (at <paramref name="BaseWidth"/>).</param>
/// <param name="BaseWidth">Width of the depth sweep.</param>
/// <param name="BaseDepth">Depth of the width sweep.</param>
/// <param name="Grid">Learning-rate exponents per optimizer (null: each optimizer's default grid).</param>
/// <param name="Steps">Training steps per run.</param>
/// <param name="Batch">Examples per step.</param>
/// <param name="Seeds">Seeds to average over.</param>
/// <param name="AverageLast">Steps the score averages over.</param>
public sealed record SweepPlan(
    string Family,
    IReadOnlyList<SweepOptimizer> Optimizers,
    IReadOnlyList<int> Widths,
    IReadOnlyList<int> Depths,
    int BaseWidth,
    int BaseDepth,
    IReadOnlyList<int>? Grid,
    int Steps,
    int Batch,
    IReadOnlyList<int> Seeds,
    int AverageLast
)
{
    /// <summary>
    /// The plan that <paramref name="results"/> (one family's rows) were run from: the base depth is
    /// the depth with the most widths, the base width the width with the most depths, and the most
    /// frequent steps and batch; optimizers and seeds are those present.
    /// </summary>
    public static SweepPlan Describing(string family, IReadOnlyList<SweepResult> results, int averageLast)
    {
        var cells = results.Select(r => r.Cell).ToList();
        int steps = cells.GroupBy(c => c.Steps).MaxBy(g => g.Count())!.Key;
        int batch = cells.Where(c => c.Steps == steps).GroupBy(c => c.Batch).MaxBy(g => g.Count())!.Key;
        cells = cells.Where(c => c.Steps == steps && c.Batch == batch).ToList();
        int baseDepth = cells
            .GroupBy(c => c.Depth)
            .MaxBy(g => (g.Select(c => c.Width).Distinct().Count(), -g.Key))!
            .Key;
        int baseWidth = cells
            .GroupBy(c => c.Width)
            .MaxBy(g => (g.Select(c => c.Depth).Distinct().Count(), -g.Key))!
            .Key;
        var optimizers = SweepOptimizer.All.Where(o => cells.Any(c => c.Optimizer == o.Name)).ToList();
        return new SweepPlan(
            family,
            optimizers,
            cells.Where(c => c.Depth == baseDepth).Select(c => c.Width).Distinct().Order().ToList(),
            cells.Where(c => c.Width == baseWidth).Select(c => c.Depth).Distinct().Order().ToList(),
            baseWidth,
            baseDepth,
            null,
            steps,
            batch,
            cells.Select(c => c.Seed).Distinct().Order().ToList(),
            averageLast
        );
    }

    /// <summary>The learning-rate exponents <paramref name="optimizer"/> is run at.</summary>
    public IReadOnlyList<int> GridOf(SweepOptimizer optimizer) =>
        Grid ?? Enumerable.Range(optimizer.GridLow, optimizer.GridHigh - optimizer.GridLow + 1).ToList();

    /// <summary>Every distinct cell (the base model belongs to both sweeps but runs once), cheapest models
    /// first.</summary>
    public IReadOnlyList<SweepCell> Cells()
    {
        var sizes = Widths
            .Select(w => (Width: w, Depth: BaseDepth))
            .Concat(Depths.Select(d => (Width: BaseWidth, Depth: d)))
            .Distinct()
            .OrderBy(s => (long)s.Width * s.Width * s.Depth)
            .ToList();
        return (
            from size in sizes
            from optimizer in Optimizers
            from exponent in GridOf(optimizer)
            from seed in Seeds
            select new SweepCell(Family, optimizer.Name, size.Width, size.Depth, exponent, seed, Steps, Batch)
        ).ToList();
    }

    /// <summary>The results that belong to the sweep along <paramref name="axis"/>.</summary>
    public IEnumerable<SweepResult> Along(SweepAxis axis, IEnumerable<SweepResult> results) =>
        results.Where(r =>
            r.Cell.Family == Family
            && r.Cell.Steps == Steps
            && r.Cell.Batch == Batch
            && Seeds.Contains(r.Cell.Seed)
            && Optimizers.Any(o => o.Name == r.Cell.Optimizer)
            && (
                axis == SweepAxis.Width
                    ? r.Cell.Depth == BaseDepth && Widths.Contains(r.Cell.Width)
                    : r.Cell.Width == BaseWidth && Depths.Contains(r.Cell.Depth)
            )
        );
}
