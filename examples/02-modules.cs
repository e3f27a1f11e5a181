#:project ../Modula.Optim/Modula.Optim.csproj
// Lesson 2: modules, mass, sensitivity and the modular norm.
//
// A Modula module is a function with weights plus two numbers:
//   * mass — how much of a whole-network update this module should take ("how fast it learns");
//   * sensitivity — how much the module's output can move when its *input* moves by one unit.
// Atoms (Linear, Embedding, Conv2D) have weights and mass 1 by default; bonds (ReLU, Add, Mul,
// Flatten, …) have no weights and mass 0. The algebra combines them:
//   a >> b       composition (a runs first; Modula writes b @ a): masses add, sensitivities multiply;
//   a + b        a tuple followed by Add: masses add, sensitivities add;
//   s * m, m * s scale the output or the input by s.
// From masses and sensitivities follows the *modular norm* of a weight vector, and from it how a
// total update size (the learning rate) is divided among the atoms: AtomTargets.
//
// Run: dotnet run -c Release examples/02-modules.cs   (a few seconds; --full changes nothing here)
// Fails (throws) if any of the stated facts does not hold.
using Modula.Modules;
using Modula.Tensors;
using Modula.Tensors.Random;

void Check(bool ok, string what)
{
    Console.WriteLine($"  [{(ok ? "ok" : "FAILED")}] {what}");
    if (!ok)
        throw new InvalidOperationException("modules: " + what);
}

bool Close(double a, double b, double tol = 1e-9) => Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(b));

// 1. Mass and sensitivity of atoms and bonds.
Console.WriteLine("1. atoms and bonds");
var linear = new Linear(64, 32); // Linear(out, in), Modula's order
var relu = new Relu();
Console.WriteLine($"  Linear(64, 32): mass {linear.Mass}, sensitivity {linear.Sensitivity}");
Console.WriteLine($"  ReLU: mass {relu.Mass}, sensitivity {relu.Sensitivity:F4}");
Check(linear.Mass == 1 && relu.Mass == 0, "an atom has mass 1, a bond mass 0");

// 2. The algebra: composition multiplies sensitivities and adds masses; a sum adds both.
Console.WriteLine("2. the algebra");
Module block = new Linear(64, 64) >> new Relu();
Module twoBlocks = block >> block;
Module sum = new Linear(64, 64) + 0.5 * new Linear(64, 64);
Console.WriteLine($"  Linear>>ReLU: mass {block.Mass}, sensitivity {block.Sensitivity:F4}");
Console.WriteLine($"  (Linear>>ReLU)>>(Linear>>ReLU): mass {twoBlocks.Mass}, sensitivity {twoBlocks.Sensitivity:F4}");
Console.WriteLine($"  Linear + 0.5*Linear: mass {sum.Mass}, sensitivity {sum.Sensitivity:F4}");
Check(Close(twoBlocks.Mass, 2 * block.Mass), "composition adds masses");
Check(Close(twoBlocks.Sensitivity, block.Sensitivity * block.Sensitivity), "composition multiplies sensitivities");
Check(Close(sum.Sensitivity, 1.5), "a sum adds sensitivities (1 + 0.5)");
Module tared = twoBlocks.Tare(5);
Check(Close(tared.Mass, 5), "Tare(5) rescales the total mass to 5");

// 3. Summary(): the tree with masses, sensitivities and the per-atom targets. The summary
// prints Linear as in→out, while the constructor takes (out, in).
Console.WriteLine("3. Summary()");
Module mlp = new Linear(128, 784) >> new Relu() >> new Linear(128, 128) >> new Relu() >> new Linear(10, 128);
Console.WriteLine(mlp.Summary());

// 4. AtomTargets: when the whole update has size t, composition a >> b gives the input side
// t·m_a/(M·s_b) and the output side t·m_b/M. An atom early in the network is followed by more
// sensitivity-reducing bonds, so it takes a larger step to move the output as much.
Console.WriteLine("4. per-atom targets (top-level target 1)");
double[] targets = mlp.AtomTargets(1.0);
Console.WriteLine($"  {string.Join(", ", targets.Select(t => t.ToString("F4")))}");
double s = new Relu().Sensitivity;
Check(Close(targets[2], 1.0 / 3), "the last of three atoms gets t·1/3");
Check(Close(targets[1], 1.0 / 3 / s), "the middle atom gets t·1/3 divided by the ReLU's sensitivity");
Check(Close(targets[0], 1.0 / 3 / (s * s)), "the first atom gets t·1/3 divided by both ReLUs' sensitivities");

// 5. The modular norm of a dualized update equals its target: the learning rate *is* the
// size of the step, measured in the network's own norm.
Console.WriteLine("5. the modular norm of a dualized update");
using Weights gradient = mlp.Initialize(new Generator(7)); // any vector shaped like the weights
foreach (double target in new[] { 0.01, 0.1, 1.0 })
{
    using Weights update = mlp.Dualize(gradient, target);
    double norm = mlp.Norm(update);
    Console.WriteLine($"  target {target, 5}: modular norm of the dualized update {norm:F5}");
    // Newton–Schulz makes singular values close to, not exactly, 1: a few percent.
    Check(Math.Abs(norm - target) <= 0.05 * target, $"norm {norm:F5} is the target {target} within 5%");
}

// 6. Composition order matters: Linear >> ReLU and ReLU >> Linear hold the same atoms, but the
// ReLU's sensitivity divides the target of what runs *before* it, so the targets differ; and the
// widths must meet, so Linear(10, 784) >> Linear(784, 10) runs but the reverse order does not.
Console.WriteLine("6. composition order");
Module a = new Linear(64, 64) >> new Relu() >> new Linear(64, 64);
Module b = new Relu() >> new Linear(64, 64) >> new Linear(64, 64);
Console.WriteLine($"  Linear>>ReLU>>Linear targets {string.Join(", ", a.AtomTargets().Select(t => t.ToString("F4")))}");
Console.WriteLine($"  ReLU>>Linear>>Linear targets {string.Join(", ", b.AtomTargets().Select(t => t.ToString("F4")))}");
Check(!Close(a.AtomTargets()[0], b.AtomTargets()[0]), "moving the ReLU changes the first atom's target");
string? error = null;
try
{
    _ = new Linear(10, 784) >> new Linear(10, 10) >> new Linear(784, 10) >> new Linear(5, 10);
}
catch (ModuleException e)
{
    error = e.Message;
}
Console.WriteLine($"  widths that do not meet: {error ?? "(no error)"}");
Check(error != null, "composing modules whose widths cannot meet throws ModuleException");
Console.WriteLine("OK: mass, sensitivity, targets and the modular norm behave as stated.");
