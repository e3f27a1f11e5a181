using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class RandomTests
{
    /// <summary>Random123 known-answer vectors for philox4x32 with 10 rounds.</summary>
    [TestMethod]
    [DataRow(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [DataRow(
        0xffffffffu,
        0xffffffffu,
        0xffffffffu,
        0xffffffffu,
        0xffffffffu,
        0xffffffffu,
        0x408f276du,
        0x41c83b0eu,
        0xa20bc7c6u,
        0x6d5451fdu
    )]
    [DataRow(
        0x243f6a88u,
        0x85a308d3u,
        0x13198a2eu,
        0x03707344u,
        0xa4093822u,
        0x299f31d0u,
        0xd16cfe09u,
        0x94fdccebu,
        0x5001e420u,
        0x24126ea1u
    )]
    public void PhiloxMatchesRandom123KnownAnswers(
        uint c0,
        uint c1,
        uint c2,
        uint c3,
        uint k0,
        uint k1,
        uint e0,
        uint e1,
        uint e2,
        uint e3
    )
    {
        var r = Philox.Block(new Philox4(c0, c1, c2, c3), k0, k1);
        Assert.AreEqual(e0, r.X);
        Assert.AreEqual(e1, r.Y);
        Assert.AreEqual(e2, r.Z);
        Assert.AreEqual(e3, r.W);
    }

    [TestMethod]
    public void BitsAreIdenticalOnCpuAndSimulator()
    {
        var sim = TestDevices.Get(TestDevices.Simulator);
        using var a = Ops.RandomBits(new Shape(1001), new Generator(42, 7));
        using var b = Ops.RandomBits(new Shape(1001), new Generator(42, 7), sim);
        CollectionAssert.AreEqual(a.ToArray<int>(), b.ToArray<int>());
        using var ua = Ops.Uniform(new Shape(333), new Generator(3));
        using var ub = Ops.Uniform(new Shape(333), new Generator(3), device: sim);
        CollectionAssert.AreEqual(ua.ToArray<float>(), ub.ToArray<float>());
        using var na = Ops.Normal(new Shape(333), new Generator(3));
        using var nb = Ops.Normal(new Shape(333), new Generator(3), device: sim);
        Reference.AssertClose(Reference.Read(na), Reference.Read(nb), 1e-5, 1e-5, "normal cpu vs simulator");
    }

    [TestMethod]
    public void SuccessiveDrawsContinueTheStreamAndSeedsDiffer()
    {
        var g = new Generator(5);
        using var first = Ops.RandomBits(new Shape(8), g);
        using var second = Ops.RandomBits(new Shape(8), g);
        using var both = Ops.RandomBits(new Shape(16), new Generator(5));
        CollectionAssert.AreEqual(first.ToArray<int>().Concat(second.ToArray<int>()).ToArray(), both.ToArray<int>());
        using var other = Ops.RandomBits(new Shape(8), new Generator(6));
        CollectionAssert.AreNotEqual(first.ToArray<int>(), other.ToArray<int>());
    }

    [TestMethod]
    [DataRow(DType.Float32)]
    [DataRow(DType.Float64)]
    public void UniformAndNormalHaveTheRightMoments(DType dtype)
    {
        int n = 200_000;
        using var u = Ops.Uniform(new Shape(n), new Generator(11), dtype);
        using var z = Ops.Normal(new Shape(n), new Generator(12), dtype);
        var uv = Reference.Read(u);
        var zv = Reference.Read(z);
        Assert.IsTrue(uv.All(v => v >= 0 && v < 1));
        // Standard errors: mean of U(0,1) ± 0.00065, mean of N(0,1) ± 0.0022, var ± 0.0032; allow 5σ.
        Assert.AreEqual(0.5, uv.Average(), 0.0033);
        Assert.AreEqual(1.0 / 12, uv.Select(v => (v - 0.5) * (v - 0.5)).Average(), 0.0015);
        Assert.AreEqual(0.0, zv.Average(), 0.011);
        Assert.AreEqual(1.0, zv.Select(v => v * v).Average(), 0.016);
    }
}
