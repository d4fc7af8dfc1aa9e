"""regionlab's own bounds for general CPWL activations and maxout units.

The reference has no confirmed formula from Goujon, Etemadi and Unser for networks
with general piecewise-linear activations, so regionlab states and proves its own
(derivation: ``docs/cpwl_bounds.md``; constructions: :mod:`regionlab.bounds.constructions`):

* :func:`cpwl_upper` -- ``prod_l P(n_l, K, d_l)`` for univariate CPWL activations with
  ``K`` breakpoints, ``P(n, K, d) = sum_{j<=d} C(n, j) K^j``;
* :func:`cpwl_lower` -- a folding construction that attains
  ``prod_{l<L} prod_c (q_{l,c} K + 1) * P(n_L, K, n0)`` regions in the unit cube;
* :func:`maxout_upper` -- ``prod_l P(n_l, k - 1, d_l)`` for rank-``k`` maxout units;
* :func:`maxout_lower` -- the same folding with sums of convex (maxout) units.

Every count is an exact Python ``int``.

Examples
--------
>>> from regionlab.bounds._general import cpwl_upper, cpwl_lower
>>> cpwl_upper(2, [8, 8, 8], breakpoints=2)
2146689
>>> cpwl_lower(1, [5] * 3, breakpoints=2) == cpwl_upper(1, [5] * 3, breakpoints=2)
True
"""

from __future__ import annotations

import math

from ..errors import BoundNotApplicableError, InvalidParameterError
from ._common import Architecture, _int, as_architecture, cpwl_one_layer, dimension_caps

__all__ = [
    "cpwl_upper",
    "cpwl_lower",
    "maxout_upper",
    "maxout_lower",
    "fold_split",
    "maxout_fold_pieces",
]


# ----------------------------------------------------------------------------- helpers


def _positive_int(value, name: str, minimum: int = 1) -> int:
    return _int(value, name, minimum=minimum)


def _cpwl_arch(arch, widths, breakpoints) -> tuple[Architecture, int]:
    """The architecture and K for the univariate CPWL bounds."""
    a = as_architecture(arch, widths)
    if breakpoints is None:
        if a.activation == "maxout":
            raise BoundNotApplicableError(
                f"The architecture ({a}) has maxout units, which are not univariate CPWL activations; "
                "use maxout_upper / maxout_lower (or pass breakpoints=K to treat the layers as univariate)."
            )
        if a.breakpoints is None:  # pragma: no cover - Architecture normalises this
            raise InvalidParameterError("Pass breakpoints=K, the number of breakpoints of each activation.")
        return a, int(a.breakpoints)
    return a, _positive_int(breakpoints, "breakpoints")


def _maxout_arch(arch, widths, rank) -> tuple[Architecture, int]:
    """The architecture and k for the maxout bounds."""
    a = as_architecture(arch, widths)
    if rank is None:
        if a.activation != "maxout" or a.max_rank is None:
            raise InvalidParameterError(
                f"Pass rank=k (the number of affine pieces of each maxout unit); the architecture ({a}) "
                "does not say it."
            )
        return a, int(a.max_rank)
    return a, _positive_int(rank, "rank")


def maxout_fold_pieces(units: int, rank: int) -> int:
    """z(m, k): pieces of the longest zig-zag on [0, 1] built from ``m`` rank-``k`` maxout units.

    The zig-zag is ``sum_j eps_j phi_j`` with convex ``phi_j`` (each with ``k - 1``
    breakpoints) and signs ``eps_j = +-1``: a breakpoint of a ``+`` unit is a convex
    turn, of a ``-`` unit a concave one, and the turns of a zig-zag alternate. With
    ``m`` even, half the units are convex and half concave: all ``m (k - 1)`` breakpoints
    alternate, ``m (k - 1) + 1`` pieces. With ``m`` odd one sign has ``k - 1`` more
    breakpoints than the other and at most one of them can be used:
    ``(m - 1)(k - 1) + 2`` pieces. ``k = 1`` (affine units) gives 1.

    Parameters
    ----------
    units : int
        m >= 0.
    rank : int
        k >= 1.

    Returns
    -------
    int

    Examples
    --------
    >>> [maxout_fold_pieces(m, 3) for m in range(5)]
    [1, 2, 5, 6, 9]
    >>> maxout_fold_pieces(3, 2)  # k = 2: every unit adds one turn
    4
    """
    m = _positive_int(units, "units", 0)
    k = _positive_int(rank, "rank")
    if m == 0 or k == 1:
        return 1
    if m % 2 == 0:
        return m * (k - 1) + 1
    return (m - 1) * (k - 1) + 2


