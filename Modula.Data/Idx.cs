using System.Buffers.Binary;
using System.IO.Compression;

namespace Modula.Data;

/// <summary>An IDX array (the MNIST file format): unsigned bytes with big-endian dimensions.</summary>
/// <param name="Dims">The dimensions, outermost first.</param>
/// <param name="Data">The bytes, row-major.</param>
public sealed record IdxArray(int[] Dims, byte[] Data)
{
    /// <summary>Deflate expands at most about 1032:1: a gzip file of n bytes decodes to at most this many times
    /// n.</summary>
    public const long MaxGzipRatio = 1032;

    /// <summary>
    /// Reads a gzip-compressed (or, with <paramref name="gzip"/> false, plain) IDX file of
    /// unsigned bytes: magic <c>0x0000 08 NN</c> with NN dimensions, each a big-endian int32.
    /// The sizes the header claims are checked against what the file can hold before anything is
    /// allocated, and the stream is read to its end so that gzip's CRC-32 and length are verified.
    /// Any damage is a <see cref="DataException"/> naming the file.
    /// </summary>
    public static IdxArray Read(string path, bool gzip = true)
    {
        using var file = File.OpenRead(path);
        long capacity = gzip ? file.Length * MaxGzipRatio : file.Length;
        using Stream stream = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        try
        {
            var header = ReadExactly(stream, 4, path);
            if (header[0] != 0 || header[1] != 0 || header[2] != 0x08 || header[3] is 0 or > 4)
                throw new DataException(
                    $"{path} is not an unsigned-byte IDX file (magic {Convert.ToHexString(header)})."
                );
            var dims = new int[header[3]];
            var dimBytes = new byte[4 * dims.Length];
            long size = 1;
            for (int i = 0; i < dims.Length; i++)
            {
                var bytes = ReadExactly(stream, 4, path);
                bytes.CopyTo(dimBytes, 4 * i);
                dims[i] = BinaryPrimitives.ReadInt32BigEndian(bytes);
                if (dims[i] < 0)
                    throw new DataException($"{path}: negative dimension {dims[i]}.");
            }
            // An empty axis makes the array empty, however large the others are.
            for (int i = 0; i < dims.Length && size > 0; i++)
            {
                size = dims.Contains(0) ? 0 : size * dims[i];
                if (size > int.MaxValue)
                    throw new DataException($"{path}: {size} elements is too large.");
            }
            long total = 4 + 4L * dims.Length + size;
            if (total > capacity)
                throw new DataException(
                    $"{path}: the header claims {size} bytes of data, more than a {file.Length}-byte file can hold."
                );
            var data = ReadExactly(stream, (int)size, path);
            if (stream.ReadByte() >= 0)
                throw new DataException($"{path} has data after the {size} bytes its header describes.");
            if (gzip)
                CheckTrailer(file, path, Crc32.Append(Crc32.Append(0, header), dimBytes), data, total);
            return new IdxArray(dims, data);
        }
        catch (InvalidDataException e)
        {
            throw new DataException($"{path} is not valid gzip data ({e.Message}).");
        }
    }

    /// <summary>
    /// Checks the gzip trailer (the file's last 8 bytes: CRC-32 and length of the decoded bytes) itself:
    /// GZipStream verifies a complete trailer but accepts a file cut inside it. Single-member files only,
    /// as the dataset files are.
    /// </summary>
    private static void CheckTrailer(FileStream file, string path, uint headerCrc, byte[] data, long total)
    {
        if (file.Length < 18)
            throw new DataException($"{path} is too short for a gzip file.");
        var trailer = new byte[8];
        file.Seek(-8, SeekOrigin.End);
        file.ReadExactly(trailer);
        uint crc = Crc32.Append(headerCrc, data);
        if (
            BinaryPrimitives.ReadUInt32LittleEndian(trailer) != crc
            || BinaryPrimitives.ReadUInt32LittleEndian(trailer.AsSpan(4)) != (uint)total
        )
            throw new DataException($"{path} is damaged: its gzip CRC-32 or length does not match the decoded data.");
    }

    /// <summary>Writes the array as a gzip-compressed IDX file.</summary>
    public void Write(string path)
    {
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write([0, 0, 0x08, (byte)Dims.Length]);
        var dim = new byte[4];
        foreach (var d in Dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(dim, d);
            gzip.Write(dim);
        }
        gzip.Write(Data);
    }

    private static byte[] ReadExactly(Stream stream, int count, string path)
    {
        var buffer = new byte[count];
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw new DataException($"{path} is truncated.");
        }
        return buffer;
    }
}
