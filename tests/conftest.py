"""Shared test settings.

The suite runs with two pytest-xdist workers on a 2-core machine: each worker uses one
intra-op thread so that the workers do not oversubscribe the cores (OpenMP threads
that wait on a busy core slow small tensor ops down by an order of magnitude).
"""

import torch
from hypothesis import settings

torch.set_num_threads(1)

settings.register_profile("regionlab", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("regionlab")
