using Modula.Cli;
using Modula.Cli.Training;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;

namespace Modula.Tests.Cli;

/// <summary>How <c>--orthogonalizer</c> and the manifold rule's settings reach the optimizer and the run's
/// identity.</summary>
[TestClass]
public sealed class OptimizerChoiceTests
{
    private static readonly OptimizerChoice Defaults = new("momentum", UpdateRule.Dualize, 0.1, 0.95, 0.99, 0);

    private static OptimizerChoice Parse(params string[] args) =>
        OptimizerChoice.Parse(new Options(args, OptimizerChoice.OptionNames), Defaults);

    [TestMethod]
    [DataRow("six-step", Orthogonalizer.SixStep)]
    [DataRow("muon", Orthogonalizer.MuonQuintic)]
    [DataRow("polar-express", Orthogonalizer.PolarExpress)]
    public void TheDualizedRuleUsesTheChosenMsign(string name, Orthogonalizer expected)
    {
        var choice = Parse("--orthogonalizer", name);
        Assert.AreEqual(expected, choice.TrainerOptions(10).Orthogonalizer);
        Assert.AreEqual(name, OptimizerChoice.MethodName(expected));
    }

    [TestMethod]
    public void EachRuleKeepsItsOwnDefaultWhenNoneIsChosen()
    {
        Assert.AreEqual(Orthogonalizer.SixStep, Parse().TrainerOptions(10).Orthogonalizer);
        var muon = (Muon)Parse("--optimizer", "muon").Create(Mlp.V2(10, 8, 16, 3));
        Assert.AreEqual(Orthogonalizer.MuonQuintic, muon.Method);
    }

    [TestMethod]
    public void MuonUsesTheChosenMsign()
    {
        var choice = Parse("--optimizer", "muon", "--orthogonalizer", "polar-express");
        var muon = (Muon)choice.Create(Mlp.V2(10, 8, 16, 3));
        Assert.AreEqual(Orthogonalizer.PolarExpress, muon.Method);
        StringAssert.EndsWith(choice.ToString(), " orthogonalizer=polar-express");
    }

    [TestMethod]
    public void TheManifoldRulesDualAscentIsSetAndRecordedOnlyWhenAsked()
    {
        var choice = Parse("--rule", "manifold", "--manifold-steps", "25", "--manifold-tolerance", "0.01");
        Assert.AreEqual(new ManifoldMuonOptions(25, 0.01), choice.TrainerOptions(10).Manifold);
        var settings = new GptSettings("v1", new Modula.Modules.GptConfig(Blocks: 1), choice, 10, 2, 0);
        var identity = RunIdentity.Of(settings, "data");
        Assert.AreEqual("25", identity["manifold-steps"]);
        Assert.AreEqual("0.01", identity["manifold-tolerance"]);
        StringAssert.EndsWith(choice.ToString(), " manifold-steps=25 manifold-tolerance=0.01");

        var plain = Parse("--rule", "manifold");
        Assert.IsNull(plain.TrainerOptions(10).Manifold);
        Assert.IsFalse(RunIdentity.Of(settings with { Optimizer = plain }, "data").ContainsKey("manifold-steps"));
    }

    private static Dictionary<string, string> Identity(OptimizerChoice choice) =>
        RunIdentity.Of(new GptSettings("v1", new Modula.Modules.GptConfig(Blocks: 1), choice, 10, 2, 0), "data");

    [TestMethod]
    [DataRow("--orthogonalizer six-step", "")]
    [DataRow("--optimizer muon --orthogonalizer muon", "--optimizer muon")]
    [DataRow("--rule manifold --manifold-steps 10", "--rule manifold")]
    [DataRow("--rule manifold --manifold-tolerance 0.001", "--rule manifold")]
    [DataRow("--rule manifold --manifold-steps 10 --manifold-tolerance 1e-3", "--rule manifold")]
    public void AnExplicitDefaultIsTheRunWithoutIt(string given, string omitted)
    {
        var explicitly = Parse(given.Split(' '));
        var implicitly = Parse(omitted.Length == 0 ? [] : omitted.Split(' '));
        Assert.AreEqual(implicitly, explicitly);
        CollectionAssert.AreEquivalent(Identity(implicitly), Identity(explicitly));
    }

    [TestMethod]
    [DataRow("--optimizer muon --orthogonalizer six-step", "orthogonalizer", "six-step")]
    [DataRow("--orthogonalizer muon", "orthogonalizer", "muon")]
    [DataRow("--rule manifold --manifold-steps 11", "manifold-steps", "11")]
    [DataRow("--rule manifold --manifold-tolerance 0", "manifold-tolerance", "0")]
    public void AnotherValueIsRecorded(string given, string key, string value) =>
        Assert.AreEqual(value, Identity(Parse(given.Split(' '))).GetValueOrDefault(key));

    [TestMethod]
    [DataRow("momentum", "orthogonalizer", "six-step", null)]
    [DataRow("muon", "orthogonalizer", "muon", null)]
    [DataRow("muon", "orthogonalizer", "six-step", "--orthogonalizer muon (the run's is six-step)")]
    [DataRow("momentum", "manifold-steps", "10", null)]
    [DataRow("momentum", "manifold-tolerance", "0.001", null)]
    [DataRow("momentum", "manifold-tolerance", "1E-03", null)]
    [DataRow("momentum", "manifold-tolerance", "0.002", "--manifold-tolerance 0.001 (the run's is 0.002)")]
    public void ARecordedDefaultIsTheRunWithoutItAndAnotherValueIsADifference(
        string optimizer,
        string key,
        string value,
        string? difference
    )
    {
        // Checkpoints of earlier builds recorded explicit defaults; the run without them is the same run. Another
        // recorded value is missing from the identity only when a flag gave the default.
        var choice = Parse(optimizer == "muon" ? ["--optimizer", "muon"] : ["--rule", "manifold"]);
        var identity = Identity(choice);
        var metadata = RunIdentity.Metadata(identity, new Dictionary<string, string>());
        metadata["run." + key] = value;
        if (difference is null)
            RunIdentity.Check("run.safetensors", metadata, identity, 5, extend: false);
        else
            StringAssert.Contains(
                Assert
                    .ThrowsExactly<UsageException>(() =>
                        RunIdentity.Check("run.safetensors", metadata, identity, 5, extend: false)
                    )
                    .Message,
                difference
            );
    }
}
