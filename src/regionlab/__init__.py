"""regionlab: exact geometry of continuous piecewise-linear (CPWL) neural networks.

Trace a PyTorch model into an immutable IR, then compute its activation regions
exactly on segments, paths, planes and n-D polytopes (boxes, balls around data points).

Examples
--------
>>> import torch, regionlab
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).double()
>>> part = regionlab.partition_segment(model, [-1.0, -1.0], [1.0, 1.0])
>>> part.num_regions >= 1
True
"""

from __future__ import annotations

import importlib

from . import errors
from .numerics import DEFAULT_NUMERICS, Numerics

__version__ = "0.1.0"

# Public names resolved lazily so that `import regionlab` stays light and optional
# parts (plotting, CLI) never load at import time.
_LAZY = {
    "CPWLNetwork": "regionlab.ir.network",
    "trace": "regionlab.tracing",
    "register_op": "regionlab.tracing",
    "CPWLActivation": "regionlab.activations",
    "partition_segment": "regionlab.regions.segment",
    "partition_path": "regionlab.regions.segment",
    "SegmentPartition": "regionlab.regions.segment_result",
    "SegmentPartitionBatch": "regionlab.regions.segment_result",
    "PathPartition": "regionlab.regions.segment_result",
    "partition_plane": "regionlab.regions.plane",
    "plane_through": "regionlab.regions.plane",
    "Plane": "regionlab.regions.plane",
    "PlanePartition": "regionlab.regions.plane_result",
    "partition_polytope": "regionlab.regions.polytope",
    "count_regions": "regionlab.regions.polytope",
    "PolytopePartition": "regionlab.regions.polytope_result",
    "Box": "regionlab.domains",
    "LinfBall": "regionlab.domains",
    "L1Ball": "regionlab.domains",
    "Polytope": "regionlab.domains",
    "ConvexHull": "regionlab.domains",
    "Simplex": "regionlab.domains",
    "window": "regionlab.domains",
    "local_region_counts": "regionlab.local",
    "switching_distances": "regionlab.local",
    "density_along_lines": "regionlab.expected",
    "bounds": "regionlab.bounds",
    "all_bounds": "regionlab.bounds",
}

__all__ = ["errors", "Numerics", "DEFAULT_NUMERICS", "__version__", *sorted(_LAZY)]


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'regionlab' has no attribute {name!r}")
    value = importlib.import_module(mod)
    if mod != f"regionlab.{name}":  # a submodule (e.g. regionlab.bounds) is its own value
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
