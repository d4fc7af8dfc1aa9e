"""One convolutional ReLU layer: the exact maximal region count of Xiong et al. (ICML 2020).

Examples
--------
>>> from regionlab.bounds._conv import conv_first_layer
>>> [conv_first_layer((1, 3), 2, 1, d1) for d1 in (1, 2, 3, 4)]
[4, 15, 40, 85]
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import InvalidParameterError
from ._common import _int

__all__ = ["conv_first_layer", "conv_receptive_fields", "MAX_POSITIONS", "MAX_NODES"]

#: largest number of output positions :func:`conv_first_layer` enumerates subsets of
MAX_POSITIONS = 12
#: largest number of partial assignments the enumeration of K_N may visit
MAX_NODES = 2_000_000


def _tuple(value, n: int, name: str) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,) * n
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidParameterError(f"{name} must be an int or a tuple of {n} ints; got {value!r}.")
    value = tuple(value)
    if len(value) != n:
        raise InvalidParameterError(f"{name} needs {n} entries for a {n}-D input; got {value!r}.")
    return tuple(_int(v, f"{name}[{i}]", minimum=1) for i, v in enumerate(value))


def conv_receptive_fields(input_shape, kernel_size, stride) -> tuple[int, list[frozenset]]:
    """Input channels and spatial receptive field of every output position (no padding).

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, L)`` or ``(C, H, W)``.
    kernel_size, stride : int or tuple of int
        One entry per spatial axis (an int is repeated).

    Returns
    -------
    (int, list of frozenset)
        C, and for each output position (row-major) the set of spatial input cells
        (flat indices) it reads; the receptive field S_ij is these cells times C channels.

    Raises
    ------
    InvalidParameterError
        If the shape is not 2 or 3 positive ints, or the kernel does not fit.

    Examples
    --------
    >>> conv_receptive_fields((1, 3), 2, 1)
    (1, [frozenset({0, 1}), frozenset({1, 2})])
    """
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise InvalidParameterError(f"input_shape must be (C, L) or (C, H, W); got {input_shape!r}.")
    shape = tuple(input_shape)
    if len(shape) not in (2, 3):
        raise InvalidParameterError(
            f"input_shape must be (C, L) for 1-D or (C, H, W) for 2-D inputs; got {shape!r}."
        )
    shape = tuple(_int(s, f"input_shape[{i}]", minimum=1) for i, s in enumerate(shape))
    channels, spatial = shape[0], shape[1:]
    nd = len(spatial)
    ks = _tuple(kernel_size, nd, "kernel_size")
    ss = _tuple(stride, nd, "stride")
    outs = []
    for axis, (size, k, s) in enumerate(zip(spatial, ks, ss, strict=True)):
        if k > size:
            raise InvalidParameterError(
                f"kernel_size {k} exceeds the input size {size} along spatial axis {axis} (no padding)."
            )
        outs.append((size - k) // s + 1)
    fields = []
    for pos in np.ndindex(*outs):
        cells = set()
        for off in np.ndindex(*ks):
            coord = [p * s + o for p, s, o in zip(pos, ss, off, strict=True)]
            cells.add(int(np.ravel_multi_index(coord, spatial)))
        fields.append(frozenset(cells))
    return channels, fields


def conv_first_layer(input_shape, kernel_size, stride, out_channels: int) -> int:
    """Xiong et al. (ICML 2020): exact maximal number of regions of one conv ReLU layer.

    ``R = sum_{t in K_N} prod_{(i,j)} C(d1, t_ij)`` with
    ``K_N = {t : sum_{(i,j) in J} t_ij <= |union_{(i,j) in J} S_ij| for every set J of
    output positions}``, S_ij the receptive field of position (i, j) including the input
    channels. For one output position it is Zaslavsky's Z(d1, |S|).

    With generic biases the region count is the number of linearly independent subsets
    of the neuron normals (empty set included) [derived]. K_N's condition is necessary
    for independence, so ``R`` is always an upper bound on the maximum. regionlab's tests
    compare it with that count for random filters: equal for 1-D inputs and for 2-D
    inputs with several channels, but **larger for single-channel 2-D inputs with two
    or more filters**, where filters commute (f1 * f2 = f2 * f1) and make some
    K_N-admissible subsets dependent: ``(1, 3, 3)``, kernel 2, 2 filters gives
    ``R = 256`` while generic filters reach 255. Treat ``R`` as an upper bound there.

    Assumptions: one convolutional layer with biases and ReLU (one breakpoint) units,
    no padding, no dilation, d1 filters shared over positions; 1-D ``(C, L)`` or 2-D
    ``(C, H, W)`` inputs.

    The enumeration of K_N is exponential in the number of output positions: at most
    12 positions and 2,000,000 partial assignments are allowed.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, L)`` or ``(C, H, W)``.
    kernel_size : int or tuple of int
        Spatial kernel size (an int is repeated over the axes).
    stride : int or tuple of int
        Spatial stride.
    out_channels : int
        d1 >= 1, the number of filters.

    Returns
    -------
    int

    Raises
    ------
    InvalidParameterError
        For malformed shapes, a kernel larger than the input, more than 12 output
        positions, or an enumeration beyond 2,000,000 partial assignments.

    Examples
    --------
    >>> conv_first_layer((1, 3), kernel_size=2, stride=1, out_channels=3)
    40
    >>> conv_first_layer((2, 3, 3), kernel_size=2, stride=1, out_channels=1)
    16
    """
    d1 = _int(out_channels, "out_channels", minimum=1)
    channels, fields = conv_receptive_fields(input_shape, kernel_size, stride)
    p_count = len(fields)
    if p_count > MAX_POSITIONS:
        raise InvalidParameterError(
            f"conv_first_layer enumerates subsets of output positions, which is exponential; this layer has "
            f"{p_count} positions (limit {MAX_POSITIONS}). Use a smaller input or a larger stride."
        )
    # f[mask] = |union of receptive fields of the positions in mask| (channels included)
    bits = [sum(1 << c for c in cells) for cells in fields]
    f = np.zeros(1 << p_count, dtype=np.int64)
    unions = [0] * (1 << p_count)
    for mask in range(1, 1 << p_count):
        low = (mask & -mask).bit_length() - 1
        unions[mask] = unions[mask & (mask - 1)] | bits[low]
        f[mask] = channels * bin(unions[mask]).count("1")
    combs = [math.comb(d1, t) for t in range(d1 + 1)]
    nodes = 0

    def walk(p: int, sums: np.ndarray) -> int:
        # sums[J] = sum of t over the positions in J (subsets of positions 0..p-1)
        nonlocal nodes
        nodes += 1
        if nodes > MAX_NODES:
            raise InvalidParameterError(
                f"conv_first_layer visited more than {MAX_NODES:,} partial assignments of K_N; the exact "
                "count is too expensive for this layer. Use fewer filters or output positions."
            )
        if p == p_count:
            return 1
        size = 1 << p
        tmax = min(d1, int((f[size : 2 * size] - sums).min()))
        total = 0
        for t in range(tmax + 1):
            total += combs[t] * walk(p + 1, np.concatenate([sums, sums + t]))
        return total

    return walk(0, np.zeros(1, dtype=np.int64))
