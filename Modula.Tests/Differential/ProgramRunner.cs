using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Differential;

/// <summary>
/// Runs random programs against the reference, shrinks a failing one to a minimal program that
/// still fails, and reports its seed and C# reproduction.
/// </summary>
internal static class ProgramRunner
{
    /// <summary>Tolerance: |engine − reference| ≤ tol·(1 + m) + tol·|reference|, m the largest |value| the program
    /// met.</summary>
    public static double Tolerance(DType dtype) => dtype == DType.Float64 ? 1e-10 : 1e-4;

    /// <summary>Null when the engine agrees with the reference; else what differs. Throws <see
    /// cref="RefInvalidException"/> for an invalid program.</summary>
    public static string? CheckEngine(RandomProgram program, Device device, DType dtype)
    {
        var expected = program.Reference(out double magnitude);
        using var scope = TensorScope.Begin();
        double[] actual;
        try
        {
            var y = program.Engine(new Env(device, dtype));
            if (!y.Shape.Dims.SequenceEqual(expected.Shape))
                return $"shape {y.Shape}, expected {RefTensor.Fmt(expected.Shape)}";
            actual = Tests.Reference.Read(y);
        }
        catch (Exception e) when (e is not RefInvalidException and not OutOfMemoryException)
        {
            return $"the engine threw {e.GetType().Name}: {e.Message}{Where(e)}";
        }
        double tol = Tolerance(dtype);
        for (int i = 0; i < actual.Length; i++)
        {
            double e = expected.Data[i],
                a = actual[i];
            bool ok =
                double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? a == e
                : Math.Abs(a - e) <= tol * (1 + magnitude) + tol * Math.Abs(e);
            if (!ok)
                return $"element {i} is {a:G9}, expected {e:G9} (tolerance {tol:G2}·(1 + {magnitude:G3}) + "
                    + $"{tol:G2}·|expected|)\n"
                    + $"  expected {expected}\n  actual   {RefTensor.Fmt(expected.Shape)} "
                    + $"{{{string.Join(", ", actual.Take(24).Select(v => v.ToString("G6")))}"
                    + $"{(actual.Length > 24 ? ", …" : "")}}}";
        }
        return null;
    }

    /// <summary>The innermost frames of an unexpected exception, to point at the defect.</summary>
    private static string Where(Exception e) =>
        string.Concat((e.StackTrace ?? "").Split('\n').Take(3).Select(l => "\n    " + l.Trim()));

    /// <summary>The program's gradient inputs: random float64 values, positive where the operand is a
    /// divisor.</summary>
    public static Tensor[] GradInputs(RandomProgram program)
    {
        var rng = new Random(program.Seed);
        return program
            .GradOperands()
            .Select(o =>
                Tensor.FromArray<double>(
                    Enumerable
                        .Range(0, o.BaseSize)
                        .Select(_ => o.Positive ? 0.5 + rng.NextDouble() : rng.NextDouble() * 2 - 1)
                        .ToArray(),
                    new Shape(o.BaseShape)
                )
            )
            .ToArray();
    }

    /// <summary>Null when backward agrees with central differences (GradCheck's defaults); else the worst
    /// entry.</summary>
    public static string? CheckGrad(RandomProgram program)
    {
        program.Reference(out _); // validates the program
        var inputs = GradInputs(program);
        try
        {
            var result = GradCheck.Check(program.Grad, inputs);
            return result.Passed
                ? null
                : $"gradient check failed: {result.Detail} (max error {result.MaxAbsoluteError:G3})";
        }
        catch (Exception e) when (e is not RefInvalidException and not OutOfMemoryException)
        {
            return $"threw {e.GetType().Name}: {e.Message}{Where(e)}";
        }
        finally
        {
            foreach (var t in inputs)
                t.Dispose();
        }
    }

    /// <summary>Removes steps and views while the program still fails; returns the smallest failing program and its
    /// failure.</summary>
    public static (RandomProgram Program, string Failure) Shrink(
        RandomProgram program,
        string failure,
        Func<RandomProgram, string?> check
    )
    {
        for (int round = 0; round < 200; round++)
        {
            bool smaller = false;
            foreach (var candidate in program.Simpler())
            {
                string? f;
                try
                {
                    f = check(candidate);
                }
                catch (RefInvalidException)
                {
                    continue;
                }
                if (f is null)
                    continue;
                (program, failure, smaller) = (candidate, f, true);
                break;
            }
            if (!smaller)
                break;
        }
        return (program, failure);
    }

    /// <summary>
    /// Runs <paramref name="count"/> programs from seed <paramref name="firstSeed"/> on; returns a report of
    /// the failures (at most <paramref name="report"/> shrunk reproductions) or null when all passed.
    /// </summary>
    public static string? Run(int firstSeed, int count, bool grad, Device device, DType dtype, int report = 3)
    {
        var failures = new List<string>();
        int failed = 0;
        Func<RandomProgram, string?> check = grad ? CheckGrad : p => CheckEngine(p, device, dtype);
        for (int i = 0; i < count; i++)
        {
            var program = ProgramGenerator.Make(firstSeed + i, grad);
            string? failure;
            try
            {
                failure = check(program);
            }
            catch (RefInvalidException e)
            {
                failure = $"the generator drew an invalid program ({e.Message})";
            }
            if (failure is null)
                continue;
            failed++;
            if (failures.Count >= report)
                continue;
            var (small, why) = Shrink(program, failure, check);
            string code = small.Code(
                grad,
                dtype,
                device.Kind == DeviceKind.Cpu ? TestDevices.Cpu
                    : device.Kind == DeviceKind.IlgpuCpu ? TestDevices.Simulator
                    : TestDevices.Cuda,
                grad ? GradInputs(small) : null
            );
            failures.Add(
                $"seed {program.Seed} ({program.Steps.Count} steps, shrunk to {small.Steps.Count}): {why}\n{code}"
            );
        }
        return failed == 0
            ? null
            : $"{failed} of {count} programs failed; the first {failures.Count}, "
                + $"shrunk:\n\n{string.Join("\n", failures)}";
    }
}
