"""Exact 1-D engine: partition_segment / partition_path against an independent oracle.

The oracle shares no code with the engine. It evaluates activation patterns pointwise
(linear ops through the IR's own ``forward``, the nonlinear codes in NumPy with exact
comparisons) and finds every pattern change by bisection. It is exact, not a sampling
lower bound, because activation regions are convex: if two points of the segment have
the same pattern, so does everything between them. Test networks use small integer
weights and dyadic points and slopes, so that float64 evaluation along dyadic ``t`` is
exact and degenerate configurations (parallel, coincident or duplicate hyperplanes,
segments inside a switching hyperplane, hyperplanes through breakpoints of others) are
really degenerate, not rounded away.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regionlab
from regionlab.errors import InvalidParameterError, NumericalError, ShapeError
from regionlab.ir import (
    Concat,
    Conv,
    CPWLNetwork,
    Dense,
    MaxOp,
    Node,
    PiecewiseLinear,
    Reshape,
    Sum,
)
from regionlab.numerics import Numerics
from regionlab.regions.segment import network_partition_path, network_partition_segment
from regionlab.regions.segment_result import PathPartition, SegmentPartition, SegmentPartitionBatch

DT = torch.float64


# --------------------------------------------------------------------------- oracle


def oracle_codes(net: CPWLNetwork, X: np.ndarray) -> np.ndarray:
    """Activation patterns ``(M, units)`` at flat points ``X`` with exact comparisons."""
    M = X.shape[0]
    vals = {0: torch.as_tensor(X, dtype=DT).reshape(M, *net.input_shape)}
    codes = []
    for i, node in enumerate(net.nodes[1:], start=1):
        op = node.op
        args = [vals[j] for j in node.inputs]
        if op.kind == "linear":
            vals[i] = op.forward(*args)
        elif op.kind == "univariate":
            z = args[0].reshape(M, -1).numpy()
            U = z.shape[1]
            bp = np.broadcast_to(op.breakpoints.numpy(), (U, op.breakpoints.shape[1]))
            sl = np.broadcast_to(op.slopes.numpy(), (U, op.slopes.shape[1]))
            ic = np.broadcast_to(op.intercepts.numpy(), (U, op.intercepts.shape[1]))
            piece = (bp[None] < z[..., None]).sum(-1)
            on = bp[None] == z[..., None]
            code = np.where(on.any(-1), -(on.argmax(-1) + 1), piece)
            units = np.arange(U)[None]
            out = sl[units, piece] * z + ic[units, piece]
            vals[i] = torch.from_numpy(out).reshape(M, *node.shape)
            codes.append(code)
        else:
            z = args[0].reshape(M, -1).numpy()
            idx = op.index.numpy()
            v = z[:, np.maximum(idx, 0)]
            v = np.where(idx[None] < 0, -np.inf, v)
            top = v.max(-1)
            codes.append((v == top[..., None]).argmax(-1))
            vals[i] = torch.from_numpy(top).reshape(M, *node.shape)
        if i == net.output_node:
            break
    if not codes:
        return np.zeros((M, 0), dtype=np.int64)
    return np.concatenate(codes, 1)


def oracle_partition(net, a, b, grid: int = 256, eps: float = 2.0**-36, merge: float = 1e-9):
    """Breakpoints and region patterns along ``a -> b`` by exact pointwise evaluation and bisection."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)

    def codes_at(ts):
        ts = np.asarray(ts, dtype=np.float64)
        return oracle_codes(net, a[None] + ts[:, None] * (b - a)[None])

    ts = np.arange(grid + 1) / grid
    P = codes_at(ts)
    pending = [(ts[i], ts[i + 1], P[i], P[i + 1]) for i in range(grid) if (P[i] != P[i + 1]).any()]
    found = []
    while pending:
        mids = np.array([(lo + hi) / 2 for lo, hi, _, _ in pending])
        Pm = codes_at(mids)
        nxt = []
        for (lo, hi, pl, pr), tm, pm in zip(pending, mids, Pm, strict=True):
            if hi - lo <= eps:
                found.append(tm)
                continue
            if (pl != pm).any():
                nxt.append((lo, tm, pl, pm))
            if (pm != pr).any():
                nxt.append((tm, hi, pm, pr))
        pending = nxt
    found.sort()
    bps = []
    for t in found:  # a pattern seen at a single point leaves two boundaries at one place
        if not bps or t - bps[-1] > merge:
            bps.append(t)
    edges = np.array([0.0, *bps, 1.0])
    pats = codes_at(0.5 * (edges[:-1] + edges[1:]))
    keep = [0] + [k for k in range(1, len(pats)) if (pats[k] != pats[k - 1]).any()]
    bps = [edges[k] for k in keep[1:]]
    return np.array(bps), pats[keep]


def assert_matches_oracle(net, a, b, part=None, atol=1e-8):
    part = regionlab.partition_segment(net, a, b) if part is None else part
    bps, pats = oracle_partition(net, a, b)
    assert part.num_regions == len(pats), (part.breakpoints.tolist(), bps.tolist())
    np.testing.assert_allclose(part.breakpoints.numpy(), bps, atol=atol, rtol=0)
    np.testing.assert_array_equal(part.patterns.numpy(), pats)
    return part