def fold_split(width: int, input_dim: int, *, breakpoints: int | None = None, rank: int | None = None):
    """How the folding constructions share one layer's units among the input coordinates.

    Coordinate ``c`` gets ``q_c >= 1`` units (``sum_c q_c = width``) that fold it into
    ``f(q_c)`` pieces, with ``f(q) = q K + 1`` for univariate activations with ``K``
    breakpoints and ``f(q) = z(q, k)`` (:func:`maxout_fold_pieces`) for rank-``k``
    maxout units. The split maximises ``prod_c f(q_c)``: balanced for univariate units
    (``f`` is affine), and for maxout the best number of odd shares with the pairs of
    units water-filled (proof in ``docs/cpwl_bounds.md``).

    Parameters
    ----------
    width : int
        Units of the layer, ``>= input_dim``.
    input_dim : int
        n0 >= 1.
    breakpoints, rank : int
        Exactly one of them: K (univariate) or k (maxout).

    Returns
    -------
    tuple of int
        ``q_1 >= q_2 >= ... >= q_{n0}``, summing to ``width``.

    Raises
    ------
    BoundNotApplicableError
        If ``width < input_dim`` (every coordinate needs a unit to carry it).
    InvalidParameterError
        For bad numbers, or unless exactly one of ``breakpoints`` / ``rank`` is given.

    Examples
    --------
    >>> fold_split(7, 2, breakpoints=1)
    (4, 3)
    >>> fold_split(7, 2, rank=3)  # an odd share is worth only one extra piece
    (4, 3)
    >>> fold_split(8, 3, rank=3), math.prod(maxout_fold_pieces(q, 3) for q in (4, 2, 2))
    ((4, 2, 2), 225)
    """
    n = _positive_int(width, "width")
    n0 = _positive_int(input_dim, "input_dim")
    if (breakpoints is None) == (rank is None):
        raise InvalidParameterError("fold_split needs exactly one of breakpoints=K or rank=k.")
    if n < n0:
        raise BoundNotApplicableError(
            f"A folding layer needs at least one unit per input coordinate: width {n} < input_dim {n0}."
        )
    if breakpoints is not None:
        _positive_int(breakpoints, "breakpoints")
        q, r = divmod(n, n0)
        return tuple([q + 1] * r + [q] * (n0 - r))
    k = _positive_int(rank, "rank")
    if k <= 2:  # z(q, k) = q (k - 1) + 1 is affine in q: balanced
        q, r = divmod(n, n0)
        return tuple([q + 1] * r + [q] * (n0 - r))
    best, best_split = -1, None
    for odd in range(n0 + 1):
        even = n0 - odd
        spare = n - odd - 2 * even
        if spare < 0:
            continue
        pairs = spare // 2
        rounds, extra = divmod(pairs, n0)
        # water-filling: a pair adds 2 (k - 1) pieces to a share; per round the odd
        # shares (value 2 + 2(k-1)a) come before the even ones (2k - 1 + 2(k-1)a)
        odd_extra = min(extra, odd)
        even_extra = extra - odd_extra
        shares = (
            [1 + 2 * (rounds + 1)] * odd_extra
            + [1 + 2 * rounds] * (odd - odd_extra)
            + [2 + 2 * (rounds + 1)] * even_extra
            + [2 + 2 * rounds] * (even - even_extra)
        )
        if spare % 2:
            # the unit left over never lowers the value (z is non-decreasing): give it to
            # an odd share (+2k-3 pieces) if there is one, else to an even share (+1)
            at = next((i for i, s in enumerate(shares) if s % 2), 0)
            shares[at] += 1
        value = math.prod(maxout_fold_pieces(s, k) for s in shares)
        if value > best:
            best, best_split = value, tuple(sorted(shares, reverse=True))
    return best_split


# ------------------------------------------------------------------------------ bounds


