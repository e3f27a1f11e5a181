using Modula.Tensors;

namespace Modula.Tests.Architecture;

/// <summary>Promises of the tensor layer's layout, checked on the source and at run time.</summary>
[TestClass]
public sealed class TensorLayoutTests
{
    [TestMethod]
    public void EveryHandOffToABackendIsTimed()
    {
        // Profiling lives at the one place where Ops hands work to a backend: each call sits in
        // a `using (device.Time(...))` on its line or within the three before, so no primitive escapes it.
        var offenders = new List<string>();
        foreach (var file in SourceTree.CSharpFiles("Modula.Tensors"))
        {
            if (file.Contains("Backends") || Path.GetFileName(file) == "Device.cs")
                continue;
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
                if (lines[i].Contains(".Backend.") && !lines[Math.Max(0, i - 3)..(i + 1)].Any(Times))
                    offenders.Add($"{SourceTree.Relative(file)}:{i + 1}");
        }
        Assert.IsEmpty(offenders, "untimed backend calls:\n" + string.Join("\n", offenders));
    }

    private static bool Times(string line) => line.Contains(".Time(") || line.Contains(".Time<");

    [TestMethod]
    public void AProfilerTimesOnlyItsOwnDeviceAndOnlyWhileRunning()
    {
        var simulator = TestDevices.Get(TestDevices.Simulator);
        using var x = Ops.Ones(new Shape(8));
        using var profiler = OpProfiler.Start(Device.Cpu);
        Assert.ThrowsExactly<InvalidOperationException>(() => OpProfiler.Start(Device.Cpu));
        using (var y = Ops.Mul(x, 2.0)) { }
        using (var onOther = Ops.Ones(new Shape(8), device: simulator)) { }
        var timings = profiler.Stop();
        Assert.IsTrue(
            timings.Any(t => t.Op.StartsWith("Unary<") || t.Op.StartsWith("Binary<")),
            $"the product by 2 was not timed: {string.Join(", ", timings.Select(t => t.Op))}"
        );
        Assert.IsFalse(timings.Any(t => t.Op == "Fill"), "an op on another device was charged to this one");
        using (var after = Ops.Mul(x, 3.0)) { }
        Assert.AreEqual(timings.Sum(t => t.Calls), profiler.Stop().Sum(t => t.Calls), "ops after Stop were timed");
        using var again = OpProfiler.Start(Device.Cpu); // a stopped profiler frees the device
    }
}
