"""Exact 2-D partitions against independent oracles, closed forms and invariants."""

from __future__ import annotations

import pickle
from math import comb

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regionlab
from regionlab.errors import DomainError, NumericalError, ShapeError
from regionlab.ir import CPWLNetwork, Dense, MaxOp, PiecewiseLinear
from regionlab.numerics import Numerics
from regionlab.regions.plane import Plane, partition_plane, plane_through

from .oracles import layers_from_network, oracle_patterns_2d

DT = torch.float64
BOX = (-1.0, 1.0, -1.0, 1.0)
O, E1, E2 = [0.0, 0.0], [1.0, 0.0], [0.0, 1.0]


def t(x):
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=DT)


def mlp_net(widths, gen, act=PiecewiseLinear.relu, d=2, scale=1.0, out=1):
    ops, prev = [], d
    for w in widths:
        ops += [Dense(torch.randn(w, prev, generator=gen, dtype=DT) * scale, torch.randn(w, generator=gen, dtype=DT) * 0.5), act()]
        prev = w
    ops.append(Dense(torch.randn(out, prev, generator=gen, dtype=DT), torch.zeros(out, dtype=DT)))
    return CPWLNetwork.sequential((d,), ops)


def check_against_oracle(net, domain=BOX, origin=O, u=E1, v=E2):
    part = partition_plane(net, origin, u, v, domain)
    got = sorted(tuple(int(c) for c in p) for p in part.patterns)
    dom = np.array(domain, float)
    if dom.ndim == 1:
        dom = np.array([[dom[0], dom[2]], [dom[1], dom[2]], [dom[1], dom[3]], [dom[0], dom[3]]])
    want = sorted(oracle_patterns_2d(layers_from_network(net), origin, u, v, dom))
    assert got == want
    check_invariants(part, net)
    return part


def check_invariants(part, net):
    R = part.num_regions
    # areas add up to the domain's, every region has positive area
    assert float(part.areas.sum()) == pytest.approx(part.domain_area, rel=1e-9, abs=1e-12)
    assert bool((part.areas > 0).all())
    # patterns are distinct (no duplicated region)
    assert torch.unique(part.patterns, dim=0).shape[0] == R
    # each witness lies in its region and reproduces its pattern and affine map
    x = part.witness_inputs().reshape(R, -1)
    assert torch.equal(net.patterns(x), part.patterns)
    y = net(x).reshape(R, -1)
    pred = (part.affine_A @ part.witnesses.unsqueeze(-1)).squeeze(-1) + part.affine_c
    assert torch.allclose(y, pred, atol=1e-9, rtol=1e-9)
    # adjacency: pairs i < j with different patterns and positive shared length
    if part.adjacency.numel():
        i, j = part.adjacency[:, 0], part.adjacency[:, 1]
        assert bool((i < j).all())
        assert bool((part.patterns[i] != part.patterns[j]).any(1).all())
        assert bool((part.adjacency_length > 0).all())
    assert 1 <= part.num_linear_pieces <= R if R else True
    # completeness of the adjacency: every interior edge is shared by exactly two
    # regions, so the perimeters add up to the domain's plus twice the shared lengths
    per = 0.0
    for i in range(R):
        P = part.polygon(i)
        per += float((P - P.roll(-1, 0)).norm(dim=1).sum())
    D = part.domain
    dom_per = float((D - D.roll(-1, 0)).norm(dim=1).sum())
    assert per == pytest.approx(dom_per + 2 * float(part.adjacency_length.sum()), rel=1e-9)


# ----------------------------------------------------------------------------- oracle


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("act", [PiecewiseLinear.relu, lambda: PiecewiseLinear.leaky_relu(0.2),
                                 lambda: PiecewiseLinear.hardtanh(-0.5, 0.7), PiecewiseLinear.abs])
def test_random_networks_match_oracle(seed, act):
    gen = torch.Generator().manual_seed(seed)
    net = mlp_net([4, 3], gen, act=act)
    check_against_oracle(net)


def test_multi_breakpoint_activation_matches_oracle():
    gen = torch.Generator().manual_seed(7)
    spline = lambda: PiecewiseLinear.from_breakpoints([-0.6, -0.1, 0.3, 0.9], [0.5, -1.0, 2.0, 0.0, 1.5])  # noqa: E731
    net = mlp_net([3, 3], gen, act=spline)
    part = check_against_oracle(net)
    # several parallel level lines per unit: more regions than a ReLU layer can give
    assert part.num_regions > 7


