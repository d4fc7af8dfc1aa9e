"""Local geometry around data points: region counts in small balls and switching distances.

Two questions about the neighbourhood of each point of a batch:

* :func:`local_region_counts`: how many activation regions meet the ball of radius
  ``r`` around the point? Three methods, from exact to cheap: ``"exact"`` (every
  region of the full-dimensional ball, n-D engine), ``"slices"`` (exact counts on
  random 2-D slices of the ball through the point) and ``"complexity"`` (the local
  complexity proxy of Humayun, Balestriero and Baraniuk, ICML 2024: per layer, the
  number of units whose activation state varies over the vertices of a random
  cross-polytope around the point).
* :func:`switching_distances`: for every unit, how far is the point from the nearest
  switching surface that bounds the unit's current piece, inside the point's own
  activation region (where the surface is a hyperplane)?

Examples
--------
>>> import torch
>>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
>>> from regionlab.local import local_region_counts, switching_distances
>>> W = torch.eye(2, dtype=torch.float64)
>>> net = CPWLNetwork.sequential((2,), [Dense(W, torch.zeros(2, dtype=torch.float64)), PiecewiseLinear.relu()])
>>> X = torch.tensor([[0.0, 0.0], [5.0, 5.0]], dtype=torch.float64)
>>> local_region_counts(net, X, 1.0, method="slices", num_slices=2).counts
tensor([4., 1.], dtype=torch.float64)
>>> switching_distances(net, X).distances
tensor([[0., 0.],
        [5., 5.]], dtype=torch.float64)
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .errors import (
    DomainError,
    InvalidParameterError,
    MissingDependencyError,
    NumericalError,
    RegionLimitExceeded,
    ShapeError,
)
from .ir.network import CPWLNetwork, choice_at
from .numerics import DEFAULT_NUMERICS, Numerics, exact_mode

__all__ = [
    "LocalCounts",
    "local_region_counts",
    "ball_slice_polygon",
    "SwitchingDistances",
    "switching_distances",
]

_METHODS = ("exact", "slices", "complexity")
_BALL_NORMS = ("linf", "l1")
# elements (float64) of the largest temporary a chunk may hold: 2**24 is 128 MiB
_CHUNK_ELEMENTS = 1 << 24
# relative tolerance that drops (nearly) collinear points from a 2-D convex hull
_HULL_RTOL = 1e-12
# directions of the extreme points that pre-filter a large hull's points
_HULL_FILTER_DIRECTIONS = 32
# largest number of sign-vector classes sampled without repetition (n <= 13)
_MAX_DISTINCT_SIGN_CLASSES = 4096


# ------------------------------------------------------------------ argument checks


def _check_numerics(numerics) -> Numerics:
    numerics = DEFAULT_NUMERICS if numerics is None else numerics
    if not isinstance(numerics, Numerics):
        raise InvalidParameterError(
            f"The 'numerics' parameter must be a regionlab.Numerics instance or None. "
            f"Got {type(numerics).__name__} instead."
        )
    return numerics


def _check_choice(value, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidParameterError(
            f"The '{name}' parameter must be one of {', '.join(repr(a) for a in allowed)}. Got {value!r} instead."
        )
    return value


def _check_positive_int(value, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise InvalidParameterError(f"The '{name}' parameter must be a positive int. Got {value!r} instead.")
    return int(value)


def _check_radius(radius) -> float:
    if isinstance(radius, Tensor) and radius.numel() == 1:
        radius = float(radius)
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)):
        raise InvalidParameterError(
            f"The 'radius' parameter must be a positive number. Got {type(radius).__name__} instead."
        )
    radius = float(radius)
    if not math.isfinite(radius):
        raise NumericalError(f"The 'radius' parameter must be finite. Got {radius} instead.")
    if radius <= 0:
        raise DomainError(f"The 'radius' parameter must be positive (the ball would be empty or a point). Got {radius} instead.")
    return radius


def _check_generator(generator) -> torch.Generator:
    # a fixed default seed keeps the randomized methods reproducible
    if generator is None:
        return torch.Generator().manual_seed(0)
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(int(generator))
    if isinstance(generator, torch.Generator):
        if generator.device.type != "cpu":
            raise InvalidParameterError(
                "The 'generator' parameter must be a CPU torch.Generator (directions are drawn on the CPU). "
                f"Got one on {generator.device}."
            )
        return generator
    raise InvalidParameterError(
        f"The 'generator' parameter must be a torch.Generator, an int seed or None. Got {type(generator).__name__} instead."
    )


def _network_and_points(model, X) -> tuple[CPWLNetwork, Tensor]:
    """The traced network and the flat points ``(B, n0)`` on its device and dtype."""
    from .regions._common import _check_points, as_network, as_tensor_arg

    if isinstance(model, CPWLNetwork):
        net = model
    elif isinstance(model, torch.nn.Module):
        t = as_tensor_arg(X, "X")
        if t.dim() < 2:
            raise ShapeError(
                f"The 'X' parameter must be a batch (B, *input_shape) of points. Got shape {tuple(t.shape)} instead; "
                "add a leading batch dimension for a single point."
            )
        net = as_network(model, t[0])
    else:
        raise InvalidParameterError(
            f"The 'model' parameter must be a torch.nn.Module or a regionlab CPWLNetwork. Got {type(model).__name__} instead."
        )
    pts, _ = _check_points(net, X, "X")
    if pts.shape[0] == 0:
        raise ShapeError("The 'X' parameter holds no points; pass a batch (B, *input_shape) with B >= 1.")
    return net, pts


def _cast(net: CPWLNetwork, pts: Tensor, numerics: Numerics) -> tuple[CPWLNetwork, Tensor]:
    from .regions._common import network_for

    net = network_for(net, numerics)
    return net, pts.to(dtype=numerics.dtype)


def _progress_bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="point")


# ------------------------------------------------------------------- result: counts


@dataclass(frozen=True, eq=False)
class LocalCounts:
    """Local region counts (or local complexity) around a batch of points.

    Attributes
    ----------
    counts : Tensor ``(B,)`` float64
        Per point: the exact number of activation regions meeting the ball
        (``"exact"``, integral values), the mean count over the slices
        (``"slices"``), or the local complexity, the total number of units whose
        state varies over the neighbourhood's vertices (``"complexity"``).
    per_slice : Tensor ``(B, S)`` float64 or None
        Region count of each 2-D slice (``"slices"`` only).
    per_layer : Tensor ``(B, L)`` float64 or None
        Varying units of each nonlinear layer (``"complexity"`` only).
    method : str
        ``"exact"``, ``"slices"`` or ``"complexity"``.
    norm : str
        ``"linf"`` or ``"l1"``.
    radius : float
        Radius of the ball (or of the cross-polytope).
    layer_widths : tuple of int or None
        Units of each nonlinear layer (``"complexity"`` only).
    layer_names : tuple of str or None
        Names of the nonlinear layers' nodes (``"complexity"`` only).
    num_directions : int or None
        Directions P of the cross-polytope actually used (``"complexity"`` only).
    seconds : float
        Wall-clock time of the computation.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64)), PiecewiseLinear.relu()])
    >>> res = local_region_counts(net, torch.zeros(3, 2, dtype=torch.float64), 0.5, method="complexity")
    >>> res.counts, res.per_layer.shape
    (tensor([2., 2., 2.], dtype=torch.float64), torch.Size([3, 1]))
    """

    counts: Tensor
    per_slice: Tensor | None
    per_layer: Tensor | None
    method: str
    norm: str
    radius: float
    layer_widths: tuple[int, ...] | None = None
    layer_names: tuple[str, ...] | None = None
    num_directions: int | None = None
    seconds: float = 0.0

    @property
    def num_points(self) -> int:
        """Number of points B.

        Examples
        --------
        >>> import torch
        >>> LocalCounts(torch.ones(4, dtype=torch.float64), None, None, "exact", "linf", 0.1).num_points
        4
        """
        return int(self.counts.shape[0])

    def __len__(self) -> int:
        return self.num_points

    @property
    def slice_max(self) -> Tensor | None:
        """Largest slice count of each point ``(B,)`` (``"slices"`` only, else ``None``).

        Examples
        --------
        >>> import torch
        >>> res = LocalCounts(torch.tensor([2.0]), torch.tensor([[1.0, 3.0]]), None, "slices", "linf", 0.1)
        >>> res.slice_max
        tensor([3.])
        """
        return None if self.per_slice is None else self.per_slice.amax(1)

    @property
    def per_layer_fraction(self) -> Tensor | None:
        """``per_layer`` divided by the layer widths ``(B, L)`` (``"complexity"`` only).

        Examples
        --------
        >>> import torch
        >>> res = LocalCounts(torch.tensor([3.0]), None, torch.tensor([[1.0, 2.0]]), "complexity", "l1", 0.1, (2, 4))
        >>> res.per_layer_fraction
        tensor([[0.5000, 0.5000]])
        """
        if self.per_layer is None or self.layer_widths is None:
            return None
        widths = torch.tensor(self.layer_widths, dtype=self.per_layer.dtype).clamp_min(1)
        return self.per_layer / widths

    def summary(self) -> dict:
        """Batch statistics as plain numbers.

        Returns
        -------
        dict
            ``method``, ``norm``, ``radius``, ``num_points``, ``mean``, ``std``
            (population), ``min``, ``median``, ``max`` of :attr:`counts`, ``seconds``;
            for slices also ``num_slices`` and ``mean_slice_max``; for the complexity
            also ``num_directions``, ``per_layer_mean`` and ``per_layer_fraction_mean``.

        Examples
        --------
        >>> import torch
        >>> LocalCounts(torch.tensor([1.0, 3.0], dtype=torch.float64), None, None, "exact", "l1", 0.5).summary()["mean"]
        2.0
        """
        c = self.counts.to(torch.float64)
        empty = c.numel() == 0  # e.g. the partial result of a limit hit on the first point
        nan = float("nan")
        out = {
            "method": self.method,
            "norm": self.norm,
            "radius": self.radius,
            "num_points": self.num_points,
            "mean": nan if empty else float(c.mean()),
            "std": nan if empty else float(c.std(unbiased=False)),
            "min": nan if empty else float(c.min()),
            "median": nan if empty else float(c.median()),
            "max": nan if empty else float(c.max()),
            "seconds": self.seconds,
        }
        if self.per_slice is not None:
            out["num_slices"] = int(self.per_slice.shape[1])
            out["mean_slice_max"] = nan if empty else float(self.slice_max.to(torch.float64).mean())
        if self.per_layer is not None:
            out["num_directions"] = self.num_directions
            out["per_layer_mean"] = self.per_layer.to(torch.float64).mean(0).tolist()
            frac = self.per_layer_fraction
            if frac is not None:
                out["per_layer_fraction_mean"] = frac.to(torch.float64).mean(0).tolist()
        return out

    def to_dict(self) -> dict:
        """Plain-data form (lists, numbers, strings), e.g. for JSON.

        Examples
        --------
        >>> import torch
        >>> res = LocalCounts(torch.tensor([2.0], dtype=torch.float64), None, None, "exact", "linf", 0.1)
        >>> LocalCounts.from_dict(res.to_dict()).counts
        tensor([2.], dtype=torch.float64)
        """
        out = {}
        for f in fields(self):
            val = getattr(self, f.name)
            out[f.name] = val.tolist() if isinstance(val, Tensor) else (list(val) if isinstance(val, tuple) else val)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> LocalCounts:
        """Rebuild from :meth:`to_dict` output.

        Examples
        --------
        >>> LocalCounts.from_dict({"counts": [1.0], "per_slice": [[1.0]], "per_layer": None, "method": "slices",
        ...                        "norm": "l1", "radius": 0.2}).per_slice
        tensor([[1.]], dtype=torch.float64)
        """
        def tensor(v):
            return None if v is None else torch.tensor(v, dtype=torch.float64)

        def tup(v, kind):
            return None if v is None else tuple(kind(e) for e in v)

        try:
            return cls(
                counts=tensor(d["counts"]).reshape(-1),
                per_slice=tensor(d.get("per_slice")),
                per_layer=tensor(d.get("per_layer")),
                method=str(d["method"]),
                norm=str(d["norm"]),
                radius=float(d["radius"]),
                layer_widths=tup(d.get("layer_widths"), int),
                layer_names=tup(d.get("layer_names"), str),
                num_directions=None if d.get("num_directions") is None else int(d["num_directions"]),
                seconds=float(d.get("seconds", 0.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"LocalCounts.from_dict needs the output of LocalCounts.to_dict(); the dict is malformed ({exc!r})."
            ) from exc

    @classmethod
    def concat(cls, results) -> LocalCounts:
        """Concatenate results for different batches of points into one.

        All results must share the method, norm, radius and (for the complexity)
        layers and number of directions; slice results must have the same number of
        slices. Times add up.

        Raises
        ------
        InvalidParameterError
            If ``results`` is empty or the results are not compatible.

        Examples
        --------
        >>> import torch
        >>> a = LocalCounts(torch.tensor([1.0]), None, None, "exact", "linf", 0.1)
        >>> LocalCounts.concat([a, a]).counts
        tensor([1., 1.])
        """
        results = list(results)
        if not results or not all(isinstance(r, LocalCounts) for r in results):
            raise InvalidParameterError("LocalCounts.concat needs a non-empty sequence of LocalCounts.")
        first = results[0]
        for r in results[1:]:
            same = (r.method, r.norm, r.radius, r.layer_widths, r.num_directions) == (
                first.method, first.norm, first.radius, first.layer_widths, first.num_directions)
            if same and first.per_slice is not None:
                same = r.per_slice is not None and r.per_slice.shape[1] == first.per_slice.shape[1]
            if not same:
                raise InvalidParameterError(
                    "LocalCounts.concat can only join results of the same method, norm, radius, layers, directions "
                    f"and number of slices; got ({first.method}, {first.norm}, r={first.radius}) and "
                    f"({r.method}, {r.norm}, r={r.radius})."
                )

        def cat(name):
            parts = [getattr(r, name) for r in results]
            return None if parts[0] is None else torch.cat(parts, 0)

        return cls(cat("counts"), cat("per_slice"), cat("per_layer"), first.method, first.norm, first.radius,
                   first.layer_widths, first.layer_names, first.num_directions, sum(r.seconds for r in results))

    def merge(self, other: LocalCounts) -> LocalCounts:
        """This result followed by ``other`` (see :meth:`concat`).

        Examples
        --------
        >>> import torch
        >>> a = LocalCounts(torch.tensor([1.0]), None, None, "exact", "linf", 0.1)
        >>> a.merge(a).num_points
        2
        """
        return LocalCounts.concat([self, other])

    def __repr__(self):
        return (f"LocalCounts(method={self.method!r}, norm={self.norm!r}, radius={self.radius}, "
                f"num_points={self.num_points}, mean={float(self.counts.to(torch.float64).mean()):.4g})")


# --------------------------------------------------------------- slices of a ball


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise hull vertices of 2-D points (monotone chain), collinear points dropped."""
    pts = np.unique(points, axis=0)
    if len(pts) < 3:
        return pts
    scale = float(np.abs(pts).max())
    tol = _HULL_RTOL * scale * scale
    if len(pts) > 4 * _HULL_FILTER_DIRECTIONS:
        pts = _drop_deep_interior(pts, 16 * tol)

    def chain(seq):
        out: list[np.ndarray] = []
        for p in seq:
            while len(out) >= 2:
                o, a = out[-2], out[-1]
                cross = (a[0] - o[0]) * (p[1] - o[1]) - (a[1] - o[1]) * (p[0] - o[0])
                if cross > tol:
                    break
                out.pop()
            out.append(p)
        return out

    lower, upper = chain(pts), chain(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _drop_deep_interior(pts: np.ndarray, margin: float) -> np.ndarray:
    """``pts`` without the points deep inside the polygon of their extreme points (Akl-Toussaint).

    The points extreme in ``_HULL_FILTER_DIRECTIONS`` directions are hull vertices, in
    counter-clockwise order; a point more than ``margin`` (a cross product, as the hull's
    tolerance) inside every edge of their polygon is inside the hull and cannot be a
    vertex of it. Only the survivors go through the sequential hull scan, which matters
    for slices of high-dimensional balls: ``2 n`` points, a hull of a few dozen.
    """
    angles = np.linspace(0.0, 2 * np.pi, _HULL_FILTER_DIRECTIONS, endpoint=False)
    extreme = np.argmax(pts @ np.stack([np.cos(angles), np.sin(angles)]), axis=0)
    extreme = extreme[extreme != np.roll(extreme, 1)]  # consecutive repeats (and the wrap-around)
    if len(extreme) < 3:
        return pts
    V = pts[extreme]
    E = np.roll(V, -1, axis=0) - V
    cross = E[:, 0] * (pts[:, 1:2] - V[:, 1]) - E[:, 1] * (pts[:, 0:1] - V[:, 0])  # (N, K)
    return pts[~(cross > margin).all(1)]


def ball_slice_polygon(u, v, radius: float, norm: str = "linf") -> Tensor:
    """The 2-D slice of a norm ball through its centre, as a convex polygon.

    The slice is ``{p in R^2 : ||p[0] * u + p[1] * v|| <= radius}``: the points of the
    ball around ``x`` that lie on the plane ``x + p[0] * u + p[1] * v``, in the plane's
    coordinates.

    * ``"linf"``: the intersection of the ``2 n`` half-planes
      ``|p[0] u_i + p[1] v_i| <= r``, computed as the polar of the convex hull of the
      points ``±(u_i, v_i) / r`` (each hull edge gives one vertex).
    * ``"l1"``: the ball of the norm ``g(p) = sum_i |a_i . p|`` with ``a_i = (u_i, v_i)``,
      the convex hull of the points ``±r d_i / g(d_i)`` with ``d_i`` orthogonal to
      ``a_i`` (``g`` is linear between these directions).

    Parameters
    ----------
    u, v : array-like, shape ``(n,)`` (any shape, flattened)
        Linearly independent directions (orthonormal for a metric slice).
    radius : float
        Radius of the ball, positive.
    norm : {"linf", "l1"}
        The ball's norm.

    Returns
    -------
    Tensor ``(m, 2)`` float64
        Counter-clockwise vertices, ready for ``partition_plane(..., bounds=...)``.
        Exact up to rounding; hull points within a relative ``1e-12`` of a hull edge
        are dropped as collinear.

    Raises
    ------
    DomainError
        If ``u`` and ``v`` are linearly dependent (the slice is not 2-D).
    ShapeError, NumericalError, InvalidParameterError
        On mismatched shapes, non-finite entries, or a bad radius or norm.

    Examples
    --------
    >>> ball_slice_polygon([1.0, 0.0], [0.0, 1.0], 1.0, "linf")
    tensor([[-1., -1.],
            [ 1., -1.],
            [ 1.,  1.],
            [-1.,  1.]], dtype=torch.float64)
    >>> ball_slice_polygon([1.0, 0.0], [0.0, 1.0], 2.0, "l1").abs().sum(1)
    tensor([2., 2., 2., 2.], dtype=torch.float64)
    """
    norm = _check_choice(norm, "norm", _BALL_NORMS)
    radius = _check_radius(radius)
    u = torch.as_tensor(u, dtype=torch.float64).reshape(-1).cpu()
    v = torch.as_tensor(v, dtype=torch.float64).reshape(-1).cpu()
    if u.shape != v.shape:
        raise ShapeError(f"The slice directions u and v must have the same number of entries; got {u.numel()} and {v.numel()}.")
    if not (torch.isfinite(u).all() and torch.isfinite(v).all()):
        raise NumericalError("The slice directions u and v must be finite.")
    return torch.from_numpy(_slice_polygon(u.numpy(), v.numpy(), radius, norm))


def _slice_polygon(u: np.ndarray, v: np.ndarray, radius: float, norm: str) -> np.ndarray:
    A = np.stack([u, v], 1)  # (n, 2): row i is a_i
    scale = float(np.abs(A).max()) if A.size else 0.0
    if scale == 0 or np.linalg.matrix_rank(A / scale, tol=1e-12) < 2:
        raise DomainError("The slice directions u and v are linearly dependent (or zero); the slice is not 2-D.")
    A = A[np.abs(A).max(1) > 0]
    if norm == "linf":
        hull = _convex_hull(np.concatenate([A, -A]) / radius)
        nxt = np.roll(hull, -1, axis=0)
        # vertex k solves h_k . p = 1 and h_{k+1} . p = 1 (the polar of hull edge k)
        det = hull[:, 0] * nxt[:, 1] - hull[:, 1] * nxt[:, 0]
        poly = np.stack([(nxt[:, 1] - hull[:, 1]) / det, (hull[:, 0] - nxt[:, 0]) / det], 1)
        poly = _convex_hull(poly)  # reorders CCW from the lowest point, drops rounding duplicates
    else:
        d = np.stack([-A[:, 1], A[:, 0]], 1)  # d_i orthogonal to a_i
        g = np.abs(d @ A.T).sum(1)
        pts = radius * d / g[:, None]
        poly = _convex_hull(np.concatenate([pts, -pts]))
    return np.ascontiguousarray(poly, dtype=np.float64)


# ------------------------------------------------------------- random directions


def _orthonormal(n: int, k: int, gen: torch.Generator) -> Tensor:
    """``k`` orthonormal columns ``(n, k)`` drawn from the Haar measure (QR of a Gaussian)."""
    q, r = torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=torch.float64))
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return q * signs


