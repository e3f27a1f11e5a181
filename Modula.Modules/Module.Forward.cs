using Modula.Autodiff;
using Modula.Modules.Algebra;
using Modula.Tensors;

namespace Modula.Modules;

// Forward: running a module on inputs and weights, with errors that name the module.
public abstract partial class Module
{
    /// <summary>Runs the module on one input with weights from <see cref="Weights.ToVariables"/>.</summary>
    /// <exception cref="ModuleException">The weights or the input do not fit; the message names the module path and
    /// shapes.</exception>
    public Variable Forward(Variable input, IReadOnlyList<Variable> weights)
    {
        if (input is null)
            throw new ArgumentNullException(nameof(input), $"{Label}: the input is null.");
        var outputs = Forward([input], weights);
        if (outputs.Length != 1)
            throw new ModuleException(Label, $"produces {outputs.Length} outputs; use the list overload of Forward.");
        return outputs[0];
    }

    /// <summary>Runs the module on a list of inputs (for modules that take tuples).</summary>
    public Variable[] Forward(IReadOnlyList<Variable> inputs, IReadOnlyList<Variable> weights)
    {
        RequireEach(inputs, nameof(inputs), "input");
        RequireEach(weights, nameof(weights), "weight");
        CheckWeights(weights.Select(w => w.Shape).ToArray());
        var array = weights as Variable[] ?? weights.ToArray();
        return Run(inputs, array);
    }

    // A null list, or a null variable in it, named with the module: deeper down it would be a NullReferenceException.
    private void RequireEach(IReadOnlyList<Variable> list, string parameter, string what)
    {
        if (list is null)
            throw new ArgumentNullException(parameter, $"{Label}: the {what}s are null.");
        for (int i = 0; i < list.Count; i++)
            if (list[i] is null)
                throw new ArgumentNullException(parameter, $"{Label}: {what} {i} is null.");
    }

    /// <summary>Runs this module as a child: errors are wrapped with this module's label so the path
    /// accumulates.</summary>
    internal Variable[] Run(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights)
    {
        try
        {
            return Apply(inputs, weights);
        }
        catch (ModuleException e)
        {
            throw this is Composition ? e : e.Within(Label); // a chain is transparent: its steps name themselves
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            string shapes = string.Join(", ", inputs.Select(i => i.Shape.ToString()));
            var error = new ModuleException($"input {shapes}: {e.Message}", e);
            throw this is Composition ? error : error.Within(Label);
        }
    }

    /// <summary>The forward function on a list of inputs, with exactly <see cref="AtomCount"/> weights.</summary>
    protected internal abstract Variable[] Apply(IReadOnlyList<Variable> inputs, ReadOnlySpan<Variable> weights);
}
