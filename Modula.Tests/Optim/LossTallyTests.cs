using Modula.Optim;
using Modula.Tensors;

namespace Modula.Tests.Optim;

[TestClass]
public sealed class LossTallyTests
{
    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void DeviceAndHostLossesAverageWithoutAReadPerLoss(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        using var tally = new LossTally(sum: 1.5, count: 1); // carried over from a resumed interval
        double[] losses = [2.25, 0.5, 4.0];
        var before = device.Counters;
        foreach (double loss in losses)
            using (var t = Tensor.FromArray<float>([(float)loss], Shape.Scalar, device))
                tally.Add(t);
        Assert.AreEqual(0, (device.Counters - before).Downloads, "adding device losses reads none back");
        tally.Add(3.0); // a host value (a data-parallel step's all-reduced loss)
        Assert.AreEqual(5, tally.Count);
        Assert.AreEqual(11.25, tally.Sum, 1e-6);
        Assert.AreEqual(11.25 / 5, tally.TakeMean(), 1e-6);
        Assert.AreEqual(0, tally.Count);
        Assert.IsTrue(double.IsNaN(tally.TakeMean()), "the mean of nothing is NaN");
        using var two = Ops.Zeros(new Shape(2), device: device);
        Assert.ThrowsExactly<ArgumentException>(() => tally.Add(two));
    }
}
