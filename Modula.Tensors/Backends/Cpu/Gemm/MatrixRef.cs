namespace Modula.Tensors.Backends.Cpu.Gemm;

/// <summary>A strided matrix operand: element (i, j) lives at <c>Data[Offset + i·RowStride +
/// j·ColStride]</c>.</summary>
internal readonly record struct MatrixRef<T>(T[] Data, int Offset, int RowStride, int ColStride)
    where T : unmanaged
{
    public T this[int i, int j] => Data[Offset + i * RowStride + j * ColStride];

    /// <summary>The same matrix starting at row <paramref name="i"/>, column <paramref name="j"/>.</summary>
    public MatrixRef<T> At(int i, int j) => this with { Offset = Offset + i * RowStride + j * ColStride };

    /// <summary>The same elements read as the transpose: element (i, j) of the result is (j, i) of this one.</summary>
    public MatrixRef<T> Transposed() => this with { RowStride = ColStride, ColStride = RowStride };
}
