"""The immutable intermediate representation (IR) of a CPWL network.

A :class:`CPWLNetwork` is a DAG of :class:`Node` objects in topological order. Every
op is one of three kinds, which is all the exact engines need to know:

``"linear"``
    an affine map :class:`LinearOp` (dense, convolution, pooling, reshape, sums,
    concatenation, elementwise scaling): ``forward(x) = linear(x) + offset``.
``"univariate"``
    :class:`PiecewiseLinear`, an elementwise continuous piecewise-linear function with
    ``K`` breakpoints per unit (ReLU, leaky ReLU, PReLU, hardtanh, abs, splines).
``"max"``
    :class:`MaxOp`, the maximum over groups of input entries (max-pooling, maxout).

Examples
--------
>>> import torch
>>> from regionlab.ir import Dense, PiecewiseLinear, CPWLNetwork
>>> net = CPWLNetwork.sequential((2,), [
...     Dense(torch.eye(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)),
...     PiecewiseLinear.relu()])
>>> net(torch.tensor([[1.0, -1.0]], dtype=torch.float64))
tensor([[1., 0.]], dtype=torch.float64)
"""

from .network import CPWLNetwork, Node
from .ops import (
    OP_KINDS,
    AdaptiveAvgPool,
    AvgPool,
    Concat,
    Conv,
    Dense,
    ElementwiseAffine,
    Gather,
    LinearOp,
    MaxOp,
    Op,
    Pad,
    Permute,
    PiecewiseLinear,
    Reshape,
    Sum,
)

__all__ = [
    "OP_KINDS",
    "Op",
    "LinearOp",
    "Dense",
    "Conv",
    "AvgPool",
    "AdaptiveAvgPool",
    "Reshape",
    "Permute",
    "Sum",
    "ElementwiseAffine",
    "Concat",
    "Gather",
    "Pad",
    "PiecewiseLinear",
    "MaxOp",
    "CPWLNetwork",
    "Node",
]