def _sign_classes(n: int) -> int | None:
    """Number of sign vectors of length n up to a global sign, or None when too many to list."""
    return 1 << (n - 1) if n - 1 < 62 else None


def _effective_directions(n: int, P: int, norm: str) -> int:
    if norm == "linf":
        classes = _sign_classes(n)
        if classes is not None and classes <= P:
            return classes
    return P


def _codes_to_signs(codes: Tensor, n: int) -> Tensor:
    bits = (codes.unsqueeze(1) >> torch.arange(n - 1).unsqueeze(0)) & 1
    return torch.cat([torch.ones(codes.shape[0], 1, dtype=torch.float64), 1.0 - 2.0 * bits.to(torch.float64)], 1)


def _sample_directions(n: int, P: int, norm: str, gen: torch.Generator) -> Tensor:
    """Directions ``(P_eff, n)`` of one point's cross-polytope ``x ± r d_i`` (CPU float64).

    ``"l1"``: ``P`` orthonormal directions (Humayun et al.'s neighbourhood). ``"linf"``:
    sign vectors, so every vertex is a vertex of the l-inf ball: all ``2^(n-1)`` of
    them (up to a global sign) when that is at most ``P`` (the hull is the whole
    ball), else ``P`` distinct ones drawn at random (``n <= 13``) or ``P`` independent
    random ones.
    """
    if norm == "l1":
        return _orthonormal(n, P, gen).T.contiguous()
    classes = _sign_classes(n)
    if classes is not None and classes <= P:
        return _codes_to_signs(torch.arange(classes), n)
    if classes is not None and classes <= _MAX_DISTINCT_SIGN_CLASSES:
        return _codes_to_signs(torch.randperm(classes, generator=gen)[:P], n)
    return torch.randint(0, 2, (P, n), generator=gen).to(torch.float64).mul_(2.0).sub_(1.0)


