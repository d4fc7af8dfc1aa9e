"""torch.fx capture and lowering of a PyTorch model to the CPWL IR.

torch.fx is only the front end: :func:`trace` symbolically traces the model (every
module type with a registered rule is a leaf), runs the graph once on the example input
to record per-sample shapes, then lowers each fx node through the rule registry into IR
:class:`~regionlab.ir.Node` objects. Two graph passes follow (folding affine maps such
as eval-mode batch-norm into the preceding dense/conv layer, dead-node removal), and the
result is checked against the model's own output.
"""

from __future__ import annotations

import inspect
import math
import operator
import os
import re
import traceback
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
from torch import Tensor, nn

from ..errors import (
    InvalidParameterError,
    NumericalError,
    RegionlabError,
    ShapeError,
    TraceError,
    UnsupportedOperationError,
)
from ..ir.network import CPWLNetwork, Node
from ..ir.ops import Conv, Dense, ElementwiseAffine, Op, PiecewiseLinear, Reshape, Sum
from ..numerics import Numerics
from ._registry import (
    MultiOutput,
    TraceContext,
    TracedTensor,
    as_op_sequence,
    function_rule,
    method_rule,
    module_rule,
)

__all__ = ["trace"]

# calls that only read metadata of a traced tensor; their (concrete) results are constants
_META_METHODS = {"size", "dim", "ndimension", "type", "get_device", "is_contiguous", "is_floating_point"}
_META_ATTRS = {"shape", "ndim", "dtype", "device", "is_cuda", "requires_grad", "layout"}

# names of common ops that are not piecewise linear, for a more helpful message
_NOT_PWL = frozenset(
    "gelu sigmoid tanh silu swish softplus elu selu celu mish hardswish logsigmoid softsign tanhshrink "
    "exp expm1 log log1p log2 log10 sqrt rsqrt pow square reciprocal sin cos erf layernorm layer_norm "
    "groupnorm group_norm instancenorm instance_norm localresponsenorm normalize softmax softmin glu "
    "multiheadattention scaled_dot_product_attention lstm gru rnn embedding embeddingbag bilinear "
    "threshold hardshrink round floor ceil sign argmax argmin sort topk".split()
)


def _not_pwl(name: str) -> bool:
    for token in re.split(r"[^a-z0-9_]+", name.lower()):
        token = re.sub(r"\d+d$", "", token.strip("_"))
        if token in _NOT_PWL:
            return True
    return False


# --------------------------------------------------------------------------- capture


class _Tracer(fx.Tracer):
    """fx tracer whose leaves are torch.nn modules plus every module type with a rule."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if module_rule(m) is not None:
            return True
        return super().is_leaf_module(m, module_qualified_name)


def _user_location(tb) -> str:
    """``file:line (code)`` of the innermost traceback frame outside torch and regionlab."""
    torch_dir = os.path.dirname(torch.__file__)
    own_dir = os.path.dirname(os.path.dirname(__file__))
    best = None
    for frame in traceback.extract_tb(tb):
        if not (frame.filename.startswith(torch_dir) or frame.filename.startswith(own_dir)):
            best = frame
    if best is None:
        return ""
    code = f" `{best.line.strip()}`" if best.line else ""
    return f" (at {os.path.basename(best.filename)}:{best.lineno}{code})"


def _capture(model: nn.Module) -> fx.GraphModule:
    if isinstance(model, fx.GraphModule):
        # already a graph (e.g. torch.export's .module()): lower it as it is
        return model
    concrete = {}
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params[1:]:
        # flags such as `return_features=False` would otherwise be traced as proxies
        plain = p.default is None or isinstance(p.default, (bool, int, float, str))
        if plain and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            concrete[p.name] = p.default
    tracer = _Tracer()
    name = type(model).__name__
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except fx.proxy.TraceError as e:
        where = _user_location(e.__traceback__)
        raise UnsupportedOperationError(
            f"Cannot trace {name}: data-dependent control flow{where}. The forward uses the value "
            "of a tensor computed from the input in Python control flow (if/while/bool()/len()), "
            "which torch.fx cannot trace. Rewrite it with tensor ops (torch.clamp, torch.maximum, "
            "or torch.where(x > t, f(x), g(x)) with affine branches that agree at t), or move it "
            f"into a module with a rule registered via regionlab.register_op. (fx: {e})",
            op="control flow",
            where=where.strip(" ()") or None,
        ) from None
    except RegionlabError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of fx's symbolic execution
        where = _user_location(e.__traceback__)
        raise TraceError(
            f"torch.fx could not trace {name}{where}: {type(e).__name__}: {e}. Data-dependent "
            "control flow or Python operations on tensors (len, iteration, .item()) cannot be "
            "traced; rewrite them with tensor ops or register a rule for the enclosing module with "
            "regionlab.register_op."
        ) from None
    return fx.GraphModule(tracer.root, graph, name)


# ----------------------------------------------------------------- shape recording


@dataclass(frozen=True)
class _TensorInfo:
    shape: tuple[int, ...]
    dtype: torch.dtype


def _summarize(value):
    if isinstance(value, Tensor):
        return _TensorInfo(tuple(value.shape), value.dtype)
    if isinstance(value, (tuple, list)):
        return tuple(_summarize(v) for v in value)
    return value


def _has_tensor(value) -> bool:
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return any(_has_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_has_tensor(v) for v in value.values())
    return False


class _Recorder(fx.Interpreter):
    """Runs the graph once, keeping constant values and the shapes of traced tensors."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.records: dict[fx.Node, Any] = {}
        # full values of the output's sources and their inputs, to check the lowering
        # against (an output softmax is dropped, so the check uses its input)
        out = next(n for n in gm.graph.nodes if n.op == "output")
        sources = {a for a in _walk(out.args) if isinstance(a, fx.Node)}
        self.keep = sources | {a for s in sources for a in s.all_input_nodes}
        self.values: dict[fx.Node, Any] = {}
        self.traced: set[fx.Node] = set()
        self.final: Any = None
        self._first_placeholder = next((n for n in gm.graph.nodes if n.op == "placeholder"), None)

    def run_node(self, n: fx.Node):
        result = super().run_node(n)
        if n.op == "output":
            self.final = result
            return result
        if n in self.keep and isinstance(result, Tensor):
            self.values[n] = result.detach().clone()
        from_input = n is self._first_placeholder or any(a in self.traced for a in n.all_input_nodes)
        if from_input and _has_tensor(result):
            # values of traced tensors are not needed later: keep only their shapes
            self.traced.add(n)
            self.records[n] = _summarize(result)
        else:
            self.records[n] = result
        return result


