namespace Modula.Modules.Linalg;

/// <summary>What the manifold updates cost: dual-ascent steps taken and how far from tangent they ended.</summary>
public sealed class ManifoldStats
{
    /// <summary>Manifold Muon directions computed (one per matrix atom per step).</summary>
    public long Directions { get; private set; }

    /// <summary>Dual-ascent steps over all directions (each is one orthogonalization).</summary>
    public long Iterations { get; private set; }

    /// <summary>The largest final violation ‖WᵀA + AᵀW‖_F / √m met (0 is tangent).</summary>
    public double WorstViolation { get; private set; }

    /// <summary>Dual-ascent steps per direction on average.</summary>
    public double MeanIterations => Directions == 0 ? 0 : (double)Iterations / Directions;

    /// <summary>Counts one direction.</summary>
    public void Add(int iterations, double violation)
    {
        Directions++;
        Iterations += iterations;
        WorstViolation = Math.Max(WorstViolation, violation);
    }
}
