"""Typed exceptions and warnings raised by regionlab.

Every error names what was wrong and what to do about it. Catch
:class:`RegionlabError` to handle all of them.

Examples
--------
>>> from regionlab.errors import RegionlabError, UnsupportedOperationError
>>> issubclass(UnsupportedOperationError, RegionlabError)
True
"""

from __future__ import annotations

__all__ = [
    "RegionlabError",
    "TraceError",
    "UnsupportedOperationError",
    "InvalidParameterError",
    "DomainError",
    "ShapeError",
    "BoundNotApplicableError",
    "DegenerateGeometryError",
    "NumericalError",
    "ModelLoadError",
    "RegionLimitExceeded",
    "MissingDependencyError",
    "NumericalWarning",
]


class RegionlabError(Exception):
    """Base class of every error raised by regionlab."""


class TraceError(RegionlabError):
    """The model could not be traced into the CPWL representation."""


class UnsupportedOperationError(TraceError, NotImplementedError):
    """The model contains an operation that is not continuous piecewise-linear.

    The message names the operation and the module path where it occurs, and
    points to :func:`regionlab.register_op` for adding a handler.
    """

    def __init__(self, message: str, *, op: str | None = None, where: str | None = None):
        super().__init__(message)
        self.op = op
        self.where = where


class InvalidParameterError(RegionlabError, ValueError):
    """An argument has the wrong type, value or shape."""


class ShapeError(InvalidParameterError):
    """An input tensor does not have the shape the network expects."""


class BoundNotApplicableError(InvalidParameterError):
    """A bound's assumptions do not hold for this architecture.

    The message names the assumption and the layer that breaks it.
    """


class DomainError(InvalidParameterError):
    """A domain (segment, plane, polygon, box) is empty, degenerate or malformed."""


class DegenerateGeometryError(RegionlabError):
    """The geometry is too degenerate for the requested exact computation."""


class NumericalError(RegionlabError, ArithmeticError):
    """Non-finite values (NaN or inf) in weights, inputs or intermediate results."""


class ModelLoadError(RegionlabError):
    """A model or weights file could not be loaded."""


class RegionLimitExceeded(RegionlabError):
    """A region limit or time limit was reached.

    The partial result computed so far is attached as :attr:`partial`.
    """

    def __init__(self, message: str, partial=None):
        super().__init__(message)
        self.partial = partial


class MissingDependencyError(RegionlabError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class NumericalWarning(UserWarning):
    """A computation met a near-degenerate configuration and resolved it by tolerance."""
