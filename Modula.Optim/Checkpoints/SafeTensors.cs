using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Modula.Tensors;

namespace Modula.Optim;

/// <summary>One tensor of a safetensors file: dtype, shape and its little-endian bytes.</summary>
public sealed record SafeTensor(DType DType, int[] Shape, byte[] Data)
{
    /// <summary>
    /// Copies <paramref name="t"/> to the host, into <paramref name="buffer"/> when it has exactly the
    /// right length (reusing a buffer avoids touching fresh memory on every checkpoint).
    /// </summary>
    public static SafeTensor From(Tensor t, byte[]? buffer = null)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors: big-endian hosts are not supported.");
        int bytes = t.Shape.Size * DTypeInfo.SizeOf(t.DType);
        var data = buffer is not null && buffer.Length == bytes ? buffer : GC.AllocateUninitializedArray<byte>(bytes);
        var span = data.AsSpan();
        switch (t.DType)
        {
            case DType.Float32:
                t.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span));
                break;
            case DType.Float64:
                t.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(span));
                break;
            case DType.Int32:
                t.CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(span));
                break;
            default:
                throw new ArgumentException($"SafeTensor: unsupported dtype {t.DType}.");
        }
        return new(t.DType, t.Shape.Dims.ToArray(), data);
    }

    /// <summary>
    /// The first value (in storage order) that is NaN, infinite or, with <paramref name="nonNegative"/>, below zero,
    /// described with its index; null when every float value is fine (and for Int32 tensors).
    /// </summary>
    public string? FirstBadValue(bool nonNegative = false)
    {
        static string? Scan<T>(ReadOnlySpan<T> values, bool nonNegative)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            for (int i = 0; i < values.Length; i++)
                if (!T.IsFinite(values[i]) || (nonNegative && T.IsNegative(values[i]) && !T.IsZero(values[i])))
                    return string.Create(CultureInfo.InvariantCulture, $"element {i} is {values[i]}");
            return null;
        }
        return DType switch
        {
            DType.Float32 => Scan(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Data), nonNegative),
            DType.Float64 => Scan(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Data), nonNegative),
            _ => null,
        };
    }

    /// <summary>A new tensor with these values on <paramref name="device"/>.</summary>
    public Tensor ToTensor(Device device) =>
        DType switch
        {
            DType.Float32 => Tensor.FromArray<float>(
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Data),
                new Shape(Shape),
                device
            ),
            DType.Float64 => Tensor.FromArray<double>(
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(Data),
                new Shape(Shape),
                device
            ),
            _ => Tensor.FromArray<int>(
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(Data),
                new Shape(Shape),
                device
            ),
        };
}

/// <summary>Options of <c>SafeTensors.Write</c>.</summary>
/// <param name="WrapStream">
/// When set, wraps the temporary file's stream before anything is written, and every byte goes
/// through the wrapper: to count, throttle or checksum what is written, or to make the write fail
/// part-way as a full disk would (the failure-path tests do). Whatever the wrapper throws, the
/// temporary file is removed and the destination is left as it was. The file is synced to disk
/// after the wrapper's <c>Flush()</c> and before it is disposed, so a wrapper must pass every byte
/// on when flushed (one that writes a trailer only when disposed, like a compressor, is not
/// supported).
/// </param>
public sealed record SafeTensorsWriteOptions(Func<Stream, Stream>? WrapStream = null);

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping names
/// to dtype, shape and data offsets (plus a string map under <c>__metadata__</c>), then the raw
/// data. Files written here carry two checksums in the metadata: <c>sha256</c> of the data
/// section and <c>header_sha256</c> of every tensor entry and every other metadata entry, so a
/// change anywhere in the file is detected. The reader validates everything before trusting it.
/// </summary>
public static class SafeTensors
{
    /// <summary>Headers larger than this are rejected before any allocation.</summary>
    public const long MaxHeaderBytes = 64 << 20;

    /// <summary>Metadata key of the data section's SHA-256.</summary>
    public const string ChecksumKey = "sha256";

    /// <summary>Metadata key of the SHA-256 of the header's content (tensor entries and the other metadata).</summary>
    public const string HeaderChecksumKey = "header_sha256";

    private const string MetadataKey = "__metadata__";

    /// <summary>The prefix of the temporary files <see cref="Write"/> creates next to <paramref
    /// name="path"/>.</summary>
    public static string TempPrefix(string path) => $".{Path.GetFileName(Path.GetFullPath(path))}.";

    /// <summary>The name of the temporary file that process <paramref name="processId"/> writes, as write <paramref
    /// name="id"/>, before renaming it to <paramref name="path"/>: <c>.NAME.PID.ID.tmp</c>.</summary>
    public static string TempName(string path, int processId, Guid id) => $"{TempPrefix(path)}{processId}.{id:N}.tmp";

