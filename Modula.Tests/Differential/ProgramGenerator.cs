namespace Modula.Tests.Differential;

/// <summary>
/// Draws random programs from a seed: a random shape (0- and 1-sized axes included) reached
/// through a random chain of views, then random ops each followed by random views. Every step is
/// checked against the reference as it is drawn, so programs are valid, small and finite
/// (non-finite values only at the last step); comparisons and other discontinuous ops only see
/// exact values, on which float32 and float64 agree.
/// </summary>
internal sealed class ProgramGenerator
{
    private readonly Random _rng;
    private readonly bool _grad;
    private readonly int _maxSize;

    private ProgramGenerator(int seed, bool grad)
    {
        _rng = new Random(seed);
        _grad = grad;
        _maxSize = grad ? 30 : 240;
    }

    /// <summary>The program of a seed: an engine program, or (with <paramref name="grad"/>) a differentiable float64
    /// one.</summary>
    public static RandomProgram Make(int seed, bool grad)
    {
        var g = new ProgramGenerator(seed, grad);
        var input = g.MakeOperand(g.RandomShape(), positive: false, constant: false, depth: g._rng.Next(0, 5));
        var steps = new List<Step>();
        var x = input.Reference();
        bool exact = true;
        int ops = g._rng.Next(1, 5);
        for (int k = 0; k < ops; k++)
        {
            bool last = k == ops - 1;
            if (g.TryStep(x, exact, last, g.MakeOp) is { } op)
            {
                steps.Add(op.Step);
                (x, exact) = (op.Result, op.Exact);
                if (op.Step is ArgMaxStep)
                    break;
            }
            for (int v = g._rng.Next(0, 3); v > 0; v--)
                if (g.TryStep(x, exact, last, (s, _) => g.MakeView(s)) is { } view)
                {
                    steps.Add(view.Step);
                    x = view.Result;
                }
        }
        return new RandomProgram(seed, input, steps);
    }

    /// <summary>Draws a step that applies to x, stays small and (unless last) finite; null after ten tries.</summary>
    private (Step Step, RefTensor Result, bool Exact)? TryStep(
        RefTensor x,
        bool exact,
        bool last,
        Func<int[], bool, (Step, bool)?> draw
    )
    {
        for (int attempt = 0; attempt < 10; attempt++)
        {
            if (draw(x.Shape, exact) is not { } drawn)
                continue;
            var (step, stepExact) = drawn;
            if (_grad && !step.Differentiable)
                continue;
            RefTensor y;
            try
            {
                y = step.Reference(x);
            }
            catch (RefInvalidException)
            {
                continue;
            }
            if (y.Size > _maxSize * 2 || y.Rank > 5)
                continue;
            if (!last && y.Data.Any(v => !double.IsFinite(v)))
                continue;
            if (y.Data.Any(v => Math.Abs(v) > (_grad ? 50 : 1e4) && double.IsFinite(v)))
                continue;
            return (step, y, exact && stepExact);
        }
        return null;
    }

    // ---- shapes ------------------------------------------------------------------------------

    // Mostly 0 to 7; one axis in twenty of a forward program 8 to 40, so that rows span whole vectors of every width
    // (16 floats at 512 bits) and not only their tails.
    private int Dim() =>
        _rng.Next(20) switch
        {
            0 => 0,
            < 5 => 1,
            19 when !_grad => 8 + _rng.Next(33),
            var r => 2 + r % 6,
        };

    private int[] RandomShape()
    {
        for (int attempt = 0; ; attempt++)
        {
            var shape = Enumerable
                .Range(
                    0,
                    _rng.Next(0, 8) switch
                    {
                        0 => 0,
                        1 => 1,
                        < 4 => 2,
                        < 6 => 3,
                        _ => _grad ? 3 : 4,
                    }
                )
                .Select(_ => Dim())
                .ToArray();
            if (RefTensor.Count(shape) <= _maxSize)
                return shape;
        }
    }

    /// <summary>A shape that broadcasts against <paramref name="s"/>: a suffix of it with some axes 1 (or grown from
    /// 1).</summary>
    private int[] BroadcastPartner(int[] s)
    {
        var shape = s.Skip(_rng.Next(3) == 0 ? _rng.Next(0, s.Length + 1) : 0)
            .Select(d =>
                _rng.Next(10) < 3 ? 1
                : d == 1 && _rng.Next(4) == 0 ? _rng.Next(0, 4)
                : d
            )
            .ToList();
        if (_rng.Next(6) == 0)
            shape.Insert(0, _rng.Next(1, 3));
        return shape.ToArray();
    }

