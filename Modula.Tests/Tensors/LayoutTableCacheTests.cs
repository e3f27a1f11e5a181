using ILGPU.Runtime;
using Modula.Tensors;
using Modula.Tensors.Backends.Ilgpu;
using Device = Modula.Tensors.Device;

namespace Modula.Tests.Tensors;

/// <summary>
/// The accelerator's cache of strided layout tables: kernels reading cached tables give the CPU's results
/// for many distinct layouts (a wrong or stale table shows as wrong elements), and a full cache waits
/// for the queue before it frees anything.
/// </summary>
[TestClass]
public sealed class LayoutTableCacheTests
{
    /// <summary>
    /// A view of <paramref name="shape"/> with a random layout: the elements of a larger tensor, sliced
    /// along one axis, stored in a random axis order, and with some size-1 axes broadcast. The same seed
    /// gives the same values and layout on every device.
    /// </summary>
    private static Tensor RandomView(Shape shape, System.Random rng, Device device, bool broadcast)
    {
        int rank = shape.Rank;
        var dims = shape.Dims.ToArray();
        var source = dims.ToArray();
        if (broadcast)
            for (int d = 0; d < rank; d++)
                if (rng.Next(3) == 0)
                    source[d] = 1;
        int sliced = rng.Next(rank);
        int margin = rng.Next(3);
        var order = Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray();
        // Stored in axis order `order`, with `margin` extra elements on the sliced axis.
        var stored = order.Select(a => source[a] + (a == sliced ? margin : 0)).ToArray();
        var values = Reference.RandomValues(stored.Aggregate(1, (p, d) => p * d), rng.Next());
        var inverse = new int[rank];
        for (int i = 0; i < rank; i++)
            inverse[order[i]] = i;
        using var whole = Reference.Make(values, new Shape(stored), DType.Float32, device);
        using var permuted = whole.Permute(inverse);
        using var slice = permuted.Slice(sliced, margin / 2, source[sliced]);
        return slice.Expand(shape);
    }

    [TestMethod]
    public void StridedOpsMatchTheCpuForManyDistinctLayouts()
    {
        var simulator = TestDevices.Get(TestDevices.Simulator);
        var tables = ((IlgpuDevice)simulator).Kernels.Layouts;
        int before = tables.Count;
        const int seed = 20261203;
        var rng = new System.Random(seed);
        for (int trial = 0; trial < 60; trial++)
        {
            var shape = new Shape([.. Enumerable.Range(0, 1 + rng.Next(4)).Select(_ => 1 + rng.Next(4))]);
            int layoutSeed = rng.Next();
            double[] Run(Device device)
            {
                var r = new System.Random(layoutSeed);
                using var scope = TensorScope.Begin();
                var a = RandomView(shape, r, device, broadcast: false);
                var b = RandomView(shape, r, device, broadcast: true);
                var c = RandomView(shape, r, device, broadcast: true);
                return
                [
                    .. Reference.Read(Ops.Add(a, b)),
                    .. Reference.Read(Ops.Contiguous(a)),
                    .. Reference.Read(Ops.Where(Ops.Step(Ops.Contiguous(c)), a, b)),
                    .. Reference.Read(Ops.Where(c, b, a)),
                ];
            }
            var expected = Run(Device.Cpu);
            // Twice: the second run reads the tables the first one cached.
            for (int pass = 0; pass < 2; pass++)
                Reference.AssertClose(expected, Run(simulator), 0, 0, $"seed {seed} trial {trial} {shape} pass {pass}");
        }
        Assert.IsTrue(tables.Count > before, "strided layouts were cached");
    }

    [TestMethod]
    public void AFullCacheWaitsThenStartsAfresh()
    {
        var accelerator = ((IlgpuDevice)TestDevices.Get(TestDevices.Simulator)).Accelerator;
        var counter = new DeviceCounter();
        using var tables = new LayoutTables(accelerator, counter, capacity: 3);
        int[][] layouts =
        [
            [2, 1],
            [3, 1],
            [4, 1],
            [5, 1],
        ];
        foreach (var layout in layouts.Take(3))
            tables.Get(layout);
        Assert.AreEqual(new DeviceCounters(0, 3, 3, 0), counter.Snapshot());
        tables.Get(layouts[0]);
        Assert.AreEqual(new DeviceCounters(0, 3, 3, 0), counter.Snapshot(), "a cached layout uploads nothing");
        var fourth = tables.Get(layouts[3]);
        Assert.AreEqual(1, tables.Count, "full: everything freed, the new one kept");
        Assert.AreEqual(new DeviceCounters(0, 5, 4, 0), counter.Snapshot(), "one wait before freeing, one upload");
        var read = new int[2];
        fourth.CopyToCPU(new Span<int>(read));
        CollectionAssert.AreEqual(layouts[3], read);
        var first = tables.Get(layouts[0]);
        first.CopyToCPU(new Span<int>(read));
        CollectionAssert.AreEqual(layouts[0], read, "an evicted layout is uploaded again");
        Assert.AreEqual(2, tables.Count);
    }
}
