"""Testing helpers: a zoo of small deterministic models (:mod:`regionlab.testing.zoo`).

Examples
--------
>>> from regionlab.testing import ZOO
>>> "small_resnet" in ZOO
True
"""

from .zoo import ZOO

__all__ = ["ZOO"]
