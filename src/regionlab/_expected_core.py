"""Private helpers of :mod:`regionlab.expected`: argument checks, model and point coercion,
bias-density models, effective biases and the batched pass that accumulates the per-layer
gradient and crossing statistics.

Examples
--------
>>> import torch
>>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
>>> net = CPWLNetwork.sequential((1,), [Dense(torch.ones(2, 1, dtype=torch.float64),
...                                          torch.tensor([0.5, -0.5], dtype=torch.float64)), PiecewiseLinear.relu()])
>>> _effective_biases(net)[0]
tensor([ 0.5000, -0.5000], dtype=torch.float64)
>>> _BiasModel(torch.tensor([-1.0, 1.0]), "uniform").peak
0.3333333333333333
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .errors import InvalidParameterError, NumericalError, ShapeError
from .ir.network import CPWLNetwork, choice_at
from .ir.ops import MaxOp, PiecewiseLinear
from .regions._common import as_tensor_arg

_F64 = torch.float64
# float64 entries the gradient forms of one chunk of points may take (2**23: 64 MiB)
_CHUNK_ELEMENTS = 1 << 23
# grid of the empirical (kernel) densities
_KDE_GRID = 4096

# ------------------------------------------------------------------ argument checks


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            ok = isinstance(value, np.integer)
        except ImportError:  # pragma: no cover - numpy ships with torch
            ok = False
        if not ok:
            raise InvalidParameterError(f"The '{name}' parameter must be an int >= {minimum}. Got {value!r} instead.")
    value = int(value)
    if value < minimum:
        raise InvalidParameterError(f"The '{name}' parameter must be an int >= {minimum}. Got {value} instead.")
    return value


def _check_positive(value, name: str) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = float(value)
    if isinstance(value, bool):
        raise InvalidParameterError(f"The '{name}' parameter must be a positive number. Got {value!r} instead.")
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"The '{name}' parameter must be a positive number. Got {type(value).__name__} instead."
        ) from exc
    if not math.isfinite(value):
        raise NumericalError(f"The '{name}' parameter must be finite. Got {value} instead.")
    if value <= 0:
        raise InvalidParameterError(f"The '{name}' parameter must be positive. Got {value} instead.")
    return value


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidParameterError(f"The 'seed' parameter must be an int. Got {seed!r} instead.")
    return int(seed)


def _check_choice(value, name: str, allowed) -> str:
    if value not in allowed:
        raise InvalidParameterError(f"The '{name}' parameter must be one of {', '.join(map(repr, allowed))}. Got {value!r} instead.")
    return value


def _as_float_tensor(x, name: str) -> Tensor:
    t = as_tensor_arg(x, name)
    if not t.is_floating_point():
        t = t.to(_F64)
    if not bool(torch.isfinite(t).all()):
        raise NumericalError(f"The '{name}' parameter contains NaN or inf; pass finite points.")
    return t


def _module_input_shape(model: torch.nn.Module):
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            return (int(m.in_features),)
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
            return None
    return None


def _resolve(model, points=None, domain=None, input_shape=None) -> CPWLNetwork:
    """The float64 traced network of ``model``; points, a domain or a shape give the input shape."""
    from .numerics import DEFAULT_NUMERICS
    from .regions._common import as_network, network_for

    if isinstance(model, CPWLNetwork):
        net = model
    elif isinstance(model, torch.nn.Module):
        example = None
        if input_shape is not None:
            example = tuple(int(s) for s in ((input_shape,) if isinstance(input_shape, int) else input_shape))
        elif points is not None:
            t = _as_float_tensor(points, "points")
            if t.dim() < 2:
                raise ShapeError(
                    f"The points must be a batch (B, *input_shape). Got shape {tuple(t.shape)} instead; "
                    "add a leading batch dimension for a single point."
                )
            example = t[0]
        elif domain is not None and not isinstance(domain, tuple):
            shape = getattr(domain, "input_shape", None)
            example = tuple(shape) if shape is not None else (int(domain.input_dim),)
        elif isinstance(domain, tuple) and len(domain) == 2:
            lo = torch.as_tensor(domain[0])
            if lo.dim() >= 1 and lo.numel() > 1:
                example = tuple(lo.shape)
        if example is None:
            example = _module_input_shape(model)
        if example is None:
            raise InvalidParameterError(
                "Cannot tell the model's input shape: pass 'points', a 'domain' in input space or 'input_shape'."
            )
        net = as_network(model, example)
    else:
        raise InvalidParameterError(
            f"The 'model' parameter must be a torch.nn.Module or a regionlab CPWLNetwork. Got {type(model).__name__} instead."
        )
    for n in net.nodes[1:]:
        bad = n.op.check_finite()
        if bad is not None:
            raise NumericalError(f"The {bad!r} tensor of node {n.name!r} contains NaN or inf; check the model's weights.")
    return network_for(net, DEFAULT_NUMERICS)


def _domain_points(net: CPWLNetwork, domain, n: int, gen: torch.Generator) -> tuple[Tensor, str]:
    """``n`` flat input points uniform in ``domain`` (default: the box [-1, 1]^n0), and a description."""
    from .domains import Box, Domain

    n0 = net.input_dim
    if domain is None:
        return torch.rand(n, n0, generator=gen, dtype=_F64) * 2 - 1, f"uniform in [-1, 1]^{n0}"
    if isinstance(domain, tuple) and len(domain) == 2:
        lo = torch.as_tensor(domain[0], dtype=_F64).reshape(-1)
        hi = torch.as_tensor(domain[1], dtype=_F64).reshape(-1)
        if lo.numel() not in (1, n0) or hi.numel() not in (1, n0):
            raise ShapeError(
                f"The 'domain' bounds must be scalars or have {n0} entries (the input dimension). "
                f"Got {lo.numel()} and {hi.numel()} entries."
            )
        domain = Box(lo.expand(n0).clone(), hi.expand(n0).clone())
    if not isinstance(domain, Domain):
        raise InvalidParameterError(
            "The 'domain' parameter must be a regionlab.domains.Domain (e.g. Box), a (lower, upper) pair or None. "
            f"Got {type(domain).__name__} instead."
        )
    if domain.input_dim != n0:
        raise ShapeError(f"The 'domain' lives in {domain.input_dim}-D input space but the network has {n0} inputs.")
    P = domain.sample(n, generator=gen)
    return domain.to_input(P).to(_F64).reshape(n, n0), f"uniform in {domain!r}"


def _flat_points(net: CPWLNetwork, points, name: str) -> Tensor:
    t = _as_float_tensor(points, name)
    try:
        x = net.as_batch(t, name)
    except ShapeError:
        raise
    if x.shape[0] == 0:
        raise ShapeError(f"The '{name}' parameter holds no points; pass a batch (B, *input_shape) with B >= 1.")
    return x.reshape(x.shape[0], -1).to(_F64)


# ------------------------------------------------------------------ bias densities


class _BiasModel:
    """A density model of one layer's biases: its peak and its value anywhere."""

    def __init__(self, values: Tensor, method: str):
        v = torch.unique(values.to(_F64).reshape(-1))
        self.method = method
        self.n = int(v.numel())
        self.std = float(v.std()) if self.n > 1 else 0.0
        self.mean = float(v.mean()) if self.n else 0.0
        self.max_abs = float(v.abs().max()) if self.n else 0.0
        self.degenerate = self.n < 2 or self.std == 0.0
        self.values = v
        if self.degenerate:
            self.peak = math.inf
            return
        if method == "gaussian":
            self.peak = 1.0 / (math.sqrt(2 * math.pi) * self.std)
        elif method == "uniform":
            # the largest of n |b| uniform on [0, a] is a n/(n+1) on average: unbiased a
            self.a = self.max_abs * (self.n + 1) / self.n
            self.peak = 1.0 / (2 * self.a)
        else:
            q = torch.quantile(v, torch.tensor([0.25, 0.75], dtype=_F64))
            iqr = float(q[1] - q[0])
            spread = min(self.std, iqr / 1.34) if iqr > 0 else self.std
            self.h = 0.9 * spread * self.n ** (-0.2)  # Silverman's rule
            lo, hi = float(v.min()) - 4 * self.h, float(v.max()) + 4 * self.h
            self.grid = torch.linspace(lo, hi, _KDE_GRID, dtype=_F64)
            self.dens = self._kde(self.grid, v, self.h)
            self.peak = float(self.dens.max())

    @staticmethod
    def _kde(s: Tensor, v: Tensor, h: float) -> Tensor:
        out = torch.zeros_like(s)
        for k in range(0, v.numel(), 1024):
            vv = v[k : k + 1024]
            out += torch.exp(-0.5 * ((s.unsqueeze(-1) - vv) / h) ** 2).sum(-1)
        return out / (v.numel() * h * math.sqrt(2 * math.pi))

    @staticmethod
    def _interp(s: Tensor, grid: Tensor, dens: Tensor) -> Tensor:
        g0, step, G = float(grid[0]), float(grid[1] - grid[0]), grid.numel()
        pos = ((s - g0) / step).clamp(0, G - 1)
        i0 = pos.floor().long().clamp(max=G - 2)
        lam = pos - i0
        val = dens[i0] * (1 - lam) + dens[i0 + 1] * lam
        return torch.where((s < grid[0]) | (s > grid[-1]), torch.zeros_like(val), val)

    def density(self, s: Tensor) -> Tensor:
        """Density of one bias at ``s``."""
        if self.degenerate:
            return torch.full_like(s, math.nan)
        if self.method == "gaussian":
            return torch.exp(-0.5 * ((s - self.mean) / self.std) ** 2) * self.peak
        if self.method == "uniform":
            return torch.where(s.abs() <= self.a, torch.full_like(s, self.peak), torch.zeros_like(s))
        return self._interp(s, self.grid, self.dens)


