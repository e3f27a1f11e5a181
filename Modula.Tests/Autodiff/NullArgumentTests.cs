using System.Reflection;
using Modula.Autodiff;
using Modula.Tensors;

namespace Modula.Tests.Autodiff;

/// <summary>
/// Every public function of <see cref="F"/>, and <see cref="Variable.FromOp"/>, given null for an argument that may
/// not be null, throws <see cref="ArgumentNullException"/> naming that parameter and the function the caller called,
/// before anything is computed. Found by reflection, so a function added later is checked too.
/// </summary>
[TestClass]
public sealed class NullArgumentTests
{
    private static readonly NullabilityInfoContext Nullability = new();

    public static IEnumerable<object[]> Functions =>
        typeof(F)
            .GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.GetParameters().Any(MayNotBeNull))
            .Select(m => new object[] { m.Name, ParameterTypes(m) })
            .Append([nameof(Variable.FromOp), "Variable"]);

    [TestMethod]
    [DynamicData(nameof(Functions))]
    public void ANullArgumentIsNamedBeforeAnyWork(string name, string parameterTypes)
    {
        var method = Overload(name, parameterTypes);
        string op = method.DeclaringType == typeof(F) ? $"F.{name}" : $"Variable.{name}";
        var parameters = method.GetParameters();
        int checkedCount = 0;
        for (int p = 0; p < parameters.Length; p++)
        {
            if (!MayNotBeNull(parameters[p]))
                continue;
            checkedCount++;
            using var scope = TensorScope.Begin();
            var args = parameters.Select(Valid).ToArray();
            args[p] = null;
            var thrown = Assert.ThrowsExactly<TargetInvocationException>(() => method.Invoke(null, args));
            var error = thrown.InnerException as ArgumentNullException;
            Assert.IsNotNull(
                error,
                $"{op} with {parameters[p].Name} = null threw {thrown.InnerException?.GetType().Name}: "
                    + thrown.InnerException?.Message
            );
            Assert.AreEqual(parameters[p].Name, error.ParamName, error.Message);
            StringAssert.Contains(error.Message, op + ":");
        }
        Assert.IsGreaterThan(0, checkedCount, $"{op} has no argument that may not be null");
    }

    [TestMethod]
    public void ANullVariableInAListIsNamed()
    {
        using var scope = TensorScope.Begin();
        var x = Leaf();
        var concat = Assert.ThrowsExactly<ArgumentNullException>(() => F.Concat([x, null!], 0));
        StringAssert.Contains(concat.Message, "F.Concat: xs[1] is null");
        var fromOp = Assert.ThrowsExactly<ArgumentNullException>(() =>
            Variable.FromOp(Ops.Ones(new Shape(2)), [x, null!], _ => { })
        );
        StringAssert.Contains(fromOp.Message, "Variable.FromOp: inputs[1] is null");
    }

    private static bool MayNotBeNull(ParameterInfo p) =>
        !p.ParameterType.IsValueType && Nullability.Create(p).WriteState == NullabilityState.NotNull;

    private static string ParameterTypes(MethodInfo m) =>
        string.Join(",", m.GetParameters().Select(p => p.ParameterType.Name));

    private static MethodInfo Overload(string name, string parameterTypes) =>
        (name == nameof(Variable.FromOp) ? typeof(Variable) : typeof(F))
            .GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Single(m => m.Name == name && (name == nameof(Variable.FromOp) || ParameterTypes(m) == parameterTypes));

    private static Variable Leaf() => new(Ops.Ones(new Shape(2, 2)), requiresGrad: true);

    // A value the parameter accepts; the null checks come first, so it need only be of the right type.
    private static object? Valid(ParameterInfo p)
    {
        var type = p.ParameterType;
        if (type == typeof(Variable))
            return Leaf();
        if (type == typeof(Tensor))
            return Ops.Zeros(new Shape(2), DType.Int32);
        if (type == typeof(IReadOnlyList<Variable>) || type == typeof(Variable[]))
            return new[] { Leaf() };
        if (type == typeof(int[]))
            return new[] { 0 };
        if (type == typeof(Shape))
            return new Shape(2, 2);
        if (type == typeof(Action<Upstream>))
            return (Action<Upstream>)(_ => { });
        if (p.HasDefaultValue)
            return p.DefaultValue;
        if (type == typeof(int))
            return 1;
        if (type == typeof(double))
            return 1.0;
        if (type.IsValueType)
            return Activator.CreateInstance(type);
        return null;
    }
}
