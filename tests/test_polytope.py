"""Exact n-D partitions (vertex engine and partition_polytope) against oracles and invariants."""

from __future__ import annotations

import pickle
from math import comb

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regionlab
from regionlab.domains import Box, L1Ball, LinfBall, Simplex, window
from regionlab.errors import DomainError, InvalidParameterError, RegionLimitExceeded, ShapeError
from regionlab.ir import CPWLNetwork, Dense, MaxOp, PiecewiseLinear

from .oracles import layers_from_network, oracle_patterns_nd

DT = torch.float64


def mlp_net(widths, gen, act=PiecewiseLinear.relu, d=3, scale=1.0):
    ops, prev = [], d
    for w in widths:
        ops += [Dense(torch.randn(w, prev, generator=gen, dtype=DT) * scale, torch.randn(w, generator=gen, dtype=DT) * 0.5), act()]
        prev = w
    ops.append(Dense(torch.randn(1, prev, generator=gen, dtype=DT), torch.zeros(1, dtype=DT)))
    return CPWLNetwork.sequential((d,), ops)


def oracle(net, domain):
    A, b = domain.halfspaces()
    return sorted(oracle_patterns_nd(layers_from_network(net), domain.origin.numpy(), domain.basis.numpy(), A.numpy(), b.numpy()))


def check(net, domain, engine="vertex"):
    part = regionlab.partition_polytope(net, domain, engine=engine)
    got = sorted(tuple(int(c) for c in p) for p in part.patterns)
    assert got == oracle(net, domain)
    assert regionlab.count_regions(net, domain, engine=engine) == part.num_regions
    check_invariants(part, net, domain)
    return part


def check_invariants(part, net, domain):
    R = part.num_regions
    assert torch.unique(part.patterns, dim=0).shape[0] == R
    # witnesses are inside their regions, with the region's pattern and affine map
    X = part.witness_inputs().reshape(R, -1)
    got = net.patterns(X)
    on = part.patterns < 0  # a unit identically at its level j on the region (code -(j + 1))
    assert torch.equal(got[~on], part.patterns[~on])
    # evaluated at the witness, such a unit is at the level up to rounding: that code, or
    # a piece next to the level (j or j + 1)
    j = -part.patterns[on].long() - 1
    assert bool(((got[on] == part.patterns[on]) | (got[on] == j) | (got[on] == j + 1)).all())
    assert bool((part.inradii > 0).all())
    assert bool(domain.contains(part.witnesses).all())
    y = net(X).reshape(R, -1)
    pred = (part.affine_A @ part.witnesses.unsqueeze(-1)).squeeze(-1) + part.affine_c
    assert torch.allclose(y, pred, atol=1e-9, rtol=1e-9)
    # facets hold the witness strictly inside; volumes add up to the domain's
    for i in range(R):
        A, b, _ = part.facets(i)
        assert bool((A @ part.witnesses[i] < b).all())
    assert float(part.volumes.sum()) == pytest.approx(domain.volume(), rel=1e-8)
    assert bool((part.volumes > 0).all())
    # adjacency: symmetric pairs i<j, neighbours differ; certificate complete
    if part.adjacency.numel():
        i, j = part.adjacency[:, 0], part.adjacency[:, 1]
        assert bool((i < j).all())
        assert bool((part.patterns[i] != part.patterns[j]).any(1).all())
    assert part.complete
    assert 1 <= part.num_linear_pieces <= R


BOX3 = Box([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("act", [PiecewiseLinear.relu, lambda: PiecewiseLinear.leaky_relu(0.1),
                                 lambda: PiecewiseLinear.hardtanh(-0.4, 0.6), PiecewiseLinear.abs])
def test_random_networks_match_oracle_3d(seed, act):
    net = mlp_net([4, 3], torch.Generator().manual_seed(seed), act=act)
    check(net, BOX3)


def test_multi_breakpoint_spline_matches_oracle():
    spline = lambda: PiecewiseLinear.from_breakpoints([-0.6, -0.1, 0.3, 0.9], [0.5, -1.0, 2.0, 0.0, 1.5])  # noqa: E731
    part = check(mlp_net([3, 2], torch.Generator().manual_seed(7), act=spline), BOX3)
    assert part.num_regions > 8


@pytest.mark.parametrize("seed", range(3))
def test_maxout_matches_oracle(seed):
    gen = torch.Generator().manual_seed(seed)
    ops = [Dense(torch.randn(6, 3, generator=gen, dtype=DT), torch.randn(6, generator=gen, dtype=DT) * 0.3),
           MaxOp(torch.tensor([[0, 1, 2], [3, 4, 5]]), (2,)),
           Dense(torch.randn(4, 2, generator=gen, dtype=DT), torch.randn(4, generator=gen, dtype=DT) * 0.3),
           MaxOp(torch.tensor([[0, 1], [2, 3]]), (2,)), Dense(torch.randn(1, 2, generator=gen, dtype=DT))]
    check(CPWLNetwork.sequential((3,), ops), BOX3)


def test_maxout_with_duplicate_and_padded_arguments():
    W = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]], dtype=DT)
    ops = [Dense(W, torch.tensor([0.0, 0.0, 0.2, -0.1], dtype=DT)), MaxOp(torch.tensor([[0, 1, 2], [3, -1, -1]]), (2,)),
           Dense(torch.ones(1, 2, dtype=DT))]
    check(CPWLNetwork.sequential((3,), ops), BOX3)