def _effective_biases(net: CPWLNetwork) -> list[Tensor]:
    """The constant term of every nonlinear node's input, as an affine function of the previous
    nonlinear outputs and the network input (both set to zero): a Dense or Conv layer's bias
    (per unit), a folded BatchNorm shift, the sum of the branches' biases after a residual add."""
    vals: dict[int, Tensor] = {0: torch.zeros((1, *net.input_shape), dtype=net.dtype, device=net.device)}
    out = []
    with torch.no_grad():
        for i, n in enumerate(net.nodes[1:], start=1):
            args = [vals[j] for j in n.inputs]
            if n.op.kind == "linear":
                vals[i] = n.op.forward(*args)
            else:
                out.append(args[0].reshape(-1).to("cpu", _F64))
                vals[i] = torch.zeros((1, *n.shape), dtype=net.dtype, device=net.device)
    return out


def _layer_tables(net: CPWLNetwork, i: int):
    """Per unit: breakpoints (U, K) and counts (U,) for univariate nodes; index (U, k) for max nodes."""
    n = net.nodes[i]
    op = n.op
    U = n.size
    if isinstance(op, PiecewiseLinear):
        b, _, _ = op.unit_tables(U)
        return b.to("cpu", _F64)
    return op.index.to("cpu")


def _unit_pass(net: CPWLNetwork, X: Tensor, D: Tensor | None, biases: list[Tensor], models: list[_BiasModel], cn: float):
    """Accumulate the per-layer statistics over the points ``X`` (flat, float64, CPU).

    ``D`` holds one unit direction per point (the derivative along it is exact), or is
    ``None`` for the isotropic average ``cn * ||grad||``.
    """
    L = len(net.nonlinear_nodes)
    n0 = net.input_dim
    sizes = [net.nodes[j].size for j in range(len(net.nodes))]
    groups = [net.nodes[i].op.group_size for i in net.nonlinear_nodes if isinstance(net.nodes[i].op, MaxOp)]
    biggest = max(sizes) * max([1, *groups])
    dev, dt = net.device, net.dtype
    # norms and dot products with directions are those of orthonormal coordinates of the
    # input's row space when the input is read through fewer numbers than it has
    basis = net.input_basis()
    k_cols = n0 if basis is None else basis[2].shape[0]
    to_basis = None if basis is None else basis[1].to("cpu", _F64)  # directions d -> Q^T d
    M = max(1, min(X.shape[0], _CHUNK_ELEMENTS // ((1 + k_cols) * biggest)))
    layer_of = {node: k for k, node in enumerate(net.nonlinear_nodes)}
    tables = [_layer_tables(net, i) for i in net.nonlinear_nodes]
    acc = {
        "grad_sum": [0.0] * L,  # sum over points, units and arguments of ||grad z||
        "dir_sum": [0.0] * L,  # the same of |dz/dt|
        "count": [0] * L,
        "mass": [0.0] * L,  # sum over points of sum_u K_u * sum_args |dz/dt|
        "mass_norm": [0.0] * L,  # the same with ||grad z||
        "cross": [0.0] * L,  # sum over points of the co-area integrand
        "layer_means": [[] for _ in range(L)],  # per point: the layer's mean ||grad z||
        "point_means": [],  # per point: the mean ||grad z|| over all units
    }
    for s in range(0, X.shape[0], M):
        x = X[s : s + M].to(device=dev, dtype=dt)
        d = None if D is None else D[s : s + M].to(_F64)
        if d is not None and to_basis is not None:
            d = d @ to_basis  # the direction's coordinates: g . d = (Q c) . d = c . (Q^T d)
        B = x.shape[0]
        forms, start = net.point_forms(x.reshape(B, *net.input_shape), basis)
        tot = torch.zeros(B, dtype=_F64)
        cnt = 0

        def along(g, d=d):
            """|g . d| per point (``g`` ``(B, k, ...)`` in the forms' coordinates), or the isotropic mean ``cn ||g||``."""
            if d is None:
                return cn * g.norm(dim=1)
            return (g * d.view(d.shape[0], d.shape[1], *([1] * (g.dim() - 2)))).sum(1).abs()

        def select(i, node, z):
            nonlocal tot, cnt
            k = layer_of[i]
            val = z[:, 0].to("cpu", _F64)
            grad = z[:, 1:].to("cpu", _F64)
            bias = biases[k]
            bm = models[k]
            if node.op.kind == "univariate":
                gn = grad.norm(dim=1)  # (B, U)
                gt = along(grad)
                bp = tables[k]  # (U, K)
                Ku = bp.shape[1]
                acc["grad_sum"][k] += float(gn.sum())
                acc["dir_sum"][k] += float(gt.sum())
                acc["count"][k] += gn.numel()
                acc["mass"][k] += float(gt.sum()) * Ku
                acc["mass_norm"][k] += float(gn.sum()) * Ku
                g = (val - bias).unsqueeze(-1)  # (B, U, 1): z minus its own bias
                rho = bm.density(bp.unsqueeze(0) - g)  # (B, U, K)
                acc["cross"][k] += float((gt.unsqueeze(-1) * rho).sum())
                acc["layer_means"][k].append(gn.mean(1))
                tot += gn.sum(1)
                cnt += gn.shape[1]
            else:
                idx = tables[k]  # (U, k)
                valid = idx >= 0
                ic = idx.clamp_min(0)
                av = val[:, ic]  # (B, U, k)
                ag = grad[:, :, ic]  # (B, m, U, k): m coefficients of the forms
                ab = bias[ic]  # (U, k)
                vmask = valid.unsqueeze(0)
                gn = torch.where(vmask, ag.norm(dim=1), torch.zeros(()))  # (B, U, k)
                gt = torch.where(vmask, along(ag), torch.zeros(()))
                nv = valid.sum(1)  # (U,)
                km1 = (nv - 1).clamp_min(0).to(_F64).unsqueeze(0)
                acc["grad_sum"][k] += float(gn.sum())
                acc["dir_sum"][k] += float(gt.sum())
                acc["count"][k] += int(nv.sum()) * val.shape[0]
                acc["mass"][k] += float((km1 * gt.sum(-1)).sum())
                acc["mass_norm"][k] += float((km1 * gn.sum(-1)).sum())
                # argument j ties with the largest of the others, M_j, where its bias is
                # b_j + (M_j - z_j); every argmax change is such a tie for two arguments
                if idx.shape[1] >= 2:
                    avm = av.masked_fill(~vmask, -math.inf)
                    top = avm.topk(2, dim=-1).indices  # (B, U, 2)
                    ar = torch.arange(idx.shape[1]).view(1, 1, -1)
                    other = torch.where(ar == top[..., :1], top[..., 1:], top[..., :1])  # (B, U, k)
                    gap = av.gather(-1, other) - av  # M_j - z_j
                    gM = ag.gather(-1, other.unsqueeze(1).expand(-1, ag.shape[1], -1, -1))
                    gd = along(ag - gM)  # (B, U, k)
                    rho = bm.density(ab.unsqueeze(0) + gap)
                    ok = vmask & (nv >= 2).view(1, -1, 1)
                    term = torch.where(ok, 0.5 * gd * rho, torch.zeros_like(gd))
                    acc["cross"][k] += float(term.sum())
                per_point = gn.sum((1, 2))
                acc["layer_means"][k].append(per_point / max(1, int(nv.sum())))
                tot += per_point
                cnt += int(nv.sum())
            return choice_at(node.op, z[:, 0])

        with torch.no_grad():
            net.propagate_forms(forms, select, start=start)
        acc["point_means"].append(tot / max(cnt, 1))
    acc["points"] = int(X.shape[0])
    return acc
