namespace Modula.Tensors;

/// <summary>
/// A reference-counted buffer of elements on one device. Tensors and their views share a
/// storage; the buffer returns to the device's pool when the last of them is disposed.
/// </summary>
public abstract class Storage
{
    private int _references = 1;

    /// <summary>Creates a storage holding one reference.</summary>
    protected Storage(Device device, DType dtype, int length)
    {
        Device = device;
        DType = dtype;
        Length = length;
    }

    /// <summary>The device that owns the buffer.</summary>
    public Device Device { get; }

    /// <summary>Element type.</summary>
    public DType DType { get; }

    /// <summary>Number of usable elements (the pooled buffer may be larger).</summary>
    public int Length { get; }

    /// <summary>Bytes of the usable elements.</summary>
    public long Bytes => (long)Length * DType.SizeOf();

    /// <summary>True while more than one tensor (views included) holds the buffer.</summary>
    public bool IsShared => Volatile.Read(ref _references) > 1;

    /// <summary>True once the last reference was released.</summary>
    public bool IsReleased => Volatile.Read(ref _references) <= 0;

    internal void Retain()
    {
        if (Interlocked.Increment(ref _references) <= 1)
            throw new ObjectDisposedException(nameof(Storage), "The storage was already released.");
    }

    internal void Release()
    {
        int left = Interlocked.Decrement(ref _references);
        if (left == 0)
            Device.Free(this);
        else if (left < 0)
            throw new ObjectDisposedException(nameof(Storage), "The storage was released twice.");
    }

    /// <summary>Returns the raw buffer to the device pool; called once, when the last reference goes.</summary>
    protected internal abstract void ReturnToPool();
}
