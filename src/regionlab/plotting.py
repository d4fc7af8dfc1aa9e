"""Figures of exact partitions (needs the ``plot`` extra: ``pip install regionlab[plot]``).

matplotlib is imported inside each function, never when :mod:`regionlab` or this
module is imported.

* :func:`plot_plane_partition` draws a :class:`~regionlab.regions.plane_result.PlanePartition`
  in the style of SplineCam's figures: every region filled with its own colour
  (neighbours never share one), thin black edges, the decision boundary in bold red,
  and optional anchor points. All regions go into one ``PolyCollection``, so 100 000
  regions draw in seconds.
* :func:`plot_segment_partition` draws the network output along a segment or path
  (:class:`~regionlab.regions.segment_result.SegmentPartition` or
  :class:`~regionlab.regions.segment_result.PathPartition`), with every region as a
  coloured band and the breakpoints marked.
* :func:`plot_polytope_partition` draws a
  :class:`~regionlab.regions.polytope_result.PolytopePartition` of a 2-D domain (filled
  polygons, as for planes) or a 3-D domain (translucent region facets in 3-D axes).
* :func:`plot_region_graph` draws a partition's adjacency (dual) graph in any
  dimension: nodes at the regions' witnesses (or a spring layout), sized by inradius.
* :func:`plot_local_counts` draws the histogram of local region counts
  (:class:`~regionlab.local.LocalCounts`).

Examples
--------
>>> import torch, regionlab
>>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
>>> from regionlab.plotting import plot_plane_partition
>>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
>>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
>>> ax = plot_plane_partition(part)  # doctest: +SKIP
>>> ax.figure.savefig("partition.png")  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from ._optional import require
from .errors import InvalidParameterError

__all__ = [
    "plot_plane_partition",
    "plot_segment_partition",
    "plot_polytope_partition",
    "plot_region_graph",
    "plot_local_counts",
    "region_colors",
]

_COLOR_BY = ("region", "linear_piece", "output")


def _pyplot(caller: str):
    require("matplotlib", extra="plot", caller=caller)
    return require("matplotlib.pyplot", extra="plot", caller=caller)


def _pastel():
    """The default region palette: the 28 distinct soft colours of Pastel1, Set3 and Pastel2."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, to_hex

    cols: list[str] = []
    for name in ("Pastel1", "Set3", "Pastel2"):
        for c in colormaps[name].colors:
            if to_hex(c) not in cols:
                cols.append(to_hex(c))
    return ListedColormap(cols, name="regionlab_pastel")


def _get_cmap(cmap, default: str):
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if cmap is None:
        cmap = default
    if cmap == "regionlab_pastel":
        return _pastel()
    if isinstance(cmap, Colormap):
        return cmap
    try:
        return colormaps[cmap]
    except (KeyError, ValueError, TypeError):
        raise InvalidParameterError(
            f"The 'cmap' parameter must be a matplotlib colormap or its name. Got {cmap!r} instead."
        ) from None


def region_colors(num: int, edges=None, *, num_colors: int = 20, seed: int = 0) -> np.ndarray:
    """Colour indices for ``num`` items such that no two adjacent items share one.

    Each item draws a random index in ``0 .. num_colors - 1``; items in conflict with
    a neighbour are redrawn (vectorised) among the colours their neighbours do not
    use until no edge joins two equal colours. This keeps the random look of
    SplineCam's figures while keeping neighbouring regions distinguishable.

    Parameters
    ----------
    num : int
        Number of items (regions).
    edges : array-like ``(E, 2)``, optional
        Pairs of adjacent items (e.g. ``PlanePartition.adjacency``).
    num_colors : int
        Size of the palette (at least 7 guarantees a conflict-free result on planar
        graphs in practice; fewer may leave conflicts in rare cases).
    seed : int
        Seed of the random draw; the same seed gives the same colours.

    Returns
    -------
    numpy.ndarray ``(num,)`` of int

    Examples
    --------
    >>> import numpy as np
    >>> c = region_colors(4, [[0, 1], [1, 2], [2, 3], [3, 0]], num_colors=3)
    >>> bool(c[0] != c[1] and c[1] != c[2] and c[2] != c[3] and c[3] != c[0])
    True
    >>> region_colors(0).shape
    (0,)
    """
    num = int(num)
    if num_colors < 1:
        raise InvalidParameterError(f"The 'num_colors' parameter must be positive. Got {num_colors!r} instead.")
    rng = np.random.default_rng(seed)
    colors = rng.integers(0, num_colors, size=num)
    if edges is None or num == 0:
        return colors
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    e = e[e[:, 0] != e[:, 1]]
    if e.shape[0] == 0 or num_colors < 2:
        return colors
    for _ in range(100):
        bad = colors[e[:, 0]] == colors[e[:, 1]]
        if not bad.any():
            break
        # recolour one end of every conflicting edge (the larger index)
        nodes = np.unique(np.maximum(e[bad, 0], e[bad, 1]))
        # colours used by each node's neighbours: a (len(nodes), num_colors) mask
        pos = np.full(num, -1, dtype=np.int64)
        pos[nodes] = np.arange(nodes.size)
        used = np.zeros((nodes.size, num_colors), dtype=bool)
        for a, b in ((0, 1), (1, 0)):
            sel = pos[e[:, a]] >= 0
            used[pos[e[sel, a]], colors[e[sel, b]]] = True
        free = ~used
        has_free = free.any(1)
        # random free colour: the argmax of random keys restricted to the free colours
        keys = rng.random((nodes.size, num_colors)) + free
        pick = keys.argmax(1)
        new = np.where(has_free, pick, rng.integers(0, num_colors, size=nodes.size))
        # two movers that are neighbours may pick the same colour; the next round fixes it
        colors[nodes] = new
    return colors


