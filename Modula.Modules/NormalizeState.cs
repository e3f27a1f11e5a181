using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Modules;

/// <summary>
/// The warm-start vectors of Modula v1's power iteration, one per atom position, kept
/// outside the (immutable) module so the same module may appear several times. Vectors are
/// drawn from <see cref="Generator"/> (standard normal, as Modula's <c>randn</c>) the first
/// time an atom is normalized. Owned by the caller or the optimizer; dispose to free them.
/// </summary>
public sealed class NormalizeState : IDisposable
{
    private readonly Tensor?[] _vectors;

    /// <summary>Creates empty state for <paramref name="module"/>'s atoms.</summary>
    public NormalizeState(Module module, Generator rng)
    {
        _vectors = new Tensor?[module.AtomCount];
        Generator = rng;
    }

    /// <summary>The stream the initial vectors are drawn from.</summary>
    public Generator Generator { get; }

    /// <summary>The current vector of each atom position (null until first used). Shapes are atom-specific.</summary>
    public IReadOnlyList<Tensor?> Vectors => _vectors;

    internal void CheckFits(Module module)
    {
        if (module.AtomCount != _vectors.Length)
            throw new ModuleException(
                module.Label,
                $"normalize state was made for {_vectors.Length} atoms, module has {module.AtomCount}."
            );
    }

    /// <summary>The vector for atom <paramref name="index"/>, drawn on first use (or when its shape, dtype or device
    /// changes); the state keeps ownership.</summary>
    public Tensor Vector(int index, Shape shape, DType dtype, Device device)
    {
        var v = _vectors[index];
        if (v is not null && v.Shape == shape && v.DType == dtype && v.Device == device)
            return v;
        v?.Dispose();
        return _vectors[index] = TensorScope.Escape(Ops.Normal(shape, Generator, dtype, device));
    }

    /// <summary>Replaces the vector of atom <paramref name="index"/> (the state takes ownership).</summary>
    public void Set(int index, Tensor vector)
    {
        var old = _vectors[index];
        _vectors[index] = TensorScope.Escape(vector);
        if (!ReferenceEquals(old, vector))
            old?.Dispose();
    }

    /// <summary>Frees every vector.</summary>
    public void Dispose()
    {
        for (int i = 0; i < _vectors.Length; i++)
        {
            _vectors[i]?.Dispose();
            _vectors[i] = null;
        }
    }
}
