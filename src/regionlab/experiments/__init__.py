"""Reproductions: each paper's figure, one command each (``regionlab run NAME``).

An experiment is a class with a ``name``, a ``title``, the ``paper`` it reproduces and a
``run(ctx)`` method. :func:`run_experiment` runs it and writes ``out/NAME/``:
``results.json`` (every number, rewritten as items finish, so an interrupted run keeps
what it finished), ``report.md`` (the paper's figures beside ours, then sections and
figures) and PNG figures. ``quick=True`` (``--quick``) is the small version the test
suite runs; seeds are fixed, so results are reproducible.

Registered experiments:

* ``bounds-vs-exact``: exact region counts of random and extremal networks against
  every closed-form bound (:mod:`regionlab.bounds`), and the exact 1-D density of
  regions against depth.

Examples
--------
>>> from regionlab.experiments import list_experiments
>>> "bounds-vs-exact" in list_experiments()
True
"""

from ._base import (
    Comparison,
    Experiment,
    ExperimentResult,
    RunContext,
    get_experiment,
    list_experiments,
    register_experiment,
    run_experiment,
)

__all__ = [
    "Comparison",
    "Experiment",
    "ExperimentResult",
    "RunContext",
    "get_experiment",
    "list_experiments",
    "register_experiment",
    "run_experiment",
]
