using System.Numerics;
using System.Numerics.Tensors;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// The living definition of matrix multiply: C (+)= α·A·B with A [M, K], B [K, N], C [M, N]
/// row-major. Straightforward and exact; float64 runs here, and the packed kernel is
/// tested against it.
/// </summary>
internal static class ReferenceGemm
{
    public static void Multiply<T>(
        MatrixRef<T> a,
        MatrixRef<T> b,
        MatrixRef<T> c,
        int m,
        int n,
        int k,
        bool accumulate,
        double alpha = 1
    )
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Data.AsSpan(c.Offset + i * c.RowStride, n);
            if (!accumulate)
                row.Clear();
            for (int p = 0; p < k; p++)
            {
                T aip = T.CreateTruncating(alpha) * a[i, p];
                if (b.ColStride == 1)
                    TensorPrimitives.MultiplyAdd(b.Data.AsSpan(b.Offset + p * b.RowStride, n), aip, row, row);
                else
                    for (int j = 0; j < n; j++)
                        row[j] += aip * b[p, j];
            }
        }
    }
}
