using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Modula.Tensors;

namespace Modula.Optim;

/// <summary>One tensor of a safetensors file: dtype, shape and its little-endian bytes.</summary>
public sealed record SafeTensor(DType DType, int[] Shape, byte[] Data)
{
    /// <summary>Copies <paramref name="t"/> to the host.</summary>
    public static SafeTensor From(Tensor t) => t.DType switch
    {
        DType.Float32 => new(t.DType, t.Shape.Dims.ToArray(), Bytes(t.ToArray<float>())),
        DType.Float64 => new(t.DType, t.Shape.Dims.ToArray(), Bytes(t.ToArray<double>())),
        DType.Int32 => new(t.DType, t.Shape.Dims.ToArray(), Bytes(t.ToArray<int>())),
        _ => throw new ArgumentException($"SafeTensor: unsupported dtype {t.DType}."),
    };

    /// <summary>A new tensor with these values on <paramref name="device"/>.</summary>
    public Tensor ToTensor(Device device) => DType switch
    {
        DType.Float32 => Tensor.FromArray<float>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Data), new Shape(Shape), device),
        DType.Float64 => Tensor.FromArray<double>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Data), new Shape(Shape), device),
        _ => Tensor.FromArray<int>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(Data), new Shape(Shape), device),
    };

    private static byte[] Bytes<T>(T[] values) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors: big-endian hosts are not supported.");
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
    }
}

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping names
/// to dtype, shape and data offsets (plus a string map under <c>__metadata__</c>), then the raw
/// data. Files written here also carry <c>sha256</c> of the data section in the metadata, and
/// the reader validates everything before trusting it.
/// </summary>
public static class SafeTensors
{
    /// <summary>Headers larger than this are rejected before any allocation.</summary>
    public const long MaxHeaderBytes = 64 << 20;

    private const string MetadataKey = "__metadata__";
    private const string ChecksumKey = "sha256";

    /// <summary>Test hook: when set, writing throws after this many bytes (simulates a crash mid-write).</summary>
    internal static long? FailAfterBytes;

    /// <summary>
    /// Writes atomically: to a temporary file in the same directory, flushed to disk, then
    /// renamed over <paramref name="path"/>. A failure at any point leaves the old file intact.
    /// </summary>
    public static void Write(string path, IReadOnlyDictionary<string, SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        // Tensors are written straight from their host copies, so saving needs no second copy of the data.
        var ordered = tensors.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var header = EncodeHeader(ordered, metadata);
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                var length = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                long written = WriteChecked(stream, length, 0);
                written = WriteChecked(stream, header, written);
                foreach (var (_, t) in ordered) written = WriteChecked(stream, t.Data, written);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> after <paramref name="written"/> bytes; returns the new total.</summary>
    private static long WriteChecked(Stream stream, byte[] bytes, long written)
    {
        if (FailAfterBytes is long limit && written + bytes.Length > limit)
        {
            stream.Write(bytes, 0, (int)Math.Max(0, limit - written));
            throw new IOException("safetensors: simulated failure while writing.");
        }
        stream.Write(bytes);
        return written + bytes.Length;
    }

    /// <summary>The JSON header (padded to 8 bytes) for tensors stored back to back in the given order, with the data's SHA-256.</summary>
    private static byte[] EncodeHeader(IReadOnlyList<KeyValuePair<string, SafeTensor>> ordered, IReadOnlyDictionary<string, string> metadata)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            long offset = 0;
            foreach (var (name, t) in ordered)
            {
                hash.AppendData(t.Data);
                json.WriteStartObject(name);
                json.WriteString("dtype", DTypeName(t.DType));
                json.WriteStartArray("shape");
                foreach (var d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset += t.Data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteStartObject(MetadataKey);
            foreach (var (key, value) in metadata.Where(p => p.Key != ChecksumKey)) json.WriteString(key, value);
            json.WriteString(ChecksumKey, Convert.ToHexStringLower(hash.GetHashAndReset()));
            json.WriteEndObject();
            json.WriteEndObject();
        }
        while (buffer.Length % 8 != 0) buffer.WriteByte((byte)' ');           // the format pads the header to 8 bytes
        return buffer.ToArray();
    }

    /// <summary>
    /// Reads and validates a file. Every malformation — truncation, an oversized or malformed
    /// header, bad dtypes or shapes, out-of-range or overlapping offsets, duplicate names, a wrong
    /// checksum — is an <see cref="InvalidDataException"/>; nothing larger than the file is allocated.
    /// </summary>
    public static (Dictionary<string, SafeTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        byte[] file;
        try { file = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path); }
        return Parse(file, path);
    }

