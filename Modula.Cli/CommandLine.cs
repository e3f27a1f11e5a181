using Modula.Cli.Commands;

namespace Modula.Cli;

/// <summary>The <c>modula</c> command: dispatches to subcommands and turns bad usage into a message and exit code
/// 2.</summary>
public static class CommandLine
{
    private const string Usage = """
        modula — Modula.NET command line

        Usage:
          modula train gpt [--recipe v1|v2] [--steps N] [--checkpoint PATH] [--checkpoint-every N] [...]
          modula train gpt|mlp|resmlp|rescnn --resume PATH
          modula train mlp|resmlp|rescnn [--data DIR] [--steps N] [...]
          modula generate --checkpoint PATH [--length N] [--temperature T] [--seed N] [--prompt TEXT]
          modula summary gpt|mlp|resmlp|rescnn [--recipe v1|v2] [--width N] [--blocks N]
          modula certify --checkpoint PATH
          modula sweep resmlp|gpt [--optimizers LIST] [--widths LIST] [--depths LIST] [--jobs N] [...]
          modula bench gemm [--device cpu|cuda|opencl|ilgpu-cpu] [--threads N] [--repeat N] [--shapes SET]
          modula bench gpt-step [--optimizers LIST] [--steps N] [--threads N] [--profile] [...]
          modula help [COMMAND]          the usage of one command, with all its options
          modula --version

        Commands:
          train           Train a model: a character-level GPT on tinyshakespeare (Modula v1 or v2
                          recipe) or a Fashion-MNIST classifier; ends with a 'final …' line.
          generate        Sample text from a GPT checkpoint.
          summary         Print a model's module tree: atoms, bonds, mass, sensitivity and the
                          norm target of every atom.
          certify         A certified bound on a trained network's Lipschitz constant in its input,
                          per module and in total, from a checkpoint's weights.
          sweep           Learning-rate sweeps across width and depth for normed Adam, Adam, normed
                          SGD, SGD and dualized descent: CSV, SVG plots and the drift of the best
                          learning rate (resumable).
          bench gemm      Time matrix multiplication on the shapes a small GPT uses and at 1024³;
                          prints one machine-readable line per shape.
          bench gpt-step  Time training steps of the default GPT per optimizer; --profile adds
                          the time per primitive op.
          help            Print this, or one command's usage (same as COMMAND --help).

        Exit codes: 0 done, 2 bad usage, 3 unsupported device, 4 input data or a checkpoint missing
        or invalid, 5 a file not read or written (full disk, missing or read-only folder), 6 training
        diverged, 7 out of memory, 130/143 stopped by SIGINT/SIGTERM (after saving the checkpoint);
        under mpiexec, 1 for any other error of a rank (one line naming the rank; the job is stopped).
        """;

    /// <summary>The subcommands, as typed after <c>modula</c>.</summary>
    public static readonly string[] Commands = ["train", "generate", "summary", "certify", "sweep", "bench", "help"];

    /// <summary>The package's version with the commit it was built from (<c>0.1.0+abc123…</c>).</summary>
    public static string Version =>
        typeof(CommandLine)
            .Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>()
            .FirstOrDefault()
            ?.InformationalVersion
        ?? typeof(CommandLine).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    /// <summary>True when <c>--help</c> or <c>-h</c> appears anywhere, so <c>modula train gpt --help</c> shows the
    /// usage as <c>modula train --help</c> does.</summary>
    public static bool WantsHelp(string[] args) => args.Any(a => a is "--help" or "-h");

    /// <summary>Runs the command line; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        try
        {
            return Unwrapped(() => Dispatch(args, output, error));
        }
        catch (UsageException e)
        {
            error.WriteLine($"modula: {Printable(e.Message)} Run 'modula --help' for usage."); // no stack trace
            return 2;
        }
        catch (Exception e) when (e is Data.DataException or InvalidDataException or FileNotFoundException)
        {
            error.WriteLine($"modula: {Printable(e.Message)}");
            return 4;
        }
        catch (NotSupportedException e)
        {
            error.WriteLine($"modula: {Printable(e.Message)}");
            return 3;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"modula: {Printable(e.Message)}"); // a full disk, a folder removed or made read-only
            return 5;
        }
        catch (OutOfMemoryException)
        {
            error.WriteLine(
                "modula: out of memory; use smaller sizes (--batch, --width, --context, --blocks) or fewer "
                    + "--eval-batches."
            );
            return 7;
        }
    }

    /// <summary>
    /// <paramref name="message"/> with its control characters other than line breaks written as <c>\uXXXX</c>: a
    /// message can quote a path, a prompt or a forged checkpoint's entry, whose escape sequences would otherwise act
    /// on the terminal and whose NUL or carriage return would hide part of the line.
    /// </summary>
    public static string Printable(string message)
    {
        if (!message.Any(c => char.IsControl(c) && c != '\n'))
            return message;
        var text = new System.Text.StringBuilder(message.Length + 16);
        foreach (char c in message)
            if (char.IsControl(c) && c != '\n')
                text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            else
                text.Append(c);
        return text.ToString();
    }

    /// <summary>Runs one command; its errors are turned into messages and exit codes by <see cref="Run"/>.</summary>
    private static int Dispatch(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" || args is ["help"] or ["help", "help" or "--help" or "-h"])
        {
            output.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] is "--version" or "version")
        {
            if (args.Length > 1)
                throw new UsageException($"{args[0]} takes no arguments, got '{string.Join(' ', args[1..])}'.");
            output.WriteLine($"modula {Version}");
            return 0;
        }
        if (args[0] == "help")
        {
            if (args[^1] is "--help" or "-h")
                args = args[..^1]; // 'help train --help' asks the same as 'help train'
            // A command and its subject ('help bench gemm', 'help train gpt') ask what the command's own --help does.
            if (args.Length > 3 || (args.Length == 3 && args[1] is not ("bench" or "train" or "summary" or "sweep")))
                throw new UsageException(
                    "help takes a command and, for bench, train, summary or sweep, its subject, e.g. "
                        + "'modula help train gpt'."
                );
            if (!Commands.Contains(args[1]))
                throw new UsageException($"unknown command '{args[1]}'.{Suggestions.DidYouMean(args[1], Commands)}");
            return Run([.. args[1..], "--help"], output, error);
        }
        return args[0] switch
        {
            "bench" => BenchCommand.Run(args[1..], output),
            "summary" => SummaryCommand.Run(args[1..], output),
            "certify" => CertifyCommand.Run(args[1..], output),
            "train" => TrainCommand.Run(args[1..], output, error),
            "generate" => GenerateCommand.Run(args[1..], output),
            "sweep" => SweepCommand.Run(args[1..], output),
            _ => throw new UsageException($"unknown command '{args[0]}'.{Suggestions.DidYouMean(args[0], Commands)}"),
        };
    }

    /// <summary>
    /// Runs <paramref name="run"/>, rethrowing the first error inside an <see cref="AggregateException"/> (failed
    /// tasks, such as a sweep's cells on a full disk) so it gets its own message and exit code.
    /// </summary>
    private static int Unwrapped(Func<int> run)
    {
        try
        {
            return run();
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions is [var first, ..])
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
            throw; // not reached
        }
    }
}

/// <summary>Bad command-line usage: reported as a message and exit code 2, never as a stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);
