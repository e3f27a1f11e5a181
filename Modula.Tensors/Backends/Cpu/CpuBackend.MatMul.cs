using System.Numerics;
using System.Numerics.Tensors;
using Modula.Tensors.Backends.Cpu.Gemm;

namespace Modula.Tensors.Backends.Cpu;

internal sealed partial class CpuBackend
{
    public void MatMul(
        Tensor a,
        Tensor b,
        Tensor c,
        bool accumulate,
        double alpha,
        bool symmetric,
        MatMulTriangle triangle,
        Tensor? scales
    )
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
                    alpha * Scale(scales, i)
                );
            if (triangle == MatMulTriangle.LowerResult)
                for (int i = 0; i < batch; i++)
                    ZeroAboveDiagonal(Matrix(cd, c, i), m);
            return;
        }
        var triangleA = triangle switch
        {
            MatMulTriangle.LowerA => TriangularA.Lower,
            MatMulTriangle.UpperA => TriangularA.Upper,
            _ => TriangularA.None,
        };
        bool lower = triangle == MatMulTriangle.LowerResult;
        var (af, bf, cf) = ((float[])S(a).Array, (float[])S(b).Array, (float[])S(c).Array);
        EachProduct(batch, 2L * m * n * k, (i, threads) =>
            Product(Matrix(af, a, i), Matrix(bf, b, i), Matrix(cf, c, i), i, threads)
        );

        // A Gram product (B is A's transpose in the same memory, as in Newton–Schulz's MᵀM) is
        // symmetric, as is one the caller declares so; only its lower triangle is computed. (Added to
        // a C of unknown symmetry, a Gram product's sum may not be.) A lower result is the lower triangle
        // of a symmetric product's, without its mirror, and zeros above. A triangular A's product is
        // computed whole, less the triangle's zeros, even when it is a Gram product.
        void Product(MatrixRef<float> ma, MatrixRef<float> mb, MatrixRef<float> mc, int i, int threads)
        {
            bool gram = triangleA == TriangularA.None && !accumulate && PackedGemm.IsGram(ma, mb, m, n);
            PackedGemm.Multiply(
                ma,
                mb,
                mc,
                m,
                n,
                k,
                accumulate,
                (float)(alpha * Scale(scales, i)),
                threads,
                symmetric: lower || symmetric || gram,
                mirror: !lower,
                triangleA: triangleA
            );
            if (lower)
                ZeroAboveDiagonal(mc, m);
        }
    }

    /// <summary>Sets the elements above the diagonal of an n × n matrix to zero, in whole vectors where a row's
    /// remainder allows (a call to clear each row's few elements cost as much again as the stores).</summary>
    private static void ZeroAboveDiagonal<T>(MatrixRef<T> c, int n)
        where T : unmanaged, INumberBase<T>
    {
        var row = c.Data.AsSpan(c.Offset);
        int lanes = Vector<T>.Count;
        for (int i = 0; i + 1 < n; i++)
        {
            var above = row.Slice(i * c.RowStride + i + 1, n - i - 1);
            int j = 0;
            for (; j + lanes <= above.Length; j += lanes)
                Vector<T>.Zero.CopyTo(above[j..]);
            for (; j < above.Length; j++)
                above[j] = T.Zero;
        }
    }

    /// <summary>Per-matrix scales: the CPU multiplies each matrix's α (or coefficients) by its factor.</summary>
    public bool ScalesProducts => true;

    // Matrix i's factor of per-matrix scales ([B], contiguous, float32 or float64), 1 without them.
    private static double Scale(Tensor? scales, int i)
    {
        if (scales is null)
            return 1;
        int at = S(scales).Start + scales.Offset + i;
        return scales.DType == DType.Float64 ? ((double[])S(scales).Array)[at] : ((float[])S(scales).Array)[at];
    }

    public void SymmetricPolynomial(Tensor r, Tensor h, double a, double b, double c, Tensor? scales)
    {
        int n = h.Shape[-1],
            batch = n == 0 ? 0 : h.Size / (n * n);
        if (h.DType == DType.Float64)
        {
            var (rd, hd) = ((double[])S(r).Array, (double[])S(h).Array);
            for (int i = 0; i < batch; i++)
            {
                var (ri, hi) = (Matrix(rd, r, i), Matrix(hd, h, i));
                double s = Scale(scales, i);
                LinearPart(ri, hi, n, s * a, s * b);
                if (c != 0)
                    ReferenceGemm.Multiply(ri, ri, hi, n, n, n, accumulate: true, s * c);
            }
            return;
        }
        var (rf, hf) = ((float[])S(r).Array, (float[])S(h).Array);
        EachProduct(batch, c == 0 ? (long)n * n : 2L * n * n * n, (i, threads) =>
        {
            // c·R²'s lower triangle first, then b·R + a·I added to that triangle while it is in cache (for small
            // n), then the mirror: a separate pass forming a·I + b·R for the product to add into would read and write
            // h from memory, and adding the linear part over the whole matrix after the mirror would redo in the
            // upper triangle the sums already done in the lower. With R exactly symmetric, as the op requires, the
            // upper triangle gets the bits that whole-matrix pass gave it.
            var (ri, hi) = (Matrix(rf, r, i), Matrix(hf, h, i));
            double s = Scale(scales, i);
            if (c == 0)
            {
                LinearPart(ri, hi, n, s * a, s * b);
                return;
            }
            PackedGemm.Multiply(
                ri,
                ri,
                hi,
                n,
                n,
                n,
                accumulate: false,
                (float)(s * c),
                threads,
                symmetric: true,
                mirror: false
            );
            LinearPart(ri, hi, n, s * a, s * b, accumulate: true, lowerOnly: true);
            SymmetricMirror.Complete(hi, n);
        });
    }

    /// <summary>h (+)= b·R + a·I for an n×n matrix with contiguous rows, over the whole matrix (an exactly symmetric
    /// h and R give an exactly symmetric result) or, with <paramref name="lowerOnly"/>, over its lower triangle and
    /// diagonal.</summary>
    private static void LinearPart<T>(
        MatrixRef<T> r,
        MatrixRef<T> h,
        int n,
        double a,
        double b,
        bool accumulate = false,
        bool lowerOnly = false
    )
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T scale = T.CreateTruncating(b),
            diagonal = T.CreateTruncating(a);
        for (int i = 0; i < n; i++)
        {
            int length = lowerOnly ? i + 1 : n;
            var row = h.Data.AsSpan(h.Offset + i * h.RowStride, length);
            var source = r.Data.AsSpan(r.Offset + i * r.RowStride, length);
            if (accumulate)
                TensorPrimitives.MultiplyAdd(source, scale, row, row);
            else
                TensorPrimitives.Multiply(source, scale, row);
            row[i] += diagonal;
        }
    }

    /// <summary>
    /// Runs <paramref name="product"/>(i, threads) for each of <paramref name="batch"/> products of
    /// <paramref name="flopsEach"/> flops, each whole on one thread where there are enough of them: small ones
    /// (attention heads, batched Newton–Schulz) when there are at least as many as threads, larger ones when there are
    /// at least <see cref="CpuParallel.PartsPerThread"/> per thread, as many as divide evenly among the threads (the
    /// rest one after another, each on all threads). Fewer large products each run on all threads.
    /// </summary>
    /// <remarks>
    /// A product split over threads packs B on each, and a symmetric one splits its triangle into bands of equal area
    /// but unequal cost; one matrix per thread does neither. Batches of larger products (Newton–Schulz on a wider
    /// GPT's weights) ran 1–7 % faster so when full and 13–38 % when symmetric, in one process alternating the two
    /// ways (Intel Xeon, family 6, model 207, 2 threads, 512-bit and 256-bit tiles: 32 × 512³, 8 × 2048 × 512 × 512,
    /// 16 × 256³, and the Gram matrices of 32 × 512 × 512, 8 × 2048 × 512 and 16 × 256 × 256). A large product is a
    /// coarse part: one more on a thread than on the others would cost more than those gains, hence whole rounds only,
    /// and with fewer than four per thread a thread that loses its core for a while holds up a larger share.
    /// </remarks>
    private static void EachProduct(int batch, long flopsEach, Action<int, int> product)
    {
        int threads = CpuDevice.Threads;
        // ≤: the MLP matrices' 128×128×512 Gram products are exactly 2²⁴ flops.
        bool small = flopsEach <= (1L << 24);
        int whole =
            small && batch >= threads ? batch
            : batch >= CpuParallel.PartsPerThread * threads ? batch / threads * threads
            : 0;
        if (whole > 0)
            CpuParallel.For(whole, flopsEach * whole, (start, end) =>
            {
                for (long i = start; i < end; i++)
                    product((int)i, 1);
            });
        for (int i = whole; i < batch; i++)
            product(i, threads);
    }

    private static MatrixRef<T> Matrix<T>(T[] data, Tensor t, int batchIndex)
        where T : unmanaged =>
        new(data, S(t).Start + t.Offset + MatMulBatch.Of(t).Offset(batchIndex), t.Strides[^2], t.Strides[^1]);
}