def cpwl_upper(arch, widths=None, *, breakpoints: int | None = None) -> int:
    """Upper bound ``prod_l P(n_l, K, d_l)`` for univariate CPWL activations with K breakpoints.

    Valid for every network whose hidden layers are fully connected and whose units
    apply any continuous piecewise-linear function of one variable with at most ``K``
    breakpoints (slopes arbitrary, different from unit to unit): ReLU, leaky ReLU and
    PReLU (K = 1), hardtanh and ReLU6 (K = 2), linear splines. ``P(n, K, d) = sum_{j<=d}
    C(n, j) K^j`` (:func:`regionlab.bounds._common.cpwl_one_layer`) counts the regions
    of ``n`` families of ``K`` parallel hyperplanes in general position in ``R^d``;
    ``d_l = min(n0, n_1, ..., n_{l-1})`` caps the rank of layer ``l``'s pre-activations
    on a region of the earlier layers. For ``n0 = 1`` it is ``prod_l (1 + n_l K)``, attained
    by :func:`regionlab.bounds.constructions.sawtooth_network`. Proof:
    ``docs/cpwl_bounds.md``.

    Parameters
    ----------
    arch : Architecture or int
        An architecture, or n0 (weight ranks are not used).
    widths : sequence of int, optional
        Hidden widths n_1, ..., n_L (only with an int ``arch``).
    breakpoints : int, optional
        K >= 1; by default the architecture's (1 for ReLU-like layers).

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        For a maxout architecture without ``breakpoints`` (use :func:`maxout_upper`).
    InvalidParameterError
        For bad numbers.

    Examples
    --------
    >>> cpwl_upper(2, [8], breakpoints=3)
    277
    >>> cpwl_upper(1, [5] * 10, breakpoints=2)  # (1 + 5 * 2) ** 10
    25937424601
    >>> cpwl_upper(2, [8, 8, 8], breakpoints=1)  # Montufar 2017
    50653
    """
    a, K = _cpwl_arch(arch, widths, breakpoints)
    return math.prod(cpwl_one_layer(n, K, d) for n, d in zip(a.widths, dimension_caps(a), strict=True))


def maxout_upper(arch, widths=None, *, rank: int | None = None) -> int:
    """Upper bound ``prod_l P(n_l, k - 1, d_l)`` for maxout units of rank k.

    One layer: Montufar, Ren and Zhang's sharp count ``sum_{j<=n0} e_j(k - 1, ..., k - 1)
    = P(n, k - 1, n0)`` (checked here with the exact engines: constructed layers reach
    it, random ones never exceed it). Deep: the same dimension-cap argument as
    :func:`cpwl_upper`. ``k = 2`` gives Montufar 2017's product.

    Parameters
    ----------
    arch : Architecture or int
        An architecture, or n0 (weight ranks are not used).
    widths : sequence of int, optional
        Hidden widths (only with an int ``arch``).
    rank : int, optional
        k >= 1, pieces per maxout unit; by default the architecture's.

    Returns
    -------
    int

    Raises
    ------
    InvalidParameterError
        For bad numbers, or when ``rank`` is missing and the architecture is not maxout.

    Examples
    --------
    >>> [maxout_upper(2, [8, 8, 8], rank=k) for k in (2, 3, 4)]
    [50653, 2146689, 21253933]
    >>> maxout_upper(2, [8], rank=3)
    129
    """
    a, k = _maxout_arch(arch, widths, rank)
    return math.prod(cpwl_one_layer(n, k - 1, d) for n, d in zip(a.widths, dimension_caps(a), strict=True))


def _fold_condition(a: Architecture, what: str) -> None:
    n0 = a.input_dim
    for layer, n in enumerate(a.widths[:-1], start=1):
        if n < n0:
            raise BoundNotApplicableError(
                f"{what} folds every input coordinate in each layer before the last, so it needs "
                f"n_l >= n0 = {n0} for l < L; layer {layer} has width {n}."
            )


