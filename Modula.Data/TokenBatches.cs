using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Data;

/// <summary>
/// Next-token batches from a token sequence: each row is a random window of the context length,
/// its targets the same window shifted by one token. Windows start at positions drawn from a
/// seeded <see cref="Generator"/>, so a run's batches are reproducible and resumable from the
/// generator's seed and offset.
/// </summary>
public static class TokenBatches
{
    /// <summary>
    /// Draws <paramref name="batch"/> windows of <paramref name="context"/> tokens: inputs and next-token targets,
    /// both [batch, context] int32 tensors on <paramref name="device"/> (the CPU when null).
    /// </summary>
    public static (Tensor Inputs, Tensor Targets) Sample(
        int[] tokens,
        int batch,
        int context,
        Generator sampler,
        Device? device = null
    ) => Sample(tokens, batch, context, sampler, 0, batch, device);

    /// <summary>
    /// Rows [<paramref name="first"/>, <paramref name="first"/> + <paramref name="rows"/>) of the next batch of
    /// <paramref name="batch"/> windows. The whole batch's starts are drawn, so the sampler advances exactly as
    /// when the whole batch is taken at once: data-parallel ranks that each take their rows see one batch.
    /// </summary>
    public static (Tensor Inputs, Tensor Targets) Sample(
        int[] tokens,
        int batch,
        int context,
        Generator sampler,
        int first,
        int rows,
        Device? device = null
    )
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(sampler);
        if (batch <= 0 || context <= 0)
            throw new ArgumentOutOfRangeException(
                nameof(batch),
                $"TokenBatches.Sample: batch ({batch}) and context ({context}) must be positive."
            );
        if (first < 0 || rows < 0 || first > batch - rows)
            throw new ArgumentOutOfRangeException(
                nameof(first),
                $"TokenBatches.Sample: rows [{first}, {first + rows}) do not lie in a batch of {batch}."
            );
        int range = tokens.Length - context - 1;
        if (range <= 0)
            throw new DataException(
                $"TokenBatches.Sample: the text has {tokens.Length} tokens; a context of {context} needs at least "
                    + $"{context + 2}."
            );
        using var bits = Ops.RandomBits(new Shape(batch), sampler);
        var starts = bits.ToArray<int>();
        // Inputs then targets in one buffer: one upload, and so one wait for an accelerator, per batch.
        int n = checked(rows * context);
        var both = new int[checked(2 * n)];
        for (int i = 0; i < rows; i++)
        {
            int start = (int)((uint)starts[first + i] % (uint)range);
            Array.Copy(tokens, start, both, i * context, context);
            Array.Copy(tokens, start + 1, both, n + i * context, context);
        }
        using var pair = Tensor.FromArray<int>(both, new Shape(2, rows, context), device);
        using var inputs = pair.Slice(0, 0, 1);
        using var targets = pair.Slice(0, 1, 1);
        return (inputs.View(rows, context), targets.View(rows, context));
    }
}