@pytest.mark.parametrize("n", [3, 5, 7])
def test_zaslavsky_count_one_generic_layer(n):
    gen = torch.Generator().manual_seed(n)
    W = torch.randn(n, 3, generator=gen, dtype=DT)
    b = torch.randn(n, generator=gen, dtype=DT) * 0.1
    net = CPWLNetwork.sequential((3,), [Dense(W, b), PiecewiseLinear.relu()])
    part = regionlab.partition_polytope(net, Box([-1e3] * 3, [1e3] * 3))
    assert part.num_regions == sum(comb(n, j) for j in range(4))


def test_reference_counts_seed0_3d():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
    part = regionlab.partition_polytope(model, BOX3)
    assert part.num_regions == 141
    check_invariants(part, regionlab.trace(model, torch.zeros(1, 3, dtype=DT)), BOX3)


def test_degenerate_planes_through_corners_parallel_duplicate_dead_zero():
    W = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0], [0.0, 1.0, -1.0], [1.0, -1.0, 0.0]], dtype=DT)
    # plane x+y+z = 3 through a corner, duplicates, a parallel one, a dead and a zero unit,
    # planes through edges of the box and through each other's intersection lines
    b = torch.tensor([-3.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=DT)
    W2 = torch.tensor([[1.0, -1.0, 0, 0, 0, 0, 1.0, 0], [0, 0, 0, 1.0, 1.0, 5.0, 0, -1.0]], dtype=DT)
    ops = [Dense(W, b), PiecewiseLinear.relu(), Dense(W2, torch.tensor([0.0, -0.5], dtype=DT)), PiecewiseLinear.relu()]
    check(CPWLNetwork.sequential((3,), ops), BOX3)


@pytest.mark.parametrize("make", [
    lambda: Simplex(torch.tensor([[0.0, 0, 0], [1.5, 0, 0], [0, 1.5, 0], [0, 0, 1.5]], dtype=DT) - 0.4),
    lambda: L1Ball(torch.tensor([0.1, -0.2, 0.0], dtype=DT), 1.2),
    lambda: LinfBall(torch.tensor([0.3, 0.0, -0.1], dtype=DT), 0.7),
])
def test_other_domains_match_oracle(make):
    check(mlp_net([4, 3], torch.Generator().manual_seed(5)), make())


def test_four_dimensional_box_and_window_of_a_higher_dimensional_input():
    gen = torch.Generator().manual_seed(2)
    check(mlp_net([5, 3], gen, d=4), Box([-1.0] * 4, [1.0] * 4))
    net = mlp_net([5, 4], gen, d=10)
    dirs = regionlab.domains.random_directions(10, 3, torch.Generator().manual_seed(0))
    check(net, window(torch.randn(10, generator=gen, dtype=DT) * 0.2, dirs, 0.8))


def test_two_dimensional_domain_agrees_with_plane_engine():
    gen = torch.Generator().manual_seed(9)
    net = mlp_net([6, 5, 4], gen, d=2)
    part = regionlab.partition_polytope(net, Box([-1.0, -1.0], [1.0, 1.0]))
    plane = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    assert sorted(map(tuple, part.patterns.tolist())) == sorted(map(tuple, plane.patterns.tolist()))
    # same dual graph (pattern pairs)
    pp = {tuple(sorted((tuple(part.patterns[i].tolist()), tuple(part.patterns[j].tolist())))) for i, j in part.adjacency.tolist()}
    pq = {tuple(sorted((tuple(plane.patterns[i].tolist()), tuple(plane.patterns[j].tolist())))) for i, j in plane.adjacency.tolist()}
    assert pp == pq
    assert np.allclose(sorted(part.volumes.tolist()), sorted(plane.areas.tolist()), rtol=1e-9, atol=1e-12)


def test_segment_engine_agrees_on_an_edge_of_the_box():
    net = mlp_net([5, 4], torch.Generator().manual_seed(4))
    part = regionlab.partition_polytope(net, BOX3)
    seg = regionlab.partition_segment(net, [-1.0, -1.0, -1.0], [1.0, -1.0, -1.0])
    # every segment piece's pattern is the pattern of a region touching that edge
    pats = {tuple(p) for p in part.patterns.tolist()}
    mids = (seg.breakpoints[:-1] + seg.breakpoints[1:]) / 2 if hasattr(seg, "breakpoints") else None
    assert mids is not None
    X = torch.stack([torch.tensor([-1.0 + 2 * float(t), -1.0, -1.0], dtype=DT) for t in mids])
    # nudge into the box interior: regions are open sets meeting the box with volume
    X[:, 1:] += 1e-9
    assert {tuple(p) for p in net.patterns(X).tolist()} <= pats


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(-2, 2), min_size=9, max_size=9), st.lists(st.integers(-2, 2), min_size=3, max_size=3),
       st.lists(st.integers(-2, 2), min_size=6, max_size=6), st.lists(st.integers(-2, 2), min_size=2, max_size=2))
def test_hypothesis_integer_networks_match_oracle(w1, b1, w2, b2):
    # small integer weights: planes through corners, parallel, duplicate and zero planes abound
    ops = [Dense(torch.tensor(w1, dtype=DT).reshape(3, 3), torch.tensor(b1, dtype=DT) * 0.5), PiecewiseLinear.relu(),
           Dense(torch.tensor(w2, dtype=DT).reshape(2, 3), torch.tensor(b2, dtype=DT) * 0.5), PiecewiseLinear.relu()]
    check(CPWLNetwork.sequential((3,), ops), BOX3)


