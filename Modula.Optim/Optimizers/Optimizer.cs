using Modula.Modules;

namespace Modula.Optim;

/// <summary>
/// A base optimizer: turns the gradient of step <c>t</c> into an update direction, keeping
/// named state vectors ("slots", e.g. Adam's moments) shaped like the weights. The learning
/// rate, schedule and normalization are applied afterwards by <see cref="Trainer"/>.
/// </summary>
public abstract class Optimizer : IDisposable
{
    private readonly Dictionary<string, Weights> _slots = new();

    /// <summary>Names of the state vectors this optimizer keeps.</summary>
    public abstract IReadOnlyList<string> SlotNames { get; }

    /// <summary>The slots whose values can never be negative (Adam's second moment): a checkpoint that holds a
    /// negative one is refused.</summary>
    public virtual IReadOnlyList<string> NonNegativeSlots => [];

    /// <summary>A one-line description with hyperparameters (stored in checkpoints).</summary>
    public abstract string Describe();

    /// <summary>The update direction for <paramref name="gradient"/> at 0-based step <paramref name="step"/>, as a new
    /// vector.</summary>
    public abstract Weights Direction(Weights gradient, int step);

    /// <summary>
    /// <see cref="Direction"/> for a caller that never writes the result and disposes it before the gradient or the
    /// optimizer's state next change (the next step, <see cref="SetSlot"/>, a checkpoint load): an optimizer whose
    /// direction is the gradient or its own state lends a view of it (<see cref="Weights.Alias"/>) instead of a
    /// copy. The state advances exactly as in <see cref="Direction"/>. <see cref="Trainer"/> uses it for its own
    /// rules when every atom of the model is one of the library's, whose updates only read their input.
    /// </summary>
    internal virtual Weights DirectionToRead(Weights gradient, int step) => Direction(gradient, step);

    /// <summary>
    /// Per-weight multipliers of the learning rate, for an optimizer that sets each weight's step size itself
    /// (<see cref="Muon"/>: Adam's rate for embeddings and head); null means 1 for every weight. The plain rule
    /// applies weight i at lr·schedule·scaleᵢ, its decay included; the modular rules, whose targets set the step
    /// sizes, refuse an optimizer that has them.
    /// </summary>
    public virtual IReadOnlyList<double>? LearningRateScales => null;

    /// <summary>The current state vectors by name (created as zeros on first use).</summary>
    public IReadOnlyDictionary<string, Weights> Slots => _slots;

    /// <summary>The slot <paramref name="name"/>, created as zeros shaped like <paramref name="like"/> if
    /// missing.</summary>
    protected Weights Slot(string name, Weights like)
    {
        if (!_slots.TryGetValue(name, out var slot))
            _slots[name] = slot = like.ZerosLike();
        return slot;
    }

    /// <summary>Creates every slot that does not exist yet (zeros shaped like <paramref name="like"/>).</summary>
    public void EnsureSlots(Weights like)
    {
        foreach (var name in SlotNames)
            Slot(name, like);
    }

    /// <summary>Replaces slot <paramref name="name"/> with <paramref name="values"/> (the optimizer takes
    /// ownership).</summary>
    public void SetSlot(string name, Weights values)
    {
        if (!SlotNames.Contains(name))
            throw new ArgumentException(
                $"{GetType().Name}: no state slot named '{name}' (slots: {string.Join(", ", SlotNames)})."
            );
        if (_slots.Remove(name, out var old))
            old.Dispose();
        _slots[name] = values;
    }

    /// <summary>Frees the state vectors.</summary>
    public void Dispose()
    {
        foreach (var slot in _slots.Values)
            slot.Dispose();
        _slots.Clear();
        GC.SuppressFinalize(this);
    }
}
