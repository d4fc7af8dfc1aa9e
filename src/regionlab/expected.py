"""Expected complexity: constants, expected-count bounds, a 1-D density predictor, measurement.

For random parameters the number of activation regions met by a line grows like the
*total* number of units, not exponentially with depth (Hanin & Rolnick, ICML 2019;
Tseran & Montufar, NeurIPS 2021; Goujon, Etemadi & Unser, JCAM 2024: expected density
along a 1-D path at most scale x depth x width x activation complexity). This module
puts such predictions next to exact measurements:

* :func:`estimate_constants` reads a model (any traced CPWL network: a unit is a unit)
  and estimates the constants of those statements: the bias density ``c_bias`` (peak
  density of the biases feeding the CPWL units: Gaussian, uniform or empirical) and the
  gradient constants ``c_grad`` (input-gradient norms of every pre-activation, exact
  per point from the network's local affine maps), per layer and overall, with the
  widths, the depth and the activation complexity ``K`` (breakpoints per unit; rank - 1
  for max units).
* :func:`hanin_rolnick_density`, :func:`hanin_rolnick_regions`,
  :func:`tseran_montufar_regions`, :func:`tseran_montufar_boundary_pieces`: the
  expected-count bounds evaluated with those constants (floats: estimates, not exact
  integers).
* :func:`predict_density`: the 1-D breakpoint density predicted by the co-area formula,
  as a per-unit sum and in the product form depth x width x K x constant.
* :func:`density_along_lines`: the exact density along random lines with the batched
  1-D engine, with means and standard errors, and :meth:`LineDensities.compare`.

The co-area argument behind the 1-D statements (derived here, see
:func:`hanin_rolnick_density`): along a line ``x(t) = x0 + t d`` a univariate unit with
pre-activation ``z = g + b`` (``b`` its bias, ``g`` independent of ``b``) and
breakpoints ``beta_1..beta_K`` crosses level ``beta_k`` at ``E_b #{t : g(t) = beta_k -
b} = integral |dz/dt| rho_b(beta_k - g(t)) dt`` points on average, so the expected
number of breakpoints per unit length is at most ``sum_u K_u E|dz_u/dt| rho_b(...) <=
C_bias sum_u K_u E|dz_u/dt|``, with equality in the first step when ``rho_b`` is the
exact conditional density of the bias and ties have probability zero.

Examples
--------
>>> import torch
>>> from regionlab.expected import estimate_constants, predict_density, density_along_lines
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU())
>>> const = estimate_constants(model, n_points=256, bias_density="uniform")
>>> const.num_units, const.depth, const.widths, const.activation_complexity
(32, 2, (16, 16), 1)
>>> pred = predict_density(const)
>>> lines = density_along_lines(model, 64, length=2.0)
>>> cmp = lines.compare(pred)
>>> bool(cmp.measured <= cmp.upper)
True
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from ._expected_core import (
    _as_float_tensor,
    _BiasModel,
    _check_choice,
    _check_int,
    _check_positive,
    _check_seed,
    _domain_points,
    _effective_biases,
    _flat_points,
    _resolve,
    _unit_pass,
)
from .errors import InvalidParameterError, ShapeError
from .ir.ops import MaxOp, PiecewiseLinear

__all__ = [
    "LayerConstants",
    "ComplexityConstants",
    "estimate_constants",
    "isotropic_factor",
    "hanin_rolnick_density",
    "hanin_rolnick_regions",
    "tseran_montufar_regions",
    "tseran_montufar_boundary_pieces",
    "DensityPrediction",
    "predict_density",
    "LineDensities",
    "DensityComparison",
    "density_along_lines",
    "compare_densities",
]

_BIAS_DENSITIES = ("gaussian", "uniform", "empirical")
_TM_FORMS = ("full", "asymptotic", "asymptotic_no_rank")
_F64 = torch.float64


def isotropic_factor(n: int) -> float:
    """``E|d_1|`` for ``d`` uniform on the unit sphere of ``R^n``: ``Gamma(n/2) / (sqrt(pi) Gamma((n+1)/2))``.

    The mean of ``|g . d|`` over random unit directions ``d`` is ``isotropic_factor(n) *
    ||g||``, so the directional derivative along a random line is this factor times the
    gradient norm (1 for ``n = 1``, ``2/pi`` for ``n = 2``, about ``sqrt(2 / (pi n))``
    for large ``n``).

    Parameters
    ----------
    n : int
        Dimension (``>= 1``).

    Returns
    -------
    float

    Examples
    --------
    >>> isotropic_factor(1), round(isotropic_factor(2), 6), round(isotropic_factor(3), 6)
    (1.0, 0.63662, 0.5)
    """
    n = _check_int(n, "n")
    if n <= 300:
        return math.gamma(n / 2) / (math.sqrt(math.pi) * math.gamma((n + 1) / 2))
    return math.exp(math.lgamma(n / 2) - math.lgamma((n + 1) / 2)) / math.sqrt(math.pi)


# ------------------------------------------------------------------ constants


@dataclass(frozen=True)
class LayerConstants:
    """Estimated constants of one nonlinear layer (node) of a network.

    Attributes
    ----------
    name : str
        Node name (from the tracer).
    kind : str
        ``"univariate"`` or ``"max"``.
    width : int
        Number of units.
    breakpoints : int
        Activation complexity ``K`` of the layer: breakpoints per unit (largest over the
        units), or rank - 1 for max units.
    arguments : int
        Pre-activations per unit: 1 for univariate units, the rank ``k`` for max units.
    num_biases : int
        Distinct bias values feeding the layer (a convolution's channel bias counts once).
    bias_mean, bias_std, bias_max_abs : float
        Mean, standard deviation and largest magnitude of those values.
    c_bias : float
        Peak bias density by the chosen estimator (``inf`` when the biases do not spread:
        fewer than two distinct values).
    grad_norm_mean : float
        Mean over units, arguments and points of ``||grad_x z||``.
    grad_norm_max : float
        Largest over points of the layer's mean gradient norm.
    directional_mean : float
        Mean of ``|dz/dt|``: along the given directions, or along random unit directions
        (isotropic average, exact: :func:`isotropic_factor` times the gradient norm).
    gradient_mass : float
        ``E sum_u K_u sum_args |dz/dt|`` over the layer's units (``K_u m_u`` times the
        mean when every unit has ``m_u`` arguments), the layer's term of
        :func:`hanin_rolnick_density` before the factor ``c_bias``.
    gradient_mass_norm : float
        The same with ``||grad_x z||`` in place of ``|dz/dt|`` (any direction).
    crossing_density : float
        Co-area estimate of the layer's expected breakpoints per unit length,
        ``sum_u sum_k E[|dz_u/dt| rho_b(beta_k - g_u)]`` (see :func:`predict_density`);
        NaN when the bias model is degenerate.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(4, 1, dtype=torch.float64),
    ...                                          torch.tensor([-0.5, -0.2, 0.1, 0.6], dtype=torch.float64)),
    ...                                    PiecewiseLinear.relu()])
    >>> layer = estimate_constants(net, n_points=8).layers[0]
    >>> layer.width, layer.breakpoints, layer.grad_norm_mean
    (4, 1, 1.0)
    """

    name: str
    kind: str
    width: int
    breakpoints: int
    arguments: int
    num_biases: int
    bias_mean: float
    bias_std: float
    bias_max_abs: float
    c_bias: float
    grad_norm_mean: float
    grad_norm_max: float
    directional_mean: float
    gradient_mass: float
    crossing_density: float
    gradient_mass_norm: float = math.nan

    def to_dict(self) -> dict:
        """Plain-data form.

        Examples
        --------
        >>> LayerConstants("l", "univariate", 2, 1, 1, 2, 0.0, 1.0, 1.0, 0.4, 1.0, 1.0, 0.6, 1.2, 0.3, 2.0).to_dict()["width"]
        2
        """
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ComplexityConstants:
    """The constants of the expected-complexity statements, estimated from one network.

    Attributes
    ----------
    c_bias : float
        Largest over layers of the peak bias density (Hanin-Rolnick's ``C_bias``,
        Tseran-Montufar's ``c_bias``).
    c_grad : float
        Mean over units, arguments and points of the input-gradient norm
        ``||grad_x z(x)||`` of every pre-activation feeding a CPWL unit
        (Hanin-Rolnick's ``C_grad`` as an average).
    c_grad_max : float
        Largest over points of the mean over all units of ``||grad_x z||`` (Tseran-Montufar's
        grid estimator).
    c_grad_directional : float
        Mean of ``|dz/dt|`` along the given directions, or along random unit directions:
        then ``isotropic_factor(n0) * c_grad``.
    bias_density : str
        Estimator of the bias density: ``"gaussian"``, ``"uniform"`` or ``"empirical"``.
    input_dim : int
        n0.
    num_units : int
        N, total number of CPWL units.
    depth : int
        Number of nonlinear layers (nodes).
    widths : tuple of int
        Units per nonlinear layer.
    activation_complexity : int
        ``K``: the largest number of breakpoints per unit (rank - 1 for max units).
    layers : tuple of LayerConstants
        Per-layer breakdown.
    num_points : int
        Points the gradient statistics average over.
    points_source : str
        Where the points came from.
    seed : int
        Seed of the point sampler.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64),
    ...                                          torch.tensor([-0.5, 0.5], dtype=torch.float64)),
    ...                                    PiecewiseLinear.hardtanh()])
    >>> c = estimate_constants(net, n_points=16, bias_density="uniform")
    >>> c.num_units, c.activation_complexity, c.c_grad, round(c.c_bias, 4)  # a = 0.5 * 3 / 2
    (2, 2, 1.0, 0.6667)
    """

    c_bias: float
    c_grad: float
    c_grad_max: float
    c_grad_directional: float
    bias_density: str
    input_dim: int
    num_units: int
    depth: int
    widths: tuple[int, ...]
    activation_complexity: int
    layers: tuple[LayerConstants, ...]
    num_points: int
    points_source: str = ""
    seed: int = 0

    @property
    def c_bias_by_layer(self) -> tuple[float, ...]:
        """Peak bias density of each layer.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(2, 1, dtype=torch.float64),
        ...                                          torch.tensor([-1.0, 1.0], dtype=torch.float64)),
        ...                                    PiecewiseLinear.relu()])
        >>> estimate_constants(net, n_points=4, bias_density="uniform").c_bias_by_layer
        (0.3333333333333333,)
        """
        return tuple(layer.c_bias for layer in self.layers)

    @property
    def breakpoints_by_layer(self) -> tuple[int, ...]:
        """``K`` of each layer.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(2, 1, dtype=torch.float64),
        ...                                          torch.tensor([-1.0, 1.0], dtype=torch.float64)),
        ...                                    PiecewiseLinear.hardtanh()])
        >>> estimate_constants(net, n_points=4).breakpoints_by_layer
        (2,)
        """
        return tuple(layer.breakpoints for layer in self.layers)

    def to_dict(self) -> dict:
        """Plain-data form (nested dictionaries, lists and numbers).

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(2, 1, dtype=torch.float64),
        ...                                          torch.tensor([-1.0, 1.0], dtype=torch.float64)),
        ...                                    PiecewiseLinear.relu()])
        >>> d = estimate_constants(net, n_points=4).to_dict()
        >>> d["num_units"], d["widths"], len(d["layers"])
        (2, [2], 1)
        """
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "layers":
                v = [layer.to_dict() for layer in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ComplexityConstants:
        """Rebuild from :meth:`to_dict` output.

        Examples
        --------
        >>> import torch
        >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
        >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(2, 1, dtype=torch.float64),
        ...                                          torch.tensor([-1.0, 1.0], dtype=torch.float64)),
        ...                                    PiecewiseLinear.relu()])
        >>> c = estimate_constants(net, n_points=4)
        >>> ComplexityConstants.from_dict(c.to_dict()) == c
        True
        """
        d = dict(d)
        d["layers"] = tuple(LayerConstants(**layer) for layer in d["layers"])
        d["widths"] = tuple(d["widths"])
        return cls(**d)


def estimate_constants(
    model,
    points=None,
    *,
    n_points: int = 512,
    domain=None,
    seed: int = 0,
    bias_density: str = "gaussian",
    input_shape=None,
    directions=None,
) -> ComplexityConstants:
    """Estimate ``c_bias`` and ``c_grad`` (and the widths, depth, activation complexity) of a model.

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        Any CPWL model regionlab traces (MLPs, convolutions, residual blocks, max-pooling,
        maxout): every unit of every univariate or max node counts.
    points : array-like, optional
        Points ``(B, *input_shape)`` or ``(B, n0)`` at which the gradients are evaluated
        (e.g. data). By default ``n_points`` points drawn uniformly from ``domain``.
    n_points : int
        Number of random points when ``points`` is not given.
    domain : Domain or (lower, upper), optional
        Where the random points are drawn (in input space); the box ``[-1, 1]^n0`` by
        default.
    seed : int
        Seed of the point sampler.
    bias_density : {"gaussian", "uniform", "empirical"}
        Density model of each layer's biases (the constant term of every pre-activation
        as an affine function of the previous layer's outputs; each distinct value counts
        once). ``"gaussian"``: ``N(mean, std^2)`` fitted to them, peak
        ``1 / (sqrt(2 pi) std)`` (Tseran-Montufar). ``"uniform"``: uniform on
        ``[-a, a]`` with ``a = max|b| (n + 1) / n`` (the unbiased estimate for ``n``
        values; PyTorch's default init has ``a = 1 / sqrt(fan_in)``), peak ``1 / (2a)``.
        ``"empirical"``: a Gaussian kernel density (Silverman's bandwidth) and its peak.
    input_shape : tuple of int, optional
        Per-sample input shape of an ``nn.Module`` when neither ``points`` nor ``domain``
        tells it (an MLP's is read from its first ``Linear``).
    directions : array-like ``(B, n0)``, optional
        One direction per point (with ``points``): the derivatives ``dz/dt`` along them,
        e.g. the directions of the lines the points lie on
        (:meth:`LineDensities.line_samples`). By default the exact average over
        uniformly random unit directions. Not normalised here.

    Returns
    -------
    ComplexityConstants

    Raises
    ------
    InvalidParameterError
        Bad ``n_points``, ``seed``, ``bias_density`` or model.
    ShapeError
        Points of the wrong shape, a domain of the wrong dimension.
    NumericalError
        NaN or inf in the weights or the points.

    Notes
    -----
    The gradient of every pre-activation is exact at each point: the network's affine
    form in the point's activation region is pushed through the IR with the point's
    pattern frozen (batched, on the network's device), which is what
    ``CPWLNetwork.local_affine_map`` does for the output. For a max unit the
    pre-activations are its arguments. A layer whose biases do not spread (all equal,
    e.g. no bias) has ``c_bias = inf``: the bias-density assumption fails there.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    >>> c = estimate_constants(model, n_points=128, bias_density="uniform")
    >>> round(c.c_bias / (3 ** 0.5 / 2), 1)  # PyTorch init: biases U(-1/sqrt(3), 1/sqrt(3))
    1.0
    >>> c.widths, c.c_grad == c.layers[0].grad_norm_mean
    ((64,), True)
    """
    bias_density = _check_choice(bias_density, "bias_density", _BIAS_DENSITIES)
    n_points = _check_int(n_points, "n_points")
    seed = _check_seed(seed)
    net = _resolve(model, points, domain, input_shape)
    if not net.nonlinear_nodes:
        raise InvalidParameterError("The model has no CPWL units (it is affine); there is nothing to estimate.")
    gen = torch.Generator().manual_seed(seed)
    if points is None:
        X, source = _domain_points(net, domain, n_points, gen)
    else:
        X = _flat_points(net, points, "points")
        source = f"{X.shape[0]} given points"
    n0 = net.input_dim
    D = None
    if directions is not None:
        if points is None:
            raise InvalidParameterError("The 'directions' parameter needs 'points' (one direction per point).")
        D = _as_float_tensor(directions, "directions").to(_F64)
        if D.dim() != 2 or tuple(D.shape) != (X.shape[0], n0):
            raise ShapeError(
                f"The 'directions' parameter must have shape ({X.shape[0]}, {n0}): one direction per point. "
                f"Got shape {tuple(D.shape)} instead."
            )
        source += ", given directions"
    cn = isotropic_factor(n0)
    biases = _effective_biases(net)
    models = []
    for k, i in enumerate(net.nonlinear_nodes):
        b = biases[k]
        if isinstance(net.nodes[i].op, MaxOp):
            b = b[torch.unique(net.nodes[i].op.index[net.nodes[i].op.index >= 0].cpu())]
        models.append(_BiasModel(b, bias_density))
    acc = _unit_pass(net, X, D, biases, models, cn)
    P = acc["points"]
    layers = []
    for k, i in enumerate(net.nonlinear_nodes):
        node = net.nodes[i]
        op = node.op
        if isinstance(op, PiecewiseLinear):
            K, m = op.num_breakpoints, 1
        else:
            K, m = op.group_size - 1, op.group_size
        bm = models[k]
        cross = acc["cross"][k] / P if not bm.degenerate else math.nan
        cnt = max(acc["count"][k], 1)
        layers.append(
            LayerConstants(
                name=node.name,
                kind=op.kind,
                width=node.size,
                breakpoints=int(K),
                arguments=int(m),
                num_biases=bm.n,
                bias_mean=bm.mean,
                bias_std=bm.std,
                bias_max_abs=bm.max_abs,
                c_bias=bm.peak,
                grad_norm_mean=acc["grad_sum"][k] / cnt,
                grad_norm_max=float(torch.cat(acc["layer_means"][k]).max()),
                directional_mean=acc["dir_sum"][k] / cnt,
                gradient_mass=acc["mass"][k] / P,
                crossing_density=cross,
                gradient_mass_norm=acc["mass_norm"][k] / P,
            )
        )
    total_cnt = max(sum(acc["count"]), 1)
    c_grad = sum(acc["grad_sum"]) / total_cnt
    return ComplexityConstants(
        c_bias=max(layer.c_bias for layer in layers),
        c_grad=c_grad,
        c_grad_max=float(torch.cat(acc["point_means"]).max()),
        c_grad_directional=sum(acc["dir_sum"]) / total_cnt,
        bias_density=bias_density,
        input_dim=n0,
        num_units=net.num_units,
        depth=len(layers),
        widths=tuple(layer.width for layer in layers),
        activation_complexity=max(layer.breakpoints for layer in layers),
        layers=tuple(layers),
        num_points=int(P),
        points_source=source,
        seed=seed,
    )


# ------------------------------------------------------------------ expected-count bounds


def _pick(constants, name: str, override, check=_check_positive):
    if override is not None:
        return check(override, name)
    if constants is None:
        raise InvalidParameterError(
            f"Give either a ComplexityConstants (from estimate_constants) or the '{name}' parameter."
        )
    return getattr(constants, name)


def _check_constants(constants):
    if constants is not None and not isinstance(constants, ComplexityConstants):
        raise InvalidParameterError(
            "The 'constants' parameter must be a ComplexityConstants (from estimate_constants) or None. "
            f"Got {type(constants).__name__} instead."
        )


def hanin_rolnick_density(constants: ComplexityConstants, *, directional: bool = True, factor: float = 1.0) -> float:
    """Upper bound on the expected breakpoints per unit length along a line (Hanin-Rolnick, 1-D).

    ``factor * C_bias * sum_l K_l m_l n_l G_l``, with per layer ``l``: ``K_l`` breakpoints
    per unit (rank - 1 for max units), ``m_l`` pre-activations per unit (1, or the rank
    ``k`` for max units), ``n_l`` units and ``G_l`` the mean ``|dz/dt|`` along random
    unit directions (``directional=True``) or the mean ``||grad_x z||``
    (``directional=False``, which bounds ``|dz/dt|`` for every direction). For a network
    of univariate units with one ``K`` this is exactly ``factor * K * N * C_grad * C_bias``.

    Parameters
    ----------
    constants : ComplexityConstants
    directional : bool
        Use the directional derivative (along random lines, or along the directions the
        constants were estimated with) or the full gradient norm (any line).
    factor : float
        Numerical factor. The derivation below gives 1; Hanin-Rolnick (ICML 2019) write
        ``2 C_grad C_bias`` per codimension for the boundary volume, a factor the
        reference marks unconfirmed: pass ``factor=2`` to reproduce that form.

    Returns
    -------
    float

    Notes
    -----
    Derivation [ours]. Along ``x(t) = x0 + t d`` a univariate unit's pre-activation is
    ``z = g + b`` with ``g`` independent of its bias ``b`` (the bias enters last). By the
    area formula, ``E_b #{t in [0, l] : z(t) = beta} = int_0^l |g'(t)| rho_b(beta -
    g(t)) dt <= C_bias int_0^l |dz/dt| dt`` for each of the ``K`` breakpoints
    ``beta``; every pattern change along the line is such a crossing, so the expected
    breakpoints per unit length are at most ``C_bias sum_u K_u E|dz_u/dt|``: factor 1,
    exactly ``K N C_grad C_bias`` with the directional ``C_grad``. A max unit changes its
    argmax only where two arguments tie; the difference ``b_i - b_j`` of two independent
    biases has a density at most ``C_bias``, and ``|d(z_i - z_j)/dt| <= |dz_i/dt| +
    |dz_j/dt|``, so the ``C(k, 2)`` pairs give ``C_bias (k - 1) sum_j E|dz_j/dt|``:
    ``K m = (k - 1) k`` times the mean argument derivative. The constants here are
    estimated from one network (the bound is on the expectation over random biases).

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(4, 1, dtype=torch.float64),
    ...                                          torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64)),
    ...                                    PiecewiseLinear.relu()])
    >>> c = estimate_constants(net, n_points=8, bias_density="uniform")
    >>> round(hanin_rolnick_density(c), 6)  # K N C_grad C_bias = 1 * 4 * 1 * (1 / (2 * 0.75 * 5 / 4))
    2.133333
    """
    _check_constants(constants)
    if constants is None:
        raise InvalidParameterError("hanin_rolnick_density needs a ComplexityConstants (from estimate_constants).")
    factor = _check_positive(factor, "factor")
    if not isinstance(directional, bool):
        raise InvalidParameterError(f"The 'directional' parameter must be a bool. Got {directional!r} instead.")
    if directional:
        mass = sum(layer.gradient_mass for layer in constants.layers)
    else:
        mass = sum(layer.gradient_mass_norm for layer in constants.layers)
    return factor * constants.c_bias * mass


def hanin_rolnick_regions(
    constants: ComplexityConstants | None = None,
    volume: float = 1.0,
    input_dim: int | None = None,
    *,
    num_units: int | None = None,
    c_grad: float | None = None,
    c_bias: float | None = None,
    T: float | None = None,
    factor: float = 1.0,
) -> float:
    """Hanin-Rolnick (NeurIPS 2019) expected regions meeting a set: ``(T N)^n0 / n0! * vol``.

    ``T = factor * C_grad * C_bias`` (the numerical factor in ``T`` is unconfirmed in the
    reference: ``factor=1`` by default, ``2`` for the ICML 2019 boundary-volume form,
    ``2**5`` for the constant in Tseran-Montufar's code).

    Parameters
    ----------
    constants : ComplexityConstants, optional
        Source of ``N``, ``C_grad`` (the mean gradient norm), ``C_bias`` and ``n0``.
    volume : float
        Volume of the set (in input space, or of a slice of dimension ``input_dim``).
    input_dim : int, optional
        Dimension ``n0`` (of the input, or of the slice); the constants' by default.
    num_units, c_grad, c_bias : optional
        Override the constants' values.
    T : float, optional
        ``T`` itself (then ``c_grad``, ``c_bias`` and ``factor`` are not used).
    factor : float
        Numerical factor in ``T``.

    Returns
    -------
    float

    Examples
    --------
    >>> hanin_rolnick_regions(num_units=24, input_dim=2, T=1.0)   # bounds.md worked value
    288.0
    """
    _check_constants(constants)
    volume = _check_positive(volume, "volume")
    N = _pick(constants, "num_units", num_units, _check_int)
    n0 = _pick(constants, "input_dim", input_dim, _check_int)
    if T is None:
        T = _check_positive(factor, "factor") * _pick(constants, "c_grad", c_grad) * _pick(constants, "c_bias", c_bias)
    else:
        T = _check_positive(T, "T")
    return (T * N) ** n0 / math.factorial(n0) * volume


def _tm_inputs(constants, num_units, rank, input_dim, c_grad, c_bias, form, volume):
    _check_constants(constants)
    form = _check_choice(form, "form", _TM_FORMS)
    volume = _check_positive(volume, "volume")
    N = _pick(constants, "num_units", num_units, _check_int)
    n0 = _pick(constants, "input_dim", input_dim, _check_int)
    if rank is not None:
        k = _check_int(rank, "rank", 2)
    elif constants is not None:
        k = constants.activation_complexity + 1
    else:
        raise InvalidParameterError("Give either a ComplexityConstants or the 'rank' parameter (pieces per unit).")
    cg = cb = None
    if form == "full":
        cg = c_grad if c_grad is not None else (None if constants is None else constants.c_grad_max)
        if cg is None:
            raise InvalidParameterError("The full form needs 'c_grad' (or a ComplexityConstants).")
        cg = _check_positive(cg, "c_grad")
        cb = _pick(constants, "c_bias", c_bias)
    return form, volume, N, n0, k, cg, cb


def tseran_montufar_regions(
    constants: ComplexityConstants | None = None,
    volume: float = 1.0,
    *,
    form: str = "full",
    num_units: int | None = None,
    rank: int | None = None,
    input_dim: int | None = None,
    c_grad: float | None = None,
    c_bias: float | None = None,
) -> float:
    """Tseran-Montufar (NeurIPS 2021) bound on the expected number of regions in a box.

    ``"full"``: ``(2^5 c_bias c_grad K N)^n0 C(K n0, 2 n0) vol / n0!``;
    ``"asymptotic"``: ``(K N)^n0 C(K n0, 2 n0) / n0!``; ``"asymptotic_no_rank"``:
    ``N^n0 / n0!`` (the Hanin-Rolnick form). ``K`` is the maxout **rank** (pieces per
    unit): for a univariate activation with ``K'`` breakpoints, ``K'+1``. As in the
    official code, the asymptotic forms carry neither constants nor the volume.

    Parameters
    ----------
    constants : ComplexityConstants, optional
        Source of ``N``, ``n0``, the rank (activation complexity + 1), ``c_bias`` and
        ``c_grad`` (``c_grad_max``, the grid maximum of the mean gradient norm, as in the
        authors' estimator).
    volume : float
        Volume of the box (full form only).
    form : {"full", "asymptotic", "asymptotic_no_rank"}
    num_units, rank, input_dim, c_grad, c_bias : optional
        Override the constants' values.

    Returns
    -------
    float

    Examples
    --------
    >>> tseran_montufar_regions(form="asymptotic", num_units=20, rank=2, input_dim=2)   # bounds.md
    800.0
    >>> tseran_montufar_regions(form="asymptotic_no_rank", num_units=20, rank=2, input_dim=2)
    200.0
    """
    form, volume, N, n0, k, cg, cb = _tm_inputs(constants, num_units, rank, input_dim, c_grad, c_bias, form, volume)
    if form == "asymptotic_no_rank":
        return float(N**n0) / math.factorial(n0)
    comb = math.comb(k * n0, 2 * n0)
    if form == "asymptotic":
        return float((k * N) ** n0 * comb) / math.factorial(n0)
    return (2**5 * cb * cg * k * N) ** n0 * comb * volume / math.factorial(n0)


def tseran_montufar_boundary_pieces(
    constants: ComplexityConstants | None = None,
    volume: float = 1.0,
    *,
    form: str = "full",
    num_units: int | None = None,
    rank: int | None = None,
    input_dim: int | None = None,
    c_grad: float | None = None,
    c_bias: float | None = None,
) -> float:
    """Tseran-Montufar bound on the expected linear pieces of a binary decision boundary.

    ``"full"``: ``(2^4 c_bias c_grad)^n0 (2 K N)^(n0-1) C(K (n0-1), 2 (n0-1)) vol / (n0-1)!``;
    ``"asymptotic"``: ``(K N)^(n0-1) C(K (n0-1), 2 (n0-1)) / (n0-1)!``;
    ``"asymptotic_no_rank"``: ``N^(n0-1) / (n0-1)!``. Parameters as in
    :func:`tseran_montufar_regions`.

    Returns
    -------
    float

    Examples
    --------
    >>> tseran_montufar_boundary_pieces(form="asymptotic", num_units=20, rank=2, input_dim=2)   # bounds.md
    40.0
    >>> tseran_montufar_boundary_pieces(form="asymptotic_no_rank", num_units=20, rank=2, input_dim=2)
    20.0
    """
    form, volume, N, n0, k, cg, cb = _tm_inputs(constants, num_units, rank, input_dim, c_grad, c_bias, form, volume)
    m = n0 - 1
    if form == "asymptotic_no_rank":
        return float(N**m) / math.factorial(m)
    comb = math.comb(k * m, 2 * m)
    if form == "asymptotic":
        return float((k * N) ** m * comb) / math.factorial(m)
    return (2**4 * cb * cg) ** n0 * (2 * k * N) ** m * comb * volume / math.factorial(m)


# ------------------------------------------------------------------ predictor


@dataclass(frozen=True)
class DensityPrediction:
    """Predicted breakpoints per unit length along random lines.

    Attributes
    ----------
    density : float
        The per-unit sum ``sum_l sum_(u in l) sum_k E[|dz_u/dt| rho_b(beta_k - g_u)]``
        (max units: see :func:`predict_density`): the co-area estimate of the expected
        breakpoints per unit length, with the fitted bias density evaluated where each
        unit's bias would have to be for the unit to switch (a point estimate, not a
        bound).
    product_form : float
        ``depth * width * K * constant`` with the mean width ``N / depth``: equal to
        ``density`` when every unit has ``K`` breakpoints.
    constant : float
        ``density / sum_u K_u``: the mean crossing density per breakpoint.
    upper : float
        :func:`hanin_rolnick_density` (factor 1, directional): the bound with the peak
        density ``C_bias`` in place of ``rho_b``.
    upper_product : float
        ``K * N * c_grad_directional * c_bias``.
    depth, mean_width, activation_complexity, num_units : numbers
    per_layer : tuple of float
        Each layer's term of ``density`` (NaN where the layer's biases do not spread).
    bias_density : str
    provenance : str
        How the constants were obtained.
    excluded_layers : tuple of str
        Layers left out of ``density`` because their biases do not spread (e.g. a
        max-pool after a ReLU: every argument's bias is 0); the bias-density assumption
        fails there, ``upper`` is then ``inf`` and the prediction undercounts.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(4, 1, dtype=torch.float64),
    ...                                          torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64)),
    ...                                    PiecewiseLinear.relu()])
    >>> p = predict_density(net, bias_density="uniform", n_points=1000)
    >>> p.density <= p.upper, p.depth, p.num_units
    (True, 1, 4)
    """

    density: float
    product_form: float
    constant: float
    upper: float
    upper_product: float
    depth: int
    mean_width: float
    activation_complexity: int
    num_units: int
    per_layer: tuple[float, ...]
    bias_density: str
    provenance: str
    excluded_layers: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Plain-data form.

        Examples
        --------
        >>> DensityPrediction(1.0, 1.0, 0.5, 2.0, 2.0, 1, 2.0, 1, 2, (1.0,), "uniform", "").to_dict()["per_layer"]
        [1.0]
        """
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> DensityPrediction:
        """Rebuild from :meth:`to_dict` output.

        Examples
        --------
        >>> p = DensityPrediction(1.0, 1.0, 0.5, 2.0, 2.0, 1, 2.0, 1, 2, (1.0,), "uniform", "")
        >>> DensityPrediction.from_dict(p.to_dict()) == p
        True
        """
        d = dict(d)
        d["per_layer"] = tuple(d["per_layer"])
        d["excluded_layers"] = tuple(d.get("excluded_layers", ()))
        return cls(**d)