def test_per_unit_tables_match_oracle():
    gen = torch.Generator().manual_seed(3)
    prelu = PiecewiseLinear(torch.zeros(4, 1, dtype=DT), torch.tensor([[0.1, 1.0], [-0.3, 1.0], [0.5, 1.0], [0.0, 2.0]], dtype=DT),
                            torch.zeros(4, 2, dtype=DT), "prelu")
    ops = [Dense(torch.randn(4, 2, generator=gen, dtype=DT), torch.randn(4, generator=gen, dtype=DT) * 0.3), prelu,
           Dense(torch.randn(3, 4, generator=gen, dtype=DT), torch.randn(3, generator=gen, dtype=DT) * 0.3), PiecewiseLinear.relu()]
    check_against_oracle(CPWLNetwork.sequential((2,), ops))


@pytest.mark.parametrize("seed", range(3))
def test_maxout_matches_oracle(seed):
    gen = torch.Generator().manual_seed(seed)
    ops = [Dense(torch.randn(9, 2, generator=gen, dtype=DT), torch.randn(9, generator=gen, dtype=DT) * 0.5),
           MaxOp(torch.arange(9).reshape(3, 3), (3,)),
           Dense(torch.randn(4, 3, generator=gen, dtype=DT), torch.randn(4, generator=gen, dtype=DT) * 0.5),
           MaxOp(torch.tensor([[0, 1], [2, 3]]), (2,)),
           Dense(torch.randn(1, 2, generator=gen, dtype=DT))]
    check_against_oracle(CPWLNetwork.sequential((2,), ops))


def test_maxout_interior_cell():
    # max(|x|, |y|, 0.5) written as maxout of 5 arguments: the constant's cell is an
    # interior square that no vertex of the domain sees as the maximum
    W = torch.tensor([[1.0, 0], [-1.0, 0], [0, 1.0], [0, -1.0], [0, 0]], dtype=DT)
    b = torch.tensor([0, 0, 0, 0, 0.5], dtype=DT)
    net = CPWLNetwork.sequential((2,), [Dense(W, b), MaxOp(torch.arange(5).reshape(1, 5), (1,))])
    part = check_against_oracle(net)
    assert part.num_regions == 5
    centre = int((part.patterns[:, 0] == 4).nonzero()[0, 0])
    assert float(part.areas[centre]) == pytest.approx(1.0)


def test_maxpool_with_padding_and_duplicates():
    # a unit with a padded slot and duplicate arguments (identical forms)
    W = torch.tensor([[1.0, 0.5], [1.0, 0.5], [-1.0, 0.2], [0.3, -1.0]], dtype=DT)
    b = torch.tensor([0.1, 0.1, 0.0, 0.2], dtype=DT)
    idx = torch.tensor([[0, 1, 2], [2, 3, -1]])
    net = CPWLNetwork.sequential((2,), [Dense(W, b), MaxOp(idx, (2,)), Dense(torch.ones(1, 2, dtype=DT))])
    check_against_oracle(net)


# -------------------------------------------------------------------------- degenerate


def single_layer(W, b):
    return CPWLNetwork.sequential((2,), [Dense(t(W), t(b)), PiecewiseLinear.relu()])


def test_parallel_and_duplicate_hyperplanes():
    W = [[1, 0], [1, 0], [2, 0], [1, 0], [-1, 0], [0, 1]]
    b = [0, 0, 0, 0.5, 0.5, 0]  # duplicates, a rescaled duplicate, parallel, opposite
    part = check_against_oracle(single_layer(W, b))
    # lines x=0, x=-0.5 (and x = 0.5 from the opposite unit) and y=0: 4 strips x 2
    assert part.num_regions == 8


def test_concurrent_lines_and_lines_through_corners():
    W = [[1, 0], [0, 1], [1, 1], [1, -1], [1, -2]]
    b = [0, 0, 0, 0, 0]  # five lines through the origin (bias-free)
    part = check_against_oracle(single_layer(W, b))
    assert part.num_regions == 10
    # diagonal lines pass exactly through the box corners
    part2 = check_against_oracle(single_layer([[1, -1], [1, 1]], [0, 0]))
    assert part2.num_regions == 4