_ACTS = {"relu": PiecewiseLinear.relu, "leaky": lambda: PiecewiseLinear.leaky_relu(0.5), "abs": PiecewiseLinear.abs,
         "htanh": lambda: PiecewiseLinear.hardtanh(-1.0, 1.0)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 3), st.lists(st.tuples(st.integers(2, 4), st.sampled_from([*sorted(_ACTS), "max"])), min_size=2, max_size=3),
       st.data())
def test_hypothesis_deep_integer_networks_every_activation(d, layers, data):
    # deeper integer networks: later units identically on a level (code -1) or with
    # identical maxout arguments in some regions, which the step across an earlier facet
    # must find with the engine's code for them
    ops, prev = [], d
    for w, act in layers:
        rows = 2 * w if act == "max" else w
        W = data.draw(st.lists(st.integers(-1, 1), min_size=rows * prev, max_size=rows * prev))
        b = data.draw(st.lists(st.integers(-2, 2), min_size=rows, max_size=rows))
        ops.append(Dense(torch.tensor(W, dtype=DT).reshape(rows, prev), torch.tensor(b, dtype=DT) * 0.5))
        ops.append(MaxOp(torch.arange(rows).reshape(w, 2), (w,)) if act == "max" else _ACTS[act]())
        prev = w
    ops.append(Dense(torch.ones(1, prev, dtype=DT)))
    check(CPWLNetwork.sequential((d,), ops), Box([-1.0] * d, [1.0] * d))


def test_adjacency_across_a_facet_into_a_region_on_a_level():
    # across t = x - z = 0 the second layer's first unit, |t + 1| - |t| - 1 = 2t on one side,
    # is identically 0 on the other: its code there is the level's (-1), not a piece
    W1 = torch.tensor([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]], dtype=DT)
    W2 = torch.tensor([[1.0, -1.0], [-1.0, -1.0], [0.0, 1.0]], dtype=DT)
    ops = [Dense(W1, torch.tensor([1.0, 0.0], dtype=DT)), PiecewiseLinear.abs(),
           Dense(W2, torch.tensor([-1.0, -1.0, 1.0], dtype=DT)), PiecewiseLinear.abs(), Dense(torch.ones(1, 3, dtype=DT))]
    net = CPWLNetwork.sequential((3,), ops)
    part = check(net, BOX3)
    assert part.num_regions == 3 and int((part.patterns == -1).sum()) == 1
    lp = regionlab.partition_polytope(net, BOX3, engine="lp")
    assert torch.equal(part.patterns, lp.patterns) and torch.equal(part.adjacency, lp.adjacency)
    assert part.adjacency.tolist() == [[0, 1], [1, 2]]


def test_adjacency_across_a_facet_into_a_region_with_tied_maxout_arguments():
    # a second-layer maxout unit whose two arguments are identical in a neighbour (the
    # engine's code: the first one), stepped across to a point where rounding may pick
    # the other
    W1 = torch.tensor([[-1.0, -1.0], [-1.0, 0.0], [0.0, 0.0], [2.0, 1.0], [-1.0, -1.0], [0.0, 0.0]], dtype=DT)
    W2 = torch.tensor([[1.0, -2.0, 0.0], [-2.0, 2.0, -2.0], [2.0, 1.0, 1.0], [2.0, 0.0, 1.0]], dtype=DT)
    ops = [Dense(W1, torch.tensor([0.0, 1.0, 1.0, 0.5, -1.0, -1.0], dtype=DT)), MaxOp(torch.arange(6).reshape(3, 2), (3,)),
           Dense(W2, torch.tensor([1.0, 0.5, -0.5, 0.5], dtype=DT)), MaxOp(torch.arange(4).reshape(2, 2), (2,)),
           Dense(torch.ones(1, 2, dtype=DT))]
    net = CPWLNetwork.sequential((2,), ops)
    ball = L1Ball(torch.zeros(2, dtype=DT), 1.0)
    part = check(net, ball)
    lp = regionlab.partition_polytope(net, ball, engine="lp")
    assert part.num_regions == 4 and part.info["certificate"]["unmatched"] == 0
    assert torch.equal(part.patterns, lp.patterns) and torch.equal(part.adjacency, lp.adjacency)


def test_limits_partial_results_and_errors():
    net = mlp_net([6, 5], torch.Generator().manual_seed(1))
    with pytest.raises(RegionLimitExceeded) as exc:
        regionlab.partition_polytope(net, BOX3, max_regions=3)
    partial = exc.value.partial
    assert partial is not None and not partial.complete and partial.num_regions >= 1
    for fn in (regionlab.partition_polytope, regionlab.count_regions):
        with pytest.raises(InvalidParameterError):
            fn(net, BOX3, engine="magic")
        with pytest.raises(InvalidParameterError):
            fn(net, BOX3, max_regions=0)
        with pytest.raises(DomainError):
            fn(net, (-1, 1))
        with pytest.raises(ShapeError):
            fn(net, Box([-1.0] * 4, [1.0] * 4))


def test_pickle_and_networkx():
    net = mlp_net([4, 3], torch.Generator().manual_seed(3))
    part = regionlab.partition_polytope(net, BOX3)
    again = pickle.loads(pickle.dumps(part))
    assert torch.equal(again.patterns, part.patterns) and again.num_linear_pieces == part.num_linear_pieces
    g = part.to_networkx()
    assert g.number_of_nodes() == part.num_regions and g.number_of_edges() == part.adjacency.shape[0]
    assert part.summary()["num_regions"] == part.num_regions


