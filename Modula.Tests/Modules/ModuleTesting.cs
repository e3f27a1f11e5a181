using Modula.Autodiff;
using Modula.Modules;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Modules;

/// <summary>Helpers shared by the module tests: float64 CPU weights, inputs and forward passes.</summary>
internal static class ModuleTesting
{
    public static Weights Init(Module m, ulong seed = 1) =>
        m.Initialize(new Generator(seed), Device.Cpu, DType.Float64);

    public static Tensor Rand(int seed, params int[] dims) =>
        Tensor.FromArray<double>(Reference.RandomValues(new Shape(dims).Size, seed, -1.5, 1.5), new Shape(dims));

    public static Tensor Tokens(int seed, int vocab, params int[] dims)
    {
        var r = new System.Random(seed);
        return Tensor.FromArray<int>(
            Enumerable.Range(0, new Shape(dims).Size).Select(_ => r.Next(vocab)).ToArray(),
            new Shape(dims)
        );
    }

    /// <summary>Random "gradients" shaped like <paramref name="m"/>'s weights.</summary>
    public static Weights RandomLike(Module m, int seed) =>
        new(m.Atoms().Select((a, i) => Rand(seed + 31 * i, [.. a.Atom.WeightShape.Dims.ToArray()])));

    public static double[] Run(Module m, Weights w, Tensor x)
    {
        using var scope = TensorScope.Begin();
        var y = m.Forward(new Variable(x.View(x.Shape.Dims.ToArray())), w.ToVariables(requiresGrad: false));
        return Reference.Read(y.Value);
    }

    public static double[] Values(Tensor t) => Reference.Read(t);

    /// <summary>y = x·Wᵀ for row-major x [n, in] and W [out, in].</summary>
    public static double[] MatMulT(double[] x, double[] w, int n, int inputs, int outputs)
    {
        var y = new double[n * outputs];
        for (int i = 0; i < n; i++)
        for (int o = 0; o < outputs; o++)
        {
            double s = 0;
            for (int k = 0; k < inputs; k++)
                s += x[i * inputs + k] * w[o * inputs + k];
            y[i * outputs + o] = s;
        }
        return y;
    }
}