def assert_witness_patterns(net, witnesses, patterns):
    """``net.patterns`` at the witnesses equals the regions' patterns.

    A unit identically on a breakpoint over a region (code ``-j``) evaluates at a
    witness with a non-dyadic ``t`` to the breakpoint plus rounding, so there the
    pointwise code may be a neighbouring piece; it must then be within rounding of it.
    """
    got = net.patterns(witnesses).numpy()
    want = patterns.numpy()
    bad = got != want
    if bad.any():
        pres = [p.numpy() for p in net.preactivations(witnesses)]
        offsets = np.array(net.unit_offsets)
        for r, c in zip(*np.nonzero(bad), strict=True):
            layer = np.searchsorted(offsets, c, side="right") - 1
            op = net.nodes[net.nonlinear_nodes[layer]].op
            u, pre = c - offsets[layer], pres[layer][r]
            tol = 1e-9 * (1 + np.abs(pre).max())
            if op.kind == "univariate":
                # identically on a breakpoint (code -j): the witness sits there up to rounding
                assert want[r, c] < 0, (got[r, c], want[r, c])
                b = op.breakpoints.expand(pre.shape[0], -1)[u, -want[r, c] - 1].item()
                assert abs(pre[u] - b) <= tol
            else:
                # arguments tied on the whole region: the smallest index is reported
                idx = op.index[u].numpy()
                assert want[r, c] < got[r, c] and abs(pre[idx[got[r, c]]] - pre[idx[want[r, c]]]) <= tol


def check_invariants(net, part: SegmentPartition):
    """Internal consistency that any correct partition satisfies."""
    R = part.num_regions
    t = part.t
    assert t[0] == 0 and t[-1] == 1 and bool((t[1:] > t[:-1]).all())
    assert part.patterns.shape == (R, net.num_units) and part.patterns.dtype == torch.int16
    if R > 1:  # regions are maximal
        assert bool((part.patterns[1:] != part.patterns[:-1]).any(1).all())
    assert 1 <= part.num_linear_pieces <= R
    lp = part.linear_piece
    assert lp[0] == 0 and bool(((lp[1:] - lp[:-1]) >= 0).all()) and bool(((lp[1:] - lp[:-1]) <= 1).all())
    assert_witness_patterns(net, part.witnesses, part.patterns)
    for k in range(R):
        np.testing.assert_array_equal(part.pattern(k).numpy(), part.patterns[k].numpy())
    # the per-piece forms reproduce the network along the segment
    ts = torch.cat([t, part.midpoints, torch.rand(16, dtype=DT, generator=torch.Generator().manual_seed(0))])
    y = net(part.point(ts)).reshape(len(ts), -1)
    np.testing.assert_allclose(part.evaluate(ts).numpy(), y.numpy(), atol=1e-9 * (1 + y.abs().max().item()))


# ------------------------------------------------------------------------ networks


def mlp(n0, layers, out=None, bias=True):
    """Sequential net from ``[(W, b, act), ...]``; ``act`` an op or None."""
    ops = []
    for W, b, act in layers:
        W = torch.as_tensor(W, dtype=DT)
        ops.append(Dense(W, torch.as_tensor(b, dtype=DT) if (b is not None and bias) else None))
        if act is not None:
            ops.append(act)
    if out is not None:
        ops.append(Dense(torch.as_tensor(out, dtype=DT)))
    return CPWLNetwork.sequential((n0,), ops)


