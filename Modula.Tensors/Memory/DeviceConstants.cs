namespace Modula.Tensors;

/// <summary>
/// Constant tensors a device keeps for reuse (<see cref="Device.Constant"/>): made once per key, owned by
/// the device, freed when it is disposed. On an accelerator a constant made from host values is an
/// upload, and every upload waits for the device; a module that needs the same table every step asks
/// for it here instead of uploading it each time.
/// </summary>
internal sealed class DeviceConstants
{
    /// <summary>Constants kept at once; past this, a call makes a fresh tensor owned by the current scope.</summary>
    public const int Capacity = 256;

    private readonly Dictionary<object, Tensor> _kept = new();
    private readonly Lock _gate = new();

    /// <summary>Constants held now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _kept.Count;
        }
    }

    public Tensor GetOrCreate(object key, Func<Tensor> create)
    {
        lock (_gate)
        {
            if (_kept.TryGetValue(key, out var kept))
                return kept;
            var made = create();
            if (_kept.Count >= Capacity)
                return made;
            _kept.Add(key, TensorScope.Escape(made));
            return made;
        }
    }

    /// <summary>Frees every constant (the device is closing; views of them keep their storage until they go).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            foreach (var t in _kept.Values)
                t.Dispose();
            _kept.Clear();
        }
    }
}
