"""regionlab's own general CPWL / maxout bounds, checked against the exact engines.

* the worked values of bounds.md section 8 and the reductions (Montufar 2017 for K = 1,
  Zaslavsky and Montufar-Ren-Zhang for one layer);
* the extremal constructions reach the lower bounds exactly (the exact 1-D, 2-D and 3-D
  engines count the regions), and in 1-D the upper bound;
* no network exceeds the upper bounds: Hypothesis over random small networks with
  degenerate weights (zero, duplicate, parallel and integer units), counted exactly in
  huge boxes;
* the combinatorial pieces of the lower bounds (fold splits, z(m, k)) against brute force.
"""

from __future__ import annotations

import itertools
import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import regionlab
from regionlab.bounds import (
    architecture,
    cpwl_lower,
    cpwl_one_layer,
    cpwl_upper,
    maxout_lower,
    maxout_one_layer,
    maxout_upper,
    montufar2017_upper,
    serra_exact_1d,
    serra_upper,
    zaslavsky,
)
from regionlab.bounds._general import fold_split, maxout_fold_pieces
from regionlab.bounds.constructions import (
    ExtremalConstruction,
    extremal_maxout_layer,
    folding_network,
    generic_layer,
    maxout_folding_network,
    maxout_sawtooth_network,
    sawtooth_network,
    serra_sawtooth_relu,
)
from regionlab.errors import BoundNotApplicableError, InvalidParameterError
from regionlab.ir import CPWLNetwork, Dense, MaxOp, PiecewiseLinear

F64 = torch.float64


# ------------------------------------------------------------------------- counting


def count_regions(net, n0, lower, upper):
    """(regions, linear pieces) of ``net`` in the box, by the exact engine of dimension n0."""
    if n0 == 1:
        part = regionlab.partition_segment(net, [float(lower[0])], [float(upper[0])])
    elif n0 == 2:
        part = regionlab.partition_plane(
            net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (lower[0], upper[0], lower[1], upper[1])
        )
    else:
        part = regionlab.partition_polytope(net, regionlab.Box(list(lower), list(upper)))
    return int(part.num_regions), int(part.num_linear_pieces)


def count_construction(c: ExtremalConstruction):
    return count_regions(c.network, c.input_dim, c.lower, c.upper)


# -------------------------------------------------------------- worked values (bounds.md)


@pytest.mark.parametrize(
    ("K", "one_layer", "deep", "deep_1d", "deep_3d"),
    [
        (1, 37, 50_653, 60_466_176, 3_375),
        (2, 129, 2_146_689, 25_937_424_601, 274_625),
        (3, 277, 21_253_933, 1_099_511_627_776, 5_359_375),
    ],
)
def test_cpwl_upper_reproduces_the_reference_table(K, one_layer, deep, deep_1d, deep_3d):
    assert cpwl_upper(2, [8], breakpoints=K) == one_layer
    assert cpwl_upper(2, [8, 8, 8], breakpoints=K) == deep
    assert cpwl_upper(1, [5] * 10, breakpoints=K) == deep_1d
    assert cpwl_upper(3, [4, 4, 4], breakpoints=K) == deep_3d
    assert isinstance(cpwl_upper(1, [5] * 10, breakpoints=K), int)


@pytest.mark.parametrize(("k", "product", "layer"), [(2, 50_653, 37), (3, 2_146_689, 129), (4, 21_253_933, 277)])
def test_maxout_upper_reproduces_the_mrz_products(k, product, layer):
    assert maxout_upper(2, [8, 8, 8], rank=k) == product
    assert maxout_upper(2, [8], rank=k) == layer == maxout_one_layer(2, [k] * 8)


def test_architecture_objects_and_defaults():
    relu = architecture(input_dim=2, widths=[8, 8, 8])
    assert cpwl_upper(relu) == 50_653  # K read from the architecture (ReLU: 1)
    cp = architecture(input_dim=2, widths=[8, 8, 8], activation="cpwl", breakpoints=2)
    assert cpwl_upper(cp) == 2_146_689 and cpwl_lower(cp) == cpwl_lower(2, [8, 8, 8], breakpoints=2)
    mx = architecture(input_dim=2, widths=[8, 8, 8], activation="maxout", rank=3)
    assert maxout_upper(mx) == 2_146_689 and maxout_lower(mx) == maxout_lower(2, [8, 8, 8], rank=3)
    with pytest.raises(BoundNotApplicableError, match="maxout"):
        cpwl_upper(mx)
    with pytest.raises(InvalidParameterError, match="rank"):
        maxout_upper(relu)


