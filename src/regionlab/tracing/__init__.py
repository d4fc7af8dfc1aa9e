"""Tracing PyTorch models into the CPWL IR.

:func:`trace` lowers an ``nn.Module`` to an immutable :class:`~regionlab.ir.CPWLNetwork`
through torch.fx and a registry of lowering rules; :func:`register_op` adds rules for
custom modules, functions or tensor methods; :func:`load_model` loads TorchScript,
``torch.export`` and ``package.module:factory`` models (used by the command line).

Examples
--------
>>> import torch
>>> from regionlab.tracing import trace
>>> model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).double().eval()
>>> net = trace(model, torch.zeros(3, dtype=torch.float64))  # one sample
>>> net.input_shape, net.output_shape, net.num_units
((3,), (2,), 5)
"""

from . import _rules  # noqa: F401  (registers the built-in rules)
from ._fx import trace
from ._load import load_model
from ._registry import (
    MultiOutput,
    TraceContext,
    TracedTensor,
    TraceRule,
    register_op,
    registered_ops,
    unregister_op,
)

__all__ = [
    "trace",
    "register_op",
    "unregister_op",
    "registered_ops",
    "TraceRule",
    "TraceContext",
    "TracedTensor",
    "MultiOutput",
    "load_model",
]
