using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Backends.Ilgpu;

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

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void AnIntervalResumedAnywhereHasTheUninterruptedMean(string deviceName)
    {
        // Float32 losses summed on the device round at every step: a resumed tally that started the device sum afresh
        // (carrying the first part on the host) grouped the sum differently and could report a mean one unit of the
        // log's last digit off. Carrying the device part apart keeps every bit. The simulator case takes a fresh
        // simulator: its 5,000 one-element launches take 1.4 s there, 27 s on the shared one once that has run a
        // 256-thread kernel (docs/testing.md).
        using var own = deviceName == TestDevices.Simulator ? FreshSimulator() : null;
        var device = own ?? TestDevices.Get(deviceName);
        int seed = Environment.TickCount & 0xFFFF;
        var rng = new Random(seed);
        float[] losses = [.. Enumerable.Range(0, 50).Select(_ => (float)(2 + rng.NextDouble()))];
        double straight = Mean(new LossTally(), losses);
        int regrouped = 0;
        for (int split = 1; split < losses.Length; split++)
        {
            using var first = new LossTally();
            Add(first, losses[..split]);
            using var resumed = new LossTally(first.Sum, first.Count, first.DeviceSum);
            Assert.AreEqual(
                straight,
                Mean(resumed, losses[split..]),
                0,
                $"seed {seed}: an interval resumed after {split} of {losses.Length} losses"
            );
            if (Mean(new LossTally(first.Sum, first.Count), losses[split..]) != straight)
                regrouped++;
        }
        // Else the losses would not tell the two groupings apart, and the check above could not fail.
        Assert.IsTrue(regrouped > 0, $"seed {seed}: every split rounds alike when carried on the host");

        static IlgpuDevice FreshSimulator()
        {
            TestDevices.RequireSimulator();
            return IlgpuDevice.CreateCpuSimulator();
        }
        void Add(LossTally tally, float[] values)
        {
            foreach (float loss in values)
                using (var t = Tensor.FromArray<float>([loss], Shape.Scalar, device))
                    tally.Add(t);
        }
        double Mean(LossTally tally, float[] values)
        {
            using (tally)
            {
                Add(tally, values);
                return tally.TakeMean();
            }
        }
    }
}