def predict_density(model_or_constants, points=None, **kwargs) -> DensityPrediction:
    """Predict the breakpoints per unit length along random lines: depth x width x K x constant.

    Parameters
    ----------
    model_or_constants : torch.nn.Module, CPWLNetwork or ComplexityConstants
        A model (its constants are estimated with :func:`estimate_constants`) or
        constants estimated before.
    points : array-like, optional
        Points for :func:`estimate_constants` (e.g. points on the lines to be measured,
        with ``directions=`` their lines' directions: :meth:`LineDensities.line_samples`).
    **kwargs
        Passed to :func:`estimate_constants` (``n_points``, ``domain``, ``seed``,
        ``bias_density``, ``input_shape``, ``directions``).

    Returns
    -------
    DensityPrediction

    Notes
    -----
    Each univariate unit contributes ``sum_k E[|dz/dt| rho_b(beta_k - g)]``: the co-area
    formula of :func:`hanin_rolnick_density` with the fitted bias density evaluated
    where the unit's bias would have to be for it to switch, instead of the density's
    peak. ``E`` averages over the points, along the given directions or (exactly) over
    isotropic random directions. With the exact conditional bias density this is the
    expected number of crossings per unit length, not a bound; for one layer the
    expected count itself (tested against the closed form).

    A max unit with arguments ``z_j = g_j + b_j`` changes its argmax exactly where some
    argument meets the largest of the others, ``M_j`` (which does not depend on
    ``b_j``), and each change is such a meeting for two arguments; the unit contributes
    ``(1/2) sum_j E[|d(z_j - M_j)/dt| rho_b(b_j + M_j - z_j)]`` (the same co-area
    argument for each ``b_j``).

    For the network at hand the estimate is the expected count over redraws of each
    bias from its layer's fitted density, independently given all other parameters
    (Hanin-Rolnick's assumption A1); how close one network comes to it is what
    :func:`density_along_lines` measures.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU())
    >>> p = predict_density(model, bias_density="uniform")
    >>> p.depth, p.mean_width, p.activation_complexity, p.density <= p.upper
    (2, 32.0, 1, True)
    """
    if isinstance(model_or_constants, ComplexityConstants):
        if points is not None or kwargs:
            raise InvalidParameterError("Constants were given: 'points' and estimation options cannot be used with them.")
        c = model_or_constants
    else:
        c = estimate_constants(model_or_constants, points, **kwargs)
    per_layer = tuple(layer.crossing_density for layer in c.layers)
    excluded = tuple(layer.name for layer in c.layers if not math.isfinite(layer.crossing_density))
    density = float(sum(v for v in per_layer if math.isfinite(v)))
    total_k = sum(layer.breakpoints * layer.width for layer in c.layers if math.isfinite(layer.crossing_density))
    total_k = max(total_k, 1)
    constant = density / total_k
    mean_width = c.num_units / c.depth
    return DensityPrediction(
        density=density,
        product_form=c.depth * mean_width * c.activation_complexity * constant,
        constant=constant,
        upper=hanin_rolnick_density(c),
        upper_product=c.activation_complexity * c.num_units * c.c_grad_directional * c.c_bias,
        depth=c.depth,
        mean_width=mean_width,
        activation_complexity=c.activation_complexity,
        num_units=c.num_units,
        per_layer=per_layer,
        excluded_layers=excluded,
        bias_density=c.bias_density,
        provenance=(
            f"co-area estimate: {c.bias_density} bias density per layer, gradients exact at {c.num_points} points "
            f"({c.points_source}, seed {c.seed}), isotropic directions in {c.input_dim}-D"
        ),
    )


