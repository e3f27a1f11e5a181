using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>
/// Completes a symmetric matrix from its lower triangle: C[i, j] = C[j, i] for j &gt; i. A symmetric product computes
/// only the tiles on and below its diagonal, and the products that read it next need whole rows.
/// </summary>
/// <remarks>
/// The matrix is walked in square blocks, so that the rows read and written stay in a few cache lines (a plain column
/// walk misses the cache on every element): blocks of 16 × 16 transposed in AVX-512 registers (<see
/// cref="Transpose16"/>), else of 8 × 8 in AVX registers or, without AVX, as four 4 × 4 blocks in 128-bit ones (<see
/// cref="Transpose8"/>), else (on a CPU with neither) of 8 × 8 element by element.
/// A block on the diagonal is transposed aside and each of its rows takes the lanes right of the diagonal from the
/// transpose. Partial blocks at the edges are copied element by element. On one core of an Intel Xeon (family 6,
/// model 207) that took a 128 × 128 matrix from 2.9 to 1.6–2.0 µs (the 8 × 8 blocks of before, their diagonal copied
/// by element, cost 16 % of the Gram product they complete), 65 × 65 from 1.3 to 0.6 µs, 512 × 512 from 27.6 to
/// 26.8 µs.
/// </remarks>
internal static unsafe class SymmetricMirror
{
    /// <summary>The side of the square blocks <see cref="Complete(MatrixRef{float}, int)"/> works in on this CPU: 16
    /// where AVX-512 transposes them in registers, else 8.</summary>
    public static int Block => Transpose16.IsSupported ? 16 : 8;

    /// <summary>Mirrors the lower triangle of the leading m × m of <paramref name="c"/> onto its upper one. C's rows
    /// must be contiguous (column stride 1).</summary>
    public static void Complete(MatrixRef<float> c, int m) =>
        Complete(c, m, Block, inRegisters: Transpose8.IsSupported);

    /// <summary><see cref="Complete(MatrixRef{float}, int)"/> in blocks of <paramref name="block"/> (8, or 16 where
    /// AVX-512 is), transposed in registers or element by element: tests run every form the CPU has.</summary>
    internal static void Complete(MatrixRef<float> c, int m, int block, bool inRegisters) =>
        CompleteColumns(c, m, 0, m, block, inRegisters);

    /// <summary>
    /// Mirrors the lower triangle's columns <paramref name="from"/> to <paramref name="to"/> (exclusive) onto the
    /// upper triangle's rows of the same numbers: a symmetric product that finishes its lower triangle a panel of
    /// columns at a time mirrors each panel while it is still in cache. <paramref name="from"/> must be a multiple
    /// of <see cref="Block"/>, and <paramref name="to"/> one too or m.
    /// </summary>
    public static void CompleteColumns(MatrixRef<float> c, int m, int from, int to) =>
        CompleteColumns(c, m, from, to, Block, inRegisters: Transpose8.IsSupported);

    // The columns' blocks, each with every block below it in the lower triangle; see CompleteColumns above.
    internal static void CompleteColumns(MatrixRef<float> c, int m, int from, int to, int block, bool inRegisters)
    {
        System.Diagnostics.Debug.Assert(c.ColStride == 1, "SymmetricMirror: C's rows must be contiguous.");
        System.Diagnostics.Debug.Assert(
            block == 8 || (block == 16 && Transpose16.IsSupported),
            "SymmetricMirror: block"
        );
        System.Diagnostics.Debug.Assert(from % block == 0 && (to % block == 0 || to == m), "SymmetricMirror: columns");
        fixed (float* c0 = c.Data)
        {
            float* data = c0 + c.Offset;
            nint ld = c.RowStride;
            for (int ib = from; ib < Math.Min(to, m); ib += block)
            for (int jb = ib; jb < m; jb += block)
            {
                float* lower = data + jb * ld + ib;
                if (jb + block > m || !inRegisters)
                    ByElement(data, ld, ib, jb, block, m);
                else if (jb == ib)
                    Diagonal(block, lower, ld);
                else if (block == 16)
                    Transpose16.Block(lower, ld, data + ib * ld + jb, ld);
                else
                    Transpose8.Block(lower, ld, data + ib * ld + jb, ld);
            }
        }
    }

    // A whole block on the diagonal: transposed aside, and each row takes its lanes right of the diagonal from it.
    [SkipLocalsInit]
    private static void Diagonal(int block, float* at, nint ld)
    {
        float* turned = stackalloc float[16 * 16];
        if (block == 16)
        {
            Transpose16.Block(at, ld, turned, 16);
            for (int i = 0; i < 16; i++)
            {
                var right = Vector512.GreaterThan(Vector512<int>.Indices, Vector512.Create(i)).AsSingle();
                var row = Vector512.Load(at + i * ld);
                Vector512.ConditionalSelect(right, Vector512.Load(turned + i * 16), row).Store(at + i * ld);
            }
            return;
        }
        Transpose8.Block(at, ld, turned, 8);
        if (!Vector256.IsHardwareAccelerated)
        {
            // Without 256-bit vectors (AVX but not AVX2, SSE alone, ARM64): the 28 lanes right of the diagonal, one
            // by one.
            for (int i = 0; i < 8; i++)
            for (int j = i + 1; j < 8; j++)
                at[i * ld + j] = turned[i * 8 + j];
            return;
        }
        for (int i = 0; i < 8; i++)
        {
            var right = Vector256.GreaterThan(Vector256<int>.Indices, Vector256.Create(i)).AsSingle();
            var row = Vector256.Load(at + i * ld);
            Vector256.ConditionalSelect(right, Vector256.Load(turned + i * 8), row).Store(at + i * ld);
        }
    }

    // The upper part of block (ib, jb) copied element by element from its mirror, within the m × m matrix.
    private static void ByElement(float* data, nint ld, int ib, int jb, int block, int m)
    {
        int iEnd = Math.Min(ib + block, m),
            jEnd = Math.Min(jb + block, m);
        for (int j = jb; j < jEnd; j++)
        {
            float* source = data + j * ld; // row j, columns i < j: the lower triangle
            for (int i = ib; i < Math.Min(iEnd, j); i++)
                data[i * ld + j] = source[i];
        }
    }
}