    /// <summary>
    /// Writes atomically: to a temporary file in the same directory, flushed to disk, then
    /// renamed over <paramref name="path"/>. A failure at any point leaves the old file intact
    /// and removes the temporary file.
    /// </summary>
    public static void Write(
        string path,
        IReadOnlyDictionary<string, SafeTensor> tensors,
        IReadOnlyDictionary<string, string> metadata,
        SafeTensorsWriteOptions? options = null
    )
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        // Tensors are written straight from their host copies, so saving needs no second copy of the data.
        var ordered = tensors.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var header = EncodeHeader(ordered, metadata);
        string temp = Path.Combine(directory, TempName(full, Environment.ProcessId, Guid.NewGuid()));
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                using (var stream = options?.WrapStream?.Invoke(file) ?? file)
                {
                    var length = new byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                    stream.Write(length);
                    stream.Write(header);
                    foreach (var (_, t) in ordered)
                        stream.Write(t.Data);
                    stream.Flush();
                    file.Flush(flushToDisk: true);
                }
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>The bytes <see cref="Write"/> would put in a file (for in-memory use: tests, fuzzing,
    /// transfer).</summary>
    public static byte[] Serialize(
        IReadOnlyDictionary<string, SafeTensor> tensors,
        IReadOnlyDictionary<string, string> metadata
    )
    {
        var ordered = tensors.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var header = EncodeHeader(ordered, metadata);
        var stream = new MemoryStream();
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var (_, t) in ordered)
            stream.Write(t.Data);
        return stream.ToArray();
    }

