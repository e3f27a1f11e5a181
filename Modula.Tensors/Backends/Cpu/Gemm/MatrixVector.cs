using System.Buffers;
using System.Numerics.Tensors;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// Products where C is a single column or row (power iteration: W·u, Wᵀ·v). Packing panels
/// for one column costs more than the product, so these read the operands where they are:
/// a dot product per row when A's rows are contiguous, a scaled column sum when its columns are.
/// </summary>
internal static class MatrixVector
{
    /// <summary>C (+)= α·A·B for n = 1 or m = 1; false (nothing written) for other shapes or layouts.</summary>
    public static bool TryMultiply(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int n,
        int k,
        bool accumulate,
        float alpha
    )
    {
        if (n == 1)
            return TryColumn(a, b, c, m, k, accumulate, alpha);
        // A row times B is the column Bᵀ·Aᵀ.
        if (m == 1)
            return TryColumn(b.Transposed(), a.Transposed(), c.Transposed(), n, k, accumulate, alpha);
        return false;
    }

    /// <summary>c[i] (+)= α Σₚ A[i, p]·x[p] with x = B[·, 0] and c = C[·, 0].</summary>
    private static bool TryColumn(
        MatrixRef<float> a,
        MatrixRef<float> b,
        MatrixRef<float> c,
        int m,
        int k,
        bool accumulate,
        float alpha
    )
    {
        bool rowsContiguous = a.ColStride == 1,
            columnsContiguous = a.RowStride == 1 && c.RowStride == 1;
        if (!rowsContiguous && !columnsContiguous)
            return false;
        float[]? rented = null;
        var x = b.RowStride == 1 ? b.Data.AsSpan(b.Offset, k) : Gather(b, k, out rented);
        try
        {
            if (rowsContiguous)
            {
                for (int i = 0; i < m; i++)
                {
                    ref float ci = ref c.Data[c.Offset + i * c.RowStride];
                    float dot = alpha * TensorPrimitives.Dot(a.Data.AsSpan(a.Offset + i * a.RowStride, k), x);
                    ci = accumulate ? ci + dot : dot;
                }
                return true;
            }
            var y = c.Data.AsSpan(c.Offset, m);
            if (!accumulate)
                y.Clear();
            for (int p = 0; p < k; p++)
                TensorPrimitives.MultiplyAdd(a.Data.AsSpan(a.Offset + p * a.ColStride, m), alpha * x[p], y, y);
            return true;
        }
        finally
        {
            if (rented is not null)
                ArrayPool<float>.Shared.Return(rented);
        }
    }

    private static Span<float> Gather(MatrixRef<float> b, int k, out float[] rented)
    {
        rented = ArrayPool<float>.Shared.Rent(k);
        var x = rented.AsSpan(0, k);
        for (int p = 0; p < k; p++)
            x[p] = b[p, 0];
        return x;
    }
}
