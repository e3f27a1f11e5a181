using System.Globalization;
using System.Text;
using Modula.Modules.Algebra;

namespace Modula.Modules;

/// <summary>Prints a module tree: chains of compositions flattened in data-flow order, each atom with its mass and
/// target.</summary>
internal static class ModuleSummary
{
    public static string Format(Module root)
    {
        var text = new StringBuilder();
        text.AppendLine(root.ToString());
        var targets = root.AtomTargets(1);
        int atom = 0;
        var top = root is Named named ? named.Inner : root;
        foreach (var part in top is Composition ? Chain(top) : [top])
            Write(part, 1, text, targets, ref atom);
        text.AppendLine(
            $"Atom targets at top-level target 1 (in weight order): {string.Join(", ", targets.Select(Number))}"
        );
        return text.ToString();
    }

    private static void Write(Module m, int depth, StringBuilder text, double[] targets, ref int atom)
    {
        string indent = new(' ', 2 * depth);
        switch (m)
        {
            case Atom a:
                text.AppendLine(
                    $"{indent}{a.Label}  mass {Number(a.Mass)}  target {Number(targets[atom])}  weight {a.WeightShape}"
                );
                atom++;
                return;
            case Composition:
                text.AppendLine($"{indent}{Describe(m)}");
                foreach (var step in Chain(m))
                    Write(step, depth + 1, text, targets, ref atom);
                return;
            case Named n when n.Inner is Atom:
                Write(n.Inner, depth, text, targets, ref atom);
                return;
            default:
                text.AppendLine(
                    m.AtomCount == 0 && m.Children.Count == 0
                        ? $"{indent}{m.Label}  sensitivity {Number(m.Sensitivity)}"
                        : $"{indent}{Describe(m)}"
                );
                var children = m is Named named && named.Inner is Composition ? Chain(named.Inner) : m.Children;
                foreach (var child in children)
                    Write(child, depth + 1, text, targets, ref atom);
                return;
        }
    }

    /// <summary>The steps of a composition chain in the order they run.</summary>
    private static IEnumerable<Module> Chain(Module m) =>
        m is Composition c ? Chain(c.First).Concat(Chain(c.Then)) : [m];

    private static string Describe(Module m) =>
        $"{m.Label}  atoms {m.AtomCount}  bonds {m.BondCount}  mass {Number(m.Mass)}  sensitivity "
        + $"{Number(m.Sensitivity)}";

    private static string Number(double x) => x.ToString("0.####", CultureInfo.InvariantCulture);
}