def _user_directions(directions, B: int, n: int, per_item: tuple[int, ...], what: str) -> Tensor:
    """User directions broadcast to ``(B, *per_item_dims, n)`` (CPU float64)."""
    try:
        d = torch.as_tensor(directions, dtype=torch.float64).cpu()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidParameterError(f"The 'directions' parameter must be array-like; got {type(directions).__name__}.") from exc
    k = len(per_item)
    if d.dim() == k + 2 and d.shape[0] == B:
        pass
    elif d.dim() == k + 1:
        d = d.unsqueeze(0).expand(B, *d.shape)
    else:
        d = None
    if d is None or d.shape[-1] != n or any(s is not None and d.shape[1 + j] != s for j, s in enumerate(per_item)):
        shape_txt = ", ".join("k" if s is None else str(s) for s in per_item)
        raise ShapeError(
            f"The 'directions' parameter for {what} must have shape ({shape_txt}, {n}) (shared by all points) or "
            f"(B={B}, {shape_txt}, {n}). Got shape {tuple(torch.as_tensor(directions).shape)} instead."
        )
    if not bool(torch.isfinite(d).all()):
        raise NumericalError("The 'directions' parameter contains NaN or inf.")
    return d


# ----------------------------------------------------------------- local counts


def local_region_counts(
    model,
    X,
    radius: float,
    norm: str = "linf",
    method: str = "exact",
    *,
    num_slices: int = 4,
    num_directions: int | None = None,
    directions=None,
    generator=None,
    numerics: Numerics | None = None,
    progress: bool = False,
    max_regions: int | None = None,
) -> LocalCounts:
    """Number of activation regions meeting a small ball around each point.

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        A CPWL model (traced on first use on ``X[0]``, see :func:`regionlab.trace`) or
        a traced network.
    X : array-like
        Points ``(B, *input_shape)``, or flat ``(B, n)`` with a traced network.
    radius : float
        Radius ``r`` of the ball ``{y : ||y - x|| <= r}``.
    norm : {"linf", "l1"}
        The ball's norm.
    method : {"exact", "slices", "complexity"}
        * ``"exact"``: the exact number of regions meeting the ball with positive
          volume, from :func:`regionlab.count_regions` (the vertex engine, LP above 8-D) on a
          :class:`regionlab.domains.LinfBall` / ``L1Ball`` (exponential in the input
          dimension: small inputs only).
        * ``"slices"``: exact region counts of ``num_slices`` random 2-D slices of the
          ball through the point (random orthonormal pairs ``u, v`` of input
          directions; the slice is the convex polygon :func:`ball_slice_polygon`),
          by :func:`regionlab.partition_plane`. ``counts`` is the mean over the
          slices; ``per_slice`` holds them all. Needs ``n >= 2``.
        * ``"complexity"``: the local-complexity proxy of Humayun et al. (ICML 2024,
          "Deep networks always grok"): the number of units, per nonlinear layer,
          whose pattern code (piece index, exact breakpoint hits as their own class,
          max argument; see :mod:`regionlab.ir.ops`) is not constant over the
          centre and the ``2 P`` vertices ``x ± r d_i`` of a random cross-polytope.
          Exact for the first nonlinear layer (a unit varies if and only if its level
          set meets the vertices' convex hull), a proxy deeper. Not a region count.
    num_slices : int
        Slices per point (``"slices"``).
    num_directions : int, optional
        ``P`` for ``"complexity"``; default ``min(n, 16)``. With ``norm="l1"`` the
        ``d_i`` are ``P <= n`` random orthonormal directions, exactly Humayun et al.'s
        neighbourhood: the cross-polytope ``conv{x ± r d_i}``, which is the l1 ball of
        radius ``r`` in the rotated coordinates ``D (y - x)`` when ``P = n`` (it lies in
        the l2 ball of radius ``r``, not in the axis-aligned l1 ball). With
        ``norm="linf"`` the ``d_i`` are sign vectors (entries ``±1``), so every vertex
        ``x ± r d_i`` is a vertex of the l-inf ball and their hull lies inside it: all
        ``2^(n-1)`` sign vectors up to a global sign when that is at most ``P`` (then
        the hull is the whole ball and ``P`` shrinks to ``2^(n-1)``), otherwise ``P``
        random ones (distinct up to sign for ``n <= 13``).
    directions : array-like, optional
        Fixed directions instead of random ones: ``(S, 2, n)`` or ``(B, S, 2, n)``
        slice pairs ``(u, v)`` for ``"slices"`` (linearly independent; orthonormal for
        metric slices); ``(P, n)`` or ``(B, P, n)`` vectors ``d_i`` for
        ``"complexity"`` (vertices ``x ± r d_i`` whatever ``norm``). Not for ``"exact"``.
    generator : torch.Generator or int, optional
        Source of the random directions (a CPU generator or a seed; seed 0 by
        default, so results are reproducible). Directions are drawn point by point.
    numerics : Numerics, optional
        Precision and tolerances (float64, TF32 off, by default).
    progress : bool
        Show a progress bar over the points. Ctrl-C (``KeyboardInterrupt``) returns the
        counts of the points finished so far (the first ``num_points``, with a
        ``RuntimeWarning``); it is re-raised when no point had finished.
    max_regions : int, optional
        ``"exact"``: passed to the n-D engine. ``"slices"``: a slice with more regions
        raises. Not accepted with ``"complexity"``.

    Returns
    -------
    LocalCounts
        ``counts`` ``(B,)``, ``per_slice`` ``(B, S)`` or ``per_layer`` ``(B, L)``.

    Raises
    ------
    InvalidParameterError, ShapeError, DomainError, NumericalError
        On a bad model, points, radius, norm, method or option.
    MissingDependencyError
        ``"exact"`` when the n-D engine (:mod:`regionlab.regions.polytope`,
        :mod:`regionlab.domains`) is not available.
    RegionLimitExceeded
        When ``max_regions`` is exceeded; ``partial`` holds the counts of the points
        finished before.

    Examples
    --------
    One ReLU unit per axis: the box of radius 0.5 around the origin meets the four
    quadrants, the one around ``(2, 2)`` only one.

    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64)), PiecewiseLinear.relu()])
    >>> X = torch.tensor([[0.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    >>> local_region_counts(net, X, 0.5, method="slices", num_slices=3).per_slice
    tensor([[4., 4., 4.],
            [1., 1., 1.]], dtype=torch.float64)
    >>> local_region_counts(net, X, 0.5, method="complexity").counts
    tensor([2., 0.], dtype=torch.float64)
    >>> local_region_counts(net, X, 0.5, method="exact").counts
    tensor([4., 1.], dtype=torch.float64)
    """
    numerics = _check_numerics(numerics)
    method = _check_choice(method, "method", _METHODS)
    norm = _check_choice(norm, "norm", _BALL_NORMS)
    radius = _check_radius(radius)
    num_slices = _check_positive_int(num_slices, "num_slices")
    num_directions = _check_positive_int(num_directions, "num_directions", allow_none=True)
    max_regions = _check_positive_int(max_regions, "max_regions", allow_none=True)
    if method == "complexity" and max_regions is not None:
        raise InvalidParameterError(
            "The 'max_regions' parameter limits region counts; method='complexity' counts units, not regions. "
            "Leave max_regions at None."
        )
    if method == "exact" and directions is not None:
        raise InvalidParameterError("The 'directions' parameter is for method='slices' or 'complexity', not 'exact'.")
    if method != "complexity" and num_directions is not None:
        raise InvalidParameterError("The 'num_directions' parameter is only used by method='complexity'.")
    gen = _check_generator(generator)
    net, pts = _network_and_points(model, X)
    net, pts = _cast(net, pts, numerics)
    t0 = time.perf_counter()
    bar = _progress_bar(progress, pts.shape[0], f"local_region_counts[{method}]")
    try:
        with exact_mode(numerics):
            if method == "exact":
                result = _exact_counts(net, pts, radius, norm, numerics, max_regions, bar, t0)
            elif method == "slices":
                result = _slice_counts(net, pts, radius, norm, num_slices, directions, gen, numerics,
                                       max_regions, bar, t0)
            else:
                result = _complexity(net, pts, radius, norm, num_directions, directions, gen, bar)
    finally:
        if bar is not None:
            bar.close()
    if result.num_points < pts.shape[0]:
        _warn_interrupted("local_region_counts", result.num_points, pts.shape[0])
    return replace(result, seconds=time.perf_counter() - t0)