def _edge_pairs(part) -> np.ndarray:
    adj = getattr(part, "adjacency", None)
    if adj is None:
        return np.zeros((0, 2), dtype=np.int64)
    return np.asarray(adj.detach().cpu().numpy() if hasattr(adj, "detach") else adj, dtype=np.int64).reshape(-1, 2)


def _output_values(part, output_index):
    A = part.affine_A.detach().cpu().numpy()  # (R, C, 2)
    c = part.affine_c.detach().cpu().numpy()  # (R, C)
    w = part.witnesses.detach().cpu().numpy()  # (R, 2)
    out = np.einsum("rcj,rj->rc", A, w) + c
    C = out.shape[1]
    if output_index is not None:
        if not -C <= int(output_index) < C:
            raise InvalidParameterError(
                f"The 'output_index' parameter must be in [0, {C}). Got {output_index!r} instead."
            )
        return out[:, int(output_index)], f"output {int(output_index)}"
    if C == 1:
        return out[:, 0], "output"
    if C == 2:
        return out[:, 1] - out[:, 0], "logit 1 - logit 0"
    return out.max(1), "max logit"


def plot_plane_partition(
    part,
    ax=None,
    *,
    color_by: str = "region",
    boundary: bool = True,
    edgecolor="k",
    linewidth: float | None = None,
    anchors=None,
    cmap=None,
    title: str | None = None,
    alpha: float = 1.0,
    boundary_color="red",
    boundary_width: float = 2.0,
    output_index: int | None = None,
    seed: int = 0,
):
    """Draw the regions of a 2-D partition, their edges and the decision boundary.

    Parameters
    ----------
    part : PlanePartition
        The result of :func:`regionlab.partition_plane`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure (7 inches wide, shaped like the domain) is made when omitted.
    color_by : {"region", "linear_piece", "output"}
        ``"region"``: every activation region gets a random colour of ``cmap``,
        neighbouring regions never share one (see :func:`region_colors`).
        ``"linear_piece"``: the same, per linear piece (regions with equal affine maps
        merged, :meth:`PlanePartition.linear_piece_labels`).
        ``"output"``: the network output at each region's witness on a continuous
        colour scale: the output for one output, ``logit 1 - logit 0`` for two, the
        top logit for more (``output_index`` picks one output instead).
    boundary : bool
        Draw the decision boundary (``part.decision_boundary``) in bold red.
    edgecolor : colour or None
        Colour of the region edges (thin black by default); ``None`` or ``"none"``
        draws no edges.
    linewidth : float, optional
        Width of the region edges in points; by default from 0.6 for a few regions
        down to 0.1 for tens of thousands.
    anchors : array-like ``(m, 2)``, optional
        Plane coordinates of points to mark (e.g. the data points the plane was built
        through, ``Plane.anchors``).
    cmap : str or matplotlib Colormap, optional
        By default a palette of 28 soft colours (matplotlib's Pastel1, Set3 and
        Pastel2) for regions and pieces, ``"coolwarm"`` for the output.
    title : str, optional
        Axes title; by default the region and linear-piece counts; ``""`` for none.
    alpha : float
        Opacity of the region fill.
    boundary_color, boundary_width
        Style of the decision boundary.
    output_index : int, optional
        Output to colour by with ``color_by="output"``.
    seed : int
        Seed of the random colours.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        For an unknown ``color_by``, a bad ``cmap`` or bad ``anchors``.
    MissingDependencyError
        If matplotlib is not installed.

    Notes
    -----
    The regions go into a single ``PolyCollection`` (rasterised above 5 000 regions
    when saved to a vector format), the decision boundary into a single
    ``LineCollection``, so drawing is linear in the number of vertices.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.plotting import plot_plane_partition
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((2,), [Dense(torch.randn(6, 2, dtype=torch.float64),
    ...     torch.randn(6, dtype=torch.float64)), PiecewiseLinear.relu(), Dense(torch.randn(2, 6, dtype=torch.float64))])
    >>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-2, 2, -2, 2))
    >>> ax = plot_plane_partition(part, anchors=[[0.0, 0.0]])  # doctest: +SKIP
    >>> ax.figure.savefig("plane.png", dpi=150)  # doctest: +SKIP
    """
    if color_by not in _COLOR_BY:
        raise InvalidParameterError(
            f"The 'color_by' parameter of plot_plane_partition must be one of {_COLOR_BY}. Got {color_by!r} instead."
        )
    plt = _pyplot("regionlab.plotting.plot_plane_partition")
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.colors import Normalize, TwoSlopeNorm

    dom = part.domain.detach().cpu().numpy()
    if ax is None:
        w, h = np.ptp(dom, axis=0)
        _, ax = plt.subplots(figsize=(7.0, float(np.clip(7.0 * h / max(w, 1e-300), 2.5, 9.0)) + 0.6))
    R = int(part.num_regions)
    verts = part.vertices.detach().cpu().numpy()
    offsets = part.offsets.detach().cpu().numpy()
    polys = np.split(verts, offsets[1:-1]) if R else []

    if linewidth is None:
        linewidth = 0.6 if R < 300 else 0.4 if R < 3000 else 0.2 if R < 30000 else 0.1
    if edgecolor is None:
        edgecolor = "none"
    coll = PolyCollection(polys, closed=True, edgecolors=edgecolor, linewidths=linewidth, alpha=alpha,
                          zorder=1)
    if R > 5000:
        coll.set_rasterized(True)
    label = None
    if color_by == "output":
        cm = _get_cmap(cmap, "coolwarm")
        vals, label = _output_values(part, output_index) if R else (np.zeros(0), "output")
        if R:
            lo, hi = float(vals.min()), float(vals.max())
            if lo < 0 < hi:
                norm = TwoSlopeNorm(0.0, lo, hi)
            else:
                norm = Normalize(lo, hi if hi > lo else lo + 1.0)
            coll.set_array(vals)
            coll.set_cmap(cm)
            coll.set_norm(norm)
    else:
        cm = _get_cmap(cmap, "regionlab_pastel")
        qualitative = cm.N <= 64
        ncol = cm.N if qualitative else 24
        edges = _edge_pairs(part)
        if color_by == "linear_piece" and R:
            labels = part.linear_piece_labels().detach().cpu().numpy()
            pe = labels[edges] if edges.size else edges
            pe = pe[pe[:, 0] != pe[:, 1]] if pe.size else pe
            idx = region_colors(int(labels.max()) + 1, pe, num_colors=ncol, seed=seed)[labels]
        else:
            idx = region_colors(R, edges, num_colors=ncol, seed=seed)
        pos = idx / (ncol - 1) if not qualitative and ncol > 1 else idx
        coll.set_facecolor(cm(pos) if R else "none")
    ax.add_collection(coll)

    # domain outline
    ax.add_collection(LineCollection([np.vstack([dom, dom[:1]])], colors="k", linewidths=max(1.0, 2 * linewidth),
                                     zorder=2))
    if boundary:
        seg = part.decision_boundary.detach().cpu().numpy().reshape(-1, 2, 2)
        if seg.shape[0]:
            ax.add_collection(LineCollection(seg, colors=boundary_color, linewidths=boundary_width, zorder=3,
                                             capstyle="round"))
    if anchors is not None:
        a = np.asarray(anchors.detach().cpu() if hasattr(anchors, "detach") else anchors, dtype=float)
        if a.ndim != 2 or a.shape[1] != 2:
            raise InvalidParameterError(
                f"The 'anchors' parameter must have shape (m, 2) (plane coordinates). Got {a.shape} instead."
            )
        ax.scatter(a[:, 0], a[:, 1], s=60, c="white", edgecolors="k", linewidths=1.5, marker="o", zorder=4)

    x0, y0 = dom.min(0)
    x1, y1 = dom.max(0)
    pad = 0.01 * max(x1 - x0, y1 - y0)
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("$p_1$")
    ax.set_ylabel("$p_2$")
    if title is None:
        title = f"{R} regions, {part.num_linear_pieces} linear pieces"
    if title:
        ax.set_title(title)
    if label is not None and R:
        ax.figure.colorbar(coll, ax=ax, shrink=0.8, label=label)
    return ax