def test_hand_computed_lower_bounds():
    # fold splits (2, 2) -> 3^2 per layer (K = 1); Z(8, 2) = 37
    assert cpwl_lower(2, [4, 4, 8], breakpoints=1) == 9 * 9 * 37
    # uneven split 3 = 2 + 1: (2K + 1)(K + 1) beats floor(3/2) = 1 per coordinate, (K + 1)^2
    assert cpwl_lower(2, [3, 3], breakpoints=2) == 5 * 3 * cpwl_one_layer(3, 2, 2)
    # maxout, n0 = 2, k = 3, [8, 8, 8]: shares (4, 4), z(4, 3) = 9
    assert maxout_lower(2, [8, 8, 8], rank=3) == 81 * 81 * 129
    # n0 = 1, odd width, k = 3: 2 runs * 3 + 1 unused breakpoint = 7 (< 9 = upper bound)
    assert maxout_lower(1, [1, 1], rank=3) == 7 < maxout_upper(1, [1, 1], rank=3) == 9
    # one layer: lower = upper = P(n, K, n0), whatever the width
    assert cpwl_lower(3, [2], breakpoints=3) == cpwl_upper(3, [2], breakpoints=3) == 16


# ------------------------------------------------------------------------- reductions

architectures = st.tuples(
    st.integers(1, 5), st.lists(st.integers(1, 12), min_size=1, max_size=5), st.integers(1, 4)
)


