using System.Numerics;
using System.Runtime.CompilerServices;
using Modula.Tensors.Primitives;

namespace Modula.Tensors.Backends.Cpu;

/// <summary>The CPU implementation of the primitive set: SIMD lane loops spread over cores.</summary>
internal sealed partial class CpuBackend : IBackend
{
    private static CpuStorage S(Tensor t) => (CpuStorage)t.Storage;

    public void Upload<T>(ReadOnlySpan<T> source, Storage destination)
        where T : unmanaged => source.CopyTo(((CpuStorage)destination).Span<T>());

    public void Download<T>(Storage source, int offset, Span<T> destination)
        where T : unmanaged => ((CpuStorage)source).Span<T>().Slice(offset, destination.Length).CopyTo(destination);

    public void Fill(Tensor y, double value)
    {
        switch (y.DType)
        {
            case DType.Float32:
                FillAll(y, (float)value);
                break;
            case DType.Float64:
                FillAll(y, value);
                break;
            default:
                FillAll(y, checked((int)value));
                break;
        }
    }

    // A contiguous y set to value over the threads: a trainer clears its whole packed gradient this way every step
    // (3 MB for the default GPT; on a Zen 4 EPYC, 32.5 µs on one thread and 19 on two, from cache).
    private static void FillAll<T>(Tensor y, T value)
        where T : unmanaged
    {
        var storage = S(y);
        int offset = y.Offset;
        if (y.Size < CpuParallel.MinParallelWork)
        {
            storage.Span<T>().Slice(offset, y.Size).Fill(value);
            return;
        }
        CpuParallel.For(y.Size, y.Size, (start, end) =>
            storage.Span<T>().Slice(offset + (int)start, (int)(end - start)).Fill(value)
        );
    }

    public void Arange(Tensor y, double start, double step)
    {
        switch (y.DType)
        {
            case DType.Float32:
            {
                var s = S(y).Span<float>().Slice(y.Offset, y.Size);
                for (int i = 0; i < s.Length; i++)
                    s[i] = (float)(start + i * step);
                break;
            }
            case DType.Float64:
            {
                var s = S(y).Span<double>().Slice(y.Offset, y.Size);
                for (int i = 0; i < s.Length; i++)
                    s[i] = start + i * step;
                break;
            }
            default:
            {
                var s = S(y).Span<int>().Slice(y.Offset, y.Size);
                for (int i = 0; i < s.Length; i++)
                    s[i] = checked((int)(start + i * step));
                break;
            }
        }
    }

    public void Copy(Tensor x, Tensor y)
    {
        switch (x.DType)
        {
            case DType.Float32:
                Copy<float>(x, y);
                break;
            case DType.Float64:
                Copy<double>(x, y);
                break;
            default:
                Copy<int>(x, y);
                break;
        }
    }

    private static void Copy<T>(Tensor x, Tensor y)
        where T : unmanaged
    {
        if (TransposedCopy.Takes(x, y))
        {
            TransposedCopy.Copy<T>(S(x), x, S(y), y);
            return;
        }
        var layout = RowLayout.Create(y.Shape, x, y);
        var xs = S(x);
        var ys = S(y);
        int sx = layout.RowStrides[0],
            sy = layout.RowStrides[1];
        layout.ForEachChunk(
            (o, n) =>
            {
                if (sx == 1 && sy == 1)
                {
                    xs.Span<T>().Slice(o[0], n).CopyTo(ys.Span<T>().Slice(o[1], n));
                    return;
                }
                ref T xr = ref xs.Ref<T>(o[0]);
                ref T yr = ref ys.Ref<T>(o[1]);
                for (int i = 0; i < n; i++)
                    Unsafe.Add(ref yr, (nint)i * sy) = Unsafe.Add(ref xr, (nint)i * sx);
            }
        );
    }

    public void Unary<TOp>(Tensor x, Tensor y, TOp op)
        where TOp : struct, IUnaryOp
    {
        if (x.DType == DType.Float32)
            Unary<float, TOp>(x, y, op);
        else
            Unary<double, TOp>(x, y, op);
    }

    private static void Unary<T, TOp>(Tensor x, Tensor y, TOp op)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : struct, IUnaryOp
    {
        var xs = S(x);
        var ys = S(y);
        int xo = x.Offset,
            yo = y.Offset;
        const int chunk = 1 << 14;
        long chunks = (y.Size + chunk - 1) / chunk;
        CpuParallel.For(chunks, y.Size, (start, end) =>
        {
            for (long c = start; c < end; c++)
            {
                int begin = (int)c * chunk,
                    n = Math.Min(chunk, y.Size - begin);
                op.Apply<T>(xs.Span<T>().Slice(xo + begin, n), ys.Span<T>().Slice(yo + begin, n));
            }
        });
    }

    public void Binary<TOp>(Tensor a, Tensor b, Tensor y, TOp op)
        where TOp : struct, IBinaryOp
    {
        if (y.DType == DType.Float32)
            Binary<float, TOp>(a, b, y, op);
        else
            Binary<double, TOp>(a, b, y, op);
    }

    private static void Binary<T, TOp>(Tensor a, Tensor b, Tensor y, TOp op)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : struct, IBinaryOp
    {
        var layout = RowLayout.Create(y.Shape, a, b, y);
        var (sa, sb, sy) = (S(a), S(b), S(y));
        int ra = layout.RowStrides[0],
            rb = layout.RowStrides[1];
        layout.ForEachChunk(
            (o, n) => SimdLoop.Binary(ref sa.Ref<T>(o[0]), ra, ref sb.Ref<T>(o[1]), rb, ref sy.Ref<T>(o[2]), n, op)
        );
    }

    public void Where(Tensor condition, Tensor a, Tensor b, Tensor y)
    {
        if (y.DType == DType.Float32)
            Where<float>(condition, a, b, y);
        else
            Where<double>(condition, a, b, y);
    }

    private static void Where<T>(Tensor c, Tensor a, Tensor b, Tensor y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var layout = RowLayout.Create(y.Shape, c, a, b, y);
        var (sc, sa, sb, sy) = (S(c), S(a), S(b), S(y));
        int rc = layout.RowStrides[0],
            ra = layout.RowStrides[1],
            rb = layout.RowStrides[2];
        layout.ForEachChunk(
            (o, n) =>
                SimdLoop.Where(
                    ref sc.Ref<T>(o[0]),
                    rc,
                    ref sa.Ref<T>(o[1]),
                    ra,
                    ref sb.Ref<T>(o[2]),
                    rb,
                    ref sy.Ref<T>(o[3]),
                    n
                )
        );
    }
}
