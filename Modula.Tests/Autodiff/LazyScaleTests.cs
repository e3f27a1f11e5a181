using Modula.Autodiff;
using Modula.Modules;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Autodiff;

/// <summary>Lazy scalar multiples (Variable.Scaled.cs) stay lazy through the models that rely on them.</summary>
[TestClass]
public sealed class LazyScaleTests
{
    /// <summary>Multiples in the graph behind <paramref name="root"/> whose value some op computed.</summary>
    private static List<string> MaterializedMultiples(Variable root)
    {
        var found = new List<string>();
        var seen = new HashSet<Variable>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Variable>([root]);
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            if (!seen.Add(v))
                continue;
            if (v != root && v.IsMaterializedMultiple)
                found.Add($"{v.Unscaled().Factor}·{v.Shape}");
            foreach (var input in v.Node?.Inputs ?? [])
                stack.Push(input);
        }
        return found;
    }

    [TestMethod]
    [DataRow("v1")]
    [DataRow("v2")]
    public void AGptForwardNeverMaterializesAScaledValue(string recipe)
    {
        // Residual weights, attention's 1/d, the embeddings' ½ and the loss's 1/n are all
        // multiples; every one must reach an op that folds it (a product, a sum, a softmax).
        var config = new GptConfig(Context: 16, DEmbed: 32, DQuery: 8, DValue: 8, Blocks: 2);
        var model = recipe == "v1" ? Gpt.V1(config) : Gpt.V2(config);
        using var weights = model.Initialize(new Generator(5));
        using var scope = TensorScope.Begin();
        var parameters = weights.ToVariables();
        var random = new System.Random(6);
        int[] Tokens() => Enumerable.Range(0, 32).Select(_ => random.Next(config.Vocab)).ToArray();
        var tokens = Tensor.FromArray<int>(Tokens(), new Shape(2, 16));
        var targets = Tensor.FromArray<int>(Tokens(), new Shape(2, 16));
        var loss = F.CrossEntropy(model.Forward(new Variable(tokens), parameters), targets);
        var materialized = MaterializedMultiples(loss);
        Assert.IsEmpty(materialized, $"GPT {recipe}: multiples computed in full: {string.Join(", ", materialized)}");
    }

    [TestMethod]
    public void AnOpThatReadsAMultipleIsFound()
    {
        // The check above can fail: exp does not fold factors, so its input is computed.
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        var loss = F.Sum(F.Exp(F.Scale(x, 3)));
        CollectionAssert.AreEqual(new[] { "3·[2]" }, MaterializedMultiples(loss));
        loss.Backward();
        Assert.AreEqual(3 * Math.Exp(6), x.Grad!.ToArray<double>()[1], 1e-9);
    }
}
