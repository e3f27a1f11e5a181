using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void MatMul(Tensor a, Tensor b, Tensor c, bool accumulate, double alpha, bool symmetric)
    {
        int batch = MatMulBatch.Count(c),
            m = c.Shape[-2],
            n = c.Shape[-1],
            k = a.Shape[-1];
        if (c.DType == DType.Float64)
        {
            var (ad, bd, cd) = ((double[])S(a).Array, (double[])S(b).Array, (double[])S(c).Array);
            for (int i = 0; i < batch; i++)
                ReferenceGemm.Multiply(
                    Matrix(ad, a, i),
                    Matrix(bd, b, i),
                    Matrix(cd, c, i),
                    m,
                    n,
                    k,
                    accumulate,
                    alpha
                );
            return;
        }
        var (af, bf, cf) = ((float[])S(a).Array, (float[])S(b).Array, (float[])S(c).Array);
        long flopsEach = 2L * m * n * k;
        int threads = CpuDevice.Threads;
        if (batch >= threads && flopsEach <= (1L << 24))
        {
            // Many small products (attention heads, batched Newton–Schulz): one whole matrix per thread.
            // (≤: the MLP matrices' 128×128×512 Gram products are exactly 2²⁴ flops.)
            CpuParallel.For(batch, flopsEach * batch, (start, end) =>
            {
                for (long i = start; i < end; i++)
                    Product(Matrix(af, a, (int)i), Matrix(bf, b, (int)i), Matrix(cf, c, (int)i), threads: 1);
            });
            return;
        }
        for (int i = 0; i < batch; i++)
            Product(Matrix(af, a, i), Matrix(bf, b, i), Matrix(cf, c, i), threads);

        // A Gram product (B is A's transpose in the same memory, as in Newton–Schulz's MᵀM) is
        // symmetric, as is one the caller declares so; only its lower triangle is computed. (Added to
        // a C of unknown symmetry, a Gram product's sum may not be.)
        void Product(MatrixRef<float> ma, MatrixRef<float> mb, MatrixRef<float> mc, int threads) =>
            PackedGemm.Multiply(
                ma,
                mb,
                mc,
                m,
                n,
                k,
                accumulate,
                (float)alpha,
                threads,
                symmetric: symmetric || (!accumulate && PackedGemm.IsGram(ma, mb, m, n))
            );
    }

    private static MatrixRef<T> Matrix<T>(T[] data, Tensor t, int batchIndex)
        where T : unmanaged => new(data, t.Offset + MatMulBatch.Of(t).Offset(batchIndex), t.Strides[^2], t.Strides[^1]);
}
