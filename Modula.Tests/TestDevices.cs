using Modula.Tensors;
using Modula.Tensors.Backends.Ilgpu;

namespace Modula.Tests;

/// <summary>The devices a test runs on: the CPU backend and the ILGPU simulator always; CUDA only in GPU
/// tests.</summary>
internal static class TestDevices
{
    public const string Cpu = "cpu";
    public const string Simulator = "ilgpu-cpu";
    public const string Cuda = "cuda";

    public static Device Get(string name) =>
        name switch
        {
            Cpu => Device.Cpu,
            Simulator => SimulatorOrInconclusive(),
            Cuda => CudaOrInconclusive(),
            _ => throw new ArgumentException(name),
        };

    /// <summary>The shared ILGPU simulator, after <see cref="RequireSimulator"/>.</summary>
    private static Device SimulatorOrInconclusive()
    {
        RequireSimulator();
        return IlgpuDevice.OpenCpuSimulator();
    }

    /// <summary>
    /// Inconclusive where <c>MODULA_TEST_SKIP_SIMULATOR=1</c>, before any use of an ILGPU simulator (the shared one
    /// or one a test creates): under an instruction-set emulator (<c>.ci/arm64-emulated.sh</c>) the simulator's
    /// threads run one kernel for minutes, and those runs are about the CPU backend. Tests that loop over devices
    /// list the CPU first, so its cases are still checked.
    /// </summary>
    public static void RequireSimulator()
    {
        if (SkipsSimulator)
            Assert.Inconclusive("MODULA_TEST_SKIP_SIMULATOR=1: ILGPU simulator case skipped.");
    }

    /// <summary>True where <c>MODULA_TEST_SKIP_SIMULATOR=1</c>: for a test that skips only its simulator part
    /// rather than turning Inconclusive (<see cref="RequireSimulator"/>).</summary>
    public static bool SkipsSimulator => Environment.GetEnvironmentVariable("MODULA_TEST_SKIP_SIMULATOR") == "1";

    /// <summary>Where a numeric op is checked against float64: the CPU in float32 on one and two threads and in
    /// float64, and the ILGPU simulator in float32.</summary>
    public static readonly (string Device, DType DType, int Threads)[] NumericCases =
    [
        (Cpu, DType.Float32, 1),
        (Cpu, DType.Float32, 2),
        (Cpu, DType.Float64, 2),
        (Simulator, DType.Float32, 1),
    ];

    private static IlgpuDevice? _cuda;

    /// <summary>The CUDA device, or Inconclusive (never Passed) when the machine has none.</summary>
    public static Device CudaOrInconclusive()
    {
        if (_cuda is not null)
            return _cuda;
        if (!IlgpuDevice.CudaAvailable())
            Assert.Inconclusive("No CUDA device on this machine; GPU test skipped.");
        return _cuda = IlgpuDevice.Open(DeviceKind.Cuda, 0);
    }
}

/// <summary>Float64 reference helpers and comparisons with stated tolerances.</summary>
internal static class Reference
{
    /// <summary>Fails at the first element whose float32 bits differ, with the message <paramref name="describe"/>
    /// gives for (element, expected value, actual value): for results claimed equal to the last bit, where a tolerance
    /// would hide a changed order of summation.</summary>
    public static void AssertSameBits(float[] expected, float[] actual, Func<int, float, float, string> describe)
    {
        Assert.AreEqual(expected.Length, actual.Length, "lengths");
        for (int e = 0; e < expected.Length; e++)
            if (BitConverter.SingleToInt32Bits(expected[e]) != BitConverter.SingleToInt32Bits(actual[e]))
                Assert.Fail(describe(e, expected[e], actual[e]));
    }

    /// <summary>C[b] = op(A[b])·op(B[b]) in float64 from row-major arrays, A [batch, m, k] (stored [batch, k, m] when
    /// <paramref name="ta"/>) and B [batch, k, n] ([batch, n, k] when <paramref name="tb"/>; one matrix for every b
    /// when <paramref name="broadcastB"/>).</summary>
    public static double[] Product(
        double[] a,
        double[] b,
        int batch,
        int m,
        int n,
        int k,
        bool ta,
        bool tb,
        bool broadcastB = false
    )
    {
        var c = new double[batch * m * n];
        for (int q = 0; q < batch; q++)
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int p = 0; p < k; p++)
            {
                double av = ta ? a[q * m * k + p * m + i] : a[q * m * k + i * k + p];
                int bq = broadcastB ? 0 : q;
                double bv = tb ? b[bq * k * n + j * k + p] : b[bq * k * n + p * n + j];
                s += av * bv;
            }
            c[(q * m + i) * n + j] = s;
        }
        return c;
    }

    public static double[] RandomValues(int n, int seed, double low = -3, double high = 3)
    {
        var rng = new System.Random(seed);
        var v = new double[n];
        for (int i = 0; i < n; i++)
            v[i] = low + (high - low) * rng.NextDouble();
        return v;
    }

    public static Tensor Make(double[] values, Shape shape, DType dtype, Device device) =>
        dtype switch
        {
            DType.Float64 => Tensor.FromArray<double>(values, shape, device),
            _ => Tensor.FromArray<float>(values.Select(v => (float)v).ToArray(), shape, device),
        };

    public static double[] Read(Tensor t) =>
        t.DType switch
        {
            DType.Float64 => t.ToArray<double>(),
            DType.Float32 => t.ToArray<float>().Select(v => (double)v).ToArray(),
            _ => t.ToArray<int>().Select(v => (double)v).ToArray(),
        };

    /// <summary>Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise (NaN must match NaN).</summary>
    public static void AssertClose(double[] expected, double[] actual, double atol, double rtol, string what)
    {
        Assert.AreEqual(expected.Length, actual.Length, $"{what}: length");
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i],
                a = actual[i];
            if (double.IsNaN(e))
            {
                Assert.IsTrue(double.IsNaN(a), $"{what}[{i}]: expected NaN, got {a}");
                continue;
            }
            if (double.IsInfinity(e))
            {
                Assert.AreEqual(e, a, $"{what}[{i}]");
                continue;
            }
            Assert.IsTrue(
                Math.Abs(a - e) <= atol + rtol * Math.Abs(e),
                $"{what}[{i}]: expected {e}, got {a} (atol {atol}, rtol {rtol})"
            );
        }
    }

    /// <summary>Tolerances for a dtype: float32 results against float64 references need looser bounds.</summary>
    public static (double Atol, double Rtol) Tolerance(DType dtype) =>
        dtype == DType.Float64 ? (1e-12, 1e-12) : (2e-6, 2e-6);
}
