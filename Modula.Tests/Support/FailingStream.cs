namespace Modula.Tests;

/// <summary>
/// A write-only stream that passes bytes to <paramref name="inner"/> until <paramref name="limit"/>
/// have been written, then writes what still fits and throws as a full disk does.
/// </summary>
internal sealed class FailingStream(Stream inner, long limit) : Stream
{
    private long _written;

    /// <summary>Options that make a safetensors write fail after <paramref name="limit"/> bytes.</summary>
    public static Modula.Optim.SafeTensorsWriteOptions After(long limit) => new(s => new FailingStream(s, limit));

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_written + buffer.Length > limit)
        {
            inner.Write(buffer[..(int)Math.Max(0, limit - _written)]);
            _written = limit;
            throw new IOException("simulated failure while writing (no space left on device).");
        }
        inner.Write(buffer);
        _written += buffer.Length;
    }

    public override void Flush() => inner.Flush();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _written;
    public override long Position
    {
        get => _written;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
