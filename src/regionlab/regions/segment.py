"""Exact partition of segments and polylines of the input space into activation regions.

Along a segment ``x(t) = a + t (b - a)``, ``t`` in ``[0, 1]``, every node of a CPWL
network is piecewise affine in ``t``. The engine walks the IR in topological order
(layer-by-layer interval splitting) and keeps, for every segment, the sorted vertices
``t_0 = 0 < t_1 < ... = 1`` between which all live node values are affine; each value
is stored at the vertices, which is the affine form of every interval in two-point form
(value at both ends instead of ``c + t d``). At a univariate node a vertex is inserted
where a unit's pre-activation crosses one of its breakpoints strictly inside an
interval; at a max node where two arguments of a unit tie, after which sub-intervals
whose argmax did not change are merged again. Every live value is interpolated at the
new vertices (exact: it is affine there), the node is evaluated pointwise, and its
codes are read at the interval midpoints. Linear nodes are applied to the vertex values
with their own ``forward`` (no dense matrices; one GEMM column per vertex). Everything
is vectorised over (segment, vertex, unit); chunks of segments run in parallel threads.

Examples
--------
>>> import torch, regionlab
>>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
>>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
>>> net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.relu()])
>>> part = regionlab.partition_segment(net, [-1.0, -2.0], [1.0, 2.0])
>>> part.num_regions, part.breakpoints.tolist()
(2, [0.5])
"""

from __future__ import annotations

import time
import weakref

import torch
from torch import Tensor

from ..errors import InvalidParameterError, NumericalError, ShapeError
from ..ir.network import CPWLNetwork
from ..ir.ops import Dense, MaxOp, PiecewiseLinear
from ..numerics import DEFAULT_NUMERICS, Numerics, exact_mode, intra_op_threads
from ._common import _check_points, as_network, network_for
from .segment_result import PathPartition, SegmentPartitionBatch

__all__ = ["partition_segment", "partition_path", "network_partition_segment", "network_partition_path"]

# Memory (bytes) the affine forms of one chunk of segments may take; the chunk size is
# derived from it when the caller does not set one.
_CPU_BUDGET = 192 * 2**20
_GPU_FRACTION = 0.25


# ------------------------------------------------------------------------ stages
#
# Representation (edge subdivision in 1-D, Berzins 2023): a chunk of segments is a
# sorted list of vertices (t, segment). The value of every live node is stored at every
# vertex, ``(V, *shape)``. Between consecutive vertices of a segment every live value
# is affine in t, so its two end values determine it. A linear node is evaluated at the
# vertices (one matrix column per vertex: half the work of carrying value and slope
# columns per interval); a nonlinear node first gets new vertices where one of its units
# switches (every live value is interpolated there, exactly, since it is affine between
# the old vertices) and is then evaluated pointwise, which is exact and continuous.
# Interval arrays have one row per vertex but the last: row k is [t_k, t_{k+1}]; rows
# that straddle two segments are computed and ignored.


def _insert_roots(t: Tensor, seg: Tensor, r_k: Tensor, r_t: Tensor, t_tol: float):
    """Plan the insertion of roots ``r_t`` into the intervals starting at vertices ``r_k``.

    Roots within ``t_tol`` of an interval end or of the previous root of the same
    interval are not inserted, so no piece of length ``<= t_tol`` and no duplicate piece
    is ever created; each such root is assigned to the vertex it coincides with.
    Returns ``(plan, assign)``: ``plan`` is ``None`` when nothing is inserted, and
    ``assign`` gives, for every root in the given order, the vertex (in the new
    numbering) where its unit switches.
    """
    n = r_t.numel()
    if n == 0:
        return None, r_k
    # lexicographic (interval, t) order: by t first, then stably by interval
    order = torch.argsort(r_t)
    order = order[torch.argsort(r_k[order], stable=True)]
    k, tt = r_k[order], r_t[order]
    lo, hi = t[k], t[k + 1]
    near_lo = tt - lo <= t_tol
    near_hi = hi - tt <= t_tol
    # single-linkage clusters of coincident roots collapse onto their first member
    start = torch.ones(n, dtype=torch.bool, device=t.device)
    start[1:] = ~((k[1:] == k[:-1]) & (tt[1:] - tt[:-1] <= t_tol))
    keep = start & ~near_lo & ~near_hi
    V = t.numel()
    ar = torch.arange(n, device=t.device)
    at = torch.empty(n, dtype=torch.long, device=t.device)
    kk, tk = k[keep], tt[keep]
    R = kk.numel()
    if R:
        cnt = torch.bincount(kk, minlength=V)
        before = torch.cumsum(cnt, 0) - cnt  # roots inserted left of each old vertex
        pos_old = torch.arange(V, device=t.device) + before
        pos_root = kk + before[kk] + 1 + (torch.arange(R, device=t.device) - before[kk])
        t2 = t.new_empty(V + R)
        t2[pos_old] = t
        t2[pos_root] = tk
        seg2 = seg.new_empty(V + R)
        seg2[pos_old] = seg
        seg2[pos_root] = seg[kk]
        plan = {"t": t2, "seg": seg2, "pos_old": pos_old, "pos_root": pos_root, "k": kk,
                "lam": (tk - lo[keep]) / (hi[keep] - lo[keep])}
        at[keep] = pos_root
    else:
        plan, pos_old = None, torch.arange(V, device=t.device)
    at[near_hi] = pos_old[k[near_hi] + 1]
    at[near_lo] = pos_old[k[near_lo]]
    first = torch.cummax(torch.where(start, ar, torch.zeros_like(ar)), 0).values
    assign = torch.empty_like(at)
    assign[order] = at[first]
    return plan, assign


