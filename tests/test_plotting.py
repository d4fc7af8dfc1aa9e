"""Figures of plane, segment and path partitions (matplotlib's Agg backend)."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import torch

import regionlab
from regionlab.errors import InvalidParameterError, MissingDependencyError
from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
from regionlab.plotting import plot_plane_partition, plot_segment_partition, region_colors

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402


def _net(out=2, width=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return CPWLNetwork.sequential((2,), [Dense(r(width, 2), r(width)), PiecewiseLinear.relu(),
                                         Dense(r(width, width), r(width)), PiecewiseLinear.relu(),
                                         Dense(r(out, width), r(out))])


@pytest.fixture(scope="module")
def part():
    return regionlab.partition_plane(_net(), [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-2, 2, -1, 1))


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


@pytest.mark.parametrize("color_by", ["region", "linear_piece", "output"])
def test_plane_plot_writes_png(part, tmp_path, color_by):
    ax = plot_plane_partition(part, color_by=color_by, anchors=[[0.0, 0.0], [1.0, 0.5]])
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(polys) == 1 and len(polys[0].get_paths()) == part.num_regions
    ax.figure.savefig(tmp_path / f"{color_by}.png", dpi=80)
    assert _png(tmp_path / f"{color_by}.png")


def test_plane_plot_style(part):
    assert part.decision_boundary.shape[0] > 0
    ax = plot_plane_partition(part)
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    red = [c for c in lines if np.allclose(c.get_colors()[0][:3], [1, 0, 0])]
    assert len(red) == 1 and len(red[0].get_segments()) == part.decision_boundary.shape[0]
    assert red[0].get_linewidths()[0] >= 2
    poly = next(c for c in ax.collections if isinstance(c, PolyCollection))
    assert np.allclose(poly.get_edgecolors()[0][:3], 0.0)  # black edges
    assert str(part.num_regions) in ax.get_title()
    # neighbouring regions never share a colour
    faces = poly.get_facecolors()
    adj = part.adjacency.numpy()
    assert not np.all(faces[adj[:, 0]] == faces[adj[:, 1]], axis=1).any()
    # no boundary, no title, into given axes
    fig, ax2 = plt.subplots()
    out = plot_plane_partition(part, ax=ax2, boundary=False, title="", edgecolor=None)
    assert out is ax2 and ax2.get_title() == ""
    assert not any(isinstance(c, LineCollection) and np.allclose(c.get_colors()[0][:3], [1, 0, 0])
                   for c in ax2.collections)


def test_plane_plot_method_delegates(part, tmp_path):
    ax = part.plot(color_by="linear_piece", title="t")
    assert ax.get_title() == "t"
    ax.figure.savefig(tmp_path / "m.png")
    assert _png(tmp_path / "m.png")


def test_linear_pieces_merge_colours():
    # only the first unit reaches the output: 2 regions, 1 linear piece -> one colour
    W = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.relu(), Dense(torch.zeros(1, 1, dtype=torch.float64))])
    p = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    assert (p.num_regions, p.num_linear_pieces) == (2, 1)
    faces = next(c for c in plot_plane_partition(p, color_by="linear_piece").collections
                 if isinstance(c, PolyCollection)).get_facecolors()
    assert np.allclose(faces[0], faces[1])
    faces = next(c for c in plot_plane_partition(p).collections if isinstance(c, PolyCollection)).get_facecolors()
    assert not np.allclose(faces[0], faces[1])


def test_scalar_output_and_output_index(tmp_path):
    p = regionlab.partition_plane(_net(out=1), [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    ax = plot_plane_partition(p, color_by="output", cmap="viridis")
    ax.figure.savefig(tmp_path / "o.png", dpi=60)
    p3 = regionlab.partition_plane(_net(out=3), [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    plot_plane_partition(p3, color_by="output")
    plot_plane_partition(p3, color_by="output", output_index=2)
    with pytest.raises(InvalidParameterError, match="output_index"):
        plot_plane_partition(p3, color_by="output", output_index=5)


def test_plane_plot_rejects_bad_arguments(part):
    with pytest.raises(InvalidParameterError, match="color_by"):
        plot_plane_partition(part, color_by="pattern")
    with pytest.raises(InvalidParameterError, match="anchors"):
        plot_plane_partition(part, anchors=[1.0, 2.0, 3.0])
    with pytest.raises(InvalidParameterError, match="cmap"):
        plot_plane_partition(part, cmap="no_such_colormap_xyz")


def _grid_partition(k: int):
    """A synthetic PlanePartition: the k x k grid of squares of [0, 1]^2 (no engine call)."""
    from regionlab.regions.plane_result import PlanePartition

    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    i, j = i.ravel(), j.ravel()
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    verts = ((np.stack([i, j], 1)[:, None, :] + corners[None]) / k).reshape(-1, 2)
    R = k * k
    idx = np.arange(R).reshape(k, k)
    adj = np.concatenate([np.stack([idx[:-1].ravel(), idx[1:].ravel()], 1),
                          np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1)])
    t = torch.as_tensor
    return PlanePartition(
        vertices=t(verts), offsets=t(np.arange(R + 1) * 4), patterns=torch.zeros(R, 1, dtype=torch.int16),
        affine_A=t(np.random.default_rng(0).normal(size=(R, 1, 2))), affine_c=torch.zeros(R, 1, dtype=torch.float64),
        areas=torch.full((R,), 1.0 / R, dtype=torch.float64),
        witnesses=t((np.stack([i, j], 1) + 0.5) / k), adjacency=t(adj), adjacency_length=torch.full((len(adj),), 1 / k,
                                                                                                 dtype=torch.float64),
        decision_boundary=torch.tensor([[[0.0, 0.5], [1.0, 0.5]]], dtype=torch.float64),
        origin=torch.zeros(2, dtype=torch.float64), u=torch.tensor([1.0, 0.0], dtype=torch.float64),
        v=torch.tensor([0.0, 1.0], dtype=torch.float64), domain=torch.tensor([[0.0, 0], [1, 0], [1, 1], [0, 1]],
                                                                               dtype=torch.float64),
        input_shape=(2,),
    )


@pytest.mark.slow
def test_hundred_thousand_regions_draw_quickly(tmp_path):
    p = _grid_partition(317)  # 100 489 regions
    t0 = time.perf_counter()
    ax = plot_plane_partition(p)
    ax.figure.savefig(tmp_path / "big.png", dpi=60)
    elapsed = time.perf_counter() - t0
    assert _png(tmp_path / "big.png")
    poly = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(poly) == 1 and len(poly[0].get_paths()) == 100_489
    assert elapsed < 30, elapsed  # about 2-3 s on 2 cores


def test_region_colors():
    rng = np.random.default_rng(1)
    p = _grid_partition(30)
    c = region_colors(p.num_regions, p.adjacency.numpy(), num_colors=8, seed=4)
    e = p.adjacency.numpy()
    assert c.min() >= 0 and c.max() < 8 and not (c[e[:, 0]] == c[e[:, 1]]).any()
    assert np.array_equal(c, region_colors(p.num_regions, p.adjacency.numpy(), num_colors=8, seed=4))
    assert region_colors(5).shape == (5,)
    edges = rng.integers(0, 50, size=(200, 2))
    c = region_colors(50, edges, num_colors=29)
    e = edges[edges[:, 0] != edges[:, 1]]
    assert not (c[e[:, 0]] == c[e[:, 1]]).any()
    with pytest.raises(InvalidParameterError):
        region_colors(3, num_colors=0)


def test_segment_and_path_plots(tmp_path):
    net = _net(out=2)
    seg = regionlab.partition_segment(net, [-2.0, -1.0], [2.0, 1.0])
    ax = plot_segment_partition(seg)
    assert len(ax.get_lines()) == 2  # both outputs
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1 and len(bands[0].get_paths()) == seg.num_regions
    # the drawn polyline is the network output at the knots
    x, y = ax.get_lines()[0].get_data()
    want = net(seg.point(torch.as_tensor(x)))[:, 0]
    assert np.allclose(y, want.numpy(), atol=1e-9)
    ax.figure.savefig(tmp_path / "seg.png", dpi=60)
    assert _png(tmp_path / "seg.png")

    ax = plot_segment_partition(seg, output_index=1, breakpoints=False, shade=False, title="s")
    assert len(ax.get_lines()) == 1 and ax.get_title() == "s"
    with pytest.raises(InvalidParameterError, match="output_index"):
        plot_segment_partition(seg, output_index=3)

    path = regionlab.partition_path(net, [[-2.0, -1.0], [2.0, -1.0], [2.0, 1.0]])
    ax = plot_segment_partition(path)
    x, y = ax.get_lines()[0].get_data()
    assert x[0] == 0.0 and x[-1] == 2.0
    ax.figure.savefig(tmp_path / "path.png", dpi=60)
    assert _png(tmp_path / "path.png")

    nomaps = regionlab.partition_segment(net, [-2.0, -1.0], [2.0, 1.0], return_maps=False)
    ax = plot_segment_partition(nomaps)
    assert len(ax.get_lines()) == 0

    batch = regionlab.partition_segment(net, torch.zeros(2, 2), torch.ones(2, 2))
    with pytest.raises(InvalidParameterError, match="batch"):
        plot_segment_partition(batch)


def test_missing_matplotlib_raises_with_install_line(part, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(MissingDependencyError, match=r"pip install regionlab\[plot\]") as info:
        plot_plane_partition(part)
    assert isinstance(info.value, ImportError)
    assert "plot_plane_partition" in str(info.value)
