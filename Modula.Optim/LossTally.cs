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

    // The device part of a resumed interval's sum, until the next device loss continues it (see the constructor).
    private double? _carriedDeviceSum;

    /// <summary>
    /// Starts from <paramref name="count"/> losses summing to <paramref name="sum"/> (a report interval carried across
    /// a resume), <paramref name="deviceSum"/> of which was summed on a device (<see cref="DeviceSum"/>; a value the
    /// losses' dtype holds exactly, as a sum in that dtype is). The next device loss is added to that part in the
    /// loss's own precision, as it would have been had the run not stopped, so the interval's mean has the same bits
    /// wherever a resume split it.
    /// </summary>
    public LossTally(double sum = 0, int count = 0, double deviceSum = 0)
    {
        // Exact when either part is 0, as in a run whose losses are all on the device or all on the host; a sum with
        // both (a data-parallel run resumed on one process) may differ from its host part in the last bit.
        (_hostSum, Count) = (sum - deviceSum, count);
        if (deviceSum != 0)
            _carriedDeviceSum = deviceSum;
    }

    /// <summary>Losses added since the last <see cref="TakeMean"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Their sum (reading it waits for the device when part of it is there).</summary>
    public double Sum => HostSum + DeviceSum;

    /// <summary>The part of <see cref="Sum"/> summed on the host, in float64.</summary>
    public double HostSum => _hostSum;

    /// <summary>The part of <see cref="Sum"/> summed on a device, in the losses' precision (a float32 loss's sum
    /// rounds to float32 at every step): a resumed tally needs it apart to round the rest of the interval the same
    /// way.</summary>
    public double DeviceSum => _deviceSum?.Item() ?? _carriedDeviceSum ?? 0;

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
        else if (_carriedDeviceSum is double carried)
        {
            var resumed = TensorScope.Escape(Tensor.Scalar(carried, loss.DType, loss.Device));
            try
            {
                Ops.Zip(resumed, scalar, new Tensors.Primitives.Add(), into: resumed);
            }
            catch
            {
                resumed.Dispose(); // the carried part stays, for Sum and a later Add
                throw;
            }
            (_deviceSum, _carriedDeviceSum) = (resumed, null);
        }
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
        double carried = _carriedDeviceSum ?? 0;
        _carriedDeviceSum = null;
        if (_deviceSum is not { } sum)
            return carried;
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