def _insert_rows(f: Tensor, plan: dict) -> Tensor:
    """``f`` at the vertices after :func:`_insert_roots` (new rows by linear interpolation)."""
    shape = f.shape[1:]
    out = f.new_empty((plan["t"].numel(), *shape))
    out.index_copy_(0, plan["pos_old"], f)
    k = plan["k"]
    lam = plan["lam"].view(-1, *([1] * len(shape)))
    out.index_copy_(0, plan["pos_root"], torch.lerp(f.index_select(0, k), f.index_select(0, k + 1), lam))
    return out


def _crossings(gA: Tensor, gB: Tensor, valid: Tensor, mag_fn, atol: float):
    """Intervals where ``g`` changes sign beyond tolerance, and where (as a fraction).

    ``gA``/``gB`` hold ``g`` at the left/right vertex of every interval row (dim 0).
    ``mag_fn(idx)`` gives the magnitude the tolerance is relative to at the candidate
    entries. Returns the roots (interval row, position ``lam`` in ``(0, 1)``, entry
    index) and the sign changes rejected because an end value is within tolerance of
    zero (row, 0 for the left end or 1 for the right one, entry index): those ends are
    on the switching surface.
    """
    # sign comparisons on bytes are cheaper than a product of doubles; a zero end value
    # (touching, not crossing) is rejected by the tolerance test below
    idx = torch.nonzero((gA < 0) != (gB < 0), as_tuple=True)
    ok = valid[idx[0]]
    idx = tuple(i[ok] for i in idx)
    a, b = gA[idx], gB[idx]
    tol = atol * mag_fn(idx)
    smallA, smallB = a.abs() <= tol, b.abs() <= tol
    ok = ~smallA & ~smallB
    a, b = a[ok], b[ok]
    roots = (idx[0][ok], a / (a - b), tuple(i[ok] for i in idx[1:]))
    rows = torch.cat([idx[0][smallA], idx[0][smallB]])
    right = torch.cat([torch.zeros_like(idx[0][smallA]), torch.ones_like(idx[0][smallB])])
    touch = (rows, right, tuple(torch.cat([i[smallA], i[smallB]]) for i in idx[1:]))
    return roots, touch


def _vertex_rms(z: Tensor) -> Tensor:
    """Root-mean-square size of a node's input at every vertex."""
    return torch.linalg.vector_norm(z, dim=1) / max(z.shape[1], 1) ** 0.5


def _segment_max(v: Tensor, seg: Tensor, B: int) -> Tensor:
    return v.new_zeros(B).scatter_reduce_(0, seg, v, "amax")


def _interval_scale(rms: Tensor, prev: Tensor, seg: Tensor, seg_scale: Tensor) -> Tensor:
    """The magnitude tolerances are relative to, for every interval row.

    The size of the node's input at the interval's ends, and along its whole segment
    (``seg_scale``, which also covers the previous nonlinear node): near a point where
    every unit of a layer vanishes, or where a layer cancels to rounding noise, the local
    size alone would make that noise look significant.
    """
    both = torch.maximum(rms, prev)
    return torch.maximum(torch.maximum(both[:-1], both[1:]), seg_scale[seg[:-1]])


def _drop_equal(plan, codes: Tensor):
    """Remove inserted vertices whose two intervals got equal codes.

    A split can leave equal neighbours: at max nodes every pairwise tie is a candidate
    (most do not change the argmax), and near-tolerance roots can fail to change a code.
    Dropping them keeps every region maximal. Returns ``(kept, codes, jj, uu)``: the
    kept vertices (``None`` if all are kept), the codes of the remaining intervals, and
    the units ``uu`` whose code differs between interval rows ``jj`` and ``jj + 1``.
    """
    jj, uu = torch.nonzero(codes[1:] != codes[:-1], as_tuple=True)
    if plan is None:
        return None, codes, jj, uu
    V = codes.shape[0] + 1
    changed = torch.zeros(V, dtype=torch.bool, device=codes.device)
    changed[jj + 1] = True
    roots = plan["pos_root"]
    drop = roots[~changed[roots]]
    if drop.numel() == 0:
        return None, codes, jj, uu
    keep = torch.ones(V, dtype=torch.bool, device=codes.device)
    keep[drop] = False
    kept = keep.nonzero().squeeze(1)
    codes = codes[kept[:-1]]
    jj, uu = torch.nonzero(codes[1:] != codes[:-1], as_tuple=True)
    return kept, codes, jj, uu


_RELU_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_relu(op: PiecewiseLinear) -> bool:
    cached = _RELU_CACHE.get(op)
    if cached is None:
        cached = (
            op.breakpoints.shape == (1, 1)
            and op.slopes.shape[0] == 1
            and op.intercepts.shape[0] == 1
            and float(op.breakpoints[0, 0]) == 0.0
            and op.slopes[0].tolist() == [0.0, 1.0]
            and op.intercepts[0].tolist() == [0.0, 0.0]
        )
        _RELU_CACHE[op] = cached
    return cached


def _univariate_roots(op: PiecewiseLinear, z, valid, sc, atol):
    U = z.shape[1]
    bp = op.breakpoints.expand(U, -1)
    bmax = bp.abs().amax(1)
    zA, zB = z[:-1], z[1:]
    parts = []
    for j in range(bp.shape[1]):
        if op.breakpoints.shape[0] == 1 and float(op.breakpoints[0, j]) == 0.0:
            gA, gB = zA, zB
        else:
            gA, gB = zA - bp[:, j], zB - bp[:, j]

        def mag(idx):
            kk, uu = idx
            m = torch.maximum(zA[idx].abs(), zB[idx].abs())
            return torch.maximum(m, torch.maximum(bmax[uu], sc[kk]))

        (k, lm, (uu,)), (tr, side, (tu,)) = _crossings(gA, gB, valid, mag, atol)
        parts.append((k, lm, uu, bp[uu, j], tr + side, tu, bp[tu, j]))
    k, lm, uu, bu, tv, tu, bt = (torch.cat(x) for x in zip(*parts, strict=True))
    return (k, lm, (uu, bu)), (tv, (tu, bt))


