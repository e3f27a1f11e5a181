using Modula.Tensors;
using Modula.Tensors.Random;

namespace Modula.Modules.Linalg;

/// <summary>
/// Small exact linear algebra in float64 on the host: orthonormal initialization and
/// singular values. Used where exactness matters more than speed (initialization, norms,
/// tests), never in the per-step hot path.
/// </summary>
public static class HostLinalg
{
    /// <summary>
    /// A [rows, cols] matrix with orthonormal rows or columns (whichever are fewer), drawn from
    /// the Haar measure: a Gaussian matrix's QR factor with a positive diagonal in R.
    /// </summary>
    public static double[] RandomSemiOrthogonal(int rows, int cols, Generator rng)
    {
        int tall = Math.Max(rows, cols),
            narrow = Math.Min(rows, cols);
        using var gaussian = Ops.Normal(new Shape(narrow, tall), rng, DType.Float64);
        var q = gaussian.ToArray<double>(); // narrow vectors of length tall, one per row
        for (int pass = 0; pass < 2; pass++) // Gram–Schmidt twice is orthogonal to rounding
        for (int i = 0; i < narrow; i++)
        {
            var qi = q.AsSpan(i * tall, tall);
            for (int j = 0; j < i; j++)
            {
                var qj = q.AsSpan(j * tall, tall);
                double dot = Dot(qi, qj);
                for (int k = 0; k < tall; k++)
                    qi[k] -= dot * qj[k];
            }
            double norm = Math.Sqrt(Dot(qi, qi));
            for (int k = 0; k < tall; k++)
                qi[k] /= norm;
        }
        if (rows == narrow)
            return q; // orthonormal rows: already [rows, cols]
        var result = new double[rows * cols]; // orthonormal columns: transpose
        for (int i = 0; i < narrow; i++)
        for (int k = 0; k < tall; k++)
            result[k * cols + i] = q[i * tall + k];
        return result;
    }

    /// <summary>Singular values (descending) of the [rows, cols] matrix <paramref name="a"/>, by one-sided
    /// Jacobi.</summary>
    public static double[] SingularValues(ReadOnlySpan<double> a, int rows, int cols)
    {
        var (values, _, _, _) = Jacobi(a, rows, cols, withVectors: false);
        Array.Sort(values);
        Array.Reverse(values);
        return values;
    }

    /// <summary>
    /// A certified upper bound on the largest singular value of the [rows, cols] matrix <paramref name="a"/>, sure
    /// even if Jacobi has not converged: after the rotations (which keep the singular values) the Gram matrix of the
    /// rotated vectors has eigenvalues σ², and Gershgorin's theorem bounds the largest by the largest absolute row
    /// sum. At convergence the Gram matrix is diagonal and the bound is σ₁ itself; a relative 1e-12 covers the
    /// float64 rounding of the sums.
    /// </summary>
    public static double SpectralNormBound(ReadOnlySpan<double> a, int rows, int cols)
    {
        // Jacobi's rotations cannot take NaN or ±∞; such a matrix has no bound (NaN says so to the caller).
        foreach (double x in a)
            if (!double.IsFinite(x))
                return double.NaN;
        var (_, v, _, scale) = Jacobi(a, rows, cols, withVectors: false);
        int count = Math.Min(rows, cols),
            length = Math.Max(rows, cols);
        double largest = 0;
        for (int i = 0; i < count; i++)
        {
            double row = 0;
            for (int j = 0; j < count; j++)
                row += Math.Abs(Dot(v.AsSpan(i * length, length), v.AsSpan(j * length, length)));
            largest = Math.Max(largest, row);
        }
        // The rotated vectors are the scaled matrix's: its bound, scaled back.
        return Math.Sqrt(largest) * scale * (1 + 1e-12);
    }

