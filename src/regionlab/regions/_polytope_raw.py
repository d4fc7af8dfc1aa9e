"""What the n-D engines hand to :class:`~regionlab.regions.polytope_result.PolytopePartition`.

Both engines (vertex subdivision, LP traversal) produce one :class:`RawRegions`; the
result object derives everything else (affine maps, linear pieces, statistics) from it,
so the two engines can be compared field by field.

Coordinates are the domain's coordinates ``p`` (``x = origin + p @ basis``), float64.
Region order is canonical: sorted lexicographically by pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class RawRegions:
    """Regions of an n-D partition, concatenated with offsets.

    Attributes
    ----------
    patterns : Tensor ``(R, N)`` int16
        Activation pattern of each region (codes as :meth:`CPWLNetwork.patterns`).
    witnesses : Tensor ``(R, k)``
        A point strictly inside each region (its Chebyshev centre where computed).
    inradii : Tensor ``(R,)``
        Radius of the largest ball inside the region (and the domain) around the witness.
    A, b : Tensor ``(F, k)``, ``(F,)``
        Non-redundant facets ``A p <= b`` of all regions, rows of unit norm.
    facet_offsets : Tensor ``(R + 1,)`` long
        Region ``r`` owns facets ``facet_offsets[r]:facet_offsets[r+1]``.
    facet_unit : Tensor ``(F,)`` long
        Global unit index whose switching surface carries the facet, ``-1`` for a
        facet on the domain's boundary.
    adjacency : Tensor ``(E, 2)`` long
        Pairs ``i < j`` of regions sharing an ``(k-1)``-dimensional face, sorted.
    vertices, vertex_offsets : Tensor or None
        ``(V, k)`` and ``(R + 1,)``: the vertices of each region (low dimension only).
    volumes : Tensor or None
        ``(R,)`` volume of each region (low dimension only).
    affine_A, affine_c : Tensor or None
        ``(R, out, k)`` and ``(R, out)``: the network's affine map on each region in domain
        coordinates, where the engine has it (the vertex engine's output forms); else the
        result computes it at the witnesses.
    info : dict
        Engine name, timings, certificate.
    """

    patterns: Tensor
    witnesses: Tensor
    inradii: Tensor
    A: Tensor
    b: Tensor
    facet_offsets: Tensor
    facet_unit: Tensor
    adjacency: Tensor
    vertices: Tensor | None = None
    vertex_offsets: Tensor | None = None
    volumes: Tensor | None = None
    affine_A: Tensor | None = None
    affine_c: Tensor | None = None
    info: dict = field(default_factory=dict)

    @property
    def num_regions(self) -> int:
        return int(self.patterns.shape[0])


def canonical_order(patterns: Tensor) -> Tensor:
    """Permutation that sorts the rows of ``patterns`` lexicographically (stable)."""
    R, N = patterns.shape
    if R == 0:
        return torch.zeros(0, dtype=torch.long)
    p = patterns.cpu().numpy().astype(np.int64)
    lo = p.min(0)
    bits = [int(x).bit_length() for x in (p.max(0) - lo).tolist()]
    # consecutive columns packed into int64 keys of at most 62 bits (offsets from each
    # column's minimum keep the order), then stable sorts from the last key: lexicographic
    groups, cur, used = [], [], 0
    for j, b in enumerate(bits):
        if cur and used + b > 62:
            groups.append(cur)
            cur, used = [], 0
        cur.append(j)
        used += b
    groups.append(cur)
    order = np.arange(R)
    for cols in reversed(groups):
        shifts = np.array([sum(bits[c] for c in cols[i + 1:]) for i in range(len(cols))], dtype=np.int64)
        key = ((p[:, cols] - lo[cols]) << shifts).sum(1)
        order = order[np.argsort(key[order], kind="stable")]
    return torch.from_numpy(order)
