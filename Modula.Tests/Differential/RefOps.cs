namespace Modula.Tests.Differential;

/// <summary>
/// The engine's semantics in plain float64 loops, written to be read, not to be fast: every
/// output element is computed from its definition. Axes may be negative (from the end) where the
/// engine allows it; anything the engine's documentation rejects throws <see cref="RefInvalidException"/>.
/// </summary>
internal static class RefOps
{
    private static void Require(bool condition, string what)
    {
        if (!condition)
            throw new RefInvalidException(what);
    }

    private static int Axis(int axis, int rank)
    {
        int a = axis < 0 ? axis + rank : axis;
        Require(a >= 0 && a < rank, $"axis {axis} out of range for rank {rank}");
        return a;
    }

    // ---- views: y[index] = x[f(index)] ------------------------------------------------------

    /// <summary>Output axis i is input axis axes[i].</summary>
    public static RefTensor Permute(RefTensor x, int[] axes)
    {
        Require(axes.Length == x.Rank, "permute rank");
        var a = axes.Select(v => Axis(v, x.Rank)).ToArray();
        Require(a.Distinct().Count() == a.Length, "permute repeats an axis");
        var shape = a.Select(i => x.Shape[i]).ToArray();
        return RefTensor.Build(shape, index =>
        {
            var source = new int[x.Rank];
            for (int i = 0; i < a.Length; i++)
                source[a[i]] = index[i];
            return x[source];
        });
    }

    public static RefTensor Transpose(RefTensor x, int axis0, int axis1)
    {
        var axes = Enumerable.Range(0, x.Rank).ToArray();
        int a = Axis(axis0, x.Rank),
            b = Axis(axis1, x.Rank);
        (axes[a], axes[b]) = (axes[b], axes[a]);
        return Permute(x, axes);
    }

    /// <summary>Elements start .. start+length-1 along axis.</summary>
    public static RefTensor Slice(RefTensor x, int axis, int start, int length)
    {
        int a = Axis(axis, x.Rank);
        Require(start >= 0 && length >= 0 && start + length <= x.Shape[a], "slice range");
        var shape = (int[])x.Shape.Clone();
        shape[a] = length;
        return RefTensor.Build(shape, index =>
        {
            var source = (int[])index.Clone();
            source[a] += start;
            return x[source];
        });
    }

    /// <summary>NumPy broadcast_to: size-1 axes repeat, new leading axes are added.</summary>
    public static RefTensor Expand(RefTensor x, int[] shape)
    {
        Require(shape.Length >= x.Rank, "expand to a lower rank");
        int lead = shape.Length - x.Rank;
        for (int i = 0; i < x.Rank; i++)
            Require(x.Shape[i] == shape[lead + i] || x.Shape[i] == 1, "expand of a non-1 axis");
        return RefTensor.Build(shape, index => x[Broadcast(x.Shape, index)]);
    }

    /// <summary>The index into a tensor of <paramref name="shape"/> that broadcasts to <paramref
    /// name="index"/>.</summary>
    private static int[] Broadcast(int[] shape, int[] index)
    {
        var source = new int[shape.Length];
        int lead = index.Length - shape.Length;
        for (int i = 0; i < shape.Length; i++)
            source[i] = shape[i] == 1 ? 0 : index[lead + i];
        return source;
    }

    /// <summary>The same row-major elements under another shape; one dimension may be −1.</summary>
    public static RefTensor Reshape(RefTensor x, int[] dims)
    {
        var shape = (int[])dims.Clone();
        int infer = Array.IndexOf(shape, -1);
        Require(shape.Count(d => d == -1) <= 1 && shape.All(d => d >= -1), "reshape dims");
        if (infer >= 0)
        {
            int known = shape.Where(d => d != -1).Aggregate(1, (p, d) => p * d);
            Require(known != 0 && x.Size % known == 0, "cannot infer -1");
            shape[infer] = x.Size / known;
        }
        Require(RefTensor.Count(shape) == x.Size, "reshape size");
        return new RefTensor(shape, (double[])x.Data.Clone());
    }

    public static RefTensor Unsqueeze(RefTensor x, int axis)
    {
        int a = Axis(axis, x.Rank + 1);
        var shape = x.Shape.ToList();
        shape.Insert(a, 1);
        return new RefTensor(shape.ToArray(), (double[])x.Data.Clone());
    }