    /// <summary>The JSON header (padded to 8 bytes) for tensors stored back to back in the given order, with both
    /// checksums.</summary>
    private static byte[] EncodeHeader(
        IReadOnlyList<KeyValuePair<string, SafeTensor>> ordered,
        IReadOnlyDictionary<string, string> metadata
    )
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var entries = new List<(string Name, DType DType, int[] Shape, long Begin, long End)>();
        long offset = 0;
        foreach (var (name, t) in ordered)
        {
            hash.AppendData(t.Data);
            entries.Add((name, t.DType, t.Shape, offset, offset += t.Data.Length));
        }
        var own = metadata
            .Where(p => p.Key is not (ChecksumKey or HeaderChecksumKey))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var e in entries)
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", DTypeName(e.DType));
                json.WriteStartArray("shape");
                foreach (var d in e.Shape)
                    json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(e.Begin);
                json.WriteNumberValue(e.End);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteStartObject(MetadataKey);
            foreach (var (key, value) in own)
                json.WriteString(key, value);
            json.WriteString(ChecksumKey, Convert.ToHexStringLower(hash.GetHashAndReset()));
            json.WriteString(HeaderChecksumKey, HeaderDigest(entries, own));
            json.WriteEndObject();
            json.WriteEndObject();
        }
        while (buffer.Length % 8 != 0)
            buffer.WriteByte((byte)' '); // the format pads the header to 8 bytes
        return buffer.ToArray();
    }

    /// <summary>
    /// SHA-256 of the header's content in a canonical form (entries and metadata sorted by name, each
    /// string length-prefixed), so it does not depend on JSON spelling and covers every value.
    /// </summary>
    private static string HeaderDigest(
        IEnumerable<(string Name, DType DType, int[] Shape, long Begin, long End)> entries,
        IReadOnlyDictionary<string, string> metadata
    )
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var number = new byte[8];
        void Append(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            BinaryPrimitives.WriteInt64LittleEndian(number, bytes.Length);
            hash.AppendData(number);
            hash.AppendData(bytes);
        }
        void AppendNumber(long n)
        {
            BinaryPrimitives.WriteInt64LittleEndian(number, n);
            hash.AppendData(number);
        }
        foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            Append(e.Name);
            Append(DTypeName(e.DType));
            AppendNumber(e.Shape.Length);
            foreach (var d in e.Shape)
                AppendNumber(d);
            AppendNumber(e.Begin);
            AppendNumber(e.End);
        }
        Append(MetadataKey);
        foreach (
            var (key, value) in metadata
                .Where(p => p.Key is not (ChecksumKey or HeaderChecksumKey))
                .OrderBy(p => p.Key, StringComparer.Ordinal)
        )
        {
            Append(key);
            Append(value);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// Reads and validates a file. Every malformation — truncation, an oversized, malformed or
    /// non-UTF-8 header, bad dtypes or shapes, out-of-range or overlapping offsets, duplicate names,
    /// a missing or wrong checksum of the data or of the header — is an
    /// <see cref="InvalidDataException"/>; nothing much larger than the file is allocated.
    /// </summary>
    public static (Dictionary<string, SafeTensor> Tensors, Dictionary<string, string> Metadata) Read(string path) =>
        Parse(ReadCheckpointBytes(path), path);

    /// <summary>The bytes of a checkpoint file, unparsed: a missing file is a <see cref="FileNotFoundException"/>,
    /// one that cannot be read, or that is no regular file, an <see cref="InvalidDataException"/>.</summary>
    internal static byte[] ReadCheckpointBytes(string path)
    {
        try
        {
            return ReadRegularFile(path);
        }
        catch (FileNotFoundException)
        {
            throw new FileNotFoundException($"Checkpoint '{path}' does not exist.", path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InvalidDataException($"Cannot read checkpoint '{path}': {e.Message}", e);
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new InvalidDataException($"Cannot read checkpoint '{path}': {e.Message}", e);
        }
    }

    /// <summary>
    /// The bytes of <paramref name="path"/>, refused (<see cref="InvalidDataException"/>) when it reports no size (an
    /// empty file, or a pipe or device), is a pipe, or yields more bytes than its size (a device such as
    /// <c>/dev/zero</c>, which <see cref="File.ReadAllBytes"/> would read until memory runs out).
    /// </summary>
    private static byte[] ReadRegularFile(string path)
    {
        // Before opening: opening a named pipe waits for a writer, which may never come.
        if (FileChecks.ReportsNoSize(path))
            throw Bad(path, "it is empty, or a device or pipe, not a checkpoint file.");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        if (!stream.CanSeek)
            throw Bad(path, "it is a pipe or socket, not a checkpoint file.");
        long length = stream.Length;
        if (length > Array.MaxLength)
            throw Bad(path, $"{length} bytes is more than one array holds; no checkpoint is that large.");
        var bytes = GC.AllocateUninitializedArray<byte>((int)length);
        stream.ReadExactly(bytes);
        if (stream.ReadByte() >= 0)
            throw Bad(path, $"it reads past its size of {length} bytes: a device or pipe, not a checkpoint file.");
        return bytes;
    }

    /// <summary>
    /// Validates and decodes the bytes of a safetensors file (see <see cref="Read"/>). With
    /// <paramref name="requireChecksums"/> false, a file without checksums (one written by another
    /// program) is accepted; checksums that are present are always verified.
    /// </summary>
    public static (Dictionary<string, SafeTensor> Tensors, Dictionary<string, string> Metadata) Parse(
        byte[] file,
        string source = "buffer",
        bool requireChecksums = true
    )
    {
        if (file.Length < 8)
            throw Bad(source, $"{file.Length} bytes is too short for a header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > MaxHeaderBytes)
            throw Bad(source, $"header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit.");
        if ((long)headerLength > file.Length - 8)
            throw Bad(
                source,
                $"header length {headerLength} runs past the end of the {file.Length}-byte file (truncated?)."
            );
        var headerBytes = file.AsMemory(8, (int)headerLength);
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes.Span))
            throw Bad(source, "the header is not valid UTF-8.");
        try
        {
            return ParseHeader(file, (int)headerLength, source, requireChecksums);
        }
        catch (Exception e)
            when (e
                    is JsonException
                        or InvalidOperationException
                        or FormatException
                        or ArgumentException
                        or OverflowException
                        or DecoderFallbackException
            )
        {
            // System.Text.Json reports some malformations (lone surrogates in escapes, depth) as these.
            throw Bad(source, $"the header is malformed ({e.Message}).");
        }
    }

    private static (Dictionary<string, SafeTensor>, Dictionary<string, string>) ParseHeader(
        byte[] file,
        int headerLength,
        string source,
        bool requireChecksums
    )
    {
        int dataStart = 8 + headerLength;
        long dataLength = file.Length - dataStart;
        using var doc = JsonDocument.Parse(file.AsMemory(8, headerLength), new JsonDocumentOptions { MaxDepth = 8 });
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw Bad(source, "the header is not a JSON object.");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<(string Name, DType DType, int[] Shape, long Begin, long End)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(entry.Name))
                throw Bad(source, $"duplicate key '{entry.Name}'.");
            if (entry.Name == MetadataKey)
            {
                ReadMetadata(entry.Value, metadata, source);
                continue;
            }
            var (dtype, shape, begin, end) = ReadEntry(entry, dataLength, source);
            entries.Add((entry.Name, dtype, shape, begin, end));
        }
        var ranges = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        for (int i = 1; i < ranges.Count; i++)
            if (ranges[i].Begin < ranges[i - 1].End)
                throw Bad(source, $"tensors '{ranges[i - 1].Name}' and '{ranges[i].Name}' overlap.");
        VerifyChecksums(file.AsSpan(dataStart), entries, metadata, source, requireChecksums);
        // Only now, with everything checked, are the tensors copied out.
        var tensors = new Dictionary<string, SafeTensor>(StringComparer.Ordinal);
        foreach (var e in entries)
            tensors[e.Name] = new SafeTensor(
                e.DType,
                e.Shape,
                file.AsSpan(dataStart + (int)e.Begin, (int)(e.End - e.Begin)).ToArray()
            );
        return (tensors, metadata);
    }

    private static void VerifyChecksums(
        ReadOnlySpan<byte> data,
        List<(string Name, DType DType, int[] Shape, long Begin, long End)> entries,
        Dictionary<string, string> metadata,
        string source,
        bool required
    )
    {
        bool hasData = metadata.TryGetValue(ChecksumKey, out var expected);
        bool hasHeader = metadata.TryGetValue(HeaderChecksumKey, out var expectedHeader);
        if (required && !(hasData && hasHeader))
            throw Bad(
                source,
                $"the metadata has no '{(hasData ? HeaderChecksumKey : ChecksumKey)}' checksum (not written by "
                    + $"Modula.NET, or altered)."
            );
        if (hasData)
        {
            string actual = Convert.ToHexStringLower(SHA256.HashData(data));
            if (!string.Equals(expected, actual, StringComparison.Ordinal))
                throw Bad(source, $"data checksum {actual} does not match the recorded {expected} (corrupted file).");
        }
        if (hasHeader)
        {
            string actual = HeaderDigest(entries, metadata);
            if (!string.Equals(expectedHeader, actual, StringComparison.Ordinal))
                throw Bad(
                    source,
                    $"header checksum {actual} does not match the recorded {expectedHeader} (the tensor list or "
                        + $"metadata was altered)."
                );
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string source)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(source, "__metadata__ is not an object.");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw Bad(source, $"metadata value '{p.Name}' is not a string.");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
                throw Bad(source, $"duplicate metadata key '{p.Name}'.");
        }
    }

    private static (DType, int[], long, long) ReadEntry(JsonProperty entry, long dataLength, string source)
    {
        var v = entry.Value;
        string name = entry.Name;
        if (
            v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dtypeJson)
            || dtypeJson.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var shapeJson)
            || shapeJson.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var offsetsJson)
            || offsetsJson.ValueKind != JsonValueKind.Array
            || offsetsJson.GetArrayLength() != 2
        )
            throw Bad(source, $"tensor '{name}' needs dtype, shape and two data_offsets.");
        var dtype = dtypeJson.GetString() switch
        {
            "F32" => DType.Float32,
            "F64" => DType.Float64,
            "I32" => DType.Int32,
            var other => throw Bad(source, $"tensor '{name}' has unsupported dtype '{other}'."),
        };
        if (shapeJson.GetArrayLength() > 8)
            throw Bad(source, $"tensor '{name}' has {shapeJson.GetArrayLength()} axes (at most 8).");
        var shape = new int[shapeJson.GetArrayLength()];
        long count = 1;
        int i = 0;
        foreach (var d in shapeJson.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw Bad(source, $"tensor '{name}' has an invalid shape.");
            shape[i++] = dim;
            count *= dim; // ≤ dataLength · int.MaxValue: no overflow
            if (count > dataLength)
                throw Bad(source, $"tensor '{name}' shape needs more data than the file holds.");
        }
        var offsets = offsetsJson
            .EnumerateArray()
            .Select(o => o.ValueKind == JsonValueKind.Number && o.TryGetInt64(out long x) ? x : -1)
            .ToArray();
        long begin = offsets[0],
            end = offsets[1];
        if (begin < 0 || end < begin || end > dataLength)
            throw Bad(
                source,
                $"tensor '{name}' offsets [{begin}, {end}] fall outside the {dataLength}-byte data section."
            );
        if (end - begin != count * DTypeInfo.SizeOf(dtype))
            throw Bad(
                source,
                $"tensor '{name}' spans {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs "
                    + $"{count * DTypeInfo.SizeOf(dtype)}."
            );
        return (dtype, shape, begin, end);
    }

    private static string DTypeName(DType dtype) =>
        dtype switch
        {
            DType.Float32 => "F32",
            DType.Float64 => "F64",
            DType.Int32 => "I32",
            _ => throw new ArgumentException($"safetensors: unsupported dtype {dtype}."),
        };

    private static InvalidDataException Bad(string source, string problem) =>
        new($"Invalid safetensors file '{source}': {problem}");
}
