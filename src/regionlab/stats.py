"""Mergeable statistics of activation regions: counts, sizes, adjacency graphs, densities.

Every statistic is an *accumulator* (torchmetrics style): :meth:`~Accumulator.update`
feeds it a partition result (or raw numbers), :meth:`~Accumulator.compute` returns a
frozen, picklable result with ``to_dict()``, and :meth:`~Accumulator.merge` folds in
another accumulator of the same kind and configuration. Merging is associative and
commutative: workers (Ray tasks, DDP ranks, processes) each accumulate their share and
a driver merges them, with the same result as one accumulator that saw everything
(exactly for counts and histograms, up to float rounding for means and spreads).

Accumulators pickle, and :meth:`~Accumulator.state_dict` /
:meth:`~Accumulator.from_state` give a plain-data form (lists, numbers, strings) for
``torch.distributed.all_gather_object`` or JSON; :func:`merge_states` merges such states.

=========================  ==========================================================
:class:`RegionCountStats`  regions and linear pieces per partition: moments, histogram
:class:`SizeStats`         pooled region sizes (volume, area, inradius, length):
                           moments, exact or histogram quantiles, log-spaced histogram
:class:`GraphStats`        region adjacency graphs: degrees, edges, diameter, components
:class:`PathDensityStats`  regions and breakpoints per unit length along 1-D paths
:class:`PiecesVsRegions`   totals of linear pieces against activation regions
:class:`RegionStatistics`  a collection that updates, merges and computes several
=========================  ==========================================================

The functional forms (:func:`region_count_summary`, :func:`size_summary`,
:func:`graph_summary`, :func:`path_density_summary`, :func:`pieces_vs_regions`,
:func:`degree_distribution`, :func:`graph_diameter`, :func:`num_components`) run the same
code on one partition, an iterable of partitions or raw data.

Partitions are duck-typed: anything with ``num_regions`` and ``num_linear_pieces``
(:class:`~regionlab.regions.plane_result.PlanePartition`, the 1-D results, the n-D
``PolytopePartition``), ``adjacency`` ``(E, 2)`` for graphs, ``areas`` / ``volumes`` /
``inradii`` for sizes.

Examples
--------
>>> import functools, pickle, torch, regionlab
>>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
>>> from regionlab.stats import GraphStats, RegionCountStats, RegionStatistics, SizeStats
>>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
>>> boxes = [(-1, 1, -1, 1), (0.5, 1, 0.5, 1), (-1, 0, -1, 1)]
>>> parts = [regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], b) for b in boxes]
>>> def worker(share):  # e.g. a Ray task: accumulate, return the (picklable) accumulator
...     stats = RegionStatistics([RegionCountStats(), SizeStats("area"), GraphStats()])
...     for part in share:
...         stats.update(part)
...     return pickle.dumps(stats)
>>> shares = [pickle.loads(worker(parts[:1])), pickle.loads(worker(parts[1:]))]
>>> total = functools.reduce(lambda a, b: a.merge(b), shares).compute()
>>> total["region_counts"].histogram
((1, 1), (2, 1), (4, 1))
>>> total["area_sizes"].sum
6.25
>>> total["graph"].mean_degree
1.4285714285714286
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import torch

from .errors import InvalidParameterError, NumericalError, RegionlabError, ShapeError

__all__ = [
    "Accumulator",
    "Summary",
    "Histogram",
    "Diameter",
    "RegionCountStats",
    "RegionCountResult",
    "SizeStats",
    "SizeResult",
    "GraphStats",
    "GraphResult",
    "PathDensityStats",
    "PathDensityResult",
    "PiecesVsRegions",
    "PiecesVsRegionsResult",
    "RegionStatistics",
    "StatisticsResult",
    "accumulator_from_state",
    "merge_states",
    "region_count_summary",
    "size_summary",
    "graph_summary",
    "path_density_summary",
    "pieces_vs_regions",
    "degree_distribution",
    "graph_diameter",
    "num_components",
]

_STATE_VERSION = 1
_DEFAULT_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# graphs up to this many nodes get an exact diameter (one BFS per node)
_DEFAULT_DIAMETER_LIMIT = 4096
# rows of the BFS distance matrix held at once: about 16 MB of float64
_BFS_BLOCK_ENTRIES = 1 << 21
_NAN = float("nan")


# ============================================================================ input checks


def _is_raw(x) -> bool:
    """Raw numbers (tensor, array, scalar, or a sequence of them) rather than partition objects."""
    if isinstance(x, (list, tuple)):
        return all(_is_raw(item) for item in x)
    return isinstance(x, (torch.Tensor, np.ndarray, int, float, np.integer, np.floating))


def _to_numpy(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.bool or x.is_complex():
            raise InvalidParameterError(f"{what} must be real numbers, got a {x.dtype} tensor.")
        return x.numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise InvalidParameterError(f"{what} must be numbers or a 1-D sequence of numbers; got {type(x).__name__}.") from exc
    if arr.dtype.kind not in "iuf":
        raise InvalidParameterError(f"{what} must be real numbers, got values of dtype {arr.dtype}.")
    return arr


def _as_floats(x, what: str) -> np.ndarray:
    """A finite float64 vector from a scalar or a 1-D sequence."""
    arr = _to_numpy(x, what)
    if arr.ndim > 1:
        raise ShapeError(f"{what} must be a scalar or a 1-D sequence, got shape {tuple(arr.shape)}; flatten it first.")
    arr = arr.astype(np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise NumericalError(f"{what} contain NaN or infinite values; remove them before updating.")
    return arr


def _as_ints(x, what: str) -> np.ndarray:
    """A non-negative int64 vector from a scalar or a 1-D sequence of whole numbers."""
    arr = _to_numpy(x, what)
    if arr.ndim > 1:
        raise ShapeError(f"{what} must be a scalar or a 1-D sequence, got shape {tuple(arr.shape)}; flatten it first.")
    arr = arr.reshape(-1)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise NumericalError(f"{what} contain NaN or infinite values.")
        if (arr != np.round(arr)).any():
            raise InvalidParameterError(f"{what} must be whole numbers, got {arr[arr != np.round(arr)][:3].tolist()}.")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise InvalidParameterError(f"{what} must be non-negative, got {arr[arr < 0][:3].tolist()}.")
    return arr


def _as_count(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        if isinstance(n, torch.Tensor) and n.numel() == 1 and not n.dtype.is_floating_point and n.dtype != torch.bool:
            n = int(n)
        else:
            raise InvalidParameterError(f"{what} must be a non-negative int, got {n!r}.")
    if int(n) < 0:
        raise InvalidParameterError(f"{what} must be non-negative, got {int(n)}.")
    return int(n)


def _check_positive_int(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 1:
        raise InvalidParameterError(f"{what} must be a positive int, got {n!r}.")
    return int(n)


def _check_levels(quantiles) -> tuple[float, ...]:
    try:
        levels = tuple(float(q) for q in quantiles)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"quantiles must be a sequence of numbers in [0, 1], got {quantiles!r}.") from exc
    for q in levels:
        if not 0.0 <= q <= 1.0:
            raise InvalidParameterError(f"Quantile levels must lie in [0, 1], got {q}.")
    return levels


def _each(partitions) -> Iterable:
    """One partition (anything with ``num_regions`` or ``adjacency``) or an iterable of them."""
    if hasattr(partitions, "num_regions") or hasattr(partitions, "adjacency"):
        return (partitions,)
    if isinstance(partitions, Iterable) and not isinstance(partitions, (str, bytes, Mapping)):
        return partitions
    raise InvalidParameterError(
        f"Expected a partition result or an iterable of them, got {type(partitions).__name__}."
    )


# ================================================================================= results


def _plain(value):
    if isinstance(value, _Result):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class _Result:
    """Shared behaviour of the frozen results."""

    def to_dict(self) -> dict:
        """Plain-data form (nested dicts, lists, numbers), e.g. for JSON.

        Tuples become lists; histograms of integer values stay lists of
        ``[value, frequency]`` pairs (so that JSON keeps the keys as numbers).

        Examples
        --------
        >>> from regionlab.stats import size_summary
        >>> d = size_summary([1.0, 2.0, 4.0], kind="area").to_dict()
        >>> d["kind"], d["count"], d["quantiles"][3]
        ('area', 3, [0.5, 2.0])
        """
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Summary(_Result):
    """Count, mean, standard deviation, minimum and maximum of a set of numbers.

    ``std`` is the population standard deviation (``ddof=0``, as ``numpy.std``); every
    float is ``nan`` when ``count == 0``.

    Examples
    --------
    >>> from regionlab.stats import region_count_summary
    >>> s = region_count_summary([1, 2, 3, 6], num_linear_pieces=[1, 2, 3, 4]).regions
    >>> s.count, s.mean, s.min, s.max, round(s.std, 6)
    (4, 3.0, 1.0, 6.0, 1.870829)
    """

    count: int
    mean: float
    std: float
    min: float
    max: float


_EMPTY_SUMMARY = Summary(0, _NAN, _NAN, _NAN, _NAN)


@dataclass(frozen=True)
class Histogram(_Result):
    """A histogram with fixed (log-spaced) bin edges.

    Attributes
    ----------
    edges : tuple of float
        ``num_bins + 1`` increasing bin edges; bin ``i`` is ``edges[i] <= x < edges[i + 1]``.
    counts : tuple of int
        Number of values in each bin.
    underflow, overflow : int
        Values below ``edges[0]`` (zeros included) and at or above ``edges[-1]``.

    Examples
    --------
    >>> from regionlab.stats import size_summary
    >>> h = size_summary([0.0, 0.5, 5.0, 50.0], log10_range=(-1, 1), num_bins=2).histogram
    >>> h.edges, h.counts, h.underflow, h.overflow, h.total
    ((0.1, 1.0, 10.0), (1, 1), 1, 1, 4)
    """

    edges: tuple
    counts: tuple
    underflow: int
    overflow: int

    @property
    def total(self) -> int:
        """Number of values counted, including under- and overflow."""
        return int(sum(self.counts) + self.underflow + self.overflow)


class Diameter(NamedTuple):
    """Diameter of a graph and whether it is exact (``False``: a double-sweep lower bound).

    Examples
    --------
    >>> from regionlab.stats import graph_diameter
    >>> value, exact = graph_diameter([[0, 1], [1, 2]], 3)
    >>> value, exact
    (2, True)
    """

    value: int
    exact: bool


@dataclass(frozen=True)
class RegionCountResult(_Result):
    """Result of :class:`RegionCountStats`.

    Attributes
    ----------
    regions, pieces : Summary
        Activation regions and linear pieces per observation (one partition, or one
        segment of a batch).
    total_regions, total_pieces : int
        Sums over all observations.
    ratio : float
        ``total_pieces / total_regions`` (``nan`` when no region was seen).
    histogram, pieces_histogram : tuple of (int, int)
        Exact ``(count, frequency)`` pairs, sorted by count;
        ``collections.Counter(dict(result.histogram))`` gives a ``Counter``.

    ``count``, ``mean``, ``std``, ``min`` and ``max`` are those of ``regions``.

    Examples
    --------
    >>> from regionlab.stats import region_count_summary
    >>> r = region_count_summary([4, 4, 7], num_linear_pieces=[4, 3, 7])
    >>> r.count, r.mean, r.max, r.histogram, r.ratio
    (3, 5.0, 7.0, ((4, 2), (7, 1)), 0.9333333333333333)
    """

    regions: Summary
    pieces: Summary
    total_regions: int
    total_pieces: int
    ratio: float
    histogram: tuple
    pieces_histogram: tuple

    @property
    def count(self) -> int:
        """Number of observations."""
        return self.regions.count

    @property
    def mean(self) -> float:
        """Mean number of regions per observation."""
        return self.regions.mean

    @property
    def std(self) -> float:
        """Population standard deviation of the number of regions."""
        return self.regions.std

    @property
    def min(self) -> float:
        """Fewest regions in one observation."""
        return self.regions.min

    @property
    def max(self) -> float:
        """Most regions in one observation."""
        return self.regions.max


@dataclass(frozen=True)
class SizeResult(_Result):
    """Result of :class:`SizeStats`: the distribution of region sizes pooled over updates.

    Attributes
    ----------
    kind : str
        ``"volume"``, ``"area"``, ``"inradius"`` or ``"length"``.
    count : int
        Number of regions.
    sum, mean, std, min, max : float
        Over all regions (``std`` with ``ddof=0``; ``nan`` when empty, ``sum`` 0).
    quantiles : tuple of (float, float)
        ``(level, value)`` pairs.
    quantiles_exact : bool
        ``True``: computed from all values (``numpy.quantile``, linear interpolation);
        ``False``: estimated from the histogram (the estimate lies in the bin of the
        true quantile's lower order statistic).
    histogram : Histogram
        Log-spaced histogram of the sizes.

    Examples
    --------
    >>> from regionlab.stats import size_summary
    >>> r = size_summary([1.0, 3.0], kind="length", quantiles=(0.5,))
    >>> r.count, r.sum, r.mean, r.std, r.quantiles, r.quantiles_exact
    (2, 4.0, 2.0, 1.0, ((0.5, 2.0),), True)
    >>> r.quantile(0.5)
    2.0
    """

    kind: str
    count: int
    sum: float
    mean: float
    std: float
    min: float
    max: float
    quantiles: tuple
    quantiles_exact: bool
    histogram: Histogram

    def quantile(self, q: float) -> float:
        """The computed quantile at level ``q`` (one of the levels in :attr:`quantiles`).

        Examples
        --------
        >>> from regionlab.stats import size_summary
        >>> size_summary([1.0, 2.0, 3.0]).quantile(0.25)
        1.5
        """
        for level, value in self.quantiles:
            if level == float(q):
                return value
        raise InvalidParameterError(
            f"Level {q} was not computed (levels: {[lv for lv, _ in self.quantiles]}); pass it in "
            "SizeStats(quantiles=...) or call SizeStats.quantile(q) on the accumulator."
        )


@dataclass(frozen=True)
class GraphResult(_Result):
    """Result of :class:`GraphStats`: region adjacency graphs, pooled over updates.

    Attributes
    ----------
    num_graphs, total_nodes, total_edges : int
    mean_degree : float
        ``2 * total_edges / total_nodes`` (``nan`` with no nodes).
    degrees : Summary
        Node degrees pooled over all graphs.
    degree_histogram : tuple of (int, int)
        ``(degree, number of regions)`` pairs.
    edges, diameter, components : Summary
        Per graph: number of edges, diameter (the longest shortest path within a
        connected component, in edges) and number of connected components.
    diameter_histogram, components_histogram : tuple of (int, int)
        ``(value, number of graphs)`` pairs.
    diameter_exact : bool
        Every diameter is exact; otherwise ``num_lower_bounds`` graphs (larger than the
        accumulator's ``exact_diameter_limit``) contributed a double-sweep lower bound.
    num_lower_bounds : int

    Examples
    --------
    >>> from regionlab.stats import graph_summary
    >>> r = graph_summary([[0, 1], [1, 2]], num_regions=4)  # a path of 3 plus an isolated node
    >>> r.mean_degree, r.degree_histogram, r.diameter.max, r.components.max
    (1.0, ((0, 1), (1, 2), (2, 1)), 2.0, 2.0)
    """

    num_graphs: int
    total_nodes: int
    total_edges: int
    mean_degree: float
    degrees: Summary
    degree_histogram: tuple
    edges: Summary
    diameter: Summary
    diameter_histogram: tuple
    diameter_exact: bool
    num_lower_bounds: int
    components: Summary
    components_histogram: tuple


@dataclass(frozen=True)
class PathDensityResult(_Result):
    """Result of :class:`PathDensityStats`: region and breakpoint densities along paths.

    Attributes
    ----------
    density, breakpoint_density : Summary
        Per path: regions per unit length and breakpoints (pattern changes) per unit length.
    total_length : float
    total_regions, total_breakpoints : int
    pooled_density, pooled_breakpoint_density : float
        ``total_regions / total_length`` and ``total_breakpoints / total_length``
        (length-weighted means; ``nan`` when no length was seen).
    skipped : int
        Paths of zero length (no density), left out of everything else.
    density_histogram, breakpoint_density_histogram : Histogram

    Examples
    --------
    >>> from regionlab.stats import path_density_summary
    >>> r = path_density_summary([3, 5], lengths=[1.0, 4.0])
    >>> r.density.mean, r.pooled_density, r.total_breakpoints, r.breakpoint_density.max
    (2.125, 1.6, 6, 2.0)
    """

    density: Summary
    breakpoint_density: Summary
    total_length: float
    total_regions: int
    total_breakpoints: int
    pooled_density: float
    pooled_breakpoint_density: float
    skipped: int
    density_histogram: Histogram
    breakpoint_density_histogram: Histogram


@dataclass(frozen=True)
class PiecesVsRegionsResult(_Result):
    """Result of :class:`PiecesVsRegions`.

    Attributes
    ----------
    num_partitions, total_regions, total_pieces : int
    ratio : float
        ``total_pieces / total_regions`` (``nan`` when no region was seen).
    per_partition : Summary
        The ratio of each observation with at least one region.
    num_with_merges : int
        Observations with fewer linear pieces than regions.

    Examples
    --------
    >>> from regionlab.stats import pieces_vs_regions
    >>> r = pieces_vs_regions([4, 2], num_linear_pieces=[2, 2])
    >>> r.ratio, r.per_partition.mean, r.num_with_merges
    (0.6666666666666666, 0.75, 1)
    """

    num_partitions: int
    total_regions: int
    total_pieces: int
    ratio: float
    per_partition: Summary
    num_with_merges: int


@dataclass(frozen=True)
class StatisticsResult(_Result):
    """Result of :class:`RegionStatistics`: one result per member, by name.

    Examples
    --------
    >>> from regionlab.stats import RegionCountStats, RegionStatistics
    >>> res = RegionStatistics([RegionCountStats()]).compute()
    >>> res.names, res["region_counts"].count, "region_counts" in res
    (('region_counts',), 0, True)
    """

    results: tuple

    @property
    def names(self) -> tuple:
        """Member names, in order."""
        return tuple(name for name, _ in self.results)

    def __getitem__(self, name: str):
        for key, value in self.results:
            if key == name:
                return value
        raise KeyError(f"No statistic named {name!r}; the collection holds {list(self.names)}.")

    def __contains__(self, name) -> bool:
        return name in self.names

    def to_dict(self) -> dict:
        """``{name: result.to_dict()}`` for every member.

        Examples
        --------
        >>> from regionlab.stats import PiecesVsRegions, RegionStatistics
        >>> RegionStatistics([PiecesVsRegions()]).compute().to_dict()["pieces_vs_regions"]["total_regions"]
        0
        """
        return {name: value.to_dict() for name, value in self.results}


# ============================================================================ state pieces


class _Moments:
    """Running count, mean, sum of squared deviations, min and max (Welford / Chan merge)."""

    __slots__ = ("n", "mean", "m2", "lo", "hi")

    def __init__(self):
        self.n, self.mean, self.m2, self.lo, self.hi = 0, 0.0, 0.0, math.inf, -math.inf

    def add(self, values: np.ndarray) -> None:
        if values.size:
            mean = float(values.mean())
            m2 = float(np.square(values - mean).sum())  # two-pass within the batch
            self._combine(int(values.size), mean, m2, float(values.min()), float(values.max()))

    def merge(self, other: _Moments) -> None:
        self._combine(other.n, other.mean, other.m2, other.lo, other.hi)

    def _combine(self, n, mean, m2, lo, hi) -> None:
        if n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2, self.lo, self.hi = n, mean, m2, lo, hi
            return
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * (n / total)
        self.m2 += m2 + delta * delta * (self.n * n / total)
        self.n = total
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)

    def summary(self) -> Summary:
        if self.n == 0:
            return _EMPTY_SUMMARY
        return Summary(self.n, self.mean, math.sqrt(max(self.m2, 0.0) / self.n), self.lo, self.hi)

    def state(self) -> list:
        if self.n == 0:
            return [0, 0.0, 0.0, None, None]
        return [self.n, self.mean, self.m2, self.lo, self.hi]

    @classmethod
    def from_state(cls, state) -> _Moments:
        n, mean, m2, lo, hi = state
        out = cls()
        n = int(n)
        if n < 0:
            raise InvalidParameterError("A moments state has a negative count.")
        if n:
            out.n, out.mean, out.m2, out.lo, out.hi = n, float(mean), float(m2), float(lo), float(hi)
        return out


def _counter_state(counter: Counter) -> list:
    return [[int(k), int(v)] for k, v in sorted(counter.items())]


def _counter_from_state(pairs) -> Counter:
    out = Counter()
    for k, v in pairs:
        if int(v) < 0:
            raise InvalidParameterError("A histogram state has a negative frequency.")
        if int(v):
            out[int(k)] += int(v)
    return out


def _counter_summary(counter: Counter) -> Summary:
    """Summary of integer data given as ``{value: frequency}``, with exact integer sums."""
    n = sum(counter.values())
    if n == 0:
        return _EMPTY_SUMMARY
    s1 = sum(k * v for k, v in counter.items())
    s2 = sum(k * k * v for k, v in counter.items())
    var = (n * s2 - s1 * s1) / (n * n)  # exact integers, one rounding
    return Summary(n, s1 / n, math.sqrt(var), float(min(counter)), float(max(counter)))


def _counter_pairs(counter: Counter) -> tuple:
    return tuple((int(k), int(v)) for k, v in sorted(counter.items()) if v)


class _LogBins:
    """Counts in fixed log-spaced bins plus underflow (below the first edge) and overflow."""

    __slots__ = ("log10_range", "num_bins", "edges", "counts")

    def __init__(self, log10_range, num_bins):
        try:
            lo, hi = (float(v) for v in log10_range)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"log10_range must be two numbers (low, high), got {log10_range!r}.") from exc
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and -300 <= lo and hi <= 300):
            raise InvalidParameterError(
                f"log10_range must be (low, high) with -300 <= low < high <= 300, got {log10_range!r}."
            )
        self.log10_range = (lo, hi)
        self.num_bins = _check_positive_int(num_bins, "num_bins")
        self.edges = 10.0 ** np.linspace(lo, hi, self.num_bins + 1)
        if not (np.diff(self.edges) > 0).all():
            raise InvalidParameterError(
                f"{self.num_bins} bins over log10_range {log10_range!r} are too narrow for float64; use fewer bins."
            )
        self.counts = np.zeros(self.num_bins + 2, dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        # index 0: below edges[0]; i: edges[i-1] <= v < edges[i]; num_bins + 1: v >= edges[-1]
        idx = np.searchsorted(self.edges, values, side="right")
        self.counts += np.bincount(idx, minlength=self.num_bins + 2)

    def histogram(self) -> Histogram:
        c = self.counts
        return Histogram(
            edges=tuple(float(e) for e in self.edges),
            counts=tuple(int(v) for v in c[1:-1]),
            underflow=int(c[0]),
            overflow=int(c[-1]),
        )

    def load(self, counts) -> None:
        arr = np.asarray(counts, dtype=np.int64).reshape(-1)
        if arr.shape != self.counts.shape or (arr < 0).any():
            raise InvalidParameterError(
                f"A histogram state must hold {self.counts.size} non-negative counts (bins plus under- and "
                f"overflow), got {arr.size}."
            )
        self.counts = arr.copy()

    def quantile(self, q: float, lo: float, hi: float) -> float:
        """Estimate of the ``q`` quantile from the counts, within ``[lo, hi]`` (data min and max)."""
        if q <= 0.0 or q >= 1.0:  # the extremes are known exactly
            return float(lo if q <= 0.0 else hi)
        n = int(self.counts.sum())
        h = q * (n - 1)
        k = int(math.floor(h))
        cum = np.cumsum(self.counts)
        b = int(np.searchsorted(cum, k, side="right"))  # the bin holding order statistic k
        before = int(cum[b] - self.counts[b])
        low = lo if b == 0 else max(float(self.edges[b - 1]), lo)
        high = hi if b == self.num_bins + 1 else min(float(self.edges[b]), hi)
        high = max(high, low)
        frac = min(max((h - before + 0.5) / int(self.counts[b]), 0.0), 1.0)
        if low > 0.0:
            return float(min(max(low * (high / low) ** frac, low), high))  # geometric within a log bin
        return float(low + frac * (high - low))


# ============================================================================== accumulators

_REGISTRY: dict[str, type] = {}


class Accumulator:
    """Base class of the mergeable statistics.

    Subclasses implement :meth:`update` and :meth:`compute`; this class provides
    :meth:`merge`, :meth:`reset`, :meth:`copy`, :meth:`state_dict` / :meth:`from_state`
    and pickling (through the plain-data state). ``update``, ``merge`` and ``reset``
    return the accumulator itself, so calls chain.

    Examples
    --------
    >>> from regionlab.stats import Accumulator, RegionCountStats
    >>> a = RegionCountStats().update(3, num_linear_pieces=2)
    >>> b = Accumulator.from_state(a.state_dict())  # dispatches on the state's kind
    >>> type(b).__name__, b.compute().total_regions
    ('RegionCountStats', 3)
    """

    #: default member name inside a :class:`RegionStatistics`
    name: str = "accumulator"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # --------------------------------------------------------------- subclass hooks

    def update(self, x, *args, **kwargs) -> Accumulator:
        """Add one partition (or raw data) to the statistic; returns ``self``.

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats
        >>> RegionCountStats().update(5, num_linear_pieces=4).compute().total_pieces
        4
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement update().")

    def compute(self):
        """The frozen result of everything accumulated so far.

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats
        >>> RegionCountStats().update([2, 3], num_linear_pieces=[2, 3]).compute().mean
        2.5
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement compute().")

    def supports(self, x) -> bool:
        """Whether :meth:`update` can take the partition ``x`` (without raw-data arguments).

        Examples
        --------
        >>> from regionlab.stats import GraphStats
        >>> GraphStats().supports(object())
        False
        """
        return False

    def _config(self) -> dict:
        return {}

    def _state(self) -> dict:
        raise NotImplementedError

    def _load(self, state: dict) -> None:
        raise NotImplementedError

    def _merge(self, other) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared API

    def merge(self, other: Accumulator) -> Accumulator:
        """Fold in ``other`` (same class and configuration); returns ``self``.

        Merging is associative and commutative: ``a.merge(b)`` equals an accumulator that
        saw ``a``'s data and then ``b``'s. ``other`` is left unchanged.

        Raises
        ------
        InvalidParameterError
            If ``other`` is a different kind of statistic or was configured differently
            (another size kind, other bin edges, ...).

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats
        >>> a = RegionCountStats().update([1, 2], num_linear_pieces=[1, 2])
        >>> b = RegionCountStats().update(6, num_linear_pieces=5)
        >>> a.merge(b).compute().histogram
        ((1, 1), (2, 1), (6, 1))
        """
        if type(other) is not type(self):
            raise InvalidParameterError(
                f"Cannot merge a {type(other).__name__} into a {type(self).__name__}; merge statistics of the same kind."
            )
        if other._config() != self._config():
            raise InvalidParameterError(
                f"Cannot merge {type(self).__name__}s configured differently: {self._config()} vs {other._config()}; "
                "build every worker's accumulator with the same arguments."
            )
        if other is self:
            other = other.copy()
        self._merge(other)
        return self

    def reset(self) -> Accumulator:
        """Forget everything accumulated (the configuration stays); returns ``self``.

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats
        >>> RegionCountStats().update(3, num_linear_pieces=3).reset().compute().count
        0
        """
        self._reset()
        return self

    def copy(self) -> Accumulator:
        """An independent copy (same configuration and state).

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats
        >>> a = RegionCountStats().update(3, num_linear_pieces=3)
        >>> b = a.copy().update(4, num_linear_pieces=4)
        >>> a.compute().count, b.compute().count
        (1, 2)
        """
        return type(self).from_state(self.state_dict())

    def state_dict(self) -> dict:
        """Plain-data state (dicts, lists, numbers, strings): picklable and JSON-serialisable.

        Suited to ``torch.distributed.all_gather_object``; rebuild with
        :meth:`from_state` or :func:`accumulator_from_state`.

        Examples
        --------
        >>> import json
        >>> from regionlab.stats import RegionCountStats
        >>> s = RegionCountStats().update(3, num_linear_pieces=2).state_dict()
        >>> s["kind"], RegionCountStats.from_state(json.loads(json.dumps(s))).compute().total_pieces
        ('RegionCountStats', 2)
        """
        return {"kind": type(self).__name__, "version": _STATE_VERSION, "config": self._config(), "state": self._state()}

    @classmethod
    def from_state(cls, state: Mapping) -> Accumulator:
        """Rebuild an accumulator from :meth:`state_dict` output.

        Called on :class:`Accumulator` itself, dispatches on the state's ``kind``.

        Raises
        ------
        InvalidParameterError
            If the state is malformed or of another kind.

        Examples
        --------
        >>> from regionlab.stats import SizeStats
        >>> s = SizeStats("inradius").update([0.5, 0.25]).state_dict()
        >>> SizeStats.from_state(s).compute().sum
        0.75
        """
        if not isinstance(state, Mapping) or "kind" not in state:
            raise InvalidParameterError(
                f"A statistics state must be a dict from state_dict() with a 'kind' entry; got {type(state).__name__}."
            )
        kind = state["kind"]
        target = _REGISTRY.get(kind) if isinstance(kind, str) else None
        if target is None:
            raise InvalidParameterError(f"Unknown statistics kind {kind!r}; known kinds: {sorted(_REGISTRY)}.")
        if cls is not Accumulator and target is not cls:
            raise InvalidParameterError(
                f"The state is of a {kind}, not a {cls.__name__}; use {kind}.from_state or accumulator_from_state."
            )
        if state.get("version") != _STATE_VERSION:
            raise InvalidParameterError(
                f"Unsupported statistics state version {state.get('version')!r} (this regionlab reads {_STATE_VERSION})."
            )
        return target._from_plain_state(state)

    @classmethod
    def _from_plain_state(cls, state: Mapping) -> Accumulator:
        config = state.get("config")
        if not isinstance(config, Mapping):
            raise InvalidParameterError(f"The {cls.__name__} state has no 'config' dict.")
        try:
            out = cls(**config)
        except TypeError as exc:
            raise InvalidParameterError(f"The {cls.__name__} state has a malformed config {dict(config)}: {exc}.") from exc
        try:
            out._load(state["state"])
        except InvalidParameterError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidParameterError(f"The {cls.__name__} state is malformed ({type(exc).__name__}: {exc}).") from exc
        return out

    def __getstate__(self):
        return self.state_dict()

    def __setstate__(self, state):
        self.__dict__.update(type(self)._from_plain_state(state).__dict__)

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({cfg})"


def _region_piece_counts(x, num_linear_pieces, who: str) -> tuple[np.ndarray, np.ndarray]:
    """``(regions, pieces)`` int vectors from a partition or from raw counts."""
    if _is_raw(x):
        if num_linear_pieces is None:
            raise InvalidParameterError(
                f"{who}.update with raw region counts needs num_linear_pieces as well (use the counts themselves "
                "if no regions were merged)."
            )
        regions = _as_ints(x, "num_regions")
        pieces = _as_ints(num_linear_pieces, "num_linear_pieces")
        if regions.shape != pieces.shape:
            raise ShapeError(
                f"num_regions and num_linear_pieces must have the same length, got {regions.size} and {pieces.size}."
            )
    else:
        if num_linear_pieces is not None:
            raise InvalidParameterError(f"{who}.update takes the linear pieces from the partition; do not pass num_linear_pieces.")
        if not (hasattr(x, "num_regions") and hasattr(x, "num_linear_pieces")):
            raise InvalidParameterError(
                f"{who}.update needs a partition with num_regions and num_linear_pieces, or raw counts; "
                f"got {type(x).__name__}."
            )
        regions = _as_ints(x.num_regions, "num_regions")
        pieces = _as_ints(x.num_linear_pieces, "num_linear_pieces")
    if (pieces > regions).any():
        raise InvalidParameterError(
            "num_linear_pieces cannot exceed num_regions (pieces are merged regions); check the order of the arguments."
        )
    return regions, pieces


class RegionCountStats(Accumulator):
    """Activation regions and linear pieces per partition: moments, extremes, exact histogram.

    Each update adds one observation per partition (a :class:`SegmentPartitionBatch`
    adds one per segment), or one per entry of raw counts; the counts are the
    partition's own ``num_regions`` and ``num_linear_pieces``. Means and spreads are
    accumulated with Welford's update and Chan's merge; the histograms are exact
    integer counts.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> from regionlab.stats import RegionCountStats
    >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
    >>> batch = regionlab.partition_segment(net, torch.tensor([[-1.0], [1.0]]), torch.tensor([[3.0], [2.0]]))
    >>> stats = RegionCountStats().update(batch)
    >>> r = stats.compute()
    >>> r.count, r.mean, r.histogram, r.ratio
    (2, 1.5, ((1, 1), (2, 1)), 1.0)
    """

    name = "region_counts"

    def __init__(self):
        self._reset()

    def _reset(self):
        self._regions, self._pieces = _Moments(), _Moments()
        self._total_regions = self._total_pieces = 0
        self._hist, self._pieces_hist = Counter(), Counter()

    def supports(self, x) -> bool:
        """Whether ``x`` has ``num_regions`` and ``num_linear_pieces``.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> from regionlab.stats import RegionCountStats
        >>> RegionCountStats().supports(SimpleNamespace(num_regions=3, num_linear_pieces=2))
        True
        """
        return not _is_raw(x) and hasattr(x, "num_regions") and hasattr(x, "num_linear_pieces")

    def update(self, x, num_linear_pieces=None) -> RegionCountStats:
        """Add a partition's counts, or raw counts.

        Parameters
        ----------
        x : partition or int or 1-D array-like of int
            Anything with ``num_regions`` and ``num_linear_pieces`` (ints or, for a
            batch, ``(B,)`` tensors), or raw region counts.
        num_linear_pieces : int or 1-D array-like of int, optional
            With raw counts: the linear pieces of each observation (same length).

        Returns
        -------
        RegionCountStats
            ``self``.

        Raises
        ------
        InvalidParameterError
            Negative or fractional counts, pieces exceeding regions, missing pieces.
        ShapeError
            Counts that are not a scalar or 1-D, or lengths that differ.

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats
        >>> RegionCountStats().update([3, 5], num_linear_pieces=[2, 5]).compute().pieces.mean
        3.5
        """
        regions, pieces = _region_piece_counts(x, num_linear_pieces, type(self).__name__)
        self._regions.add(regions.astype(np.float64))
        self._pieces.add(pieces.astype(np.float64))
        self._total_regions += int(regions.sum())
        self._total_pieces += int(pieces.sum())
        self._hist.update(regions.tolist())
        self._pieces_hist.update(pieces.tolist())
        return self

    def compute(self) -> RegionCountResult:
        """The counts' summary (see :class:`RegionCountResult`).

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats
        >>> RegionCountStats().update([1, 3], num_linear_pieces=[1, 3]).compute().std
        1.0
        """
        ratio = self._total_pieces / self._total_regions if self._total_regions else _NAN
        return RegionCountResult(
            regions=self._regions.summary(),
            pieces=self._pieces.summary(),
            total_regions=self._total_regions,
            total_pieces=self._total_pieces,
            ratio=ratio,
            histogram=_counter_pairs(self._hist),
            pieces_histogram=_counter_pairs(self._pieces_hist),
        )

    def _merge(self, other):
        self._regions.merge(other._regions)
        self._pieces.merge(other._pieces)
        self._total_regions += other._total_regions
        self._total_pieces += other._total_pieces
        self._hist.update(other._hist)
        self._pieces_hist.update(other._pieces_hist)

    def _state(self):
        return {
            "regions": self._regions.state(),
            "pieces": self._pieces.state(),
            "total_regions": self._total_regions,
            "total_pieces": self._total_pieces,
            "histogram": _counter_state(self._hist),
            "pieces_histogram": _counter_state(self._pieces_hist),
        }

    def _load(self, s):
        self._regions, self._pieces = _Moments.from_state(s["regions"]), _Moments.from_state(s["pieces"])
        self._total_regions, self._total_pieces = int(s["total_regions"]), int(s["total_pieces"])
        self._hist = _counter_from_state(s["histogram"])
        self._pieces_hist = _counter_from_state(s["pieces_histogram"])


def _optional_attr(x, name: str):
    """``x.name``, or ``None`` when absent or not computable (e.g. volumes in high dimension)."""
    try:
        return getattr(x, name, None)
    except RegionlabError:
        return None


def _segment_lengths(x) -> np.ndarray:
    """Euclidean length of every region of a 1-D partition (a wrapping closed path joins its ends)."""
    if hasattr(x, "piece_offsets"):  # SegmentPartitionBatch: regions of segment i are offsets[i]:offsets[i+1]
        t = _to_numpy(x.t, "t").astype(np.float64)
        per_segment = _to_numpy(x.num_regions, "num_regions").astype(np.int64)
        seg = np.repeat(np.arange(per_segment.size), per_segment)
        k = np.arange(seg.size) + seg  # edge index of each region's left end in the flat t
        return (t[k + 1] - t[k]) * _to_numpy(x.lengths, "lengths").astype(np.float64)[seg]
    if hasattr(x, "arclength"):  # PathPartition
        lengths = np.diff(_to_numpy(x.arclength, "arclength").astype(np.float64))
        if getattr(x, "wraps", False) and lengths.size >= 2:
            lengths = np.concatenate([[lengths[0] + lengths[-1]], lengths[1:-1]])
        return lengths
    return np.diff(_to_numpy(x.t, "t").astype(np.float64)) * float(x.length)


class SizeStats(Accumulator):
    """Distribution of region sizes pooled across updates.

    Moments (count, sum, mean, standard deviation, extremes) are exact up to rounding.
    While at most ``exact_limit`` values have been seen, all are kept and quantiles
    are exact (``numpy.quantile``); beyond that only a log-spaced histogram with fixed
    edges (``num_bins`` bins over ``10**log10_range``, plus under- and overflow) is
    kept and quantiles are estimated from it, geometrically within a bin. The
    histogram is always kept and merges exactly.

    Parameters
    ----------
    kind : {"volume", "area", "inradius", "length"}
        What to read from a partition: ``volumes`` (or ``areas`` of a 2-D partition),
        ``areas`` (or ``volumes`` when ``dim == 2``), ``inradii``, or the Euclidean
        length of every region of a 1-D partition (segment, batch, path).
    log10_range : (float, float)
        Exponents of the first and last histogram edge.
    num_bins : int
        Number of log-spaced bins.
    exact_limit : int
        Keep all values (exact quantiles) up to this many; ``0`` never keeps them.
    quantiles : sequence of float
        Levels in ``[0, 1]`` reported by :meth:`compute`.

    Examples
    --------
    >>> import regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> from regionlab.stats import SizeStats
    >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
    >>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 2, -1, 1))
    >>> r = SizeStats("area", quantiles=(0.5,)).update(part).compute()
    >>> r.count, r.sum, r.min, r.max, r.quantiles
    (4, 6.0, 1.0, 2.0, ((0.5, 1.5),))
    """

    KINDS = ("volume", "area", "inradius", "length")

    def __init__(self, kind: str = "volume", *, log10_range=(-12.0, 2.0), num_bins: int = 140,
                 exact_limit: int = 100_000, quantiles=_DEFAULT_QUANTILES):
        if kind not in self.KINDS:
            raise InvalidParameterError(f"Unknown size kind {kind!r}; choose one of {self.KINDS}.")
        self.kind = kind
        self._bins = _LogBins(log10_range, num_bins)
        if isinstance(exact_limit, bool) or not isinstance(exact_limit, (int, np.integer)) or exact_limit < 0:
            raise InvalidParameterError(f"exact_limit must be a non-negative int, got {exact_limit!r}.")
        self.exact_limit = int(exact_limit)
        self.levels = _check_levels(quantiles)
        self._reset()

    @property
    def name(self) -> str:  # member name in a RegionStatistics
        return f"{self.kind}_sizes"

    def _reset(self):
        self._moments = _Moments()
        self._sum = 0.0
        self._bins.counts = np.zeros(self._bins.num_bins + 2, dtype=np.int64)
        self._values: list[np.ndarray] | None = [] if self.exact_limit > 0 else None

    def _config(self):
        return {
            "kind": self.kind,
            "log10_range": list(self._bins.log10_range),
            "num_bins": self._bins.num_bins,
            "exact_limit": self.exact_limit,
            "quantiles": list(self.levels),
        }

    def _extract(self, x) -> np.ndarray | None:
        """The sizes a partition carries for this kind, or ``None`` if it carries none."""
        kind = self.kind
        if kind == "length":
            if hasattr(x, "t") and (hasattr(x, "length") or hasattr(x, "lengths")):
                return _segment_lengths(x)
            return None
        if kind == "inradius":
            return _optional_attr(x, "inradii")
        if kind == "volume":
            volumes = _optional_attr(x, "volumes")
            return volumes if volumes is not None else _optional_attr(x, "areas")
        areas = _optional_attr(x, "areas")
        if areas is not None:
            return areas
        return _optional_attr(x, "volumes") if getattr(x, "dim", None) == 2 else None

    def supports(self, x) -> bool:
        """Whether the partition ``x`` carries sizes of this kind.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> from regionlab.stats import SizeStats
        >>> SizeStats("volume").supports(SimpleNamespace(volumes=None, inradii=[0.1]))
        False
        """
        return not _is_raw(x) and self._extract(x) is not None

    def update(self, x) -> SizeStats:
        """Add the region sizes of a partition, or raw sizes.

        Parameters
        ----------
        x : partition or float or 1-D array-like of float
            A partition carrying sizes of this accumulator's kind, or the sizes.

        Returns
        -------
        SizeStats
            ``self``.

        Raises
        ------
        InvalidParameterError
            Negative sizes, or a partition without sizes of this kind (e.g. a
            high-dimensional partition whose volumes were not computed: use
            ``SizeStats("inradius")``).
        NumericalError
            NaN or infinite sizes.
        ShapeError
            Sizes that are not a scalar or 1-D.

        Examples
        --------
        >>> from regionlab.stats import SizeStats
        >>> SizeStats("area").update([0.5, 1.5]).update(2.0).compute().mean
        1.3333333333333333
        """
        if _is_raw(x):
            values = _as_floats(x, f"{self.kind} sizes")
        else:
            raw = self._extract(x)
            if raw is None:
                raise InvalidParameterError(
                    f"SizeStats({self.kind!r}) found no {self.kind} sizes on the {type(x).__name__} "
                    f"(volumes are computed only in low dimension; use SizeStats('inradius') there, 'area' for "
                    f"planes, 'length' for segments and paths)."
                )
            values = _as_floats(raw, f"{self.kind} sizes of the {type(x).__name__}")
        if (values < 0).any():
            raise InvalidParameterError(f"Region sizes must be non-negative, got {values[values < 0][:3].tolist()}.")
        self._moments.add(values)
        self._sum += float(values.sum())
        self._bins.add(values)
        if self._values is not None:
            if self._moments.n <= self.exact_limit:
                self._values.append(values.copy())
            else:  # too many to keep: quantiles come from the histogram from now on
                self._values = None
        return self

    def _exact_values(self) -> np.ndarray | None:
        if self._values is None:
            return None
        return np.concatenate(self._values) if self._values else np.zeros(0)

    def quantile(self, q):
        """Quantile(s) of the sizes seen so far: exact while values are kept, else estimated.

        Parameters
        ----------
        q : float or sequence of float
            Levels in ``[0, 1]``.

        Returns
        -------
        float or numpy.ndarray
            ``nan`` when no size has been seen.

        Examples
        --------
        >>> from regionlab.stats import SizeStats
        >>> s = SizeStats().update([1.0, 2.0, 3.0, 4.0])
        >>> s.quantile(0.5), s.quantile([0.0, 1.0]).tolist()
        (2.5, [1.0, 4.0])
        """
        scalar = np.ndim(q) == 0
        levels = _check_levels([q] if scalar else q)
        if self._moments.n == 0:
            out = np.full(len(levels), _NAN)
        else:
            values = self._exact_values()
            if values is not None:
                out = np.quantile(values, levels)
            else:
                out = np.array([self._bins.quantile(lv, self._moments.lo, self._moments.hi) for lv in levels])
        return float(out[0]) if scalar else out

    def compute(self) -> SizeResult:
        """The size distribution (see :class:`SizeResult`).

        Examples
        --------
        >>> from regionlab.stats import SizeStats
        >>> r = SizeStats("area", exact_limit=0, quantiles=(0.5,)).update([1.0] * 10).compute()
        >>> r.quantiles_exact, r.quantiles
        (False, ((0.5, 1.0),))
        """
        summary = self._moments.summary()
        values = self.quantile(list(self.levels)) if self.levels else np.zeros(0)
        return SizeResult(
            kind=self.kind,
            count=summary.count,
            sum=self._sum,
            mean=summary.mean,
            std=summary.std,
            min=summary.min,
            max=summary.max,
            quantiles=tuple((lv, float(v)) for lv, v in zip(self.levels, values, strict=True)),
            quantiles_exact=self._values is not None,
            histogram=self._bins.histogram(),
        )

    def _merge(self, other):
        self._moments.merge(other._moments)
        self._sum += other._sum
        self._bins.counts = self._bins.counts + other._bins.counts
        if self._values is not None and other._values is not None and self._moments.n <= self.exact_limit:
            self._values = self._values + [v.copy() for v in other._values]
        else:
            self._values = None

    def _state(self):
        values = self._exact_values()
        return {
            "moments": self._moments.state(),
            "sum": self._sum,
            "histogram": [int(c) for c in self._bins.counts],
            "values": None if values is None else values.tolist(),
        }

    def _load(self, s):
        self._moments = _Moments.from_state(s["moments"])
        self._sum = float(s["sum"])
        self._bins.load(s["histogram"])
        if s["values"] is None:
            self._values = None
        else:
            values = np.asarray(s["values"], dtype=np.float64).reshape(-1)
            if values.size != self._moments.n:
                raise InvalidParameterError(
                    f"The SizeStats state keeps {values.size} values but counts {self._moments.n}."
                )
            self._values = [values] if values.size else []


# ------------------------------------------------------------------------------ graphs


def _simple_graph(adjacency, num_regions) -> tuple[np.ndarray, int]:
    """Validated unique undirected edges ``(E, 2)`` with ``i < j``, and the node count."""
    n = _as_count(num_regions, "num_regions")
    arr = _to_numpy(adjacency, "adjacency")
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64), n
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ShapeError(f"adjacency must have shape (E, 2) (pairs of region indices), got {tuple(arr.shape)}.")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise InvalidParameterError("adjacency must hold whole region indices.")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n:
        raise InvalidParameterError(
            f"adjacency refers to region {int(arr.min()) if arr.min() < 0 else int(arr.max())}, outside "
            f"0..{n - 1} for num_regions={n}."
        )
    if (arr[:, 0] == arr[:, 1]).any():
        raise InvalidParameterError("adjacency pairs a region with itself; a region is not its own neighbour.")
    # a region graph is simple: pairs given in both orders or repeated count once
    return np.unique(np.sort(arr, axis=1), axis=0), n


def _csgraph(edges: np.ndarray, n: int):
    from scipy.sparse import coo_matrix

    data = np.ones(edges.shape[0], dtype=np.float64)
    return coo_matrix((data, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()


def _farthest(graph, sources: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Eccentricity (within the component) and a farthest node of every source, by BFS."""
    from scipy.sparse.csgraph import shortest_path

    ecc = np.zeros(sources.size, dtype=np.int64)
    far = np.zeros(sources.size, dtype=np.int64)
    block = max(1, _BFS_BLOCK_ENTRIES // max(n, 1))
    for s in range(0, sources.size, block):
        dist = shortest_path(graph, method="D", directed=False, unweighted=True, indices=sources[s:s + block])
        dist = np.where(np.isfinite(dist), dist, -1.0)
        far[s:s + block] = dist.argmax(axis=1)
        ecc[s:s + block] = dist.max(axis=1).astype(np.int64)
    return ecc, far


def _components(graph, n: int) -> tuple[int, np.ndarray]:
    if n == 0:
        return 0, np.zeros(0, dtype=np.int64)
    from scipy.sparse.csgraph import connected_components

    count, labels = connected_components(graph, directed=False)
    return int(count), labels


def _diameter(graph, n: int, labels: np.ndarray, exact_limit: int) -> Diameter:
    if n == 0 or graph.nnz == 0:  # no edge: every component is a single node
        return Diameter(0, True)
    if n <= exact_limit:
        ecc, _ = _farthest(graph, np.arange(n), n)
        return Diameter(int(ecc.max()), True)
    # double sweep in every component with an edge: BFS from a node, then from the farthest
    # node found; the second eccentricity is a lower bound on the component's diameter
    _, first, sizes = np.unique(labels, return_index=True, return_counts=True)
    starts = first[sizes > 1]
    _, far = _farthest(graph, starts, n)
    ecc, _ = _farthest(graph, far, n)
    return Diameter(int(ecc.max()), False)


def degree_distribution(adjacency, num_regions) -> Counter:
    """Number of regions of each degree in an adjacency graph.

    Parameters
    ----------
    adjacency : array-like ``(E, 2)`` of int
        Pairs of adjacent regions (either order; repeated pairs count once).
    num_regions : int
        Number of nodes (regions without a neighbour have degree 0).

    Returns
    -------
    collections.Counter
        ``{degree: number of regions}``.

    Raises
    ------
    ShapeError
        ``adjacency`` not of shape ``(E, 2)``.
    InvalidParameterError
        Indices outside ``0 .. num_regions - 1`` or a region paired with itself.

    Examples
    --------
    >>> from regionlab.stats import degree_distribution
    >>> sorted(degree_distribution([[0, 1], [0, 2], [2, 0]], 4).items())
    [(0, 1), (1, 2), (2, 1)]
    """
    edges, n = _simple_graph(adjacency, num_regions)
    return Counter(np.bincount(edges.reshape(-1), minlength=n).tolist())


def graph_diameter(adjacency, num_regions, *, exact_limit: int = _DEFAULT_DIAMETER_LIMIT) -> Diameter:
    """Diameter (in edges) of an adjacency graph: the longest shortest path in a component.

    Exact (a breadth-first search from every node, with
    ``scipy.sparse.csgraph.shortest_path``) for graphs of at most ``exact_limit`` nodes;
    above, the double-sweep lower bound (exact on trees), flagged ``exact=False``. A
    disconnected graph's diameter is the largest of its components' diameters; an empty
    or edgeless graph has diameter 0 (exact).

    Parameters
    ----------
    adjacency : array-like ``(E, 2)`` of int
    num_regions : int
    exact_limit : int
        Largest graph (in nodes) for the exact computation.

    Returns
    -------
    Diameter
        ``(value, exact)``.

    Examples
    --------
    >>> from regionlab.stats import graph_diameter
    >>> cycle = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 0]]
    >>> graph_diameter(cycle, 5)
    Diameter(value=2, exact=True)
    >>> graph_diameter(cycle, 5, exact_limit=0).exact
    False
    """
    edges, n = _simple_graph(adjacency, num_regions)
    limit = _as_count(exact_limit, "exact_limit")
    graph = _csgraph(edges, n)
    _, labels = _components(graph, n)
    return _diameter(graph, n, labels, limit)


def num_components(adjacency, num_regions) -> int:
    """Number of connected components of an adjacency graph (isolated regions included).

    Examples
    --------
    >>> from regionlab.stats import num_components
    >>> num_components([[0, 1], [2, 3]], 5)
    3
    """
    edges, n = _simple_graph(adjacency, num_regions)
    return _components(_csgraph(edges, n), n)[0]


class GraphStats(Accumulator):
    """Region adjacency graphs: degrees, edges, diameters and components, pooled over updates.

    Every quantity is an integer, kept as exact ``{value: frequency}`` counts, so merges
    are exact. Diameters are exact for graphs of at most ``exact_diameter_limit`` nodes
    (one breadth-first search per node: about 3 s for 4 000 regions on one CPU core)
    and double-sweep lower bounds above (counted in ``num_lower_bounds``); lower the
    limit when many large partitions stream through.

    Parameters
    ----------
    exact_diameter_limit : int
        Largest graph (in nodes) whose diameter is computed exactly.

    Examples
    --------
    >>> import regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> from regionlab.stats import GraphStats
    >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
    >>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    >>> r = GraphStats().update(part).compute()  # four quadrants in a cycle
    >>> r.total_edges, r.degree_histogram, r.diameter.max, r.diameter_exact
    (4, ((2, 4),), 2.0, True)
    """

    name = "graph"

    def __init__(self, *, exact_diameter_limit: int = _DEFAULT_DIAMETER_LIMIT):
        self.exact_diameter_limit = _as_count(exact_diameter_limit, "exact_diameter_limit")
        self._reset()

    def _reset(self):
        self._num_graphs = self._total_nodes = self._total_edges = self._num_lower_bounds = 0
        self._degrees, self._edges, self._diameters, self._components = Counter(), Counter(), Counter(), Counter()

    def _config(self):
        return {"exact_diameter_limit": self.exact_diameter_limit}

    def supports(self, x) -> bool:
        """Whether ``x`` carries an ``adjacency`` and ``num_regions``.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> from regionlab.stats import GraphStats
        >>> GraphStats().supports(SimpleNamespace(adjacency=[[0, 1]], num_regions=2))
        True
        """
        return not _is_raw(x) and hasattr(x, "adjacency") and hasattr(x, "num_regions")

    def update(self, x, num_regions=None) -> GraphStats:
        """Add one adjacency graph: a partition's, or raw pairs with their node count.

        Parameters
        ----------
        x : partition or array-like ``(E, 2)`` of int
            A partition with ``adjacency`` and ``num_regions`` (plane, polytope), or
            the adjacent pairs (either order; repeats count once).
        num_regions : int, optional
            With raw pairs: the number of regions (nodes).

        Returns
        -------
        GraphStats
            ``self``.

        Raises
        ------
        ShapeError
            Pairs not of shape ``(E, 2)``.
        InvalidParameterError
            Indices out of range, self-pairs, a missing ``num_regions``, or an object
            without adjacency (1-D partitions have none).

        Examples
        --------
        >>> from regionlab.stats import GraphStats
        >>> GraphStats().update([[0, 1], [1, 2]], num_regions=3).compute().diameter.max
        2.0
        """
        if _is_raw(x):
            if num_regions is None:
                raise InvalidParameterError("GraphStats.update with raw adjacency pairs needs num_regions.")
            edges, n = _simple_graph(x, num_regions)
        else:
            if num_regions is not None:
                raise InvalidParameterError("GraphStats.update takes num_regions from the partition; do not pass it.")
            if not self.supports(x):
                raise InvalidParameterError(
                    f"GraphStats needs a partition with an adjacency graph (plane or polytope partitions); the "
                    f"{type(x).__name__} has none."
                )
            edges, n = _simple_graph(x.adjacency, x.num_regions)
        graph = _csgraph(edges, n)
        count, labels = _components(graph, n)
        diameter = _diameter(graph, n, labels, self.exact_diameter_limit)
        degrees = np.bincount(edges.reshape(-1), minlength=n)
        self._num_graphs += 1
        self._total_nodes += n
        self._total_edges += int(edges.shape[0])
        self._num_lower_bounds += int(not diameter.exact)
        self._degrees.update(degrees.tolist())
        self._edges[int(edges.shape[0])] += 1
        self._diameters[diameter.value] += 1
        self._components[count] += 1
        return self

    def compute(self) -> GraphResult:
        """The pooled graph statistics (see :class:`GraphResult`).

        Examples
        --------
        >>> from regionlab.stats import GraphStats
        >>> g = GraphStats().update([[0, 1]], num_regions=2).update([[0, 1], [1, 2]], num_regions=3)
        >>> r = g.compute()
        >>> r.num_graphs, r.total_edges, r.edges.mean, r.diameter_histogram
        (2, 3, 1.5, ((1, 1), (2, 1)))
        """
        return GraphResult(
            num_graphs=self._num_graphs,
            total_nodes=self._total_nodes,
            total_edges=self._total_edges,
            mean_degree=2 * self._total_edges / self._total_nodes if self._total_nodes else _NAN,
            degrees=_counter_summary(self._degrees),
            degree_histogram=_counter_pairs(self._degrees),
            edges=_counter_summary(self._edges),
            diameter=_counter_summary(self._diameters),
            diameter_histogram=_counter_pairs(self._diameters),
            diameter_exact=self._num_lower_bounds == 0,
            num_lower_bounds=self._num_lower_bounds,
            components=_counter_summary(self._components),
            components_histogram=_counter_pairs(self._components),
        )

    def _merge(self, other):
        self._num_graphs += other._num_graphs
        self._total_nodes += other._total_nodes
        self._total_edges += other._total_edges
        self._num_lower_bounds += other._num_lower_bounds
        for mine, theirs in ((self._degrees, other._degrees), (self._edges, other._edges),
                             (self._diameters, other._diameters), (self._components, other._components)):
            mine.update(theirs)

    def _state(self):
        return {
            "num_graphs": self._num_graphs,
            "total_nodes": self._total_nodes,
            "total_edges": self._total_edges,
            "num_lower_bounds": self._num_lower_bounds,
            "degrees": _counter_state(self._degrees),
            "edges": _counter_state(self._edges),
            "diameters": _counter_state(self._diameters),
            "components": _counter_state(self._components),
        }

    def _load(self, s):
        self._num_graphs, self._total_nodes = int(s["num_graphs"]), int(s["total_nodes"])
        self._total_edges, self._num_lower_bounds = int(s["total_edges"]), int(s["num_lower_bounds"])
        self._degrees, self._edges = _counter_from_state(s["degrees"]), _counter_from_state(s["edges"])
        self._diameters = _counter_from_state(s["diameters"])
        self._components = _counter_from_state(s["components"])


# --------------------------------------------------------------------------- 1-D paths


def _path_counts(x) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(regions, breakpoints, lengths)`` per path of a 1-D partition, or ``None``."""
    if hasattr(x, "piece_offsets") and hasattr(x, "lengths"):  # SegmentPartitionBatch
        return (_to_numpy(x.num_regions, "num_regions").astype(np.int64),
                _to_numpy(x.num_breakpoints, "num_breakpoints").astype(np.int64),
                _to_numpy(x.lengths, "lengths").astype(np.float64))
    if hasattr(x, "num_transitions") and hasattr(x, "length"):  # PathPartition: a wrapping loop's region counts once
        return (np.array([int(x.num_regions) - int(x.wraps)]), np.array([int(x.num_transitions)]),
                np.array([float(x.length)]))
    if hasattr(x, "num_breakpoints") and hasattr(x, "length") and hasattr(x, "t"):  # SegmentPartition
        return np.array([int(x.num_regions)]), np.array([int(x.num_breakpoints)]), np.array([float(x.length)])
    return None


class PathDensityStats(Accumulator):
    """Regions and breakpoints per unit length along 1-D paths (segments, batches, polylines).

    One observation per path: ``density = regions / length`` and
    ``breakpoint_density = breakpoints / length``, as the partitions'
    ``density`` / ``breakpoint_density`` report them (a closed path that wraps counts
    its first region once; its breakpoints are its pattern changes around the loop).
    Zero-length paths have no density and are counted in ``skipped`` only.

    Parameters
    ----------
    log10_range : (float, float)
        Exponents of the first and last edge of the density histograms.
    num_bins : int
        Log-spaced bins of the density histograms.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> from regionlab.stats import PathDensityStats
    >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
    >>> batch = regionlab.partition_segment(net, torch.tensor([[-1.0], [1.0]]), torch.tensor([[3.0], [2.0]]))
    >>> r = PathDensityStats().update(batch).compute()
    >>> r.density.mean, r.breakpoint_density.max, r.pooled_density
    (0.75, 0.25, 0.6)
    """

    name = "path_density"

    def __init__(self, *, log10_range=(-3.0, 6.0), num_bins: int = 90):
        self._density_bins = _LogBins(log10_range, num_bins)
        self._breakpoint_bins = _LogBins(log10_range, num_bins)
        self._reset()

    def _reset(self):
        self._density, self._breakpoint_density = _Moments(), _Moments()
        self._total_length = 0.0
        self._total_regions = self._total_breakpoints = self._skipped = 0
        for bins in (self._density_bins, self._breakpoint_bins):
            bins.counts = np.zeros(bins.num_bins + 2, dtype=np.int64)

    def _config(self):
        return {"log10_range": list(self._density_bins.log10_range), "num_bins": self._density_bins.num_bins}

    def supports(self, x) -> bool:
        """Whether ``x`` is a 1-D partition (segment, batch of segments, path).

        Examples
        --------
        >>> import regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> from regionlab.stats import PathDensityStats
        >>> seg = regionlab.partition_segment(CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()]), [-1.0], [1.0])
        >>> PathDensityStats().supports(seg)
        True
        """
        return not _is_raw(x) and _path_counts(x) is not None

    def update(self, x, lengths=None, num_breakpoints=None) -> PathDensityStats:
        """Add the densities of a 1-D partition, or of raw per-path counts.

        Parameters
        ----------
        x : partition or int or 1-D array-like of int
            A :class:`~regionlab.SegmentPartition`, :class:`~regionlab.SegmentPartitionBatch`
            or :class:`~regionlab.PathPartition`; or the number of regions of each path.
        lengths : float or 1-D array-like of float, optional
            With raw counts: each path's length (required).
        num_breakpoints : int or 1-D array-like of int, optional
            With raw counts: breakpoints of each path (default ``regions - 1``).

        Returns
        -------
        PathDensityStats
            ``self``.

        Raises
        ------
        InvalidParameterError
            Negative counts or lengths, missing lengths, not a 1-D partition.
        ShapeError
            Arguments of different lengths.
        NumericalError
            Non-finite lengths.

        Examples
        --------
        >>> from regionlab.stats import PathDensityStats
        >>> r = PathDensityStats().update([3, 1], lengths=[2.0, 0.0]).compute()
        >>> r.density.count, r.skipped, r.density.mean
        (1, 1, 1.5)
        """
        if _is_raw(x):
            if lengths is None:
                raise InvalidParameterError("PathDensityStats.update with raw region counts needs lengths as well.")
            regions = _as_ints(x, "num_regions")
            lens = _as_floats(lengths, "lengths")
            bps = np.maximum(regions - 1, 0) if num_breakpoints is None else _as_ints(num_breakpoints, "num_breakpoints")
            if not regions.shape == lens.shape == bps.shape:
                raise ShapeError(
                    f"num_regions, lengths and num_breakpoints must have the same length, got {regions.size}, "
                    f"{lens.size} and {bps.size}."
                )
        else:
            if lengths is not None or num_breakpoints is not None:
                raise InvalidParameterError("PathDensityStats.update takes lengths and breakpoints from the partition.")
            counts = _path_counts(x)
            if counts is None:
                raise InvalidParameterError(
                    f"PathDensityStats needs a 1-D partition (SegmentPartition, SegmentPartitionBatch, PathPartition) "
                    f"or raw counts; got {type(x).__name__}."
                )
            regions, bps, lens = counts
            if not np.isfinite(lens).all():
                raise NumericalError(f"The {type(x).__name__} has a non-finite length.")
        if (lens < 0).any():
            raise InvalidParameterError(f"Path lengths must be non-negative, got {lens[lens < 0][:3].tolist()}.")
        keep = lens > 0
        regions, bps, lens = regions[keep], bps[keep], lens[keep]
        density, bp_density = regions / lens, bps / lens
        self._skipped += int((~keep).sum())
        self._density.add(density)
        self._breakpoint_density.add(bp_density)
        self._total_length += float(lens.sum())
        self._total_regions += int(regions.sum())
        self._total_breakpoints += int(bps.sum())
        self._density_bins.add(density)
        self._breakpoint_bins.add(bp_density)
        return self

    def compute(self) -> PathDensityResult:
        """The density statistics (see :class:`PathDensityResult`).

        Examples
        --------
        >>> from regionlab.stats import PathDensityStats
        >>> PathDensityStats().update(4, lengths=2.0).compute().breakpoint_density.mean
        1.5
        """
        length = self._total_length
        return PathDensityResult(
            density=self._density.summary(),
            breakpoint_density=self._breakpoint_density.summary(),
            total_length=length,
            total_regions=self._total_regions,
            total_breakpoints=self._total_breakpoints,
            pooled_density=self._total_regions / length if length > 0 else _NAN,
            pooled_breakpoint_density=self._total_breakpoints / length if length > 0 else _NAN,
            skipped=self._skipped,
            density_histogram=self._density_bins.histogram(),
            breakpoint_density_histogram=self._breakpoint_bins.histogram(),
        )

    def _merge(self, other):
        self._density.merge(other._density)
        self._breakpoint_density.merge(other._breakpoint_density)
        self._total_length += other._total_length
        self._total_regions += other._total_regions
        self._total_breakpoints += other._total_breakpoints
        self._skipped += other._skipped
        self._density_bins.counts = self._density_bins.counts + other._density_bins.counts
        self._breakpoint_bins.counts = self._breakpoint_bins.counts + other._breakpoint_bins.counts

    def _state(self):
        return {
            "density": self._density.state(),
            "breakpoint_density": self._breakpoint_density.state(),
            "total_length": self._total_length,
            "total_regions": self._total_regions,
            "total_breakpoints": self._total_breakpoints,
            "skipped": self._skipped,
            "density_histogram": [int(c) for c in self._density_bins.counts],
            "breakpoint_density_histogram": [int(c) for c in self._breakpoint_bins.counts],
        }

    def _load(self, s):
        self._density = _Moments.from_state(s["density"])
        self._breakpoint_density = _Moments.from_state(s["breakpoint_density"])
        self._total_length = float(s["total_length"])
        self._total_regions, self._total_breakpoints = int(s["total_regions"]), int(s["total_breakpoints"])
        self._skipped = int(s["skipped"])
        self._density_bins.load(s["density_histogram"])
        self._breakpoint_bins.load(s["breakpoint_density_histogram"])


class PiecesVsRegions(Accumulator):
    """Totals of linear pieces against activation regions, and the ratio per partition.

    Regions whose affine maps coincide with a neighbour's are merged into one linear
    piece (dead or output-irrelevant units), so ``ratio <= 1``; ``1`` means every
    region carries its own affine map.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> from regionlab.stats import PiecesVsRegions
    >>> W = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.relu(), Dense(torch.zeros(1, 1, dtype=torch.float64))])
    >>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    >>> r = PiecesVsRegions().update(part).compute()
    >>> r.total_regions, r.total_pieces, r.ratio, r.num_with_merges
    (2, 1, 0.5, 1)
    """

    name = "pieces_vs_regions"

    def __init__(self):
        self._reset()

    def _reset(self):
        self._num = self._total_regions = self._total_pieces = self._with_merges = 0
        self._ratios = _Moments()

    def supports(self, x) -> bool:
        """Whether ``x`` has ``num_regions`` and ``num_linear_pieces``.

        Examples
        --------
        >>> from regionlab.stats import PiecesVsRegions
        >>> PiecesVsRegions().supports([1, 2])
        False
        """
        return not _is_raw(x) and hasattr(x, "num_regions") and hasattr(x, "num_linear_pieces")

    def update(self, x, num_linear_pieces=None) -> PiecesVsRegions:
        """Add a partition's (or raw) region and linear-piece counts.

        Parameters
        ----------
        x : partition or int or 1-D array-like of int
            As in :meth:`RegionCountStats.update`.
        num_linear_pieces : int or 1-D array-like of int, optional
            With raw counts: the linear pieces of each observation.

        Returns
        -------
        PiecesVsRegions
            ``self``.

        Raises
        ------
        InvalidParameterError, ShapeError
            As in :meth:`RegionCountStats.update`.

        Examples
        --------
        >>> from regionlab.stats import PiecesVsRegions
        >>> PiecesVsRegions().update([4, 4], num_linear_pieces=[4, 2]).compute().ratio
        0.75
        """
        regions, pieces = _region_piece_counts(x, num_linear_pieces, type(self).__name__)
        seen = regions > 0
        self._num += int(regions.size)
        self._total_regions += int(regions.sum())
        self._total_pieces += int(pieces.sum())
        self._with_merges += int((pieces < regions).sum())
        self._ratios.add(pieces[seen] / regions[seen])
        return self

    def compute(self) -> PiecesVsRegionsResult:
        """The totals and ratios (see :class:`PiecesVsRegionsResult`).

        Examples
        --------
        >>> from regionlab.stats import PiecesVsRegions
        >>> PiecesVsRegions().compute().num_partitions
        0
        """
        return PiecesVsRegionsResult(
            num_partitions=self._num,
            total_regions=self._total_regions,
            total_pieces=self._total_pieces,
            ratio=self._total_pieces / self._total_regions if self._total_regions else _NAN,
            per_partition=self._ratios.summary(),
            num_with_merges=self._with_merges,
        )

    def _merge(self, other):
        self._num += other._num
        self._total_regions += other._total_regions
        self._total_pieces += other._total_pieces
        self._with_merges += other._with_merges
        self._ratios.merge(other._ratios)

    def _state(self):
        return {
            "num_partitions": self._num,
            "total_regions": self._total_regions,
            "total_pieces": self._total_pieces,
            "num_with_merges": self._with_merges,
            "ratios": self._ratios.state(),
        }

    def _load(self, s):
        self._num, self._total_regions = int(s["num_partitions"]), int(s["total_regions"])
        self._total_pieces, self._with_merges = int(s["total_pieces"]), int(s["num_with_merges"])
        self._ratios = _Moments.from_state(s["ratios"])


# ----------------------------------------------------------------------------- collection


class RegionStatistics(Accumulator):
    """A collection of statistics updated, merged and computed together (like a MetricCollection).

    Parameters
    ----------
    members : mapping of name to Accumulator, or iterable of Accumulator
        The statistics; an iterable names each by its default name
        (``"region_counts"``, ``"area_sizes"``, ``"graph"``, ``"path_density"``,
        ``"pieces_vs_regions"``, ...).
    skip_unsupported : bool
        ``False`` (default): :meth:`update` refuses a partition that some member cannot
        take. ``True``: such members are skipped (e.g. one collection for plane and
        segment partitions).

    Raises
    ------
    InvalidParameterError
        No members, a member that is not an accumulator, or two members with one name.

    Examples
    --------
    >>> import regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> from regionlab.stats import PathDensityStats, RegionCountStats, RegionStatistics, SizeStats
    >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
    >>> stats = RegionStatistics([RegionCountStats(), SizeStats("length"), PathDensityStats()])
    >>> stats.names
    ('region_counts', 'length_sizes', 'path_density')
    >>> _ = stats.update(regionlab.partition_segment(net, [-1.0, -1.0], [1.0, 3.0]))
    >>> res = stats.compute()
    >>> res["region_counts"].mean, res["length_sizes"].count, res["path_density"].breakpoint_density.count
    (3.0, 3, 1)
    """

    name = "statistics"

    def __init__(self, members, *, skip_unsupported: bool = False):
        if isinstance(members, Mapping):
            items = list(members.items())
        elif isinstance(members, Iterable) and not isinstance(members, (str, bytes)):
            items = [(getattr(m, "name", None), m) for m in members]
        else:
            raise InvalidParameterError(
                f"RegionStatistics takes a dict name -> accumulator or a list of accumulators, got {type(members).__name__}."
            )
        if not items:
            raise InvalidParameterError("RegionStatistics needs at least one statistic.")
        names = []
        for name, member in items:
            if not isinstance(member, Accumulator):
                raise InvalidParameterError(f"RegionStatistics members must be accumulators, got {type(member).__name__}.")
            if not isinstance(name, str) or not name:
                raise InvalidParameterError(f"Statistic names must be non-empty strings, got {name!r}.")
            if name in names:
                raise InvalidParameterError(
                    f"Two statistics are named {name!r}; pass a dict with distinct names, e.g. "
                    "{'train_areas': SizeStats('area'), 'test_areas': SizeStats('area')}."
                )
            names.append(name)
        self._members: dict[str, Accumulator] = dict(items)
        self.skip_unsupported = bool(skip_unsupported)

    @property
    def names(self) -> tuple:
        """Member names, in order.

        Examples
        --------
        >>> from regionlab.stats import GraphStats, RegionStatistics
        >>> RegionStatistics({"adjacency": GraphStats()}).names
        ('adjacency',)
        """
        return tuple(self._members)

    def __getitem__(self, name: str) -> Accumulator:
        try:
            return self._members[name]
        except KeyError:
            raise KeyError(f"No statistic named {name!r}; the collection holds {list(self._members)}.") from None

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self):
        return iter(self._members)

    def supports(self, x) -> bool:
        """Whether :meth:`update` would take ``x`` (every member, or one with ``skip_unsupported``).

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> from regionlab.stats import GraphStats, RegionCountStats, RegionStatistics
        >>> seg_like = SimpleNamespace(num_regions=3, num_linear_pieces=3)
        >>> RegionStatistics([RegionCountStats(), GraphStats()]).supports(seg_like)
        False
        """
        ok = [m.supports(x) for m in self._members.values()]
        return any(ok) if self.skip_unsupported else all(ok)

    def update(self, x) -> RegionStatistics:
        """Update every member with the partition ``x``; returns ``self``.

        Members are checked first, so a refused partition changes nothing.

        Raises
        ------
        InvalidParameterError
            A member cannot take ``x`` (and ``skip_unsupported`` is off), or none can.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> from regionlab.stats import GraphStats, RegionCountStats, RegionStatistics
        >>> stats = RegionStatistics([RegionCountStats(), GraphStats()], skip_unsupported=True)
        >>> _ = stats.update(SimpleNamespace(num_regions=3, num_linear_pieces=3))  # no adjacency: graph skipped
        >>> stats.compute()["graph"].num_graphs, stats.compute()["region_counts"].count
        (0, 1)
        """
        if _is_raw(x):
            raise InvalidParameterError(
                "RegionStatistics.update takes partition results; feed raw numbers to the member accumulators "
                "(stats[name].update(...))."
            )
        chosen, refused = [], []
        for name, member in self._members.items():
            (chosen if member.supports(x) else refused).append(name)
        if refused and not self.skip_unsupported:
            raise InvalidParameterError(
                f"The statistics {refused} cannot take a {type(x).__name__}; remove them or build the collection "
                "with skip_unsupported=True."
            )
        if not chosen:
            raise InvalidParameterError(f"No statistic in the collection can take a {type(x).__name__}.")
        for name in chosen:
            self._members[name].update(x)
        return self

    def compute(self) -> StatisticsResult:
        """Every member's result (see :class:`StatisticsResult`).

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats, RegionStatistics
        >>> RegionStatistics({"n": RegionCountStats()}).compute().names
        ('n',)
        """
        return StatisticsResult(tuple((name, member.compute()) for name, member in self._members.items()))

    def _config(self):
        return {
            "skip_unsupported": self.skip_unsupported,
            "members": [[name, type(m).__name__, m._config()] for name, m in self._members.items()],
        }

    def _merge(self, other):
        for name, member in self._members.items():
            member._merge(other._members[name])

    def _reset(self):
        for member in self._members.values():
            member._reset()

    def state_dict(self) -> dict:
        """Plain-data state of the collection: every member's :meth:`~Accumulator.state_dict`.

        Examples
        --------
        >>> from regionlab.stats import RegionCountStats, RegionStatistics
        >>> s = RegionStatistics([RegionCountStats()]).state_dict()
        >>> s["kind"], [name for name, _ in s["members"]]
        ('RegionStatistics', ['region_counts'])
        """
        return {
            "kind": type(self).__name__,
            "version": _STATE_VERSION,
            "skip_unsupported": self.skip_unsupported,
            "members": [[name, m.state_dict()] for name, m in self._members.items()],
        }

    @classmethod
    def _from_plain_state(cls, state: Mapping) -> RegionStatistics:
        try:
            members = {str(name): Accumulator.from_state(s) for name, s in state["members"]}
            return cls(members, skip_unsupported=bool(state["skip_unsupported"]))
        except InvalidParameterError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameterError(f"The RegionStatistics state is malformed ({type(exc).__name__}: {exc}).") from exc

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {m!r}" for name, m in self._members.items())
        return f"RegionStatistics({{{inner}}}, skip_unsupported={self.skip_unsupported})"


# ========================================================================= state functions


def accumulator_from_state(state: Mapping) -> Accumulator:
    """Rebuild any accumulator (or collection) from its :meth:`~Accumulator.state_dict`.

    Examples
    --------
    >>> from regionlab.stats import GraphStats, accumulator_from_state
    >>> g = accumulator_from_state(GraphStats().update([[0, 1]], num_regions=2).state_dict())
    >>> type(g).__name__, g.compute().total_edges
    ('GraphStats', 1)
    """
    return Accumulator.from_state(state)


def merge_states(states: Iterable) -> Accumulator:
    """Merge accumulators or their states (e.g. from ``all_gather_object``) into a new one.

    Parameters
    ----------
    states : iterable of Accumulator or dict
        At least one; all of the same kind and configuration. They are not modified.

    Returns
    -------
    Accumulator

    Raises
    ------
    InvalidParameterError
        Nothing to merge, or states of different kinds or configurations.

    Examples
    --------
    >>> from regionlab.stats import RegionCountStats, merge_states
    >>> parts = [RegionCountStats().update(n, num_linear_pieces=n).state_dict() for n in (2, 4)]
    >>> merge_states(parts).compute().mean
    3.0
    """
    total = None
    for item in states:
        acc = item.copy() if isinstance(item, Accumulator) else Accumulator.from_state(item)
        total = acc if total is None else total.merge(acc)
    if total is None:
        raise InvalidParameterError("merge_states needs at least one accumulator or state.")
    return total


# ======================================================================== functional forms


def region_count_summary(partitions, num_linear_pieces=None) -> RegionCountResult:
    """Functional form of :class:`RegionCountStats`.

    Parameters
    ----------
    partitions : partition, iterable of partitions, or raw region counts
    num_linear_pieces : optional
        With raw counts: the linear pieces (see :meth:`RegionCountStats.update`).

    Examples
    --------
    >>> from regionlab.stats import region_count_summary
    >>> region_count_summary([2, 4], num_linear_pieces=[1, 4]).pieces.mean
    2.5
    """
    stats = RegionCountStats()
    if _is_raw(partitions):
        return stats.update(partitions, num_linear_pieces).compute()
    for part in _each(partitions):
        stats.update(part)
    return stats.compute()


def size_summary(values, *, kind: str = "volume", log10_range=(-12.0, 2.0), num_bins: int = 140,
                 exact_limit: int = 100_000, quantiles=_DEFAULT_QUANTILES) -> SizeResult:
    """Functional form of :class:`SizeStats`: sizes from raw values, a partition or partitions.

    Examples
    --------
    >>> from regionlab.stats import size_summary
    >>> r = size_summary([4.0, 1.0, 2.0, 3.0], kind="area", quantiles=(0.0, 0.5, 1.0))
    >>> r.mean, r.quantiles
    (2.5, ((0.0, 1.0), (0.5, 2.5), (1.0, 4.0)))
    """
    stats = SizeStats(kind, log10_range=log10_range, num_bins=num_bins, exact_limit=exact_limit, quantiles=quantiles)
    if _is_raw(values):
        return stats.update(values).compute()
    for part in _each(values):
        stats.update(part)
    return stats.compute()


def graph_summary(partitions, num_regions=None, *, exact_diameter_limit: int = _DEFAULT_DIAMETER_LIMIT) -> GraphResult:
    """Functional form of :class:`GraphStats`: one adjacency (raw pairs or a partition) or many.

    Examples
    --------
    >>> from regionlab.stats import graph_summary
    >>> graph_summary([[0, 1], [1, 2], [2, 0]], num_regions=3).degree_histogram
    ((2, 3),)
    """
    stats = GraphStats(exact_diameter_limit=exact_diameter_limit)
    if _is_raw(partitions):
        return stats.update(partitions, num_regions).compute()
    for part in _each(partitions):
        stats.update(part)
    return stats.compute()


def path_density_summary(partitions, lengths=None, num_breakpoints=None, *, log10_range=(-3.0, 6.0),
                         num_bins: int = 90) -> PathDensityResult:
    """Functional form of :class:`PathDensityStats`.

    Examples
    --------
    >>> from regionlab.stats import path_density_summary
    >>> path_density_summary([2, 6], lengths=[1.0, 2.0]).density.max
    3.0
    """
    stats = PathDensityStats(log10_range=log10_range, num_bins=num_bins)
    if _is_raw(partitions):
        return stats.update(partitions, lengths, num_breakpoints).compute()
    for part in _each(partitions):
        stats.update(part)
    return stats.compute()


def pieces_vs_regions(partitions, num_linear_pieces=None) -> PiecesVsRegionsResult:
    """Functional form of :class:`PiecesVsRegions`.

    Examples
    --------
    >>> from regionlab.stats import pieces_vs_regions
    >>> pieces_vs_regions(10, num_linear_pieces=7).ratio
    0.7
    """
    stats = PiecesVsRegions()
    if _is_raw(partitions):
        return stats.update(partitions, num_linear_pieces).compute()
    for part in _each(partitions):
        stats.update(part)
    return stats.compute()
