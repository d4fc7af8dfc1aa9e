"""Convex domains on which regionlab computes exact n-D partitions.

A domain lives in ``k`` *domain coordinates* ``p``; the input point of ``p`` is
``x = origin + p @ basis`` (flattened input, ``n = input_dim`` entries). For a
full-space domain ``basis`` is the identity (``k = n``); for an *affine window* (a
box or ball in the span of ``k`` directions through a data point, e.g. a 2-D or 5-D
window around an MNIST image) ``basis`` is ``(k, n)`` with orthonormal rows.

Every domain is a bounded convex set with non-empty interior in its coordinates and
offers the same interface: an H-representation (:meth:`Domain.halfspaces`), an LP
description that works in any dimension (:meth:`Domain.lp_form`), membership,
Chebyshev centre, bounding box, vertices, volume and uniform sampling. Domains are
immutable, picklable value objects (float64, on the CPU) compared by identity.

Examples
--------
>>> import torch
>>> from regionlab.domains import Box, window, random_directions
>>> box = Box([0.0, 0.0], [2.0, 1.0])
>>> box.volume(), box.facet_count
(2.0, 4)
>>> image = torch.zeros(1, 28, 28, dtype=torch.float64)
>>> dirs = random_directions(784, 2, generator=torch.Generator().manual_seed(0))
>>> win = window(image, dirs, 0.1)                 # the square [-0.1, 0.1]^2 around the image
>>> win.dim, win.input_dim, win.input_shape
(2, 784, (1, 28, 28))
>>> win.to_input(torch.zeros(1, 2)).shape
torch.Size([1, 784])
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import DomainError, InvalidParameterError, NumericalError, ShapeError

__all__ = [
    "Domain",
    "Box",
    "LinfBall",
    "L1Ball",
    "Polytope",
    "ConvexHull",
    "Simplex",
    "window",
    "random_directions",
]

_F64 = torch.float64
# a direction whose component orthogonal to the previous ones is below this fraction of
# its own norm counts as linearly dependent on them
_RANK_TOL = 1e-10
# singular values below this fraction of the largest are noise (ConvexHull's affine hull)
_SPAN_TOL = 1e-10
# unit normals closer than this are the same halfspace direction
_DUPLICATE_TOL = 1e-10
# the cross-polytope's 2^k facets are listed up to this k
_MAX_L1_HREP_DIM = 12
# a box's 2^k vertices are listed up to this k
_MAX_BOX_VERTEX_DIM = 20
# qhull (vertex enumeration, hulls, volumes) is used up to this k
_MAX_QHULL_DIM = 10
# rejection sampling gives up after this many candidate points
_REJECTION_BUDGET = 10_000_000
# candidate batches hold at most this many numbers
_REJECTION_BATCH_NUMBERS = 1 << 22


# ----------------------------------------------------------------------------- helpers


def _as_f64(value, name: str, where: str) -> Tensor:
    """``value`` as a fresh, finite float64 CPU tensor (never aliasing the caller's)."""
    if isinstance(value, bool):
        raise InvalidParameterError(f"{where}: '{name}' must be a number or an array of numbers; got a bool.")
    try:
        t = torch.as_tensor(value, dtype=_F64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidParameterError(
            f"{where}: '{name}' must be a number or an array of numbers; got {type(value).__name__}."
        ) from exc
    t = t.detach().cpu().clone().contiguous()
    if not bool(torch.isfinite(t).all()):
        raise DomainError(f"{where}: '{name}' contains NaN or inf; give finite values.")
    return t


def _positive_radius(value, where: str) -> float:
    t = _as_f64(value, "radius", where)
    if t.numel() != 1:
        raise ShapeError(f"{where}: 'radius' must be a single positive number; got shape {tuple(t.shape)}.")
    r = float(t.reshape(()))
    if not r > 0:
        raise DomainError(f"{where}: 'radius' must be positive; got {r}.")
    return r


def _shape_of(t: Tensor) -> tuple[int, ...] | None:
    """The per-sample shape worth remembering: ``None`` for flat (1-D) data."""
    return tuple(t.shape) if t.dim() > 1 else None


def _orthonormal_rows(D: Tensor, where: str, dependent=None) -> Tensor:
    """Orthonormalise the rows of ``D`` (k, n) in order (QR, diag(R) > 0); error if dependent.

    ``dependent(i)`` gives the error message when row ``i`` lies in the span of the
    rows before it (``i = n`` when there are more rows than dimensions).
    """
    k, n = D.shape
    if dependent is None:
        def dependent(i):
            if i >= n:
                return f"{where}: {k} directions in a {n}-dimensional space are linearly dependent; give at most {n}."
            return (f"{where}: the directions are linearly dependent (direction {i} lies in the span of the "
                    "ones before it); give linearly independent directions.")
    if k > n:
        raise DomainError(dependent(n))
    norms = D.norm(dim=1)
    Q, R = torch.linalg.qr(D.T)  # reduced: Q (n, k), R (k, k)
    diag = R.diagonal()
    bad = (diag.abs() <= _RANK_TOL * norms) | (norms == 0)
    if bool(bad.any()):
        raise DomainError(dependent(int(bad.nonzero()[0])))
    signs = torch.where(diag < 0, -1.0, 1.0).to(_F64)
    return (Q * signs).T.contiguous()


def _frame(origin, directions, where: str, n: int | None = None, shape=None):
    """``(origin (n,), basis (k, n) or None for the identity, k, input_shape)``.

    Without ``directions`` the frame is the full space of dimension ``n`` (taken from
    ``origin`` when ``n`` is None); ``shape`` is the input shape seen elsewhere (e.g. in
    a box's bounds).
    """
    if directions is None:
        if origin is None:
            if n is None:
                raise ShapeError(f"{where}: cannot tell the input dimension; give 'origin' or 'directions'.")
            return torch.zeros(n, dtype=_F64), None, n, shape
        o = _as_f64(origin, "origin", where)
        if o.dim() == 0:
            raise ShapeError(f"{where}: 'origin' must be an input point (flat or in input shape), not a scalar.")
        if n is not None and o.numel() != n:
            raise ShapeError(f"{where}: 'origin' has {o.numel()} entries but the domain is {n}-dimensional.")
        return o.reshape(-1), None, o.numel(), _shape_of(o) or shape
    D = _as_f64(directions, "directions", where)
    if D.dim() == 0:
        raise ShapeError(f"{where}: 'directions' must have shape (k, n) or (k, *input_shape); got a scalar.")
    if D.dim() == 1:
        D = D.unsqueeze(0)  # one direction
    k = D.shape[0]
    D2 = D.reshape(k, -1)
    n_dir = D2.shape[1]
    if k == 0 or n_dir == 0:
        raise ShapeError(f"{where}: 'directions' must hold at least one non-empty direction; got shape {tuple(D.shape)}.")
    if origin is None:
        o = torch.zeros(n_dir, dtype=_F64)
    else:
        o = _as_f64(origin, "origin", where)
        if o.numel() != n_dir:
            raise ShapeError(
                f"{where}: 'origin' has {o.numel()} entries but each direction has {n_dir}; "
                "give them in the same input space."
            )
    input_shape = _shape_of(o) if o.dim() > 1 else (tuple(D.shape[1:]) if D.dim() > 2 else None)
    basis = _orthonormal_rows(D2, where)
    if k == n_dir and float((basis - torch.eye(k, dtype=_F64)).abs().max()) <= 1e-14:
        basis = None
    return o.reshape(-1), basis, k, input_shape


def _linprog(c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=None):
    from scipy.optimize import linprog

    def sparse_if_large(M):
        # HiGHS is far faster on a sparse matrix for large, mostly-zero constraint sets
        if M is None or M.size < 10_000:
            return M
        from scipy.sparse import csr_array

        return csr_array(M)

    return linprog(c, A_ub=sparse_if_large(A_ub), b_ub=b_ub, A_eq=sparse_if_large(A_eq), b_eq=b_eq,
                   bounds=bounds, method="highs")


def _has_full_column_rank(A: Tensor) -> bool:
    """Whether the columns of ``A`` are linearly independent (Cholesky of the Gram matrix).

    ``L_ii^2 / G_ii`` is the squared sine of the angle between column ``i`` and the span of
    the columns before it; the Gram matrix squares the rounding, so sines below ``1e-7``
    count as dependence. Cheaper than an SVD in high dimension (``m k^2 + k^3 / 3``).
    """
    G = A.T @ A
    diag = G.diagonal()
    if bool((diag <= 0).any()):
        return False
    L, info = torch.linalg.cholesky_ex(G)
    if int(info) != 0:
        return False
    return bool((L.diagonal() ** 2 / diag > 1e-14).all())


def _first_close(X: Tensor, tol: float) -> Tensor:
    """For each row, the index of the first row within distance ``tol`` (itself at worst).

    Rows are sorted by a fixed random projection (close rows have projections within
    ``tol``); only rows in the same run of close projections are compared, so the cost
    is a sort plus a few small distance matrices, not ``m^2 k``.
    """
    m, k = X.shape
    first = torch.arange(m)
    if m <= 1:
        return first
    r = torch.randn(k, dtype=_F64, generator=torch.Generator().manual_seed(0))
    h = X @ (r / r.norm())
    order = torch.argsort(h)
    gaps = h[order].diff() > tol
    run = torch.cat([torch.zeros(1, dtype=torch.long), gaps.long().cumsum(0)])
    counts = torch.bincount(run)
    starts = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)[:-1]])
    for j in (counts > 1).nonzero().flatten().tolist():
        members = order[int(starts[j]) : int(starts[j]) + int(counts[j])]
        # the matmul form of cdist loses the zero distance of equal rows: use the direct one
        d = torch.cdist(X[members], X[members], compute_mode="donot_use_mm_for_euclid_dist")
        idx = members.expand(len(members), -1)
        first[members] = torch.where(d <= tol, idx, m).min(1).values
    return first