# ------------------------------------------------------------------ measurement


def _stats(v: Tensor) -> tuple[float, float, float]:
    n = v.numel()
    mean = float(v.mean())
    std = float(v.std()) if n > 1 else 0.0
    return mean, std, std / math.sqrt(n)


@dataclass(frozen=True)
class DensityComparison:
    """Predicted and measured breakpoints per unit length, side by side.

    Attributes
    ----------
    predicted : float
        :attr:`DensityPrediction.density`.
    predicted_product : float
        :attr:`DensityPrediction.product_form`.
    upper : float
        :attr:`DensityPrediction.upper` (Hanin-Rolnick-style bound, factor 1).
    measured : float
        Mean exact breakpoints per unit length over the lines.
    measured_sem : float
        Its standard error.
    ratio : float
        ``measured / predicted``.
    z_score : float
        ``(measured - predicted) / measured_sem`` (``inf``/``nan`` when the error is 0).
    below_upper : bool
        ``measured <= upper``.
    n_lines : int

    Examples
    --------
    >>> DensityComparison(2.0, 2.0, 5.0, 2.2, 0.1, 1.1, 2.0, True, 100).to_dict()["ratio"]
    1.1
    """

    predicted: float
    predicted_product: float
    upper: float
    measured: float
    measured_sem: float
    ratio: float
    z_score: float
    below_upper: bool
    n_lines: int

    def to_dict(self) -> dict:
        """Plain-data form.

        Examples
        --------
        >>> sorted(DensityComparison(2.0, 2.0, 5.0, 2.2, 0.1, 1.1, 2.0, True, 100).to_dict())[:3]
        ['below_upper', 'measured', 'measured_sem']
        """
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self):
        return (
            f"breakpoints per unit length: measured {self.measured:.4g} +- {self.measured_sem:.2g} "
            f"({self.n_lines} lines), predicted {self.predicted:.4g} (ratio {self.ratio:.3g}), "
            f"upper {self.upper:.4g}"
        )


