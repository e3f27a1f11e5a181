using Modula.Cli;
using Modula.Cli.Training;
using Modula.Modules;
using Modula.Modules.Linalg;
using Modula.Optim;

namespace Modula.Tests.Cli;

/// <summary>How <c>--orthogonalizer</c> reaches the optimizer it names.</summary>
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
}
