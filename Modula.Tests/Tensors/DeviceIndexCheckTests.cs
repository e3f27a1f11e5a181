using Modula.Tensors;

namespace Modula.Tests.Tensors;

/// <summary>
/// Index checks on the accelerator: gather and scatter range-check their indices on the device, never
/// touch memory outside the table, and raise the first bad index at the next host wait (a download,
/// <see cref="Device.Synchronize"/> or <see cref="Device.ThrowPendingErrors"/>) without a wait of
/// their own. The CPU checks before running (covered by <see cref="LayoutAndIndexTests"/>).
/// </summary>
[TestClass]
public sealed class DeviceIndexCheckTests
{
    private static Device Simulator => TestDevices.Get(TestDevices.Simulator);

    private static DeviceCounters Across(Action work)
    {
        var before = Simulator.Counters;
        work();
        return Simulator.Counters - before;
    }

    /// <summary>Rows 1..3 of a [5, 2] tensor whose first and last rows are guards: a table with memory on either
    /// side.</summary>
    private static (Tensor Guarded, Tensor Table) Guarded(float[] values)
    {
        var guarded = Tensor.FromArray(values, new Shape(5, 2), Simulator);
        return (guarded, guarded.Slice(0, 1, 3));
    }

    [TestMethod]
    public void InRangeGatherAndScatterEqualTheCpu()
    {
        const int seed = 4711,
            rows = 7,
            width = 5;
        var rng = new System.Random(seed);
        var table = Reference.RandomValues(rows * width, seed);
        var indices = Enumerable.Range(0, 12).Select(_ => rng.Next(rows)).ToArray();
        var source = Reference.RandomValues(indices.Length * width, seed + 1);
        (double[] Gathered, double[] Scattered) Run(Device device)
        {
            using var scope = TensorScope.Begin();
            var t = Reference.Make(table, new Shape(rows, width), DType.Float32, device);
            var idx = Tensor.FromArray(indices, new Shape(3, 4), device);
            var gathered = Reference.Read(Ops.GatherRows(t, idx));
            var sum = Ops.Zeros(new Shape(rows, width), device: device);
            Ops.ScatterAddRows(sum, idx, Reference.Make(source, new Shape(3, 4, width), DType.Float32, device));
            return (gathered, Reference.Read(sum));
        }
        var cpu = Run(Device.Cpu);
        var simulator = Run(Simulator);
        Reference.AssertClose(cpu.Gathered, simulator.Gathered, 0, 0, $"gather, seed {seed}");
        // Repeated indices add in another order on the device (atomics): float32 rounding.
        Reference.AssertClose(cpu.Scattered, simulator.Scattered, 1e-5, 1e-5, $"scatter, seed {seed}");
    }

    [TestMethod]
    public void OutOfRangeGatherReadsNothingAndIsRaisedAtTheNextDownload()
    {
        var (guarded, table) = Guarded([-1, -1, 10, 11, 20, 21, 30, 31, -2, -2]);
        using (guarded)
        using (table)
        using (var indices = Tensor.FromArray<int>([1, -1, 3], Simulator))
        using (var other = Tensor.FromArray<float>([5], Simulator))
        using (var rows = Ops.GatherRows(table, indices))
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => other.ToArray<float>());
            StringAssert.Contains(e.Message, "GatherRows");
            StringAssert.Contains(e.Message, "outside [0, 3)");
            Assert.IsTrue(
                e.Message.Contains("index -1 at position 1") || e.Message.Contains("index 3 at position 2"),
                e.Message
            );
            // Raised once: the device goes on, and the bad rows read as zeros, not as the guards.
            CollectionAssert.AreEqual(new float[] { 5 }, other.ToArray<float>());
            CollectionAssert.AreEqual(new float[] { 20, 21, 0, 0, 0, 0 }, rows.ToArray<float>());
            Simulator.ThrowPendingErrors();
        }
    }

    [TestMethod]
    public void OutOfRangeScatterTouchesNothingOutsideTheTable()
    {
        var (guarded, table) = Guarded(new float[10]);
        using (guarded)
        using (table)
        using (var indices = Tensor.FromArray<int>([0, -1, 3, 2], Simulator))
        using (var ones = Ops.Ones(new Shape(4, 2), device: Simulator))
        {
            Ops.ScatterAddRows(table, indices, ones);
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Simulator.ThrowPendingErrors());
            StringAssert.Contains(e.Message, "ScatterAddRows");
            StringAssert.Contains(e.Message, "outside [0, 3)");
            // The valid rows were added; the guard rows on either side were never written.
            CollectionAssert.AreEqual(new float[] { 0, 0, 1, 1, 0, 0, 1, 1, 0, 0 }, guarded.ToArray<float>());
            using var none = Tensor.FromArray<int>([3, 3, -7, 99], Simulator);
            Ops.ScatterAddRows(table, none, ones);
            Assert.ThrowsExactly<ArgumentOutOfRangeException>(Simulator.Synchronize);
            CollectionAssert.AreEqual(
                new float[] { 0, 0, 1, 1, 0, 0, 1, 1, 0, 0 },
                guarded.ToArray<float>(),
                "only bad indices: the table is unchanged"
            );
        }
    }

    [TestMethod]
    public void AGatherWaitsForNothingAndItsCheckRidesOnTheNextDownload()
    {
        using var table = Tensor.FromArray<float>([0, 1, 10, 11, 20, 21], new Shape(3, 2), Simulator);
        using var indices = Tensor.FromArray<int>([2, 0], Simulator);
        Ops.GatherRows(table, indices).Dispose();
        Simulator.Synchronize();
        Tensor? rows = null;
        Assert.AreEqual(new DeviceCounters(1, 0, 0, 0), Across(() => rows = Ops.GatherRows(table, indices)));
        using (rows)
        {
            // The download waits once and then reads the index record too (a copy, no second wait).
            Assert.AreEqual(new DeviceCounters(0, 1, 0, 2), Across(() => rows!.ToArray<float>()));
            Assert.AreEqual(new DeviceCounters(0, 1, 0, 1), Across(() => rows!.ToArray<float>()));
            Assert.AreEqual(new DeviceCounters(0, 0, 0, 0), Across(Simulator.ThrowPendingErrors));
        }
    }
}
