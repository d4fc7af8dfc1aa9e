"""Local region counts and switching distances against independent oracles.

Oracles: exact 2-D partitions of hand-built domains (the ball slice of a 2-D input is
the ball itself), the radial function of a norm ball on a polar grid, closed forms for a
single layer (distances |z - t| / ||w||, crossing tests |z - t| <= r ||w||_*), autograd
gradients, brute-force pattern evaluation at cross-polytope vertices and along the
segment from a point to the foot of its perpendicular, and random sampling of balls.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import regionlab.local as local_mod
from regionlab.errors import (
    DomainError,
    InvalidParameterError,
    MissingDependencyError,
    NumericalError,
    RegionLimitExceeded,
    ShapeError,
)
from regionlab.ir import CPWLNetwork, Dense, MaxOp, Node, PiecewiseLinear, Reshape, Sum
from regionlab.ir.network import choice_at
from regionlab.local import (
    LocalCounts,
    SwitchingDistances,
    ball_slice_polygon,
    local_region_counts,
    switching_distances,
)
from regionlab.numerics import Numerics
from regionlab.regions.plane import partition_plane
from regionlab.testing import zoo

DT = torch.float64
HAS_EXACT = (importlib.util.find_spec("regionlab.domains") is not None
             and importlib.util.find_spec("regionlab.regions.polytope") is not None)


# ----------------------------------------------------------------------- helpers


def gen(seed):
    return torch.Generator().manual_seed(seed)


def dense(out, inp, g, scale=1.0, bias=0.5):
    return Dense(torch.randn(out, inp, generator=g, dtype=DT) * scale, torch.randn(out, generator=g, dtype=DT) * bias)


def mlp_net(widths, g, act=PiecewiseLinear.relu, d=2, out=1):
    ops, prev = [], d
    for w in widths:
        ops += [dense(w, prev, g), act()]
        prev = w
    ops.append(dense(out, prev, g))
    return CPWLNetwork.sequential((d,), ops)


def maxout_net(d, units, k, g, depth=1):
    ops, prev = [], d
    for _ in range(depth):
        ops += [dense(units * k, prev, g), MaxOp(torch.arange(units * k).reshape(units, k), (units,))]
        prev = units
    ops.append(dense(1, prev, g))
    return CPWLNetwork.sequential((d,), ops)


def first_layer(net):
    op = net.nodes[1].op
    return op.weight.clone(), (op.bias.clone() if op.bias is not None else torch.zeros(op.weight.shape[0], dtype=DT))


def radial_function(poly: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """Distance from the origin to the boundary of a convex polygon (containing 0) along each angle."""
    e = np.stack([np.cos(thetas), np.sin(thetas)], 1)
    p, q = poly, np.roll(poly, -1, 0)
    normal = np.stack([q[:, 1] - p[:, 1], p[:, 0] - q[:, 0]], 1)  # outward for CCW order
    offset = (normal * p).sum(1)
    proj = e @ normal.T
    with np.errstate(divide="ignore"):
        rho = np.where(proj > 1e-15, offset[None] / proj, np.inf)
    return rho.min(1)


def signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


# --------------------------------------------------------------- slice polygons


@settings(max_examples=25)
@given(st.integers(0, 10_000), st.sampled_from([2, 3, 7, 60, 300]), st.sampled_from(["linf", "l1"]),
       st.sampled_from(["orthonormal", "generic", "degenerate"]))
def test_slice_polygon_matches_the_ball_on_a_polar_grid(seed, n, norm, kind):
    g = gen(seed)
    if kind == "orthonormal":
        q, _ = torch.linalg.qr(torch.randn(n, 2, generator=g, dtype=DT))
        u, v = q[:, 0], q[:, 1]
    else:
        u, v = torch.randn(n, generator=g, dtype=DT), torch.randn(n, generator=g, dtype=DT)
    if kind == "degenerate" and n >= 5:
        # duplicate and opposite rows (parallel constraint lines) and a zero row; row 4
        # keeps the slice 2-D (with n = 3 all rows would be parallel: a DomainError)
        u[1], v[1] = u[0], v[0]
        u[2], v[2] = -2.0 * u[0], -2.0 * v[0]
        u[3] = v[3] = 0.0
    r = float(torch.rand(1, generator=g)) * 2 + 0.1
    poly = ball_slice_polygon(u, v, r, norm).numpy()
    assert poly.shape[1] == 2 and poly.shape[0] >= 4
    assert signed_area(poly) > 0  # counter-clockwise
    # brute force: along every ray the boundary sits where ||p1 u + p2 v|| = r
    thetas = np.linspace(0, 2 * np.pi, 2001)[:-1]
    M = np.stack([u.numpy(), v.numpy()], 1)
    dirs = np.stack([np.cos(thetas), np.sin(thetas)], 1) @ M.T  # (T, n)
    normv = np.abs(dirs).max(1) if norm == "linf" else np.abs(dirs).sum(1)
    np.testing.assert_allclose(radial_function(poly, thetas), r / normv, rtol=1e-9)
    # every vertex is on the sphere of the norm
    vals = poly @ M.T
    on = np.abs(vals).max(1) if norm == "linf" else np.abs(vals).sum(1)
    np.testing.assert_allclose(on, r, rtol=1e-9)


@pytest.mark.parametrize("kind", ["gaussian", "integer", "signs"])
def test_hull_prefilter_changes_no_slice_polygon(kind, monkeypatch):
    # slices of 784-D balls: 1568 hull points, through the extreme-point filter and without
    rng = np.random.default_rng(5)
    cases = []
    for _ in range(6):
        if kind == "gaussian":
            u, v = rng.normal(size=784), rng.normal(size=784)
        elif kind == "integer":  # many duplicate and collinear points
            u, v = rng.integers(-3, 4, size=784).astype(float), rng.integers(-3, 4, size=784).astype(float)
        else:
            u, v = rng.choice([-1.0, 1.0], size=784), rng.choice([-1.0, 1.0], size=784)
        cases += [(u, v, norm) for norm in ("linf", "l1")]
    filtered = [local_mod._slice_polygon(u, v, 0.01, norm) for u, v, norm in cases]
    monkeypatch.setattr(local_mod, "_HULL_FILTER_DIRECTIONS", 10**9)  # never filters
    for (u, v, norm), got in zip(cases, filtered, strict=True):
        np.testing.assert_array_equal(got, local_mod._slice_polygon(u, v, 0.01, norm))


def test_slice_polygon_closed_forms():
    box = ball_slice_polygon([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], 0.5, "linf")
    assert sorted(map(tuple, box.tolist())) == [(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)]
    diamond = ball_slice_polygon([1.0, 0.0], [0.0, 1.0], 2.0, "l1")
    assert sorted(map(tuple, diamond.tolist())) == [(-2.0, 0.0), (0.0, -2.0), (0.0, 2.0), (2.0, 0.0)]
    # u = (1, 1) / sqrt 2, v = (1, -1) / sqrt 2: the l1 ball of radius r is the box of half-width r / sqrt 2
    s = 1 / math.sqrt(2)
    rot = ball_slice_polygon([s, s], [s, -s], 1.0, "l1").abs()
    assert torch.allclose(rot, torch.full_like(rot, s), atol=1e-15)


def test_slice_polygon_errors():
    with pytest.raises(DomainError, match="linearly dependent"):
        ball_slice_polygon([1.0, 2.0], [2.0, 4.0], 1.0)
    with pytest.raises(DomainError):
        ball_slice_polygon([0.0, 0.0], [0.0, 0.0], 1.0)
    with pytest.raises(ShapeError, match="same number"):
        ball_slice_polygon([1.0, 0.0], [0.0, 1.0, 0.0], 1.0)
    with pytest.raises(NumericalError):
        ball_slice_polygon([float("nan"), 0.0], [0.0, 1.0], 1.0)
    with pytest.raises(DomainError, match="positive"):
        ball_slice_polygon([1.0, 0.0], [0.0, 1.0], 0.0)
    with pytest.raises(InvalidParameterError, match="'norm'"):
        ball_slice_polygon([1.0, 0.0], [0.0, 1.0], 1.0, "l2")


# ------------------------------------------------------------------------ slices


def box_count(net, x, r):
    return partition_plane(net, x, [1.0, 0.0], [0.0, 1.0], (-r, r, -r, r), decision_boundary=False).num_regions


def diamond_count(net, x, r):
    diamond = [[r, 0.0], [0.0, r], [-r, 0.0], [0.0, -r]]
    return partition_plane(net, x, [1.0, 0.0], [0.0, 1.0], diamond, decision_boundary=False).num_regions


@settings(max_examples=6)
@given(st.integers(0, 10_000), st.sampled_from(["relu", "hardtanh", "maxout"]))
def test_slices_of_a_2d_input_are_the_whole_ball(seed, kind):
    g = gen(seed)
    if kind == "maxout":
        net = maxout_net(2, 4, 3, g, depth=2)
    else:
        net = mlp_net([6, 5], g, PiecewiseLinear.relu if kind == "relu" else PiecewiseLinear.hardtanh)
    X = torch.randn(3, 2, generator=g, dtype=DT) * 0.5
    # a point exactly on a first-layer switching line
    W, b = first_layer(net)
    X[2] = -b[0] * W[0] / W[0].square().sum()
    r = 0.4
    for norm, oracle in (("linf", box_count), ("l1", diamond_count)):
        res = local_region_counts(net, X, r, norm, method="slices", num_slices=2, generator=seed)
        want = torch.tensor([float(oracle(net, X[i], r)) for i in range(3)], dtype=DT)
        # in a 2-D input space every slice through the point is the whole ball
        assert torch.equal(res.per_slice, want.unsqueeze(1).expand(3, 2))
        assert torch.equal(res.counts, want)
        assert torch.equal(res.slice_max, want)


def test_slices_in_3d_match_independent_polygons():
    g = gen(3)
    net = mlp_net([8, 6], g, d=3)
    X = torch.randn(2, 3, generator=g, dtype=DT) * 0.3
    r = 0.5
    # axis-aligned slice of the l-inf ball: the square [-r, r]^2
    e = torch.eye(3, dtype=DT)
    res = local_region_counts(net, X, r, "linf", method="slices", directions=torch.stack([e[:2]]))
    for i in range(2):
        want = partition_plane(net, X[i], e[0], e[1], (-r, r, -r, r), decision_boundary=False).num_regions
        assert res.per_slice[i, 0] == want
    # an oblique slice: polygon from all pairwise intersections of the 6 constraint lines
    q, _ = torch.linalg.qr(torch.randn(3, 2, generator=g, dtype=DT))
    u, v = q[:, 0], q[:, 1]
    A = np.stack([u.numpy(), v.numpy()], 1)
    lines = [(a * s, r) for a in A for s in (1.0, -1.0)]  # a . p <= r
    verts = []
    for (a1, c1), (a2, c2) in itertools.combinations(lines, 2):
        m = np.stack([a1, a2])
        if abs(np.linalg.det(m)) < 1e-12:
            continue
        p = np.linalg.solve(m, [c1, c2])
        if np.all(np.abs(A @ p) <= r * (1 + 1e-9)):
            verts.append(p)
    verts = np.array(verts)
    centre = verts.mean(0)
    verts = verts[np.argsort(np.arctan2(verts[:, 1] - centre[1], verts[:, 0] - centre[0]))]
    keep = np.concatenate([[True], np.linalg.norm(np.diff(verts, axis=0), axis=1) > 1e-12])
    verts = verts[keep]
    res = local_region_counts(net, X, r, "linf", method="slices", directions=torch.stack([u, v]).unsqueeze(0))
    for i in range(2):
        want = partition_plane(net, X[i], u, v, verts, decision_boundary=False).num_regions
        assert res.per_slice[i, 0] == want


def test_slices_are_reproducible_and_use_orthonormal_directions(monkeypatch):
    model = zoo.mlp((3, 8, 8, 1))  # an nn.Module, traced on first use
    X = zoo.example_input((3,), batch=2)
    a = local_region_counts(model, X, 0.3, method="slices", num_slices=3, generator=7)
    b = local_region_counts(model, X, 0.3, method="slices", num_slices=3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.per_slice, b.per_slice) and a.per_slice.shape == (2, 3)
    assert torch.allclose(a.counts, a.per_slice.mean(1))
    assert bool((a.per_slice >= 1).all())
    seen = []
    import regionlab.regions.plane as plane_mod

    original = plane_mod.partition_plane

    def spy(net, origin, u, v, bounds, **kw):
        seen.append((torch.as_tensor(u), torch.as_tensor(v)))
        return original(net, origin, u, v, bounds, **kw)

    monkeypatch.setattr(plane_mod, "partition_plane", spy)
    c = local_region_counts(model, X, 0.3, method="slices", num_slices=3, generator=7)
    assert torch.equal(c.per_slice, a.per_slice)
    assert len(seen) == 6
    for u, v in seen:
        gram = torch.stack([u, v]) @ torch.stack([u, v]).T
        assert torch.allclose(gram, torch.eye(2, dtype=DT), atol=1e-12)


def test_slices_region_limit_and_small_inputs():
    net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=DT)), PiecewiseLinear.relu()])
    X = torch.tensor([[5.0, 5.0], [0.0, 0.0], [0.0, 0.0]], dtype=DT)  # 1 region, then 4
    with pytest.raises(RegionLimitExceeded, match="Point 1") as info:
        local_region_counts(net, X, 2.0, method="slices", num_slices=2, max_regions=2)
    partial = info.value.partial
    assert isinstance(partial, LocalCounts) and partial.per_slice.tolist() == [[1.0, 1.0]]
    with pytest.raises(RegionLimitExceeded) as info:
        local_region_counts(net, X[1:], 2.0, method="slices", num_slices=2, max_regions=3)
    assert info.value.partial.per_slice.shape == (0, 2) and math.isnan(info.value.partial.summary()["mean"])
    assert local_region_counts(net, X, 2.0, method="slices", num_slices=2, max_regions=4).counts.tolist() == [1.0, 4.0, 4.0]
    net1 = CPWLNetwork.sequential((1,), [PiecewiseLinear.relu()])
    with pytest.raises(InvalidParameterError, match="at least 2 dimensions"):
        local_region_counts(net1, torch.zeros(2, 1), 0.1, method="slices")


# -------------------------------------------------------------------- complexity


def layer1_oracle(W, b, bp, X, D, r):
    """Units of a first univariate layer whose state varies over conv{x ± r d_i}: m > 0 and |z - t| <= r m."""
    z = X @ W.T + b  # (B, U)
    m = (D @ W.T).abs().amax(1)  # (B, U): max_i |w . d_i|
    gaps = (z.unsqueeze(-1) - bp.reshape(1, 1, -1)).abs().amin(-1)
    varies = (m > 0) & (gaps <= r * m)
    margin = (gaps - r * m).abs() > 1e-9 * (1 + r * m)
    return varies, margin


@settings(max_examples=10)
@given(st.integers(0, 10_000), st.sampled_from(["relu", "hardtanh"]), st.sampled_from(["linf", "l1"]))
def test_complexity_is_exact_in_the_first_layer(seed, act, norm):
    g = gen(seed)
    d, B, P = 5, 6, 4
    act_fn = PiecewiseLinear.relu if act == "relu" else PiecewiseLinear.hardtanh
    net = mlp_net([12, 7], g, act_fn, d=d)
    W, b = first_layer(net)
    # degenerate units: zero weights (never vary) and a duplicate
    W[0] = 0.0
    W[1], b[1] = W[2], b[2]
    net = CPWLNetwork.sequential((d,), [Dense(W, b)] + [n.op for n in net.nodes[2:]])
    X = torch.randn(B, d, generator=g, dtype=DT)
    X[0] = X[0] - (X[0] @ W[3] + b[3]) * W[3] / W[3].square().sum()  # exactly on unit 3's level (rounded)
    D = torch.randn(B, P, d, generator=g, dtype=DT)
    r = 0.3
    res = local_region_counts(net, X, r, norm, method="complexity", directions=D)
    bp = torch.tensor([0.0] if act == "relu" else [-1.0, 1.0], dtype=DT)
    varies, margin = layer1_oracle(W, b, bp, X, D, r)
    ok = margin.all(1)
    assert ok.sum() >= B - 1
    assert torch.equal(res.per_layer[ok, 0], varies[ok].sum(1).to(DT))
    assert bool((res.per_layer[:, 0] <= 11).all())  # the zero-weight unit never varies
    assert res.num_directions == P and res.layer_widths == (12, 7)


def brute_force_complexity(net, X, D, r):
    B, P, n = D.shape
    verts = torch.cat([X.unsqueeze(1), X.unsqueeze(1) + r * D, X.unsqueeze(1) - r * D], 1)
    codes = net.patterns(verts.reshape(-1, n)).reshape(B, 2 * P + 1, -1)
    varies = (codes != codes[:, :1]).any(1)
    return torch.stack([varies[:, off:off + w].sum(1) for off, w in zip(net.unit_offsets, net.layer_widths(), strict=True)], 1).to(DT)


def test_complexity_counts_only_varying_units_in_every_layer(monkeypatch):
    g = gen(11)
    net = zoo.dead_neurons()  # three first-layer units are never active
    traced = local_mod._network_and_points(net, torch.zeros(1, 2, dtype=DT))[0]
    X = torch.randn(7, 2, generator=g, dtype=DT)
    D = torch.randn(7, 5, 2, generator=g, dtype=DT)
    res = local_region_counts(net, X, 0.5, method="complexity", directions=D)
    want = brute_force_complexity(traced, X, D, 0.5)
    assert torch.equal(res.per_layer, want)
    assert torch.equal(res.counts, want.sum(1))
    assert bool((res.per_layer[:, 0] <= 5).all())  # 8 units, 3 dead
    # chunking over points changes nothing
    monkeypatch.setattr(local_mod, "_CHUNK_ELEMENTS", 64)
    assert torch.equal(local_region_counts(net, X, 0.5, method="complexity", directions=D).per_layer, want)


def test_complexity_default_linf_uses_the_whole_box_in_2d():
    g = gen(5)
    net = mlp_net([9, 4], g)
    W, b = first_layer(net)
    X = torch.randn(20, 2, generator=g, dtype=DT) * 0.5
    r = 0.35
    res = local_region_counts(net, X, r, "linf", method="complexity")
    assert res.num_directions == 2  # the two sign vectors (1, 1) and (1, -1)
    # the hull of the vertices is the whole box: |z| <= r ||w||_1
    z = X @ W.T + b
    lim = r * W.abs().sum(1)
    varies = z.abs() <= lim
    ok = ((z.abs() - lim).abs() > 1e-9).all(1)
    assert ok.sum() >= 18
    assert torch.equal(res.per_layer[ok, 0], varies[ok].sum(1).to(DT))


def test_complexity_direction_samplers():
    g = gen(0)
    D = local_mod._sample_directions(10, 6, "l1", g)
    assert D.shape == (6, 10) and torch.allclose(D @ D.T, torch.eye(6, dtype=DT), atol=1e-12)
    S = local_mod._sample_directions(4, 5, "linf", g)  # 2^3 = 8 classes > 5: five distinct ones
    assert S.shape == (5, 4) and bool((S.abs() == 1).all())
    canon = S * S[:, :1]
    assert torch.unique(canon, dim=0).shape[0] == 5
    full = local_mod._sample_directions(3, 16, "linf", g)  # all 4 classes
    assert full.shape == (4, 3) and torch.unique(full * full[:, :1], dim=0).shape[0] == 4
    big = local_mod._sample_directions(40, 3, "linf", g)
    assert big.shape == (3, 40) and bool((big.abs() == 1).all())


def test_complexity_on_image_inputs():
    model = zoo.lenet()
    X = zoo.example_input((1, 12, 12), batch=3)
    res = local_region_counts(model, X, 0.05, "l1", method="complexity", num_directions=6, generator=2)
    traced = local_mod._network_and_points(model, X)[0]
    assert res.per_layer.shape == (3, len(traced.nonlinear_nodes))
    assert bool((res.per_layer <= torch.tensor(traced.layer_widths(), dtype=DT)).all())
    # same directions through the brute force
    g = torch.Generator().manual_seed(2)
    D = torch.stack([local_mod._sample_directions(144, 6, "l1", g) for _ in range(3)])
    assert torch.equal(res.per_layer, brute_force_complexity(traced, X.reshape(3, -1), D, 0.05))
    frac = res.per_layer_fraction
    assert bool(((frac >= 0) & (frac <= 1)).all())
    assert res.summary()["num_directions"] == 6


# ------------------------------------------------------------------ exact counts


@pytest.mark.xfail(not HAS_EXACT, reason="regionlab.regions.polytope / regionlab.domains not there yet", strict=False)
def test_exact_counts_match_2d_partitions_and_zaslavsky():
    g = gen(4)
    net = mlp_net([6, 5], g)
    X = torch.randn(3, 2, generator=g, dtype=DT) * 0.5
    r = 0.4
    res = local_region_counts(net, X, r, "linf", method="exact")
    assert res.counts.tolist() == [float(box_count(net, X[i], r)) for i in range(3)]
    res = local_region_counts(net, X, r, "l1", method="exact")
    assert res.counts.tolist() == [float(diamond_count(net, X[i], r)) for i in range(3)]
    # five generic planes through points near 0 in R^3, all vertices inside a huge ball
    W = torch.randn(5, 3, generator=g, dtype=DT)
    b = torch.randn(5, generator=g, dtype=DT) * 0.1
    net3 = CPWLNetwork.sequential((3,), [Dense(W, b), PiecewiseLinear.relu()])
    for tri in itertools.combinations(range(5), 3):
        vert = np.linalg.solve(W[list(tri)].numpy(), -b[list(tri)].numpy())
        assert np.abs(vert).max() < 50
    res = local_region_counts(net3, torch.zeros(1, 3, dtype=DT), 100.0, "linf", method="exact")
    assert res.counts.tolist() == [float(sum(math.comb(5, j) for j in range(4)))]
    X2 = torch.tensor([[5.0, 5.0, 5.0], [0.0, 0.0, 0.0]], dtype=DT)
    with pytest.raises(RegionLimitExceeded) as info:
        local_region_counts(net3, X2, 100.0, "linf", method="exact", max_regions=3)
    assert info.value.partial.num_points <= 1


def test_exact_without_the_engine_says_what_to_use(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "regionlab.regions.polytope", None)  # as if it were not installed
    net = mlp_net([4], gen(0))
    with pytest.raises(MissingDependencyError, match="method='slices'"):
        local_region_counts(net, torch.zeros(1, 2, dtype=DT), 0.1, method="exact")


# ----------------------------------------------------------- local counts: misc


def test_local_counts_errors():
    net = mlp_net([4], gen(0))
    X = torch.zeros(2, 2, dtype=DT)
    with pytest.raises(InvalidParameterError, match="'method'"):
        local_region_counts(net, X, 0.1, method="grid")
    with pytest.raises(InvalidParameterError, match="'norm'"):
        local_region_counts(net, X, 0.1, norm="l2", method="slices")
    for bad in (0.0, -1.0):
        with pytest.raises(DomainError, match="'radius'"):
            local_region_counts(net, X, bad, method="slices")
    with pytest.raises(NumericalError, match="'radius'"):
        local_region_counts(net, X, float("inf"), method="slices")
    with pytest.raises(InvalidParameterError, match="'radius'"):
        local_region_counts(net, X, "big", method="slices")
    with pytest.raises(InvalidParameterError, match="'num_slices'"):
        local_region_counts(net, X, 0.1, method="slices", num_slices=0)
    with pytest.raises(InvalidParameterError, match="max_regions"):
        local_region_counts(net, X, 0.1, method="complexity", max_regions=5)
    with pytest.raises(InvalidParameterError, match="'directions'"):
        local_region_counts(net, X, 0.1, method="exact", directions=torch.eye(2))
    with pytest.raises(InvalidParameterError, match="'num_directions'"):
        local_region_counts(net, X, 0.1, "l1", method="complexity", num_directions=3)
    with pytest.raises(InvalidParameterError, match="either"):
        local_region_counts(net, X, 0.1, method="complexity", num_directions=1, directions=torch.eye(2))
    with pytest.raises(ShapeError, match="'directions'"):
        local_region_counts(net, X, 0.1, method="complexity", directions=torch.zeros(2, 3))
    with pytest.raises(ShapeError, match="'directions'"):
        local_region_counts(net, X, 0.1, method="slices", directions=torch.zeros(1, 3, 2))
    with pytest.raises(DomainError, match="linearly dependent"):
        local_region_counts(net, X, 0.1, method="slices", directions=torch.ones(1, 2, 2))
    with pytest.raises(InvalidParameterError, match="'generator'"):
        local_region_counts(net, X, 0.1, method="slices", generator="seed")
    with pytest.raises(InvalidParameterError, match="'numerics'"):
        local_region_counts(net, X, 0.1, method="slices", numerics=1e-9)
    with pytest.raises(ShapeError, match="'X'"):
        local_region_counts(net, torch.zeros(2, 3), 0.1, method="slices")
    with pytest.raises(ShapeError, match="no points"):
        local_region_counts(net, torch.zeros(0, 2), 0.1, method="slices")
    with pytest.raises(NumericalError, match="'X'"):
        local_region_counts(net, torch.full((1, 2), float("nan")), 0.1, method="slices")
    with pytest.raises(InvalidParameterError, match="'model'"):
        local_region_counts("net", X, 0.1, method="slices")
    with pytest.raises(ShapeError, match="batch"):
        local_region_counts(zoo.mlp((2, 3, 1)), torch.zeros(2), 0.1, method="slices")


def test_local_counts_result_is_a_mergeable_value():
    net = mlp_net([5, 4], gen(2))
    X = torch.randn(4, 2, generator=gen(3), dtype=DT)
    whole = local_region_counts(net, X, 0.3, method="complexity", directions=torch.randn(3, 2, generator=gen(1), dtype=DT))
    a = local_region_counts(net, X[:1], 0.3, method="complexity", directions=torch.randn(3, 2, generator=gen(1), dtype=DT))
    b = local_region_counts(net, X[1:], 0.3, method="complexity", directions=torch.randn(3, 2, generator=gen(1), dtype=DT))
    merged = a.merge(b)
    assert torch.equal(merged.per_layer, whole.per_layer) and merged.num_points == 4 == len(merged)
    assert merged.seconds == pytest.approx(a.seconds + b.seconds)
    again = LocalCounts.from_dict(json.loads(json.dumps(merged.to_dict())))
    assert torch.equal(again.per_layer, merged.per_layer) and again.layer_widths == merged.layer_widths
    clone = pickle.loads(pickle.dumps(merged))
    assert torch.equal(clone.counts, merged.counts) and clone.method == "complexity"
    s = merged.summary()
    assert s["num_points"] == 4 and s["mean"] == pytest.approx(float(whole.counts.mean()))
    assert len(s["per_layer_mean"]) == 2
    with pytest.raises(AttributeError):
        merged.radius = 1.0  # frozen
    sl = local_region_counts(net, X[:2], 0.3, method="slices", num_slices=2)
    with pytest.raises(InvalidParameterError, match="same method"):
        merged.merge(sl)
    with pytest.raises(InvalidParameterError):
        LocalCounts.concat([])
    with pytest.raises(InvalidParameterError, match="malformed"):
        LocalCounts.from_dict({"counts": [1.0]})
    assert sl.summary()["num_slices"] == 2


# ---------------------------------------------------------- switching distances


def autograd_preactivations(net, x):
    """Per nonlinear node: flattened inputs ``(U_in,)`` of one point and their Jacobian ``(U_in, n)`` by autograd."""
    def pre(y):
        return tuple(p[0] for p in net.forward_with_preactivations(y.unsqueeze(0))[1])

    values = pre(x)
    jac = torch.autograd.functional.jacobian(pre, x, vectorize=True)
    return list(values), list(jac)


@settings(max_examples=10)
@given(st.integers(0, 10_000), st.sampled_from([2, 5]))
def test_single_layer_distances_are_closed_forms(seed, d):
    g = gen(seed)
    W = torch.randn(7, d, generator=g, dtype=DT)
    b = torch.randn(7, generator=g, dtype=DT)
    W[0] = 0.0  # zero-weight unit: never switches
    W[2], b[2] = 2 * W[1], 2 * b[1]  # the same hyperplane, rescaled
    net = CPWLNetwork.sequential((d,), [Dense(W, b), PiecewiseLinear.relu(), dense(1, 7, g)])
    X = torch.randn(6, d, generator=g, dtype=DT)
    X[0] = X[0] - (X[0] @ W[3] + b[3]) * W[3] / W[3].square().sum()  # (numerically) on unit 3
    sd = switching_distances(net, X)
    z = X @ W.T + b
    l1, l2 = W.abs().sum(1), W.norm(dim=1)
    assert torch.allclose(sd.values, z, rtol=1e-13, atol=1e-13)
    assert bool((sd.levels == 0).all())
    live = l2 > 0
    assert torch.allclose(sd.distances[:, live], z[:, live].abs() / l2[live], rtol=1e-12, atol=1e-15)
    assert torch.allclose(sd.distances_linf[:, live], z[:, live].abs() / l1[live], rtol=1e-12, atol=1e-15)
    assert torch.allclose(sd.gradient_l2, l2.expand(6, 7)) and torch.allclose(sd.gradient_l1, l1.expand(6, 7))
    assert bool(torch.isinf(sd.distances[:, 0]).all()) and not bool(sd.foot_in_region[:, 0].any())
    assert torch.allclose(sd.distances[:, 1], sd.distances[:, 2])
    assert float(sd.distances[0, 3]) < 1e-14
    # the foot is in the region iff no other unit changes side there
    feet = X.unsqueeze(1) - (z / l2.square().clamp_min(1e-300)).unsqueeze(-1) * W.unsqueeze(0)  # (B, U, d)
    zf = feet @ W.T + b  # (B, U, U): unit v at the foot of unit u
    active = (z > 0).unsqueeze(1)
    tol = 1e-9 * (1 + z.abs().unsqueeze(1) + zf.abs())
    inside = torch.where(active, zf >= -tol, zf <= tol).all(-1)
    assert torch.equal(sd.foot_in_region[:, live], inside[:, live])
    assert sd.unit_layer.tolist() == [0] * 7


def test_hardtanh_and_maxout_single_layer_closed_forms():
    g = gen(8)
    W = torch.randn(5, 3, generator=g, dtype=DT)
    b = torch.randn(5, generator=g, dtype=DT)
    net = CPWLNetwork.sequential((3,), [Dense(W, b), PiecewiseLinear.hardtanh(-1.0, 1.0)])
    X = torch.randn(8, 3, generator=g, dtype=DT)
    sd = switching_distances(net, X)
    z = X @ W.T + b
    levels = torch.where((z - 1).abs() < (z + 1).abs(), torch.ones_like(z), -torch.ones_like(z))
    assert torch.equal(sd.levels, levels)
    assert torch.allclose(sd.distances, (z - levels).abs() / W.norm(dim=1), rtol=1e-12)
    # maxout: 4 units of rank 3; distance to the nearest tie of the winner
    Wm = torch.randn(12, 3, generator=g, dtype=DT)
    bm = torch.randn(12, generator=g, dtype=DT)
    Wm[5] = Wm[4]
    bm[5] = bm[4] - 0.5  # a parallel argument (tie plane parallel...) never reachable: zero gap gradient
    index = torch.arange(12).reshape(4, 3)
    net = CPWLNetwork.sequential((3,), [Dense(Wm, bm), MaxOp(index, (4,))])
    sd = switching_distances(net, X)
    zm = (X @ Wm.T + bm).reshape(8, 4, 3)
    a = zm.argmax(-1)
    for i in range(8):
        for u in range(4):
            wa = Wm[index[u, a[i, u]]]
            best, best_inf = math.inf, math.inf
            for j in range(3):
                if j == a[i, u]:
                    continue
                dw = wa - Wm[index[u, j]]
                if float(dw.norm()) == 0:
                    continue
                gap = float(zm[i, u, a[i, u]] - zm[i, u, j])
                best = min(best, gap / float(dw.norm()))
                best_inf = min(best_inf, gap / float(dw.abs().sum()))
            assert float(sd.distances[i, u]) == pytest.approx(best, rel=1e-12)
            assert float(sd.distances_linf[i, u]) == pytest.approx(best_inf, rel=1e-12)
            assert float(sd.values[i, u]) == pytest.approx(float(zm[i, u].max()), rel=1e-13)


def pattern_line_search(net, x, foot, num=200):
    """Patterns at x + s (foot - x) for s in [0, 1) (num samples), at the foot, and just past it."""
    s = torch.cat([torch.linspace(0, 1 - 1e-7, num, dtype=DT), torch.tensor([1.0, 1 + 1e-6], dtype=DT)])
    pts = x.unsqueeze(0) + s.unsqueeze(1) * (foot - x).unsqueeze(0)
    return net.patterns(pts)


@pytest.mark.parametrize("kind", ["relu", "hardtanh", "maxout", "duplicates", "narrow_first_layer"])
def test_switching_distances_against_a_line_search(kind):
    g = gen(21)
    if kind == "maxout":
        net = maxout_net(3, 4, 3, g, depth=2)
    elif kind == "narrow_first_layer":
        # 6 inputs read through 3 numbers: the forms run in 3 orthonormal coordinates
        net = mlp_net([3, 5, 4], g, d=6)
        assert net.input_basis() is not None
    elif kind == "duplicates":
        net = local_mod._network_and_points(zoo.duplicate_neurons(), torch.zeros(1, 2, dtype=DT))[0]
    else:
        net = mlp_net([6, 5, 4], g, PiecewiseLinear.relu if kind == "relu" else PiecewiseLinear.hardtanh, d=3)
    n = net.input_dim
    X = torch.randn(5, n, generator=g, dtype=DT) * 0.7
    sd = switching_distances(net, X, keep_gradients=True)
    feet = sd.feet()
    checked = {True: 0, False: 0}
    for i in range(5):
        base = net.patterns(X[i:i + 1])[0]
        for u in range(sd.num_units):
            if not math.isfinite(float(sd.distances[i, u])):
                assert bool(torch.isnan(feet[i, u]).all())
                continue
            foot = feet[i, u]
            assert float((foot - X[i]).norm()) == pytest.approx(float(sd.distances[i, u]), rel=1e-9, abs=1e-15)
            pats = pattern_line_search(net, X[i], foot)
            others = torch.ones(sd.num_units, dtype=torch.bool)
            others[u] = False
            if bool(sd.foot_in_region[i, u]):
                # the pattern stays constant strictly before the foot and the unit switches there
                assert bool((pats[:-2] == base).all())
                assert pats[-1, u] != base[u]
            else:
                # the segment leaves the region first: another unit changes on the way
                assert bool((pats[1:-1][:, others] != base[others]).any())
            checked[bool(sd.foot_in_region[i, u])] += 1
    assert checked[True] >= 5 and checked[False] >= 1


def test_gradients_match_autograd_on_images():
    model = zoo.lenet()  # conv, ReLU, max-pool, linear
    X = zoo.example_input((1, 12, 12), batch=2)
    net = local_mod._network_and_points(model, X)[0]
    sd = switching_distances(model, X, keep_gradients=True)
    assert sd.num_units == net.num_units and sd.gradients.shape == (2, net.num_units, 144)
    widths = net.layer_widths()
    assert torch.bincount(sd.unit_layer, minlength=len(widths)).tolist() == widths
    kinds = []
    for i in range(2):
        pre, jac = autograd_preactivations(net, X[i].reshape(-1))
        for node, off, w, z, J in zip(net.nonlinear_nodes, net.unit_offsets, widths, pre, jac, strict=True):
            op = net.nodes[node].op
            units = slice(off, off + w)
            kinds.append(op.kind)
            if op.kind == "univariate":
                # the value is the pre-activation and the gap's gradient is its gradient
                assert torch.allclose(sd.values[i, units], z, rtol=1e-12, atol=1e-12)
                assert torch.allclose(sd.gradients[i, units], J, rtol=1e-10, atol=1e-12)
            else:
                # the winner's value; the gap's gradient is grad z_a - grad z_j for the nearest tie j
                args = z[op.index]  # (U, k); max-pool here has no padding
                a = args.argmax(1)
                assert torch.equal(sd.values[i, units], args.max(1).values)
                j = (args == sd.levels[i, units].unsqueeze(1)).to(torch.int8).argmax(1)
                want = J[op.index[torch.arange(w), a]] - J[op.index[torch.arange(w), j]]
                assert torch.allclose(sd.gradients[i, units], want, rtol=1e-10, atol=1e-12)
    assert set(kinds) == {"univariate", "max"}
    assert sd.summary()["num_units"] == net.num_units


def test_points_on_surfaces_and_dead_units():
    W = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype=DT)
    b = torch.tensor([0.0, 0.0, -1.0], dtype=DT)
    net = CPWLNetwork.sequential((2,), [Dense(W, b), PiecewiseLinear.relu()])
    X = torch.tensor([[0.0, 0.3], [0.5, 0.5]], dtype=DT)  # on unit 0's line; on unit 2's line
    sd = switching_distances(net, X)
    assert float(sd.distances[0, 0]) == 0.0 and bool(sd.foot_in_region[0, 0])
    assert float(sd.distances[1, 2]) == 0.0 and bool(sd.foot_in_region[1, 2])
    assert bool(torch.isinf(sd.distances[:, 1]).all())  # zero weights: never switches
    assert sd.crosses(0.0).tolist() == [[True, False, False], [False, False, True]]
    # a hidden layer of zero weights: constant downstream units, infinite distances
    model = zoo.zero_weights()
    sdz = switching_distances(model, zoo.example_input((2,), batch=3))
    second = sdz.unit_layer == 1
    assert bool(torch.isinf(sdz.distances[:, second]).all())
    assert not bool(sdz.crosses(1e6)[:, second].any())
    assert bool(torch.isfinite(sdz.distances[:, ~second]).all())


def test_crosses_matches_sampling_of_the_ball():
    g = gen(9)
    d = 3
    W = torch.randn(10, d, generator=g, dtype=DT)
    b = torch.randn(10, generator=g, dtype=DT)
    net = CPWLNetwork.sequential((d,), [Dense(W, b), PiecewiseLinear.relu()])
    X = torch.randn(6, d, generator=g, dtype=DT) * 0.5
    r = 0.45
    sd = switching_distances(net, X)
    corners = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=DT)
    for norm in ("linf", "l2"):
        cross = sd.crosses(r, norm)
        for i in range(6):
            if norm == "linf":
                samples = (torch.rand(3000, d, generator=g, dtype=DT) * 2 - 1) * r
                samples = torch.cat([samples, corners * r])  # the box's extreme points
            else:
                dirs = torch.randn(3000, d, generator=g, dtype=DT)
                samples = r * dirs / dirs.norm(dim=1, keepdim=True)
                extreme = -torch.sign(X[i] @ W.T + b).unsqueeze(1) * W / W.norm(dim=1, keepdim=True) * r
                samples = torch.cat([samples, extreme])
            codes = net.patterns(X[i] + samples)
            varies = (codes != net.patterns(X[i:i + 1])).any(0)
            dual = sd.distances_linf[i] if norm == "linf" else sd.distances[i]
            clear = (dual - r).abs() > 1e-9
            assert torch.equal(cross[i, clear], varies[clear])
    per_point = sd.crosses(torch.tensor([0.0, 10.0, 0.0, 0.0, 0.0, 0.0]), "l2")
    assert bool(per_point[1].all()) and not bool(per_point[0].any())


def test_high_dimensional_inputs_and_chunking(monkeypatch):
    g = gen(12)
    n = 784
    W = torch.randn(24, n, generator=g, dtype=DT) / math.sqrt(n)
    b = torch.randn(24, generator=g, dtype=DT) * 0.1
    net = CPWLNetwork.sequential((1, 28, 28), [_flatten(), Dense(W, b), PiecewiseLinear.relu(), dense(8, 24, g),
                                               PiecewiseLinear.relu()])
    X = torch.randn(3, 1, 28, 28, generator=g, dtype=DT)
    sd = switching_distances(net, X)
    z = X.reshape(3, n) @ W.T + b
    assert torch.allclose(sd.distances[:, :24], z.abs() / W.norm(dim=1), rtol=1e-11)
    monkeypatch.setattr(local_mod, "_CHUNK_ELEMENTS", 1)  # one point per chunk
    sd1 = switching_distances(net, X)
    assert torch.allclose(sd1.distances, sd.distances, rtol=1e-12) and torch.equal(sd1.foot_in_region, sd.foot_in_region)
    res = local_region_counts(net, X, 0.01, method="complexity")
    assert res.num_directions == 16 and res.per_layer.shape == (3, 2)


def _interrupt_on_call(real, at: int):
    """``real`` that raises KeyboardInterrupt on its ``at``-th call (1-based), as Ctrl-C would."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return wrapped


