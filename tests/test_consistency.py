"""Cross-engine consistency: segments inside a plane against the 2-D partition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import regionlab
from regionlab.ir import CPWLNetwork, Dense, MaxOp, PiecewiseLinear

DT = torch.float64


def clip_interval(poly: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """Parameter interval of the segment p + t (q - p), t in [0, 1], inside a CCW convex polygon."""
    lo, hi = 0.0, 1.0
    d = q - p
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        e = b - a
        n = np.array([e[1], -e[0]])  # outward normal
        num = n @ (a - p)  # inside: n.(x - a) <= 0  ->  n.d t <= n.(a - p)
        den = n @ d
        if abs(den) < 1e-15:
            if num < 0:
                return 1.0, 0.0
            continue
        tt = num / den
        if den > 0:
            hi = min(hi, tt)
        else:
            lo = max(lo, tt)
    return lo, hi


def nets():
    gen = torch.Generator().manual_seed(11)
    relu = CPWLNetwork.sequential((2,), [
        Dense(torch.randn(12, 2, generator=gen, dtype=DT), torch.randn(12, generator=gen, dtype=DT) * 0.5),
        PiecewiseLinear.relu(),
        Dense(torch.randn(10, 12, generator=gen, dtype=DT), torch.randn(10, generator=gen, dtype=DT) * 0.5),
        PiecewiseLinear.hardtanh(-0.5, 0.5),
        Dense(torch.randn(1, 10, generator=gen, dtype=DT)),
    ])
    maxout = CPWLNetwork.sequential((2,), [
        Dense(torch.randn(12, 2, generator=gen, dtype=DT), torch.randn(12, generator=gen, dtype=DT) * 0.5),
        MaxOp(torch.arange(12).reshape(4, 3), (4,)),
        Dense(torch.randn(6, 4, generator=gen, dtype=DT), torch.randn(6, generator=gen, dtype=DT) * 0.5),
        PiecewiseLinear.abs(),
        Dense(torch.randn(2, 6, generator=gen, dtype=DT)),
    ])
    return {"relu_hardtanh": relu, "maxout_abs": maxout}


@pytest.mark.parametrize("name", ["relu_hardtanh", "maxout_abs"])
def test_segment_count_equals_plane_partition_restricted(name):
    net = nets()[name]
    part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    rng = np.random.default_rng(0)
    polys = [p.numpy() for p in part.polygons()]
    for _ in range(8):
        p, q = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 2)
        seg = regionlab.partition_segment(net, torch.tensor(p), torch.tensor(q))
        hits = []
        for i, P in enumerate(polys):
            lo, hi = clip_interval(P, p, q)
            if hi - lo > 1e-12:
                hits.append((lo, hi, i))
        hits.sort()
        assert seg.num_regions == len(hits)
        # the interior breakpoints are the ends of the pieces, in order
        ends = np.array([h[1] for h in hits[:-1]])
        assert np.allclose(np.asarray(seg.breakpoints, dtype=float), ends, atol=1e-9)
        # and the patterns of consecutive pieces are those of the polygons crossed
        want = part.patterns[[h[2] for h in hits]]
        assert torch.equal(seg.patterns, want)


def test_segments_through_vertices_and_along_the_boundary():
    net = nets()["relu_hardtanh"]
    part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    polys = [p.numpy() for p in part.polygons()]
    v = part.vertices[len(part.vertices) // 2].numpy()
    cases = [
        (np.array([-1.0, v[1]]), np.array([1.0, v[1]])),  # through a vertex
        (v, np.array([0.9, -0.7])),  # starting at a vertex
        (np.array([-1.0, -1.0]), np.array([1.0, -1.0])),  # along the domain boundary
        (np.array([-1.0, 1.0]), np.array([1.0, -1.0])),  # the diagonal, corner to corner
    ]
    for p, q in cases:
        seg = regionlab.partition_segment(net, torch.tensor(p), torch.tensor(q))
        hits = sorted((lo, hi, i) for i, P in enumerate(polys) for lo, hi in [clip_interval(P, p, q)] if hi - lo > 1e-12)
        assert seg.num_regions == len(hits)
        assert torch.equal(seg.patterns, part.patterns[[h[2] for h in hits]])