@dataclass
class _Run:
    recorder: _Recorder
    batch: Tensor
    sample_shape: tuple[int, ...]
    interpretation: str


def _candidates(x: Tensor):
    """Batched readings of the example input, most plausible first.

    A 1-D example is one sample; a higher-dimensional one is first read as a batch. A
    batch of two different rows is preferred (it exposes code mixing samples); the
    example's own batch size is the fallback for graphs with a static batch size.
    """
    gen = torch.Generator(device="cpu").manual_seed(0)

    def pair(sample):
        scale = float(sample.abs().max()) if sample.numel() else 1.0
        noise = torch.randn(sample.shape, generator=gen, dtype=torch.float64).to(sample.device, sample.dtype)
        return torch.stack([sample, sample + noise * max(scale, 1.0) * 0.5])

    as_batch = []
    if x.dim() >= 1 and x.shape[0] >= 1:
        rows = x[:2] if x.shape[0] >= 2 else pair(x[0])
        as_batch = [("batch", rows), ("batch", x)] if x.shape[0] != 2 else [("batch", rows)]
    as_sample = [("sample", pair(x)), ("sample", x.unsqueeze(0))]
    if x.dim() >= 2:
        return [as_batch[0], as_sample[0], *as_batch[1:], as_sample[1]]
    return [as_sample[0], *as_batch[:1], as_sample[1], *as_batch[1:]]


def _output_tensor(out):
    if isinstance(out, (tuple, list)) and len(out) == 1:
        out = out[0]
    return out


def _record(gm: fx.GraphModule, x: Tensor) -> _Run:
    first_error = None
    mixed = None
    for kind, batch in _candidates(x):
        rec = _Recorder(gm)
        try:
            with torch.no_grad():
                rec.run(batch)
        except RegionlabError:
            raise
        except Exception as e:  # noqa: BLE001 - the user's forward may raise anything
            if first_error is None:
                first_error = e
            continue
        out = _output_tensor(rec.final)
        if isinstance(out, (tuple, list, dict)):
            raise UnsupportedOperationError(
                "The model returns several values (a tuple, list or dict); regionlab traces models "
                "with a single tensor output. Wrap the model to return one tensor.",
                op="multiple outputs",
            )
        if isinstance(out, Tensor) and out.dim() >= 1 and out.shape[0] == batch.shape[0]:
            return _Run(rec, batch, tuple(batch.shape[1:]), kind)
        if mixed is None:
            mixed = (tuple(getattr(out, "shape", ())), int(batch.shape[0]))
    if mixed is not None:
        raise UnsupportedOperationError(
            f"The model mixes samples of the batch: for a batch of {mixed[1]} its output has shape "
            f"{mixed[0]}. regionlab needs the batch as the first dimension of every tensor; reshape "
            "with x.view(x.size(0), ...) and reduce over non-batch dimensions only.",
            op="batch mixing",
        )
    msg = str(first_error).strip().splitlines()[0] if str(first_error).strip() else type(first_error).__name__
    raise ShapeError(
        f"The model's forward fails on the example input of shape {tuple(x.shape)}: {msg}. Pass an "
        "example input the model accepts: a batch (B, *input_shape) or a single sample."
    ) from None


