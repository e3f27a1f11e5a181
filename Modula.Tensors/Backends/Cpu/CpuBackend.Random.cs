using Modula.Tensors.Primitives;
using Modula.Tensors.Random;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void Random(Tensor y, RandomKind kind, ulong seed, ulong offset)
    {
        var ys = S(y);
        int n = y.Size,
            yo = y.Offset;
        long blocks = (n + 3) / 4;
        CpuParallel.For(blocks, n * 16L, (start, end) =>
        {
            for (long b = start; b < end; b++)
            {
                var block = Philox.BlockFor(b * 4, seed, offset);
                for (int lane = 0; lane < 4; lane++)
                {
                    long i = b * 4 + lane;
                    if (i >= n)
                        break;
                    int at = yo + (int)i;
                    switch (y.DType, kind)
                    {
                        case (DType.Int32, _):
                            ys.Span<int>()[at] = (int)block[lane];
                            break;
                        case (DType.Float32, RandomKind.Uniform):
                            ys.Span<float>()[at] = Philox.ToUniform(block[lane]);
                            break;
                        case (DType.Float32, _):
                            ys.Span<float>()[at] = Philox.ToNormal(block, i);
                            break;
                        case (DType.Float64, RandomKind.Uniform):
                            ys.Span<double>()[at] = (block[lane] >> 8) * (1.0 / 16777216.0);
                            break;
                        default:
                            ys.Span<double>()[at] = Philox.ToNormalDouble(block, i);
                            break;
                    }
                }
            }
        });
    }
}
