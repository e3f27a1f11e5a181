using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Autodiff;

[TestClass]
public sealed class GradientTests
{
    private static Tensor Rand(int seed, params int[] dims) =>
        Tensor.FromArray<double>(Reference.RandomValues(new Shape(dims).Size, seed, -1.5, 1.5), new Shape(dims));

    private static Tensor Positive(int seed, params int[] dims) =>
        Tensor.FromArray<double>(Reference.RandomValues(new Shape(dims).Size, seed, 0.5, 2.5), new Shape(dims));

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

    public static IEnumerable<object[]> UnaryCases =>
        [
            ["neg"],
            ["abs"],
            ["exp"],
            ["log"],
            ["sqrt"],
            ["rsqrt"],
            ["reciprocal"],
            ["tanh"],
            ["sin"],
            ["cos"],
            ["erf"],
            ["pow"],
            ["scale"],
            ["addscalar"],
            ["relu"],
            ["gelu"],
            ["gelutanh"],
        ];

    [TestMethod]
    [DynamicData(nameof(UnaryCases))]
    public void UnaryRulesMatchFiniteDifferences(string op)
    {
        Func<Variable, Variable> f = op switch
        {
            "neg" => F.Neg,
            "abs" => F.Abs,
            "exp" => F.Exp,
            "log" => F.Log,
            "sqrt" => F.Sqrt,
            "rsqrt" => F.Rsqrt,
            "reciprocal" => F.Reciprocal,
            "tanh" => F.Tanh,
            "sin" => F.Sin,
            "cos" => F.Cos,
            "erf" => F.Erf,
            "pow" => x => F.Pow(x, 3),
            "scale" => x => F.Scale(x, -2.5),
            "addscalar" => x => F.AddScalar(x, 4),
            "relu" => F.Relu,
            "gelu" => F.Gelu,
            "gelutanh" => F.GeluTanh,
            _ => throw new ArgumentException(op),
        };
        bool positive = op is "log" or "sqrt" or "rsqrt" or "reciprocal";
        AssertGrad(v => f(v[0]), positive ? Positive(1, 3, 5) : Rand(1, 3, 5));
    }

    public static IEnumerable<object[]> BinaryShapes =>
        [
            [new[] { 3, 4 }, new[] { 3, 4 }],
            [new[] { 3, 4 }, new[] { 4 }],
            [new[] { 2, 1, 4 }, new[] { 3, 1 }],
            [new int[0], new[] { 2, 3 }],
        ];

    [TestMethod]
    [DynamicData(nameof(BinaryShapes))]
    public void BinaryRulesWithBroadcastingMatchFiniteDifferences(int[] a, int[] b)
    {
        AssertGrad(v => F.Add(v[0], v[1]), Rand(1, a), Rand(2, b));
        AssertGrad(v => F.Sub(v[0], v[1]), Rand(1, a), Rand(2, b));
        AssertGrad(v => F.Mul(v[0], v[1]), Rand(1, a), Rand(2, b));
        AssertGrad(v => F.Div(v[0], v[1]), Rand(1, a), Positive(2, b));
        AssertGrad(v => F.Maximum(v[0], v[1]), Rand(1, a), Rand(2, b));
        AssertGrad(v => F.Minimum(v[0], v[1]), Rand(1, a), Rand(2, b));
    }

    [TestMethod]
    public void ReductionRulesMatchFiniteDifferences()
    {
        AssertGrad(v => F.Sum(v[0]), Rand(3, 2, 3, 4));
        AssertGrad(v => F.Sum(v[0], [1], keepDim: true), Rand(3, 2, 3, 4));
        AssertGrad(v => F.Sum(v[0], [0, 2]), Rand(3, 2, 3, 4));
        AssertGrad(v => F.Max(v[0], [-1]), Rand(4, 3, 5));
        AssertGrad(v => F.Max(v[0]), Rand(4, 3, 5));
        AssertGrad(v => F.Mean(v[0], [0]), Rand(5, 4, 3));
    }

