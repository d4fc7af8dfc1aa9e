"""Slow, independent reference implementations used as test oracles.

Nothing here calls the engines under test. The 2-D oracle enumerates activation
patterns depth-first, unit by unit, and keeps a branch only when a linear programme
(Chebyshev ball) proves that the set of points of the domain with that partial
pattern has positive area. Units whose affine form is identically constant on the
current branch take a single state (the third state when the constant is a breakpoint),
matching the library's convention.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog

RADIUS_EPS = 1e-9


def chebyshev_radius(A: np.ndarray, b: np.ndarray) -> float:
    """Largest r with a ball of radius r inside {x : A x <= b} (2-D or n-D); -1 if empty."""
    A = np.asarray(A, float)
    b = np.asarray(b, float)
    norms = np.linalg.norm(A, axis=1)
    zero = norms < 1e-14
    if np.any(b[zero] < -1e-12):
        return -1.0
    A, b, norms = A[~zero], b[~zero], norms[~zero]
    n = A.shape[1] if A.ndim == 2 and A.shape[0] else 2
    if A.shape[0] == 0:
        return np.inf
    c = np.zeros(n + 1)
    c[-1] = -1.0
    A_ub = np.hstack([A, norms[:, None]])
    res = linprog(c, A_ub=A_ub, b_ub=b, bounds=[(None, None)] * n + [(0, 10.0)], method="highs")
    if res.status != 0:
        return -1.0
    return float(res.x[-1])


def _box_constraints(domain):
    """H-representation of a convex polygon given by CCW vertices (m, 2)."""
    P = np.asarray(domain, float)
    A, b = [], []
    for i in range(len(P)):
        p, q = P[i], P[(i + 1) % len(P)]
        e = q - p
        n = np.array([e[1], -e[0]])  # outward normal for CCW order
        A.append(n)
        b.append(n @ p)
    return np.array(A), np.array(b)


class Layer:
    """A layer for the oracle: ``kind`` in {'affine', 'pwl', 'max'} with numpy data."""

    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


def oracle_patterns_2d(layers, origin, u, v, domain):
    """All activation patterns (tuples) of regions meeting ``domain`` with positive area.

    ``layers``: list of Layer: ``affine`` (W (out, in), b (out,)), ``pwl`` (bp (U or 1, K),
    slopes, intercepts (U or 1, K+1)), ``max`` (index (U, k) with -1 padding). Inputs are
    flat vectors; the plane is x(p) = origin + p0 u + p1 v; ``domain`` holds the CCW
    vertices of a convex polygon in plane coordinates.
    """
    A0, b0 = _box_constraints(domain)
    return oracle_patterns_nd(layers, origin, np.stack([np.asarray(u, float), np.asarray(v, float)]), A0, b0)


def oracle_patterns_nd(layers, origin, basis, A0, b0):
    """All activation patterns (tuples) of regions meeting a k-D polytope with positive volume.

    The domain is ``{p : A0 p <= b0}`` in k coordinates, mapped to inputs by
    ``x(p) = origin + p @ basis`` (``basis`` of shape (k, n)); ``layers`` as for
    :func:`oracle_patterns_2d`. A branch is kept when a Chebyshev-ball LP proves that its
    partial pattern holds on a set of positive volume.
    """
    A0 = np.asarray(A0, float)
    b0 = np.asarray(b0, float)
    # forms: value = C @ [1, p_1, ..., p_k]  -> C has shape (n, 1 + k)
    C = np.concatenate([np.asarray(origin, float).reshape(-1, 1), np.asarray(basis, float).reshape(A0.shape[1], -1).T], 1)
    results = []

    def rec(li, C, A, b, pattern):
        if li == len(layers):
            results.append(tuple(pattern))
            return
        L = layers[li]
        if L.kind == "affine":
            C2 = L.W @ C
            C2[:, 0] += L.b
            rec(li + 1, C2, A, b, pattern)
            return
        U = C.shape[0]
        if L.kind == "pwl":
            bp = np.broadcast_to(L.bp, (U, L.bp.shape[1]))
            sl = np.broadcast_to(L.slopes, (U, L.slopes.shape[1]))
            ic = np.broadcast_to(L.intercepts, (U, L.intercepts.shape[1]))
            K = bp.shape[1]

            def unit(k, A, b, choices):
                if k == U:
                    out = np.zeros_like(C)
                    codes = []
                    for uu, (piece, code) in enumerate(choices):
                        out[uu] = sl[uu, piece] * C[uu]
                        out[uu, 0] += ic[uu, piece]
                        codes.append(code)
                    rec(li + 1, out, A, b, pattern + codes)
                    return
                g, h = C[k, 1:], C[k, 0]
                if np.linalg.norm(g) < 1e-12:
                    # constant on the branch: one state
                    hits = [j for j in range(K) if abs(h - bp[k, j]) < 1e-12]
                    if hits:
                        j = hits[0]
                        unit(k + 1, A, b, choices + [(j, -(j + 1))])
                    else:
                        piece = int(np.sum(bp[k] < h))
                        unit(k + 1, A, b, choices + [(piece, piece)])
                    return
                for piece in range(K + 1):
                    rows, rhs = [], []
                    if piece > 0:  # z >= t_piece  ->  -g p <= h - t
                        rows.append(-g)
                        rhs.append(h - bp[k, piece - 1])
                    if piece < K:  # z <= t_{piece+1}
                        rows.append(g)
                        rhs.append(bp[k, piece] - h)
                    A2 = np.vstack([A, rows])
                    b2 = np.concatenate([b, rhs])
                    if chebyshev_radius(A2, b2) > RADIUS_EPS:
                        unit(k + 1, A2, b2, choices + [(piece, piece)])

            unit(0, A, b, [])
            return
        if L.kind == "max":
            idx = L.index
            Uo, k = idx.shape

            def unit(m, A, b, out_rows, codes):
                if m == Uo:
                    rec(li + 1, np.array(out_rows), A, b, pattern + codes)
                    return
                members = [j for j in range(k) if idx[m, j] >= 0]
                # identical arguments: keep the smallest index only
                for a in members:
                    ca = C[idx[m, a]]
                    dup = any(np.allclose(C[idx[m, bb]], ca, atol=1e-12, rtol=0) for bb in members if bb < a)
                    if dup:
                        continue
                    rows, rhs = [], []
                    for bb in members:
                        if bb == a:
                            continue
                        d = C[idx[m, bb]] - ca  # z_b - z_a <= 0
                        if np.allclose(d, 0, atol=1e-12):
                            continue
                        rows.append(d[1:])
                        rhs.append(-d[0])
                    A2 = np.vstack([A, rows]) if rows else A
                    b2 = np.concatenate([b, rhs]) if rows else b
                    if chebyshev_radius(A2, b2) > RADIUS_EPS:
                        unit(m + 1, A2, b2, out_rows + [ca], codes + [a])

            unit(0, A, b, [], [])
            return
        raise ValueError(L.kind)

    rec(0, C, A0, b0, [])
    return results


def layers_from_network(net):
    """Oracle layers from a sequential CPWLNetwork made of Dense / PiecewiseLinear / MaxOp."""
    from regionlab.ir import Dense, MaxOp, PiecewiseLinear

    out = []
    for node in net.nodes[1:]:
        op = node.op
        if isinstance(op, Dense):
            b = op.bias.numpy() if op.bias is not None else np.zeros(op.weight.shape[0])
            out.append(Layer("affine", W=op.weight.numpy(), b=b))
        elif isinstance(op, PiecewiseLinear):
            out.append(Layer("pwl", bp=op.breakpoints.numpy(), slopes=op.slopes.numpy(), intercepts=op.intercepts.numpy()))
        elif isinstance(op, MaxOp):
            out.append(Layer("max", index=op.index.numpy()))
        else:
            raise TypeError(type(op))
    return out


def zaslavsky(n: int, d: int) -> int:
    """Regions of a generic arrangement of n hyperplanes in R^d."""
    from math import comb

    return sum(comb(n, j) for j in range(d + 1))


def grid_patterns(net_fn, bounds, n=400):
    """Distinct patterns on an n x n grid (a lower bound; for sanity checks only)."""
    xs = np.linspace(bounds[0], bounds[1], n)
    ys = np.linspace(bounds[2], bounds[3], n)
    pts = np.array(list(itertools.product(xs, ys)))
    return {tuple(p) for p in net_fn(pts)}
