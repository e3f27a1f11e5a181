using Modula.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Tests.Tensors;

/// <summary>
/// <see cref="Ops.Tanh"/>, relative to float64's <see cref="Math.Tanh"/>, on the CPU and the ILGPU simulator (CUDA's
/// tanh, which ILGPU may compile to an approximate instruction, is not held to this bound): within 4 units in the
/// last place of each float32 result (2⁻²¹ of it; subnormal results within one of their own spacing), within 4 of
/// float64's, at every length up to 40 (every lane tail at every width) and around the lanes' switch from the series
/// to the exponential (<see cref="Tanh.SeriesBelow"/>). <c>TensorPrimitives.Tanh</c> gave tanh 0 = −2⁻²⁴ and tanh 10⁻³
/// 2.7·10⁻⁵ off, which the absolute tolerance of <see cref="ElementwiseTests"/> lets through.
/// </summary>
[TestClass]
public sealed class TanhAccuracyTests
{
    private static readonly double[] Chosen =
    [
        0,
        1e-45,
        1e-38,
        1e-30,
        1e-12,
        5.04e-6,
        1e-3,
        0.1,
        0.3,
        0.34999,
        0.35,
        0.35001,
        0.4,
        0.5,
        0.9,
        1,
        2,
        3,
        8.5,
        9.1,
        10,
        20,
        88,
        1e30,
    ];

    [TestMethod]
    [DataRow(TestDevices.Cpu)]
    [DataRow(TestDevices.Simulator)]
    public void Float32IsWithinFourUlpsNearZeroAndEverywhereAtEveryTail(string deviceName)
    {
        var device = TestDevices.Get(deviceName);
        var values = Chosen.SelectMany(v => new[] { v, -v }).Select(v => (float)v).ToArray();
        // The CPU's lanes at every tail; the simulator, which has no lanes to finish, at one length.
        var lengths = deviceName == TestDevices.Cpu ? Enumerable.Range(1, 40) : [values.Length];
        foreach (int n in lengths)
        {
            var x = Enumerable.Range(0, n).Select(i => values[(i * 7 + n) % values.Length]).ToArray();
            AssertWithinUlps(x, device, $"n={n} on {deviceName}");
        }
    }

    [TestMethod]
    public void Float32IsWithinFourUlpsOnRandomMagnitudes()
    {
        const int Seed = 20261207;
        var random = new Random(Seed);
        // Magnitudes spread evenly in log scale from 10⁻⁴⁰ to 30, either sign.
        var x = Enumerable
            .Range(0, 20000)
            .Select(_ => (float)(Math.Pow(10, -40 + 41.5 * random.NextDouble()) * (random.Next(2) == 0 ? -1 : 1)))
            .ToArray();
        AssertWithinUlps(x, Device.Cpu, $"seed {Seed}");
    }

    [TestMethod]
    public void Float32KeepsSignedZerosInfinitiesAndNaN()
    {
        using var x = Tensor.FromArray(new[] { 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN });
        using var y = Ops.Tanh(x);
        var got = y.ToArray<float>();
        Assert.IsTrue(got[0] == 0 && !float.IsNegative(got[0]), $"tanh 0 = {got[0]:R}");
        Assert.IsTrue(got[1] == 0 && float.IsNegative(got[1]), $"tanh −0 = {got[1]:R}");
        Assert.AreEqual(1f, got[2]);
        Assert.AreEqual(-1f, got[3]);
        Assert.IsTrue(float.IsNaN(got[4]), $"tanh NaN = {got[4]:R}");
    }

    [TestMethod]
    public void Float64IsWithinFourUlps()
    {
        var x = Chosen.SelectMany(v => new[] { v, -v }).Append(1e-300).ToArray();
        using var t = Tensor.FromArray(x);
        using var y = Ops.Tanh(t);
        var got = y.ToArray<double>();
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Tanh(x[i]);
            double tolerance = 4 * Math.Pow(2, -52) * Math.Abs(expected);
            Assert.IsTrue(
                Math.Abs(got[i] - expected) <= tolerance,
                $"tanh {x[i]:R} = {got[i]:R}, float64 reference {expected:R}"
            );
        }
    }

    private static void AssertWithinUlps(float[] x, Device device, string context)
    {
        using var t = Tensor.FromArray(x, device);
        using var y = Ops.Tanh(t);
        var got = y.ToArray<float>();
        for (int i = 0; i < x.Length; i++)
        {
            double expected = Math.Tanh(x[i]);
            // 4 ulps of a normal result; a subnormal result (|tanh x| = |x| there) within one spacing, 2⁻¹⁴⁹.
            double tolerance = Math.Max(4 * Math.Pow(2, -23) * Math.Abs(expected), Math.Pow(2, -149));
            Assert.IsTrue(
                Math.Abs(got[i] - expected) <= tolerance,
                $"tanh {x[i]:R} = {got[i]:R}, float64 reference {expected:R} ({context}, index {i})"
            );
        }
    }
}