# --------------------------------------------------------------------------- lowering


@dataclass(frozen=True)
class _Var:
    """A traced tensor: the output of IR node ``index``."""

    index: int


@dataclass(frozen=True)
class _Poison:
    """An output that cannot be lowered; raises when the model uses it."""

    error: BaseException


@dataclass(frozen=True)
class _Compare:
    """``x <op> threshold`` for a traced ``x``: only usable as the condition of ``torch.where``."""

    index: int
    greater: bool
    threshold: Any
    error: BaseException


_aten = torch.ops.aten
_GREATER = {operator.gt, operator.ge, torch.gt, torch.ge, torch.greater, torch.greater_equal, "gt", "ge",
            "greater", "greater_equal", _aten.gt, _aten.ge}
_LESS = {operator.lt, operator.le, torch.lt, torch.le, torch.less, torch.less_equal, "lt", "le", "less",
         "less_equal", _aten.lt, _aten.le}
_WHERE = {torch.where, "where", _aten.where}


def _target_key(n: fx.Node):
    t = n.target
    if isinstance(t, torch._ops.OpOverload):
        return t.overloadpacket
    return t


def _f64(value) -> Tensor:
    """A detached tensor; Python numbers become float64 (not the float32 default dtype)."""
    if isinstance(value, Tensor):
        return value.detach()
    return torch.as_tensor(value, dtype=torch.float64)


def _map(value, fn):
    if isinstance(value, fx.Node):
        return fn(value)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_map(v, fn) for v in value)
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(_map(value.start, fn), _map(value.stop, fn), _map(value.step, fn))
    return value


def _walk(value):
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, slice):
        yield from _walk([value.start, value.stop, value.step])
    else:
        yield value


def _function_name(target) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    name = getattr(target, "__name__", None) or repr(target)
    mod = getattr(target, "__module__", None) or ""
    if mod in ("_operator", "operator"):
        return f"operator.{name}"
    if mod.startswith("torch.nn.functional"):
        return f"torch.nn.functional.{name}"
    if mod.startswith("torch") or mod == "":
        return f"torch.{name}" if hasattr(torch, name) else name
    return f"{mod}.{name}"


