#:project ../Modula.Optim/Modula.Optim.csproj
#:project ../Modula.Data/Modula.Data.csproj
// Lesson 6: hello GPT.
//
// A character-level transformer learns Shakespeare with Modula v2's recipe:
//   * the model is Gpt.V2 — a token embedding (positions enter through rotary embeddings inside
//     attention), blocks of attention and a GELU MLP joined by residual convex combinations with
//     weight 1/(2·blocks), no LayerNorm, and an output Linear. Its mass and sensitivity come from
//     the algebra, like any module's;
//   * the optimizer is momentum 0.95 whose direction is *dualized* in the modular norm
//     (Newton–Schulz on every matrix), learning rate 0.1 decaying linearly to zero, no weight
//     decay — the `modula train gpt --recipe v2` run, written out by hand.
// The loss is the mean next-token cross-entropy; ln 65 ≈ 4.17 is the loss of a uniform guess over
// the 65 characters. After training, the model writes text one character at a time: the logits
// of the last position, divided by a temperature, give the probabilities of the next character.
//
// Run: dotnet run -c Release examples/06-hello-gpt.cs [--full]   (about 30 s; --full: 2000 steps)
// Data: tinyshakespeare.txt in $MODULA_DATA (CI sets it to ../shared/data) or ./data; otherwise downloaded
// into ./data, SHA-256 checked.
// Fails (throws) if the held-out loss stays above 2.2 (short run) or 1.95 (--full).
using Modula.Autodiff;
using Modula.Data;
using Modula.Modules;
using Modula.Optim;
using Modula.Tensors;
using Modula.Tensors.Random;

bool full = args.Contains("--full");
int steps = full ? 2000 : 400,
    batch = 12;
double goal = full ? 1.95 : 2.2;

var corpus = TextCorpus.Load(DataFiles.Locate(DataFiles.Shakespeare, null, download: true, Console.Out));
Console.WriteLine(
    $"tinyshakespeare: {corpus.Train.Length:N0} training and {corpus.Test.Length:N0} held-out characters, "
        + $"vocabulary of {corpus.Vocabulary.Length}"
);

// Karpathy's small configuration, as in Modula's examples: width 128, 4 heads, 4 blocks, context 64.
var config = new GptConfig(Vocab: corpus.Vocabulary.Length, Context: 64);
Module gpt = Gpt.V2(config);
Console.WriteLine($"{gpt.Label}: mass {gpt.Mass}, sensitivity {gpt.Sensitivity:G4}, {gpt.Atoms().Count} atoms");

using var trainer = new Trainer(
    gpt,
    gpt.Initialize(new Generator(0)),
    new Momentum(0.95),
    new TrainerOptions(LearningRate: 0.1, Schedule.Linear(steps), UpdateRule.Dualize)
);

Variable Loss(Tensor x, Tensor y, IReadOnlyList<Variable> weights) =>
    F.CrossEntropy(gpt.Forward(new Variable(x), weights), y);

// The mean loss over the same 20 held-out batches every time it is asked.
double HeldOutLoss()
{
    var sampler = new Generator(100);
    double total = 0;
    using var _ = new NoGrad();
    for (int b = 0; b < 20; b++)
    {
        using var scope = TensorScope.Begin();
        var (x, y) = TokenBatches.Sample(corpus.Test, batch, config.Context, sampler);
        total += Loss(x, y, trainer.Parameters).Value.Item();
    }
    return total / 20;
}

// Characters one at a time: each step feeds the last context-length characters.
string Generate(int length, double temperature, int seed)
{
    var random = new Random(seed);
    var tokens = new List<int>(corpus.Encode("\n"));
    using var _ = new NoGrad();
    for (int n = 0; n < length; n++)
    {
        using var scope = TensorScope.Begin();
        int[] window = tokens.Skip(Math.Max(0, tokens.Count - config.Context)).ToArray();
        var logits = gpt.Forward(
            new Variable(Tensor.FromArray<int>(window, new Shape(1, window.Length))),
            trainer.Parameters
        );
        float[] last = logits.Value.ToArray<float>()[^corpus.Vocabulary.Length..];
        double max = last.Max();
        double[] p = last.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        double u = random.NextDouble() * p.Sum();
        int next = 0;
        while (next < p.Length - 1 && (u -= p[next]) > 0)
            next++;
        tokens.Add(next);
    }
    return corpus.Decode(tokens.Skip(1));
}

double before = HeldOutLoss();
Console.WriteLine($"before training: held-out loss {before:F3} (uniform guess: {Math.Log(65):F3})");
Console.WriteLine("an untrained model writes:\n" + Generate(120, 0.8, 1) + "\n");

var batches = new Generator(2); // seeded: the same batches on every run and every machine
var clock = System.Diagnostics.Stopwatch.StartNew();
for (int step = 1; step <= steps; step++)
{
    double loss = trainer.Step(weights =>
    {
        var (x, y) = TokenBatches.Sample(corpus.Train, batch, config.Context, batches);
        return Loss(x, y, weights);
    });
    if (step % 100 == 0)
        Console.WriteLine(
            $"step {step, 4}  batch loss {loss:F3}  ({clock.Elapsed.TotalMilliseconds / step:F0} ms/step)"
        );
}

double after = HeldOutLoss();
Console.WriteLine($"after {steps} steps: held-out loss {after:F3}\n");
Console.WriteLine("the trained model writes (temperature 0.8):\n" + Generate(300, 0.8, 1) + "\n");
if (!(after <= goal))
    throw new InvalidOperationException($"hello-gpt: held-out loss {after:F3} is above {goal}");
Console.WriteLine($"OK: held-out loss {before:F2} → {after:F2}, below {goal}.");
