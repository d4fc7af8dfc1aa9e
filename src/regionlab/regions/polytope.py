"""Exact partitions of n-D convex domains: ``partition_polytope`` and its two engines.

* ``engine="vertex"``: layer-wise subdivision of convex polytopes held by their vertices
  and half-spaces (``_vertex_engine``); batched tensor work, for low dimension.
* ``engine="lp"``: region-graph traversal with linear programs (``_lp_engine``); any
  dimension, with a completeness certificate.

``engine="auto"`` takes the vertex engine up to :data:`VERTEX_ENGINE_MAX_DIM` dimensions
when the domain's vertices are available, the LP engine otherwise.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import torch
from torch import Tensor

from ..errors import DomainError, InvalidParameterError, RegionLimitExceeded, ShapeError
from ..ir.network import CPWLNetwork, apply_frozen
from ..numerics import DEFAULT_NUMERICS, Numerics, exact_mode, intra_op_threads
from ._polytope_raw import RawRegions, canonical_order
from ._vertex_engine import (
    WORD,
    PolyState,
    incidence_counts,
    incidences,
    pack,
    refine_max,
    refine_univariate,
    unpack,
)

VERTEX_ENGINE_MAX_DIM = 8
_INC_BLOCK = 1 << 22  # entries per block of unpacked incidences in _finish
ENGINES = ("auto", "vertex", "lp")


def _as_network(model, domain) -> CPWLNetwork:
    if isinstance(model, CPWLNetwork):
        net = model
    else:
        from ._common import as_network

        shape = domain.input_shape if domain.input_shape is not None else (domain.input_dim,)
        net = as_network(model, domain.origin.reshape(shape))
    if net.input_dim != domain.input_dim:
        raise ShapeError(
            f"The domain lives in a {domain.input_dim}-dimensional input space but the network takes "
            f"{net.input_dim} inputs (shape {net.input_shape})."
        )
    return net


def partition_polytope(model, domain, *, engine: str = "auto", numerics: Numerics | None = None,
                       max_regions: int | None = None, time_limit: float | None = None,
                       progress: bool = False):
    """Exact partition of a convex domain into the activation regions of a network.

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        A CPWL model (traced on first use) or a traced network.
    domain : regionlab.domains.Domain
        A convex domain: :class:`~regionlab.domains.Box`, ``LinfBall``, ``L1Ball``,
        ``Polytope``, ``ConvexHull``, ``Simplex``, or a window in the span of a few
        directions through a data point (:func:`regionlab.domains.window`).
    engine : {"auto", "vertex", "lp"}
        ``"vertex"``: vertex subdivision (low dimension, fast, batched);
        ``"lp"``: region-graph traversal by linear programs (any dimension, completeness
        certificate); ``"auto"``: the vertex engine up to 8 dimensions, else LP.
    numerics : Numerics, optional
        Precision and tolerances (float64 by default).
    max_regions : int, optional
        Stop with :class:`~regionlab.errors.RegionLimitExceeded` (carrying the partial
        result) once more regions than this are found.
    time_limit : float, optional
        Seconds; stop the same way when exceeded.
    progress : bool
        Show a progress bar.

    Returns
    -------
    PolytopePartition
        Every activation region meeting the domain with positive volume: pattern, a point
        strictly inside and the radius of a ball around it inside the region, the
        non-redundant facets, the affine map, (low dimension) vertices and volume; the
        adjacency graph, ``num_regions`` and ``num_linear_pieces``.

    Raises
    ------
    RegionLimitExceeded
        ``max_regions`` or ``time_limit`` reached; ``.partial`` holds what was finished.
    ShapeError
        The domain's input dimension does not match the network.

    Notes
    -----
    Regions are counted inside the domain: one that only touches the boundary (zero
    volume inside) is not counted. Interrupting (Ctrl-C) returns the regions finished so
    far, marked incomplete (``info["complete"] is False``); for the vertex engine that is
    the partition by the layers already processed.

    Examples
    --------
    One layer of 4 generic planes through the centre of a 3-D box makes 14 regions:

    >>> import torch, regionlab
    >>> from regionlab.domains import Box
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> W = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((3,), [Dense(W, torch.zeros(4, dtype=torch.float64)), PiecewiseLinear.relu()])
    >>> part = regionlab.partition_polytope(net, Box([-1, -1, -1], [1, 1, 1]))
    >>> part.num_regions
    14
    """
    net, domain, engine, numerics = _checked(model, domain, engine, numerics, max_regions, time_limit)
    t0 = time.perf_counter()
    # many small tensor ops: one intra-op thread is as fast on an idle CPU and far faster
    # on a busy one (see partition_plane)
    with intra_op_threads(1 if net.device.type == "cpu" else None):
        return _run(net, domain, engine, numerics, max_regions, time_limit, progress, t0)


def _checked(model, domain, engine, numerics, max_regions, time_limit):
    """The checked arguments of ``partition_polytope``: ``(net, domain, engine, numerics)``."""
    numerics = numerics or DEFAULT_NUMERICS
    if not isinstance(numerics, Numerics):
        raise InvalidParameterError(f"The 'numerics' parameter must be a Numerics instance. Got {type(numerics).__name__}.")
    if engine not in ENGINES:
        raise InvalidParameterError(f"Unknown engine {engine!r}; choose one of {ENGINES}.")
    if max_regions is not None and (not isinstance(max_regions, int) or max_regions < 1):
        raise InvalidParameterError(f"max_regions must be a positive integer, got {max_regions!r}.")
    if time_limit is not None and not (time_limit > 0):
        raise InvalidParameterError(f"time_limit must be a positive number of seconds, got {time_limit!r}.")
    from ..domains import Domain

    if not isinstance(domain, Domain):
        raise DomainError(
            f"partition_polytope needs a regionlab.domains.Domain (Box, LinfBall, L1Ball, Polytope, ...); "
            f"got {type(domain).__name__}."
        )
    net = _as_network(model, domain)
    if engine == "auto":
        engine = "vertex" if domain.dim <= VERTEX_ENGINE_MAX_DIM else "lp"
    return net, domain, engine, numerics


def _run(net, domain, engine, numerics, max_regions, time_limit, progress, t0):
    from .polytope_result import PolytopePartition

    try:
        if engine == "vertex":
            raw = _vertex_partition(net, domain, numerics, max_regions, time_limit, progress)
        else:
            from ._lp_engine import lp_partition

            raw = lp_partition(net, domain, numerics=numerics, max_regions=max_regions,
                               time_limit=time_limit, progress=progress)
    except RegionLimitExceeded as exc:
        if isinstance(exc.partial, RawRegions):
            exc.partial = PolytopePartition._from_raw(net, domain, exc.partial, numerics, time.perf_counter() - t0)
        raise
    return PolytopePartition._from_raw(net, domain, raw, numerics, time.perf_counter() - t0)


def count_regions(model, domain, *, engine: str = "auto", numerics: Numerics | None = None,
                  max_regions: int | None = None, time_limit: float | None = None, progress: bool = False) -> int:
    """Exact number of activation regions of a network that meet a convex domain.

    The count of :func:`partition_polytope` (``part.num_regions``) by the same engines,
    without building the partition's facets, witnesses, affine maps and adjacency graph:
    for many domains (local counts around data points, counts against bounds) where
    only the number is wanted.

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        A CPWL model (traced on first use) or a traced network.
    domain : regionlab.domains.Domain
        A convex domain (see :func:`partition_polytope`).
    engine : {"auto", "vertex", "lp"}
        As :func:`partition_polytope`.
    numerics, time_limit, progress
        As :func:`partition_polytope`.
    max_regions : int, optional
        Stop with :class:`~regionlab.errors.RegionLimitExceeded` once more regions than
        this are found (or after ``time_limit``); its ``.partial`` is a lower bound on the
        count (the count by the layers finished, or the regions found so far by the LP
        engine).

    Returns
    -------
    int
        Number of activation regions meeting the domain with positive volume.

    Raises
    ------
    RegionLimitExceeded
        ``max_regions`` or ``time_limit`` reached.
    KeyboardInterrupt
        On Ctrl-C (a count by part of the layers is not the count).

    Examples
    --------
    ``|x|`` on each coordinate of a 3-D box: the eight octants.

    >>> import regionlab
    >>> from regionlab.domains import Box
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> regionlab.count_regions(CPWLNetwork.sequential((3,), [PiecewiseLinear.abs()]), Box([-1, -1, -1], [1, 1, 1]))
    8
    """
    net, domain, engine, numerics = _checked(model, domain, engine, numerics, max_regions, time_limit)
    with intra_op_threads(1 if net.device.type == "cpu" else None):
        if engine == "vertex":
            return _vertex_partition(net, domain, numerics, max_regions, time_limit, progress, count_only=True)
        from ._lp_engine import lp_partition

        try:
            raw = lp_partition(net, domain, numerics=numerics, max_regions=max_regions, time_limit=time_limit,
                               progress=progress)
        except RegionLimitExceeded as exc:
            if isinstance(exc.partial, RawRegions):
                exc.partial = exc.partial.num_regions
            raise
        if raw.info.get("interrupted"):
            raise KeyboardInterrupt
        return raw.num_regions


# ------------------------------------------------------------------------ vertex engine


class _Interrupt:
    """Turns the first Ctrl-C into a flag checked between layers (main thread only)."""

    def __init__(self):
        self.hit = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread
            self._old = None
        return self

    def _handler(self, signum, frame):
        if self.hit:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _vertex_partition(net: CPWLNetwork, domain, numerics: Numerics, max_regions, time_limit, progress,
                      count_only: bool = False):
    """The vertex engine: ``RawRegions``, or with ``count_only`` the number of regions."""
    if domain.dim > 12:
        raise DomainError(
            f"The vertex engine enumerates polytope vertices and is meant for low dimension; this domain "
            f"is {domain.dim}-dimensional. Use engine='lp' (any dimension) or a lower-dimensional window."
        )
    dev, dt = net.device, numerics.dtype
    if net.dtype != dt:
        net = net.to(dtype=dt)
    verts = domain.vertices().to(device=dev, dtype=dt)
    A, b = domain.halfspaces()
    state = PolyState.from_domain(verts, A.to(device=dev, dtype=dt), b.to(device=dev, dtype=dt), numerics.atol)
    k = domain.dim
    base = torch.cat([domain.origin.unsqueeze(0), domain.basis]).to(device=dev, dtype=dt)  # (1+k, n)
    forms: dict[int, Tensor] = {0: base.reshape(1, 1 + k, *net.input_shape)}
    # per nonlinear node (tensor, index): its pieces, and its input forms (for adjacency);
    # row ``index[r]`` (all rows if None) is current region r's: a layer gathers the
    # indices, not the tensors, and _finish gathers each once
    pattern_parts: list[tuple[Tensor, Tensor | None]] = []
    pre_parts: list[tuple[Tensor, Tensor | None]] = []
    last = net.last_use
    offsets = dict(zip(net.nonlinear_nodes, net.unit_offsets, strict=False))
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(net.nonlinear_nodes), desc="partition_polytope", unit="layer")
    layers_done = 0
    stop_reason = None
    snapshot = None
    with exact_mode(numerics), _Interrupt() as intr:
        for i, node in enumerate(net.nodes[1:], start=1):
            op = node.op
            R = state.num
            cols = 1 + k
            if op.kind == "linear":
                args = [forms[j] for j in node.inputs]
                out = op.linear(*[a.reshape(R * cols, *a.shape[2:]) for a in args])
                out = out.reshape(R, cols, *out.shape[1:])
                if op.offset is not None:
                    out = out.clone()
                    out[:, 0] += op.offset
                forms[i] = out
            else:
                z = forms[node.inputs[0]].reshape(R, cols, -1)
                if max_regions is not None and not count_only:  # keep the coarser partition for a partial result
                    snapshot = (state, dict(forms), list(pattern_parts), list(pre_parts))
                    state = _copy_state(state)
                # a count needs no pieces, forms or patterns after the last nonlinear node
                count_last = count_only and i == net.nonlinear_nodes[-1]
                if op.kind == "univariate":
                    par, choice, pat = refine_univariate(state, z, op, offsets[i], pieces=not count_last)
                else:
                    par, choice, pat = refine_max(state, z, op.index, offsets[i])
                if int(state.nf.max()) > 40 and i != net.nonlinear_nodes[-1]:
                    # keep the incidence bitmasks in one or two words; redundant
                    # half-spaces are harmless to the cuts and are dropped at the end
                    # (so not after the last layer: _finish keeps the same facets in
                    # the same order)
                    state.compact()
                src = node.inputs[0]
                if not count_last:
                    zc = z.index_select(0, par)
                    for j in list(forms):
                        if j != src:
                            forms[j] = forms[j].index_select(0, par)
                    forms[src] = zc.reshape(state.num, cols, *forms[src].shape[2:])
                    forms[i] = apply_frozen(op, zc.clone(), choice).reshape(state.num, cols, *node.shape)
                if not count_only:
                    pattern_parts = _reindexed(pattern_parts, par) + [(pat, None)]
                    pre_parts = _reindexed(pre_parts, par) + [(z, par)]
                layers_done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(regions=state.num)
                if max_regions is not None and state.num > max_regions:
                    stop_reason = f"more than max_regions={max_regions} regions after {layers_done} nonlinear layer(s)"
                elif time_limit is not None and time.perf_counter() - t0 > time_limit and layers_done < len(net.nonlinear_nodes):
                    stop_reason = f"time_limit={time_limit} s exceeded after {layers_done} nonlinear layer(s)"
                if stop_reason or intr.hit or count_last:
                    break
            for j in node.inputs:
                if last[j] <= i:
                    forms.pop(j, None)
            if i == net.output_node:
                break
    if bar is not None:
        bar.close()
    complete = stop_reason is None and not intr.hit
    if count_only:
        if stop_reason:
            # the layers before the one that overflowed, or the layers done: a lower bound
            partial = R if max_regions is not None and state.num > max_regions else state.num
            raise RegionLimitExceeded(f"count_regions stopped: {stop_reason}; .partial holds the count by the "
                                      f"layers finished before it ({partial}), a lower bound.", partial=partial)
        if intr.hit:
            raise KeyboardInterrupt
        return state.num
    if stop_reason and max_regions is not None and state.num > max_regions and snapshot is not None:
        # the partial result is the coarser partition by the layers before the one that overflowed
        state, forms, pattern_parts, pre_parts = snapshot
        layers_done -= 1
    # the output's forms: the network's affine map on each region (complete partitions)
    out_forms = forms.get(net.output_node) if complete else None
    raw = _finish(net, domain, state, pattern_parts, pre_parts, numerics, layers_done, complete, out_forms)
    raw.info["elapsed"] = time.perf_counter() - t0
    if intr.hit:
        raw.info["interrupted"] = True
    if stop_reason:
        raise RegionLimitExceeded(f"partition_polytope stopped: {stop_reason}; the partial result (the partition "
                                  f"by the first {layers_done} nonlinear layer(s)) is attached as .partial.", partial=raw)
    return raw


def _copy_state(state: PolyState) -> PolyState:
    """A shallow copy whose tensors the refinement may replace (keeps the snapshot intact)."""
    # the half-space table is append-only: both states can share it
    return PolyState(state.V.clone(), state.nv.clone(), state.hid.clone(), state.nf.clone(), state.inc.clone(),
                     state.atol, state.halfspaces)


def _reindexed(parts: list[tuple[Tensor, Tensor | None]], par: Tensor) -> list[tuple[Tensor, Tensor]]:
    """``parts`` for the regions that come from regions ``par`` (see ``_vertex_partition``)."""
    return [(t, par if idx is None else idx.index_select(0, par)) for t, idx in parts]


def _finish(net, domain, state: PolyState, pattern_parts, pre_parts, numerics, layers_done, complete,
            out_forms: Tensor | None = None) -> RawRegions:
    R, k = state.num, state.k
    dev = state.V.device
    N = net.num_units
    patterns = (torch.cat([t if idx is None else t.index_select(0, idx) for t, idx in pattern_parts], 1) if pattern_parts
                else torch.zeros((R, 0), dtype=torch.int16, device=dev))
    if patterns.shape[1] < N:  # partial result: units of later layers are unknown (-32768)
        patterns = torch.cat([patterns, patterns.new_full((R, N - patterns.shape[1]), -32768)], 1)
    order = canonical_order(patterns.cpu()).to(dev)
    state.gather(order)
    patterns = patterns[order]
    pre_parts = _gathered_side_by_side(pre_parts, order)
    Fm = state.hid.shape[1]
    Vm = state.V.shape[1]
    valid_v = torch.arange(Vm, device=dev) < state.nv.unsqueeze(1)
    listed = state.listed()
    live = torch.zeros_like(listed)
    step = max(1, _INC_BLOCK // max(1, Vm * Fm))  # bounded memory for the unpacked incidence
    for s0 in range(0, R, step):
        sl = slice(s0, s0 + step)
        # vertex slots past nv have no bits (PolyState.cut)
        lv = listed[sl] & (incidence_counts(state.inc[sl], Fm) >= k)
        if k >= 4 and bool(lv.any()):
            lv = _facets_only(unpack(state.inc[sl], Fm), lv)  # (n, Vm, Fm)
        live[sl] = lv
    witnesses = state.vertex_mean()
    nf = live.sum(1)
    r_f, s_f = live.nonzero(as_tuple=True)
    table, units = state.halfspaces.tables()
    hid = state.hid[r_f, s_f]
    H = table[hid]
    Aout, bout = H[:, :k], H[:, k]
    slack = bout - (Aout * witnesses[r_f]).sum(1)
    inradii = torch.full((R,), float("inf"), dtype=state.V.dtype, device=dev)
    inradii.scatter_reduce_(0, r_f, slack, reduce="amin")
    facet_offsets = torch.zeros(R + 1, dtype=torch.long, device=dev)
    facet_offsets[1:] = nf.cumsum(0)
    facet_unit = units[hid]
    vcount = state.nv
    vertex_offsets = torch.zeros(R + 1, dtype=torch.long, device=dev)
    vertex_offsets[1:] = vcount.cumsum(0)
    vertices = state.V[valid_v]
    raw = RawRegions(patterns=patterns.cpu(), witnesses=witnesses.cpu(), inradii=inradii.cpu(), A=Aout.cpu(), b=bout.cpu(),
                     facet_offsets=facet_offsets.cpu(), facet_unit=facet_unit.cpu(),
                     adjacency=torch.zeros((0, 2), dtype=torch.long), vertices=vertices.cpu(),
                     vertex_offsets=vertex_offsets.cpu(), volumes=None, **_affine_maps(out_forms, order, R),
                     info={"engine": "vertex", "layers_done": layers_done, "complete": complete})
    if complete and R:
        points = _facet_centres(state, r_f, s_f, facet_unit >= 0)
        adj, cert = adjacency_by_crossing(net, domain, raw, numerics, points, pre_parts, forms_scratch=True)
        raw = _replace(raw, adjacency=adj)
        raw.info["certificate"] = cert
    return raw


def _gathered_side_by_side(parts: list[tuple[Tensor, Tensor | None]], order: Tensor) -> list[Tensor]:
    """The tensors of ``parts`` (``(rows, 1 + k, U)``, see ``_vertex_partition``) for the
    regions in ``order``, side by side in one fresh ``(R, 1 + k, sum U)`` tensor (CPU:
    gathered straight into it), as a list of one."""
    if not parts:
        return []
    sel = [order if idx is None else idx.index_select(0, order) for _, idx in parts]
    t0 = parts[0][0]
    if t0.device.type != "cpu":
        return [torch.cat([t.index_select(0, i) for (t, _), i in zip(parts, sel, strict=True)], 2)]
    out = torch.empty((order.shape[0], t0.shape[1], sum(t.shape[2] for t, _ in parts)), dtype=t0.dtype)
    o, c0 = out.numpy(), 0
    for (t, _), i in zip(parts, sel, strict=True):
        np.take(t.numpy(), i.numpy(), axis=0, out=o[:, :, c0:c0 + t.shape[2]], mode="clip")  # valid indices
        c0 += t.shape[2]
    return [out]


def _affine_maps(out_forms: Tensor | None, order: Tensor, R: int) -> dict:
    """``affine_A`` ``(R, out, k)`` and ``affine_c`` ``(R, out)`` from the output's forms
    ``(R, 1 + k, *out_shape)`` in the engine's region order, reordered by ``order``."""
    if out_forms is None or out_forms.shape[0] != R:
        return {}
    f = out_forms.index_select(0, order).reshape(R, out_forms.shape[1], -1).cpu()
    return {"affine_A": f[:, 1:].transpose(1, 2).contiguous(), "affine_c": f[:, 0].contiguous()}


