using Modula.Tensors.Backends.Cpu;

namespace Modula.Tests.Tensors;

/// <summary>
/// The runtime's knobs that narrow the instruction set took effect. <c>.ci/run</c> reruns tests with
/// <c>DOTNET_EnableAVX512=0</c>, <c>DOTNET_EnableAVX2=0</c> and <c>DOTNET_EnableAVX=0</c>, naming in
/// <c>MODULA_EXPECT_ISA</c> what each should leave; a knob the runtime stops honouring (as .NET 10 ignores
/// <c>DOTNET_EnableAVX512F=0</c>) then fails the run instead of silently testing the wider path again.
/// </summary>
[TestClass]
public sealed class InstructionSetTests
{
    [TestMethod]
    public void TheRuntimeReportsTheExpectedInstructionSet()
    {
        string? expected = Environment.GetEnvironmentVariable("MODULA_EXPECT_ISA");
        if (string.IsNullOrEmpty(expected))
            Assert.Inconclusive("MODULA_EXPECT_ISA is not set; .ci/run sets it for each narrower-width rerun.");
        string reported = CpuDevice.InstructionSet;
        Assert.IsTrue(
            reported.StartsWith($"isa={expected} ", StringComparison.Ordinal),
            $"expected isa={expected} under this run's knobs; the runtime reports '{reported}'"
        );
    }
}
