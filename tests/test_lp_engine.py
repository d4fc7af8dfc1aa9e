"""The LP region-graph engine against oracles, the 2-D engine, the vertex engine and invariants."""

from __future__ import annotations

import itertools
import pickle
from math import comb

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import regionlab
from regionlab.domains import Box, L1Ball, LinfBall, Polytope, Simplex, window
from regionlab.errors import (
    DomainError,
    InvalidParameterError,
    NumericalError,
    RegionLimitExceeded,
    ShapeError,
)
from regionlab.ir import CPWLNetwork, Dense, MaxOp, PiecewiseLinear
from regionlab.regions import _lp_engine
from regionlab.regions._lp_engine import lp_partition

from .oracles import layers_from_network, oracle_patterns_nd

DT = torch.float64

# ----------------------------------------------------------------------------- helpers


def spline3():
    """A 3-breakpoint CPWL activation (4 pieces)."""
    return PiecewiseLinear.from_breakpoints([-0.5, 0.0, 0.7], [0.2, -1.0, 0.5, 1.5], intercept=0.1)


ACTIVATIONS = {
    "relu": PiecewiseLinear.relu,
    "leaky": lambda: PiecewiseLinear.leaky_relu(0.1),
    "hardtanh": lambda: PiecewiseLinear.hardtanh(-0.5, 0.5),
    "abs": PiecewiseLinear.abs,
    "spline3": spline3,
}