@pytest.mark.parametrize("method", ["exact", "slices", "complexity"])
def test_ctrl_c_returns_the_finished_points(method, monkeypatch):
    import regionlab.regions.plane as plane_mod
    import regionlab.regions.polytope as polytope_mod

    net = mlp_net([5, 4], gen(40), d=3)
    X = torch.randn(6, 3, generator=gen(41), dtype=DT)
    kwargs = {"num_slices": 2} if method == "slices" else {}
    whole = local_region_counts(net, X, 0.3, method=method, generator=gen(1), **kwargs)
    if method == "exact":
        target, name = polytope_mod, "count_regions"
        at, done = 4, 3  # the fourth point's count is interrupted
    elif method == "slices":
        target, name = plane_mod, "partition_plane"
        at, done = 6, 2  # the third point's second slice
    else:
        monkeypatch.setattr(local_mod, "_CHUNK_ELEMENTS", 1)  # one point per chunk
        target, name = local_mod, "_sample_directions"
        at, done = 5, 4
    monkeypatch.setattr(target, name, _interrupt_on_call(getattr(target, name), at))
    with pytest.warns(RuntimeWarning, match=f"first {done} of 6 points"):
        part = local_region_counts(net, X, 0.3, method=method, generator=gen(1), **kwargs)
    assert part.num_points == done
    assert torch.equal(part.counts, whole.counts[:done])
    if method == "slices":
        assert torch.equal(part.per_slice, whole.per_slice[:done])
    if method == "complexity":
        assert torch.equal(part.per_layer, whole.per_layer[:done])
    # interrupted before any point finished: the KeyboardInterrupt itself
    monkeypatch.setattr(target, name, _interrupt_on_call(getattr(target, name), 1))
    with pytest.raises(KeyboardInterrupt):
        local_region_counts(net, X, 0.3, method=method, generator=gen(1), **kwargs)


