using System.Collections;
using Modula.Autodiff;
using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Modules;

/// <summary>
/// A module's weight vector: one tensor per atom in the module's order (input side first),
/// with the vector algebra optimizers need. The vector owns its tensors; dispose it to free them.
/// In-place methods change the tensors themselves, so <see cref="Variable"/>s made by
/// <see cref="ToVariables"/> see every update.
/// </summary>
public sealed partial class Weights : IReadOnlyList<Tensor>, IDisposable
{
    private readonly Tensor[] _tensors;

    /// <summary>Wraps <paramref name="tensors"/>; the vector takes ownership.</summary>
    public Weights(IEnumerable<Tensor> tensors) => _tensors = tensors.Select(TensorScope.Escape).ToArray();

    /// <summary>Number of tensors.</summary>
    public int Count => _tensors.Length;

    /// <summary>The tensor of atom <paramref name="index"/>.</summary>
    public Tensor this[int index] => _tensors[index];

    /// <summary>Total number of scalars.</summary>
    public long ElementCount => _tensors.Sum(t => (long)t.Size);

    internal ReadOnlySpan<Tensor> AsSpan() => _tensors;

    /// <summary>Leaf variables sharing these tensors' storage, for a forward pass whose gradients are wanted.</summary>
    public Variable[] ToVariables(bool requiresGrad = true) =>
        _tensors
            .Select((t, i) => new Variable(TensorScope.Escape(t.View(t.Shape.Dims.ToArray())), requiresGrad, $"w{i}"))
            .ToArray();

    /// <summary>
    /// Takes the accumulated gradients out of <paramref name="parameters"/> (their gradients
    /// are cleared) as a new vector; a parameter that received no gradient contributes zeros.
    /// </summary>
    public static Weights GradientsOf(IReadOnlyList<Variable> parameters)
    {
        var grads = new Tensor[parameters.Count];
        for (int i = 0; i < grads.Length; i++)
        {
            var p = parameters[i];
            // A gradient buffer stays with its owner and is zeroed, so its values are copied out.
            grads[i] = TensorScope.Escape(
                p.Grad is not { } g ? Ops.ZerosLike(p.Value)
                : p.HasGradientBuffer ? Ops.Contiguous(g)
                : g.View(g.Shape.Dims.ToArray())
            );
            p.ZeroGrad();
        }
        return new Weights(grads);
    }

    /// <summary>A deep copy.</summary>
    public Weights Clone() =>
        _flat is { } flat
            ? Repacked(Ops.Contiguous(flat))
            : new(_tensors.Select(t => TensorScope.Escape(Ops.Contiguous(t))));

    /// <summary>A second handle on this vector's tensors: views of the same memory, packed alike, so writes through
    /// either show in both. Disposing it leaves this vector's tensors alive.</summary>
    public Weights Alias() =>
        _flat is { } flat
            ? Repacked(flat.View(flat.Shape.Dims.ToArray()))
            : new(_tensors.Select(t => TensorScope.Escape(t.View(t.Shape.Dims.ToArray()))));

    /// <summary>A vector of zeros with the same shapes, dtypes and devices.</summary>
    public Weights ZerosLike() =>
        _flat is { } flat
            ? Repacked(Ops.ZerosLike(flat))
            : new(_tensors.Select(t => TensorScope.Escape(Ops.ZerosLike(t))));

    /// <summary>Copies <paramref name="source"/>'s values into this vector's tensors.</summary>
    public void CopyFrom(Weights source)
    {
        CheckMatches(nameof(CopyFrom), source);
        if (SharesLayout(source))
        {
            Ops.CopyInto(source._flat!, _flat!);
            return;
        }
        for (int i = 0; i < Count; i++)
            Ops.CopyInto(source[i], _tensors[i]);
    }

    // ---- in-place algebra -------------------------------------------------------------------

    /// <summary>this ← this + alpha·x.</summary>
    public void AddScaled(Weights x, double alpha)
    {
        CheckMatches(nameof(AddScaled), x);
        if (SharesLayout(x))
        {
            Ops.Zip(_flat!, x._flat!, new ScaledAdd(alpha), into: _flat);
            return;
        }
        for (int i = 0; i < Count; i++)
            Ops.Zip(_tensors[i], x[i], new ScaledAdd(alpha), into: _tensors[i]);
    }

    /// <summary>this ← this · alpha.</summary>
    public void Scale(double alpha)
    {
        if (_flat is { } flat)
        {
            Ops.Map(flat, new Affine(alpha, 0), into: flat);
            return;
        }
        foreach (var t in _tensors)
            Ops.Map(t, new Affine(alpha, 0), into: t);
    }

