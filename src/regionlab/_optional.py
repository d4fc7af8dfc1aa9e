"""Lazy imports of optional dependencies with an actionable error.

Optional packages (matplotlib for plotting, ray for distribution) are never imported
when ``regionlab`` is imported; the functions that need them call :func:`require`
at call time.

Examples
--------
>>> from regionlab._optional import require
>>> math = require("math", extra="plot", caller="an example")
>>> math.sqrt(4.0)
2.0
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, caller: str) -> ModuleType:
    """Import ``module`` or raise :class:`~regionlab.errors.MissingDependencyError`.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"matplotlib.pyplot"``.
    extra : str
        The regionlab extra that installs it, e.g. ``"plot"``.
    caller : str
        What needs it (shown in the message), e.g. ``"regionlab.plotting.plot_plane_partition"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependencyError
        If the module cannot be imported; the message names the caller and the
        ``pip install regionlab[extra]`` line. It is also an ``ImportError``.

    Examples
    --------
    >>> require("json", extra="plot", caller="doc").dumps([1])
    '[1]'
    >>> try:
    ...     require("no_such_module_xyz", extra="plot", caller="my_function")
    ... except ImportError as exc:
    ...     print(exc)
    my_function needs the optional package 'no_such_module_xyz', which is not installed. Install it with: pip install regionlab[plot]
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{caller} needs the optional package {top!r}, which is not installed. "
            f"Install it with: pip install regionlab[{extra}]"
        ) from exc