@settings(max_examples=60)
@given(architectures)
def test_reductions_and_orderings(spec):
    n0, widths, K = spec
    up = cpwl_upper(n0, widths, breakpoints=K)
    # K = 1 is Montufar 2017; maxout of rank k is the K = k - 1 product
    assert cpwl_upper(n0, widths, breakpoints=1) == montufar2017_upper(n0, widths)
    assert maxout_upper(n0, widths, rank=K + 1) == up
    # one layer: Zaslavsky (K = 1), MRZ (maxout), P(n, K, n0)
    assert cpwl_upper(n0, widths[:1], breakpoints=1) == zaslavsky(widths[0], n0)
    assert maxout_upper(n0, widths[:1], rank=K + 1) == maxout_one_layer(n0, [K + 1] * widths[0])
    assert cpwl_upper(n0, widths[:1], breakpoints=K) == cpwl_one_layer(widths[0], K, n0)
    # n0 = 1: prod (1 + n_l K)
    assert cpwl_upper(1, widths, breakpoints=K) == math.prod(1 + n * K for n in widths)
    # monotone in K and at most the trivial (K + 1)^N
    assert up <= cpwl_upper(n0, widths, breakpoints=K + 1)
    assert up <= (K + 1) ** sum(widths)
    foldable = n0 == 1 or all(n >= n0 for n in widths[:-1])
    if foldable:
        lo = cpwl_lower(n0, widths, breakpoints=K)
        mlo = maxout_lower(n0, widths, rank=K + 1)
        assert 1 <= mlo <= lo <= up
        # the uneven split never loses against floor(n_l / n0) units per coordinate
        assert lo >= math.prod((n // n0 * K + 1) ** n0 for n in widths[:-1]) * cpwl_one_layer(widths[-1], K, n0)
        if n0 == 1:
            assert lo == up
            if all(n % 2 == 0 for n in widths[:-1]) or K == 1:
                assert mlo == maxout_upper(1, widths, rank=K + 1)
        if K == 1 and (n0 == 1 and all(n >= 3 for n in widths)):
            assert lo == serra_exact_1d(1, widths)
    else:
        with pytest.raises(BoundNotApplicableError, match="n_l >= n0"):
            cpwl_lower(n0, widths, breakpoints=K)
        with pytest.raises(BoundNotApplicableError, match="n_l >= n0"):
            maxout_lower(n0, widths, rank=K + 1)


def test_cpwl_lower_is_about_units_with_chosen_functions_not_relu():
    # the folds choose each unit's function (|x|-like units): above what ReLU networks can reach
    assert cpwl_lower(2, [3, 3], breakpoints=1) == 42 > serra_upper(2, [3, 3]) == 40
    c = folding_network(2, [3, 3])
    assert count_construction(c)[0] == 42
    assert architecture(c.network).activation == "leaky_relu"  # no unit-wide zero-slope piece


def test_rank_one_maxout_is_affine():
    assert maxout_upper(2, [3, 3], rank=1) == 1 == maxout_lower(2, [3, 3], rank=1)


# ------------------------------------------------------ combinatorics against brute force


def _alternation_oracle(m, k):
    """Longest zig-zag from m convex rank-k units with signs: try every sign assignment."""
    if k == 1 or m == 0:
        return 1
    best = 0
    for plus in range(m + 1):
        a, b = plus * (k - 1), (m - plus) * (k - 1)  # convex and concave breakpoints
        turns = a + b if abs(a - b) <= 1 else 2 * min(a, b) + 1
        best = max(best, turns + 1)
    return best


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_maxout_fold_pieces_against_the_alternation_oracle(k):
    for m in range(0, 12):
        assert maxout_fold_pieces(m, k) == _alternation_oracle(m, k)


def _compositions(n, parts):
    """All (q_1, ..., q_parts) with q_c >= 1 and sum n."""
    for cuts in itertools.combinations(range(1, n), parts - 1):
        edges = (0, *cuts, n)
        yield tuple(edges[i + 1] - edges[i] for i in range(parts))


@pytest.mark.parametrize("n0", [1, 2, 3, 4])
def test_fold_split_is_optimal_by_brute_force(n0):
    for n in range(n0, 13):
        for K in (1, 2, 3):
            best = max(math.prod(q * K + 1 for q in qs) for qs in _compositions(n, n0))
            split = fold_split(n, n0, breakpoints=K)
            assert sum(split) == n and min(split) >= 1
            assert math.prod(q * K + 1 for q in split) == best
        for k in (2, 3, 4, 5):
            best = max(math.prod(maxout_fold_pieces(q, k) for q in qs) for qs in _compositions(n, n0))
            split = fold_split(n, n0, rank=k)
            assert sum(split) == n and min(split) >= 1
            assert math.prod(maxout_fold_pieces(q, k) for q in split) == best


def test_fold_split_errors():
    with pytest.raises(BoundNotApplicableError, match="width 1 < input_dim 2"):
        fold_split(1, 2, breakpoints=1)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        fold_split(4, 2)
    with pytest.raises(InvalidParameterError, match="integer"):
        fold_split(4.0, 2, rank=3)


# ------------------------------------------- constructions reach the lower bounds exactly


@pytest.mark.parametrize("K", [1, 2, 3])
@pytest.mark.parametrize("widths", [[1], [2], [1, 1], [3, 2, 4], [5, 5, 5]])
def test_sawtooth_reaches_the_upper_bound_on_the_line(widths, K):
    c = sawtooth_network(widths, breakpoints=K)
    regions, pieces = count_construction(c)
    assert regions == pieces == c.expected_regions == cpwl_upper(1, widths, breakpoints=K)
    assert c.expected_regions == math.prod(n * K + 1 for n in widths)


@pytest.mark.parametrize("widths", [[3], [4], [5, 3], [3, 4, 5, 6], [3] * 6])
def test_serra_relu_sawtooth_is_theorem_5(widths):
    c = serra_sawtooth_relu(widths)
    regions, pieces = count_construction(c)
    assert regions == pieces == c.expected_regions == serra_exact_1d(1, widths)
    a = architecture(c.network)
    assert a.activation == "relu" and a.widths == tuple(widths)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("widths", [[1], [2], [1, 1], [3, 1], [1, 3], [3, 3, 2], [2, 5, 1], [4, 4]])
def test_maxout_sawtooth_reaches_its_bound_on_the_line(widths, k):
    c = maxout_sawtooth_network(widths, rank=k)
    regions, pieces = count_construction(c)
    assert regions == c.expected_regions == maxout_lower(1, widths, rank=k)
    assert regions <= maxout_upper(1, widths, rank=k)
    if all(n % 2 == 0 for n in widths[:-1]) or k <= 2:
        assert regions == maxout_upper(1, widths, rank=k)
    if c.distinct_pieces:
        assert pieces == regions


@pytest.mark.parametrize("K", [1, 2, 3])
@pytest.mark.parametrize("widths", [[1], [3], [2, 3], [3, 2], [2, 2, 2], [4, 5], [5, 1]])
def test_folding_network_reaches_cpwl_lower_in_the_square(widths, K):
    c = folding_network(2, widths, breakpoints=K)
    assert architecture(c.network).widths == tuple(widths)
    regions, pieces = count_construction(c)
    assert regions == pieces == c.expected_regions == cpwl_lower(2, widths, breakpoints=K)
    assert regions <= cpwl_upper(2, widths, breakpoints=K)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("widths", [[1], [3], [2, 3], [3, 2], [2, 2, 2], [5, 3]])
def test_maxout_folding_network_reaches_maxout_lower_in_the_square(widths, k):
    c = maxout_folding_network(2, widths, rank=k)
    assert architecture(c.network).widths == tuple(widths)
    regions, pieces = count_construction(c)
    assert regions == pieces == c.expected_regions == maxout_lower(2, widths, rank=k)
    assert regions <= maxout_upper(2, widths, rank=k)


@pytest.mark.parametrize(("n0", "n", "k"), [(2, 1, 3), (2, 2, 4), (2, 3, 3), (2, 5, 4), (2, 4, 2), (1, 3, 4)])
def test_extremal_maxout_layer_reaches_mrz(n0, n, k):
    c = extremal_maxout_layer(n0, n, k)
    regions, pieces = count_construction(c)
    assert regions == pieces == c.expected_regions == maxout_one_layer(n0, [k] * n) == maxout_upper(n0, [n], rank=k)


@settings(max_examples=15)
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 3), st.integers(0, 10_000))
def test_random_generic_layer_has_exactly_p(n0, n, K, seed):
    if n0 == 3:
        n = min(n, 4)
    c = generic_layer(n0, n, breakpoints=K, seed=seed)
    regions, pieces = count_construction(c)
    assert regions == pieces == c.expected_regions == cpwl_one_layer(n, K, n0) == cpwl_upper(n0, [n], breakpoints=K)


