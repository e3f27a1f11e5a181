using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Differential;

/// <summary>
/// A program input: a contiguous tensor of <see cref="BaseShape"/> whose values follow from
/// <see cref="Salt"/>, seen through a chain of views. Engine values are exact in float32
/// (multiples of 1/4 or 1/8) so that comparisons and views can be checked exactly.
/// </summary>
/// <param name="BaseShape">Shape of the stored tensor.</param>
/// <param name="Salt">Selects the values.</param>
/// <param name="Positive">Values in [0.25, 2.25] (divisors) instead of [−2, 2].</param>
/// <param name="Constant">In autodiff programs: a constant (a condition, say), not a gradient input.</param>
/// <param name="Views">Views applied in order.</param>
internal sealed record Operand(int[] BaseShape, int Salt, bool Positive, bool Constant, IReadOnlyList<Step> Views)
{
    public int BaseSize => RefTensor.Count(BaseShape);

    /// <summary>Element i of the stored tensor.</summary>
    public double Value(int i) => Positive ? ((i * 37 + Salt) % 17 + 2) / 8.0 : ((i * 37 + Salt) % 17 - 8) / 4.0;

    public double[] Values() => Enumerable.Range(0, BaseSize).Select(Value).ToArray();

    public RefTensor Reference() => Views.Aggregate(new RefTensor(BaseShape, Values()), (x, v) => v.Reference(x));

    /// <summary>The stored tensor on the engine, then every view; each view's addresses are checked to lie inside the
    /// storage.</summary>
    public Tensor Engine(Env env)
    {
        var x = Tests.Reference.Make(Values(), new Shape(BaseShape), env.DType, env.Device);
        foreach (var v in Views)
            x = Checked(v.Engine(x, env));
        return x;
    }

    public Variable Grad(Env env)
    {
        var x = Constant
            ? new Variable(Tests.Reference.Make(Values(), new Shape(BaseShape), DType.Float64, env.Device))
            : env.Inputs.Dequeue();
        foreach (var v in Views)
            x = v.Grad(x, env);
        return x;
    }

    public string Code(CodeWriter w)
    {
        string x;
        if (w.Grad && !Constant)
            x = $"v[{w.NextInput++}]";
        else
        {
            string values = Positive ? $"((i * 37 + {Salt}) % 17 + 2) / 8.0" : $"((i * 37 + {Salt}) % 17 - 8) / 4.0";
            string cast = w.Element == "float" ? $"(float)({values})" : values;
            string tensor =
                $"Tensor.FromArray<{w.Element}>(Enumerable.Range(0, {BaseSize}).Select(i => {cast}).ToArray(), new "
                + $"Shape({CodeWriter.Ints(BaseShape)}), device)";
            x = w.Let(w.Grad ? $"new Variable({tensor})" : tensor);
        }
        var saved = w.Shape;
        var value = new RefTensor(BaseShape, Values());
        foreach (var v in Views)
        {
            w.Shape = value.Shape;
            x = w.Let(v.Code(x, w));
            value = v.Reference(value);
        }
        w.Shape = saved;
        return x;
    }

    /// <summary>The same values without the views when they change nothing, or with fewer views; for
    /// shrinking.</summary>
    public IEnumerable<Operand> Simpler()
    {
        for (int i = 0; i < Views.Count; i++)
            yield return this with
            {
                Views = Views.Where((_, j) => j != i).ToList(),
            };
    }

    /// <summary>Throws when a view addresses an element outside its storage (it would read another tensor's
    /// memory).</summary>
    public static Tensor Checked(Tensor t)
    {
        if (t.Size == 0)
            return t;
        long low = t.Offset,
            high = t.Offset;
        for (int i = 0; i < t.Rank; i++)
        {
            long reach = (long)(t.Shape[i] - 1) * t.Strides[i];
            if (reach < 0)
                low += reach;
            else
                high += reach;
        }
        if (low < 0 || high >= t.Storage.Length)
            throw new ViewBoundsException(
                $"view {t.Shape} with strides [{string.Join(", ", t.Strides.ToArray())}] and offset {t.Offset} "
                    + $"addresses elements {low}..{high} of a storage of {t.Storage.Length}"
            );
        return t;
    }
}

/// <summary>A view that reaches outside its storage.</summary>
internal sealed class ViewBoundsException(string message) : Exception(message);