def mlp(widths, seed, act="relu", d=3, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    ops, prev = [], d
    for w in widths:
        W = torch.randn(w, prev, generator=gen, dtype=DT) * scale
        ops += [Dense(W, torch.randn(w, generator=gen, dtype=DT) * 0.5), ACTIVATIONS[act]()]
        prev = w
    ops.append(Dense(torch.randn(1, prev, generator=gen, dtype=DT)))
    return CPWLNetwork.sequential((d,), ops)


def maxout(seed, d=3, units=(3, 2), pieces=2):
    """Dense -> max over groups of ``pieces`` -> Dense -> max ... (maxout layers)."""
    gen = torch.Generator().manual_seed(seed)
    ops, prev = [], d
    for m in units:
        ops.append(Dense(torch.randn(m * pieces, prev, generator=gen, dtype=DT), torch.randn(m * pieces, generator=gen, dtype=DT) * 0.5))
        ops.append(MaxOp(torch.arange(m * pieces).reshape(m, pieces), (m,)))
        prev = m
    ops.append(Dense(torch.randn(1, prev, generator=gen, dtype=DT)))
    return CPWLNetwork.sequential((d,), ops)


def oracle(net, domain):
    A, b = domain.halfspaces()
    layers = layers_from_network(net)
    return sorted(oracle_patterns_nd(layers, domain.origin.numpy(), domain.basis.numpy(), A.numpy(), b.numpy()))


def pattern_list(raw):
    return [tuple(int(c) for c in p) for p in raw.patterns]


def facet_sets(raw, decimals=7):
    """Per region: the sorted (unit, row, rhs) of its facets, rounded."""
    out = []
    for r in range(raw.num_regions):
        s, e = int(raw.facet_offsets[r]), int(raw.facet_offsets[r + 1])
        rows = np.round(np.column_stack([raw.A[s:e].numpy(), raw.b[s:e].numpy()]), decimals)
        out.append(sorted((int(u), *row.tolist()) for u, row in zip(raw.facet_unit[s:e].tolist(), rows, strict=True)))
    return out


def check_invariants(raw, net, domain):
    """What every complete LP partition satisfies, checked against the network directly."""
    R = raw.num_regions
    assert R >= 1
    assert raw.info["engine"] == "lp"
    cert = raw.info["certificate"]
    assert raw.info["complete"] and cert["complete"] and cert["unresolved"] == 0
    assert cert["to_known"] + cert["to_boundary"] + cert["to_degenerate"] == cert["network_facets"] + cert["domain_facets"]
    # canonical order, distinct patterns
    assert pattern_list(raw) == sorted(pattern_list(raw))
    assert len(set(pattern_list(raw))) == R
    # witnesses: inside the domain and their region, at the reported distance from every facet
    W = raw.witnesses
    assert bool(domain.contains(W, 1e-12).all())
    X = domain.to_input(W)
    assert torch.equal(net.patterns(X.reshape(R, *net.input_shape)), raw.patterns)
    assert bool((raw.inradii > 0).all())
    offs = raw.facet_offsets
    assert int(offs[-1]) == raw.A.shape[0] == raw.b.shape[0] == raw.facet_unit.shape[0]
    assert torch.allclose(raw.A.norm(dim=1), torch.ones(raw.A.shape[0], dtype=DT), atol=1e-12)
    for r in range(R):
        A, b = raw.A[offs[r]:offs[r + 1]], raw.b[offs[r]:offs[r + 1]]
        slack = b - A @ W[r]
        assert bool((slack >= raw.inradii[r] - 1e-9).all())
    # adjacency: sorted pairs i < j, no repeats, neighbours differ, share a facet hyperplane
    adj = raw.adjacency
    if adj.numel():
        assert bool((adj[:, 0] < adj[:, 1]).all())
        keys = (adj[:, 0] * R + adj[:, 1]).tolist()
        assert keys == sorted(set(keys))
        for i, j in adj.tolist():
            assert not torch.equal(raw.patterns[i], raw.patterns[j])
            Ai, bi = raw.A[offs[i]:offs[i + 1]], raw.b[offs[i]:offs[i + 1]]
            Aj, bj = raw.A[offs[j]:offs[j + 1]], raw.b[offs[j]:offs[j + 1]]
            opposite = ((Ai @ Aj.T + 1).abs() < 1e-7) & ((bi.unsqueeze(1) + bj.unsqueeze(0)).abs() < 1e-7)
            assert bool(opposite.any())
    if raw.volumes is not None:
        assert raw.volumes.sum().item() == pytest.approx(domain.volume(), rel=1e-9)
        assert bool((raw.volumes > 0).all())


def check_against_oracle(net, domain, **kw):
    raw = lp_partition(net, domain, **kw)
    assert pattern_list(raw) == oracle(net, domain)
    check_invariants(raw, net, domain)
    return raw


BOX3 = Box([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])
SIMPLEX3 = Simplex([[-1.0, -1.0, -1.0], [1.5, -1.0, -1.0], [-1.0, 1.5, -1.0], [-1.0, -1.0, 1.5]])
L1BALL3 = L1Ball([0.2, -0.1, 0.0], 1.3)
DOMAINS3 = {"box": BOX3, "simplex": SIMPLEX3, "l1": L1BALL3}


class LPFormOnly:
    """A domain proxy that hides the H-representation: the engine must work from ``lp_form``."""

    def __init__(self, domain):
        self._d = domain

    def __getattr__(self, name):
        return getattr(self._d, name)

    def halfspaces(self):
        raise DomainError("no H-representation here; use lp_form()")


# ------------------------------------------------------------------ oracle comparisons


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dom", sorted(DOMAINS3))
def test_random_mlps_match_the_oracle(act, dom):
    widths = [3, 2] if act == "spline3" else [4, 3]  # 4 pieces per unit: keep the oracle's tree small
    check_against_oracle(mlp(widths, seed=7, act=act), DOMAINS3[dom])


@pytest.mark.parametrize("dom", sorted(DOMAINS3))
def test_maxout_matches_the_oracle(dom):
    check_against_oracle(maxout(seed=3), DOMAINS3[dom])


def test_2d_domains_match_the_oracle():
    net = mlp([5, 4], seed=2, d=2)
    for domain in (Box([-1.0, -1.0], [1.0, 1.0]), Simplex([[-1.0, -1.0], [2.0, -1.0], [-1.0, 2.0]]), L1Ball([0.0, 0.1], 1.5)):
        check_against_oracle(net, domain)


@settings(max_examples=6)
@given(seed=st.integers(0, 10_000), act=st.sampled_from(sorted(ACTIVATIONS)), geometry=st.booleans())
def test_hypothesis_random_nets_3d(seed, act, geometry):
    check_against_oracle(mlp([3, 3], seed=seed, act=act), BOX3, geometry=geometry)


# -------------------------------------------------------------- against other engines


def test_lp_facets_match_vertex_facets():
    """The LP facet path (no geometry) finds exactly the facets the vertices show."""
    for domain in (BOX3, SIMPLEX3, L1BALL3):
        net = mlp([5, 4], seed=11)
        with_vertices = lp_partition(net, domain, geometry=True)
        by_lp = lp_partition(net, domain, geometry=False)
        assert by_lp.vertices is None and with_vertices.vertices is not None
        assert torch.equal(by_lp.patterns, with_vertices.patterns)
        assert facet_sets(by_lp) == facet_sets(with_vertices)
        assert torch.equal(by_lp.adjacency, with_vertices.adjacency)
        check_invariants(by_lp, net, domain)


def test_domain_given_by_lp_form_only():
    """An L1 ball seen only through its LP form with auxiliary variables (as in high dimension)."""
    net = mlp([4, 3], seed=5)
    full = lp_partition(net, L1BALL3)
    hidden = lp_partition(net, LPFormOnly(L1BALL3))
    assert torch.equal(hidden.patterns, full.patterns)
    assert torch.equal(hidden.adjacency, full.adjacency)
    assert hidden.info["domain_facets"] is False and hidden.vertices is None
    assert bool((hidden.facet_unit >= 0).all())
    net_facets = [[f for f in fs if f[0] >= 0] for fs in facet_sets(full)]
    assert facet_sets(hidden) == net_facets
    assert hidden.info["certificate"]["complete"]


def test_matches_the_vertex_engine():
    from regionlab.regions.polytope import DEFAULT_NUMERICS, _vertex_partition

    for domain in (BOX3, LinfBall([0.2, 0.0, -0.1], 0.9), window(torch.zeros(5, dtype=DT), torch.eye(5, dtype=DT)[1:4], 1.0)):
        net = mlp([5, 4], seed=4, d=domain.input_dim)
        lp = lp_partition(net, domain)
        vx = _vertex_partition(net, domain, DEFAULT_NUMERICS, None, None, False)
        assert torch.equal(lp.patterns, vx.patterns)
        assert facet_sets(lp) == facet_sets(vx)
        assert torch.equal(lp.adjacency, vx.adjacency)


@pytest.mark.parametrize("seed", [0, 1])
def test_2d_windows_match_partition_plane(seed):
    """A 2-D window through a 4-D input: the same pattern set as the 2-D engine."""
    net = mlp([6, 5], seed=seed, d=4)
    gen = torch.Generator().manual_seed(seed)
    origin = torch.randn(4, generator=gen, dtype=DT) * 0.3
    dirs = torch.randn(2, 4, generator=gen, dtype=DT)
    dom = window(origin, dirs, 1.2)
    raw = lp_partition(net, dom)
    plane = regionlab.partition_plane(net, origin, dom.basis[0], dom.basis[1], (-1.2, 1.2, -1.2, 1.2))
    assert pattern_list(raw) == sorted(tuple(int(c) for c in p) for p in plane.patterns)
    assert raw.volumes.sum().item() == pytest.approx(plane.areas.sum().item(), rel=1e-9)
    check_invariants(raw, net, dom)


def test_polygon_domain_matches_partition_plane():
    net = maxout(seed=8, d=2, units=(4, 2), pieces=3)
    tri = [[-1.0, -1.0], [2.0, -0.5], [0.0, 1.5]]
    raw = lp_partition(net, Simplex(tri))
    plane = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], tri)
    assert pattern_list(raw) == sorted(tuple(int(c) for c in p) for p in plane.patterns)