def _warn_interrupted(what: str, done: int, total: int) -> None:
    warnings.warn(f"{what} was interrupted (Ctrl-C): the results of the first {done} of {total} points are returned.",
                  RuntimeWarning, stacklevel=3)


def _partial(method, norm, radius, counts, per_slice, num_slices, t0) -> LocalCounts:
    c = torch.tensor(counts, dtype=torch.float64).reshape(-1)
    ps = None if per_slice is None else torch.tensor(per_slice, dtype=torch.float64).reshape(len(counts), num_slices)
    return LocalCounts(c, ps, None, method, norm, radius, seconds=time.perf_counter() - t0)


def _exact_counts(net, pts, radius, norm, numerics, max_regions, bar, t0) -> LocalCounts:
    try:
        from .domains import L1Ball, LinfBall
        from .regions.polytope import count_regions
    except ModuleNotFoundError as exc:
        if exc.name not in ("regionlab.domains", "regionlab.regions.polytope"):
            raise
        raise MissingDependencyError(
            "local_region_counts(method='exact') needs the n-D engine regionlab.regions.polytope and "
            f"regionlab.domains, which this installation lacks ({exc.name} is missing). "
            "Use method='slices' or method='complexity' instead."
        ) from exc
    ball = LinfBall if norm == "linf" else L1Ball
    kwargs = {"numerics": numerics}
    if max_regions is not None:
        kwargs["max_regions"] = max_regions
    counts: list[float] = []
    try:
        for b in range(pts.shape[0]):
            domain = ball(pts[b].detach().cpu(), radius)
            try:
                count = count_regions(net, domain, **kwargs)
            except RegionLimitExceeded as exc:
                raise RegionLimitExceeded(
                    f"Point {b}: the {norm} ball of radius {radius} meets more than max_regions={max_regions} "
                    "regions; raise max_regions or use method='slices' / 'complexity'. The counts of the earlier "
                    "points are attached as .partial.",
                    partial=_partial("exact", norm, radius, counts, None, 0, t0),
                ) from exc
            counts.append(float(count))
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:  # the finished points are kept (re-raised when there are none)
        if not counts:
            raise
    return LocalCounts(torch.tensor(counts, dtype=torch.float64), None, None, "exact", norm, radius)


