using System.Runtime.InteropServices;
using System.Text;

namespace Modula.Distributed;

/// <summary>
/// The dozen MPI C functions data-parallel training needs, bound at run time from the native
/// library (nothing is loaded until an <see cref="MpiCommunicator"/> is created). The handle
/// values below are those of the MPICH ABI, read from MPICH 4's <c>mpi.h</c>: MPICH and its
/// derivatives (Intel MPI, MVAPICH, Cray MPICH) and Microsoft MPI share them. Open MPI uses
/// pointers for handles and is not supported by this binding.
/// </summary>
internal sealed unsafe class MpiLibrary
{
    // ---- MPICH ABI handle values (mpi.h) ----
    public const int CommWorld = 0x44000000; // MPI_COMM_WORLD
    public const int Float = 0x4c00040a; // MPI_FLOAT
    public const int Byte = 0x4c00010d; // MPI_BYTE
    public const int Sum = 0x58000003; // MPI_SUM
    public const int Success = 0; // MPI_SUCCESS
    public const int ThreadSerialized = 2; // MPI_THREAD_SERIALIZED
    public static readonly nint InPlace = -1; // MPI_IN_PLACE, (void*)-1
    private const int MaxErrorString = 512; // MPI_MAX_ERROR_STRING
    private const int MaxVersionString = 8192; // MPI_MAX_LIBRARY_VERSION_STRING

    /// <summary>The file names tried in order, unless <c>MODULA_MPI_LIBRARY</c> names one.</summary>
    public static IReadOnlyList<string> CandidateNames =>
        OperatingSystem.IsWindows()
            ? ["msmpi.dll"]
            : ["libmpich.so.12", "libmpi.so.12", "libmpich.so", "libmpi.so", "libmpich.dylib", "libmpi.dylib"];

    public readonly delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int*, int> Finalized;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<int, int*, int> CommRank;
    public readonly delegate* unmanaged<int, int*, int> CommSize;
    public readonly delegate* unmanaged<void*, void*, int, int, int, int, int> Allreduce;
    public readonly delegate* unmanaged<void*, int, int, int, int, int> Bcast;
    public readonly delegate* unmanaged<void*, int, int, void*, int*, int*, int, int, int> Allgatherv;
    public readonly delegate* unmanaged<int, int> BarrierCall;
    public readonly delegate* unmanaged<int, int, int> AbortCall;
    private readonly delegate* unmanaged<int, byte*, int*, int> _errorString;
    private readonly delegate* unmanaged<byte*, int*, int> _libraryVersion;

    private MpiLibrary(nint handle, string name)
    {
        Name = name;
        nint Get(string symbol) =>
            NativeLibrary.TryGetExport(handle, symbol, out var address)
                ? address
                : throw new DllNotFoundException(
                    $"MPI: {name} has no function {symbol}; it is not an MPI library of the MPICH ABI."
                );
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Get("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)Get("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Get("MPI_Finalized");
        Finalize = (delegate* unmanaged<int>)Get("MPI_Finalize");
        CommRank = (delegate* unmanaged<int, int*, int>)Get("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<int, int*, int>)Get("MPI_Comm_size");
        Allreduce = (delegate* unmanaged<void*, void*, int, int, int, int, int>)Get("MPI_Allreduce");
        Bcast = (delegate* unmanaged<void*, int, int, int, int, int>)Get("MPI_Bcast");
        Allgatherv = (delegate* unmanaged<void*, int, int, void*, int*, int*, int, int, int>)Get("MPI_Allgatherv");
        BarrierCall = (delegate* unmanaged<int, int>)Get("MPI_Barrier");
        AbortCall = (delegate* unmanaged<int, int, int>)Get("MPI_Abort");
        _errorString = (delegate* unmanaged<int, byte*, int*, int>)Get("MPI_Error_string");
        _libraryVersion = (delegate* unmanaged<byte*, int*, int>)Get("MPI_Get_library_version");
    }

    /// <summary>The file the functions came from.</summary>
    public string Name { get; }

    /// <summary>
    /// Loads the library named by <c>MODULA_MPI_LIBRARY</c>, or else the first of
    /// <see cref="CandidateNames"/> that loads; throws <see cref="DllNotFoundException"/> naming every name tried.
    /// </summary>
    public static MpiLibrary Load()
    {
        string? chosen = Environment.GetEnvironmentVariable("MODULA_MPI_LIBRARY");
        var names = string.IsNullOrEmpty(chosen) ? CandidateNames : [chosen];
        foreach (var name in names)
            if (NativeLibrary.TryLoad(name, out var handle))
                return new MpiLibrary(handle, name);
        throw new DllNotFoundException(
            $"MPI: no MPI library could be loaded (tried {string.Join(", ", names)}). "
                + "Install MPICH (Debian/Ubuntu: apt-get install mpich) or Microsoft MPI on Windows, "
                + "or name the library in MODULA_MPI_LIBRARY."
        );
    }

    /// <summary>The library's version text (MPI_Get_library_version), first line.</summary>
    public string Version()
    {
        var text = new byte[MaxVersionString];
        int length = 0;
        fixed (byte* p = text)
            if (_libraryVersion(p, &length) != Success)
                return Name;
        return Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, text.Length)).Split('\n')[0].Trim();
    }

    /// <summary>
    /// Throws <see cref="InvalidOperationException"/> naming <paramref name="call"/> and MPI's
    /// message unless <paramref name="code"/> is MPI_SUCCESS.
    /// </summary>
    public void Check(int code, string call)
    {
        if (code == Success)
            return;
        var text = new byte[MaxErrorString];
        int length = 0;
        string message;
        fixed (byte* p = text)
            message =
                _errorString(code, p, &length) == Success
                    ? $" ({Encoding.ASCII.GetString(text, 0, Math.Clamp(length, 0, text.Length))})"
                    : "";
        throw new InvalidOperationException($"MPI: {call} failed with error {code}{message}.");
    }
}