def test_ctrl_c_returns_the_finished_layers(monkeypatch):
    import os
    import signal

    from regionlab.regions import polytope as poly_mod

    net = mlp_net([5, 4, 3], torch.Generator().manual_seed(8))
    calls = {"n": 0}
    real = poly_mod.refine_univariate

    def interrupting(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C while the second layer is being refined
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kw)

    monkeypatch.setattr(poly_mod, "refine_univariate", interrupting)
    part = regionlab.partition_polytope(net, BOX3)
    assert part.info.get("interrupted") and not part.complete
    assert part.info["layers_done"] == 2 and calls["n"] == 2
    # the partial result is the exact partition by the first two layers
    full = regionlab.partition_polytope(CPWLNetwork.sequential((3,), list(net.nodes[i].op for i in range(1, 5))), BOX3)
    assert part.num_regions == full.num_regions
    assert float(part.volumes.sum()) == pytest.approx(8.0, rel=1e-9)


def _facet_sets(part):
    out = []
    for i in range(part.num_regions):
        A, b, unit = part.facets(i)
        rows = sorted((int(u), *(round(float(x), 7) for x in A[k]), round(float(b[k]), 7)) for k, u in enumerate(unit))
        out.append(rows)
    return out


@pytest.mark.parametrize("case", ["relu", "hardtanh", "maxout", "degenerate", "window"])
def test_vertex_and_lp_engines_return_identical_partitions(case):
    gen = torch.Generator().manual_seed(21)
    domain = BOX3
    if case == "relu":
        net = mlp_net([5, 4], gen)
    elif case == "hardtanh":
        net = mlp_net([4, 3], gen, act=lambda: PiecewiseLinear.hardtanh(-0.3, 0.5))
    elif case == "maxout":
        ops = [Dense(torch.randn(6, 3, generator=gen, dtype=DT), torch.randn(6, generator=gen, dtype=DT) * 0.3),
               MaxOp(torch.tensor([[0, 1, 2], [3, 4, 5]]), (2,)), Dense(torch.randn(1, 2, generator=gen, dtype=DT))]
        net = CPWLNetwork.sequential((3,), ops)
    elif case == "degenerate":
        W = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=DT)
        net = CPWLNetwork.sequential((3,), [Dense(W, torch.tensor([-3.0, 0.0, 0.5, 0.0], dtype=DT)), PiecewiseLinear.relu()])
    else:
        net = mlp_net([5, 4], gen, d=12)
        dirs = regionlab.domains.random_directions(12, 3, torch.Generator().manual_seed(1))
        domain = window(torch.randn(12, generator=gen, dtype=DT) * 0.1, dirs, 0.7)
    a = regionlab.partition_polytope(net, domain, engine="vertex")
    b = regionlab.partition_polytope(net, domain, engine="lp")
    assert a.complete and b.complete
    assert torch.equal(a.patterns, b.patterns)
    assert torch.equal(a.adjacency, b.adjacency)
    assert _facet_sets(a) == _facet_sets(b)
    assert torch.allclose(a.volumes, b.volumes, rtol=1e-7, atol=1e-12)
    assert a.num_linear_pieces == b.num_linear_pieces


@pytest.mark.parametrize("case", ["relu3d", "relu4d", "maxout", "wide"])
def test_memory_blocks_do_not_change_the_partition(case, monkeypatch):
    # the vertex engine cuts, checks and unpacks in blocks to bound memory (6-D boxes)
    # and lists vertex pairs per polytope when polytopes have many vertices; one
    # polytope, line or row per block and the lists everywhere give the same partition
    from regionlab.regions import _vertex_engine, polytope

    gen = torch.Generator().manual_seed(31)
    domain = BOX3
    if case == "relu3d":
        net = mlp_net([6, 5, 4], gen)
    elif case == "relu4d":
        net, domain = mlp_net([6, 5], gen, d=4), Box([-1.0] * 4, [1.0] * 4)
    elif case == "maxout":
        ops = [Dense(torch.randn(6, 3, generator=gen, dtype=DT), torch.randn(6, generator=gen, dtype=DT) * 0.3),
               MaxOp(torch.tensor([[0, 1, 2], [3, 4, 5]]), (2,)), PiecewiseLinear.relu(),
               Dense(torch.randn(1, 2, generator=gen, dtype=DT))]
        net = CPWLNetwork.sequential((3,), ops)
    else:  # > 40 half-spaces: compact() between layers
        net = mlp_net([45, 4], gen)
    ref = regionlab.partition_polytope(net, domain, engine="vertex")
    for mod, name in [(_vertex_engine, "_CUT_BLOCK"), (_vertex_engine, "_CHECK_BLOCK"), (_vertex_engine, "_INC_BLOCK"),
                      (polytope, "_INC_BLOCK"), (polytope, "_EVAL_CHUNK")]:
        monkeypatch.setattr(mod, name, 1)
    monkeypatch.setattr(_vertex_engine, "_PAIRS_MASK_VM", 0)  # vertex pairs from the +/- lists
    part = regionlab.partition_polytope(net, domain, engine="vertex")
    assert torch.equal(part.patterns, ref.patterns)
    assert torch.equal(part.adjacency, ref.adjacency)
    assert torch.equal(part.facet_offsets, ref.facet_offsets) and torch.equal(part.facet_unit, ref.facet_unit)
    assert torch.equal(part.vertex_offsets, ref.vertex_offsets)
    # blocks of other sizes may round the last bit of a vertex differently
    assert torch.allclose(part.vertices_flat, ref.vertices_flat, rtol=0, atol=1e-12)
    assert torch.allclose(part.A, ref.A, rtol=0, atol=1e-12) and torch.allclose(part.b, ref.b, rtol=0, atol=1e-12)
    assert torch.allclose(part.volumes, ref.volumes, rtol=1e-10, atol=1e-14)
    assert part.complete and ref.complete


