"""IR ops: one base class, three kinds (linear, univariate, max).

Every op acts on batched tensors ``(B, *shape)``. The exact engines rely only on the
kind-specific contract:

* :class:`LinearOp` provides ``linear(*xs)`` (the linear part, no constant) and
  ``offset`` (the constant term, a tensor of the output shape or ``None``), so that
  ``forward(*xs) == linear(*xs) + offset``. Affine forms are pushed through by
  applying ``linear`` to every column and adding ``offset`` to the constant column.
* :class:`PiecewiseLinear` provides per-unit ``breakpoints`` ``(U or 1, K)``, ``slopes``
  and ``intercepts`` ``(U or 1, K + 1)``: on piece ``p`` (between breakpoints ``p`` and
  ``p + 1``) the unit computes ``slopes[p] * z + intercepts[p]``.
* :class:`MaxOp` provides ``index`` ``(U, k)`` into the flattened input (``-1`` marks
  an absent entry, e.g. max-pool padding); unit ``u`` outputs ``max_j x[index[u, j]]``.

Pattern conventions (used by every engine and result):

* univariate unit: the piece index ``p = #{breakpoints < z}`` in ``0..K``; a unit that
  sits exactly on breakpoint ``j`` (1-based), at a point or identically on a region, is
  coded ``-j`` (a third state, never folded into a neighbouring piece);
* max unit: the index of the maximal argument in ``0..k-1``; where several arguments are
  identically maximal on a region (duplicate arguments) the smallest index is used.

Examples
--------
>>> import torch
>>> relu = PiecewiseLinear.relu()
>>> relu(torch.tensor([[-1.0, 2.0]], dtype=torch.float64))
tensor([[0., 2.]], dtype=torch.float64)
>>> relu.kind
'univariate'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InvalidParameterError

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
]

OP_KINDS = ("linear", "univariate", "max")


def _convert(value, device, dtype):
    if isinstance(value, Tensor):
        if value.is_floating_point():
            return value.to(device=device, dtype=dtype if dtype is not None else value.dtype)
        return value.to(device=device)
    return value


class Op:
    """Base class of every IR op.

    Subclasses are frozen dataclasses whose tensor fields are moved together by
    :meth:`to`. A subclass sets ``kind`` to one of ``"linear"``, ``"univariate"`` or
    ``"max"`` and implements :meth:`forward` and :meth:`output_shape`.

    Examples
    --------
    >>> issubclass(Dense, Op), Dense.kind
    (True, 'linear')
    """

    kind: ClassVar[str] = ""
    #: number of inputs; ``-1`` for variadic ops (sums, concatenation)
    num_inputs: ClassVar[int] = 1

    def forward(self, *xs: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *xs: Tensor) -> Tensor:
        return self.forward(*xs)

    def output_shape(self, *in_shapes: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for per-sample input shapes (no batch dimension)."""
        with torch.no_grad():
            dev = self._device()
            dt = self._dtype()
            xs = [torch.zeros((1, *s), device=dev, dtype=dt) for s in in_shapes]
            return tuple(self.forward(*xs).shape[1:])

    def tensors(self) -> dict[str, Tensor]:
        """The op's tensor fields by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Tensor)}

    def _device(self):
        for t in self.tensors().values():
            return t.device
        return torch.device("cpu")

    def _dtype(self):
        for t in self.tensors().values():
            if t.is_floating_point():
                return t.dtype
        return torch.float64

    def to(self, device=None, dtype=None) -> Op:
        """A copy with every tensor moved to ``device`` and floating tensors cast to ``dtype``."""
        changes = {
            f.name: _convert(getattr(self, f.name), device, dtype)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return replace(self, **changes)

    def check_finite(self) -> str | None:
        """Name of the first tensor field holding NaN or inf, or ``None``."""
        for name, t in self.tensors().items():
            if t.is_floating_point() and not torch.isfinite(t).all():
                return name
        return None

    def describe(self) -> str:
        """A short human-readable description."""
        return type(self).__name__


# ---------------------------------------------------------------------------- linear


class LinearOp(Op):
    """An affine op: ``forward(*xs) = linear(*xs) + offset``.

    Examples
    --------
    >>> import torch
    >>> op = Dense(torch.ones(1, 2, dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64))
    >>> op.linear(torch.ones(1, 2, dtype=torch.float64)), op.offset
    (tensor([[2.]], dtype=torch.float64), tensor([3.], dtype=torch.float64))
    """

    kind: ClassVar[str] = "linear"

    def linear(self, *xs: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def offset(self) -> Tensor | None:
        """Constant term of the output shape, or ``None`` when the op is linear."""
        return None

    def forward(self, *xs: Tensor) -> Tensor:
        y = self.linear(*xs)
        off = self.offset
        return y if off is None else y + off


@dataclass(frozen=True, eq=False)
class Dense(LinearOp):
    """``y = x @ weight.T + bias`` over the last dimension (``nn.Linear``).

    Examples
    --------
    >>> import torch
    >>> Dense(torch.eye(2, dtype=torch.float64), None)(torch.ones(1, 2, dtype=torch.float64))
    tensor([[1., 1.]], dtype=torch.float64)
    """

    weight: Tensor
    bias: Tensor | None = None

    def linear(self, x):
        return x @ self.weight.T

    @property
    def offset(self):
        return self.bias

    def output_shape(self, in_shape):
        return (*in_shape[:-1], self.weight.shape[0])

    def describe(self):
        return f"Dense({self.weight.shape[1]} -> {self.weight.shape[0]})"


@dataclass(frozen=True, eq=False)
class Conv(LinearOp):
    """N-d convolution (``nn.Conv1d``/``nn.Conv2d``/``nn.Conv3d``) with zero padding.

    ``offset`` is the bias broadcast over the output's spatial positions.

    Examples
    --------
    >>> import torch
    >>> op = Conv(torch.ones(1, 1, 2, dtype=torch.float64), None, (1,), (0,), (1,), 1, (1, 3))
    >>> op(torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64))
    tensor([[[3., 5.]]], dtype=torch.float64)
    """

    weight: Tensor
    bias: Tensor | None
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    in_shape: tuple[int, ...]

    def _conv(self, x):
        nd = self.weight.dim() - 2
        fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
        return fn(x, self.weight, None, self.stride, self.padding, self.dilation, self.groups)

    def linear(self, x):
        return self._conv(x)

    @property
    def offset(self):
        if self.bias is None:
            return None
        nd = self.weight.dim() - 2
        return self.bias.reshape(-1, *([1] * nd))

    def describe(self):
        return f"Conv{self.weight.dim() - 2}d({self.weight.shape[1] * self.groups} -> {self.weight.shape[0]})"


@dataclass(frozen=True, eq=False)
class AvgPool(LinearOp):
    """N-d average pooling (``nn.AvgPool1d``/``nn.AvgPool2d``).

    Examples
    --------
    >>> import torch
    >>> AvgPool((2,), (2,), (0,), False, True, None)(torch.tensor([[[1.0, 3.0]]]))
    tensor([[[2.]]])
    """

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None

    def linear(self, x):
        nd = len(self.kernel_size)
        if nd == 1:
            return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        fn = {2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
        return fn(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override)


@dataclass(frozen=True, eq=False)
class AdaptiveAvgPool(LinearOp):
    """Adaptive average pooling to a fixed output size (1-d or 2-d).

    Examples
    --------
    >>> import torch
    >>> AdaptiveAvgPool((1, 1))(torch.ones(1, 2, 3, 3))
    tensor([[[[1.]],
    <BLANKLINE>
             [[1.]]]])
    """

    output_size: tuple[int, ...]

    def linear(self, x):
        if len(self.output_size) == 1:
            return F.adaptive_avg_pool1d(x, self.output_size)
        return F.adaptive_avg_pool2d(x, self.output_size)


@dataclass(frozen=True, eq=False)
class Reshape(LinearOp):
    """Reshape each sample to ``shape`` (``flatten``, ``view``, ``reshape``).

    Examples
    --------
    >>> import torch
    >>> Reshape((4,))(torch.zeros(3, 2, 2)).shape
    torch.Size([3, 4])
    """

    shape: tuple[int, ...]

    def linear(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def output_shape(self, in_shape):
        return tuple(self.shape)


@dataclass(frozen=True, eq=False)
class Permute(LinearOp):
    """Permute the per-sample dimensions (``dims`` excludes the batch dimension).

    Examples
    --------
    >>> import torch
    >>> Permute((1, 0))(torch.zeros(5, 2, 3)).shape
    torch.Size([5, 3, 2])
    """

    dims: tuple[int, ...]

    def linear(self, x):
        return x.permute(0, *[d + 1 for d in self.dims])


@dataclass(frozen=True, eq=False)
class Sum(LinearOp):
    """Weighted sum of inputs with broadcasting: ``sum_i coeffs[i] * x_i + constant``.

    Residual additions, subtraction, and scaling by a constant are all ``Sum`` ops.

    Examples
    --------
    >>> import torch
    >>> Sum((1.0, -1.0))(torch.ones(1, 2), torch.ones(1, 2))
    tensor([[0., 0.]])
    """

    num_inputs: ClassVar[int] = -1
    coeffs: tuple[float, ...]
    constant: Tensor | None = None

    def linear(self, *xs):
        if len(xs) != len(self.coeffs):
            raise InvalidParameterError(f"Sum expects {len(self.coeffs)} inputs, got {len(xs)}.")
        out = None
        for c, x in zip(self.coeffs, xs, strict=True):
            term = x if c == 1.0 else c * x
            out = term if out is None else out + term
        return out

    @property
    def offset(self):
        return self.constant


@dataclass(frozen=True, eq=False)
class ElementwiseAffine(LinearOp):
    """``y = scale * x + shift`` with per-sample-shaped (broadcastable) tensors.

    Batch-norm in eval mode that cannot be folded into a preceding layer lowers to this.

    Examples
    --------
    >>> import torch
    >>> ElementwiseAffine(torch.tensor([2.0]), torch.tensor([1.0]))(torch.ones(1, 1))
    tensor([[3.]])
    """

    scale: Tensor | None
    shift: Tensor | None

    def linear(self, x):
        return x if self.scale is None else x * self.scale

    @property
    def offset(self):
        return self.shift


@dataclass(frozen=True, eq=False)
class Concat(LinearOp):
    """Concatenation of inputs along per-sample dimension ``dim``.

    Examples
    --------
    >>> import torch
    >>> Concat(0)(torch.ones(1, 2), torch.zeros(1, 3)).shape
    torch.Size([1, 5])
    """

    num_inputs: ClassVar[int] = -1
    dim: int

    def linear(self, *xs):
        return torch.cat(xs, dim=self.dim + 1)


@dataclass(frozen=True, eq=False)
class Gather(LinearOp):
    """Pick entries of the flattened sample: ``y.flatten() = x.flatten()[index]``.

    Pure data movement (slicing, ``select``, ``narrow``, ``expand``, ``repeat``, ``flip``,
    ``roll``, reflection padding, nearest upsampling...) lowers to this op.

    Parameters
    ----------
    index : LongTensor, shape ``(U_out,)``
        Entry of the flattened per-sample input read by each output entry.
    out_shape : tuple of int
        Per-sample output shape (``U_out`` entries in all).

    Examples
    --------
    >>> import torch
    >>> op = Gather(torch.tensor([2, 0, 0]), (3,))
    >>> op(torch.tensor([[1.0, 2.0, 3.0]]))
    tensor([[3., 1., 1.]])
    """

    index: Tensor
    out_shape: tuple[int, ...]

    def __post_init__(self):
        if self.index.dim() != 1 or self.index.dtype != torch.long:
            raise InvalidParameterError("Gather.index must be a 1-D long tensor.")
        if math.prod(self.out_shape) != self.index.shape[0]:
            raise InvalidParameterError(
                f"Gather out_shape {self.out_shape} does not hold {self.index.shape[0]} entries."
            )
        if self.index.numel() and bool((self.index < 0).any()):
            raise InvalidParameterError("Gather.index entries must be non-negative.")

    def linear(self, x):
        return x.reshape(x.shape[0], -1)[:, self.index].reshape(x.shape[0], *self.out_shape)

    def output_shape(self, in_shape):
        return tuple(self.out_shape)

    def describe(self):
        return f"Gather({self.index.shape[0]})"


@dataclass(frozen=True, eq=False)
class Pad(LinearOp):
    """Constant padding of the trailing per-sample dimensions (``F.pad`` with ``mode="constant"``).

    Parameters
    ----------
    pad : tuple of int
        Padding in ``F.pad`` order: ``(left, right)`` of the last dimension first, then
        of the one before... Negative entries crop.
    constant : Tensor or None
        The offset: the padding value on the border and zero inside, of the output's
        per-sample shape; ``None`` for zero padding. Build it with :meth:`with_value`.

    Examples
    --------
    >>> import torch
    >>> Pad((1, 0))(torch.tensor([[1.0, 2.0]]))
    tensor([[0., 1., 2.]])
    >>> Pad.with_value((0, 1), 5.0, (2,), dtype=torch.float32)(torch.tensor([[1.0, 2.0]]))
    tensor([[1., 2., 5.]])
    """

    pad: tuple[int, ...]
    constant: Tensor | None = None

    @staticmethod
    def with_value(pad, value, in_shape, dtype=torch.float64, device=None) -> Pad:
        """Padding with ``value`` for samples of shape ``in_shape``.

        Examples
        --------
        >>> Pad.with_value((1, 1), -1.0, (1,)).constant
        tensor([-1.,  0., -1.], dtype=torch.float64)
        """
        pad = tuple(int(p) for p in pad)
        if float(value) == 0.0:
            return Pad(pad, None)
        zeros = torch.zeros((1, *in_shape), dtype=dtype, device=device)
        return Pad(pad, F.pad(zeros, pad, value=float(value))[0])

    def linear(self, x):
        return F.pad(x, self.pad)

    @property
    def offset(self):
        return self.constant


# ------------------------------------------------------------------------ univariate


@dataclass(frozen=True, eq=False)
class PiecewiseLinear(Op):
    """Elementwise continuous piecewise-linear activation.

    Parameters
    ----------
    breakpoints : Tensor, shape ``(U or 1, K)``
        Strictly increasing breakpoints of each unit (a single row is shared by all).
    slopes : Tensor, shape ``(U or 1, K + 1)``
    intercepts : Tensor, shape ``(U or 1, K + 1)``
        On piece ``p`` the unit computes ``slopes[p] * z + intercepts[p]``; the pieces
        must join continuously at the breakpoints.
    name : str
        Display name (``"relu"``, ``"leaky_relu"``...).

    Examples
    --------
    >>> import torch
    >>> act = PiecewiseLinear.hardtanh(-1.0, 1.0)
    >>> act(torch.tensor([[-3.0, 0.5, 3.0]], dtype=torch.float64))
    tensor([[-1.0000,  0.5000,  1.0000]], dtype=torch.float64)
    >>> act.num_breakpoints
    2
    """

    kind: ClassVar[str] = "univariate"
    breakpoints: Tensor
    slopes: Tensor
    intercepts: Tensor
    name: str = "cpwl"

    def __post_init__(self):
        b, s, c = self.breakpoints, self.slopes, self.intercepts
        if b.dim() != 2 or s.dim() != 2 or c.dim() != 2:
            raise InvalidParameterError("PiecewiseLinear tables must be 2-D: (units or 1, K) and (units or 1, K+1).")
        if s.shape[1] != b.shape[1] + 1 or c.shape[1] != b.shape[1] + 1:
            raise InvalidParameterError(
                f"PiecewiseLinear needs K+1 slopes and intercepts for K breakpoints; got K={b.shape[1]}, "
                f"{s.shape[1]} slopes, {c.shape[1]} intercepts."
            )
        if b.shape[1] > 1 and not bool((b[:, 1:] > b[:, :-1]).all()):
            raise InvalidParameterError("PiecewiseLinear breakpoints must be strictly increasing.")

    @staticmethod
    def from_breakpoints(breakpoints, slopes, intercept=0.0, name="cpwl", dtype=torch.float64) -> PiecewiseLinear:
        """Build from breakpoints, slopes and the first piece's intercept (continuity fixes the rest).

        ``breakpoints`` has shape ``(K,)`` or ``(U, K)``, ``slopes`` ``(K+1,)`` or ``(U, K+1)``,
        ``intercept`` a scalar or ``(U,)``.

        Examples
        --------
        >>> PiecewiseLinear.from_breakpoints([0.0], [-1.0, 1.0], name="abs").intercepts
        tensor([[0., 0.]], dtype=torch.float64)
        """
        b = torch.as_tensor(breakpoints, dtype=dtype)
        s = torch.as_tensor(slopes, dtype=dtype)
        b = b.reshape(1, -1) if b.dim() <= 1 else b
        s = s.reshape(1, -1) if s.dim() <= 1 else s
        c0 = torch.as_tensor(intercept, dtype=dtype, device=b.device).reshape(-1, 1)
        # continuity at t_j: s_{j-1} t_j + c_{j-1} = s_j t_j + c_j
        jumps = (s[:, :-1] - s[:, 1:]) * b
        c = torch.cat([c0.expand(max(b.shape[0], s.shape[0], c0.shape[0]), 1), jumps], dim=1).cumsum(dim=1)
        return PiecewiseLinear(b, s, c, name)

    @staticmethod
    def relu(dtype=torch.float64) -> PiecewiseLinear:
        """ReLU: breakpoint 0, slopes (0, 1).

        Examples
        --------
        >>> PiecewiseLinear.relu().num_breakpoints
        1
        """
        return PiecewiseLinear.from_breakpoints([0.0], [0.0, 1.0], name="relu", dtype=dtype)

    @staticmethod
    def leaky_relu(negative_slope=0.01, dtype=torch.float64) -> PiecewiseLinear:
        """Leaky ReLU with the given negative slope.

        Examples
        --------
        >>> PiecewiseLinear.leaky_relu(0.1).slopes
        tensor([[0.1000, 1.0000]], dtype=torch.float64)
        """
        return PiecewiseLinear.from_breakpoints([0.0], [negative_slope, 1.0], name="leaky_relu", dtype=dtype)

    @staticmethod
    def hardtanh(min_val=-1.0, max_val=1.0, dtype=torch.float64) -> PiecewiseLinear:
        """Clamp to ``[min_val, max_val]`` (hardtanh, ReLU6 with ``(0, 6)``).

        Examples
        --------
        >>> PiecewiseLinear.hardtanh(0.0, 6.0).breakpoints
        tensor([[0., 6.]], dtype=torch.float64)
        """
        if not min_val < max_val:
            raise InvalidParameterError(f"hardtanh needs min_val < max_val, got {min_val} and {max_val}.")
        return PiecewiseLinear.from_breakpoints(
            [min_val, max_val], [0.0, 1.0, 0.0], intercept=min_val, name="hardtanh", dtype=dtype
        )

    @staticmethod
    def abs(dtype=torch.float64) -> PiecewiseLinear:
        """Absolute value.

        Examples
        --------
        >>> PiecewiseLinear.abs().slopes
        tensor([[-1.,  1.]], dtype=torch.float64)
        """
        return PiecewiseLinear.from_breakpoints([0.0], [-1.0, 1.0], name="abs", dtype=dtype)

    @property
    def num_breakpoints(self) -> int:
        """K, the number of breakpoints per unit."""
        return int(self.breakpoints.shape[1])

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def piece(self, z: Tensor) -> Tensor:
        """Piece index ``#{breakpoints < z}`` of flattened pre-activations ``z`` ``(B, U)``.

        Exact hits of breakpoint ``j`` are coded ``-j`` (see the module docstring).
        """
        b = self.breakpoints  # (U or 1, K)
        below = (b.unsqueeze(0) < z.unsqueeze(-1)).sum(-1)
        on = b.unsqueeze(0) == z.unsqueeze(-1)
        hit = on.any(-1)
        j = on.int().argmax(-1) + 1
        return torch.where(hit, -j, below).to(torch.int16)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        z = x.reshape(shape[0], -1)
        p = (self.breakpoints.unsqueeze(0) < z.unsqueeze(-1)).sum(-1)  # exact hits use the lower piece
        s = self.slopes.expand(z.shape[1], -1) if self.slopes.shape[0] == 1 else self.slopes
        c = self.intercepts.expand(z.shape[1], -1) if self.intercepts.shape[0] == 1 else self.intercepts
        units = torch.arange(z.shape[1], device=z.device)
        y = s[units, p] * z + c[units, p]
        return y.reshape(shape)

    def unit_tables(self, num_units: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(breakpoints, slopes, intercepts)`` expanded to ``num_units`` rows."""
        def ex(t):
            return t.expand(num_units, -1) if t.shape[0] == 1 else t
        return ex(self.breakpoints), ex(self.slopes), ex(self.intercepts)

    def describe(self):
        return f"{self.name}(K={self.num_breakpoints})"


