"""Extremal constructions: networks that attain regionlab's lower bounds exactly.

Every function returns an :class:`ExtremalConstruction`: a float64
:class:`regionlab.CPWLNetwork`, the box on which its count is attained (the unit cube
``[0, 1]^{n0}``, or a box around every vertex for :func:`generic_layer`), and the number
of activation regions the construction has in that box. The counts are the bounds of
:mod:`regionlab.bounds` (:func:`~regionlab.bounds._general.cpwl_lower`,
:func:`~regionlab.bounds._general.maxout_lower`, ``P(n, K, n0)`` for one layer); the
tests count the regions with the exact engines and find exactly these numbers.

The building blocks (derivation: ``docs/cpwl_bounds.md``):

* a *fold* of one coordinate: units whose sum is a zig-zag on ``[0, 1]`` whose pieces
  each map onto ``[0, 1]``; ``q`` units with ``K`` breakpoints give ``q K + 1`` pieces,
  ``q`` rank-``k`` maxout units (convex, summed with signs) give ``z(q, k)`` pieces;
* a *last layer* in general position: ``n`` families of parallel hyperplanes (one
  family per unit) whose vertices all lie inside the open unit cube, so that each of
  its ``P(n, K, n0)`` cells meets the cube.

Composing folds maps each of the ``prod`` boxes of the cube onto the whole cube, so the
last layer's arrangement appears once in every box.

Examples
--------
>>> import regionlab
>>> from regionlab.bounds.constructions import sawtooth_network
>>> c = sawtooth_network([2, 3], breakpoints=2)
>>> c.expected_regions, regionlab.partition_segment(c.network, [0.0], [1.0]).num_regions
(35, 35)
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass

import torch

from ..errors import BoundNotApplicableError, InvalidParameterError
from ..ir import CPWLNetwork, Dense, MaxOp, PiecewiseLinear
from ._common import _int as _common_int
from ._common import cpwl_one_layer
from ._general import cpwl_lower, fold_split, maxout_fold_pieces, maxout_lower

__all__ = [
    "ExtremalConstruction",
    "sawtooth_network",
    "serra_sawtooth_relu",
    "folding_network",
    "maxout_sawtooth_network",
    "maxout_folding_network",
    "extremal_maxout_layer",
    "generic_layer",
]

_F64 = torch.float64
# largest number of arrangement vertices the constructions enumerate and check
_MAX_VERTICES = 200_000
# general position: smallest singular value of any n0 unit normals, and smallest
# distance of a vertex to a hyperplane it is not on (relative to the vertex spread)
_GP_SINGULAR = 1e-3
_GP_DISTANCE = 1e-6
# exponent of the concave curve on which the unused maxout breakpoints sit (n0 = 1);
# irrational-looking so that their images miss the later layers' breakpoints
_EXTRA_CURVE = 1.7


@dataclass(frozen=True, eq=False)
class ExtremalConstruction:
    """A constructed network together with the box and the region count it attains there.

    Parameters
    ----------
    network : CPWLNetwork
        The float64 network: ``Dense -> activation -> ... -> activation -> Dense`` to one
        output.
    lower, upper : tuple of float
        The box ``lower <= x <= upper`` in which the count is attained.
    expected_regions : int
        The exact number of activation regions of ``network`` in the open box.
    name : str
        Which construction.
    input_dim : int
    widths : tuple of int
    activation : str
        ``"cpwl"`` (per-unit univariate tables), ``"relu"`` or ``"maxout"``.
    breakpoints : int or None
        K, breakpoints per univariate unit.
    rank : int or None
        k, pieces per maxout unit.
    splits : tuple of tuple of int
        For each folding layer, the units per input coordinate (:func:`fold_split`).
    distinct_pieces : bool
        Whether neighbouring regions carry different affine maps by construction, so that
        the linear pieces equal the regions.

    Examples
    --------
    >>> c = folding_network(2, [2, 3])
    >>> c.box, c.expected_regions
    (Box(2-D, lower=[0, 0], upper=[1, 1]), 28)
    >>> sorted(c.to_dict())[:3]
    ['activation', 'breakpoints', 'distinct_pieces']
    """

    network: CPWLNetwork
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    expected_regions: int
    name: str
    input_dim: int
    widths: tuple[int, ...]
    activation: str
    breakpoints: int | None = None
    rank: int | None = None
    splits: tuple[tuple[int, ...], ...] = ()
    distinct_pieces: bool = True

    @property
    def box(self):
        """The box as a :class:`regionlab.Box`.

        Examples
        --------
        >>> serra_sawtooth_relu([3]).box.volume()
        1.0
        """
        from ..domains import Box

        return Box(list(self.lower), list(self.upper))

    def to_dict(self) -> dict:
        """Plain data: everything but the network, which is described by its ops.

        Examples
        --------
        >>> serra_sawtooth_relu([3, 3]).to_dict()["expected_regions"]
        16
        """
        return {
            "name": self.name,
            "input_dim": self.input_dim,
            "widths": list(self.widths),
            "activation": self.activation,
            "breakpoints": self.breakpoints,
            "rank": self.rank,
            "lower": list(self.lower),
            "upper": list(self.upper),
            "expected_regions": self.expected_regions,
            "splits": [list(s) for s in self.splits],
            "distinct_pieces": self.distinct_pieces,
            "ops": [node.op.describe() for node in self.network.nodes[1:]],
        }


# ----------------------------------------------------------------------------- checks


def _int(value, name, minimum=1):
    return _common_int(value, name, minimum=minimum)


def _widths(widths):
    if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
        widths = (widths,)
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise InvalidParameterError(f"widths must be a sequence of positive integers such as [3, 3]; got {widths!r}.")
    out = tuple(_int(w, f"widths[{i}]") for i, w in enumerate(widths))
    if not out:
        raise InvalidParameterError("widths must hold at least one hidden layer width; got an empty sequence.")
    return out


def _fold_widths(n0, widths, what):
    for layer, n in enumerate(widths[:-1], start=1):
        if n < n0:
            raise BoundNotApplicableError(
                f"{what} folds each of the {n0} input coordinates in every layer before the last, so it "
                f"needs n_l >= {n0} for l < L; layer {layer} has width {n}."
            )


# ------------------------------------------------------------------------ 1-D zig-zags


def _zigzag(runs: int, extras: int):
    """Kinks of a zig-zag on [0, 1] with ``runs`` monotone runs, each from 0 to 1 or back.

    ``extras`` additional concave kinks sit inside the runs (round robin), on concave
    curves, so that each run still maps onto [0, 1]. Returns the initial slope (at
    ``z < 0``, continued from the first piece), the kink positions and the slope changes.
    """
    xs = [0.0]
    ys = [0.0]
    per_run = [extras // runs + (1 if r < extras % runs else 0) for r in range(runs)]
    for r in range(runs):
        a, b = r / runs, (r + 1) / runs
        up = r % 2 == 0
        e = per_run[r]
        for j in range(e):
            tau = (j + 0.5) / (e + 0.5)
            h = 1.0 - (1.0 - tau) ** _EXTRA_CURVE if up else 1.0 - tau**_EXTRA_CURVE
            xs.append(a + tau * (b - a))
            ys.append(h)
        xs.append(b)
        ys.append(1.0 if up else 0.0)
    slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
    kinks = xs[1:-1]
    deltas = [slopes[i + 1] - slopes[i] for i in range(len(slopes) - 1)]
    return slopes[0], kinks, deltas


def _univariate_fold(q: int, K: int):
    """Per-unit tables of ``q`` units with ``K`` breakpoints whose sum is a (qK+1)-piece zig-zag."""
    s0, kinks, deltas = _zigzag(q * K + 1, 0)
    bps, slopes = [], []
    for j in range(q):
        t = kinks[j * K : (j + 1) * K]
        d = deltas[j * K : (j + 1) * K]
        s = [s0 if j == 0 else 0.0]
        for dj in d:
            s.append(s[-1] + dj)
        bps.append(t)
        slopes.append(s)
    return bps, slopes


def _maxout_fold(q: int, k: int, extras_inside: bool):
    """``q`` rank-k maxout units (sign, affine pieces) whose signed sum is a zig-zag on [0, 1].

    Returns a list of ``(eps, piece_slopes, piece_intercepts)``: unit ``j`` computes the
    convex ``phi_j(z) = max_p (slope_p z + intercept_p)`` and enters the sum with sign
    ``eps``. The zig-zag has ``z(q, k)`` runs; the breakpoints that cannot alternate
    (odd ``q``) sit inside runs (``extras_inside``) or beyond ``z = 1``.
    """
    if k == 1:
        return [(1.0, [1.0], [0.0])] + [(1.0, [0.0], [0.0])] * (q - 1)
    runs = maxout_fold_pieces(q, k)
    spare = q * (k - 1) + 1 - runs
    s0, kinks, deltas = _zigzag(runs, spare if extras_inside else 0)
    concave = [(t, d) for t, d in zip(kinks, deltas, strict=True) if d < 0]
    convex = [(t, d) for t, d in zip(kinks, deltas, strict=True) if d > 0]
    n_concave = (q + 1) // 2
    groups = []
    for j in range(q):
        if j < n_concave:
            eps, pool, idx = -1.0, concave, j
        else:
            eps, pool, idx = 1.0, convex, j - n_concave
        groups.append((eps, pool[idx * (k - 1) : (idx + 1) * (k - 1)]))
    units = []
    for j, (eps, own) in enumerate(groups):
        own = list(own)
        # unused pieces: kinks beyond z = 1, never reached from the unit cube
        for extra in range(k - 1 - len(own)):
            own.append((2.0 + extra, eps * 1.0))
        slope = eps * (s0 if j == 0 else 0.0)
        intercept = 0.0
        ps, pi = [slope], [intercept]
        for t, d in own:  # eps * d > 0: the convex function's slope increases
            slope += eps * d
            intercept -= eps * d * t
            ps.append(slope)
            pi.append(intercept)
        units.append((eps, ps, pi))
    return units


# -------------------------------------------------------------- last-layer arrangements


def _general_position(n0: int, n: int, K: int, generator: torch.Generator, *, attempts: int = 20):
    """Unit normals ``(n, n0)``, sorted breakpoints ``(n, K)`` and the minimal-face points.

    The ``n`` families of ``K`` parallel hyperplanes ``a_i . y = t_ij`` are in general
    position (any ``min(n, n0)`` normals independent, no vertex on a further
    hyperplane), checked on every vertex. The returned points (one per minimal face:
    vertices when ``n >= n0``) lie in the closure of every cell next to them.
    """
    r = min(n, n0)
    count = math.comb(n, r) * K**r
    if count > _MAX_VERTICES:
        raise InvalidParameterError(
            f"The last layer's arrangement has {count} vertices (C({n}, {r}) * {K}^{r}); the constructions "
            f"check general position on every vertex and allow at most {_MAX_VERTICES}. Use a smaller width."
        )
    for _ in range(attempts):
        a = torch.randn(n, n0, generator=generator, dtype=_F64)
        a = a / a.norm(dim=1, keepdim=True)
        gaps = 0.5 + torch.rand(n, K, generator=generator, dtype=_F64)
        t = (torch.rand(n, 1, generator=generator, dtype=_F64) - 0.5) * K + gaps.cumsum(1) - gaps.sum(1, keepdim=True) / 2
        subsets = torch.tensor(list(itertools.combinations(range(n), r)), dtype=torch.long)
        sub_a = a[subsets]  # (S, r, n0)
        if float(torch.linalg.svdvals(sub_a)[:, -1].min()) < _GP_SINGULAR:
            continue
        choices = torch.tensor(list(itertools.product(range(K), repeat=r)), dtype=torch.long)  # (C, r)
        rhs = t[subsets.unsqueeze(1), choices.unsqueeze(0)]  # (S, C, r)
        pinv = torch.linalg.pinv(sub_a)  # (S, n0, r)
        pts = torch.einsum("sdr,scr->scd", pinv, rhs).reshape(-1, n0)
        if n > n0:
            vals = pts @ a.T  # (V, n)
            dist = (vals.unsqueeze(-1) - t.unsqueeze(0)).abs()  # (V, n, K)
            on = torch.zeros(len(subsets), n, dtype=torch.bool)
            on[torch.arange(len(subsets)).unsqueeze(1), subsets] = True
            on = on.repeat_interleave(len(choices), dim=0)
            dist = dist.masked_fill(on.unsqueeze(-1), math.inf)
            spread = float((pts.amax(0) - pts.amin(0)).max()) + 1.0
            if float(dist.min()) < _GP_DISTANCE * spread:
                continue
        return a, t, pts
    raise InvalidParameterError(  # pragma: no cover - probability zero
        "Could not draw an arrangement in general position; try another seed."
    )


def _into_cube(a, t, pts, margin=0.1):
    """Breakpoints after the similarity that maps the points into ``[margin, 1 - margin]^n0``."""
    lo, hi = pts.amin(0), pts.amax(0)
    extent = float((hi - lo).max())
    scale = (1.0 - 2 * margin) / extent if extent > 0 else 1.0
    centre = (lo + hi) / 2
    # y = 0.5 + scale (v - centre): a . v = t  <=>  a . y = scale (t - a . centre) + 0.5 a . 1
    return scale * (t - (a @ centre).unsqueeze(1)) + 0.5 * a.sum(1, keepdim=True)


def _random_slopes(n, K, generator):
    """Slopes ``(n, K + 1)`` of magnitude in [0.5, 1.5], alternating in sign (every kink nonzero)."""
    mag = 0.5 + torch.rand(n, K + 1, generator=generator, dtype=_F64)
    sign = torch.tensor([(-1.0) ** p for p in range(K + 1)], dtype=_F64)
    return mag * sign


def _random_convex_slopes(n, k, generator):
    """Increasing slopes ``(n, k)`` with gaps in [0.5, 1.5]."""
    gaps = 0.5 + torch.rand(n, k, generator=generator, dtype=_F64)
    gaps[:, 0] = gaps[:, 0] - 0.5 * gaps.sum(1)
    return gaps.cumsum(1)


def _output_weights(n, generator):
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).to(_F64)
    return sign * (0.5 + torch.rand(n, generator=generator, dtype=_F64))


# --------------------------------------------------------------------------- builders


class _Builder:
    """Chains layers: each layer reads ``y = S h + beta`` (the previous layer's coordinates)."""

    def __init__(self, n0: int):
        self.ops = []
        self.n0 = n0
        self.S = torch.eye(n0, dtype=_F64)  # y = S h + beta, h the previous layer's outputs
        self.beta = torch.zeros(n0, dtype=_F64)

    def dense(self, E, e):
        """Pre-activations ``E y + e`` of the next layer, composed with ``y = S h + beta``."""
        self.ops.append(Dense(E @ self.S, E @ self.beta + e))

    def univariate(self, bps, slopes, name="cpwl"):
        b = torch.tensor(bps, dtype=_F64)
        s = torch.tensor(slopes, dtype=_F64)
        self.ops.append(PiecewiseLinear.from_breakpoints(b, s, torch.zeros(b.shape[0], dtype=_F64), name=name))

    def maxout(self, units, k):
        self.ops.append(MaxOp(torch.arange(units * k).reshape(units, k), (units,), name="maxout"))

    def readout(self, S, beta):
        self.S, self.beta = S, beta

    def network(self, out_weight):
        self.ops.append(Dense(out_weight.reshape(1, -1) @ self.S, (out_weight.reshape(1, -1) @ self.beta)))
        return CPWLNetwork.sequential((self.n0,), self.ops)


def _fold_layer_univariate(builder: _Builder, split, K):
    n0 = builder.n0
    n = sum(split)
    E = torch.zeros(n, n0, dtype=_F64)
    S = torch.zeros(n0, n, dtype=_F64)
    bps, slopes = [], []
    u = 0
    for c, q in enumerate(split):
        b, s = _univariate_fold(q, K)
        bps += b
        slopes += s
        E[u : u + q, c] = 1.0
        S[c, u : u + q] = 1.0
        u += q
    builder.dense(E, torch.zeros(n, dtype=_F64))
    builder.univariate(bps, slopes)
    builder.readout(S, torch.zeros(n0, dtype=_F64))


def _fold_layer_maxout(builder: _Builder, split, k, extras_inside):
    n0 = builder.n0
    n = sum(split)
    E = torch.zeros(n * k, n0, dtype=_F64)
    e = torch.zeros(n * k, dtype=_F64)
    S = torch.zeros(n0, n, dtype=_F64)
    u = 0
    for c, q in enumerate(split):
        for eps, ps, pi in _maxout_fold(q, k, extras_inside):
            E[u * k : (u + 1) * k, c] = torch.tensor(ps, dtype=_F64)
            e[u * k : (u + 1) * k] = torch.tensor(pi, dtype=_F64)
            S[c, u] = eps
            u += 1
    builder.dense(E, e)
    builder.maxout(n, k)
    builder.readout(S, torch.zeros(n0, dtype=_F64))


def _cube(n0):
    return (0.0,) * n0, (1.0,) * n0


def _univariate_construction(n0, widths, K, seed):
    builder = _Builder(n0)
    splits = []
    for n in widths[:-1]:
        split = fold_split(n, n0, breakpoints=K)
        splits.append(split)
        _fold_layer_univariate(builder, split, K)
    n = widths[-1]
    if n0 == 1:
        _fold_layer_univariate(builder, (n,), K)
        splits.append((n,))
        out = torch.ones(1, dtype=_F64)
    else:
        gen = torch.Generator().manual_seed(seed)
        a, t, pts = _general_position(n0, n, K, gen)
        t = _into_cube(a, t, pts)
        builder.dense(a, torch.zeros(n, dtype=_F64))
        builder.univariate(t.tolist(), _random_slopes(n, K, gen).tolist())
        builder.readout(torch.eye(n, dtype=_F64), torch.zeros(n, dtype=_F64))
        out = _output_weights(n, gen)
    return builder.network(out), tuple(splits)


def _maxout_construction(n0, widths, k, seed):
    builder = _Builder(n0)
    splits = []
    for n in widths[:-1]:
        split = fold_split(n, n0, rank=k)
        splits.append(split)
        _fold_layer_maxout(builder, split, k, extras_inside=n0 == 1)
    n = widths[-1]
    if n0 == 1:
        _fold_layer_maxout(builder, (n,), k, extras_inside=True)
        splits.append((n,))
        out = torch.ones(1, dtype=_F64)
    elif k == 1:
        builder.dense(torch.zeros(n, n0, dtype=_F64), torch.zeros(n, dtype=_F64))
        builder.maxout(n, 1)
        builder.readout(torch.eye(n, dtype=_F64), torch.zeros(n, dtype=_F64))
        out = torch.ones(n, dtype=_F64)
    else:
        gen = torch.Generator().manual_seed(seed)
        a, t, pts = _general_position(n0, n, k - 1, gen)
        t = _into_cube(a, t, pts)
        slopes = _random_convex_slopes(n, k, gen)  # (n, k), piece p on t_{p-1} < a.y < t_p
        # continuity at the breakpoints fixes the intercepts: c_p = c_{p-1} - (s_p - s_{p-1}) t_p
        inter = torch.cat([torch.zeros(n, 1, dtype=_F64), -(slopes[:, 1:] - slopes[:, :-1]) * t], 1).cumsum(1)
        E = (slopes.unsqueeze(-1) * a.unsqueeze(1)).reshape(n * k, n0)
        builder.dense(E, inter.reshape(-1))
        builder.maxout(n, k)
        builder.readout(torch.eye(n, dtype=_F64), torch.zeros(n, dtype=_F64))
        out = _output_weights(n, gen)
    return builder.network(out), tuple(splits)


# ------------------------------------------------------------------------- public API


def sawtooth_network(widths, *, breakpoints: int = 1) -> ExtremalConstruction:
    """Input dimension 1: ``prod_l (n_l K + 1)`` regions on ``[0, 1]``, the upper bound.

    Layer ``l`` computes a zig-zag with ``n_l K + 1`` pieces, each mapping its interval
    of ``[0, 1]`` onto ``[0, 1]``: unit ``i`` carries ``K`` of the zig-zag's turns
    (a per-unit CPWL activation with ``K`` breakpoints), unit 0 also the linear term,
    and the next layer reads their sum. The composition has
    ``prod_l (n_l K + 1)`` pieces of alternating slope, which equals
    :func:`regionlab.bounds._general.cpwl_upper` for ``n0 = 1``. With ``K = 1`` it
    realises Serra et al.'s Theorem 5 count ``prod (n_l + 1)`` with leaky-type units;
    :func:`serra_sawtooth_relu` does it with plain ReLUs.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths n_1, ..., n_L >= 1.
    breakpoints : int
        K >= 1, breakpoints per unit.

    Returns
    -------
    ExtremalConstruction
        On ``[0, 1]``; ``distinct_pieces`` is true (the slopes alternate in sign).

    Examples
    --------
    >>> import regionlab
    >>> c = sawtooth_network([3, 3], breakpoints=1)
    >>> c.expected_regions, regionlab.partition_segment(c.network, [0.0], [1.0]).num_linear_pieces
    (16, 16)
    """
    widths = _widths(widths)
    K = _int(breakpoints, "breakpoints")
    net, splits = _univariate_construction(1, widths, K, 0)
    return ExtremalConstruction(
        net, *_cube(1), cpwl_lower(1, widths, breakpoints=K), "sawtooth_network", 1, widths, "cpwl", K,
        None, splits, True,
    )


def serra_sawtooth_relu(widths) -> ExtremalConstruction:
    """Serra et al. (2018) Theorem 5 with plain ReLU units: ``prod_l (n_l + 1)`` regions on [0, 1].

    Needs ``n_l >= 3``. Layer ``l`` builds a zig-zag with ``n_l + 1`` pieces, one
    breakpoint per ReLU, every piece mapping onto ``[0, 1]``. Plain ReLUs have no linear
    term, so the first slope must come from units that open towards the left: the last
    two kinks use ``relu(t - z)`` and the rest ``relu(z - t)``; the first slope then
    equals ``s_{n-2} - s_n``, which the piece lengths ``2u`` (and one ``u``,
    ``u = 1 / (2 n + 1)``) satisfy. With ``n = 2`` no choice works, hence ``n >= 3``.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths, each >= 3.

    Returns
    -------
    ExtremalConstruction
        On ``[0, 1]``.

    Raises
    ------
    BoundNotApplicableError
        If a width is below 3.

    Examples
    --------
    >>> import regionlab
    >>> c = serra_sawtooth_relu([3, 3, 3])
    >>> c.expected_regions, regionlab.partition_segment(c.network, [0.0], [1.0]).num_regions
    (64, 64)
    """
    widths = _widths(widths)
    for layer, n in enumerate(widths, start=1):
        if n < 3:
            raise BoundNotApplicableError(
                f"serra_sawtooth_relu needs at least 3 ReLUs per layer (Serra et al. Thm 5); layer {layer} "
                f"has {n}. Use sawtooth_network for per-unit slopes."
            )
    ops = []
    S = torch.ones(1, 1, dtype=_F64)  # y = S h + beta
    beta = torch.zeros(1, dtype=_F64)
    for n in widths:
        u = 1.0 / (2 * n + 1)
        short = n if n % 2 == 1 else n - 2
        lengths = [u if p == short else 2 * u for p in range(n + 1)]
        edges = [0.0]
        for ell in lengths:
            edges.append(edges[-1] + ell)
        slopes = [(-1.0) ** p / lengths[p] for p in range(n + 1)]
        kinks = edges[1:-1]
        deltas = [slopes[m] - slopes[m - 1] for m in range(1, n + 1)]
        neg = {n - 2, n - 1}  # 0-based: the last two kinks open to the left
        sign = torch.tensor([-1.0 if m in neg else 1.0 for m in range(n)], dtype=_F64)
        t = torch.tensor(kinks, dtype=_F64)
        # pre-activation sign * (y - t), y = S h + beta
        E = sign.unsqueeze(1)
        ops.append(Dense(E @ S, E @ beta - sign * t))
        ops.append(PiecewiseLinear.relu())
        # g(z) = beta' + sum_m delta_m relu(+-(z - t_m)); g(0) = 0
        d = torch.tensor(deltas, dtype=_F64)
        S = d.reshape(1, -1)
        beta = -(d * t * (sign < 0)).sum().reshape(1)
    ops.append(Dense(S, beta))
    net = CPWLNetwork.sequential((1,), ops)
    count = math.prod(n + 1 for n in widths)
    return ExtremalConstruction(
        net, *_cube(1), count, "serra_sawtooth_relu", 1, widths, "relu", 1, None,
        tuple((n,) for n in widths), True,
    )


def folding_network(input_dim: int, widths, *, breakpoints: int = 1, seed: int = 0) -> ExtremalConstruction:
    """Univariate CPWL units that attain :func:`~regionlab.bounds._general.cpwl_lower` in the unit cube.

    Every layer before the last folds each coordinate of ``[0, 1]^{n0}``: the
    ``q_c`` units of coordinate ``c`` (:func:`~regionlab.bounds._general.fold_split`)
    form a zig-zag with ``q_c K + 1`` pieces, so the layer maps each of
    ``prod_c (q_c K + 1)`` boxes onto the cube. The last layer is an arrangement of
    ``n_L`` families of ``K`` parallel hyperplanes in general position (random unit
    normals from a generator seeded with ``seed``, checked on every vertex) scaled so
    that all vertices lie inside the cube; each of its ``P(n_L, K, n0)`` cells meets the
    cube and so every box. For ``n0 = 1`` this is :func:`sawtooth_network`.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    widths : sequence of int
        Hidden widths; ``n_l >= n0`` for every layer but the last.
    breakpoints : int
        K >= 1.
    seed : int
        Seed of the last layer's random arrangement and output weights.

    Returns
    -------
    ExtremalConstruction
        On ``[0, 1]^{n0}``.

    Raises
    ------
    BoundNotApplicableError
        If a layer before the last has fewer than ``n0`` units.

    Examples
    --------
    >>> import regionlab
    >>> c = folding_network(2, [2, 3])
    >>> part = regionlab.partition_plane(c.network, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (0, 1, 0, 1))
    >>> c.expected_regions, part.num_regions  # 2^2 boxes * Z(3, 2)
    (28, 28)
    """
    n0 = _int(input_dim, "input_dim")
    widths = _widths(widths)
    K = _int(breakpoints, "breakpoints")
    _int(seed, "seed", 0)
    _fold_widths(n0, widths, "folding_network")
    net, splits = _univariate_construction(n0, widths, K, int(seed))
    return ExtremalConstruction(
        net, *_cube(n0), cpwl_lower(n0, widths, breakpoints=K), "folding_network", n0, widths, "cpwl", K,
        None, splits, True,
    )


def maxout_sawtooth_network(widths, *, rank: int) -> ExtremalConstruction:
    """Input dimension 1, maxout units of rank k: :func:`~regionlab.bounds._general.maxout_lower` on [0, 1].

    A rank-``k`` unit is convex with ``k - 1`` breakpoints; the next layer adds the
    units with signs, ``+`` (convex turns) and ``-`` (concave turns), which alternate
    along a zig-zag. With ``n_l`` even all ``n_l (k - 1)`` breakpoints are turns, with
    ``n_l`` odd ``(n_l - 1)(k - 1) + 1`` are, and the other ``k - 2`` sit inside the
    runs, where each splits one region of the rest of the network.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths >= 1.
    rank : int
        k >= 1.

    Returns
    -------
    ExtremalConstruction
        On ``[0, 1]``.

    Examples
    --------
    >>> import regionlab
    >>> c = maxout_sawtooth_network([2, 3], rank=3)
    >>> c.expected_regions, regionlab.partition_segment(c.network, [0.0], [1.0]).num_regions
    (35, 35)
    """
    widths = _widths(widths)
    k = _int(rank, "rank")
    net, splits = _maxout_construction(1, widths, k, 0)
    return ExtremalConstruction(
        net, *_cube(1), maxout_lower(1, widths, rank=k), "maxout_sawtooth_network", 1, widths, "maxout",
        None, k, splits, k > 1,
    )


def maxout_folding_network(input_dim: int, widths, *, rank: int, seed: int = 0) -> ExtremalConstruction:
    """Maxout units of rank k that attain :func:`~regionlab.bounds._general.maxout_lower` in the unit cube.

    Folding layers as in :func:`maxout_sawtooth_network`, one zig-zag of ``z(q_c, k)``
    pieces per coordinate (unused breakpoints beyond ``z = 1``, outside the cube's
    image); the last layer as :func:`extremal_maxout_layer`. For ``n0 = 1`` it is
    :func:`maxout_sawtooth_network`.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    widths : sequence of int
        Hidden widths; ``n_l >= n0`` for every layer but the last.
    rank : int
        k >= 1.
    seed : int
        Seed of the last layer's random arrangement, slopes and output weights.

    Returns
    -------
    ExtremalConstruction
        On ``[0, 1]^{n0}``.

    Raises
    ------
    BoundNotApplicableError
        If a layer before the last has fewer than ``n0`` units.

    Examples
    --------
    >>> import regionlab
    >>> c = maxout_folding_network(2, [2, 2], rank=3)
    >>> part = regionlab.partition_plane(c.network, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (0, 1, 0, 1))
    >>> c.expected_regions, part.num_regions  # z(1, 3)^2 * P(2, 2, 2)
    (36, 36)
    """
    n0 = _int(input_dim, "input_dim")
    widths = _widths(widths)
    k = _int(rank, "rank")
    _int(seed, "seed", 0)
    _fold_widths(n0, widths, "maxout_folding_network")
    net, splits = _maxout_construction(n0, widths, k, int(seed))
    return ExtremalConstruction(
        net, *_cube(n0), maxout_lower(n0, widths, rank=k), "maxout_folding_network", n0, widths, "maxout",
        None, k, splits, k > 1,
    )


def extremal_maxout_layer(input_dim: int, width: int, rank: int, *, seed: int = 0) -> ExtremalConstruction:
    """One maxout layer with Montufar-Ren-Zhang's maximal count ``P(n, k - 1, n0)`` in the unit cube.

    Unit ``i`` takes the maximum of ``k`` affine functions ``s_p (a_i . x) + c_p`` with
    one direction ``a_i``: a convex function of ``a_i . x`` whose ``k - 1`` tie
    hyperplanes are parallel. The ``n`` families are in general position (random unit
    normals, seeded; checked on every vertex) with every vertex inside the cube, so all
    ``sum_{j<=n0} C(n, j) (k - 1)^j`` cells of the arrangement meet the cube.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    width : int
        n >= 1 units.
    rank : int
        k >= 1.
    seed : int
        Seed of the random directions, breakpoints and slopes.

    Returns
    -------
    ExtremalConstruction
        On ``[0, 1]^{n0}``.

    Examples
    --------
    >>> import regionlab
    >>> c = extremal_maxout_layer(2, 2, 4)
    >>> part = regionlab.partition_plane(c.network, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (0, 1, 0, 1))
    >>> c.expected_regions, part.num_regions  # 1 + 2 * 3 + 3^2
    (16, 16)
    """
    n0 = _int(input_dim, "input_dim")
    n = _int(width, "width")
    k = _int(rank, "rank")
    _int(seed, "seed", 0)
    net, _ = _maxout_construction(n0, (n,), k, int(seed))
    return ExtremalConstruction(
        net, *_cube(n0), cpwl_one_layer(n, k - 1, n0), "extremal_maxout_layer", n0, (n,), "maxout", None, k,
        (), k > 1,
    )


def generic_layer(
    input_dim: int, width: int, *, breakpoints: int = 1, seed: int = 0, radius: float | None = None
) -> ExtremalConstruction:
    """One random layer in general position with ``P(n, K, n0)`` regions in the returned box.

    Unit ``i`` has a random unit weight vector, ``K`` random breakpoints and random
    per-unit slopes (a generator seeded with ``seed``); general position is checked on
    every vertex of the arrangement (redrawn otherwise). The box contains all vertices
    (a point on every minimal face when ``n < n0``) in its interior, so every cell of the
    arrangement meets it: the count there is the maximum ``sum_{j<=n0} C(n, j) K^j`` of
    :func:`cpwl_upper` for one layer. Without ``radius`` the box is the vertices'
    bounding box enlarged by 1 on each side; with ``radius`` the arrangement is scaled
    and centred so that its vertices lie in ``[-0.9 r, 0.9 r]^{n0}`` and the box is
    ``[-r, r]^{n0}``.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    width : int
        n >= 1 units.
    breakpoints : int
        K >= 1.
    seed : int
        Generator seed.
    radius : float, optional
        Half-width r > 0 of a given box ``[-r, r]^{n0}`` to place the arrangement in.

    Returns
    -------
    ExtremalConstruction

    Raises
    ------
    InvalidParameterError
        For bad numbers, or an arrangement with too many vertices to check.

    Examples
    --------
    >>> import regionlab
    >>> c = generic_layer(2, 4, breakpoints=2, seed=3)
    >>> part = regionlab.partition_plane(c.network, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0],
    ...                                  (c.lower[0], c.upper[0], c.lower[1], c.upper[1]))
    >>> c.expected_regions, part.num_regions  # 1 + 4 * 2 + 6 * 4
    (33, 33)
    >>> generic_layer(2, 4, radius=1000.0).box
    Box(2-D, lower=[-1000, -1000], upper=[1000, 1000])
    """
    n0 = _int(input_dim, "input_dim")
    n = _int(width, "width")
    K = _int(breakpoints, "breakpoints")
    gen = torch.Generator().manual_seed(_int(seed, "seed", 0))
    if radius is not None:
        if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not 0 < float(radius) < math.inf:
            raise InvalidParameterError(f"radius must be a positive finite number; got {radius!r}.")
        radius = float(radius)
    a, t, pts = _general_position(n0, n, K, gen)
    if radius is None:
        lo = (pts.amin(0) - 1.0).tolist()
        hi = (pts.amax(0) + 1.0).tolist()
    else:
        # similarity into [0.05, 0.95]^n0, then y -> 2 r (y - 1/2): vertices in [-0.9 r, 0.9 r]^n0
        t = 2.0 * radius * (_into_cube(a, t, pts, margin=0.05) - 0.5 * a.sum(1, keepdim=True))
        lo, hi = [-radius] * n0, [radius] * n0
    ops = [
        Dense(a.clone(), torch.zeros(n, dtype=_F64)),
        PiecewiseLinear.from_breakpoints(t, _random_slopes(n, K, gen), torch.zeros(n, dtype=_F64)),
        Dense(_output_weights(n, gen).reshape(1, -1), torch.zeros(1, dtype=_F64)),
    ]
    net = CPWLNetwork.sequential((n0,), ops)
    return ExtremalConstruction(
        net, tuple(lo), tuple(hi), cpwl_one_layer(n, K, n0), "generic_layer", n0, (n,), "cpwl", K, None, (),
        True,
    )