def test_dead_zero_and_identically_zero_units():
    W = [[0, 0], [0, 0], [0, 0], [1, 0.3]]
    b = [-1.0, 2.0, 0.0, 0.1]  # dead, always active, identically zero (third state), generic
    part = check_against_oracle(single_layer(W, b))
    assert part.num_regions == 2
    assert set(part.patterns[:, 2].tolist()) == {-1}
    assert set(part.patterns[:, 0].tolist()) == {0} and set(part.patterns[:, 1].tolist()) == {1}


def test_deep_unit_identically_on_breakpoint_in_a_region():
    # layer 2 unit = relu(x) - relu(x) = 0 where... it is 0 everywhere: third state
    W1, b1 = t([[1, 0]]), t([0])
    W2, b2 = t([[1.0], [-1.0]]), t([0, 0])
    ops = [Dense(W1, b1), PiecewiseLinear.relu(), Dense(W2, b2), PiecewiseLinear.relu()]
    net = CPWLNetwork.sequential((2,), ops)
    part = check_against_oracle(net)
    # left of x=0 both layer-2 units are identically 0 (third state), right they split
    assert part.num_regions == 2


def test_line_through_vertex_of_earlier_layer():
    # layer-2 line passes exactly through the crossing point of two layer-1 lines
    W1, b1 = t([[1, 0], [0, 1]]), t([0, 0])
    W2, b2 = t([[1, 1], [1, -1]]), t([0, 0])
    ops = [Dense(W1, b1), PiecewiseLinear.relu(), Dense(W2, b2), PiecewiseLinear.relu()]
    check_against_oracle(CPWLNetwork.sequential((2,), ops))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    w1=st.lists(st.lists(st.integers(-2, 2), min_size=2, max_size=2), min_size=1, max_size=4),
    b1=st.lists(st.integers(-2, 2), min_size=4, max_size=4),
    w2=st.lists(st.integers(-2, 2), min_size=8, max_size=8),
    b2=st.lists(st.integers(-1, 1), min_size=2, max_size=2),
    act=st.sampled_from(["relu", "leaky", "abs", "hardtanh"]),
)
def test_hypothesis_integer_networks_match_oracle(w1, b1, w2, b2, act):
    # small integer weights make parallel, concurrent, dead and duplicate units likely
    n1 = len(w1)
    mk = {"relu": PiecewiseLinear.relu, "leaky": lambda: PiecewiseLinear.leaky_relu(0.5),
          "abs": PiecewiseLinear.abs, "hardtanh": lambda: PiecewiseLinear.hardtanh(-1.0, 1.0)}[act]
    W1 = t(w1) * 0.5
    B1 = t(b1[:n1]) * 0.25
    W2 = t(w2[: 2 * n1]).reshape(2, n1) * 0.5
    ops = [Dense(W1, B1), mk(), Dense(W2, t(b2) * 0.25), mk()]
    check_against_oracle(CPWLNetwork.sequential((2,), ops))


# ------------------------------------------------------------------------ closed forms


@pytest.mark.parametrize("n", [1, 3, 6, 10])
def test_zaslavsky_count_in_large_box(n):
    rng = np.random.default_rng(n)
    W = rng.normal(size=(n, 2))
    b = rng.normal(size=n)
    # a box that contains every pairwise intersection
    pts = [np.linalg.solve(W[[i, j]], -b[[i, j]]) for i in range(n) for j in range(i + 1, n)]
    R = 2 + (np.abs(pts).max() if pts else 1.0)
    part = partition_plane(single_layer(W, b), O, E1, E2, (-R, R, -R, R))
    assert part.num_regions == sum(comb(n, j) for j in range(3))
    # interior edges: each line is cut into (1 + its n-1 crossings) pieces
    assert part.adjacency.shape[0] == n * n
    # one layer: neighbours differ in exactly one unit
    i, j = part.adjacency[:, 0], part.adjacency[:, 1]
    assert bool(((part.patterns[i] != part.patterns[j]).sum(1) == 1).all())


def seed0_mlp(d, w):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(d, w), torch.nn.ReLU(), torch.nn.Linear(w, w), torch.nn.ReLU(),
              torch.nn.Linear(w, w), torch.nn.ReLU(), torch.nn.Linear(w, 1)]
    ops = []
    for m in layers:
        if isinstance(m, torch.nn.Linear):
            ops.append(Dense(m.weight.detach().double(), m.bias.detach().double()))
        else:
            ops.append(PiecewiseLinear.relu())
    return CPWLNetwork.sequential((d,), ops)