def _univariate_codes(op: PiecewiseLinear, z: Tensor, sc: Tensor, atol: float) -> Tensor:
    """Pattern codes ``(V - 1, U)`` int16 of every unit on every interval row.

    The piece is read at the interval's midpoint; a unit is on breakpoint ``j`` (code
    ``-j``) when both its end values are within tolerance of it.
    """
    U = z.shape[1]
    bp = op.breakpoints.expand(U, -1)
    bmax = bp.abs().amax(1)
    zA, zB = z[:-1], z[1:]
    s = zA + zB  # twice the midpoint value
    thr = (2 * atol) * torch.maximum(sc, bmax.amax() if bmax.numel() else sc.new_zeros(()))
    K = bp.shape[1]
    piece = None
    on = []
    for j in range(K):
        zero = op.breakpoints.shape[0] == 1 and float(op.breakpoints[0, j]) == 0.0
        g = s if zero else s - 2 * bp[:, j]
        above = g > 0
        if piece is None:
            # codes stay int8 inside the engine (|code| <= K); a bool tensor reinterpreted
            # as int8 is 0/1 without a copy
            piece = above.view(torch.int8) if K == 1 else above.to(torch.int8)
        else:
            piece.add_(above)
        # s is still needed by the next breakpoint unless this is the last one
        g = g.abs() if (g is s and j < K - 1) else g.abs_()
        cand = torch.nonzero(g <= thr.unsqueeze(1), as_tuple=True)
        if cand[0].numel():
            kk, uu = cand
            b = bp[uu, j]
            far = torch.maximum((zA[cand] - b).abs(), (zB[cand] - b).abs())
            hit = far <= atol * torch.maximum(sc[kk], bmax[uu])
            on.append((kk[hit], uu[hit], -(j + 1)))
    # the smallest breakpoint index wins where tolerances overlap
    for kk, uu, code in reversed(on):
        piece[kk, uu] = code
    return piece


def _univariate_forward(op: PiecewiseLinear, z: Tensor, owned: bool) -> Tensor:
    """Pointwise evaluation (exact, continuous) of the activation at the vertices."""
    if _is_relu(op):
        return z.clamp_min_(0.0) if owned else z.clamp_min(0.0)
    if op.breakpoints.shape[0] == 1 and op.slopes.shape[0] == 1 and op.intercepts.shape[0] == 1:
        p = torch.searchsorted(op.breakpoints[0].contiguous(), z)  # #{breakpoints < z}
        return op.slopes[0][p] * z + op.intercepts[0][p]
    return op.forward(z)


def _max_args(op: MaxOp, z: Tensor) -> Tensor:
    """Arguments ``(V, U, k)`` of every max unit at every vertex (``-inf`` where padded)."""
    idx = op.index
    v = z.index_select(1, idx.clamp_min(0).reshape(-1)).view(z.shape[0], *idx.shape)
    if bool((idx < 0).any()):
        v = v.masked_fill((idx < 0).unsqueeze(0), float("-inf"))
    return v


def _argmax_tol(v: Tensor, scale: Tensor, atol: float) -> Tensor:
    """Index of the maximal argument; arguments tied within tolerance give the smallest index."""
    top = v.amax(-1, keepdim=True)
    tol = atol * torch.maximum(top.abs(), scale.view(-1, *([1] * (v.dim() - 1))))
    return (v >= top - tol).to(torch.uint8).argmax(-1)


def _max_roots(op: MaxOp, z, valid, sv, sc, atol):
    """Where the argmax of a unit changes inside an interval.

    The upper envelope of affine functions is convex, so an argument that is maximal at
    both ends of an interval is maximal all along it: only (interval, unit) pairs whose
    end argmaxes differ are searched, over all pairwise ties of their arguments (ties
    that do not change the argmax are merged away afterwards).
    """
    U, k = op.index.shape
    none = torch.zeros(0, dtype=torch.long, device=z.device)
    if k < 2:
        return (none, z.new_zeros(0), (none, none)), (none, (none, none))
    v = _max_args(op, z)
    am = _argmax_tol(v, sv, atol)
    kk, uu = torch.nonzero((am[:-1] != am[1:]) & valid.unsqueeze(1), as_tuple=True)
    p, q = torch.triu_indices(k, k, 1, device=z.device)
    vA, vB = v[kk, uu], v[kk + 1, uu]  # (C, k)
    gA, gB = vA[:, p] - vA[:, q], vB[:, p] - vB[:, q]
    pad = (op.index < 0)[uu]
    bad = pad[:, p] | pad[:, q]
    gA, gB = gA.masked_fill(bad, 0.0), gB.masked_fill(bad, 0.0)

    def mag(ix):
        c, pp = ix
        a, b = p[pp], q[pp]
        m = torch.maximum(vA[c, a].abs(), vA[c, b].abs())
        m = torch.maximum(m, torch.maximum(vB[c, a].abs(), vB[c, b].abs()))
        return torch.maximum(m, sc[kk[c]])

    ones = torch.ones(kk.numel(), dtype=torch.bool, device=z.device)
    (c, lm, (pp,)), (tc, side, (tp,)) = _crossings(gA, gB, ones, mag, atol)
    idx = op.index
    roots = (kk[c], lm, (idx[uu[c], p[pp]], idx[uu[c], q[pp]]))
    touch = (kk[tc] + side, (idx[uu[tc], p[tp]], idx[uu[tc], q[tp]]))
    return roots, touch


def _snap(z: Tensor, rows: Tensor, what, kind: str) -> None:
    """Put switching units exactly on their switching surface at the given vertices.

    A root's interpolated value misses the breakpoint by rounding; left alone, that
    residue (say relu(1e-17)) would travel downstream and make a unit that is exactly
    zero look positive. For a univariate unit the value becomes the breakpoint; for a
    max unit the two tied arguments become their mean.
    """
    if rows.numel() == 0:
        return
    if kind == "univariate":
        cols, vals = what
        z[rows, cols] = vals
    else:
        cp, cq = what
        m = 0.5 * (z[rows, cp] + z[rows, cq])
        z[rows, cp] = m
        z[rows, cq] = m


