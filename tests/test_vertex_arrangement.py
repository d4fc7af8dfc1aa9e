"""The vertex engine's one-parent arrangement path (the first layer's cells at once) against the walk."""

from __future__ import annotations

import pytest
import torch

import regionlab
from regionlab.domains import Box, L1Ball, LinfBall, Simplex
from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
from regionlab.regions import _vertex_engine

from .test_polytope import BOX3, mlp_net, oracle

DT = torch.float64


def _calls(monkeypatch):
    """Record whether each call of the arrangement path built the cells (True) or fell back."""
    seen = []
    real = _vertex_engine._arrangement_cells

    def recorded(*args):
        out = real(*args)
        seen.append(out is not None)
        return out

    monkeypatch.setattr(_vertex_engine, "_arrangement_cells", recorded)
    return seen


def _same_partition(a, b):
    assert torch.equal(a.patterns, b.patterns)
    assert torch.equal(a.adjacency, b.adjacency)
    assert torch.equal(a.facet_offsets, b.facet_offsets) and torch.equal(a.vertex_offsets, b.vertex_offsets)
    assert torch.allclose(a.witnesses, b.witnesses, atol=1e-12, rtol=0)
    assert torch.allclose(a.inradii, b.inradii, atol=1e-12, rtol=0)
    for i in range(a.num_regions):
        fa, fb = a.facets(i), b.facets(i)
        ka = sorted(zip(fa[2].tolist(), fa[0].round(decimals=9).tolist(), fa[1].round(decimals=9).tolist(), strict=True))
        kb = sorted(zip(fb[2].tolist(), fb[0].round(decimals=9).tolist(), fb[1].round(decimals=9).tolist(), strict=True))
        assert ka == kb
        va, vb = a.vertices(i), b.vertices(i)
        assert sorted(va.round(decimals=9).tolist()) == sorted(vb.round(decimals=9).tolist())
    assert a.info["certificate"] == b.info["certificate"]


GENERIC = [
    ("relu", lambda g: mlp_net([7, 5, 4], g), BOX3),
    ("hardtanh (two parallel levels a unit)", lambda g: mlp_net([6, 4], g, act=lambda: PiecewiseLinear.hardtanh(-0.3, 0.5)), BOX3),
    ("4-D", lambda g: mlp_net([8, 5], g, d=4), Box([-1.0] * 4, [1.0] * 4)),
    ("2-D", lambda g: mlp_net([9, 6], g, d=2), Box([-1.0] * 2, [1.0] * 2)),
    ("simplex", lambda g: mlp_net([6, 5], g), Simplex(torch.tensor([[0.0, 0, 0], [1.5, 0, 0], [0, 1.5, 0], [0, 0, 1.5]], dtype=DT) - 0.4)),
    ("linf ball", lambda g: mlp_net([6, 5], g), LinfBall(torch.tensor([0.2, -0.1, 0.0], dtype=DT), 0.5)),
]


@pytest.mark.parametrize("case", range(len(GENERIC)), ids=[c[0] for c in GENERIC])
def test_arrangement_cells_equal_the_walk_and_the_oracle(case, monkeypatch):
    _, make, domain = GENERIC[case]
    net = make(torch.Generator().manual_seed(case))
    seen = _calls(monkeypatch)
    fast = regionlab.partition_polytope(net, domain, engine="vertex")
    assert seen and all(seen)  # the first layer was built at once
    monkeypatch.setattr(_vertex_engine, "ARRANGEMENT", False)
    walked = regionlab.partition_polytope(net, domain, engine="vertex")
    _same_partition(fast, walked)
    assert sorted(tuple(int(c) for c in p) for p in fast.patterns) == oracle(net, domain)
    assert fast.complete


def _degenerate(kind):
    W = torch.tensor([[1.0, 0.5, 0.0], [-0.3, 1.0, 0.2], [0.4, -0.2, 1.0], [0.7, 0.7, -0.1]], dtype=DT)
    b = torch.tensor([0.1, -0.2, 0.05, 0.3], dtype=DT)
    if kind == "through a corner":
        b[0] = -(W[0] @ torch.tensor([1.0, -1.0, 1.0], dtype=DT))  # unit 0's plane through the corner (1, -1, 1)
    elif kind == "three planes and a fourth through one point":
        b[3] = 0.0
        b[:3] = 0.0  # all four planes through the origin
    elif kind == "duplicate unit":
        W[1], b[1] = W[0], b[0]
    elif kind == "bias-free":
        b[:] = 0.0
    return CPWLNetwork.sequential((3,), [Dense(W, b), PiecewiseLinear.relu(), Dense(torch.ones(1, 4, dtype=DT))])


@pytest.mark.parametrize("kind", ["through a corner", "three planes and a fourth through one point", "duplicate unit", "bias-free"])
def test_degenerate_arrangements_fall_back_to_the_walk(kind, monkeypatch):
    net = _degenerate(kind)
    seen = _calls(monkeypatch)
    part = regionlab.partition_polytope(net, BOX3, engine="vertex")
    assert seen == [False]  # not simple: the walk built the cells
    assert sorted(tuple(int(c) for c in p) for p in part.patterns) == oracle(net, BOX3)


def test_parallel_levels_and_an_l1_ball(monkeypatch):
    # hardtanh levels are parallel pairs (singular subsets are skipped); the cross-polytope's
    # vertices lie on four facets each, which is allowed where no line passes
    net = mlp_net([5, 4], torch.Generator().manual_seed(9), act=lambda: PiecewiseLinear.hardtanh(-0.2, 0.2))
    dom = L1Ball(torch.tensor([0.05, 0.0, -0.1], dtype=DT), 1.2)
    seen = _calls(monkeypatch)
    part = regionlab.partition_polytope(net, dom, engine="vertex")
    assert seen == [True]
    assert sorted(tuple(int(c) for c in p) for p in part.patterns) == oracle(net, dom)
    assert float(part.volumes.sum()) == pytest.approx(float(dom.volume()), rel=1e-9)


def test_budget_and_width_limits_fall_back(monkeypatch):
    net = mlp_net([6, 4], torch.Generator().manual_seed(3))
    monkeypatch.setattr(_vertex_engine, "_ARRANGEMENT_BUDGET", 10)
    seen = _calls(monkeypatch)
    small = regionlab.partition_polytope(net, BOX3, engine="vertex")
    assert seen == [False]
    monkeypatch.setattr(_vertex_engine, "_ARRANGEMENT_BUDGET", 1 << 19)
    assert regionlab.partition_polytope(net, BOX3, engine="vertex").num_regions == small.num_regions
    seen.clear()
    wide = mlp_net([60], torch.Generator().manual_seed(4))  # more lines than one incidence word holds
    n = regionlab.count_regions(wide, BOX3)
    assert seen == [False] and n > 1
    monkeypatch.setattr(_vertex_engine, "ARRANGEMENT", False)
    assert regionlab.partition_polytope(wide, BOX3).num_regions == n