@dataclass(frozen=True, eq=False)
class LineDensities:
    """Exact breakpoint counts along random lines, and the densities they give.

    Attributes
    ----------
    breakpoints : Tensor ``(n_lines,)`` long
        Pattern changes along each line (exact, 1-D engine).
    length : float
        Length of every line.
    centres, directions : Tensor ``(n_lines, n0)`` float64
        Midpoint and unit direction of each line: line ``i`` runs from
        ``centres[i] - length/2 directions[i]`` to ``centres[i] + length/2 directions[i]``.
    seed : int
    centres_source : str
        ``"points"`` (lines through given points) or a description of the domain.
    num_units, depth : int
    widths : tuple of int
    seconds : float
        Wall-clock time of the exact partitions.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(3, 1, dtype=torch.float64),
    ...                                          torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64)),
    ...                                    PiecewiseLinear.relu()])
    >>> d = density_along_lines(net, 4, length=4.0, through=torch.zeros(1, 1))
    >>> d.breakpoints.tolist(), d.regions.tolist(), d.mean_breakpoint_density
    ([3, 3, 3, 3], [4, 4, 4, 4], 0.75)
    """

    breakpoints: Tensor
    length: float
    centres: Tensor
    directions: Tensor
    seed: int
    centres_source: str
    num_units: int
    depth: int
    widths: tuple[int, ...]
    seconds: float = 0.0

    @property
    def n_lines(self) -> int:
        """Number of lines.

        Examples
        --------
        >>> import torch
        >>> LineDensities(torch.tensor([1, 2]), 1.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,)).n_lines
        2
        """
        return int(self.breakpoints.numel())

    @property
    def regions(self) -> Tensor:
        """Regions met by each line (``breakpoints + 1``).

        Examples
        --------
        >>> import torch
        >>> LineDensities(torch.tensor([1, 2]), 1.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,)).regions
        tensor([2, 3])
        """
        return self.breakpoints + 1

    @property
    def density(self) -> Tensor:
        """Regions per unit length of each line.

        Examples
        --------
        >>> import torch
        >>> LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,)).density
        tensor([1., 2.], dtype=torch.float64)
        """
        return self.regions.to(_F64) / self.length

    @property
    def breakpoint_density(self) -> Tensor:
        """Breakpoints per unit length of each line.

        Examples
        --------
        >>> import torch
        >>> LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,)).breakpoint_density
        tensor([0.5000, 1.5000], dtype=torch.float64)
        """
        return self.breakpoints.to(_F64) / self.length

    @property
    def mean_density(self) -> float:
        """Mean regions per unit length.

        Examples
        --------
        >>> import torch
        >>> LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,)).mean_density
        1.5
        """
        return _stats(self.density)[0]

    @property
    def mean_breakpoint_density(self) -> float:
        """Mean breakpoints per unit length.

        Examples
        --------
        >>> import torch
        >>> LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,)).mean_breakpoint_density
        1.0
        """
        return _stats(self.breakpoint_density)[0]

    def summary(self) -> dict:
        """Means, standard deviations and standard errors of both densities.

        Examples
        --------
        >>> import torch
        >>> s = LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,)).summary()
        >>> s["breakpoint_density_mean"], s["breakpoint_density_std"], s["n_lines"]
        (1.0, 0.7071067811865476, 2)
        """
        dm, ds, de = _stats(self.density)
        bm, bs, be = _stats(self.breakpoint_density)
        return {
            "n_lines": self.n_lines,
            "length": self.length,
            "density_mean": dm,
            "density_std": ds,
            "density_sem": de,
            "breakpoint_density_mean": bm,
            "breakpoint_density_std": bs,
            "breakpoint_density_sem": be,
            "mean_breakpoints": float(self.breakpoints.to(_F64).mean()),
            "max_breakpoints": int(self.breakpoints.max()),
            "num_units": self.num_units,
            "depth": self.depth,
            "widths": list(self.widths),
            "seconds": self.seconds,
            "seconds_per_line": self.seconds / max(self.n_lines, 1),
        }

    def sample_points(self, per_line: int = 8, seed: int = 0) -> Tensor:
        """Points drawn uniformly along the lines, ``(n_lines * per_line, n0)``.

        Estimating the constants at these points (``predict_density(model, points=...)``)
        makes the prediction average over the same points as the measurement.

        Examples
        --------
        >>> import torch
        >>> d = LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,))
        >>> P = d.sample_points(4)
        >>> P.shape, bool((P.abs() <= 1).all())
        (torch.Size([8, 1]), True)
        """
        per_line = _check_int(per_line, "per_line")
        gen = torch.Generator().manual_seed(_check_seed(seed))
        t = (torch.rand(self.n_lines, per_line, 1, generator=gen, dtype=_F64) - 0.5) * self.length
        return (self.centres.unsqueeze(1) + t * self.directions.unsqueeze(1)).reshape(-1, self.centres.shape[1])

    def line_samples(self, per_line: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
        """Points drawn uniformly along the lines and the direction of each point's line.

        Passing both to :func:`predict_density` (``points=..., directions=...``) makes
        the prediction average ``|dz/dt|`` over exactly the points and directions the
        measurement integrates over (on random lines the isotropic average is biased a
        little: steep directions sweep the line over more of the bias density's tails).

        Returns
        -------
        points, directions : Tensor ``(n_lines * per_line, n0)``

        Examples
        --------
        >>> import torch
        >>> d = LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,))
        >>> P, D = d.line_samples(3)
        >>> P.shape, D.shape, bool(torch.equal(P, d.sample_points(3)))
        (torch.Size([6, 1]), torch.Size([6, 1]), True)
        """
        P = self.sample_points(per_line, seed)
        return P, self.directions.repeat_interleave(_check_int(per_line, "per_line"), dim=0)

    def compare(self, prediction: DensityPrediction) -> DensityComparison:
        """Put a prediction next to these measurements; see :func:`compare_densities`.

        Examples
        --------
        >>> import torch
        >>> d = LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,))
        >>> p = DensityPrediction(0.8, 0.8, 0.8, 2.0, 2.0, 1, 1.0, 1, 1, (0.8,), "uniform", "")
        >>> d.compare(p).ratio
        1.25
        """
        return compare_densities(prediction, self)

    def to_dict(self) -> dict:
        """Plain-data form (lists, numbers, strings).

        Examples
        --------
        >>> import torch
        >>> d = LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,))
        >>> LineDensities.from_dict(d.to_dict()).breakpoints
        tensor([1, 3])
        """
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, Tensor) else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> LineDensities:
        """Rebuild from :meth:`to_dict` output.

        Examples
        --------
        >>> LineDensities.from_dict({"breakpoints": [2], "length": 1.0, "centres": [[0.0]], "directions": [[1.0]],
        ...                          "seed": 0, "centres_source": "", "num_units": 2, "depth": 1, "widths": [2]}).regions
        tensor([3])
        """
        d = dict(d)
        d["breakpoints"] = torch.as_tensor(d["breakpoints"], dtype=torch.long)
        d["centres"] = torch.as_tensor(d["centres"], dtype=_F64)
        d["directions"] = torch.as_tensor(d["directions"], dtype=_F64)
        d["widths"] = tuple(d["widths"])
        return cls(**d)

    def __repr__(self):
        s = self.summary()
        return (
            f"LineDensities({self.n_lines} lines of length {self.length:g}: "
            f"{s['breakpoint_density_mean']:.4g} +- {s['breakpoint_density_sem']:.2g} breakpoints per unit length)"
        )


