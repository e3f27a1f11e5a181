using Modula.Tensors;

namespace Modula.Tests.Tensors;

/// <summary>View chains that once gave wrong values without an error (found by comparing with NumPy).</summary>
[TestClass]
public sealed class ViewRegressionTests
{
    [TestMethod]
    public void ReshapeChecksTheStrideBeforeASizeOneAxis()
    {
        using var scope = TensorScope.Begin(); // frees the chain's intermediate views
        // [4, 3] slice of [4, 6] with a size-1 axis inserted: the rows are 6 apart, not 3.
        using var x = Ops.Arange(24).Reshape(4, 6).Slice(1, 0, 3).Unsqueeze(1).Reshape(12);
        CollectionAssert.AreEqual(new float[] { 0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20 }, x.ToArray<float>());
        using var v = Ops.Arange(24).Reshape(4, 6).Slice(1, 0, 3).Unsqueeze(1);
        Assert.ThrowsExactly<InvalidOperationException>(() => v.View(12));
    }

    [TestMethod]
    public void ReshapeOfAPermutedViewWithSizeOneAxesCopies()
    {
        using var scope = TensorScope.Begin();
        using var x = Ops.Arange(10)
            .Reshape(5, 2)
            .Unsqueeze(0)
            .Permute(2, 0, 1)
            .Unsqueeze(3)
            .Reshape(10)
            .Slice(0, 0, 7)
            .Reshape(7);
        CollectionAssert.AreEqual(new float[] { 0, 2, 4, 6, 8, 1, 3 }, x.ToArray<float>());
    }

    [TestMethod]
    public void ReshapeMergesAndSplitsAroundSizeOneAxesAsAView()
    {
        using var scope = TensorScope.Begin();
        // [2, 1, 3] columns 0..2 of a [2, 4] matrix: rows may split and gain size-1 axes in place.
        using var m = Ops.Arange(8).Reshape(2, 4);
        using var s = m.Slice(1, 0, 3).Unsqueeze(1);
        using var r = s.View(2, 3, 1);
        Assert.AreSame(m.Storage, r.Storage);
        CollectionAssert.AreEqual(new float[] { 0, 1, 2, 4, 5, 6 }, r.ToArray<float>());
        CollectionAssert.AreEqual(new[] { 4, 1, 1 }, r.Strides.ToArray());
    }
}
