#:project ../Modula.Optim/Modula.Optim.csproj
// Lesson 1: hello world.
//
// A multilayer perceptron (784 → 256 → 256 → 10) learns to map 128 random inputs onto 128 random
// targets. Nothing here generalizes; the point is to watch modular descent at work. Each step
// the gradient is *dualized* in the network's modular norm (Modula v2): every weight matrix's
// gradient G = U·S·Vᵀ is replaced by U·Vᵀ (computed with Newton–Schulz iterations) and scaled so
// that the whole update has modular norm equal to the learning rate. No learning-rate tuning per
// layer, no Adam statistics: the same learning rate would work for a wider or deeper network.
//
// Run: dotnet run -c Release examples/01-hello-world.cs [--full]
// Fails (throws) if the loss does not fall below 1e-4.
using Modula.Autodiff;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

bool full = args.Contains("--full");
int batch = 128,
    steps = full ? 2000 : 600;
const double Goal = 1e-4;

// Modula's constructor convention: Linear(out, in). Data flows left to right through >>.
Module mlp = new Linear(256, 784) >> new Relu() >> new Linear(256, 256) >> new Relu() >> new Linear(10, 256);
Console.WriteLine(mlp.Summary());

var generator = new Generator(seed: 0);
using var x = Ops.Normal(new Shape(batch, 784), generator);
using var y = Ops.Normal(new Shape(batch, 10), generator);

// Plain SGD supplies the direction (the gradient itself); the Dualize rule turns it into an
// update of modular norm lr·schedule. The schedule decays linearly to zero over the run.
using var trainer = new Trainer(
    mlp,
    mlp.Initialize(new Generator(1)),
    new Sgd(),
    new TrainerOptions(LearningRate: 0.1, Schedule.Linear(steps), UpdateRule.Dualize)
);

// Mean squared error, written with autodiff primitives.
Variable Mse(Variable[] p)
{
    Variable d = F.Sub(mlp.Forward(new Variable(x), p), new Variable(y));
    return F.Mean(F.Mul(d, d));
}

double loss = double.NaN;
int step;
var clock = System.Diagnostics.Stopwatch.StartNew();
for (step = 0; step < steps; step++)
{
    loss = trainer.Step(Mse);
    if (step % 50 == 0)
        Console.WriteLine($"step {step, 4}  loss {loss:0.000e+0}");
    if (loss < Goal)
        break;
}
Console.WriteLine($"stopped at step {step}: loss {loss:0.000e+0} ({clock.Elapsed.TotalSeconds:F1} s)");
if (!(loss < Goal))
    throw new InvalidOperationException(
        $"hello-world: loss {loss:0.000e+0} did not fall below {Goal:0e+0} in {steps} steps"
    );
Console.WriteLine($"OK: the network memorized {batch} random pairs (loss below {Goal:0e+0}).");