@pytest.mark.parametrize("w,count", [(8, 25), (16, 178), (32, 1180)])
def test_reference_counts_seed0(w, count):
    part = partition_plane(seed0_mlp(2, w), O, E1, E2, BOX)
    assert part.num_regions == count
    # mean number of edges per region in a 2-D box is exactly 4 (Euler, generic net)
    assert int(part.num_vertices.sum()) == 4 * count
    check_invariants(part, seed0_mlp(2, w))


# --------------------------------------------------------------------------- features


def test_linear_pieces_merge_equal_maps():
    # f = relu(x) - relu(x): two activation regions, one linear piece (f = 0)
    ops = [Dense(t([[1, 0], [1, 0]]), t([0, 0])), PiecewiseLinear.relu(), Dense(t([[1, -1]]), t([0]))]
    part = partition_plane(CPWLNetwork.sequential((2,), ops), O, E1, E2, BOX)
    assert part.num_regions == 2 and part.num_linear_pieces == 1
    # f = |x| via relu(x) + relu(-x): two regions, two pieces
    ops = [Dense(t([[1, 0], [-1, 0]]), t([0, 0])), PiecewiseLinear.relu(), Dense(t([[1, 1]]), t([0]))]
    part = partition_plane(CPWLNetwork.sequential((2,), ops), O, E1, E2, BOX)
    assert part.num_regions == 2 and part.num_linear_pieces == 2
    # zero output layer: everything is one piece
    gen = torch.Generator().manual_seed(0)
    net = mlp_net([5, 5], gen)
    ops = [n.op for n in net.nodes[1:-1]] + [Dense(torch.zeros(1, 5, dtype=DT))]
    part = partition_plane(CPWLNetwork.sequential((2,), ops), O, E1, E2, BOX)
    assert part.num_regions > 5 and part.num_linear_pieces == 1


def test_decision_boundary_scalar_and_classifier():
    gen = torch.Generator().manual_seed(1)
    net = mlp_net([6, 6], gen)
    part = partition_plane(net, O, E1, E2, BOX)
    seg = part.decision_boundary
    assert seg.shape[0] > 0
    pts = torch.cat([seg[:, 0], seg[:, 1], seg.mean(1)])
    vals = net(part.to_input(pts)).reshape(-1)
    assert float(vals.abs().max()) < 1e-9
    # classifier with 3 logits: at boundary midpoints the two largest logits tie
    net3 = mlp_net([6, 6], torch.Generator().manual_seed(2), out=3)
    part3 = partition_plane(net3, O, E1, E2, BOX)
    mid = part3.decision_boundary.mean(1)
    assert mid.shape[0] > 0
    logits = net3(part3.to_input(mid))
    top2 = logits.topk(2, dim=1).values
    assert float((top2[:, 0] - top2[:, 1]).abs().max()) < 1e-9
    # the boundary separates points of different predicted class: check by sampling
    g = torch.linspace(-0.99, 0.99, 60, dtype=DT)
    P = torch.cartesian_prod(g, g)
    cls = net3(part3.to_input(P)).argmax(1)
    assert (len(cls.unique()) > 1) == (part3.decision_boundary.shape[0] > 0)


def test_polygon_domain_and_plane_through_images():
    gen = torch.Generator().manual_seed(5)
    net = mlp_net([5, 4], gen, d=12)
    x0, x1, x2 = (torch.randn(12, generator=gen, dtype=DT) for _ in range(3))
    pl = plane_through(x0, x1, x2)
    part = partition_plane(net, pl)
    check_invariants(part, net)
    # anchors map back to the data points
    assert torch.allclose(pl.to_input(pl.anchors), torch.stack([x0, x1, x2]), atol=1e-12)
    tri = pl.anchors  # the triangle through the three points
    part_tri = partition_plane(net, pl.origin, pl.u, pl.v, tri)
    check_invariants(part_tri, net)
    assert part_tri.domain_area == pytest.approx(float(0.5 * abs(torch.linalg.det(torch.stack([tri[1] - tri[0], tri[2] - tri[0]])))))
    # oracle on the triangle
    want = sorted(oracle_patterns_2d(layers_from_network(net), pl.origin.numpy(), pl.u.numpy(), pl.v.numpy(), tri.numpy()))
    got = sorted(tuple(int(c) for c in p) for p in part_tri.patterns)
    assert got == want


