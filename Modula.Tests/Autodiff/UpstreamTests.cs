using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Autodiff;

/// <summary>
/// The one ownership rule of backward (<see cref="Upstream"/>): whatever order a rule delivers in,
/// at most one input keeps the upstream's storage and no two gradients share storage.
/// </summary>
[TestClass]
public sealed class UpstreamTests
{
    /// <summary>y = a + b written with a rule that delivers in the given order and reads g afterwards.</summary>
    private static Variable PassThrough(Variable a, Variable b, bool reversed) =>
        Variable.FromOp(Ops.Add(a.Value, b.Value), [a, b], g =>
        {
            var before = g.Value.ToArray<double>();
            if (reversed)
            {
                g.Pass(a);
                g.Pass(b);
            }
            else
            {
                g.Pass(b);
                g.Pass(a);
            }
            // Reading after every delivery is allowed: the storage is handed over after the rule returns.
            CollectionAssert.AreEqual(before, g.Value.ToArray<double>());
        });

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void EveryDeliveryOrderLeavesEachInputItsOwnGradient(bool reversed)
    {
        using var scope = TensorScope.Begin();
        var a = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        var b = new Variable(Tensor.FromArray<double>([3, 4]), requiresGrad: true);
        // a and b are intermediates (not leaves), so they keep whatever storage they receive.
        var ai = F.AddScalar(a, 0);
        var bi = F.AddScalar(b, 0);
        PassThrough(ai, bi, reversed).Backward(Ops.Ones(new Shape(2), DType.Float64));
        Assert.IsNotNull(a.Grad);
        // Writing into one input's gradient must not change the other's.
        Ops.Zip(a.Grad, a.Grad, new Modula.Tensors.Primitives.Add(), into: a.Grad);
        CollectionAssert.AreEqual(new double[] { 2, 2 }, a.Grad.ToArray<double>());
        CollectionAssert.AreEqual(new double[] { 1, 1 }, b.Grad!.ToArray<double>());
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TheSameInputTwiceReceivesBothDeliveries(bool reversed)
    {
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([1, 2, 3]), requiresGrad: true);
        var h = F.Exp(x);
        var y = PassThrough(h, h, reversed);
        F.Sum(F.Mul(y, y)).Backward(); // d/dx Σ (2eˣ)² = 8 e^{2x}
        var expected = new[] { 1.0, 2, 3 }.Select(v => 8 * Math.Exp(2 * v)).ToArray();
        var actual = x.Grad!.ToArray<double>();
        for (int i = 0; i < 3; i++)
            Assert.AreEqual(expected[i], actual[i], 1e-9 * expected[i]);
    }

    [TestMethod]
    public void AnInputThatNeedsNoGradientIsNotWaitedFor()
    {
        // b is a constant, so a is the last (only) input waiting: it may take the storage, and
        // a delivery to b is dropped without a copy.
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        var a = F.AddScalar(x, 0);
        var b = new Variable(Tensor.FromArray<double>([5, 6]));
        PassThrough(a, b, reversed: true).Backward(Ops.Ones(new Shape(2), DType.Float64));
        CollectionAssert.AreEqual(new double[] { 1, 1 }, x.Grad!.ToArray<double>());
        Assert.IsNull(b.Grad);
    }

    [TestMethod]
    public void ConcatenatedInputsTakeDisjointWindows()
    {
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        var h = F.AddScalar(x, 0);
        var y = F.Concat([h, F.AddScalar(x, 1), h], 0); // x appears in three windows
        var seed = Tensor.FromArray<double>([1, 10, 100, 1000, 10000, 100000]);
        y.Backward(seed);
        CollectionAssert.AreEqual(new double[] { 1 + 100 + 10000, 10 + 1000 + 100000 }, x.Grad!.ToArray<double>());
    }

    [TestMethod]
    public void HandingOnTheUpstreamItselfIsRefused()
    {
        // Send takes ownership of a new tensor; the upstream (or a view of it) must go through Pass.
        using var scope = TensorScope.Begin();
        var x = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        var bad = Variable.FromOp(Ops.Neg(x.Value), [x], g => g.Send(x, g));
        var e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            bad.Backward(Ops.Ones(new Shape(2), DType.Float64))
        );
        StringAssert.Contains(e.Message, "Upstream.Send");
        var y = new Variable(Tensor.FromArray<double>([1, 2]), requiresGrad: true);
        var identity = Variable.FromOp(Ops.Neg(y.Value), [y], g => g.Pass(y, t => t));
        e = Assert.ThrowsExactly<InvalidOperationException>(() =>
            identity.Backward(Ops.Ones(new Shape(2), DType.Float64))
        );
        StringAssert.Contains(e.Message, "Upstream.Pass");
    }
}