    /// <summary>this ← f(this) elementwise.</summary>
    public void Apply<TOp>(TOp op)
        where TOp : struct, IUnaryOp
    {
        if (_flat is { } flat)
        {
            Ops.Map(flat, op, into: flat);
            return;
        }
        foreach (var t in _tensors)
            Ops.Map(t, op, into: t);
    }

    /// <summary>this ← f(this, other) elementwise.</summary>
    public void Combine<TOp>(Weights other, TOp op)
        where TOp : struct, IBinaryOp
    {
        CheckMatches(typeof(TOp).Name, other);
        if (SharesLayout(other))
        {
            Ops.Zip(_flat!, other._flat!, op, into: _flat);
            return;
        }
        for (int i = 0; i < Count; i++)
            Ops.Zip(_tensors[i], other[i], op, into: _tensors[i]);
    }

    // ---- new-vector algebra -----------------------------------------------------------------

    /// <summary>Elementwise sum as a new vector.</summary>
    public static Weights operator +(Weights a, Weights b) => a.Zip(b, new Tensors.Primitives.Add());

    /// <summary>Elementwise difference as a new vector.</summary>
    public static Weights operator -(Weights a, Weights b) => a.Zip(b, new Sub());

    /// <summary>Every tensor scaled by <paramref name="alpha"/> as a new vector.</summary>
    public static Weights operator *(double alpha, Weights a) =>
        a._flat is { } flat
            ? a.Repacked(Ops.Mul(flat, alpha))
            : new(a._tensors.Select(t => TensorScope.Escape(Ops.Mul(t, alpha))));

    /// <summary>f(this, other) elementwise as a new vector.</summary>
    public Weights Zip<TOp>(Weights other, TOp op)
        where TOp : struct, IBinaryOp
    {
        CheckMatches(typeof(TOp).Name, other);
        if (SharesLayout(other))
            return Repacked(Ops.Zip(_flat!, other._flat!, op));
        return new(_tensors.Select((t, i) => TensorScope.Escape(Ops.Zip(t, other[i], op))));
    }

    /// <summary>f(this) elementwise as a new vector.</summary>
    public Weights Map<TOp>(TOp op)
        where TOp : struct, IUnaryOp =>
        _flat is { } flat ? Repacked(Ops.Map(flat, op)) : new(_tensors.Select(t => TensorScope.Escape(Ops.Map(t, op))));

    /// <summary>The Euclidean norm of the whole vector (host sum; for checks and logs).</summary>
    public double L2Norm()
    {
        double total = 0;
        foreach (var t in _tensors)
        {
            using var sq = Ops.Mul(t, t);
            using var sum = Ops.Sum(sq);
            total += sum.Item();
        }
        return Math.Sqrt(total);
    }

    /// <summary>Index and name of the first tensor holding a NaN or infinity, or null when all are finite.</summary>
    public int? FirstNonFinite()
    {
        // Packed: one sum over every weight, one read; only a non-finite total looks at the tensors.
        if (_flat is { } flat)
            using (var total = Ops.Sum(flat))
                if (double.IsFinite(total.Item()))
                    return null;
        for (int i = 0; i < Count; i++)
        {
            // A finite sum has finite terms (NaN and ±∞ survive addition), so one pass clears a
            // tensor; a non-finite sum may be overflow, and 0·x (NaN exactly where x is not finite) decides.
            using (var sum = Ops.Sum(_tensors[i]))
                if (double.IsFinite(sum.Item()))
                    continue;
            using var zeroed = Ops.Mul(_tensors[i], 0);
            using var probe = Ops.Sum(zeroed);
            if (!double.IsFinite(probe.Item()))
                return i;
        }
        return null;
    }

    private void CheckMatches(string op, Weights other)
    {
        if (other.Count != Count)
            throw new ArgumentException($"Weights.{op}: vectors have {Count} and {other.Count} tensors.");
        for (int i = 0; i < Count; i++)
            if (other[i].Shape != _tensors[i].Shape)
                throw new ArgumentException(
                    $"Weights.{op}: tensor {i} has shape {_tensors[i].Shape} here and {other[i].Shape} in the other "
                        + $"vector."
                );
    }

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        foreach (var t in _tensors)
            t.Dispose();
        _flat?.Dispose();
        _flat = null;
    }

    /// <inheritdoc/>
    public IEnumerator<Tensor> GetEnumerator() => ((IEnumerable<Tensor>)_tensors).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _tensors.GetEnumerator();
}
