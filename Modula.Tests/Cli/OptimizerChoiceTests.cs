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
}
