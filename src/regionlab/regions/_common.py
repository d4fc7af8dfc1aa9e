"""Helpers shared by the exact engines: model coercion (with a trace cache) and point checks.

Examples
--------
>>> import torch
>>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
>>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
>>> as_network(net, (2,)) is net
True
>>> pts, single = _check_points(net, [1.0, 2.0], "start")
>>> pts.shape, single
(torch.Size([1, 2]), True)
"""

from __future__ import annotations

import weakref
from collections import OrderedDict

import torch
from torch import Tensor

from ..errors import InvalidParameterError, NumericalError, ShapeError
from ..ir.network import CPWLNetwork
from ..numerics import Numerics

__all__ = ["as_network", "network_for"]

# model -> {(parameter signature, input shape): CPWLNetwork}; weak so that a cached trace
# never keeps a model alive.
_TRACE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# network -> {(device, dtype): converted copy}
_CAST_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MAX_ENTRIES = 4


def _signature(model) -> tuple:
    # data_ptr changes when a tensor is replaced, _version when it is modified in place
    # (optimizer steps), so together they detect any change of the weights.
    state = [(model.training,)]
    for t in list(model.parameters()) + list(model.buffers()):
        state.append((t.data_ptr(), t._version, t.dtype, str(t.device), tuple(t.shape)))
    return tuple(state)


def as_network(model, example) -> CPWLNetwork:
    """A :class:`~regionlab.ir.CPWLNetwork` for ``model``, tracing an ``nn.Module`` once.

    Parameters
    ----------
    model : CPWLNetwork or torch.nn.Module
        A traced network is returned unchanged. A module is traced with
        :func:`regionlab.trace` on first use; the result is cached per module, weight
        state (tensor addresses and in-place versions, training flag) and input shape,
        and the cache never keeps the module alive.
    example : array-like or tuple of int
        One input sample in the model's input shape (no batch dimension), or that
        shape itself. Ignored for a :class:`CPWLNetwork`.

    Returns
    -------
    CPWLNetwork

    Raises
    ------
    InvalidParameterError
        If ``model`` is neither a network nor an ``nn.Module``.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((3,), [PiecewiseLinear.relu()])
    >>> as_network(net, torch.zeros(3)) is net
    True
    """
    if isinstance(model, CPWLNetwork):
        return model
    if not isinstance(model, torch.nn.Module):
        raise InvalidParameterError(
            f"The 'model' parameter must be a torch.nn.Module or a regionlab CPWLNetwork. "
            f"Got {type(model).__name__} instead."
        )
    # the example runs through the model itself: give it the model's dtype and device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float64)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if isinstance(example, (tuple, list, torch.Size)) and all(isinstance(s, int) for s in example):
        example = torch.zeros(tuple(int(s) for s in example), dtype=dtype, device=device)
    else:
        example = torch.as_tensor(example).to(device=device, dtype=dtype)
    shape = tuple(example.shape)
    key = (_signature(model), shape)
    per_model = _TRACE_CACHE.get(model)
    if per_model is None:
        per_model = OrderedDict()
        _TRACE_CACHE[model] = per_model
    net = per_model.get(key)
    if net is None:
        from ..tracing import trace  # lazy: tracing pulls in torch.fx

        # a leading batch of one makes the sample shape explicit to the tracer
        net = trace(model, example.unsqueeze(0))
        per_model[key] = net
        while len(per_model) > _MAX_ENTRIES:
            per_model.popitem(last=False)
    else:
        per_model.move_to_end(key)
    return net


def network_for(net: CPWLNetwork, numerics: Numerics) -> CPWLNetwork:
    """``net`` in the dtype of ``numerics`` (cached, so repeated calls do not copy weights).

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense
    >>> from regionlab.numerics import Numerics
    >>> net = CPWLNetwork.sequential((2,), [Dense(torch.ones(1, 2, dtype=torch.float32))])
    >>> network_for(net, Numerics()).dtype
    torch.float64
    """
    if net.dtype == numerics.dtype:
        return net
    per_net = _CAST_CACHE.get(net)
    if per_net is None:
        per_net = {}
        _CAST_CACHE[net] = per_net
    key = (str(net.device), numerics.dtype)
    out = per_net.get(key)
    if out is None:
        out = net.to(dtype=numerics.dtype)
        per_net[key] = out
    return out


def as_tensor_arg(x, name: str) -> Tensor:
    """``torch.as_tensor(x)``, or an :class:`InvalidParameterError` naming parameter ``name``."""
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidParameterError(
            f"The '{name}' parameter must be array-like (a tensor, array or nested list of numbers). "
            f"Got {type(x).__name__} instead."
        ) from exc


def _check_points(net: CPWLNetwork, x, name: str) -> tuple[Tensor, bool]:
    """Validate points for ``net``: returns flat ``(B, n0)`` points and whether one point was given.

    Accepts one point (the input shape, or flat ``(n0,)``) or a batch ``(B, *input_shape)``
    / ``(B, n0)``. Points are moved to the network's device and dtype.
    """
    t = as_tensor_arg(x, name)
    if t.is_complex() or t.dtype == torch.bool:
        raise InvalidParameterError(f"The '{name}' parameter must hold real numbers. Got dtype {t.dtype} instead.")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    shp, n0 = tuple(net.input_shape), net.input_dim
    if tuple(t.shape) == shp or (t.dim() == 1 and t.shape[0] == n0):
        single, t = True, t.reshape(1, n0)
    elif t.dim() == len(shp) + 1 and tuple(t.shape[1:]) == shp:
        single, t = False, t.reshape(t.shape[0], n0)
    elif t.dim() == 2 and t.shape[1] == n0:
        single = False
    else:
        raise ShapeError(
            f"The '{name}' parameter must have the network's input shape {shp} (one point), "
            f"(B, *{shp}) or flat (B, {n0}) / ({n0},). Got shape {tuple(t.shape)} instead."
        )
    t = t.to(device=net.device, dtype=net.dtype)
    if not bool(torch.isfinite(t).all()):
        raise NumericalError(
            f"The '{name}' parameter contains NaN or inf (or values too large for {net.dtype}); "
            "pass finite coordinates."
        )
    return t, single