    /// <summary>Validates and decodes the bytes of a safetensors file (see <see cref="Read"/>).</summary>
    public static (Dictionary<string, SafeTensor> Tensors, Dictionary<string, string> Metadata) Parse(byte[] file, string source = "buffer")
    {
        if (file.Length < 8) throw Bad(source, $"{file.Length} bytes is too short for a header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes) throw Bad(source, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit.");
        if ((long)headerLength > file.Length - 8) throw Bad(source, $"header length {headerLength} runs past the end of the {file.Length}-byte file (truncated?).");
        int dataStart = 8 + (int)headerLength;
        long dataLength = file.Length - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(file.AsMemory(8, (int)headerLength)); }
        catch (JsonException e) { throw Bad(source, $"the header is not valid JSON ({e.Message})."); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(source, "the header is not a JSON object.");
            var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var ranges = new List<(long Begin, long End, string Name)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(entry.Name)) throw Bad(source, $"duplicate key '{entry.Name}'.");
                if (entry.Name == MetadataKey) { ReadMetadata(entry.Value, metadata, source); continue; }
                var (dtype, shape, begin, end) = ReadEntry(entry, dataLength, source);
                ranges.Add((begin, end, entry.Name));
                tensors[entry.Name] = new SafeTensor(dtype, shape, file.AsSpan(dataStart + (int)begin, (int)(end - begin)).ToArray());
            }
            ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            for (int i = 1; i < ranges.Count; i++)
                if (ranges[i].Begin < ranges[i - 1].End) throw Bad(source, $"tensors '{ranges[i - 1].Name}' and '{ranges[i].Name}' overlap.");
            if (metadata.TryGetValue(ChecksumKey, out var expected))
            {
                string actual = Convert.ToHexStringLower(SHA256.HashData(file.AsSpan(dataStart)));
                if (!string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase))
                    throw Bad(source, $"data checksum {actual} does not match the recorded {expected} (corrupted file).");
            }
            return (tensors, metadata);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Bad(source, "__metadata__ is not an object.");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw Bad(source, $"metadata value '{p.Name}' is not a string.");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!)) throw Bad(source, $"duplicate metadata key '{p.Name}'.");
        }
    }

    private static (DType, int[], long, long) ReadEntry(JsonProperty entry, long dataLength, string source)
    {
        var v = entry.Value;
        string name = entry.Name;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dtypeJson) || dtypeJson.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var shapeJson) || shapeJson.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var offsetsJson) || offsetsJson.ValueKind != JsonValueKind.Array || offsetsJson.GetArrayLength() != 2)
            throw Bad(source, $"tensor '{name}' needs dtype, shape and two data_offsets.");
        var dtype = dtypeJson.GetString() switch
        {
            "F32" => DType.Float32,
            "F64" => DType.Float64,
            "I32" => DType.Int32,
            var other => throw Bad(source, $"tensor '{name}' has unsupported dtype '{other}'."),
        };
        var shape = new int[shapeJson.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in shapeJson.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0) throw Bad(source, $"tensor '{name}' has an invalid shape.");
            shape[i++] = dim;
            count = count * dim;
            if (count > dataLength) throw Bad(source, $"tensor '{name}' shape needs more data than the file holds.");
        }
        var offsets = offsetsJson.EnumerateArray().Select(o => o.ValueKind == JsonValueKind.Number && o.TryGetInt64(out long x) ? x : -1).ToArray();
        long begin = offsets[0], end = offsets[1];
        if (begin < 0 || end < begin || end > dataLength) throw Bad(source, $"tensor '{name}' offsets [{begin}, {end}] fall outside the {dataLength}-byte data section.");
        if (end - begin != count * DTypeInfo.SizeOf(dtype)) throw Bad(source, $"tensor '{name}' spans {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {count * DTypeInfo.SizeOf(dtype)}.");
        return (dtype, shape, begin, end);
    }

    private static string DTypeName(DType dtype) => dtype switch
    {
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        DType.Int32 => "I32",
        _ => throw new ArgumentException($"safetensors: unsupported dtype {dtype}."),
    };

    private static InvalidDataException Bad(string source, string problem) => new($"Invalid safetensors file '{source}': {problem}");
}