    [TestMethod]
    public void MatMulRulesMatchFiniteDifferencesForEveryTransposeAndBroadcastBatch()
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            int[] a = ta ? [2, 4, 3] : [2, 3, 4];
            int[] b = tb ? [5, 4] : [4, 5];
            AssertGrad(v => F.MatMul(v[0], v[1], ta, tb), Rand(6, a), Rand(7, b));
            AssertGrad(v => F.MatMul(v[0], v[1], ta, tb, alpha: -0.7), Rand(6, a), Rand(7, b));
        }
    }

    [TestMethod]
    public void LayoutRulesMatchFiniteDifferencesOnNonContiguousViews()
    {
        AssertGrad(v => F.Mul(F.Transpose(v[0]), v[1]), Rand(8, 3, 4), Rand(9, 4, 3));
        AssertGrad(v => F.Reshape(F.Permute(v[0], 2, 0, 1), 4, 6), Rand(10, 2, 3, 4));
        AssertGrad(v => F.Exp(F.Slice(F.Transpose(v[0]), 0, 1, 2)), Rand(11, 3, 4));
        AssertGrad(v => F.Concat([v[0], F.Tanh(v[1])], 1), Rand(12, 2, 3), Rand(13, 2, 2));
        AssertGrad(
            v =>
            {
                var parts = F.Split(v[0], [1, 3], 1);
                return F.Mul(parts[0], parts[1]);
            },
            Rand(14, 2, 4)
        );
        AssertGrad(v => F.Expand(v[0], new Shape(3, 2, 4)), Rand(15, 2, 1));
    }

    [TestMethod]
    public void CompositesMatchFiniteDifferences()
    {
        AssertGrad(v => F.Softmax(v[0], -1, scale: 0.7), Rand(16, 3, 5));
        AssertGrad(v => F.Softmax(v[0], 0, scale: -1.3), Rand(54, 4, 3));
        AssertGrad(v => F.Softmax(F.Scale(v[0], 2), 1, scale: 0.6), Rand(55, 2, 4, 3));
        AssertGrad(v => F.LogSoftmax(v[0], 0), Rand(17, 4, 3));
        using var labels = Tensor.FromArray<int>([2, 0, 4], new Shape(3));
        AssertGrad(v => F.CrossEntropy(v[0], labels), Rand(18, 3, 5));
        // [B, T, C] logits, and a lazy multiple folded into the fused rule (Modula v2's scaled head).
        using var labels2d = Tensor.FromArray<int>([2, 0, 4, 1, 1, 3], new Shape(2, 3));
        AssertGrad(v => F.CrossEntropy(v[0], labels2d), Rand(22, 2, 3, 5));
        AssertGrad(v => F.CrossEntropy(F.Scale(v[0], 0.7), labels2d), Rand(23, 2, 3, 5));
        AssertGrad(v => F.LayerNorm(v[0], -1), Rand(24, 3, 6));
        AssertGrad(v => F.LayerNorm(v[0], 0), Rand(25, 4, 3));
        AssertGrad(v => F.MeanSubtract(v[0], -1), Rand(19, 3, 6));
        using var mask = Tensor.FromArray<double>([1, 0, 0, 1, 1, 0], new Shape(2, 3));
        AssertGrad(v => F.Where(mask, v[0], v[1]), Rand(34, 2, 3), Rand(35, 3));
        AssertGrad(v => F.RmsDivide(v[0], -1), Rand(20, 3, 6));
        AssertGrad(v => F.RmsDivide(F.MeanSubtract(v[0], 1, 2, 3), 1, 2, 3), Rand(21, 2, 2, 2, 3));
        AssertGrad(v => F.RmsDivide(v[0], [-1], 0.4), Rand(26, 3, 6));
        AssertGrad(v => F.RmsDivide(v[0], [0, 1], 1.5), Rand(27, 3, 2, 4));
    }

    [TestMethod]
    public void RmsDivideWithEpsilonIsXOverTheShiftedRootMeanSquare()
    {
        const double epsilon = 0.25;
        using var x = Rand(28, 4, 5);
        using var y = F.RmsDivide(new Variable(x), [-1], epsilon).Value;
        var xs = x.ToArray<double>();
        var ys = y.ToArray<double>();
        for (int row = 0; row < 4; row++)
        {
            double meanSquare = 0;
            for (int j = 0; j < 5; j++)
                meanSquare += xs[row * 5 + j] * xs[row * 5 + j] / 5;
            for (int j = 0; j < 5; j++)
                Assert.AreEqual(xs[row * 5 + j] / Math.Sqrt(meanSquare + epsilon), ys[row * 5 + j], 1e-14);
        }
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => F.RmsDivide(new Variable(x), [-1], -1e-3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => F.RmsDivide(new Variable(x), [-1], double.NaN));
    }

    [TestMethod]
    public void AttentionConvPoolingAndEmbeddingMatchFiniteDifferences()
    {
        AssertGrad(
            v => F.CausalAttention(v[0], v[1], v[2], scale: 1.0 / 3),
            Rand(22, 1, 2, 4, 3),
            Rand(23, 1, 2, 4, 3),
            Rand(24, 1, 2, 4, 3)
        );
        AssertGrad(v => F.Conv2D(v[0], v[1], stride: 1, padding: 1), Rand(25, 2, 2, 4, 4), Rand(26, 3, 2, 3, 3));
        AssertGrad(v => F.Conv2D(v[0], v[1], stride: 2, padding: 0), Rand(27, 1, 2, 5, 5), Rand(28, 2, 2, 3, 3));
        AssertGrad(v => F.AvgPool2d(v[0], 2), Rand(29, 1, 2, 4, 4));
        using var idx = Tensor.FromArray<int>([1, 3, 1, 0], new Shape(2, 2));
        AssertGrad(v => F.Embedding(v[0], idx), Rand(30, 4, 3));
    }

    [TestMethod]
    public void CausalAttentionMasksTheFuture()
    {
        using var scope = TensorScope.Begin();
        var q = new Variable(Tensor.FromArray<double>(Reference.RandomValues(8, 1), new Shape(1, 1, 4, 2)));
        var k = new Variable(Tensor.FromArray<double>(Reference.RandomValues(8, 2), new Shape(1, 1, 4, 2)));
        var vv = Reference.RandomValues(8, 3);
        var v = new Variable(Tensor.FromArray<double>(vv, new Shape(1, 1, 4, 2)));
        var y = F.CausalAttention(q, k, v, 0.5).Value.ToArray<double>();
        // Position 0 attends only to itself: its output is v[0].
        Assert.AreEqual(vv[0], y[0], 1e-12);
        Assert.AreEqual(vv[1], y[1], 1e-12);
    }

    [TestMethod]
    public void ScalarMultiplesFoldIntoProductsSumsAndSoftmaxWithTheSameValuesAndGradients()
    {
        // F.Scale defers its pass; MatMul, Add, Reshape/Permute and softmax apply the factor
        // themselves. A multiple read by both a folding op and an ordinary one (Exp reads the
        // value) must give the same function and gradient as the eager formula.
        Variable Deferred(Variable[] v)
        {
            var a = F.Scale(v[0], 0.5); // [2, 3, 4]
            var b = F.Scale(F.Scale(v[1], -3), 0.25); // chained factors: −0.75
            var scores = F.MatMul(a, b, transposeB: true); // both factors in α
            var probabilities = F.CausalSoftmax(F.Scale(scores, 2), 0.5); // factor joins the softmax scale
            var mixed = F.Add(F.Scale(F.Permute(a, 0, 2, 1), 0.875), F.Scale(F.Reshape(b, 2, 4, 3), 0.125));
            var both = F.Add(F.Sum(F.Mul(probabilities, probabilities)), F.Sum(F.Exp(a))); // Exp materializes a
            return F.Add(both, F.Sum(F.Mul(mixed, mixed)));
        }
        Variable Eager(Variable[] v)
        {
            var a = F.Mul(v[0], new Variable(Tensor.Scalar(0.5, DType.Float64)));
            var b = F.Mul(v[1], new Variable(Tensor.Scalar(-0.75, DType.Float64)));
            var scores = F.MatMul(a, b, transposeB: true);
            var probabilities = F.CausalSoftmax(F.Mul(scores, new Variable(Tensor.Scalar(1.0, DType.Float64))));
            var left = F.Mul(F.Permute(a, 0, 2, 1), new Variable(Tensor.Scalar(0.875, DType.Float64)));
            var right = F.Mul(F.Reshape(b, 2, 4, 3), new Variable(Tensor.Scalar(0.125, DType.Float64)));
            var mixed = F.Add(left, right);
            var both = F.Add(F.Sum(F.Mul(probabilities, probabilities)), F.Sum(F.Exp(a)));
            return F.Add(both, F.Sum(F.Mul(mixed, mixed)));
        }
        var x = Rand(40, 2, 3, 4);
        var y = Rand(41, 2, 3, 4);
        using var vx = new Variable(x, requiresGrad: true);
        using var vy = new Variable(y, requiresGrad: true);
        var deferred = Deferred([vx, vy]);
        deferred.Backward();
        var (dx, dy) = (vx.Grad!.ToArray<double>(), vy.Grad!.ToArray<double>());
        vx.ZeroGrad();
        vy.ZeroGrad();
        var eager = Eager([vx, vy]);
        eager.Backward();
        Assert.AreEqual(eager.Value.ToArray<double>()[0], deferred.Value.ToArray<double>()[0], 1e-12, "value");
        Reference.AssertClose(vx.Grad!.ToArray<double>(), dx, 1e-12, 1e-12, "gradient of the first input");
        Reference.AssertClose(vy.Grad!.ToArray<double>(), dy, 1e-12, 1e-12, "gradient of the second input");
        AssertGrad(Deferred, Rand(40, 2, 3, 4), Rand(41, 2, 3, 4));
    }

    [TestMethod]
    public void HeadSplitGradientsAreWrittenInTheirInputsLayoutWithoutCopies()
    {
        // Attention over heads split out of [B, T, H·d] inputs and merged back: p·v comes out in
        // [B, T, H·d] order (it follows v's layout), the products write the q, k, v gradients in
        // that order and read the merged gradient in place, so neither pass runs a layout copy;
        // the gradients match the same graph built from contiguous per-head copies and finite differences.
        const int batch = 2,
            t = 4,
            heads = 3,
            d = 2;
        static Variable Split(Variable x, bool copy)
        {
            var split = F.Permute(F.Reshape(x, batch, t, heads, d), 0, 2, 1, 3);
            return copy ? F.Add(split, new Variable(Ops.Zeros(new Shape(batch, heads, t, d), DType.Float64))) : split;
        }
        static Variable Attention(Variable[] v, bool copy)
        {
            var (q, k, value) = (Split(v[0], copy), Split(v[1], copy), Split(v[2], copy));
            var p = F.CausalSoftmax(F.MatMul(q, k, transposeB: true), 0.5);
            var merged = F.Reshape(F.Permute(F.MatMul(p, value), 0, 2, 1, 3), batch, t, heads * d);
            return F.Sum(F.Mul(merged, v[3]));
        }
        var inputs = new[]
        {
            Rand(50, batch, t, heads * d),
            Rand(51, batch, t, heads * d),
            Rand(52, batch, t, heads * d),
            Rand(53, batch, t, heads * d),
        };
        var variables = inputs.Select(x => new Variable(x, requiresGrad: true)).ToArray();
        using var profiler = OpProfiler.Start(Device.Cpu);
        Attention(variables, copy: false).Backward();
        var ops = profiler.Stop();
        Assert.IsFalse(
            ops.Any(o => o.Op == "Copy"),
            $"copied: {string.Join(", ", ops.Select(o => $"{o.Op}×{o.Calls}"))}"
        );
        var inPlace = variables.Select(x => x.Grad!.ToArray<double>()).ToArray();
        foreach (var x in variables)
            x.ZeroGrad();
        Attention(variables, copy: true).Backward();
        for (int i = 0; i < 3; i++)
            Reference.AssertClose(
                variables[i].Grad!.ToArray<double>(),
                inPlace[i],
                1e-12,
                1e-12,
                $"gradient of input {i}"
            );
        AssertGrad(v => Attention(v, copy: false), inputs.Select(x => Ops.Contiguous(x)).ToArray());
        foreach (var x in variables)
            x.Dispose();
    }

    [TestMethod]
    public void DirectionalCheckHandlesLargerInputs()
    {
        var result = GradCheck.CheckDirectional(
            v => F.Sum(F.Tanh(F.MatMul(v[0], v[1]))),
            [Rand(31, 20, 30), Rand(32, 30, 10)],
            directions: 6
        );
        Assert.IsTrue(result.Passed, result.Detail);
    }

    [TestMethod]
    public void GradCheckDetectsAWrongGradient()
    {
        // Sin's value with Cos's derivative sign flipped: y = sin x but dy/dx = −cos x.
        Func<Variable[], Variable> wrong = v => Variable.FromOp(Ops.Sin(v[0].Value), [v[0]], g =>
            {
                using var c = Ops.Cos(v[0].Value);
                g.Send(v[0], Ops.Mul(Ops.Neg(g), c));
            });
        var result = GradCheck.Check(wrong, [Rand(33, 4)]);
        Assert.IsFalse(result.Passed);
    }
}
