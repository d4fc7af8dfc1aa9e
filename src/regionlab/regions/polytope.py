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
    t0 = time.perf_counter()
    # many small tensor ops: one intra-op thread is as fast on an idle CPU and far faster
    # on a busy one (see partition_plane)
    with intra_op_threads(1 if net.device.type == "cpu" else None):
        return _run(net, domain, engine, numerics, max_regions, time_limit, progress, t0)


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


def _vertex_partition(net: CPWLNetwork, domain, numerics: Numerics, max_regions, time_limit, progress) -> RawRegions:
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
    pattern_parts: list[Tensor] = []
    pre_parts: list[Tensor] = []  # input forms of each nonlinear node, per region (adjacency)
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
                if max_regions is not None:  # keep the coarser partition for a partial result
                    snapshot = (state, dict(forms), list(pattern_parts), list(pre_parts))
                    state = _copy_state(state)
                if op.kind == "univariate":
                    par, choice, pat = refine_univariate(state, z, op, offsets[i])
                else:
                    par, choice, pat = refine_max(state, z, op.index, offsets[i])
                if int(state.nf.max()) > 40 and i != net.nonlinear_nodes[-1]:
                    # keep the incidence bitmasks in one or two words; redundant
                    # half-spaces are harmless to the cuts and are dropped at the end
                    # (so not after the last layer: _finish keeps the same facets in
                    # the same order)
                    state.compact()
                src = node.inputs[0]
                zc = z.index_select(0, par)
                for j in list(forms):
                    if j != src:
                        forms[j] = forms[j].index_select(0, par)
                forms[src] = zc.reshape(state.num, cols, *forms[src].shape[2:])
                forms[i] = apply_frozen(op, zc.clone(), choice).reshape(state.num, cols, *node.shape)
                pattern_parts = [p.index_select(0, par) for p in pattern_parts] + [pat]
                pre_parts = [p.index_select(0, par) for p in pre_parts] + [zc.clone()]
                layers_done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(regions=state.num)
                if max_regions is not None and state.num > max_regions:
                    stop_reason = f"more than max_regions={max_regions} regions after {layers_done} nonlinear layer(s)"
                elif time_limit is not None and time.perf_counter() - t0 > time_limit and layers_done < len(net.nonlinear_nodes):
                    stop_reason = f"time_limit={time_limit} s exceeded after {layers_done} nonlinear layer(s)"
                if stop_reason or intr.hit:
                    break
            for j in node.inputs:
                if last[j] <= i:
                    forms.pop(j, None)
            if i == net.output_node:
                break
    if bar is not None:
        bar.close()
    complete = stop_reason is None and not intr.hit
    if stop_reason and max_regions is not None and state.num > max_regions and snapshot is not None:
        # the partial result is the coarser partition by the layers before the one that overflowed
        state, forms, pattern_parts, pre_parts = snapshot
        layers_done -= 1
    raw = _finish(net, domain, state, pattern_parts, pre_parts, numerics, layers_done, complete)
    raw.info["elapsed"] = time.perf_counter() - t0
    if intr.hit:
        raw.info["interrupted"] = True
    if stop_reason:
        raise RegionLimitExceeded(f"partition_polytope stopped: {stop_reason}; the partial result (the partition "
                                  f"by the first {layers_done} nonlinear layer(s)) is attached as .partial.", partial=raw)
    return raw


def _copy_state(state: PolyState) -> PolyState:
    """A shallow copy whose tensors the refinement may replace (keeps the snapshot intact)."""
    s = PolyState(state.V.clone(), state.nv.clone(), state.H.clone(), state.nf.clone(), state.fu.clone(),
                  state.inc.clone(), state.atol)
    return s