def cpwl_lower(arch, widths=None, *, breakpoints: int | None = None) -> int:
    """Constructive lower bound on the maximal number of regions, univariate CPWL activations.

    The folding network of :func:`regionlab.bounds.constructions.folding_network` has
    exactly

        ``prod_{l<L} prod_{c=1}^{n0} (q_{l,c} K + 1) * P(n_L, K, n0)``

    regions in the unit cube, where the ``q_{l,c}`` share ``n_l`` units as evenly as
    possible among the ``n0`` coordinates (:func:`fold_split`). With ``n_l`` divisible
    by ``n0`` the factor is ``(n_l K / n0 + 1)^{n0}``; otherwise it is larger than
    ``(floor(n_l / n0) K + 1)^{n0}``. For ``n0 = 1`` it equals :func:`cpwl_upper`,
    ``prod_l (n_l K + 1)`` (tight).

    Scope: the maximum over networks in which every unit may carry its own CPWL
    function with ``K`` breakpoints (the class :func:`cpwl_upper` bounds; e.g. PReLU
    with per-unit slopes, or per-unit splines). The construction chooses these
    functions (one unit of each fold carries a linear term, e.g. ``|x|`` for ``K = 1``),
    so it is *not* a lower bound for one fixed activation such as ReLU: for ``n0 = 2``
    and widths ``[3, 3]`` it gives 42, above Serra et al.'s ReLU upper bound 40.

    Parameters
    ----------
    arch : Architecture or int
        An architecture, or n0 (weight ranks are ignored: the bound is about the
        architecture's best weights).
    widths : sequence of int, optional
        Hidden widths (only with an int ``arch``).
    breakpoints : int, optional
        K >= 1; by default the architecture's.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If ``n0 >= 2`` and some layer before the last has fewer than ``n0`` units, or
        for a maxout architecture without ``breakpoints``.

    Examples
    --------
    >>> cpwl_lower(2, [4, 4, 8], breakpoints=1)  # 3^2 * 3^2 * Z(8, 2)
    2997
    >>> cpwl_lower(1, [3, 3], breakpoints=2)
    49
    """
    a, K = _cpwl_arch(arch, widths, breakpoints)
    _fold_condition(a, "cpwl_lower")
    n0 = a.input_dim
    total = cpwl_one_layer(a.widths[-1], K, n0)
    for n in a.widths[:-1]:
        total *= math.prod(q * K + 1 for q in fold_split(n, n0, breakpoints=K))
    return total


def maxout_lower(arch, widths=None, *, rank: int | None = None) -> int:
    """Constructive lower bound on the maximal number of regions of maxout networks of rank k.

    The networks of :func:`regionlab.bounds.constructions.maxout_folding_network`
    (``n0 >= 2``) and :func:`~regionlab.bounds.constructions.maxout_sawtooth_network`
    (``n0 = 1``) attain it exactly in the unit cube. For ``n0 >= 2``:

        ``prod_{l<L} prod_c z(q_{l,c}, k) * P(n_L, k - 1, n0)``

    with ``z`` from :func:`maxout_fold_pieces` and the shares ``q_{l,c}`` from
    :func:`fold_split`. For ``n0 = 1`` the breakpoints that an odd width cannot use for
    turns still split one region each: ``R_L = 1 + n_L (k - 1)``,
    ``R_l = z(n_l, k) R_{l+1} + (n_l (k - 1) + 1 - z(n_l, k))``, and the bound is
    ``R_1`` (equal to :func:`maxout_upper` when every ``n_l``, ``l < L``, is even or
    ``k = 2``).

    Parameters
    ----------
    arch : Architecture or int
        An architecture, or n0.
    widths : sequence of int, optional
        Hidden widths (only with an int ``arch``).
    rank : int, optional
        k >= 1; by default the architecture's.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If ``n0 >= 2`` and some layer before the last has fewer than ``n0`` units.

    Examples
    --------
    >>> maxout_lower(2, [8, 8, 8], rank=3)  # (z(4, 3) ** 2) ** 2 * P(8, 2, 2) = 81 * 81 * 129
    846369
    >>> maxout_lower(1, [1, 1], rank=3)  # z(1, 3) * 3 + 1
    7
    >>> maxout_lower(1, [2, 3], rank=4) == maxout_upper(1, [2, 3], rank=4)
    True
    """
    a, k = _maxout_arch(arch, widths, rank)
    _fold_condition(a, "maxout_lower")
    n0 = a.input_dim
    if n0 == 1:
        total = cpwl_one_layer(a.widths[-1], k - 1, 1)
        for n in reversed(a.widths[:-1]):
            z = maxout_fold_pieces(n, k)
            total = z * total + (n * (k - 1) + 1 - z)
        return total
    total = cpwl_one_layer(a.widths[-1], k - 1, n0)
    for n in a.widths[:-1]:
        total *= math.prod(maxout_fold_pieces(q, k) for q in fold_split(n, n0, rank=k))
    return total