def _slice_counts(net, pts, radius, norm, num_slices, directions, gen, numerics, max_regions, bar, t0) -> LocalCounts:
    from .regions.plane import partition_plane

    B, n = pts.shape
    if n < 2:
        raise InvalidParameterError(
            f"method='slices' needs an input of at least 2 dimensions; this network has {n}. Use method='exact'."
        )
    user = None if directions is None else _user_directions(directions, B, n, (None, 2), "method='slices'")
    S = num_slices if user is None else user.shape[1]
    xs = pts.detach().cpu()
    counts: list[float] = []
    per_slice: list[list[float]] = []
    try:
        for b in range(B):
            pairs = user[b] if user is not None else torch.stack([_orthonormal(n, 2, gen).T for _ in range(S)])
            row = []
            for s in range(S):
                u, v = pairs[s, 0], pairs[s, 1]
                polygon = torch.from_numpy(_slice_polygon(u.numpy(), v.numpy(), radius, norm))
                part = partition_plane(net, xs[b], u, v, polygon, numerics=numerics, decision_boundary=False)
                if max_regions is not None and part.num_regions > max_regions:
                    raise RegionLimitExceeded(
                        f"Point {b}, slice {s}: {part.num_regions} regions exceed max_regions={max_regions}; raise "
                        "max_regions or the radius is too large. The counts of the earlier points are attached as "
                        ".partial.",
                        partial=_partial("slices", norm, radius, counts, per_slice, S, t0),
                    )
                row.append(float(part.num_regions))
            per_slice.append(row)
            counts.append(sum(row) / len(row))
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:  # the finished points are kept (re-raised when there are none)
        if not counts:
            raise
        del per_slice[len(counts):]
    return LocalCounts(torch.tensor(counts, dtype=torch.float64), torch.tensor(per_slice, dtype=torch.float64),
                       None, "slices", norm, radius)


def _pattern_codes(op, pre: Tensor) -> Tensor:
    """Pattern codes ``(M, U)`` of a nonlinear op from its flattened input ``pre`` ``(M, U_in)``."""
    return op.piece(pre) if op.kind == "univariate" else op.pattern(pre)