    public static RefTensor Squeeze(RefTensor x, int axis)
    {
        int a = Axis(axis, x.Rank);
        Require(x.Shape[a] == 1, "squeeze of a non-1 axis");
        var shape = x.Shape.ToList();
        shape.RemoveAt(a);
        return new RefTensor(shape.ToArray(), (double[])x.Data.Clone());
    }

    // ---- elementwise ----------------------------------------------------------------------

    public static RefTensor Map(RefTensor x, Func<double, double> f) => new(x.Shape, x.Data.Select(f).ToArray());

    /// <summary>NumPy's broadcast shape of two shapes.</summary>
    public static int[] BroadcastShape(int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            Require(
                da == db || da == 1 || db == 1,
                $"shapes {RefTensor.Fmt(a)} and {RefTensor.Fmt(b)} do not broadcast"
            );
            shape[i] = da == 1 ? db : da;
        }
        return shape;
    }

    public static RefTensor Zip(RefTensor a, RefTensor b, Func<double, double, double> f)
    {
        var shape = BroadcastShape(a.Shape, b.Shape);
        return RefTensor.Build(shape, i => f(a[Broadcast(a.Shape, i)], b[Broadcast(b.Shape, i)]));
    }

    public static RefTensor Where(RefTensor c, RefTensor a, RefTensor b)
    {
        var shape = BroadcastShape(BroadcastShape(c.Shape, a.Shape), b.Shape);
        return RefTensor.Build(shape, i =>
            c[Broadcast(c.Shape, i)] != 0 ? a[Broadcast(a.Shape, i)] : b[Broadcast(b.Shape, i)]
        );
    }

    // ---- reductions ------------------------------------------------------------------------

    /// <summary>Axes to reduce: all when none are given (the engine's convention), else the named ones.</summary>
    public static int[] ReducedAxes(int rank, int[]? axes)
    {
        if (axes is null || axes.Length == 0)
            return Enumerable.Range(0, rank).ToArray();
        var a = axes.Select(v => Axis(v, rank)).ToArray();
        Require(a.Distinct().Count() == a.Length, "repeated axis");
        return a;
    }

    /// <summary>
    /// Folds the values along <paramref name="axes"/> into one per kept index: <paramref name="finish"/>
    /// receives the list of values (empty over an empty axis).
    /// </summary>
    public static RefTensor Reduce(RefTensor x, int[]? axes, bool keepDim, Func<List<double>, double> finish)
    {
        var reduced = ReducedAxes(x.Rank, axes);
        var shape = Enumerable
            .Range(0, x.Rank)
            .Where(i => keepDim || !reduced.Contains(i))
            .Select(i => reduced.Contains(i) ? 1 : x.Shape[i])
            .ToArray();
        var groups = new List<double>[RefTensor.Count(shape)];
        for (int g = 0; g < groups.Length; g++)
            groups[g] = [];
        foreach (var index in RefTensor.Indices(x.Shape))
        {
            var kept = Enumerable
                .Range(0, x.Rank)
                .Where(i => keepDim || !reduced.Contains(i))
                .Select(i => reduced.Contains(i) ? 0 : index[i])
                .ToArray();
            groups[RefTensor.Flat(shape, kept)].Add(x[index]);
        }
        return new RefTensor(shape, groups.Select(finish).ToArray());
    }

    public static RefTensor Sum(RefTensor x, int[]? axes, bool keepDim) => Reduce(x, axes, keepDim, v => v.Sum());

    /// <summary>−∞ over an empty axis (the engine's documented value).</summary>
    public static RefTensor Max(RefTensor x, int[]? axes, bool keepDim) =>
        Reduce(x, axes, keepDim, v => v.Count == 0 ? double.NegativeInfinity : v.Max());

    /// <summary>NaN over an empty axis, as NumPy.</summary>
    public static RefTensor Mean(RefTensor x, int[]? axes, bool keepDim) =>
        Reduce(x, axes, keepDim, v => v.Count == 0 ? double.NaN : v.Sum() / v.Count);

    public static RefTensor Norm(RefTensor x, int[]? axes, bool keepDim) =>
        Reduce(x, axes, keepDim, v => Math.Sqrt(v.Sum(e => e * e)));

    /// <summary>Index of the first maximum along one axis.</summary>
    public static RefTensor ArgMax(RefTensor x, int axis, bool keepDim)
    {
        int a = Axis(axis, x.Rank);
        Require(x.Shape[a] > 0, "argmax over an empty axis");
        var max = Reduce(x, [a], keepDim, v => v.IndexOf(v.Max()));
        return max;
    }

    /// <summary>
    /// erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), a series of positive terms (nothing cancels), and ±1
    /// past |x| = 6 (erfc(6) ≈ 2·10⁻¹⁷): written apart from the engine's <c>SpecialFunctions.Erf</c>, which its
    /// float64 GELU calls, so that the two check each other.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x))
            return double.NaN;
        double ax = Math.Abs(x);
        if (ax > 6)
            return Math.Sign(x);
        double term = ax,
            sum = ax;
        for (int n = 1; n < 300 && term > sum * 1e-18; n++)
        {
            term *= 2 * ax * ax / (2 * n + 1);
            sum += term;
        }
        return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * Math.Exp(-ax * ax) * sum;
    }

    /// <summary>Softmax of scale·x along <paramref name="axis"/> (the last by default).</summary>
    public static RefTensor Softmax(RefTensor x, double scale, int axis = -1) =>
        AlongAxis(x, scale, axis, (z, max, total) => Math.Exp(z - max) / total);

    /// <summary>Log-softmax of scale·x along <paramref name="axis"/>, (z − max z) − log Σ e^(z − max z): finite
    /// where the softmax itself underflows to 0.</summary>
    public static RefTensor LogSoftmax(RefTensor x, double scale, int axis = -1) =>
        AlongAxis(x, scale, axis, (z, max, total) => z - max - Math.Log(total));

    // f(z, max z, Σ e^(z − max z)) for each element z = scale·x of each row along the axis.
    private static RefTensor AlongAxis(RefTensor x, double scale, int axis, Func<double, double, double, double> f)
    {
        Require(x.Rank > 0, "softmax of a scalar");
        if (x.Size == 0)
            return new RefTensor(x.Shape, []);
        int a = Axis(axis, x.Rank),
            n = x.Shape[a],
            inner = x.Shape[(a + 1)..].Aggregate(1, (p, d) => p * d);
        var y = new double[x.Size];
        for (int outer = 0; outer * n * inner < x.Size; outer++)
        for (int i = 0; i < inner; i++)
        {
            int At(int j) => (outer * n + j) * inner + i;
            var z = Enumerable.Range(0, n).Select(j => scale * x.Data[At(j)]).ToArray();
            double max = z.Max(),
                total = z.Sum(v => Math.Exp(v - max));
            for (int j = 0; j < n; j++)
                y[At(j)] = f(z[j], max, total);
        }
        return new RefTensor(x.Shape, y);
    }

    // ---- matrix product --------------------------------------------------------------------

    /// <summary>op(a)·op(b) over broadcast batch axes; op transposes the last two axes when asked.</summary>
    public static RefTensor MatMul(RefTensor a, RefTensor b, bool transposeA, bool transposeB)
    {
        Require(a.Rank >= 2 && b.Rank >= 2, "matmul needs matrices");
        var ta = transposeA ? Transpose(a, -2, -1) : a;
        var tb = transposeB ? Transpose(b, -2, -1) : b;
        int m = ta.Shape[^2],
            k = ta.Shape[^1],
            n = tb.Shape[^1];
        Require(tb.Shape[^2] == k, "matmul inner dimensions");
        var batch = BroadcastShape(ta.Shape[..^2], tb.Shape[..^2]);
        var shape = batch.Concat([m, n]).ToArray();
        return RefTensor.Build(shape, index =>
        {
            var bi = index[..^2];
            var ai = Broadcast(ta.Shape[..^2], bi);
            var bj = Broadcast(tb.Shape[..^2], bi);
            double s = 0;
            for (int p = 0; p < k; p++)
                s += ta[[.. ai, index[^2], p]] * tb[[.. bj, p, index[^1]]];
            return s;
        });
    }

    // ---- indexing, joining -----------------------------------------------------------------

    /// <summary>y[..., :] = table[indices[...], :].</summary>
    public static RefTensor GatherRows(RefTensor table, RefTensor indices)
    {
        Require(table.Rank == 2, "gather table rank");
        Require(indices.Data.All(i => i >= 0 && i < table.Shape[0]), "gather index range");
        int d = table.Shape[1];
        return RefTensor.Build([.. indices.Shape, d], index => table[[(int)indices[index[..^1]], index[^1]]]);
    }

    /// <summary>A [rows, D] table of zeros plus, for every i, source[i, :] added into row indices[i].</summary>
    public static RefTensor ScatterAddRows(int rows, RefTensor indices, RefTensor source)
    {
        Require(source.Rank >= 1 && source.Shape[..^1].SequenceEqual(indices.Shape), "scatter source shape");
        Require(indices.Data.All(i => i >= 0 && i < rows), "scatter index range");
        int d = source.Shape[^1];
        var table = new double[rows * d];
        for (int i = 0; i < indices.Size; i++)
        for (int j = 0; j < d; j++)
            table[(int)indices.Data[i] * d + j] += source.Data[i * d + j];
        return new RefTensor([rows, d], table);
    }

    public static RefTensor Concat(IReadOnlyList<RefTensor> xs, int axis)
    {
        Require(xs.Count > 0, "concat of nothing");
        int a = Axis(axis, xs[0].Rank);
        foreach (var x in xs)
            Require(
                x.Rank == xs[0].Rank && Enumerable.Range(0, x.Rank).All(i => i == a || x.Shape[i] == xs[0].Shape[i]),
                "concat shapes"
            );
        var shape = (int[])xs[0].Shape.Clone();
        shape[a] = xs.Sum(x => x.Shape[a]);
        return RefTensor.Build(shape, index =>
        {
            int at = index[a];
            foreach (var x in xs)
            {
                if (at < x.Shape[a])
                {
                    var source = (int[])index.Clone();
                    source[a] = at;
                    return x[source];
                }
                at -= x.Shape[a];
            }
            throw new InvalidOperationException("unreachable");
        });
    }

    /// <summary>Part <paramref name="part"/> of a split into the given sizes.</summary>
    public static RefTensor SplitPart(RefTensor x, int[] sizes, int axis, int part)
    {
        int a = Axis(axis, x.Rank);
        Require(sizes.All(s => s >= 0) && sizes.Sum() == x.Shape[a] && part >= 0 && part < sizes.Length, "split sizes");
        return Slice(x, a, sizes[..part].Sum(), sizes[part]);
    }

    // ---- convolution pieces ----------------------------------------------------------------

    /// <summary>x [N, C, H, W] → columns [N, C·kh·kw, Ho·Wo]; row (c, i, j), column (oh, ow) holds x[n, c, oh·s − p +
    /// i, ow·s − p + j] or 0 outside.</summary>
    public static RefTensor Im2Col(RefTensor x, int kh, int kw, int stride, int padding)
    {
        Require(x.Rank == 4 && kh > 0 && kw > 0 && stride > 0 && padding >= 0, "im2col arguments");
        int n = x.Shape[0],
            c = x.Shape[1],
            h = x.Shape[2],
            w = x.Shape[3];
        int ho = (h + 2 * padding - kh) / stride + 1,
            wo = (w + 2 * padding - kw) / stride + 1;
        Require(h + 2 * padding >= kh && w + 2 * padding >= kw, "kernel does not fit");
        return RefTensor.Build([n, c * kh * kw, ho * wo], index =>
        {
            int ci = index[1] / (kh * kw),
                i = index[1] / kw % kh,
                j = index[1] % kw;
            int ih = index[2] / wo * stride - padding + i,
                iw = index[2] % wo * stride - padding + j;
            return ih >= 0 && ih < h && iw >= 0 && iw < w ? x[[index[0], ci, ih, iw]] : 0;
        });
    }

    /// <summary>Mean over non-overlapping k×k windows of [N, C, H, W].</summary>
    public static RefTensor AvgPool2d(RefTensor x, int k)
    {
        Require(x.Rank == 4 && k > 0 && x.Shape[2] % k == 0 && x.Shape[3] % k == 0, "avgpool shape");
        return RefTensor.Build([x.Shape[0], x.Shape[1], x.Shape[2] / k, x.Shape[3] / k], index =>
        {
            double s = 0;
            for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                s += x[[index[0], index[1], index[2] * k + i, index[3] * k + j]];
            return s / (k * k);
        });
    }
}