def _module_path(node: fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack")
    if stack:
        last = list(stack.values())[-1]
        path = last[0] if isinstance(last, tuple) else last
        if isinstance(path, str):
            return path
    return ""


class _Lowerer:
    def __init__(self, gm: fx.GraphModule, run: _Run, dtype: torch.dtype, device: torch.device):
        self.gm = gm
        self.run = run
        self.dtype = dtype
        self.device = device
        self.batch_size = int(run.batch.shape[0])
        self.nodes: list[Node] = [Node(None, (), run.sample_shape, "input", "input")]
        self.env: dict[fx.Node, Any] = {}
        out_node = next(n for n in gm.graph.nodes if n.op == "output")
        self.output_sources = {a for a in _walk(out_node.args) if isinstance(a, fx.Node)}

    # ---------------------------------------------------------------- main loop

    def lower(self) -> tuple[list[Node], int]:
        placeholders = 0
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if placeholders == 0:
                    self.env[n] = _Var(0)
                else:
                    value = self.run.recorder.records.get(n)
                    if n in self.run.recorder.traced:
                        raise UnsupportedOperationError(
                            "Models with several tensor inputs are not supported: regionlab traces a "
                            f"single input (extra input '{n.target}'). Wrap the model so that it takes one tensor.",
                            op="multiple inputs",
                        )
                    self.env[n] = value
                placeholders += 1
            elif n.op == "get_attr":
                self.env[n] = self.run.recorder.records[n]
            elif n.op == "output":
                return self.nodes, self._output_index(n)
            elif not n.users:
                continue  # dead code (e.g. torch.export's guard calls) does not shape the output
            else:
                self.env[n] = self._call(n)
        raise TraceError("The traced graph has no output node.")

    def _output_index(self, n: fx.Node) -> int:
        value = _map(n.args[0], self._value)
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]
        if isinstance(value, (_Poison, _Compare)):
            raise value.error
        if isinstance(value, _Var):
            return value.index
        if isinstance(value, (tuple, list, dict)):
            raise UnsupportedOperationError(
                "The model returns several values (a tuple, list or dict); regionlab traces models "
                "with a single tensor output. Wrap the model to return one tensor.",
                op="multiple outputs",
            )
        raise TraceError("The model's output does not depend on its input; there is nothing to trace.")

    def _value(self, n: fx.Node):
        if n not in self.env:
            raise TraceError(f"Internal error: fx node {n.name} was used before it was lowered.")
        return self.env[n]

    # ---------------------------------------------------------------- one call

    def _describe(self, n: fx.Node):
        module = self.gm.get_submodule(n.target) if n.op == "call_module" else None
        if n.op == "call_module":
            name = type(module).__name__
        elif n.op == "call_method":
            name = f"Tensor.{n.target}"
        else:
            name = _function_name(n.target)
        return module, name, _module_path(n)

    def _call(self, n: fx.Node):
        args = _map(n.args, self._value)
        kwargs = _map(n.kwargs, self._value)
        # indexing into a tuple of lowered outputs (torch.max(x, dim)[0], chunks...)
        if n.op == "call_function" and n.target in (operator.getitem, getattr) and isinstance(args[0], (tuple, list)):
            key = args[1]
            if n.target is getattr:
                key = {"values": 0, "indices": 1}.get(key, key)
                if not isinstance(key, int):
                    return self.run.recorder.records[n]
            return args[0][key]
        key = _target_key(n) if n.op != "call_module" else None
        if key in _GREATER or key in _LESS:
            compare = self._comparison(n, args, kwargs, key in _GREATER)
            if compare is not None:
                return compare
        if key in _WHERE and args and isinstance(args[0], _Compare):
            return self._where(n, args, kwargs)
        flat = list(_walk((args, kwargs)))
        for v in flat:
            if isinstance(v, (_Poison, _Compare)):
                raise v.error

        traced = n in self.run.recorder.traced
        has_var = any(isinstance(v, _Var) for v in flat)
        if not traced:
            if has_var and not self._is_meta(n):
                module, name, path = self._describe(n)
                where = f"'{path}'" if path else "the top-level forward"
                raise UnsupportedOperationError(
                    f"Cannot trace {name} at {where}: it turns a tensor computed from the input into a "
                    "Python value, which makes the model data-dependent. Keep the computation in tensor ops.",
                    op=name,
                    where=path,
                )
            return self.run.recorder.records[n]
        if not has_var:
            # a tensor built from the input's shape only (e.g. torch.zeros(x.size(0), 3))
            module, name, path = self._describe(n)
            raise UnsupportedOperationError(
                f"Cannot trace {name} at '{path}': it creates a tensor whose size depends on the batch "
                "size, which regionlab cannot represent as a per-sample constant.",
                op=name,
                where=path,
            )

        module, name, path = self._describe(n)
        info = self.run.recorder.records[n]
        self._check_batch(info, name, path)
        entry = self._rule(n, module)
        if entry is None:
            raise self._no_rule(n, module, name, path)

        inputs: list[int] = []
        shapes: list[tuple[int, ...]] = []

        def to_traced(v):
            if isinstance(v, _Var):
                inputs.append(v.index)
                shapes.append(self.nodes[v.index].shape)
                return TracedTensor(len(inputs) - 1, self.nodes[v.index].shape)
            return v

        t_args = _map_values(args, to_traced)
        t_kwargs = _map_values(kwargs, to_traced)
        ctx = TraceContext(
            node=n,
            module=module,
            path=path,
            op_name=name,
            args=t_args,
            kwargs=t_kwargs,
            inputs=tuple(inputs),
            input_shapes=tuple(shapes),
            output_shape=_per_sample(info),
            is_output=n in self.output_sources and len(n.users) == 1,
            dtype=self.dtype,
            device=self.device,
            batch_size=self.batch_size,
            _target=(n.op, n.target),
        )
        try:
            result = entry.rule(ctx)
        except RegionlabError:
            raise
        except Exception as e:  # noqa: BLE001 - a faulty (user) rule
            raise TraceError(
                f"The lowering rule for {name} at {ctx.where} failed: {type(e).__name__}: {e}"
            ) from e
        if isinstance(result, MultiOutput):
            if not isinstance(info, tuple) or len(info) != len(result.items):
                raise TraceError(
                    f"The lowering rule for {name} at {ctx.where} returned {len(result.items)} outputs, "
                    "but the call does not return that many tensors."
                )
            out = []
            for k, (item, item_info) in enumerate(zip(result.items, info, strict=True)):
                if isinstance(item, BaseException):
                    out.append(_Poison(item))
                else:
                    self._check_batch(item_info, name, path)
                    out.append(self._emit(item, ctx, _per_sample(item_info), f"{n.name}.{k}"))
            return tuple(out)
        if not isinstance(info, _TensorInfo):
            raise TraceError(
                f"The lowering rule for {name} at {ctx.where} returned one output, but the call "
                "returns several tensors; return a MultiOutput."
            )
        return self._emit(result, ctx, info.shape[1:], n.name)

    def _comparison(self, n: fx.Node, args, kwargs, greater: bool):
        if kwargs or len(args) != 2:
            return None
        a, b = args
        if isinstance(a, _Var) == isinstance(b, _Var):
            return None
        var, const = (a, b) if isinstance(a, _Var) else (b, a)
        if isinstance(b, _Var):
            greater = not greater  # `t < x` is `x > t`
        module, name, path = self._describe(n)
        where = f"'{path}'" if path else "the top-level forward"
        error = UnsupportedOperationError(
            f"Cannot trace {name} at {where}: a comparison of a tensor computed from the input is only "
            "supported as the condition of torch.where(x > t, f(x), g(x)) with affine branches that agree "
            "at the threshold (a continuous piecewise-linear map).",
            op=name,
            where=path,
        )
        return _Compare(var.index, greater, const, error)

    def _branch(self, value, index: int, shape, dtype):
        """``(slope, intercept)`` per unit if ``value`` is elementwise affine in node ``index``."""
        units = math.prod(shape)

        def full(t):
            t = _f64(t).to(device=self.device, dtype=dtype)
            while t.dim() > len(shape) and t.shape[0] == 1:
                t = t[0]
            return t.expand(shape).reshape(units).clone()

        if not isinstance(value, _Var):
            return (full(0.0), full(value)) if not isinstance(value, (tuple, list, dict)) else None
        # compose the chain of elementwise affine nodes leading back to node `index`
        slope, icpt, j = full(1.0), full(0.0), value.index
        for _ in range(32):
            if j == index:
                return slope, icpt
            node = self.nodes[j]
            if node.op is None or len(node.inputs) != 1 or tuple(node.shape) != tuple(shape):
                return None
            op = node.op
            if isinstance(op, Sum):
                s, c = full(float(op.coeffs[0])), full(0.0 if op.constant is None else op.constant)
            elif isinstance(op, ElementwiseAffine):
                s, c = full(1.0 if op.scale is None else op.scale), full(0.0 if op.shift is None else op.shift)
            else:
                return None
            slope, icpt, j = slope * s, slope * c + icpt, node.inputs[0]
        return None

    def _where(self, n: fx.Node, args, kwargs):
        cond = args[0]
        if kwargs or len(args) != 3:
            raise cond.error
        shape = self.nodes[cond.index].shape
        info = self.run.recorder.records[n]
        if not isinstance(info, _TensorInfo) or tuple(info.shape[1:]) != tuple(shape):
            raise cond.error
        hi = self._branch(args[1] if cond.greater else args[2], cond.index, shape, torch.float64)
        lo = self._branch(args[2] if cond.greater else args[1], cond.index, shape, torch.float64)
        try:
            t = _f64(cond.threshold).to(device=self.device, dtype=torch.float64)
            while t.dim() > len(shape) and t.shape[0] == 1:
                t = t[0]
            t = t.expand(shape).reshape(-1).clone()
        except RuntimeError:
            t = None
        if hi is None or lo is None or t is None:
            raise cond.error
        at_lo = lo[0] * t + lo[1]
        at_hi = hi[0] * t + hi[1]
        if not bool(torch.allclose(at_lo, at_hi, rtol=1e-12, atol=1e-12 * (1 + float(at_lo.abs().max())))):
            raise cond.error
        op = PiecewiseLinear.from_breakpoints(
            t[:, None], torch.stack([lo[0], hi[0]], dim=1), lo[1], "where", torch.float64
        ).to(dtype=self.dtype)
        module, name, path = self._describe(n)
        self.nodes.append(Node(op, (cond.index,), tuple(shape), n.name, path or name))
        return _Var(len(self.nodes) - 1)

    def _is_meta(self, n: fx.Node) -> bool:
        if n.op == "call_method":
            return n.target in _META_METHODS
        if n.op == "call_function" and n.target is getattr:
            return n.args[1] in _META_ATTRS
        return n.op == "call_function" and n.target is torch.ops.aten.sym_size.int

    def _check_batch(self, info, name, path):
        # for calls returning several tensors only the outputs that get lowered are checked
        for i in (info,) if isinstance(info, _TensorInfo) else ():
            if len(i.shape) == 0 or i.shape[0] != self.batch_size:
                where = f"'{path}'" if path else "the top-level forward"
                raise UnsupportedOperationError(
                    f"Cannot trace {name} at {where}: it mixes samples of the batch (its output has shape "
                    f"{i.shape} for a batch of {self.batch_size}). regionlab needs every intermediate "
                    "tensor to keep the batch as its first dimension; write reshapes as "
                    "x.view(x.size(0), ...) and reduce over non-batch dimensions only.",
                    op=name,
                    where=path,
                )

    def _rule(self, n: fx.Node, module):
        if n.op == "call_module":
            return module_rule(module)
        if n.op == "call_method":
            return method_rule(n.target)
        return function_rule(n.target)

    def _no_rule(self, n, module, name, path) -> UnsupportedOperationError:
        where = f"'{path}'" if path else "the top-level forward"
        if n.op == "call_function" and n.target in (operator.mul, operator.imul, operator.matmul, operator.truediv):
            reason = "it combines two tensors computed from the input, which is not piecewise linear"
        elif _not_pwl(name):
            reason = f"{name} is not piecewise linear, so the network would not be a CPWL function"
        else:
            reason = f"regionlab has no lowering rule for {name}"
        if module is not None:
            hint = type(module).__name__
        elif n.op == "call_method":
            hint = repr(n.target)
        else:
            hint = name
        return UnsupportedOperationError(
            f"Cannot trace {name} at {where}: {reason}. Replace it with a piecewise-linear op "
            f"(e.g. nn.ReLU or regionlab.CPWLActivation), or, if it computes a piecewise-linear "
            f"map, register a lowering rule with regionlab.register_op({hint}, rule) "
            "(see help(regionlab.register_op)).",
            op=name,
            where=path,
        )

    def _emit(self, result, ctx: TraceContext, expected: tuple[int, ...], name: str):
        try:
            ops = as_op_sequence(result)
        except TypeError as e:
            raise TraceError(f"The lowering rule for {ctx.op_name} at {ctx.where} is invalid: {e}.") from None
        if not ops:
            if not ctx.inputs:
                raise TraceError(f"The lowering rule for {ctx.op_name} at {ctx.where} returned no op.")
            index = ctx.inputs[0]
            if self.nodes[index].shape != tuple(expected):
                raise TraceError(
                    f"The lowering rule for {ctx.op_name} at {ctx.where} returned no op (identity), but the "
                    f"call changes the shape {self.nodes[index].shape} -> {tuple(expected)}."
                )
            return _Var(index)
        current = tuple(ctx.inputs)
        for k, op in enumerate(ops):
            if op.num_inputs >= 0:
                current = current[: op.num_inputs]
            if op.kind != "linear" and len(current) != 1:
                raise TraceError(
                    f"The lowering rule for {ctx.op_name} at {ctx.where} applies the nonlinear op "
                    f"{op.describe()} to {len(current)} inputs; nonlinear ops take exactly one."
                )
            in_shapes = [self.nodes[i].shape for i in current]
            try:
                shape = tuple(int(s) for s in op.output_shape(*in_shapes))
            except RegionlabError:
                raise
            except Exception as e:  # noqa: BLE001
                raise TraceError(
                    f"The lowering rule for {ctx.op_name} at {ctx.where} built {op.describe()}, which "
                    f"does not accept inputs of shape {in_shapes}: {e}"
                ) from None
            label = name if k == len(ops) - 1 else f"{name}:{k}"
            self.nodes.append(Node(op, current, shape, label, ctx.path or ctx.op_name))
            current = (len(self.nodes) - 1,)
        if shape != tuple(expected):
            raise TraceError(
                f"The lowering rule for {ctx.op_name} at {ctx.where} produces per-sample shape {shape}, "
                f"but the model produces {tuple(expected)}."
            )
        return _Var(current[0])


