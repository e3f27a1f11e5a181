using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Modules;

// Weights: the atoms in weight order, initialization and shape checks.
public abstract partial class Module
{
    /// <summary>The atoms in weight-vector order with their paths from this module.</summary>
    public IReadOnlyList<(string Path, Atom Atom)> Atoms()
    {
        if (_atoms is null) // modules are immutable: walk the tree once
        {
            var list = new List<(string, Atom)>(AtomCount);
            CollectAtoms("", list);
            _atoms = list;
        }
        return _atoms;
    }

    private IReadOnlyList<(string Path, Atom Atom)>? _atoms;

    internal abstract void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms);

    /// <summary>Draws fresh weights (float32 on the CPU unless told otherwise).</summary>
    public Weights Initialize(Generator rng, Device? device = null, DType dtype = DType.Float32)
    {
        device ??= Device.Cpu;
        var tensors = new List<Tensor>(AtomCount);
        try
        {
            foreach (var (_, atom) in Atoms())
                tensors.Add(TensorScope.Escape(atom.InitializeWeight(rng, device, dtype)));
        }
        catch
        {
            foreach (var t in tensors)
                t.Dispose();
            throw;
        }
        return new Weights(tensors);
    }

    /// <summary>Throws a <see cref="ModuleException"/> listing every weight whose shape or count does not
    /// fit.</summary>
    public void CheckWeights(IReadOnlyList<Shape> shapes)
    {
        var atoms = Atoms();
        var problems = new List<string>();
        if (shapes.Count != atoms.Count)
            problems.Add($"expected {atoms.Count} weight tensors, got {shapes.Count}");
        for (int i = 0; i < Math.Min(shapes.Count, atoms.Count); i++)
            if (shapes[i] != atoms[i].Atom.WeightShape)
                problems.Add($"weight {i} ({atoms[i].Path}) should be {atoms[i].Atom.WeightShape}, got {shapes[i]}");
        if (problems.Count > 0)
            throw new ModuleException(Label, "weights do not fit: " + string.Join("; ", problems) + ".");
    }

    /// <summary>Checks a weight vector against this module (count and shapes).</summary>
    public void CheckWeights(Weights weights) => CheckWeights(weights.Select(w => w.Shape).ToArray());
}
