"""Every bound for one architecture in one immutable table: :func:`all_bounds`.

Examples
--------
>>> from regionlab.bounds._table import all_bounds
>>> table = all_bounds(2, [3, 3])
>>> table["serra_upper"].value, table["montufar2017_upper"].value
(40, 49)
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import BoundNotApplicableError, InvalidParameterError
from ._common import Architecture, as_architecture, cpwl_one_layer, zaslavsky
from ._maxout import maxout_montufar2014_one_layer, maxout_one_layer, maxout_serra_upper
from ._relu import (
    hinz_upper,
    montufar2014_lower,
    montufar2017_upper,
    raghu_upper,
    serra_exact_1d,
    serra_lower,
    serra_size_lower,
    serra_upper,
    trivial_upper,
)

__all__ = ["Bound", "BoundsTable", "all_bounds", "format_count"]

KINDS = ("lower", "upper", "exact")


def format_count(value: int | None) -> str:
    """A count with thousands separators, and scientific notation beside huge values.

    Up to 12 digits: ``50,653``; up to 30 digits the full number and ``(1.15e18)``;
    beyond, the scientific form (three significant digits, rounded half up) and the
    number of digits. Works for integers too long for ``str()``.

    Parameters
    ----------
    value : int or None
        ``None`` prints as ``n/a``.

    Returns
    -------
    str

    Examples
    --------
    >>> format_count(50653)
    '50,653'
    >>> format_count(2 ** 60)
    '1,152,921,504,606,846,976 (1.15e18)'
    >>> format_count(2 ** 200)
    '1.61e60 (61 digits)'
    >>> format_count(2 ** 20000)
    '3.98e6020 (6021 digits)'
    """
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v < 10**12:
        return f"{value:,}"
    # exact digit count and leading digits without converting the whole number to a string
    # (Python refuses str() of ints beyond 4300 digits)
    exponent = int(math.log10(v))
    while 10**exponent > v:
        exponent -= 1
    while 10 ** (exponent + 1) <= v:
        exponent += 1
    digits = exponent + 1
    lead = (v // 10 ** (exponent - 3) + 5) // 10  # three significant digits, rounded half up
    if lead >= 1000:
        lead //= 10
        exponent += 1
    sci = f"{sign}{lead // 100}.{lead % 100:02d}e{exponent}"
    if digits <= 30:
        return f"{value:,} ({sci})"
    return f"{sci} ({digits} digits)"


@dataclass(frozen=True)
class Bound:
    """One row of a :class:`BoundsTable`.

    Attributes
    ----------
    name : str
        The function that computes it (e.g. ``"serra_upper"``).
    kind : str
        ``"lower"`` (some network of the architecture has at least this many regions),
        ``"upper"`` (none has more) or ``"exact"`` (the maximum).
    value : int or None
        The exact value, ``None`` when the bound does not apply.
    source : str
        The paper.
    assumptions : str
        What the bound assumes.
    applies : bool
        Whether the assumptions hold for the architecture.
    reason : str
        Why it does not apply (empty when it does).

    Examples
    --------
    >>> b = Bound("x", "upper", 3, "me", "none", True, "")
    >>> b.to_dict()["value"]
    3
    """

    name: str
    kind: str
    value: int | None
    source: str
    assumptions: str
    applies: bool
    reason: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InvalidParameterError(f"Bound kind must be one of {KINDS}; got {self.kind!r}.")

    def to_dict(self) -> dict:
        """A JSON-ready dict (the value stays an exact int).

        Examples
        --------
        >>> Bound("x", "lower", None, "s", "a", False, "why").to_dict()["reason"]
        'why'
        """
        return {
            "name": self.name,
            "kind": self.kind,
            "value": self.value,
            "source": self.source,
            "assumptions": self.assumptions,
            "applies": self.applies,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class BoundsTable:
    """All bounds of one architecture: an immutable, picklable table of :class:`Bound` rows.

    Attributes
    ----------
    arch : Architecture
    rows : tuple of Bound

    Examples
    --------
    >>> table = all_bounds(2, [8, 8, 8])
    >>> table.best_upper, table.best_lower
    (50653, 23125)
    >>> "serra_upper" in table
    True
    """

    arch: Architecture
    rows: tuple[Bound, ...]

    def __getitem__(self, name: str) -> Bound:
        for row in self.rows:
            if row.name == name:
                return row
        raise InvalidParameterError(
            f"No bound named {name!r} in this table; available: {', '.join(self.names)}."
        )

    def __contains__(self, name) -> bool:
        return any(row.name == name for row in self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def names(self) -> tuple[str, ...]:
        """The row names, in order."""
        return tuple(row.name for row in self.rows)

    @property
    def applicable(self) -> tuple[Bound, ...]:
        """The rows whose assumptions hold."""
        return tuple(row for row in self.rows if row.applies)

    @property
    def best_upper(self) -> int | None:
        """The smallest applicable upper (or exact) value, ``None`` if there is none."""
        vals = [r.value for r in self.applicable if r.kind in ("upper", "exact")]
        return min(vals) if vals else None

    @property
    def best_lower(self) -> int | None:
        """The largest applicable lower (or exact) value, ``None`` if there is none."""
        vals = [r.value for r in self.applicable if r.kind in ("lower", "exact")]
        return max(vals) if vals else None

    def to_dict(self) -> dict:
        """A JSON-ready dict: the architecture, the rows and the best bounds.

        Examples
        --------
        >>> all_bounds(1, [3]).to_dict()["best_upper"]
        4
        """
        return {
            "architecture": self.arch.to_dict(),
            "rows": [row.to_dict() for row in self.rows],
            "best_lower": self.best_lower,
            "best_upper": self.best_upper,
        }

    def to_markdown(self) -> str:
        """A Markdown table (name, kind, value, source, assumptions or reason).

        Examples
        --------
        >>> print(all_bounds(1, [3]).to_markdown().splitlines()[0])
        | bound | kind | value | source | notes |
        """
        lines = ["| bound | kind | value | source | notes |", "|---|---|---|---|---|"]
        for r in self.rows:
            note = r.assumptions if r.applies else f"not applicable: {r.reason}"
            cells = [r.name, r.kind, format_count(r.value), r.source, note]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        head = ("bound", "kind", "value", "source")
        body = [(r.name, r.kind, format_count(r.value), r.source) for r in self.applicable]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(4)]

        def line(cells):
            return "  ".join(
                c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        out = [f"Bounds on the number of linear regions: {self.arch}", line(head), line(["-" * w for w in widths])]
        out += [line(b) for b in body]
        skipped = [r for r in self.rows if not r.applies]
        if skipped:
            out.append("")
            out.append("Not applicable:")
            out += [f"  {r.name}: {r.reason}" for r in skipped]
        return "\n".join(out)


_GENERAL = "regionlab.bounds._general"


def _general(name: str) -> Callable | None:
    """Helper B's general CPWL/maxout bound ``name``, or ``None`` while its module is missing."""
    try:
        module = importlib.import_module(_GENERAL)
    except ModuleNotFoundError as exc:
        if exc.name != _GENERAL:
            raise
        return None
    return getattr(module, name, None)


