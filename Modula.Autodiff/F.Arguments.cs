using System.Runtime.CompilerServices;

namespace Modula.Autodiff;

public static partial class F
{
    /// <summary>
    /// <paramref name="argument"/> itself, or an <see cref="ArgumentNullException"/> naming the parameter and the
    /// function the caller called (a composite names itself, not the rule it calls first). Every public function
    /// takes its arguments through it before any work, so a null is not met as a NullReferenceException in a kernel
    /// or a backward rule.
    /// </summary>
    internal static T Given<T>(
        T? argument,
        [CallerArgumentExpression(nameof(argument))] string name = "",
        [CallerMemberName] string function = ""
    )
        where T : class => argument ?? throw new ArgumentNullException(name, $"F.{function}: {name} is null.");

    /// <summary><see cref="Given{T}"/> for a list and each of its variables.</summary>
    internal static IReadOnlyList<Variable> GivenEach(
        IReadOnlyList<Variable> list,
        [CallerArgumentExpression(nameof(list))] string name = "",
        [CallerMemberName] string function = ""
    )
    {
        Given(list, name, function);
        for (int i = 0; i < list.Count; i++)
            if (list[i] is null)
                throw new ArgumentNullException(name, $"F.{function}: {name}[{i}] is null.");
        return list;
    }
}
