"""Shared pieces of the bounds package: arrangement counts and the :class:`Architecture`.

Every count is an exact Python ``int``.

Examples
--------
>>> from regionlab.bounds._common import zaslavsky, cpwl_one_layer, architecture
>>> zaslavsky(8, 2), cpwl_one_layer(8, 2, 2)
(37, 129)
>>> architecture(input_dim=2, widths=[8, 8, 8]).widths
(8, 8, 8)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..errors import BoundNotApplicableError, InvalidParameterError

__all__ = [
    "ACTIVATIONS",
    "Architecture",
    "architecture",
    "zaslavsky",
    "cpwl_one_layer",
    "as_architecture",
    "dimension_caps",
]

#: canonical activation names of an :class:`Architecture`
ACTIVATIONS = ("relu", "leaky_relu", "cpwl", "maxout")
_ALIASES = {"leaky": "leaky_relu", "leakyrelu": "leaky_relu", "leaky-relu": "leaky_relu"}


def _int(value, name: str, *, minimum: int = 0) -> int:
    """``value`` as a Python int ``>= minimum``, or a clear :class:`InvalidParameterError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(f"{name} must be an integer; got {value!r}. Pass a whole number.")
    value = int(value)
    if value < minimum:
        raise InvalidParameterError(f"{name} must be >= {minimum}; got {value}.")
    return value


def zaslavsky(num_hyperplanes: int, dim: int) -> int:
    """Zaslavsky's number Z(m, d) = sum_{i=0}^{d} C(m, i).

    The maximal number of regions of an arrangement of ``m`` affine hyperplanes in
    ``R^d``, attained exactly by hyperplanes in general position (Zaslavsky 1975).

    Parameters
    ----------
    num_hyperplanes : int
        m >= 0.
    dim : int
        d >= 0.

    Returns
    -------
    int
        Z(m, d), an exact integer.

    Raises
    ------
    InvalidParameterError
        If an argument is not a non-negative integer.

    Examples
    --------
    >>> zaslavsky(8, 2)
    37
    >>> zaslavsky(3, 5)  # fewer hyperplanes than dimensions: all 2^m sign patterns
    8
    """
    m = _int(num_hyperplanes, "num_hyperplanes")
    d = _int(dim, "dim")
    return sum(math.comb(m, i) for i in range(min(m, d) + 1))


def cpwl_one_layer(width: int, breakpoints: int, dim: int) -> int:
    """P(n, K, d) = sum_{j=0}^{d} C(n, j) * K^j.

    The maximal number of regions of one layer of ``n`` units of a univariate CPWL
    activation with ``K`` breakpoints on ``R^d``: ``n`` families of ``K`` parallel
    hyperplanes in general position [derived, bounds.md section 1]. ``K = 1`` gives
    Zaslavsky's number; in 1-D it is ``1 + n K``.

    Parameters
    ----------
    width : int
        n >= 0, the number of units.
    breakpoints : int
        K >= 0, breakpoints per unit.
    dim : int
        d >= 0, the input dimension.

    Returns
    -------
    int
        P(n, K, d), an exact integer.

    Raises
    ------
    InvalidParameterError
        If an argument is not a non-negative integer.

    Examples
    --------
    >>> cpwl_one_layer(8, 1, 2) == zaslavsky(8, 2)
    True
    >>> cpwl_one_layer(5, 3, 1)
    16
    """
    n = _int(width, "width")
    k = _int(breakpoints, "breakpoints")
    d = _int(dim, "dim")
    return sum(math.comb(n, j) * k**j for j in range(min(n, d) + 1))


@dataclass(frozen=True)
class Architecture:
    """A fully connected CPWL architecture: the numbers the closed-form bounds need.

    Parameters
    ----------
    input_dim : int
        n0 >= 1.
    widths : tuple of int
        Hidden widths n_1, ..., n_L (units per activation layer), each >= 1, L >= 1.
    activation : str
        ``"relu"`` (one breakpoint with a zero-slope piece), ``"leaky_relu"`` (any
        univariate CPWL with one breakpoint and no constant piece), ``"cpwl"``
        (univariate with ``breakpoints`` = K breakpoints) or ``"maxout"``.
    breakpoints : int or None
        K: 1 for relu and leaky_relu (``None`` is normalised to 1), required for
        ``"cpwl"``, ``None`` for maxout.
    max_rank : int or None
        Maxout rank k >= 1 (pieces per unit); required for ``"maxout"``, ``None`` otherwise.
    ranks : tuple of (int or None), or None
        Rank of the weight matrix feeding each hidden layer (``None`` entries: unknown).

    Raises
    ------
    InvalidParameterError
        If a number is not a positive integer, the activation is unknown, or the
        activation's parameters are missing or inconsistent.

    Examples
    --------
    >>> arch = Architecture(2, (8, 8, 8), "relu", None, None, None)
    >>> arch.breakpoints, arch.depth, arch.num_neurons
    (1, 3, 24)
    >>> arch.to_dict()["widths"]
    [8, 8, 8]
    """

    input_dim: int
    widths: tuple[int, ...]
    activation: str = "relu"
    breakpoints: int | None = None
    max_rank: int | None = None
    ranks: tuple[int | None, ...] | None = None

    def __post_init__(self):
        n0 = _int(self.input_dim, "input_dim", minimum=1)
        if isinstance(self.widths, (str, bytes)) or not hasattr(self.widths, "__iter__"):
            raise InvalidParameterError(
                f"widths must be a sequence of positive integers such as (8, 8, 8); got {self.widths!r}."
            )
        widths = tuple(_int(w, f"widths[{i}]", minimum=1) for i, w in enumerate(self.widths))
        if not widths:
            raise InvalidParameterError("widths must hold at least one hidden layer width; got an empty sequence.")
        act = self.activation
        if not isinstance(act, str) or act not in ACTIVATIONS:
            raise InvalidParameterError(
                f"activation must be one of {', '.join(ACTIVATIONS)}; got {act!r}."
            )
        bp, rk = self.breakpoints, self.max_rank
        if act in ("relu", "leaky_relu"):
            if bp is not None and _int(bp, "breakpoints") != 1:
                raise InvalidParameterError(
                    f"{act} has exactly one breakpoint; got breakpoints={bp}. Use activation='cpwl' for K > 1."
                )
            bp = 1
        elif act == "cpwl":
            if bp is None:
                raise InvalidParameterError("activation='cpwl' needs breakpoints=K (K >= 1 breakpoints per unit).")
            bp = _int(bp, "breakpoints", minimum=1)
        else:
            if bp is not None:
                raise InvalidParameterError("breakpoints does not apply to maxout; pass rank=k instead.")
        if act == "maxout":
            if rk is None:
                raise InvalidParameterError("activation='maxout' needs the rank k (pieces per unit), e.g. rank=3.")
            rk = _int(rk, "rank", minimum=1)
        elif rk is not None:
            raise InvalidParameterError(f"rank applies only to maxout, not to {act}; leave it unset.")
        ranks = self.ranks
        if ranks is not None:
            if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
                raise InvalidParameterError(f"ranks must be a sequence (one entry per hidden layer); got {ranks!r}.")
            ranks = tuple(None if r is None else _int(r, f"ranks[{i}]") for i, r in enumerate(ranks))
            if len(ranks) != len(widths):
                raise InvalidParameterError(
                    f"ranks needs one entry per hidden layer ({len(widths)}); got {len(ranks)}."
                )
            if act != "maxout":
                for i, r in enumerate(ranks):
                    if r is not None and r > widths[i]:
                        raise InvalidParameterError(
                            f"ranks[{i}] = {r} exceeds the width {widths[i]} of layer {i + 1}; "
                            "a weight matrix's rank is at most its number of rows."
                        )
        object.__setattr__(self, "input_dim", n0)
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "breakpoints", bp)
        object.__setattr__(self, "max_rank", rk)
        object.__setattr__(self, "ranks", ranks)

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.widths)

    @property
    def num_neurons(self) -> int:
        """N, the total number of hidden units."""
        return sum(self.widths)

    def to_dict(self) -> dict:
        """A JSON-ready dict of the fields.

        Examples
        --------
        >>> architecture(input_dim=1, widths=[3]).to_dict()
        {'input_dim': 1, 'widths': [3], 'activation': 'relu', 'breakpoints': 1, 'max_rank': None, 'ranks': None}
        """
        return {
            "input_dim": self.input_dim,
            "widths": list(self.widths),
            "activation": self.activation,
            "breakpoints": self.breakpoints,
            "max_rank": self.max_rank,
            "ranks": None if self.ranks is None else list(self.ranks),
        }

    def __str__(self) -> str:
        act = self.activation
        if act == "cpwl":
            act = f"cpwl (K={self.breakpoints})"
        elif act == "maxout":
            act = f"maxout (k={self.max_rank})"
        return f"n0={self.input_dim}, widths={list(self.widths)}, {act}"


def as_architecture(arch, widths=None, **overrides) -> Architecture:
    """Normalise the ``(arch, widths)`` head of every bound function to an :class:`Architecture`.

    ``arch`` is an :class:`Architecture` (then ``widths`` must be ``None``) or the input
    dimension n0 followed by ``widths``. ``overrides`` (activation, breakpoints,
    max_rank, ranks) replace fields when not ``None``.

    Examples
    --------
    >>> as_architecture(2, [3, 3]).widths
    (3, 3)
    >>> as_architecture(as_architecture(2, [3]), activation="cpwl", breakpoints=2).breakpoints
    2
    """
    if isinstance(arch, Architecture):
        if widths is not None:
            raise InvalidParameterError(
                "Pass either an Architecture or an input dimension with widths, not both: "
                "widths must be None when arch is an Architecture."
            )
        base = arch
    else:
        if widths is None:
            raise InvalidParameterError(
                f"widths is missing: call with an Architecture (regionlab.bounds.architecture(model)) or "
                f"as f(input_dim, widths), e.g. f(2, [8, 8, 8]); got arch={arch!r}."
            )
        if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
            widths = (widths,)
        base = Architecture(input_dim=arch, widths=tuple(widths) if hasattr(widths, "__iter__") else widths)
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes:
        return base
    fields = base.to_dict()
    fields.update(changes)
    act = fields["activation"]
    if act in _ALIASES:
        act = _ALIASES[act]
    if act != base.activation:
        # switching activation: drop the parameters that belong to the old one
        if "breakpoints" not in changes:
            fields["breakpoints"] = None
        if "max_rank" not in changes:
            fields["max_rank"] = None
    return Architecture(
        input_dim=fields["input_dim"],
        widths=tuple(fields["widths"]),
        activation=act,
        breakpoints=fields["breakpoints"],
        max_rank=fields["max_rank"],
        ranks=None if fields["ranks"] is None else tuple(fields["ranks"]),
    )


def dimension_caps(arch, widths=None) -> tuple[int, ...]:
    """The dimension caps d_l = min(n0, n_1, ..., n_{l-1}) of every layer.

    After layer l - 1 every region's image lies in an affine space of dimension at most
    d_l, so layer l can cut it into at most Z(n_l, d_l) pieces (Montufar 2017).

    Parameters
    ----------
    arch : Architecture or int
        An :class:`Architecture`, or the input dimension n0 followed by ``widths``.
    widths : sequence of int, optional
        Hidden widths when ``arch`` is an int.

    Returns
    -------
    tuple of int
        (d_1, ..., d_L), with d_1 = n0.

    Examples
    --------
    >>> dimension_caps(3, [2, 4, 1, 5])
    (3, 2, 2, 1)
    """
    a = as_architecture(arch, widths)
    caps, d = [], a.input_dim
    for n in a.widths:
        caps.append(d)
        d = min(d, n)
    return tuple(caps)



# ------------------------------------------------------------------ reading models


def architecture(
    model_or_net=None,
    example_input=None,
    *,
    input_dim=None,
    widths=None,
    activation="relu",
    breakpoints=None,
    rank=None,
    ranks=None,
) -> Architecture:
    """The :class:`Architecture` of a model, or one built from explicit numbers.

    With ``model_or_net=None`` the architecture is built from ``input_dim``, ``widths``,
    ``activation`` (``"relu"``, ``"leaky_relu"`` or ``"leaky"``, ``"cpwl"``,
    ``"maxout"``), ``breakpoints`` (K, for cpwl), ``rank`` (k, for maxout) and ``ranks``.

    Otherwise ``model_or_net`` is an ``nn.Module`` (traced with :func:`regionlab.trace`;
    without ``example_input`` a zero input of shape ``(1, input_dim)`` is used, with
    ``input_dim`` read from a leading ``nn.Linear`` if not given) or a traced
    :class:`regionlab.CPWLNetwork`. Its IR must be a chain ``Dense -> activation ->
    Dense -> ... -> activation [-> Dense]`` (reshapes allowed; consecutive ``Dense`` ops
    and elementwise scalings after a ``Dense`` are composed into one weight matrix). The widths are the units per activation layer; the activation
    is read from the tables: every unit with one breakpoint and a zero-slope piece ->
    ``"relu"``; one breakpoint otherwise -> ``"leaky_relu"``; more breakpoints ->
    ``"cpwl"`` with K the largest number of breakpoints of any layer; max groups
    (``MaxOp``) -> ``"maxout"`` with rank the group size (equal in every layer). The
    ``ranks`` are the ranks of the (composed) weight matrices feeding each hidden layer,
    computed in float64 with ``torch.linalg.matrix_rank``.

    Parameters
    ----------
    model_or_net : nn.Module, CPWLNetwork or None
    example_input : Tensor, optional
        Example input for tracing an ``nn.Module``.
    input_dim, widths, activation, breakpoints, rank, ranks
        Explicit description (used when ``model_or_net`` is ``None``; ``input_dim`` also
        sizes the example input when tracing).

    Returns
    -------
    Architecture

    Raises
    ------
    BoundNotApplicableError
        If the network is not a plain fully connected chain (convolutions: see
        :func:`regionlab.bounds.conv_first_layer`; residual or branching graphs; mixed
        max and univariate activations; unequal maxout ranks).
    InvalidParameterError
        For bad explicit numbers, or when the input dimension cannot be determined.

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
    ...                             torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> arch = architecture(model)
    >>> arch.input_dim, arch.widths, arch.activation, arch.ranks
    (2, (8, 8), 'relu', (2, 8))
    >>> architecture(input_dim=2, widths=[4, 4], activation="maxout", rank=3).max_rank
    3
    """
    if model_or_net is None:
        if input_dim is None or widths is None:
            raise InvalidParameterError(
                "architecture() needs a model, or both input_dim and widths (e.g. input_dim=2, widths=[8, 8])."
            )
        if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
            widths = (widths,)
        act = _ALIASES.get(activation, activation) if isinstance(activation, str) else activation
        return Architecture(
            input_dim=input_dim,
            widths=tuple(widths) if hasattr(widths, "__iter__") and not isinstance(widths, str) else widths,
            activation=act,
            breakpoints=breakpoints,
            max_rank=rank,
            ranks=None if ranks is None else tuple(ranks),
        )
    import torch

    from ..ir import CPWLNetwork

    if isinstance(model_or_net, CPWLNetwork):
        net = model_or_net
    elif isinstance(model_or_net, torch.nn.Module):
        net = _trace_for_bounds(model_or_net, example_input, input_dim)
    else:
        raise InvalidParameterError(
            f"architecture() takes an nn.Module, a regionlab.CPWLNetwork or None; got {type(model_or_net).__name__}."
        )
    return _read_network(net)


def _trace_for_bounds(model, example_input, input_dim):
    import torch

    from ..tracing import trace

    if example_input is None:
        first = next((m for m in model.modules() if not list(m.children())), None)
        if input_dim is None:
            if isinstance(first, torch.nn.Linear):
                input_dim = first.in_features
            else:
                raise InvalidParameterError(
                    f"Cannot tell the input dimension of {type(model).__name__}: its first layer is "
                    f"{type(first).__name__ if first is not None else 'missing'}, not nn.Linear. "
                    "Pass example_input=... or input_dim=..."
                )
        input_dim = _int(input_dim, "input_dim", minimum=1)
        params = list(model.parameters())
        dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
        example_input = torch.zeros(1, input_dim, dtype=dtype)
    return trace(model, example_input)


def _layer_name(node) -> str:
    return f"node {node.name!r} ({node.where or node.op.describe()})"


def _read_network(net) -> Architecture:
    """Walk the IR chain of ``net`` and collect the architecture."""
    import torch

    from ..ir import Conv, Dense, ElementwiseAffine, MaxOp, PiecewiseLinear, Reshape, Sum

    nodes = net.nodes
    consumers = [0] * len(nodes)
    for n in nodes[1:]:
        for j in n.inputs:
            consumers[j] += 1
    supported = "a chain Linear -> activation -> Linear -> ... (ReLU-like, CPWL or maxout units)"
    widths: list[int] = []
    kinds: list[str] = []  # per hidden layer: relu, leaky_relu, cpwl, maxout
    ks: list[int] = []  # breakpoints (univariate) or group size (maxout)
    ranks: list[int] = []
    weight = None  # composed weight since the last nonlinear layer
    for i, node in enumerate(nodes[1:], start=1):
        op = node.op
        if node.inputs != (i - 1,) or (i < len(nodes) - 1 and consumers[i] != 1):
            raise BoundNotApplicableError(
                f"The network branches at {_layer_name(node)} (a residual, skip or multi-input connection); "
                f"the closed-form bounds need {supported}."
            )
        if isinstance(op, Conv):
            raise BoundNotApplicableError(
                f"{_layer_name(node)} is a convolution; the fully connected bounds do not apply. "
                "For one convolutional layer use regionlab.bounds.conv_first_layer(input_shape, kernel_size, "
                "stride, out_channels)."
            )
        if isinstance(op, Reshape):
            continue
        if isinstance(op, Dense):
            if len(nodes[i - 1].shape) != 1:
                raise BoundNotApplicableError(
                    f"{_layer_name(node)} acts on the last axis of a {nodes[i - 1].shape} tensor, which is not a "
                    f"fully connected layer; the bounds need {supported}."
                )
            w = op.weight.detach().to(dtype=torch.float64, device="cpu")
            weight = w if weight is None else w @ weight
            continue
        if isinstance(op, (ElementwiseAffine, Sum)) and weight is not None and len(node.shape) == 1:
            # elementwise scaling / shifting after a Dense layer: compose it into the weight
            if isinstance(op, Sum):
                weight = float(op.coeffs[0]) * weight
            elif op.scale is not None:
                scale = op.scale.detach().to(dtype=torch.float64, device="cpu").reshape(-1)
                weight = scale.expand(node.size).unsqueeze(1) * weight if scale.numel() in (1, node.size) else None
                if weight is None:
                    raise BoundNotApplicableError(
                        f"{_layer_name(node)} scales by a tensor of shape {tuple(op.scale.shape)}, which does not "
                        f"match its {node.size} units."
                    )
            continue
        if isinstance(op, (PiecewiseLinear, MaxOp)):
            if weight is None:
                raise BoundNotApplicableError(
                    f"{_layer_name(node)} is not preceded by a Linear layer; the bounds need {supported}."
                )
            if isinstance(op, MaxOp):
                if bool((op.index < 0).any()):
                    raise BoundNotApplicableError(
                        f"{_layer_name(node)} has max groups of unequal size; maxout bounds need every unit "
                        "of rank k."
                    )
                kinds.append("maxout")
                ks.append(op.group_size)
            else:
                units = node.size
                b, s, _ = op.unit_tables(units)
                k = int(b.shape[1])
                if k == 1:
                    zero = bool((s == 0).any(dim=1).all())
                    kinds.append("relu" if zero else "leaky_relu")
                else:
                    kinds.append("cpwl")
                ks.append(k)
            widths.append(node.size)
            ranks.append(int(torch.linalg.matrix_rank(weight)))
            weight = None
            continue
        raise BoundNotApplicableError(
            f"{_layer_name(node)} is an op ({op.describe()}) that the closed-form bounds do not cover; "
            f"they need {supported}."
        )
    if not widths:
        raise BoundNotApplicableError(
            "The network has no activation layer, so it is affine (one region); the bounds need "
            f"{supported}."
        )
    if "maxout" in kinds:
        if len(set(kinds)) > 1:
            raise BoundNotApplicableError(
                "The network mixes maxout and univariate activation layers; the bounds need one kind "
                f"(layer kinds: {kinds})."
            )
        if len(set(ks)) > 1:
            raise BoundNotApplicableError(
                f"The maxout layers have different ranks {ks}; the maxout bounds need one rank k for all layers."
            )
        return Architecture(net.input_dim, tuple(widths), "maxout", None, ks[0], tuple(ranks))
    if all(k == "relu" for k in kinds):
        act, bp = "relu", None
    elif all(k in ("relu", "leaky_relu") for k in kinds):
        act, bp = "leaky_relu", None
    else:
        act, bp = "cpwl", max(ks)
    return Architecture(net.input_dim, tuple(widths), act, bp, None, tuple(ranks))
