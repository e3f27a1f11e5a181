#:project ../Modula.Optim/Modula.Optim.csproj
#:project ../Modula.Data/Modula.Data.csproj
// Lesson 5: hello MNIST.
//
// The hello-world MLP, now on real data: Fashion-MNIST (28×28 grayscale clothing, 10 classes).
// Images are flattened to 784 numbers scaled to mean 0 and unit variance; the loss is
// cross-entropy; the optimizer is momentum whose direction is dualized in the modular norm
// (Modula v2), with the learning rate decaying linearly to zero.
//
// The data comes through Modula.Data, the library the `modula` command loads data with: it finds
// the files (or downloads them, SHA-256 checked), reads them strictly, and turns rows into tensors.
//
// Run: dotnet run -c Release examples/05-hello-mnist.cs [--full]
// Data: fashion-mnist/*.gz in $MODULA_DATA (CI sets it to ../shared/data), ./data or /usr/share/datasets;
// otherwise downloaded into ./data, SHA-256 checked.
// Fails (throws) if the test accuracy stays below 80% (short run) or 87% (--full).
using Modula.Autodiff;
using Modula.Data;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

bool full = args.Contains("--full");
int steps = full ? 3000 : 300,
    batch = 128;
double goal = full ? 0.87 : 0.80;

var train = ImageDataset.LoadFashionMnist(train: true, null, download: true, Console.Out);
var test = ImageDataset.LoadFashionMnist(train: false, null, download: true, Console.Out);
Console.WriteLine($"train {train.Count} images, test {test.Count}, {train.Height}×{train.Width}");

Module mlp = new Linear(256, 784) >> new Relu() >> new Linear(256, 256) >> new Relu() >> new Linear(10, 256);
using var trainer = new Trainer(
    mlp,
    mlp.Initialize(new Generator(0)),
    new Momentum(0.9),
    new TrainerOptions(LearningRate: 0.5, Schedule.Linear(steps), UpdateRule.Dualize)
);

double Accuracy(ImageDataset set, int count)
{
    int correct = 0;
    for (int start = 0; start < count; start += 1000)
    {
        int[] rows = Enumerable.Range(start, Math.Min(1000, count - start)).ToArray();
        using var scope = TensorScope.Begin();
        var (x, y) = set.Batch(rows);
        var logits = mlp.Forward(new Variable(x), trainer.Weights.ToVariables(requiresGrad: false));
        int[] predicted = Ops.ArgMax(logits.Value, -1).ToArray<int>();
        correct += predicted.Where((p, i) => p == set.Labels[rows[i]]).Count();
    }
    return (double)correct / count;
}

var sampler = new Generator(1); // seeded: the same batches on every run and every machine
var clock = System.Diagnostics.Stopwatch.StartNew();
for (int step = 0; step < steps; step++)
{
    var (x, y) = train.Batch(train.SampleRows(batch, sampler));
    using (x)
    using (y)
    {
        double loss = trainer.Step(p => F.CrossEntropy(mlp.Forward(new Variable(x), p), y));
        if (step % 50 == 0 || step == steps - 1)
            Console.WriteLine($"step {step, 4}  batch loss {loss:F3}");
    }
}
double accuracy = Accuracy(test, test.Count);
Console.WriteLine($"test accuracy {accuracy:P1} after {steps} steps ({clock.Elapsed.TotalSeconds:F0} s)");
if (accuracy < goal)
    throw new InvalidOperationException($"hello-mnist: test accuracy {accuracy:P1} is below {goal:P0}");
Console.WriteLine($"OK: above {goal:P0} on the 10000 test images.");
