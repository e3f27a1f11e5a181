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
        var ops = typeof(IUnaryOp).Assembly.GetTypes().Where(t => t.IsValueType && !t.IsGenericType).ToArray();
        foreach (var m in typeof(Kernels).GetMethods(BindingFlags.Public | BindingFlags.Static))
        {
            if (!m.IsGenericMethodDefinition) { yield return (m, false); continue; }
            var constraint = m.GetGenericArguments()[0].GetGenericParameterConstraints().FirstOrDefault(c => c.IsInterface);
            var args = constraint is null ? [typeof(float), typeof(int)] : ops.Where(constraint.IsAssignableFrom).ToArray();
            Assert.IsTrue(args.Length > 0, $"no instantiation for {m.Name}");
            foreach (var a in args) yield return (m.MakeGenericMethod(a), false);
        }
        yield return (typeof(GemmKernel).GetMethod(nameof(GemmKernel.Run))!, true);
    }

    [TestMethod]
    public void EveryKernelCompilesToPtxForSm90WithoutAGpu()
    {
        using var context = Context.Create(b => b.Default().EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null);
        int count = 0;
        foreach (var (method, isExplicit) in AllKernels())
        {
            var entry = isExplicit ? EntryPointDescription.FromExplicitlyGroupedKernel(method) : EntryPointDescription.FromImplicitlyGroupedKernel(method);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, default);
            StringAssert.Contains(compiled.PTXAssembly, ".entry", $"{method} produced no entry point");
            count++;
        }
        Assert.IsTrue(count >= 40, $"expected every op instantiation, compiled {count}");
    }

    [TestMethod]
    [TestCategory("GPU")]
    public void CudaMatMulAndElementwiseMatchCpu()
    {
        var cuda = TestDevices.CudaOrInconclusive();
        var a = Reference.RandomValues(3 * 130 * 70, 1).Select(v => (float)v).ToArray();
        var b = Reference.RandomValues(3 * 70 * 90, 2).Select(v => (float)v).ToArray();
        using var ca = Tensor.FromArray<float>(a, new Shape(3, 130, 70));
        using var cb = Tensor.FromArray<float>(b, new Shape(3, 70, 90));
        using var ga = ca.To(cuda);
        using var gb = cb.To(cuda);
        using var cpu = Ops.MatMul(ca, cb, transposeB: false);
        using var gpu = Ops.MatMul(ga, gb);
        Reference.AssertClose(Reference.Read(cpu), Reference.Read(gpu), 1e-3, 1e-4, "cuda matmul");
        using var ce = Ops.Tanh(Ops.Add(ca, ca));
        using var ge = Ops.Tanh(Ops.Add(ga, ga));
        Reference.AssertClose(Reference.Read(ce), Reference.Read(ge), 1e-5, 1e-5, "cuda elementwise");
        using var bits = Ops.RandomBits(new Shape(1000), new Modula.Tensors.Random.Generator(9), cuda);
        using var cbits = Ops.RandomBits(new Shape(1000), new Modula.Tensors.Random.Generator(9));
        CollectionAssert.AreEqual(cbits.ToArray<int>(), bits.ToArray<int>());
    }
}
