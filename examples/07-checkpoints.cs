#:project ../Modula.Optim/Modula.Optim.csproj
// Lesson 7: checkpoints — save, interrupt, resume, and load for inference.
//
// A checkpoint is a safetensors file with everything a run needs to continue exactly: the
// weights, the optimizer's moments, the power-iteration vectors of Modula v1's normalization,
// the step counter and the architecture summary, all checksummed. Resuming is strict: a file
// for another architecture, optimizer or update rule is refused with a list of the problems.
//
// This lesson trains the same small network twice with normalized Adam (Modula v1):
//   A. straight through, N steps;
//   B. N/2 steps, Checkpoint.Save, throw the trainer away, build a fresh one (with different
//      initial weights, to show they are overwritten), Checkpoint.Restore, N/2 more steps.
// The two runs end with the same weights bit for bit. The data of each step depends only on the
// step number, as it would with a sampler whose position is saved in the checkpoint.
// Finally Checkpoint.LoadWeights reads the file for inference only (no optimizer state).
//
// Run: dotnet run -c Release examples/07-checkpoints.cs [--full]
// Fails (throws) if the resumed run differs from the uninterrupted one in a single bit.
using Modula.Autodiff;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

bool full = args.Contains("--full");
int steps = full ? 400 : 40;
string path = Path.Combine(Path.GetTempPath(), $"modula-lesson7-{Environment.ProcessId}.safetensors");

Module Model() => new Linear(64, 32) >> new Relu() >> new Linear(64, 64) >> new Relu() >> new Linear(8, 64);

Module model = Model();
Trainer NewTrainer(ulong seed) =>
    new(
        model,
        model.Initialize(new Generator(seed)),
        new ModulaAdam(0.9, 0.99),
        new TrainerOptions(LearningRate: 0.1, Schedule.Linear(steps), UpdateRule.Normalize, WeightDecay: 0.01),
        normalizeSeed: 3
    );

// Step i's batch comes from its own generator, so a resumed run sees the same data.
double TrainStep(Trainer trainer)
{
    var g = new Generator(1000 + (ulong)trainer.StepCount);
    using var x = Ops.Normal(new Shape(16, 32), g);
    using var y = Tensor.FromArray<int>(
        Enumerable.Range(0, 16).Select(i => (i * 5 + trainer.StepCount) % 8).ToArray(),
        new Shape(16)
    );
    return trainer.Step(p => F.CrossEntropy(model.Forward(new Variable(x), p), y));
}

float[][] Snapshot(Weights w) => w.Select(t => t.ToArray<float>()).ToArray();

// A: uninterrupted.
float[][] straight;
using (var a = NewTrainer(seed: 0))
{
    while (a.StepCount < steps)
        TrainStep(a);
    straight = Snapshot(a.Weights);
    Console.WriteLine($"A: {steps} steps straight through");
}

// B: interrupted halfway, saved, resumed in a fresh trainer.
using (var b = NewTrainer(seed: 0))
{
    while (b.StepCount < steps / 2)
        TrainStep(b);
    Checkpoint.Save(path, b);
    Console.WriteLine(
        $"B: saved at step {b.StepCount} to {Path.GetFileName(path)} ({new FileInfo(path).Length} bytes)"
    );
}
float[][] resumed;
using (var c = NewTrainer(seed: 99))
{
    Checkpoint.Restore(path, c);
    Console.WriteLine($"B: restored into a fresh trainer at step {c.StepCount}");
    while (c.StepCount < steps)
        TrainStep(c);
    resumed = Snapshot(c.Weights);
}

int differing = 0;
for (int i = 0; i < straight.Length; i++)
for (int j = 0; j < straight[i].Length; j++)
    if (BitConverter.SingleToInt32Bits(straight[i][j]) != BitConverter.SingleToInt32Bits(resumed[i][j]))
        differing++;
int total = straight.Sum(w => w.Length);
Console.WriteLine($"weights differing in any bit between A and B: {differing} of {total}");
if (differing != 0)
    throw new InvalidOperationException($"checkpoints: the resumed run differs in {differing} weights");

// A checkpoint for another architecture is refused, and the trainer is left as it was.
Module wider = new Linear(65, 32) >> new Relu() >> new Linear(64, 65) >> new Relu() >> new Linear(8, 64);
using (
    var other = new Trainer(
        wider,
        wider.Initialize(new Generator(0)),
        new ModulaAdam(0.9, 0.99),
        new TrainerOptions(0.1, Schedule.Linear(steps), UpdateRule.Normalize, WeightDecay: 0.01)
    )
)
{
    try
    {
        Checkpoint.Restore(path, other);
        throw new InvalidOperationException("checkpoints: a checkpoint of another architecture was accepted");
    }
    catch (InvalidDataException e)
    {
        Console.WriteLine("restoring into another architecture is refused:");
        foreach (string line in e.Message.Split('\n').Take(3))
            Console.WriteLine($"  {line}");
    }
}

// Inference: the weights alone. The caller builds the model (here, the same code as above).
var (loaded, weights, _) = Checkpoint.LoadWeights(path, _ => Model(), Device.Cpu);
using (weights)
{
    Console.WriteLine($"LoadWeights: {weights.Count} tensors for {loaded.AtomCount} atoms");
    File.Delete(path);
}
Console.WriteLine("OK: the resumed run matches the uninterrupted one bit for bit.");