def compare_densities(prediction: DensityPrediction, measured: LineDensities) -> DensityComparison:
    """Predicted and measured breakpoints per unit length, side by side.

    Parameters
    ----------
    prediction : DensityPrediction
    measured : LineDensities

    Returns
    -------
    DensityComparison

    Examples
    --------
    >>> import torch
    >>> d = LineDensities(torch.tensor([1, 3]), 2.0, torch.zeros(2, 1), torch.ones(2, 1), 0, "", 1, 1, (1,))
    >>> p = DensityPrediction(1.0, 1.0, 1.0, 2.0, 2.0, 1, 1.0, 1, 1, (1.0,), "uniform", "")
    >>> c = compare_densities(p, d)
    >>> c.measured, c.ratio, c.z_score, c.below_upper
    (1.0, 1.0, 0.0, True)
    """
    if not isinstance(prediction, DensityPrediction):
        raise InvalidParameterError(
            f"The 'prediction' parameter must be a DensityPrediction (from predict_density). Got {type(prediction).__name__}."
        )
    if not isinstance(measured, LineDensities):
        raise InvalidParameterError(
            f"The 'measured' parameter must be a LineDensities (from density_along_lines). Got {type(measured).__name__}."
        )
    mean, _, sem = _stats(measured.breakpoint_density)
    diff = mean - prediction.density
    z = diff / sem if sem > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    return DensityComparison(
        predicted=prediction.density,
        predicted_product=prediction.product_form,
        upper=prediction.upper,
        measured=mean,
        measured_sem=sem,
        ratio=mean / prediction.density if prediction.density > 0 else math.inf,
        z_score=z,
        below_upper=bool(mean <= prediction.upper),
        n_lines=measured.n_lines,
    )


