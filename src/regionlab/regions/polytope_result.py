"""The result of an exact n-D partition: :class:`PolytopePartition`.

Examples
--------
>>> import torch, regionlab
>>> from regionlab.domains import Box
>>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
>>> net = CPWLNetwork.sequential((3,), [Dense(torch.eye(3, dtype=torch.float64)), PiecewiseLinear.relu()])
>>> part = regionlab.partition_polytope(net, Box([-1, -1, -1], [1, 1, 1]))
>>> part.num_regions, part.adjacency.shape[0], round(float(part.volumes.sum()), 6)
(8, 12, 8.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..errors import InvalidParameterError
from ._polytope_raw import RawRegions

__all__ = ["PolytopePartition"]


@dataclass(frozen=True, eq=False)
class PolytopePartition:
    """Exact partition of a convex n-D domain into activation regions (immutable, picklable).

    Coordinates are the domain's (``x = origin + p @ basis``; for a full-space domain
    ``p`` is the input itself, or its offset from the ball's centre).

    Attributes
    ----------
    patterns : Tensor ``(R, num_units)`` int16
        Activation pattern of each region (regions sorted by pattern).
    witnesses : Tensor ``(R, k)``
        A point strictly inside each region.
    inradii : Tensor ``(R,)``
        Radius of a ball around the witness inside the region (the Chebyshev radius for
        the LP engine; see :meth:`chebyshev`).
    A, b, facet_offsets, facet_unit : Tensor
        Non-redundant facets ``A p <= b`` of region ``r`` in rows
        ``facet_offsets[r]:facet_offsets[r + 1]``; ``facet_unit`` is the unit whose
        switching surface carries the facet (``-1``: the domain's boundary).
    adjacency : Tensor ``(E, 2)`` long
        Pairs ``i < j`` of regions sharing a facet.
    affine_A, affine_c : Tensor ``(R, output_dim, k)``, ``(R, output_dim)``
        The network on region ``i``, in domain coordinates.
    domain : Domain
        The domain.
    info : dict
        Engine, timings, completeness certificate.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.domains import Box
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((3,), [PiecewiseLinear.abs()]), Box([-1, -1, -1], [1, 1, 1]))
    >>> part.num_regions, part.facets(0)[0].shape
    (8, torch.Size([6, 3]))
    """

    patterns: Tensor
    witnesses: Tensor
    inradii: Tensor
    A: Tensor
    b: Tensor
    facet_offsets: Tensor
    facet_unit: Tensor
    adjacency: Tensor
    affine_A: Tensor
    affine_c: Tensor
    domain: object
    vertices_flat: Tensor | None = None
    vertex_offsets: Tensor | None = None
    input_shape: tuple[int, ...] = ()
    seconds: float = 0.0
    info: dict = field(default_factory=dict)
    rtol_maps: float = 1e-9
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def _from_raw(cls, net, domain, raw: RawRegions, numerics, elapsed) -> PolytopePartition:
        R, k = raw.num_regions, domain.dim
        dt = numerics.dtype
        if R and raw.affine_A is not None:
            affine_A, affine_c = raw.affine_A.to(torch.float64), raw.affine_c.to(torch.float64)
        elif R:
            X = domain.to_input(raw.witnesses.to(dt)).to(device=net.device, dtype=dt)
            A_in, c_in = net.to(dtype=dt).local_affine_map(X) if net.dtype != dt else net.local_affine_map(X)
            A_in, c_in = A_in.cpu().to(torch.float64), c_in.cpu().to(torch.float64)
            basis = domain.basis.to(torch.float64)
            origin = domain.origin.to(torch.float64)
            affine_A = A_in @ basis.T  # (R, out, k)
            affine_c = c_in + (A_in @ origin)
        else:
            affine_A = torch.zeros((0, net.output_dim, k), dtype=torch.float64)
            affine_c = torch.zeros((0, net.output_dim), dtype=torch.float64)
        cache = {}
        if raw.volumes is not None:
            cache["volumes"] = raw.volumes.to(torch.float64)
        return cls(
            patterns=raw.patterns, witnesses=raw.witnesses.to(torch.float64), inradii=raw.inradii.to(torch.float64),
            A=raw.A.to(torch.float64), b=raw.b.to(torch.float64), facet_offsets=raw.facet_offsets,
            facet_unit=raw.facet_unit, adjacency=raw.adjacency, affine_A=affine_A, affine_c=affine_c,
            domain=domain, vertices_flat=None if raw.vertices is None else raw.vertices.to(torch.float64),
            vertex_offsets=raw.vertex_offsets, input_shape=tuple(net.input_shape), seconds=float(elapsed),
            info=dict(raw.info), rtol_maps=max(1e-9, 1e3 * numerics.atol), _cache=cache,
        )

    # -------------------------------------------------------------------- counts

    @property
    def num_regions(self) -> int:
        """Number of activation regions meeting the domain with positive volume."""
        return int(self.patterns.shape[0])

    def __len__(self) -> int:
        return self.num_regions

    @property
    def dim(self) -> int:
        """Dimension ``k`` of the domain."""
        return int(self.witnesses.shape[1]) if self.witnesses.dim() == 2 else 0

    @property
    def complete(self) -> bool:
        """Whether the partition is complete (not a partial result, certificate passed)."""
        cert = self.info.get("certificate", {})
        return bool(self.info.get("complete", True)) and bool(cert.get("complete", True))

    @property
    def num_linear_pieces(self) -> int:
        """Number of linear pieces: adjacent regions with equal affine maps merged.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((3,), [PiecewiseLinear.relu(), Dense(torch.zeros(1, 3, dtype=torch.float64))])
        >>> part = regionlab.partition_polytope(net, Box([-1, -1, -1], [1, 1, 1]))
        >>> part.num_regions, part.num_linear_pieces
        (8, 1)
        """
        return int(self.linear_piece_labels().max().item()) + 1 if self.num_regions else 0

    def linear_piece_labels(self) -> Tensor:
        """Label ``(R,)`` of the linear piece containing each region (first-appearance order).

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> part.linear_piece_labels().tolist()
        [0, 1, 2, 3]
        """
        if "pieces" in self._cache:
            return self._cache["pieces"]
        R = self.num_regions
        if R == 0:
            return torch.zeros(0, dtype=torch.long)
        i, j = self.adjacency[:, 0], self.adjacency[:, 1]
        scale = 1.0 + self.affine_A.abs().amax() + self.affine_c.abs().amax()
        tol = self.rtol_maps * float(scale)
        same = ((self.affine_A[i] - self.affine_A[j]).abs().amax((1, 2)) <= tol) & (
            (self.affine_c[i] - self.affine_c[j]).abs().amax(1) <= tol)
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        g = coo_matrix((np.ones(int(same.sum())), (i[same].numpy(), j[same].numpy())), shape=(R, R))
        _, labels = connected_components(g, directed=False)
        _, first = np.unique(labels, return_index=True)
        rank = np.argsort(np.argsort(first))
        out = torch.as_tensor(rank[labels], dtype=torch.long)
        self._cache["pieces"] = out
        return out

    # ------------------------------------------------------------------ geometry

    def facets(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(A, b, unit)``: the non-redundant facets ``A p <= b`` of region ``i``.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> A, b, unit = part.facets(0)
        >>> sorted(unit.tolist())
        [-1, -1, 0, 1]
        """
        i = self._index(i)
        s, e = int(self.facet_offsets[i]), int(self.facet_offsets[i + 1])
        return self.A[s:e], self.b[s:e], self.facet_unit[s:e]

    def vertices(self, i: int) -> Tensor:
        """Vertices ``(V_i, k)`` of region ``i`` (low dimension; computed on demand for the LP engine).

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> part.vertices(0).shape
        torch.Size([4, 2])
        """
        i = self._index(i)
        if self.vertices_flat is not None:
            return self.vertices_flat[int(self.vertex_offsets[i]):int(self.vertex_offsets[i + 1])]
        key = ("vertices", i)
        if key not in self._cache:
            self._cache[key] = _vertices_from_hrep(*self._hrep_with_domain(i), self.witnesses[i])
        return self._cache[key]

    @property
    def volumes(self) -> Tensor:
        """Volume ``(R,)`` of each region (domain coordinates; qhull on the vertices, low dimension).

        qhull's hulls are exact to rounding in 2-D and 3-D; in 5-D and more it merges
        nearly coplanar facets, and the volumes sum to the domain's to about 1e-7
        (relative). A region that qhull refuses at its default precision (a "wide
        merge" of facets) is measured again with wide merges allowed, with a
        :class:`~regionlab.errors.NumericalWarning`.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [2, 1]))
        >>> part.volumes.tolist()
        [1.0, 1.0, 2.0, 2.0]
        """
        if "volumes" not in self._cache:
            if self.dim > 10:
                raise InvalidParameterError(f"Region volumes are computed in up to 10 dimensions; this partition is {self.dim}-dimensional.")
            from scipy.spatial import ConvexHull, QhullError

            vols, retried = [], []
            for i in range(self.num_regions):
                V = self.vertices(i).numpy()
                if self.dim == 1:
                    vols.append(float(V.max() - V.min()))
                    continue
                try:
                    vols.append(float(ConvexHull(V).volume))
                except QhullError:
                    # a precision stop on a region with many nearly coplanar vertices
                    vols.append(float(ConvexHull(V, qhull_options="Qt Q12").volume))
                    retried.append(i)
            if retried:
                import warnings

                from ..errors import NumericalWarning

                warnings.warn(f"qhull needed wide facet merges (option Q12) for {len(retried)} of {self.num_regions} "
                              f"region(s) (e.g. region {retried[0]}); their volumes are accurate to about 1e-6.",
                              NumericalWarning, stacklevel=2)
            self._cache["volumes"] = torch.tensor(vols, dtype=torch.float64)
        return self._cache["volumes"]

    def chebyshev(self, i: int) -> tuple[Tensor, float]:
        """Chebyshev centre and radius of region ``i`` (largest inscribed ball), by LP.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> c, r = part.chebyshev(0)
        >>> round(r, 6)
        0.5
        """
        from scipy.optimize import linprog

        A, b = self._hrep_with_domain(self._index(i))
        An, bn = A.numpy(), b.numpy()
        norms = np.linalg.norm(An, axis=1)
        k = An.shape[1]
        res = linprog(np.r_[np.zeros(k), -1.0], A_ub=np.c_[An, norms], b_ub=bn,
                      bounds=[(None, None)] * k + [(0, None)], method="highs")
        if res.status != 0:
            raise InvalidParameterError(f"The Chebyshev LP of region {i} failed: {res.message}")
        return torch.as_tensor(res.x[:k]), float(res.x[k])

    def _hrep_with_domain(self, i: int) -> tuple[Tensor, Tensor]:
        A, b, unit = self.facets(i)
        try:
            Ad, bd = self.domain.halfspaces()
            A = torch.cat([A, Ad.to(torch.float64)])
            b = torch.cat([b, bd.to(torch.float64)])
        except Exception:  # noqa: BLE001 - huge H-reps (high-dim l1 balls): the region's own facets
            pass
        return A, b

    def to_input(self, p) -> Tensor:
        """Map domain coordinates ``(M, k)`` to flat inputs ``(M, n)``.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> part.to_input(torch.zeros(1, 2)).shape
        torch.Size([1, 2])
        """
        return self.domain.to_input(torch.as_tensor(p, dtype=torch.float64))

    def witness_inputs(self) -> Tensor:
        """The witnesses as network inputs ``(R, *input_shape)``.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> part.witness_inputs().shape
        torch.Size([4, 2])
        """
        return self.to_input(self.witnesses).reshape(self.num_regions, *self.input_shape)

    def affine_map(self, i: int) -> tuple[Tensor, Tensor]:
        """``(A, c)`` with ``f(x(p)) = A p + c`` on region ``i`` (domain coordinates).

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> part.affine_map(3)[0]
        tensor([[1., 0.],
                [0., 1.]], dtype=torch.float64)
        """
        i = self._index(i)
        return self.affine_A[i], self.affine_c[i]

    def to_networkx(self):
        """The adjacency (dual) graph as a ``networkx.Graph`` (nodes carry pattern and volume-free data).

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> g = part.to_networkx()
        >>> g.number_of_nodes(), g.number_of_edges()
        (4, 4)
        """
        from .._optional import require

        nx = require("networkx", "dev", "PolytopePartition.to_networkx")
        g = nx.Graph()
        for i in range(self.num_regions):
            g.add_node(i, pattern=tuple(int(c) for c in self.patterns[i]), inradius=float(self.inradii[i]))
        g.add_edges_from((int(a), int(b)) for a, b in self.adjacency)
        return g

    def summary(self) -> dict:
        """Counts and size statistics as a plain dict.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.domains import Box
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_polytope(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), Box([-1, -1], [1, 1]))
        >>> part.summary()["num_regions"]
        4
        """
        R = self.num_regions
        deg = torch.bincount(self.adjacency.reshape(-1), minlength=R) if R else torch.zeros(0)
        out = {
            "num_regions": R,
            "num_linear_pieces": self.num_linear_pieces,
            "dim": self.dim,
            "num_adjacent_pairs": int(self.adjacency.shape[0]),
            "mean_degree": float(deg.double().mean()) if R else 0.0,
            "mean_facets": float((self.facet_offsets[1:] - self.facet_offsets[:-1]).double().mean()) if R else 0.0,
            "engine": self.info.get("engine"),
            "complete": self.complete,
            "seconds": self.seconds,
        }
        if R and self.dim <= 10 and (self.vertices_flat is not None or "volumes" in self._cache):
            out["total_volume"] = float(self.volumes.sum())
        return out

    def __repr__(self):
        return (f"PolytopePartition(num_regions={self.num_regions}, dim={self.dim}, "
                f"engine={self.info.get('engine')!r}, complete={self.complete})")

    def _index(self, i) -> int:
        i = int(i)
        if not -self.num_regions <= i < self.num_regions:
            raise InvalidParameterError(f"Region index {i} is out of range for {self.num_regions} regions.")
        return i % self.num_regions


def _vertices_from_hrep(A: Tensor, b: Tensor, interior: Tensor) -> Tensor:
    from scipy.spatial import HalfspaceIntersection

    hs = np.c_[A.numpy(), -b.numpy()]
    pts = HalfspaceIntersection(hs, interior.numpy()).intersections
    pts = np.unique(np.round(pts, 12), axis=0)
    return torch.as_tensor(pts, dtype=torch.float64)