def _segment_curve(part):
    """Knots ``(K,)`` and output values ``(K, C)`` of the exact polyline ``t -> f(x(t))``."""
    legs = getattr(part, "legs", None)
    if legs is not None:  # a PathPartition: leg i covers t in [i, i + 1]
        ts, ys = [], []
        for i, leg in enumerate(legs):
            t, y = _segment_curve(leg)
            ts.append(t + i)
            ys.append(y)
        return np.concatenate(ts), np.concatenate(ys)
    if part.output_value is None:
        return None, None
    t = part.t.detach().cpu().numpy()
    val = part.output_value.detach().cpu().numpy()
    slope = part.output_slope.detach().cpu().numpy()
    R = val.shape[0]
    y = np.empty((R + 1, val.shape[1]))
    y[:R] = val + t[:R, None] * slope
    y[R] = val[R - 1] + t[R] * slope[R - 1]
    return t, y


def plot_segment_partition(
    part,
    ax=None,
    *,
    output_index: int | None = None,
    breakpoints: bool = True,
    shade: bool = True,
    cmap=None,
    title: str | None = None,
    seed: int = 0,
):
    """Draw the network output along a segment or path with its regions and breakpoints.

    Each activation region is a coloured vertical band (neighbours differ in colour);
    the output ``t -> f(x(t))`` is drawn exactly from the per-region affine forms, and
    the breakpoints are marked as dots on the curve. On a path, dotted vertical lines
    mark its vertices (``t = 1, 2, ...``).

    Parameters
    ----------
    part : SegmentPartition or PathPartition
        The result of :func:`regionlab.partition_segment` (one segment) or
        :func:`regionlab.partition_path`. Without stored maps (``return_maps=False``)
        only the regions are drawn.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure (8 x 3.5 inches) is made when omitted.
    output_index : int, optional
        Which output to draw; by default every output (at most 10).
    breakpoints : bool
        Mark the breakpoints on the curve.
    shade : bool
        Shade every region with its own colour.
    cmap : str or matplotlib Colormap, optional
        Palette of the bands (by default the soft palette of :func:`plot_plane_partition`).
    title : str, optional
        Axes title; by default the region and linear-piece counts; ``""`` for none.
    seed : int
        Seed of the random band colours.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        For a batch of segments (index it first) or a bad ``output_index``.
    MissingDependencyError
        If matplotlib is not installed.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> from regionlab.plotting import plot_segment_partition
    >>> W = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.relu(), Dense(torch.ones(1, 2, dtype=torch.float64))])
    >>> part = regionlab.partition_segment(net, [-1.0, 0.5], [1.0, 0.5])
    >>> ax = plot_segment_partition(part)  # doctest: +SKIP
    >>> ax.figure.savefig("segment.png")  # doctest: +SKIP
    """
    if not hasattr(part, "t") or hasattr(part, "piece_offsets"):
        raise InvalidParameterError(
            "plot_segment_partition needs one SegmentPartition or PathPartition; index a batch first (batch[i])."
        )
    plt = _pyplot("regionlab.plotting.plot_segment_partition")
    from matplotlib.collections import PolyCollection

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    t = part.t.detach().cpu().numpy()
    R = int(part.num_regions)
    if shade and R:
        cm = _get_cmap(cmap, "regionlab_pastel")
        ncol = cm.N if cm.N <= 64 else 24
        chain = np.stack([np.arange(R - 1), np.arange(1, R)], 1) if R > 1 else None
        idx = region_colors(R, chain, num_colors=ncol, seed=seed)
        pos = idx if cm.N <= 64 else idx / max(ncol - 1, 1)
        bands = [np.array([[t[k], 0.0], [t[k + 1], 0.0], [t[k + 1], 1.0], [t[k], 1.0]]) for k in range(R)]
        coll = PolyCollection(bands, facecolors=cm(pos), edgecolors="none", alpha=0.6,
                              transform=ax.get_xaxis_transform(), zorder=0)
        if R > 5000:
            coll.set_rasterized(True)
        ax.add_collection(coll)

    legs = getattr(part, "legs", None)
    if legs is not None and len(legs) > 1:  # the path's vertices
        ax.vlines(np.arange(1, len(legs)), 0, 1, transform=ax.get_xaxis_transform(), colors="0.3",
                  linewidths=0.8, linestyles=":", zorder=1)
    knots, y = _segment_curve(part)
    if knots is not None:
        C = y.shape[1]
        if output_index is not None:
            if not -C <= int(output_index) < C:
                raise InvalidParameterError(
                    f"The 'output_index' parameter must be in [0, {C}). Got {output_index!r} instead."
                )
            cols = [int(output_index) % C]
        else:
            cols = list(range(min(C, 10)))
        inner = part.breakpoints.detach().cpu().numpy()
        for j in cols:
            line = ax.plot(knots, y[:, j], lw=1.5, zorder=2, label=f"output {j}" if len(cols) > 1 else None)[0]
            if breakpoints and inner.size:
                yb = np.interp(inner, knots, y[:, j])
                ax.scatter(inner, yb, s=12, color=line.get_color(), edgecolors="k", linewidths=0.5, zorder=3)
        if len(cols) > 1:
            ax.legend(loc="best", fontsize="small")
        ax.set_ylabel("$f(x(t))$")
    else:
        ax.set_yticks([])
    ax.set_xlim(float(t[0]), float(t[-1]))
    ax.set_xlabel("$t$")
    if title is None:
        title = f"{R} regions, {part.num_linear_pieces} linear pieces"
    if title:
        ax.set_title(title)
    return ax


