using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The x86 CPU's vendor and family, from CPUID, for the tile choices measured to differ between vendors' cores
/// (<see cref="PackedGemm.WideVectorsSplit"/>). Both read as unknown (not AMD, family 0) on other architectures.
/// </summary>
internal static class CpuIdentity
{
    /// <summary>The vendor string of CPUID leaf 0 ("AuthenticAMD", "GenuineIntel", …); empty off x86.</summary>
    public static string Vendor { get; } = ReadVendor();

    /// <summary>True on an AMD x86 CPU (vendor string "AuthenticAMD").</summary>
    public static bool IsAmd { get; } = Vendor == "AuthenticAMD";

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

    private static string ReadVendor()
    {
        if (!X86Base.IsSupported)
            return "";
        // The string's twelve bytes lie in EBX, EDX, ECX, in that order, four little-endian characters each.
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        Span<byte> bytes = stackalloc byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, ebx);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[4..], edx);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[8..], ecx);
        return Encoding.ASCII.GetString(bytes);
    }
}
