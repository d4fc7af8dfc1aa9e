"""Exact partition of a 2-D plane (slice) of the input space into activation regions.

Examples
--------
>>> import torch, regionlab
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
>>> part = regionlab.partition_plane(model, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
>>> round(float(part.areas.sum()), 12)
4.0
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import DomainError, InvalidParameterError, NumericalError, ShapeError
from ..ir.network import CPWLNetwork, apply_frozen
from ..ir.ops import Dense
from ..numerics import DEFAULT_NUMERICS, Numerics, exact_mode, intra_op_threads
from . import _polygon as poly
from ._plane_engine import PlaneState, refine_max, refine_univariate

__all__ = ["Plane", "plane_through", "partition_plane"]


@dataclass(frozen=True, eq=False)
class Plane:
    """An affine plane ``x(p) = origin + p[0] * u + p[1] * v`` in input space.

    Vectors are flat (``input_dim`` entries) float64 CPU tensors; ``anchors`` holds
    plane coordinates of the points the plane was built from (if any).

    Examples
    --------
    >>> import torch
    >>> pl = Plane(torch.zeros(3, dtype=torch.float64), torch.tensor([1.0, 0, 0]), torch.tensor([0, 1.0, 0]))
    >>> pl.to_input(torch.tensor([[2.0, 3.0]], dtype=torch.float64))
    tensor([[2., 3., 0.]], dtype=torch.float64)
    """

    origin: Tensor
    u: Tensor
    v: Tensor
    anchors: Tensor | None = None
    input_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.input_shape is None:
            # remember the points' own shape (an image, say) so a module can be traced on it
            shape = tuple(torch.as_tensor(self.origin).shape)
            object.__setattr__(self, "input_shape", shape if len(shape) != 1 else None)
        for name in ("origin", "u", "v"):
            t = torch.as_tensor(getattr(self, name), dtype=torch.float64).reshape(-1).cpu()
            object.__setattr__(self, name, t)
        if not (self.origin.shape == self.u.shape == self.v.shape):
            raise ShapeError(
                f"Plane origin, u and v must have the same number of entries; got "
                f"{self.origin.numel()}, {self.u.numel()} and {self.v.numel()}."
            )
        for name in ("origin", "u", "v"):
            if not torch.isfinite(getattr(self, name)).all():
                raise NumericalError(f"The plane's {name!r} vector contains NaN or inf.")
        nu, nv = self.u.norm(), self.v.norm()
        if nu == 0 or nv == 0:
            raise DomainError("The plane's direction vectors u and v must be non-zero.")
        cos = abs(float(self.u @ self.v)) / float(nu * nv)
        if cos > 1 - 1e-12:
            raise DomainError("The plane's direction vectors u and v are parallel; the plane is degenerate.")

    @property
    def dim(self) -> int:
        """Dimension of the ambient input space."""
        return self.origin.numel()

    def to_input(self, p: Tensor) -> Tensor:
        """Map plane coordinates ``(m, 2)`` to flat input points ``(m, input_dim)``.

        Examples
        --------
        >>> import torch
        >>> Plane(torch.zeros(2), torch.tensor([1.0, 0]), torch.tensor([0, 1.0])).to_input(torch.ones(1, 2, dtype=torch.float64))
        tensor([[1., 1.]], dtype=torch.float64)
        """
        p = torch.as_tensor(p, dtype=torch.float64)
        return self.origin + p[..., 0:1] * self.u + p[..., 1:2] * self.v

    def default_bounds(self, margin: float = 0.25) -> tuple[float, float, float, float]:
        """A box around the anchors enlarged by ``margin`` times its size (unit box without anchors).

        Examples
        --------
        >>> import torch
        >>> pl = plane_through(torch.tensor([0.0, 0]), torch.tensor([1.0, 0]), torch.tensor([0.0, 1]))
        >>> pl.default_bounds(0.0)
        (0.0, 1.0, 0.0, 1.0)
        """
        if self.anchors is None:
            return (-1.0, 1.0, -1.0, 1.0)
        lo = self.anchors.min(0).values
        hi = self.anchors.max(0).values
        size = (hi - lo).clamp_min(1e-12)
        lo, hi = lo - margin * size, hi + margin * size
        return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def plane_through(x0, x1, x2) -> Plane:
    """The plane through three input points, with orthonormal in-plane axes.

    ``x0`` is the origin; ``u`` points from ``x0`` to ``x1``; ``v`` completes an
    orthonormal basis of the span of ``x1 - x0`` and ``x2 - x0`` (Gram-Schmidt). The
    points' plane coordinates are stored in ``anchors`` (``x0`` at ``(0, 0)``, ``x1`` on
    the positive first axis). Works for inputs of any shape (images are flattened).

    Raises
    ------
    DomainError
        If the three points are collinear (or two coincide).

    Examples
    --------
    >>> import torch
    >>> pl = plane_through(torch.tensor([0.0, 0, 0]), torch.tensor([2.0, 0, 0]), torch.tensor([0.0, 3, 0]))
    >>> pl.anchors
    tensor([[0., 0.],
            [2., 0.],
            [0., 3.]], dtype=torch.float64)
    """
    shape = tuple(torch.as_tensor(x0).shape)
    pts = [torch.as_tensor(x, dtype=torch.float64).reshape(-1).cpu() for x in (x0, x1, x2)]
    if not (pts[0].shape == pts[1].shape == pts[2].shape):
        raise ShapeError("plane_through needs three points with the same number of entries.")
    if not all(torch.isfinite(p).all() for p in pts):
        raise NumericalError("plane_through got a point with NaN or inf entries.")
    d1, d2 = pts[1] - pts[0], pts[2] - pts[0]
    n1 = d1.norm()
    if n1 == 0:
        raise DomainError("plane_through needs distinct points; x0 and x1 coincide.")
    u = d1 / n1
    w = d2 - (d2 @ u) * u
    nw = w.norm()
    if nw <= 1e-12 * max(1.0, float(d2.norm())):
        raise DomainError("plane_through needs three non-collinear points; these are collinear.")
    v = w / nw
    anchors = torch.stack([torch.zeros(2, dtype=torch.float64), torch.stack([n1, torch.zeros((), dtype=torch.float64)]),
                           torch.stack([d2 @ u, d2 @ v])])
    return Plane(pts[0], u, v, anchors, shape if len(shape) != 1 else None)


def _domain_polygon(bounds) -> Tensor:
    """Counter-clockwise vertices ``(m, 2)`` of the plane-coordinate domain."""
    if bounds is None:
        raise DomainError("partition_plane needs 'bounds': (p1_min, p1_max, p2_min, p2_max) or polygon vertices.")
    b = torch.as_tensor(bounds, dtype=torch.float64).cpu()
    if not torch.isfinite(b).all():
        raise DomainError("The 'bounds' of partition_plane contain NaN or inf.")
    if b.dim() == 1:
        if b.numel() != 4:
            raise DomainError(
                f"The 'bounds' parameter of partition_plane must be (p1_min, p1_max, p2_min, p2_max) or "
                f"an (m, 2) array of polygon vertices. Got {b.numel()} numbers instead."
            )
        x0, x1, y0, y1 = b.tolist()
        if not (x1 > x0 and y1 > y0):
            raise DomainError(f"The box bounds {tuple(b.tolist())} are empty: need p1_min < p1_max and p2_min < p2_max.")
        return torch.tensor([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=torch.float64)
    if b.dim() != 2 or b.shape[1] != 2 or b.shape[0] < 3:
        raise DomainError(f"Polygon bounds must have shape (m >= 3, 2); got {tuple(b.shape)}.")
    area, _ = poly.area_centroid(b.unsqueeze(0), torch.tensor([b.shape[0]]))
    if float(area) < 0:
        b = b.flip(0)
    # convexity: every turn must be to the left
    nxt = b.roll(-1, 0)
    nn = b.roll(-2, 0)
    turn = (nxt[:, 0] - b[:, 0]) * (nn[:, 1] - nxt[:, 1]) - (nxt[:, 1] - b[:, 1]) * (nn[:, 0] - nxt[:, 0])
    if abs(float(area)) <= 0 or bool((turn < -1e-12 * float(abs(area))).any()):
        raise DomainError("Polygon bounds must be a convex polygon with positive area.")
    return b


def _as_network(model, plane: Plane) -> CPWLNetwork:
    if isinstance(model, CPWLNetwork):
        net = model
    else:
        from ._common import as_network

        example = plane.origin if plane.input_shape is None else plane.origin.reshape(plane.input_shape)
        net = as_network(model, example)
    if net.input_dim != plane.dim:
        raise ShapeError(
            f"The plane lives in a {plane.dim}-dimensional space but the network takes "
            f"{net.input_dim} inputs (shape {net.input_shape})."
        )
    return net


def partition_plane(
    model,
    origin,
    u=None,
    v=None,
    bounds=None,
    *,
    numerics: Numerics | None = None,
    progress: bool = False,
    decision_boundary: bool = True,
):
    """Exact partition of a planar slice of the input space into activation regions.

    The slice is ``x(p) = origin + p[0] * u + p[1] * v`` for ``p`` in ``bounds``.

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        A CPWL model (traced on first use, see :func:`regionlab.trace`) or a traced network.
    origin : array-like or Plane
        Origin of the plane, in the model's input shape or flat; or a :class:`Plane`
        (then ``u`` and ``v`` are omitted).
    u, v : array-like
        In-plane direction vectors (need not be orthonormal, must not be parallel).
    bounds : tuple or array-like
        ``(p1_min, p1_max, p2_min, p2_max)`` or the vertices ``(m, 2)`` of a convex
        polygon, in plane coordinates. For a :class:`Plane` built by
        :func:`plane_through` it defaults to a box around the three points.
    numerics : Numerics, optional
        Precision and tolerances (float64, TF32 off, by default).
    progress : bool
        Show a progress bar per layer.
    decision_boundary : bool
        Also compute the decision boundary segments.

    Returns
    -------
    PlanePartition
        Every activation region meeting the domain with positive area: its convex
        polygon (plane coordinates), pattern, affine map of the output in plane
        coordinates, area, interior witness, the adjacency graph, ``num_regions``,
        ``num_linear_pieces`` and the decision boundary.

    Raises
    ------
    DomainError
        Empty or malformed bounds, degenerate plane.
    ShapeError
        The plane's dimension does not match the network's input.
    UnsupportedOperationError
        The model contains a non-CPWL operation.

    Notes
    -----
    Regions are counted inside the domain: a region that only touches the domain's
    boundary (zero area inside) is not counted. Exact up to floating-point rounding in
    float64: vertices within ``numerics.atol`` (relative) of a switching line are taken
    to lie on it, so degenerate configurations (lines through vertices, parallel or
    duplicate lines, dead or zero units) neither lose nor duplicate regions.

    Examples
    --------
    A single layer of 3 generic lines through the square cuts it into 7 regions when
    all three pairwise intersections fall inside:

    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> b = torch.tensor([0.0, 0.0, -0.5], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((2,), [Dense(W, b), PiecewiseLinear.relu()])
    >>> regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1)).num_regions
    7
    """
    numerics = numerics or DEFAULT_NUMERICS
    if not isinstance(numerics, Numerics):
        raise InvalidParameterError(f"The 'numerics' parameter must be a Numerics instance. Got {type(numerics).__name__}.")
    if isinstance(origin, Plane):
        if u is not None or v is not None:
            raise InvalidParameterError("Pass either a Plane or origin, u and v, not both.")
        plane = origin
        if bounds is None:
            bounds = plane.default_bounds()
    else:
        if u is None or v is None:
            raise InvalidParameterError("partition_plane needs the direction vectors 'u' and 'v' (or a Plane).")
        plane = Plane(origin, u, v)
    domain = _domain_polygon(bounds)
    net = _as_network(model, plane)
    from .plane_result import PlanePartition

    t0 = time.perf_counter()
    # The engine issues many small tensor ops: on a CPU one intra-op thread is as fast
    # on an idle machine and far faster on a busy one (OpenMP threads stall on cores
    # that other processes hold).
    outer_threads = torch.get_num_threads()
    with exact_mode(numerics), intra_op_threads(1 if net.device.type == "cpu" else None):
        state, patterns, out_forms, area, cen = _partition(net, plane, domain, numerics, progress, outer_threads)
        boundary = _decision_boundary(state, out_forms, numerics) if decision_boundary else None
        elapsed = time.perf_counter() - t0
        return PlanePartition._from_engine(net, plane, domain, state, patterns, out_forms, area, cen, boundary,
                                           numerics, elapsed)


def _partition(net: CPWLNetwork, plane: Plane, domain: Tensor, numerics: Numerics, progress: bool,
               linear_threads: int | None = None):
    dev, dt = net.device, numerics.dtype
    if net.dtype != dt:
        net = net.to(dtype=dt)
    base = torch.stack([plane.origin, plane.u, plane.v]).to(device=dev, dtype=dt)  # (3, n0)
    forms: dict[int, Tensor] = {0: base.reshape(1, 3, *net.input_shape)}
    state = PlaneState(domain.to(device=dev, dtype=dt).unsqueeze(0).clone(), torch.tensor([domain.shape[0]], device=dev), numerics.atol)
    pattern_parts: list[Tensor] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(net.nonlinear_nodes), desc="partition_plane", unit="layer")
    last = net.last_use
    out_forms = None
    fused = -1  # a Dense node already evaluated by the activation before it
    for i, node in enumerate(net.nodes[1:], start=1):
        op = node.op
        R = state.num
        if i == fused:
            pass
        elif op.kind == "linear":
            args = [forms[j] for j in node.inputs]
            # one large product per layer: worth the caller's threads, unlike the loops
            with intra_op_threads(linear_threads if R * 3 >= 4096 else None):
                out = op.linear(*[a.reshape(R * 3, *a.shape[2:]) for a in args])
            out = out.reshape(R, 3, *out.shape[1:])
            off = op.offset
            if off is not None:
                # add in place unless the op returned a view of a live input (reshapes)
                ptr = out.untyped_storage().data_ptr()
                if any(a.untyped_storage().data_ptr() == ptr for a in args):
                    out = out.clone()
                out[:, 0] += off
            forms[i] = out
        else:
            src = node.inputs[0]
            z = forms[src].reshape(R, 3, -1)
            nxt = _fusable_dense(net, i) if op.kind == "univariate" and last[src] <= i else None
            if op.kind == "univariate":
                par, choice, pat, base, ev = refine_univariate(state, z, op, events=True)
            else:
                par, choice, pat = refine_max(state, z, op.index)
            if nxt is not None and _fusion_pays(R, state.num, ev[0].numel(), z.shape[2]):
                # z may be overwritten unless another live value shares its storage (views)
                ptr = z.untyped_storage().data_ptr()
                shared = any(t.untyped_storage().data_ptr() == ptr for j, t in forms.items() if j != src)
                out = _fused_dense(op, nxt, z if not shared else z.clone(), base, par, ev, linear_threads)
                forms[i + 1] = out.reshape(state.num, 3, *net.nodes[i + 1].shape)
                forms.pop(src)
                fused = i + 1
            else:
                zc = z.index_select(0, par)
                # the gathered input is a fresh tensor: overwrite it unless it is read later
                forms[i] = apply_frozen(op, zc, choice, inplace=last[src] <= i).reshape(state.num, 3, *node.shape)
                if last[src] > i:
                    forms[src] = zc.reshape(state.num, 3, *forms[src].shape[2:])
                else:
                    forms.pop(src)
            for j in list(forms):
                if j < i and j != src:
                    forms[j] = forms[j].index_select(0, par)
            pattern_parts = [p.index_select(0, par) for p in pattern_parts]
            pattern_parts.append(pat)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(regions=state.num)
        for j in node.inputs:
            if last[j] <= i:
                forms.pop(j, None)
        if i == net.output_node:
            out_forms = forms[i].reshape(state.num, 3, -1)
            break
    if bar is not None:
        bar.close()
    if out_forms is None:
        out_forms = forms[net.output_node].reshape(state.num, 3, -1)
    R = state.num
    patterns = torch.cat(pattern_parts, 1) if pattern_parts else torch.zeros((R, 0), dtype=torch.int16, device=dev)
    # drop slivers below the area tolerance (lower-dimensional pieces left by rounding)
    area, cen = poly.area_centroid(state.P, state.nv)
    dom_area = float(poly.area_centroid(domain.unsqueeze(0), torch.tensor([domain.shape[0]]))[0])
    keep = (area > numerics.area_tol * dom_area).nonzero().squeeze(1)
    if keep.numel() != R:
        state.gather(keep)
        patterns, out_forms = patterns[keep], out_forms[keep]
        area, cen = area[keep], cen[keep]
    return state, patterns, out_forms, area, cen


def _fusable_dense(net: CPWLNetwork, i: int):
    """The Dense op of node ``i + 1`` if it is the only reader of node ``i``."""
    if i + 1 >= len(net.nodes) or net.last_use[i] != i + 1:
        return None
    node = net.nodes[i + 1]
    if not isinstance(node.op, Dense) or tuple(node.inputs) != (i,):
        return None
    return node.op


def _fusion_pays(R_parent: int, R_frag: int, num_events: int, U: int) -> bool:
    # dense product on parents plus one rank-1 update per event, against gathering,
    # masking and multiplying the forms of every fragment
    return num_events * 8 + R_parent * U < R_frag * U


def _fused_dense(op, dense, z: Tensor, base: Tensor, par: Tensor, ev, linear_threads) -> Tensor:
    """Forms after ``dense(op(z))`` on every fragment, from the parents' forms ``z``.

    A fragment's activation differs from its parent's base pieces only in the units whose
    levels it lies above (the events), so its output is the parent's product plus one
    rank-1 term per event: no per-fragment gather of the ``U``-wide forms and a dense
    product over the parents only.
    """
    R, _, U = z.shape
    fr, uu, jj = ev
    _, s, c = op.unit_tables(U)
    # events first: apply_frozen below may overwrite z
    zu = z[par[fr], :, uu]  # (E, 3)
    delta = zu * (s[uu, jj + 1] - s[uu, jj]).unsqueeze(1)
    delta[:, 0] += c[uu, jj + 1] - c[uu, jj]
    act = apply_frozen(op, z, base, inplace=True)
    with intra_op_threads(linear_threads if R * 3 >= 4096 else None):
        out = dense.linear(act.reshape(R * 3, U)).reshape(R, 3, -1)
    out = out.index_select(0, par)
    if fr.numel():
        F, Un = out.shape[0], out.shape[2]
        # sum the events as a sparse (F * 3, U) matrix times W^T: a scatter-add of
        # (E, 3, U_next) rank-1 terms is several times slower on CPU
        key = ((fr * 3).unsqueeze(0) + torch.arange(3, device=fr.device).unsqueeze(1)).mul_(U).add_(uu)  # (3, E)
        key, order = key.reshape(-1).sort()
        vals = delta.T.reshape(-1)[order]
        # a unit crossing several levels in one fragment gives repeated (row, unit) entries
        key, inv = torch.unique_consecutive(key, return_inverse=True)
        if key.numel() != vals.numel():
            vals = vals.new_zeros(key.numel()).index_add_(0, inv, vals)
        rows = key // U
        crow = torch.zeros(F * 3 + 1, dtype=torch.long, device=fr.device)
        crow[1:] = torch.bincount(rows, minlength=F * 3).cumsum(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            S = torch.sparse_csr_tensor(crow, key - rows * U, vals, (F * 3, U))
            out.view(F * 3, Un).addmm_(S, dense.weight.T)
    if dense.bias is not None:
        out[:, 0] += dense.bias
    return out


def _decision_boundary(state: PlaneState, out_forms: Tensor, numerics: Numerics) -> Tensor:
    """Segments ``(S, 2, 2)`` where the top logit changes (or a scalar output crosses 0)."""
    R, _, C = out_forms.shape
    dev, dt = out_forms.device, out_forms.dtype
    if R == 0 or C == 0:
        return torch.zeros((0, 2, 2), dtype=dt)
    sub = PlaneState(state.P.clone(), state.nv.clone(), numerics.atol)
    _boundary_refine(sub, out_forms, C, dev, dt)
    return sub.rec_seg.cpu()


def _boundary_refine(sub: PlaneState, out_forms: Tensor, C: int, dev, dt) -> None:
    if C == 1:
        from ..ir.ops import PiecewiseLinear

        refine_univariate(sub, out_forms, PiecewiseLinear.relu(dtype=dt).to(dev))
    else:
        index = torch.arange(C, device=dev).unsqueeze(0)
        refine_max(sub, out_forms, index)