def _finish(net, domain, state: PolyState, pattern_parts, pre_parts, numerics, layers_done, complete) -> RawRegions:
    R, k = state.num, state.k
    dev = state.V.device
    N = net.num_units
    patterns = torch.cat(pattern_parts, 1) if pattern_parts else torch.zeros((R, 0), dtype=torch.int16, device=dev)
    if patterns.shape[1] < N:  # partial result: units of later layers are unknown (-32768)
        patterns = torch.cat([patterns, patterns.new_full((R, N - patterns.shape[1]), -32768)], 1)
    order = canonical_order(patterns.cpu()).to(dev)
    state.gather(order)
    patterns = patterns[order]
    pre_parts = [p[order] for p in pre_parts]
    Fm = state.H.shape[1]
    Vm = state.V.shape[1]
    valid_v = torch.arange(Vm, device=dev) < state.nv.unsqueeze(1)
    listed = (state.fu >= -1) & (torch.arange(Fm, device=dev) < state.nf.unsqueeze(1))
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
    H = state.H[r_f, s_f]
    Aout, bout = H[:, :k], H[:, k]
    slack = bout - (Aout * witnesses[r_f]).sum(1)
    inradii = torch.full((R,), float("inf"), dtype=state.V.dtype, device=dev)
    inradii.scatter_reduce_(0, r_f, slack, reduce="amin")
    facet_offsets = torch.zeros(R + 1, dtype=torch.long, device=dev)
    facet_offsets[1:] = nf.cumsum(0)
    facet_unit = state.fu[r_f, s_f]
    vcount = state.nv
    vertex_offsets = torch.zeros(R + 1, dtype=torch.long, device=dev)
    vertex_offsets[1:] = vcount.cumsum(0)
    vertices = state.V[valid_v]
    raw = RawRegions(patterns=patterns.cpu(), witnesses=witnesses.cpu(), inradii=inradii.cpu(), A=Aout.cpu(), b=bout.cpu(),
                     facet_offsets=facet_offsets.cpu(), facet_unit=facet_unit.cpu(),
                     adjacency=torch.zeros((0, 2), dtype=torch.long), vertices=vertices.cpu(),
                     vertex_offsets=vertex_offsets.cpu(), volumes=None,
                     info={"engine": "vertex", "layers_done": layers_done, "complete": complete})
    if complete and R:
        adj, cert = adjacency_by_crossing(net, domain, raw, numerics, _facet_centres(state, r_f, s_f), pre_parts)
        raw = _replace(raw, adjacency=adj)
        raw.info["certificate"] = cert
    return raw


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


