"""Numerical settings of exact computations, held in one frozen object.

Examples
--------
>>> from regionlab.numerics import Numerics
>>> num = Numerics()
>>> num.dtype
torch.float64
>>> Numerics(atol=1e-8).atol
1e-08
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch

from .errors import InvalidParameterError

__all__ = ["Numerics", "DEFAULT_NUMERICS", "exact_mode", "intra_op_threads"]


@dataclass(frozen=True)
class Numerics:
    """Frozen tolerances and precision used by every exact routine.

    Parameters
    ----------
    dtype : torch.dtype
        Floating dtype of all exact work (float64 by default).
    atol : float
        Absolute tolerance on pre-activation values, relative to the scale of the
        affine form being tested (``|z| <= atol * scale`` counts as zero).
    area_tol : float
        Regions whose measure relative to the domain's is below this are dropped
        as degenerate (they are lower-dimensional).
    allow_tf32 : bool
        Whether TF32 matmuls are allowed during exact work (never, by default).

    Examples
    --------
    >>> Numerics().with_(atol=1e-7).atol
    1e-07
    """

    dtype: torch.dtype = torch.float64
    atol: float = 1e-10
    area_tol: float = 0.0
    allow_tf32: bool = False

    def __post_init__(self):
        if self.dtype not in (torch.float64, torch.float32):
            raise InvalidParameterError(
                f"The 'dtype' parameter of Numerics must be torch.float64 or torch.float32. "
                f"Got {self.dtype!r} instead."
            )
        for name in ("atol", "area_tol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0):
                raise InvalidParameterError(
                    f"The '{name}' parameter of Numerics must be a non-negative float. Got {v!r} instead."
                )

    def with_(self, **changes) -> Numerics:
        """Return a copy with some fields changed.

        Examples
        --------
        >>> Numerics().with_(area_tol=0.0).area_tol
        0.0
        """
        return replace(self, **changes)


DEFAULT_NUMERICS = Numerics()


@contextlib.contextmanager
def exact_mode(numerics: Numerics = DEFAULT_NUMERICS):
    """Disable TF32 for the duration of an exact computation and restore it afterwards.

    Examples
    --------
    >>> with exact_mode():
    ...     pass
    """
    old_mm = torch.backends.cuda.matmul.allow_tf32
    old_cudnn = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = numerics.allow_tf32
        torch.backends.cudnn.allow_tf32 = numerics.allow_tf32
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_mm
        torch.backends.cudnn.allow_tf32 = old_cudnn


@contextlib.contextmanager
def intra_op_threads(n: int | None):
    """Run a block with ``n`` intra-op CPU threads, restoring the previous count.

    The exact engines' refinement loops issue many small tensor ops; on a CPU those run
    fastest (and do not stall when other processes compete for cores) on one thread,
    while the dense linear algebra around them keeps the default thread count.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with intra_op_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidParameterError(f"The 'n' parameter of intra_op_threads must be a positive int or None. Got {n!r} instead.")
    old = torch.get_num_threads()
    if n is None or n == old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