@pytest.mark.parametrize(("shape", "F"), [((7, 5), 3), ((40, 30), 62), ((30, 20), 100), ((300, 200), 30),
                                          ((200, 200), 100), ((20, 900), 186)])
@pytest.mark.parametrize("numpy_unpack", [False, True])
def test_incidence_bits_pack_and_unpack(shape, F, numpy_unpack, monkeypatch):
    # small and large masks take different unpacking paths (int64 shifts, byte shifts),
    # CPU masks numpy's unpackbits
    from regionlab.regions import _vertex_engine
    from regionlab.regions._vertex_engine import pack, unpack

    monkeypatch.setattr(_vertex_engine, "NUMPY_UNPACK", numpy_unpack)
    inc = torch.rand(*shape, F, generator=torch.Generator().manual_seed(F)) < 0.3
    out = unpack(pack(inc), F)
    assert out.dtype == torch.bool and torch.equal(out, inc)
    packed = pack(inc)
    monkeypatch.setattr(_vertex_engine, "NUMPY_UNPACK", not numpy_unpack)
    assert torch.equal(pack(inc), packed)  # numpy's packbits and torch's shifts agree
    monkeypatch.setattr(_vertex_engine, "NUMPY_UNPACK", numpy_unpack)
    if len(shape) == 2:  # (n, Vm) masks of F half-spaces: vertex counts per half-space
        cnt = _vertex_engine.incidence_counts(pack(inc), F)
        assert cnt.dtype == torch.int32 and torch.equal(cnt, inc.sum(1, dtype=torch.int32))


@pytest.mark.parametrize("seed", range(3))
def test_vertex_pairs_from_lists_match_the_mask(seed, monkeypatch):
    # both ways of listing a cut's (+, -) vertex pairs give the same pairs in the same
    # order, hence bit-identical partitions (random and degenerate integer networks)
    from regionlab.regions import _vertex_engine

    gen = torch.Generator().manual_seed(seed)
    W1 = torch.randint(-2, 3, (6, 3), generator=gen).to(DT)
    W1[1] = W1[0]
    W1[2] = 2 * W1[0]
    W1[3] = 0
    nets = [mlp_net([6, 5, 4], gen),
            CPWLNetwork.sequential((3,), [Dense(W1, torch.randint(-2, 3, (6,), generator=gen).to(DT) * 0.5), PiecewiseLinear.relu(),
                                          Dense(torch.randint(-2, 3, (3, 6), generator=gen).to(DT)), PiecewiseLinear.relu()])]
    for net in nets:
        ref = regionlab.partition_polytope(net, BOX3, engine="vertex")
        monkeypatch.setattr(_vertex_engine, "_PAIRS_MASK_VM", 0)
        part = regionlab.partition_polytope(net, BOX3, engine="vertex")
        monkeypatch.setattr(_vertex_engine, "_PAIRS_MASK_VM", 48)
        for name in ["patterns", "vertices_flat", "vertex_offsets", "A", "b", "facet_unit", "adjacency", "witnesses"]:
            assert torch.equal(getattr(part, name), getattr(ref, name)), name