def _facet_centres(state: PolyState, r_f: Tensor, s_f: Tensor) -> Tensor:
    """Mean of each facet's vertices: a point in the facet's relative interior."""
    if state.V.device.type == "cpu":
        return torch.from_numpy(_facet_centres_np(state.V.numpy(), state.inc.numpy(), state.H.shape[1],
                                                  r_f.numpy(), s_f.numpy()))
    return _facet_centres_torch(state, r_f, s_f)


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
    words = (inc & mask.reshape(R, 1, W)).reshape(-1)
    nz = np.flatnonzero(words)  # (region, vertex, word) order
    w = words[nz]
    cnt = _popcount(w).astype(np.int64)
    off = np.cumsum(cnt) - cnt
    key = np.empty(int(cnt.sum()), np.int64)  # region * Fm + slot of each incidence, vertex order
    base = (nz // (Vm * W)) * Fm + (nz % W) * WORD
    act = np.arange(nz.shape[0])
    j = 0
    while act.shape[0]:
        low = w & -w
        key[off[act] + j] = base[act] + _popcount(low - 1)  # the bit's index
        w = w ^ low
        keep = w != 0
        act, w = act[keep], w[keep]
        j += 1
    f = fid[key]
    loc = np.repeat(np.arange(nz.shape[0]), cnt)
    pts = np.ascontiguousarray(V.reshape(R * Vm, k).take(nz // W, axis=0).T)  # (k, words)
    n = np.bincount(f, minlength=F)
    if V.dtype == np.float64:  # bincount's weighted sums: float64, serial, in order
        out = np.stack([np.bincount(f, weights=pts[i].take(loc), minlength=F) for i in range(k)], 1)
    else:
        out = np.zeros((F, k), V.dtype)
        for i in range(k):
            np.add.at(out[:, i], f, pts[i].take(loc))
    return out / np.maximum(n, 1).astype(V.dtype)[:, None]


def _popcount_swar(x: np.ndarray) -> np.ndarray:
    """Set bits of each int64 ``x >= 0`` (for numpy without ``bitwise_count``)."""
    x = x.astype(np.uint64)
    m1, m2, m4, h01 = (np.uint64(c) for c in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F,
                                              0x0101010101010101))
    x = x - ((x >> np.uint64(1)) & m1)
    x = (x & m2) + ((x >> np.uint64(2)) & m2)
    x = (x + (x >> np.uint64(4))) & m4
    return ((x * h01) >> np.uint64(56)).astype(np.int64)


_popcount = getattr(np, "bitwise_count", _popcount_swar)


def adjacency_by_crossing(net: CPWLNetwork, domain, raw: RawRegions, numerics: Numerics, facet_points: Tensor,
                          pre_parts: list[Tensor] | None = None):
    """Neighbours across every network facet, and a completeness certificate.

    For a facet of region ``A`` with a point ``q`` in its relative interior, the
    neighbour's pattern is read at ``q`` for every unit that is not on a switching level
    there (its piece is constant near ``q``, on both sides; the values come from ``A``'s
    affine forms ``pre_parts``, exact on the closure of ``A``), and just across the facet
    (a step along the outward normal) for the others: the facet's own unit, and units
    that happen to be degenerate at ``q`` (for those of later layers the step is
    evaluated by a forward pass, since ``A``'s forms do not hold across).
    """
    R = raw.num_regions
    counts = raw.facet_offsets[1:] - raw.facet_offsets[:-1]
    owner = torch.repeat_interleave(torch.arange(R), counts)
    netf = (raw.facet_unit >= 0).nonzero().squeeze(1)
    empty = torch.zeros((0, 2), dtype=torch.long)
    cert = {"facets_checked": int(netf.numel()), "to_known": 0, "to_boundary": 0, "unmatched": 0}
    if netf.numel() == 0:
        cert["complete"] = True
        return empty, cert
    nb_parts, inside_parts = [], []
    block = 1 << 15  # facets per block: bounded memory for the per-unit values
    forms = None
    if pre_parts is not None and len(pre_parts):
        # one gather and one batched product per block for all layers
        forms = pre_parts[0] if len(pre_parts) == 1 else torch.cat(pre_parts, 2)
    tables = _unit_tables(net)
    for f0 in range(0, netf.numel(), block):
        f = netf[f0:f0 + block]
        nb_b, inside_b = _cross_block(net, domain, raw, numerics, facet_points[f], raw.A[f], owner[f],
                                      raw.facet_unit[f], forms, tables)
        nb_parts.append(nb_b)
        inside_parts.append(inside_b)
    nb, inside = torch.cat(nb_parts), torch.cat(inside_parts)
    own = owner[netf]
    found = nb >= 0
    cert["to_known"] = int(found.sum())
    cert["to_boundary"] = int((~found & ~inside).sum())
    cert["unmatched"] = int((~found & inside).sum())
    cert["complete"] = cert["unmatched"] == 0
    pairs = torch.stack([own[found], nb[found]], 1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if pairs.numel() == 0:
        return empty, cert
    pairs = torch.sort(pairs, dim=1).values
    key = torch.unique(pairs[:, 0] * R + pairs[:, 1])
    return torch.stack([key // R, key % R], 1), cert


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
        bp_all = torch.cat([torch.cat([b, b.new_full((b.shape[0], K - b.shape[1]), float("inf"))], 1) for b in bps])
    return layers, bp_all


def _cross_block(net, domain, raw: RawRegions, numerics: Numerics, q: Tensor, a: Tensor, own: Tensor, unit: Tensor,
                 forms: Tensor | None, tables):
    """The region across each facet of a block (``-1`` if unknown) and whether the step stays inside.

    ``forms`` ``(R, 1 + k, num_units)``: every unit's input form on each region (the
    layers' ``pre_parts`` side by side), or ``None`` for forward passes.
    """
    dt = numerics.dtype
    q = q.to(dt)
    a = a.to(dt)
    q_out = q + (1e-7 * (1.0 + q.abs().amax(1, keepdim=True))) * a  # a points out of the owner
    if forms is None:
        X = domain.to_input(torch.cat([q, q_out])).to(device=net.device, dtype=dt)
        with torch.no_grad():
            pre = torch.cat([p.cpu().reshape(X.shape[0], -1) for p in net.preactivations(X)], 1)
        zq_all, zo_all = pre[: q.shape[0]], pre[q.shape[0]:]
    else:
        own_d = own.to(forms.device)
    layers, bp_all = tables
    if forms is not None and not (bp_all is not None and bp_all.shape[1] == 1 and forms.device.type == "cpu"):
        zq_all = _eval_owned(forms, own_d, q.to(forms.device)).cpu()
    if bp_all is not None and forms is not None:
        # all layers univariate: one pass over all units (exact: +inf pads never count),
        # and the step across evaluated only where a unit is near a level
        if bp_all.shape[1] == 1:
            bp = bp_all[:, 0]
            thr = 2e-7 * (1.0 + bp.abs())
            if forms.device.type == "cpu":
                # the values and their tests a cache-sized chunk at a time
                parts = [_near_1bp(z, bp, thr, c0) for c0, z in _eval_owned_chunks(forms, own_d, q)]
                fi, ui, across = (torch.cat(t) for t in zip(*parts, strict=True))
            else:
                fi, ui, across = _near_1bp(zq_all, bp, thr, 0)
            near = torch.zeros_like(across, dtype=torch.bool)
            near[fi, ui] = True
        else:
            near = (zq_all.unsqueeze(-1) - bp_all).abs().amin(-1) <= 1e-7 * (1.0 + zq_all.abs())
            across = _piece(bp_all, zq_all)
            fi, ui = near.nonzero(as_tuple=True)
        fd, ud = fi.to(forms.device), ui.to(forms.device)
        zo = _eval_forms(forms[own_d[fd], :, ud].unsqueeze(-1), q_out.to(forms.device)[fd]).squeeze(1).cpu()
        across[fi, ui] = (bp_all[ui] < zo.unsqueeze(1)).sum(1).to(torch.int16)
    else:
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
        across = torch.where(near, torch.cat(codes_o, 1), torch.cat(codes_q, 1))
        fi, ui = near.nonzero(as_tuple=True)
    layer_of = torch.repeat_interleave(torch.arange(len(layers)), torch.tensor(net.layer_widths()))
    # A's forms hold across the facet up to the first layer with a unit that switches
    # there (the facet's own unit, or others on the same surface); units identically on
    # a level in A keep that code across when their inputs do not change
    L = len(layers)
    # units are in layer order: the first near unit is in the first near layer
    N = near.shape[1]
    first_unit = torch.full((near.shape[0],), N, dtype=torch.long).scatter_reduce_(0, fi, ui, "amin")
    first_near = torch.where(first_unit < N, layer_of[first_unit.clamp_max(max(N - 1, 0))], L)
    first_near = torch.minimum(first_near, layer_of[unit])
    same_inputs = layer_of.unsqueeze(0) <= first_near.unsqueeze(1)
    own_codes = raw.patterns[own]
    across = torch.where(near & same_inputs & (own_codes < 0), own_codes.to(across.dtype), across)
    if forms is not None:
        # near units of layers after the facet's own: A's forms do not hold across
        later = near & ~same_inputs
        redo = later.any(1).nonzero().squeeze(1)
        if redo.numel():
            X = domain.to_input(q_out[redo]).to(device=net.device, dtype=dt)
            with torch.no_grad():
                exact = net.patterns(X).cpu()
            across[redo] = torch.where(later[redo], exact, across[redo])
    inside = domain.contains(q_out, tol=0.0)
    nb = lookup_patterns(raw.patterns, across.to(raw.patterns.dtype))
    return nb, inside


def lookup_patterns(table: Tensor, queries: Tensor) -> Tensor:
    """Row index of each query pattern in ``table`` (rows distinct), ``-1`` if absent.

    Rows are hashed to one int64 each, matched by sorting, and the matches verified
    entry by entry, so a hash collision can only cost a miss-and-retry, never a wrong
    answer.
    """
    # int16 rows as int64 words (zero-padded): a quarter of the entries to hash and compare
    table, queries = _as_words(table), _as_words(queries)
    N = table.shape[1]
    gen = torch.Generator().manual_seed(12345)
    w = torch.randint(-(1 << 62), 1 << 62, (N,), generator=gen, dtype=torch.long)
    ht = (table * w).sum(1)
    hq = (queries * w).sum(1)
    order = torch.argsort(ht)
    hs = ht[order]
    pos = torch.searchsorted(hs, hq).clamp_max(max(hs.numel() - 1, 0))
    cand = order[pos] if hs.numel() else torch.full_like(hq, -1)
    ok = (hs[pos] == hq) & (table[cand] == queries).all(1) if hs.numel() else torch.zeros_like(hq, dtype=torch.bool)
    out = torch.where(ok, cand, torch.full_like(cand, -1))
    miss = (~ok & (hs[pos] == hq)).nonzero().squeeze(1) if hs.numel() else ok.nonzero().squeeze(1)
    for m in miss.tolist():  # a colliding hash: compare against every row with that hash
        rows = order[hs == hq[m]]
        eq = (table[rows] == queries[m]).all(1)
        if bool(eq.any()):
            out[m] = rows[eq.nonzero()[0, 0]]
    return out


def _as_words(p: Tensor) -> Tensor:
    """Rows of an integer tensor ``(n, N)`` as int64 words: equal rows iff equal words."""
    if p.dtype != torch.int16:
        return p.long()
    pad = -p.shape[1] % 4
    if pad:
        p = torch.cat([p, p.new_zeros(p.shape[0], pad)], 1)
    return p.contiguous().view(torch.int64)


_EVAL_CHUNK = 2048  # facets per chunk of _eval_owned (the gathered forms stay in cache)


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


def _near_1bp(zq: Tensor, bp: Tensor, thr: Tensor, row0: int):
    """Units near their one level ``bp`` at values ``zq`` ``(n, N)``, as rows (offset by
    ``row0``) and units, and the pieces ``(zq > bp)`` (int16).

    near: ``|z - bp| <= 1e-7 (1 + |z|)``, which implies ``|z - bp| <= thr = 2e-7 (1 + |bp|)``:
    a cheap superset first, the exact test on its few members.
    """
    dist = torch.sub(zq, bp).abs_()
    fi, ui = (dist <= thr).nonzero(as_tuple=True)
    zc = zq[fi, ui]
    exact = dist[fi, ui] <= 1e-7 * (1.0 + zc.abs())
    return fi[exact] + row0, ui[exact], (zq > bp).to(torch.int16)


def _eval_forms(f: Tensor, q: Tensor) -> Tensor:
    """Values ``f[:, 0] + q . f[:, 1:]`` ``(Fn, N)`` of forms ``f`` ``(Fn, 1 + k, N)`` at points
    ``q`` ``(Fn, k)`` (elementwise: far faster than a batch of Fn tiny matrix products)."""
    z = f[:, 1] * q[:, 0:1]
    for i in range(1, q.shape[1]):
        z.addcmul_(f[:, 1 + i], q[:, i:i + 1])
    return z.add_(f[:, 0])


def _piece(bp: Tensor, z: Tensor) -> Tensor:
    """Piece index (no exact-hit code: values here are off the levels or stepped across)."""
    return (bp.unsqueeze(0) < z.unsqueeze(-1)).sum(-1).to(torch.int16)


def _argmax(vals: Tensor) -> Tensor:
    return (vals == vals.amax(-1, keepdim=True)).int().argmax(-1).to(torch.int16)
