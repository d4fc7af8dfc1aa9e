"""Built-in lowering rules, registered through the public registry.

Every rule receives a :class:`~regionlab.tracing.TraceContext` and returns IR ops (see
:func:`regionlab.register_op`). The same rule usually serves the module, the
functional form, the tensor method and the aten overloads that ``torch.export`` emits.
"""

from __future__ import annotations

import math
import operator
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..activations import CPWLActivation, check_breakpoints
from ..errors import InvalidParameterError
from ..ir.ops import (
    AdaptiveAvgPool,
    AvgPool,
    Concat,
    Conv,
    Dense,
    ElementwiseAffine,
    Gather,
    MaxOp,
    Pad,
    Permute,
    PiecewiseLinear,
    Reshape,
    Sum,
)
from ._registry import MultiOutput, TraceContext, TracedTensor, _register

__all__: list[str] = []

aten = torch.ops.aten


# --------------------------------------------------------------------------- helpers


def _reg(rule, *targets):
    """Register ``rule`` for every target that exists in this torch version."""
    for t in targets:
        if t is not None:
            _register(t, rule, builtin=True)
    return rule


def _at(name: str):
    """``torch.ops.aten.<packet>[.<overload>]`` or ``None`` when this torch lacks it."""
    packet, _, overload = name.partition(".")
    try:
        p = getattr(aten, packet)
        return getattr(p, overload) if overload else p
    except (AttributeError, RuntimeError):
        return None


def _ntuple(ctx: TraceContext, value, n: int, what: str) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        v = tuple(int(i) for i in value)
        if len(v) == 1 and n > 1:
            v = v * n
        if len(v) != n:
            raise ctx.unsupported(f"its {what} {tuple(value)} does not match {n} spatial dimensions")
        return v
    return (int(value),) * n


def _traced(ctx: TraceContext, value) -> bool:
    return isinstance(value, TracedTensor)


def _is_scalar(value, sample_ndim: int) -> bool:
    if isinstance(value, (int, float, bool)):
        return True
    return isinstance(value, Tensor) and value.numel() == 1 and value.dim() <= sample_ndim + 1


def _scalar(value) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _sample_constant(ctx: TraceContext, value, shape: tuple[int, ...]) -> Tensor:
    """A constant operand as a per-sample tensor broadcasting to ``shape`` (and no larger)."""
    c = ctx.tensor(value)
    while c.dim() > len(shape):
        if c.shape[0] != 1:
            raise ctx.unsupported(
                f"a constant operand of shape {tuple(c.shape)} varies along the batch dimension"
            )
        c = c[0]
    try:
        b = tuple(torch.broadcast_shapes(tuple(c.shape), tuple(shape)))
    except RuntimeError:
        b = None
    if b != tuple(shape):
        raise ctx.unsupported(
            f"a constant operand of shape {tuple(c.shape)} broadcasts the traced tensor of per-sample "
            f"shape {tuple(shape)} to a larger shape"
        )
    return c


def _per_unit(ctx: TraceContext, value, shape: tuple[int, ...]) -> Tensor:
    """A constant broadcast to one value per unit ``(U,)``."""
    return _sample_constant(ctx, value, shape).expand(shape).reshape(-1).clone()


def _in_shape(ctx: TraceContext) -> tuple[int, ...]:
    return tuple(ctx.input_shapes[0])


def _normalize_dims(ctx: TraceContext, dims, sample_ndim: int, what: str = "reduces") -> list[int]:
    """Batched dims -> per-sample dims; raise if the batch dimension is involved."""
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        raise ctx.unsupported(f"it {what} over all dimensions, including the batch dimension")
    dims = [dims] if isinstance(dims, int) else list(dims)
    n = sample_ndim + 1
    out = []
    for d in dims:
        d = int(d) % n if -n <= int(d) < n else None
        if d is None:
            raise ctx.unsupported(f"dimension out of range for a tensor with {n} dimensions")
        if d == 0:
            raise ctx.unsupported(f"it {what} over the batch dimension")
        out.append(d - 1)
    return sorted(set(out))


def _identity(ctx: TraceContext):
    return None


def _reshape(ctx: TraceContext):
    out = tuple(ctx.output_shape)
    return None if out == _in_shape(ctx) else Reshape(out)


# ---------------------------------------------------------------- dense and conv


def _dense(ctx: TraceContext, weight, bias):
    w = ctx.tensor(weight)
    if w.dim() != 2:
        raise ctx.unsupported(f"its weight has shape {tuple(w.shape)}, not (out_features, in_features)")
    return Dense(w, None if bias is None else ctx.tensor(bias))


def _linear_module(ctx: TraceContext):
    m = ctx.module
    return _dense(ctx, m.weight, m.bias)


def _linear_function(ctx: TraceContext):
    if not _traced(ctx, ctx.arg(0, ("input", "self"))):
        raise ctx.unsupported("only the input of a linear layer may be computed from the model input")
    return _dense(ctx, ctx.constant(1, "weight"), ctx.constant(2, "bias", None))


def _addmm(ctx: TraceContext):
    # aten.addmm(bias, x, W^T, beta=1, alpha=1) = beta * bias + alpha * x @ W^T
    bias, x, wt = ctx.arg(0, "self"), ctx.arg(1, "mat1"), ctx.arg(2, "mat2")
    if not _traced(ctx, x) or _traced(ctx, bias) or _traced(ctx, wt):
        raise ctx.unsupported("only its first matrix operand may be computed from the model input")
    beta, alpha = _scalar(ctx.constant(3, "beta", 1.0)), _scalar(ctx.constant(4, "alpha", 1.0))
    w = ctx.tensor(wt).T * alpha
    b = ctx.tensor(bias) * beta
    if b.dim() > 1:
        if b.shape[0] != 1:
            raise ctx.unsupported("its bias varies along the batch dimension")
        b = b[0]
    return Dense(w.contiguous(), b.expand(w.shape[0]).clone())


def _matmul(ctx: TraceContext):
    a, b = ctx.arg(0, ("input", "self")), ctx.arg(1, ("other", "mat2"))
    if _traced(ctx, a) and _traced(ctx, b):
        raise ctx.unsupported("it multiplies two tensors computed from the input, which is not piecewise linear")
    if not _traced(ctx, a):
        raise ctx.unsupported("only a product `traced @ constant` is supported (put the constant on the right)")
    w = ctx.tensor(b)
    if w.dim() == 2:
        return Dense(w.T.contiguous(), None)
    if w.dim() == 1:
        return [Dense(w.reshape(1, -1), None), Reshape(tuple(ctx.output_shape))]
    raise ctx.unsupported(f"its constant operand has shape {tuple(w.shape)}; only 1-D or 2-D constants are supported")