def test_switching_distances_ctrl_c_and_progress(monkeypatch, capsys):
    net = mlp_net([5, 4], gen(42), d=3)
    X = torch.randn(5, 3, generator=gen(43), dtype=DT)
    whole = switching_distances(net, X, progress=True)
    assert "switching_distances" in capsys.readouterr().err
    monkeypatch.setattr(local_mod, "_CHUNK_ELEMENTS", 1)  # one point per chunk
    monkeypatch.setattr(local_mod, "_switching_chunk", _interrupt_on_call(local_mod._switching_chunk, 3))
    with pytest.warns(RuntimeWarning, match="first 2 of 5 points"):
        part = switching_distances(net, X)
    assert part.num_points == 2 and torch.equal(part.points, whole.points[:2])
    assert torch.allclose(part.distances, whole.distances[:2], rtol=1e-13)
    with pytest.raises(InvalidParameterError, match="progress"):
        switching_distances(net, X, progress=1)


def _narrow_zoo():
    """Networks whose input is read through fewer numbers than it has (and one that is not)."""
    g = gen(33)
    W = torch.randn(4, 9, generator=g, dtype=DT)
    rank_deficient = W.clone()
    rank_deficient[3] = rank_deficient[1]  # a duplicate unit: the input map has rank 3
    second = dense(5, 4, g)
    second.weight[0] = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=DT)  # cancels the duplicate: zero gradient
    return {
        "relu-hardtanh": mlp_net([4, 5], g, d=9),
        "maxout": maxout_net(7, 2, 3, g, depth=2),
        "flatten-mix": CPWLNetwork.sequential((1, 3, 3), [
            Reshape((9,)), Dense(W, torch.randn(4, generator=g, dtype=DT)), PiecewiseLinear.leaky_relu(0.1),
            dense(6, 4, g), PiecewiseLinear.hardtanh(), dense(2, 6, g)]),
        "rank-deficient": CPWLNetwork.sequential((9,), [Dense(rank_deficient), PiecewiseLinear.relu(), second,
                                                         PiecewiseLinear.relu()]),
    }