def test_image_shaped_inputs_with_conv_network():
    from regionlab.ir import Conv, Reshape

    gen = torch.Generator().manual_seed(0)
    conv = Conv(torch.randn(2, 1, 3, 3, generator=gen, dtype=DT), torch.randn(2, generator=gen, dtype=DT) * 0.1,
                (1, 1), (0, 0), (1, 1), 1, (1, 5, 5))
    pool = MaxOp(torch.tensor([[0, 1, 3, 4], [4, 5, 7, 8], [9, 10, 12, 13], [13, 14, 16, 17]]), (4,))
    ops = [conv, PiecewiseLinear.relu(), Reshape((18,)), pool, Dense(torch.randn(2, 4, generator=gen, dtype=DT))]
    net = CPWLNetwork.sequential((1, 5, 5), ops)
    imgs = torch.randn(3, 1, 5, 5, generator=gen, dtype=DT)
    pl = plane_through(*imgs)
    part = partition_plane(net, pl)
    check_invariants(part, net)
    # every pattern seen on a dense grid of the domain is one of the regions
    x0, x1, y0, y1 = pl.default_bounds()
    gx, gy = torch.linspace(x0, x1, 150, dtype=DT), torch.linspace(y0, y1, 150, dtype=DT)
    grid = torch.cartesian_prod(gx, gy)
    seen = {tuple(r) for r in net.patterns(pl.to_input(grid)).tolist()}
    regions = {tuple(r) for r in part.patterns.tolist()}
    seen = {s for s in seen if min(s) >= 0}  # drop grid points lying exactly on a surface
    assert seen <= regions
    assert len(regions) >= len(seen) > 1


def test_pickle_and_dict_round_trip():
    part = partition_plane(seed0_mlp(2, 8), O, E1, E2, BOX)
    p2 = pickle.loads(pickle.dumps(part))
    assert p2.num_regions == part.num_regions and torch.equal(p2.patterns, part.patterns)
    assert p2.num_linear_pieces == part.num_linear_pieces
    p3 = type(part).from_dict(part.to_dict())
    assert torch.equal(p3.vertices, part.vertices) and torch.equal(p3.adjacency, part.adjacency)


def test_float32_numerics_and_tolerances_agree():
    net = seed0_mlp(2, 16)
    a = partition_plane(net, O, E1, E2, BOX)
    b = partition_plane(net, O, E1, E2, BOX, numerics=Numerics(atol=1e-12))
    assert a.num_regions == b.num_regions == 178


def test_translated_and_rotated_planes_agree():
    # the same slice described with a shifted origin / swapped axes gives the same count
    net = seed0_mlp(2, 16)
    a = partition_plane(net, O, E1, E2, BOX)
    b = partition_plane(net, [1.0, 1.0], E1, E2, (-2, 0, -2, 0))
    c = partition_plane(net, O, E2, E1, BOX)
    assert a.num_regions == b.num_regions == c.num_regions
    assert sorted(map(tuple, a.patterns.tolist())) == sorted(map(tuple, c.patterns.tolist()))


# ------------------------------------------------------------------------------ errors


