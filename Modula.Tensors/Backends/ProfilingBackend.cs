using System.Diagnostics;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends;

/// <summary>Forwards every primitive to a device's backend and charges its time (after a device synchronization) to <see cref="OpProfiler"/>.</summary>
internal sealed class ProfilingBackend(IBackend backend, Device device) : IBackend
{
    private void Timed(string op, Action call)
    {
        long start = Stopwatch.GetTimestamp();
        call();
        device.Synchronize();
        OpProfiler.Record(op, start);
    }

    private static string Name<TOp>(string primitive) => $"{primitive}<{typeof(TOp).Name}>";

    // Spans cannot be captured by Timed's lambda, so the two copies are timed inline.
    public void Upload<T>(ReadOnlySpan<T> source, Storage destination) where T : unmanaged
    {
        long start = Stopwatch.GetTimestamp();
        backend.Upload(source, destination);
        device.Synchronize();
        OpProfiler.Record(nameof(Upload), start);
    }

    public void Download<T>(Storage source, int offset, Span<T> destination) where T : unmanaged
    {
        long start = Stopwatch.GetTimestamp();
        backend.Download(source, offset, destination);
        OpProfiler.Record(nameof(Download), start);
    }

    public void Fill(Tensor y, double value) => Timed(nameof(Fill), () => backend.Fill(y, value));
    public void Arange(Tensor y, double start, double step) => Timed(nameof(Arange), () => backend.Arange(y, start, step));
    public void Copy(Tensor x, Tensor y) => Timed(nameof(Copy), () => backend.Copy(x, y));
    public void Unary<TOp>(Tensor x, Tensor y, TOp op) where TOp : struct, IUnaryOp => Timed(Name<TOp>(nameof(Unary)), () => backend.Unary(x, y, op));
    public void Binary<TOp>(Tensor a, Tensor b, Tensor y, TOp op) where TOp : struct, IBinaryOp => Timed(Name<TOp>(nameof(Binary)), () => backend.Binary(a, b, y, op));
    public void Where(Tensor condition, Tensor a, Tensor b, Tensor y) => Timed(nameof(Where), () => backend.Where(condition, a, b, y));
    public void Reduce<TOp>(Tensor x, Tensor y, int outer, int reduce, int inner, TOp op) where TOp : struct, IReduceOp =>
        Timed(Name<TOp>(nameof(Reduce)), () => backend.Reduce(x, y, outer, reduce, inner, op));
    public void SoftmaxRows(Tensor x, Tensor y, int length, double scale, bool causal) =>
        Timed(nameof(SoftmaxRows), () => backend.SoftmaxRows(x, y, length, scale, causal));
    public void SoftmaxRowsBackward(Tensor g, Tensor y, Tensor dx, int length, double scale) =>
        Timed(nameof(SoftmaxRowsBackward), () => backend.SoftmaxRowsBackward(g, y, dx, length, scale));
    public void CenterRows(Tensor x, Tensor y, int length) => Timed(nameof(CenterRows), () => backend.CenterRows(x, y, length));
    public void RmsNormalizeRows(Tensor x, Tensor y, Tensor inverse, int length) =>
        Timed(nameof(RmsNormalizeRows), () => backend.RmsNormalizeRows(x, y, inverse, length));
    public void RmsNormalizeRowsBackward(Tensor g, Tensor y, Tensor inverse, Tensor dx, int length) =>
        Timed(nameof(RmsNormalizeRowsBackward), () => backend.RmsNormalizeRowsBackward(g, y, inverse, dx, length));
    public void ArgMax(Tensor x, Tensor y, int outer, int reduce, int inner) => Timed(nameof(ArgMax), () => backend.ArgMax(x, y, outer, reduce, inner));
    // Products are told apart by size and operand layout (ᵀ: read column-major), since their speed depends on both.
    public void MatMul(Tensor a, Tensor b, Tensor c, bool accumulate, double alpha) =>
        Timed($"MatMul {MatMulBatch.Count(c)}×{c.Shape[-2]}×{c.Shape[-1]}×{a.Shape[-1]}{(a.Strides[^2] == 1 ? " Aᵀ" : "")}{(b.Strides[^2] == 1 ? " Bᵀ" : "")}",
            () => backend.MatMul(a, b, c, accumulate, alpha));
    public void GatherRows(Tensor table, Tensor indices, Tensor y) => Timed(nameof(GatherRows), () => backend.GatherRows(table, indices, y));
    public void ScatterAddRows(Tensor source, Tensor indices, Tensor table) => Timed(nameof(ScatterAddRows), () => backend.ScatterAddRows(source, indices, table));
    public void Im2Col(Tensor x, Tensor cols, ConvGeometry geometry) => Timed(nameof(Im2Col), () => backend.Im2Col(x, cols, geometry));
    public void Col2Im(Tensor cols, Tensor x, ConvGeometry geometry) => Timed(nameof(Col2Im), () => backend.Col2Im(cols, x, geometry));
    public void Random(Tensor y, RandomKind kind, ulong seed, ulong offset) => Timed(nameof(Random), () => backend.Random(y, kind, seed, offset));
}