def _dedupe_halfspaces(A: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Merge rows with the same unit normal, keeping the tightest offset."""
    if A.shape[0] <= 1:
        return A, b
    first = _first_close(A, _DUPLICATE_TOL)
    keep = torch.unique(first)
    tight = torch.full_like(b, math.inf).scatter_reduce(0, first, b, reduce="amin")
    return A[keep].contiguous(), tight[keep].contiguous()


def _lex_sorted(V: Tensor) -> Tensor:
    import numpy as np

    if V.shape[0] <= 1:
        return V
    X = V.numpy()
    # sort on values rounded far below any meaningful difference, so that rounding noise
    # in a coordinate does not decide the order
    keys = np.round(X / (1e-9 * max(1.0, float(np.abs(X).max()))))
    order = np.lexsort(keys.T[::-1])  # first column is the primary key
    return V[torch.from_numpy(order.copy())].contiguous()


def _unique_points(V: Tensor, tol: float) -> Tensor:
    """Rows of ``V`` with near-duplicates (within ``tol``) removed, lexicographically sorted."""
    if V.shape[0] > 1:
        first = _first_close(V, tol)
        V = V[first == torch.arange(V.shape[0])]
    return _lex_sorted(V)


def _polish_vertices(V: Tensor, A: Tensor, b: Tensor, tol: float) -> Tensor:
    """Re-solve each vertex from its active constraints (least squares), removing qhull's rounding."""
    k = V.shape[1]
    slack = (V @ A.T - b).abs()
    out = V.clone()
    for i in range(V.shape[0]):
        active = slack[i] <= tol
        if int(active.sum()) >= k:
            sol = torch.linalg.lstsq(A[active], b[active].unsqueeze(1)).solution.squeeze(1)
            if float((sol - V[i]).abs().max()) <= tol:  # keep only a genuine refinement
                out[i] = sol
    # coordinates at rounding level are zero (+ 0.0: no negative zeros)
    scale = max(1.0, float(out.abs().max()))
    out = torch.where(out.abs() <= 1e-13 * scale, 0.0, out) + 0.0
    return _lex_sorted(out)


def _exp_or_inf(log_value: float) -> float:
    try:
        return math.exp(log_value)
    except OverflowError:
        return math.inf


def _power_over_factorial(base: float, k: int) -> float:
    """``base**k / k!`` (the L1 ball's volume), in log space when it would overflow."""
    try:
        return base**k / math.factorial(k)
    except OverflowError:
        return _exp_or_inf(k * math.log(base) - math.lgamma(k + 1))


def _simplex_volume(corners: Tensor) -> float:
    """``|det(edges)| / k!`` of the simplex with vertices ``corners`` (k+1, k)."""
    edges = corners[1:] - corners[0]
    k = edges.shape[0]
    try:
        return abs(float(torch.linalg.det(edges))) / math.factorial(k)
    except OverflowError:
        _, logdet = torch.linalg.slogdet(edges)
        return _exp_or_inf(float(logdet) - math.lgamma(k + 1))


def _simplex_hrep(V: Tensor, where: str) -> tuple[Tensor, Tensor]:
    """Facets ``A p <= b`` (unit rows) of the simplex with vertices ``V`` (k+1, k).

    From barycentric coordinates ``lam = M (p - v0)`` with ``M = T^-1``, ``T``'s columns
    the edges ``v_i - v0``: ``lam_i >= 0`` and ``sum(lam) <= 1``.
    """
    T = (V[1:] - V[0]).T
    try:
        M = torch.linalg.inv(T)
    except RuntimeError as exc:  # torch raises a LinAlgError (a RuntimeError) when singular
        raise DomainError(f"{where}: the simplex's vertices are affinely dependent; give k + 1 independent ones.") from exc
    A = torch.cat([-M, M.sum(0, keepdim=True)])
    b = torch.cat([-(M @ V[0]), (1.0 + M.sum(0) @ V[0]).reshape(1)])
    norms = A.norm(dim=1)
    return (A / norms[:, None]).contiguous(), (b / norms).contiguous()


def _incenter(A: Tensor, b: Tensor) -> tuple[Tensor, float]:
    """Centre and radius of the ball tangent to all k + 1 facets (unit rows) of a simplex."""
    k = A.shape[1]
    sol = torch.linalg.solve(torch.cat([A, torch.ones(k + 1, 1, dtype=_F64)], 1), b)
    return sol[:k].contiguous(), float(sol[k])


def _dirichlet_combinations(corners: Tensor, n: int, generator) -> Tensor:
    """``n`` uniform points of the simplices ``corners`` (n, k+1, k) or one simplex (k+1, k)."""
    k1 = corners.shape[-2]
    E = torch.empty(n, k1, dtype=_F64).exponential_(generator=generator)
    W = E / E.sum(1, keepdim=True)  # Dirichlet(1, ..., 1): uniform barycentric weights
    if corners.dim() == 2:
        return W @ corners
    return torch.einsum("nj,njk->nk", W, corners)


def _check_generator(generator, where: str):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InvalidParameterError(
            f"{where}: 'generator' must be a torch.Generator or None; got {type(generator).__name__}."
        )


def _check_count(n, name: str, where: str, minimum: int = 0) -> int:
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)
    except TypeError:
        raise InvalidParameterError(f"{where}: '{name}' must be an integer; got {n!r}.") from None
    if n < minimum:
        raise InvalidParameterError(f"{where}: '{name}' must be at least {minimum}; got {n}.")
    return n


def _window_note(dom: Domain) -> str:
    return "" if dom.is_full_space else f", window in {dom.input_dim}-D"


# ----------------------------------------------------------------------------- base class