def _row(name, kind, source, assumptions, compute) -> Bound:
    try:
        value = compute()
    except BoundNotApplicableError as exc:
        return Bound(name, kind, None, source, assumptions, False, str(exc))
    return Bound(name, kind, value, source, assumptions, True, "")


def _general_row(name, kind, source, assumptions, a, **kwargs) -> Bound:
    fn = _general(name)
    if fn is None:
        return Bound(
            name, kind, None, source, assumptions, False,
            f"its implementation ({_GENERAL}.{name}) is not available in this installation.",
        )
    return _row(name, kind, source, assumptions, lambda: fn(a, **kwargs))


def _not_relu(a: Architecture):
    def fail():
        raise BoundNotApplicableError(
            f"assumes ReLU units (a zero-slope piece that collapses dimension); these are {a.activation} units."
        )

    return fail


def _chosen_units(a: Architecture):
    def fail():
        raise BoundNotApplicableError(
            f"its folding construction chooses each unit's one-breakpoint function (such as |x|); it bounds "
            f"the maximum over all such activations, not over {a.activation} networks (e.g. n0 = 1, widths "
            "[1, 1]: 4 regions, while ReLU networks reach 3)."
        )

    return fail


def _size_lower(a: Architecture) -> int:
    n1, rest = a.widths[0], a.widths[1:]
    if a.activation != "relu":
        raise BoundNotApplicableError(f"assumes ReLU units; these are {a.activation} units.")
    if n1 % 2:
        raise BoundNotApplicableError(f"needs an even first width 2m; layer 1 has width {n1}.")
    if rest and (len(set(rest)) > 1 or rest[0] < 2):
        raise BoundNotApplicableError(
            f"needs layers 2..L of one width w >= 2; they have widths {list(rest)}."
        )
    return serra_size_lower(a.input_dim, n1 // 2, rest[0] if rest else 2, a.depth)


def all_bounds(arch, widths=None, *, activation=None, breakpoints=None, rank=None) -> BoundsTable:
    """Every closed-form bound that exists for the architecture's activation, in one table.

    Rows by activation (non-applicable ones are kept, with ``value=None`` and the reason):

    * ``"relu"`` / ``"leaky_relu"``: ``zaslavsky_one_layer`` (exact, L = 1),
      ``serra_exact_1d``, ``montufar2014_lower``, ``serra_lower``, ``serra_size_lower``,
      ``cpwl_lower`` (listed as not applicable: its construction picks the units'
      one-breakpoint functions, e.g. |x|), ``serra_upper`` (with the architecture's ranks),
      ``hinz_upper``, ``montufar2017_upper``, ``raghu_upper``, ``cpwl_upper`` (K = 1),
      ``trivial_upper``. The ReLU-only rows do not apply to leaky ReLU.
    * ``"cpwl"`` (K breakpoints): ``cpwl_one_layer`` (exact, L = 1), ``cpwl_lower``,
      ``cpwl_upper``, ``trivial_upper``.
    * ``"maxout"`` (rank k): ``maxout_one_layer`` (exact, L = 1),
      ``maxout_montufar2014_one_layer_lower`` / ``_upper`` (L = 1, [unconfirmed]),
      ``maxout_lower``, ``maxout_serra_upper``, ``maxout_upper``, ``trivial_upper``.

    ``cpwl_lower``, ``cpwl_upper``, ``maxout_lower`` and ``maxout_upper`` come from
    :mod:`regionlab.bounds._general`; while that module is missing their rows say so.

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture` (e.g. from :func:`architecture`), or the input
        dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.
    activation : str, optional
        Override: ``"relu"``, ``"leaky_relu"`` (or ``"leaky"``), ``"cpwl"``, ``"maxout"``.
    breakpoints : int, optional
        K for ``"cpwl"``.
    rank : int, optional
        k for ``"maxout"``.

    Returns
    -------
    BoundsTable

    Raises
    ------
    InvalidParameterError
        For a malformed architecture.

    Examples
    --------
    >>> t = all_bounds(2, [8, 8, 8], activation="maxout", rank=3)
    >>> t["maxout_serra_upper"].value
    27270901
    >>> all_bounds(2, [3, 3])["serra_lower"].applies
    False
    """
    a = as_architecture(arch, widths, activation=activation, breakpoints=breakpoints, max_rank=rank)
    one = a.depth == 1
    n0 = a.input_dim

    def only_one_layer():
        raise BoundNotApplicableError(f"holds for one layer only; the architecture has {a.depth} layers.")

    rows: list[Bound] = []
    act = a.activation
    if act in ("relu", "leaky_relu"):
        relu = act == "relu"
        serra = "Serra, Tjandraatmadja, Ramalingam (ICML 2018)"
        rows += [
            _row("zaslavsky_one_layer", "exact", "Zaslavsky (1975)", "one layer; one breakpoint per unit",
                 (lambda: zaslavsky(a.widths[0], n0)) if one else only_one_layer),
            _row("serra_exact_1d", "exact", f"{serra}, Thm 5", "ReLU; n0 = 1; every n_l >= 3",
                 (lambda: serra_exact_1d(a)) if relu else _not_relu(a)),
            _row("montufar2014_lower", "lower", "Montufar, Pascanu, Cho, Bengio (NeurIPS 2014)",
                 "ReLU; every n_l >= n0", (lambda: montufar2014_lower(a)) if relu else _not_relu(a)),
            _row("serra_lower", "lower", f"{serra}, Thm 6", "ReLU; every n_l >= 3 n0",
                 (lambda: serra_lower(a)) if relu else _not_relu(a)),
            _row("serra_size_lower", "lower", f"{serra}, Thm 7",
                 "ReLU; widths (2m, w, ..., w) with w >= 2", lambda: _size_lower(a)),
            _row("cpwl_lower", "lower", "regionlab (general CPWL construction)",
                 "the construction chooses each unit's one-breakpoint function", _chosen_units(a)),
            _row("serra_upper", "upper", f"{serra}, Thm 1",
                 "ReLU" + ("; rank refinement with the weight ranks" if a.ranks is not None else ""),
                 (lambda: serra_upper(a)) if relu else _not_relu(a)),
            _row("hinz_upper", "upper", "Hinz & van de Geer (IEEE TIT 2019), Serra-type gamma", "ReLU",
                 (lambda: hinz_upper(a)) if relu else _not_relu(a)),
            _row("montufar2017_upper", "upper", "Montufar (SampTA 2017)", "one breakpoint per unit",
                 lambda: montufar2017_upper(a)),
            _row("raghu_upper", "upper", "Raghu et al. (ICML 2017), product form", "one breakpoint per unit",
                 lambda: raghu_upper(a)),
            _general_row("cpwl_upper", "upper", "regionlab (general CPWL bound)",
                         "univariate CPWL units with K = 1 breakpoint", a, breakpoints=1),
        ]
    elif act == "cpwl":
        k = a.breakpoints
        rows += [
            _row("cpwl_one_layer", "exact", "arrangement count P(n, K, n0) [derived]",
                 f"one layer; K = {k} breakpoints per unit",
                 (lambda: cpwl_one_layer(a.widths[0], k, n0)) if one else only_one_layer),
            _general_row("cpwl_lower", "lower", "regionlab (general CPWL construction)",
                         f"univariate CPWL units with K = {k} breakpoints, each unit's function chosen by the "
                         "construction", a, breakpoints=k),
            _general_row("cpwl_upper", "upper", "regionlab (general CPWL bound)",
                         f"univariate CPWL units with K = {k} breakpoints", a, breakpoints=k),
        ]
    else:
        k = a.max_rank
        mrz = "Montufar, Ren, Zhang (SIAM J. Appl. Algebra Geom. 2022)"
        m14 = "Montufar et al. (NeurIPS 2014) [unconfirmed]"
        rows += [
            _row("maxout_one_layer", "exact", mrz, f"one layer of rank-{k} maxout units",
                 (lambda: maxout_one_layer(n0, [k] * a.widths[0])) if one else only_one_layer),
            _row("maxout_montufar2014_one_layer_lower", "lower", m14, f"one layer of rank-{k} maxout units",
                 (lambda: maxout_montufar2014_one_layer(n0, a.widths[0], k)[0]) if one else only_one_layer),
            _general_row("maxout_lower", "lower", "regionlab (general maxout construction)",
                         f"rank-{k} maxout units", a, rank=k),
            _row("maxout_serra_upper", "upper", "Serra, Tjandraatmadja, Ramalingam (ICML 2018), Thm 8",
                 f"rank-{k} maxout units", lambda: maxout_serra_upper(a, rank=k)),
            _row("maxout_montufar2014_one_layer_upper", "upper", m14, f"one layer of rank-{k} maxout units",
                 (lambda: maxout_montufar2014_one_layer(n0, a.widths[0], k)[1]) if one else only_one_layer),
            _general_row("maxout_upper", "upper", "regionlab (general maxout bound)",
                         f"rank-{k} maxout units", a, rank=k),
        ]
    rows.append(_row("trivial_upper", "upper", "activation patterns (pieces^N)", "none",
                     lambda: trivial_upper(a)))
    return BoundsTable(a, tuple(rows))
