"""Closed-form bounds for maxout networks (bounds.md section 5). Exact Python ints.

Examples
--------
>>> from regionlab.bounds._maxout import maxout_one_layer, maxout_serra_upper
>>> maxout_one_layer(2, [2, 3, 4]), maxout_serra_upper(2, [8, 8, 8], rank=3)
(18, 27270901)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from ..errors import BoundNotApplicableError, InvalidParameterError
from ._common import _int, as_architecture, zaslavsky

__all__ = ["maxout_serra_upper", "maxout_one_layer", "maxout_montufar2014_one_layer", "maxout_rank"]


def maxout_rank(a, rank, name: str) -> int:
    """The maxout rank to use: ``rank`` if given, else the architecture's; validated.

    Examples
    --------
    >>> from regionlab.bounds._common import architecture
    >>> maxout_rank(architecture(input_dim=2, widths=[3], activation="maxout", rank=4), None, "f")
    4
    """
    if rank is None:
        if a.activation != "maxout":
            raise BoundNotApplicableError(
                f"{name} is a maxout bound and the architecture has {a.activation} units; pass rank=k to "
                "evaluate it for rank-k maxout units of these widths."
            )
        return a.max_rank
    return _int(rank, "rank", minimum=1)


def maxout_serra_upper(arch, widths=None, rank: int | None = None) -> int:
    """Serra, Tjandraatmadja, Ramalingam (ICML 2018), Theorem 8: maxout upper bound.

    ``prod_l Z(C(k, 2) n_l, d'_l)`` with d'_l = min(n0, n_1, ..., n_l): a rank-k unit
    contributes at most C(k, 2) pairwise-comparison hyperplanes. For k = 2 it equals
    Montufar 2017's ReLU bound.

    Assumptions: maxout units of rank k in every layer.

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.
    rank : int, optional
        k >= 1; defaults to the architecture's ``max_rank``.

    Returns
    -------
    int

    Raises
    ------
    BoundNotApplicableError
        If no rank is given and the architecture is not maxout.

    Examples
    --------
    >>> maxout_serra_upper(2, [8, 8, 8], rank=4)
    1630532233
    """
    a = as_architecture(arch, widths)
    k = maxout_rank(a, rank, "maxout_serra_upper")
    pairs = math.comb(k, 2)
    value, d = 1, a.input_dim
    for n in a.widths:
        d = min(d, n)
        value *= zaslavsky(pairs * n, d)
    return value


def _elementary_symmetric(values: Sequence[int], top: int) -> list[int]:
    """e_0, ..., e_top of ``values`` (exact ints), by the product of (1 + v t)."""
    e = [1] + [0] * top
    for v in values:
        for j in range(top, 0, -1):
            e[j] += e[j - 1] * v
    return e


def maxout_one_layer(input_dim: int, ranks) -> int:
    """Montufar, Ren, Zhang (SIAM J. Appl. Algebra Geom. 2022): one maxout layer, exact maximum.

    ``sum_{j=0}^{n0} e_j(k_1 - 1, ..., k_n - 1)`` (e_j the elementary symmetric
    polynomial): the maximal number of regions of one layer of maxout units of ranks
    k_1, ..., k_n with biases on R^{n0}. Equal ranks give ``P(n, k - 1, n0)``; k = 2
    gives Zaslavsky's number, and n <= n0 gives ``prod_i k_i``.
    bounds.md marks the formula [unconfirmed formula; checked] (Monte-Carlo below it,
    constructions reach it).

    Assumptions: one layer, biases, ranks k_i >= 1.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    ranks : int or sequence of int
        The rank of every unit (k_1, ..., k_n), each >= 1.

    Returns
    -------
    int

    Raises
    ------
    InvalidParameterError
        If ``input_dim`` or a rank is not a positive integer, or no unit is given.

    Examples
    --------
    >>> maxout_one_layer(2, [3] * 8)
    129
    >>> maxout_one_layer(3, [2, 3])  # fewer units than inputs: every combination
    6
    """
    n0 = _int(input_dim, "input_dim", minimum=1)
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        ranks = [ranks]
    if isinstance(ranks, (str, bytes)) or not isinstance(ranks, Sequence) or not ranks:
        raise InvalidParameterError(
            f"ranks must be a non-empty sequence with the rank of each unit, e.g. [3, 3, 3]; got {ranks!r}."
        )
    ks = [_int(k, f"ranks[{i}]", minimum=1) for i, k in enumerate(ranks)]
    return sum(_elementary_symmetric([k - 1 for k in ks], n0))


def maxout_montufar2014_one_layer(input_dim: int, width: int, rank: int) -> tuple[int, int]:
    """Montufar et al. (NeurIPS 2014), one maxout layer: ``(lower, upper)`` on the maximum.

    [unconfirmed] (bounds.md: recalled from the literature; verify against the paper):
    n rank-k units on R^{n0} reach at least ``k^min(n0, n)`` regions and at most
    ``min(Z(k^2 n, n0), k^n)``. :func:`maxout_one_layer` gives the exact maximum.

    Assumptions: one layer of maxout units of equal rank k.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    width : int
        n >= 1 units.
    rank : int
        k >= 1.

    Returns
    -------
    tuple of int
        (lower, upper).

    Raises
    ------
    InvalidParameterError
        If a parameter is not a positive integer.

    Examples
    --------
    >>> maxout_montufar2014_one_layer(2, 8, 3)
    (9, 2629)
    """
    n0 = _int(input_dim, "input_dim", minimum=1)
    n = _int(width, "width", minimum=1)
    k = _int(rank, "rank", minimum=1)
    return k ** min(n0, n), min(zaslavsky(k * k * n, n0), k**n)