    /// <summary>
    /// U·f(Σ)·Vᵀ for the [rows, cols] matrix <paramref name="a"/> = U Σ Vᵀ (thin SVD by one-sided Jacobi): the
    /// exact float64 reference for an odd matrix polynomial or any other map of the singular values that keeps the
    /// singular vectors. Singular values that are exactly 0 contribute nothing (f(0) is taken as 0).
    /// </summary>
    public static double[] MapSingularValues(ReadOnlySpan<double> a, int rows, int cols, Func<double, double> f)
    {
        var (values, vectors, rotations, scale) = Jacobi(a, rows, cols, withVectors: true);
        bool byRows = rows <= cols;
        int count = values.Length,
            length = byRows ? cols : rows;
        var result = new double[rows * cols];
        for (int i = 0; i < count; i++)
        {
            if (values[i] == 0)
                continue;
            // The rotated vector i is σᵢ times a singular vector of the long side; row i of the accumulated
            // rotations is the matching singular vector of the short side.
            // The rotated vectors are the scaled matrix's, σᵢ/Scale times a singular vector: divided by their own norm
            // (σᵢ itself overflows where it passes the largest double though every entry is finite).
            var longSide = vectors.AsSpan(i * length, length);
            double factor = f(values[i]) / Math.Sqrt(Dot(longSide, longSide));
            var shortSide = rotations.AsSpan(i * count, count);
            for (int p = 0; p < count; p++)
            for (int q = 0; q < length; q++)
            {
                double term = factor * shortSide[p] * longSide[q];
                if (byRows)
                    result[p * cols + q] += term;
                else
                    result[q * cols + p] += term;
            }
        }
        return result;
    }

    // One-sided Jacobi: rotate pairs of the shorter side's vectors until all are mutually orthogonal; their norms are
    // then the singular values (unsorted). With vectors, also returns the rotated vectors and the accumulated
    // rotation (row i: the short-side singular vector of value i). The rotations come from dot products, whose
    // squares overflow past about 1e154 and vanish under 1e-162: the vectors are those of the matrix divided by its
    // largest |entry|, Scale, and the values are scaled back (a matrix of entries near 1e-163 had singular values 0,
    // one of entries near 1e200 NaN rotations).
    private static (double[] Values, double[] Vectors, double[] Rotations, double Scale) Jacobi(
        ReadOnlySpan<double> a,
        int rows,
        int cols,
        bool withVectors
    )
    {
        if (a.Length != rows * cols)
            throw new ArgumentException($"SingularValues: {a.Length} values for a {rows}×{cols} matrix.");
        bool byRows = rows <= cols;
        int count = byRows ? rows : cols,
            length = byRows ? cols : rows;
        double scale = 0;
        foreach (double x in a)
            scale = Math.Max(scale, Math.Abs(x));
        if (scale == 0 || !double.IsFinite(scale))
            scale = 1; // a zero matrix; a NaN or an infinity is answered below
        var v = new double[count * length];
        for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            v[byRows ? r * cols + c : c * rows + r] = a[r * cols + c] / scale;
        var rotations = withVectors ? new double[count * count] : [];
        for (int i = 0; withVectors && i < count; i++)
            rotations[i * count + i] = 1;
        // A NaN or an infinity leaves no rotation to settle on (Math.Sign(NaN) threw ArithmeticException): such a
        // matrix's singular values are NaN, and so is anything made of them.
        foreach (double x in a)
            if (!double.IsFinite(x))
            {
                Array.Fill(v, double.NaN);
                var unknown = new double[count];
                Array.Fill(unknown, double.NaN);
                return (unknown, v, rotations, scale);
            }
        for (int sweep = 0; sweep < 60; sweep++)
        {
            bool rotated = false;
            for (int i = 0; i < count - 1; i++)
            for (int j = i + 1; j < count; j++)
            {
                var vi = v.AsSpan(i * length, length);
                var vj = v.AsSpan(j * length, length);
                double alpha = Dot(vi, vi),
                    beta = Dot(vj, vj),
                    gamma = Dot(vi, vj);
                if (Math.Abs(gamma) <= 1e-15 * Math.Sqrt(alpha * beta) || gamma == 0)
                    continue;
                rotated = true;
                double zeta = (beta - alpha) / (2 * gamma);
                double t = Math.Sign(zeta == 0 ? 1 : zeta) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                double cs = 1 / Math.Sqrt(1 + t * t),
                    sn = cs * t;
                Rotate(vi, vj, cs, sn);
                if (withVectors)
                    Rotate(rotations.AsSpan(i * count, count), rotations.AsSpan(j * count, count), cs, sn);
            }
            if (!rotated)
                break;
        }
        var values = new double[count];
        for (int i = 0; i < count; i++)
        {
            var vi = v.AsSpan(i * length, length);
            values[i] = Math.Sqrt(Dot(vi, vi)) * scale;
        }
        return (values, v, rotations, scale);
    }

