using Modula.Autodiff;
using Modula.Tensors;
using Modula.Tensors.Backends.Ilgpu;

namespace Modula.Tests.Tensors;

/// <summary>Defects that once gave a quiet wrong answer or a crash, each pinned by a test.</summary>
[TestClass]
public sealed class EdgeCaseRegressionTests
{
    [TestMethod]
    public void MeanOverAnEmptyAxisIsNaN()
    {
        using var scope = TensorScope.Begin();
        Assert.IsTrue(double.IsNaN(Ops.Mean(Ops.Zeros(new Shape(0))).Item()), "mean of []");
        var rows = Ops.Mean(Ops.Zeros(new Shape(3, 0)), [1]);
        Assert.AreEqual(new Shape(3), rows.Shape);
        Assert.IsTrue(Reference.Read(rows).All(double.IsNaN), "mean over an empty axis of [3, 0]");
        var none = Ops.Mean(Ops.Zeros(new Shape(0, 4)), [1], keepDim: true);
        Assert.AreEqual(new Shape(0, 1), none.Shape);
        var f = F.Mean(new Variable(Ops.Zeros(new Shape(2, 0), DType.Float64)), [1]);
        Assert.IsTrue(Reference.Read(f.Value).All(double.IsNaN), "F.Mean over an empty axis");
        Assert.AreEqual(2.5, Ops.Mean(Tensor.FromArray<float>([1, 2, 3, 4])).Item(), "a plain mean is unchanged");
    }

    [TestMethod]
    public void CrossEntropyRejectsLabelsOfTheWrongShape()
    {
        using var scope = TensorScope.Begin();
        var logits = new Variable(Ops.Zeros(new Shape(2, 3, 5)));
        var wrong = Tensor.FromArray<int>([0, 1, 2]); // [3]: would broadcast over the batch
        var e = Assert.ThrowsExactly<ArgumentException>(() => F.CrossEntropy(logits, wrong));
        StringAssert.Contains(e.Message, "CrossEntropy");
        StringAssert.Contains(e.Message, "[2, 3]");
        Assert.ThrowsExactly<ArgumentException>(() =>
            F.CrossEntropy(logits, Ops.Zeros(new Shape(2, 3, 1), DType.Int32))
        );
        var right = Ops.Zeros(new Shape(2, 3), DType.Int32);
        Assert.AreEqual(Math.Log(5), F.CrossEntropy(logits, right).Value.Item(), 1e-6, "uniform logits: ln C");
    }

    [TestMethod]
    public void DisposingAnAcceleratorWithLiveTensorsIsSafeAndOpsOnThemThrow()
    {
        TestDevices.RequireSimulator();
        var device = IlgpuDevice.CreateCpuSimulator();
        var x = Tensor.FromArray<float>([1, 2, 3], device);
        var view = x.View(3, 1);
        device.Dispose();
        Assert.IsTrue(device.IsDisposed);
        var e = Assert.ThrowsExactly<ObjectDisposedException>(() => Ops.Add(x, x));
        StringAssert.Contains(e.Message, "disposed");
        Assert.ThrowsExactly<ObjectDisposedException>(() => x.ToArray<float>());
        Assert.ThrowsExactly<ObjectDisposedException>(() => Ops.Zeros(new Shape(2), device: device));
        x.Dispose();
        Assert.IsFalse(device.Accelerator.IsDisposed, "a view still holds the buffer: the accelerator stays open");
        view.Dispose();
        Assert.IsTrue(device.Accelerator.IsDisposed, "the last tensor closes the accelerator");
        Assert.AreEqual(0, device.LiveBytes);
    }

    [TestMethod]
    public void MatMulOfRowsWithAnEmptyInnerAxisIsZeros()
    {
        // Found by the random programs: F.MatMul reshaped [2, 5, 0] rows with -1, which cannot be inferred.
        using var scope = TensorScope.Begin();
        var a = new Variable(Ops.Zeros(new Shape(2, 5, 0), DType.Float64), requiresGrad: true);
        var b = new Variable(Ops.Zeros(new Shape(0, 3), DType.Float64), requiresGrad: true);
        var y = F.MatMul(a, b);
        Assert.AreEqual(new Shape(2, 5, 3), y.Shape);
        Assert.IsTrue(Reference.Read(y.Value).All(v => v == 0), "an empty sum is 0");
        F.Sum(y).Backward();
        Assert.AreEqual(new Shape(0, 3), b.Grad!.Shape);
    }

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void MatMulWithAnEmptyBatchAxisIsEmpty(string deviceName)
    {
        // Found by the random programs: merging an empty batch divided by zero.
        using var scope = TensorScope.Begin();
        var device = TestDevices.Get(deviceName);
        var a = Ops.Zeros(new Shape(0, 1, 4, 3), device: device);
        var b = Ops.Zeros(new Shape(0, 7, 4, 3), device: device).Transpose(3, 2);
        var y = Ops.MatMul(a, b);
        Assert.AreEqual(new Shape(0, 7, 4, 4), y.Shape);
        Assert.AreEqual(0, y.ToArray<float>().Length);
    }

    [TestMethod]
    public void EmptyViewsReadBackAndConcatGradients()
    {
        // Found by the random programs: an empty slice moved its offset past the end of its
        // storage and reading it back threw; Concat's backward hands out such slices.
        using var scope = TensorScope.Begin();
        var x = Ops.Zeros(new Shape(0, 5)).Slice(1, 3, 2);
        Assert.AreEqual(0, x.ToArray<float>().Length);
        var result = GradCheck.Check(
            v => F.Concat([v[0], F.Reshape(v[1], 0, 2)], -1),
            [Tensor.FromArray<double>([], new Shape(0, 2)), Tensor.FromArray<double>([], new Shape(0))]
        );
        Assert.IsTrue(result.Passed, result.Detail);
    }
}