def test_conv_net_on_an_image_window_matches_partition_plane():
    from regionlab.testing import zoo

    model = zoo.lenet(in_channels=1, size=12, num_classes=3, seed=0)
    x0 = zoo.example_input((1, 12, 12), batch=1, seed=2)[0]
    gen = torch.Generator().manual_seed(0)
    dirs = torch.randn(2, 1, 12, 12, generator=gen, dtype=DT)
    dom = window(x0, dirs, 0.5)
    raw = lp_partition(model, dom)  # an nn.Module is traced on the domain's input shape
    net = regionlab.trace(model, x0.unsqueeze(0))
    plane = regionlab.partition_plane(net, x0.reshape(-1), dom.basis[0], dom.basis[1], (-0.5, 0.5, -0.5, 0.5))
    assert pattern_list(raw) == sorted(tuple(int(c) for c in p) for p in plane.patterns)
    assert raw.info["certificate"]["complete"]


# ----------------------------------------------------------------- closed forms, sums


def test_generic_layer_gives_zaslavsky_count():
    """n generic planes whose intersections all lie in the box: sum_{j<=3} C(n, j) regions."""
    n = 7
    gen = torch.Generator().manual_seed(3)
    W = torch.randn(n, 3, generator=gen, dtype=DT)
    b = torch.randn(n, generator=gen, dtype=DT)
    # a box that holds every triple point (and so every intersection) well inside
    far = max(float(torch.linalg.solve(W[list(t)], -b[list(t)]).abs().max()) for t in itertools.combinations(range(n), 3))
    box = Box([-2 * far] * 3, [2 * far] * 3)
    net = CPWLNetwork.sequential((3,), [Dense(W, b), PiecewiseLinear.relu()])
    raw = lp_partition(net, box)
    assert raw.num_regions == sum(comb(n, j) for j in range(4)) == 64
    check_invariants(raw, net, box)