def _facets_only(inc: Tensor, live: Tensor) -> Tensor:
    """``live`` less the half-spaces that hold a lower face, for incidences ``inc`` ``(n, Vm, Fm)``.

    A supporting hyperplane through >= k vertices may still hold a lower face: it is a
    facet iff its vertex set is not strictly inside another listed half-space's (every
    facet of the polytope is listed); equal sets keep one.
    """
    R, Vm, _ = inc.shape
    dev = inc.device
    F2 = int(live.sum(1).max())
    order = torch.sort((~live).to(torch.int8), dim=1, stable=True).indices[:, :F2]  # live slots first
    ok = live.gather(1, order)
    vsets = pack((inc.gather(2, order.unsqueeze(1).expand(-1, Vm, -1)) & ok.unsqueeze(1)).transpose(1, 2))  # (R, F2, Wv)
    lower = torch.ones(F2, F2, dtype=torch.bool, device=dev).tril(-1)  # g < f
    not_self = ~torch.eye(F2, dtype=torch.bool, device=dev)
    step = max(1, (1 << 22) // max(1, F2 * F2 * vsets.shape[2]))
    keep = torch.zeros_like(ok)
    for s0 in range(0, R, step):
        blk = vsets[s0:s0 + step]
        sub = ((blk.unsqueeze(2) & ~blk.unsqueeze(1)) == 0).all(-1)  # (n, f, g): f's vertices within g's
        eq = sub & sub.transpose(1, 2)
        okb = ok[s0:s0 + step]
        beaten = ((sub & ~eq) | (eq & lower)) & okb.unsqueeze(1) & not_self
        keep[s0:s0 + step] = okb & ~beaten.any(2)
    return torch.zeros_like(live).scatter_(1, order, keep)


def _replace(raw: RawRegions, **kw) -> RawRegions:
    from dataclasses import replace

    return replace(raw, **kw)


def _facet_centres(state: PolyState, r_f: Tensor, s_f: Tensor, sel: Tensor | None = None) -> Tensor:
    """Mean of each facet's vertices: a point in the facet's relative interior (of the
    facets ``sel`` only if given, NaN for the others: adjacency crosses network facets)."""
    if state.V.device.type != "cpu":
        if sel is None:
            return _facet_centres_torch(state, r_f, s_f)
        out = torch.full((r_f.shape[0], state.k), float("nan"), dtype=state.V.dtype)
        out[sel.cpu()] = _facet_centres_torch(state, r_f[sel], s_f[sel])
        return out
    r, s = r_f.numpy(), s_f.numpy()
    idx = np.flatnonzero(sel.numpy()) if sel is not None else None
    if idx is not None:
        r, s = r[idx], s[idx]
    pts = _facet_centres_np(state.V.numpy(), state.inc.numpy(), state.hid.shape[1], r, s)
    if idx is not None:
        out = np.full((r_f.shape[0], state.k), np.nan, pts.dtype)
        out[idx] = pts
        pts = out
    return torch.from_numpy(pts)


def _facet_centres_torch(state: PolyState, r_f: Tensor, s_f: Tensor) -> Tensor:
    """``_facet_centres`` on any device: the facets' incidence bits only, and a sum over
    their (few) vertices."""
    out = state.V.new_zeros(r_f.shape[0], state.k)
    cnt = torch.zeros(r_f.shape[0], dtype=torch.long, device=r_f.device)
    step = max(1, _INC_BLOCK // max(1, state.V.shape[1]))  # bounded memory for the (nF, Vm) words
    for f0 in range(0, r_f.shape[0], step):
        r, sf = r_f[f0:f0 + step], s_f[f0:f0 + step]
        if state.inc.shape[2] == 1:
            word = state.inc[:, :, 0].index_select(0, r)  # (n, Vm)
        else:
            word = state.inc[r, :, sf // WORD]
        e_f, e_v = ((word >> (sf % WORD).unsqueeze(1)) & 1).nonzero(as_tuple=True)
        out.index_add_(0, e_f + f0, state.V[r[e_f], e_v])
        cnt += torch.bincount(e_f + f0, minlength=r_f.shape[0])
    return (out / cnt.clamp_min(1).unsqueeze(1).to(out.dtype)).cpu()


def _facet_centres_np(V: np.ndarray, inc: np.ndarray, Fm: int, r_f: np.ndarray, s_f: np.ndarray) -> np.ndarray:
    """``_facet_centres`` on CPU arrays: vertices ``V`` ``(R, Vm, k)``, incidence words
    ``inc`` ``(R, Vm, W)``, facets ``(r_f, s_f)`` sorted (as ``nonzero`` lists them).

    From the vertex side: each vertex's word masked to its region's facets holds a few
    bits, taken out lowest first in a handful of rounds. The sums run facet by facet over
    the vertices in slot order from zero (as a serial ``index_add_``): the same values.
    """
    R, Vm, W = inc.shape
    F, k = r_f.shape[0], V.shape[2]
    # each region's facet slots as words, and the facet number of each (region, slot)
    key = r_f * W + s_f // WORD
    start = np.flatnonzero(np.diff(key, prepend=-1)) if F else np.zeros(0, np.int64)
    mask = np.zeros(R * W, np.int64)
    mask[key[start]] = np.add.reduceat(np.left_shift(1, s_f % WORD), start) if F else 0  # distinct bits: sum = or
    fid = np.full(R * Fm, -1, np.int64)
    fid[r_f * Fm + s_f] = np.arange(F)
    nz, cnt, key = incidences(inc & mask.reshape(R, 1, W), Fm)  # (region, vertex, word) order
    f = fid[key]
    loc = np.repeat(np.arange(nz.shape[0]), cnt)
    pts = np.ascontiguousarray(V.reshape(R * Vm, k).take(nz // W, axis=0).T)  # (k, words): compact, cached
    n = np.bincount(f, minlength=F)
    if V.dtype == np.float64:  # bincount's weighted sums: float64, serial, in order
        out = np.stack([np.bincount(f, weights=pts[i].take(loc), minlength=F) for i in range(k)], 1)
    else:
        out = np.zeros((F, k), V.dtype)
        for i in range(k):
            np.add.at(out[:, i], f, pts[i].take(loc))
    return out / np.maximum(n, 1).astype(V.dtype)[:, None]


def adjacency_by_crossing(net: CPWLNetwork, domain, raw: RawRegions, numerics: Numerics, facet_points: Tensor,
                          pre_parts: list[Tensor] | None = None, *, forms_scratch: bool = False):
    """Neighbours across every network facet, and a completeness certificate.

    For a facet of region ``A`` with a point ``q`` in its relative interior, the
    neighbour's pattern is read at ``q`` for every unit that is not on a switching level
    there (its piece is constant near ``q``, on both sides; the values come from ``A``'s
    affine forms ``pre_parts``, exact on the closure of ``A``), and just across the facet
    (a step along the outward normal) for the others: the facet's own unit, and units
    that happen to be degenerate at ``q`` (for those of later layers the step is
    evaluated by a forward pass, since ``A``'s forms do not hold across).

    When every unit has one level, the face across a facet of unit ``u`` is a facet of
    both regions (with unit ``u``: one plane a region), and ``u``'s piece is 0 on one side
    and 1 on the other: the facets of the regions on piece 0 are crossed, and a neighbour
    ``B`` found across one of them also answers ``B``'s facet of ``u``; only the facets so
    left without a neighbour are crossed themselves. Where no region has the pattern
    across, the regions that agree with it on every unit not near a level are tested for
    holding the step point.

    Parameters
    ----------
    net : CPWLNetwork
        The network.
    domain : Domain
        The partitioned domain.
    raw : RawRegions
        The regions, with their (distinct) patterns and facets.
    numerics : Numerics
        Precision of the evaluation.
    facet_points : Tensor ``(F, k)``
        A point in the relative interior of each facet of ``raw`` (read for the network
        facets only).
    pre_parts : list of Tensor ``(R, 1 + k, U)``, optional
        Each nonlinear node's input forms on each region; without them every facet
        point is evaluated by forward passes.
    forms_scratch : bool
        Whether ``pre_parts`` may be overwritten (the caller's scratch: no copy is made).

    Returns
    -------
    adjacency : Tensor ``(E, 2)`` long
        Sorted pairs ``i < j`` of regions that share a network facet.
    certificate : dict
        ``facets_checked`` (network facets), ``to_known`` (neighbour found, by the
        facet's crossing or its neighbour's),
        ``to_boundary`` (the step leaves the domain), ``unmatched`` (no region has the
        pattern across) and ``complete`` (no facet unmatched).
    """
    R = raw.num_regions
    counts = (raw.facet_offsets[1:] - raw.facet_offsets[:-1]).numpy()
    owner = np.repeat(np.arange(R), counts)
    fu = raw.facet_unit.numpy()
    netf = np.flatnonzero(fu >= 0)
    empty = torch.zeros((0, 2), dtype=torch.long)
    cert = {"facets_checked": int(netf.size), "to_known": 0, "to_boundary": 0, "unmatched": 0}
    if netf.size == 0:
        cert["complete"] = True
        return empty, cert
    block = 1 << 15  # facets per block: bounded memory for the per-unit values
    tables = _unit_tables(net)
    forms = signed = None
    if pre_parts is not None and len(pre_parts):
        signed = _signed_forms(pre_parts, raw.patterns, tables[1], forms_scratch)
        if signed is None:
            # one gather and one batched product per block for all layers
            forms = pre_parts[0] if len(pre_parts) == 1 else torch.cat(pre_parts, 2)
    # one-level codes are -1, 0, 1: a byte each (half the words of int16 to hash and compare)
    index = _RowIndex(signed.words if signed is not None else _as_words(raw.patterns).numpy())

    def cross(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour (-1: none) and step-inside flags of the network facets ``netf[sel]``."""
        parts = []
        for f0 in range(0, sel.size, block):
            f = netf[sel[f0:f0 + block]]
            q, a = (torch.from_numpy(np.take(t.numpy(), f, axis=0)) for t in (facet_points, raw.A))
            parts.append(_cross_block(net, domain, raw, numerics, q, a, owner[f], fu[f], forms, tables, signed, index))
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.bool_)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    own = owner[netf]
    nb = np.full(netf.size, -1, np.int64)
    inside = np.ones(netf.size, np.bool_)
    todo = np.arange(netf.size)
    if tables[1] is not None and tables[1].shape[1] == 1:
        # one-level units: across a facet of unit u the piece of u flips between 0 and 1,
        # and the face is one facet of each side (with unit u: one plane a region). The
        # facets of the regions on u's piece 0 are crossed first; a neighbour found there
        # answers for its own facet of u, which is then not crossed again
        N = raw.patterns.shape[1]
        low = raw.patterns.numpy().reshape(-1)[own * N + fu[netf]] == 0
        first, rest = np.flatnonzero(low), np.flatnonzero(~low)
        nb[first], inside[first] = cross(first)
        hit = first[nb[first] >= 0]
        key_rest = own[rest] * N + fu[netf[rest]]
        order_r = np.argsort(key_rest, kind="stable")
        ks = key_rest[order_r]
        single = np.ones(ks.size, np.bool_)  # keys held by one facet only
        single[1:] &= ks[1:] != ks[:-1]
        single[:-1] &= ks[:-1] != ks[1:]
        want = nb[hit] * N + fu[netf[hit]]  # the neighbour's facet of the same unit
        pos = np.minimum(np.searchsorted(ks, want), max(ks.size - 1, 0))
        ok = (ks[pos] == want) & single[pos] if ks.size else np.zeros(want.size, np.bool_)
        tgt = rest[order_r[pos[ok]]]
        nb[tgt] = own[hit[ok]]
        todo = rest[nb[rest] < 0]
    if todo.size:
        nb[todo], inside[todo] = cross(todo)
    found = nb >= 0
    cert["to_known"] = int(found.sum())
    cert["to_boundary"] = int((~found & ~inside).sum())
    cert["unmatched"] = int((~found & inside).sum())
    cert["complete"] = cert["unmatched"] == 0
    i, j = own[found], nb[found]
    key = np.sort((np.minimum(i, j) * R + np.maximum(i, j))[i != j])
    key = key[np.diff(key, prepend=-1) != 0]  # unique (np.unique is slower here)
    if key.size == 0:
        return empty, cert
    return torch.from_numpy(np.stack([key // R, key % R], 1)), cert


def _unit_tables(net: CPWLNetwork):
    """Per layer ``(op, first input column, end column)`` of the nonlinear nodes' inputs
    side by side, and the breakpoints of all units when every layer is univariate
    (``+inf`` pads a layer with fewer of them), else ``None``."""
    layers, c0 = [], 0
    for node_i in net.nonlinear_nodes:
        node = net.nodes[node_i]
        width = net.nodes[node.inputs[0]].size
        layers.append((node.op, c0, c0 + width))
        c0 += width
    bp_all = None
    if layers and all(op.kind == "univariate" for op, _, _ in layers):
        bps = [op.unit_tables(c1 - c0)[0].cpu() for op, c0, c1 in layers]
        K = max(b.shape[1] for b in bps)
        bp_all = torch.cat([b if b.shape[1] == K else torch.cat([b, b.new_full((b.shape[0], K - b.shape[1]), float("inf"))], 1)
                            for b in bps])
    return layers, bp_all


def _signed_forms(pre_parts: list[Tensor], patterns: Tensor, bp_all: Tensor | None, scratch: bool = False):
    """``_SignedForms`` where the fast path applies (CPU, every layer univariate with one
    breakpoint, codes -1, 0, 1), else ``None`` (``_near_dense``)."""
    if (bp_all is not None and bp_all.shape[1] == 1 and bp_all.dtype == pre_parts[0].dtype
            and pre_parts[0].device.type == "cpu" and patterns.dtype == torch.int16):
        codes = patterns.numpy()
        if -1 <= codes.min() and codes.max() <= 1:
            return _SignedForms(pre_parts, codes, bp_all[:, 0], scratch)
    return None


class _SignedForms:
    """The input forms of one-level units (every layer univariate with one breakpoint)
    signed by each region's piece, for ``_near_signed`` (CPU).

    ``forms`` ``(R, 1 + k, N)`` (``+ 1`` rows: ``sign * bp`` unless every level is 0):
    every unit's input form on each region (the layers' ``pre_parts`` side by side)
    times the sign of the region's piece (``-1`` for piece 0, ``+1`` for piece 1 and
    on-level codes), numpy, and ``forms_t`` the same as a tensor; ``pos``: the pieces
    those signs stand for (``codes != 0``), and ``pos_words`` as ``_byte_words``;
    ``words``: the codes (the patterns) as ``_byte_words``.
    Negation is exact: the signed forms evaluate to ``sign * z`` bit for bit, and
    ``sign`` times them are the forms again.
    """

    def __init__(self, pre_parts: list[Tensor], codes: np.ndarray, bp: Tensor, scratch: bool = False):
        self.words = _byte_words(codes)  # the patterns (the lookup's table)
        self.pos = codes != 0
        pos = torch.from_numpy(self.pos)
        one = torch.ones((), dtype=pre_parts[0].dtype)
        sign = torch.where(pos, one, -one)
        self.zero_levels = not bool((bp != 0).any())
        # a fresh tensor (or the caller's scratch) signed in place: one (R, 1 + k, N) buffer in all
        forms = torch.cat(pre_parts, 2) if len(pre_parts) > 1 else pre_parts[0] if scratch else pre_parts[0].clone()
        forms.mul_(sign.unsqueeze(1))
        if not self.zero_levels:
            forms = torch.cat([forms, (sign * bp.to(sign)).unsqueeze(1)], 1)
        self.forms_t, self.forms = forms, forms.numpy()
        self.pos_words = _byte_words(self.pos)


def _cross_block(net, domain, raw: RawRegions, numerics: Numerics, q: Tensor, a: Tensor, own: np.ndarray,
                 unit: np.ndarray, forms: Tensor | None, tables, signed: _SignedForms | None, index: _RowIndex):
    """The region across each facet of a block (``-1`` if unknown) and, where unknown,
    whether the step stays inside (numpy).

    ``own``, ``unit``: each facet's region and unit; ``signed``: the forms of one-level
    units (``_near_signed``); else ``forms`` ``(R, 1 + k, num_units)``: every unit's input
    form on each region (the layers' ``pre_parts`` side by side), or ``None`` for forward
    passes; ``index``: the patterns.

    The neighbours' patterns are built as rows ``query`` of int16 (``_as_words``) or, on
    the fast path, int8 (``_byte_words``) codes, with the units ``(fi, ui)`` near a level
    at ``q`` (sorted) set to their pieces just across, ``across``; the fixes below touch
    those only.
    """
    dt = numerics.dtype
    qn, an = q.to(dt).numpy(), a.to(dt).numpy()
    q = torch.from_numpy(qn)
    # a points out of the owner (numpy: the same operations as torch's, a fraction of the time)
    qa = np.abs(qn)
    m = qa[:, :1].copy()
    for i in range(1, qn.shape[1]):
        np.maximum(m, qa[:, i:i + 1], out=m)
    q_out = torch.from_numpy(qn + (1e-7 * (1.0 + m)) * an)
    layers, bp_all = tables
    Fn, N = q.shape[0], raw.patterns.shape[1]
    if signed is not None:
        fi, ui, across, query = _near_signed(q, q_out, own, signed, bp_all[:, 0])
    else:
        near, across_all = _near_dense(net, domain, q, q_out, torch.from_numpy(own), forms, tables)
        fi, ui = (t.numpy() for t in near.nonzero(as_tuple=True))
        across_all = across_all.numpy()
        across = across_all[fi, ui]
        query = np.zeros((Fn, -(-N // 4) * 4), np.int16)
        query[:, :N] = across_all
    layer_of = np.repeat(np.arange(len(layers)), net.layer_widths())
    # A's forms hold across the facet up to the first layer with a unit that switches
    # there (the facet's own unit, or others on the same surface); units identically on
    # a level in A keep that code across when their inputs do not change
    L = len(layers)
    # units are in layer order: the first near unit (of a facet's sorted ones) is in the
    # first near layer
    first_near = np.full(Fn, L)
    start = np.flatnonzero(np.diff(fi, prepend=-1))
    first_near[fi[start]] = layer_of[ui[start]]
    first_near = np.minimum(first_near, layer_of[unit])
    same_inputs = layer_of[ui] <= first_near[fi]
    own_codes = raw.patterns.numpy().reshape(-1)[own[fi] * N + ui]
    across = np.where(same_inputs & (own_codes < 0), own_codes, across)
    if forms is not None or signed is not None:
        # near units of layers after the facet's own: A's forms do not hold across
        later = np.flatnonzero(~same_inputs)
        if later.size:
            redo, row = np.unique(fi[later], return_inverse=True)  # sorted rows
            X = domain.to_input(q_out[torch.from_numpy(redo)]).to(device=net.device, dtype=dt)
            with torch.no_grad():
                exact = net.patterns(X).cpu().numpy()
            across[later] = exact[row, ui[later]]
    query.reshape(-1)[fi * query.shape[1] + ui] = across  # flat indices: faster than pairs
    nb = index.find(query.view(np.int64))
    # whether the step stays inside matters where no neighbour was found only (the same
    # batch as ever: the domain's test may be a matrix product)
    inside = domain.contains(q_out, tol=0.0).numpy() if (nb < 0).any() else np.zeros(Fn, np.bool_)
    if (inside & (nb < 0)).any():
        _locate_across(nb, inside, query, fi, ui, raw, q_out.numpy())
    return nb, inside


def _locate_across(nb: np.ndarray, inside: np.ndarray, query: np.ndarray, fi: np.ndarray, ui: np.ndarray,
                   raw: RawRegions, q_out: np.ndarray, most: int = 4096) -> None:
    """The neighbour of facets whose pattern across found no region (``nb`` updated in place).

    The codes of the units near a level at the facet point are read by stepping across,
    and the step can miss the code the engine gives the neighbour: a unit identically on
    its level there (the level's code), or identical maxout arguments (the first one).
    The candidates are the regions that agree with the pattern across on every other unit;
    the neighbour is the one whose facets hold the step point, if exactly one does.
    """
    todo = np.flatnonzero(inside & (nb < 0))[:most]
    pats = raw.patterns.numpy()
    R, N = pats.shape
    off = raw.facet_offsets.numpy()
    A, b = raw.A.numpy(), raw.b.numpy()
    start = np.searchsorted(fi, todo)
    stop = np.searchsorted(fi, todo, side="right")
    for f, s0, s1 in zip(todo.tolist(), start.tolist(), stop.tolist(), strict=True):
        free = np.zeros(N, np.bool_)
        free[ui[s0:s1]] = True
        row = query[f, :N].astype(np.int16)
        cand = np.flatnonzero((pats[:, ~free] == row[~free]).all(1))
        x = q_out[f]
        hold = []
        for c in cand.tolist():
            Ac, bc = A[off[c]:off[c + 1]], b[off[c]:off[c + 1]]
            if (Ac @ x <= bc + 1e-12 * (1.0 + np.abs(bc))).all():
                hold.append(c)
        if len(hold) == 1:
            nb[f] = hold[0]


def _near_signed(q: Tensor, q_out: Tensor, own: np.ndarray, signed: _SignedForms, bp: Tensor):
    """Near units ``(fi, ui)`` (sorted), their pieces across and the query rows
    (``_cross_block``) for one-level units (CPU).

    With ``s`` the sign of ``A``'s piece of a unit and ``d = s (z - bp)`` at ``q`` (exact:
    the signed forms), the piece at ``q`` is ``A``'s own where ``d > thr`` (the unit is
    off its level, on ``A``'s side): those entries are ``A``'s pattern row as it is (with
    ``1`` for on-level codes: ``z > bp``). The few others (``d <= thr``: near the level,
    or on the far side of it) are tested one by one: near (``|z - bp| <= 1e-7 (1 + |z|)``,
    which implies ``|z - bp| <= thr = 2e-7 (1 + |bp|)``), or the piece ``z > bp``.
    """
    thr = 2e-7 * (1.0 + np.abs(bp.numpy()))
    parts = list(_flag_chunks(signed.forms_t, torch.from_numpy(own), q, thr, signed.zero_levels))
    flat, z, d = (np.concatenate(t) for t in zip(*parts, strict=True))
    N = signed.forms.shape[2]
    fi, ui = flat // N, flat % N
    near = np.abs(d) <= 1e-7 * (1.0 + np.abs(z))  # |d| = |z - bp|, |z| = |s z|
    q8 = np.take(signed.pos_words, own, axis=0).view(np.int8)  # faster than fancy rows
    pos = signed.pos.reshape(-1)
    far = ~near
    f_, u_ = fi[far], ui[far]
    q8.reshape(-1)[f_ * q8.shape[1] + u_] = np.where(pos[own[f_] * N + u_], d[far] > 0, d[far] < 0)  # z > bp
    fi, ui = fi[near], ui[near]
    # the step across: the signed forms at the step point give sign * z there, exactly
    sf = signed.forms
    r = own[fi]
    at = r * (sf.shape[1] * N) + ui  # flat index of each entry's constant term
    f = [torch.from_numpy(sf.reshape(-1).take(at + i * N)) for i in range(q.shape[1] + 1)]
    zo = _eval_columns(f, torch.from_numpy(np.take(q_out.numpy(), fi, axis=0).T.copy())).numpy()
    zo = np.where(pos[r * N + ui], zo, -zo)
    across = (bp.numpy()[ui] < zo).astype(np.int16)
    return fi, ui, across, q8


def _flag_chunks(sf: Tensor, own: Tensor, q: Tensor, thr: np.ndarray, zero_levels: bool):
    """``(row * N + unit, z, d)`` (numpy) of the entries with ``d <= thr`` of the signed
    values at ``q`` (see ``_near_signed``), a cache-sized chunk of facets at a time (CPU).

    The chunks reuse their buffers: fresh ones of this size come from the system zeroed
    (page faults) at every allocation, which costs more than the arithmetic.
    """
    k, Fn, N = q.shape[1], own.shape[0], sf.shape[2]
    flat = sf.reshape(sf.shape[0], -1)
    step = min(_EVAL_CHUNK, max(1, Fn))
    gbuf = flat.new_empty((step, flat.shape[1]))
    zbuf = flat.new_empty((step, N))
    dbuf = zbuf if zero_levels else torch.empty_like(zbuf)
    flag = np.empty((step, N), np.bool_)
    for c0 in range(0, Fn, step):
        n = min(step, Fn - c0)
        g = torch.index_select(flat, 0, own[c0:c0 + n], out=gbuf[:n]).view(n, *sf.shape[1:])
        z = _eval_forms(g, q[c0:c0 + n], out=zbuf[:n])  # reads rows 0..k only (torch: its fused addcmul)
        d = z if zero_levels else torch.sub(z, g[:, 1 + k], out=dbuf[:n])
        # numpy's test and nonzero: a fraction of torch's time at this size
        z, d = z.numpy(), d.numpy()
        idx = np.flatnonzero(np.less_equal(d, thr, out=flag[:n]))
        zc = z.reshape(-1)[idx]
        yield idx + c0 * N, zc, zc if zero_levels else d.reshape(-1)[idx]


def _near_dense(net, domain, q: Tensor, q_out: Tensor, own: Tensor, forms: Tensor | None, tables):
    """Near units ``(Fn, N)`` bool and the pieces at ``q`` (stepped across where near),
    every entry evaluated (``_cross_block``'s general path)."""
    dt = q.dtype
    if forms is None:
        X = domain.to_input(torch.cat([q, q_out])).to(device=net.device, dtype=dt)
        with torch.no_grad():
            pre = torch.cat([p.cpu().reshape(X.shape[0], -1) for p in net.preactivations(X)], 1)
        zq_all, zo_all = pre[: q.shape[0]], pre[q.shape[0]:]
    else:
        own_d = own.to(forms.device)
        zq_all = _eval_owned(forms, own_d, q.to(forms.device)).cpu()
    layers, bp_all = tables
    if bp_all is not None and forms is not None:
        # all layers univariate: one pass over all units (exact: +inf pads never count),
        # and the step across evaluated only where a unit is near a level
        near = (zq_all.unsqueeze(-1) - bp_all).abs().amin(-1) <= 1e-7 * (1.0 + zq_all.abs())
        across = _piece(bp_all, zq_all)
        fi, ui = near.nonzero(as_tuple=True)
        fd, ud = fi.to(forms.device), ui.to(forms.device)
        zo = _eval_forms(forms[own_d[fd], :, ud].unsqueeze(-1), q_out.to(forms.device)[fd]).squeeze(1).cpu()
        across[fi, ui] = (bp_all[ui] < zo.unsqueeze(1)).sum(1).to(torch.int16)
        return near, across
    if forms is not None:
        zo_all = _eval_owned(forms, own_d, q_out.to(forms.device)).cpu()
    codes_q, codes_o, near = [], [], []
    for op, u0, u1 in layers:
        zq, zo = zq_all[:, u0:u1], zo_all[:, u0:u1]
        if op.kind == "univariate":
            bp = op.unit_tables(zq.shape[1])[0].cpu()
            near.append((zq.unsqueeze(-1) - bp.unsqueeze(0)).abs().amin(-1) <= 1e-7 * (1.0 + zq.abs()))
            codes_q.append(_piece(bp, zq))
            codes_o.append(_piece(bp, zo))
        else:
            opc = op.to(torch.device("cpu")) if hasattr(op, "to") else op
            gq, go = opc.gather(zq), opc.gather(zo)
            top2 = gq.topk(min(2, gq.shape[-1]), dim=-1).values
            gap = top2[..., 0] - top2[..., -1] if gq.shape[-1] > 1 else torch.full_like(top2[..., 0], float("inf"))
            near.append(gap <= 1e-7 * (1.0 + top2[..., 0].abs()))
            codes_q.append(_argmax(gq))
            codes_o.append(_argmax(go))
    near = torch.cat(near, 1)
    return near, torch.where(near, torch.cat(codes_o, 1), torch.cat(codes_q, 1))


class _RowIndex:
    """Row lookup in a table of distinct rows given as int64 words ``(R, W)`` (their
    ``_as_words`` or ``_byte_words``; the queries in the same form).

    Rows are hashed to one int64 each (a random linear form of their words) and put in
    buckets by the hash's top bits (at least four times as many buckets as rows); a query is
    checked against the rows of its bucket entry by entry, so a hash collision can only
    cost another comparison, never a wrong answer.
    """

    def __init__(self, words: np.ndarray):
        self.words = words
        R = self.words.shape[0]
        gen = torch.Generator().manual_seed(12345)
        self.w = torch.randint(-(1 << 62), 1 << 62, (self.words.shape[1],), generator=gen, dtype=torch.long).numpy()
        self.hash = self._hash(self.words)
        self.shift = np.uint64(64 - max(1, (4 * R - 1).bit_length()))
        slot = self._slot(self.hash)
        self.order = np.argsort(slot, kind="stable")
        self.count = np.bincount(slot, minlength=1 << (64 - int(self.shift)))
        self.first = np.cumsum(self.count) - self.count

    def _hash(self, words: np.ndarray) -> np.ndarray:
        return words @ self.w  # int64, wrapping

    def _slot(self, h: np.ndarray) -> np.ndarray:
        return (h.view(np.uint64) >> self.shift).astype(np.int64)

    def find(self, queries: np.ndarray) -> np.ndarray:
        """Row of each query (int64 words ``(n, W)``), ``-1`` if absent."""
        hq = self._hash(queries)
        slot = self._slot(hq)
        count, first = self.count[slot], self.first[slot]
        cand = np.full(queries.shape[0], -1, np.int64)
        todo = np.flatnonzero(count)
        j = 0
        while todo.size:  # the first row of each query's bucket with its hash (rarely not the first row)
            c = self.order[first[todo] + j]
            hit = self.hash[c] == hq[todo]
            cand[todo[hit]] = c[hit]
            j += 1
            todo = todo[~hit & (count[todo] > j)]
        found = np.flatnonzero(cand >= 0)
        rows, qf = np.take(self.words, cand[found], axis=0), np.take(queries, found, axis=0)
        same = np.ones(found.size, np.bool_)
        for i in range(rows.shape[1]):  # a column at a time: numpy's all(1) is slow on short rows
            same &= rows[:, i] == qf[:, i]
        out = np.full(queries.shape[0], -1, np.int64)
        out[found[same]] = cand[found[same]]
        for m in found[~same].tolist():  # a hash collision: the other rows of the bucket
            rows = self.order[first[m]:first[m] + count[m]]
            eq = np.flatnonzero((self.words[rows] == queries[m]).all(1))
            if eq.size:
                out[m] = rows[eq[0]]
        return out


def lookup_patterns(table: Tensor, queries: Tensor) -> Tensor:
    """Row index of each query pattern in ``table`` (rows distinct), ``-1`` if absent.

    Parameters
    ----------
    table : Tensor ``(R, N)``
        Distinct integer rows (patterns).
    queries : Tensor ``(n, N)``
        Rows to find.

    Returns
    -------
    Tensor ``(n,)`` long

    Notes
    -----
    Rows are hashed to one int64 each, matched by buckets of hashes, and the matches
    verified entry by entry, so a hash collision can only cost another comparison, never
    a wrong answer.
    """
    return torch.from_numpy(_RowIndex(_as_words(table).numpy()).find(_as_words(queries).numpy()))


def _as_words(p: Tensor) -> Tensor:
    """Rows of an integer tensor ``(n, N)`` as int64 words: equal rows iff equal words."""
    if p.dtype != torch.int16:
        return p.long()
    pad = -p.shape[1] % 4
    if pad:
        p = torch.cat([p, p.new_zeros(p.shape[0], pad)], 1)
    return p.contiguous().view(torch.int64)


def _byte_words(codes: np.ndarray) -> np.ndarray:
    """Rows of codes that fit a byte (``-1, 0, 1``, or bools) ``(n, N)`` as int64 words
    ``(n, ceil(N / 8))``, one byte a code (zero-padded): equal rows iff equal words."""
    n, N = codes.shape
    out = np.zeros((n, -(-N // 8) * 8), np.int8)
    out[:, :N] = codes
    return out.view(np.int64)


_EVAL_CHUNK = 1024  # facets per chunk of _eval_owned and _flag_chunks (the gathered forms stay in cache)


def _eval_owned_chunks(forms: Tensor, own: Tensor, q: Tensor):
    """``(c0, _eval_forms(forms[own], q)[c0:c0 + _EVAL_CHUNK])`` for each chunk: gathered and
    evaluated a cache-sized chunk at a time (the same values: elementwise)."""
    flat = forms.reshape(forms.shape[0], -1)
    for c0 in range(0, own.shape[0], _EVAL_CHUNK):
        yield c0, _eval_forms(flat.index_select(0, own[c0:c0 + _EVAL_CHUNK]).view(-1, *forms.shape[1:]), q[c0:c0 + _EVAL_CHUNK])


def _eval_owned(forms: Tensor, own: Tensor, q: Tensor) -> Tensor:
    """``_eval_forms(forms[own], q)`` ``(Fn, N)`` (see ``_eval_owned_chunks``)."""
    parts = [z for _, z in _eval_owned_chunks(forms, own, q)]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _eval_forms(f: Tensor, q: Tensor, out: Tensor | None = None) -> Tensor:
    """Values ``f[:, 0] + q . f[:, 1:]`` ``(Fn, N)`` of forms ``f`` ``(Fn, 1 + k, N)`` at points
    ``q`` ``(Fn, k)`` (elementwise: far faster than a batch of Fn tiny matrix products),
    into ``out`` if given."""
    z = torch.mul(f[:, 1], q[:, 0:1], out=out)
    for i in range(1, q.shape[1]):
        z.addcmul_(f[:, 1 + i], q[:, i:i + 1])
    return z.add_(f[:, 0])


def _eval_columns(f: list[Tensor], q: Tensor) -> Tensor:
    """``_eval_forms`` on flat columns: ``f[0] + sum_i q[i] f[1 + i]`` ``(n,)`` for forms
    ``f`` (``1 + k`` columns ``(n,)``) at points ``q`` ``(k, n)``; the same elementwise
    operations (torch's fused ``addcmul``), so the same values."""
    z = f[1] * q[0]
    for i in range(1, q.shape[0]):
        z.addcmul_(f[1 + i], q[i])
    return z.add_(f[0])


def _piece(bp: Tensor, z: Tensor) -> Tensor:
    """Piece index (no exact-hit code: values here are off the levels or stepped across)."""
    return (bp.unsqueeze(0) < z.unsqueeze(-1)).sum(-1).to(torch.int16)


def _argmax(vals: Tensor) -> Tensor:
    return (vals == vals.amax(-1, keepdim=True)).int().argmax(-1).to(torch.int16)
