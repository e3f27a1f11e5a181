namespace Modula.Tests.Cli;

/// <summary>Command lines for tests that run the <c>modula</c> command.</summary>
internal static class CommandArguments
{
    /// <summary>
    /// <paramref name="command"/> (two words, such as <c>train gpt</c>, then option and value pairs) with the options
    /// named in <paramref name="more"/> taking its values instead of their own, and the rest of <paramref
    /// name="more"/> added: the command line refuses an option given twice.
    /// </summary>
    public static string[] Overriding(string[] command, params string[] more) =>
        [
            .. command[..2],
            .. command[2..].Chunk(2).Where(pair => !more.Contains(pair[0])).SelectMany(pair => pair),
            .. more,
        ];
}
