using Modula.Tensors.Backends;

namespace Modula.Tensors;

public static partial class Ops
{
    /// <summary>Embedding lookup: y[..., :] = table[indices[...], :]. table [V, D], Int32 indices of any shape → [...,
    /// D].</summary>
    public static Tensor GatherRows(Tensor table, Tensor indices)
    {
        const string op = nameof(GatherRows);
        Check.SameDevice(op, table, indices);
        Check.Int(op, indices, "indices");
        if (table.Rank != 2)
            throw new ArgumentException($"{op}: table must be [V, D], got {table.Shape}.");
        using var idx = indices.IsContiguous ? null : Contiguous(indices);
        CheckIndices(op, idx ?? indices, table.Shape[0]);
        using var dense = table.IsContiguous ? null : Contiguous(table);
        var y = Tensor.Empty(new Shape([.. indices.Shape.Dims, table.Shape[1]]), table.DType, table.Device);
        if (y.Size > 0)
            using (table.Device.Time(nameof(IBackend.GatherRows)))
                table.Device.Backend.GatherRows(dense ?? table, idx ?? indices, y);
        return y;
    }

    /// <summary>Adds source rows into table rows in place: table[indices[i], :] += source[i, :]; repeats
    /// accumulate.</summary>
    /// <param name="table">Contiguous [V, D] float tensor, updated in place.</param>
    /// <param name="indices">Int32 indices of any shape (n elements).</param>
    /// <param name="source">Rows of shape [..., D] matching indices' shape.</param>
    public static void ScatterAddRows(Tensor table, Tensor indices, Tensor source)
    {
        const string op = nameof(ScatterAddRows);
        Check.Compatible(op, table, source);
        Check.SameDevice(op, table, indices);
        Check.Int(op, indices, "indices");
        Check.Float(op, table);
        if (table.Rank != 2 || !table.IsContiguous)
            throw new ArgumentException($"{op}: table must be a contiguous [V, D] tensor, got {table.Shape}.");
        var expected = new Shape([.. indices.Shape.Dims, table.Shape[1]]);
        if (source.Shape != expected)
            throw new ArgumentException(
                $"{op}: source {source.Shape} does not match indices {indices.Shape} and table {table.Shape} (expected "
                    + $"{expected})."
            );
        using var idx = indices.IsContiguous ? null : Contiguous(indices);
        CheckIndices(op, idx ?? indices, table.Shape[0]);
        using var src = source.IsContiguous ? null : Contiguous(source);
        // Rows of a source read from the table itself would be read after earlier rows were added into.
        using var separate = Aliasing.CopyIfOverwritten(src ?? source, table, elementwise: false);
        if (source.Size > 0)
            using (table.Device.Time(nameof(IBackend.ScatterAddRows)))
                table.Device.Backend.ScatterAddRows(separate ?? src ?? source, idx ?? indices, table);
    }

    /// <summary>
    /// Index range check of CPU indices before the op runs, where they lie (a strided view through a copy, in its
    /// element order). Accelerator kernels check their
    /// indices on the device and report at the next host wait (<see cref="Device.ThrowPendingErrors"/>):
    /// a check here would copy the indices back, a host wait on every embedding lookup.
    /// </summary>
    private static void CheckIndices(string op, Tensor indices, int rows)
    {
        if (indices.Storage is not Backends.Cpu.CpuStorage)
            return;
        // Read in the view's element order: a strided view's elements are not its Size slots from its offset.
        using var dense = indices.IsContiguous ? null : Contiguous(indices);
        var read = dense ?? indices;
        ReadOnlySpan<int> values = ((Backends.Cpu.CpuStorage)read.Storage).Span<int>().Slice(read.Offset, read.Size);
        for (int i = 0; i < values.Length; i++)
            if ((uint)values[i] >= (uint)rows)
                throw new ArgumentOutOfRangeException(
                    nameof(indices),
                    $"{op}: index {values[i]} at position {i} is outside [0, {rows})."
                );
    }
}
