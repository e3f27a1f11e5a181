using Modula.Autodiff;
using Modula.Modules;
using Modula.Tensors;
using Modula.Tensors.Backends.Ilgpu;
using static Modula.Tests.Modules.ModuleTesting;

namespace Modula.Tests.Modules;

[TestClass]
public sealed class ForwardTests
{
    [TestMethod]
    public void V1AttentionDividesLogitsByNineDAndValuesByThree()
    {
        const int t = 3,
            e = 4,
            d = 2;
        var attention = Attention.V1(heads: 1, dEmbed: e, dQuery: d, dValue: d, causal: true);
        using var w = Init(attention, 4);
        using var x = Rand(2, 1, t, e);
        var y = Run(attention, w, x);

        var xs = Values(x);
        double s = Math.Sqrt((double)d / e);
        var q = MatMulT(xs, Values(w[0]), t, e, d).Select(v => v * s / 3).ToArray();
        var k = MatMulT(xs, Values(w[1]), t, e, d).Select(v => v * s / 3).ToArray();
        var v = MatMulT(xs, Values(w[2]), t, e, d).Select(v => v * s / 3).ToArray();
        var o = new double[t * d];
        for (int i = 0; i < t; i++)
        {
            var logits = Enumerable
                .Range(0, i + 1)
                .Select(j => Enumerable.Range(0, d).Sum(c => q[i * d + c] * k[j * d + c]) / d)
                .ToArray();
            double max = logits.Max();
            var p = logits.Select(l => Math.Exp(l - max)).ToArray();
            double z = p.Sum();
            for (int c = 0; c < d; c++)
                o[i * d + c] = Enumerable.Range(0, i + 1).Sum(j => p[j] / z * v[j * d + c]);
        }
        var expected = MatMulT(o, Values(w[3]), t, d, e).Select(val => val * Math.Sqrt((double)e / d)).ToArray();
        Reference.AssertClose(expected, y, 1e-12, 1e-12, "attention v1 = softmax((q/3)·(k/3)/d)·(v/3)");
    }

    [TestMethod]
    public void GptOutputsDependOnlyOnEarlierTokens()
    {
        foreach (
            var gpt in new[]
            {
                Gpt.V1(new GptConfig(11, 6, 2, 8, 4, 4, 2)),
                Gpt.V2(new GptConfig(11, 6, 2, 8, 4, 4, 2)),
            }
        )
        {
            using var w = Init(gpt);
            var tokens = new[] { 1, 5, 2, 7, 3, 9 };
            using var a = Tensor.FromArray<int>(tokens, new Shape(1, 6));
            tokens[4] = 0;
            using var b = Tensor.FromArray<int>(tokens, new Shape(1, 6));
            var ya = Run(gpt, w, a);
            var yb = Run(gpt, w, b);
            Reference.AssertClose(
                ya[..(4 * 11)],
                yb[..(4 * 11)],
                1e-12,
                1e-12,
                $"{gpt.Label}: positions before the change"
            );
            Assert.IsTrue(
                ya.Skip(4 * 11).Zip(yb.Skip(4 * 11)).Any(p => Math.Abs(p.First - p.Second) > 1e-6),
                $"{gpt.Label}: later positions see the change"
            );
        }
    }

    [TestMethod]
    public void LayerNormGivesZeroMeanAndUnitRms()
    {
        var ln = Bonds.LayerNorm();
        using var none = Init(ln);
        using var x = Rand(3, 5, 7);
        var y = Run(ln, none, x);
        for (int r = 0; r < 5; r++)
        {
            var row = y.Skip(r * 7).Take(7).ToArray();
            Assert.AreEqual(0, row.Average(), 1e-12);
            Assert.AreEqual(1, Math.Sqrt(row.Average(v => v * v)), 1e-12);
        }
    }

    [TestMethod]
    public void RopePreservesNormsAndDependsOnlyOnRelativePosition()
    {
        const int t = 7,
            d = 6;
        var rope = new Rope(d);
        // The same q and k at every position: rotated q_i · k_j must depend on i − j only.
        var qv = Reference.RandomValues(d, 1);
        var kv = Reference.RandomValues(d, 2);
        using var q = Tensor.FromArray<double>(
            Enumerable.Range(0, t).SelectMany(_ => qv).ToArray(),
            new Shape(1, 1, t, d)
        );
        using var k = Tensor.FromArray<double>(
            Enumerable.Range(0, t).SelectMany(_ => kv).ToArray(),
            new Shape(1, 1, t, d)
        );
        using var scope = TensorScope.Begin();
        var outputs = rope.Forward([new Variable(q), new Variable(k)], []);
        var rq = Values(outputs[0].Value);
        var rk = Values(outputs[1].Value);
        double Dot(int i, int j) => Enumerable.Range(0, d).Sum(c => rq[i * d + c] * rk[j * d + c]);
        for (int i = 0; i < t; i++)
            Assert.AreEqual(
                qv.Sum(v => v * v),
                Enumerable.Range(0, d).Sum(c => rq[i * d + c] * rq[i * d + c]),
                1e-12,
                "norm kept"
            );
        for (int offset = 0; offset < 3; offset++)
        for (int j = 0; j + offset < t; j++)
            Assert.AreEqual(Dot(offset, 0), Dot(j + offset, j), 1e-12, $"q·k at offset {offset}");
        Assert.AreNotEqual(Dot(1, 0), Dot(2, 0), 1e-6, "different offsets differ");
    }