def test_volumes_retry_a_region_that_qhull_refuses(monkeypatch):
    import warnings

    import scipy.spatial
    from scipy.spatial import QhullError

    from regionlab.errors import NumericalWarning

    net = CPWLNetwork.sequential((3,), [Dense(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64),
                                              torch.tensor([0.1, -0.2], dtype=torch.float64)), PiecewiseLinear.relu()])
    exact = regionlab.partition_polytope(net, Box([-1.0] * 3, [1.0] * 3)).volumes
    real = scipy.spatial.ConvexHull
    calls = []

    def picky(points, qhull_options=None):
        calls.append(qhull_options)
        if qhull_options is None and len(calls) == 2:  # the second region at default precision
            raise QhullError("QH6271 qhull topology error (wide merge)")
        return real(points, qhull_options=qhull_options)

    monkeypatch.setattr(scipy.spatial, "ConvexHull", picky)
    part = regionlab.partition_polytope(net, Box([-1.0] * 3, [1.0] * 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vols = part.volumes
    assert [w.category for w in caught] == [NumericalWarning] and "region 1" in str(caught[0].message)
    assert calls.count("Qt Q12") == 1
    assert torch.allclose(vols, exact, rtol=0, atol=1e-12) and abs(float(vols.sum()) - 8.0) < 1e-12


_ALL_FIELDS = ["patterns", "vertices_flat", "vertex_offsets", "A", "b", "facet_offsets", "facet_unit", "adjacency",
               "witnesses", "inradii"]


def _numpy_path_cases():
    gen = torch.Generator().manual_seed(7)
    W1 = torch.randint(-2, 3, (6, 3), generator=gen).to(DT)
    W1[1] = W1[0]
    W1[2] = 2 * W1[0]
    W1[3] = 0
    b1 = torch.randint(-2, 3, (6,), generator=gen).to(DT) * 0.5
    b1[4] = -100.0  # a dead unit
    maxout = [Dense(torch.randn(6, 3, generator=gen, dtype=DT), torch.randn(6, generator=gen, dtype=DT) * 0.3),
              MaxOp(torch.tensor([[0, 1, 2], [3, 4, 5]]), (2,)), PiecewiseLinear.relu(), Dense(torch.randn(1, 2, generator=gen, dtype=DT))]
    return [
        (mlp_net([6, 5, 4], gen), BOX3),
        (mlp_net([5, 4], gen, act=lambda: PiecewiseLinear.leaky_relu(0.1)), BOX3),
        (mlp_net([5, 4], gen, act=lambda: PiecewiseLinear.hardtanh(-0.4, 0.6)), BOX3),
        (CPWLNetwork.sequential((3,), [Dense(W1, b1), PiecewiseLinear.relu(),
                                       Dense(torch.randint(-2, 3, (4, 6), generator=gen).to(DT), torch.randint(-2, 3, (4,), generator=gen).to(DT) * 0.5),
                                       PiecewiseLinear.relu()]), BOX3),
        (CPWLNetwork.sequential((3,), maxout), BOX3),
        (mlp_net([8, 6], gen, d=2), Box([-1.0] * 2, [1.0] * 2)),
        (mlp_net([6, 5], gen, d=4), Box([-1.0] * 4, [1.0] * 4)),
        (mlp_net([5, 4], gen, d=5), L1Ball(torch.zeros(5, dtype=DT), 1.0)),
        (mlp_net([6, 5], gen), Simplex(torch.tensor([[0.0, 0, 0], [1.5, 0, 0], [0, 1.5, 0], [0, 0, 1.5]], dtype=DT) - 0.4)),
        (mlp_net([70], gen), BOX3),  # > 62 half-spaces: the torch cut takes over
    ]


@pytest.mark.parametrize("case", range(10))
@pytest.mark.parametrize("blocks", [False, True])
def test_numpy_cut_and_walk_match_torch(case, blocks, monkeypatch):
    # CPU cuts and walks run their index work in numpy (NUMPY_CUT); the torch path gives
    # bit-identical partitions, also with one polytope per check block (no values reuse)
    from regionlab.regions import _vertex_engine

    net, domain = _numpy_path_cases()[case]
    if blocks:
        monkeypatch.setattr(_vertex_engine, "_CHECK_BLOCK", 1)
    monkeypatch.setattr(_vertex_engine, "NUMPY_CUT", False)
    ref = regionlab.partition_polytope(net, domain, engine="vertex")
    monkeypatch.setattr(_vertex_engine, "NUMPY_CUT", True)
    calls = []
    orig = _vertex_engine.PolyState._cut_np

    def counted(self, *a, **kw):
        calls.append(1)
        return orig(self, *a, **kw)

    monkeypatch.setattr(_vertex_engine.PolyState, "_cut_np", counted)
    part = regionlab.partition_polytope(net, domain, engine="vertex")
    assert calls  # the numpy path ran
    assert part.complete and ref.complete
    for name in _ALL_FIELDS:
        assert torch.equal(getattr(part, name), getattr(ref, name)), name


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_numpy_values_match_torch_small_bmm(k):
    # _np_values sums in the order of torch's small-matrix baddbmm: bit-identical
    from regionlab.regions._vertex_engine import HalfSpaces, PolyState, _np_values

    gen = torch.Generator().manual_seed(k)
    for Vm in [3, 17, 48]:
        if k * Vm >= 400:
            continue
        P = torch.randn(40, Vm, k, generator=gen, dtype=DT) * 3
        P[:20] = torch.randint(-3, 4, (20, Vm, k), generator=gen).to(DT) / 3
        g = torch.randn(40, k, generator=gen, dtype=DT)
        c = torch.randn(40, generator=gen, dtype=DT)
        table = HalfSpaces(torch.zeros(1, k + 1, dtype=DT), torch.full((1,), -1))
        state = PolyState(P, torch.full((40,), Vm), torch.zeros(40, 1, dtype=torch.long), torch.ones(40, dtype=torch.long),
                          torch.zeros(40, Vm, 1, dtype=torch.long), 1e-9, table)
        v_t, t_t = state._values(P, g, c)
        v_n, t_n = _np_values(P.numpy(), g.numpy(), c.numpy(), 1e-9)
        assert np.array_equal(v_t.numpy(), v_n) and np.array_equal(t_t.numpy(), t_n)


@pytest.mark.parametrize("zero_levels", [True, False])
def test_signed_near_levels_match_a_dense_evaluation(zero_levels, monkeypatch):
    # the fast path of adjacency reads the off-level pieces from the region's own row and
    # tests only the entries the signed values flag: the same near units, in the same
    # order, and the same pieces z > bp as evaluating every unit, for any chunk size
    from regionlab.regions import polytope
    from regionlab.regions.polytope import _eval_owned, _near_signed, _SignedForms

    gen = torch.Generator().manual_seed(3)
    R, k, Fn = 50, 3, 700
    widths = [5, 7]
    N = sum(widths)
    pre = [torch.randn(R, 1 + k, w, generator=gen, dtype=DT) for w in widths]
    own = np.sort(torch.randint(0, R, (Fn,), generator=gen).numpy())
    q = torch.randn(Fn, k, generator=gen, dtype=DT)
    q_out = q + 1e-3 * torch.randn(Fn, k, generator=gen, dtype=DT)
    forms = torch.cat(pre, 2)
    zq = _eval_owned(forms, torch.from_numpy(own), q)
    bp = torch.zeros(N, dtype=DT) if zero_levels else torch.randn(N, generator=gen, dtype=DT)
    if not zero_levels:
        bp[:4] = zq[5, :4] + torch.tensor([0.0, 1e-8, -1e-7, 3e-7], dtype=DT)  # on, near and off a level
    else:
        pre[0][own[5], 0, :2] -= zq[5, :2] + torch.tensor([0.0, 1e-8], dtype=DT)  # zq[5, :2] on and near 0
        forms = torch.cat(pre, 2)
        zq = _eval_owned(forms, torch.from_numpy(own), q)
    # each region's pieces: mostly those of a point inside, some on-level codes, and some
    # the wrong way round (the far side within a tolerance: checked, not trusted)
    patterns = (zq.new_zeros(R, N) + (torch.rand(R, N, generator=gen) < 0.5)).to(torch.int16)
    patterns[torch.from_numpy(own[:40]), :] = (zq[:40] > bp).to(torch.int16)
    patterns[0, 0] = -1
    near_ref = (zq - bp).abs() <= 1e-7 * (1.0 + zq.abs())
    assert near_ref.sum() >= 2
    fi_ref, ui_ref = near_ref.nonzero(as_tuple=True)
    piece_ref = (zq > bp).to(torch.int16)
    for chunk in [1, 64, 4096]:
        monkeypatch.setattr(polytope, "_EVAL_CHUNK", chunk)
        signed = _SignedForms(pre, patterns.numpy(), bp)
        assert signed.zero_levels == zero_levels
        fi, ui, across, query = _near_signed(q, q_out, own, signed, bp)
        assert np.array_equal(fi, fi_ref.numpy()) and np.array_equal(ui, ui_ref.numpy())
        got = torch.from_numpy(query[:, :N].copy())
        assert torch.equal(got[~near_ref], piece_ref[~near_ref])
        zo = _eval_owned(forms, torch.from_numpy(own), q_out)
        assert np.array_equal(across, (zo[fi_ref, ui_ref] > bp[ui_ref]).numpy().astype(np.int16))


@pytest.mark.parametrize("W", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_facet_centres_numpy_match_torch(W, dtype):
    # the vertex-side numpy sums add each facet's vertices in the order of the serial
    # index_add_: bit-identical centres
    from regionlab.regions._vertex_engine import (
        HalfSpaces,
        PolyState,
        _popcount_torch,
        pack,
        set_bits,
    )
    from regionlab.regions.polytope import _facet_centres, _facet_centres_torch

    gen = torch.Generator().manual_seed(W)
    R, Vm, k = 30, 20, 3
    Fm = 62 * (W - 1) + 10
    bits = torch.rand(R, Vm, Fm, generator=gen) < 0.3
    nv = torch.randint(1, Vm + 1, (R,), generator=gen)
    bits &= (torch.arange(Vm) < nv.unsqueeze(1)).unsqueeze(-1)  # no bits past nv
    inc = pack(bits)
    assert inc.shape[2] == W
    V = (torch.randn(R, Vm, k, generator=gen, dtype=DT) * 10).to(dtype)
    state = PolyState(V, nv, torch.zeros(R, Fm, dtype=torch.long), torch.full((R,), Fm), inc, 1e-9,
                      HalfSpaces(torch.zeros(1, k + 1, dtype=dtype), torch.full((1,), -1)))
    live = torch.rand(R, Fm, generator=gen) < 0.6
    r_f, s_f = live.nonzero(as_tuple=True)
    got, ref = _facet_centres(state, r_f, s_f), _facet_centres_torch(state, r_f, s_f)
    assert got.dtype == ref.dtype and torch.equal(got, ref)
    sel = torch.rand(r_f.shape[0], generator=gen) < 0.7  # some facets only (network facets): NaN elsewhere
    part = _facet_centres(state, r_f, s_f, sel)
    assert torch.equal(part[sel], ref[sel]) and bool(part[~sel].isnan().all())
    x = inc.reshape(-1).numpy()
    assert np.array_equal(_popcount_torch(x), [bin(int(v)).count("1") for v in x])
    nz, cnt, bit = set_bits(x)  # every set bit, word by word, lowest first
    assert list(zip(np.repeat(nz, cnt).tolist(), bit.tolist(), strict=True)) == [(i, j) for i, v in enumerate(x.tolist()) for j in range(62) if v >> j & 1]


def test_row_index_finds_rows_despite_colliding_hashes():
    from regionlab.regions.polytope import _as_words, _RowIndex

    gen = torch.Generator().manual_seed(0)
    table = torch.unique(torch.randint(-1, 3, (300, 13), generator=gen, dtype=torch.int16), dim=0)
    table = table[torch.randperm(table.shape[0], generator=gen)]
    queries = torch.cat([table[::3], torch.full((5, 13), 7, dtype=torch.int16)])
    want = np.r_[np.arange(0, table.shape[0], 3), [-1] * 5]
    for collide in [False, True]:
        index = _RowIndex(_as_words(table).numpy())
        if collide:  # every row in one bucket with one hash: found by comparing rows
            index.w[:] = 0
            index.hash[:] = 0
            index.order = np.arange(table.shape[0])
            index.count[:] = 0
            index.count[0] = table.shape[0]
            index.first[:] = 0
        assert np.array_equal(index.find(_as_words(queries).numpy()), want)
    assert torch.equal(regionlab.regions.polytope.lookup_patterns(table, queries), torch.from_numpy(want))


@pytest.mark.parametrize("case", ["relu", "leaky", "abs", "shifted", "int3d", "degenerate", "wide"])
def test_adjacency_fast_path_matches_the_dense_evaluation(case, monkeypatch):
    # one-level units take the signed fast path; the dense path (every unit evaluated at
    # every facet point, the general one) must give the same neighbours and certificate
    from regionlab.regions import polytope

    gen = torch.Generator().manual_seed(11)
    if case == "int3d":
        W1 = torch.randint(-2, 3, (6, 3), generator=gen).to(DT)
        b1 = torch.randint(-2, 3, (6,), generator=gen).to(DT) * 0.5
        W1[1], b1[1], W1[2], b1[2] = W1[0], b1[0], 2 * W1[0], 2 * b1[0]  # duplicate and parallel planes
        W2 = torch.randint(-2, 3, (4, 6), generator=gen).to(DT)
        net = CPWLNetwork.sequential((3,), [Dense(W1, b1), PiecewiseLinear.relu(), Dense(W2, torch.zeros(4, dtype=DT)),
                                            PiecewiseLinear.relu()])
    elif case == "degenerate":
        W = torch.tensor([[1.0, 1, 1], [1, 1, 1], [2, 2, 2], [1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, -1]], dtype=DT)
        b = torch.tensor([-1.0, 0, -1, 0, 0, 0, 0], dtype=DT)
        W2 = torch.tensor([[1.0, -1, 0, 0, 0, 0, 1], [0, 0, 0, 1, 1, 5, 0]], dtype=DT)
        net = CPWLNetwork.sequential((3,), [Dense(W, b), PiecewiseLinear.relu(), Dense(W2, torch.tensor([0.0, -0.5], dtype=DT)),
                                            PiecewiseLinear.relu()])
    else:
        act = {"relu": PiecewiseLinear.relu, "leaky": lambda: PiecewiseLinear.leaky_relu(0.1), "abs": PiecewiseLinear.abs,
               "shifted": lambda: PiecewiseLinear.from_breakpoints([0.3], [0.2, 1.0]), "wide": PiecewiseLinear.relu}[case]
        net = mlp_net([70] if case == "wide" else [6, 5, 4], gen, act=act)
    box = Box([-1.0] * 3, [1.0] * 3)
    made = []
    real = polytope._signed_forms
    monkeypatch.setattr(polytope, "_signed_forms", lambda *a: made.append(real(*a)) or made[-1])
    fast = regionlab.partition_polytope(net, box, engine="vertex")
    assert made and made[-1] is not None  # the fast path ran
    monkeypatch.setattr(polytope, "_signed_forms", lambda *a: None)
    dense = regionlab.partition_polytope(net, box, engine="vertex")
    assert torch.equal(fast.adjacency, dense.adjacency)
    assert fast.info["certificate"] == dense.info["certificate"]


def test_adjacency_certificate_counts_misses_alike_on_both_paths(monkeypatch):
    # neighbours missing from the table: unmatched where the step stays inside the domain,
    # to_boundary where it leaves it; the fast path and the dense one count them alike
    from dataclasses import replace

    from regionlab.regions import polytope

    net = mlp_net([6, 5], torch.Generator().manual_seed(3))
    cap = {}
    real = polytope.adjacency_by_crossing
    def capture(*a, **kw):  # the forms copied: the engine lets adjacency sign its own in place
        cap["args"] = (*a[:5], [p.clone() for p in a[5]])
        return real(*a, **kw)

    monkeypatch.setattr(polytope, "adjacency_by_crossing", capture)
    regionlab.partition_polytope(net, Box([-1.0] * 3, [1.0] * 3), engine="vertex")
    net_, _, raw, numerics, points, pre = cap["args"]
    # a third of the regions get rows no region has (on-level codes, distinct): the
    # facets leading to them find nothing
    pat = raw.patterns.clone()
    fake = torch.arange(0, raw.num_regions, 3)
    pat[fake] = -1
    pat[fake, :8] = ((fake.unsqueeze(1) >> torch.arange(8)) & 1).to(pat.dtype)
    raw = replace(raw, patterns=pat)
    for box in [Box([-1.0] * 3, [1.0] * 3), Box([-0.3] * 3, [0.3] * 3)]:
        got = real(net_, box, raw, numerics, points, pre)
        with monkeypatch.context() as m:
            m.setattr(polytope, "_signed_forms", lambda *a: None)
            ref = real(net_, box, raw, numerics, points, pre)
        assert torch.equal(got[0], ref[0]) and got[1] == ref[1]
        c = got[1]
        assert c["to_known"] + c["to_boundary"] + c["unmatched"] == c["facets_checked"]
        assert c["unmatched"] > 0 and not c["complete"]
        if box.upper[0] < 1:
            assert c["to_boundary"] > 0


def test_eval_columns_match_eval_forms():
    # the step across evaluates forms on flat columns: bit-identical to the (n, 1 + k, N)
    # layout of _eval_forms (torch's fused addcmul either way), for any row length
    from regionlab.regions.polytope import _eval_columns, _eval_forms

    gen = torch.Generator().manual_seed(5)
    for N, k in [(48, 3), (15, 4), (7, 6), (1, 2)]:
        f = torch.randn(400, 1 + k, N, generator=gen, dtype=DT) * torch.randn(400, 1 + k, N, generator=gen, dtype=DT).exp()
        q = torch.randn(400, k, generator=gen, dtype=DT)
        ref = _eval_forms(f, q)
        fi, ui = torch.meshgrid(torch.arange(400), torch.arange(N), indexing="ij")
        fi, ui = fi.reshape(-1), ui.reshape(-1)
        got = _eval_columns([f[fi, i, ui].contiguous() for i in range(1 + k)], q[fi].T.contiguous())
        assert torch.equal(got, ref.reshape(-1))