def _max_codes(op: MaxOp, z: Tensor, sv: Tensor, sc: Tensor, atol: float) -> Tensor:
    """Argmax codes ``(V - 1, U)`` int8 of every interval row.

    By convexity of the upper envelope, an interval whose two ends have the same argmax
    has it throughout; the others are read at their midpoint. Arguments tied with the
    maximum within tolerance (identical on the interval) give the smallest index.
    """
    if op.index.shape[1] == 1:
        return torch.zeros((z.shape[0] - 1, op.index.shape[0]), dtype=torch.int8, device=z.device)
    v = _max_args(op, z)
    am = _argmax_tol(v, sv, atol)
    codes = am[:-1].clone()
    kk, uu = torch.nonzero(am[:-1] != am[1:], as_tuple=True)
    if kk.numel():
        codes[kk, uu] = _argmax_tol(v[kk, uu] + v[kk + 1, uu], 2 * sc[kk], atol)  # twice the midpoint
    return codes.to(torch.int8)


def _run_chunk(net: CPWLNetwork, a: Tensor, b: Tensor, numerics: Numerics, stop: int) -> dict:
    """Partition the segments ``a -> b`` of one chunk (``t`` in ``[0, 1]``)."""
    dev, dt = a.device, a.dtype
    B = a.shape[0]
    atol = _effective_atol(numerics)
    t_tol = atol  # t runs over [0, 1], so the tolerance is relative to the segment
    t = torch.tensor([0.0, 1.0], dtype=dt, device=dev).repeat(B)
    seg = torch.arange(B, device=dev).repeat_interleave(2)
    scale_v = torch.zeros(2 * B, dtype=dt, device=dev)
    prev_seg = torch.zeros(B, dtype=dt, device=dev)  # previous nonlinear node's size per segment
    nodes, last = net.nodes, net.last_use
    values: dict[int, Tensor] = {0: torch.stack([a, b], 1).reshape(2 * B, *net.input_shape)}
    # per nonlinear node: pattern changes at its vertices, and where its vertices moved
    levels, firsts = [], []
    unit_off = 0
    for i in range(1, stop + 1):
        node = nodes[i]
        op = node.op
        args = [values[j] for j in node.inputs]
        for j in set(node.inputs):
            if last[j] <= i:
                del values[j]
        if op.kind == "linear":
            if isinstance(op, Dense) and args[0].dim() == 2:
                # one fused GEMM with the bias instead of a matmul and an add pass
                values[i] = torch.nn.functional.linear(args[0], op.weight, op.bias)
            else:
                values[i] = op.forward(*args)
            continue
        V = t.numel()
        z = args[0].reshape(V, -1)
        owned = last[node.inputs[0]] <= i and not any(
            v.untyped_storage().data_ptr() == z.untyped_storage().data_ptr() for v in values.values()
        )
        del args
        valid = seg[1:] == seg[:-1]
        rms = _vertex_rms(z)
        this_seg = _segment_max(rms, seg, B)
        seg_scale = torch.maximum(this_seg, prev_seg)
        sc = _interval_scale(rms, scale_v, seg, seg_scale)
        if op.kind == "univariate":
            (r_k, lam, r_what), (touch_v, touch_what) = _univariate_roots(op, z, valid, sc, atol)
        else:
            sv = torch.maximum(torch.maximum(rms, scale_v), seg_scale[seg])
            (r_k, lam, r_what), (touch_v, touch_what) = _max_roots(op, z, valid, sv, sc, atol)
        plan, assign = _insert_roots(t, seg, r_k, t[r_k] + (t[r_k + 1] - t[r_k]) * lam, t_tol)
        if plan is not None:
            z, owned = _insert_rows(z, plan), True
            rms = _insert_rows(rms, plan)
            scale_v = _insert_rows(scale_v, plan)
            t, seg = plan["t"], plan["seg"]
            for j in list(values):
                values[j] = _insert_rows(values[j], plan)
            sc = _interval_scale(rms, scale_v, seg, seg_scale)
            touch_v = plan["pos_old"][touch_v]
        if assign.numel() or touch_v.numel():
            if not owned:
                z, owned = z.clone(), True
            _snap(z, assign, r_what, op.kind)
            _snap(z, touch_v, touch_what, op.kind)
        if op.kind == "univariate":
            codes = _univariate_codes(op, z, sc, atol)
        else:
            sv = torch.maximum(torch.maximum(rms, scale_v), seg_scale[seg])
            codes = _max_codes(op, z, sv, sc, atol)
        kept, codes, jj, uu = _drop_equal(plan, codes)
        pos = None if plan is None else plan["pos_old"]
        if kept is not None:
            z, rms, t, seg = z.index_select(0, kept), rms[kept], t[kept], seg[kept]
            for j in list(values):
                values[j] = values[j].index_select(0, kept)
            new_index = torch.full((plan["t"].numel(),), -1, dtype=torch.long, device=dev)
            new_index[kept] = torch.arange(kept.numel(), device=dev)
            pos = new_index[pos]
        scale_v, prev_seg = rms, this_seg
        V = t.numel()
        out = _univariate_forward(op, z, owned) if op.kind == "univariate" else op.forward(z)
        values[i] = out.reshape(V, *node.shape)
        del z, out
        counts = torch.bincount(seg, minlength=B)
        firsts.append(codes[torch.cumsum(counts, 0) - counts].to(torch.int16))
        inside = seg[jj] == seg[jj + 2]
        jj, uu = jj[inside], uu[inside]
        delta = (codes[jj + 1, uu] - codes[jj, uu]).to(torch.int16)
        levels.append((jj + 1, uu + unit_off, delta, pos))
        unit_off += codes.shape[1]
        del codes
    y = values[stop].reshape(t.numel(), -1)
    if not bool(torch.isfinite(y).all()):
        raise NumericalError(
            "The network's output along a segment is not finite (overflow); rescale the inputs "
            "or the weights, or use float64 numerics."
        )
    patterns = _collect_patterns(levels, firsts, B, unit_off, seg)
    return {"t": t, "seg": seg, "y": y, "scale": scale_v, "seg_scale": prev_seg, **patterns}


