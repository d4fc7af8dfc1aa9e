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

__all__ = ["plot_plane_partition", "plot_segment_partition", "region_colors"]

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
