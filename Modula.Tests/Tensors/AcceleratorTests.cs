using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Modula.Tensors;
using Modula.Tensors.Backends.Ilgpu;
using Modula.Tensors.Primitives;

namespace Modula.Tests.Tensors;

[TestClass]
public sealed class AcceleratorTests
{
    /// <summary>Every kernel instantiation the backend can launch.</summary>
    private static IEnumerable<(MethodInfo Method, bool Explicit)> AllKernels()
    {
        // The engine's op structs and the optimizers' fused updates.
        var ops = typeof(IUnaryOp)
            .Assembly.GetTypes()
            .Concat(typeof(Modula.Optim.Ema).Assembly.GetTypes())
            .Where(t => t.IsValueType && !t.IsGenericType)
            .ToArray();
        foreach (var m in typeof(Kernels).GetMethods(BindingFlags.Public | BindingFlags.Static))
        {
            // Explicitly grouped kernels (a group per row or output) take no thread index argument.
            bool grouped = !m.GetParameters()[0].ParameterType.Name.StartsWith("Index");
            if (!m.IsGenericMethodDefinition)
            {
                yield return (m, grouped);
                continue;
            }
            var constraint = m.GetGenericArguments()[0]
                .GetGenericParameterConstraints()
                .FirstOrDefault(c => c.IsInterface);
            var args = constraint is null
                ? [typeof(float), typeof(int)]
                : ops.Where(constraint.IsAssignableFrom).ToArray();
            Assert.IsTrue(args.Length > 0, $"no instantiation for {m.Name}");
            foreach (var a in args)
                yield return (m.MakeGenericMethod(a), grouped);
        }
        yield return (typeof(GemmKernel).GetMethod(nameof(GemmKernel.Run))!, true);
        yield return (typeof(GemmKernel).GetMethod(nameof(GemmKernel.SumSplits))!, false);
    }

    [TestMethod]
    public void EveryKernelCompilesToPtxForSm90WithoutAGpu()
    {
        using var context = Context.Create(b => b.Default().EnableAlgorithms());
        using var backend = new PTXBackend(
            context,
            new CudaCapabilityContext(CudaArchitecture.SM_90),
            CudaArchitecture.SM_90,
            CudaInstructionSet.ISA_80,
            null
        );
        int count = 0;
        foreach (var (method, isExplicit) in AllKernels())
        {
            var entry = isExplicit
                ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
                : EntryPointDescription.FromImplicitlyGroupedKernel(method);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, default);
            StringAssert.Contains(compiled.PTXAssembly, ".entry", $"{method} produced no entry point");
            count++;
        }
        Assert.IsTrue(count >= 40, $"expected every op instantiation, compiled {count}");
    }
}