def test_volumes_sum_to_the_domain_volume():
    for domain in (BOX3, SIMPLEX3, L1BALL3, Polytope(torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1], [1, 1, 1]], dtype=DT),
                                                       torch.tensor([1.0, 1, 1, 1, 1, 1, 1.5], dtype=DT))):
        raw = lp_partition(mlp([6, 4], seed=9, act="leaky"), domain)
        assert raw.volumes.sum().item() == pytest.approx(domain.volume(), rel=1e-9)
        assert raw.info["volume_sum"] == pytest.approx(domain.volume(), rel=1e-9)


# --------------------------------------------------------------------- degenerate nets


def layer(W, b, act=PiecewiseLinear.relu):
    return [Dense(torch.tensor(W, dtype=DT), torch.tensor(b, dtype=DT)), act()]


def test_duplicate_and_parallel_hyperplanes():
    W = [[1.0, 0.5, 0.0], [1.0, 0.5, 0.0], [2.0, 1.0, 0.0], [-1.0, -0.5, 0.0], [1.0, 0.5, 0.0], [0.0, 1.0, -1.0]]
    b = [0.0, 0.0, 0.0, 0.0, -0.5, 0.2]
    net = CPWLNetwork.sequential((3,), layer(W, b) + layer([[1.0, -1.0, 0.5, 1.0, 1.0, -1.0]], [0.1]))
    raw = check_against_oracle(net, BOX3)
    # a facet on several identical surfaces is carried by the smallest unit
    assert 1 not in raw.facet_unit.tolist() and 2 not in raw.facet_unit.tolist()
    assert 0 in raw.facet_unit.tolist()


