"""LP region-graph traversal: exact n-D partitions of a convex domain, in any dimension.

The engine walks the graph of activation regions breadth-first. A region is named by
its activation pattern; freezing the pattern makes every unit's pre-activation an
affine form of the domain coordinates ``p`` (``x = origin + p @ basis``), so the region
is the polytope cut out by

* univariate unit on piece ``q``: ``t_{q-1} <= z_u <= t_q`` (infinite ends skipped; a
  unit identically equal to breakpoint ``j`` on the region is coded ``-j`` and adds
  nothing);
* max unit with argument ``a``: ``z_a - z_b >= 0`` for every present ``b != a``
  (identical arguments skipped; the smallest identical index names the unit's code);
* the domain (its H-representation, or its ``lp_form`` with auxiliary variables).

For each region one linear programme gives its Chebyshev centre (the witness) and
inradius; a region whose inradius is within tolerance of zero is lower-dimensional and
is not a region. The non-redundant facets follow from the region's vertices in low
dimension, or else from cheap certificates (a hyperplane that misses the domain is
redundant; the witness projected onto a hyperplane that lands inside every other
constraint proves a facet) with one LP per remaining candidate. Every network facet is
then crossed: from a point in the facet's relative interior the engine steps a short
distance outward and reads the pattern there. The step is accepted only if every unit
whose switching surface does not pass through the facet point keeps its code, which
proves that the point lies in the region on the other side of that facet (not beyond
it). Facets whose step leaves the domain lie on its boundary.

The traversal ends when every facet of every region leads to a known region or out of
the domain: ``info["certificate"]`` records these counts.

Examples
--------
>>> import torch
>>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
>>> from regionlab.regions._lp_engine import lp_partition
>>> class Square:  # any object with the domain contract works
...     dim, input_dim, input_shape = 2, 2, None
...     origin, basis = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
...     def halfspaces(self):
...         return torch.cat([torch.eye(2), -torch.eye(2)]).double(), torch.ones(4, dtype=torch.float64)
...     def lp_form(self):
...         A, b = self.halfspaces()
...         return A, b, 0
...     def bounding_box(self):
...         return -torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
...     def chebyshev_center(self):
...         return torch.zeros(2, dtype=torch.float64), 1.0
...     def contains(self, P, tol=1e-9):
...         return (torch.as_tensor(P).abs() <= 1 + tol).all(-1)
>>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64)), PiecewiseLinear.relu()])
>>> raw = lp_partition(net, Square())
>>> raw.num_regions, raw.info["certificate"]["complete"]
(4, True)
>>> raw.patterns.tolist()
[[0, 0], [0, 1], [1, 0], [1, 1]]
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..errors import (
    DomainError,
    InvalidParameterError,
    NumericalError,
    RegionLimitExceeded,
    ShapeError,
)
from ..ir.network import CPWLNetwork, apply_frozen
from ..numerics import DEFAULT_NUMERICS, Numerics, exact_mode
from ._polytope_raw import RawRegions, canonical_order

__all__ = ["lp_partition"]

#: above this dimension the engine does not report the domain's own facets
DOMAIN_FACET_MAX_DIM = 20
#: up to this dimension regions get vertices and volumes by default
GEOMETRY_MAX_DIM = 8
#: memory budget of one batch of affine forms (bytes)
FORMS_BUDGET = 1 << 27
#: attempts at a facet crossing before it is reported unresolved
MAX_CROSSING_ATTEMPTS = 8
#: rows at a smaller sine to a hyperplane count as parallel to it (the sine of nearly
#: parallel unit rows, sqrt(1 - cos^2), carries a rounding error of about 1e-8)
PARALLEL_SINE = 1e-7
#: HiGHS tolerances (the LPs run in coordinates scaled to the domain's size)
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


# --------------------------------------------------------------------------- domain


@dataclass
class _Domain:
    """What the engine needs of a domain, prepared once (numpy, float64)."""

    k: int
    n: int
    origin: Tensor  # (n,) on the network's device and dtype
    basis: Tensor  # (k, n)
    lo: np.ndarray  # bounding box (k,)
    hi: np.ndarray
    ctr: np.ndarray  # centre of the bounding box: LPs run in q = (p - ctr) / L
    L: float  # largest half-width of the bounding box
    H_A: object  # (m, k) unit rows (dense ndarray or scipy CSR), or None
    H_b: np.ndarray | None
    lp_A: object  # LP rows over (q, aux / L): dense ndarray or CSR
    lp_b: np.ndarray
    lp_pnorm: np.ndarray  # norm of the p-part of each LP row
    aux: int
    is_box: bool  # the H-representation is the axis-aligned box [lo, hi]
    vertices: Tensor | None  # (V, k) on device, for exact support values
    report_facets: bool
    raw: object  # the user's domain

    def contains(self, P: np.ndarray, tol: float) -> np.ndarray:
        """Whether each point ``(M, k)`` lies in the domain up to ``tol``."""
        if P.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        if self.is_box:
            return np.all((P >= self.lo - tol) & (P <= self.hi + tol), axis=1)
        if self.H_A is not None:
            return np.all(_matmul(self.H_A, P.T) <= self.H_b[:, None] + tol, axis=0)
        out = self.raw.contains(torch.as_tensor(P, dtype=torch.float64), tol)
        return np.asarray(torch.as_tensor(out).cpu().numpy(), dtype=bool).reshape(-1)


def _sine(cos: np.ndarray, norm2=1.0) -> np.ndarray:
    """Norm of a row's part orthogonal to a unit normal (0 for rows parallel to it)."""
    s = np.sqrt(np.clip(norm2 - cos * cos, 0.0, None))
    return np.where(s <= PARALLEL_SINE * np.sqrt(norm2), 0.0, s)


def _dense(A) -> np.ndarray:
    """A dense copy of a possibly scipy-sparse matrix."""
    return np.asarray(A.todense()) if hasattr(A, "todense") else A


def _matmul(A, B: np.ndarray) -> np.ndarray:
    """``A @ B`` for a dense or scipy-sparse ``A``, as a dense array."""
    out = A @ B
    return np.asarray(out.todense()) if hasattr(out, "todense") else np.asarray(out)


