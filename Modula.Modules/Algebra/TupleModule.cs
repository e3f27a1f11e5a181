using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Modules.Algebra;

/// <summary>
/// Runs every child on the same input; the output is the concatenated list of the
/// children's outputs. Masses and sensitivities add (Modula's TupleModule, MD Definition 7).
/// </summary>
public sealed class TupleModule : Module
{
    private readonly Module[] _children;

    // The list itself, named when null (Sum would name its own parameter, 'source').
    private static Module[] Given(Module[] children) =>
        children ?? throw new ArgumentNullException(nameof(children), "Tuple: the list of modules is null.");

    /// <summary>Groups <paramref name="children"/>; they must agree on their input width where declared.</summary>
    public TupleModule(params Module[] children)
        : base(
            Given(children).Sum(c => Given(c, "child").Mass),
            children.Sum(c => c.Sensitivity),
            children.Sum(c => c.AtomCount),
            children.Sum(c => c.BondCount),
            children.All(c => c.Smooth)
        )
    {
        if (children.Length == 0)
            throw new ArgumentException("Tuple: needs at least one module.");
        var widths = children.Select(c => c.InputWidth).Where(w => w is not null).Distinct().ToArray();
        if (widths.Length > 1)
            throw new ModuleException(
                "Tuple",
                $"children expect different input widths ({string.Join(", ", widths)}) but receive the same input."
            );
        _children = children;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<Module> Children => _children;

    /// <inheritdoc/>
    public override string Label => "Tuple";

    /// <inheritdoc/>
    public override int? InputWidth => _children.Select(c => c.InputWidth).FirstOrDefault(w => w is not null);

    /// <inheritdoc/>
    public override int? OutputWidth
    {
        get
        {
            var widths = _children
                .Select(c => c.OutputWidth ?? (c.PreservesWidth ? InputWidth : null))
                .Distinct()
                .ToArray();
            return widths.Length == 1 ? widths[0] : null;
        }
    }

    /// <inheritdoc/>
    protected internal override Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        var outputs = new List<Variable>();
        int offset = 0;
        foreach (var child in _children)
        {
            outputs.AddRange(child.Run(inputs, weights.Slice(offset, child.AtomCount)));
            offset += child.AtomCount;
        }
        return outputs.ToArray();
    }

    internal override void CollectAtoms(string path, List<(string Path, Atom Atom)> atoms)
    {
        for (int i = 0; i < _children.Length; i++)
            _children[i].CollectAtoms($"{path}({i})", atoms);
    }

    internal override void AssignTargets(double target, Span<double> targets)
    {
        if (Mass == 0)
        {
            targets.Clear();
            return;
        }
        int offset = 0;
        foreach (var child in _children)
        {
            child.AssignTargets(target * child.Mass / Mass, targets.Slice(offset, child.AtomCount));
            offset += child.AtomCount;
        }
    }

    internal override double NormOf(ReadOnlySpan<Tensor> weights)
    {
        double norm = 0;
        int offset = 0;
        foreach (var child in _children)
        {
            if (child.Mass > 0)
                norm = Math.Max(norm, Mass / child.Mass * child.NormOf(weights.Slice(offset, child.AtomCount)));
            offset += child.AtomCount;
        }
        return norm;
    }

    internal override double? LipschitzOf(ReadOnlySpan<Tensor> weights, string path, LipschitzTrace trace)
    {
        // The outputs are measured by the sum of their norms, so the bounds add (and Add is 1-Lipschitz). Every
        // child sees the input's token-norm bounds; the output's are the children's, in order.
        double? sum = 0;
        int offset = 0;
        double[]? input = trace.TokenNorms;
        List<double>? outputs = [];
        for (int i = 0; i < _children.Length; i++)
        {
            trace.TokenNorms = input;
            sum += _children[i].LipschitzOf(weights.Slice(offset, _children[i].AtomCount), $"{path}({i})", trace);
            offset += _children[i].AtomCount;
            if (trace.TokenNorms is null)
                outputs = null;
            else
                outputs?.AddRange(trace.TokenNorms);
        }
        trace.TokenNorms = outputs?.ToArray();
        return sum;
    }

    internal override Module Rescaled(double factor) =>
        new TupleModule(_children.Select(c => c.Rescaled(factor)).ToArray());
}
