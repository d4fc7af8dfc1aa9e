"""The ``regionlab`` command line (``regionlab partition segment|plane|box|ball|hull``, ``local-counts``, ``demo``, ``version``).

The command lives in :mod:`regionlab.cli.main` (entry point ``regionlab.cli.main:main``);
this package imports nothing, so that ``python -m regionlab.cli.main`` runs that module
exactly once.

Examples
--------
>>> from regionlab.cli.main import main
>>> callable(main)
True
"""

__all__: list[str] = []
