"""The public registry of lowering rules, and the context object rules receive.

A *lowering rule* turns one node of the torch.fx graph of a model (a call of a module,
a function or a tensor method) into IR ops. Built-in rules (``_rules.py``) and user
rules go through the same :func:`register_op`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InvalidParameterError, UnsupportedOperationError
from ..ir.ops import Op

__all__ = [
    "TracedTensor",
    "MultiOutput",
    "TraceContext",
    "TraceRule",
    "register_op",
    "unregister_op",
    "registered_ops",
]

_REQUIRED = object()


@dataclass(frozen=True)
class TracedTensor:
    """Stand-in for a tensor computed from the model input, in :attr:`TraceContext.args`.

    Attributes
    ----------
    slot : int
        Position of this tensor in :attr:`TraceContext.inputs`.
    shape : tuple of int
        Its per-sample shape (no batch dimension).

    Examples
    --------
    >>> TracedTensor(0, (3, 8, 8)).shape
    (3, 8, 8)
    """

    slot: int
    shape: tuple[int, ...]


@dataclass(frozen=True)
class MultiOutput:
    """Result of a rule for a call that returns several tensors (``torch.max(x, dim)``, ``chunk``).

    Each item lowers one output and is anything a rule may return for a single output
    (an ``Op``, a sequence of ops, ``None``), or an exception instance, raised only if the
    model actually uses that output (e.g. the argmax indices of ``torch.max``).

    Examples
    --------
    >>> from regionlab.ir import PiecewiseLinear
    >>> out = MultiOutput((PiecewiseLinear.relu(), ValueError("indices are not CPWL")))
    >>> len(out.items)
    2
    """

    items: tuple


@dataclass(frozen=True, eq=False)
class TraceContext:
    """Everything a lowering rule may look at; one is built per fx node.

    Attributes
    ----------
    node : torch.fx.Node
        The fx node being lowered (``op`` is ``call_module``, ``call_function`` or ``call_method``).
    module : nn.Module or None
        The called module for ``call_module`` nodes, else ``None``.
    path : str
        Module path of the node in the model (``"encoder.2"``; ``""`` for the top level).
    op_name : str
        Display name of the op (``"GELU"``, ``"torch.relu"``, ``"Tensor.view"``).
    args, kwargs : tuple, dict
        The call's arguments, with every tensor computed from the model input replaced
        by a :class:`TracedTensor` and everything else a concrete value (parameters,
        Python numbers, shapes). For ``call_method`` nodes ``args[0]`` is the tensor.
    inputs : tuple of int
        IR node indices of the traced tensors, in order of appearance in ``args`` then
        ``kwargs``.
    input_shapes : tuple of tuple of int
        Per-sample shapes of :attr:`inputs`.
    output_shape : tuple of int, or tuple of such tuples
        Per-sample shape(s) of the node's output, recorded by running the model.
    is_output : bool
        Whether this node's value is the model's output.
    dtype, device
        Precision and device of the IR being built; use :meth:`tensor` for constants.
    batch_size : int
        Batch size used to record shapes (what :meth:`replay` expects).

    Examples
    --------
    Rules usually read the module or constant arguments and return an IR op:

    >>> from regionlab.ir import PiecewiseLinear
    >>> def leaky_rule(ctx):
    ...     slope = ctx.arg(1, "negative_slope", default=0.01)
    ...     return PiecewiseLinear.leaky_relu(slope, dtype=ctx.dtype)
    """

    node: Any
    module: nn.Module | None
    path: str
    op_name: str
    args: tuple
    kwargs: dict
    inputs: tuple[int, ...]
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: Any
    is_output: bool
    dtype: torch.dtype
    device: torch.device
    batch_size: int
    _replay: Callable | None = field(default=None, repr=False)
    _target: Any = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """Human-readable location: ``"'encoder.2'"`` or ``"the top-level forward"``.

        Examples
        --------
        >>> ctx = TraceContext(None, None, "enc.1", "ReLU", (), {}, (), (), (), False, None, None, 1)
        >>> ctx.where
        "'enc.1'"
        """
        return f"'{self.path}'" if self.path else "the top-level forward"

    @property
    def num_units(self) -> int:
        """Number of entries of the first traced input (units of an elementwise op).

        Examples
        --------
        >>> TraceContext(None, None, "", "relu", (), {}, (1,), ((3, 4),), (3, 4), False, None, None, 1).num_units
        12
        """
        return math.prod(self.input_shapes[0]) if self.input_shapes else 0

    def arg(self, position: int, name: str | tuple[str, ...], default: Any = _REQUIRED) -> Any:
        """The call argument at ``position`` or keyword ``name`` (a name or tuple of aliases).

        Examples
        --------
        >>> ctx = TraceContext(None, None, "", "clamp", (TracedTensor(0, (2,)), -1.0), {"max": 1.0},
        ...                    (1,), ((2,),), (2,), False, None, None, 1)
        >>> ctx.arg(1, "min"), ctx.arg(2, "max"), ctx.arg(3, "out", None)
        (-1.0, 1.0, None)
        """
        names = (name,) if isinstance(name, str) else tuple(name)
        for n in names:
            if n in self.kwargs:
                return self.kwargs[n]
        if position is not None and 0 <= position < len(self.args):
            return self.args[position]
        if default is _REQUIRED:
            raise self.unsupported(f"the required argument '{names[0]}' is missing")
        return default

    def constant(self, position: int, name: str | tuple[str, ...], default: Any = _REQUIRED) -> Any:
        """Like :meth:`arg`, but raise if the argument is computed from the model input.

        Examples
        --------
        >>> ctx = TraceContext(None, None, "", "linear", (TracedTensor(0, (2,)), 1.0), {},
        ...                    (1,), ((2,),), (2,), False, None, None, 1)
        >>> ctx.constant(1, "weight")
        1.0
        """
        value = self.arg(position, name, default)
        if _contains_traced(value):
            label = name if isinstance(name, str) else name[0]
            raise self.unsupported(
                f"its '{label}' argument is computed from the model input, so the map is not "
                "piecewise linear in the input (products of traced tensors are not supported)"
            )
        return value

    def tensor(self, value, dtype: torch.dtype | None = None) -> Tensor:
        """A detached copy of ``value`` as a tensor on the IR's device and dtype.

        Integer and boolean tensors are cast to the IR dtype too, unless ``dtype`` is given.

        Examples
        --------
        >>> import torch
        >>> ctx = TraceContext(None, None, "", "mul", (), {}, (), (), (), False, torch.float64, torch.device("cpu"), 1)
        >>> ctx.tensor([1, 2])
        tensor([1., 2.], dtype=torch.float64)
        """
        # Python numbers go through float64: the float32 default dtype would round them
        t = value.detach() if isinstance(value, Tensor) else torch.as_tensor(value, dtype=torch.float64)
        return t.to(device=self.device, dtype=dtype or self.dtype).clone()

    def replay(self, *tensors: Tensor):
        """Re-run the node's own call with ``tensors`` in place of the traced inputs.

        The tensors need the batch dimension (``batch_size`` rows). Useful for pure data
        movement: replaying on an index-encoded tensor reveals which input entry each
        output entry reads.

        Examples
        --------
        >>> import torch, operator
        >>> ctx = TraceContext(None, None, "", "getitem", (TracedTensor(0, (4,)), (slice(None), slice(1, 3))), {},
        ...                    (1,), ((4,),), (2,), False, torch.float64, torch.device("cpu"), 1,
        ...                    _target=("call_function", operator.getitem))
        >>> ctx.replay(torch.arange(4.0).reshape(1, 4))
        tensor([[1., 2.]])
        """
        if len(tensors) != len(self.inputs):
            raise InvalidParameterError(f"replay needs {len(self.inputs)} tensors, got {len(tensors)}.")
        args = _substitute(self.args, tensors)
        kwargs = _substitute(self.kwargs, tensors)
        if self._replay is not None:
            return self._replay(args, kwargs)
        kind, target = self._target
        if kind == "call_module":
            return self.module(*args, **kwargs)
        if kind == "call_method":
            return getattr(args[0], target)(*args[1:], **kwargs)
        return target(*args, **kwargs)

    def unsupported(self, reason: str) -> UnsupportedOperationError:
        """An :class:`~regionlab.errors.UnsupportedOperationError` naming this op and its path.

        Raise it from a rule when an argument combination cannot be lowered.

        Examples
        --------
        >>> ctx = TraceContext(None, None, "enc.2", "GELU", (), {}, (), (), (), False, None, None, 1)
        >>> str(ctx.unsupported("it is not piecewise linear")).startswith("Cannot trace GELU at 'enc.2'")
        True
        """
        return UnsupportedOperationError(
            f"Cannot trace {self.op_name} at {self.where}: {reason}. If this op is piecewise linear "
            f"in your model, register a lowering rule with regionlab.register_op({self._register_hint()}, rule) "
            "(see help(regionlab.register_op)).",
            op=self.op_name,
            where=self.path,
        )

    def _register_hint(self) -> str:
        if self.module is not None:
            return type(self.module).__name__
        if self.node is not None and getattr(self.node, "op", None) == "call_method":
            return repr(self.node.target)
        return self.op_name


def _contains_traced(value) -> bool:
    if isinstance(value, TracedTensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_traced(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_traced(v) for v in value.values())
    if isinstance(value, slice):
        return any(_contains_traced(v) for v in (value.start, value.stop, value.step))
    return False


def _substitute(value, tensors):
    if isinstance(value, TracedTensor):
        return tensors[value.slot]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_substitute(v, tensors) for v in value)
    if isinstance(value, list):
        return [_substitute(v, tensors) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, tensors) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(*(_substitute(v, tensors) for v in (value.start, value.stop, value.step)))
    return value


# ------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class TraceRule:
    """One registry entry: how to lower calls of ``target``.

    Attributes
    ----------
    target : type, callable or str
        An ``nn.Module`` subclass, a function (``torch.relu``, ``operator.add``, an aten
        overload) or a tensor method name (``"relu"``).
    rule : callable
        ``rule(ctx: TraceContext)`` returning an IR ``Op``, a sequence of ops applied in
        a chain, ``None`` (the op is the identity on its first traced input), or a
        :class:`MultiOutput`.
    kind : str
        ``"module"``, ``"function"`` or ``"method"``.
    builtin : bool
        Whether regionlab ships the rule.

    Examples
    --------
    >>> import torch
    >>> from regionlab.tracing import registered_ops
    >>> any(r.target is torch.nn.ReLU for r in registered_ops())
    True
    """

    target: Any
    rule: Callable[[TraceContext], Any]
    kind: str
    builtin: bool = False

    @property
    def name(self) -> str:
        """Display name of the target.

        Examples
        --------
        >>> import torch
        >>> TraceRule(torch.nn.ReLU, lambda ctx: None, "module").name
        'ReLU'
        """
        if isinstance(self.target, str):
            return f"Tensor.{self.target}"
        return getattr(self.target, "__name__", None) or str(self.target)


_MODULES: dict[type, TraceRule] = {}
_FUNCTIONS: dict[Any, TraceRule] = {}
_METHODS: dict[str, TraceRule] = {}


def _kind_of(target) -> str:
    if isinstance(target, str):
        if not target.isidentifier():
            raise InvalidParameterError(
                f"A method target of register_op must be a method name such as 'relu'. Got {target!r} instead."
            )
        return "method"
    if isinstance(target, type):
        if not issubclass(target, nn.Module):
            raise InvalidParameterError(
                f"A class target of register_op must be an nn.Module subclass. Got {target.__name__} instead."
            )
        return "module"
    if callable(target):
        return "function"
    raise InvalidParameterError(
        "The 'target' parameter of register_op must be an nn.Module subclass, a function or a "
        f"tensor method name. Got {target!r} instead."
    )


def _table(kind: str) -> dict:
    return {"module": _MODULES, "function": _FUNCTIONS, "method": _METHODS}[kind]


def _register(target, rule, *, builtin: bool) -> TraceRule:
    kind = _kind_of(target)
    if not callable(rule):
        raise InvalidParameterError(
            f"The 'rule' parameter of register_op must be callable as rule(ctx). Got {rule!r} instead."
        )
    entry = TraceRule(target, rule, kind, builtin)
    _table(kind)[target] = entry
    return entry


def register_op(target, rule: Callable[[TraceContext], Any] | None = None):
    """Register how :func:`regionlab.trace` lowers calls of ``target`` to IR ops.

    Parameters
    ----------
    target : nn.Module subclass, callable or str
        What the rule handles: a module class (its instances become fx leaf modules, so
        the rule sees the whole module call), a function as it appears in the fx graph
        (``torch.relu``, ``torch.nn.functional.relu``, ``operator.add``,
        ``torch.ops.aten.relu.default``) or a tensor method name (``"relu"``).
        Registering a target again replaces its rule, built-in ones included.
    rule : callable, optional
        ``rule(ctx)`` with a :class:`TraceContext`; returns an IR op
        (:mod:`regionlab.ir.ops`), a sequence of ops (the first reads all traced inputs,
        each next one the previous op), ``None`` when the call is the identity on its
        first traced input, or a :class:`MultiOutput` for calls returning several
        tensors. Ops whose ``num_inputs`` is fixed read only that many leading inputs.
        Raise ``ctx.unsupported(reason)`` for argument combinations you cannot lower.
        When omitted, ``register_op`` returns a decorator.

    Returns
    -------
    The rule (so that ``register_op`` works as a decorator).

    Raises
    ------
    InvalidParameterError
        If ``target`` or ``rule`` has the wrong type.

    Examples
    --------
    Lower a custom module computing ``2 * relu(x)``:

    >>> import torch, regionlab
    >>> from regionlab.ir import PiecewiseLinear
    >>> class TwoReLU(torch.nn.Module):
    ...     def forward(self, x):
    ...         return 2 * torch.relu(x)
    >>> @regionlab.register_op(TwoReLU)
    ... def lower_two_relu(ctx):
    ...     return PiecewiseLinear.from_breakpoints([0.0], [0.0, 2.0], name="two_relu", dtype=ctx.dtype)
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), TwoReLU()).double().eval()
    >>> net = regionlab.trace(model, torch.zeros(1, 2, dtype=torch.float64))
    >>> [n.op.describe() for n in net.nodes[1:]]
    ['Dense(2 -> 3)', 'two_relu(K=1)']
    >>> x = torch.randn(4, 2, dtype=torch.float64)
    >>> bool(torch.allclose(net(x), model(x)))
    True
    >>> from regionlab.tracing import unregister_op
    >>> unregister_op(TwoReLU)
    True
    """
    if rule is None:
        _kind_of(target)

        def decorator(fn):
            _register(target, fn, builtin=False)
            return fn

        return decorator
    _register(target, rule, builtin=False)
    return rule


def unregister_op(target) -> bool:
    """Remove the rule of ``target``; return whether there was one.

    Examples
    --------
    >>> unregister_op("no_such_method")
    False
    """
    return _table(_kind_of(target)).pop(target, None) is not None


def registered_ops() -> tuple[TraceRule, ...]:
    """All registered rules (built-in and user), modules first.

    Examples
    --------
    >>> import torch
    >>> names = {r.name for r in registered_ops()}
    >>> {"Linear", "Conv2d", "Tensor.view"} <= names
    True
    """
    return tuple(_MODULES.values()) + tuple(_FUNCTIONS.values()) + tuple(_METHODS.values())


def module_rule(module: nn.Module) -> TraceRule | None:
    """The rule for ``module``: its exact type, or a registered base whose ``forward`` it keeps."""
    cls = type(module)
    entry = _MODULES.get(cls)
    if entry is not None:
        return entry
    for base in cls.__mro__[1:]:
        entry = _MODULES.get(base)
        # a subclass that overrides forward computes something else than its base
        if entry is not None and getattr(cls, "forward", None) is getattr(base, "forward", None):
            return entry
    return None


def function_rule(target) -> TraceRule | None:
    """The rule for a called function (aten overloads fall back to their packet)."""
    try:
        entry = _FUNCTIONS.get(target)
    except TypeError:  # unhashable callables
        return None
    if entry is None and isinstance(target, torch._ops.OpOverload):
        entry = _FUNCTIONS.get(target.overloadpacket)
    return entry


def method_rule(name: str) -> TraceRule | None:
    """The rule for a tensor method name."""
    return _METHODS.get(name)


def as_op_sequence(result) -> Sequence[Op] | None:
    """Normalize a single-output rule result to a tuple of ops, or ``None`` for identity."""
    if result is None:
        return None
    if isinstance(result, Op):
        return (result,)
    if isinstance(result, (list, tuple)) and all(isinstance(o, Op) for o in result):
        return tuple(result)
    raise TypeError(
        "a lowering rule must return an IR Op, a sequence of Ops, None or MultiOutput; "
        f"got {type(result).__name__}"
    )
