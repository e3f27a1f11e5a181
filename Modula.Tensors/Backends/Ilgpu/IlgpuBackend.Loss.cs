using ILGPU;
using ILGPU.Runtime;

namespace Modula.Tensors.Backends.Ilgpu;

internal sealed partial class IlgpuBackend
{
    public void CrossEntropyRows(Tensor logits, Tensor labels, Tensor losses, int classes, double scale)
    {
        var errors = IndexErrors.ForLaunch();
        Launch("cross-entropy", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<
                Index1D,
                ArrayView<float>,
                ArrayView<int>,
                ArrayView<float>,
                int,
                float,
                ArrayView<int>
            >(Kernels.CrossEntropyRows)
        )(losses.Size, Dense<float>(logits), Dense<int>(labels), Dense<float>(losses), classes, (float)scale, errors);
    }

    public void CrossEntropyRowsBackward(
        Tensor logits,
        Tensor labels,
        Tensor upstream,
        Tensor dx,
        int classes,
        double scale,
        double factor
    ) =>
        Launch("cross-entropy-backward", typeof(float), () =>
            Acc.LoadAutoGroupedStreamKernel<
                Index1D,
                ArrayView<float>,
                ArrayView<int>,
                ArrayView<float>,
                ArrayView<float>,
                int,
                float,
                float
            >(Kernels.CrossEntropyRowsBackward)
        )(
            dx.Size / classes,
            Dense<float>(logits),
            Dense<int>(labels),
            Dense<float>(upstream),
            Dense<float>(dx),
            classes,
            (float)scale,
            (float)factor
        );
}
