using System.Globalization;
using Modula.Cli;
using Modula.Tensors;
using Modula.Tensors.Backends.Ilgpu;

namespace Modula.Tests.Tensors;

/// <summary>
/// The ILGPU device's launch and transfer counters, on the CPU accelerator: exact counts for known
/// sequences of ops, so a change in how many launches or host waits an op costs shows up here first.
/// </summary>
[TestClass]
public sealed class AcceleratorCounterTests
{
    private static Device Simulator => TestDevices.Get(TestDevices.Simulator);

    /// <summary>The counters' change across <paramref name="work"/>.</summary>
    private static DeviceCounters Across(Device device, Action work)
    {
        var before = device.Counters;
        work();
        return device.Counters - before;
    }

    private static Tensor Vector(Device device, int n) =>
        Tensor.FromArray(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), device);

    [TestMethod]
    public void UploadIsOneUploadAndOneWait()
    {
        Tensor? x = null;
        var counts = Across(Simulator, () => x = Vector(Simulator, 8));
        using (x)
            Assert.AreEqual(new DeviceCounters(0, 1, 1, 0), counts);
    }

    [TestMethod]
    public void ContiguousUnaryOpIsOneLaunchAndNoWait()
    {
        using var x = Vector(Simulator, 8);
        Tensor? y = null;
        var counts = Across(Simulator, () => y = Ops.Exp(x));
        using (y)
            Assert.AreEqual(new DeviceCounters(1, 0, 0, 0), counts);
    }

    [TestMethod]
    public void ContiguousBinaryOpIsOneLaunchAndNoWait()
    {
        // Operands contiguous with the output's shape take the dense kernel: no layout table at all.
        using var a = Vector(Simulator, 8);
        using var b = Vector(Simulator, 8);
        Tensor? y = null;
        var counts = Across(Simulator, () => y = Ops.Add(a, b));
        using (y)
            Assert.AreEqual(new DeviceCounters(1, 0, 0, 0), counts);
    }

    [TestMethod]
    public void StridedOpUploadsItsLayoutOnceThenNeverAgain()
    {
        // A device of its own, so no earlier test has already cached this layout.
        TestDevices.RequireSimulator();
        using var device = IlgpuDevice.CreateCpuSimulator();
        using var m = Tensor.FromArray(new float[12], new Shape(4, 3), device);
        using var row = Tensor.FromArray(new float[3], new Shape(3), device);
        using var t = m.Transpose(0, 1);
        var first = Across(device, () => Ops.Add(m, row).Dispose());
        Assert.AreEqual(new DeviceCounters(1, 1, 1, 0), first, "a new layout: one upload, one wait");
        Assert.AreEqual(new DeviceCounters(1, 0, 0, 0), Across(device, () => Ops.Add(m, row).Dispose()));
        Assert.AreEqual(new DeviceCounters(1, 0, 0, 0), Across(device, () => Ops.Sub(m, row).Dispose()));
        Assert.AreEqual(new DeviceCounters(1, 1, 1, 0), Across(device, () => Ops.Contiguous(t).Dispose()));
        for (int i = 0; i < 3; i++)
            Assert.AreEqual(new DeviceCounters(1, 0, 0, 0), Across(device, () => Ops.Contiguous(t).Dispose()));
        Assert.AreEqual(2, ((IlgpuDevice)device).Kernels.Layouts.Count);
    }

    [TestMethod]
    public void ReadingBackIsOneDownloadAndOneWait()
    {
        using var x = Vector(Simulator, 8);
        using var first = x.Slice(0, 0, 1);
        Assert.AreEqual(new DeviceCounters(0, 1, 0, 1), Across(Simulator, () => x.ToArray<float>()));
        Assert.AreEqual(new DeviceCounters(0, 1, 0, 1), Across(Simulator, () => first.Item()));
        Assert.AreEqual(new DeviceCounters(0, 1, 0, 0), Across(Simulator, Simulator.Synchronize));
    }

    [TestMethod]
    public void ReadingBackAStridedViewCopiesItDenseFirst()
    {
        using var m = Tensor.FromArray(new float[6], new Shape(2, 3), Simulator);
        using var t = m.Transpose(0, 1);
        _ = t.ToArray<float>();
        // Copy kernel (its layout table already on the device), then the download (wait).
        Assert.AreEqual(new DeviceCounters(1, 1, 0, 1), Across(Simulator, () => t.ToArray<float>()));
    }

    [TestMethod]
    public void CpuDeviceCountsNothing()
    {
        var counts = Across(Device.Cpu, () =>
        {
            using var x = Vector(Device.Cpu, 8);
            using var y = Ops.Add(x, x);
            _ = y.ToArray<float>();
            Device.Cpu.Synchronize();
        });
        Assert.AreEqual(default, counts);
        Assert.AreEqual(default, Device.Cpu.Counters);
    }

    [TestMethod]
    public void CountersSubtractAndAddFieldByField()
    {
        var a = new DeviceCounters(10, 4, 3, 1);
        var b = new DeviceCounters(7, 1, 2, 0);
        Assert.AreEqual(new DeviceCounters(3, 3, 1, 1), a - b);
        Assert.AreEqual(a, a - b + b);
        Assert.AreEqual("launches=3 syncs=3 uploads=1 downloads=1", (a - b).ToString());
    }

    [TestMethod]
    public void GptStepBenchCountsEveryPhaseOnTheCpuAccelerator()
    {
        TestDevices.RequireSimulator();
        var output = new StringWriter();
        var error = new StringWriter();
        string line =
            "bench gpt-step --device ilgpu-cpu --steps 1 --warmup 0 --optimizers normed-adam,dualized-momentum "
            + "--width 16 --heads 2 --blocks 1 --context 8 --batch 2";
        Assert.AreEqual(0, CommandLine.Run(line.Split(' '), output, error), error.ToString());
        var counts = output
            .ToString()
            .Split('\n')
            .Where(l => l.StartsWith("gpt-step-counts "))
            .Select(l =>
                l.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Skip(1)
                    .Select(kv => kv.Split('='))
                    .ToDictionary(kv => kv[0], kv => kv[1])
            )
            .ToArray();
        Assert.AreEqual(2, counts.Length, output.ToString());
        foreach (var c in counts)
        {
            double Get(string key) => double.Parse(c[key], CultureInfo.InvariantCulture);
            string what = c["optimizer"];
            foreach (var phase in new[] { "forward", "backward", "update" })
                Assert.IsTrue(Get($"{phase}_launches") > 0, $"{what}: no {phase} launches");
            Assert.AreEqual(
                Get("launches"),
                Get("forward_launches") + Get("backward_launches") + Get("update_launches"),
                1e-9,
                what
            );
            Assert.AreEqual(
                Get("syncs"),
                Get("forward_syncs") + Get("backward_syncs") + Get("update_syncs"),
                1e-9,
                what
            );
            // Every upload and download waits; the batch's tokens are uploaded each step.
            Assert.IsTrue(Get("syncs") >= Get("uploads") + Get("downloads"), what);
            Assert.IsTrue(Get("uploads") >= 2, what);
        }
    }
}