# ------------------------------------------------------------------------------ max


@dataclass(frozen=True, eq=False)
class MaxOp(Op):
    """Maximum over groups of entries of the flattened input (max-pooling, maxout).

    Parameters
    ----------
    index : LongTensor, shape ``(U, k)``
        Entries of the flattened input that unit ``u`` takes the maximum of; ``-1`` pads
        groups with fewer than ``k`` members (e.g. windows overlapping max-pool padding).
    out_shape : tuple of int
        Per-sample output shape (``U`` entries in all).

    Examples
    --------
    >>> import torch
    >>> op = MaxOp(torch.tensor([[0, 1], [2, -1]]), (2,))
    >>> op(torch.tensor([[1.0, 5.0, -2.0]]))
    tensor([[ 5., -2.]])
    >>> op.pattern(torch.tensor([[1.0, 5.0, -2.0]]))
    tensor([[1, 0]], dtype=torch.int16)
    """

    kind: ClassVar[str] = "max"
    index: Tensor
    out_shape: tuple[int, ...]
    name: str = "max"

    def __post_init__(self):
        if self.index.dim() != 2 or self.index.dtype != torch.long:
            raise InvalidParameterError("MaxOp.index must be a 2-D long tensor (units, group size).")
        if math.prod(self.out_shape) != self.index.shape[0]:
            raise InvalidParameterError(
                f"MaxOp out_shape {self.out_shape} does not hold {self.index.shape[0]} units."
            )
        if bool((self.index[:, 0] < 0).any()):
            raise InvalidParameterError("Every MaxOp group needs at least one member in its first column.")

    @property
    def group_size(self) -> int:
        """k, the largest number of arguments of a unit."""
        return int(self.index.shape[1])

    def output_shape(self, in_shape):
        return tuple(self.out_shape)

    def gather(self, x: Tensor) -> Tensor:
        """Arguments ``(B, U, k)`` of every unit; absent entries are ``-inf``."""
        flat = x.reshape(x.shape[0], -1)
        idx = self.index.clamp_min(0)
        vals = flat[:, idx]
        if bool((self.index < 0).any()):
            vals = vals.masked_fill((self.index < 0).unsqueeze(0), float("-inf"))
        return vals

    def forward(self, x: Tensor) -> Tensor:
        return self.gather(x).amax(-1).reshape(x.shape[0], *self.out_shape)

    def pattern(self, x: Tensor) -> Tensor:
        """Index of the (first) maximal argument of each unit, ``(B, U)`` int16."""
        vals = self.gather(x)
        return (vals == vals.amax(-1, keepdim=True)).int().argmax(-1).to(torch.int16)

    def describe(self):
        return f"{self.name}(k={self.group_size}, units={self.index.shape[0]})"