@pytest.mark.parametrize(("n0", "n", "K"), [(1, 5, 3), (2, 5, 2), (3, 4, 1)])
def test_generic_layer_in_a_given_huge_box(n0, n, K):
    c = generic_layer(n0, n, breakpoints=K, seed=7, radius=1e3)
    assert c.lower == (-1e3,) * n0 and c.upper == (1e3,) * n0
    assert count_construction(c)[0] == cpwl_one_layer(n, K, n0)


@settings(max_examples=20)
@given(
    st.sampled_from([1, 2]),
    st.lists(st.integers(1, 5), min_size=1, max_size=3),
    st.integers(1, 4),
    st.booleans(),
)
def test_random_constructions_reach_their_lower_bounds(n0, widths, K, maxout):
    """Constructions for random architectures (the bound's own width condition enforced)."""
    widths = [max(w, n0) for w in widths[:-1]] + widths[-1:]
    if maxout:
        make = maxout_sawtooth_network if n0 == 1 else maxout_folding_network
        c = make(widths, rank=K) if n0 == 1 else make(n0, widths, rank=K)
        bound = maxout_lower(n0, widths, rank=K)
    else:
        c = folding_network(n0, widths, breakpoints=K)
        bound = cpwl_lower(n0, widths, breakpoints=K)
    if bound > 20_000:
        return
    regions, pieces = count_construction(c)
    assert regions == c.expected_regions == bound
    if c.distinct_pieces:
        assert pieces == regions


@pytest.mark.parametrize(
    "make",
    [
        lambda: folding_network(3, [3, 4]),
        lambda: folding_network(3, [4, 3], breakpoints=2),
        lambda: maxout_folding_network(3, [3, 3], rank=3),
        lambda: extremal_maxout_layer(3, 4, 3),
    ],
    ids=["fold-K1", "fold-K2", "maxout-fold", "maxout-layer"],
)
def test_constructions_in_the_cube(make):
    c = make()
    regions, pieces = count_construction(c)
    assert regions == pieces == c.expected_regions
    bound = cpwl_lower if c.activation == "cpwl" else maxout_lower
    kw = {"breakpoints": c.breakpoints} if c.activation == "cpwl" else {"rank": c.rank}
    assert regions == bound(3, c.widths, **kw)