def random_mlp(n0, widths, act="relu", seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    layers, d = [], n0
    for w in widths:
        W = torch.randn(w, d, generator=gen, dtype=DT)
        b = torch.randn(w, generator=gen, dtype=DT) * 0.3 * scale
        a = {
            "relu": PiecewiseLinear.relu(),
            "leaky": PiecewiseLinear.leaky_relu(0.1),
            "hardtanh": PiecewiseLinear.hardtanh(-0.5, 0.5),
            "abs": PiecewiseLinear.abs(),
        }[act]
        layers.append((W, b, a))
        d = w
    return mlp(n0, layers, out=torch.randn(3, d, generator=gen, dtype=DT))


CPWL3 = PiecewiseLinear.from_breakpoints([-1.0, 0.0, 2.0], [0.5, -1.0, 2.0, 0.0], intercept=0.25, name="cpwl3")


def activation(kind: str, width: int, draw_int) -> PiecewiseLinear:
    if kind == "relu":
        return PiecewiseLinear.relu()
    if kind == "leaky":
        return PiecewiseLinear.leaky_relu(0.25)
    if kind == "hardtanh":
        return PiecewiseLinear.hardtanh(-1.0, 1.0)
    if kind == "abs":
        return PiecewiseLinear.abs()
    if kind == "cpwl3":
        return CPWL3
    # per-unit tables: a PReLU-like slope and a breakpoint for every unit
    bps = torch.tensor([[float(draw_int(-1, 1))] for _ in range(width)], dtype=DT)
    slopes = torch.tensor([[draw_int(-2, 2) / 4, 1.0] for _ in range(width)], dtype=DT)
    return PiecewiseLinear.from_breakpoints(bps, slopes, name="per_unit")


@st.composite
def tiny_nets(draw, max_depth=3, max_width=4):
    """Small integer-weight networks; degeneracies are frequent by construction."""
    n0 = draw(st.integers(1, 3))
    depth = draw(st.integers(1, max_depth))
    ops, d = [], n0

    def ints(lo, hi, shape):
        return torch.tensor(draw(st.lists(st.integers(lo, hi), min_size=math.prod(shape), max_size=math.prod(shape))),
                            dtype=DT).reshape(shape)

    for _ in range(depth):
        w = draw(st.integers(1, max_width))
        kind = draw(st.sampled_from(["relu", "relu", "leaky", "hardtanh", "abs", "cpwl3", "per_unit", "maxout"]))
        if kind == "maxout":
            k = draw(st.integers(2, 3))
            ops.append(Dense(ints(-2, 2, (w * k, d)), ints(-2, 2, (w * k,))))
            index = torch.arange(w * k).reshape(w, k)
            if k == 3 and draw(st.booleans()):
                index[0, 2] = -1  # a padded group, as max-pooling windows at the border
            ops.append(MaxOp(index, (w,)))
        else:
            ops.append(Dense(ints(-2, 2, (w, d)), ints(-2, 2, (w,)) if draw(st.booleans()) else None))
            ops.append(activation(kind, w, lambda lo, hi: draw(st.integers(lo, hi))))
        d = w
    ops.append(Dense(ints(-2, 2, (draw(st.integers(1, 2)), d))))
    return CPWLNetwork.sequential((n0,), ops)


@st.composite
def net_and_segment(draw, **kw):
    net = draw(tiny_nets(**kw))
    n0 = net.input_dim
    pts = st.lists(st.integers(-3, 3), min_size=n0, max_size=n0)
    return net, draw(pts), draw(pts)


HSET = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -------------------------------------------------------------- oracle comparisons


@HSET
@given(net_and_segment())
def test_random_tiny_nets_match_oracle(case):
    net, a, b = case
    part = assert_matches_oracle(net, a, b)
    check_invariants(net, part)


@pytest.mark.parametrize("act", ["relu", "leaky", "hardtanh", "abs"])
def test_random_float_mlps_match_oracle(act):
    net = random_mlp(3, [8, 8, 6], act=act, seed=3)
    gen = torch.Generator().manual_seed(5)
    a, b = torch.randn(2, 3, generator=gen, dtype=DT) * 2
    part = assert_matches_oracle(net, a, b, atol=1e-7)
    assert part.num_regions > 5
    check_invariants(net, part)


def test_multi_breakpoint_and_maxout_match_oracle():
    gen = torch.Generator().manual_seed(2)
    net = CPWLNetwork.sequential((2,), [
        Dense(torch.randn(12, 2, generator=gen, dtype=DT), torch.randn(12, generator=gen, dtype=DT)),
        MaxOp(torch.arange(12).reshape(4, 3), (4,)),
        Dense(torch.randn(5, 4, generator=gen, dtype=DT), torch.randn(5, generator=gen, dtype=DT)),
        CPWL3,
        Dense(torch.randn(2, 5, generator=gen, dtype=DT)),
    ])
    part = assert_matches_oracle(net, [-3.0, -2.0], [3.0, 2.5], atol=1e-7)
    check_invariants(net, part)
    assert part.num_regions > 8


def test_conv_maxpool_net_built_from_ir_ops():
    gen = torch.Generator().manual_seed(7)
    conv = Conv(torch.randn(3, 1, 2, generator=gen, dtype=DT), torch.randn(3, generator=gen, dtype=DT) * 0.3,
                (1,), (0,), (1,), 1, (1, 6))
    # max-pool of width 2, stride 2 over each channel's 5 positions, padded at the end
    index = torch.tensor([[c * 5 + p, c * 5 + p + 1 if p + 1 < 5 else -1] for c in range(3) for p in (0, 2, 4)])
    net = CPWLNetwork.sequential((1, 6), [
        conv, PiecewiseLinear.relu(), MaxOp(index, (3, 3)), Reshape((9,)),
        Dense(torch.randn(2, 9, generator=gen, dtype=DT)),
    ])
    a, b = torch.randn(2, 1, 6, generator=gen, dtype=DT)
    part = assert_matches_oracle(net, a, b, atol=1e-7)
    check_invariants(net, part)
    assert part.witnesses.shape == (part.num_regions, 6)
    # images in the model's shape and flat points give the same partition
    flat = regionlab.partition_segment(net, a.reshape(-1), b.reshape(-1))
    assert torch.equal(flat.t, part.t)


def residual_net(seed=0, integer=False):
    """A DAG: two skip connections (Sum, Concat) keep earlier values alive across splits."""
    gen = torch.Generator().manual_seed(seed)

    def w(*shape):
        x = torch.randn(*shape, generator=gen, dtype=DT)
        return x.round() if integer else x

    nodes = [
        Node(None, (), (3,), "x"),
        Node(Dense(w(5, 3), w(5)), (0,), (5,), "fc1"),
        Node(PiecewiseLinear.relu(), (1,), (5,), "r1"),
        Node(Dense(w(5, 5), w(5)), (2,), (5,), "fc2"),
        Node(PiecewiseLinear.leaky_relu(0.25), (3,), (5,), "r2"),
        Node(Sum((1.0, -0.5)), (4, 2), (5,), "res"),  # r1 is still alive here
        Node(Concat(0), (5, 2), (10,), "cat0"),
        Node(MaxOp(torch.arange(10).reshape(5, 2), (5,)), (6,), (5,), "max"),
        Node(Concat(0), (7, 0), (8,), "cat"),  # and the input is alive up to here
        Node(Dense(w(4, 8), w(4)), (8,), (4,), "fc3"),
        Node(PiecewiseLinear.abs(), (9,), (4,), "abs"),
        Node(Dense(w(2, 4)), (10,), (2,), "out"),
    ]
    return CPWLNetwork(nodes)


@pytest.mark.parametrize("integer", [False, True])
def test_dag_with_skip_connections_matches_oracle(integer):
    net = residual_net(seed=3, integer=integer)
    gen = torch.Generator().manual_seed(4)
    a, b = (torch.randn(2, 3, generator=gen, dtype=DT) * 3).round() if integer else torch.randn(2, 3, generator=gen, dtype=DT) * 3
    part = assert_matches_oracle(net, a, b, atol=1e-7)
    check_invariants(net, part)
    assert part.num_regions > 3


def test_pure_linear_network_and_progress_bar():
    net = CPWLNetwork.sequential((2,), [Dense(torch.tensor([[1.0, 2.0]], dtype=DT), torch.tensor([0.5], dtype=DT))])
    threads = torch.get_num_threads()
    batch = regionlab.partition_segment(net, torch.zeros(3, 2), torch.ones(3, 2), progress=True, chunk_size=1)
    assert torch.get_num_threads() == threads
    assert batch.num_regions.tolist() == [1, 1, 1] and batch.first_patterns.shape == (3, 0)
    assert batch[0].patterns.shape == (1, 0)
    np.testing.assert_allclose(batch[0].output_slope.numpy(), [[3.0]])


# ----------------------------------------------------------- degenerate networks


def test_parallel_and_coincident_hyperplanes():
    W = [[1.0, 1.0], [2.0, 2.0], [1.0, 1.0], [-1.0, -1.0], [1.0, 1.0]]
    b = [0.0, 0.0, -1.0, 0.0, 0.5]  # units 0, 1, 3 share one hyperplane
    net = mlp(2, [(W, b, PiecewiseLinear.relu())], out=[[1.0] * 5])
    part = assert_matches_oracle(net, [-2.0, -1.0], [2.0, 1.0])
    assert part.num_regions == 4  # 3 distinct hyperplanes crossed
    assert part.changed_units(0).tolist() in ([0, 1, 3],) or len(part.changed_units(0)) >= 1


def test_duplicate_dead_and_zero_neurons():
    W = [[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
    b = [0.0, 0.0, -1.0, 0.0, -5.0]  # duplicate, dead (z = -1), zero row (z = 0), never crossing
    net = mlp(2, [(W, b, PiecewiseLinear.relu())], out=[[1.0, 1.0, 1.0, 1.0, 1.0]])
    part = assert_matches_oracle(net, [-1.0, 0.0], [1.0, 0.0])
    assert part.num_regions == 2
    assert part.patterns.tolist() == [[0, 0, 0, -1, 0], [1, 1, 0, -1, 0]]
    check_invariants(net, part)


def test_hyperplane_through_a_breakpoint_of_another():
    # layer-2 unit z2 = h1 - h2 switches exactly where layer-1 unit 0 does (t = 1/2)
    net = mlp(1, [([[1.0], [-1.0]], [0.0, 0.0], PiecewiseLinear.relu()),
                  ([[1.0, -1.0], [1.0, 1.0]], [0.0, 0.0], PiecewiseLinear.relu())], out=[[1.0, 1.0]])
    part = assert_matches_oracle(net, [-1.0], [1.0])
    assert part.num_regions == 2 and part.breakpoints.tolist() == [0.5]
    assert part.patterns.tolist() == [[0, 1, 0, 1], [1, 0, 1, 1]]


def test_bias_free_net_through_the_origin():
    gen = torch.Generator().manual_seed(1)
    layers = [(torch.randn(6, 3, generator=gen, dtype=DT), None, PiecewiseLinear.relu()),
              (torch.randn(6, 6, generator=gen, dtype=DT), None, PiecewiseLinear.relu())]
    net = mlp(3, layers, out=torch.randn(1, 6, generator=gen, dtype=DT), bias=False)
    a = torch.randn(3, generator=gen, dtype=DT)
    part = regionlab.partition_segment(net, -a, a)
    # every hyperplane passes through the origin, the midpoint of the segment: one
    # breakpoint at t = 1/2 where all units switch together
    assert part.num_regions == 2
    assert abs(part.breakpoints.item() - 0.5) < 1e-12
    # a segment ending at the origin has the whole pattern change at its end: one region
    assert regionlab.partition_segment(net, a, torch.zeros(3, dtype=DT)).num_regions == 1


def test_segment_inside_a_switching_hyperplane():
    # unit 0 is identically zero along the segment (x0 = 0): code -1 everywhere, no split
    net = mlp(2, [([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], PiecewiseLinear.relu())], out=[[1.0, 1.0]])
    part = assert_matches_oracle(net, [0.0, -1.0], [0.0, 3.0])
    assert part.patterns.tolist() == [[-1, 0], [-1, 1]]
    # hardtanh: a unit identically on its second breakpoint is coded -2
    net2 = mlp(1, [([[0.0], [1.0]], [1.0, 0.0], PiecewiseLinear.hardtanh(-1.0, 1.0))], out=[[1.0, 1.0]])
    part2 = assert_matches_oracle(net2, [-2.0], [2.0])
    assert part2.patterns[:, 0].tolist() == [-2, -2, -2]


def test_unit_zero_on_part_of_the_segment_after_a_relu():
    # z2 = h1 is identically zero where h1 = relu(x) is off: code -1 there, 1 elsewhere
    net = mlp(1, [([[1.0]], [0.0], PiecewiseLinear.relu()), ([[1.0]], [0.0], PiecewiseLinear.relu())], out=[[1.0]])
    part = assert_matches_oracle(net, [-1.0], [1.0])
    assert part.patterns.tolist() == [[0, -1], [1, 1]]


def test_zero_length_segment():
    net = random_mlp(2, [5, 5], seed=4)
    p = torch.tensor([0.3, -0.2], dtype=DT)
    part = regionlab.partition_segment(net, p, p)
    assert part.num_regions == 1 and part.num_linear_pieces == 1 and part.breakpoints.numel() == 0
    assert part.length == 0.0 and math.isnan(part.density)
    np.testing.assert_array_equal(part.patterns[0].numpy(), net.patterns(p).numpy()[0])
    assert torch.allclose(part.output_slope, torch.zeros_like(part.output_slope))
    # a zero-length segment on a switching hyperplane reports the on-breakpoint code
    net2 = mlp(1, [([[1.0]], [0.0], PiecewiseLinear.relu())], out=[[1.0]])
    assert regionlab.partition_segment(net2, [0.0], [0.0]).patterns.tolist() == [[-1]]


def test_dead_unit_switch_is_not_a_new_linear_piece():
    # unit 1 switches at t = 3/4 but has zero output weight: two regions, one linear piece there
    net = mlp(1, [([[1.0], [1.0]], [0.0, -2.0], PiecewiseLinear.relu())], out=[[1.0, 0.0]])
    part = regionlab.partition_segment(net, [-1.0], [3.0])
    assert part.num_regions == 3 and part.num_linear_pieces == 2
    assert part.linear_piece.tolist() == [0, 1, 1]
    # cancellation: relu(x) - relu(-x) - x is identically zero, so one linear piece
    net2 = mlp(1, [([[1.0], [-1.0]], [0.0, 0.0], PiecewiseLinear.relu())], out=[[1.0, -1.0]])
    net2 = CPWLNetwork.sequential((1,), [*[n.op for n in net2.nodes[1:3]], Dense(torch.tensor([[1.0, -1.0]], dtype=DT))])
    part2 = regionlab.partition_segment(net2, [-1.0], [1.0])
    assert part2.num_regions == 2 and part2.num_linear_pieces == 1


def test_rounding_residues_at_ties_do_not_create_codes_or_kinks():
    # found by Hypothesis: a max tie on an interval where everything downstream is zero
    # leaves a 1e-17 residue; it must not read as a positive unit or a bent output
    def D(w, b=None):
        return Dense(torch.tensor(w, dtype=DT), None if b is None else torch.tensor(b, dtype=DT))

    net1 = CPWLNetwork.sequential((2,), [
        D([[0.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]), PiecewiseLinear.hardtanh(),
        D([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [0.0, 0.0, 0.0]),
        MaxOp(torch.tensor([[0, 1, 2]]), (1,)), D([[1.0]]), PiecewiseLinear.relu(), D([[1.0]]),
    ])
    net2 = CPWLNetwork.sequential((2,), [
        D([[0.0, 0.0]] * 5 + [[0.0, 1.0]], [0.0] * 6), MaxOp(torch.tensor([[0, 1, 2], [3, 4, 5]]), (2,)),
        D([[0.0, 1.0]]), PiecewiseLinear.relu(), D([[1.0]]), PiecewiseLinear.relu(), D([[0.0]]),
        PiecewiseLinear.relu(), D([[0.0]]),
    ])
    for net, a, b, pieces in [(net1, [-1.0, 0.0], [2.0, 0.0], 2), (net2, [0.0, -1.0], [0.0, 2.0], 1)]:
        for p, q in ((a, b), (b, a)):
            part = assert_matches_oracle(net, p, q)
            check_invariants(net, part)
            assert part.num_linear_pieces == pieces


# ------------------------------------------------------------------ closed forms


def test_one_layer_counts_hyperplanes_crossed():
    gen = torch.Generator().manual_seed(9)
    W = torch.randn(40, 5, generator=gen, dtype=DT)
    b = torch.randn(40, generator=gen, dtype=DT)
    net = mlp(5, [(W, b, PiecewiseLinear.relu())], out=torch.randn(1, 40, generator=gen, dtype=DT))
    a, c = torch.randn(2, 5, generator=gen, dtype=DT) * 3
    za, zc = W @ a + b, W @ c + b
    crossing = (za * zc < 0)
    part = regionlab.partition_segment(net, a, c)
    assert part.num_regions == 1 + int(crossing.sum())
    roots = (za / (za - zc))[crossing].sort().values
    np.testing.assert_allclose(part.breakpoints.numpy(), roots.numpy(), atol=1e-12)
    check_invariants(net, part)


def sawtooth(n: int, L: int) -> CPWLNetwork:
    """Composition of ``L`` zigzags with ``n`` teeth on [0, 1] (width ``n`` per layer)."""
    c = torch.tensor([1.0] + [2.0 * (-1) ** i for i in range(1, n)], dtype=DT) * n
    bias = -torch.arange(n, dtype=DT) / n
    ops = [Dense(torch.ones(n, 1, dtype=DT), bias), PiecewiseLinear.relu()]
    for _ in range(L - 1):
        ops += [Dense(c.repeat(n, 1), bias), PiecewiseLinear.relu()]
    ops.append(Dense(c.reshape(1, n)))
    return CPWLNetwork.sequential((1,), ops)


@pytest.mark.parametrize("n,L", [(2, 1), (2, 3), (2, 6), (4, 2), (4, 3), (3, 3)])
def test_sawtooth_meets_n_to_the_L_regions(n, L):
    net = sawtooth(n, L)
    part = regionlab.partition_segment(net, [0.0], [1.0])
    assert part.num_regions == n**L
    assert part.num_linear_pieces == n**L
    np.testing.assert_allclose(part.breakpoints.numpy(), np.arange(1, n**L) / n**L, atol=1e-12)
    y = part.evaluate(part.t)[:, 0]
    assert torch.allclose(y, (torch.arange(n**L + 1) % 2).to(DT), atol=1e-9)


@HSET
@given(net_and_segment())
def test_count_within_serra_bound(case):
    net, a, b = case
    part = regionlab.partition_segment(net, a, b)
    bound = math.prod(w * (n.op.num_breakpoints if n.op.kind == "univariate" else n.op.group_size) + 1
                      for w, n in zip(net.layer_widths(), (net.nodes[i] for i in net.nonlinear_nodes), strict=True))
    assert part.num_regions <= bound


# ----------------------------------------------------------------- metamorphic


def float_case(seed=0, n0=4, widths=(16, 16, 16)):
    net = random_mlp(n0, list(widths), seed=seed)
    gen = torch.Generator().manual_seed(seed + 100)
    return net, torch.randn(n0, generator=gen, dtype=DT) * 2, torch.randn(n0, generator=gen, dtype=DT) * 2


@HSET
@given(net_and_segment())
def test_reversal_mirrors_breakpoints(case):
    net, a, b = case
    fwd = regionlab.partition_segment(net, a, b)
    bwd = regionlab.partition_segment(net, b, a)
    assert fwd.num_regions == bwd.num_regions
    np.testing.assert_allclose(bwd.breakpoints.numpy(), (1 - fwd.breakpoints.flip(0)).numpy(), atol=1e-12)
    np.testing.assert_array_equal(bwd.patterns.numpy(), fwd.patterns.flip(0).numpy())
    assert fwd.num_linear_pieces == bwd.num_linear_pieces


@pytest.mark.parametrize("s", [0.3, 0.5, 0.71])
def test_split_and_concatenate_gives_the_whole(s):
    net, a, b = float_case(1)
    whole = regionlab.partition_segment(net, a, b)
    m = a + s * (b - a)
    left = regionlab.partition_segment(net, a, m)
    right = regionlab.partition_segment(net, m, b)
    joined = torch.cat([left.breakpoints * s, torch.tensor([s], dtype=DT), s + right.breakpoints * (1 - s)])
    if bool((left.patterns[-1] == right.patterns[0]).all()):
        joined = joined[joined != s]
    np.testing.assert_allclose(joined.numpy(), whole.breakpoints.numpy(), atol=1e-10)
    pats = torch.cat([left.patterns, right.patterns])
    keep = torch.cat([torch.tensor([True]), (pats[1:] != pats[:-1]).any(1)])
    np.testing.assert_array_equal(pats[keep].numpy(), whole.patterns.numpy())


def test_batched_equals_one_by_one_and_chunking_is_invisible():
    net = random_mlp(3, [12, 12], seed=2)
    gen = torch.Generator().manual_seed(3)
    A, B = torch.randn(2, 9, 3, generator=gen, dtype=DT)
    B[4] = A[4]  # a zero-length segment inside the batch
    batch = regionlab.partition_segment(net, A, B)
    assert isinstance(batch, SegmentPartitionBatch) and len(batch) == 9
    # BLAS may round a GEMM differently for other row counts: equal up to rounding
    for chunk in (1, 2, 4, 100):
        other = regionlab.partition_segment(net, A, B, chunk_size=chunk)
        for name in ("piece_offsets", "first_patterns", "change_unit", "change_delta", "linear_piece"):
            assert torch.equal(getattr(other, name), getattr(batch, name)), (chunk, name)
        assert torch.allclose(other.t, batch.t, atol=1e-13, rtol=0)
        assert torch.allclose(other.output_slope, batch.output_slope, atol=1e-11)
    for i, part in enumerate(batch):
        single = regionlab.partition_segment(net, A[i], B[i])
        assert torch.allclose(single.t, part.t, atol=1e-13, rtol=0)
        assert torch.equal(single.patterns, part.patterns)
        assert torch.allclose(single.output_value, part.output_value, atol=1e-11)
    assert batch.num_regions.tolist() == [p.num_regions for p in batch]
    assert batch.num_linear_pieces.tolist() == [p.num_linear_pieces for p in batch]
    assert batch.total_breakpoints == sum(p.num_breakpoints for p in batch)
    assert math.isnan(batch.densities[4].item())
    # one start broadcast against many ends
    fan = regionlab.partition_segment(net, A[0], B)
    assert fan.num_regions[0].item() == batch.num_regions[0].item()


def test_pickle_and_dict_round_trips():
    net, a, b = float_case(4)
    part = regionlab.partition_segment(net, a, b)
    _ = part.patterns  # the cached dense patterns must not travel
    blob = pickle.dumps(part)
    back = pickle.loads(blob)
    assert "_patterns" not in back.__dict__
    assert torch.equal(back.patterns, part.patterns) and torch.equal(back.t, part.t)
    again = SegmentPartition.from_dict(part.to_dict())
    assert torch.equal(again.patterns, part.patterns)
    assert torch.allclose(again.output_slope, part.output_slope)
    assert repr(again) == repr(part)
    batch = regionlab.partition_segment(net, torch.stack([a, b]), torch.stack([b, a]), return_maps=False)
    assert batch.output_value is None and batch[0].output_value is None
    assert torch.equal(SegmentPartitionBatch.from_dict(batch.to_dict()).t, batch.t)
    assert torch.equal(pickle.loads(pickle.dumps(batch)).change_unit, batch.change_unit)
    with pytest.raises(InvalidParameterError):
        batch[0].evaluate(0.5)


def test_output_forms_and_affine_maps():
    net, a, b = float_case(5)
    part = regionlab.partition_segment(net, a, b)
    check_invariants(net, part)
    for k in (0, part.num_regions // 2, -1):
        A, c = part.affine_map(k, net)
        x = part.witnesses[k]
        np.testing.assert_allclose((A @ x + c).numpy(), net(x.reshape(1, -1))[0].numpy(), atol=1e-10)
        np.testing.assert_allclose((A @ (b - a)).numpy(), part.output_slope[k].numpy(), atol=1e-9)
    assert part.num_linear_pieces == part.num_regions  # generic: every switch bends the output


def test_short_pieces_get_exact_slopes():
    # two hyperplanes 1e-9 apart along the segment: a tiny middle region
    net = mlp(1, [([[1.0], [1.0]], [0.0, -1e-9], PiecewiseLinear.relu())], out=[[1.0, 1.0]])
    part = regionlab.partition_segment(net, [-1.0], [1.0])
    assert part.num_regions == 3
    np.testing.assert_allclose(part.output_slope[:, 0].numpy(), [0.0, 2.0, 4.0], atol=1e-12)
    assert part.num_linear_pieces == 3


def test_method_faces_and_tolerance_settings():
    net, a, b = float_case(6)
    f = regionlab.partition_segment(net, a, b)
    m = network_partition_segment(net, a, b)
    assert torch.equal(f.t, m.t) and torch.equal(f.patterns, m.patterns)
    p = network_partition_path(net, torch.stack([a, b, -a]))
    assert isinstance(p, PathPartition) and p.num_legs == 2
    loose = regionlab.partition_segment(net, a, b, numerics=Numerics(atol=1e-3))
    assert loose.num_regions <= f.num_regions
    f32 = regionlab.partition_segment(net.to(dtype=torch.float32), a, b)
    assert f32.t.dtype == DT and f32.num_regions == f.num_regions


# ------------------------------------------------------------------------ paths


def test_path_equals_its_legs_joined():
    net, a, b = float_case(7, n0=2, widths=(10, 10))
    pts = torch.tensor([[-2.0, -1.0], [1.5, -1.0], [1.0, 2.0], [-1.0, 0.5]], dtype=DT)
    path = regionlab.partition_path(net, pts)
    assert path.num_legs == 3 and path.t[-1] == 3.0
    legs = [regionlab.partition_segment(net, pts[i], pts[i + 1]) for i in range(3)]
    assert sum(leg.num_regions for leg in legs) - path.num_regions == sum(
        bool((legs[i].patterns[-1] == legs[i + 1].patterns[0]).all()) for i in range(2))
    assert_witness_patterns(net, path.witnesses, path.patterns)
    if path.num_regions > 1:
        assert bool((path.patterns[1:] != path.patterns[:-1]).any(1).all())
    assert abs(path.length - sum(leg.length for leg in legs)) < 1e-12
    assert abs(path.arclength[-1].item() - path.length) < 1e-12
    assert abs(path.breakpoint_density - path.num_transitions / path.length) < 1e-12
    for k in range(path.num_regions):
        np.testing.assert_array_equal(path.pattern(k).numpy(), path.patterns[k].numpy())
    back = PathPartition.from_dict(path.to_dict())
    assert torch.equal(back.patterns, path.patterns) and len(back.legs) == 3
    assert torch.equal(pickle.loads(pickle.dumps(path)).t, path.t)


def test_closed_path_and_region_spanning_a_vertex():
    net = mlp(2, [([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], PiecewiseLinear.relu())], out=[[1.0, 1.0]])
    # a triangle in the positive quadrant: one region, spanning every vertex
    tri = regionlab.partition_path(net, [[1.0, 1.0], [2.0, 1.0], [1.0, 2.0]], closed=True)
    assert tri.num_regions == 1 and tri.num_transitions == 0 and tri.num_legs == 3
    # a square around the origin: the loop meets 4 regions, the first again at the end
    sq = regionlab.partition_path(net, [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], closed=True)
    assert sq.num_regions == 5 and sq.wraps and sq.num_transitions == 4
    assert sq.breakpoints.tolist() == [0.5, 1.5, 2.5, 3.5]
    # a path whose vertex lies on a switching line: the change happens exactly at t = 1
    on = regionlab.partition_path(net, [[-1.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    assert on.breakpoints.tolist() == [1.0]
    assert on.linear_piece.tolist() == [0, 1]


# ---------------------------------------------------------------- input checks


def test_errors():
    net = random_mlp(3, [4], seed=0)
    with pytest.raises(ShapeError):
        regionlab.partition_segment(net, [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ShapeError):
        regionlab.partition_segment(net, torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(NumericalError):
        regionlab.partition_segment(net, [0.0, float("nan"), 0.0], [1.0, 1.0, 1.0])
    with pytest.raises(NumericalError):
        regionlab.partition_segment(net, [0.0, 0.0, 0.0], [1.0, float("inf"), 1.0])
    with pytest.raises(NumericalError):  # overflow inside the network
        regionlab.partition_segment(net, [0.0, 0.0, 0.0], [1e308, 1e308, 1e308])
    with pytest.raises(InvalidParameterError):
        regionlab.partition_segment(net, [0.0] * 3, [1.0] * 3, chunk_size=0)
    with pytest.raises(InvalidParameterError):
        regionlab.partition_segment(net, [0.0] * 3, [1.0] * 3, numerics="float64")
    with pytest.raises(InvalidParameterError):
        regionlab.partition_segment("not a model", [0.0] * 3, [1.0] * 3)
    with pytest.raises(InvalidParameterError):
        regionlab.partition_segment(net, "abc", [1.0] * 3)
    with pytest.raises(ShapeError):
        regionlab.partition_path(net, [[0.0, 0.0, 0.0]])
    with pytest.raises(InvalidParameterError):
        regionlab.partition_path(net, [[0.0] * 3, [1.0] * 3], closed="yes")
    part = regionlab.partition_segment(net, [0.0] * 3, [1.0] * 3)
    with pytest.raises(InvalidParameterError):
        part.pattern(part.num_regions)
    with pytest.raises(InvalidParameterError):
        part.affine_map(0, random_mlp(2, [4]))


# ---------------------------------------------------------------- nn.Module face


def test_module_is_traced_once_and_retraced_after_an_update():
    from regionlab.regions._common import as_network

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
    part = regionlab.partition_segment(model, [-1.0, -1.0], [1.0, 1.0])
    net = as_network(model, torch.zeros(2, dtype=DT))
    assert as_network(model, torch.zeros(2, dtype=DT)) is net
    ref = regionlab.partition_segment(net, [-1.0, -1.0], [1.0, 1.0])
    assert torch.equal(part.t, ref.t)
    with torch.no_grad():
        model[0].bias += 0.5  # an in-place update bumps the version: the cache must miss
    assert as_network(model, torch.zeros(2, dtype=DT)) is not net
    batch = regionlab.partition_segment(model, torch.zeros(3, 2, dtype=DT), torch.ones(3, 2, dtype=DT))
    assert len(batch) == 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    net, a, b = float_case(8)
    cpu = regionlab.partition_segment(net, torch.stack([a, b]), torch.stack([b, -a]))
    gpu = regionlab.partition_segment(net.to(device="cuda"), torch.stack([a, b]), torch.stack([b, -a]))
    assert gpu.t.device.type == "cpu"
    assert torch.equal(gpu.first_patterns, cpu.first_patterns)
    np.testing.assert_allclose(gpu.t.numpy(), cpu.t.numpy(), atol=1e-10)


def test_density_is_regions_per_unit_length():
    from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear

    W = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    b = torch.tensor([0.0, -1.0], dtype=torch.float64)
    net = CPWLNetwork.sequential((1,), [Dense(W, b), PiecewiseLinear.relu()])
    part = regionlab.partition_segment(net, [-1.0], [3.0])  # breakpoints at x = 0 and x = 1
    assert part.num_regions == 3 and part.length == 4.0
    assert part.density == 3 / 4 and part.breakpoint_density == 2 / 4
    batch = regionlab.partition_segment(net, torch.tensor([[-1.0], [0.5]]), torch.tensor([[3.0], [0.7]]))
    assert batch.densities.tolist() == pytest.approx([3 / 4, 1 / 0.2])
    assert batch.breakpoint_densities.tolist() == pytest.approx([2 / 4, 0.0])
