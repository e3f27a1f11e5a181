using System.Globalization;

namespace Modula.Cli.Sweep;

/// <summary>
/// One training run of a sweep: a model family at one width and depth, trained by one optimizer
/// at learning rate 2^<see cref="LrExponent"/> for <see cref="Steps"/> steps with one seed.
/// </summary>
/// <param name="Family">resmlp (Fashion-MNIST) or gpt (Shakespeare).</param>
/// <param name="Optimizer">A <see cref="SweepOptimizer"/> name.</param>
/// <param name="Width">Hidden width (d_embed for the GPT).</param>
/// <param name="Depth">Number of residual blocks.</param>
/// <param name="LrExponent">The learning rate is 2 to this power.</param>
/// <param name="Seed">Seeds the weights and the batch sampler.</param>
/// <param name="Steps">Training steps (linear decay to 0).</param>
/// <param name="Batch">Examples per step.</param>
public sealed record SweepCell(
    string Family,
    string Optimizer,
    int Width,
    int Depth,
    int LrExponent,
    int Seed,
    int Steps,
    int Batch
)
{
    /// <summary>2^<see cref="LrExponent"/>.</summary>
    public double LearningRate => Math.Pow(2, LrExponent);

    /// <summary>The model's size along <paramref name="axis"/>: width or depth.</summary>
    public int Scale(SweepAxis axis) => axis == SweepAxis.Width ? Width : Depth;

    /// <summary>The columns of a cell in the CSV, in order.</summary>
    public const string CsvHeader = "family,optimizer,width,depth,lr_exp,lr,seed,steps,batch";

    /// <summary>The cell as CSV fields (the <see cref="CsvHeader"/> columns).</summary>
    public string ToCsv() =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"{Family},{Optimizer},{Width},{Depth},{LrExponent},{LearningRate:R},{Seed},{Steps},{Batch}"
        );

    /// <summary>Parses the <see cref="CsvHeader"/> columns from <paramref name="fields"/>.</summary>
    public static SweepCell FromCsv(string[] fields) =>
        new(
            fields[0],
            fields[1],
            Int(fields[2]),
            Int(fields[3]),
            Int(fields[4]),
            Int(fields[6]),
            Int(fields[7]),
            Int(fields[8])
        );

    private static int Int(string s) => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture);
}

/// <summary>The direction a sweep scales a model in.</summary>
public enum SweepAxis
{
    /// <summary>Wider at a fixed depth.</summary>
    Width,

    /// <summary>Deeper (more residual blocks) at a fixed width.</summary>
    Depth,
}

/// <summary>The outcome of a <see cref="SweepCell"/>.</summary>
/// <param name="Cell">The run.</param>
/// <param name="Score">Mean training loss over the last logged steps (NaN when a loss was not finite).</param>
/// <param name="Diverged">True when a loss was not finite or the final score is above the first step's loss.</param>
/// <param name="FirstLoss">The first step's loss.</param>
/// <param name="Seconds">Wall time of the run.</param>
public sealed record SweepResult(SweepCell Cell, double Score, bool Diverged, double FirstLoss, double Seconds)
{
    /// <summary>The CSV header of a result row.</summary>
    public const string CsvHeader = SweepCell.CsvHeader + ",score,diverged,first_loss,seconds";

    /// <summary>The result as one CSV line.</summary>
    public string ToCsv() =>
        Cell.ToCsv()
        + string.Create(CultureInfo.InvariantCulture, $",{Score:R},{(Diverged ? 1 : 0)},{FirstLoss:R},{Seconds:F2}");

    /// <summary>Parses a line written by <see cref="ToCsv"/>; null for a malformed (for example half-written)
    /// line.</summary>
    public static SweepResult? TryParse(string line)
    {
        var f = line.Split(',');
        if (f.Length != 13)
            return null;
        try
        {
            return new SweepResult(SweepCell.FromCsv(f), Double(f[9]), f[10] == "1", Double(f[11]), Double(f[12]));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static double Double(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
}