@dataclass(frozen=True, eq=False, init=False, repr=False)
class Domain:
    """Base class of regionlab's convex domains (build one with a subclass).

    A domain is a bounded convex set with non-empty interior in ``k`` domain
    coordinates ``p``; input points are ``x = origin + p @ basis``.

    Attributes
    ----------
    origin : Tensor ``(n,)``
        Input point of ``p = 0`` (float64, flat).
    input_shape : tuple of int or None
        Shape of one input (e.g. ``(1, 28, 28)``) when the domain was built from
        shaped arrays; ``None`` for flat inputs.

    See Also
    --------
    Box, LinfBall, L1Ball, Polytope, ConvexHull, Simplex, window

    Examples
    --------
    >>> from regionlab.domains import Box, Domain
    >>> dom = Box([-1.0, -1.0], [1.0, 1.0])
    >>> isinstance(dom, Domain), dom.dim, dom.input_dim, dom.is_full_space
    (True, 2, 2, True)
    >>> A, b = dom.halfspaces()
    >>> A.shape, b.shape
    (torch.Size([4, 2]), torch.Size([4]))
    """

    origin: Tensor
    input_shape: tuple[int, ...] | None
    _basis: Tensor | None
    _k: int
    # lazily computed, expensive derived values (LP and qhull results)
    _cache: dict

    def __init__(self, *args, **kwargs):
        raise InvalidParameterError(
            "Domain is the base class of regionlab's domains; build one with Box, LinfBall, L1Ball, "
            "Polytope, ConvexHull, Simplex or window()."
        )

    def _set_frame(self, origin: Tensor, basis: Tensor | None, k: int, input_shape) -> None:
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "_basis", basis)
        object.__setattr__(self, "_k", int(k))
        object.__setattr__(self, "input_shape", None if input_shape is None else tuple(int(s) for s in input_shape))
        object.__setattr__(self, "_cache", {})

    def _cached(self, key: str, compute):
        try:
            return self._cache[key]
        except KeyError:
            value = compute()
            self._cache[key] = value
            return value

    # ------------------------------------------------------------------ frame

    @property
    def dim(self) -> int:
        """Number ``k`` of domain coordinates.

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> Box([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]).dim
        3
        """
        return self._k

    @property
    def input_dim(self) -> int:
        """Number ``n`` of entries of a flattened input.

        Examples
        --------
        >>> import torch
        >>> from regionlab.domains import LinfBall
        >>> LinfBall(torch.zeros(1, 4, 4), 0.5).input_dim
        16
        """
        return int(self.origin.numel())

    @property
    def basis(self) -> Tensor:
        """The ``(k, n)`` float64 matrix with orthonormal rows mapping ``p`` to input offsets.

        For a full-space domain this is the identity, built on each access (check
        :attr:`is_full_space` to avoid building it in high dimension).

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> Box([0.0], [1.0], origin=[0.0, 0.0], directions=[[3.0, 4.0]]).basis
        tensor([[0.6000, 0.8000]], dtype=torch.float64)
        """
        if self._basis is None:
            return torch.eye(self._k, dtype=_F64)
        return self._basis

    @property
    def is_full_space(self) -> bool:
        """Whether ``basis`` is the identity (``p = x - origin``).

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> Box([0.0, 0.0], [1.0, 1.0]).is_full_space
        True
        >>> Box([0.0], [1.0], origin=[0.0, 0.0], directions=[[1.0, 1.0]]).is_full_space
        False
        """
        return self._basis is None

    def _as_points(self, P, name: str = "P") -> Tensor:
        """Domain points as an ``(M, k)`` float64 tensor on their own device."""
        try:
            t = torch.as_tensor(P, dtype=_F64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidParameterError(f"'{name}' must be an array of domain points; got {type(P).__name__}.") from exc
        if t.dim() == 1 and t.shape[0] == self._k:
            return t.unsqueeze(0)
        if t.dim() == 2 and t.shape[1] == self._k:
            return t
        raise ShapeError(
            f"'{name}' must have shape (M, {self._k}) or ({self._k},) (domain coordinates of a "
            f"{self._k}-D domain); got {tuple(t.shape)}."
        )

    def _as_inputs(self, X, name: str = "X") -> Tensor:
        """Input points as an ``(M, n)`` float64 tensor on their own device."""
        try:
            t = torch.as_tensor(X, dtype=_F64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidParameterError(f"'{name}' must be an array of input points; got {type(X).__name__}.") from exc
        n = self.input_dim
        shape = self.input_shape
        if t.dim() == 1 and t.shape[0] == n:
            return t.unsqueeze(0)
        if t.dim() == 2 and t.shape[1] == n:
            return t
        if shape is not None:
            if tuple(t.shape) == shape:
                return t.reshape(1, n)
            if tuple(t.shape[1:]) == shape:
                return t.reshape(t.shape[0], n)
        expected = f"(M, {n})" + ("" if shape is None else f" or (M, {', '.join(map(str, shape))})")
        raise ShapeError(f"'{name}' must have shape {expected} (input points); got {tuple(t.shape)}.")

    def to_input(self, P) -> Tensor:
        """Input points ``origin + P @ basis`` of domain points.

        Parameters
        ----------
        P : array-like ``(M, k)`` or ``(k,)``
            Domain coordinates.

        Returns
        -------
        Tensor ``(M, n)``
            Flat input points (float64, on ``P``'s device); reshape to
            ``(M, *input_shape)`` to feed an image model.

        Raises
        ------
        ShapeError
            If ``P`` does not have ``k`` columns.

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> win = Box([-1.0], [1.0], origin=[1.0, 1.0], directions=[[1.0, 0.0]])
        >>> win.to_input([[0.5]])
        tensor([[1.5000, 1.0000]], dtype=torch.float64)
        """
        P2 = self._as_points(P)
        origin = self.origin.to(P2.device)
        if self._basis is None:
            return origin + P2
        return origin + P2 @ self._basis.to(P2.device)

    def to_domain(self, X) -> Tensor:
        """Domain coordinates of input points (orthogonal projection onto the window).

        Parameters
        ----------
        X : array-like ``(M, n)``, ``(n,)``, ``(M, *input_shape)`` or ``input_shape``
            Input points.

        Returns
        -------
        Tensor ``(M, k)``
            ``(X - origin) @ basis.T``; ``to_domain(to_input(P)) == P``.

        Raises
        ------
        ShapeError
            If ``X`` is not a batch of inputs of this domain's input space.

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> win = Box([-1.0], [1.0], origin=[1.0, 1.0], directions=[[1.0, 0.0]])
        >>> win.to_domain([[3.0, 7.0]])
        tensor([[2.]], dtype=torch.float64)
        """
        X2 = self._as_inputs(X)
        centred = X2 - self.origin.to(X2.device)
        if self._basis is None:
            return centred
        return centred @ self._basis.to(X2.device).T

    # ------------------------------------------------------------------ geometry (public)

    def halfspaces(self) -> tuple[Tensor, Tensor]:
        """The H-representation ``{p : A p <= b}``.

        Returns
        -------
        A : Tensor ``(m, k)``
            Rows of unit 2-norm, no two rows with the same normal (rows may be redundant
            for a :class:`Polytope` built from redundant constraints).
        b : Tensor ``(m,)``
            Offsets: ``A p - b`` is the signed distance to each facet's plane.

        Raises
        ------
        DomainError
            For an :class:`L1Ball` with ``k > 12`` (2^k facets): use :meth:`lp_form`.

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> A, b = Box([0.0, 0.0], [2.0, 1.0]).halfspaces()
        >>> A
        tensor([[ 1.,  0.],
                [ 0.,  1.],
                [-1.,  0.],
                [ 0., -1.]], dtype=torch.float64)
        >>> b
        tensor([2., 1., 0., 0.], dtype=torch.float64)
        """
        A, b = self._halfspaces()
        return A.clone(), b.clone()

    def lp_form(self) -> tuple[Tensor, Tensor, int]:
        """An LP description over ``(p, auxiliaries)`` whose projection onto ``p`` is the domain.

        Every domain has one, in any dimension. All variables are free: pass
        ``bounds=(None, None)`` to :func:`scipy.optimize.linprog`, whose default bounds are
        ``(0, None)``.

        Returns
        -------
        A_ub : Tensor ``(m, k + a)``
        b_ub : Tensor ``(m,)``
        a : int
            Number of auxiliary variables (after the ``k`` coordinates). ``0`` except for
            :class:`L1Ball` (``a = k``: ``|p_i| <= t_i``, ``sum(t) <= r``).

        Examples
        --------
        >>> import torch
        >>> from regionlab.domains import L1Ball
        >>> A, b, a = L1Ball(torch.zeros(784), 1.0).lp_form()
        >>> A.shape, b.shape, a
        (torch.Size([1569, 1568]), torch.Size([1569]), 784)
        """
        A, b, a = self._lp_form()
        return A.clone(), b.clone(), int(a)

    def contains(self, P, tol: float = 1e-9) -> Tensor:
        """Which domain points lie in the domain, up to a distance ``tol`` outside it.

        Parameters
        ----------
        P : array-like ``(M, k)`` or ``(k,)``
            Domain coordinates.
        tol : float
            A point counts as inside if it is at most ``tol`` beyond every facet's plane
            (``A p <= b + tol`` with unit rows). Points with NaN entries are outside.

        Returns
        -------
        BoolTensor ``(M,)``

        Examples
        --------
        >>> from regionlab.domains import L1Ball
        >>> L1Ball([0.0, 0.0], 1.0).contains([[0.5, 0.5], [0.6, 0.6], [1.0, 0.0]])
        tensor([ True, False,  True])
        """
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (math.isfinite(tol) and tol >= 0):
            raise InvalidParameterError(f"'tol' must be a non-negative finite number; got {tol!r}.")
        P2 = self._as_points(P)
        return self._contains(P2, float(tol))

    def contains_input(self, X, tol: float = 1e-9) -> Tensor:
        """Which input points lie in the domain: in the window's span (within ``tol``) and inside.

        Parameters
        ----------
        X : array-like ``(M, n)``, ``(n,)`` or ``(M, *input_shape)``
            Input points.
        tol : float
            Distance tolerance, both to the window's affine span and beyond the facets.

        Returns
        -------
        BoolTensor ``(M,)``

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> win = Box([-1.0], [1.0], origin=[0.0, 0.0], directions=[[1.0, 0.0]])
        >>> win.contains_input([[0.5, 0.0], [0.5, 0.1], [2.0, 0.0]])
        tensor([ True, False, False])
        """
        X2 = self._as_inputs(X)
        P = self.to_domain(X2)
        inside = self.contains(P, tol)
        if self._basis is None:
            return inside
        off = (X2 - self.to_input(P)).norm(dim=1)
        return inside & (off <= tol)

    def chebyshev_center(self) -> tuple[Tensor, float]:
        """Centre and radius of the largest ball inside the domain (domain coordinates).

        Closed form for boxes, balls and simplices; an LP (HiGHS) otherwise.

        Returns
        -------
        center : Tensor ``(k,)``
        radius : float

        Examples
        --------
        >>> from regionlab.domains import Box
        >>> Box([0.0, 0.0], [4.0, 2.0]).chebyshev_center()
        (tensor([2., 1.], dtype=torch.float64), 1.0)
        """
        c, r = self._cached("chebyshev", self._chebyshev)
        return c.clone(), float(r)

    def bounding_box(self) -> tuple[Tensor, Tensor]:
        """The smallest axis-aligned box ``lo <= p <= hi`` containing the domain.

        Closed form where known, else ``2 k`` LPs (cached).

        Returns
        -------
        lo, hi : Tensor ``(k,)``

        Examples
        --------
        >>> from regionlab.domains import Simplex
        >>> Simplex([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]).bounding_box()
        (tensor([-0.6667, -0.3333], dtype=torch.float64), tensor([1.3333, 0.6667], dtype=torch.float64))
        """
        lo, hi = self._cached("bounding_box", self._bounding_box)
        return lo.clone(), hi.clone()

    def vertices(self) -> Tensor:
        """The vertices of the domain (domain coordinates).

        Closed form for :class:`Box` (``k <= 20``), :class:`L1Ball` (``2 k``),
        :class:`Simplex` (``k + 1``) and :class:`ConvexHull`; otherwise
        :class:`scipy.spatial.HalfspaceIntersection` (``k <= 10``): near-duplicates merged,
        each vertex re-solved from its active constraints, coordinates within ``1e-13``
        (relative to the largest) of zero set to zero, rows sorted lexicographically.

        Returns
        -------
        Tensor ``(V, k)``

        Raises
        ------
        DomainError
            If the dimension is too high to enumerate the vertices.

        Examples
        --------
        >>> from regionlab.domains import L1Ball
        >>> L1Ball([0.0, 0.0], 2.0).vertices()
        tensor([[ 2.,  0.],
                [ 0.,  2.],
                [-2.,  0.],
                [ 0., -2.]], dtype=torch.float64)
        """
        return self._cached("vertices", self._vertices).clone()

    def volume(self) -> float:
        """The ``k``-dimensional volume of the domain (in domain coordinates).

        Closed forms for boxes, balls and simplices; otherwise the volume of the convex
        hull of :meth:`vertices` (``k <= 10``).

        Examples
        --------
        >>> from regionlab.domains import L1Ball
        >>> round(L1Ball([0.0, 0.0, 0.0], 1.0).volume(), 6)  # (2 r)^k / k!
        1.333333
        """
        return float(self._cached("volume", self._volume))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` points drawn uniformly from the domain (domain coordinates).

        Closed forms for boxes, balls (exponential spacings with random signs for the
        L1 ball) and simplices (Dirichlet weights); up to ``k = 10`` a triangulation of
        the hull (cones from the vertices' mean to the facets, chosen by volume);
        rejection from the bounding box above.

        Parameters
        ----------
        n : int
            Number of points (``>= 0``).
        generator : torch.Generator, optional
            Source of randomness (the global one if ``None``).

        Returns
        -------
        Tensor ``(n, k)``

        Raises
        ------
        DomainError
            If rejection sampling accepts too few candidates (a thin high-dimensional
            polytope in its bounding box).

        Examples
        --------
        >>> import torch
        >>> from regionlab.domains import Simplex
        >>> tri = Simplex([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> pts = tri.sample(100, generator=torch.Generator().manual_seed(0))
        >>> pts.shape, bool(tri.contains(pts).all())
        (torch.Size([100, 2]), True)
        """
        where = f"{type(self).__name__}.sample"
        n = _check_count(n, "n", where)
        _check_generator(generator, where)
        if n == 0:
            return torch.zeros(0, self._k, dtype=_F64)
        return self._sample(n, generator)

    @property
    def facet_count(self) -> int:
        """Number of facets (for a :class:`Polytope`: its non-redundant constraints, by LP).

        Examples
        --------
        >>> from regionlab.domains import L1Ball
        >>> L1Ball([0.0] * 20, 1.0).facet_count
        1048576
        """
        return int(self._cached("facet_count", self._facet_count))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    # ------------------------------------------------------------------ generic implementations

    def _describe(self) -> str:
        return f"{self._k}-D{_window_note(self)}"

    def _halfspaces(self) -> tuple[Tensor, Tensor]:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def _lp_form(self) -> tuple[Tensor, Tensor, int]:
        A, b = self._halfspaces()
        return A, b, 0

    def _contains(self, P: Tensor, tol: float) -> Tensor:
        A, b = self._halfspaces()
        A, b = A.to(P.device), b.to(P.device)
        return (P @ A.T <= b + tol).all(1)

    def _facet_count(self) -> int:
        return int(self._halfspaces()[0].shape[0])

    def _chebyshev(self) -> tuple[Tensor, float]:
        import numpy as np

        A, b = self._halfspaces()
        k = self._k
        c = np.zeros(k + 1)
        c[-1] = -1.0
        A_ub = np.hstack([A.numpy(), np.ones((A.shape[0], 1))])  # unit rows: distance = b - a.p
        res = _linprog(c, A_ub, b.numpy(), bounds=[(None, None)] * k + [(0, None)])
        if res.status != 0:
            raise NumericalError(
                f"The Chebyshev-centre LP of {self!r} failed ({res.message}); the domain may be "
                "numerically degenerate."
            )
        return torch.from_numpy(res.x[:k].copy()), float(res.x[k])

    def _bounding_box(self) -> tuple[Tensor, Tensor]:
        import numpy as np

        A, b, a = self._lp_form()
        k = self._k
        A_ub, b_ub = A.numpy(), b.numpy()
        lo = torch.empty(k, dtype=_F64)
        hi = torch.empty(k, dtype=_F64)
        for j in range(k):
            for sign, out in ((1.0, lo), (-1.0, hi)):
                c = np.zeros(k + a)
                c[j] = sign
                res = _linprog(c, A_ub, b_ub, bounds=(None, None))
                if res.status != 0:
                    raise NumericalError(
                        f"The bounding-box LP of {self!r} failed ({res.message}); the domain may be "
                        "numerically degenerate or unbounded."
                    )
                out[j] = float(res.x[j])
        return lo + 0.0, hi + 0.0  # + 0.0: no negative zeros

    def _vertices(self) -> Tensor:
        import numpy as np

        k = self._k
        if k == 1:
            lo, hi = self.bounding_box()
            return torch.stack([lo, hi])
        if k > _MAX_QHULL_DIM:
            raise DomainError(
                f"Cannot enumerate the vertices of a {k}-dimensional {type(self).__name__}: vertex "
                f"enumeration is limited to k <= {_MAX_QHULL_DIM}. Use halfspaces() or lp_form() instead."
            )
        from scipy.spatial import HalfspaceIntersection, QhullError

        A, b = self._halfspaces()
        center, _ = self.chebyshev_center()
        halfspaces = np.hstack([A.numpy(), -b.numpy()[:, None]])
        try:
            X = HalfspaceIntersection(halfspaces, center.numpy()).intersections
        except QhullError as exc:
            raise DomainError(f"qhull could not enumerate the vertices of {self!r}: {exc}") from exc
        V = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
        scale = max(1.0, float(V.abs().max()))
        V = _unique_points(V, 1e-9 * scale)
        return _polish_vertices(V, A, b, 1e-8 * scale)

    def _volume(self) -> float:
        k = self._k
        if k == 1:
            lo, hi = self.bounding_box()
            return float(hi[0] - lo[0])
        if k > _MAX_QHULL_DIM:
            raise DomainError(
                f"Cannot compute the volume of a {k}-dimensional {type(self).__name__}: the generic "
                f"volume (qhull) is limited to k <= {_MAX_QHULL_DIM}."
            )
        from scipy.spatial import ConvexHull as QHull
        from scipy.spatial import QhullError

        try:
            return float(QHull(self.vertices().numpy()).volume)
        except QhullError as exc:
            raise DomainError(f"qhull could not compute the volume of {self!r}: {exc}") from exc

    def _triangulation(self) -> tuple[Tensor, Tensor]:
        """Cones ``(F, k+1, k)`` from the vertices' mean to each hull facet, and their volumes."""
        from scipy.spatial import ConvexHull as QHull
        from scipy.spatial import QhullError

        V = self.vertices()
        try:
            simplices = torch.from_numpy(QHull(V.numpy()).simplices.astype("int64"))
        except QhullError as exc:
            raise DomainError(f"qhull could not triangulate {self!r}: {exc}") from exc
        apex = V.mean(0)
        facets = V[simplices]  # (F, k, k)
        cones = torch.cat([apex.expand(facets.shape[0], 1, -1), facets], 1)
        volumes = torch.linalg.det(facets - apex).abs()
        return cones, volumes

    def _sample(self, n: int, generator) -> Tensor:
        k = self._k
        if k == 1:
            lo, hi = self.bounding_box()
            return lo + (hi - lo) * torch.rand(n, 1, dtype=_F64, generator=generator)
        if k <= _MAX_QHULL_DIM:
            cones, volumes = self._cached("triangulation", self._triangulation)
            pick = torch.multinomial(volumes, n, replacement=True, generator=generator)
            return _dirichlet_combinations(cones[pick], n, generator)
        return self._rejection_sample(n, generator)

    def _rejection_sample(self, n: int, generator) -> Tensor:
        k = self._k
        lo, hi = self.bounding_box()
        kept: list[Tensor] = []
        got = tried = accepted = 0
        max_batch = max(256, _REJECTION_BATCH_NUMBERS // k)
        while got < n:
            if tried >= _REJECTION_BUDGET:
                raise DomainError(
                    f"Rejection sampling from the bounding box of {self!r} accepted {accepted} of "
                    f"{tried} candidates (needed {n}): the domain fills too little of its bounding box. "
                    "Sample a Box, ball or Simplex inside it instead."
                )
            rate = max(accepted, 1) / max(tried, 1)
            batch = int(min(max(256, 1.2 * (n - got) / rate), max_batch))
            X = lo + (hi - lo) * torch.rand(batch, k, dtype=_F64, generator=generator)
            X = X[self._contains(X, 0.0)]
            kept.append(X)
            got += X.shape[0]
            tried += batch
            accepted += X.shape[0]
        return torch.cat(kept)[:n].contiguous()


# ----------------------------------------------------------------------------- boxes and balls


@dataclass(frozen=True, eq=False, init=False, repr=False)
class Box(Domain):
    """The axis-aligned box ``lower <= p <= upper``, in input space or in a window.

    Parameters
    ----------
    lower, upper : array-like
        Bounds (``lower < upper`` in every coordinate; a scalar broadcasts against the
        other bound). Without ``directions``: in input shape or flat (the shape is
        recorded as :attr:`input_shape`), and ``p = x - origin``. With ``directions``:
        ``k`` numbers (or scalars).
    origin : array-like, optional
        Input point of ``p = 0`` (flat or in input shape); zeros by default.
    directions : array-like ``(k, n)`` or ``(k, *input_shape)``, optional
        Window directions. They are orthonormalised in order (QR): ``p`` refers to the
        orthonormal basis (:attr:`basis`), whose first row is parallel to the first
        direction.

    Raises
    ------
    DomainError
        NaN/inf, ``lower >= upper`` somewhere, linearly dependent directions.
    ShapeError
        Bounds, origin and directions of inconsistent sizes.

    Examples
    --------
    >>> import torch
    >>> from regionlab.domains import Box
    >>> Box([0.0, 0.0], [2.0, 1.0])
    Box(2-D, lower=[0, 0], upper=[2, 1])
    >>> image = torch.zeros(1, 8, 8)
    >>> win = Box(-1.0, 1.0, origin=image, directions=torch.eye(64)[:3].reshape(3, 1, 8, 8))
    >>> win, win.input_shape, win.volume()
    (Box(3-D, lower=[-1, -1, -1], upper=[1, 1, 1], window in 64-D), (1, 8, 8), 8.0)
    """

    lower: Tensor
    upper: Tensor

    def __init__(self, lower, upper, *, origin=None, directions=None):
        where = type(self).__name__
        lo = _as_f64(lower, "lower", where)
        hi = _as_f64(upper, "upper", where)
        try:
            lo_b, hi_b = torch.broadcast_tensors(lo, hi)
        except RuntimeError as exc:
            raise ShapeError(
                f"{where}: 'lower' and 'upper' have incompatible shapes {tuple(lo.shape)} and {tuple(hi.shape)}."
            ) from exc
        if directions is None:
            if lo_b.dim() == 0:
                raise ShapeError(
                    f"{where}: without 'directions', 'lower' and 'upper' must be arrays (flat or in input "
                    "shape) that fix the input dimension; got two scalars."
                )
            o, basis, k, shape = _frame(origin, None, where, n=lo_b.numel(), shape=_shape_of(lo_b))
        else:
            o, basis, k, shape = _frame(origin, directions, where)
            if lo_b.dim() == 0:
                lo_b, hi_b = lo_b.expand(k), hi_b.expand(k)
            if lo_b.numel() != k:
                raise ShapeError(
                    f"{where}: {k} directions were given but 'lower'/'upper' have {lo_b.numel()} entries; "
                    f"give {k} (one per direction) or scalars."
                )
        lo_f = lo_b.reshape(-1).clone()
        hi_f = hi_b.reshape(-1).clone()
        empty = ~(lo_f < hi_f)
        if bool(empty.any()):
            i = int(empty.nonzero()[0])
            raise DomainError(
                f"{where}: the box is empty or flat: lower >= upper in {int(empty.sum())} coordinate(s), "
                f"first at index {i} ({float(lo_f[i])} >= {float(hi_f[i])}); need lower < upper everywhere."
            )
        self._set_frame(o, basis, k, shape)
        object.__setattr__(self, "lower", lo_f)
        object.__setattr__(self, "upper", hi_f)

    def _describe(self) -> str:
        text = f"{self._k}-D"
        if self._k <= 3:
            lo = ", ".join(f"{v:g}" for v in self.lower.tolist())
            hi = ", ".join(f"{v:g}" for v in self.upper.tolist())
            text += f", lower=[{lo}], upper=[{hi}]"
        return text + _window_note(self)

    def _halfspaces(self):
        eye = torch.eye(self._k, dtype=_F64)
        # + 0.0 turns the negated zeros into plain zeros
        return torch.cat([eye, -eye + 0.0]), torch.cat([self.upper, -self.lower + 0.0])

    def _contains(self, P, tol):
        lo, hi = self.lower.to(P.device), self.upper.to(P.device)
        return ((P >= lo - tol) & (P <= hi + tol)).all(1)

    def _facet_count(self):
        return 2 * self._k

    def _chebyshev(self):
        return (self.lower + self.upper) / 2, float((self.upper - self.lower).min()) / 2

    def _bounding_box(self):
        return self.lower.clone(), self.upper.clone()

    def _vertices(self):
        k = self._k
        if k > _MAX_BOX_VERTEX_DIM:
            raise DomainError(
                f"A {k}-dimensional box has 2^{k} vertices; they are listed up to k = {_MAX_BOX_VERTEX_DIM}. "
                "Use halfspaces(), bounding_box() or lp_form() instead."
            )
        bits = (torch.arange(2**k).unsqueeze(1) >> torch.arange(k)) & 1
        return self.lower + bits.to(_F64) * (self.upper - self.lower)

    def _volume(self):
        return math.prod((self.upper - self.lower).tolist())

    def _sample(self, n, generator):
        u = torch.rand(n, self._k, dtype=_F64, generator=generator)
        return self.lower + u * (self.upper - self.lower)


@dataclass(frozen=True, eq=False, init=False, repr=False)
class LinfBall(Box):
    """The l-infinity ball ``{x : |x - center|_inf <= radius}``, or its window.

    Full space: ``origin = center`` and ``p = x - center``, so the domain is the box
    ``[-radius, radius]^n``. With ``directions``: the box ``[-radius, radius]^k`` in the
    window through ``center`` (directions orthonormalised, see :class:`Box`). A
    :class:`Box` with ``lower = -radius`` and ``upper = radius``.

    Parameters
    ----------
    center : array-like
        Centre (flat or in input shape, e.g. an image).
    radius : float
        Positive radius.
    directions : array-like ``(k, n)`` or ``(k, *input_shape)``, optional
        Window directions.

    Examples
    --------
    >>> import torch
    >>> from regionlab.domains import LinfBall
    >>> ball = LinfBall(torch.zeros(784), 0.01)
    >>> ball, ball.dim
    (LinfBall(center: 784-D, radius=0.01), 784)
    >>> LinfBall(torch.zeros(784), 0.01, directions=torch.eye(784)[:5])
    LinfBall(center: 784-D, radius=0.01, window: 5-D)
    """

    radius: float

    def __init__(self, center, radius, *, directions=None):
        where = type(self).__name__
        r = _positive_radius(radius, where)
        o, basis, k, shape = _frame(_require(center, "center", where), directions, where)
        self._set_frame(o, basis, k, shape)
        object.__setattr__(self, "lower", torch.full((k,), -r, dtype=_F64))
        object.__setattr__(self, "upper", torch.full((k,), r, dtype=_F64))
        object.__setattr__(self, "radius", r)

    @property
    def center(self) -> Tensor:
        """The centre (flat input point), equal to :attr:`origin`.

        Examples
        --------
        >>> from regionlab.domains import LinfBall
        >>> LinfBall([1.0, 2.0], 0.5).center
        tensor([1., 2.], dtype=torch.float64)
        """
        return self.origin

    def _describe(self):
        return _ball_description(self)


def _require(value, name: str, where: str):
    if value is None:
        raise InvalidParameterError(f"{where}: '{name}' is required.")
    return value


def _ball_description(ball) -> str:
    text = f"center: {ball.input_dim}-D, radius={ball.radius:g}"
    return text if ball.is_full_space else text + f", window: {ball.dim}-D"


@dataclass(frozen=True, eq=False, init=False, repr=False)
class L1Ball(Domain):
    """The cross-polytope ``{p : |p|_1 <= radius}`` around ``center``, in full space or a window.

    Same conventions as :class:`LinfBall`: ``origin = center``. It has ``2 k`` vertices
    and ``2^k`` facets: :meth:`halfspaces` lists them up to ``k = 12``; :meth:`lp_form`
    describes it in any dimension with ``k`` auxiliaries (``|p_i| <= t_i``,
    ``sum(t) <= radius``).

    Parameters
    ----------
    center : array-like
        Centre (flat or in input shape).
    radius : float
        Positive radius.
    directions : array-like ``(k, n)`` or ``(k, *input_shape)``, optional
        Window directions (orthonormalised, see :class:`Box`).

    Examples
    --------
    >>> from regionlab.domains import L1Ball
    >>> ball = L1Ball([0.0, 0.0], 1.0)
    >>> ball, ball.volume(), ball.facet_count
    (L1Ball(center: 2-D, radius=1), 2.0, 4)
    """

    radius: float

    def __init__(self, center, radius, *, directions=None):
        where = type(self).__name__
        r = _positive_radius(radius, where)
        o, basis, k, shape = _frame(_require(center, "center", where), directions, where)
        self._set_frame(o, basis, k, shape)
        object.__setattr__(self, "radius", r)

    @property
    def center(self) -> Tensor:
        """The centre (flat input point), equal to :attr:`origin`.

        Examples
        --------
        >>> from regionlab.domains import L1Ball
        >>> L1Ball([1.0, 2.0], 0.5).center
        tensor([1., 2.], dtype=torch.float64)
        """
        return self.origin

    def _describe(self):
        return _ball_description(self)

    def _halfspaces(self):
        k = self._k
        if k > _MAX_L1_HREP_DIM:
            raise DomainError(
                f"A {k}-dimensional L1 ball has 2^{k} facets; halfspaces() lists them up to "
                f"k = {_MAX_L1_HREP_DIM}. Use lp_form(), which describes it with {k} auxiliary variables."
            )
        return self._cached("halfspaces", self._sign_facets)

    def _sign_facets(self):
        k = self._k
        bits = (torch.arange(2**k).unsqueeze(1) >> torch.arange(k)) & 1
        signs = 1.0 - 2.0 * bits.to(_F64)
        s = math.sqrt(k)
        return signs / s, torch.full((2**k,), self.radius / s, dtype=_F64)

    def _lp_form(self):
        k = self._k
        eye = torch.eye(k, dtype=_F64)
        A = torch.zeros(2 * k + 1, 2 * k, dtype=_F64)
        A[:k, :k], A[:k, k:] = eye, -eye  # p_i - t_i <= 0
        A[k : 2 * k, :k], A[k : 2 * k, k:] = -eye, -eye  # -p_i - t_i <= 0
        A[2 * k, k:] = 1.0  # sum(t) <= r
        b = torch.zeros(2 * k + 1, dtype=_F64)
        b[2 * k] = self.radius
        return A, b, k

    def _contains(self, P, tol):
        # the facet with the signs of p is the farthest: its distance is (|p|_1 - r) / sqrt(k)
        return P.abs().sum(1) - self.radius <= tol * math.sqrt(self._k)

    def _facet_count(self):
        return 2**self._k

    def _chebyshev(self):
        return torch.zeros(self._k, dtype=_F64), self.radius / math.sqrt(self._k)

    def _bounding_box(self):
        return torch.full((self._k,), -self.radius, dtype=_F64), torch.full((self._k,), self.radius, dtype=_F64)

    def _vertices(self):
        eye = self.radius * torch.eye(self._k, dtype=_F64)
        return torch.cat([eye, -eye + 0.0])

    def _volume(self):
        k = self._k
        return _power_over_factorial(2 * self.radius, k)

    def _sample(self, n, generator):
        k = self._k
        # k + 1 exponential spacings, normalised: the first k are uniform on the simplex
        # {t >= 0, sum(t) <= 1}; random signs spread them over the 2^k orthants
        E = torch.empty(n, k + 1, dtype=_F64).exponential_(generator=generator)
        t = E[:, :k] / E.sum(1, keepdim=True)
        signs = torch.randint(0, 2, (n, k), generator=generator).to(_F64) * 2 - 1
        return self.radius * signs * t


# ----------------------------------------------------------------------------- polytopes


@dataclass(frozen=True, eq=False, init=False, repr=False)
class Polytope(Domain):
    """The bounded polytope ``{p : A p <= b}`` with non-empty interior, in full space or a window.

    Rows are normalised to unit length and rows with the same normal merged (the
    tighter offset kept); zero rows with ``b >= 0`` are dropped. Emptiness,
    unboundedness and empty interior are detected with LPs at construction.

    Parameters
    ----------
    A : array-like ``(m, k)``
    b : array-like ``(m,)``
    origin : array-like, optional
        Input point of ``p = 0`` (zeros by default).
    directions : array-like ``(k, n)`` or ``(k, *input_shape)``, optional
        Window directions, orthonormalised in order (QR): ``A`` acts on the coordinates
        of the orthonormal :attr:`basis`.

    Raises
    ------
    DomainError
        Empty, unbounded or flat (no interior) polytope; NaN/inf; dependent directions.
    ShapeError
        Inconsistent sizes of ``A``, ``b``, ``origin`` and ``directions``.

    Examples
    --------
    >>> from regionlab.domains import Polytope
    >>> tri = Polytope([[-1.0, 0.0], [0.0, -1.0], [1.0, 1.0]], [0.0, 0.0, 1.0])
    >>> tri, tri.volume()
    (Polytope(2-D, 3 halfspaces), 0.5)
    >>> tri.vertices()
    tensor([[0., 0.],
            [0., 1.],
            [1., 0.]], dtype=torch.float64)
    """

    _A: Tensor
    _b: Tensor

    def __init__(self, A, b, *, origin=None, directions=None):
        where = type(self).__name__
        A_t = _as_f64(A, "A", where)
        b_t = _as_f64(b, "b", where)
        if A_t.dim() != 2 or A_t.shape[0] == 0 or A_t.shape[1] == 0:
            raise ShapeError(f"{where}: 'A' must be a non-empty (m, k) matrix; got shape {tuple(A_t.shape)}.")
        m, k = A_t.shape
        b_t = b_t.reshape(-1)
        if b_t.numel() != m:
            raise ShapeError(f"{where}: 'A' has {m} rows but 'b' has {b_t.numel()} entries; give one offset per row.")
        if directions is None:
            o, basis, k_frame, shape = _frame(origin, None, where, n=k)
        else:
            o, basis, k_frame, shape = _frame(origin, directions, where)
            if k_frame != k:
                raise ShapeError(
                    f"{where}: 'A' has {k} columns but {k_frame} directions were given; give one column per direction."
                )
        norms = A_t.norm(dim=1)
        zero = norms == 0
        if bool((zero & (b_t < 0)).any()):
            raise DomainError(f"{where}: a zero row of 'A' has a negative offset (0 <= b < 0): the polytope is empty.")
        A_t, b_t, norms = A_t[~zero], b_t[~zero], norms[~zero]
        if A_t.shape[0] == 0:
            raise DomainError(f"{where}: every row of 'A' is zero: the set is the whole space, which is unbounded.")
        A_u, b_u = _dedupe_halfspaces(A_t / norms[:, None], b_t / norms)
        center, radius = _validate_polytope(A_u, b_u, where)
        self._set_frame(o, basis, k, shape)
        object.__setattr__(self, "_A", A_u)
        object.__setattr__(self, "_b", b_u)
        self._cache["chebyshev"] = (center, radius)

    def _describe(self):
        return f"{self._k}-D, {self._A.shape[0]} halfspaces{_window_note(self)}"

    def _halfspaces(self):
        return self._A, self._b

    def _facet_count(self):
        return int(self._facet_mask().sum())

    def _facet_mask(self) -> Tensor:
        return self._cached("facet_mask", self._compute_facet_mask)

    def _compute_facet_mask(self) -> Tensor:
        import numpy as np

        A, b = self._A.numpy(), self._b.numpy()
        m = A.shape[0]
        scale = max(1.0, float(np.abs(b).max()))
        mask = torch.zeros(m, dtype=torch.bool)
        for i in range(m):
            # row i is a facet iff dropping it lets a_i.p exceed b_i; the copy of row i
            # relaxed by 1 keeps the LP bounded
            b_relaxed = b.copy()
            b_relaxed[i] += 1.0
            res = _linprog(-A[i], A, b_relaxed, bounds=(None, None))
            if res.status != 0:
                raise NumericalError(f"The redundancy LP of row {i} of {self!r} failed ({res.message}).")
            mask[i] = bool(-res.fun > b[i] + 1e-9 * scale)
        return mask

    def irredundant(self) -> Polytope:
        """The same polytope described by its facets only (redundant rows removed by LP).

        Examples
        --------
        >>> from regionlab.domains import Polytope
        >>> sq = Polytope([[1.0, 0], [-1, 0], [0, 1], [0, -1], [1, 1]], [1.0, 1, 1, 1, 5])
        >>> sq.facet_count, sq.irredundant()
        (4, Polytope(2-D, 4 halfspaces))
        """
        mask = self._facet_mask()
        origin = self.origin if self.input_shape is None else self.origin.reshape(self.input_shape)
        return Polytope(self._A[mask], self._b[mask], origin=origin, directions=self._basis)


def _validate_polytope(A: Tensor, b: Tensor, where: str) -> tuple[Tensor, float]:
    """Chebyshev centre and radius of ``{A p <= b}`` (unit rows); DomainError if empty/unbounded/flat."""
    import numpy as np

    m, k = A.shape
    An, bn = A.numpy(), b.numpy()
    c = np.zeros(k + 1)
    c[-1] = -1.0
    res = _linprog(c, np.hstack([An, np.ones((m, 1))]), bn, bounds=[(None, None)] * k + [(0, None)])
    if res.status == 2:
        raise DomainError(f"{where}: the polytope {{A p <= b}} is empty (its constraints are infeasible).")
    # bounded iff the normals positively span R^k: rank k and some y > 0 with A^T y = 0
    bounded = _has_full_column_rank(A)
    if bounded:
        spanned = _linprog(np.zeros(m), A_eq=An.T, b_eq=np.zeros(k), bounds=(1.0, None))
        bounded = spanned.status == 0
    if not bounded or res.status == 3:
        raise DomainError(
            f"{where}: the polytope {{A p <= b}} is unbounded; add constraints (e.g. a box) that bound it."
        )
    if res.status != 0:
        raise NumericalError(f"{where}: the Chebyshev-centre LP failed ({res.message}).")
    radius = max(0.0, float(res.x[k])) + 0.0
    if radius <= 1e-9 * max(1.0, float(np.abs(bn).max())):
        raise DomainError(
            f"{where}: the polytope {{A p <= b}} has no interior (it is flat or a single point; Chebyshev "
            f"radius {radius:.3g}); give constraints with a full-dimensional feasible set."
        )
    return torch.from_numpy(res.x[:k].copy()), radius


@dataclass(frozen=True, eq=False, init=False, repr=False)
class Simplex(Domain):
    """The simplex spanned by ``k + 1`` affinely independent points, in their affine hull.

    ``origin`` is the vertices' mean and ``basis`` an orthonormal basis of the span of
    the edges (the identity when ``k = n``). Facets, Chebyshev centre (incentre),
    volume and sampling are closed forms, so ``k`` may be large.

    Parameters
    ----------
    vertices : array-like ``(k + 1, n)`` or ``(k + 1, *input_shape)``

    Raises
    ------
    DomainError
        Affinely dependent vertices (including ``k > n``), fewer than two vertices, NaN/inf.

    Examples
    --------
    >>> import torch
    >>> from regionlab.domains import Simplex
    >>> images = torch.eye(3).reshape(3, 1, 3)        # three "images" of shape (1, 3)
    >>> tri = Simplex(images)
    >>> tri, tri.input_shape, round(tri.volume(), 6)   # equilateral, side sqrt(2)
    (Simplex(2-D, window in 3-D), (1, 3), 0.866025)
    """

    _corners: Tensor

    def __init__(self, vertices):
        where = type(self).__name__
        V_in = _as_f64(vertices, "vertices", where)
        if V_in.dim() < 2 or V_in.shape[0] < 2 or V_in[0].numel() == 0:
            raise ShapeError(f"{where}: 'vertices' must have shape (k + 1 >= 2, n) or (k + 1, *input_shape); got {tuple(V_in.shape)}.")
        shape = _shape_of(V_in[0])
        V = V_in.reshape(V_in.shape[0], -1)
        k, n = V.shape[0] - 1, V.shape[1]
        def dependent(i):
            return (f"{where}: the {k + 1} vertices are affinely dependent (vertex {min(i, k - 1) + 1} lies in the "
                    f"affine hull of the ones before it; at most n + 1 = {n + 1} can be independent); give "
                    "k + 1 affinely independent vertices.")

        basis = _orthonormal_rows(V[1:] - V[0], where, dependent)
        if k == n:
            basis = None
        origin = V.mean(0)
        corners = V - origin if basis is None else (V - origin) @ basis.T
        A, b = _simplex_hrep(corners, where)
        self._set_frame(origin, basis, k, shape)
        object.__setattr__(self, "_corners", corners.contiguous())
        self._cache["halfspaces"] = (A, b)

    def _halfspaces(self):
        return self._cached("halfspaces", lambda: _simplex_hrep(self._corners, type(self).__name__))

    def _facet_count(self):
        return self._k + 1

    def _chebyshev(self):
        return _incenter(*self._halfspaces())

    def _bounding_box(self):
        return self._corners.min(0).values, self._corners.max(0).values

    def _vertices(self):
        return self._corners

    def _volume(self):
        return _simplex_volume(self._corners)

    def _sample(self, n, generator):
        return _dirichlet_combinations(self._corners, n, generator)


@dataclass(frozen=True, eq=False, init=False, repr=False)
class ConvexHull(Domain):
    """The convex hull of points, in their affine hull.

    ``origin`` is the points' mean, ``basis`` an orthonormal basis of the span of their
    differences (singular vectors; directions with singular values below ``1e-10`` of
    the largest are dropped as noise), ``k`` its rank (the identity when ``k = n``).
    Affinely independent points (``M = k + 1``) give a simplex, handled in closed form
    for any ``k``; otherwise the hull comes from :class:`scipy.spatial.ConvexHull`
    (``k <= 10``). For example the hull of three images is a triangle in a 2-D window.

    Parameters
    ----------
    points : array-like ``(M, n)`` or ``(M, *input_shape)``

    Attributes
    ----------
    points : Tensor ``(M, k)``
        The given points in domain coordinates.

    Raises
    ------
    DomainError
        Fewer than two distinct points, NaN/inf, or ``k > 10`` with points that are not
        affinely independent.

    Examples
    --------
    >>> from regionlab.domains import ConvexHull
    >>> sq = ConvexHull([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
    >>> sq, sq.volume(), sq.facet_count, sq.vertices().shape
    (ConvexHull(5 points, 2-D), 1.0, 4, torch.Size([4, 2]))
    """

    points: Tensor
    _A: Tensor
    _b: Tensor
    _hull_vertices: Tensor
    _hull_volume: float
    _is_simplex: bool

    def __init__(self, points):
        where = type(self).__name__
        X = _as_f64(points, "points", where)
        if X.dim() < 2 or X.shape[0] < 2 or X[0].numel() == 0:
            raise ShapeError(f"{where}: 'points' must have shape (M >= 2, n) or (M, *input_shape); got {tuple(X.shape)}.")
        shape = _shape_of(X[0])
        X = X.reshape(X.shape[0], -1)
        M, n = X.shape
        origin = X.mean(0)
        C = X - origin
        _, S, Vh = torch.linalg.svd(C, full_matrices=False)
        if float(S[0]) <= 0:
            raise DomainError(f"{where}: all {M} points coincide; the hull is a single point.")
        k = int((S > _SPAN_TOL * S[0]).sum())
        if k == n:
            basis = None
            P = C
        else:
            basis = Vh[:k]
            # fix each singular vector's sign (largest entry positive) so the frame is reproducible
            pivot = basis.abs().argmax(1)
            basis = (basis * torch.sign(basis.gather(1, pivot[:, None]))).contiguous()
            P = C @ basis.T
        is_simplex = M == k + 1
        if is_simplex:
            A, b = _simplex_hrep(P, where)
            verts = P.clone()
            volume = _simplex_volume(P)
        elif k == 1:
            lo, hi = float(P.min()), float(P.max())
            A = torch.tensor([[1.0], [-1.0]], dtype=_F64)
            b = torch.tensor([hi, -lo], dtype=_F64)
            verts = torch.tensor([[lo], [hi]], dtype=_F64)
            volume = hi - lo
        elif k <= _MAX_QHULL_DIM:
            A, b, verts, volume = _qhull(P, where)
        else:
            raise DomainError(
                f"{where}: the {M} points span a {k}-dimensional affine hull and are not affinely "
                f"independent; hulls are computed up to k = {_MAX_QHULL_DIM} (or for k + 1 affinely "
                "independent points, a Simplex). Use fewer points, a Simplex or a Polytope."
            )
        self._set_frame(origin, basis, k, shape)
        object.__setattr__(self, "points", P.contiguous())
        object.__setattr__(self, "_A", A)
        object.__setattr__(self, "_b", b)
        object.__setattr__(self, "_hull_vertices", verts)
        object.__setattr__(self, "_hull_volume", float(volume))
        object.__setattr__(self, "_is_simplex", is_simplex)

    def _describe(self):
        return f"{self.points.shape[0]} points, {self._k}-D{_window_note(self)}"

    def _halfspaces(self):
        return self._A, self._b

    def _chebyshev(self):
        if self._is_simplex:
            return _incenter(self._A, self._b)
        return super()._chebyshev()

    def _bounding_box(self):
        return self._hull_vertices.min(0).values, self._hull_vertices.max(0).values

    def _vertices(self):
        return self._hull_vertices

    def _volume(self):
        return self._hull_volume

    def _sample(self, n, generator):
        if self._is_simplex:
            return _dirichlet_combinations(self._hull_vertices, n, generator)
        return super()._sample(n, generator)


def _qhull(P: Tensor, where: str):
    """Facets (unit rows, merged), vertices and volume of the full-dimensional hull of ``P``."""
    import numpy as np
    from scipy.spatial import ConvexHull as QHull
    from scipy.spatial import QhullError

    try:
        hull = QHull(P.numpy())
    except QhullError as exc:
        raise DomainError(f"{where}: qhull could not build the hull of the points: {exc}") from exc
    eq = torch.from_numpy(np.ascontiguousarray(hull.equations, dtype=np.float64))  # n.x + c <= 0
    A, b = _dedupe_halfspaces(eq[:, :-1].contiguous(), -eq[:, -1].contiguous())
    verts = P[torch.from_numpy(np.sort(hull.vertices).astype("int64"))].contiguous()
    return A, b, verts, float(hull.volume)


# ----------------------------------------------------------------------------- conveniences


def window(center, directions, radius, norm: str = "linf") -> Domain:
    """The box or cross-polytope of a given radius in the span of directions through a point.

    Parameters
    ----------
    center : array-like
        The point (flat or in input shape, e.g. an image).
    directions : array-like ``(k, n)`` or ``(k, *input_shape)``
        Window directions (orthonormalised in order; ``None`` for the full space).
    radius : float
        Positive radius.
    norm : {"linf", "l1"}
        ``"linf"``: the box ``[-radius, radius]^k`` (:class:`LinfBall`); ``"l1"``: the
        cross-polytope ``|p|_1 <= radius`` (:class:`L1Ball`).

    Returns
    -------
    LinfBall or L1Ball

    Raises
    ------
    InvalidParameterError
        For another ``norm``.

    Examples
    --------
    >>> import torch
    >>> from regionlab.domains import window
    >>> window(torch.zeros(10), torch.eye(10)[:2], 0.5, norm="l1")
    L1Ball(center: 10-D, radius=0.5, window: 2-D)
    """
    if norm == "linf":
        return LinfBall(center, radius, directions=directions)
    if norm == "l1":
        return L1Ball(center, radius, directions=directions)
    raise InvalidParameterError(f"window: 'norm' must be 'linf' or 'l1'; got {norm!r}.")


def random_directions(input_dim: int, k: int, generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float64) -> Tensor:
    """``k`` orthonormal random directions in ``input_dim`` dimensions (uniform on the Stiefel manifold).

    QR of a Gaussian ``(input_dim, k)`` matrix with the signs fixed so that ``R`` has a
    positive diagonal (which makes the distribution uniform).

    Parameters
    ----------
    input_dim : int
        Dimension ``n`` of the space.
    k : int
        Number of directions, ``1 <= k <= input_dim``.
    generator : torch.Generator, optional
        Source of randomness.
    dtype : torch.dtype
        ``torch.float64`` (default) or ``torch.float32``.

    Returns
    -------
    Tensor ``(k, input_dim)``
        Orthonormal rows.

    Examples
    --------
    >>> import torch
    >>> from regionlab.domains import random_directions
    >>> D = random_directions(784, 3, generator=torch.Generator().manual_seed(0))
    >>> D.shape, torch.allclose(D @ D.T, torch.eye(3, dtype=torch.float64))
    (torch.Size([3, 784]), True)
    """
    where = "random_directions"
    n = _check_count(input_dim, "input_dim", where, minimum=1)
    k = _check_count(k, "k", where, minimum=1)
    if k > n:
        raise InvalidParameterError(f"{where}: cannot draw {k} orthonormal directions in {n} dimensions; need k <= input_dim.")
    _check_generator(generator, where)
    if dtype not in (torch.float64, torch.float32):
        raise InvalidParameterError(f"{where}: 'dtype' must be torch.float64 or torch.float32; got {dtype!r}.")
    G = torch.randn(n, k, dtype=_F64, generator=generator)
    Q, R = torch.linalg.qr(G)
    signs = torch.where(R.diagonal() < 0, -1.0, 1.0).to(_F64)
    return (Q * signs).T.contiguous().to(dtype)
