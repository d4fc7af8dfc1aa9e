"""Closed-form bounds on the maximal number of linear regions of deep ReLU networks.

Sources and provenance are in ``/work/shared/reference/bounds.md`` sections 2 and 3.
Every value is an exact Python ``int``.

Examples
--------
>>> from regionlab.bounds._relu import serra_upper, montufar2017_upper
>>> serra_upper(2, [3, 3]), montufar2017_upper(2, [3, 3])
(40, 49)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ..errors import BoundNotApplicableError, InvalidParameterError
from ._common import Architecture, _int, as_architecture, dimension_caps, zaslavsky

__all__ = [
    "montufar2014_lower",
    "serra_lower",
    "serra_exact_1d",
    "serra_size_lower",
    "raghu_upper",
    "montufar2017_upper",
    "serra_upper",
    "serra_upper_enumerated",
    "hinz_upper",
    "serra_gamma",
    "trivial_upper",
]

#: largest number of index tuples :func:`serra_upper_enumerated` walks
ENUMERATION_LIMIT = 2_000_000


def _require(arch: Architecture, allowed: tuple[str, ...], name: str, hint: str) -> None:
    if arch.activation not in allowed:
        raise BoundNotApplicableError(
            f"{name} assumes {' or '.join(allowed)} units, but the architecture has {arch.activation} units. {hint}"
        )


_RELU_ONLY = (
    "For leaky ReLU use montufar2017_upper; for K-breakpoint activations cpwl_upper/cpwl_lower; "
    "for maxout maxout_serra_upper/maxout_upper."
)


def montufar2014_lower(arch, widths=None) -> int:
    """Montufar, Pascanu, Cho, Bengio (NeurIPS 2014): lower bound on the maximum.

    ``prod_{l<L} floor(n_l / n0)^{n0} * Z(n_L, n0)``: some ReLU network of this
    architecture has at least this many regions (the "folding" construction).

    Assumptions: ReLU units; every hidden width n_l >= n0.

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If a width is below n0 (the message names the layer) or the units are not ReLU.

    Examples
    --------
    >>> montufar2014_lower(2, [8, 8, 8])
    9472
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu",), "montufar2014_lower", _RELU_ONLY)
    n0 = a.input_dim
    for i, n in enumerate(a.widths):
        if n < n0:
            raise BoundNotApplicableError(
                f"montufar2014_lower needs every width n_l >= n0 = {n0}, but layer {i + 1} has width {n}."
            )
    value = zaslavsky(a.widths[-1], n0)
    for n in a.widths[:-1]:
        value *= (n // n0) ** n0
    return value


def serra_lower(arch, widths=None) -> int:
    """Serra, Tjandraatmadja, Ramalingam (ICML 2018), Theorem 6: lower bound on the maximum.

    ``prod_{l<L} (floor(n_l / n0) + 1)^{n0} * Z(n_L, n0)``.

    Assumptions: ReLU units; every hidden width n_l >= 3 n0.

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If a width is below 3 n0 (the message names the layer) or the units are not ReLU.

    Examples
    --------
    >>> serra_lower(2, [8, 8, 8]), serra_lower(2, [6, 6, 6])
    (23125, 5632)
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu",), "serra_lower", _RELU_ONLY)
    n0 = a.input_dim
    for i, n in enumerate(a.widths):
        if n < 3 * n0:
            raise BoundNotApplicableError(
                f"serra_lower (Serra 2018 Thm 6) needs every width n_l >= 3*n0 = {3 * n0}, "
                f"but layer {i + 1} has width {n}."
            )
    value = zaslavsky(a.widths[-1], n0)
    for n in a.widths[:-1]:
        value *= (n // n0 + 1) ** n0
    return value


def serra_exact_1d(arch, widths=None) -> int:
    """Serra, Tjandraatmadja, Ramalingam (ICML 2018), Theorem 5: the exact maximum in 1-D.

    ``prod_l (n_l + 1)``: with one input and every width at least 3, this is the
    maximal number of regions over all ReLU networks of the architecture.

    Assumptions: ReLU units; n0 = 1; every width n_l >= 3.

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If n0 != 1, a width is below 3, or the units are not ReLU.

    Examples
    --------
    >>> serra_exact_1d(1, [3, 3, 3])
    64
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu",), "serra_exact_1d", _RELU_ONLY)
    if a.input_dim != 1:
        raise BoundNotApplicableError(
            f"serra_exact_1d (Serra 2018 Thm 5) needs one input (n0 = 1); got n0 = {a.input_dim}."
        )
    for i, n in enumerate(a.widths):
        if n < 3:
            raise BoundNotApplicableError(
                f"serra_exact_1d (Serra 2018 Thm 5) needs every width n_l >= 3, but layer {i + 1} has width {n}."
            )
    return math.prod(n + 1 for n in a.widths)


def serra_size_lower(input_dim: int, m: int, w: int, depth: int) -> int:
    """Serra, Tjandraatmadja, Ramalingam (ICML 2018), Theorem 7: size-based lower bound.

    For any m >= 1 and w >= 2 there is a ReLU network with ``input_dim`` inputs and
    ``depth`` hidden layers of total size 2m + w (depth - 1) (a first layer of 2m units,
    then layers of w units) with ``2 * sum_{j=0}^{n0-1} C(m-1, j) * (w+1)^(depth-1)``
    regions. It improves Arora et al. (2016). bounds.md gives only the total size; the
    layout (2m units in the first layer, w in each later one) is our reading of the
    Arora et al. construction it builds on, and :func:`all_bounds` applies the bound only
    to such widths.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    m : int
        m >= 1 (the first layer has 2m units).
    w : int
        w >= 2, the width of the later layers.
    depth : int
        L >= 1, the number of hidden layers.

    Returns
    -------
    int

    Raises
    ------
    InvalidParameterError
        If a parameter is out of range.

    Examples
    --------
    >>> serra_size_lower(2, 4, 4, 3)
    200
    """
    n0 = _int(input_dim, "input_dim", minimum=1)
    m = _int(m, "m", minimum=1)
    w = _int(w, "w", minimum=2)
    depth = _int(depth, "depth", minimum=1)
    return 2 * sum(math.comb(m - 1, j) for j in range(n0)) * (w + 1) ** (depth - 1)


def raghu_upper(arch, widths=None) -> int:
    """Raghu et al. (ICML 2017), product form: ``prod_l Z(n_l, n0)``.

    Each layer's n_l hyperplanes cut every region of the input space into at most
    Z(n_l, n0) pieces. Raghu et al. state the asymptotic O(n^{L n0}); the product is its
    natural non-asymptotic version.

    Assumptions: units with one breakpoint (ReLU or leaky ReLU).

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If the units have more than one breakpoint or are maxout units.

    Examples
    --------
    >>> raghu_upper(3, [4, 4, 4])
    3375
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu", "leaky_relu"), "raghu_upper", "Use cpwl_upper or the maxout bounds instead.")
    return math.prod(zaslavsky(n, a.input_dim) for n in a.widths)


def montufar2017_upper(arch, widths=None) -> int:
    """Montufar (SampTA 2017): ``prod_l Z(n_l, d_l)``, d_l = min(n0, n_1, ..., n_{l-1}).

    After layer l every region's image lies in an affine space of dimension at most
    min(n0, n_1, ..., n_l), which caps what the next layer can cut.

    Assumptions: units with one breakpoint (ReLU or leaky ReLU).

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If the units have more than one breakpoint or are maxout units.

    Examples
    --------
    >>> montufar2017_upper(2, [2, 4, 8])
    1628
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu", "leaky_relu"), "montufar2017_upper", "Use cpwl_upper or the maxout bounds instead.")
    return math.prod(zaslavsky(n, d) for n, d in zip(a.widths, dimension_caps(a), strict=True))


def _ranks(a: Architecture, ranks) -> tuple[int, ...]:
    """Effective rank caps: explicit ``ranks``, else the architecture's, else the widths."""
    if ranks is None:
        ranks = a.ranks
    if ranks is None:
        return a.widths
    if isinstance(ranks, (str, bytes)) or not isinstance(ranks, Sequence):
        raise InvalidParameterError(f"ranks must be a sequence with one entry per hidden layer; got {ranks!r}.")
    if len(ranks) != a.depth:
        raise InvalidParameterError(f"ranks needs one entry per hidden layer ({a.depth}); got {len(ranks)}.")
    out = []
    for i, (r, n) in enumerate(zip(ranks, a.widths, strict=True)):
        if r is None:
            out.append(n)
            continue
        r = _int(r, f"ranks[{i}]")
        if r > n:
            raise InvalidParameterError(f"ranks[{i}] = {r} exceeds the width {n} of layer {i + 1}.")
        out.append(r)
    return tuple(out)


def serra_upper(arch, widths=None, *, ranks=None) -> int:
    """Serra, Tjandraatmadja, Ramalingam (ICML 2018), Theorem 1: upper bound on the maximum.

    ``sum_{j in J} prod_l C(n_l, j_l)`` with
    ``J = {j : 0 <= j_l <= min(n0, n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l)}``, evaluated
    by the O(L n0^2) recurrence ``R(L+1, d) = 1``,
    ``R(l, d) = sum_{j=0}^{min(d, r_l)} C(n_l, j) R(l+1, min(d, n_l - j))``, bound
    ``R(1, n0)``, where r_l = n_l, or rank(W_l) when known (rank refinement). It is
    tight for one layer (= Z(n_1, n0)) and never above :func:`montufar2017_upper`.

    Assumptions: ReLU units (inactive units collapse dimension; for leaky ReLU use
    :func:`montufar2017_upper`).

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.
    ranks : sequence of (int or None), optional
        rank(W_l) of each hidden layer's weight matrix; defaults to the architecture's
        ``ranks`` (read from a model by :func:`architecture`), else the widths.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If the units are not ReLU.
    InvalidParameterError
        If ``ranks`` has the wrong length or an entry above its layer's width.

    Examples
    --------
    >>> serra_upper(2, [3, 3])
    40
    >>> serra_upper(2, [3, 3], ranks=[2, 1])  # rank(W_2) = 1 caps the second layer
    28
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu",), "serra_upper", _RELU_ONLY)
    caps = _ranks(a, ranks)
    n0 = a.input_dim
    # R[d] for d = 0..n0 at layer l + 1, filled from the last layer backwards
    nxt = [1] * (n0 + 1)
    for n, r in zip(reversed(a.widths), reversed(caps), strict=True):
        cur = [0] * (n0 + 1)
        for d in range(n0 + 1):
            cur[d] = sum(math.comb(n, j) * nxt[min(d, n - j)] for j in range(min(d, r) + 1))
        nxt = cur
    return nxt[n0]


def serra_upper_enumerated(arch, widths=None, *, ranks=None) -> int:
    """Serra 2018 Theorem 1 by enumerating the index set J (a slow, independent oracle).

    Walks every tuple (j_1, ..., j_L) with
    ``0 <= j_l <= min(n0, n_1 - j_1, ..., n_{l-1} - j_{l-1}, r_l)`` and sums
    ``prod_l C(n_l, j_l)``; r_l is n_l or rank(W_l). Equal to :func:`serra_upper`,
    which should be used instead; this exists to test it.

    Assumptions: ReLU units.

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.
    ranks : sequence of (int or None), optional
        As in :func:`serra_upper`.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If the units are not ReLU.
    InvalidParameterError
        If J may hold more than 2,000,000 tuples (product of min(n0, r_l) + 1 over layers).

    Examples
    --------
    >>> serra_upper_enumerated(2, [3, 3])
    40
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu",), "serra_upper_enumerated", _RELU_ONLY)
    caps = _ranks(a, ranks)
    n0 = a.input_dim
    size = math.prod(min(n0, r) + 1 for r in caps)
    if size > ENUMERATION_LIMIT:
        raise InvalidParameterError(
            f"serra_upper_enumerated would walk up to {size:,} index tuples (limit {ENUMERATION_LIMIT:,}); "
            "use serra_upper, which evaluates the same sum by a recurrence."
        )
    total = 0
    # iterative depth-first walk; a stack entry is (layer, cap so far, product so far)
    stack = [(0, n0, 1)]
    while stack:
        layer, cap, prod = stack.pop()
        if layer == a.depth:
            total += prod
            continue
        n, r = a.widths[layer], caps[layer]
        for j in range(min(cap, r) + 1):
            stack.append((layer + 1, min(cap, n - j), prod * math.comb(n, j)))
    return total


def serra_gamma(d: int, n: int) -> list[int]:
    """Serra-type histogram gamma(d, n) = sum_{j<=d} C(n, j) e_{n-j} of the Hinz framework.

    Entry ``a`` counts the regions with ``a`` active units when ``n`` hyperplanes cut a
    ``d``-dimensional region: at most C(n, j) regions have j inactive units, j <= d.

    Parameters
    ----------
    d : int
        Dimension of the region being cut (>= 0).
    n : int
        Number of units of the layer (>= 1).

    Returns
    -------
    list of int
        Length n + 1, indexed by the number of active units.

    Examples
    --------
    >>> serra_gamma(1, 3)
    [0, 0, 3, 1]
    """
    d = _int(d, "d")
    n = _int(n, "n", minimum=1)
    hist = [0] * (n + 1)
    for j in range(min(d, n) + 1):
        hist[n - j] += math.comb(n, j)
    return hist


def hinz_upper(arch, widths=None, gamma: Callable[[int, int], Sequence[int]] | None = None) -> int:
    """Hinz and van de Geer (IEEE Trans. Inf. Theory 2019): the histogram framework.

    Propagates a histogram v over dimension classes (v_d = number of regions whose image
    has dimension <= d), starting from v = e_{n0}; a layer of width n maps
    ``v -> sum_d v_d * clip_{min(d, n)}(gamma(min(d, n), n))``, where ``clip_c`` moves
    all mass above bin c into bin c. The bound is the total mass after the last layer.
    With the default Serra-type gamma (:func:`serra_gamma`) it equals
    :func:`serra_upper`; a tighter valid gamma gives a tighter bound.

    Assumptions: ReLU units; ``gamma(d, n)`` dominates the histogram of active-unit
    counts of n hyperplanes cutting a d-dimensional region (the caller's responsibility
    for a custom gamma).

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.
    gamma : callable (d, n) -> sequence of int, optional
        The histogram, length n + 1 of non-negative integers indexed by the number of
        active units. Defaults to :func:`serra_gamma`.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If the units are not ReLU.
    InvalidParameterError
        If ``gamma`` is not callable or returns something other than n + 1
        non-negative integers.

    Examples
    --------
    >>> hinz_upper(2, [3, 3])
    40
    >>> hinz_upper(2, [3, 3], gamma=lambda d, n: [0] * n + [2 ** n])  # trivial gamma: 2^N
    64
    """
    a = as_architecture(arch, widths)
    _require(a, ("relu",), "hinz_upper", _RELU_ONLY)
    if gamma is None:
        gamma = serra_gamma
    elif not callable(gamma):
        raise InvalidParameterError(f"gamma must be a callable (d, n) -> histogram; got {gamma!r}.")
    n0 = a.input_dim
    v = [0] * (n0 + 1)
    v[n0] = 1
    for n in a.widths:
        new = [0] * (n0 + 1)
        cache: dict[int, list[int]] = {}
        for d in range(n0 + 1):
            if v[d] == 0:
                continue
            c = min(d, n)
            if c not in cache:
                hist = gamma(c, n)
                if isinstance(hist, (str, bytes)) or not isinstance(hist, Sequence) or len(hist) != n + 1:
                    raise InvalidParameterError(
                        f"gamma({c}, {n}) must return a sequence of {n + 1} non-negative integers "
                        f"(indexed by the number of active units); got {hist!r}."
                    )
                hist = [_int(h, f"gamma({c}, {n})[{i}]") for i, h in enumerate(hist)]
                clipped = [0] * (n0 + 1)
                for active, mass in enumerate(hist):
                    clipped[min(active, c)] += mass
                cache[c] = clipped
            for b, mass in enumerate(cache[c]):
                new[b] += v[d] * mass
        v = new
    return sum(v)


def _pieces(a: Architecture) -> int:
    if a.activation in ("relu", "leaky_relu"):
        return 2
    if a.activation == "cpwl":
        return a.breakpoints + 1
    return a.max_rank


def trivial_upper(arch, widths=None, *, pieces: int | None = None) -> int:
    """The number of activation patterns: ``pieces ** N``.

    Every region has its own activation pattern, so there are at most ``pieces^N``
    regions, N = total number of units: 2^N for ReLU [Serra 2018], (K + 1)^N for K
    breakpoints and k^N for rank-k maxout [derived].

    Assumptions: none beyond the architecture.

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.
    pieces : int, optional
        Pieces per unit; by default 2 (ReLU, leaky ReLU), K + 1 (cpwl) or k (maxout).

    Returns
    -------
    int

    Raises
    ------
    InvalidParameterError
        If ``pieces`` is not a positive integer.

    Examples
    --------
    >>> trivial_upper(2, [8, 8, 8])
    16777216
    >>> trivial_upper(2, [2, 2], pieces=3)
    81
    """
    a = as_architecture(arch, widths)
    p = _pieces(a) if pieces is None else _int(pieces, "pieces", minimum=1)
    return p ** a.num_neurons
