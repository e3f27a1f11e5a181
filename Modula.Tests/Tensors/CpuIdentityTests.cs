using System.Runtime.Intrinsics.X86;
using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tests.Tensors;

/// <summary>
/// The CPU's vendor and family as the tile choices read them (<see cref="CpuIdentity"/>): the family decoded from
/// known CPUID signatures, and both compared with what Linux reports for this machine's CPU.
/// </summary>
[TestClass]
public sealed class CpuIdentityTests
{
    [TestMethod]
    [DataRow(0x00A10F11, 0x19, "AMD EPYC Zen 4, family 25, model 17")]
    [DataRow(0x00B00F21, 0x1A, "AMD EPYC Zen 5, family 26, model 2")]
    [DataRow(0x00A20F12, 0x19, "AMD Zen 3, family 25, model 33")]
    [DataRow(0x000C06F8, 6, "Intel Xeon, family 6, model 207")]
    [DataRow(0x000906EA, 6, "Intel Core, family 6, model 158")]
    [DataRow(0x00100F42, 0x10, "AMD K10, family 16: an x86 CPU without AVX")]
    [DataRow(0x00000F29, 0xF, "Intel Pentium 4, family 15: base family F, no extended family")]
    [DataRow(0x0FF006F0, 6, "made up: extended family bits set beside a base family of 6, so not added")]
    public void TheFamilyAddsTheExtendedFamilyOnlyPastTheBaseFamilyF(int signature, int family, string cpu) =>
        Assert.AreEqual(family, CpuIdentity.FamilyOf(signature), cpu);

    [TestMethod]
    public void VendorAndFamilyMatchWhatLinuxReports()
    {
        const string CpuInfo = "/proc/cpuinfo";
        if (!X86Base.IsSupported || !File.Exists(CpuInfo))
            Assert.Inconclusive("Not an x86 Linux machine: no /proc/cpuinfo to compare with.");
        var fields = File.ReadLines(CpuInfo)
            .TakeWhile(line => line.Trim().Length > 0) // the first processor's block
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2)
            .GroupBy(parts => parts[0].Trim())
            .ToDictionary(group => group.Key, group => group.First()[1].Trim());
        if (!fields.TryGetValue("vendor_id", out var vendor) || !fields.TryGetValue("cpu family", out var family))
        {
            Assert.Inconclusive($"{CpuInfo} names no x86 vendor or family (an x86 process emulated elsewhere?).");
            return;
        }
        Assert.AreEqual(vendor, CpuIdentity.Vendor, "vendor_id");
        Assert.AreEqual(vendor == "AuthenticAMD", CpuIdentity.IsAmd, "AMD");
        Assert.AreEqual(int.Parse(family), CpuIdentity.Family, "cpu family");
    }
}
