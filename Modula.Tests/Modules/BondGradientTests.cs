using Modula.Autodiff;
using Modula.Modules;
using Modula.Tensors;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

[TestClass]
public sealed class BondGradientTests
{
    public static IEnumerable<object[]> UnaryBonds =>
        [
            ["Abs"],
            ["ReLU"],
            ["GELU"],
            ["ScaledTanhGelu"],
            ["ScaledReLU"],
            ["ScaledGELU"],
            ["MeanSubtract"],
            ["RMSDivide"],
            ["RMSDivideEpsilon"],
            ["RMSDivideEpsilon123"],
            ["LayerNorm"],
            ["Mean"],
            ["AvgPool"],
            ["Flatten"],
            ["SplitIntoHeads"],
            ["MergeHeads"],
            ["CausalMaskSoftmax"],
            ["Softmax"],
            ["Mul"],
            ["Identity"],
            ["MeanSubtract123"],
            ["RMSDivide123"],
            ["LayerNorm123"],
            ["LayerNormLeading"],
        ];

    private static (Module Bond, int[] Shape) Unary(string name) =>
        name switch
        {
            "Abs" => (new Abs(), [3, 4]),
            "ReLU" => (new Relu(), [3, 4]),
            "GELU" => (new Gelu(), [3, 4]),
            "ScaledTanhGelu" => (new ScaledTanhGelu(), [3, 4]),
            "ScaledReLU" => (Bonds.ScaledRelu(), [3, 4]),
            "ScaledGELU" => (Bonds.ScaledGelu(), [3, 4]),
            "MeanSubtract" => (new MeanSubtract(), [3, 5]),
            "RMSDivide" => (new RmsDivide(), [3, 5]),
            "RMSDivideEpsilon" => (new RmsDivide { Epsilon = 0.3 }, [3, 5]),
            "RMSDivideEpsilon123" => (new RmsDivide(1, 2, 3) { Epsilon = 2 }, [2, 2, 2, 3]),
            "LayerNorm" => (Bonds.LayerNorm(), [2, 3, 5]),
            "Mean" => (new Mean(1), [2, 3, 4]),
            "AvgPool" => (new AvgPool(), [2, 3, 2, 4]),
            "Flatten" => (new Flatten(), [2, 3, 2]),
            "SplitIntoHeads" => (new SplitIntoHeads(2), [2, 3, 4]),
            "MergeHeads" => (new MergeHeads(), [2, 2, 3, 2]),
            "CausalMaskSoftmax" => (new CausalMask() >> new Softmax(1.5), [2, 4, 4]),
            "Softmax" => (new Softmax(0.5), [3, 4]),
            "Mul" => (new Mul(-1.5), [3, 4]),
            "Identity" => (new Identity(), [3, 4]),
            "MeanSubtract123" => (new MeanSubtract(1, 2, 3), [2, 2, 2, 3]),
            "RMSDivide123" => (new RmsDivide(1, 2, 3), [2, 2, 2, 3]),
            "LayerNorm123" => (new LayerNorm(1, 2, 3), [2, 2, 2, 3]), // fused over trailing axes
            "LayerNormLeading" => (new LayerNorm(0), [4, 3]), // not trailing: the two rules in turn
            _ => throw new ArgumentException(name),
        };

    private static void AssertGrad(Func<Variable[], Variable> f, params Tensor[] inputs)
    {
        var result = GradCheck.Check(f, inputs);
        Assert.IsTrue(
            result.Passed,
            $"gradient check failed: {result.Detail} (max error {result.MaxAbsoluteError:G3})"
        );
        foreach (var t in inputs)
            t.Dispose();
    }

