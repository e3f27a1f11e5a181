using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tests.Tensors;

/// <summary>
/// The rounding of the register tiles' multiply-add (<see cref="IVectorOps{TVector}.MultiplyAdd"/>): one rounding where
/// the CPU has FMA, a rounded product and then a rounded sum without it. The GEMM's claims of equal bits (a tile read
/// in place or over a packed copy, one thread or two, four depths per trip or two) rest on every width doing one or
/// the other, lane by lane, in every depth. <c>.ci/run</c> reruns these at each narrower width the CPU can stand in
/// for, so the path without FMA (SSE alone, AVX without FMA) is checked too.
/// </summary>
[TestClass]
public sealed class VectorOpsTests
{
    private const int Seed = 20261207;
    private const int Vectors = 4096;

    [TestMethod]
    public void The128BitMultiplyAddIsFusedExactlyWhereTheCpuHasFma() =>
        AssertRounding<Vector128<float>, Ops128>(Fma.IsSupported || AdvSimd.IsSupported);

    [TestMethod]
    public void The256BitMultiplyAddIsFusedExactlyWhereTheCpuHasFma()
    {
        if (!Vector256.IsHardwareAccelerated)
            Assert.Inconclusive("Vector256 is not hardware accelerated here: no tile takes 256 bits.");
        AssertRounding<Vector256<float>, Ops256>(Fma.IsSupported);
    }

    [TestMethod]
    public void The512BitMultiplyAddIsAlwaysFused()
    {
        if (!Vector512.IsHardwareAccelerated)
            Assert.Inconclusive("Vector512 is not hardware accelerated here: no tile takes 512 bits.");
        AssertRounding<Vector512<float>, Ops512>(fused: true);
    }

    // Random a, b, c, for which a fused and an unfused a·b + c differ in about two lanes of three, against float
    // arithmetic lane by lane; MultiplyAddScalar, with its multiplier in every lane, and MultiplyAddSpread, with it in
    // every lane of an aligned vector in memory (SSE alone reads it by an aligned load), must round as MultiplyAdd
    // does.
    private static unsafe void AssertRounding<TVector, TOps>(bool fused)
        where TVector : struct
        where TOps : struct, IVectorOps<TVector>
    {
        int lanes = TOps.Lanes;
        var random = new Random(Seed);
        float* a = stackalloc float[lanes],
            b = stackalloc float[lanes],
            c = stackalloc float[lanes],
            result = stackalloc float[lanes],
            scalar = stackalloc float[lanes],
            spreadResult = stackalloc float[lanes];
        float* spread = (float*)NativeMemory.AlignedAlloc((nuint)(lanes * sizeof(float)), 64);
        try
        {
            AssertEachVector<TVector, TOps>(fused, random, a, b, c, result, scalar, spread, spreadResult);
        }
        finally
        {
            NativeMemory.AlignedFree(spread);
        }
    }

    private static unsafe void AssertEachVector<TVector, TOps>(
        bool fused,
        Random random,
        float* a,
        float* b,
        float* c,
        float* result,
        float* scalar,
        float* spread,
        float* spreadResult
    )
        where TVector : struct
        where TOps : struct, IVectorOps<TVector>
    {
        int lanes = TOps.Lanes;
        int differs = 0;
        for (int v = 0; v < Vectors; v++)
        {
            for (int i = 0; i < lanes; i++)
            {
                a[i] = (float)(random.NextDouble() * 4 - 2);
                b[i] = (float)(random.NextDouble() * 4 - 2);
                c[i] = (float)(random.NextDouble() * 4 - 2);
            }
            TOps.Store(TOps.MultiplyAdd(TOps.Load(a), TOps.Load(b), TOps.Load(c)), result);
            var multiplier = TOps.Broadcast(a[0]);
            TOps.Store(TOps.MultiplyAddScalar(TOps.Load(b), multiplier, TOps.Load(c)), scalar);
            TOps.Store(multiplier, spread);
            TOps.Store(TOps.MultiplyAddSpread(TOps.Load(b), spread, TOps.Load(c)), spreadResult);
            for (int i = 0; i < lanes; i++)
            {
                float product = a[i] * b[i],
                    unfused = product + c[i],
                    once = MathF.FusedMultiplyAdd(a[i], b[i], c[i]),
                    expected = fused ? once : unfused;
                if (once != unfused)
                    differs++;
                Assert.AreEqual(
                    BitConverter.SingleToInt32Bits(expected),
                    BitConverter.SingleToInt32Bits(result[i]),
                    $"{typeof(TOps).Name}.MultiplyAdd({a[i]:R}, {b[i]:R}, {c[i]:R}) gave {result[i]:R}, expected "
                        + $"{expected:R} ({(fused ? "fused" : "unfused")}); seed {Seed}, vector {v}, lane {i}"
                );
                float expectedScalar = fused ? MathF.FusedMultiplyAdd(b[i], a[0], c[i]) : b[i] * a[0] + c[i];
                Assert.AreEqual(
                    BitConverter.SingleToInt32Bits(expectedScalar),
                    BitConverter.SingleToInt32Bits(scalar[i]),
                    $"{typeof(TOps).Name}.MultiplyAddScalar({b[i]:R}, {a[0]:R}, {c[i]:R}) gave {scalar[i]:R}; "
                        + $"seed {Seed}, vector {v}, lane {i}"
                );
                Assert.AreEqual(
                    BitConverter.SingleToInt32Bits(expectedScalar),
                    BitConverter.SingleToInt32Bits(spreadResult[i]),
                    $"{typeof(TOps).Name}.MultiplyAddSpread({b[i]:R}, {a[0]:R}, {c[i]:R}) gave {spreadResult[i]:R}; "
                        + $"seed {Seed}, vector {v}, lane {i}"
                );
            }
        }
        // The inputs must tell the two roundings apart, or the test could not fail.
        Assert.IsTrue(differs > Vectors * lanes / 4, $"only {differs} lanes where fused and unfused differ");
    }
}
