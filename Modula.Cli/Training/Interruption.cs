using System.Runtime.InteropServices;

namespace Modula.Cli.Training;

/// <summary>
/// Turns the first SIGINT or SIGTERM into a request the training loop honours after the current
/// step (so it can save and say how to resume); a second one ends the process at once, after
/// the callback has removed any half-written temporary file.
/// </summary>
public sealed class Interruption : IDisposable
{
    private readonly PosixSignalRegistration[] _registrations;
    private int _signal;

    /// <summary>Starts handling SIGINT and SIGTERM.</summary>
    public Interruption(Action? onSecond = null)
    {
        void Handle(PosixSignalContext context)
        {
            int number = context.Signal == PosixSignal.SIGTERM ? 15 : 2;
            if (Interlocked.CompareExchange(ref _signal, number, 0) == 0)
            {
                context.Cancel = true; // the loop finishes its step, saves and exits
                return;
            }
            onSecond?.Invoke(); // a second signal: the default action ends the process now
        }
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle),
        ];
    }

    /// <summary>
    /// Records <paramref name="signal"/> as if it had been received, unless one was (a rank of a
    /// data-parallel run stopping because another rank was signalled).
    /// </summary>
    public void Request(int signal) => Interlocked.CompareExchange(ref _signal, signal, 0);

    /// <summary>The signal received (2 for SIGINT, 15 for SIGTERM), or 0.</summary>
    public int Signal => Volatile.Read(ref _signal);

    /// <summary>The conventional exit code of a run stopped by <see cref="Signal"/>: 130 or 143.</summary>
    public int ExitCode => 128 + Signal;

    /// <summary>The signal's name.</summary>
    public string Name => Signal == 15 ? "SIGTERM" : "SIGINT";

    /// <summary>Restores the default signal handling.</summary>
    public void Dispose()
    {
        foreach (var r in _registrations)
            r.Dispose();
    }
}