    /// <summary>Another shape with the same number of elements: axes merged, split, flattened, or size-1 axes added or
    /// removed.</summary>
    private int[] Regroup(int[] s)
    {
        var d = s.ToList();
        switch (_rng.Next(5))
        {
            case 0 when d.Count >= 2:
                int i = _rng.Next(d.Count - 1);
                d[i] *= d[i + 1];
                d.RemoveAt(i + 1);
                break;
            case 1 when d.Count >= 1:
                int j = _rng.Next(d.Count);
                if (d[j] == 0)
                    d.Insert(j + _rng.Next(2), _rng.Next(1, 4));
                else
                {
                    var divisors = Enumerable.Range(1, d[j]).Where(f => d[j] % f == 0).ToArray();
                    int f = divisors[_rng.Next(divisors.Length)];
                    d[j] /= f;
                    d.Insert(j, f);
                }
                break;
            case 2:
                d = [RefTensor.Count(s)];
                break;
            case 3:
                d.Insert(_rng.Next(d.Count + 1), 1);
                break;
            default:
                int one = d.IndexOf(1);
                if (one >= 0)
                    d.RemoveAt(one);
                break;
        }
        return d.Count > 5 ? s : d.ToArray();
    }

    private int[] Permutation(int n) => Enumerable.Range(0, n).OrderBy(_ => _rng.Next()).ToArray();

    // negative half the time
    private int Axis(int rank) => _rng.Next(2) == 0 ? _rng.Next(rank) : _rng.Next(rank) - rank;

    // ---- views, drawn forward (from the current shape) -----------------------------------------

    private (Step, bool)? MakeView(int[] s)
    {
        int r = s.Length;
        Step? step = _rng.Next(7) switch
        {
            0 when r >= 1 => new PermuteStep(Permutation(r)),
            1 when r >= 2 => new TransposeStep(Axis(r), Axis(r)),
            2 when r >= 1 => SliceOf(s),
            3 => ExpandOf(s),
            4 => new UnsqueezeStep(Axis(r + 1)),
            5 when Array.IndexOf(s, 1) is var a and >= 0 => new SqueezeStep(a),
            _ => new ReshapeStep(WithInferred(Regroup(s))),
        };
        return step is null ? null : (step, true);
    }

    private SliceStep SliceOf(int[] s)
    {
        int a = _rng.Next(s.Length);
        int start = _rng.Next(0, s[a] + 1);
        return new SliceStep(_rng.Next(2) == 0 ? a : a - s.Length, start, _rng.Next(0, s[a] - start + 1));
    }

    private ExpandStep ExpandOf(int[] s)
    {
        var shape = s.Select(d => d == 1 && _rng.Next(2) == 0 ? _rng.Next(0, 4) : d).ToList();
        if (_rng.Next(4) == 0)
            shape.Insert(0, _rng.Next(1, 3));
        return new ExpandStep(shape.ToArray());
    }

    private int[] WithInferred(int[] dims)
    {
        if (dims.Length == 0 || _rng.Next(3) != 0)
            return dims;
        int i = _rng.Next(dims.Length);
        if (dims.Where((_, j) => j != i).Aggregate(1, (p, d) => p * d) == 0)
            return dims;
        var copy = (int[])dims.Clone();
        copy[i] = -1;
        return copy;
    }

    // ---- operands, drawn backward (from the shape they must end with) --------------------------

    /// <summary>An operand that ends with shape <paramref name="target"/> after up to <paramref name="depth"/>
    /// views.</summary>
    private Operand MakeOperand(int[] target, bool positive, bool constant, int depth)
    {
        var views = new List<Step>();
        var shape = target;
        for (int k = 0; k < depth; k++)
        {
            var (before, step) = Unview(shape);
            if (RefTensor.Count(before) > _maxSize * 2)
                break;
            views.Insert(0, step);
            shape = before;
        }
        return new Operand(shape, _rng.Next(17), positive, constant, views);
    }