@pytest.mark.parametrize("name", ["relu-hardtanh", "maxout", "flatten-mix", "rank-deficient"])
def test_reduced_input_coordinates_match_full_forms_and_autograd(name, monkeypatch):
    net = _narrow_zoo()[name]
    n = net.input_dim
    X = torch.randn(7, n, generator=gen(34), dtype=DT)
    X[0] = 0.0
    reduced = net.input_basis()
    assert (reduced is None) == (name == "rank-deficient")
    sd = switching_distances(net, X.reshape(7, *net.input_shape), keep_gradients=True)
    monkeypatch.setattr(CPWLNetwork, "input_basis", lambda self: None)
    full = switching_distances(net, X.reshape(7, *net.input_shape), keep_gradients=True)
    for field in ("values", "levels", "gradient_l1", "gradient_l2", "distances", "distances_linf", "gradients"):
        a, b = getattr(sd, field), getattr(full, field)
        assert torch.equal(torch.isfinite(a), torch.isfinite(b)), field
        fin = torch.isfinite(a)
        assert torch.allclose(a[fin], b[fin], rtol=1e-10, atol=1e-12), field
    assert torch.equal(sd.foot_in_region, full.foot_in_region)
    # the univariate units' gradients are their pre-activations' gradients (autograd)
    for i in range(3):
        pre, jac = autograd_preactivations(net, X[i])
        for node, off, w, J in zip(net.nonlinear_nodes, net.unit_offsets, net.layer_widths(), jac, strict=True):
            if net.nodes[node].op.kind == "univariate":
                assert torch.allclose(sd.gradients[i, off:off + w], J.reshape(w, n), rtol=1e-10, atol=1e-12)
    if name == "rank-deficient":
        # a unit whose weights cancel the duplicate has a zero gradient: it never switches
        assert bool(torch.isinf(sd.distances[:, 4]).all()) and not bool(sd.foot_in_region[:, 4].any())


