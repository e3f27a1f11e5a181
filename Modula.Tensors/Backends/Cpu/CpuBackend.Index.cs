using System.Numerics.Tensors;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void GatherRows(Tensor table, Tensor indices, Tensor y)
    {
        switch (table.DType)
        {
            case DType.Float32:
                GatherRows<float>(table, indices, y);
                break;
            case DType.Float64:
                GatherRows<double>(table, indices, y);
                break;
            default:
                GatherRows<int>(table, indices, y);
                break;
        }
    }

    private static void GatherRows<T>(Tensor table, Tensor indices, Tensor y)
        where T : unmanaged
    {
        int d = table.Shape[1];
        var src = S(table).Span<T>().Slice(table.Offset);
        var idx = S(indices).Span<int>().Slice(indices.Offset, indices.Size);
        var dst = S(y).Span<T>().Slice(y.Offset);
        for (int i = 0; i < idx.Length; i++)
            src.Slice(idx[i] * d, d).CopyTo(dst.Slice(i * d, d));
    }

    public void ScatterAddRows(Tensor source, Tensor indices, Tensor table)
    {
        if (table.DType == DType.Float32)
            ScatterAddRows<float>(source, indices, table);
        else
            ScatterAddRows<double>(source, indices, table);
    }

    private static void ScatterAddRows<T>(Tensor source, Tensor indices, Tensor table)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int d = table.Shape[1];
        var src = S(source).Span<T>().Slice(source.Offset);
        var idx = S(indices).Span<int>().Slice(indices.Offset, indices.Size);
        var dst = S(table).Span<T>().Slice(table.Offset);
        for (int i = 0; i < idx.Length; i++)
        {
            var row = dst.Slice(idx[i] * d, d);
            TensorPrimitives.Add(row, src.Slice(i * d, d), row);
        }
    }

    public void Im2Col(Tensor x, Tensor cols, ConvGeometry g)
    {
        if (x.DType == DType.Float32)
            Im2Col<float>(x, cols, g);
        else
            Im2Col<double>(x, cols, g);
    }

    private static void Im2Col<T>(Tensor x, Tensor cols, ConvGeometry g)
        where T : unmanaged
    {
        var xs = S(x);
        var cs = S(cols);
        int ho = g.OutHeight,
            wo = g.OutWidth,
            plane = ho * wo;
        int rows = g.PatchSize;
        CpuParallel.For((long)g.Batch * rows, (long)g.Batch * rows * plane, (start, end) =>
        {
            var src = xs.Span<T>().Slice(x.Offset);
            var dst = cs.Span<T>().Slice(cols.Offset);
            for (long r = start; r < end; r++)
            {
                int n = (int)(r / rows),
                    row = (int)(r % rows);
                int c = row / (g.KernelHeight * g.KernelWidth),
                    ki = row / g.KernelWidth % g.KernelHeight,
                    kj = row % g.KernelWidth;
                var outRow = dst.Slice((int)r * plane, plane);
                int imageBase = (n * g.Channels + c) * g.Height * g.Width;
                for (int oh = 0; oh < ho; oh++)
                {
                    int ih = oh * g.Stride - g.Padding + ki;
                    for (int ow = 0; ow < wo; ow++)
                    {
                        int iw = ow * g.Stride - g.Padding + kj;
                        outRow[oh * wo + ow] =
                            ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width
                                ? src[imageBase + ih * g.Width + iw]
                                : default;
                    }
                }
            }
        });
    }

    public void Col2Im(Tensor cols, Tensor x, ConvGeometry g)
    {
        if (x.DType == DType.Float32)
            Col2Im<float>(cols, x, g);
        else
            Col2Im<double>(cols, x, g);
    }

    private static void Col2Im<T>(Tensor cols, Tensor x, ConvGeometry g)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var xs = S(x);
        var cs = S(cols);
        int ho = g.OutHeight,
            wo = g.OutWidth,
            plane = ho * wo,
            kk = g.KernelHeight * g.KernelWidth;
        // One (image, channel) plane per work item: its patches never touch another plane, so no races.
        CpuParallel.For((long)g.Batch * g.Channels, (long)g.Batch * g.PatchSize * plane, (start, end) =>
        {
            var src = cs.Span<T>().Slice(cols.Offset);
            var dst = xs.Span<T>().Slice(x.Offset);
            for (long p = start; p < end; p++)
            {
                int n = (int)(p / g.Channels),
                    c = (int)(p % g.Channels);
                var image = dst.Slice((int)p * g.Height * g.Width, g.Height * g.Width);
                image.Clear();
                for (int k = 0; k < kk; k++)
                {
                    int ki = k / g.KernelWidth,
                        kj = k % g.KernelWidth;
                    var colRow = src.Slice(((n * g.Channels + c) * kk + k) * plane, plane);
                    for (int oh = 0; oh < ho; oh++)
                    {
                        int ih = oh * g.Stride - g.Padding + ki;
                        if (ih < 0 || ih >= g.Height)
                            continue;
                        for (int ow = 0; ow < wo; ow++)
                        {
                            int iw = ow * g.Stride - g.Padding + kj;
                            if (iw >= 0 && iw < g.Width)
                                image[ih * g.Width + iw] += colRow[oh * wo + ow];
                        }
                    }
                }
            }
        });
    }
}