def _collect_patterns(levels, firsts, B, N, seg) -> dict:
    """First pattern of every segment and the sparse pattern changes between consecutive pieces.

    Vertices are only ever inserted (or dropped at their own level), so a change at a
    vertex of some node's level is a change at that vertex's final position; the piece
    that starts at final vertex ``p`` is global piece ``p - seg[p]``.
    """
    dev = seg.device
    first = torch.cat(firsts, 1) if firsts else torch.zeros((B, 0), dtype=torch.int16, device=dev)
    c_piece, c_unit, c_delta = [], [], []
    F = torch.arange(seg.numel(), device=dev)  # final position of every vertex of a level
    for bv, uu, delta, pos in reversed(levels):
        P = F[bv]
        c_piece.append(P - seg[P])
        c_unit.append(uu)
        c_delta.append(delta)
        if pos is not None:
            F = F[pos]
    if c_piece:
        piece, unit, delta = torch.cat(c_piece), torch.cat(c_unit), torch.cat(c_delta)
        order = torch.argsort(piece * max(N, 1) + unit)
        piece, unit, delta = piece[order], unit[order], delta[order]
    else:
        piece = unit = torch.zeros(0, dtype=torch.long, device=dev)
        delta = torch.zeros(0, dtype=torch.int16, device=dev)
    return {"first": first, "c_piece": piece, "c_unit": unit, "c_delta": delta}


# ----------------------------------------------------------------- batched driver


def _effective_atol(numerics: Numerics) -> float:
    # a tolerance below the dtype's resolution would let rounding noise split pieces
    return max(float(numerics.atol), 64 * torch.finfo(numerics.dtype).eps)


