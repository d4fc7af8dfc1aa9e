"""Convex domains: closed forms against generic paths and independent oracles (scipy LPs,
qhull, Gram determinants), sampling, coordinates, high dimension, errors and pickling."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.spatial import ConvexHull as QHull
from scipy.spatial import HalfspaceIntersection

import regionlab.domains as domains_module
from regionlab.domains import (
    Box,
    ConvexHull,
    Domain,
    L1Ball,
    LinfBall,
    Polytope,
    Simplex,
    random_directions,
    window,
)
from regionlab.errors import DomainError, InvalidParameterError, ShapeError

from .oracles import chebyshev_radius

DT = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def same_point_sets(V, W, atol=1e-9):
    """Both sets have the same size and each point of one is within ``atol`` of one of the other."""
    V, W = np.asarray(V, dtype=float), np.asarray(W, dtype=float)
    if V.shape != W.shape:
        return False
    d = np.linalg.norm(V[:, None, :] - W[None, :, :], axis=2)
    return bool((d.min(1) <= atol).all() and (d.min(0) <= atol).all())


def lp_feasible(A_ub, b_ub, a, p):
    """Oracle: is there an auxiliary ``t`` with ``A_ub [p, t] <= b_ub`` (``p`` fixed by bounds)?"""
    p = np.asarray(p, dtype=float)
    k = p.shape[0]
    bounds = [(float(x), float(x)) for x in p] + [(None, None)] * a
    res = linprog(np.zeros(k + a), A_ub=np.asarray(A_ub), b_ub=np.asarray(b_ub), bounds=bounds, method="highs")
    return res.status == 0


def gram_volume(vertices):
    """Oracle: k-volume of a simplex from its vertices in any ambient space (Gram determinant)."""
    V = np.asarray(vertices, dtype=float)
    E = V[1:] - V[0]
    k = E.shape[0]
    return math.sqrt(max(np.linalg.det(E @ E.T), 0.0)) / math.factorial(k)


def example_domains():
    """One of each kind (low dimension), some windows."""
    g = gen(1)
    dirs3 = torch.randn(3, 7, generator=g, dtype=DT)
    return [
        Box([-1.0, 0.0, 0.5], [1.0, 2.0, 0.75]),
        LinfBall(torch.randn(7, generator=g, dtype=DT), 0.3, directions=dirs3),
        L1Ball(torch.zeros(3), 1.5),
        L1Ball(torch.randn(7, generator=g, dtype=DT), 0.7, directions=dirs3),
        Polytope([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0], [1.0, 0.2]], [0.0, 0.0, 1.0, 0.9]),
        Simplex(torch.randn(4, 5, generator=g, dtype=DT)),
        ConvexHull(torch.rand(12, 3, generator=g, dtype=DT)),
    ]


# ----------------------------------------------------------------------------- closed forms vs generic


@settings(max_examples=25)
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_box_closed_forms_match_generic_paths(k, seed):
    g = gen(seed)
    lo = torch.randn(k, generator=g, dtype=DT)
    hi = lo + 0.1 + torch.rand(k, generator=g, dtype=DT) * 2
    box = Box(lo, hi)
    vol = float(torch.prod(hi - lo))
    assert box.volume() == pytest.approx(vol, rel=1e-12)
    V = box.vertices()
    assert V.shape == (2**k, k)
    if k >= 2:
        assert QHull(V.numpy()).volume == pytest.approx(vol, rel=1e-9)
    poly = Polytope(*box.halfspaces())
    assert same_point_sets(poly.vertices(), V)
    assert poly.volume() == pytest.approx(vol, rel=1e-9)
    assert poly.facet_count == box.facet_count == 2 * k
    # the Chebyshev centre of a non-cube is not unique: compare radii, check the LP's centre
    c_box, r_box = box.chebyshev_center()
    c_poly, r_poly = poly.chebyshev_center()
    assert r_poly == pytest.approx(r_box, rel=1e-9)
    assert r_box == pytest.approx(float((hi - lo).min()) / 2)
    A, b = box.halfspaces()
    assert bool((b - A @ c_poly >= r_box - 1e-9).all())
    assert bool((b - A @ c_box >= r_box - 1e-12).all())
    lo_p, hi_p = poly.bounding_box()
    assert torch.allclose(lo_p, lo, atol=1e-9) and torch.allclose(hi_p, hi, atol=1e-9)
    assert ConvexHull(V).volume() == pytest.approx(vol, rel=1e-9)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_l1_ball_matches_halfspace_intersection(k):
    r = 0.8
    ball = L1Ball(torch.full((k,), 2.0), r)
    A, b = ball.halfspaces()
    assert A.shape == (2**k, k) and ball.facet_count == 2**k
    assert torch.allclose(A.norm(dim=1), torch.ones(2**k, dtype=DT))
    assert torch.unique(A, dim=0).shape[0] == 2**k  # no duplicate rows
    # oracle: qhull's halfspace intersection of the H-representation
    hs = np.hstack([A.numpy(), -b.numpy()[:, None]])
    X = HalfspaceIntersection(hs, np.zeros(k)).intersections
    X = np.unique(np.round(X, 9), axis=0)
    assert same_point_sets(ball.vertices(), X, atol=1e-8)
    assert ball.volume() == pytest.approx(QHull(X).volume, rel=1e-9)
    assert ball.volume() == pytest.approx((2 * r) ** k / math.factorial(k), rel=1e-12)
    center, radius = ball.chebyshev_center()
    assert radius == pytest.approx(chebyshev_radius(A.numpy(), b.numpy()), rel=1e-7)
    assert torch.equal(center, torch.zeros(k, dtype=DT))
    # the generic path on the same H-representation agrees
    poly = Polytope(A, b)
    assert same_point_sets(poly.vertices(), ball.vertices())
    assert poly.volume() == pytest.approx(ball.volume(), rel=1e-9)
    assert poly.chebyshev_center()[1] == pytest.approx(radius, rel=1e-9)
    lo, hi = poly.bounding_box()
    assert torch.allclose(lo, -r * torch.ones(k, dtype=DT), atol=1e-9)
    assert torch.allclose(hi, r * torch.ones(k, dtype=DT), atol=1e-9)


@settings(max_examples=25)
@given(st.integers(1, 4), st.integers(0, 2), st.integers(0, 10_000))
def test_simplex_against_gram_determinant_and_lp(k, extra_dims, seed):
    g = gen(seed)
    n = k + extra_dims
    verts = torch.randn(k + 1, n, generator=g, dtype=DT)
    s = Simplex(verts)
    assert (s.dim, s.input_dim, s.facet_count) == (k, n, k + 1)
    assert s.is_full_space == (extra_dims == 0)
    assert s.volume() == pytest.approx(gram_volume(verts.numpy()), rel=1e-7)
    # the vertices map back to the given points
    assert torch.allclose(s.to_input(s.vertices()), verts, atol=1e-10)
    A, b = s.halfspaces()
    assert torch.allclose(A.norm(dim=1), torch.ones(k + 1, dtype=DT))
    # every vertex lies on exactly k facets
    on = ((s.vertices() @ A.T - b).abs() <= 1e-9).sum(1)
    assert torch.equal(on, torch.full((k + 1,), k))
    center, radius = s.chebyshev_center()
    assert radius == pytest.approx(chebyshev_radius(A.numpy(), b.numpy()), rel=1e-6, abs=1e-9)
    assert torch.allclose(b - A @ center, torch.full((k + 1,), radius, dtype=DT), atol=1e-9)  # incentre
    lo, hi = s.bounding_box()
    assert torch.allclose(lo, s.vertices().min(0).values) and torch.allclose(hi, s.vertices().max(0).values)
    if k >= 2:
        assert s.volume() == pytest.approx(QHull(s.vertices().numpy()).volume, rel=1e-7)
    # the same points as a ConvexHull: the same frame and simplex
    hull = ConvexHull(verts)
    assert hull.dim == k and hull.volume() == pytest.approx(s.volume(), rel=1e-7)
    assert hull.chebyshev_center()[1] == pytest.approx(radius, rel=1e-7)


def test_polytope_from_box_halfspaces_with_degenerate_rows():
    box = Box([0.0, -1.0, 2.0], [1.0, 1.0, 2.5])
    A, b = box.halfspaces()
    # duplicates (scaled), a redundant row, a zero row with b >= 0
    A2 = torch.cat([A, 3 * A[:2], torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], dtype=DT)])
    b2 = torch.cat([b, 3 * b[:2] + torch.tensor([0.0, 0.5], dtype=DT), torch.tensor([10.0, 0.0], dtype=DT)])
    poly = Polytope(A2, b2)
    A_p, _ = poly.halfspaces()
    assert A_p.shape[0] == 7  # 6 box facets + the redundant row; duplicates merged, zero row dropped
    assert torch.allclose(A_p.norm(dim=1), torch.ones(7, dtype=DT))
    assert poly.facet_count == 6
    assert poly.irredundant().halfspaces()[0].shape[0] == 6
    assert same_point_sets(poly.vertices(), box.vertices())
    assert poly.volume() == pytest.approx(box.volume(), rel=1e-9)
    assert poly.chebyshev_center()[1] == pytest.approx(box.chebyshev_center()[1], rel=1e-9)
    # the looser duplicate (offset + 0.5 / 3) is dropped, the tight offset kept
    assert poly.bounding_box()[1][1] == pytest.approx(1.0, abs=1e-9)


def test_polytope_in_a_window_acts_on_orthonormal_coordinates():
    g = gen(3)
    dirs = torch.randn(2, 6, generator=g, dtype=DT) * torch.tensor([[3.0], [0.5]], dtype=DT)
    origin = torch.randn(6, generator=g, dtype=DT)
    tri = Polytope([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [0.0, 0.0, 1.0], origin=origin, directions=dirs)
    B = tri.basis
    assert torch.allclose(B @ B.T, torch.eye(2, dtype=DT), atol=1e-12)
    # the first basis row is parallel to the first direction; the span is the same
    assert torch.allclose(B[0], dirs[0] / dirs[0].norm(), atol=1e-12)
    proj = dirs @ B.T @ B
    assert torch.allclose(proj, dirs, atol=1e-10)
    X = tri.to_input(tri.vertices())
    assert torch.allclose(X[0], origin, atol=1e-12)  # the vertex p = (0, 0)
    assert tri.volume() == pytest.approx(0.5, rel=1e-9)
    assert bool(tri.contains_input(X).all())


def test_convex_hull_of_cube_points_and_collinear_points():
    g = gen(4)
    cube = Box([0.0, 0.0, 0.0], [1.0, 2.0, 1.0])
    inside = cube.sample(20, generator=g)
    pts = torch.cat([cube.vertices(), inside, cube.vertices()[:3]])  # duplicates too
    hull = ConvexHull(pts)
    assert hull.dim == 3 and hull.is_full_space
    assert hull.volume() == pytest.approx(2.0, rel=1e-9)
    assert hull.facet_count == 6  # coplanar triangles merged into the cube's 6 facets
    assert same_point_sets(hull.to_input(hull.vertices()), cube.vertices())
    assert hull.chebyshev_center()[1] == pytest.approx(0.5, rel=1e-7)
    assert torch.allclose(hull.origin, pts.mean(0))
    # collinear points in 3-D: a 1-D segment of length 3
    line = ConvexHull([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [3 / math.sqrt(3)] * 3, [0.5, 0.5, 0.5]])
    assert line.dim == 1 and line.volume() == pytest.approx(3.0, rel=1e-12)
    assert line.vertices().shape == (2, 1)
    s = line.sample(500, generator=g)
    assert bool(line.contains(s).all())


def test_convex_hull_of_three_images_is_a_triangle_window():
    g = gen(5)
    imgs = torch.rand(3, 1, 28, 28, generator=g, dtype=DT)
    tri = ConvexHull(imgs)
    assert tri.dim == 2 and tri.input_dim == 784 and tri.input_shape == (1, 28, 28)
    flat = imgs.reshape(3, -1)
    assert torch.allclose(tri.origin, flat.mean(0))
    assert tri.volume() == pytest.approx(gram_volume(flat.numpy()), rel=1e-9)
    P = tri.to_domain(imgs)
    assert torch.allclose(tri.to_input(P), flat, atol=1e-10)
    assert bool(tri.contains(P).all()) and bool(tri.contains_input(imgs).all())
    # a point off the plane is outside although its projection is inside
    off = flat.mean(0) + 0.01 * torch.randn(784, generator=g, dtype=DT)
    assert bool(tri.contains(tri.to_domain(off)).all()) and not bool(tri.contains_input(off).any())


# ----------------------------------------------------------------------------- membership vs lp_form


@pytest.mark.parametrize("idx", range(7))
def test_contains_agrees_with_lp_form_feasibility(idx):
    dom = example_domains()[idx]
    g = gen(10 + idx)
    lo, hi = dom.bounding_box()
    span = hi - lo
    P = lo - 0.2 * span + 1.4 * span * torch.rand(60, dom.dim, generator=g, dtype=DT)
    A, b, a = dom.lp_form()
    assert A.shape == (b.shape[0], dom.dim + a)
    inside = dom.contains(P)
    expected = torch.tensor([lp_feasible(A.numpy(), b.numpy(), a, p) for p in P.numpy()])
    assert torch.equal(inside, expected)
    assert 0 < int(inside.sum()) < 60  # both answers occur
    # points on the boundary: vertices are inside (within tol), and slightly outside is outside
    V = dom.vertices()
    assert bool(dom.contains(V).all())
    assert all(lp_feasible(A.numpy(), b.numpy(), a, v) for v in V.numpy())
    c, _ = dom.chebyshev_center()
    assert not bool(dom.contains(V + 1e-3 * (V - c)).any())


@pytest.mark.parametrize("idx", range(7))
def test_halfspaces_are_unit_rows_without_duplicates(idx):
    dom = example_domains()[idx]
    A, b = dom.halfspaces()
    assert torch.allclose(A.norm(dim=1), torch.ones(A.shape[0], dtype=DT))
    d = torch.cdist(A, A) + 10 * torch.eye(A.shape[0], dtype=DT)
    assert float(d.min()) > 1e-8
    # the H-representation and the lp_form describe the same set on random points
    lo, hi = dom.bounding_box()
    P = lo + (hi - lo) * torch.rand(200, dom.dim, generator=gen(idx), dtype=DT)
    assert torch.equal((P @ A.T <= b + 1e-9).all(1), dom.contains(P))


# ----------------------------------------------------------------------------- sampling


def test_samples_are_uniform_and_inside():
    g = gen(7)
    n = 20_000
    box = Box([0.0, -2.0], [1.0, 2.0])
    s = box.sample(n, generator=g)
    assert s.shape == (n, 2) and bool(box.contains(s, tol=0.0).all())
    assert torch.allclose(s.mean(0), torch.tensor([0.5, 0.0], dtype=DT), atol=0.05)
    k = 4
    ball = L1Ball(torch.zeros(k), 2.0)
    s = ball.sample(n, generator=g)
    assert bool(ball.contains(s, tol=0.0).all())
    assert float(s.mean(0).abs().max()) < 0.05
    # uniform: the inner ball of radius r/2 holds (1/2)^k of the volume
    frac = float((s.abs().sum(1) <= 1.0).double().mean())
    assert frac == pytest.approx(0.5**k, abs=0.01)
    # uniform over the orthants too
    assert float((s > 0).double().mean()) == pytest.approx(0.5, abs=0.02)
    tri_vertices = torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], dtype=DT)
    simplex = Simplex(tri_vertices)
    s = simplex.sample(n, generator=g)
    assert bool(simplex.contains(s, tol=1e-12).all())
    assert torch.allclose(s.mean(0), simplex.vertices().mean(0), atol=0.03)
    # uniform: the corner simplex at a vertex scaled by 1/2 holds (1/2)^3 of the volume
    near = simplex.contains(2 * (s - simplex.vertices()[0]) + simplex.vertices()[0], tol=1e-12)
    assert float(near.double().mean()) == pytest.approx(0.125, abs=0.01)


def test_generic_sampling_triangulation_and_rejection():
    g = gen(8)
    n = 20_000
    # a pentagon (qhull triangulation path): the sample mean is the area centroid
    pent = Polytope([[-1.0, 0.0], [0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [0.0, 0.0, 2.0, 2.0, 3.0])
    V = pent.vertices().numpy()
    s = pent.sample(n, generator=g)
    assert bool(pent.contains(s, tol=1e-12).all())
    hull = QHull(V)
    cen = np.zeros(2)
    tot = 0.0
    for i in range(1, len(hull.vertices) - 1):
        a, b, c = V[hull.vertices[0]], V[hull.vertices[i]], V[hull.vertices[i + 1]]
        area = abs((b - a)[0] * (c - a)[1] - (b - a)[1] * (c - a)[0]) / 2
        cen += area * (a + b + c) / 3
        tot += area
    cen /= tot  # area centroid from the fan at the first hull vertex
    assert tot == pytest.approx(pent.volume(), rel=1e-9)
    assert np.allclose(s.mean(0).numpy(), cen, atol=0.03)
    # a 12-D polytope: rejection from the bounding box (half of it is cut away)
    k = 12
    A = torch.cat([torch.eye(k, dtype=DT), -torch.eye(k, dtype=DT), torch.ones(1, k, dtype=DT)])
    b = torch.cat([torch.ones(2 * k, dtype=DT), torch.zeros(1, dtype=DT)])
    half = Polytope(A, b)
    s = half.sample(2000, generator=g)
    assert s.shape == (2000, k) and bool(half.contains(s, tol=0.0).all())
    assert float(s.sum(1).max()) <= 1e-12
    assert float(s.mean(0).max()) < -0.05  # pushed away from the cut
    assert half.sample(0).shape == (0, k)


def test_sampling_is_reproducible_with_a_generator():
    for dom in example_domains():
        a = dom.sample(50, generator=gen(3))
        b = dom.sample(50, generator=gen(3))
        assert torch.equal(a, b)
        assert a.dtype == DT and a.shape == (50, dom.dim)
        assert bool(dom.contains(a).all())


# ----------------------------------------------------------------------------- coordinates


@settings(max_examples=20)
@given(st.integers(1, 4), st.integers(4, 9), st.integers(0, 10_000))
def test_to_input_to_domain_round_trip(k, n, seed):
    g = gen(seed)
    dirs = torch.randn(k, n, generator=g, dtype=DT)
    center = torch.randn(n, generator=g, dtype=DT)
    win = LinfBall(center, 0.5, directions=dirs)
    assert win.dim == k and win.input_dim == n and not win.is_full_space
    B = win.basis
    assert torch.allclose(B @ B.T, torch.eye(k, dtype=DT), atol=1e-12)
    P = torch.randn(30, k, generator=g, dtype=DT)
    X = win.to_input(P)
    assert X.shape == (30, n)
    assert torch.allclose(win.to_domain(X), P, atol=1e-10)
    assert torch.allclose(X - center, P @ B, atol=1e-12)
    # projection: to_domain ignores the component orthogonal to the window
    ortho = torch.randn(30, n, generator=g, dtype=DT)
    ortho = ortho - ortho @ B.T @ B
    assert torch.allclose(win.to_domain(X + ortho), P, atol=1e-10)
    # a single point
    assert win.to_input(P[0]).shape == (1, n)
    assert win.to_domain(X[0]).shape == (1, k)


def test_full_space_domains_use_the_identity():
    box = Box([[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]])
    assert box.is_full_space and box.input_shape == (2, 2) and box.dim == 4
    assert torch.equal(box.basis, torch.eye(4, dtype=DT))
    X = torch.arange(8, dtype=DT).reshape(2, 2, 2)
    assert torch.equal(box.to_domain(X), X.reshape(2, 4))
    assert torch.equal(box.to_input(X.reshape(2, 4)), X.reshape(2, 4))
    ball = LinfBall([1.0, 2.0], 0.5)
    assert torch.equal(ball.to_domain([[1.5, 2.0]]), torch.tensor([[0.5, 0.0]], dtype=DT))
    assert torch.equal(ball.bounding_box()[0], torch.tensor([-0.5, -0.5], dtype=DT))
    # an identity direction matrix is the full space
    assert LinfBall([1.0, 2.0], 0.5, directions=torch.eye(2)).is_full_space


def test_windows_in_image_shape():
    g = gen(9)
    image = torch.rand(1, 28, 28, generator=g, dtype=DT)
    dirs = torch.randn(5, 1, 28, 28, generator=g, dtype=DT)
    for norm, cls in (("linf", LinfBall), ("l1", L1Ball)):
        win = window(image, dirs, 0.05, norm=norm)
        assert isinstance(win, cls) and isinstance(win, Domain)
        assert (win.dim, win.input_dim, win.input_shape) == (5, 784, (1, 28, 28))
        assert torch.equal(win.center, image.reshape(-1))
        P = win.sample(16, generator=g)
        X = win.to_input(P)
        assert X.shape == (16, 784)
        assert torch.allclose(win.to_domain(X.reshape(16, 1, 28, 28)), P, atol=1e-10)
        assert bool(win.contains_input(X.reshape(16, 1, 28, 28)).all())
        assert bool(win.contains_input(image).all())
    box = Box([-1.0, -2.0], [1.0, 2.0], origin=image, directions=dirs[:2])
    assert box.input_shape == (1, 28, 28) and box.volume() == pytest.approx(8.0)
    assert repr(window(image, dirs, 0.05)) == "LinfBall(center: 784-D, radius=0.05, window: 5-D)"


# ----------------------------------------------------------------------------- high dimension


def test_high_dimensional_balls_have_lp_forms():
    n = 784
    center = torch.zeros(1, 28, 28, dtype=DT)
    linf = LinfBall(center, 0.01)
    A, b, a = linf.lp_form()
    assert (A.shape, b.shape, a) == ((2 * n, n), (2 * n,), 0)
    assert repr(linf) == "LinfBall(center: 784-D, radius=0.01)"
    # max sum(p) over the l-inf ball is n r (oracle: HiGHS on the lp_form)
    res = linprog(-np.ones(n), A_ub=A.numpy(), b_ub=b.numpy(), bounds=(None, None), method="highs")
    assert res.status == 0 and -res.fun == pytest.approx(n * 0.01, rel=1e-9)
    l1 = L1Ball(center, 0.01)
    A, b, a = l1.lp_form()
    assert (A.shape, a) == ((2 * n + 1, 2 * n), n)
    c = np.zeros(2 * n)
    c[:n] = -np.linspace(1.0, 2.0, n)  # max of a linear form over the L1 ball: r * max |w|
    res = linprog(c, A_ub=A.numpy(), b_ub=b.numpy(), bounds=(None, None), method="highs")
    assert res.status == 0 and -res.fun == pytest.approx(0.02, rel=1e-7)
    with pytest.raises(DomainError, match="lp_form"):
        l1.halfspaces()
    assert l1.facet_count == 2**n
    assert l1.chebyshev_center()[1] == pytest.approx(0.01 / math.sqrt(n))
    assert l1.vertices().shape == (2 * n, n)
    assert bool(l1.contains(l1.sample(100, generator=gen(0))).all())
    assert l1.volume() == 0.0  # underflows, as it should: (0.02)^784 / 784!
    assert L1Ball(torch.zeros(12), 1.0).halfspaces()[0].shape == (4096, 12)
    with pytest.raises(DomainError, match="2\\^21 vertices"):
        LinfBall(torch.zeros(21), 1.0).vertices()
    assert linf.volume() == pytest.approx(0.02**n) and linf.facet_count == 2 * n


# ----------------------------------------------------------------------------- errors


ERROR_CASES = [
    (lambda: Box([0.0, 1.0], [1.0, 1.0]), DomainError, "lower >= upper"),
    (lambda: Box([0.0, 2.0], [1.0, 1.0]), DomainError, "first at index 1"),
    (lambda: Box([0.0, float("nan")], [1.0, 1.0]), DomainError, "NaN or inf"),
    (lambda: Box([0.0, 0.0], [1.0, float("inf")]), DomainError, "NaN or inf"),
    (lambda: Box([0.0, 0.0], [1.0, 1.0, 1.0]), ShapeError, "incompatible shapes"),
    (lambda: Box(0.0, 1.0), ShapeError, "two scalars"),
    (lambda: Box([0.0], [1.0, 2.0, 3.0], directions=[[1.0, 0.0]]), ShapeError, "one per direction"),
    (lambda: Box("a", [1.0]), InvalidParameterError, "'lower'"),
    (lambda: Box([0.0, 0.0], [1.0, 1.0], origin=[0.0, 0.0, 0.0]), ShapeError, "'origin' has 3"),
    (lambda: LinfBall([0.0, 0.0], 0.0), DomainError, "positive"),
    (lambda: LinfBall([0.0, 0.0], -1.0), DomainError, "positive"),
    (lambda: LinfBall([0.0, 0.0], float("nan")), DomainError, "NaN"),
    (lambda: LinfBall([0.0, 0.0], [1.0, 2.0]), ShapeError, "single positive number"),
    (lambda: LinfBall([0.0, 0.0], True), InvalidParameterError, "bool"),
    (lambda: LinfBall(None, 1.0), InvalidParameterError, "'center' is required"),
    (lambda: L1Ball([0.0, 0.0, 0.0], 1.0, directions=[[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]), DomainError, "linearly dependent"),
    (lambda: L1Ball([0.0, 0.0], 1.0, directions=[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), DomainError, "at most 2"),
    (lambda: L1Ball([0.0, 0.0], 1.0, directions=[[0.0, 0.0]]), DomainError, "linearly dependent"),
    (lambda: L1Ball([0.0, 0.0], 1.0, directions=[[1.0, 0.0, 0.0]]), ShapeError, "each direction has 3"),
    (lambda: Polytope([[1.0, 0.0], [0.0, 1.0]], [1.0, 1.0]), DomainError, "unbounded"),
    (lambda: Polytope([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], [-1.0, 0.0, 1.0, 1.0]), DomainError, "empty"),
    (lambda: Polytope([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], [0.0, 0.0, 1.0, 1.0]), DomainError, "no interior"),
    (lambda: Polytope([[0.0, 0.0]], [-1.0]), DomainError, "empty"),
    (lambda: Polytope([[0.0, 0.0]], [1.0]), DomainError, "unbounded"),
    (lambda: Polytope([[1.0, 0.0]], [1.0, 2.0]), ShapeError, "one offset per row"),
    (lambda: Polytope([1.0, 0.0], [1.0]), ShapeError, "(m, k)"),
    (lambda: Polytope([[1.0, float("nan")]], [1.0]), DomainError, "NaN"),
    (lambda: Polytope([[1.0], [-1.0]], [1.0, 1.0], directions=[[1.0, 0.0], [0.0, 1.0]]), ShapeError, "one column per direction"),
    (lambda: Simplex([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), DomainError, "affinely dependent"),
    (lambda: Simplex([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), DomainError, "affinely dependent"),
    (lambda: Simplex([[0.0, 0.0]]), ShapeError, "k + 1 >= 2"),
    (lambda: ConvexHull([[1.0, 1.0], [1.0, 1.0]]), DomainError, "coincide"),
    (lambda: ConvexHull(torch.randn(20, 12, generator=gen(0), dtype=DT)), DomainError, "not affinely independent"),
    (lambda: ConvexHull([1.0, 2.0]), ShapeError, "(M >= 2, n)"),
    (lambda: Domain(), InvalidParameterError, "base class"),
    (lambda: window([0.0, 0.0], [[1.0, 0.0]], 1.0, norm="l2"), InvalidParameterError, "'linf' or 'l1'"),
    (lambda: random_directions(3, 4), InvalidParameterError, "k <= input_dim"),
    (lambda: random_directions(3, 0), InvalidParameterError, "at least 1"),
    (lambda: random_directions(3.5, 1), InvalidParameterError, "integer"),
    (lambda: random_directions(3, 1, dtype=torch.int64), InvalidParameterError, "dtype"),
    (lambda: random_directions(3, 1, generator=3), InvalidParameterError, "generator"),
    (lambda: Box([0.0], [1.0]).contains([[0.0, 1.0]]), ShapeError, "(M, 1)"),
    (lambda: Box([0.0], [1.0]).contains([[0.5]], tol=-1.0), InvalidParameterError, "tol"),
    (lambda: Box([0.0, 0.0], [1.0, 1.0]).to_domain(torch.zeros(3, 3)), ShapeError, "input points"),
    (lambda: Box([0.0, 0.0], [1.0, 1.0]).to_input(torch.zeros(3)), ShapeError, "domain coordinates"),
    (lambda: Box([0.0], [1.0]).sample(-1), InvalidParameterError, "at least 0"),
    (lambda: Box([0.0], [1.0]).sample(2.5), InvalidParameterError, "integer"),
    (lambda: Box([0.0], [1.0]).sample(2, generator="seed"), InvalidParameterError, "generator"),
    (lambda: Polytope(*Box(torch.zeros(11), torch.ones(11)).halfspaces()).vertices(), DomainError, "k <= 10"),
    (lambda: Polytope(*Box(torch.zeros(11), torch.ones(11)).halfspaces()).volume(), DomainError, "k <= 10"),
]


@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
def test_every_error_path_raises_a_typed_error(case):
    make, exc_type, fragment = ERROR_CASES[case]
    with pytest.raises(exc_type) as info:
        make()
    assert fragment in str(info.value), str(info.value)


def test_rejection_sampling_of_a_thin_polytope_gives_up_with_a_domain_error(monkeypatch):
    monkeypatch.setattr(domains_module, "_REJECTION_BUDGET", 200_000)  # keep the test fast
    k = 11
    # the corner simplex {p >= 0, sum(p) <= 1} fills 1/11! of its bounding box [0, 1]^11
    A = torch.cat([-torch.eye(k, dtype=DT), torch.ones(1, k, dtype=DT)])
    b = torch.cat([torch.zeros(k, dtype=DT), torch.ones(1, dtype=DT)])
    thin = Polytope(A, b)
    lo, hi = thin.bounding_box()
    assert torch.allclose(lo, torch.zeros(k, dtype=DT), atol=1e-9)
    assert torch.allclose(hi, torch.ones(k, dtype=DT), atol=1e-9)
    with pytest.raises(DomainError, match="accepted"):
        thin.sample(10, generator=gen(0))


# ----------------------------------------------------------------------------- value objects


@pytest.mark.parametrize("idx", range(7))
def test_pickle_round_trip_and_immutability(idx):
    dom = example_domains()[idx]
    dom.chebyshev_center()  # fill the cache
    back = pickle.loads(pickle.dumps(dom))
    assert type(back) is type(dom) and repr(back) == repr(dom)
    assert torch.equal(back.origin, dom.origin) and torch.equal(back.basis, dom.basis)
    assert back.input_shape == dom.input_shape and back.dim == dom.dim
    for name in ("halfspaces", "bounding_box", "chebyshev_center"):
        for x, y in zip(getattr(back, name)(), getattr(dom, name)(), strict=True):
            assert torch.equal(torch.as_tensor(x), torch.as_tensor(y)), name
    # recomputed (not cached) geometry may differ in the last bit (BLAS paths depend on alignment)
    assert torch.allclose(back.vertices(), dom.vertices(), rtol=0, atol=1e-12)
    assert back.volume() == pytest.approx(dom.volume(), rel=1e-12)
    assert back != dom  # compared by identity (eq=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dom.origin = torch.zeros(3)
    # returned tensors are copies: editing them leaves the domain unchanged
    A, _ = dom.halfspaces()
    A += 1.0
    assert torch.equal(dom.halfspaces()[0], back.halfspaces()[0])


def test_inputs_are_copied_not_aliased():
    lo = torch.zeros(2, dtype=DT)
    box = Box(lo, torch.ones(2, dtype=DT))
    lo += 5.0
    assert torch.equal(box.lower, torch.zeros(2, dtype=DT))


def test_random_directions():
    D = random_directions(50, 6, generator=gen(2))
    assert D.shape == (6, 50) and D.dtype == DT
    assert torch.allclose(D @ D.T, torch.eye(6, dtype=DT), atol=1e-12)
    assert torch.equal(D, random_directions(50, 6, generator=gen(2)))
    assert not torch.equal(D, random_directions(50, 6, generator=gen(3)))
    D32 = random_directions(50, 6, generator=gen(2), dtype=torch.float32)
    assert D32.dtype == torch.float32 and torch.allclose(D32.double(), D, atol=1e-6)
    # used as window directions they are already orthonormal: the basis is the same
    win = LinfBall(torch.zeros(50), 1.0, directions=D)
    assert torch.allclose(win.basis, D, atol=1e-12)
    # the mean of many draws of one direction is near zero (no sign bias)
    first = torch.stack([random_directions(3, 1, generator=gen(s))[0] for s in range(400)])
    assert float(first.mean(0).abs().max()) < 0.1


def test_polytope_in_higher_dimension_merges_scaled_duplicates():
    k = 40
    g = gen(11)
    A, b = LinfBall(torch.zeros(k), 0.5).halfspaces()
    perm = torch.randperm(2 * k, generator=g)
    scale = 0.5 + torch.rand(2 * k, 1, generator=g, dtype=DT)
    # every facet twice (rescaled, shuffled), one copy loosened: the tight offsets survive
    A2 = torch.cat([A, scale * A[perm]])
    b2 = torch.cat([b, scale[:, 0] * (b[perm] + 0.25)])
    poly = Polytope(A2, b2)
    A_p, b_p = poly.halfspaces()
    assert A_p.shape == (2 * k, k)
    assert torch.allclose(b_p, torch.full((2 * k,), 0.5, dtype=DT))
    assert poly.chebyshev_center()[1] == pytest.approx(0.5, rel=1e-9)
    assert torch.allclose(poly.bounding_box()[1], torch.full((k,), 0.5, dtype=DT), atol=1e-9)
    P = torch.rand(100, k, generator=g, dtype=DT) - 0.5
    P[:50] *= 1.2
    expected = (P.abs() <= 0.5).all(1)
    assert torch.equal(poly.contains(P, tol=0.0), expected)


def test_one_dimensional_polytope():
    seg = Polytope([[1.0], [-1.0], [2.0]], [2.0, 1.0, 10.0])
    assert torch.equal(seg.vertices(), torch.tensor([[-1.0], [2.0]], dtype=DT))
    assert seg.volume() == pytest.approx(3.0) and seg.facet_count == 2
    c, r = seg.chebyshev_center()
    assert r == pytest.approx(1.5) and float(c[0]) == pytest.approx(0.5)
    s = seg.sample(1000, generator=gen(0))
    assert float(s.min()) >= -1.0 and float(s.max()) <= 2.0 and float(s.mean()) == pytest.approx(0.5, abs=0.1)