# ------------------------------------------------------------------ n-D partitions


def _numpy(t) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t, dtype=float)


def _check_polytope_partition(part, caller: str) -> int:
    """The number of regions of an n-D partition (duck-typed), or InvalidParameterError."""
    needed = ("witnesses", "adjacency", "num_regions", "vertices")
    if not all(hasattr(part, a) for a in needed) or not callable(part.vertices):
        raise InvalidParameterError(
            f"{caller} needs a PolytopePartition (the result of regionlab.partition_polytope); "
            f"got {type(part).__name__}."
        )
    return int(part.num_regions)


def _region_facecolors(part, R: int, color_by: str, cmap, seed: int, output_index, caller: str):
    """``(rgba (R, 4), colorbar mappable or None, colorbar label or None)`` of each region.

    The same colouring as :func:`plot_plane_partition`: soft random colours that differ
    between adjacent regions (or linear pieces), or the output at the witness.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize, TwoSlopeNorm

    if color_by not in _COLOR_BY:
        raise InvalidParameterError(
            f"The 'color_by' parameter of {caller} must be one of {_COLOR_BY}. Got {color_by!r} instead."
        )
    if R == 0:
        return np.zeros((0, 4)), None, None
    if color_by == "output":
        cm = _get_cmap(cmap, "coolwarm")
        vals, label = _output_values(part, output_index)
        lo, hi = float(vals.min()), float(vals.max())
        norm = TwoSlopeNorm(0.0, lo, hi) if lo < 0 < hi else Normalize(lo, hi if hi > lo else lo + 1.0)
        mappable = ScalarMappable(norm=norm, cmap=cm)
        mappable.set_array(vals)
        return cm(norm(vals)), mappable, label
    cm = _get_cmap(cmap, "regionlab_pastel")
    qualitative = cm.N <= 64
    ncol = cm.N if qualitative else 24
    edges = _edge_pairs(part)
    if color_by == "linear_piece":
        labels = _numpy(part.linear_piece_labels()).astype(np.int64)
        pe = labels[edges] if edges.size else edges
        pe = pe[pe[:, 0] != pe[:, 1]] if pe.size else pe
        idx = region_colors(int(labels.max()) + 1, pe, num_colors=ncol, seed=seed)[labels]
    else:
        idx = region_colors(R, edges, num_colors=ncol, seed=seed)
    pos = idx / (ncol - 1) if not qualitative and ncol > 1 else idx
    return np.asarray(cm(pos)), None, None


def _ordered_polygon(points: np.ndarray, center: np.ndarray) -> np.ndarray:
    """The 2-D points of a convex polygon in counter-clockwise order around an interior point."""
    d = points - center
    return points[np.argsort(np.arctan2(d[:, 1], d[:, 0]), kind="stable")]


def _facet_polygons(V: np.ndarray, A: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """The 3-D facet polygons of a convex polytope from its vertices and half-spaces.

    A facet's polygon is the set of vertices on its plane, ordered by angle in that
    plane around their mean; planes holding fewer than three vertices (redundant rows,
    lower faces) and repeats of the same vertex set (a domain facet that is also a
    region facet) are skipped.
    """
    out: list[np.ndarray] = []
    seen: set[bytes] = set()
    scale = 1.0 + float(np.abs(V).max()) if V.size else 1.0
    for a, beta in zip(A, b, strict=True):
        n = float(np.linalg.norm(a))
        if n == 0:
            continue
        on = np.abs(V @ a - beta) <= 1e-7 * scale * n
        if int(on.sum()) < 3:
            continue
        key = np.packbits(on).tobytes()
        if key in seen:
            continue
        seen.add(key)
        P = V[on]
        # two orthonormal directions spanning the facet's plane
        u = a / n
        e1 = np.linalg.svd(np.eye(3) - np.outer(u, u))[0][:, 0]
        e2 = np.cross(u, e1)
        c = P.mean(0)
        ang = np.arctan2((P - c) @ e2, (P - c) @ e1)
        out.append(P[np.argsort(ang, kind="stable")])
    return out


def plot_polytope_partition(
    part,
    ax=None,
    *,
    color_by: str = "region",
    edgecolor="k",
    linewidth: float | None = None,
    alpha: float | None = None,
    shrink: float | None = None,
    cmap=None,
    title: str | None = None,
    output_index: int | None = None,
    seed: int = 0,
):
    """Draw the regions of an exact partition of a 2-D or 3-D domain.

    A 2-D partition is drawn like :func:`plot_plane_partition`: every region a filled
    polygon (its vertices ordered by angle around its witness), neighbours in different
    colours, thin black edges, the domain outlined. A 3-D partition is drawn as a
    ``mpl_toolkits.mplot3d`` ``Poly3DCollection`` of every region's facets (each facet
    polygon made of the region's vertices on that facet, ordered by angle in the facet's
    plane), translucent and, by default, shrunk a little towards each region's witness
    so that the regions stand apart.

    Parameters
    ----------
    part : PolytopePartition
        The result of :func:`regionlab.partition_polytope` on a 2-D or 3-D domain
        (e.g. a box in a 2-D or 3-D input space, a 2-D window, the hull of three points).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (a 3-D axes, ``fig.add_subplot(projection="3d")``, for a 3-D
        partition); a new figure is made when omitted.
    color_by : {"region", "linear_piece", "output"}
        Colouring, as in :func:`plot_plane_partition`: random soft colours that differ
        between adjacent regions, or between adjacent linear pieces, or the network
        output at each region's witness on a continuous scale.
    edgecolor : colour or None
        Colour of the region (2-D) or facet (3-D) edges; ``None`` draws none.
    linewidth : float, optional
        Edge width in points; by default thinner for more regions.
    alpha : float, optional
        Fill opacity; 1 in 2-D and 0.35 in 3-D by default.
    shrink : float, optional
        Scale each region about its witness by this factor (in ``(0, 1]``); 1 in 2-D and
        0.85 in 3-D by default (an "exploded" view in which the regions do not touch).
    cmap : str or matplotlib Colormap, optional
        Palette (the soft palette of :func:`plot_plane_partition` by default, ``"coolwarm"``
        for the output).
    title : str, optional
        Axes title; by default the region and linear-piece counts; ``""`` for none.
    output_index : int, optional
        Output to colour by with ``color_by="output"``.
    seed : int
        Seed of the random colours.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        A domain of another dimension than 2 or 3 (use :func:`plot_region_graph`), a
        bad ``color_by``, ``shrink`` or ``cmap``, a 2-D axes for a 3-D partition, or
        something other than a :class:`~regionlab.regions.polytope_result.PolytopePartition`.
    MissingDependencyError
        If matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import torch, regionlab
    >>> from regionlab.domains import Box
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> from regionlab.plotting import plot_polytope_partition
    >>> W = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 1, 1]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((3,), [Dense(W), PiecewiseLinear.relu()])
    >>> part = regionlab.partition_polytope(net, Box([-1, -1, -1], [1, 1, 1]))
    >>> ax = plot_polytope_partition(part)
    >>> ax.get_title()
    '8 regions, 8 linear pieces'
    >>> ax.figure.savefig("box3d.png", dpi=60)
    >>> net2 = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
    >>> ax2 = plot_polytope_partition(regionlab.partition_polytope(net2, Box([-1, -1], [1, 1])))
    >>> len(ax2.collections[0].get_paths())
    4
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    caller = "regionlab.plotting.plot_polytope_partition"
    R = _check_polytope_partition(part, caller)
    k = int(part.dim) if hasattr(part, "dim") else int(part.witnesses.shape[1])
    if k not in (2, 3):
        raise InvalidParameterError(
            f"plot_polytope_partition draws 2-D and 3-D domains; this partition is {k}-dimensional. "
            "Draw its adjacency graph with regionlab.plotting.plot_region_graph(part) instead, or partition "
            "a 2-D or 3-D window (regionlab.domains.window)."
        )
    if shrink is None:
        shrink = 1.0 if k == 2 else 0.85
    if isinstance(shrink, bool) or not isinstance(shrink, (int, float)) or not 0 < shrink <= 1:
        raise InvalidParameterError(f"The 'shrink' parameter must be a number in (0, 1]. Got {shrink!r} instead.")
    if alpha is None:
        alpha = 1.0 if k == 2 else 0.35
    plt = _pyplot(caller)
    from matplotlib.collections import LineCollection, PolyCollection

    if ax is not None and k == 3 and getattr(ax, "name", "") != "3d":
        raise InvalidParameterError(
            "A 3-D partition needs 3-D axes: pass ax=fig.add_subplot(projection='3d') or leave ax=None."
        )
    colors, mappable, label = _region_facecolors(part, R, color_by, cmap, seed, output_index, caller)
    if linewidth is None:
        linewidth = 0.6 if R < 300 else 0.4 if R < 3000 else 0.2 if R < 30000 else 0.1
    if edgecolor is None:
        edgecolor = "none"
    W = _numpy(part.witnesses)
    dom = part.domain
    lo, hi = (_numpy(t) for t in dom.bounding_box())
    if k == 2:
        if ax is None:
            w, h = hi - lo
            _, ax = plt.subplots(figsize=(7.0, float(np.clip(7.0 * h / max(w, 1e-300), 2.5, 9.0)) + 0.6))
        polys = []
        for i in range(R):
            P = _ordered_polygon(_numpy(part.vertices(i)), W[i])
            polys.append(W[i] + shrink * (P - W[i]))
        coll = PolyCollection(polys, closed=True, facecolors=colors if R else "none", edgecolors=edgecolor,
                              linewidths=linewidth, alpha=alpha, zorder=1)
        if R > 5000:
            coll.set_rasterized(True)
        ax.add_collection(coll)
        dv = _numpy(dom.vertices())
        outline = _ordered_polygon(dv, dv.mean(0))
        ax.add_collection(LineCollection([np.vstack([outline, outline[:1]])], colors="k",
                                         linewidths=max(1.0, 2 * linewidth), zorder=2))
        pad = 0.01 * float(max(hi - lo))
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(lo[1] - pad, hi[1] + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("$p_1$")
        ax.set_ylabel("$p_2$")
    else:
        from mpl_toolkits.mplot3d.art3d import Poly3DCollection

        if ax is None:
            fig = plt.figure(figsize=(7.0, 6.5))
            ax = fig.add_subplot(projection="3d")
        try:
            A_dom, b_dom = (_numpy(t) for t in dom.halfspaces())
        except Exception:  # noqa: BLE001 - a domain without a listable H-representation
            A_dom, b_dom = np.zeros((0, 3)), np.zeros(0)
        faces, face_colors = [], []
        for i in range(R):
            V = _numpy(part.vertices(i))
            A, b, _ = part.facets(i)
            polys = _facet_polygons(V, np.vstack([_numpy(A), A_dom]), np.concatenate([_numpy(b), b_dom]))
            faces += [W[i] + shrink * (P - W[i]) for P in polys]
            face_colors += [colors[i]] * len(polys)
        coll = Poly3DCollection(faces, facecolors=face_colors if faces else "none", edgecolors=edgecolor,
                                linewidths=linewidth, alpha=alpha)
        ax.add_collection3d(coll)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(lo[2], hi[2])
        ax.set_box_aspect(tuple(float(v) for v in np.maximum(hi - lo, 1e-12 * float(max(hi - lo)))))
        ax.set_xlabel("$p_1$")
        ax.set_ylabel("$p_2$")
        ax.set_zlabel("$p_3$")
    if title is None:
        title = f"{R} regions, {part.num_linear_pieces} linear pieces"
    if title:
        ax.set_title(title)
    if mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, shrink=0.8, label=label)
    return ax


