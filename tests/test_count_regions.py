"""count_regions: the count of partition_polytope without building the partition.

(Every oracle check of test_polytope, the Hypothesis runs on degenerate integer networks
included, also checks count_regions against the partition.)"""

from __future__ import annotations

import os
import signal

import pytest
import torch

import regionlab
from regionlab.domains import Box, L1Ball, LinfBall, Simplex
from regionlab.errors import RegionLimitExceeded
from regionlab.ir import CPWLNetwork, Dense, MaxOp, PiecewiseLinear

from .test_polytope import BOX3, mlp_net, oracle

DT = torch.float64


@pytest.mark.parametrize("act", [PiecewiseLinear.relu, lambda: PiecewiseLinear.leaky_relu(0.1),
                                 lambda: PiecewiseLinear.hardtanh(-0.3, 0.5), PiecewiseLinear.abs])
@pytest.mark.parametrize("seed", [0, 1])
def test_count_is_the_oracle_count_and_the_partition_count(seed, act):
    net = mlp_net([4, 4, 3], torch.Generator().manual_seed(seed), act=act)
    n = regionlab.count_regions(net, BOX3)
    assert isinstance(n, int)
    assert n == len(oracle(net, BOX3)) == regionlab.partition_polytope(net, BOX3).num_regions


def test_count_by_both_engines_and_other_domains():
    gen = torch.Generator().manual_seed(4)
    ops = [Dense(torch.randn(6, 3, generator=gen, dtype=DT), torch.randn(6, generator=gen, dtype=DT) * 0.3),
           MaxOp(torch.tensor([[0, 1, 2], [3, 4, 5]]), (2,)), PiecewiseLinear.relu(),
           Dense(torch.randn(1, 2, generator=gen, dtype=DT))]
    maxout = CPWLNetwork.sequential((3,), ops)
    relu = mlp_net([5, 4], gen)
    domains = [BOX3, LinfBall(torch.tensor([0.1, 0.0, -0.2], dtype=DT), 0.6), L1Ball(torch.zeros(3, dtype=DT), 1.1),
               Simplex(torch.tensor([[0.0, 0, 0], [1.5, 0, 0], [0, 1.5, 0], [0, 0, 1.5]], dtype=DT) - 0.4)]
    for net in (maxout, relu):
        for dom in domains:
            want = len(oracle(net, dom))
            assert regionlab.count_regions(net, dom, engine="vertex") == want
            assert regionlab.count_regions(net, dom, engine="lp") == want


def test_limits_carry_a_lower_bound():
    net = mlp_net([6, 5], torch.Generator().manual_seed(1))
    full = regionlab.count_regions(net, BOX3)
    first = regionlab.count_regions(CPWLNetwork.sequential((3,), [net.nodes[1].op, net.nodes[2].op]), BOX3)
    with pytest.raises(RegionLimitExceeded) as exc:
        regionlab.count_regions(net, BOX3, max_regions=first)
    # the count by the first layer, the last one finished within the limit
    assert exc.value.partial == first < full
    with pytest.raises(RegionLimitExceeded) as exc:
        regionlab.count_regions(net, BOX3, engine="lp", max_regions=3)
    assert isinstance(exc.value.partial, int) and 3 <= exc.value.partial <= full


def test_ctrl_c_raises_instead_of_returning_a_partial_count(monkeypatch):
    from regionlab.regions import polytope as poly_mod

    net = mlp_net([5, 4, 3], torch.Generator().manual_seed(8))
    real = poly_mod.refine_univariate
    calls = {"n": 0}

    def interrupting(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kw)

    monkeypatch.setattr(poly_mod, "refine_univariate", interrupting)
    with pytest.raises(KeyboardInterrupt):
        regionlab.count_regions(net, BOX3)
    assert calls["n"] == 2  # stopped after the layer that was interrupted


def test_local_exact_counts_use_the_count():
    net = mlp_net([6, 5], torch.Generator().manual_seed(2))
    X = torch.tensor([[0.0, 0.1, -0.2], [0.3, -0.3, 0.2]], dtype=DT)
    got = regionlab.local_region_counts(net, X, radius=0.4, norm="linf", method="exact").counts
    want = [regionlab.partition_polytope(net, LinfBall(x, 0.4)).num_regions for x in X]
    assert got.tolist() == want
    assert regionlab.count_regions(net, Box([-1.0] * 3, [1.0] * 3)) == regionlab.count_regions(net, BOX3)
