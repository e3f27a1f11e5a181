namespace Modula.Tensors.Primitives;

/// <summary>
/// When RMS normalization takes a row's mean square again on the row scaled to a largest magnitude of 1, on every
/// backend: when the squares overflowed, or when the mean square falls under these floors. Below them some squares
/// may have fallen under the normal range (float32's ends near 1e-38), and their lost bits would matter; above them
/// they cannot move the sum by a rounding error.
/// </summary>
internal static class RmsRescue
{
    /// <summary>The float32 floor, 2^-100.</summary>
    public const float MeanSquareFloat32 = 7.888609e-31f;

    /// <summary>The float64 floor, 2^-960.</summary>
    public const double MeanSquareFloat64 = 1.0261342003245941e-289;
}