def test_dead_zero_and_constant_units():
    # unit 1: zero weights, zero bias (identically at the breakpoint: code -1 everywhere);
    # unit 2: zero weights, negative bias (always off); unit 3: plane outside the box
    W = [[1.0, -1.0, 0.5], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    b = [0.1, 0.0, -1.0, -10.0]
    # layer 2: unit 0 reads only the dead units (identically 0 -> code -1), unit 1 is normal,
    # unit 2 reads only unit 0 of layer 1 (identically 0 where that unit is off)
    W2 = [[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
    net = CPWLNetwork.sequential((3,), layer(W, b) + layer(W2, [0.0, -0.3, 0.0]))
    raw = check_against_oracle(net, BOX3)
    P = raw.patterns
    assert bool((P[:, 1] == -1).all()) and bool((P[:, 2] == 0).all()) and bool((P[:, 3] == 0).all())
    assert bool((P[:, 4] == -1).all())
    assert bool(((P[:, 6] == -1) == (P[:, 0] == 0)).all())


def test_hyperplanes_through_box_corners_and_edges():
    W = [[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    b = [-3.0, 0.0, -2.0, -1.0]  # through a corner, through edges, on a face
    net = CPWLNetwork.sequential((3,), layer(W, b) + layer([[1.0, 1.0, -1.0, 1.0], [0.5, -1.0, 1.0, 0.0]], [0.0, 0.1]))
    raw = check_against_oracle(net, BOX3)
    # the surface z = 1 lies on the box's face: no region across it, no facet carried by it
    assert 3 not in raw.facet_unit.tolist()


def test_degenerate_network_in_2d_matches_partition_plane():
    W = [[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [1.0, -1.0]]
    b = [0.0, 0.0, 0.0, -2.0, 0.0, 0.0]
    net = CPWLNetwork.sequential((2,), layer(W, b) + layer([[1.0, -1.0, 1.0, 0.5, 0.5, 1.0], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]], [0.0, 0.0]))
    dom = Box([-1.0, -1.0], [1.0, 1.0])
    raw = lp_partition(net, dom)
    plane = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    assert pattern_list(raw) == sorted(tuple(int(c) for c in p) for p in plane.patterns)
    assert pattern_list(raw) == oracle(net, dom)
    check_invariants(raw, net, dom)


def test_network_without_units_is_one_region():
    net = CPWLNetwork.sequential((3,), [Dense(torch.ones(2, 3, dtype=DT))])
    raw = lp_partition(net, BOX3)
    assert raw.num_regions == 1 and raw.patterns.shape == (1, 0)
    assert raw.facet_unit.tolist() == [-1] * 6
    assert raw.volumes.item() == pytest.approx(8.0)


# ------------------------------------------------------------------- high dimension


def test_784d_linf_ball_around_an_input():
    gen = torch.Generator().manual_seed(0)
    W1 = torch.randn(16, 784, generator=gen, dtype=DT) / 28
    W2 = torch.randn(16, 16, generator=gen, dtype=DT) / 4
    net = CPWLNetwork.sequential((784,), [
        Dense(W1, torch.randn(16, generator=gen, dtype=DT) * 0.1), PiecewiseLinear.relu(),
        Dense(W2, torch.randn(16, generator=gen, dtype=DT) * 0.1), PiecewiseLinear.relu(),
        Dense(torch.randn(1, 16, generator=gen, dtype=DT))])
    x0 = torch.rand(784, generator=gen, dtype=DT) * 0.1
    ball = LinfBall(x0, 0.002)
    raw = lp_partition(net, ball)
    assert raw.num_regions >= 2
    cert = raw.info["certificate"]
    assert cert["complete"] and cert["unresolved"] == 0 and cert["to_known"] == cert["network_facets"]
    assert raw.info["domain_facets"] is False and raw.vertices is None and raw.volumes is None
    W = raw.witnesses
    assert bool((W.abs() <= 0.002 + 1e-15).all())
    assert bool((raw.inradii > 0).all())
    X = ball.to_input(W)
    assert torch.equal(net.patterns(X), raw.patterns)
    # the region of the centre is one of them
    assert tuple(net.patterns(x0.unsqueeze(0))[0].tolist()) in set(pattern_list(raw))
    # regions are only adjacent across surfaces of units that changed
    for i, j in raw.adjacency.tolist():
        assert bool((raw.patterns[i] != raw.patterns[j]).any())


# ------------------------------------------------------- limits, start, interrupts, API


def test_max_regions_raises_with_a_partial_result():
    net = mlp([5, 4], seed=1)
    full = lp_partition(net, BOX3)
    with pytest.raises(RegionLimitExceeded) as info:
        lp_partition(net, BOX3, max_regions=5)
    part = info.value.partial
    assert part.num_regions == 5
    assert part.info["complete"] is False and part.info["certificate"]["complete"] is False
    assert set(pattern_list(part)) <= set(pattern_list(full))
    assert pattern_list(part) == sorted(pattern_list(part))
    if part.adjacency.numel():
        assert int(part.adjacency.max()) < 5
    # exactly enough is fine
    assert lp_partition(net, BOX3, max_regions=full.num_regions).num_regions == full.num_regions


def test_time_limit_raises_with_a_partial_result(monkeypatch):
    clock = iter(range(0, 10**6, 10))
    monkeypatch.setattr(_lp_engine.time, "perf_counter", lambda: float(next(clock)))
    with pytest.raises(RegionLimitExceeded) as info:
        lp_partition(mlp([5, 4], seed=1), BOX3, time_limit=25.0)
    assert info.value.partial.info["complete"] is False
    assert "time limit" in str(info.value)


def test_keyboard_interrupt_returns_finished_regions(monkeypatch):
    calls = {"n": 0}
    original = _lp_engine._Engine.verify_round

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self)

    net = mlp([5, 4], seed=1)
    full = lp_partition(net, BOX3)
    monkeypatch.setattr(_lp_engine._Engine, "verify_round", interrupted)
    raw = lp_partition(net, BOX3)
    assert raw.info["interrupted"] is True and raw.info["complete"] is False
    assert 1 <= raw.num_regions < full.num_regions
    assert set(pattern_list(raw)) <= set(pattern_list(full))


def test_start_point_does_not_change_the_partition():
    net = mlp([5, 4], seed=6)
    base = lp_partition(net, BOX3)
    for start in ([0.9, -0.9, 0.9], [0.0, 0.0, 0.0], torch.tensor([-0.99, 0.5, 0.2], dtype=DT)):
        other = lp_partition(net, BOX3, start=start)
        assert torch.equal(other.patterns, base.patterns)
        assert torch.equal(other.adjacency, base.adjacency)
        assert facet_sets(other) == facet_sets(base)


def test_start_on_a_switching_surface_is_moved_off_it():
    # the centre of the box lies on all three planes
    net = CPWLNetwork.sequential((3,), [Dense(torch.eye(3, dtype=DT)), PiecewiseLinear.relu()])
    raw = lp_partition(net, BOX3)
    assert raw.num_regions == 8 and raw.info["certificate"]["complete"]


def test_result_pickles_and_progress_bar_runs(capsys):
    raw = lp_partition(mlp([4, 3], seed=2), BOX3, progress=True)
    back = pickle.loads(pickle.dumps(raw))
    assert torch.equal(back.patterns, raw.patterns) and torch.equal(back.A, raw.A)
    assert back.info["certificate"] == raw.info["certificate"]
    assert "lp_partition" in capsys.readouterr().err


def test_partition_polytope_lp_engine_agrees():
    net = mlp([5, 4], seed=12)
    part = regionlab.partition_polytope(net, BOX3, engine="lp")
    raw = lp_partition(net, BOX3)
    assert part.num_regions == raw.num_regions
    assert torch.equal(part.patterns, raw.patterns)


def test_bad_arguments_raise_typed_errors():
    net = mlp([3], seed=0)
    with pytest.raises(InvalidParameterError):
        lp_partition(net, BOX3, max_regions=0)
    with pytest.raises(InvalidParameterError):
        lp_partition(net, BOX3, max_regions=2.5)
    with pytest.raises(InvalidParameterError):
        lp_partition(net, BOX3, time_limit=-1.0)
    with pytest.raises(InvalidParameterError):
        lp_partition(net, BOX3, numerics="float64")
    with pytest.raises(InvalidParameterError):
        lp_partition(net, BOX3, geometry="yes")
    with pytest.raises(InvalidParameterError):
        lp_partition(net, object())
    with pytest.raises(ShapeError):
        lp_partition(net, Box([-1.0, -1.0], [1.0, 1.0]))
    with pytest.raises(ShapeError):
        lp_partition(net, BOX3, start=[0.0, 0.0])
    with pytest.raises(DomainError):
        lp_partition(net, BOX3, start=[2.0, 0.0, 0.0])
    with pytest.raises(NumericalError):
        lp_partition(net, BOX3, start=[float("nan"), 0.0, 0.0])