def _graph_positions(part, W: np.ndarray, layout: str, seed: int, three_d: bool, caller: str) -> np.ndarray:
    R = W.shape[0]
    if layout == "spring":
        nx = require("networkx", extra="dev", caller=caller)
        g = nx.Graph()
        g.add_nodes_from(range(R))
        g.add_edges_from((int(a), int(b)) for a, b in _edge_pairs(part))
        pos = nx.spring_layout(g, seed=seed) if R else {}
        return np.array([pos[i] for i in range(R)], dtype=float).reshape(R, 2)
    if three_d:
        return W[:, :3]
    if W.shape[1] >= 2:
        return W[:, :2]
    return np.column_stack([W[:, 0], np.zeros(R)])  # 1-D: the nodes on a line


def plot_region_graph(
    part,
    ax=None,
    layout: str = "witness",
    *,
    color_by: str = "region",
    node_size: float | None = None,
    edge_color="0.3",
    edge_width: float | None = None,
    cmap=None,
    title: str | None = None,
    output_index: int | None = None,
    seed: int = 0,
):
    """Draw the adjacency (dual) graph of a partition: a node per region, an edge per shared facet.

    Works in any dimension, so it is the figure for partitions that
    :func:`plot_polytope_partition` cannot draw (more than three dimensions).

    Parameters
    ----------
    part : PolytopePartition or PlanePartition
        An exact partition with ``witnesses`` and ``adjacency``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure is made when omitted (3-D axes for a 3-D
        partition with ``layout="witness"``; with given 2-D axes a 3-D partition is
        projected to its first two coordinates).
    layout : {"witness", "spring"}
        ``"witness"``: each node at its region's witness (interior point), in domain
        coordinates, projected to the first two coordinates above three dimensions.
        ``"spring"``: a force-directed layout of the graph alone
        (``networkx.spring_layout``, seeded; needs networkx; slow for many thousands of
        regions).
    color_by : {"region", "linear_piece", "output"}
        Node colours, as in :func:`plot_polytope_partition`.
    node_size : float, optional
        Marker area (points^2) of the region with the largest inradius; the others are
        proportional to their inradius (constant without ``inradii``). By default from
        300 for a few regions down to 20 for many.
    edge_color, edge_width
        Style of the graph's edges.
    cmap : str or matplotlib Colormap, optional
        Node palette.
    title : str, optional
        Axes title; by default the numbers of regions and adjacent pairs; ``""`` for none.
    output_index : int, optional
        Output to colour by with ``color_by="output"``.
    seed : int
        Seed of the colours and of the spring layout.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        An unknown ``layout`` or ``color_by``, a bad ``node_size``, or not a partition.
    MissingDependencyError
        If matplotlib (or, for ``layout="spring"``, networkx) is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import torch, regionlab
    >>> from regionlab.domains import Box
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> from regionlab.plotting import plot_region_graph
    >>> net = CPWLNetwork.sequential((4,), [PiecewiseLinear.relu()])
    >>> part = regionlab.partition_polytope(net, Box([-1] * 4, [1] * 4))
    >>> ax = plot_region_graph(part)  # 16 regions of a 4-D box, projected
    >>> ax.get_title()
    '16 regions, 32 adjacent pairs'
    >>> ax.figure.savefig("graph.png", dpi=60)
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    caller = "regionlab.plotting.plot_region_graph"
    if layout not in ("witness", "spring"):
        raise InvalidParameterError(
            f"The 'layout' parameter of plot_region_graph must be 'witness' or 'spring'. Got {layout!r} instead."
        )
    if not hasattr(part, "witnesses") or not hasattr(part, "adjacency") or not hasattr(part, "num_regions"):
        raise InvalidParameterError(
            f"plot_region_graph needs a partition with witnesses and adjacency (PolytopePartition, PlanePartition); "
            f"got {type(part).__name__}."
        )
    if node_size is not None and (isinstance(node_size, bool) or not isinstance(node_size, (int, float))
                                  or not node_size > 0):
        raise InvalidParameterError(f"The 'node_size' parameter must be a positive number. Got {node_size!r} instead.")
    R = int(part.num_regions)
    W = _numpy(part.witnesses).reshape(R, -1)
    plt = _pyplot(caller)
    from matplotlib.collections import LineCollection

    colors, mappable, label = _region_facecolors(part, R, color_by, cmap, seed, output_index, caller)
    three_d = layout == "witness" and W.shape[1] == 3 and (ax is None or getattr(ax, "name", "") == "3d")
    pos = _graph_positions(part, W, layout, seed, three_d, caller)
    if ax is None:
        if three_d:
            ax = plt.figure(figsize=(7.0, 6.5)).add_subplot(projection="3d")
        else:
            _, ax = plt.subplots(figsize=(7.0, 6.0))
    edges = _edge_pairs(part)
    if node_size is None:
        node_size = float(np.clip(3000.0 / np.sqrt(max(R, 1)), 20.0, 300.0))
    inradii = getattr(part, "inradii", None)
    if inradii is not None and R:
        r = _numpy(inradii).reshape(R)
        r = np.where(np.isfinite(r), r, 0.0)
        top = float(r.max())
        sizes = node_size * r / top if top > 0 else np.full(R, node_size)
        sizes = np.maximum(sizes, 0.05 * node_size)  # tiny regions stay visible
    else:
        sizes = np.full(R, node_size)
    if edge_width is None:
        edge_width = 0.8 if R < 300 else 0.4 if R < 3000 else 0.2
    segs = pos[edges] if edges.size else np.zeros((0, 2, pos.shape[1]))
    if three_d:
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        ax.add_collection3d(Line3DCollection(segs, colors=edge_color, linewidths=edge_width))
        ax.scatter(pos[:, 0], pos[:, 1], pos[:, 2], s=sizes, c=colors if R else None, edgecolors="k",
                   linewidths=0.5, depthshade=False)
        if R:
            lo, hi = pos.min(0), pos.max(0)
            pad = 0.05 * np.maximum(hi - lo, 1e-12)
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
            ax.set_zlim(lo[2] - pad[2], hi[2] + pad[2])
        ax.set_zlabel("$p_3$")
    else:
        ax.add_collection(LineCollection(segs, colors=edge_color, linewidths=edge_width, zorder=1))
        ax.scatter(pos[:, 0], pos[:, 1], s=sizes, c=colors if R else None, edgecolors="k", linewidths=0.5,
                   zorder=2)
        ax.autoscale_view()
        if layout == "spring":
            ax.set_xticks([])
            ax.set_yticks([])
    if layout == "witness":
        ax.set_xlabel("$p_1$")
        ax.set_ylabel("$p_2$" if W.shape[1] >= 2 else "")
    if title is None:
        title = f"{R} regions, {int(edges.shape[0])} adjacent pairs"
    if title:
        ax.set_title(title)
    if mappable is not None:
        ax.figure.colorbar(mappable, ax=ax, shrink=0.8, label=label)
    return ax


_COUNT_LABELS = {
    "exact": "activation regions meeting the ball",
    "slices": "mean activation regions per 2-D slice",
    "complexity": "local complexity (units whose state varies)",
}


def plot_local_counts(counts, ax=None, *, bins=None, color="#8dd3c7", title: str | None = None):
    """Histogram of local region counts (or local complexities) over a batch of points.

    Integral counts (``method="exact"``, the complexity) get one bar per integer; mean
    slice counts get automatic bins. A dashed red line marks the mean.

    Parameters
    ----------
    counts : LocalCounts or array-like ``(B,)``
        The result of :func:`regionlab.local.local_region_counts`, or the counts themselves.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure (6 x 4 inches) is made when omitted.
    bins : int, sequence or str, optional
        Passed to ``Axes.hist``; by default as described above.
    color : colour
        Bar colour.
    title : str, optional
        Axes title; by default the method, ball and number of points; ``""`` for none.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    InvalidParameterError
        Counts that are not a 1-D array of finite numbers.
    MissingDependencyError
        If matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> from regionlab.local import local_region_counts
    >>> from regionlab.plotting import plot_local_counts
    >>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64)), PiecewiseLinear.relu()])
    >>> X = torch.tensor([[0.0, 0.0], [2.0, 2.0], [0.0, 2.0]], dtype=torch.float64)
    >>> res = local_region_counts(net, X, 0.5, method="exact")
    >>> ax = plot_local_counts(res)
    >>> [int(p.get_height()) for p in ax.patches]  # one point in 1 region, one in 2, one in 4
    [1, 1, 0, 1]
    >>> ax.figure.savefig("counts.png", dpi=60)
    >>> import matplotlib.pyplot as plt
    >>> plt.close("all")
    """
    caller = "regionlab.plotting.plot_local_counts"
    method = getattr(counts, "method", None)
    raw = counts.counts if hasattr(counts, "counts") else counts
    try:
        c = _numpy(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"plot_local_counts needs a LocalCounts or a 1-D array of counts; got {type(counts).__name__}."
        ) from exc
    if c.ndim != 1:
        raise InvalidParameterError(f"plot_local_counts needs a 1-D array of counts; got shape {c.shape}.")
    if not np.isfinite(c).all():
        raise InvalidParameterError("plot_local_counts: the counts contain NaN or inf; give finite counts.")
    plt = _pyplot(caller)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.0))
    if bins is None:
        integral = c.size > 0 and bool(np.all(c == np.round(c)))
        if integral and c.max() - c.min() <= 200:
            bins = np.arange(c.min() - 0.5, c.max() + 1.5)  # one bar per integer
        else:
            bins = "auto" if c.size else 10
    ax.hist(c, bins=bins, color=color, edgecolor="k", linewidth=0.6)
    if c.size:
        mean = float(c.mean())
        ax.axvline(mean, color="red", linestyle="--", linewidth=1.5, label=f"mean {mean:.4g}")
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel(_COUNT_LABELS.get(method, "count"))
    ax.set_ylabel("points")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # numbers of points
    if title is None:
        if method is not None:
            title = f"{method}: {getattr(counts, 'norm', '')} ball of radius {getattr(counts, 'radius', 0):g}, {c.size} points"
        else:
            title = f"{c.size} points"
    if title:
        ax.set_title(title)
    return ax
