"""Results of the exact 1-D engine: :class:`SegmentPartition`, :class:`SegmentPartitionBatch`
and :class:`PathPartition`.

What is counted
---------------
* An **activation region** met by the segment is a maximal interval of ``t`` on which
  the activation pattern (every unit's piece or argmax, :mod:`regionlab.ir.ops`) is
  constant. Only intervals of positive length count: points where the segment merely
  touches a switching surface are not regions, and a region met along an interval is
  counted once. ``num_regions = num_breakpoints + 1``.
* A **linear piece** is a maximal interval of ``t`` on which ``t -> f(x(t))`` is affine:
  neighbouring activation regions whose output forms along the segment coincide (within
  the tolerance of :class:`~regionlab.numerics.Numerics`) are merged, e.g. across the
  switch of a dead or output-irrelevant unit. ``num_linear_pieces <= num_regions``.
* The domain is the closed segment ``x(t) = start + t (end - start)``, ``t`` in ``[0, 1]``;
  regions that only touch an end point are not counted.

Patterns are stored sparsely (the first pattern and the changes at each breakpoint) so
that long segments through wide or convolutional networks stay small; the dense
``patterns`` matrix is built on first access.

Examples
--------
>>> import torch, regionlab
>>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
>>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
>>> part = regionlab.partition_segment(net, [-1.0], [3.0])
>>> part.t.tolist(), part.patterns.tolist()
([0.0, 0.25, 1.0], [[0], [1]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from ..errors import InvalidParameterError

__all__ = ["SegmentPartition", "SegmentPartitionBatch", "PathPartition"]

_INT_FIELDS = {
    "first_pattern": torch.int16,
    "first_patterns": torch.int16,
    "change_piece": torch.long,
    "change_unit": torch.long,
    "change_delta": torch.int16,
    "change_offsets": torch.long,
    "piece_offsets": torch.long,
    "linear_piece": torch.long,
}


def _per_length(count: int, length: float) -> float:
    """``count / length``; ``nan`` for a zero-length domain."""
    return count / length if length > 0 else math.nan


def _dense_patterns(first: Tensor, piece: Tensor, unit: Tensor, delta: Tensor, R: int) -> Tensor:
    P = torch.zeros((R, first.numel()), dtype=torch.int16)
    if R == 0:
        return P
    P[0] = first
    P.index_put_((piece, unit), delta, accumulate=True)
    return torch.cumsum(P, 0, dtype=torch.int16)


def _to_plain(obj) -> dict:
    out = {}
    for f in fields(obj):
        val = getattr(obj, f.name)
        if isinstance(val, Tensor):
            out[f.name] = val.tolist()
        elif isinstance(val, tuple) and val and isinstance(val[0], SegmentPartition):
            out[f.name] = [leg.to_dict() for leg in val]
        elif isinstance(val, tuple):
            out[f.name] = list(val)
        else:
            out[f.name] = val
    return out


def _from_plain(cls, d: dict, shapes: dict):
    kw = {}
    for f in fields(cls):
        if f.name not in d:
            raise InvalidParameterError(f"{cls.__name__}.from_dict: the dictionary has no {f.name!r} entry.")
        val = d[f.name]
        if f.name in ("input_shape", "output_shape"):
            kw[f.name] = tuple(int(s) for s in val)
        elif f.name == "legs":
            kw[f.name] = tuple(SegmentPartition.from_dict(leg) for leg in val)
        elif f.name in ("seconds",):
            kw[f.name] = float(val)
        elif f.name in ("closed",):
            kw[f.name] = bool(val)
        elif val is None:
            kw[f.name] = None
        else:
            t = torch.tensor(val, dtype=_INT_FIELDS.get(f.name, torch.float64))
            if f.name in shapes:
                t = t.reshape(shapes[f.name])
            kw[f.name] = t
    return cls(**kw)


class _Pieces:
    """Shared behaviour of the 1-D results: sparse patterns, counts, witnesses."""

    t: Tensor
    first_pattern: Tensor
    change_piece: Tensor
    change_unit: Tensor
    change_delta: Tensor
    linear_piece: Tensor

    @property
    def num_regions(self) -> int:
        """Number of activation regions met: maximal intervals of constant pattern."""
        return int(self.t.numel()) - 1

    def __len__(self) -> int:
        return self.num_regions

    @property
    def breakpoints(self) -> Tensor:
        """Interior parameter values where the activation pattern changes, sorted."""
        return self.t[1:-1]

    @property
    def num_breakpoints(self) -> int:
        """Number of interior pattern changes (``num_regions - 1``)."""
        return max(self.num_regions - 1, 0)

    @property
    def num_linear_pieces(self) -> int:
        """Number of linear pieces: neighbouring regions with the same output form merged."""
        return int(self.linear_piece[-1]) + 1 if self.linear_piece.numel() else 0

    @property
    def num_units(self) -> int:
        """Length of an activation pattern."""
        return int(self.first_pattern.numel())

    @property
    def patterns(self) -> Tensor:
        """Activation pattern of every region, ``(num_regions, num_units)`` int16.

        Built from the sparse changes on first access and cached (it can be large:
        ``num_regions * num_units`` entries); :meth:`pattern` gives a single row.
        """
        cached = self.__dict__.get("_patterns")
        if cached is None:
            cached = _dense_patterns(
                self.first_pattern, self.change_piece, self.change_unit, self.change_delta, self.num_regions
            )
            self.__dict__["_patterns"] = cached
        return cached

    def pattern(self, k: int) -> Tensor:
        """Activation pattern ``(num_units,)`` int16 of region ``k`` (negative ``k`` counts from the end).

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_segment(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), [-1.0, -1.0], [1.0, 3.0])
        >>> part.pattern(-1).tolist()
        [1, 1]
        """
        k = self._check_piece(k)
        p = self.first_pattern.to(torch.int32).clone()
        sel = self.change_piece <= k
        p.index_add_(0, self.change_unit[sel], self.change_delta[sel].to(torch.int32))
        return p.to(torch.int16)

    def changed_units(self, k: int) -> Tensor:
        """Units whose code changes at breakpoint ``k`` (between regions ``k`` and ``k + 1``).

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_segment(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), [-1.0, -1.0], [1.0, 3.0])
        >>> part.breakpoints.tolist(), part.changed_units(0).tolist()
        ([0.25, 0.5], [1])
        """
        if not 0 <= int(k) < self.num_breakpoints:
            raise InvalidParameterError(f"Breakpoint index {k} is out of range 0..{self.num_breakpoints - 1}.")
        return self.change_unit[self.change_piece == int(k) + 1]

    def _check_piece(self, k) -> int:
        k = int(k)
        if k < 0:
            k += self.num_regions
        if not 0 <= k < self.num_regions:
            raise InvalidParameterError(f"Region index out of range: the partition has {self.num_regions} regions.")
        return k

    @property
    def midpoints(self) -> Tensor:
        """Parameter value at the middle of every region, ``(num_regions,)``."""
        return 0.5 * (self.t[:-1] + self.t[1:])

    def __getstate__(self):
        # the dense pattern cache is rebuilt on demand; never pickle it
        return {k: v for k, v in self.__dict__.items() if k != "_patterns"}

    def __setstate__(self, state):
        self.__dict__.update(state)


@dataclass(frozen=True, eq=False)
class SegmentPartition(_Pieces):
    """Exact partition of the segment ``x(t) = start + t (end - start)``, ``t`` in ``[0, 1]``.

    Immutable and picklable; tensors live on the CPU in float64 (patterns int16).
    See the module docstring for precisely what is counted.

    Attributes
    ----------
    t : Tensor ``(num_regions + 1,)``
        Region edges: ``0``, the breakpoints in increasing order, ``1``. Region ``k`` is
        ``t[k] <= t <= t[k + 1]``.
    start, end : Tensor ``(input_dim,)``
        End points of the segment (flat).
    first_pattern : Tensor ``(num_units,)`` int16
        Activation pattern of region 0.
    change_piece, change_unit, change_delta : Tensor ``(C,)``
        Sparse pattern changes: entering region ``change_piece[i]`` adds
        ``change_delta[i]`` to the code of unit ``change_unit[i]``.
    output_value, output_slope : Tensor ``(num_regions, output_dim)`` or None
        On region ``k``, ``f(x(t)) = output_value[k] + t * output_slope[k]`` (flattened
        output). ``None`` when computed with ``return_maps=False``.
    linear_piece : Tensor ``(num_regions,)`` long
        Index of the linear piece containing each region (``0 .. num_linear_pieces - 1``).
    input_shape, output_shape : tuple of int
        Per-sample shapes of the network.
    seconds : float
        Wall-clock time of the computation (shared by a batch).

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> W1 = torch.tensor([[1.0], [1.0], [-1.0]], dtype=torch.float64)
    >>> b1 = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    >>> W2 = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)  # only unit 0 reaches the output
    >>> net = CPWLNetwork.sequential((1,), [Dense(W1, b1), PiecewiseLinear.relu(), Dense(W2)])
    >>> part = regionlab.partition_segment(net, [-1.0], [3.0])
    >>> part
    SegmentPartition(num_regions=3, num_linear_pieces=2, length=4, density=0.75, units=3)
    >>> part.breakpoints.tolist(), part.patterns.tolist()
    ([0.25, 0.5], [[0, 0, 1], [1, 0, 0], [1, 1, 0]])
    >>> part.output_slope[:, 0].tolist()  # f(x(t)) = relu(4t - 1)
    [0.0, 4.0, 4.0]
    >>> part.witnesses[:, 0].tolist()
    [-0.5, 0.5, 2.0]
    """

    t: Tensor
    start: Tensor
    end: Tensor
    first_pattern: Tensor
    change_piece: Tensor
    change_unit: Tensor
    change_delta: Tensor
    output_value: Tensor | None
    output_slope: Tensor | None
    linear_piece: Tensor
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    seconds: float = 0.0

    @property
    def length(self) -> float:
        """Euclidean length of the segment (flat input space)."""
        return float((self.end - self.start).norm())

    @property
    def density(self) -> float:
        """Activation regions per unit length, ``num_regions / length``; ``nan`` for zero length.

        See :attr:`breakpoint_density` for the Hanin & Rolnick density ``T / length``.
        """
        return _per_length(self.num_regions, self.length)

    @property
    def breakpoint_density(self) -> float:
        """Breakpoints (pattern changes) per unit length, ``T / length`` (Hanin & Rolnick)."""
        return _per_length(self.num_breakpoints, self.length)

    def point(self, t) -> Tensor:
        """Flat input point(s) ``x(t)`` for parameter value(s) ``t``.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_segment(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), [0.0, 0.0], [2.0, 4.0])
        >>> part.point(0.5).tolist()
        [1.0, 2.0]
        """
        t = torch.as_tensor(t, dtype=self.start.dtype)
        return self.start + t.unsqueeze(-1) * (self.end - self.start)

    @property
    def witnesses(self) -> Tensor:
        """Flat input point ``(num_regions, input_dim)`` at the middle of every region."""
        return self.point(self.midpoints)

    def evaluate(self, t) -> Tensor:
        """``f(x(t))`` (flattened output) from the stored per-region forms.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_segment(CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()]), [-1.0], [3.0])
        >>> part.evaluate(torch.tensor([0.0, 0.25, 1.0])).squeeze(1).tolist()
        [1.0, 0.0, 3.0]
        """
        if self.output_value is None:
            raise InvalidParameterError("This partition was computed with return_maps=False; it stores no maps.")
        t = torch.as_tensor(t, dtype=self.t.dtype).reshape(-1)
        k = (torch.searchsorted(self.t, t, right=True) - 1).clamp(0, self.num_regions - 1)
        return self.output_value[k] + t.unsqueeze(1) * self.output_slope[k]

    def affine_map(self, k: int, network) -> tuple[Tensor, Tensor]:
        """The input-space affine map ``f(y) = A y + c`` of region ``k``.

        Computed on demand at the region's witness with
        :meth:`~regionlab.ir.CPWLNetwork.local_affine_map`.

        Parameters
        ----------
        k : int
            Region index (negative indices count from the end).
        network : CPWLNetwork
            The network this partition was computed for.

        Returns
        -------
        A : Tensor ``(output_dim, input_dim)``
        c : Tensor ``(output_dim,)``

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
        >>> part = regionlab.partition_segment(net, [-1.0], [3.0])
        >>> A, c = part.affine_map(0, net)
        >>> A.tolist(), c.tolist()
        ([[-1.0]], [0.0])
        """
        k = self._check_piece(k)
        return _affine_map(network, self.witnesses[k], self.input_shape)

    def __repr__(self) -> str:
        dens = self.density
        return (
            f"SegmentPartition(num_regions={self.num_regions}, num_linear_pieces={self.num_linear_pieces}, "
            f"length={self.length:.4g}, density={dens:.4g}, units={self.num_units})"
        )

    def to_dict(self) -> dict:
        """Plain-data form (lists and numbers), e.g. for JSON; inverse of :meth:`from_dict`.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_segment(CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()]), [-1.0], [3.0])
        >>> SegmentPartition.from_dict(part.to_dict()).breakpoints.tolist()
        [0.25]
        """
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> SegmentPartition:
        """Rebuild a partition from :meth:`to_dict` output."""
        R = len(d["t"]) - 1
        m = math.prod(d["output_shape"])
        return _from_plain(cls, d, {"output_value": (R, m), "output_slope": (R, m)})


@dataclass(frozen=True, eq=False)
class SegmentPartitionBatch:
    """Exact partitions of ``B`` segments computed in one batched call (a read-only sequence).

    Indexing gives a :class:`SegmentPartition`; the per-segment counts are also available
    as tensors without building the per-segment objects. Data are stored flat: the regions
    of segment ``i`` are ``piece_offsets[i] : piece_offsets[i + 1]``, its edges
    ``t[piece_offsets[i] + i : piece_offsets[i + 1] + i + 1]``.

    Attributes
    ----------
    t : Tensor ``(total_regions + B,)``
        Region edges of all segments, segment after segment.
    piece_offsets : Tensor ``(B + 1,)`` long
    starts, ends : Tensor ``(B, input_dim)``
    first_patterns : Tensor ``(B, num_units)`` int16
    change_offsets : Tensor ``(B + 1,)`` long
        Segment ``i`` owns changes ``change_offsets[i] : change_offsets[i + 1]``;
        ``change_piece`` is local to its segment.
    change_piece, change_unit, change_delta : Tensor ``(C,)``
    output_value, output_slope : Tensor ``(total_regions, output_dim)`` or None
    linear_piece : Tensor ``(total_regions,)`` long
        Linear-piece index local to each segment.
    input_shape, output_shape : tuple of int
    seconds : float

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
    >>> batch = regionlab.partition_segment(net, torch.tensor([[-1.0], [1.0]]), torch.tensor([[3.0], [2.0]]))
    >>> len(batch), batch.num_regions.tolist(), batch.total_breakpoints
    (2, [2, 1], 1)
    >>> batch[0].breakpoints.tolist()
    [0.25]
    """

    t: Tensor
    piece_offsets: Tensor
    starts: Tensor
    ends: Tensor
    first_patterns: Tensor
    change_offsets: Tensor
    change_piece: Tensor
    change_unit: Tensor
    change_delta: Tensor
    output_value: Tensor | None
    output_slope: Tensor | None
    linear_piece: Tensor
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.piece_offsets.numel()) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"Segment index out of range: the batch holds {len(self)} segments.")
        p0, p1 = int(self.piece_offsets[i]), int(self.piece_offsets[i + 1])
        c0, c1 = int(self.change_offsets[i]), int(self.change_offsets[i + 1])
        maps = self.output_value is not None
        return SegmentPartition(
            t=self.t[p0 + i : p1 + i + 1].clone(),
            start=self.starts[i].clone(),
            end=self.ends[i].clone(),
            first_pattern=self.first_patterns[i].clone(),
            change_piece=self.change_piece[c0:c1].clone(),
            change_unit=self.change_unit[c0:c1].clone(),
            change_delta=self.change_delta[c0:c1].clone(),
            output_value=self.output_value[p0:p1].clone() if maps else None,
            output_slope=self.output_slope[p0:p1].clone() if maps else None,
            linear_piece=self.linear_piece[p0:p1].clone(),
            input_shape=self.input_shape,
            output_shape=self.output_shape,
            seconds=self.seconds,
        )

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def num_regions(self) -> Tensor:
        """Regions met by each segment, ``(B,)`` long."""
        return self.piece_offsets[1:] - self.piece_offsets[:-1]

    @property
    def num_breakpoints(self) -> Tensor:
        """Breakpoints of each segment, ``(B,)`` long."""
        return self.num_regions - 1

    @property
    def total_breakpoints(self) -> int:
        """Breakpoints over all segments."""
        return int(self.num_breakpoints.sum())

    @property
    def num_linear_pieces(self) -> Tensor:
        """Linear pieces of each segment, ``(B,)`` long."""
        last = self.piece_offsets[1:] - 1
        return self.linear_piece[last] + 1

    @property
    def lengths(self) -> Tensor:
        """Euclidean length of each segment, ``(B,)``."""
        return (self.ends - self.starts).norm(dim=1)

    @property
    def densities(self) -> Tensor:
        """Activation regions per unit length of each segment (``nan`` for zero length), ``(B,)``."""
        L = self.lengths
        return torch.where(L > 0, (self.num_breakpoints + 1).to(L.dtype) / L, torch.full_like(L, math.nan))

    @property
    def breakpoint_densities(self) -> Tensor:
        """Breakpoints per unit length of each segment (``nan`` for zero length), ``(B,)``."""
        L = self.lengths
        return torch.where(L > 0, self.num_breakpoints.to(L.dtype) / L, torch.full_like(L, math.nan))

    def __repr__(self) -> str:
        return (
            f"SegmentPartitionBatch(segments={len(self)}, total_regions={int(self.piece_offsets[-1])}, "
            f"total_breakpoints={self.total_breakpoints}, units={self.first_patterns.shape[1]})"
        )

    def to_dict(self) -> dict:
        """Plain-data form (lists and numbers); inverse of :meth:`from_dict`.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.abs()])
        >>> batch = regionlab.partition_segment(net, torch.tensor([[-1.0], [1.0]]), torch.tensor([[3.0], [2.0]]))
        >>> SegmentPartitionBatch.from_dict(batch.to_dict()).num_regions.tolist()
        [2, 1]
        """
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> SegmentPartitionBatch:
        """Rebuild a batch from :meth:`to_dict` output."""
        R = int(d["piece_offsets"][-1])
        B = len(d["piece_offsets"]) - 1
        n0 = math.prod(d["input_shape"])
        m = math.prod(d["output_shape"])
        N = len(d["first_patterns"][0]) if B and d["first_patterns"] else 0
        return _from_plain(
            cls,
            d,
            {
                "output_value": (R, m),
                "output_slope": (R, m),
                "starts": (B, n0),
                "ends": (B, n0),
                "first_patterns": (B, N),
            },
        )


@dataclass(frozen=True, eq=False)
class PathPartition(_Pieces):
    """Exact partition of a polyline through points ``vertices[0], vertices[1], ...``.

    The parameter ``t`` runs over ``[0, L]`` for ``L`` legs, leg ``i`` being
    ``x(t) = vertices[i] + (t - i) (vertices[i + 1] - vertices[i])`` for ``t`` in
    ``[i, i + 1]``: vertex ``i`` sits at ``t = i`` exactly (no accumulated arc length;
    see :attr:`arclength` for distances along the path). A closed path repeats its first
    point as the last vertex.

    Regions are maximal intervals of ``[0, L]`` with a constant activation pattern; a
    region may span a path vertex. ``breakpoints`` are the pattern changes (path vertices
    are breakpoints only where the pattern changes there). On a closed path the first and
    last intervals can be the same region (``wraps``); :attr:`num_transitions` counts the
    pattern changes around the loop. A zero-length leg (a repeated point) meets no region
    of positive length: its parameter range joins the region that follows it.

    Attributes
    ----------
    t : Tensor ``(num_regions + 1,)``
        Region edges ``0, breakpoints..., L``.
    vertices : Tensor ``(L + 1, input_dim)``
        The polyline's vertices (flat); for a closed path the last equals the first.
    closed : bool
    first_pattern, change_piece, change_unit, change_delta : Tensor
        Sparse patterns, as in :class:`SegmentPartition`.
    linear_piece : Tensor ``(num_regions,)`` long
        Linear piece of each region: neighbours inside one leg are merged when their
        output forms coincide; neighbours separated at a path vertex are kept apart.
    witness_t : Tensor ``(num_regions,)``
        Parameter of each region's witness: the middle of the region's first piece inside
        a leg (never a path vertex, where the path may just touch a switching surface).
    legs : tuple of SegmentPartition
        The exact partition of every leg (with the per-region output forms).
    input_shape, output_shape : tuple of int
    seconds : float

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
    >>> square = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]
    >>> path = regionlab.partition_path(net, square, closed=True)
    >>> path.t.tolist()
    [0.0, 0.5, 1.5, 2.5, 3.5, 4.0]
    >>> path.num_regions, path.wraps, path.num_transitions  # the loop meets 4 regions
    (5, True, 4)
    >>> path.length, path.density
    (8.0, 0.5)
    """

    t: Tensor
    vertices: Tensor
    closed: bool
    first_pattern: Tensor
    change_piece: Tensor
    change_unit: Tensor
    change_delta: Tensor
    linear_piece: Tensor
    witness_t: Tensor
    legs: tuple
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    seconds: float = 0.0

    @property
    def num_legs(self) -> int:
        """Number of straight legs ``L``."""
        return int(self.vertices.shape[0]) - 1

    @property
    def leg_lengths(self) -> Tensor:
        """Euclidean length of every leg, ``(L,)``."""
        return (self.vertices[1:] - self.vertices[:-1]).norm(dim=1)

    @property
    def length(self) -> float:
        """Total Euclidean length of the path."""
        return float(self.leg_lengths.sum())

    @property
    def wraps(self) -> bool:
        """Closed path whose first and last intervals lie in the same region."""
        if not self.closed or self.num_regions < 2:
            return False
        return bool((self.pattern(0) == self.pattern(-1)).all())

    @property
    def num_transitions(self) -> int:
        """Pattern changes along the path; on a closed path the change at the closing point counts."""
        extra = int(self.closed and self.num_regions >= 2 and not self.wraps)
        return self.num_breakpoints + extra

    @property
    def density(self) -> float:
        """Pieces of the path (activation regions met, counted along the path) per unit length.

        On a closed loop whose first and last pieces lie in one region, that region
        counts once.
        """
        return _per_length(self.num_regions - int(self.wraps), self.length)

    @property
    def breakpoint_density(self) -> float:
        """Pattern changes per unit length (:attr:`num_transitions` / :attr:`length`)."""
        return _per_length(self.num_transitions, self.length)

    def point(self, t) -> Tensor:
        """Flat input point(s) ``x(t)`` on the path for ``t`` in ``[0, L]``.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
        >>> path = regionlab.partition_path(net, [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
        >>> path.point(1.5).tolist()
        [2.0, 1.0]
        """
        t = torch.as_tensor(t, dtype=self.vertices.dtype)
        leg = t.floor().long().clamp(0, self.num_legs - 1)
        s = (t - leg.to(t.dtype)).unsqueeze(-1)
        return self.vertices[leg] + s * (self.vertices[leg + 1] - self.vertices[leg])

    @property
    def witnesses(self) -> Tensor:
        """Flat input point ``(num_regions, input_dim)`` inside every region (at :attr:`witness_t`)."""
        return self.point(self.witness_t)

    @property
    def arclength(self) -> Tensor:
        """Distance along the path of every region edge ``t``, ``(num_regions + 1,)``."""
        cum = torch.cat([self.leg_lengths.new_zeros(1), self.leg_lengths.cumsum(0)])
        leg = self.t.floor().long().clamp(0, self.num_legs - 1)
        return cum[leg] + (self.t - leg.to(self.t.dtype)) * self.leg_lengths[leg]

    def affine_map(self, k: int, network) -> tuple[Tensor, Tensor]:
        """The input-space affine map ``(A, c)`` of region ``k`` (see :meth:`SegmentPartition.affine_map`).

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.relu()])
        >>> path = regionlab.partition_path(net, [[-1.0], [1.0]])
        >>> path.affine_map(1, net)[0].tolist()
        [[1.0]]
        """
        k = self._check_piece(k)
        return _affine_map(network, self.witnesses[k], self.input_shape)

    def __repr__(self) -> str:
        return (
            f"PathPartition(legs={self.num_legs}, closed={self.closed}, num_regions={self.num_regions}, "
            f"num_transitions={self.num_transitions}, length={self.length:.4g}, density={self.density:.4g}, "
            f"units={self.num_units})"
        )

    def to_dict(self) -> dict:
        """Plain-data form (lists and numbers); inverse of :meth:`from_dict`.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
        >>> path = regionlab.partition_path(net, [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0]])
        >>> PathPartition.from_dict(path.to_dict()).t.tolist()
        [0.0, 0.5, 1.5, 2.0]
        """
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> PathPartition:
        """Rebuild a path partition from :meth:`to_dict` output."""
        return _from_plain(cls, d, {"vertices": (len(d["vertices"]), math.prod(d["input_shape"]))})


def _affine_map(network, witness: Tensor, input_shape) -> tuple[Tensor, Tensor]:
    from ..ir.network import CPWLNetwork

    if not isinstance(network, CPWLNetwork):
        from ._common import as_network

        network = as_network(network, tuple(input_shape))
    if tuple(network.input_shape) != tuple(input_shape):
        raise InvalidParameterError(
            f"affine_map needs the network the partition was computed for: it takes inputs of shape "
            f"{tuple(input_shape)}, the given network {tuple(network.input_shape)}."
        )
    from ..numerics import exact_mode

    with exact_mode():
        A, c = network.local_affine_map(witness.reshape(1, *input_shape))
    return A[0].cpu().to(torch.float64), c[0].cpu().to(torch.float64)
