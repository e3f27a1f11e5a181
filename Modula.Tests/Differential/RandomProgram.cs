using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Differential;

/// <summary>A random program: an input seen through views, then steps (views and ops) applied in order.</summary>
internal sealed record RandomProgram(int Seed, Operand Input, IReadOnlyList<Step> Steps)
{
    /// <summary>The float64 reference result; <paramref name="magnitude"/> is the largest finite |value| met on the
    /// way.</summary>
    public RefTensor Reference(out double magnitude)
    {
        var x = Input.Reference();
        magnitude = Largest(x);
        foreach (var s in Steps)
        {
            x = s.Reference(x);
            magnitude = Math.Max(magnitude, Largest(x));
        }
        return x;
    }

    private static double Largest(RefTensor x) =>
        x.Data.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();

    /// <summary>The engine's result; every intermediate view is checked to stay inside its storage.</summary>
    public Tensor Engine(Env env)
    {
        var x = Input.Engine(env);
        foreach (var s in Steps)
            x = Operand.Checked(s.Engine(x, env));
        return x;
    }

    /// <summary>Every operand that is a gradient input, in the order the program uses them.</summary>
    public IEnumerable<Operand> GradOperands() =>
        new[] { Input }.Concat(Steps.SelectMany(s => s.Operands)).Where(o => !o.Constant);

    /// <summary>The program as a function of its gradient inputs (for <see cref="GradCheck"/>).</summary>
    public Variable Grad(Variable[] inputs)
    {
        var env = new Env(Device.Cpu, DType.Float64);
        foreach (var v in inputs)
            env.Inputs.Enqueue(v);
        var x = Input.Grad(env);
        foreach (var s in Steps)
            x = s.Grad(x, env);
        return x;
    }

    /// <summary>Smaller programs for shrinking: a step removed, an operand view removed.</summary>
    public IEnumerable<RandomProgram> Simpler()
    {
        for (int i = Steps.Count - 1; i >= 0; i--)
            yield return this with
            {
                Steps = Steps.Where((_, j) => j != i).ToList(),
            };
        foreach (var input in Input.Simpler())
            yield return this with
            {
                Input = input,
            };
        for (int i = 0; i < Steps.Count; i++)
            foreach (var s in Steps[i].Simpler())
                yield return this with
                {
                    Steps = Steps.Select((t, j) => j == i ? s : t).ToList(),
                };
    }

    /// <summary>Copy-pastable C#: engine statements, or a GradCheck call over the program's gradient inputs.</summary>
    public string Code(bool grad, DType dtype, string deviceName, Tensor[]? gradInputs = null)
    {
        var w = new CodeWriter(grad, dtype);
        var shape = Input.Reference();
        string x = Input.Code(w);
        foreach (var s in Steps)
        {
            w.Shape = shape.Shape;
            x = w.Let(s.Code(x, w));
            shape = s.Reference(shape);
        }
        string device = deviceName switch
        {
            TestDevices.Cpu => "Device.Cpu",
            TestDevices.Simulator => "Modula.Tensors.Backends.Ilgpu.IlgpuDevice.OpenCpuSimulator()",
            _ => "Device.Open(\"cuda\")",
        };
        if (!grad)
            return $"// seed {Seed}, {dtype} on {deviceName}\nusing var scope = TensorScope.Begin();\nvar device = "
                + $"{device};\n{Unindent(w)}// result: {x}\n";
        var inputs = string.Join(
            ",\n    ",
            gradInputs!.Select(t =>
                $"Tensor.FromArray<double>([{string.Join(", ", t.ToArray<double>().Select(CodeWriter.Num))}], new "
                + $"Shape({CodeWriter.Ints(t.Shape.Dims.ToArray())}))"
            )
        );
        return $"// seed {Seed}, autodiff in float64 on cpu\nvar device = Device.Cpu;\nTensor[] inputs =\n[\n    "
            + $"{inputs},\n];\n"
            + $"var result = GradCheck.Check(v =>\n{{\n{w}    return {x};\n}}, inputs);\n";
    }

    private static string Unindent(CodeWriter w) =>
        string.Join("\n", w.ToString().Split('\n').Select(l => l.StartsWith("    ") ? l[4..] : l));

    public override string ToString() =>
        $"program {Seed}: {Input.BaseShape.Length}-d input, {Input.Views.Count} views, {Steps.Count} steps";
}
