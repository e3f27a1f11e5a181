using Modula.Data;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Data;

/// <summary>The batch samplers against direct indexing of the same data.</summary>
[TestClass]
public sealed class BatchSamplerTests
{
    private static readonly int[] Tokens = Enumerable.Range(0, 500).Select(i => (i * 7 + 3) % 61).ToArray();

    [TestMethod]
    public void TokenWindowsAreSlicesOfTheTextAndTargetsAreShiftedByOne()
    {
        const int batch = 6,
            context = 9;
        var (x, y) = TokenBatches.Sample(Tokens, batch, context, new Generator(5));
        Assert.AreEqual(new Shape(batch, context), x.Shape);
        Assert.AreEqual(new Shape(batch, context), y.Shape);
        int[] inputs = x.ToArray<int>(),
            targets = y.ToArray<int>();
        // The window starts are the sampler's draws modulo the number of valid starts.
        using var bits = Ops.RandomBits(new Shape(batch), new Generator(5));
        int[] starts = Array.ConvertAll(bits.ToArray<int>(), b => (int)((uint)b % (uint)(Tokens.Length - context - 1)));
        for (int row = 0; row < batch; row++)
        for (int t = 0; t < context; t++)
        {
            Assert.AreEqual(Tokens[starts[row] + t], inputs[row * context + t], $"input row {row}, position {t}");
            Assert.AreEqual(Tokens[starts[row] + t + 1], targets[row * context + t], $"target row {row}, t {t}");
        }
        x.Dispose();
        y.Dispose();
    }

    [TestMethod]
    public void RowsOfABatchMatchTheWholeBatchAndAdvanceTheSamplerAlike()
    {
        var whole = new Generator(11);
        var part = new Generator(11);
        var (x, _) = TokenBatches.Sample(Tokens, 8, 4, whole);
        var (rows, _) = TokenBatches.Sample(Tokens, 8, 4, part, first: 3, rows: 2);
        CollectionAssert.AreEqual(x.ToArray<int>()[12..20], rows.ToArray<int>());
        Assert.AreEqual(whole.Offset, part.Offset, "a partial batch must advance the sampler by a whole batch");
    }

    [TestMethod]
    public void TokenSamplingRejectsBadArguments()
    {
        var g = new Generator(0);
        Assert.ThrowsExactly<DataException>(() => TokenBatches.Sample([1, 2, 3], 2, 4, g));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TokenBatches.Sample(Tokens, 0, 4, g));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TokenBatches.Sample(Tokens, 4, -1, g));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TokenBatches.Sample(Tokens, 4, 4, g, 3, 2));
        StringAssert.Contains(e.Message, "rows [3, 5) do not lie in a batch of 4");
    }

    [TestMethod]
    public void ImageBatchesHoldTheNormalizedPixelsAndLabelsOfTheirRows()
    {
        var images = new IdxArray([5, 2, 3], Enumerable.Range(0, 30).Select(i => (byte)(i * 8)).ToArray());
        var data = new ImageDataset(images, new IdxArray([5], [4, 0, 9, 2, 7]));
        int[] rows = [3, 0, 3];
        var (x, y) = data.Batch(rows);
        Assert.AreEqual(new Shape(3, 6), x.Shape);
        CollectionAssert.AreEqual(new[] { 2, 4, 2 }, y.ToArray<int>());
        float[] pixels = x.ToArray<float>();
        for (int i = 0; i < rows.Length; i++)
        for (int p = 0; p < 6; p++)
        {
            double expected = (rows[i] * 6 + p) * 8 / 255.0;
            expected = (expected - ImageDataset.Mean) / ImageDataset.Std;
            Assert.AreEqual(expected, pixels[i * 6 + p], 1e-6, $"row {i}, pixel {p}");
        }
        var (images4, _) = data.Batch(rows, flat: false);
        Assert.AreEqual(new Shape(3, 1, 2, 3), images4.Shape);
        CollectionAssert.AreEqual(pixels, images4.ToArray<float>());
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => data.Batch([1, 5]));
        StringAssert.Contains(e.Message, "row 5 is outside the 5 images");
    }

    [TestMethod]
    public void SampledRowsLieInTheDatasetAndFollowTheSeed()
    {
        var images = new IdxArray([7, 1, 1], new byte[7]);
        var data = new ImageDataset(images, new IdxArray([7], new byte[7]));
        int[] a = data.SampleRows(200, new Generator(3)),
            b = data.SampleRows(200, new Generator(3));
        CollectionAssert.AreEqual(a, b);
        Assert.IsTrue(a.All(r => r is >= 0 and < 7));
        Assert.AreEqual(7, a.Distinct().Count(), "200 draws from 7 rows should reach every row");
    }
}