    /// <summary>A shape and a view of it that gives <paramref name="t"/>.</summary>
    private (int[] Before, Step View) Unview(int[] t)
    {
        int r = t.Length;
        switch (_rng.Next(7))
        {
            case 0 when r >= 1:
                var perm = Permutation(r);
                var p = new int[r];
                for (int i = 0; i < r; i++)
                    p[perm[i]] = t[i];
                return (p, new PermuteStep(perm));
            case 1 when r >= 2:
                int a = _rng.Next(r),
                    b = _rng.Next(r);
                var swapped = (int[])t.Clone();
                (swapped[a], swapped[b]) = (swapped[b], swapped[a]);
                return (swapped, new TransposeStep(a, b));
            case 2 when r >= 1:
                int axis = _rng.Next(r),
                    extra = _rng.Next(0, 4);
                var wider = (int[])t.Clone();
                wider[axis] += extra;
                return (wider, new SliceStep(axis, _rng.Next(0, extra + 1), t[axis]));
            case 3:
                var narrow = t.Skip(_rng.Next(4) == 0 ? _rng.Next(0, r + 1) : 0)
                    .Select(d => _rng.Next(3) == 0 ? 1 : d)
                    .ToArray();
                return (narrow, new ExpandStep(t));
            case 4 when Array.IndexOf(t, 1) is var one and >= 0:
                return (t.Where((_, i) => i != one).ToArray(), new UnsqueezeStep(one));
            case 5:
                int at = _rng.Next(r + 1);
                return ([.. t[..at], 1, .. t[at..]], new SqueezeStep(at));
            default:
                return (Regroup(t), new ReshapeStep(WithInferred(t)));
        }
    }

    // ---- ops ---------------------------------------------------------------------------------

