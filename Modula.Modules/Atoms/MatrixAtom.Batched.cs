using Modula.Modules.Linalg;
using Modula.Tensors;

namespace Modula.Modules;

public abstract partial class MatrixAtom
{
    /// <summary>
    /// Dualizes the gradients of every group of two or more matrix atoms whose matrices have the
    /// same shape up to transposition, dtype and device with one batched Newton–Schulz run: the
    /// atoms' slices are stacked, in their tall orientation (a wide 128×512 matrix joins the tall
    /// 512×128 ones as its transpose, as Newton–Schulz would orient it anyway), into one
    /// [Σ S, long, short] tensor, so each iteration issues three batched products
    /// instead of three per atom (fewer launches, and small products keep every thread busy, one
    /// matrix per thread). Each matrix is still orthogonalized on its own, so the result equals
    /// <see cref="DualizeWeight"/> atom by atom. Returns, per atom, its dualized update, or null
    /// for atoms left to the caller (other atoms, target 0, a subclass with its own
    /// <see cref="DualizeWeight"/>, or a shape no other atom shares).
    /// </summary>
    internal static Tensor?[] DualizeInGroups(
        IReadOnlyList<(string Path, Atom Atom)> atoms,
        Weights gradient,
        IReadOnlyList<double> targets,
        Orthogonalizer method
    )
    {
        var results = new Tensor?[atoms.Count];
        var groups = Enumerable
            .Range(0, atoms.Count)
            .Where(i => targets[i] != 0 && atoms[i].Atom is MatrixAtom m && m.UsesSharedDualize)
            .GroupBy(i => (Tall((MatrixAtom)atoms[i].Atom), gradient[i].DType, gradient[i].Device))
            .Where(g => g.Count() > 1);
        try
        {
            foreach (var group in groups)
            {
                var members = group.ToArray();
                var slices = new List<Tensor>(members.Length);
                try
                {
                    foreach (int i in members)
                    {
                        var atom = (MatrixAtom)atoms[i].Atom;
                        var own = atom.ToSlices(gradient[i]);
                        if (!atom.IsWide)
                        {
                            slices.Add(own);
                            continue;
                        }
                        using (own)
                            slices.Add(own.Transpose());
                    }
                    using var stacked = Ops.Concat(slices, 0);
                    using var orthogonal = Orthogonalize.Apply(stacked, method);
                    int offset = 0;
                    foreach (int i in members)
                    {
                        var atom = (MatrixAtom)atoms[i].Atom;
                        using var own = orthogonal.Slice(0, offset, atom.Slices);
                        using var wide = atom.IsWide ? own.Transpose() : null;
                        using var oriented = wide is null ? null : Ops.Contiguous(wide);
                        using var scaled = Ops.Mul(oriented ?? own, targets[i]);
                        results[i] = atom.FromSlices(scaled);
                        offset += atom.Slices;
                    }
                }
                finally
                {
                    foreach (var s in slices)
                        s.Dispose();
                }
            }
        }
        catch
        {
            foreach (var r in results)
                r?.Dispose();
            throw;
        }
        return results;
    }

    /// <summary>More columns than rows: stacked as its transpose.</summary>
    private bool IsWide => FanIn > FanOut;

    /// <summary>The matrix shape in its tall orientation (rows ≥ columns).</summary>
    private static (int Rows, int Columns) Tall(MatrixAtom atom) =>
        (Math.Max(atom.FanOut, atom.FanIn), Math.Min(atom.FanOut, atom.FanIn));

    /// <summary>True unless a subclass replaced <see cref="DualizeWeight"/> (then it is called on its own).</summary>
    private bool UsesSharedDualize => GetType().GetMethod(nameof(DualizeWeight))?.DeclaringType == typeof(MatrixAtom);
}
