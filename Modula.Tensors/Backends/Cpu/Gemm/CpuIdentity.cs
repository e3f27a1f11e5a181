using System.Runtime.Intrinsics.X86;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The x86 CPU's vendor and family, from CPUID, for the few tile choices measured to differ between vendors'
/// cores (<see cref="PackedGemm.WideVectorsSplit"/>, <see cref="Kernel128Spread.IsChosen"/>). Both read as unknown
/// (not AMD, family 0) on other architectures.
/// </summary>
internal static class CpuIdentity
{
    /// <summary>True on an AMD x86 CPU (vendor string "AuthenticAMD").</summary>
    public static bool IsAmd { get; } = ReadIsAmd();

    /// <summary>The CPU's family as AMD and Intel number it (0x19 for Zen 3 and Zen 4, 0x1A for Zen 5, 6 for most
    /// Intel cores); 0 off x86.</summary>
    public static int Family { get; } = X86Base.IsSupported ? FamilyOf(X86Base.CpuId(1, 0).Eax) : 0;

    /// <summary>The family in a CPUID leaf 1 signature: the base family, plus the extended one when the base is
    /// 0xF.</summary>
    internal static int FamilyOf(int signature)
    {
        int family = (signature >> 8) & 0xF;
        return family == 0xF ? family + ((signature >> 20) & 0xFF) : family;
    }

    private static bool ReadIsAmd()
    {
        if (!X86Base.IsSupported)
            return false;
        // The vendor string's twelve bytes lie in EBX, EDX, ECX, in that order.
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        return ebx == 0x68747541 && edx == 0x69746E65 && ecx == 0x444D4163; // "Auth", "enti", "cAMD"
    }
}