    private (Step, bool)? MakeOp(int[] s, bool exact)
    {
        int r = s.Length;
        int depth = _rng.Next(0, 3);
        switch (_rng.Next(18))
        {
            case 0 or 1:
                var unary = UnaryKind.All[_rng.Next(UnaryKind.All.Length)];
                if (unary.NeedsExact && !exact)
                    return null;
                return (new UnaryStep(unary), unary.Exact);
            case 2 or 3:
                var binary = BinaryKind.All[_rng.Next(BinaryKind.All.Length)];
                if (binary.NeedsExact && !exact)
                    return null;
                bool first = !binary.PositiveRight && _rng.Next(2) == 0;
                return (
                    new BinaryStep(binary, MakeOperand(BroadcastPartner(s), binary.PositiveRight, false, depth), first),
                    binary.Exact
                );
            case 4:
                return (
                    new WhereStep(
                        MakeOperand(BroadcastPartner(s), false, true, depth),
                        MakeOperand(BroadcastPartner(s), false, false, depth)
                    ),
                    true
                );
            case 5 or 6:
                var kind = (ReduceKind)_rng.Next(4);
                var axes = Enumerable
                    .Range(0, r)
                    .Where(_ => _rng.Next(2) == 0)
                    .Select(a => _rng.Next(2) == 0 ? a : a - r)
                    .ToArray();
                return (new ReduceStep(kind, axes, _rng.Next(2) == 0), kind == ReduceKind.Max);
            case 7 when r >= 2:
                return (MatMulOf(s, depth), false);
            case 8 when r >= 1:
                // Half along the last axis (the engine's row op), the rest along any axis, either sign.
                int softmaxAxis = _rng.Next(2) == 0 ? -1 : _rng.Next(r) - (_rng.Next(2) == 0 ? 0 : r);
                return (new SoftmaxStep(new[] { 1.0, 0.5, 2.0 }[_rng.Next(3)], _rng.Next(2) == 0, softmaxAxis), false);
            case 9 when r >= 1:
                int axis = _rng.Next(r);
                var other = (int[])s.Clone();
                other[axis] = _rng.Next(0, 4);
                return (
                    new ConcatStep(
                        MakeOperand(other, false, false, depth),
                        _rng.Next(2) == 0 ? axis : axis - r,
                        _rng.Next(2) == 0
                    ),
                    true
                );
            case 10 when r >= 1:
                int along = _rng.Next(r);
                int cut1 = _rng.Next(0, s[along] + 1),
                    cut2 = _rng.Next(cut1, s[along] + 1);
                int[] sizes = _rng.Next(2) == 0 ? [cut1, s[along] - cut1] : [cut1, cut2 - cut1, s[along] - cut2];
                return (new SplitStep(sizes, along, _rng.Next(sizes.Length)), true);
            case 11 when r == 2 && s[0] > 0:
                var indexShape = Enumerable.Range(0, _rng.Next(0, 3)).Select(_ => _rng.Next(0, 4)).ToArray();
                return (
                    new GatherStep(
                        indexShape,
                        Enumerable.Range(0, RefTensor.Count(indexShape)).Select(_ => _rng.Next(s[0])).ToArray()
                    ),
                    true
                );
            case 12 when r >= 1 && !_grad:
                int rows = _rng.Next(1, 5);
                return (
                    new ScatterStep(
                        rows,
                        Enumerable.Range(0, RefTensor.Count(s[..^1])).Select(_ => _rng.Next(rows)).ToArray()
                    ),
                    false
                );
            case 13 when r == 4:
                return _rng.Next(2) == 0
                    ? (new Im2ColStep(_rng.Next(1, 4), _rng.Next(1, 4), _rng.Next(1, 3), _rng.Next(0, 2)), true)
                    : (new AvgPoolStep(_rng.Next(1, 3)), false);
            case 13 when r >= 1 && exact && !_grad && s.Any(d => d > 0):
                int am = Enumerable.Range(0, r).Where(i => s[i] > 0).OrderBy(_ => _rng.Next()).First();
                return (new ArgMaxStep(am, _rng.Next(2) == 0), true);
            case 14 when r >= 1 && s.All(d => d > 0):
                // Only exact values but for the ε form: centering keeps only the rounding of nearly equal values,
                // and without ε a row that is 0 in float64 and rounding in float32 (a log-softmax over one element,
                // log(e⁰) with e⁰ one ulp over 1) divides to NaN against ±1.
                var normalize = (NormalizeKind)_rng.Next(4);
                if (normalize != NormalizeKind.RmsDivideEpsilon && !exact)
                    return null;
                var normalized = Enumerable
                    .Range(0, r)
                    .Where(_ => _rng.Next(2) == 0)
                    .Select(a => _rng.Next(2) == 0 ? a : a - r)
                    .ToArray();
                return (new NormalizeStep(normalize, normalized.Length > 0 ? normalized : [-1]), false);
            case 15 when r >= 1 && s[^1] > 0:
                var labelShape = s[..^1];
                return (
                    new CrossEntropyStep(
                        new[] { 1.0, 0.5, -2.0 }[_rng.Next(3)],
                        labelShape,
                        Enumerable.Range(0, RefTensor.Count(labelShape)).Select(_ => _rng.Next(s[^1])).ToArray()
                    ),
                    false
                );
            case 16 when r >= 2 && s[^1] == s[^2]:
                return (new CausalSoftmaxStep(new[] { 1.0, 0.5, -2.0 }[_rng.Next(3)]), false);
            case 17 when r >= 2 && !_grad:
                // Newton–Schulz's coefficients, and ones that leave R or R² alone.
                return _rng.Next(3) switch
                {
                    0 => (new GramPolynomialStep(3.4445, -4.775, 2.0315), false),
                    1 => (new GramPolynomialStep(0, 1, 0), false),
                    _ => (new GramPolynomialStep(0.5, 0, -0.25), false),
                };
            default:
                return r >= 1 && _rng.Next(4) == 0 && !_grad ? (new ContiguousStep(), true) : null;
        }
    }

    private MatMulStep MatMulOf(int[] s, int depth)
    {
        bool first = _rng.Next(2) == 0,
            ta = _rng.Next(2) == 0,
            tb = _rng.Next(2) == 0;
        var batch = BroadcastPartner(s[..^2]);
        int free = _rng.Next(0, 5);
        int[] matrix;
        if (!first)
        {
            int k = ta ? s[^2] : s[^1]; // x is op(a) [.., M, K]
            matrix = tb ? [free, k] : [k, free];
        }
        else
        {
            int k = tb ? s[^1] : s[^2]; // x is op(b) [.., K, N]
            matrix = ta ? [k, free] : [free, k];
        }
        return new MatMulStep(MakeOperand([.. batch, .. matrix], false, false, depth), first, ta, tb);
    }
}