def _conv(ctx: TraceContext, weight, bias, stride, padding, dilation, groups):
    if not _traced(ctx, ctx.arg(0, ("input", "self"))):
        raise ctx.unsupported("only the input of a convolution may be computed from the model input")
    if _traced(ctx, weight) or _traced(ctx, bias):
        raise ctx.unsupported("its weight or bias is computed from the model input")
    w = ctx.tensor(weight)
    nd = w.dim() - 2
    shape = _in_shape(ctx)
    if nd < 1 or len(shape) != nd + 1:
        raise ctx.unsupported(
            f"a {nd}-d convolution needs samples of shape (channels, {nd} spatial dims); got {shape}"
        )
    stride = _ntuple(ctx, stride, nd, "stride")
    dilation = _ntuple(ctx, dilation, nd, "dilation")
    pre = []
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0,) * nd
        elif padding == "same":
            totals = [d * (k - 1) for d, k in zip(dilation, w.shape[2:], strict=True)]
            left = [t // 2 for t in totals]
            extra = [t - 2 * lo for t, lo in zip(totals, left, strict=True)]
            pad = tuple(left)
            if any(extra):
                # torch pads the odd extra entry on the right, before a symmetric convolution
                flat = []
                for e in reversed(extra):
                    flat += [0, e]
                pre.append(Pad(tuple(flat)))
                shape = (shape[0], *(s + e for s, e in zip(shape[1:], extra, strict=True)))
        else:
            raise ctx.unsupported(f"unknown padding mode {padding!r}")
    else:
        pad = _ntuple(ctx, padding, nd, "padding")
    b = None if bias is None else ctx.tensor(bias)
    return [*pre, Conv(w, b, stride, pad, dilation, int(groups), shape)]


def _conv_module(ctx: TraceContext):
    m = ctx.module
    if m.padding_mode != "zeros":
        raise ctx.unsupported(
            f"padding_mode={m.padding_mode!r} is not supported (only zero padding); pad explicitly "
            "with a padding module instead"
        )
    return _conv(ctx, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)


def _conv_function(ctx: TraceContext):
    return _conv(
        ctx,
        ctx.arg(1, "weight"),
        ctx.arg(2, "bias", None),
        ctx.arg(3, "stride", 1),
        ctx.arg(4, "padding", 0),
        ctx.arg(5, "dilation", 1),
        ctx.arg(6, "groups", 1),
    )


def _aten_convolution(ctx: TraceContext):
    if ctx.arg(6, "transposed", False):
        raise ctx.unsupported("transposed convolutions are not supported")
    return _conv(
        ctx,
        ctx.arg(1, "weight"),
        ctx.arg(2, "bias", None),
        ctx.arg(3, "stride", 1),
        ctx.arg(4, "padding", 0),
        ctx.arg(5, "dilation", 1),
        ctx.arg(8, "groups", 1),
    )


# -------------------------------------------------------------------- batch norm


def _bn(ctx: TraceContext, mean, var, weight, bias, eps):
    for v in (mean, var, weight, bias):
        if _traced(ctx, v):
            raise ctx.unsupported("its statistics or affine parameters are computed from the model input")
    if mean is None or var is None:
        raise ctx.unsupported(
            "it has no running statistics (track_running_stats=False), so it normalizes with batch "
            "statistics, which is not a fixed map"
        )
    shape = _in_shape(ctx)
    if not shape:
        raise ctx.unsupported("batch-norm needs a channel dimension")
    f64 = torch.float64
    scale = 1.0 / torch.sqrt(ctx.tensor(var, f64) + float(eps))
    if weight is not None:
        scale = scale * ctx.tensor(weight, f64)
    shift = -ctx.tensor(mean, f64) * scale
    if bias is not None:
        shift = shift + ctx.tensor(bias, f64)
    bshape = (shape[0],) + (1,) * (len(shape) - 1)
    return ElementwiseAffine(scale.reshape(bshape).to(ctx.dtype), shift.reshape(bshape).to(ctx.dtype))


def _bn_module(ctx: TraceContext):
    m = ctx.module
    if m.training:
        raise ctx.unsupported(
            f"{type(m).__name__} is in training mode, where it normalizes with batch statistics; "
            "call model.eval() before tracing"
        )
    return _bn(ctx, m.running_mean, m.running_var, m.weight, m.bias, m.eps)


def _bn_function(ctx: TraceContext):
    # F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if ctx.arg(5, "training", False):
        raise ctx.unsupported("it runs in training mode (batch statistics); call model.eval() before tracing")
    return _bn(ctx, ctx.arg(1, "running_mean"), ctx.arg(2, "running_var"), ctx.arg(3, "weight", None),
               ctx.arg(4, "bias", None), ctx.arg(7, "eps", 1e-5))


def _aten_batch_norm(ctx: TraceContext):
    # aten.batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
    if ctx.arg(5, "training", False):
        raise ctx.unsupported("it runs in training mode (batch statistics); call model.eval() before tracing")
    return _bn(ctx, ctx.arg(3, "running_mean"), ctx.arg(4, "running_var"), ctx.arg(1, "weight", None),
               ctx.arg(2, "bias", None), ctx.arg(7, "eps", 1e-5))


def _stats_error(ctx: TraceContext) -> Exception:
    return ctx.unsupported("its batch statistics outputs are not piecewise linear")


def _aten_bn_no_training(ctx: TraceContext):
    # (input, weight, bias, running_mean, running_var, momentum, eps) -> (out, mean, rstd)
    op = _bn(ctx, ctx.arg(3, "running_mean"), ctx.arg(4, "running_var"), ctx.arg(1, "weight", None),
             ctx.arg(2, "bias", None), ctx.arg(6, "eps", 1e-5))
    return MultiOutput((op, _stats_error(ctx), _stats_error(ctx)))


def _aten_native_bn(ctx: TraceContext):
    # (input, weight, bias, running_mean, running_var, training, momentum, eps) -> 3 outputs
    if ctx.arg(5, "training", False):
        raise ctx.unsupported("it runs in training mode (batch statistics); call model.eval() before tracing")
    op = _bn(ctx, ctx.arg(3, "running_mean"), ctx.arg(4, "running_var"), ctx.arg(1, "weight", None),
             ctx.arg(2, "bias", None), ctx.arg(7, "eps", 1e-5))
    return MultiOutput((op, _stats_error(ctx), _stats_error(ctx)))


def _bn_training(ctx: TraceContext):
    raise ctx.unsupported("it runs in training mode (batch statistics); call model.eval() before exporting")


# ------------------------------------------------------------------- activations


def _relu(ctx: TraceContext):
    return PiecewiseLinear.relu(dtype=ctx.dtype)


def _leaky(ctx: TraceContext, slope):
    return PiecewiseLinear.leaky_relu(float(slope), dtype=ctx.dtype)


def _leaky_module(ctx: TraceContext):
    return _leaky(ctx, ctx.module.negative_slope)


def _leaky_function(ctx: TraceContext):
    return _leaky(ctx, ctx.constant(1, "negative_slope", 0.01))


def _prelu(ctx: TraceContext, weight):
    w = ctx.tensor(weight).reshape(-1)
    shape = _in_shape(ctx)
    if w.numel() == 1:
        return PiecewiseLinear.leaky_relu(float(w[0]), dtype=ctx.dtype).to(dtype=ctx.dtype)
    if not shape or shape[0] != w.numel():
        raise ctx.unsupported(f"its {w.numel()} slopes do not match the channel dimension of samples of shape {shape}")
    neg = w.repeat_interleave(math.prod(shape[1:]))
    units = neg.shape[0]
    slopes = torch.stack([neg, torch.ones_like(neg)], dim=1)
    return PiecewiseLinear(
        torch.zeros(units, 1, dtype=ctx.dtype, device=w.device), slopes, torch.zeros_like(slopes), "prelu"
    )


def _prelu_module(ctx: TraceContext):
    return _prelu(ctx, ctx.module.weight)


def _prelu_function(ctx: TraceContext):
    return _prelu(ctx, ctx.constant(1, "weight"))


def _hardtanh(ctx: TraceContext, lo, hi, name="hardtanh"):
    lo, hi = float(lo), float(hi)
    if not lo < hi:
        raise ctx.unsupported(f"its bounds [{lo}, {hi}] are empty or a single point (a constant map)")
    op = PiecewiseLinear.hardtanh(lo, hi, dtype=ctx.dtype)
    return PiecewiseLinear(op.breakpoints, op.slopes, op.intercepts, name)


def _hardtanh_module(ctx: TraceContext):
    m = ctx.module
    return _hardtanh(ctx, m.min_val, m.max_val, "relu6" if isinstance(m, nn.ReLU6) else "hardtanh")


def _hardtanh_function(ctx: TraceContext):
    return _hardtanh(ctx, ctx.constant(1, "min_val", -1.0), ctx.constant(2, "max_val", 1.0))


def _relu6(ctx: TraceContext):
    return _hardtanh(ctx, 0.0, 6.0, "relu6")


def _abs(ctx: TraceContext):
    return PiecewiseLinear.abs(dtype=ctx.dtype)


def _hardsigmoid(ctx: TraceContext):
    return PiecewiseLinear.from_breakpoints([-3.0, 3.0], [0.0, 1.0 / 6.0, 0.0], 0.0, "hardsigmoid", ctx.dtype)


def _softshrink(ctx: TraceContext, lambd):
    lambd = float(lambd)
    if lambd == 0.0:
        return None
    return PiecewiseLinear.from_breakpoints([-lambd, lambd], [1.0, 0.0, 1.0], lambd, "softshrink", ctx.dtype)


def _softshrink_module(ctx: TraceContext):
    return _softshrink(ctx, ctx.module.lambd)


def _softshrink_function(ctx: TraceContext):
    return _softshrink(ctx, ctx.constant(1, "lambd", 0.5))


def _rrelu_module(ctx: TraceContext):
    m = ctx.module
    if m.training:
        raise ctx.unsupported("RReLU is random in training mode; call model.eval() before tracing")
    return _leaky(ctx, (m.lower + m.upper) / 2.0)


def _rrelu_function(ctx: TraceContext):
    if ctx.arg(3, "training", False):
        raise ctx.unsupported("rrelu is random in training mode; call model.eval() before tracing")
    return _leaky(ctx, (float(ctx.arg(1, "lower", 1.0 / 8)) + float(ctx.arg(2, "upper", 1.0 / 3))) / 2.0)


def _cpwl_module(ctx: TraceContext):
    m = ctx.module
    b = ctx.tensor(m.breakpoints, torch.float64).reshape(-1)
    s = ctx.tensor(m.slopes, torch.float64).reshape(-1)
    try:
        check_breakpoints(b, s, f"CPWLActivation at {ctx.where}")
    except InvalidParameterError as e:
        raise InvalidParameterError(f"{e} (Trained breakpoints may have crossed; re-sort or constrain them.)") from None
    c = ctx.tensor(m.intercept, torch.float64).reshape(())
    return PiecewiseLinear.from_breakpoints(b, s, c, "cpwl", torch.float64).to(dtype=ctx.dtype)


def _clamp_op(ctx: TraceContext, lo, hi, name="clamp"):
    """Clamp to constant bounds (scalars or per-unit tensors) as one univariate op."""
    if _traced(ctx, lo) or _traced(ctx, hi):
        raise ctx.unsupported("a bound computed from the model input is not supported (use torch.maximum/minimum)")
    if lo is None and hi is None:
        return None
    shape = _in_shape(ctx)
    nd = len(shape)
    if all(v is None or _is_scalar(v, nd) for v in (lo, hi)):
        lo_f = None if lo is None else _scalar(lo)
        hi_f = None if hi is None else _scalar(hi)
        if lo_f is None:
            return PiecewiseLinear.from_breakpoints([hi_f], [1.0, 0.0], 0.0, name, ctx.dtype)
        if hi_f is None:
            return PiecewiseLinear.from_breakpoints([lo_f], [0.0, 1.0], lo_f, name, ctx.dtype)
        return _hardtanh(ctx, lo_f, hi_f, name)
    units = math.prod(shape)
    ones = torch.ones(units, dtype=ctx.dtype, device=ctx.device)
    lo_u = None if lo is None else _per_unit(ctx, lo, shape)
    hi_u = None if hi is None else _per_unit(ctx, hi, shape)
    if lo_u is None:
        return PiecewiseLinear.from_breakpoints(hi_u[:, None], torch.stack([ones, 0 * ones], 1), 0 * ones, name, ctx.dtype)
    if hi_u is None:
        return PiecewiseLinear.from_breakpoints(lo_u[:, None], torch.stack([0 * ones, ones], 1), lo_u, name, ctx.dtype)
    if not bool((lo_u < hi_u).all()):
        raise ctx.unsupported("some units have min >= max (a constant map)")
    return PiecewiseLinear.from_breakpoints(
        torch.stack([lo_u, hi_u], 1), torch.stack([0 * ones, ones, 0 * ones], 1), lo_u, name, ctx.dtype
    )


def _clamp(ctx: TraceContext):
    return _clamp_op(ctx, ctx.arg(1, "min", None), ctx.arg(2, "max", None))


def _clamp_min(ctx: TraceContext):
    return _clamp_op(ctx, ctx.arg(1, "min"), None)


def _clamp_max(ctx: TraceContext):
    return _clamp_op(ctx, None, ctx.arg(1, "max"))


# -------------------------------------------------------------------- max and min


def _window_index(ctx, shape, nd, out_spatial, starts, lengths):
    """MaxOp index for windows over the last ``nd`` dims of samples of ``shape``.

    ``starts[d]`` ``(O_d, k_d)`` holds each window's positions along dim ``d`` and
    ``lengths`` a validity mask of the same shape (padding / outside the input).
    """
    spatial = shape[len(shape) - nd:]
    channels = math.prod(shape[: len(shape) - nd])
    strides = [math.prod(spatial[d + 1:]) for d in range(nd)]
    flat = torch.zeros((), dtype=torch.long)
    valid = torch.ones((), dtype=torch.bool)
    for d in range(nd):
        pos, ok = starts[d], lengths[d]
        view = [1] * (2 * nd)
        view[d], view[nd + d] = pos.shape[0], pos.shape[1]
        # positions laid out as (O_1, .., O_nd, k_1, .., k_nd)
        flat = flat + (pos.clamp(0, spatial[d] - 1) * strides[d]).reshape(view)
        valid = valid & ok.reshape(view)
    out_units = math.prod(out_spatial)
    flat = flat.expand(*out_spatial, *[p.shape[1] for p in starts]).reshape(out_units, -1)
    valid = valid.expand_as(flat.reshape(*out_spatial, *[p.shape[1] for p in starts])).reshape(out_units, -1)
    base = (torch.arange(channels) * math.prod(spatial)).reshape(channels, 1, 1)
    index = torch.where(valid.unsqueeze(0), flat.unsqueeze(0) + base, torch.full_like(flat, -1).unsqueeze(0))
    index = index.reshape(channels * out_units, -1)
    # absent entries last, so that every group's first column is a member
    order = torch.argsort((index < 0).to(torch.int8), dim=1, stable=True)
    index = index.gather(1, order)
    if bool((index[:, 0] < 0).any()):
        raise ctx.unsupported("a pooling window lies entirely in the padding")
    return index.to(ctx.device)


def _max_pool(ctx: TraceContext, nd, kernel, stride, padding, dilation, ceil_mode, return_indices):
    shape = _in_shape(ctx)
    out_shape = tuple(ctx.output_shape[0] if return_indices else ctx.output_shape)
    if len(shape) < nd:
        raise ctx.unsupported(f"a {nd}-d max-pool needs at least {nd} per-sample dimensions; got {shape}")
    kernel = _ntuple(ctx, kernel, nd, "kernel_size")
    stride = _ntuple(ctx, stride if stride not in (None, [], ()) else kernel, nd, "stride")
    padding = _ntuple(ctx, padding, nd, "padding")
    dilation = _ntuple(ctx, dilation, nd, "dilation")
    out_spatial = out_shape[len(out_shape) - nd:]
    starts, valids = [], []
    for d in range(nd):
        pos = (torch.arange(out_spatial[d]) * stride[d] - padding[d])[:, None] + dilation[d] * torch.arange(kernel[d])[None, :]
        starts.append(pos)
        valids.append((pos >= 0) & (pos < shape[len(shape) - nd + d]))
    op = MaxOp(_window_index(ctx, shape, nd, out_spatial, starts, valids), out_shape, "maxpool")
    if return_indices:
        return MultiOutput((op, ctx.unsupported("max-pool indices (argmax) are not piecewise linear")))
    return op


def _max_pool_module(ctx: TraceContext):
    m = ctx.module
    return _max_pool(ctx, _nd_of(m), m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, m.return_indices)


def _nd_of(m) -> int:
    for cls, nd in ((nn.MaxPool1d, 1), (nn.MaxPool2d, 2), (nn.MaxPool3d, 3), (nn.AdaptiveMaxPool1d, 1),
                    (nn.AdaptiveMaxPool2d, 2), (nn.AvgPool1d, 1), (nn.AvgPool2d, 2), (nn.AvgPool3d, 3),
                    (nn.AdaptiveAvgPool1d, 1), (nn.AdaptiveAvgPool2d, 2)):
        if isinstance(m, cls):
            return nd
    raise InvalidParameterError(f"Unknown pooling module {type(m).__name__}.")


def _max_pool_function(nd, force_indices=False):
    def rule(ctx: TraceContext):
        ri = force_indices or bool(ctx.arg(6, "return_indices", False))
        return _max_pool(ctx, nd, ctx.arg(1, "kernel_size"), ctx.arg(2, "stride", None), ctx.arg(3, "padding", 0),
                         ctx.arg(4, "dilation", 1), bool(ctx.arg(5, "ceil_mode", False)), ri)
    return rule


def _adaptive_max_pool(ctx: TraceContext, nd, return_indices):
    shape = _in_shape(ctx)
    out_shape = tuple(ctx.output_shape[0] if return_indices else ctx.output_shape)
    out_spatial = out_shape[len(out_shape) - nd:]
    starts, valids = [], []
    for d in range(nd):
        size, outs = shape[len(shape) - nd + d], out_spatial[d]
        lo = [(i * size) // outs for i in range(outs)]
        hi = [-((-(i + 1) * size) // outs) for i in range(outs)]
        k = max(h - low for low, h in zip(lo, hi, strict=True))
        pos = torch.tensor(lo)[:, None] + torch.arange(k)[None, :]
        starts.append(pos)
        valids.append(pos < torch.tensor(hi)[:, None])
    op = MaxOp(_window_index(ctx, shape, nd, out_spatial, starts, valids), out_shape, "adaptive_maxpool")
    if return_indices:
        return MultiOutput((op, ctx.unsupported("max-pool indices (argmax) are not piecewise linear")))
    return op


def _adaptive_max_module(ctx: TraceContext):
    return _adaptive_max_pool(ctx, _nd_of(ctx.module), ctx.module.return_indices)


def _adaptive_max_function(nd, force_indices=False):
    def rule(ctx: TraceContext):
        return _adaptive_max_pool(ctx, nd, force_indices or bool(ctx.arg(2, "return_indices", False)))
    return rule


def _reduce_max_index(shape, dims):
    kept = [d for d in range(len(shape)) if d not in dims]
    codes = torch.arange(math.prod(shape)).reshape(shape).permute(*kept, *dims)
    return codes.reshape(math.prod([shape[d] for d in kept]), -1)


def _max_reduce(ctx: TraceContext, sign: float, dims, with_indices: bool):
    shape = _in_shape(ctx)
    dims = _normalize_dims(ctx, dims, len(shape))
    out_shape = tuple(ctx.output_shape[0] if with_indices else ctx.output_shape)
    op = MaxOp(_reduce_max_index(shape, dims).to(ctx.device), out_shape, "max" if sign > 0 else "min")
    ops = [op] if sign > 0 else [Sum((-1.0,)), op, Sum((-1.0,))]
    if with_indices:
        return MultiOutput((ops, ctx.unsupported("the argmax/argmin indices are not piecewise linear")))
    return ops


def _maximum(ctx: TraceContext, sign: float, a, b):
    name = "maximum" if sign > 0 else "minimum"
    if _traced(ctx, a) and _traced(ctx, b):
        if a.shape != b.shape or not a.shape:
            raise ctx.unsupported(
                f"{name} of traced tensors needs equal, non-scalar per-sample shapes; got {a.shape} and {b.shape}"
            )
        units = math.prod(a.shape)
        idx = torch.stack([torch.arange(units), torch.arange(units) + units], dim=1).to(ctx.device)
        op = MaxOp(idx, tuple(a.shape), name)
        return [Concat(0), op] if sign > 0 else [Concat(0), Sum((-1.0,)), op, Sum((-1.0,))]
    const = b if _traced(ctx, a) else a
    return _clamp_op(ctx, const, None, name) if sign > 0 else _clamp_op(ctx, None, const, name)


def _max_like(sign: float):
    """torch.max / amax / maximum and the min family, by their arguments."""

    def rule(ctx: TraceContext):
        first = ctx.arg(0, ("input", "self"))
        second = ctx.arg(1, ("dim", "other"), None)
        with_indices = bool(ctx.output_shape) and isinstance(ctx.output_shape[0], tuple)
        if isinstance(second, (TracedTensor, Tensor)):
            return _maximum(ctx, sign, first, second)
        if not _traced(ctx, first):
            raise ctx.unsupported("only its first argument may be computed from the model input")
        return _max_reduce(ctx, sign, second, with_indices)

    return rule


def _maximum_rule(sign: float):
    def rule(ctx: TraceContext):
        return _maximum(ctx, sign, ctx.arg(0, ("input", "self")), ctx.arg(1, "other"))
    return rule


# ----------------------------------------------------------------------- pooling


def _avg_pool(ctx, nd, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    kernel = _ntuple(ctx, kernel, nd, "kernel_size")
    stride = _ntuple(ctx, stride if stride not in (None, [], ()) else kernel, nd, "stride")
    padding = _ntuple(ctx, padding, nd, "padding")
    if nd == 1 and divisor_override is not None:
        raise ctx.unsupported("divisor_override is not available for 1-d average pooling")
    return AvgPool(kernel, stride, padding, bool(ceil_mode), bool(count_include_pad),
                   None if divisor_override is None else int(divisor_override))


def _avg_pool_module(ctx: TraceContext):
    m = ctx.module
    return _avg_pool(ctx, _nd_of(m), m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                     getattr(m, "divisor_override", None))


def _avg_pool_function(nd):
    def rule(ctx: TraceContext):
        return _avg_pool(ctx, nd, ctx.arg(1, "kernel_size"), ctx.arg(2, "stride", None), ctx.arg(3, "padding", 0),
                         ctx.arg(4, "ceil_mode", False), ctx.arg(5, "count_include_pad", True),
                         ctx.arg(6, "divisor_override", None) if nd > 1 else None)
    return rule


def _adaptive_avg(nd):
    def rule(ctx: TraceContext):
        out = tuple(ctx.output_shape)
        return AdaptiveAvgPool(tuple(int(s) for s in out[len(out) - nd:]))
    return rule


def _adaptive_avg_module(ctx: TraceContext):
    return _adaptive_avg(_nd_of(ctx.module))(ctx)


# -------------------------------------------------------------------- arithmetic


def _sum_with_constant(ctx: TraceContext, coeff: float, const):
    """``coeff * x + const`` for one traced ``x``."""
    shape = tuple(ctx.output_shape)
    if _in_shape(ctx) != shape:
        raise ctx.unsupported("a constant operand broadcasts the traced tensor to a larger shape")
    if const is None or (isinstance(const, (int, float)) and float(const) == 0.0):
        return None if coeff == 1.0 else Sum((coeff,))
    c = _sample_constant(ctx, const, shape).expand(shape).clone()
    return Sum((coeff,), c)


def _add_sub(sign: float):
    def rule(ctx: TraceContext):
        a, b = ctx.arg(0, ("input", "self")), ctx.arg(1, "other")
        alpha = _scalar(ctx.constant(2, "alpha", 1))
        if _traced(ctx, a) and _traced(ctx, b):
            return Sum((1.0, sign * alpha))
        if _traced(ctx, a):
            return _sum_with_constant(ctx, 1.0, _neg(sign * alpha, b))
        return _sum_with_constant(ctx, sign * alpha, a)
    return rule


def _neg(k: float, value):
    if k == 1.0:
        return value
    if isinstance(value, Tensor):
        return value * k
    return k * float(value)


def _rsub(ctx: TraceContext):
    # aten.rsub(self, other, alpha) = other - alpha * self
    a, b = ctx.arg(0, "self"), ctx.arg(1, "other")
    alpha = _scalar(ctx.constant(2, "alpha", 1))
    if _traced(ctx, a) and _traced(ctx, b):
        return Sum((-alpha, 1.0))
    if _traced(ctx, a):
        return _sum_with_constant(ctx, -alpha, b)
    return _sum_with_constant(ctx, 1.0, _neg(-alpha, a))


def _scale(ctx: TraceContext, factor, invert: bool):
    shape = tuple(ctx.output_shape)
    if _in_shape(ctx) != shape:
        raise ctx.unsupported("a constant operand broadcasts the traced tensor to a larger shape")
    if _is_scalar(factor, len(shape)):
        k = _scalar(factor)
        if invert:
            if k == 0.0:
                raise ctx.unsupported("it divides by zero")
            k = 1.0 / k
        return None if k == 1.0 else Sum((k,))
    c = _sample_constant(ctx, factor, shape)
    if invert:
        if bool((c == 0).any()):
            raise ctx.unsupported("it divides by a constant with zero entries")
        c = 1.0 / c
    return ElementwiseAffine(c, None)


def _mul(ctx: TraceContext):
    a, b = ctx.arg(0, ("input", "self")), ctx.arg(1, "other")
    if _traced(ctx, a) and _traced(ctx, b):
        raise ctx.unsupported("it multiplies two tensors computed from the input, which is not piecewise linear")
    return _scale(ctx, b if _traced(ctx, a) else a, invert=False)


def _div(ctx: TraceContext):
    b = ctx.arg(1, "other")
    if ctx.arg(2, "rounding_mode", None) is not None:
        raise ctx.unsupported("rounded division is not continuous")
    if _traced(ctx, b):
        raise ctx.unsupported("it divides by a tensor computed from the input, which is not piecewise linear")
    return _scale(ctx, b, invert=True)


def _negate(ctx: TraceContext):
    return Sum((-1.0,))


# -------------------------------------------------------------- shape and layout


def _permute(ctx: TraceContext):
    rest = ctx.args[1:]
    dims = ctx.kwargs.get("dims")
    if dims is None:
        dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
    n = len(_in_shape(ctx)) + 1
    dims = [int(d) % n for d in dims]
    if len(dims) != n or dims[0] != 0:
        raise ctx.unsupported("it moves the batch dimension")
    perm = tuple(d - 1 for d in dims[1:])
    return None if perm == tuple(range(n - 1)) else Permute(perm)


def _transpose(ctx: TraceContext):
    n = len(_in_shape(ctx)) + 1
    d0 = int(ctx.arg(1, ("dim0", "axis0"))) % n
    d1 = int(ctx.arg(2, ("dim1", "axis1"))) % n
    if 0 in (d0, d1) and d0 != d1:
        raise ctx.unsupported("it moves the batch dimension")
    perm = list(range(n - 1))
    if d0 != d1:
        perm[d0 - 1], perm[d1 - 1] = perm[d1 - 1], perm[d0 - 1]
    return None if perm == list(range(n - 1)) else Permute(tuple(perm))


def _gather_op(ctx: TraceContext, out, units: int):
    if not isinstance(out, Tensor) or out.dim() == 0 or out.shape[0] != ctx.batch_size:
        raise ctx.unsupported("it mixes samples of the batch")
    first = out[0]
    offsets = torch.arange(out.shape[0], dtype=out.dtype, device=out.device) * units
    expected = first.unsqueeze(0) + offsets.reshape(-1, *([1] * first.dim()))
    if not torch.equal(out, expected) or bool(((first < 0) | (first >= units) | (first != first.round())).any()):
        raise ctx.unsupported("it mixes samples of the batch or does not only move entries")
    index = first.reshape(-1).long()
    shape = tuple(first.shape)
    if index.numel() == units and torch.equal(index, torch.arange(units, device=index.device)):
        return None if shape == _in_shape(ctx) else Reshape(shape)
    return Gather(index.to(ctx.device), shape)


def _gather(ctx: TraceContext, shape_only_inputs: bool = False):
    """Pure data movement, lowered by replaying the call on index-coded inputs.

    With ``shape_only_inputs`` the traced inputs after the first only lend their shape
    (``expand_as``), so they are replayed as zeros.
    """
    if len(ctx.inputs) != 1 and not shape_only_inputs:
        raise ctx.unsupported("it combines several tensors computed from the input")
    shape = _in_shape(ctx)
    units = math.prod(shape)
    codes = torch.arange(ctx.batch_size * units, dtype=torch.float64, device=ctx.device).reshape(ctx.batch_size, *shape)
    others = [
        torch.zeros((ctx.batch_size, *s), dtype=torch.float64, device=ctx.device) for s in ctx.input_shapes[1:]
    ]
    out = ctx.replay(codes, *others)
    if isinstance(out, (tuple, list)):
        return MultiOutput(tuple(_gather_op(ctx, o, units) for o in out))
    return _gather_op(ctx, out, units)


def _getitem(ctx: TraceContext):
    return _gather(ctx)


def _expand_as(ctx: TraceContext):
    return _gather(ctx, shape_only_inputs=True)


def _pad(ctx: TraceContext, pad, mode, value):
    pad = tuple(int(p) for p in pad)
    shape = _in_shape(ctx)
    if len(pad) % 2 or len(pad) // 2 > len(shape):
        raise ctx.unsupported(f"its padding {pad} would pad the batch dimension")
    if mode != "constant":
        return _gather(ctx)
    return Pad.with_value(pad, 0.0 if value is None else float(value), shape, ctx.dtype, ctx.device)


def _pad_function(ctx: TraceContext):
    return _pad(ctx, ctx.arg(1, "pad"), ctx.arg(2, "mode", "constant"), ctx.arg(3, "value", None))


def _constant_pad_nd(ctx: TraceContext):
    return _pad(ctx, ctx.arg(1, "pad"), "constant", ctx.arg(2, "value", 0.0))


def _pad_module(ctx: TraceContext):
    m = ctx.module
    return _pad(ctx, m.padding, "constant", getattr(m, "value", 0.0))


def _upsample_module(ctx: TraceContext):
    mode = getattr(ctx.module, "mode", "nearest")
    if mode not in ("nearest", "nearest-exact"):
        raise ctx.unsupported(f"{mode} upsampling is not supported (only mode='nearest')")
    return _gather(ctx)


def _interpolate(ctx: TraceContext):
    mode = ctx.arg(3, "mode", "nearest")
    if mode not in ("nearest", "nearest-exact"):
        raise ctx.unsupported(f"{mode} interpolation is not supported (only mode='nearest')")
    return _gather(ctx)


def _flatten_module(ctx: TraceContext):
    return _reshape(ctx)


# ------------------------------------------------------------- reductions, concat


def _linear_reduce(mean: bool):
    def rule(ctx: TraceContext):
        shape = _in_shape(ctx)
        dims = _normalize_dims(ctx, ctx.arg(1, ("dim", "axis"), None), len(shape))
        if ctx.kwargs.get("dtype") not in (None, torch.float64, torch.float32, torch.float16, torch.bfloat16):
            raise ctx.unsupported("a non-floating dtype makes the reduction discontinuous")
        kept = [d for d in range(len(shape)) if d not in dims]
        r = math.prod(shape[d] for d in dims)
        k = math.prod(shape[d] for d in kept)
        ops = []
        if kept + dims != list(range(len(shape))):
            ops.append(Permute(tuple(kept + dims)))
        ops.append(Reshape((k, r)))
        ops.append(Dense(torch.full((1, r), 1.0 / r if mean else 1.0, dtype=ctx.dtype, device=ctx.device)))
        ops.append(Reshape(tuple(ctx.output_shape)))
        return ops
    return rule


def _concat(ctx: TraceContext):
    tensors = ctx.arg(0, "tensors")
    if not all(_traced(ctx, t) for t in tensors):
        raise ctx.unsupported("concatenating constants with traced tensors is not supported")
    shape = tensors[0].shape
    n = len(shape) + 1
    dim = int(ctx.arg(1, ("dim", "axis"), 0))
    if not -n <= dim < n or dim % n == 0:
        raise ctx.unsupported("it concatenates along the batch dimension")
    return Concat(dim % n - 1)


def _stack(ctx: TraceContext):
    tensors = ctx.arg(0, "tensors")
    if not all(_traced(ctx, t) for t in tensors):
        raise ctx.unsupported("stacking constants with traced tensors is not supported")
    shape = tuple(tensors[0].shape)
    n = len(shape) + 2
    dim = int(ctx.arg(1, "dim", 0))
    if not -n <= dim < n or dim % n == 0:
        raise ctx.unsupported("it stacks along the batch dimension")
    q = dim % n - 1
    out = tuple(ctx.output_shape)
    if q < len(shape):
        return [Concat(q), Reshape(out)]
    if not shape:
        raise ctx.unsupported("stacking per-sample scalars is not supported")
    # stacking on a new last dim: concatenate on the last dim, then interleave
    k = len(tensors)
    swap = tuple(range(len(shape) - 1)) + (len(shape), len(shape) - 1)
    return [Concat(len(shape) - 1), Reshape((*shape[:-1], k, shape[-1])), Permute(swap)]


# ------------------------------------------------------------- dropped at eval


def _dropout_module(ctx: TraceContext):
    if ctx.module.training:
        raise ctx.unsupported(
            f"{type(ctx.module).__name__} is in training mode (random masks); call model.eval() before tracing"
        )
    return None


def _dropout_function(training_default: bool):
    def rule(ctx: TraceContext):
        if ctx.arg(2, ("training", "train"), training_default):
            raise ctx.unsupported(
                "it runs in training mode (random masks); pass training=self.training and call model.eval()"
            )
        return None
    return rule


def _softmax(ctx: TraceContext):
    if not ctx.is_output:
        raise ctx.unsupported(
            "softmax is not piecewise linear; it is dropped only when it is the model's final op"
        )
    warnings.warn(
        f"regionlab.trace dropped the final {ctx.op_name} at {ctx.where}: it is not piecewise linear "
        "and does not change the linear regions, so the traced network outputs the logits before it.",
        UserWarning,
        stacklevel=2,
    )
    return None


# --------------------------------------------------------------------- registry

_reg(_linear_module, nn.Linear)
_reg(_linear_function, F.linear, _at("linear"))
_reg(_addmm, _at("addmm"))
_reg(_matmul, operator.matmul, torch.matmul, torch.mm, "matmul", "mm", _at("mm"), _at("matmul"))
_reg(_conv_module, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_reg(_conv_function, F.conv1d, F.conv2d, F.conv3d, _at("conv1d"), _at("conv2d"), _at("conv3d"))
_reg(_aten_convolution, _at("convolution"))

_reg(_bn_module, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_reg(_bn_function, F.batch_norm)
_reg(_aten_batch_norm, _at("batch_norm"))
_reg(_aten_bn_no_training, _at("_native_batch_norm_legit_no_training"))
_reg(_aten_native_bn, _at("native_batch_norm"))
_reg(_bn_training, _at("_native_batch_norm_legit"))

_reg(_relu, nn.ReLU, F.relu, torch.relu, getattr(torch, "relu_", None), getattr(F, "relu_", None), "relu", "relu_",
     _at("relu"), _at("relu_"))
_reg(_leaky_module, nn.LeakyReLU)
_reg(_leaky_function, F.leaky_relu, getattr(F, "leaky_relu_", None), _at("leaky_relu"), _at("leaky_relu_"))
_reg(_prelu_module, nn.PReLU)
_reg(_prelu_function, F.prelu, torch.prelu, "prelu", _at("prelu"), _at("_prelu_kernel"))
_reg(_hardtanh_module, nn.Hardtanh, nn.ReLU6)
_reg(_hardtanh_function, F.hardtanh, getattr(F, "hardtanh_", None), _at("hardtanh"), _at("hardtanh_"))
_reg(_relu6, F.relu6, _at("relu6"), _at("relu6_"))
_reg(_abs, torch.abs, torch.absolute, operator.abs, "abs", "abs_", "absolute", _at("abs"), _at("abs_"))
_reg(_hardsigmoid, nn.Hardsigmoid, F.hardsigmoid, _at("hardsigmoid"))
_reg(_softshrink_module, nn.Softshrink)
_reg(_softshrink_function, F.softshrink, _at("softshrink"))
_reg(_rrelu_module, nn.RReLU)
_reg(_rrelu_function, F.rrelu)
_reg(_cpwl_module, CPWLActivation)
_reg(_clamp, torch.clamp, torch.clip, "clamp", "clip", "clamp_", "clip_", _at("clamp"), _at("clip"), _at("clamp_"), _at("clip_"))
_reg(_clamp_min, torch.clamp_min, "clamp_min", "clamp_min_", _at("clamp_min"), _at("clamp_min_"))
_reg(_clamp_max, torch.clamp_max, "clamp_max", "clamp_max_", _at("clamp_max"), _at("clamp_max_"))
_reg(_max_like(1.0), torch.max, torch.amax, "max", "amax", _at("max"), _at("amax"))
_reg(_max_like(-1.0), torch.min, torch.amin, "min", "amin", _at("min"), _at("amin"))
_reg(_maximum_rule(1.0), torch.maximum, torch.fmax, "maximum", _at("maximum"))
_reg(_maximum_rule(-1.0), torch.minimum, torch.fmin, "minimum", _at("minimum"))

_reg(_max_pool_module, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_reg(_max_pool_function(1), F.max_pool1d, _at("max_pool1d"))
_reg(_max_pool_function(2), F.max_pool2d, _at("max_pool2d"))
_reg(_max_pool_function(3), F.max_pool3d, _at("max_pool3d"))
_reg(_max_pool_function(1, True), getattr(F, "max_pool1d_with_indices", None), _at("max_pool1d_with_indices"))
_reg(_max_pool_function(2, True), getattr(F, "max_pool2d_with_indices", None), _at("max_pool2d_with_indices"))
_reg(_max_pool_function(3, True), getattr(F, "max_pool3d_with_indices", None), _at("max_pool3d_with_indices"))
_reg(_adaptive_max_module, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
_reg(_adaptive_max_function(1), F.adaptive_max_pool1d)
_reg(_adaptive_max_function(2), F.adaptive_max_pool2d)
_reg(_adaptive_max_function(1, True), _at("adaptive_max_pool1d"))
_reg(_adaptive_max_function(2, True), _at("adaptive_max_pool2d"))
_reg(_avg_pool_module, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_reg(_avg_pool_function(1), F.avg_pool1d, _at("avg_pool1d"))
_reg(_avg_pool_function(2), F.avg_pool2d, _at("avg_pool2d"))
_reg(_avg_pool_function(3), F.avg_pool3d, _at("avg_pool3d"))
_reg(_adaptive_avg_module, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
_reg(_adaptive_avg(1), F.adaptive_avg_pool1d, _at("adaptive_avg_pool1d"))
_reg(_adaptive_avg(2), F.adaptive_avg_pool2d, _at("adaptive_avg_pool2d"), _at("_adaptive_avg_pool2d"))

_reg(_add_sub(1.0), operator.add, operator.iadd, torch.add, "add", "add_", "__add__", "__radd__", _at("add"), _at("add_"))
_reg(_add_sub(-1.0), operator.sub, operator.isub, torch.sub, torch.subtract, "sub", "sub_", "subtract", _at("sub"), _at("sub_"))
_reg(_rsub, torch.rsub, _at("rsub"))
_reg(_mul, operator.mul, operator.imul, torch.mul, torch.multiply, "mul", "mul_", "multiply", _at("mul"), _at("mul_"))
_reg(_div, operator.truediv, operator.itruediv, torch.div, torch.divide, torch.true_divide, "div", "div_",
     "divide", "true_divide", _at("div"), _at("div_"))
_reg(_negate, operator.neg, torch.neg, torch.negative, "neg", "neg_", "negative", _at("neg"), _at("neg_"))
_reg(_identity, operator.pos, torch.positive, nn.Identity, "contiguous", "clone", "detach", "float", "double",
     "to", "type", "type_as", "requires_grad_", torch.clone, torch.detach, _at("clone"), _at("alias"),
     _at("detach"), _at("_to_copy"), _at("contiguous"), _at("lift_fresh_copy"))

_reg(_reshape, nn.Flatten, nn.Unflatten, torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze,
     "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as",
     "squeeze_", "unsqueeze_", _at("view"), _at("reshape"), _at("_unsafe_view"), _at("flatten"),
     _at("unflatten"), _at("squeeze"), _at("unsqueeze"), _at("view_copy"))
_reg(_permute, torch.permute, "permute", _at("permute"))
_reg(_transpose, torch.transpose, torch.swapaxes, torch.swapdims, "transpose", "swapaxes", "swapdims",
     _at("transpose"))
_reg(_getitem, operator.getitem)
_reg(_expand_as, "expand_as")
_reg(_gather, torch.narrow, torch.select, torch.flip, torch.fliplr, torch.flipud, torch.roll, torch.chunk,
     torch.split, torch.tensor_split, torch.unbind, torch.movedim, torch.moveaxis, torch.tile,
     torch.repeat_interleave, torch.index_select, torch.gather, torch.take_along_dim,
     "narrow", "select", "flip", "fliplr", "flipud", "roll", "chunk", "split", "tensor_split", "unbind",
     "movedim", "moveaxis", "expand", "repeat", "tile", "repeat_interleave", "index_select",
     "gather", "take_along_dim", "unfold",
     nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d, nn.ReplicationPad1d, nn.ReplicationPad2d,
     nn.ReplicationPad3d, getattr(nn, "CircularPad1d", None), getattr(nn, "CircularPad2d", None),
     getattr(nn, "CircularPad3d", None), nn.UpsamplingNearest2d, nn.PixelShuffle, nn.PixelUnshuffle,
     nn.ChannelShuffle, F.pixel_shuffle, F.pixel_unshuffle,
     _at("slice"), _at("select"), _at("narrow"), _at("expand"), _at("repeat"), _at("flip"), _at("roll"),
     _at("split"), _at("split_with_sizes"), _at("chunk"), _at("unbind"), _at("index_select"), _at("gather"),
     _at("index"), _at("unfold"), _at("movedim"), _at("tile"), _at("repeat_interleave"),
     _at("reflection_pad1d"), _at("reflection_pad2d"), _at("reflection_pad3d"), _at("replication_pad1d"),
     _at("replication_pad2d"), _at("replication_pad3d"), _at("upsample_nearest1d"), _at("upsample_nearest2d"),
     _at("pixel_shuffle"), _at("pixel_unshuffle"), _at("channel_shuffle"), _at("slice_copy"), _at("select_copy"),
     _at("expand_copy"))
_reg(_pad_function, F.pad, _at("pad"))
_reg(_constant_pad_nd, _at("constant_pad_nd"))
_reg(_pad_module, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d)
_reg(_upsample_module, nn.Upsample)
_reg(_interpolate, F.interpolate, getattr(F, "upsample", None))
_reg(_linear_reduce(False), torch.sum, "sum", _at("sum"))
_reg(_linear_reduce(True), torch.mean, "mean", _at("mean"))
_reg(_concat, torch.cat, torch.concat, getattr(torch, "concatenate", None), _at("cat"), _at("concat"))
_reg(_stack, torch.stack, _at("stack"))

_reg(_dropout_module, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
_reg(_dropout_function(True), F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, _at("dropout"),
     _at("feature_dropout"), _at("alpha_dropout"), _at("feature_alpha_dropout"))
_reg(_dropout_function(False), F.alpha_dropout, F.feature_alpha_dropout)
_reg(_softmax, nn.Softmax, nn.LogSoftmax, F.softmax, F.log_softmax, torch.softmax, torch.log_softmax,
     "softmax", "log_softmax", _at("softmax"), _at("_softmax"), _at("log_softmax"), _at("_log_softmax"))