    private static void Rotate(Span<double> x, Span<double> y, double cs, double sn)
    {
        for (int k = 0; k < x.Length; k++)
        {
            double xk = x[k],
                yk = y[k];
            x[k] = cs * xk - sn * yk;
            y[k] = sn * xk + cs * yk;
        }
    }

    /// <summary>Singular values of every matrix in <paramref name="t"/> [..., rows, cols] (copied to the host as
    /// float64).</summary>
    public static double[][] SingularValues(Tensor t)
    {
        if (t.Rank < 2)
            throw new ArgumentException($"SingularValues: needs a matrix or a batch of matrices, got {t.Shape}.");
        int rows = t.Shape[-2],
            cols = t.Shape[-1],
            batch = t.Size / Math.Max(1, rows * cols);
        var data = HostArray(t);
        var result = new double[batch][];
        for (int b = 0; b < batch; b++)
            result[b] = SingularValues(data.AsSpan(b * rows * cols, rows * cols), rows, cols);
        return result;
    }

    /// <summary><see cref="SpectralNormBound(ReadOnlySpan{double}, int, int)"/> of every matrix in <paramref
    /// name="t"/> [..., rows, cols] (copied to the host as float64).</summary>
    public static double[] SpectralNormBounds(Tensor t)
    {
        if (t.Rank < 2)
            throw new ArgumentException($"SpectralNormBounds: needs a matrix or a batch of matrices, got {t.Shape}.");
        int rows = t.Shape[-2],
            cols = t.Shape[-1],
            size = rows * cols;
        var data = HostArray(t);
        return Enumerable
            .Range(0, t.Size / Math.Max(1, size))
            .Select(b => SpectralNormBound(data.AsSpan(b * size, size), rows, cols))
            .ToArray();
    }

    /// <summary>The largest singular value over every matrix in <paramref name="t"/> [..., rows, cols].</summary>
    public static double SpectralNorm(Tensor t) =>
        SingularValues(t).Select(s => s.Length == 0 ? 0 : s[0]).DefaultIfEmpty(0).Max();

    /// <summary>The elements of a float tensor as float64 on the host.</summary>
    public static double[] HostArray(Tensor t) =>
        t.DType switch
        {
            DType.Float64 => t.ToArray<double>(),
            DType.Float32 => Array.ConvertAll(t.ToArray<float>(), x => (double)x),
            _ => throw new ArgumentException($"HostArray: expected a float tensor, got {t.DType}."),
        };

    /// <summary>Uploads float64 host values as a tensor of <paramref name="dtype"/> on <paramref
    /// name="device"/>.</summary>
    public static Tensor Upload(double[] values, Shape shape, DType dtype, Device device) =>
        dtype switch
        {
            DType.Float64 => Tensor.FromArray<double>(values, shape, device),
            DType.Float32 => Tensor.FromArray<float>(Array.ConvertAll(values, x => (float)x), shape, device),
            _ => throw new ArgumentException($"Upload: weights must be float32 or float64, got {dtype}."),
        };

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) =>
        System.Numerics.Tensors.TensorPrimitives.Dot(a, b);
}