def test_input_chain_and_propagation_from_inside_it():
    g = gen(35)
    net = _narrow_zoo()["flatten-mix"]
    assert net.input_chain() == 2  # the reshape and the first Dense
    x = torch.randn(3, 1, 3, 3, generator=g, dtype=DT)
    forms = torch.cat([x.reshape(3, 1, 9), torch.eye(9, dtype=DT).expand(3, 9, 9)], 1).reshape(3, 10, 1, 3, 3)

    def select(i, node, z):
        return choice_at(node.op, z[:, 0])

    whole = net.propagate_forms(forms, select)
    mid = net.propagate_forms(forms, None, stop=2)
    assert torch.allclose(mid[:, 0], net.nodes[2].op(net.nodes[1].op(x.reshape(3, 9))), rtol=1e-14, atol=1e-14)
    assert torch.allclose(net.propagate_forms(mid, select, start=2), whole, rtol=1e-13, atol=1e-13)
    with pytest.raises(InvalidParameterError, match="input chain"):
        net.propagate_forms(mid, select, start=3)
    with pytest.raises(InvalidParameterError, match="start <= stop"):
        net.propagate_forms(mid, select, start=2, stop=1)
    with pytest.raises(InvalidParameterError, match="basis"):
        net.point_forms(x, basis=("not", "a", "basis"))
    with pytest.raises(ShapeError):
        net.point_forms(torch.zeros(3, 7, dtype=DT))
    # the input read twice (a residual add), or first by a nonlinear node: no chain
    model = zoo.small_resnet(in_channels=1, width=2)
    resnet = local_mod._network_and_points(model, zoo.example_input((1, 6, 6)))[0]
    assert all(resnet.nodes[i].op.kind == "linear" for i in range(1, resnet.input_chain() + 1))
    assert CPWLNetwork.sequential((2,), [PiecewiseLinear.relu(), dense(1, 2, g)]).input_chain() == 0
    skip = CPWLNetwork(
        [Node(None, (), (2,), "x"), Node(Dense(torch.eye(2, dtype=DT)), (0,), (2,), "a"),
         Node(PiecewiseLinear.relu(), (1,), (2,), "r"), Node(Sum((1.0, 1.0)), (2, 0), (2,), "s")])
    assert skip.input_chain() == 0


