"""Trainable continuous piecewise-linear activations.

:class:`CPWLActivation` is an ordinary ``nn.Module`` (differentiable, usable in a
training loop) that :func:`regionlab.trace` lowers exactly to an IR
:class:`~regionlab.ir.PiecewiseLinear` op.

Examples
--------
>>> import torch
>>> from regionlab.activations import CPWLActivation
>>> act = CPWLActivation([-1.0, 1.0], [0.0, 1.0, 0.0], intercept=-1.0)  # hardtanh
>>> act(torch.tensor([-3.0, 0.5, 3.0]))
tensor([-1.0000,  0.5000,  1.0000])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import InvalidParameterError

__all__ = ["CPWLActivation"]


def _as_vector(value, name: str) -> Tensor:
    try:
        t = torch.as_tensor(value, dtype=torch.get_default_dtype())
    except (TypeError, ValueError, RuntimeError):
        raise InvalidParameterError(
            f"The '{name}' parameter of CPWLActivation must be a 1-D sequence of numbers. Got {value!r} instead."
        ) from None
    if t.dim() != 1:
        raise InvalidParameterError(
            f"The '{name}' parameter of CPWLActivation must be 1-D. Got shape {tuple(t.shape)} instead."
        )
    return t.detach().clone()


def check_breakpoints(breakpoints: Tensor, slopes: Tensor, where: str = "CPWLActivation") -> None:
    """Raise :class:`~regionlab.errors.InvalidParameterError` unless the tables describe a CPWL function.

    Examples
    --------
    >>> import torch
    >>> check_breakpoints(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0, 2.0]))
    >>> check_breakpoints(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0, 2.0]))
    Traceback (most recent call last):
    ...
    regionlab.errors.InvalidParameterError: The breakpoints of CPWLActivation must be strictly increasing; got [1.0, 0.0].
    """
    if breakpoints.numel() < 1:
        raise InvalidParameterError(f"{where} needs at least one breakpoint.")
    if slopes.numel() != breakpoints.numel() + 1:
        raise InvalidParameterError(
            f"{where} needs one more slope than breakpoints: got {breakpoints.numel()} breakpoints "
            f"and {slopes.numel()} slopes."
        )
    if not (torch.isfinite(breakpoints).all() and torch.isfinite(slopes).all()):
        raise InvalidParameterError(f"The breakpoints and slopes of {where} must be finite.")
    if breakpoints.numel() > 1 and not bool((breakpoints[1:] > breakpoints[:-1]).all()):
        raise InvalidParameterError(
            f"The breakpoints of {where} must be strictly increasing; got {breakpoints.tolist()}."
        )


class CPWLActivation(nn.Module):
    """An elementwise continuous piecewise-linear activation with ``K`` breakpoints.

    The function is ``f(z) = intercept + slopes[0] * z`` for ``z <= breakpoints[0]`` and
    has slope ``slopes[j]`` between ``breakpoints[j - 1]`` and ``breakpoints[j]``;
    continuity fixes the other pieces' intercepts. The forward pass is written in
    plain torch as ``intercept + s_0 z + sum_j (s_j - s_{j-1}) relu(z - t_j)``, so it is
    differentiable in ``z`` and, when ``learnable=True``, in all parameters.

    Parameters
    ----------
    breakpoints : sequence of float, length ``K >= 1``
        Strictly increasing breakpoints ``t_1 < ... < t_K``.
    slopes : sequence of float, length ``K + 1``
        Slope of each piece, from left to right.
    intercept : float
        Intercept of the leftmost piece.
    learnable : bool
        Register the three tables as trainable ``nn.Parameter`` (otherwise buffers).
        :func:`regionlab.trace` re-checks that trained breakpoints are still increasing.

    Raises
    ------
    InvalidParameterError
        If the breakpoints are not strictly increasing or the table sizes do not match.

    Examples
    --------
    >>> import torch
    >>> act = CPWLActivation([0.0], [0.1, 1.0])  # leaky ReLU
    >>> act
    CPWLActivation(breakpoints=[0.0], slopes=[0.1, 1.0], intercept=0.0, learnable=False)
    >>> act(torch.tensor([-2.0, 3.0]))
    tensor([-0.2000,  3.0000])
    >>> trainable = CPWLActivation([-1.0, 1.0], [0.0, 1.0, 0.5], learnable=True)
    >>> trainable(torch.tensor([2.0])).sum().backward()
    >>> trainable.slopes.grad
    tensor([-1.,  2.,  1.])
    """

    def __init__(self, breakpoints, slopes, intercept: float = 0.0, learnable: bool = False):
        super().__init__()
        b = _as_vector(breakpoints, "breakpoints")
        s = _as_vector(slopes, "slopes")
        check_breakpoints(b, s)
        try:
            c = torch.as_tensor(float(intercept), dtype=torch.get_default_dtype())
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"The 'intercept' parameter of CPWLActivation must be a number. Got {intercept!r} instead."
            ) from None
        if not torch.isfinite(c):
            raise InvalidParameterError("The 'intercept' parameter of CPWLActivation must be finite.")
        self.learnable = bool(learnable)
        if self.learnable:
            self.breakpoints = nn.Parameter(b)
            self.slopes = nn.Parameter(s)
            self.intercept = nn.Parameter(c)
        else:
            self.register_buffer("breakpoints", b)
            self.register_buffer("slopes", s)
            self.register_buffer("intercept", c)

    @property
    def num_breakpoints(self) -> int:
        """K, the number of breakpoints.

        Examples
        --------
        >>> CPWLActivation([0.0, 1.0], [0.0, 1.0, 0.0]).num_breakpoints
        2
        """
        return int(self.breakpoints.shape[0])

    def forward(self, z: Tensor) -> Tensor:
        s = self.slopes
        out = self.intercept + s[0] * z
        # hinge form: order-independent and differentiable in every table entry
        for j in range(self.breakpoints.shape[0]):
            out = out + (s[j + 1] - s[j]) * torch.relu(z - self.breakpoints[j])
        return out

    def extra_repr(self) -> str:
        # show the digits the dtype holds: 0.1 in float32 is not 0.10000000149011612
        digits = 16 if self.slopes.dtype == torch.float64 else 7

        def fmt(t):
            return [float(f"{v:.{digits}g}") for v in t.detach().reshape(-1).tolist()]

        return (
            f"breakpoints={fmt(self.breakpoints)}, slopes={fmt(self.slopes)}, "
            f"intercept={fmt(self.intercept)[0]}, learnable={self.learnable}"
        )
