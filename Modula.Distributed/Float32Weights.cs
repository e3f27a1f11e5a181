using Modula.Optim;
using Modula.Tensors;

namespace Modula.Distributed;

/// <summary>Data-parallel training exchanges float32 buffers: the one check of a trainer's weights for it.</summary>
internal static class Float32Weights
{
    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="who"/>, the first weight that is not
    /// float32 and <paramref name="why"/> it must be.</summary>
    public static void Require(Trainer trainer, string who, string why)
    {
        for (int i = 0; i < trainer.Weights.Count; i++)
            if (trainer.Weights[i].DType != DType.Float32)
                throw new ArgumentException(
                    $"{who}: weight {i} is {trainer.Weights[i].DType} ({trainer.Model.Atoms()[i].Path}); {why}.",
                    nameof(trainer)
                );
    }
}
