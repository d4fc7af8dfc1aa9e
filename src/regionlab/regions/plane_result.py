"""The result of an exact 2-D partition: :class:`PlanePartition`.

Examples
--------
>>> import torch, regionlab
>>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
>>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64)), PiecewiseLinear.relu()])
>>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
>>> part.num_regions, part.num_linear_pieces, part.adjacency.shape[0]
(4, 4, 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import torch
from torch import Tensor

from ..errors import InvalidParameterError
from . import _polygon as poly

__all__ = ["PlanePartition"]


@dataclass(frozen=True, eq=False)
class PlanePartition:
    """Exact partition of a planar slice into activation regions (immutable, picklable).

    Attributes
    ----------
    vertices : Tensor ``(total_vertices, 2)``
        Vertices of all region polygons in plane coordinates, counter-clockwise,
        region after region; ``offsets`` ``(R + 1,)`` delimits them.
    patterns : Tensor ``(R, num_units)`` int16
        Activation pattern of each region (coding in :mod:`regionlab.ir.ops`).
    affine_A, affine_c : Tensor ``(R, output_dim, 2)``, ``(R, output_dim)``
        The network on region ``i`` is ``f(x(p)) = affine_A[i] @ p + affine_c[i]``.
    areas : Tensor ``(R,)``
        Region areas (plane coordinates).
    witnesses : Tensor ``(R, 2)``
        A point strictly inside each region (its area centroid).
    adjacency : Tensor ``(E, 2)`` long
        Pairs ``i < j`` of regions sharing a boundary segment of positive length.
    adjacency_length : Tensor ``(E,)``
        Length of the shared boundary of each adjacent pair.
    decision_boundary : Tensor ``(S, 2, 2)``
        Segments (plane coordinates) where the top logit changes (classifiers) or where
        a scalar output crosses zero.
    origin, u, v : Tensor
        The plane ``x(p) = origin + p[0] u + p[1] v`` (flat input vectors).
    domain : Tensor ``(m, 2)``
        The convex domain polygon in plane coordinates.
    seconds : float
        Wall-clock time of the computation.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.abs()])
    >>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    >>> part.num_regions, float(part.areas.sum())
    (4, 4.0)
    >>> part.polygon(0).shape
    torch.Size([4, 2])
    """

    vertices: Tensor
    offsets: Tensor
    patterns: Tensor
    affine_A: Tensor
    affine_c: Tensor
    areas: Tensor
    witnesses: Tensor
    adjacency: Tensor
    adjacency_length: Tensor
    decision_boundary: Tensor
    origin: Tensor
    u: Tensor
    v: Tensor
    domain: Tensor
    input_shape: tuple[int, ...] = ()
    seconds: float = 0.0
    rtol_maps: float = 1e-9
    _pieces: list = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ construction

    @classmethod
    def _from_engine(cls, net, plane, domain, state, patterns, out_forms, area, cen, boundary, numerics, elapsed):
        R = state.num
        nv = state.nv.cpu()
        valid = poly.valid_mask(state.nv, state.P.shape[1]).cpu()
        verts = state.P.cpu()[valid]
        offsets = torch.zeros(R + 1, dtype=torch.long)
        offsets[1:] = nv.cumsum(0)
        ids = state.rec_ids.cpu()
        seg = state.rec_seg.cpu()
        if ids.shape[0]:
            lo, hi = ids.min(1).values, ids.max(1).values
            length = (seg[:, 0] - seg[:, 1]).norm(dim=1)
            key = lo * max(R, 1) + hi
            uniq, inv = torch.unique(key, return_inverse=True)
            tot = torch.zeros(uniq.shape[0], dtype=seg.dtype).index_add_(0, inv, length)
            # a shared boundary shorter than the vertex tolerance is a touching point whose
            # two copies were rounded apart, not an edge
            pos = tot > 10.0 * numerics.atol * (1.0 + float(domain.abs().max()))
            adj = torch.stack([uniq // max(R, 1), uniq % max(R, 1)], 1)[pos]
            adj_len = tot[pos]
        else:
            adj = torch.zeros((0, 2), dtype=torch.long)
            adj_len = torch.zeros(0, dtype=torch.float64)
        of = out_forms.cpu()
        A = of[:, 1:3, :].transpose(1, 2).contiguous()
        c = of[:, 0, :].contiguous()
        return cls(
            vertices=verts.to(torch.float64),
            offsets=offsets,
            patterns=patterns.cpu(),
            affine_A=A.to(torch.float64),
            affine_c=c.to(torch.float64),
            areas=area.cpu().to(torch.float64),
            witnesses=cen.cpu().to(torch.float64),
            adjacency=adj,
            adjacency_length=adj_len.to(torch.float64),
            decision_boundary=(boundary if boundary is not None else torch.zeros((0, 2, 2))).to(torch.float64),
            origin=plane.origin.clone(),
            u=plane.u.clone(),
            v=plane.v.clone(),
            domain=domain.clone(),
            input_shape=tuple(net.input_shape),
            seconds=float(elapsed),
            rtol_maps=max(1e-9, 1e3 * numerics.atol),
        )

    # -------------------------------------------------------------------- properties

    @property
    def num_regions(self) -> int:
        """Number of activation regions meeting the domain with positive area."""
        return int(self.offsets.numel() - 1)

    def __len__(self) -> int:
        return self.num_regions

    @property
    def num_linear_pieces(self) -> int:
        """Number of linear pieces: adjacent regions with equal affine maps merged.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
        >>> W = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
        >>> net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.relu(), Dense(torch.zeros(1, 1, dtype=torch.float64))])
        >>> part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
        >>> part.num_regions, part.num_linear_pieces
        (2, 1)
        """
        return int(self.linear_piece_labels().max().item()) + 1 if self.num_regions else 0

    def linear_piece_labels(self) -> Tensor:
        """Label ``(R,)`` of the linear piece containing each region.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_plane(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
        >>> part.linear_piece_labels().tolist()
        [0, 1, 2, 3]
        """
        if self._pieces:
            return self._pieces[0]
        R = self.num_regions
        if R == 0:
            return torch.zeros(0, dtype=torch.long)
        i, j = self.adjacency[:, 0], self.adjacency[:, 1]
        scale = 1.0 + self.affine_A.abs().amax() + self.affine_c.abs().amax()
        tol = self.rtol_maps * float(scale)
        same = ((self.affine_A[i] - self.affine_A[j]).abs().amax((1, 2)) <= tol) & (
            (self.affine_c[i] - self.affine_c[j]).abs().amax(1) <= tol
        )
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        ii, jj = i[same].numpy(), j[same].numpy()
        g = coo_matrix((np.ones(len(ii)), (ii, jj)), shape=(R, R))
        _, labels = connected_components(g, directed=False)
        # relabel in order of first appearance for stable output
        labels = torch.as_tensor(labels, dtype=torch.long)
        _, first = np.unique(labels.numpy(), return_index=True)
        rank = torch.as_tensor(np.argsort(np.argsort(first)), dtype=torch.long)
        order = rank[labels]
        self._pieces.append(order)
        return order

    @property
    def density(self) -> float:
        """Regions per unit area of the domain."""
        return self.num_regions / float(self.areas.sum()) if self.num_regions else 0.0

    @property
    def domain_area(self) -> float:
        """Area of the domain polygon."""
        a, _ = poly.area_centroid(self.domain.unsqueeze(0), torch.tensor([self.domain.shape[0]]))
        return float(a)

    def polygon(self, i: int) -> Tensor:
        """Vertices ``(m, 2)`` of region ``i`` (counter-clockwise, plane coordinates)."""
        if not 0 <= i < self.num_regions:
            raise InvalidParameterError(f"Region index {i} is out of range for {self.num_regions} regions.")
        return self.vertices[self.offsets[i]:self.offsets[i + 1]]

    def polygons(self) -> list[Tensor]:
        """All region polygons as a list of ``(m, 2)`` tensors."""
        return [self.polygon(i) for i in range(self.num_regions)]

    @property
    def num_vertices(self) -> Tensor:
        """Number of vertices (edges) of each region polygon."""
        return self.offsets[1:] - self.offsets[:-1]

    def to_input(self, p) -> Tensor:
        """Map plane coordinates ``(m, 2)`` to input points in the model's input shape."""
        p = torch.as_tensor(p, dtype=torch.float64)
        x = self.origin + p[..., 0:1] * self.u + p[..., 1:2] * self.v
        return x.reshape(*p.shape[:-1], *self.input_shape) if self.input_shape else x

    def witness_inputs(self) -> Tensor:
        """Witness points in input space ``(R, *input_shape)``."""
        return self.to_input(self.witnesses)

    def affine_map(self, i: int) -> tuple[Tensor, Tensor]:
        """``(A, c)`` of region ``i`` in plane coordinates: ``f(x(p)) = A p + c``."""
        if not 0 <= i < self.num_regions:
            raise InvalidParameterError(f"Region index {i} is out of range for {self.num_regions} regions.")
        return self.affine_A[i], self.affine_c[i]

    def summary(self) -> dict:
        """Plain-data summary: counts, areas, vertices per region, time.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_plane(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
        >>> part.summary()["num_regions"]
        4
        """
        nv = self.num_vertices.to(torch.float64)
        return {
            "num_regions": self.num_regions,
            "num_linear_pieces": self.num_linear_pieces,
            "domain_area": self.domain_area,
            "density": self.density,
            "mean_area": float(self.areas.mean()) if self.num_regions else 0.0,
            "min_area": float(self.areas.min()) if self.num_regions else 0.0,
            "mean_vertices": float(nv.mean()) if self.num_regions else 0.0,
            "num_adjacent_pairs": int(self.adjacency.shape[0]),
            "decision_boundary_segments": int(self.decision_boundary.shape[0]),
            "decision_boundary_length": float((self.decision_boundary[:, 0] - self.decision_boundary[:, 1]).norm(dim=1).sum()),
            "seconds": self.seconds,
        }

    def __repr__(self):
        return (
            f"PlanePartition(num_regions={self.num_regions}, num_linear_pieces={self.num_linear_pieces}, "
            f"domain_area={self.domain_area:.6g}, seconds={self.seconds:.3f})"
        )

    # ----------------------------------------------------------------- serialisation

    def to_dict(self) -> dict:
        """Plain-data form (lists and numbers), e.g. for JSON.

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_plane(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
        >>> PlanePartition.from_dict(part.to_dict()).num_regions
        4
        """
        out = {}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            val = getattr(self, f.name)
            out[f.name] = val.tolist() if isinstance(val, Tensor) else (list(val) if isinstance(val, tuple) else val)
        out["num_regions"] = self.num_regions
        out["num_linear_pieces"] = self.num_linear_pieces
        return out

    @classmethod
    def from_dict(cls, d: dict) -> PlanePartition:
        """Rebuild from :meth:`to_dict` output."""
        kw = {}
        int_fields = {"offsets": torch.long, "adjacency": torch.long, "patterns": torch.int16}
        for f in fields(cls):
            if f.name.startswith("_"):
                continue
            val = d[f.name]
            if f.name in ("input_shape",):
                kw[f.name] = tuple(val)
            elif f.name in ("seconds", "rtol_maps"):
                kw[f.name] = float(val)
            else:
                dt = int_fields.get(f.name, torch.float64)
                t = torch.tensor(val, dtype=dt)
                kw[f.name] = t
        R = kw["offsets"].numel() - 1
        kw["patterns"] = kw["patterns"].reshape(R, -1)
        kw["adjacency"] = kw["adjacency"].reshape(-1, 2)
        kw["decision_boundary"] = kw["decision_boundary"].reshape(-1, 2, 2)
        kw["vertices"] = kw["vertices"].reshape(-1, 2)
        kw["witnesses"] = kw["witnesses"].reshape(-1, 2)
        return cls(**kw)

    def __getstate__(self):
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def __setstate__(self, state):
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_pieces", [])

    # ----------------------------------------------------------------------- plotting

    def plot(self, ax=None, *, color_by: str = "region", boundary: bool = True, edgecolor="k",
             linewidth: float | None = None, anchors=None, cmap: str | None = None, title: str | None = None):
        """Draw the regions (coloured), their edges and the decision boundary.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        color_by : {"region", "linear_piece", "output"}
            Colour each region by a random colour, by its linear piece, or by the output
            value (first output) at its witness.
        boundary : bool
            Draw the decision boundary in red.
        anchors : array-like, optional
            Plane coordinates ``(m, 2)`` of points to mark (e.g. the data points the
            plane goes through).

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> import torch, regionlab
        >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
        >>> part = regionlab.partition_plane(CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()]), [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
        >>> ax = part.plot()  # doctest: +SKIP
        """
        from ..plotting import plot_plane_partition

        return plot_plane_partition(self, ax=ax, color_by=color_by, boundary=boundary, edgecolor=edgecolor,
                                    linewidth=linewidth, anchors=anchors, cmap=cmap, title=title)
