using Modula.Tensors;

namespace Modula.Optim;

/// <summary>
/// Sums training losses where they are computed: a loss on a device is added on the device, so a training
/// step need not wait for the device just to read its loss; the mean is read (one host wait) only when a
/// report asks for it. Host values (a data-parallel step's all-reduced loss) are summed on the host.
/// </summary>
public sealed class LossTally : IDisposable
{
    private Tensor? _deviceSum;
    private double _hostSum;

    /// <summary>Starts from <paramref name="count"/> losses summing to <paramref name="sum"/> (a report interval
    /// carried across a resume).</summary>
    public LossTally(double sum = 0, int count = 0) => (_hostSum, Count) = (sum, count);

    /// <summary>Losses added since the last <see cref="TakeMean"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Their sum (reading it waits for the device when part of it is there).</summary>
    public double Sum => _hostSum + (_deviceSum?.Item() ?? 0);

    /// <summary>Adds a loss known on the host.</summary>
    public void Add(double loss)
    {
        _hostSum += loss;
        Count++;
    }

    /// <summary>Adds a one-element loss tensor (borrowed) without reading it.</summary>
    public void Add(Tensor loss)
    {
        if (loss.Size != 1)
            throw new ArgumentException($"LossTally.Add: a loss has one element, got {loss.Shape}.", nameof(loss));
        using var scalar = loss.Reshape();
        if (_deviceSum is { } sum && sum.Device == loss.Device && sum.DType == loss.DType)
            Ops.Zip(sum, scalar, new Tensors.Primitives.Add(), into: sum);
        else
        {
            _hostSum += TakeDeviceSum();
            _deviceSum = TensorScope.Escape(Ops.Contiguous(scalar));
        }
        Count++;
    }

    /// <summary>The mean of the losses added since the last call (NaN when none), and a fresh start.</summary>
    public double TakeMean()
    {
        double mean = (_hostSum + TakeDeviceSum()) / Count;
        (_hostSum, Count) = (0, 0);
        return mean;
    }

    private double TakeDeviceSum()
    {
        if (_deviceSum is not { } sum)
            return 0;
        using (sum)
        {
            _deviceSum = null;
            return sum.Item();
        }
    }

    /// <summary>Frees the device sum.</summary>
    public void Dispose()
    {
        _deviceSum?.Dispose();
        _deviceSum = null;
    }
}