def test_constructions_read_back_as_their_architecture():
    c = folding_network(2, [3, 4], breakpoints=2)
    a = architecture(c.network)
    assert (a.input_dim, a.widths, a.activation, a.breakpoints) == (2, (3, 4), "cpwl", 2)
    assert cpwl_upper(a) >= c.expected_regions == cpwl_lower(a)
    m = maxout_folding_network(2, [2, 3], rank=3)
    a = architecture(m.network)
    assert (a.widths, a.activation, a.max_rank) == ((2, 3), "maxout", 3)
    assert maxout_upper(a) >= m.expected_regions == maxout_lower(a)


def test_construction_results_are_plain_and_picklable():
    c = maxout_folding_network(2, [3, 2], rank=3)
    d = c.to_dict()
    assert d["expected_regions"] == c.expected_regions and d["splits"] == [[2, 1]]
    assert d["lower"] == [0.0, 0.0] and d["upper"] == [1.0, 1.0]
    back = pickle.loads(pickle.dumps(c))
    x = torch.rand(5, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(back.network(x), c.network(x))
    with pytest.raises(AttributeError):
        c.expected_regions = 0  # frozen
    # deterministic: the same seed gives the same network
    again = maxout_folding_network(2, [3, 2], rank=3)
    assert torch.equal(again.network(x), c.network(x))


def test_construction_errors():
    with pytest.raises(BoundNotApplicableError, match="at least 3 ReLUs"):
        serra_sawtooth_relu([3, 2])
    with pytest.raises(BoundNotApplicableError, match="n_l >= 3"):
        folding_network(3, [2, 5])
    with pytest.raises(BoundNotApplicableError, match="n_l >= 2"):
        maxout_folding_network(2, [1, 5], rank=3)
    with pytest.raises(InvalidParameterError, match="breakpoints"):
        sawtooth_network([2], breakpoints=0)
    with pytest.raises(InvalidParameterError, match="widths"):
        folding_network(2, [])
    with pytest.raises(InvalidParameterError, match="vertices"):
        generic_layer(6, 60, breakpoints=3)


# ------------------------------------------------- no network exceeds the upper bounds


def _draw_univariate_layer(gen, fan_in, n, K, mode, degenerate):
    """Dense weights and per-unit tables; ``mode``: 'gauss' or 'int' (many coincidences)."""
    if mode == "int":
        W = torch.randint(-1, 2, (n, fan_in), generator=gen).to(F64)
        b = torch.randint(-2, 3, (n,), generator=gen).to(F64)
        gaps = torch.randint(1, 3, (n, K), generator=gen).to(F64)
        bps = gaps.cumsum(1) - gaps.sum(1, keepdim=True) // 2
        slopes = torch.randint(-1, 2, (n, K + 1), generator=gen).to(F64)
    else:
        W = torch.randn(n, fan_in, generator=gen, dtype=F64)
        b = torch.randn(n, generator=gen, dtype=F64)
        gaps = 0.2 + torch.rand(n, K, generator=gen, dtype=F64)
        bps = gaps.cumsum(1) - gaps.sum(1, keepdim=True) / 2 + 0.5 * torch.randn(n, 1, generator=gen, dtype=F64)
        slopes = torch.randn(n, K + 1, generator=gen, dtype=F64)
        slopes[torch.rand(n, K + 1, generator=gen) < 0.2] = 0.0
    if n >= 2 and "duplicate" in degenerate:
        W[1], b[1], bps[1], slopes[1] = W[0], b[0], bps[0], slopes[0]
    if n >= 2 and "parallel" in degenerate:
        W[-1] = -2.0 * W[0]
    if "zero" in degenerate:
        W[0] = 0.0
        b[0] = bps[0, 0]  # identically on a breakpoint
    return W, b, bps, slopes


def random_cpwl_network(seed, n0, widths, K, mode, degenerate):
    gen = torch.Generator().manual_seed(seed)
    ops, fan_in = [], n0
    for n in widths:
        W, b, bps, slopes = _draw_univariate_layer(gen, fan_in, n, K, mode, degenerate)
        ops += [Dense(W, b), PiecewiseLinear.from_breakpoints(bps, slopes, torch.randn(n, generator=gen, dtype=F64))]
        fan_in = n
    ops.append(Dense(torch.randn(1, fan_in, generator=gen, dtype=F64), None))
    return CPWLNetwork.sequential((n0,), ops)


def random_maxout_network(seed, n0, widths, k, mode, degenerate):
    gen = torch.Generator().manual_seed(seed)
    ops, fan_in = [], n0
    for n in widths:
        if mode == "int":
            W = torch.randint(-1, 2, (n * k, fan_in), generator=gen).to(F64)
            b = torch.randint(-2, 3, (n * k,), generator=gen).to(F64)
        else:
            W = torch.randn(n * k, fan_in, generator=gen, dtype=F64)
            b = torch.randn(n * k, generator=gen, dtype=F64)
        if k >= 2 and "duplicate" in degenerate:
            W[1], b[1] = W[0], b[0]  # two identical arguments in unit 0
        if n >= 2 and "parallel" in degenerate:
            W[k : 2 * k] = 3.0 * W[:k]  # unit 1 = a scaled copy of unit 0 (other biases)
        if "zero" in degenerate:
            W[(n - 1) * k :] = 0.0
        ops += [Dense(W, b), MaxOp(torch.arange(n * k).reshape(n, k), (n,))]
        fan_in = n
    ops.append(Dense(torch.randn(1, fan_in, generator=gen, dtype=F64), None))
    return CPWLNetwork.sequential((n0,), ops)


_HUGE = {1: 1e4, 2: 1e3, 3: 1e2}

random_specs = st.tuples(
    st.integers(0, 2**31 - 1),
    st.sampled_from([1, 1, 2, 2, 2, 3]),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(1, 3),
    st.sampled_from(["gauss", "int"]),
    st.frozensets(st.sampled_from(["duplicate", "parallel", "zero"])),
)


def _small_enough(n0, widths, bound):
    return n0 < 3 or (len(widths) <= 2 and bound <= 400)


@settings(max_examples=30)
@given(random_specs)
def test_no_cpwl_network_exceeds_cpwl_upper(spec):
    seed, n0, widths, K, mode, degenerate = spec
    bound = cpwl_upper(n0, widths, breakpoints=K)
    if not _small_enough(n0, widths, bound):
        widths = widths[:1]
        bound = cpwl_upper(n0, widths, breakpoints=K)
    net = random_cpwl_network(seed, n0, widths, K, mode, degenerate)
    h = _HUGE[n0]
    regions, pieces = count_regions(net, n0, [-h] * n0, [h] * n0)
    assert 1 <= pieces <= regions <= bound


@settings(max_examples=30)
@given(random_specs)
def test_no_maxout_network_exceeds_maxout_upper(spec):
    seed, n0, widths, K, mode, degenerate = spec
    k = K + 1
    bound = maxout_upper(n0, widths, rank=k)
    if not _small_enough(n0, widths, bound):
        widths = widths[:1]
        bound = maxout_upper(n0, widths, rank=k)
    net = random_maxout_network(seed, n0, widths, k, mode, degenerate)
    h = _HUGE[n0]
    regions, pieces = count_regions(net, n0, [-h] * n0, [h] * n0)
    assert 1 <= pieces <= regions <= bound


@settings(max_examples=25)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["gauss", "int"]))
def test_one_input_two_rank3_units_never_beat_the_construction(seed, mode):
    """docs/cpwl_bounds.md 5.3: widths [1, 1], k = 3 on a line have at most 7 regions, below maxout_upper (9)."""
    net = random_maxout_network(seed, 1, [1, 1], 3, mode, frozenset())
    regions, _ = count_regions(net, 1, [-1e4], [1e4])
    assert regions <= maxout_lower(1, [1, 1], rank=3) == 7 < maxout_upper(1, [1, 1], rank=3)


@settings(max_examples=10)
@given(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(0, 1000))
def test_perturbed_constructions_stay_below_the_upper_bound(K, widths, seed):
    """Extremal networks sit at the bound; small random perturbations must not cross it."""
    widths = [max(w, 2) for w in widths[:-1]] + widths[-1:]
    c = folding_network(2, widths, breakpoints=K)
    gen = torch.Generator().manual_seed(seed)
    ops = []
    for node in c.network.nodes[1:]:
        op = node.op
        if isinstance(op, Dense):
            op = Dense(op.weight + 0.05 * torch.randn(op.weight.shape, generator=gen, dtype=F64), op.bias)
        ops.append(op)
    net = CPWLNetwork.sequential((2,), ops)
    regions, _ = count_regions(net, 2, [-50.0, -50.0], [50.0, 50.0])
    assert regions <= cpwl_upper(2, widths, breakpoints=K)
