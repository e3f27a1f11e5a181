using System.Globalization;
using System.Text;
using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Differential;

/// <summary>Where a program runs: a device and a float dtype for the engine, or float64 variables for
/// autodiff.</summary>
internal sealed class Env(Device device, DType dtype)
{
    public Device Device { get; } = device;

    public DType DType { get; } = dtype;

    /// <summary>Gradient inputs handed to operands in order of appearance (autodiff programs only).</summary>
    public Queue<Variable> Inputs { get; } = new();
}

/// <summary>Writes a program as C# statements, one variable per step.</summary>
internal sealed class CodeWriter(bool grad, DType dtype)
{
    private readonly StringBuilder _lines = new();
    private int _next;

    /// <summary>True when writing an autodiff program (F.* on variables) rather than Ops on tensors.</summary>
    public bool Grad { get; } = grad;

    /// <summary>C# element type of float tensors: float or double.</summary>
    public string Element { get; } = dtype == DType.Float64 || grad ? "double" : "float";

    /// <summary>Shape of the value the step being written receives (set by the program as it writes).</summary>
    public int[] Shape { get; set; } = [];

    /// <summary>Index of the next gradient input (v[k] inside the GradCheck lambda).</summary>
    public int NextInput { get; set; }

    /// <summary>Adds <c>var vN = expression;</c> and returns vN.</summary>
    public string Let(string expression)
    {
        string name = "v" + _next++;
        _lines.Append("    var ").Append(name).Append(" = ").Append(expression).AppendLine(";");
        return name;
    }

    /// <summary>Adds a statement as it is.</summary>
    public void Line(string statement) => _lines.Append("    ").AppendLine(statement);

    public override string ToString() => _lines.ToString();

    public static string Ints(IEnumerable<int> values) => string.Join(", ", values);

    public static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