def _to_numpy(t, name: str, shape=None) -> np.ndarray:
    a = np.asarray(torch.as_tensor(t).detach().cpu().to(torch.float64).numpy(), dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise ShapeError(f"The domain's {name} has shape {a.shape}; expected {shape}. Check the domain object.")
    if not np.all(np.isfinite(a)):
        raise NumericalError(f"The domain's {name} contains NaN or inf.")
    return a


def _prepare_domain(domain, net: CPWLNetwork, device, dtype) -> _Domain:
    need = ("dim", "input_dim", "origin", "basis", "lp_form", "bounding_box", "chebyshev_center", "contains")
    missing = [a for a in need if not hasattr(domain, a)]
    if missing:
        raise InvalidParameterError(
            f"The 'domain' parameter must be a regionlab domain (Box, LinfBall, L1Ball, Polytope, ...); "
            f"the object given lacks {missing}."
        )
    k, n = int(domain.dim), int(domain.input_dim)
    if k < 1:
        raise DomainError(f"The domain has dimension {k}; it needs at least one coordinate.")
    if n != net.input_dim:
        raise ShapeError(
            f"The domain lives in a {n}-dimensional input space but the network takes {net.input_dim} "
            f"inputs (shape {net.input_shape}). Build the domain around an input of the network's shape."
        )
    origin = _to_numpy(domain.origin, "origin").reshape(-1)
    basis = _to_numpy(domain.basis, "basis")
    if origin.shape != (n,) or basis.shape != (k, n):
        raise ShapeError(f"The domain's origin/basis have shapes {origin.shape}/{basis.shape}; expected ({n},)/({k}, {n}).")
    lo, hi = (_to_numpy(t, "bounding box").reshape(-1) for t in domain.bounding_box())
    if lo.shape != (k,) or hi.shape != (k,) or not np.all(hi > lo):
        raise DomainError("The domain's bounding box is empty or malformed; the domain must have an interior.")
    H_A = H_b = None
    try:
        A, b = domain.halfspaces()
        H_A, H_b = _to_numpy(A, "halfspaces A"), _to_numpy(b, "halfspaces b").reshape(-1)
        if H_A.ndim != 2 or H_A.shape[1] != k or H_A.shape[0] != H_b.shape[0]:
            raise ShapeError(f"The domain's halfspaces() returned shapes {H_A.shape}, {H_b.shape}; expected (m, {k}), (m,).")
        nrm = np.linalg.norm(H_A, axis=1)
        keep = nrm > 0
        H_A, H_b = H_A[keep] / nrm[keep, None], H_b[keep] / nrm[keep]
    except (DomainError, NotImplementedError, AttributeError):
        H_A = H_b = None
    is_box = False
    if H_A is not None:
        nnz = (H_A != 0).sum(1)
        if np.all(nnz == 1):
            axis = np.argmax(H_A != 0, axis=1)
            sign = H_A[np.arange(len(axis)), axis]
            up, down = np.full(k, np.inf), np.full(k, np.inf)
            np.minimum.at(up, axis[sign > 0], H_b[sign > 0])
            np.minimum.at(down, axis[sign < 0], H_b[sign < 0])
            if np.all(np.isfinite(up)) and np.all(np.isfinite(down)):
                is_box = True
                lo, hi = np.maximum(lo, -down), np.minimum(hi, up)  # the box is its own bounding box
        if k > 64:  # high-dimensional H-representations are sparse in practice (boxes)
            import scipy.sparse as sp

            if np.count_nonzero(H_A) < 0.1 * H_A.size:
                H_A = sp.csr_matrix(H_A)
    ctr = 0.5 * (lo + hi)
    L = float(0.5 * np.max(hi - lo))
    # LP rows in scaled coordinates q = (p - ctr) / L (auxiliaries scaled alike): the
    # matrix is unchanged, the right-hand side shifts and scales
    if H_A is not None:
        aux = 0
        lp_A, lp_b = H_A, (H_b - _matmul(H_A, ctr[:, None]).reshape(-1)) / L
        lp_pnorm = np.ones(H_b.shape[0])
    else:
        A, b, aux = domain.lp_form()
        A, b, aux = _to_numpy(A, "lp_form A"), _to_numpy(b, "lp_form b").reshape(-1), int(aux)
        if A.ndim != 2 or A.shape[1] != k + aux or A.shape[0] != b.shape[0]:
            raise ShapeError(f"The domain's lp_form() returned shapes {A.shape}, {b.shape}; expected (m, {k + aux}), (m,).")
        lp_b = (b - A[:, :k] @ ctr) / L
        lp_pnorm = np.linalg.norm(A[:, :k], axis=1)
        lp_A = A
        if k > 64:
            import scipy.sparse as sp

            lp_A = sp.csr_matrix(A)
    vertices = None
    if not is_box and k <= 10 and hasattr(domain, "vertices"):
        try:
            V = _to_numpy(domain.vertices(), "vertices")
            if V.ndim == 2 and V.shape[1] == k and 0 < V.shape[0] <= 4096:
                vertices = torch.as_tensor(V, device=device, dtype=dtype)
        except (DomainError, NotImplementedError):
            vertices = None
    report = H_A is not None and k <= DOMAIN_FACET_MAX_DIM
    return _Domain(
        k, n,
        torch.as_tensor(origin, device=device, dtype=dtype),
        torch.as_tensor(basis, device=device, dtype=dtype),
        lo, hi, ctr, L, H_A, H_b, lp_A, lp_b, lp_pnorm, aux, is_box, vertices, report, domain,
    )


# ------------------------------------------------------------------- affine forms


@dataclass
class _Batch:
    """Per-node output of the forms pass for a batch of ``M`` seeds."""

    codes: list = field(default_factory=list)  # canonical codes per node (M, U)
    free: list = field(default_factory=list)  # degenerate units per node (M, U) bool
    on_surface: Tensor | None = None  # (M,) bool: a seed point lies on a switching surface
    row_region: list = field(default_factory=list)  # per node: (P,) region index of kept rows
    row_form: list = field(default_factory=list)  # (P, 1 + k) normalised rows f0 + f . p <= 0
    row_unit: list = field(default_factory=list)  # (P,) global unit
    row_top: list = field(default_factory=list)  # (P,) upper bound of f0 + f . p over the domain
    row_level: list = field(default_factory=list)  # (P,) the row's level (1-based) or max argument


class _Forms:
    """Batched affine forms of pre-activations with the choice-free prefix computed once."""

    def __init__(self, net: CPWLNetwork, dom: _Domain, numerics: Numerics):
        self.net, self.dom, self.atol = net, dom, float(numerics.atol)
        nodes = net.nodes
        self.last_nl = max(net.nonlinear_nodes) if net.nonlinear_nodes else 0
        base = torch.cat([dom.origin.unsqueeze(0), dom.basis], 0)  # (1 + k, n)
        self.cols = dom.k + 1
        # nodes whose forms do not depend on any activation choice
        prefix = {0}
        for i, nd in enumerate(nodes[1:], start=1):
            if nd.op.kind == "linear" and all(j in prefix for j in nd.inputs):
                prefix.add(i)
        self.prefix = prefix
        values = {0: base.reshape(1, self.cols, *net.input_shape)}
        for i in sorted(prefix - {0}):
            if i > self.last_nl:
                break
            nd = nodes[i]
            values[i] = self._linear(nd.op, [values[j] for j in nd.inputs], 1)
        needed = {j for i, nd in enumerate(nodes) if i not in prefix and i <= self.last_nl for j in nd.inputs}
        self.cache = {j: v for j, v in values.items() if j in needed}
        lo = torch.as_tensor(dom.lo, device=dom.origin.device, dtype=dom.origin.dtype)
        hi = torch.as_tensor(dom.hi, device=dom.origin.device, dtype=dom.origin.dtype)
        self.mid, self.half, self.pmax = (lo + hi) / 2, (hi - lo) / 2, torch.maximum(lo.abs(), hi.abs())
        self.bytes_per_seed = 8 * self.cols * max(
            [1] + [nodes[i].size * (2 if nodes[i].op.kind == "univariate" else nodes[i].op.group_size)
                   + nodes[nodes[i].inputs[0]].size for i in net.nonlinear_nodes]
        )

    def _linear(self, op, args, M):
        cols = self.cols
        out = op.linear(*[a.reshape(M * cols, *a.shape[2:]) for a in args])
        out = out.reshape(M, cols, *out.shape[1:])
        off = op.offset
        if off is not None:
            out = out.clone()
            out[:, 0] += off
        return out

    # ---- tolerances -------------------------------------------------------------

    def _ident(self, h: Tensor, g: Tensor) -> Tensor:
        """Whether ``h + g . p`` is identically zero on the domain's box (``g``: (..., k) last)."""
        ga = g.abs()
        spread = (ga * self.half).sum(-1)
        centre = (h + (g * self.mid).sum(-1)).abs()
        return centre + spread <= self.atol * (1.0 + h.abs() + (ga * self.pmax).sum(-1))

    # ---- the pass -----------------------------------------------------------------

    def run(self, raw: Tensor, X: Tensor, tight_tol: float) -> _Batch:
        """Forms of ``M`` seeds with raw patterns ``raw`` (M, N) at points ``X`` (M, k)."""
        net, nodes, cols = self.net, self.net.nodes, self.cols
        M = raw.shape[0]
        out = _Batch()
        out.on_surface = torch.zeros(M, dtype=torch.bool, device=raw.device)
        values = {}
        offsets = dict(zip(net.nonlinear_nodes, net.unit_offsets, strict=True))
        for i, nd in enumerate(nodes[1:], start=1):
            if i > self.last_nl:
                break
            if i in self.prefix:
                if i in self.cache:
                    values[i] = self.cache[i]
                continue
            args = [values[j] if j in values else self.cache[j] for j in nd.inputs]
            op = nd.op
            if op.kind == "linear":
                args = [a.expand(M, *a.shape[1:]) if a.shape[0] != M else a for a in args]
                values[i] = self._linear(op, args, M)
            else:
                z = args[0].reshape(args[0].shape[0], cols, -1)
                if z.shape[0] != M:
                    z = z.expand(M, cols, z.shape[2])
                off = offsets[i]
                codes = raw[:, off:off + (nd.size if op.kind == "univariate" else op.index.shape[0])].long()
                if op.kind == "univariate":
                    choice = self._univariate(op, z, codes, X, off, tight_tol, out)
                else:
                    choice = self._max(op, z, codes, X, off, tight_tol, out)
                values[i] = apply_frozen(op, z, choice).reshape(M, cols, *nd.shape)
            for j in nd.inputs:
                if net.last_use[j] <= i:
                    values.pop(j, None)
        return out

    def _keep_rows(self, f: Tensor, valid: Tensor, unit: Tensor, level: Tensor, tight_tol: float, out: _Batch):
        """Normalise rows ``f`` (M, 1 + k, R) (``f0 + f . p <= 0``), keep those meeting the domain.

        ``level`` ``(M, R)``: the breakpoint (1-based) a univariate row bounds, or the
        argument a max row compares with.
        """
        g = f[:, 1:]
        nrm = g.norm(dim=1)  # (M, R)
        valid = valid & (nrm > 0)
        m_idx, r_idx = valid.nonzero(as_tuple=True)
        if m_idx.numel() == 0:
            return
        rows = f[m_idx, :, r_idx] / nrm[m_idx, r_idx].unsqueeze(1)  # (P, 1 + k)
        h, gg = rows[:, 0], rows[:, 1:]
        if self.dom.vertices is not None:
            top = (gg @ self.dom.vertices.T).amax(1)
        else:
            top = gg @ self.mid + gg.abs() @ self.half
        top = top + h
        # rows whose hyperplane stays farther than tight_tol from the domain never matter
        near = top > -tight_tol
        out.row_region.append(m_idx[near])
        out.row_form.append(rows[near])
        out.row_unit.append(unit[r_idx[near]])
        out.row_top.append(top[near])
        out.row_level.append(level.expand(valid.shape)[m_idx[near], r_idx[near]])

    def _near_surface(self, h: Tensor, g: Tensor, X: Tensor, tight_tol: float) -> Tensor:
        """Whether the seeds ``X`` lie within tolerance of ``h + g . p = 0`` (``g``: (M, ..., k))."""
        Xb = X.reshape(X.shape[0], *([1] * (g.dim() - 2)), X.shape[1])
        gx = g * Xb
        v = h + gx.sum(-1)
        return v.abs() <= tight_tol * g.norm(dim=-1) + self.atol * (1.0 + h.abs() + gx.abs().sum(-1))

    def _univariate(self, op, z, codes, X, off, tight_tol, out: _Batch) -> Tensor:
        M, _, U = z.shape
        dev = z.device
        bp, _, _ = op.unit_tables(U)  # (U, K)
        K = bp.shape[1]
        g = z[:, 1:].transpose(1, 2).unsqueeze(2)  # (M, U, 1, k)
        hl = z[:, 0].unsqueeze(-1) - bp.unsqueeze(0)  # (M, U, K): value at p = 0 minus each level
        ident = self._ident(hl, g)  # identically on level j over the domain
        is_id = ident.any(-1)
        jid = ident.to(torch.int8).argmax(-1).long()
        # frozen choice: the raw piece, the lower piece for an exact hit or an identical level
        choice = torch.where(is_id, jid, torch.where(codes >= 0, codes, -codes - 1))
        canon = torch.where(is_id, -(jid + 1), codes)
        near = self._near_surface(hl, g, X, tight_tol).any(-1)
        out.on_surface |= ((near | (codes < 0)) & ~is_id).any(1)
        out.codes.append(canon)
        out.free.append(is_id)
        units = torch.arange(U, device=dev) + off
        rows_u = torch.arange(U, device=dev).unsqueeze(0)
        live = ~is_id
        # lower row t_{q-1} - z <= 0 (q >= 1), upper row z - t_q <= 0 (q <= K - 1)
        if K == 1:  # one row per unit: its side of the only level
            f = z.clone()
            f[:, 0] -= bp[:, 0]
            f.mul_(torch.where(choice >= 1, -1.0, 1.0).to(z.dtype).unsqueeze(1))
            self._keep_rows(f, live, units, torch.ones(1, U, dtype=torch.long, device=dev), tight_tol, out)
            return choice
        f_lo = -z
        f_lo[:, 0] += bp[rows_u, (choice - 1).clamp(0, K - 1)]
        self._keep_rows(f_lo, live & (choice >= 1), units, choice, tight_tol, out)
        f_hi = z.clone()
        f_hi[:, 0] -= bp[rows_u, choice.clamp(0, K - 1)]
        self._keep_rows(f_hi, live & (choice <= K - 1), units, choice + 1, tight_tol, out)
        return choice

    def _max(self, op, z, codes, X, off, tight_tol, out: _Batch) -> Tensor:
        M, cols, _ = z.shape
        dev = z.device
        U, kg = op.index.shape
        present = (op.index >= 0).unsqueeze(0)  # (1, U, kg)
        args = z[:, :, op.index.clamp_min(0)]  # (M, cols, U, kg)

        def differences(a):
            za = args.gather(3, a.reshape(M, 1, U, 1).expand(M, cols, U, 1))
            d = (args - za).permute(0, 2, 3, 1)  # (M, U, kg, cols): z_b - z_a
            return d, self._ident(d[..., 0], d[..., 1:]) & present

        a = codes.clamp(0, kg - 1)
        diff, ident = differences(a)
        canon = ident.to(torch.int8).argmax(-1).long()  # smallest argument identical to a
        if bool((canon != a).any()):
            a = canon
            diff, ident = differences(a)
        others = present & (torch.arange(kg, device=dev).reshape(1, 1, kg) != a.unsqueeze(-1))
        live = others & ~ident
        free = (others & ident).any(-1)
        vx = diff[..., 0] + (diff[..., 1:] * X.reshape(M, 1, 1, -1)).sum(-1)
        bad = (self._near_surface(diff[..., 0], diff[..., 1:], X, tight_tol) | (vx > 0)) & live
        out.on_surface |= bad.flatten(1).any(1)
        out.codes.append(a)
        out.free.append(free)
        f = diff.permute(0, 3, 1, 2).reshape(M, cols, U * kg)
        units = (torch.arange(U, device=dev) + off).repeat_interleave(kg)
        arg_ids = torch.arange(kg, device=dev).repeat(U).unsqueeze(0)
        self._keep_rows(f, live.reshape(M, U * kg), units, arg_ids, tight_tol, out)
        return a


# ----------------------------------------------------------------------- LP helpers


def _stack_rows(blocks, sparse: bool):
    """Vertically stack row blocks (dense arrays or scipy matrices)."""
    if sparse:
        import scipy.sparse as sp

        return sp.vstack([sp.csr_matrix(b) if not sp.issparse(b) else b for b in blocks], format="csr")
    return np.vstack([np.asarray(b.todense()) if hasattr(b, "todense") else b for b in blocks])


def _with_columns(A, extra: np.ndarray, sparse: bool):
    """``[A, extra]`` (columns appended)."""
    if sparse:
        import scipy.sparse as sp

        return sp.hstack([A if sp.issparse(A) else sp.csr_matrix(A), sp.csr_matrix(extra)], format="csr")
    return np.hstack([A, extra])


class _Solver:
    """The two LPs of the engine (Chebyshev ball of a region, of a facet) in scaled coordinates."""

    def __init__(self, dom: _Domain):
        self.dom = dom
        self.sparse = dom.k > 64
        # interior point pays off in high dimension (thousands of domain rows); its presolve
        # costs more than it saves on these LPs
        self.method = "highs-ipm" if dom.k > 64 else "highs"
        self.options = {**_LP_OPTIONS, "presolve": False} if dom.k > 64 else _LP_OPTIONS
        self.count = 0
        self.seconds = 0.0

    def max_ball(self, Gq, cq, s_net, s_dom, eq=None):
        """Maximise ``s`` with ``Gq q + s_net s <= cq``, domain rows with ``s_dom``, optional ``eq``.

        Returns ``(q, s)`` or ``None`` when the solver fails.
        """
        from scipy.optimize import linprog

        dom, k, a = self.dom, self.dom.k, self.dom.aux
        nv = k + a + 1
        blocks, rhs = [], []
        if Gq.shape[0]:
            blocks.append(np.hstack([Gq, np.zeros((Gq.shape[0], a)), s_net[:, None]]))
            rhs.append(cq)
        blocks.append(_with_columns(dom.lp_A, s_dom[:, None], self.sparse))
        rhs.append(dom.lp_b)
        A_ub = _stack_rows(blocks, self.sparse)
        b_ub = np.concatenate(rhs)
        obj = np.zeros(nv)
        obj[-1] = -1.0
        bounds = np.full((nv, 2), np.inf)
        bounds[:, 0] = -np.inf
        bounds[-1, 1] = 2.0  # the domain's inradius is at most 1 in scaled coordinates
        A_eq = b_eq = None
        if eq is not None:
            A_eq = np.zeros((1, nv))
            A_eq[0, :k] = eq[0]
            b_eq = np.array([eq[1]])
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = linprog(obj, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds,
                          method=self.method, options=self.options)
        self.seconds += time.perf_counter() - t0
        self.count += 1
        if res.status != 0 or res.x is None:
            return None
        return res.x[:k], float(res.x[-1])

    def max_ball_box(self, Gq, cq, s_net, n, b, mu):
        """Box domains: maximise ``s`` with ``Gq q + s_net s <= cq``, ``n q = b`` and the box shrunk by ``mu`` as bounds."""
        from scipy.optimize import linprog

        dom, k = self.dom, self.dom.k
        lo, hi = (dom.lo - dom.ctr) / dom.L + mu, (dom.hi - dom.ctr) / dom.L - mu
        obj = np.zeros(k + 1)
        obj[-1] = -1.0
        bounds = np.column_stack([np.append(lo, -np.inf), np.append(hi, 2.0)])
        A_eq = np.append(n, 0.0)[None, :]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = linprog(obj, A_ub=np.hstack([Gq, s_net[:, None]]), b_ub=cq, A_eq=A_eq, b_eq=np.array([b]),
                          bounds=bounds, method="highs", options=_LP_OPTIONS)
        self.seconds += time.perf_counter() - t0
        self.count += 1
        if res.status != 0 or res.x is None:
            return None
        return res.x[:k], float(res.x[-1])


def _relint_active_set(system, w: np.ndarray, n: np.ndarray, b: float, margin: float,
                       iterations: int = 40) -> np.ndarray | None:
    """A point of the hyperplane ``n p = b`` ``margin`` inside every other row, or ``None``.

    The projection of the witness onto the hyperplane, with every row it violates (moved
    inward by ``margin``) added as an equality and, for box domains, every coordinate that
    leaves the shrunk box fixed at its bound; repeated until nothing is violated.
    """
    dom = system.dom
    G, c = system.G, system.c
    if not dom.is_box and dom.H_A is not None:
        G = np.vstack([G, _dense(dom.H_A)])
        c = np.concatenate([c, dom.H_b])
    k = w.shape[0]
    lo, hi = dom.lo + margin, dom.hi - margin
    parallel = _sine(G @ n) == 0.0
    active: list[int] = []
    fixed = np.zeros(k, dtype=bool)
    value = np.zeros(k)
    p = w + (b - n @ w) * n
    for _ in range(iterations):
        slack = c - G @ p
        slack[parallel] = np.inf
        bad = np.nonzero(slack < margin * (1.0 - 1e-9))[0]
        out = ((p < lo) | (p > hi)) & ~fixed if dom.is_box else np.zeros(k, dtype=bool)
        if len(bad) == 0 and not out.any():
            return p + (b - n @ p) * n
        active.extend(j for j in bad if j not in active)
        if len(active) >= k - int(fixed.sum()):
            return None
        value[out] = np.clip(p[out], lo[out], hi[out])
        fixed |= out
        free = ~fixed
        M = np.vstack([n[None, :], G[active]])
        rhs = np.concatenate([[b], c[active] - margin]) - M[:, fixed] @ value[fixed]
        Mf = M[:, free]
        y = np.linalg.lstsq(Mf @ Mf.T, rhs - Mf @ w[free], rcond=None)[0]
        p = np.where(fixed, value, 0.0)
        p[free] = w[free] + Mf.T @ y
    return None


def _dual_bound(system, N: np.ndarray, b: np.ndarray, sweeps: int = 3) -> np.ndarray:
    """Upper bounds of ``n . p`` over the region, for each candidate row ``(n, b)``.

    Weak duality: the region lies in the domain's bounding box and in the other network
    rows, so for multipliers ``lam >= 0`` of those rows ``max n . p <= lam . c + h(n - lam G)``
    where ``h`` is the box's support function. Coordinate descent on ``lam``, each step an
    exact weighted median. A bound below ``b`` proves that the hyperplane misses the region.
    """
    dom = system.dom
    G, c = system.G, system.c
    mid, half = 0.5 * (dom.lo + dom.hi), 0.5 * (dom.hi - dom.lo)
    C, m = N.shape[0], G.shape[0]
    V = N.copy()
    base = np.zeros(C)
    lam = np.zeros((C, m))

    def bound():
        return base + V @ mid + np.abs(V) @ half

    # a candidate never uses its own row (or a duplicate of it)
    own = (np.abs(G @ N.T - 1.0) <= 1e-12) & (np.abs(c[:, None] - b[None, :]) <= system.tight_tol)
    best = bound()
    for _ in range(sweeps):
        for j in range(m):
            act = np.nonzero(~own[j] & (best >= b))[0]
            if len(act) == 0:
                continue
            g = G[j]
            Vb = V[act] + lam[act, j][:, None] * g  # residual without row j
            nz = g != 0
            t = Vb[:, nz] / g[nz]
            w = np.broadcast_to(half[nz] * np.abs(g[nz]), t.shape)
            order = np.argsort(t, axis=1)
            ts = np.take_along_axis(t, order, 1)
            cw = np.cumsum(np.take_along_axis(w, order, 1), axis=1)
            slope0 = c[j] - g @ mid  # derivative of tau c_j + h(Vb - tau g) is slope0 + sum w sign(tau - t)
            target = 0.5 * (cw[:, -1] - slope0)
            q = np.minimum((cw < target[:, None]).sum(1), ts.shape[1] - 1) if ts.shape[1] else np.zeros(len(act), int)
            tau = np.maximum(ts[np.arange(len(act)), q], 0.0) if ts.shape[1] else np.zeros(len(act))
            tau = np.where(target <= 0, 0.0, tau)
            newV = Vb - tau[:, None] * g
            new_base = base[act] + (tau - lam[act, j]) * c[j]
            val = new_base + newV @ mid + np.abs(newV) @ half
            better = val < best[act]
            sel = act[better]
            V[sel] = newV[better]
            base[sel] = new_base[better]
            lam[sel, j] = tau[better]
            best[sel] = val[better]
    return best


# ------------------------------------------------------------------- one region


@dataclass
class _Region:
    """A finished region (CPU, numpy)."""

    code: np.ndarray
    witness: np.ndarray
    radius: float
    A: np.ndarray
    b: np.ndarray
    unit: np.ndarray
    vertices: np.ndarray | None
    volume: float | None


@dataclass
class _Task:
    """One facet crossing: step from ``centre`` along ``normal`` by ``t``."""

    region: int
    centre: np.ndarray
    normal: np.ndarray
    t: float
    t_min: float
    allow: np.ndarray  # (N,) codes each unit may take across the facet (see _System.tight_units)
    attempt: int = 0


class _System:
    """The constraints of one region: network rows near the domain and the domain's rows."""

    def __init__(self, dom: _Domain, c, G, unit, top, level, tight_tol):
        self.dom = dom
        self.tight_tol = tight_tol
        # all rows near the domain (for tightness), candidates cut the domain
        self.G_all, self.c_all, self.unit_all, self.level_all = G, c, unit, level
        cand = np.nonzero(top > tight_tol)[0]
        G, c, unit = G[cand], c[cand], unit[cand]
        # merge duplicate hyperplanes: the smallest unit carries the facet
        order = np.argsort(unit, kind="stable")
        G, c, unit = G[order], c[order], unit[order]
        keep = np.ones(len(c), dtype=bool)
        if len(c) > 1:
            same = (G @ G.T >= 1.0 - 1e-12) & (np.abs(c[:, None] - c[None, :]) <= tight_tol)
            np.fill_diagonal(same, False)
            for i in range(len(c)):
                if keep[i]:
                    keep[np.nonzero(same[i, i + 1:])[0] + i + 1] = False
        if dom.report_facets and len(c) and dom.H_A is not None:
            cos = _matmul(dom.H_A, G.T)
            on_dom = ((cos >= 1.0 - 1e-12) & (np.abs(dom.H_b[:, None] - c[None, :]) <= tight_tol)).any(0)
            keep &= ~on_dom  # a surface on the domain's boundary is a domain facet
        self.G, self.c, self.unit = G[keep], c[keep], unit[keep]

    # scaled rows for the LPs
    def scaled(self):
        dom = self.dom
        return self.G, (self.c - self.G @ dom.ctr) / dom.L

    def slack_net(self, P: np.ndarray) -> np.ndarray:
        return self.c[:, None] - self.G @ P.T

    def slack_dom(self, P: np.ndarray) -> np.ndarray:
        """Slack of the domain's rows at points ``P`` ``(m_dom, C)`` (a box: its 2k bounds)."""
        dom = self.dom
        if dom.is_box:
            return np.concatenate([dom.hi[:, None] - P.T, P.T - dom.lo[:, None]])
        return dom.H_b[:, None] - _matmul(dom.H_A, P.T)

    def cos_dom(self, N: np.ndarray) -> np.ndarray:
        """Inner products of the domain's rows with unit normals ``N`` ``(m_dom, C)``, rows as in :meth:`slack_dom`."""
        if self.dom.is_box:
            return np.concatenate([N.T, -N.T])
        return _matmul(self.dom.H_A, N.T)

    def margin(self, w: np.ndarray) -> float:
        """Exact radius of the largest ball around ``w`` inside the rows (and the domain's H-rep)."""
        r = np.inf
        if len(self.c):
            r = float(np.min(self.c - self.G @ w))
        if self.dom.H_A is not None:
            r = min(r, float(np.min(self.slack_dom(w[None, :]))))
        return r

    def facet_radius(self, P: np.ndarray, N: np.ndarray) -> np.ndarray:
        """Radius of the largest ball around each point ``P`` inside its hyperplane (normal ``N``).

        Rows parallel to the hyperplane only need to hold; the facet's own row is parallel.
        """
        tol = self.tight_tol
        out = np.full(P.shape[0], np.inf)
        parts = [(self.slack_net(P), self.G @ N.T)]
        if self.dom.H_A is not None:
            parts.append((self.slack_dom(P), self.cos_dom(N)))
        for S, cos in parts:
            if S.shape[0] == 0:
                continue
            proj = _sine(cos)
            par = proj == 0.0
            ratio = np.where(par, np.inf, S / np.where(par, 1.0, proj))
            ratio = np.where(par & (S < -tol), -np.inf, ratio)
            out = np.minimum(out, ratio.min(0))
        return out

    def step_limits(self, P: np.ndarray, N: np.ndarray):
        """Largest steps from ``P`` along ``N`` before a row of the region (``t_net``) or the domain (``t_dom``) is crossed."""
        tol = self.tight_tol

        def ratio(S, cos, skip_tight):
            mov = cos > 1e-12
            if skip_tight:
                mov &= S > tol
            t = np.where(mov, np.maximum(S, 0.0) / np.where(mov, cos, 1.0), np.inf)
            return t.min(0) if t.shape[0] else np.full(P.shape[0], np.inf)

        t_net = ratio(self.slack_net(P), self.G @ N.T, True)
        t_dom = np.full(P.shape[0], np.inf)
        if self.dom.H_A is not None:
            t_dom = ratio(self.slack_dom(P), self.cos_dom(N), False)
        return t_net, t_dom

    def tight_units(self, P: np.ndarray, is_max: np.ndarray) -> np.ndarray:
        """``(len(P), N)``: which codes each unit may take just across each facet point.

        ``0``: the unit has no surface through the point and keeps its code. A univariate
        unit with level ``j`` through it: ``j`` (it may take pieces ``j - 1``, ``j`` or the
        code ``-j``). A max unit: a bit mask of the arguments tied with its own. ``-1``: any.
        """
        out = np.zeros((P.shape[0], len(is_max)), dtype=np.int64)
        if len(self.c_all):
            near = np.abs(self.c_all[:, None] - self.G_all @ P.T) <= self.tight_tol  # (m, C)
            r, f = np.nonzero(near)
            u, lv = self.unit_all[r], self.level_all[r]
            mx = is_max[u]
            code = np.where(mx, np.where(lv < 62, np.left_shift(1, np.minimum(lv, 61)), -1), lv)
            for ff, uu, cc, m in zip(f, u, code, mx, strict=True):
                old = out[ff, uu]
                if old == 0 or old == cc:
                    out[ff, uu] = cc
                elif m and old > 0 and cc > 0:
                    out[ff, uu] = old | cc
                else:
                    out[ff, uu] = -1  # two levels at once: accept any code
        return out


@dataclass
class _Seed:
    """A pattern met at a point, waiting for its forms."""

    raw: np.ndarray
    x: np.ndarray
    waiting: list
    start: bool = False


class _Limit(Exception):
    """Internal: a region or time limit was reached."""


class _Engine:
    """State of one traversal."""

    def __init__(self, net: CPWLNetwork, dom: _Domain, numerics: Numerics, geometry: bool,
                 max_regions: int | None, time_limit: float | None, bar):
        self.net, self.dom = net, dom
        self.N = net.num_units
        self.is_max = np.zeros(self.N, dtype=bool)
        for i, off in zip(net.nonlinear_nodes, net.unit_offsets, strict=True):
            if net.nodes[i].op.kind == "max":
                self.is_max[off:off + net.nodes[i].size] = True
        atol = float(numerics.atol)
        self.rad_tol = max(10.0 * atol, 1e-9) * dom.L
        self.tight_tol = 2.0 * self.rad_tol  # slabs thinner than 2 rad_tol are crossed in one step
        self.forms = _Forms(net, dom, numerics)
        self.solver = _Solver(dom)
        self.geometry = geometry
        self.max_regions, self.time_limit, self.bar = max_regions, time_limit, bar
        self.t_start = time.perf_counter()
        self.wave = int(min(256, max(1, FORMS_BUDGET // max(1, self.forms.bytes_per_seed))))
        self.regions: list[_Region] = []
        self.canon: dict[bytes, int] = {}  # canonical pattern -> region id (-1: lower-dimensional)
        self.alias: dict[bytes, int] = {}  # pattern read at a point -> region id
        self.seeds: dict[bytes, _Seed] = {}
        self.queue: deque = deque()
        self.tasks: list[_Task] = []
        self.adjacency: set = set()
        self.cert = {"network_facets": 0, "domain_facets": 0, "to_known": 0, "to_boundary": 0,
                     "to_degenerate": 0, "unresolved": 0}
        self.timings = {"forms": 0.0, "lp": 0.0, "facets": 0.0, "geometry": 0.0, "crossing": 0.0}
        self.rng = np.random.default_rng(0)
        self.start_point = None
        self.start_attempts = 0

    # ------------------------------------------------------------------ points

    def patterns_at(self, X: np.ndarray) -> np.ndarray:
        """Raw activation patterns ``(M, N)`` at domain points ``X`` ``(M, k)``."""
        dom, net = self.dom, self.net
        out = []
        for s in range(0, X.shape[0], 4096):
            P = torch.as_tensor(X[s:s + 4096], device=dom.origin.device, dtype=dom.origin.dtype)
            Xin = dom.origin + P @ dom.basis
            out.append(net.patterns(Xin.reshape(-1, *net.input_shape)).cpu().numpy())
        if not out:
            return np.zeros((0, self.N), dtype=np.int16)
        return np.concatenate(out, 0).astype(np.int16)

    def add_start(self, p0: np.ndarray) -> None:
        self.start_point = p0
        raw = self.patterns_at(p0[None, :])[0]
        key = raw.tobytes()
        self.seeds[key] = _Seed(raw, p0, [], start=True)
        self.queue.append(key)

    def restart(self) -> None:
        """The start point lies on a switching surface (or a lower-dimensional cell): move it a little."""
        self.start_attempts += 1
        if self.start_attempts > 40:
            raise NumericalError(
                "lp_partition could not find a full-dimensional region around the start point; "
                "pass another 'start' point inside the domain."
            )
        dom = self.dom
        u = self.rng.normal(size=dom.k)
        u /= np.linalg.norm(u)
        delta = 1e-4 * dom.L * 1.5 ** self.start_attempts
        p = self.start_point + delta * u
        while not dom.contains(p[None, :], 0.0)[0] and delta > 1e-12 * dom.L:
            delta /= 2
            p = self.start_point + delta * u
        raw = self.patterns_at(p[None, :])[0]
        key = raw.tobytes()
        if key in self.alias:  # a pattern met before: its region is known, or lower-dimensional
            if self.alias[key] < 0:
                self.restart()
        elif key in self.seeds:
            self.seeds[key].start = True
        else:
            self.seeds[key] = _Seed(raw, p, [], start=True)
            self.queue.append(key)

    # ------------------------------------------------------------------ limits

    def check_time(self) -> None:
        if self.time_limit is not None and time.perf_counter() - self.t_start > self.time_limit:
            raise _Limit(f"lp_partition reached its time limit of {self.time_limit} s after "
                         f"{len(self.regions)} regions")

    # ------------------------------------------------------------------ seeds

    def process_seeds(self, keys) -> None:
        t0 = time.perf_counter()
        seeds = [self.seeds[k] for k in keys]
        dev, dt = self.dom.origin.device, self.dom.origin.dtype
        raw = torch.as_tensor(np.stack([s.raw for s in seeds]).astype(np.int64), device=dev)
        X = torch.as_tensor(np.stack([s.x for s in seeds]), device=dev, dtype=dt)
        with torch.no_grad():
            batch = self.forms.run(raw, X, self.tight_tol)
        M = len(seeds)
        if batch.codes:
            codes = torch.cat(batch.codes, 1).cpu().numpy().astype(np.int16)
            free = torch.cat(batch.free, 1).cpu().numpy()
        else:
            codes = np.zeros((M, 0), dtype=np.int16)
            free = np.zeros((M, 0), dtype=bool)
        on_surface = batch.on_surface.cpu().numpy()
        if batch.row_region:
            reg = torch.cat(batch.row_region).cpu().numpy()
            form = torch.cat(batch.row_form).to(torch.float64).cpu().numpy()
            unit = torch.cat(batch.row_unit).cpu().numpy()
            top = torch.cat(batch.row_top).to(torch.float64).cpu().numpy()
            level = torch.cat(batch.row_level).cpu().numpy()
        else:
            reg = np.zeros(0, dtype=np.int64)
            form = np.zeros((0, self.dom.k + 1))
            unit = np.zeros(0, dtype=np.int64)
            top = np.zeros(0)
            level = np.zeros(0, dtype=np.int64)
        order = np.argsort(reg, kind="stable")
        reg, form, unit, top, level = reg[order], form[order], unit[order], top[order], level[order]
        bounds = np.searchsorted(reg, np.arange(M + 1))
        self.timings["forms"] += time.perf_counter() - t0
        for m, key in enumerate(keys):
            seed = self.seeds.pop(key)
            if on_surface[m]:
                for task in seed.waiting:
                    self.retry(task, 0.3)
                if seed.start:
                    self.restart()
                continue
            ckey = codes[m].tobytes()
            rid = self.canon.get(ckey)
            if rid is None:
                sl = slice(bounds[m], bounds[m + 1])
                rows = (-form[sl, 0], form[sl, 1:], unit[sl], top[sl], level[sl])
                rid = self.new_region(codes[m], free[m], rows, seed.x, seed.waiting)
                self.canon[ckey] = rid
            self.alias[key] = rid
            for task in seed.waiting:
                self.resolve(task, rid)
            if seed.start and rid < 0:
                self.restart()

    # ------------------------------------------------------------------ regions

    def new_region(self, code, free, rows, x_seed, arrivals) -> int:
        """Solve for one region: witness, facets, vertices; queue its crossings. Returns its id or -1.

        ``arrivals`` are the crossings that led here: each names a facet of this region
        (its hyperplane, a point of its relative interior, the region on the other side).
        """
        dom, k = self.dom, self.dom.k
        t0 = time.perf_counter()
        system = _System(dom, *rows, self.tight_tol)
        Gq, cq = system.scaled()
        lp0 = self.solver.seconds
        res = self.solver.max_ball(Gq, cq, np.ones(len(cq)), dom.lp_pnorm)
        best_w, best_r = x_seed, self.margin(system, x_seed, None)
        if res is not None:
            w = dom.ctr + dom.L * res[0]
            r = self.margin(system, w, res[1] * dom.L)
            if r >= best_r:
                best_w, best_r = w, r
        self.timings["lp"] += self.solver.seconds - lp0
        self.timings["facets"] += time.perf_counter() - t0 - (self.solver.seconds - lp0)
        if best_r <= self.rad_tol:
            return -1
        if self.max_regions is not None and len(self.regions) >= self.max_regions:
            raise _Limit(f"lp_partition found more than max_regions={self.max_regions} regions")
        self.check_time()
        w, r = best_w, best_r
        rid = len(self.regions)
        vertices = volume = None
        facets = None
        if self.geometry:
            t1 = time.perf_counter()
            geo = self.vertices(system, w)
            self.timings["geometry"] += time.perf_counter() - t1
            if geo is not None:
                vertices, volume = geo
                t1 = time.perf_counter()
                facets = self.facets_from_vertices(system, vertices)
                self.timings["facets"] += time.perf_counter() - t1
        if facets is None:
            t1 = time.perf_counter()
            lp0 = self.solver.seconds
            facets = self.facets_by_lp(system, w, r, arrivals)
            self.timings["lp"] += self.solver.seconds - lp0
            self.timings["facets"] += time.perf_counter() - t1 - (self.solver.seconds - lp0)
        A, b, fu, centres, frad = facets
        order = np.lexsort(tuple(A[:, j] for j in range(k - 1, -1, -1)) + (fu,)) if len(b) else np.zeros(0, int)
        region = _Region(code.copy(), w, float(r), A[order], b[order], fu[order], vertices, volume)
        self.regions.append(region)
        if self.bar is not None:
            self.bar.update(1)
        self.cert["domain_facets"] += int((fu < 0).sum())
        self.cert["to_boundary"] += int((fu < 0).sum())
        self.queue_crossings(rid, system, code, free, A, b, fu, centres, frad, arrivals)
        return rid

    def margin(self, system: _System, w: np.ndarray, lp_radius: float | None) -> float:
        r = system.margin(w)
        if self.dom.H_A is None:
            # the domain is known through its LP form only: its part of the radius is the LP's
            inside = self.dom.contains(w[None, :], 0.0)[0]
            r = min(r, lp_radius) if (lp_radius is not None and inside) else -np.inf
        return r

    def vertices(self, system: _System, w: np.ndarray):
        """Vertices and volume of the region (HalfspaceIntersection in scaled coordinates)."""
        from scipy.spatial import ConvexHull, HalfspaceIntersection, QhullError

        dom, k = self.dom, self.dom.k
        if dom.H_A is None:
            return None
        G = np.vstack([system.G, _dense(dom.H_A)])
        c = np.concatenate([system.c, dom.H_b])
        cq = (c - G @ dom.ctr) / dom.L
        qw = (w - dom.ctr) / dom.L
        if k == 1:
            g = G[:, 0]
            lo = np.max(cq[g < 0] / g[g < 0])
            hi = np.min(cq[g > 0] / g[g > 0])
            Vq = np.array([[lo], [hi]])
            vol = float(hi - lo) * dom.L
        else:
            hs = np.hstack([G, -cq[:, None]])
            Vq = None
            for opts in (None, "QJ"):
                try:
                    Vq = HalfspaceIntersection(hs, qw, qhull_options=opts).intersections
                    break
                except (QhullError, ValueError):
                    continue
            if Vq is None or not np.all(np.isfinite(Vq)):
                return None
            D = np.linalg.norm(Vq[:, None, :] - Vq[None, :, :], axis=-1)
            Vq = Vq[~np.tril(D <= self.rad_tol / dom.L, -1).any(1)]
            vol = None
            for opts in (None, "QJ"):
                try:
                    vol = float(ConvexHull(Vq, qhull_options=opts).volume) * dom.L ** k
                    break
                except (QhullError, ValueError):
                    continue
            if vol is None:
                return None
        return dom.ctr + dom.L * Vq, vol

    def facets_from_vertices(self, system: _System, V: np.ndarray):
        """Facets: rows with ``k`` affinely independent vertices on them."""
        dom, k = self.dom, self.dom.k
        rows = [(system.G, system.c, system.unit)]
        if dom.report_facets:
            rows.append((_dense(dom.H_A), dom.H_b, np.full(len(dom.H_b), -1)))
        A, b, fu, centres = [], [], [], []
        for G, c, u in rows:
            if len(c) == 0:
                continue
            on = np.abs(c[:, None] - G @ V.T) <= self.rad_tol
            for i in np.nonzero(on.sum(1) >= k)[0]:
                P = V[on[i]]
                ctr = P.mean(0)
                if k > 1:
                    sv = np.linalg.svd(P - ctr, compute_uv=False)
                    if int((sv > self.rad_tol * math.sqrt(len(P))).sum()) != k - 1:
                        continue
                A.append(G[i])
                b.append(c[i])
                fu.append(u[i])
                centres.append(ctr)
        return self._facet_arrays(system, A, b, fu, centres)

    def _facet_arrays(self, system, A, b, fu, centres):
        k = self.dom.k
        if not A:
            return np.zeros((0, k)), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, k)), np.zeros(0)
        A, b, fu, centres = np.array(A), np.array(b), np.array(fu, dtype=np.int64), np.array(centres)
        frad = system.facet_radius(centres, A)
        return A, b, fu, centres, frad

    def arrival_match(self, G: np.ndarray, c: np.ndarray, arrivals) -> np.ndarray:
        """Index of the arrival whose facet lies on each row ``(G, c)``, or -1."""
        out = np.full(len(c), -1)
        if not arrivals or len(c) == 0:
            return out
        N = -np.stack([t.normal for t in arrivals])  # outward normals seen from this region
        b = np.einsum("hk,hk->h", N, np.stack([t.centre for t in arrivals]))
        same = (G @ N.T >= 1.0 - 1e-9) & (np.abs(c[:, None] - b[None, :]) <= self.tight_tol)
        hit = same.any(1)
        out[hit] = same[hit].argmax(1)
        return out

    def facets_by_lp(self, system: _System, w: np.ndarray, r: float, arrivals=()):
        """Facets by cheap certificates first, one LP per remaining candidate.

        A candidate is a facet when a point of its hyperplane lies strictly inside every
        other constraint (the witness projected onto it, else a point found by
        alternating projections); it is redundant when a combination of the other rows
        bounds it away from the region (a dual bound); only undecided candidates cost an LP.
        """
        dom, k, L = self.dom, self.dom.k, self.dom.L
        cand_G, cand_c, cand_u = [system.G], [system.c], [system.unit]
        if dom.report_facets:
            cand_G.append(_dense(dom.H_A))
            cand_c.append(dom.H_b)
            cand_u.append(np.full(len(dom.H_b), -1))
        G, c, u = np.vstack(cand_G), np.concatenate(cand_c), np.concatenate(cand_u)
        if len(c) == 0:
            return self._facet_arrays(system, [], [], [], [])
        d = c - G @ w  # distance from the witness to each hyperplane
        # a hyperplane farther than any point of the domain cannot carry a facet
        reach = np.linalg.norm(np.maximum(np.abs(dom.lo - w), np.abs(dom.hi - w)))
        todo = np.nonzero(d <= reach + self.tight_tol)[0]
        centres = np.zeros((len(c), k))
        facet = np.zeros(len(c), dtype=bool)
        # the facets crossed to get here come with a point of their relative interior
        arr = self.arrival_match(G[todo], c[todo], arrivals)
        if (arr >= 0).any():
            hit = np.nonzero(arr >= 0)[0]
            P = np.stack([arrivals[a].centre for a in arr[hit]])
            ok = system.facet_radius(P, G[todo[hit]]) > self.rad_tol
            facet[todo[hit[ok]]] = True
            centres[todo[hit[ok]]] = P[ok]
            todo = todo[~facet[todo]]
        if dom.H_A is not None and len(todo):
            # the witness projected onto each hyperplane often lies inside all other rows
            P = w[None, :] + d[todo, None] * G[todo]
            hit = system.facet_radius(P, G[todo]) > self.rad_tol
            facet[todo[hit]] = True
            centres[todo[hit]] = P[hit]
            todo = todo[~hit]
        # an exact projection of the witness with active rows, a dual bound for redundancy,
        # a projection with a thinner margin for thin facets (margins relative to the inradius)
        for step in ("project", "dual", "thin"):
            if not len(todo):
                break
            if step == "dual":
                bound = _dual_bound(system, G[todo], c[todo])
                todo = todo[~(bound < c[todo] - 1e-12 * L)]
                continue
            if dom.H_A is None:
                continue
            share, iterations = (0.05, 15) if step == "project" else (0.002, 40)
            found = [(i, p) for i in todo
                     if (p := _relint_active_set(system, w, G[i], c[i], share * r, iterations)) is not None]
            if found:
                idx = np.array([i for i, _ in found])
                P = np.stack([p for _, p in found])
                hit = system.facet_radius(P, G[idx]) > self.rad_tol
                facet[idx[hit]] = True
                centres[idx[hit]] = P[hit]
            todo = todo[~facet[todo]]
        Gq, cq = system.scaled()
        Ap = dom.lp_A[:, :k]
        pn2 = dom.lp_pnorm ** 2
        for i in todo:
            n = G[i]
            if dom.is_box and k > 64:
                # cheaper first: the box as variable bounds, shrunk a little, no ball against it
                mu = min(0.001 * r, 0.25 * float(np.min(dom.hi - dom.lo)))
                res = self.solver.max_ball_box(Gq, cq, _sine(Gq @ n), n, (c[i] - n @ dom.ctr) / L, mu / L)
                if res is not None and res[1] * L > self.rad_tol:
                    p = dom.ctr + L * res[0]
                    p = p + (c[i] - n @ p) * n
                    if system.facet_radius(p[None, :], n[None, :])[0] > self.rad_tol:
                        facet[i] = True
                        centres[i] = p
                        continue
            res = self.solver.max_ball(
                Gq, cq, _sine(Gq @ n), _sine(_matmul(Ap, n[:, None]).reshape(-1), pn2),
                eq=(n, (c[i] - n @ dom.ctr) / L),
            )
            if res is None or res[1] * L <= self.rad_tol:
                continue
            p = dom.ctr + L * res[0]
            p = p + (c[i] - n @ p) * n
            fr = float(system.facet_radius(p[None, :], n[None, :])[0])
            if dom.H_A is None:
                fr = min(fr, res[1] * L) if dom.contains(p[None, :], 0.0)[0] else -np.inf
            if fr > self.rad_tol:
                facet[i] = True
                centres[i] = p
        sel = np.nonzero(facet)[0]
        return self._facet_arrays(system, list(G[sel]), list(c[sel]), list(u[sel]), list(centres[sel]))

    # ------------------------------------------------------------------ crossings

    def queue_crossings(self, rid, system, code, free, A, b, fu, centres, frad, arrivals=()) -> None:
        net_f = np.nonzero(fu >= 0)[0]
        if len(net_f) == 0:
            return
        # a facet we arrived through leads back to the region we came from
        back = self.arrival_match(A[net_f], b[net_f], arrivals)
        for j in np.nonzero(back >= 0)[0]:
            self.cert["network_facets"] += 1
            self.cert["to_known"] += 1
            src = arrivals[back[j]].region
            self.adjacency.add((min(src, rid), max(src, rid)))
        net_f = net_f[back < 0]
        if len(net_f) == 0:
            return
        P, Nn = centres[net_f], A[net_f]
        t_net, t_dom = system.step_limits(P, Nn)
        allow = system.tight_units(P, self.is_max)
        # units identically on a level (or with tied arguments) may leave it across any facet
        free_allow = np.where(self.is_max, -1, -code.astype(np.int64))
        allow = np.where(free[None, :] & (allow == 0), free_allow[None, :], allow)
        t_min = 8.0 * self.tight_tol
        for j in range(len(net_f)):
            self.cert["network_facets"] += 1
            if t_dom[j] <= self.tight_tol:
                self.cert["to_boundary"] += 1  # the surface runs along the domain's boundary here
                continue
            t = 0.5 * min(t_net[j], frad[net_f[j]], t_dom[j], self.dom.L)
            self.tasks.append(_Task(rid, P[j], Nn[j], max(t, t_min), t_min, allow[j]))

    def retry(self, task: _Task, factor: float) -> None:
        task.attempt += 1
        task.t *= factor
        if task.attempt >= MAX_CROSSING_ATTEMPTS or task.t < task.t_min:
            self.cert["unresolved"] += 1
        else:
            self.tasks.append(task)

    def resolve(self, task: _Task, rid: int) -> None:
        if rid == task.region:
            self.retry(task, 0.1)
        elif rid >= 0:
            self.cert["to_known"] += 1
            self.adjacency.add((min(rid, task.region), max(rid, task.region)))
        else:
            self.cert["to_degenerate"] += 1

    def verify_round(self) -> None:
        """Step across every pending facet; sort the results into known, new or retried."""
        t0 = time.perf_counter()
        tasks, self.tasks = self.tasks, []
        C = np.stack([t.centre for t in tasks])
        Nn = np.stack([t.normal for t in tasks])
        T = np.array([t.t for t in tasks])
        X = C + T[:, None] * Nn
        inside = self.dom.contains(X, 0.0)
        codes = np.zeros((len(tasks), self.N), dtype=np.int16)
        idx = np.nonzero(inside)[0]
        codes[idx] = self.patterns_at(X[idx])
        ref = np.stack([self.regions[t.region].code for t in tasks])
        allow = np.stack([t.allow for t in tasks])
        diff = codes != ref
        # a changed unit must have a surface through the facet point and take a code next to it
        cx = codes.astype(np.int64)
        near_level = (cx == allow - 1) | (cx == allow) | (cx == -allow)
        tied_arg = (np.right_shift(np.maximum(allow, 0), np.clip(cx, 0, 62)) & 1) == 1
        ok = ~diff | (allow == -1) | ((allow > 0) & np.where(self.is_max[None, :], tied_arg, near_level))
        good = inside & ok.all(1) & diff.any(1)
        self.timings["crossing"] += time.perf_counter() - t0
        for j, task in enumerate(tasks):
            if not inside[j]:
                if self.dom.H_A is None and task.t * 0.1 < task.t_min:
                    self.cert["to_boundary"] += 1  # the step leaves the domain however short
                else:
                    self.retry(task, 0.1)
                continue
            if not good[j]:
                self.retry(task, 0.1)
                continue
            key = codes[j].tobytes()
            rid = self.alias.get(key)
            if rid is not None:
                self.resolve(task, rid)
            elif key in self.seeds:
                self.seeds[key].waiting.append(task)
            else:
                self.seeds[key] = _Seed(codes[j].copy(), X[j].copy(), [task])
                self.queue.append(key)

    # ------------------------------------------------------------------ main loop

    def run(self) -> None:
        while self.queue or self.tasks:
            self.check_time()
            if self.tasks:
                self.verify_round()
            if self.queue:
                keys = [self.queue.popleft() for _ in range(min(self.wave, len(self.queue)))]
                self.process_seeds(keys)

    def result(self, complete: bool, interrupted: bool) -> RawRegions:
        """The finished regions in canonical order."""
        dom, k = self.dom, self.dom.k
        regs = self.regions
        R = len(regs)
        codes = np.stack([r.code for r in regs]) if R else np.zeros((0, self.N), dtype=np.int16)
        patterns = torch.as_tensor(codes, dtype=torch.int16)
        order = canonical_order(patterns).numpy() if R else np.zeros(0, dtype=np.int64)
        new_id = np.empty(R, dtype=np.int64)
        new_id[order] = np.arange(R)
        regs = [regs[i] for i in order]
        patterns = patterns[torch.as_tensor(order, dtype=torch.long)]
        counts = np.array([len(r.b) for r in regs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        A = np.concatenate([r.A for r in regs]) if R else np.zeros((0, k))
        b = np.concatenate([r.b for r in regs]) if R else np.zeros(0)
        fu = np.concatenate([r.unit for r in regs]) if R else np.zeros(0, dtype=np.int64)
        pairs = [(new_id[i], new_id[j]) for i, j in self.adjacency if i < R and j < R]
        pairs = sorted((min(i, j), max(i, j)) for i, j in pairs)
        adjacency = torch.as_tensor(np.array(pairs, dtype=np.int64).reshape(-1, 2))
        vertices = vertex_offsets = volumes = None
        if R and all(r.vertices is not None for r in regs):
            nv = np.array([len(r.vertices) for r in regs], dtype=np.int64)
            vertices = torch.as_tensor(np.concatenate([r.vertices for r in regs]))
            vertex_offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(nv)]))
            volumes = torch.as_tensor(np.array([r.volume for r in regs], dtype=np.float64))
        cert = dict(self.cert)
        cert["facets"] = int(len(b))
        cert["complete"] = bool(complete and cert["unresolved"] == 0)
        info = {
            "engine": "lp",
            "complete": cert["complete"],
            "interrupted": interrupted,
            "certificate": cert,
            "domain_facets": bool(dom.report_facets),
            "geometry": vertices is not None,
            "timings": {**self.timings, "total": time.perf_counter() - self.t_start},
            "num_lps": self.solver.count,
            "tolerances": {"radius": self.rad_tol, "surface": self.tight_tol},
        }
        if volumes is not None:
            info["volume_sum"] = float(volumes.sum())
        return RawRegions(
            patterns=patterns,
            witnesses=torch.as_tensor(np.stack([r.witness for r in regs]) if R else np.zeros((0, k))),
            inradii=torch.as_tensor(np.array([r.radius for r in regs], dtype=np.float64)),
            A=torch.as_tensor(A, dtype=torch.float64),
            b=torch.as_tensor(b, dtype=torch.float64),
            facet_offsets=torch.as_tensor(offsets, dtype=torch.long),
            facet_unit=torch.as_tensor(fu, dtype=torch.long),
            adjacency=adjacency.long(),
            vertices=vertices,
            vertex_offsets=vertex_offsets,
            volumes=volumes,
            info=info,
        )


# ------------------------------------------------------------------------ public


def _check_limit(value, name: str, kind):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise InvalidParameterError(
            f"The '{name}' parameter of lp_partition must be a positive {kind.__name__} or None. Got {value!r} instead."
        )
    if not value > 0 or not math.isfinite(value):
        raise InvalidParameterError(f"The '{name}' parameter of lp_partition must be positive. Got {value!r} instead.")
    return value


def lp_partition(
    net,
    domain,
    *,
    numerics: Numerics | None = None,
    max_regions: int | None = None,
    time_limit: float | None = None,
    progress: bool = False,
    start=None,
    geometry: bool | None = None,
) -> RawRegions:
    """Exact partition of a convex domain into activation regions by region-graph traversal.

    Works in any dimension (a 784-D ball around an image included): every region is a
    polytope of the domain coordinates found by linear programming, and the traversal
    crosses each of its facets to find its neighbours.

    Parameters
    ----------
    net : CPWLNetwork or torch.nn.Module
        The network (a module is traced on first use, on an input of the domain's shape).
    domain : Domain
        A convex domain of :mod:`regionlab.domains` (or any object with its contract:
        ``dim``, ``input_dim``, ``input_shape``, ``origin``, ``basis``, ``lp_form()``,
        ``halfspaces()``, ``bounding_box()``, ``chebyshev_center()``, ``contains()``).
    numerics : Numerics, optional
        Precision and tolerances (float64, ``atol=1e-10`` by default). Regions whose
        inradius is below ``max(10 atol, 1e-9)`` times the domain's half-width are
        lower-dimensional and are not counted.
    max_regions : int, optional
        Stop with :class:`~regionlab.errors.RegionLimitExceeded` when more regions exist.
    time_limit : float, optional
        Stop with :class:`~regionlab.errors.RegionLimitExceeded` after this many seconds.
    progress : bool
        Show a progress bar (``tqdm``) with the number of regions found.
    start : array-like, optional
        A point of the domain (domain coordinates, shape ``(k,)``) whose region starts the
        traversal; the domain's Chebyshev centre by default. Any start gives the same
        partition.
    geometry : bool, optional
        Compute each region's vertices and volume (default: when ``k <= 8``).

    Returns
    -------
    RawRegions
        Regions in canonical order (lexicographic by pattern) with witnesses (Chebyshev
        centres), inradii, non-redundant facets (unit-norm rows, the global unit carrying
        each, ``-1`` for the domain's own facets, reported when ``k <= 20`` and the
        domain has an H-representation), adjacency pairs, and vertices/volumes when
        computed. ``info`` holds ``engine="lp"``, ``certificate`` (facets checked, how
        many lead to known regions or out of the domain, ``complete``), ``complete``,
        ``interrupted``, ``domain_facets``, ``timings`` and ``num_lps``.

    Raises
    ------
    RegionLimitExceeded
        ``max_regions`` or ``time_limit`` was reached; the regions finished so far are in
        its ``partial`` attribute.
    ShapeError
        The domain's input dimension does not match the network's, or ``start`` has the
        wrong shape.
    DomainError
        A malformed domain, or a ``start`` point outside it.
    InvalidParameterError
        A bad ``numerics``, ``max_regions`` or ``time_limit``.

    Notes
    -----
    Ctrl-C (``KeyboardInterrupt``) returns the regions finished so far with
    ``info["complete"] = False`` and ``info["interrupted"] = True``.

    Examples
    --------
    Two ReLU units on the square ``[-1, 1]^2`` (any object with the domain contract
    works; :mod:`regionlab.domains` provides them):

    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> class Square:
    ...     dim, input_dim, input_shape = 2, 2, None
    ...     origin, basis = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    ...     def halfspaces(self):
    ...         return torch.cat([torch.eye(2), -torch.eye(2)]).double(), torch.ones(4, dtype=torch.float64)
    ...     def lp_form(self):
    ...         A, b = self.halfspaces()
    ...         return A, b, 0
    ...     def bounding_box(self):
    ...         return -torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    ...     def chebyshev_center(self):
    ...         return torch.zeros(2, dtype=torch.float64), 1.0
    ...     def contains(self, P, tol=1e-9):
    ...         return (torch.as_tensor(P).abs() <= 1 + tol).all(-1)
    >>> W = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.relu()])
    >>> raw = lp_partition(net, Square())
    >>> raw.num_regions, raw.adjacency.shape[0]
    (4, 4)
    >>> round(float(raw.volumes.sum()), 9)
    4.0
    >>> raw.facet_unit[raw.facet_offsets[0]:raw.facet_offsets[1]].tolist()
    [-1, -1, 0, 1]
    """
    numerics = numerics or DEFAULT_NUMERICS
    if not isinstance(numerics, Numerics):
        raise InvalidParameterError(
            f"The 'numerics' parameter must be a Numerics instance. Got {type(numerics).__name__} instead."
        )
    max_regions = _check_limit(max_regions, "max_regions", int)
    time_limit = _check_limit(time_limit, "time_limit", float)
    if geometry is not None and not isinstance(geometry, bool):
        raise InvalidParameterError(f"The 'geometry' parameter must be True, False or None. Got {geometry!r} instead.")
    if not isinstance(net, CPWLNetwork):
        from ._common import as_network

        shape = getattr(domain, "input_shape", None) or (int(getattr(domain, "input_dim", 0)),)
        net = as_network(net, tuple(shape))
    from ._common import network_for

    net = network_for(net, numerics)
    dom = _prepare_domain(domain, net, net.device, numerics.dtype)
    if start is None:
        centre, _ = domain.chebyshev_center()
        p0 = _to_numpy(centre, "Chebyshev centre").reshape(-1)
    else:
        try:
            p0 = np.asarray(torch.as_tensor(start, dtype=torch.float64).cpu().numpy(), dtype=np.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidParameterError(
                f"The 'start' parameter must be array-like with {dom.k} numbers. Got {type(start).__name__}."
            ) from exc
        p0 = p0.reshape(-1) if p0.size == dom.k else p0
        if p0.shape != (dom.k,):
            raise ShapeError(f"The 'start' point must have the domain's {dom.k} coordinates. Got shape {p0.shape}.")
        if not np.all(np.isfinite(p0)):
            raise NumericalError("The 'start' point contains NaN or inf.")
    if p0.shape != (dom.k,) or not dom.contains(p0[None, :], 1e-9 * max(1.0, dom.L))[0]:
        raise DomainError(
            "The 'start' point lies outside the domain; pass a point of the domain (domain coordinates)."
        )
    if geometry is None:
        geometry = dom.k <= GEOMETRY_MAX_DIM
    geometry = geometry and dom.H_A is not None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="lp_partition", unit="region")
    engine = _Engine(net, dom, numerics, geometry, max_regions, time_limit, bar)
    try:
        with exact_mode(numerics):
            engine.add_start(p0)
            try:
                engine.run()
            except _Limit as exc:
                partial = engine.result(complete=False, interrupted=False)
                raise RegionLimitExceeded(
                    f"{exc}; the {partial.num_regions} regions finished so far are in the exception's "
                    "'partial' attribute. Raise the limit, or shrink the domain.",
                    partial=partial,
                ) from None
            except KeyboardInterrupt:
                return engine.result(complete=False, interrupted=True)
            return engine.result(complete=True, interrupted=False)
    finally:
        if bar is not None:
            bar.close()