def _map_values(value, fn):
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_map_values(v, fn) for v in value)
    if isinstance(value, list):
        return [_map_values(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_values(v, fn) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(*(_map_values(v, fn) for v in (value.start, value.stop, value.step)))
    return fn(value)


def _per_sample(info):
    if isinstance(info, _TensorInfo):
        return info.shape[1:]
    if isinstance(info, tuple):
        return tuple(_per_sample(i) for i in info)
    return info


# ------------------------------------------------------------------------ graph passes


def _as_affine(op: Op):
    """``(scale, shift)`` of an elementwise affine op, or ``None``."""
    if isinstance(op, ElementwiseAffine):
        return op.scale, op.shift
    if isinstance(op, Sum) and len(op.coeffs) == 1:
        return torch.tensor(float(op.coeffs[0]), dtype=torch.float64), op.constant
    return None


def _channel_vector(t: Tensor | None, shape: tuple[int, ...], axis: int, fill: float, like: Tensor):
    """``t`` broadcast to ``shape`` as a vector along ``axis``, or ``None`` if it varies elsewhere."""
    channels = shape[axis]
    if t is None:
        return torch.full((channels,), fill, dtype=like.dtype, device=like.device)
    t = t.to(device=like.device, dtype=like.dtype)
    try:
        full = t.expand(shape) if t.dim() <= len(shape) else None
    except RuntimeError:
        return None
    if full is None:
        return None
    per = full.movedim(axis, 0).reshape(channels, -1)
    if per.shape[1] and not bool((per == per[:, :1]).all()):
        return None
    return per[:, 0].clone() if per.shape[1] else torch.full((channels,), fill, dtype=like.dtype, device=like.device)


def _fold(producer: Op, shape: tuple[int, ...], affine) -> Op | None:
    scale, shift = affine
    if isinstance(producer, Dense):
        axis = len(shape) - 1
    elif isinstance(producer, Conv):
        axis = 0
    else:
        return None
    if not shape:
        return None
    w = producer.weight
    s = _channel_vector(scale, shape, axis, 1.0, w)
    t = _channel_vector(shift, shape, axis, 0.0, w)
    if s is None or t is None:
        return None
    bias = producer.bias if producer.bias is not None else torch.zeros_like(s)
    new_w = w * s.reshape(-1, *([1] * (w.dim() - 1)))
    new_b = bias * s + t
    if isinstance(producer, Dense):
        return Dense(new_w, new_b)
    return Conv(new_w, new_b, producer.stride, producer.padding, producer.dilation, producer.groups, producer.in_shape)


def _optimize(nodes: list[Node], output: int) -> tuple[list[Node], int]:
    """Fold affine ops into single-use dense/conv producers, merge reshapes, drop dead nodes."""
    nodes = list(nodes)
    users = [0] * len(nodes)
    for n in nodes:
        for j in n.inputs:
            users[j] += 1
    users[output] += 1
    for i, n in enumerate(nodes):
        if n.op is None or len(n.inputs) != 1:
            continue
        p = n.inputs[0]
        prod = nodes[p]
        if users[p] != 1 or prod.op is None:
            continue
        affine = _as_affine(n.op)
        if affine is not None:
            folded = _fold(prod.op, prod.shape, affine)
            if folded is not None:
                nodes[i] = Node(folded, prod.inputs, n.shape, f"{prod.name}+{n.name}", f"{prod.where} (+ {n.where} folded)")
                users[p] = 0
                continue
        if isinstance(n.op, Reshape) and isinstance(prod.op, Reshape):
            nodes[i] = Node(n.op, prod.inputs, n.shape, n.name, n.where)
            users[p] = 0
    # keep only what the output needs, renumbering in order
    live = [False] * len(nodes)
    live[0] = live[output] = True
    for i in range(len(nodes) - 1, 0, -1):
        if live[i]:
            for j in nodes[i].inputs:
                live[j] = True
    new_index: dict[int, int] = {}
    out_nodes: list[Node] = []
    for i, n in enumerate(nodes):
        if live[i]:
            new_index[i] = len(out_nodes)
            out_nodes.append(n if i == 0 else Node(n.op, tuple(new_index[j] for j in n.inputs), n.shape, n.name, n.where))
    return out_nodes, new_index[output]


# ------------------------------------------------------------------------------ entry


def _model_device(model: nn.Module, x: Tensor) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return x.device


def _model_float_dtype(model: nn.Module, x: Tensor) -> torch.dtype:
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _check_weights(model: nn.Module) -> None:
    for kind, items in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in items:
            if t.is_floating_point() and not bool(torch.isfinite(t.detach()).all()):
                raise NumericalError(
                    f"The model's {kind} '{name}' contains NaN or inf; regionlab needs finite weights. "
                    "Check the training run or the loaded checkpoint."
                )


def _verify(net: CPWLNetwork, run: _Run, expected: Tensor) -> None:
    with torch.no_grad():
        got = net(run.batch.to(device=net.device, dtype=net.dtype))
    if tuple(got.shape) != tuple(expected.shape):
        raise TraceError(
            f"The traced network's output shape {tuple(got.shape)} differs from the model's "
            f"{tuple(expected.shape)}; please report this as a bug."
        )
    exp = expected.detach().to(torch.float64)
    diff = float((got.to(torch.float64) - exp).abs().max()) if exp.numel() else 0.0
    precise = expected.dtype == torch.float64 and net.dtype == torch.float64
    scale = 1.0 + float(exp.abs().max()) if exp.numel() else 1.0
    tol = (1e-6 if precise else 1e-2) * scale
    if not diff <= tol:
        raise TraceError(
            f"The traced network does not reproduce the model on the example input (max abs "
            f"difference {diff:.3g}). This happens when the forward has effects torch.fx does not "
            "record (in-place updates of tensors that are used again, Python-side randomness, "
            "values that depend on the batch size) or when a custom lowering rule is wrong."
        )


def trace(model: nn.Module, example_input, *, numerics: Numerics | None = None, dtype: torch.dtype | None = None) -> CPWLNetwork:
    """Trace a PyTorch model into an immutable :class:`~regionlab.ir.CPWLNetwork`.

    torch.fx captures the forward (modules with a lowering rule are leaves), the model is
    run once on ``example_input`` to record per-sample shapes, and every call is lowered
    through the rule registry (see :func:`regionlab.register_op`). Eval-mode batch-norm
    (and other elementwise affine maps) right after a ``Linear``/``Conv`` whose output is
    used only there is folded into its weights. The result is checked against the
    model's own output on the example input.

    Parameters
    ----------
    model : nn.Module
        The model, in eval mode. TorchScript modules built from standard layers (e.g.
        ``nn.Sequential``) are rebuilt first; ``torch.export`` graphs (``ep.module()``)
        are lowered as they are.
    example_input : Tensor
        An input the model accepts, used for shapes only. Batch convention: a 1-D tensor
        is one sample; a tensor with two or more dimensions is read as a batch
        ``(B, *input_shape)`` when the model accepts it as one, otherwise as a single
        sample. The IR's ``input_shape`` never includes the batch dimension. Pass
        ``x.unsqueeze(0)`` to be explicit.
    numerics : Numerics, optional
        Numerical settings; its ``dtype`` is the IR precision when ``dtype`` is not given.
    dtype : torch.dtype, optional
        Precision of the IR's tensors (float64 by default). Weights are copied, detached,
        to this dtype on the model's device; the model itself is not modified.

    Returns
    -------
    CPWLNetwork

    Raises
    ------
    UnsupportedOperationError
        An op has no lowering rule or is not piecewise linear (GELU, sigmoid, products
        of tensors...), a layer is in training mode (batch-norm, dropout), or the forward
        has data-dependent control flow. The message names the op and its module path.
    TraceError
        torch.fx cannot capture the forward, or a lowering rule fails.
    ShapeError
        The model's forward fails on ``example_input``.
    NumericalError
        Weights or the example input contain NaN or inf.
    InvalidParameterError
        ``model`` is not an ``nn.Module`` or the other arguments have the wrong type.

    Examples
    --------
    >>> import torch, regionlab
    >>> g = torch.Generator().manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
    ...                             torch.nn.Linear(4, 1)).double().eval()
    >>> net = regionlab.trace(model, torch.zeros(1, 2, dtype=torch.float64))
    >>> [n.op.describe() for n in net.nodes[1:]]  # batch-norm folded into the first Linear
    ['Dense(2 -> 4)', 'relu(K=1)', 'Dense(4 -> 1)']
    >>> x = torch.randn(5, 2, generator=g, dtype=torch.float64)
    >>> float((net(x) - model(x).detach()).abs().max()) < 1e-12
    True
    >>> net.num_units
    4
    """
    if numerics is not None and not isinstance(numerics, Numerics):
        raise InvalidParameterError(
            f"The 'numerics' parameter of trace must be a regionlab.Numerics. Got {type(numerics).__name__} instead."
        )
    if dtype is None:
        dtype = numerics.dtype if numerics is not None else torch.float64
    if dtype not in (torch.float64, torch.float32):
        raise InvalidParameterError(
            f"The 'dtype' parameter of trace must be torch.float64 or torch.float32. Got {dtype!r} instead."
        )
    if isinstance(model, torch.jit.ScriptModule):
        from ._load import rebuild_scripted

        model = rebuild_scripted(model)
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(
            f"The 'model' parameter of trace must be a torch.nn.Module. Got {type(model).__name__} instead."
        )
    _check_weights(model)
    if isinstance(example_input, (list, tuple)) and len(example_input) == 1 and isinstance(example_input[0], Tensor):
        example_input = example_input[0]
    try:
        x = example_input if isinstance(example_input, Tensor) else _f64(example_input)
    except (TypeError, ValueError, RuntimeError):
        raise InvalidParameterError(
            "The 'example_input' parameter of trace must be a tensor (one sample or a batch). "
            f"Got {type(example_input).__name__} instead."
        ) from None
    if x.numel() == 0:
        raise ShapeError(f"The 'example_input' parameter of trace is empty (shape {tuple(x.shape)}).")
    device = _model_device(model, x)
    x = x.detach().to(device=device)
    if not x.is_floating_point() or x.dtype != _model_float_dtype(model, x):
        x = x.to(_model_float_dtype(model, x))
    if not bool(torch.isfinite(x).all()):
        raise NumericalError("The 'example_input' parameter of trace contains NaN or inf.")

    gm = _capture(model)
    run = _record(gm, x)
    lowerer = _Lowerer(gm, run, dtype, device)
    nodes, output = lowerer.lower()
    expected = _output_tensor(run.recorder.final)
    for n, value in run.recorder.values.items():
        if lowerer.env.get(n) == _Var(output):
            expected = value
            break
    nodes, output = _optimize(nodes, output)
    if output == 0:
        raise TraceError("The model is the identity on its input; there is nothing to trace.")
    # rules may build small tables on the CPU; move everything to the model's device
    net = CPWLNetwork(nodes, output).to(device=device, dtype=dtype)
    _verify(net, run, expected)
    return net
