"""Exact-integer bounds on the number of linear regions of CPWL networks.

Closed forms from the literature (Zaslavsky; Montufar et al. 2014 and 2017; Raghu et
al. 2017; Serra, Tjandraatmadja and Ramalingam 2018; Hinz and van de Geer 2019;
Montufar, Ren and Zhang 2022; Xiong et al. 2020) and regionlab's own general CPWL and
maxout bounds, all as exact Python ``int``. Each bound's docstring names its source and
its assumptions; a bound whose assumptions fail raises
:class:`~regionlab.errors.BoundNotApplicableError` naming the assumption and the layer.

Every bound takes the architecture first: an :class:`Architecture` (build one with
:func:`architecture`, from numbers or by reading a model), or the input dimension
followed by the hidden widths. :func:`all_bounds` collects every bound that exists for
the activation in a :class:`BoundsTable`.

Examples
--------
>>> from regionlab import bounds
>>> bounds.serra_upper(2, [8, 8, 8]), bounds.montufar2017_upper(2, [2, 4, 8])
(50653, 1628)
>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 3),
...                             torch.nn.ReLU(), torch.nn.Linear(3, 1))
>>> arch = bounds.architecture(model)
>>> arch.widths, bounds.serra_upper(arch)
((3, 3), 40)
>>> table = bounds.all_bounds(arch)
>>> table["raghu_upper"].value, table.best_upper
(49, 40)
"""

from __future__ import annotations

import importlib
import importlib.util

from ._common import Architecture, architecture, cpwl_one_layer, dimension_caps, zaslavsky
from ._conv import conv_first_layer
from ._maxout import maxout_montufar2014_one_layer, maxout_one_layer, maxout_serra_upper
from ._relu import (
    hinz_upper,
    montufar2014_lower,
    montufar2017_upper,
    raghu_upper,
    serra_exact_1d,
    serra_gamma,
    serra_lower,
    serra_size_lower,
    serra_upper,
    serra_upper_enumerated,
    trivial_upper,
)
from ._table import Bound, BoundsTable, all_bounds, format_count

# regionlab's own general bounds and extremal constructions, resolved on first use
_LAZY = {
    "cpwl_upper": "regionlab.bounds._general",
    "cpwl_lower": "regionlab.bounds._general",
    "maxout_upper": "regionlab.bounds._general",
    "maxout_lower": "regionlab.bounds._general",
}

__all__ = [
    "Architecture",
    "architecture",
    "zaslavsky",
    "cpwl_one_layer",
    "dimension_caps",
    "montufar2014_lower",
    "serra_lower",
    "serra_exact_1d",
    "serra_size_lower",
    "raghu_upper",
    "montufar2017_upper",
    "serra_upper",
    "serra_upper_enumerated",
    "hinz_upper",
    "serra_gamma",
    "trivial_upper",
    "maxout_serra_upper",
    "maxout_one_layer",
    "maxout_montufar2014_one_layer",
    "conv_first_layer",
    "Bound",
    "BoundsTable",
    "all_bounds",
    "format_count",
]
# the general bounds and constructions are listed once their modules are installed
if importlib.util.find_spec("regionlab.bounds._general") is not None:
    __all__ += sorted(_LAZY)
if importlib.util.find_spec("regionlab.bounds.constructions") is not None:
    __all__ += ["constructions"]


def __getattr__(name):
    if name == "constructions":
        modname = "regionlab.bounds.constructions"
    elif name in _LAZY:
        modname = _LAZY[name]
    else:
        raise AttributeError(f"module 'regionlab.bounds' has no attribute {name!r}")
    try:
        module = importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name != modname:
            raise
        raise AttributeError(
            f"regionlab.bounds.{name} is not available: its module {modname} is not installed."
        ) from None
    value = module if name == "constructions" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"constructions"})