def _auto_chunk_size(net: CPWLNetwork, B: int, workers: int = 1) -> int:
    widest = max((n.size for n in net.nodes[1:]), default=1)
    # a generic network meets about one region per unit along a segment (measures.md §1)
    est_vertices = 2 + min(net.num_units, 4096)
    per_segment = est_vertices * widest * torch.finfo(net.dtype).bits // 8 * 4
    budget = _CPU_BUDGET // max(workers, 1)
    if net.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(net.device)
        budget = int(free * _GPU_FRACTION)
    return int(max(1, min(B, budget // max(per_segment, 1))))


def _exact_forms(net: CPWLNetwork, x: Tensor, d: Tensor) -> Tensor:
    """Value and derivative ``(M, 2, out)`` of the output at points ``x`` along directions ``d``.

    Pushes the affine form through the network with the choices frozen at ``x``; used
    where a difference quotient of vertex values would lose digits (short pieces).
    """
    from ..ir.network import choice_at

    M = x.shape[0]
    forms = torch.stack([x, d], 1).reshape(M, 2, *net.input_shape)
    out = net.propagate_forms(forms, lambda i, n, z: choice_at(n.op, z[:, 0]))
    return out.reshape(M, 2, -1)


def _finish_chunk(net, res: dict, a: Tensor, b: Tensor, numerics: Numerics, return_maps: bool) -> dict:
    """Per-piece output forms, linear pieces and local indices of one chunk, on the CPU."""
    t, seg, y, scale_v = res["t"], res["seg"], res["y"], res["scale"]
    Bc = a.shape[0]
    atol = _effective_atol(numerics)
    vcount = torch.bincount(seg, minlength=Bc)
    counts = vcount - 1
    L = torch.nonzero(seg[1:] == seg[:-1]).squeeze(1)  # left vertex of every piece
    pseg = seg[L]
    lo, hi = t[L], t[L + 1]
    slope = (y[L + 1] - y[L]) / (hi - lo).unsqueeze(1)
    value = y[L] - lo.unsqueeze(1) * slope
    # a difference quotient over a piece of length h carries about eps / h relative
    # error; below this length the slope is recomputed from exact forms
    eps = torch.finfo(y.dtype).eps
    short = torch.nonzero(hi - lo < 100 * eps / max(atol, eps)).squeeze(1)
    if short.numel() and y.shape[1]:
        mid = 0.5 * (lo[short] + hi[short])
        s = pseg[short]
        direction = b[s] - a[s]
        exact = _exact_forms(net, a[s] + mid.unsqueeze(1) * direction, direction)
        slope[short] = exact[:, 1]
        value[short] = exact[:, 0] - mid.unsqueeze(1) * exact[:, 1]
    R = L.numel()
    piece_start = torch.cumsum(counts, 0) - counts
    kink = torch.zeros(max(R - 1, 0), dtype=torch.long, device=t.device)
    if R > 1 and y.shape[1] > 0:
        jump = (slope[1:] - slope[:-1]).abs().amax(1)
        sabs = slope.abs().amax(1)
        yb = y[L[1:]].abs().amax(1)  # output at the shared breakpoint
        S = torch.maximum(scale_v[L], scale_v[L + 1])
        scale = torch.maximum(torch.maximum(sabs[1:], sabs[:-1]), torch.maximum(yb, torch.maximum(S[1:], S[:-1])))
        # sizes along the whole segment: where the output vanishes locally, rounding
        # residues must not count as kinks
        seg_size = torch.maximum(res["seg_scale"], _segment_max(y.abs().amax(1), seg, Bc))
        scale = torch.maximum(scale, seg_size[pseg[1:]])
        kink = ((jump > atol * scale) & (pseg[1:] == pseg[:-1])).long()
    lp = torch.cat([kink.new_zeros(1), torch.cumsum(kink, 0)]) if R else kink
    lp = lp - lp[piece_start[pseg]]
    cp = res["c_piece"]
    cseg = pseg[cp]
    return {
        "t": t.cpu(),
        "counts": counts.cpu(),
        "first": res["first"].cpu(),
        "c_counts": torch.bincount(cseg, minlength=Bc).cpu(),
        "c_piece": (cp - piece_start[cseg]).cpu(),
        "c_unit": res["c_unit"].cpu(),
        "c_delta": res["c_delta"].cpu(),
        "value": value.cpu() if return_maps else None,
        "slope": slope.cpu() if return_maps else None,
        "lp": lp.cpu(),
    }


def _partition_many(net, A, Bp, numerics, chunk_size, progress, return_maps, t0) -> SegmentPartitionBatch:
    """Partition the segments ``A[i] -> Bp[i]`` (flat, on the network's device)."""
    B = A.shape[0]
    workers = torch.get_num_threads() if net.device.type == "cpu" else 1
    if chunk_size is None:
        # every worker thread needs chunks of its own
        chunk_size = max(1, min(_auto_chunk_size(net, B, workers), -(-B // max(workers, 1))))
    elif not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise InvalidParameterError(f"The 'chunk_size' parameter must be a positive int or None. Got {chunk_size!r} instead.")
    bounds = [(s, min(s + chunk_size, B)) for s in range(0, B, chunk_size)]
    workers = max(1, min(workers, len(bounds)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(bounds), desc="segments", unit="chunk")

    def job(s: int, e: int) -> dict:
        with torch.no_grad():  # grad mode is thread-local
            res = _run_chunk(net, A[s:e], Bp[s:e], numerics, net.output_node)
            return _finish_chunk(net, res, A[s:e], Bp[s:e], numerics, return_maps)

    parts = []
    with exact_mode(numerics):
        if workers == 1:
            for s, e in bounds:
                parts.append(job(s, e))
                if bar is not None:
                    bar.update()
        else:
            # Chunks run in parallel threads with one intra-op thread each: torch releases
            # the GIL inside its kernels, and independent chunks scale better than OpenMP
            # teams (whose barriers stall badly on a busy machine).
            from concurrent.futures import ThreadPoolExecutor

            with intra_op_threads(1), ThreadPoolExecutor(workers) as pool:
                for fut in [pool.submit(job, s, e) for s, e in bounds]:
                    parts.append(fut.result())
                    if bar is not None:
                        bar.update()
    if bar is not None:
        bar.close()
    counts = torch.cat([p["counts"] for p in parts])
    c_counts = torch.cat([p["c_counts"] for p in parts])
    zero = torch.zeros(1, dtype=torch.long)
    return SegmentPartitionBatch(
        t=torch.cat([p["t"] for p in parts]).to(torch.float64),
        piece_offsets=torch.cat([zero, counts.cumsum(0)]),
        starts=A.detach().cpu().to(torch.float64),
        ends=Bp.detach().cpu().to(torch.float64),
        first_patterns=torch.cat([p["first"] for p in parts]),
        change_offsets=torch.cat([zero, c_counts.cumsum(0)]),
        change_piece=torch.cat([p["c_piece"] for p in parts]),
        change_unit=torch.cat([p["c_unit"] for p in parts]),
        change_delta=torch.cat([p["c_delta"] for p in parts]),
        output_value=torch.cat([p["value"] for p in parts]).to(torch.float64) if return_maps else None,
        output_slope=torch.cat([p["slope"] for p in parts]).to(torch.float64) if return_maps else None,
        linear_piece=torch.cat([p["lp"] for p in parts]),
        input_shape=tuple(net.input_shape),
        output_shape=tuple(net.output_shape),
        seconds=time.perf_counter() - t0,
    )


def _check_numerics(numerics) -> Numerics:
    if numerics is None:
        return DEFAULT_NUMERICS
    if not isinstance(numerics, Numerics):
        raise InvalidParameterError(
            f"The 'numerics' parameter must be a regionlab.Numerics or None. Got {type(numerics).__name__} instead."
        )
    return numerics


def _resolve_network(model, points, numerics: Numerics, batched: bool | None) -> CPWLNetwork:
    if isinstance(model, CPWLNetwork):
        net = model
    elif isinstance(model, torch.nn.Module):
        pts = torch.as_tensor(points)
        if batched is None:
            # PyTorch's convention: a leading batch dimension, except for a 1-D point
            batched = pts.dim() >= 2
        if batched and pts.dim() < 2:
            raise ShapeError(f"Batched points need a leading batch dimension; got shape {tuple(pts.shape)}.")
        net = as_network(model, pts[0] if batched else pts)
    else:
        raise InvalidParameterError(
            f"The 'model' parameter must be a torch.nn.Module or a regionlab CPWLNetwork. "
            f"Got {type(model).__name__} instead."
        )
    return network_for(net, numerics)


# -------------------------------------------------------------------- public API


def partition_segment(
    model,
    start,
    end,
    *,
    numerics: Numerics | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
    return_maps: bool = True,
    batched: bool | None = None,
):
    """Exact partition of the segment ``x(t) = start + t (end - start)``, ``t`` in ``[0, 1]``.

    Finds every breakpoint (change of activation pattern) along the segment, the
    pattern of every activation region met, and the network's affine form along each.
    Many segments go through one batched call, vectorised across segments.

    What is counted: activation regions met with positive length (maximal intervals of
    constant pattern; touching a switching surface at a point does not count), and
    linear pieces (neighbouring regions with the same output form along the segment
    merged). See :mod:`regionlab.regions.segment_result`.

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        A CPWL model (traced on first use and cached, see :func:`regionlab.trace`) or a
        traced network. The computation runs on the network's device.
    start, end : array-like
        One point each (the model's input shape, or flat), or batches ``(B, *input_shape)``
        / ``(B, input_dim)`` of end points. A single point is broadcast against a batch.
    numerics : Numerics, optional
        Precision and tolerances (float64, TF32 off, ``atol=1e-10`` by default).
        Pre-activations within ``atol`` times their scale (the largest of the unit's
        end values, its breakpoints and the root-mean-square of the layer's input and of
        the previous nonlinear layer's input on the interval) of a breakpoint count as on
        it; roots closer than ``atol`` (in ``t``) to each other or to an existing
        breakpoint are merged.
    chunk_size : int, optional
        Segments processed together; bounds memory. By default derived from a memory
        budget (a fraction of the free memory on CUDA).
    progress : bool
        Show a progress bar over chunks.
    return_maps : bool
        Store the per-region output forms (``output_value``, ``output_slope``).
        Linear pieces are counted either way.
    batched : bool, optional
        Only for an ``nn.Module`` before its first trace: whether ``start`` has a leading
        batch dimension. By default points of two or more dimensions are taken as a batch
        (PyTorch's convention); pass ``batched=False`` for one image-shaped point.

    Returns
    -------
    SegmentPartition or SegmentPartitionBatch
        One partition when ``start`` and ``end`` are single points, else a batch
        (a sequence of :class:`SegmentPartition` with vectorised counts).

    Raises
    ------
    ShapeError
        If the points do not have the network's input shape.
    NumericalError
        If a point holds NaN or inf, or the network overflows along the segment.
    InvalidParameterError
        For a bad ``model``, ``numerics`` or ``chunk_size``.

    Notes
    -----
    Layer-by-layer interval splitting, the 1-D case of edge subdivision (Berzins,
    ICML 2023): every node is evaluated at the vertices found so far (one GEMM column
    per vertex for dense layers) and new vertices are inserted where a unit switches,
    so the cost is about ``regions x width`` per layer. Roots are computed from the
    two end values of each interval and put the switching unit exactly on its
    breakpoint, so units that are exactly zero downstream stay exactly zero. A
    zero-length segment gives one region. A unit identically on a breakpoint over a
    region is coded ``-j`` and splits nothing. Slopes of the output along the segment
    come from the vertex values, or, on pieces shorter than ``100 eps / atol``, from
    affine forms pushed through the network with the piece's choices frozen, so that
    they are accurate to about ``atol``.

    On the CPU, chunks of segments run in ``torch.get_num_threads()`` Python threads
    with one intra-op thread each (set back afterwards); use ``chunk_size`` to bound
    memory.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> W = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    >>> net = CPWLNetwork.sequential((2,), [Dense(W), PiecewiseLinear.relu(), Dense(torch.ones(1, 2, dtype=torch.float64))])
    >>> part = regionlab.partition_segment(net, [-1.0, 0.5], [1.0, 0.5])
    >>> part.num_regions, part.breakpoints.tolist()
    (3, [0.25, 0.75])
    >>> part.patterns.tolist()
    [[0, 0], [1, 0], [1, 1]]

    A zero-length segment meets one region; a batch is one call:

    >>> regionlab.partition_segment(net, [0.3, 0.1], [0.3, 0.1]).num_regions
    1
    >>> batch = regionlab.partition_segment(net, torch.zeros(4, 2) - 1, torch.ones(4, 2))
    >>> batch.num_regions.tolist()
    [2, 2, 2, 2]
    """
    t0 = time.perf_counter()
    numerics = _check_numerics(numerics)
    if not isinstance(return_maps, bool):
        raise InvalidParameterError(f"The 'return_maps' parameter must be a bool. Got {return_maps!r} instead.")
    net = _resolve_network(model, start, numerics, batched)
    a, single_a = _check_points(net, start, "start")
    b, single_b = _check_points(net, end, "end")
    if a.shape[0] != b.shape[0]:
        if single_a:
            a = a.expand(b.shape[0], -1)
        elif single_b:
            b = b.expand(a.shape[0], -1)
        else:
            raise ShapeError(
                f"The 'start' and 'end' batches must have the same length. Got {a.shape[0]} and {b.shape[0]} points."
            )
    batch = _partition_many(net, a, b, numerics, chunk_size, progress, return_maps, t0)
    return batch[0] if (single_a and single_b) else batch


def partition_path(
    model,
    points,
    *,
    closed: bool = False,
    numerics: Numerics | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
    return_maps: bool = True,
):
    """Exact partition of the polyline through ``points`` (e.g. data points).

    The parameter ``t`` runs over ``[0, L]`` for ``L`` legs, with vertex ``i`` at
    ``t = i`` exactly and ``t`` affine along each leg (use
    :attr:`PathPartition.arclength` for distances along the path). All legs go
    through the engine in one batched call; regions are then joined across vertices
    where the pattern does not change.

    Parameters
    ----------
    model : torch.nn.Module or CPWLNetwork
        A CPWL model (traced on first use) or a traced network.
    points : array-like
        ``(P, *input_shape)`` or ``(P, input_dim)`` vertices, ``P >= 2``.
    closed : bool
        Add the leg from the last point back to the first (``L = P`` legs).
    numerics, chunk_size, progress, return_maps
        As in :func:`partition_segment` (``return_maps`` applies to the legs).

    Returns
    -------
    PathPartition

    Raises
    ------
    ShapeError
        If the points do not have the network's input shape or fewer than two are given.
    NumericalError
        If a point holds NaN or inf.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
    >>> path = regionlab.partition_path(net, [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0]])
    >>> path.breakpoints.tolist(), path.num_regions
    ([0.5, 1.5], 3)
    >>> path.patterns.tolist()
    [[0, 0], [1, 0], [1, 1]]
    """
    t0 = time.perf_counter()
    numerics = _check_numerics(numerics)
    if not isinstance(closed, bool):
        raise InvalidParameterError(f"The 'closed' parameter must be a bool. Got {closed!r} instead.")
    net = _resolve_network(model, points, numerics, True)
    P, single = _check_points(net, points, "points")
    if single or P.shape[0] < 2:
        raise ShapeError(
            f"A path needs at least two points, given as (P, *{tuple(net.input_shape)}) or (P, {net.input_dim}). "
            f"Got {1 if single else P.shape[0]} point(s)."
        )
    verts = torch.cat([P, P[:1]]) if closed else P
    batch = _partition_many(net, verts[:-1], verts[1:], numerics, chunk_size, progress, return_maps, t0)
    return _stitch(batch, verts.detach().cpu().to(torch.float64), closed, t0)


def _stitch(batch: SegmentPartitionBatch, verts: Tensor, closed: bool, t0: float) -> PathPartition:
    """Join leg partitions into one path partition, merging regions across unchanged vertices.

    Zero-length legs (repeated points) meet no region of positive length: their
    parameter range joins the region that follows them (or, at the end, precedes them).
    """
    L = len(batch)
    N = batch.first_patterns.shape[1]
    E = torch.nonzero(batch.lengths > 0).squeeze(1)
    if E.numel() == 0:
        E = torch.zeros(1, dtype=torch.long)  # a path through one repeated point
    nE = E.numel()
    counts = batch.num_regions[E]
    po = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    R = int(po[-1])
    leg_pos = torch.repeat_interleave(torch.arange(nE), counts)  # effective-leg position of every piece
    leg = E[leg_pos]
    local = torch.arange(R) - po[leg_pos]
    gidx = batch.piece_offsets[leg] + local  # piece index inside the batch
    lo_local = batch.t[gidx + leg]
    mid = leg.to(torch.float64) + 0.5 * (lo_local + batch.t[gidx + leg + 1])
    lo = lo_local + leg.to(torch.float64)
    starts = po[:-1]
    lo[starts] = torch.cat([torch.zeros(1, dtype=torch.long), E[:-1] + 1]).to(torch.float64)
    # last pattern of every leg: its first pattern plus all its changes
    leg_of_change = torch.repeat_interleave(torch.arange(L), batch.change_offsets[1:] - batch.change_offsets[:-1])
    first = batch.first_patterns.to(torch.int32)
    last = first.index_put((leg_of_change, batch.change_unit), batch.change_delta.to(torch.int32), accumulate=True)
    # a piece continues the previous region when it opens a leg with an unchanged pattern
    cont = torch.zeros(R, dtype=torch.bool)
    at_vertex = torch.zeros(R, dtype=torch.bool)
    same = (last[E[:-1]] == first[E[1:]]).all(1)
    cont[starts[1:]] = same
    at_vertex[starts[1:]] = True
    new_index = torch.cumsum((~cont).long(), 0) - 1
    R2 = int(new_index[-1]) + 1
    t = torch.empty(R2 + 1, dtype=torch.float64)
    t[new_index[~cont]] = lo[~cont]
    t[-1] = float(L)
    # witness: the middle of each region's first piece, strictly inside a leg of positive
    # length (the middle of a region spanning a vertex may touch a switching surface there)
    witness_t = torch.empty(R2, dtype=torch.float64)
    witness_t[new_index[~cont]] = mid[~cont]
    # pattern changes inside legs keep their unit/delta; only their region index moves
    pos_of_leg = torch.full((L,), -1, dtype=torch.long)
    pos_of_leg[E] = torch.arange(nE)
    mine = pos_of_leg[leg_of_change] >= 0
    cp = batch.change_piece[mine] + po[pos_of_leg[leg_of_change[mine]]]
    c_piece, c_unit, c_delta = [new_index[cp]], [batch.change_unit[mine]], [batch.change_delta[mine]]
    if nE > 1:
        changed = (~same).nonzero().squeeze(1)
        ll, uu = (last[E[changed]] != first[E[changed + 1]]).nonzero(as_tuple=True)
        e = changed[ll]
        c_piece.append(new_index[starts[e + 1]])
        c_unit.append(uu)
        c_delta.append((first[E[e + 1], uu] - last[E[e], uu]).to(torch.int16))
    piece, unit, delta = torch.cat(c_piece), torch.cat(c_unit), torch.cat(c_delta)
    order = torch.argsort(piece * max(N, 1) + unit)
    # linear pieces: inside a leg from the leg's forms; across a vertex, kept apart
    kink = torch.zeros(R, dtype=torch.long)
    inner = (local > 0) & ~cont
    lpl = batch.linear_piece[gidx]
    kink[inner] = (lpl[inner] != lpl[inner.nonzero().squeeze(1) - 1]).long()
    kink[at_vertex & ~cont] = 1
    lp = torch.cumsum(kink[~cont], 0)
    return PathPartition(
        t=t,
        vertices=verts,
        closed=closed,
        first_pattern=batch.first_patterns[E[0]].clone(),
        change_piece=piece[order],
        change_unit=unit[order],
        change_delta=delta[order],
        linear_piece=lp - lp[0],
        witness_t=witness_t,
        legs=tuple(batch),
        input_shape=batch.input_shape,
        output_shape=batch.output_shape,
        seconds=time.perf_counter() - t0,
    )


# --------------------------------------------------------------- method faces


def network_partition_segment(self: CPWLNetwork, start, end, **kwargs):
    """Method face of :func:`partition_segment` for :class:`~regionlab.ir.CPWLNetwork`.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.relu()])
    >>> network_partition_segment(net, [-1.0], [1.0]).num_regions
    2
    """
    return partition_segment(self, start, end, **kwargs)


def network_partition_path(self: CPWLNetwork, points, **kwargs):
    """Method face of :func:`partition_path` for :class:`~regionlab.ir.CPWLNetwork`.

    Examples
    --------
    >>> import torch
    >>> from regionlab.ir import CPWLNetwork, PiecewiseLinear
    >>> net = CPWLNetwork.sequential((1,), [PiecewiseLinear.relu()])
    >>> network_partition_path(net, [[-1.0], [1.0], [-2.0]]).num_regions
    3
    """
    return partition_path(self, points, **kwargs)
