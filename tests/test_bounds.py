"""Tests of regionlab.bounds: worked values of bounds.md section 8, identities and orderings
between the bounds (Hypothesis), independent brute-force oracles, exact partitions, the
architecture reader and every error path."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import regionlab
from regionlab import bounds as B
from regionlab.errors import BoundNotApplicableError, InvalidParameterError

NA = None  # "n/a" in the tables: the bound's width condition fails


def zas(m, d):  # test-side Zaslavsky number, straight from the definition
    return sum(math.comb(m, i) for i in range(d + 1))


# ---------------------------------------------------------------- bounds.md section 8

# n0, widths, shallow Z(N, n0), M14 LB, S18 LB, S18 UB, M17 UB, Raghu, 2^N
RELU_TABLE = [
    (2, [8, 8, 8], 301, 9_472, 23_125, 50_653, 50_653, 50_653, 16_777_216),
    (2, [20, 20, 20], 1_831, 2_110_000, 3_089_251, 9_393_931, 9_393_931, 9_393_931, 2**60),
    (4, [8, 8, 8], 12_951, 41_728, NA, 4_330_747, 4_330_747, 4_330_747, 16_777_216),
    (3, [4, 4, 4], 299, 15, NA, 1_631, 3_375, 3_375, 4_096),
    (1, [5] * 10, 51, 11_718_750, 60_466_176, 60_466_176, 60_466_176, 60_466_176, 2**50),
    (2, [24], 301, 301, 301, 301, 301, 301, 16_777_216),
    (2, [2, 4, 8], 106, 148, NA, 498, 1_628, 1_628, 16_384),
    (2, [8, 4, 2], 106, 256, NA, 1_628, 1_628, 1_628, 16_384),
    (10, [8, 8, 8], 4_540_386, NA, NA, 5_900_722, 16_777_216, 16_777_216, 16_777_216),
    (2, [3, 3], 22, 7, NA, 40, 49, 49, 64),
]


def _value_or_na(fn, *args):
    try:
        return fn(*args)
    except BoundNotApplicableError:
        return NA


@pytest.mark.parametrize("row", RELU_TABLE, ids=lambda r: f"n0={r[0]}-{r[1]}")
def test_relu_table(row):
    n0, widths, shallow, m14, s18lb, s18ub, m17, raghu, pat = row
    assert B.zaslavsky(sum(widths), n0) == shallow
    assert _value_or_na(B.montufar2014_lower, n0, widths) == m14
    assert _value_or_na(B.serra_lower, n0, widths) == s18lb
    assert B.serra_upper(n0, widths) == s18ub
    assert B.serra_upper_enumerated(n0, widths) == s18ub
    assert B.hinz_upper(n0, widths) == s18ub
    assert B.montufar2017_upper(n0, widths) == m17
    assert B.raghu_upper(n0, widths) == raghu
    assert B.trivial_upper(n0, widths) == pat
    for value in (shallow, m14, s18lb, s18ub, m17, raghu, pat):
        assert value is None or type(value) is int


@pytest.mark.parametrize(
    "n0, widths, prefixes",
    [(2, [8, 8, 8], [37, 1_369, 50_653]), (3, [4, 4, 4], [15, 161, 1_631]), (2, [2, 4, 8], [4, 22, 498])],
)
def test_serra_prefix_values(n0, widths, prefixes):
    assert [B.serra_upper(n0, widths[: i + 1]) for i in range(len(widths))] == prefixes


def test_bottleneck_and_small_values():
    assert B.serra_upper(2, [2, 4, 8]) == 498 < B.serra_upper(2, [8, 4, 2]) == 1_628
    assert B.serra_exact_1d(1, [3, 3, 3]) == 64
    assert B.serra_exact_1d(1, [5] * 10) == 6**10 == B.serra_lower(1, [5] * 10)
    assert B.serra_lower(2, [6, 6, 6]) == 5_632 and B.montufar2014_lower(2, [6, 6, 6]) == 1_782
    assert B.serra_size_lower(2, 4, 4, 3) == 200
    assert B.serra_upper(2, [3, 3]) == 1 * 7 + 3 * 7 + 3 * 4  # the hand-checkable j = 0, 1, 2 terms


MAXOUT_TABLE = [  # k, S18 Thm 8, MRZ layer product, MRZ one layer (8 units), M14 one layer
    (2, 50_653, 50_653, 37, (4, 256)),
    (3, 27_270_901, 2_146_689, 129, (9, 2_629)),
    (4, 1_630_532_233, 21_253_933, 277, (16, 8_257)),
]


@pytest.mark.parametrize("row", MAXOUT_TABLE, ids=lambda r: f"k={r[0]}")
def test_maxout_table(row):
    k, thm8, product, one, m14 = row
    assert B.maxout_serra_upper(2, [8, 8, 8], rank=k) == thm8
    caps = B.dimension_caps(2, [8, 8, 8])
    assert math.prod(B.maxout_one_layer(d, [k] * 8) for d in caps) == product
    assert B.maxout_one_layer(2, [k] * 8) == one == B.cpwl_one_layer(8, k - 1, 2)
    assert B.maxout_montufar2014_one_layer(2, 8, k) == m14


CPWL_TABLE = [  # K, one layer n=8 n0=2, [8,8,8] n0=2, n0=1 [5]x10, n0=3 [4,4,4]
    (1, 37, 50_653, 60_466_176, 3_375),
    (2, 129, 2_146_689, 25_937_424_601, 274_625),
    (3, 277, 21_253_933, 1_099_511_627_776, 5_359_375),
]


@pytest.mark.parametrize("row", CPWL_TABLE, ids=lambda r: f"K={r[0]}")
def test_cpwl_table(row):
    k, one, deep, one_d, n3 = row

    def deep_product(n0, widths):
        return math.prod(B.cpwl_one_layer(n, k, d) for n, d in zip(widths, B.dimension_caps(n0, widths), strict=True))

    assert B.cpwl_one_layer(8, k, 2) == one
    assert deep_product(2, [8, 8, 8]) == deep
    assert deep_product(1, [5] * 10) == one_d == (1 + 5 * k) ** 10
    assert deep_product(3, [4, 4, 4]) == n3
    if k == 1:
        assert deep == B.montufar2017_upper(2, [8, 8, 8])


def test_mrz_worked_example():
    assert B.maxout_one_layer(2, [2, 3, 4]) == 1 + 6 + 11 == 18


# ------------------------------------------------------------------ identities (Hypothesis)

archs = st.tuples(
    st.integers(1, 5), st.lists(st.integers(1, 9), min_size=1, max_size=4)
)


def j_sum_brute_force(n0, widths, ranks=None):
    """Serra Thm 1 straight from the definition of J: every tuple, membership checked."""
    ranks = ranks or widths
    total = 0
    for js in itertools.product(*[range(n + 1) for n in widths]):
        ok, prev = True, [n0]
        for layer, j in enumerate(js):
            if j > min(*prev, ranks[layer]):
                ok = False
                break
            prev.append(widths[layer] - j)
        if ok:
            total += math.prod(math.comb(n, j) for n, j in zip(widths, js, strict=True))
    return total


@settings(max_examples=150, deadline=None)
@given(archs)
def test_recurrence_equals_j_sum_equals_hinz(arch):
    n0, widths = arch
    value = B.serra_upper(n0, widths)
    assert value == B.serra_upper_enumerated(n0, widths) == B.hinz_upper(n0, widths)
    assert value == j_sum_brute_force(n0, widths)
    assert type(value) is int


@settings(max_examples=100, deadline=None)
@given(archs, st.data())
def test_rank_refinement_matches_j_sum(arch, data):
    n0, widths = arch
    ranks = [data.draw(st.integers(0, n)) for n in widths]
    value = B.serra_upper(n0, widths, ranks=ranks)
    assert value == B.serra_upper_enumerated(n0, widths, ranks=ranks) == j_sum_brute_force(n0, widths, ranks)
    assert value <= B.serra_upper(n0, widths)


@settings(max_examples=150, deadline=None)
@given(archs)
def test_upper_bound_ordering(arch):
    n0, widths = arch
    s18, m17 = B.serra_upper(n0, widths), B.montufar2017_upper(n0, widths)
    raghu, pat = B.raghu_upper(n0, widths), B.trivial_upper(n0, widths)
    assert s18 <= m17 <= raghu <= pat == 2 ** sum(widths)
    assert m17 == math.prod(zas(n, min([n0, *widths[:i]])) for i, n in enumerate(widths))
    assert raghu == math.prod(zas(n, n0) for n in widths)
    if len(widths) == 1:
        assert s18 == zas(widths[0], n0) == B.zaslavsky(widths[0], n0)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(1, 14), min_size=1, max_size=4))
def test_every_lower_below_every_upper(n0, widths):
    table = B.all_bounds(n0, widths)
    lows = [r.value for r in table.applicable if r.kind in ("lower", "exact")]
    ups = [r.value for r in table.applicable if r.kind in ("upper", "exact")]
    assert ups, "the upper bounds always apply"
    if lows:
        assert max(lows) <= min(ups)
    for r in table.rows:
        assert (r.value is not None) == r.applies
        assert r.applies or r.reason


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(1, 10), min_size=1, max_size=4), st.integers(1, 4),
       st.sampled_from(["cpwl", "maxout"]))
def test_every_lower_below_every_upper_cpwl_and_maxout(n0, widths, k, activation):
    if activation == "cpwl":
        table = B.all_bounds(n0, widths, activation="cpwl", breakpoints=k)
    else:
        table = B.all_bounds(n0, widths, activation="maxout", rank=k + 1)
    lows = [r.value for r in table.applicable if r.kind in ("lower", "exact")]
    ups = [r.value for r in table.applicable if r.kind in ("upper", "exact")]
    if lows:
        assert max(lows) <= min(ups)


@settings(max_examples=100, deadline=None)
@given(archs)
def test_maxout_rank_two_reduces_to_relu_bounds(arch):
    n0, widths = arch
    assert B.maxout_serra_upper(n0, widths, rank=2) == B.montufar2017_upper(n0, widths)
    assert B.maxout_one_layer(n0, [2] * widths[0]) == B.zaslavsky(widths[0], n0)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(1, 5), min_size=1, max_size=7))
def test_mrz_one_layer_against_subset_products(n0, ranks):
    # e_j by brute force over subsets of units
    expected = sum(
        math.prod(ranks[i] - 1 for i in subset)
        for size in range(n0 + 1)
        for subset in itertools.combinations(range(len(ranks)), size)
    )
    assert B.maxout_one_layer(n0, ranks) == expected
    if len(ranks) <= n0:
        assert expected == math.prod(ranks)
    if len(set(ranks)) == 1:
        assert expected == B.cpwl_one_layer(len(ranks), ranks[0] - 1, n0)


# -------------------------------------------------------------- convolution (Xiong et al.)


def test_conv_toy_table():
    assert [B.conv_first_layer((1, 3), 2, 1, d1) for d1 in (1, 2, 3, 4)] == [4, 15, 40, 85]
    assert [B.zaslavsky(2 * d1, 3) for d1 in (1, 2, 3, 4)] == [4, 15, 42, 93]


def conv_rank_oracle(input_shape, kernel, stride, d1, seed):
    """Number of linearly independent subsets (empty included) of the neuron normals of a
    conv layer with random Gaussian filters: every subset checked with a matrix rank."""
    g = torch.Generator().manual_seed(seed)
    c = input_shape[0]
    conv = (nn.Conv1d if len(input_shape) == 2 else nn.Conv2d)(c, d1, kernel, stride=stride).double()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g, dtype=torch.float64))
    eye = torch.eye(math.prod(input_shape), dtype=torch.float64).reshape(-1, *input_shape)
    with torch.no_grad():
        normals = (conv(eye) - conv.bias.reshape(-1, *[1] * (len(input_shape) - 1))).reshape(eye.shape[0], -1).T
    normals = normals.numpy()
    count = 0
    for mask in range(1 << normals.shape[0]):
        rows = [i for i in range(normals.shape[0]) if mask >> i & 1]
        if not rows or np.linalg.matrix_rank(normals[rows]) == len(rows):
            count += 1
    return count


@pytest.mark.parametrize(
    "input_shape, kernel, stride, d1",
    [((1, 3), 2, 1, 3), ((1, 4), 2, 1, 2), ((2, 3), 2, 1, 2), ((1, 5), 3, 2, 2), ((1, 6), 3, 1, 2),
     ((1, 7), 3, 1, 2), ((1, 4), 2, 2, 3), ((1, 3, 3), 2, 1, 1), ((2, 3, 3), 2, 1, 2), ((2, 3, 4), 2, 1, 2),
     ((1, 3, 2), (2, 1), 1, 2)],
)
def test_conv_against_rank_oracle(input_shape, kernel, stride, d1):
    value = B.conv_first_layer(input_shape, kernel, stride, d1)
    assert value == conv_rank_oracle(input_shape, kernel, stride, d1, seed=sum(input_shape) + d1)


@pytest.mark.parametrize("input_shape, d1, formula, generic", [((1, 3, 3), 2, 256, 255), ((1, 3, 4), 2, 4096, 4061)])
def test_conv_single_channel_2d_is_only_an_upper_bound(input_shape, d1, formula, generic):
    # documented caveat: single-channel 2-D filters commute (f1 * f2 = f2 * f1), so generic
    # filters have fewer independent subsets of normals than K_N admits
    assert B.conv_first_layer(input_shape, 2, 1, d1) == formula
    assert conv_rank_oracle(input_shape, 2, 1, d1, seed=1) == conv_rank_oracle(input_shape, 2, 1, d1, seed=2) == generic


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4))
def test_conv_structure(channels, kernel, positions, d1):
    # one position is a dense layer on the receptive field: Zaslavsky
    assert B.conv_first_layer((channels, kernel), kernel, 1, d1) == B.zaslavsky(d1, channels * kernel)
    # disjoint receptive fields (stride = kernel) are independent: a product over positions
    length = kernel * positions
    assert B.conv_first_layer((channels, length), kernel, kernel, d1) == B.zaslavsky(d1, channels * kernel) ** positions
    # a conv layer never beats the dense layer with as many units on the same input
    for stride in (1, 2):
        if length >= kernel:
            out = (length - kernel) // stride + 1
            assert B.conv_first_layer((channels, length), kernel, stride, d1) <= B.zaslavsky(out * d1, channels * length)


@pytest.mark.parametrize(
    "args, match",
    [
        (((1, 14), 2, 1, 1), "13 positions"),
        (((1, 3), 4, 1, 1), "exceeds the input size"),
        (((3,), 2, 1, 1), r"\(C, L\)"),
        (((1, 2, 2, 2), 1, 1, 1), r"\(C, H, W\)"),
        (((1, 5), (2, 2), 1, 1), "needs 1 entries"),
        (((1, 5), 2, 0, 1), "stride"),
        (((1, 5), 2, 1, 0), "out_channels"),
        (((1, 5), 2.5, 1, 1), "kernel_size"),
        (("ab", 2, 1, 1), "input_shape"),
    ],
)
def test_conv_errors(args, match):
    with pytest.raises(InvalidParameterError, match=match):
        B.conv_first_layer(*args)


def test_conv_enumeration_budget(monkeypatch):
    from regionlab.bounds import _conv

    value = B.conv_first_layer((1, 4, 4), 2, 1, 3)  # 9 positions, within the default budget
    assert type(value) is int and 3**9 < value <= B.zaslavsky(9 * 3, 16)
    monkeypatch.setattr(_conv, "MAX_NODES", 1_000)
    with pytest.raises(InvalidParameterError, match="more than 1,000 partial assignments"):
        B.conv_first_layer((1, 4, 4), 2, 1, 3)


# ------------------------------------------------------------------- exact partitions


def test_generic_one_layer_relu_matches_zaslavsky():
    torch.manual_seed(3)
    for n in (1, 3, 6):
        model = nn.Sequential(nn.Linear(2, n), nn.ReLU(), nn.Linear(n, 1)).double()
        part = regionlab.partition_plane(model, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1e4, 1e4, -1e4, 1e4),
                                         decision_boundary=False)
        assert part.num_regions == B.zaslavsky(n, 2) == B.serra_upper(B.architecture(model))


@pytest.mark.parametrize(
    "act, widths",
    [(nn.ReLU, [3, 3]), (nn.ReLU, [2, 5]), (nn.ReLU, [5, 1, 4]), (nn.LeakyReLU, [3, 3]), (nn.Hardtanh, [3, 2]),
     ("maxout", [3, 2])],
)
def test_exact_counts_of_random_networks_respect_the_bounds(act, widths):
    torch.manual_seed(11)
    layers, d = [], 2
    for n in widths:
        if act == "maxout":
            layers += [nn.Linear(d, 3 * n), Maxout(n, 3)]
        else:
            layers += [nn.Linear(d, n), act()]
        d = n
    model = nn.Sequential(*layers, nn.Linear(d, 1)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    part = regionlab.partition_plane(model, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-30, 30, -30, 30),
                                     decision_boundary=False)
    table = B.all_bounds(B.architecture(model))
    assert part.num_regions <= table.best_upper
    for row in table.applicable:
        if row.kind == "upper":
            assert part.num_regions <= row.value, row.name


class Maxout(nn.Module):
    def __init__(self, units, rank):
        super().__init__()
        self.units, self.rank = units, rank

    def forward(self, x):
        return x.view(-1, self.units, self.rank).amax(-1)


def test_constructed_maxout_layer_reaches_mrz():
    # two rank-4 units, one cutting along x into 4 pieces and one along y: 16 = e_0 + e_1 + e_2 of (3, 3)
    lin = nn.Linear(2, 8).double()
    with torch.no_grad():
        slopes = torch.tensor([-3.0, -1.0, 1.0, 3.0], dtype=torch.float64)
        w = torch.zeros(8, 2, dtype=torch.float64)
        w[:4, 0], w[4:, 1] = slopes, slopes
        lin.weight.copy_(w)
        lin.bias.copy_(torch.tensor([-2.0, 0.0, 0.0, -2.0] * 2, dtype=torch.float64))
    model = nn.Sequential(lin, Maxout(2, 4))
    part = regionlab.partition_plane(model, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-50, 50, -50, 50),
                                     decision_boundary=False)
    arch = B.architecture(model)
    assert (arch.activation, arch.widths, arch.max_rank) == ("maxout", (2,), 4)
    assert part.num_regions == 16 == B.maxout_one_layer(2, [4, 4]) == B.all_bounds(arch)["maxout_one_layer"].value


# --------------------------------------------------------------------- architecture()


def _mlp(*layers):
    torch.manual_seed(0)
    return nn.Sequential(*layers).double()


def test_architecture_reads_relu_mlp_and_ranks():
    model = _mlp(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1))
    arch = B.architecture(model)
    assert arch == B.Architecture(3, (5, 4), "relu", 1, None, (3, 4))
    assert B.architecture(regionlab.trace(model, torch.zeros(1, 3, dtype=torch.float64))) == arch
    assert B.architecture(model, torch.zeros(4, 3, dtype=torch.float64)) == arch
    # a rank-one second layer: serra_upper of the model uses the rank
    with torch.no_grad():
        model[2].weight.copy_(torch.outer(torch.arange(1.0, 5.0), torch.ones(5)).double())
    arch = B.architecture(model)
    assert arch.ranks == (3, 1)
    assert B.serra_upper(arch) == B.serra_upper(3, [5, 4], ranks=[3, 1]) == j_sum_brute_force(3, [5, 4], [3, 1])
    assert B.serra_upper(arch) < B.serra_upper(3, [5, 4])
    assert B.serra_upper(arch, ranks=[None, None]) == B.serra_upper(3, [5, 4])


def test_architecture_reads_activations():
    lin = [nn.Linear(2, 4), None, nn.Linear(4, 3), None, nn.Linear(3, 1)]

    def build(a1, a2):
        return _mlp(lin[0], a1, lin[2], a2, lin[4])

    arch = B.architecture(build(nn.LeakyReLU(0.1), nn.LeakyReLU(0.2)))
    assert (arch.activation, arch.breakpoints) == ("leaky_relu", 1)
    assert B.architecture(build(nn.ReLU(), nn.LeakyReLU())).activation == "leaky_relu"
    arch = B.architecture(build(nn.Hardtanh(), nn.ReLU()))
    assert (arch.activation, arch.breakpoints, arch.widths) == ("cpwl", 2, (4, 3))
    act = regionlab.CPWLActivation([-1.0, 0.0, 1.0], [0.0, 1.0, -1.0, 0.5])
    arch = B.architecture(build(act, nn.ReLU()))
    assert (arch.activation, arch.breakpoints) == ("cpwl", 3)
    arch = B.architecture(_mlp(nn.Linear(2, 12), Maxout(4, 3), nn.Linear(4, 6), Maxout(2, 3), nn.Linear(2, 1)))
    assert (arch.activation, arch.widths, arch.max_rank, arch.breakpoints) == ("maxout", (4, 2), 3, None)
    # the leaky table: ReLU-only bounds are listed with the reason
    table = B.all_bounds(B.architecture(build(nn.LeakyReLU(), nn.LeakyReLU())))
    assert not table["serra_upper"].applies and "ReLU" in table["serra_upper"].reason
    assert table["montufar2017_upper"].value == B.montufar2017_upper(2, [4, 3])


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)) + x)


@pytest.mark.parametrize(
    "model, example, match",
    [
        (nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1)), torch.zeros(1, 1, 3),
         "conv_first_layer"),
        (Residual(), None, "branches"),
        (nn.Sequential(nn.Linear(2, 6), Maxout(3, 2), nn.Linear(3, 2), nn.ReLU()), None, "mixes maxout"),
        (nn.Sequential(nn.Linear(2, 6), Maxout(3, 2), nn.Linear(3, 6), Maxout(2, 3)), None, "different ranks"),
        (nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), None, "no activation"),
        (nn.Sequential(nn.ReLU(), nn.Linear(2, 1)), torch.zeros(1, 2), "not preceded by a Linear"),
    ],
)
def test_architecture_refusals(model, example, match):
    with pytest.raises(BoundNotApplicableError, match=match):
        B.architecture(model.double(), None if example is None else example.double())


def test_architecture_composes_elementwise_affine_and_refuses_gather():
    from regionlab.ir import CPWLNetwork, Dense, ElementwiseAffine, Gather, PiecewiseLinear, Sum

    w = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ops = [Dense(w), ElementwiseAffine(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), None),
           PiecewiseLinear.relu(), Dense(torch.ones(2, 3, dtype=torch.float64)), Sum((2.0,)), PiecewiseLinear.relu()]
    arch = B.architecture(CPWLNetwork.sequential((2,), ops))
    assert arch.widths == (3, 2) and arch.ranks == (1, 1)  # two zeroed rows; a rank-one all-ones layer
    bad = CPWLNetwork.sequential((2,), [Dense(w), PiecewiseLinear.relu(), Gather(torch.tensor([0, 1]), (2,)),
                                        PiecewiseLinear.relu()])
    with pytest.raises(BoundNotApplicableError, match="Gather"):
        B.architecture(bad)


def test_architecture_input_errors():
    with pytest.raises(InvalidParameterError, match="input dimension"):
        B.architecture(nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    with pytest.raises(InvalidParameterError, match="nn.Module"):
        B.architecture("model.pt")
    with pytest.raises(InvalidParameterError, match="input_dim and widths"):
        B.architecture(input_dim=2)
    arch = B.architecture(input_dim=2, widths=4, activation="leaky")
    assert (arch.widths, arch.activation) == ((4,), "leaky_relu")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_dim=0, widths=(3,)), "input_dim must be >= 1"),
        (dict(input_dim=2.0, widths=(3,)), "input_dim must be an integer"),
        (dict(input_dim=True, widths=(3,)), "input_dim must be an integer"),
        (dict(input_dim=2, widths=()), "at least one hidden layer"),
        (dict(input_dim=2, widths=(3, 0)), r"widths\[1\] must be >= 1"),
        (dict(input_dim=2, widths="33"), "widths must be a sequence"),
        (dict(input_dim=2, widths=(3,), activation="gelu"), "activation must be one of"),
        (dict(input_dim=2, widths=(3,), activation="cpwl"), "needs breakpoints"),
        (dict(input_dim=2, widths=(3,), activation="relu", breakpoints=2), "exactly one breakpoint"),
        (dict(input_dim=2, widths=(3,), activation="maxout"), "needs the rank"),
        (dict(input_dim=2, widths=(3,), activation="maxout", max_rank=3, breakpoints=1), "does not apply to maxout"),
        (dict(input_dim=2, widths=(3,), activation="relu", max_rank=3), "only to maxout"),
        (dict(input_dim=2, widths=(3,), ranks=(1, 1)), "one entry per hidden layer"),
        (dict(input_dim=2, widths=(3,), ranks=(4,)), "exceeds the width"),
    ],
)
def test_architecture_validation(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        B.Architecture(**kwargs)


def test_architecture_value_object():
    arch = B.architecture(input_dim=2, widths=[4, 4], activation="maxout", rank=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.input_dim = 3
    assert pickle.loads(pickle.dumps(arch)) == arch
    assert json.loads(json.dumps(arch.to_dict()))["max_rank"] == 3
    assert "maxout (k=3)" in str(arch)
    assert (arch.depth, arch.num_neurons) == (2, 8)


# ---------------------------------------------------------------- argument conventions


def test_both_calling_conventions():
    arch = B.architecture(input_dim=2, widths=[8, 8, 8])
    for fn in (B.serra_upper, B.montufar2017_upper, B.raghu_upper, B.hinz_upper, B.montufar2014_lower,
               B.serra_lower, B.trivial_upper, B.serra_upper_enumerated):
        assert fn(arch) == fn(2, [8, 8, 8]) == fn(2, (8, 8, 8))
    assert B.serra_upper(2, 8) == B.zaslavsky(8, 2)
    with pytest.raises(InvalidParameterError, match="widths is missing"):
        B.serra_upper(2)
    with pytest.raises(InvalidParameterError, match="not both"):
        B.serra_upper(arch, [3])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: B.montufar2014_lower(3, [4, 2]), BoundNotApplicableError, "layer 2 has width 2"),
        (lambda: B.serra_lower(2, [6, 5]), BoundNotApplicableError, "layer 2 has width 5"),
        (lambda: B.serra_exact_1d(2, [3]), BoundNotApplicableError, "n0 = 1"),
        (lambda: B.serra_exact_1d(1, [3, 2]), BoundNotApplicableError, "layer 2 has width 2"),
        (lambda: B.serra_upper(B.architecture(input_dim=2, widths=[3], activation="leaky")),
         BoundNotApplicableError, "leaky_relu"),
        (lambda: B.hinz_upper(B.architecture(input_dim=2, widths=[3], activation="cpwl", breakpoints=2)),
         BoundNotApplicableError, "cpwl"),
        (lambda: B.raghu_upper(B.architecture(input_dim=2, widths=[3], activation="maxout", rank=2)),
         BoundNotApplicableError, "maxout"),
        (lambda: B.montufar2017_upper(B.architecture(input_dim=2, widths=[3], activation="cpwl", breakpoints=2)),
         BoundNotApplicableError, "cpwl_upper"),
        (lambda: B.serra_upper(2, [3, 3], ranks=[1]), InvalidParameterError, "one entry per hidden layer"),
        (lambda: B.serra_upper(2, [3, 3], ranks=[4, 1]), InvalidParameterError, "exceeds the width"),
        (lambda: B.serra_upper(2, [3, 3], ranks="ab"), InvalidParameterError, "sequence"),
        (lambda: B.serra_upper_enumerated(8, [30] * 8), InvalidParameterError, "use serra_upper"),
        (lambda: B.hinz_upper(2, [3], gamma=3), InvalidParameterError, "callable"),
        (lambda: B.hinz_upper(2, [3], gamma=lambda d, n: [1, 2]), InvalidParameterError, "4 non-negative"),
        (lambda: B.hinz_upper(2, [3], gamma=lambda d, n: [1, 2, -1, 0]), InvalidParameterError, ">= 0"),
        (lambda: B.serra_size_lower(2, 0, 4, 3), InvalidParameterError, "m must be >= 1"),
        (lambda: B.serra_size_lower(2, 4, 1, 3), InvalidParameterError, "w must be >= 2"),
        (lambda: B.trivial_upper(2, [3], pieces=0), InvalidParameterError, "pieces"),
        (lambda: B.maxout_serra_upper(2, [3]), BoundNotApplicableError, "pass rank=k"),
        (lambda: B.maxout_serra_upper(2, [3], rank=0), InvalidParameterError, "rank must be >= 1"),
        (lambda: B.maxout_one_layer(2, []), InvalidParameterError, "non-empty"),
        (lambda: B.maxout_one_layer(2, [3, 0]), InvalidParameterError, r"ranks\[1\]"),
        (lambda: B.maxout_montufar2014_one_layer(2, 0, 3), InvalidParameterError, "width"),
        (lambda: B.zaslavsky(-1, 2), InvalidParameterError, "num_hyperplanes"),
        (lambda: B.cpwl_one_layer(3, 1.5, 2), InvalidParameterError, "breakpoints"),
        (lambda: B.all_bounds(2, [3])["nope"], InvalidParameterError, "No bound named 'nope'"),
        (lambda: B.all_bounds(2, [3], activation="cpwl"), InvalidParameterError, "needs breakpoints"),
    ],
)
def test_error_paths(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_custom_gamma_tightens_or_loosens_hinz():
    # the trivial histogram (all 2^n regions with every unit active) gives 2^N with no dimension loss
    assert B.hinz_upper(2, [3, 4], gamma=lambda d, n: [0] * n + [2**n]) == 2**7
    # Serra's gamma passed explicitly is the default
    assert B.hinz_upper(3, [4, 2, 5], gamma=B.serra_gamma) == B.serra_upper(3, [4, 2, 5])


# ----------------------------------------------------------------------- the table


def test_all_bounds_rows_by_activation():
    relu = B.all_bounds(2, [8, 8, 8])
    assert {"serra_upper", "montufar2017_upper", "raghu_upper", "hinz_upper", "montufar2014_lower", "serra_lower",
            "serra_exact_1d", "serra_size_lower", "trivial_upper", "zaslavsky_one_layer"} <= set(relu.names)
    assert relu["serra_upper"].value == 50_653 and relu["serra_lower"].value == 23_125
    assert relu["serra_size_lower"].value == B.serra_size_lower(2, 4, 8, 3)
    assert not relu["zaslavsky_one_layer"].applies and relu.best_upper == 50_653
    one = B.all_bounds(2, [24])
    assert one["zaslavsky_one_layer"].value == 301 == one.best_upper == one.best_lower
    cp = B.all_bounds(2, [8], activation="cpwl", breakpoints=3)
    assert cp["cpwl_one_layer"].value == 277 and cp["trivial_upper"].value == 4**8
    assert "serra_upper" not in cp
    mx = B.all_bounds(2, [8, 8, 8], activation="maxout", rank=4)
    assert mx["maxout_serra_upper"].value == 1_630_532_233 and mx["trivial_upper"].value == 4**24
    assert not mx["maxout_one_layer"].applies
    mx1 = B.all_bounds(2, [8], activation="maxout", rank=3)
    assert mx1["maxout_montufar2014_one_layer_lower"].value == 9
    assert mx1["maxout_montufar2014_one_layer_upper"].value == 2_629
    assert regionlab.all_bounds is B.all_bounds


def test_all_bounds_includes_the_general_bounds():
    general = pytest.importorskip("regionlab.bounds._general")
    relu = B.all_bounds(2, [8, 8, 8])
    assert relu["cpwl_upper"].value == general.cpwl_upper(2, [8, 8, 8], breakpoints=1)
    cp = B.all_bounds(3, [4, 4, 4], activation="cpwl", breakpoints=2)
    assert cp["cpwl_upper"].value == general.cpwl_upper(3, [4, 4, 4], breakpoints=2)
    mx = B.all_bounds(2, [8, 8, 8], activation="maxout", rank=3)
    assert mx["maxout_upper"].value == general.maxout_upper(2, [8, 8, 8], rank=3)
    assert mx["maxout_upper"].value <= mx["maxout_serra_upper"].value
    for name in ("cpwl_upper", "cpwl_lower", "maxout_upper", "maxout_lower"):
        assert getattr(B, name) is getattr(general, name)


def test_bounds_table_value_object():
    table = B.all_bounds(2, [20, 20, 20])
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.rows = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.rows[0].value = 1
    assert pickle.loads(pickle.dumps(table)) == table
    data = json.loads(json.dumps(table.to_dict()))
    assert data["architecture"]["widths"] == [20, 20, 20]
    assert {r["name"]: r["value"] for r in data["rows"]}["trivial_upper"] == 2**60
    text = str(table)
    assert "serra_upper" in text and "9,393,931" in text and "1.15e18" in text and "Not applicable" in text
    md = table.to_markdown().splitlines()
    assert md[0] == "| bound | kind | value | source | notes |" and len(md) == 2 + len(table)
    assert len(table) == len(list(table)) and "serra_upper" in table and "nope" not in table
    with pytest.raises(InvalidParameterError, match="kind"):
        B.Bound("x", "sideways", 1, "s", "a", True)


@pytest.mark.parametrize(
    "value, text",
    [(0, "0"), (999_999_999_999, "999,999,999,999"), (10**12, "1,000,000,000,000 (1.00e12)"),
     (2**60, "1,152,921,504,606,846,976 (1.15e18)"), (10**30 - 1, "999,999,999,999,999,999,999,999,999,999 (1.00e30)"),
     (10**30, "1.00e30 (31 digits)"), (99_950 * 10**40, "1.00e45 (45 digits)"), (2**20000, "3.98e6020 (6021 digits)"),
     (None, "n/a")],
    ids=range(9),
)
def test_format_count(value, text):
    assert B.format_count(value) == text


def test_package_surface():
    assert regionlab.bounds is B
    for name in B.__all__:
        assert getattr(B, name) is not None
    with pytest.raises(AttributeError):
        B.no_such_bound  # noqa: B018
