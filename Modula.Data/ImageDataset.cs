using System.Buffers;
using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Data;

/// <summary>Fashion-MNIST: 28×28 grayscale images in 10 classes, scaled to mean 0 and unit variance.</summary>
public sealed class ImageDataset
{
    /// <summary>Fashion-MNIST's pixel mean and standard deviation (of x/255).</summary>
    public const double Mean = 0.2860,
        Std = 0.3530;

    /// <summary>Pairs images [N, H, W] with labels [N] (validated).</summary>
    public ImageDataset(IdxArray images, IdxArray labels)
    {
        if (images.Dims.Length != 3 || labels.Dims.Length != 1 || images.Dims[0] != labels.Dims[0])
            throw new DataException(
                $"images [{string.Join(", ", images.Dims)}] and labels [{string.Join(", ", labels.Dims)}] do not pair "
                    + $"up."
            );
        Count = images.Dims[0];
        Height = images.Dims[1];
        Width = images.Dims[2];
        _bytes = images.Data;
        Labels = Array.ConvertAll(labels.Data, b => (int)b);
        if (Labels.Any(l => l > 9))
            throw new DataException("labels must lie in 0..9.");
    }

    /// <summary>SHA-256 (hex) of the images and labels: identifies the data a run was trained on.</summary>
    public string Fingerprint => _fingerprint ??= Fingerprinted();

    private string? _fingerprint;

    private string Fingerprinted()
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(
            System.Security.Cryptography.HashAlgorithmName.SHA256
        );
        hash.AppendData(_bytes);
        hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Labels.AsSpan()));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Number of images.</summary>
    public int Count { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    // The raw bytes (47 MB for the training set) instead of a float copy four times that size;
    // images are normalized as they are copied out.
    private readonly byte[] _bytes;
    private static readonly float[] Normalized = Enumerable
        .Range(0, 256)
        .Select(b => (float)((b / 255.0 - Mean) / Std))
        .ToArray();

    /// <summary>Writes image <paramref name="index"/>'s H·W pixels, scaled to mean 0 and unit variance, into <paramref
    /// name="destination"/>.</summary>
    public void CopyImage(int index, Span<float> destination)
    {
        int pixels = Height * Width;
        var source = _bytes.AsSpan(index * pixels, pixels);
        for (int i = 0; i < pixels; i++)
            destination[i] = Normalized[source[i]];
    }

    /// <summary>
    /// The rows of a random batch: <paramref name="batch"/> indices drawn uniformly (with replacement) from
    /// <paramref name="sampler"/>, which advances by one draw per row.
    /// </summary>
    public int[] SampleRows(int batch, Generator sampler)
    {
        ArgumentNullException.ThrowIfNull(sampler);
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        if (Count == 0)
            throw new DataException("ImageDataset.SampleRows: the dataset holds no images.");
        using var bits = Ops.RandomBits(new Shape(batch), sampler);
        return Array.ConvertAll(bits.ToArray<int>(), b => (int)((uint)b % (uint)Count));
    }

    /// <summary>
    /// Images and labels of <paramref name="rows"/> as tensors on <paramref name="device"/> (the CPU when null):
    /// images [n, H·W] when <paramref name="flat"/>, else [n, 1, H, W], normalized; labels [n] int32.
    /// </summary>
    public (Tensor Images, Tensor Labels) Batch(ReadOnlySpan<int> rows, bool flat = true, Device? device = null)
    {
        int pixels = Height * Width;
        var labels = new int[rows.Length];
        // Staging from the shared pool: a batch does not allocate a large array per step.
        var staging = ArrayPool<float>.Shared.Rent(Math.Max(1, checked(rows.Length * pixels)));
        try
        {
            for (int i = 0; i < rows.Length; i++)
            {
                if ((uint)rows[i] >= (uint)Count)
                    throw new ArgumentOutOfRangeException(
                        nameof(rows),
                        $"ImageDataset.Batch: row {rows[i]} is outside the {Count} images."
                    );
                CopyImage(rows[i], staging.AsSpan(i * pixels, pixels));
                labels[i] = Labels[rows[i]];
            }
            var shape = flat ? new Shape(rows.Length, pixels) : new Shape(rows.Length, 1, Height, Width);
            return (
                Tensor.FromArray<float>(staging.AsSpan(0, rows.Length * pixels), shape, device),
                Tensor.FromArray<int>(labels, new Shape(rows.Length), device)
            );
        }
        finally
        {
            ArrayPool<float>.Shared.Return(staging);
        }
    }

    /// <summary>Class labels 0..9.</summary>
    public int[] Labels { get; }

    /// <summary>Loads the training or test split.</summary>
    public static ImageDataset LoadFashionMnist(bool train, string? directory, bool download, TextWriter log) =>
        new(
            IdxArray.Read(
                DataFiles.Locate(
                    train ? DataFiles.FashionTrainImages : DataFiles.FashionTestImages,
                    directory,
                    download,
                    log
                )
            ),
            IdxArray.Read(
                DataFiles.Locate(
                    train ? DataFiles.FashionTrainLabels : DataFiles.FashionTestLabels,
                    directory,
                    download,
                    log
                )
            )
        );
}
