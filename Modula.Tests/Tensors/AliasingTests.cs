using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Tests.Tensors;

/// <summary>
/// Outputs that overlap an input of the same op: a product written over one of its factors, a transpose or a
/// shifted slice written into its own storage, a scatter whose source is its table. Each result must equal the one
/// computed from separate copies of the inputs (found by an outside review: they gave wrong values without an
/// error). Elementwise ops in place (the output laid out exactly like an input) are the common case and stay exact.
/// </summary>
[TestClass]
public sealed class AliasingTests
{
    [TestMethod]
    [DataRow(TestDevices.Cpu, 64)]
    [DataRow(TestDevices.Cpu, 200)]
    [DataRow(TestDevices.Simulator, 40)]
    public void AProductWrittenOverAFactorEqualsTheProductOfCopies(string device, int n)
    {
        using var scope = TensorScope.Begin();
        var on = TestDevices.Get(device);
        var values = Reference.RandomValues(n * n, seed: n);
        var other = Reference.RandomValues(n * n, seed: n + 1);
        foreach (bool accumulate in new[] { false, true })
        foreach (bool overA in new[] { true, false })
        {
            var a = Reference.Make(values, new Shape(n, n), DType.Float32, on);
            var b = Reference.Make(other, new Shape(n, n), DType.Float32, on);
            var expected = Reference.Read(Ops.MatMul(Ops.Contiguous(a), Ops.Contiguous(b)));
            var before = Reference.Read(overA ? a : b);
            if (accumulate)
                expected = expected.Select((v, i) => v + before[i]).ToArray();
            Ops.MatMulInto(a, b, overA ? a : b, accumulate);
            string what = $"{device} {n}×{n} C = {(overA ? "A" : "B")}, accumulate={accumulate}";
            Reference.AssertClose(expected, Reference.Read(overA ? a : b), 1e-4, 1e-5, what);
        }
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void ATransposeWrittenIntoItsOwnBaseIsReadFirst(string device)
    {
        using var scope = TensorScope.Begin();
        var on = TestDevices.Get(device);
        const int n = 40;
        var values = Reference.RandomValues(n * n, seed: 3).Select(v => (double)(float)v).ToArray();
        var transposed = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            transposed[i * n + j] = values[j * n + i];

        var x = Reference.Make(values, new Shape(n, n), DType.Float32, on);
        Ops.CopyInto(x.Transpose(), x);
        Reference.AssertClose(transposed, Reference.Read(x), 0, 0, $"{device} CopyInto(xᵀ, x)");

        var y = Reference.Make(values, new Shape(n, n), DType.Float32, on);
        Ops.Zip(y.Transpose(), y, new Add(), into: y);
        var sum = values.Select((v, i) => (double)(float)(v + transposed[i])).ToArray();
        Reference.AssertClose(sum, Reference.Read(y), 0, 0, $"{device} Zip(yᵀ, y, +, into: y)");
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void ASliceShiftedOverItselfIsReadFirst(string device)
    {
        using var scope = TensorScope.Begin();
        var on = TestDevices.Get(device);
        const int n = 63;
        var values = Enumerable.Range(0, n + 1).Select(i => (double)i).ToArray();
        // into[i + 1] = 2·x[i] for i < n, and the same through Map: elements written before later ones are read.
        var expected = values.Select((v, i) => i == 0 ? v : 2 * values[i - 1]).ToArray();

        var x = Reference.Make(values, new Shape(n + 1), DType.Float32, on);
        var two = Ops.Full(new Shape(n), 2, DType.Float32, on);
        Ops.Zip(x.Slice(0, 0, n), two, new Mul(), into: x.Slice(0, 1, n));
        Reference.AssertClose(expected, Reference.Read(x), 0, 0, $"{device} Zip shifted by one");

        var y = Reference.Make(values, new Shape(n + 1), DType.Float32, on);
        Ops.Map(y.Slice(0, 0, n), new Affine(2, 0), into: y.Slice(0, 1, n));
        Reference.AssertClose(expected, Reference.Read(y), 0, 0, $"{device} Map shifted by one");

        // Broadcast from a row of the output itself: every row gets row 0 as it was.
        var m = Reference.Make(values[..12], new Shape(3, 4), DType.Float32, on);
        Ops.Zip(m, m.Slice(0, 0, 1), new Add(), into: m);
        var rowSums = values[..12].Select((v, i) => v + values[i % 4]).ToArray();
        Reference.AssertClose(rowSums, Reference.Read(m), 0, 0, $"{device} Zip with a broadcast row of the output");
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void AScatterWhoseSourceIsItsTableReadsTheRowsFirst(string device)
    {
        using var scope = TensorScope.Begin();
        var on = TestDevices.Get(device);
        var table = Tensor.FromArray<float>([1, 2, 3, 4, 5, 6], new Shape(2, 3), on);
        var indices = Tensor.FromArray<int>([1, 0], new Shape(2), on);
        Ops.ScatterAddRows(table, indices, table);
        CollectionAssert.AreEqual(new float[] { 5, 7, 9, 5, 7, 9 }, table.ToArray<float>(), device);
    }

    [TestMethod]
    public void InPlaceElementwiseOpsAndDisjointSlicesNeedNoCopy()
    {
        using var scope = TensorScope.Begin();
        var x = Ops.Arange(8);
        var y = Ops.Full(new Shape(8), 1);
        Ops.Zip(x, y, new Add(), into: x);
        Ops.Map(x, new Affine(2, 0), into: x);
        CollectionAssert.AreEqual(new float[] { 2, 4, 6, 8, 10, 12, 14, 16 }, x.ToArray<float>());
        Assert.IsNull(Aliasing.CopyIfOverwritten(x, x, elementwise: true), "an op in place reads its input as is");
        Assert.IsNotNull(Aliasing.CopyIfOverwritten(x, x, elementwise: false), "a product over its factor copies");
        Assert.IsNull(
            Aliasing.CopyIfOverwritten(x.Slice(0, 0, 4), x.Slice(0, 4, 4), elementwise: false),
            "disjoint halves of one storage do not overlap"
        );
        // Two view objects of the same elements (the trainer's packed weights and their per-atom views).
        Assert.IsNull(Aliasing.CopyIfOverwritten(x.View(2, 4), x.View(2, 4), elementwise: true), "same layout");
        Assert.IsNotNull(Aliasing.CopyIfOverwritten(x.View(2, 4).Transpose(), x.View(4, 2), elementwise: true));
    }
}