def test_bad_inputs_raise_typed_errors():
    net = seed0_mlp(2, 8)
    with pytest.raises(DomainError):
        partition_plane(net, O, E1, E2, (1, -1, -1, 1))  # empty box
    with pytest.raises(DomainError):
        partition_plane(net, O, E1, E2, [[0, 0], [1, 1], [2, 2]])  # degenerate polygon
    with pytest.raises(DomainError):
        partition_plane(net, O, E1, E2, [[0, 0], [2, 0], [1, 0.2], [2, 2], [0, 2]])  # not convex
    with pytest.raises(DomainError):
        partition_plane(net, O, E1, E1, BOX)  # parallel directions
    with pytest.raises(DomainError):
        partition_plane(net, O, E1, [0.0, 0.0], BOX)
    with pytest.raises(ShapeError):
        partition_plane(net, [0.0, 0.0, 0.0], [1.0, 0, 0], [0, 1.0, 0], BOX)
    with pytest.raises(NumericalError):
        partition_plane(net, [float("nan"), 0.0], E1, E2, BOX)
    with pytest.raises(DomainError):
        partition_plane(net, O, E1, E2, (0, 1, 0, float("inf")))
    with pytest.raises(DomainError):
        plane_through([0.0, 0.0], [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(DomainError):
        partition_plane(net, O, E1, E2, None)
    assert isinstance(Plane(O, E1, E2), Plane)


def test_public_function_face():
    part = regionlab.partition_plane(seed0_mlp(2, 8), O, E1, E2, BOX)
    assert part.num_regions == 25


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    w=st.lists(st.integers(-2, 2), min_size=12, max_size=12),
    b=st.lists(st.integers(-2, 2), min_size=6, max_size=6),
    w2=st.lists(st.integers(-2, 2), min_size=6, max_size=6),
    pad=st.booleans(),
)
def test_hypothesis_integer_maxout_matches_oracle(w, b, w2, pad):
    # integer weights: tied, duplicate and constant arguments of max units are likely
    W = t(w).reshape(6, 2) * 0.5
    B = t(b) * 0.25
    idx = torch.tensor([[0, 1, 2], [3, 4, -1 if pad else 5]])
    ops = [Dense(W, B), MaxOp(idx, (2,)), Dense(t(w2).reshape(3, 2) * 0.5, torch.zeros(3, dtype=DT)), PiecewiseLinear.relu()]
    check_against_oracle(CPWLNetwork.sequential((2,), ops))


@pytest.mark.parametrize("R", [1e4, 1e8, 1e12])
def test_large_boxes_reach_the_whole_plane_count(R):
    # measures.md: the seed-0 2-8-8-8-1 network has 270 regions in the whole plane, and
    # box counts stabilise at 270 from R = 1e4 on (per-vertex tolerances keep them exact
    # when the domain is huge and the regions near the origin are small)
    part = partition_plane(seed0_mlp(2, 8), O, E1, E2, (-R, R, -R, R))
    assert part.num_regions == 270
    assert float(part.areas.sum()) == pytest.approx(4 * R * R, rel=1e-9)


def test_intra_op_threads_validates_and_restores():
    from regionlab.errors import InvalidParameterError
    from regionlab.numerics import intra_op_threads

    before = torch.get_num_threads()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidParameterError):
            with intra_op_threads(bad):
                pass
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def _partition_with_fusion(net, fuse: bool, monkeypatch, bounds=BOX):
    from regionlab.regions import plane as plane_mod

    monkeypatch.setattr(plane_mod, "_fusion_pays", lambda *a: fuse)
    return partition_plane(net, O, E1, E2, bounds)


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "prelu", "hardtanh", "abs", "cpwl"])
def test_fused_activation_dense_matches_unfused(act, monkeypatch):
    # the activation->Dense fusion (parent products plus rank-1 event updates) is an
    # algebraic rewrite: regions, patterns and affine maps must equal the plain path's
    from regionlab.testing.zoo import mlp

    net = regionlab.trace(mlp((2, 9, 7, 6, 3), act, seed=5), torch.zeros(1, 2, dtype=DT))
    a = _partition_with_fusion(net, True, monkeypatch, (-3, 3, -3, 3))
    b = _partition_with_fusion(net, False, monkeypatch, (-3, 3, -3, 3))
    assert a.num_regions == b.num_regions > 20
    assert torch.equal(a.patterns, b.patterns)
    assert torch.allclose(a.affine_A, b.affine_A, rtol=1e-10, atol=1e-12)
    assert torch.allclose(a.affine_c, b.affine_c, rtol=1e-10, atol=1e-12)
    check_invariants(a, net)


def test_fusion_keeps_values_shared_with_later_readers(monkeypatch):
    # ReLU on a reshape (a view) of a value that a residual reads again later: the fused
    # path must not overwrite the shared storage
    from regionlab.ir import Node, Reshape, Sum

    gen = torch.Generator().manual_seed(11)

    def dense(o, i):
        return Dense(torch.randn(o, i, generator=gen, dtype=DT), torch.randn(o, generator=gen, dtype=DT) * 0.3)

    nodes = [Node(None, (), (2,)), Node(dense(5, 2), (0,), (5,)), Node(Reshape((5,)), (1,), (5,)),
             Node(PiecewiseLinear.relu(), (2,), (5,)), Node(dense(5, 5), (3,), (5,)),
             Node(Sum((1.0, 1.0)), (4, 1), (5,)), Node(PiecewiseLinear.relu(), (5,), (5,)), Node(dense(1, 5), (6,), (1,))]
    net = CPWLNetwork(nodes)
    a = _partition_with_fusion(net, True, monkeypatch)
    b = _partition_with_fusion(net, False, monkeypatch)
    assert a.num_regions == b.num_regions
    assert torch.equal(a.patterns, b.patterns)
    assert torch.allclose(a.affine_c, b.affine_c, rtol=1e-10, atol=1e-12)
    check_invariants(a, net)