def density_along_lines(
    model,
    n_lines: int = 256,
    *,
    length: float = 2.0,
    through=None,
    domain=None,
    seed: int = 0,
    batch: int = 256,
    progress: bool | None = None,
    input_shape=None,
) -> LineDensities:
    """Exact density of activation regions along random lines.

    Lines of length ``length`` in uniformly random directions (normalised Gaussian
    vectors), centred at the given points or at uniform points of a box, partitioned
    exactly by the batched 1-D engine (:func:`regionlab.partition_segment`).

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
    n_lines : int
        Number of lines.
    length : float
        Length of each line (in input space).
    through : array-like, optional
        Points ``(M, *input_shape)`` or ``(M, n0)``; line ``i`` is centred at point
        ``i mod M``. By default the centres are uniform in ``domain``.
    domain : Domain or (lower, upper), optional
        Where the centres are drawn when ``through`` is not given; the box
        ``[-1, 1]^n0`` by default.
    seed : int
        Seed of the directions and centres (same seed, same lines).
    batch : int
        Lines per call of the 1-D engine (bounds memory).
    progress : bool, optional
        Progress bar over the calls (tqdm); by default shown when there is more than one
        call and stderr is a terminal.
    input_shape : tuple of int, optional
        Input shape of an ``nn.Module`` when neither ``through`` nor ``domain`` tells it.

    Returns
    -------
    LineDensities

    Raises
    ------
    InvalidParameterError
        Non-positive ``n_lines``, ``length`` or ``batch``, a bad seed or model.
    ShapeError
        ``through`` points of the wrong shape.
    NumericalError
        NaN or inf in the weights or points.

    Examples
    --------
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU())
    >>> d = density_along_lines(model, 32, length=2.0, seed=1)
    >>> d.n_lines, d.breakpoints.shape, d.summary()["breakpoint_density_sem"] > 0
    (32, torch.Size([32]), True)
    """
    from .regions.segment import partition_segment

    n_lines = _check_int(n_lines, "n_lines")
    length = _check_positive(length, "length")
    batch = _check_int(batch, "batch")
    seed = _check_seed(seed)
    if progress is not None and not isinstance(progress, bool):
        raise InvalidParameterError(f"The 'progress' parameter must be a bool or None. Got {progress!r} instead.")
    net = _resolve(model, through, domain, input_shape)
    n0 = net.input_dim
    gen = torch.Generator().manual_seed(seed)
    D = torch.randn(n_lines, n0, generator=gen, dtype=_F64)
    D = D / D.norm(dim=1, keepdim=True)
    if through is not None:
        P = _flat_points(net, through, "through")
        C = P[torch.arange(n_lines) % P.shape[0]]
        source = "points"
    else:
        C, source = _domain_points(net, domain, n_lines, gen)
    A = C - 0.5 * length * D
    Bp = C + 0.5 * length * D
    calls = [(s, min(s + batch, n_lines)) for s in range(0, n_lines, batch)]
    show = (len(calls) > 1 and sys.stderr.isatty()) if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_lines, desc="lines", unit="line")
    counts = []
    t0 = time.perf_counter()
    try:
        for s, e in calls:
            res = partition_segment(net, A[s:e], Bp[s:e], return_maps=False, batched=True)
            counts.append(res.num_regions.to(torch.long) - 1)
            if bar is not None:
                bar.update(e - s)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    return LineDensities(
        breakpoints=torch.cat(counts),
        length=length,
        centres=C,
        directions=D,
        seed=seed,
        centres_source=source,
        num_units=net.num_units,
        depth=len(net.nonlinear_nodes),
        widths=tuple(net.layer_widths()),
        seconds=seconds,
    )