def _complexity(net, pts, radius, norm, num_directions, directions, gen, bar) -> LocalCounts:
    B, n = pts.shape
    dev, dt = pts.device, pts.dtype
    if directions is not None:
        if num_directions is not None:
            raise InvalidParameterError("Pass either 'num_directions' or 'directions', not both.")
        user = _user_directions(directions, B, n, (None,), "method='complexity'")
        P = user.shape[1]
    else:
        user = None
        P = min(n, 16) if num_directions is None else num_directions
        if norm == "l1" and P > n:
            raise InvalidParameterError(
                f"The 'num_directions' parameter must be at most the input dimension {n} for norm='l1' "
                f"(orthonormal directions). Got {P} instead."
            )
        P = _effective_directions(n, P, norm)
    layers = net.nonlinear_nodes
    widths = tuple(net.nodes[i].size for i in layers)
    names = tuple(net.nodes[i].name for i in layers)
    V = 2 * P + 1
    # every node's value is alive at worst: bound the chunk by their total size
    per_vertex = sum(node.size for node in net.nodes)
    chunk = max(1, _CHUNK_ELEMENTS // (V * per_vertex))
    per_layer = torch.zeros(B, len(layers), dtype=torch.float64)
    done = 0
    try:
        for start in range(0, B, chunk):
            stop = min(B, start + chunk)
            if user is not None:
                D = user[start:stop]
            else:
                D = torch.stack([_sample_directions(n, P, norm, gen) for _ in range(start, stop)])
            D = D.to(device=dev, dtype=dt)
            x = pts[start:stop].unsqueeze(1)
            # centre first: it is the reference state of every unit
            verts = torch.cat([x, x + radius * D, x - radius * D], 1)  # (c, V, n)
            c = stop - start
            with torch.no_grad():
                _, pre = net.forward_with_preactivations(verts.reshape(c * V, *net.input_shape))
            for layer, (i, z) in enumerate(zip(layers, pre, strict=True)):
                codes = _pattern_codes(net.nodes[i].op, z).reshape(c, V, -1)
                varying = (codes != codes[:, :1]).any(1)
                per_layer[start:stop, layer] = varying.sum(1).to(torch.float64).cpu()
            done = stop
            if bar is not None:
                bar.update(c)
    except KeyboardInterrupt:  # the finished chunks are kept (re-raised when there are none)
        if not done:
            raise
        per_layer = per_layer[:done].clone()
    return LocalCounts(per_layer.sum(1), None, per_layer, "complexity", norm, radius, widths, names, P)


# ------------------------------------------------------------ switching distances


@dataclass(frozen=True, eq=False)
class SwitchingDistances:
    """Per point and unit, the distance to the nearest switching surface of the unit.

    Inside the activation region of a point ``x`` every pre-activation is affine,
    ``z_u(y) = z_u(x) + g_u . (y - x)``. The switching surfaces that bound unit ``u``'s
    current piece are the levels ``z_u = t`` of the piece's two breakpoints (univariate
    units) or the ties ``z_a = z_j`` of the current maximal argument ``a`` with each
    other argument ``j`` (max units). Each is a hyperplane inside the region; the
    *nearest* one (in the l2 sense) is reported. The "gap" of a unit is
    ``values - levels`` (``z_u - t``, or ``z_a - z_j >= 0``) and ``g`` is its gradient.

    Attributes
    ----------
    values : Tensor ``(B, U)`` float64
        ``z_u(x)``: the pre-activation (univariate units) or the maximal argument's
        value (max units).
    levels : Tensor ``(B, U)`` float64
        The level ``t`` of the nearest surface: a breakpoint, or the value of the
        nearest competing argument. NaN for a unit without any surface (a max unit
        with one argument).
    gradient_l1, gradient_l2 : Tensor ``(B, U)`` float64
        ``||g||_1`` and ``||g||_2`` of the nearest surface's gap.
    distances : Tensor ``(B, U)`` float64
        Euclidean distance ``|z - t| / ||g||_2`` from ``x`` to the nearest surface's
        hyperplane (``inf`` when ``g == 0``: the unit does not change inside the
        region, or has no surface). Exact when ``foot_in_region``; otherwise the
        surface bends before it is reached and this is a first-order estimate.
    distances_linf : Tensor ``(B, U)`` float64
        l-inf distance ``min |z - t| / ||g||_1`` over the unit's surfaces (the dual norm).
    foot_in_region : Tensor ``(B, U)`` bool
        Whether the foot ``x - (z - t) g / ||g||^2`` of the perpendicular satisfies
        every other constraint of the point's (closed) region, within ``atol``: then
        the segment from ``x`` to the foot stays in the region and the surface is
        really reached there.
    unit_layer : Tensor ``(U,)`` long
        Index (into ``layer_names``) of the nonlinear layer of each unit; units are
        flattened as in :meth:`regionlab.ir.CPWLNetwork.patterns`.
    layer_names : tuple of str
        Names of the nonlinear nodes.
    points : Tensor ``(B, n)`` float64
        The points, flattened.
    gradients : Tensor ``(B, U, n)`` or None
        The gradients ``g`` (only with ``keep_gradients=True``).
    atol : float
        Relative tolerance used for ``foot_in_region``.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> W = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((2,), [Dense(W, torch.tensor([-5.0], dtype=torch.float64)), PiecewiseLinear.relu()])
    >>> sd = switching_distances(net, torch.zeros(1, 2, dtype=torch.float64))
    >>> sd.distances, sd.distances_linf, sd.foot_in_region
    (tensor([[1.]], dtype=torch.float64), tensor([[0.7143]], dtype=torch.float64), tensor([[True]]))
    """

    values: Tensor
    levels: Tensor
    gradient_l1: Tensor
    gradient_l2: Tensor
    distances: Tensor
    distances_linf: Tensor
    foot_in_region: Tensor
    unit_layer: Tensor
    layer_names: tuple[str, ...]
    points: Tensor
    gradients: Tensor | None = None
    atol: float = DEFAULT_NUMERICS.atol

    @property
    def num_points(self) -> int:
        """Number of points B.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> switching_distances(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), torch.ones(3, 2)).num_points
        3
        """
        return int(self.values.shape[0])

    @property
    def num_units(self) -> int:
        """Number of units U.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> switching_distances(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), torch.ones(3, 2)).num_units
        2
        """
        return int(self.values.shape[1])

    @property
    def gradient_norms(self) -> Tensor:
        """``(B, U, 2)``: ``gradient_l1`` and ``gradient_l2`` stacked on the last axis.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> switching_distances(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), torch.ones(1, 2)).gradient_norms
        tensor([[[1., 1.],
                 [1., 1.]]], dtype=torch.float64)
        """
        return torch.stack([self.gradient_l1, self.gradient_l2], -1)

    def _distances_for(self, norm: str) -> Tensor:
        norm = _check_choice(norm, "norm", ("linf", "l2"))
        return self.distances_linf if norm == "linf" else self.distances

    def crosses(self, radius, norm: str = "linf") -> Tensor:
        """Whether a unit's nearest surface meets the ball of radius ``r`` around each point.

        ``|z - t| <= r ||g||_1`` for the l-inf ball (dual norm) and ``|z - t| <= r ||g||_2``
        for the l2 ball, for any of the unit's surfaces (their affine extensions inside
        the point's region: exact in the first layer, first order deeper). A unit with
        ``g == 0`` never crosses.

        Parameters
        ----------
        radius : float or Tensor ``(B,)``
            Non-negative radius, shared or per point.
        norm : {"linf", "l2"}

        Returns
        -------
        BoolTensor ``(B, U)``

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> sd = switching_distances(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), torch.tensor([[0.5, 2.0]]))
        >>> sd.crosses(1.0)
        tensor([[ True, False]])
        """
        d = self._distances_for(norm)
        r = torch.as_tensor(radius, dtype=torch.float64)
        if r.dim() == 0:
            r = r.reshape(1)
        if r.dim() != 1 or r.shape[0] not in (1, self.num_points):
            raise ShapeError(
                f"The 'radius' parameter must be a number or a tensor of shape ({self.num_points},). Got shape {tuple(r.shape)} instead."
            )
        if not bool(torch.isfinite(r).all()) or bool((r < 0).any()):
            raise InvalidParameterError("The 'radius' parameter must be finite and non-negative.")
        return d <= r.unsqueeze(1)

    def nearest(self, k: int = 1, norm: str = "l2") -> tuple[Tensor, Tensor]:
        """The ``k`` units nearest to each point.

        Parameters
        ----------
        k : int
            How many units (at most ``num_units``).
        norm : {"l2", "linf"}
            Which distance ranks the units.

        Returns
        -------
        distances : Tensor ``(B, k)`` float64
            In increasing order.
        units : LongTensor ``(B, k)``
            Global unit indices (see ``unit_layer``).

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> sd = switching_distances(CPWLNetwork.sequential((3,), [PiecewiseLinear.relu()]), torch.tensor([[3.0, -1.0, 2.0]]))
        >>> sd.nearest(2)
        (tensor([[1., 2.]], dtype=torch.float64), tensor([[1, 2]]))
        """
        d = self._distances_for(norm)
        k = _check_positive_int(k, "k")
        if k > self.num_units:
            raise InvalidParameterError(f"The 'k' parameter must be at most num_units={self.num_units}. Got {k} instead.")
        vals, idx = torch.topk(d, k, dim=1, largest=False, sorted=True)
        return vals, idx

    def feet(self) -> Tensor:
        """Feet ``x - (z - t) g / ||g||^2`` of the perpendiculars ``(B, U, n)`` (NaN where the distance is inf).

        Raises
        ------
        InvalidParameterError
            If the result was computed without ``keep_gradients=True``.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> sd = switching_distances(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), torch.tensor([[0.5, 2.0]]), keep_gradients=True)
        >>> sd.feet()[0]
        tensor([[0.0000, 2.0000],
                [0.5000, 0.0000]], dtype=torch.float64)
        """
        if self.gradients is None:
            raise InvalidParameterError(
                "feet() needs the gradients; call switching_distances(..., keep_gradients=True)."
            )
        gap = self.values - self.levels
        scale = torch.where(torch.isfinite(self.distances), gap / self.gradient_l2.square(),
                            torch.full_like(gap, float("nan")))
        return self.points.unsqueeze(1) - scale.unsqueeze(-1) * self.gradients

    def summary(self) -> dict:
        """Batch statistics as plain numbers.

        Returns
        -------
        dict
            ``num_points``, ``num_units``, the mean and median over points of the
            nearest-unit l2 and l-inf distances, and the fraction of finite distances
            whose foot lies in the region.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> switching_distances(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), torch.tensor([[0.5, 2.0]])).summary()["mean_nearest_l2"]
        0.5
        """
        if self.num_units:
            near2 = self.distances.amin(1)
            near_inf = self.distances_linf.amin(1)
        else:
            near2 = near_inf = torch.full((self.num_points,), float("inf"), dtype=torch.float64)
        finite = torch.isfinite(self.distances)
        return {
            "num_points": self.num_points,
            "num_units": self.num_units,
            "mean_nearest_l2": float(near2.mean()),
            "median_nearest_l2": float(near2.median()),
            "mean_nearest_linf": float(near_inf.mean()),
            "median_nearest_linf": float(near_inf.median()),
            "fraction_foot_in_region": float(self.foot_in_region[finite].to(torch.float64).mean()) if bool(finite.any()) else float("nan"),
        }

    def to_dict(self) -> dict:
        """Plain-data form (lists, numbers); infinities stay ``float('inf')``.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> sd = switching_distances(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), torch.tensor([[0.5, 2.0]]))
        >>> SwitchingDistances.from_dict(sd.to_dict()).distances
        tensor([[0.5000, 2.0000]], dtype=torch.float64)
        """
        out = {}
        for f in fields(self):
            val = getattr(self, f.name)
            out[f.name] = val.tolist() if isinstance(val, Tensor) else (list(val) if isinstance(val, tuple) else val)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> SwitchingDistances:
        """Rebuild from :meth:`to_dict` output.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> sd = switching_distances(CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()]), torch.tensor([[-2.0]]))
        >>> SwitchingDistances.from_dict(sd.to_dict()).levels
        tensor([[0.]], dtype=torch.float64)
        """
        try:
            kw = {}
            for f in fields(cls):
                val = d[f.name] if f.name not in ("gradients", "atol") else d.get(f.name)
                if f.name == "layer_names":
                    kw[f.name] = tuple(str(v) for v in val)
                elif f.name == "atol":
                    kw[f.name] = float(DEFAULT_NUMERICS.atol if val is None else val)
                elif f.name == "unit_layer":
                    kw[f.name] = torch.tensor(val, dtype=torch.long).reshape(-1)
                elif f.name == "foot_in_region":
                    kw[f.name] = torch.tensor(val, dtype=torch.bool)
                else:
                    kw[f.name] = None if val is None else torch.tensor(val, dtype=torch.float64)
            B, U = len(d["values"]), kw["unit_layer"].numel()
            for name in ("values", "levels", "gradient_l1", "gradient_l2", "distances", "distances_linf", "foot_in_region"):
                kw[name] = kw[name].reshape(B, U)
            kw["points"] = kw["points"].reshape(B, -1)
            if kw["gradients"] is not None:
                kw["gradients"] = kw["gradients"].reshape(B, U, -1)
            return cls(**kw)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InvalidParameterError(
                f"SwitchingDistances.from_dict needs the output of SwitchingDistances.to_dict(); the dict is malformed ({exc!r})."
            ) from exc

    def __repr__(self):
        return (f"SwitchingDistances(num_points={self.num_points}, num_units={self.num_units}, "
                f"layers={len(self.layer_names)})")


def switching_distances(model, X, *, numerics: Numerics | None = None, keep_gradients: bool = False,
                        progress: bool = False) -> SwitchingDistances:
    """Distance from each point to each unit's nearest switching surface, inside the point's region.

    For each point ``x`` the network is affine on ``x``'s activation region, so every
    unit's pre-activation is ``z_u(y) = z_u(x) + g_u . (y - x)`` there, with the exact
    gradient ``g_u`` obtained by pushing affine forms through the network with ``x``'s
    pattern frozen (:meth:`regionlab.ir.CPWLNetwork.propagate_forms`; points are
    processed in chunks, so inputs of a few thousand dimensions work). For each unit the
    switching surfaces that bound its current piece (univariate: the piece's two
    breakpoints; max: a tie of the current maximal argument with each other argument)
    are hyperplanes there; the nearest one gives the distance, the foot of the
    perpendicular, and whether that foot stays inside the region (every other
    constraint of the region evaluated with the same affine forms, no new forward pass).

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        A CPWL model (traced on first use on ``X[0]``) or a traced network.
    X : array-like
        Points ``(B, *input_shape)``, or flat ``(B, n)`` with a traced network.
    numerics : Numerics, optional
        Precision (float64 by default) and ``atol``, the relative tolerance of the
        region test at the foot (``constraint >= -atol * scale``).
    keep_gradients : bool
        Also keep the gradients ``(B, U, n)`` (needed by :meth:`SwitchingDistances.feet`;
        ``B * U * n`` numbers).
    progress : bool
        Show a progress bar over the points. Ctrl-C (``KeyboardInterrupt``) returns the
        results of the points finished so far (the first ``num_points``, with a
        ``RuntimeWarning``); it is re-raised when no point had finished.

    Returns
    -------
    SwitchingDistances

    Raises
    ------
    InvalidParameterError, ShapeError, NumericalError
        On a bad model, points or option.

    Notes
    -----
    The region of ``x`` is the closed region of the pieces chosen at ``x``; a unit
    exactly on a breakpoint (pattern code ``-j``) is taken on its lower piece, so its
    distance is 0 and its foot is ``x``. Ties among max arguments take the smallest
    index, the others then tie at distance 0.

    Examples
    --------
    A hard-tanh unit ``clamp(x1 - x2, -1, 1)`` at ``x = (0.5, 0)``: the nearest level is 1,
    at distance ``0.5 / sqrt(2)``.

    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> W = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.hardtanh()])
    >>> sd = switching_distances(net, torch.tensor([[0.5, 0.0]], dtype=torch.float64))
    >>> sd.levels, round(float(sd.distances[0, 0]) * 2 ** 0.5, 12)
    (tensor([[1.]], dtype=torch.float64), 0.5)
    """
    numerics = _check_numerics(numerics)
    for name, flag in (("keep_gradients", keep_gradients), ("progress", progress)):
        if not isinstance(flag, bool):
            raise InvalidParameterError(f"The '{name}' parameter must be a bool. Got {flag!r} instead.")
    net, pts = _network_and_points(model, X)
    net, pts = _cast(net, pts, numerics)
    B, n = pts.shape
    layers = net.nonlinear_nodes
    widths = [net.nodes[i].size for i in layers]
    U = sum(widths)
    unit_layer = torch.repeat_interleave(torch.arange(len(layers)), torch.tensor(widths, dtype=torch.long)) if layers \
        else torch.zeros(0, dtype=torch.long)
    names = tuple(net.nodes[i].name for i in layers)
    # constraint rows of a region: two per univariate unit, one per other argument of a max unit
    rows = sum(2 * net.nodes[i].size if net.nodes[i].op.kind == "univariate" else
               net.nodes[i].size * net.nodes[i].op.group_size for i in layers)
    with exact_mode(numerics), torch.no_grad():
        chain = net.input_basis()
        k = n if chain is None else chain[2].shape[0]
        per_point = (1 + k) * (sum(node.size for node in net.nodes) + rows + 2 * U) + 3 * rows * max(U, 1) + n * rows
        chunk = max(1, _CHUNK_ELEMENTS // per_point)
        parts = []
        bar = _progress_bar(progress, B, "switching_distances")
        try:
            for start in range(0, B, chunk):
                parts.append(_switching_chunk(net, pts[start:start + chunk], numerics.atol, keep_gradients, chain))
                if bar is not None:
                    bar.update(parts[-1]["distances"].shape[0])
        except KeyboardInterrupt:  # the finished chunks are kept (re-raised when there are none)
            if not parts:
                raise
        finally:
            if bar is not None:
                bar.close()
    joined = {name: torch.cat([part[name] for part in parts], 0) for name in parts[0]}
    done = joined["distances"].shape[0]
    if done < B:
        _warn_interrupted("switching_distances", done, B)
    return SwitchingDistances(
        **joined, unit_layer=unit_layer, layer_names=names,
        points=pts[:done].detach().to(device="cpu", dtype=torch.float64), atol=float(numerics.atol),
    )


class _NodeSurfaces(NamedTuple):
    """Per unit of one nonlinear node (``(M, U_l)`` unless noted): its nearest surface and its region rows."""

    values: Tensor
    levels: Tensor
    gradient_l1: Tensor
    gradient_l2: Tensor
    distances: Tensor
    distances_linf: Tensor
    gap: Tensor  # values - levels
    gradient: Tensor  # (M, n, U_l): gradient of the gap
    row_gradient: Tensor  # (M, n, R): gradient shared by the rows below
    rows: list  # (c (M, R), sign, valid (M, R)): constraints c + sign * row_gradient . (y - x) >= 0


_RESULT_FIELDS = ("values", "levels", "gradient_l1", "gradient_l2", "distances", "distances_linf")


def _safe_div(num: Tensor, den: Tensor, ok: Tensor) -> Tensor:
    """``num / den`` where ``ok``, ``inf`` elsewhere (no division by zero)."""
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.full_like(num, float("inf")))


def _switching_chunk(net: CPWLNetwork, x: Tensor, atol: float, keep_gradients: bool, chain=None):
    M, n = x.shape
    dev, dt = x.device, x.dtype
    recorded: list[tuple] = []

    def select(i, node, z):
        choice = choice_at(node.op, z[:, 0])
        recorded.append((node.op, z, choice))
        return choice

    forms, start = net.point_forms(x, chain)
    net.propagate_forms(forms, select, start=start)

    def to_input(G):  # gradients (M, m, ...) in the basis's coordinates -> (M, n, ...) in x
        return G if chain is None else torch.tensordot(chain[1], G, dims=([1], [1])).movedim(0, 1)

    per_node = [(_univariate_surfaces if op.kind == "univariate" else _max_surfaces)(op, z, choice, to_input)
                for op, z, choice in recorded]

    def joined(name: str, dim: int = 1) -> Tensor:
        if not per_node:
            return torch.zeros((M, n, 0) if dim == 2 else (M, 0), dtype=dt, device=dev)
        return torch.cat([getattr(node, name) for node in per_node], dim)

    # displacement from x to each unit's foot: -gap * g / ||g||^2 (zero where there is no foot)
    dist, gap, g2 = joined("distances"), joined("gap"), joined("gradient_l2")
    has_foot = torch.isfinite(dist)
    coef = torch.where(has_foot, -gap / torch.where(has_foot, g2.square(), torch.ones_like(g2)), torch.zeros_like(gap))
    F = joined("gradient", 2) * coef.unsqueeze(1)  # (M, n, U)
    Fn = F.norm(dim=1)  # (M, U)
    ok = torch.ones(M, F.shape[2], dtype=torch.bool, device=dev)
    for node in per_node:
        if not node.rows:
            continue
        # every row of the node's constraints at every unit's foot
        D = torch.bmm(node.row_gradient.transpose(1, 2), F)  # (M, R, U)
        reach = node.row_gradient.norm(dim=1).unsqueeze(2) * Fn.unsqueeze(1)  # bounds |D| (Cauchy-Schwarz)
        for c, sign, valid in node.rows:
            value = c.unsqueeze(2) + sign * D
            good = (value >= -atol * (c.abs().unsqueeze(2) + reach)) | ~valid.unsqueeze(2)
            ok &= good.all(1)
    out = {name: joined(name).to(device="cpu", dtype=torch.float64) for name in _RESULT_FIELDS}
    out["foot_in_region"] = (ok & has_foot).cpu()
    if keep_gradients:
        out["gradients"] = to_input(joined("gradient", 2)).transpose(1, 2).to(device="cpu", dtype=torch.float64).contiguous()
    return out


def _univariate_surfaces(op, z: Tensor, piece: Tensor, to_input):
    """Nearest level of each unit's current piece, and the piece's constraint rows.

    ``z`` holds forms in orthonormal coordinates of the input (see
    :meth:`~regionlab.ir.CPWLNetwork.input_basis`); ``to_input`` maps gradients to the
    input's own, for l1 norms.
    """
    M, _, U = z.shape
    bp, _, _ = op.unit_tables(U)  # (U, K)
    K = bp.shape[1]
    z0, G = z[:, 0], z[:, 1:]  # (M, U), (M, k, U)
    g1, g2 = to_input(G).abs().sum(1), G.norm(dim=1)
    if K == 0:
        inf = torch.full_like(z0, float("inf"))
        nan = torch.full_like(z0, float("nan"))
        return _NodeSurfaces(z0, nan, g1, g2, inf, inf, nan, G, G, [])
    units = torch.arange(U, device=z.device).unsqueeze(0)
    t_lo = bp[units, (piece - 1).clamp_min(0)]
    t_up = bp[units, piece.clamp_max(K - 1)]
    has_lo, has_up = piece >= 1, piece < K
    inf = torch.full_like(z0, float("inf"))
    c_lo = torch.where(has_lo, z0 - t_lo, inf)  # >= 0 inside the piece
    c_up = torch.where(has_up, t_up - z0, inf)
    use_up = c_up < c_lo
    gap_abs = torch.minimum(c_lo, c_up)
    level = torch.where(use_up, t_up, t_lo)
    ok = g2 > 0
    dist = _safe_div(gap_abs, g2, ok)
    dist_inf = _safe_div(gap_abs, g1, ok)
    gap = z0 - level
    zero = torch.zeros_like(z0)
    rows = [(torch.where(has_lo, c_lo, zero), 1.0, has_lo), (torch.where(has_up, c_up, zero), -1.0, has_up)]
    return _NodeSurfaces(z0, level, g1, g2, dist, dist_inf, gap, G, G, rows)


def _max_surfaces(op, z: Tensor, arg: Tensor, to_input):
    """Nearest tie of each max unit's current argument with another argument, and the ties as constraint rows.

    Coordinates as in ``_univariate_surfaces``.
    """
    M, cols, _ = z.shape
    index = op.index  # (U, k)
    U, k = index.shape
    vals = z[:, :, index.clamp_min(0)]  # (M, 1 + n, U, k)
    win = vals.gather(3, arg.reshape(M, 1, U, 1).expand(M, cols, U, 1))  # (M, 1 + n, U, 1)
    diff = win - vals  # c_j = z_a - z_j >= 0 inside the region
    c, Gd = diff[:, 0], diff[:, 1:]  # (M, U, k), (M, n, U, k)
    l1, l2 = to_input(Gd).abs().sum(1), Gd.norm(dim=1)
    is_row = (index >= 0).unsqueeze(0) & (torch.arange(k, device=z.device).reshape(1, 1, k) != arg.unsqueeze(2))
    d2 = _safe_div(c, l2, is_row & (l2 > 0))
    dinf = _safe_div(c, l1, is_row & (l1 > 0)).amin(2)
    # nearest tie; without any reachable one, the smallest gap among the unit's ties
    fallback = torch.where(is_row, c, torch.full_like(c, float("inf"))).argmin(2)
    has_finite = torch.isfinite(d2).any(2)
    jstar = torch.where(has_finite, d2.argmin(2), fallback)  # (M, U)
    pick = jstar.unsqueeze(2)
    dist = d2.gather(2, pick).squeeze(2)
    has_row = is_row.any(2)
    values = win[:, 0, :, 0]
    levels = torch.where(has_row, vals[:, 0].gather(2, pick).squeeze(2), torch.full_like(values, float("nan")))
    g1 = torch.where(has_row, l1.gather(2, pick).squeeze(2), torch.zeros_like(values))
    g2 = torch.where(has_row, l2.gather(2, pick).squeeze(2), torch.zeros_like(values))
    grad = Gd.gather(3, pick.unsqueeze(1).expand(M, cols - 1, U, 1)).squeeze(3)  # (M, n, U)
    grad = grad * has_row.unsqueeze(1)
    gap = values - levels
    rows = [(c.reshape(M, U * k), 1.0, is_row.reshape(M, U * k))]
    return _NodeSurfaces(values, levels, g1, g2, dist, dinf, gap, grad, Gd.reshape(M, cols - 1, U * k), rows)