def _flatten():
    from regionlab.ir.ops import Reshape

    return Reshape((784,))


def test_switching_result_value_object_and_errors():
    net = mlp_net([5, 4], gen(6))
    X = torch.randn(4, 2, generator=gen(7), dtype=DT)
    sd = switching_distances(net, X, numerics=Numerics(atol=1e-9))
    assert sd.atol == 1e-9
    vals, idx = sd.nearest(3)
    order = sd.distances.sort(1)
    assert torch.equal(vals, order.values[:, :3])
    assert torch.equal(sd.distances.gather(1, idx), vals)
    assert torch.equal(sd.nearest(1, "linf")[0][:, 0], sd.distances_linf.amin(1))
    assert sd.gradient_norms.shape == (4, 9, 2)
    clone = pickle.loads(pickle.dumps(sd))
    assert torch.equal(clone.distances, sd.distances) and clone.layer_names == sd.layer_names
    again = SwitchingDistances.from_dict(sd.to_dict())
    assert torch.equal(again.foot_in_region, sd.foot_in_region) and torch.equal(again.unit_layer, sd.unit_layer)
    assert sd.summary()["num_units"] == 9
    # an affine network has no units: empty but well-formed results
    affine = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=DT))])
    assert switching_distances(affine, X).distances.shape == (4, 0)
    lc = local_region_counts(affine, X, 0.2, method="complexity", progress=True)
    assert lc.counts.tolist() == [0.0] * 4 and lc.per_layer.shape == (4, 0)
    assert local_region_counts(affine, X[:1], 0.2, method="slices", num_slices=1).counts.tolist() == [1.0]
    with pytest.raises(InvalidParameterError, match="keep_gradients=True"):
        sd.feet()
    with pytest.raises(InvalidParameterError, match="'k'"):
        sd.nearest(10)
    with pytest.raises(InvalidParameterError, match="'norm'"):
        sd.crosses(0.1, "l1")
    with pytest.raises(InvalidParameterError, match="'radius'"):
        sd.crosses(-0.1)
    with pytest.raises(ShapeError, match="'radius'"):
        sd.crosses(torch.ones(3))
    with pytest.raises(InvalidParameterError, match="keep_gradients"):
        switching_distances(net, X, keep_gradients="yes")
    with pytest.raises(InvalidParameterError, match="'numerics'"):
        switching_distances(net, X, numerics="float64")
    with pytest.raises(ShapeError):
        switching_distances(net, torch.zeros(2, 5))
    with pytest.raises(NumericalError):
        switching_distances(net, torch.tensor([[float("inf"), 0.0]]))
    with pytest.raises(InvalidParameterError, match="malformed"):
        SwitchingDistances.from_dict({"values": []})
