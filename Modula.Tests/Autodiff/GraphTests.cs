using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Autodiff;

[TestClass]
public sealed class GraphTests
{
    [TestMethod]
    public void GradientsAccumulateIntoLeavesAcrossBackwardCalls()
    {
        using var x = new Variable(Tensor.FromArray<double>([1, 2, 3]), requiresGrad: true);
        for (int i = 0; i < 2; i++)
        {
            using var scope = TensorScope.Begin();
            F.Sum(F.Mul(x, x)).Backward();
        }
        CollectionAssert.AreEqual(new double[] { 4, 8, 12 }, x.Grad!.ToArray<double>());
        x.ZeroGrad();
        Assert.IsNull(x.Grad);
    }

    [TestMethod]
    public void SharedSubexpressionsReceiveGradientFromEveryUse()
    {
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([2.0]), requiresGrad: true);
        var y = F.Mul(x, x); // x²
        var z = F.Add(F.Mul(y, x), y); // x³ + x²
        F.Sum(z).Backward();
        Assert.AreEqual(3 * 4 + 2 * 2, x.Grad!.ToArray<double>()[0], 1e-12);
    }

    [TestMethod]
    public void SumsAndScalarMultiplesPassGradientsOnWithoutSharingStorage()
    {
        // Add and Sub give their first input the upstream gradient's storage; every other
        // input, repeated inputs and chains of sums must still end with their own values.
        using var a = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        using var b = new Variable(Tensor.FromArray<double>([3, 5]), requiresGrad: true);
        for (int pass = 1; pass <= 2; pass++)
        {
            using var scope = TensorScope.Begin();
            var weights = new Variable(Tensor.FromArray<double>([1, 10]));
            // y = ((a + b) + a) − b + (a + a)·b + (b − a) + 3a  ⇒  dy/da = 1 + 2b + 3, dy/db = 2a + 1
            // (the scalar multiple adds into a gradient that already exists, in place)
            var y = F.Add(
                F.Add(F.Sub(F.Add(F.Add(a, b), a), b), F.Add(F.Mul(F.Add(a, a), b), F.Sub(b, a))),
                F.Scale(a, 3)
            );
            F.Sum(F.Mul(y, weights)).Backward();
            CollectionAssert.AreEqual(
                new double[] { pass * 1 * (1 + 2 * 3 + 3), pass * 10 * (1 + 2 * 5 + 3) },
                a.Grad!.ToArray<double>(),
                $"da after pass {pass}"
            );
            CollectionAssert.AreEqual(
                new double[] { pass * 1 * (1 + 2 * 1), pass * 10 * (1 + 2 * 2) },
                b.Grad!.ToArray<double>(),
                $"db after pass {pass}"
            );
        }
    }

    [TestMethod]
    public void NoGradAndDetachStopGradients()
    {
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([3.0]), requiresGrad: true);
        using (new NoGrad())
        {
            var y = F.Mul(x, x);
            Assert.IsFalse(y.RequiresGrad);
        }
        var d = x.Detach();
        var z = F.Add(F.Mul(x, d), x); // d is a constant 3
        F.Sum(z).Backward();
        Assert.AreEqual(3 + 1, x.Grad!.ToArray<double>()[0], 1e-12);
    }

    [TestMethod]
    public void NonScalarBackwardNeedsASeed()
    {
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        var y = F.Mul(x, x);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => y.Backward());
        StringAssert.Contains(e.Message, "not a scalar");
        y.Backward(Tensor.FromArray<double>([1, 10]));
        CollectionAssert.AreEqual(new double[] { 2, 40 }, x.Grad!.ToArray<double>());
    }

    [TestMethod]
    public void BackwardThroughAFreedGraphThrows()
    {
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([1.0]), requiresGrad: true);
        var h = F.Exp(x);
        var loss = F.Sum(h);
        loss.Backward();
        Assert.ThrowsExactly<InvalidOperationException>(() => loss.Backward());
        var again = F.Sum(F.Mul(h, h));
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => again.Backward());
        StringAssert.Contains(e.Message, "freed");
    }

    [TestMethod]
    public void MixingDevicesIsAClearError()
    {
        using var scope = TensorScope.Begin();
        var a = new Variable(Ops.Ones(new Shape(2)), requiresGrad: true);
        var b = new Variable(
            Ops.Ones(new Shape(2), device: TestDevices.Get(TestDevices.Simulator)),
            requiresGrad: true
        );
        var e = Assert.ThrowsExactly<ArgumentException>(() => F.Add(a, b));
        StringAssert.Contains(e.Message, "different devices");
    }

    [TestMethod]
    public void AttentionTrainingLoopKeepsLiveBytesFlat()
    {
        var device = Device.Cpu;
        var g = new Modula.Tensors.Random.Generator(3);
        using var wq = new Variable(Ops.Normal(new Shape(32, 32), g), requiresGrad: true);
        // [B, heads, T, d] of the default GPT, batch 4
        using var x = new Variable(Ops.Normal(new Shape(4, 4, 64, 32), g));
        long afterFirst = 0;
        for (int step = 0; step < 1000; step++)
        {
            using (var scope = TensorScope.Begin())
            {
                var q = F.MatMul(x, wq);
                var y = F.CausalAttention(q, x, x, 1.0 / 32);
                F.Mean(F.Mul(y, y)).Backward();
            }
            wq.ZeroGrad();
            if (step == 0)
                afterFirst = device.LiveBytes;
        }
        Assert.AreEqual(afterFirst, device.LiveBytes, "live bytes grew over 1000 forward+backward steps");
    }
}