    [TestMethod]
    public void RmsDivisionWithEpsilonHoldsForRowsWhoseSquaresOverflow()
    {
        // Found by an outside campaign: mean x² overflowed to ∞ and the rows came out 0 (float32 past about 1.8e19,
        // float64 past about 1e154); ε is negligible there, so each row is x / rms(x): ±1 here.
        var rms = new RmsDivide { Epsilon = 0.01 };
        foreach (var (dtype, big) in new[] { (DType.Float32, 3e19), (DType.Float64, 1e200) })
        {
            double[] row = [big, -big, big, big];
            using var x =
                dtype == DType.Float32
                    ? Tensor.FromArray<float>(row.Select(v => (float)v).ToArray(), new Shape(1, 4))
                    : Tensor.FromArray<double>(row, new Shape(1, 4));
            var y = Values(rms.Forward(new Variable(x), []).Value);
            Reference.AssertClose([1, -1, 1, 1], y, 1e-6, 0, $"{dtype} rows of {big}");
        }
        // Small rows keep ε's full weight: x / √(mean x² + ε), float64 reference.
        double[] small = [1e-3, -2e-3, 0, 5e-4];
        using var s = Tensor.FromArray<double>(small, new Shape(1, 4));
        double denominator = Math.Sqrt(small.Average(v => v * v) + 0.01);
        Reference.AssertClose(
            small.Select(v => v / denominator).ToArray(),
            Values(rms.Forward(new Variable(s), []).Value),
            1e-14,
            0,
            "small rows"
        );
    }

    [TestMethod]
    [DynamicData(nameof(UnaryBonds))]
    public void UnaryBondsMatchFiniteDifferences(string name)
    {
        var (bond, shape) = Unary(name);
        AssertGrad(v => bond.Forward(v[0], []), Rand(name.Length, shape));
    }

    [TestMethod]
    public void AttentionBondsMatchFiniteDifferences()
    {
        AssertGrad(
            v => new FunctionalAttention(true).Forward([v[0], v[1], v[2]], [])[0],
            Rand(1, 1, 2, 3, 2),
            Rand(2, 1, 2, 3, 2),
            Rand(3, 1, 2, 3, 2)
        );
        AssertGrad(
            v => new FunctionalAttention(false).Forward([v[0], v[1], v[2]], [])[0],
            Rand(4, 1, 2, 3, 2),
            Rand(5, 1, 2, 3, 2),
            Rand(6, 1, 2, 3, 2)
        );
        AssertGrad(v => new AttentionQK().Forward([v[0], v[1]], [])[0], Rand(7, 1, 2, 3, 2), Rand(8, 1, 2, 3, 2));
        AssertGrad(
            v => new ApplyAttentionScores().Forward([v[0], v[1]], [])[0],
            Rand(9, 1, 2, 3, 2),
            Rand(10, 1, 2, 3, 3)
        );
        AssertGrad(v => new Add().Forward([v[0], v[1]], [])[0], Rand(11, 2, 3), Rand(12, 3));
        AssertGrad(
            v =>
            {
                var rotated = new Rope(4).Forward([v[0], v[1]], []);
                return F.Add(F.Scale(rotated[0], 0.7), rotated[1]);
            },
            Rand(13, 1, 2, 3, 4),
            Rand(14, 1, 2, 3, 4)
        );
    }

    [TestMethod]
    public void AtomForwardsMatchFiniteDifferencesInInputsAndWeights()
    {
        AssertGrad(v => new Linear(3, 4).Forward(v[0], [v[1]]), Rand(1, 2, 4), Rand(2, 3, 4));
        AssertGrad(
            v => new Conv2D(2, 3, kernelSize: 3, stride: 1, padding: 1).Forward(v[0], [v[1]]),
            Rand(3, 1, 3, 3, 3),
            Rand(4, 2, 3, 3, 3)
        );
        using var tokens = Tokens(5, 4, 2, 3);
        AssertGrad(v => new Embedding(4, 3).Forward(new Variable(tokens.View(2, 3)), [v[0]]), Rand(6, 4, 3));
    }

    [TestMethod]
    public void CompoundsMatchFiniteDifferencesInTheirWeights()
    {
        var gpt = Gpt.V2(new GptConfig(Vocab: 5, Context: 3, Heads: 1, DEmbed: 4, DQuery: 2, DValue: 2, Blocks: 1));
        using var w = Init(gpt, 2);
        using var tokens = Tokens(3, 5, 1, 3);
        var tensors = w.Select(t => Ops.Contiguous(t)).ToArray();
        var result = GradCheck.CheckDirectional(
            v => gpt.Forward(new Variable(tokens.View(1, 3)), v),
            tensors,
            directions: 3
        );
        Assert.IsTrue(result.Passed, $"GPT v2: {result.Detail}");
        foreach (var t in tensors)
            t.Dispose();
    }
}