    [TestMethod]
    public void RopeTablesAreUploadedOncePerDeviceAndFreedWithIt()
    {
        const int seed = 12;
        TestDevices.RequireSimulator();
        var device = IlgpuDevice.CreateCpuSimulator();
        var rope = new Rope(4);
        var values = Reference.RandomValues(8 * 4, seed);
        double[] Rotate(Device on, int t)
        {
            using var scope = TensorScope.Begin();
            var x = Reference.Make(values[..(t * 4)], new Shape(1, 1, t, 4), DType.Float32, on);
            return Values(rope.Forward([new Variable(x)], [])[0].Value);
        }
        var first = device.Counters;
        var five = Rotate(device, 5);
        // x, the sin and cos tables, and the layout tables of the strided halves of x (a fresh device).
        Assert.AreEqual(3 + ((IlgpuDevice)device).Kernels.Layouts.Count, (device.Counters - first).Uploads);
        var before = device.Counters;
        Reference.AssertClose(five, Rotate(device, 5), 0, 0, "again");
        Assert.AreEqual(1, (device.Counters - before).Uploads, "only x: the tables and layouts are kept");
        before = device.Counters;
        int layouts = ((IlgpuDevice)device).Kernels.Layouts.Count;
        var seven = Rotate(device, 7);
        Reference.AssertClose(five, seven[..20], 0, 0, "a longer sequence in the same 8-row table");
        Assert.AreEqual(
            1 + ((IlgpuDevice)device).Kernels.Layouts.Count - layouts,
            (device.Counters - before).Uploads,
            "x and the new layouts: no new table"
        );
        Assert.AreEqual(2, device.ConstantCount);
        Reference.AssertClose(Rotate(Device.Cpu, 5), five, 1e-6, 1e-6, $"against the CPU, seed {seed}");
        device.Dispose();
        Assert.AreEqual(0, device.ConstantCount);
        Assert.IsTrue(device.Accelerator.IsDisposed, "the kept tables went with the device");
        Assert.AreEqual(0, device.LiveBytes);
    }

    [TestMethod]
    public void V2AttentionLogitsAreScaleTimesQkOverDWithMaskedFuture()
    {
        var logits = new AttentionQK() >> new CausalMask() >> new Softmax(2);
        using var q = Rand(5, 1, 1, 3, 4);
        using var k = Rand(6, 1, 1, 3, 4);
        using var scope = TensorScope.Begin();
        var p = Values(logits.Forward([new Variable(q), new Variable(k)], [])[0].Value);
        var qs = Values(q);
        var ks = Values(k);
        for (int i = 0; i < 3; i++)
        {
            var l = Enumerable
                .Range(0, i + 1)
                .Select(j => 2 * Enumerable.Range(0, 4).Sum(c => qs[i * 4 + c] * ks[j * 4 + c]) / 4)
                .ToArray();
            double z = l.Sum(Math.Exp);
            for (int j = 0; j < 3; j++)
                Assert.AreEqual(j <= i ? Math.Exp(l[j]) / z : 0, p[i * 3 + j], 1e-12, $"p[{i},{j}]");
        }
    }

    [TestMethod]
    public void Conv2DScalesByRootFanRatioOverKernelArea()
    {
        var conv = new Conv2D(2, 3, kernelSize: 3, padding: 1);
        using var w = Init(conv);
        using var x = Rand(8, 1, 3, 4, 4);
        var y = Run(conv, w, x);
        using var scope = TensorScope.Begin();
        var raw = Values(F.Conv2D(new Variable(x), new Variable(w[0].View(2, 3, 3, 3)), 1, 1).Value);
        Reference.AssertClose(raw.Select(v => v * Math.Sqrt(2.0 / 3) / 9).ToArray(), y, 1e-12, 1e-12, "conv scale");
    }
}
