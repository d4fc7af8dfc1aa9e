"""Exact partition of segments and polylines of the input space into activation regions.

Along a segment ``x(t) = a + t (b - a)``, ``t`` in ``[0, 1]``, every node of a CPWL
network is piecewise affine in ``t``. The engine walks the IR in topological order and
keeps, for every segment, a sorted list of intervals of ``t`` on which all live node
values are affine; each interval carries those values as affine forms ``c + t d``.
At a univariate node the interval is split where a unit's pre-activation crosses one
of its breakpoints; at a max node it is split where a unit's argmax changes. The
choices are then frozen on every child interval and the forms pushed through the node.
All of this is vectorised over (segment, interval, unit); there is no Python loop
over segments, intervals or units.

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

import torch
from torch import Tensor

from ..errors import InvalidParameterError, NumericalError, ShapeError
from ..ir.network import CPWLNetwork
from ..ir.ops import MaxOp, PiecewiseLinear
from ..numerics import DEFAULT_NUMERICS, Numerics, exact_mode
from ._common import _check_points, as_network, network_for
from .segment_result import PathPartition, SegmentPartitionBatch

__all__ = ["partition_segment", "partition_path", "network_partition_segment", "network_partition_path"]

# Memory (bytes) the affine forms of one chunk of segments may take; the chunk size is
# derived from it when the caller does not set one.
_CPU_BUDGET = 192 * 2**20
_GPU_FRACTION = 0.25


# ------------------------------------------------------------------------ stages


def _split(lo: Tensor, hi: Tensor, r_int: Tensor, r_t: Tensor, t_tol: float):
    """Insert roots ``r_t`` into intervals ``r_int``; ``None`` when no root survives.

    Roots within ``t_tol`` of an interval end or of the previous root of the same
    interval are dropped, so no piece of length ``<= t_tol`` and no duplicate piece is
    ever created. Returns the new ``lo``, ``hi`` and the parent index of every child.
    """
    if r_t.numel() == 0:
        return None
    # lexicographic (interval, t) order: by t first, then stably by interval
    o = torch.argsort(r_t)
    r_int, r_t = r_int[o], r_t[o]
    o = torch.argsort(r_int, stable=True)
    r_int, r_t = r_int[o], r_t[o]
    keep = (r_t - lo[r_int] > t_tol) & (hi[r_int] - r_t > t_tol)
    if r_t.numel() > 1:
        # single-linkage clusters of coincident roots collapse onto their first member
        keep[1:] &= ~((r_int[1:] == r_int[:-1]) & (r_t[1:] - r_t[:-1] <= t_tol))
    r_int, r_t = r_int[keep], r_t[keep]
    R = r_t.numel()
    if R == 0:
        return None
    I = lo.numel()
    extra = torch.bincount(r_int, minlength=I)
    counts = extra + 1
    par = torch.repeat_interleave(torch.arange(I, device=lo.device), counts, output_size=I + R)
    start = torch.cumsum(counts, 0) - counts
    first_root = torch.cumsum(extra, 0) - extra
    pos = start[r_int] + (torch.arange(R, device=lo.device) - first_root[r_int])
    new_lo = lo[par]
    new_hi = hi[par]
    new_hi[pos] = r_t
    new_lo[pos + 1] = r_t
    return new_lo, new_hi, par


def _merge_equal(par: Tensor, codes: Tensor):
    """Merge consecutive children of one parent with equal codes; ``None`` if none are equal.

    Returns ``(starts, ends)``: the first and last child of every merged interval.
    """
    n = par.numel()
    pos = torch.nonzero(par[1:] == par[:-1]).squeeze(1)
    if pos.numel() == 0:
        return None
    same = (codes[pos + 1] == codes[pos]).all(1)
    drop = pos[same] + 1
    if drop.numel() == 0:
        return None
    keep = torch.ones(n, dtype=torch.bool, device=par.device)
    keep[drop] = False
    starts = keep.nonzero().squeeze(1)
    ends = torch.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = n - 1
    return starts, ends


def _endpoint_values(z: Tensor, lo: Tensor, hi: Tensor):
    c, d = z[:, 0], z[:, 1]
    return torch.addcmul(c, d, lo.unsqueeze(1)), torch.addcmul(c, d, hi.unsqueeze(1))


def _rms(zl: Tensor, zh: Tensor) -> Tensor:
    n = max(zl.shape[1], 1)
    return ((zl.square().sum(1) + zh.square().sum(1)) / (2 * n)).sqrt()


def _crossings(gl: Tensor, gh: Tensor, lo, hi, mag_fn, atol: float):
    """Roots of the affine functions with end values ``gl``/``gh`` that change sign beyond tolerance.

    ``gl``, ``gh`` have the interval on dim 0. ``mag_fn(idx)`` gives the magnitude that
    the tolerance is relative to, at the candidate entries ``idx`` (a tuple of index
    tensors). Returns the interval index and ``t`` of every root.
    """
    idx = torch.nonzero(gl * gh < 0, as_tuple=True)
    if idx[0].numel() == 0:
        return idx[0], lo[:0]
    a, b = gl[idx], gh[idx]
    tol = atol * mag_fn(idx)
    ok = (a.abs() > tol) & (b.abs() > tol)
    ii, a, b = idx[0][ok], a[ok], b[ok]
    l = lo[ii]
    # interpolating the end values keeps the root inside [lo, hi] whatever the rounding
    return ii, l + (hi[ii] - l) * (a / (a - b))


def _refine_univariate(op: PiecewiseLinear, z, lo, hi, rms_prev, atol, t_tol):
    I, _, U = z.shape
    zl, zh = _endpoint_values(z, lo, hi)
    rms = _rms(zl, zh)
    scale = torch.maximum(rms, rms_prev)
    bp, _, _ = op.unit_tables(U)
    K = bp.shape[1]
    bmax = bp.abs().amax(1)
    shared = op.breakpoints.shape[0] == 1
    ri, rt = [], []
    for j in range(K):
        if shared and float(op.breakpoints[0, j]) == 0.0:
            gl, gh = zl, zh
        else:
            gl, gh = zl - bp[:, j], zh - bp[:, j]

        def mag(idx):
            ii, uu = idx
            m = torch.maximum(zl[idx].abs(), zh[idx].abs())
            return torch.maximum(m, torch.maximum(bmax[uu], scale[ii]))

        ii, tt = _crossings(gl, gh, lo, hi, mag, atol)
        ri.append(ii)
        rt.append(tt)
    split = _split(lo, hi, torch.cat(ri), torch.cat(rt), t_tol)
    if split is None:
        par, zc, sc = None, z, scale
    else:
        lo, hi, par = split
        zc, sc, rms = z.index_select(0, par), scale[par], rms[par]
    codes, choice = _univariate_codes(zc, lo, hi, sc, atol, bp, bmax)
    if par is not None:
        merged = _merge_equal(par, codes)
        if merged is not None:
            starts, ends = merged
            lo, hi, par = lo[starts], hi[ends], par[starts]
            zc, codes, choice, rms = zc[starts], codes[starts], choice[starts], rms[starts]
        if par.numel() == I:
            par = None
    return lo, hi, par, zc, codes, choice, rms


def _univariate_codes(zc, lo, hi, sc, atol, bp, bmax):
    """Pattern codes and frozen piece choices of every unit on every interval."""
    mid = 0.5 * (lo + hi)
    half = (0.5 * (hi - lo)).unsqueeze(1)
    c, d = zc[:, 0], zc[:, 1]
    zm = torch.addcmul(c, d, mid.unsqueeze(1))
    # largest deviation of the unit from its midpoint value over the interval
    spread = d.abs() * half
    tol = atol * torch.maximum(zm.abs() + spread, torch.maximum(bmax.unsqueeze(0), sc.unsqueeze(1)))
    K = bp.shape[1]
    if K == 1:
        g = zm - bp[:, 0]
        choice = (g > 0).long()
        on = (g.abs() + spread) <= tol
        codes = torch.where(on, torch.full_like(choice, -1), choice).to(torch.int16)
        return codes, choice
    choice = torch.zeros(zm.shape, dtype=torch.long, device=zm.device)
    on_code = torch.zeros(zm.shape, dtype=torch.long, device=zm.device)
    for j in range(K):
        g = zm - bp[:, j]
        choice += g > 0
        on = (g.abs() + spread) <= tol
        on_code = torch.where(on & (on_code == 0), torch.full_like(on_code, -(j + 1)), on_code)
    codes = torch.where(on_code != 0, on_code, choice).to(torch.int16)
    return codes, choice


def _apply_univariate(op: PiecewiseLinear, zc: Tensor, choice: Tensor) -> Tensor:
    I, _, U = zc.shape
    if op.slopes.shape[0] == 1:
        slope = op.slopes[0][choice]
    else:
        slope = op.slopes.unsqueeze(0).expand(I, U, -1).gather(2, choice.unsqueeze(-1)).squeeze(-1)
    out = zc * slope.unsqueeze(1)
    ic = op.intercepts
    if bool((ic != 0).any()):
        if ic.shape[0] == 1:
            icpt = ic[0][choice]
        else:
            icpt = ic.unsqueeze(0).expand(I, U, -1).gather(2, choice.unsqueeze(-1)).squeeze(-1)
        out[:, 0] += icpt
    return out


def _refine_max(op: MaxOp, z, lo, hi, rms_prev, atol, t_tol):
    I = z.shape[0]
    index = op.index
    U, k = index.shape
    pad = index < 0
    idx = index.clamp_min(0)
    zl, zh = _endpoint_values(z, lo, hi)
    rms = _rms(zl, zh)
    scale = torch.maximum(rms, rms_prev)
    vl, vh = zl[:, idx], zh[:, idx]  # (I, U, k)
    ri, rt = [], []
    if k > 1:
        p, q = torch.triu_indices(k, k, 1, device=z.device)
        gl = vl[:, :, p] - vl[:, :, q]
        gh = vh[:, :, p] - vh[:, :, q]
        bad = (pad[:, p] | pad[:, q]).unsqueeze(0)
        gl = gl.masked_fill(bad, 0.0)

        def mag(ix):
            ii, uu, pp = ix
            a, b = p[pp], q[pp]
            m = torch.maximum(vl[ii, uu, a].abs(), vl[ii, uu, b].abs())
            m = torch.maximum(m, torch.maximum(vh[ii, uu, a].abs(), vh[ii, uu, b].abs()))
            return torch.maximum(m, scale[ii])

        ii, tt = _crossings(gl, gh, lo, hi, mag, atol)
        ri.append(ii)
        rt.append(tt)
    split = _split(lo, hi, torch.cat(ri), torch.cat(rt), t_tol) if ri else None
    if split is None:
        par, zc, sc = None, z, scale
    else:
        lo, hi, par = split
        zc, sc, rms = z.index_select(0, par), scale[par], rms[par]
    mid = 0.5 * (lo + hi)
    vm = torch.addcmul(zc[:, 0], zc[:, 1], mid.unsqueeze(1))[:, idx]
    if bool(pad.any()):
        vm = vm.masked_fill(pad.unsqueeze(0), float("-inf"))
    top = vm.amax(-1, keepdim=True)
    tol = atol * torch.maximum(top.abs(), sc.view(-1, 1, 1))
    # arguments tied with the maximum (identical on the interval) resolve to the smallest index
    choice = (vm >= top - tol).to(torch.uint8).argmax(-1)
    codes = choice.to(torch.int16)
    if par is not None:
        merged = _merge_equal(par, codes)
        if merged is not None:
            starts, ends = merged
            lo, hi, par = lo[starts], hi[ends], par[starts]
            zc, codes, choice, rms = zc[starts], codes[starts], choice[starts], rms[starts]
        if par.numel() == I:
            par = None
    return lo, hi, par, zc, codes, choice, rms


def _apply_max(op: MaxOp, zc: Tensor, choice: Tensor) -> Tensor:
    k = op.index.shape[1]
    units = torch.arange(op.index.shape[0], device=zc.device) * k
    src = op.index.reshape(-1)[units.unsqueeze(0) + choice]  # (I, U)
    return zc.gather(2, src.unsqueeze(1).expand(-1, zc.shape[1], -1))


def _push_linear(op, args: list[Tensor], I: int, out_shape) -> Tensor:
    out = op.linear(*[a.reshape(I * 2, *a.shape[2:]) for a in args])
    out = out.reshape(I, 2, *out_shape)
    off = op.offset
    if off is not None:
        # ``linear`` may return a view of (or the very) input tensor (reshape, identity
        # scale); never add the offset into a tensor another node still reads.
        ptr = out.untyped_storage().data_ptr()
        if any(a.untyped_storage().data_ptr() == ptr for a in args):
            out = out.clone()
        out[:, 0] += off
    return out


def _run_chunk(net: CPWLNetwork, a: Tensor, d: Tensor, numerics: Numerics, stop: int) -> dict:
    """Partition the segments ``a + t d`` (``t`` in ``[0, 1]``) of one chunk."""
    dev, dt = a.device, a.dtype
    B = a.shape[0]
    atol = float(numerics.atol)
    t_tol = atol  # t runs over [0, 1], so the tolerance is relative to the segment
    lo = torch.zeros(B, dtype=dt, device=dev)
    hi = torch.ones(B, dtype=dt, device=dev)
    seg = torch.arange(B, device=dev)
    rms_prev = torch.zeros(B, dtype=dt, device=dev)
    nodes, last = net.nodes, net.last_use
    values: dict[int, Tensor] = {0: torch.stack([a, d], 1).reshape(B, 2, *net.input_shape)}
    levels = []  # per nonlinear node: (codes, seg, par into the previous level, unit offset)
    unit_off = 0
    for i in range(1, stop + 1):
        node = nodes[i]
        op = node.op
        args = [values[j] for j in node.inputs]
        for j in set(node.inputs):
            if last[j] <= i:
                del values[j]
        I = lo.numel()
        if op.kind == "linear":
            values[i] = _push_linear(op, args, I, node.shape)
            continue
        z = args[0].reshape(I, 2, -1)
        del args
        if op.kind == "univariate":
            lo, hi, par, zc, codes, choice, rms = _refine_univariate(op, z, lo, hi, rms_prev, atol, t_tol)
            out = _apply_univariate(op, zc, choice)
        else:
            lo, hi, par, zc, codes, choice, rms = _refine_max(op, z, lo, hi, rms_prev, atol, t_tol)
            out = _apply_max(op, zc, choice)
        del z, zc, choice
        if par is not None:
            seg = seg[par]
            for j in list(values):
                values[j] = values[j].index_select(0, par)
        rms_prev = rms
        values[i] = out.reshape(out.shape[0], 2, *node.shape)
        levels.append((codes, seg, par, unit_off))
        unit_off += codes.shape[1]
    out = values[stop]
    I = lo.numel()
    out = out.reshape(I, 2, -1)
    if not bool(torch.isfinite(out).all()):
        raise NumericalError(
            "The network's output along a segment is not finite (overflow); rescale the inputs "
            "or the weights, or use float64 numerics."
        )
    patterns = _collect_patterns(levels, seg, B, unit_off, I)
    return {"lo": lo, "hi": hi, "seg": seg, "out": out, "rms": rms_prev, **patterns}


def _collect_patterns(levels, seg_final, B, N, I_final) -> dict:
    """First pattern of every segment and the sparse pattern changes between consecutive pieces."""
    dev = seg_final.device
    first = torch.zeros((B, N), dtype=torch.int16, device=dev)
    c_piece, c_unit, c_delta = [], [], []
    F = torch.arange(I_final, device=dev)  # first final piece of every interval of a level
    for codes, seg, par, off in reversed(levels):
        Il, Ul = codes.shape
        counts = torch.bincount(seg, minlength=B)
        seg_first = torch.cumsum(counts, 0) - counts
        first[:, off : off + Ul] = codes[seg_first]
        if Il > 1:
            same = seg[1:] == seg[:-1]
            jj, uu = torch.nonzero((codes[1:] != codes[:-1]) & same.unsqueeze(1), as_tuple=True)
            c_piece.append(F[jj + 1])
            c_unit.append(uu + off)
            c_delta.append(codes[jj + 1, uu] - codes[jj, uu])
        if par is not None:
            cnt = torch.bincount(par, minlength=int(par[-1]) + 1)
            F = F[torch.cumsum(cnt, 0) - cnt]
    if c_piece:
        piece, unit, delta = torch.cat(c_piece), torch.cat(c_unit), torch.cat(c_delta)
        order = torch.argsort(piece * max(N, 1) + unit)
        piece, unit, delta = piece[order], unit[order], delta[order]
    else:
        piece = unit = torch.zeros(0, dtype=torch.long, device=dev)
        delta = torch.zeros(0, dtype=torch.int16, device=dev)
    return {"first": first, "c_piece": piece, "c_unit": unit, "c_delta": delta}


# ----------------------------------------------------------------- batched driver


def _auto_chunk_size(net: CPWLNetwork, B: int) -> int:
    widest = max((n.size for n in net.nodes[1:]), default=1)
    # a generic network meets about one region per unit along a segment (measures.md §1)
    est_intervals = 1 + min(net.num_units, 4096)
    per_segment = est_intervals * widest * 2 * 8 * 3
    budget = _CPU_BUDGET
    if net.device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(net.device)
        budget = int(free * _GPU_FRACTION)
    return int(max(1, min(B, budget // max(per_segment, 1))))


def _finish_chunk(res: dict, Bc: int, atol: float, return_maps: bool) -> dict:
    """Counts, linear pieces and local indices of one chunk, moved to the CPU."""
    lo, hi, seg, out, rms = res["lo"], res["hi"], res["seg"], res["out"], res["rms"]
    I = lo.numel()
    counts = torch.bincount(seg, minlength=Bc)
    piece_start = torch.cumsum(counts, 0) - counts
    c, d = out[:, 0], out[:, 1]
    kink = torch.zeros(max(I - 1, 0), dtype=torch.long, device=lo.device)
    if I > 1 and c.shape[1] > 0:
        y = torch.addcmul(c[:-1], d[:-1], hi[:-1].unsqueeze(1))
        jump = (d[1:] - d[:-1]).abs().amax(1)
        dabs = d.abs().amax(1)
        scale = torch.maximum(torch.maximum(dabs[1:], dabs[:-1]), y.abs().amax(1))
        scale = torch.maximum(scale, torch.maximum(rms[1:], rms[:-1]))
        kink = ((jump > atol * scale) & (seg[1:] == seg[:-1])).long()
    lp = torch.cat([kink.new_zeros(1), torch.cumsum(kink, 0)]) if I else kink
    lp = lp - lp[piece_start[seg]]
    cp = res["c_piece"]
    cseg = seg[cp]
    edges = torch.empty(I + Bc, dtype=lo.dtype, device=lo.device)
    edges[torch.arange(I, device=lo.device) + seg] = lo
    edges[piece_start + counts + torch.arange(Bc, device=lo.device)] = 1.0
    return {
        "t": edges.cpu(),
        "counts": counts.cpu(),
        "first": res["first"].cpu(),
        "c_counts": torch.bincount(cseg, minlength=Bc).cpu(),
        "c_piece": (cp - piece_start[cseg]).cpu(),
        "c_unit": res["c_unit"].cpu(),
        "c_delta": res["c_delta"].cpu(),
        "value": c.cpu() if return_maps else None,
        "slope": d.cpu() if return_maps else None,
        "lp": lp.cpu(),
    }


def _partition_many(net, A, Bp, numerics, chunk_size, progress, return_maps, t0) -> SegmentPartitionBatch:
    """Partition the segments ``A[i] -> Bp[i]`` (flat, on the network's device)."""
    B = A.shape[0]
    if chunk_size is None:
        chunk_size = _auto_chunk_size(net, B)
    elif not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise InvalidParameterError(f"The 'chunk_size' parameter must be a positive int or None. Got {chunk_size!r} instead.")
    starts = range(0, B, chunk_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=-(-B // chunk_size), desc="segments", unit="chunk")
    parts = []
    with torch.no_grad(), exact_mode(numerics):
        D = Bp - A
        for s in starts:
            e = min(s + chunk_size, B)
            res = _run_chunk(net, A[s:e], D[s:e], numerics, net.output_node)
            parts.append(_finish_chunk(res, e - s, float(numerics.atol), return_maps))
            del res
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
    Layer-by-layer interval splitting (measures.md §1; the 1-D case of edge
    subdivision, Berzins 2023, arXiv:2306.07212): cost about
    ``regions x width`` per layer plus the linear layers applied to two columns per
    interval. A zero-length segment gives one region. A unit identically on a
    breakpoint over a region is coded ``-j`` and splits nothing.

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
    """Join leg partitions into one path partition, merging regions across unchanged vertices."""
    L = len(batch)
    N = batch.first_patterns.shape[1]
    counts = batch.num_regions
    po = batch.piece_offsets
    R = int(po[-1])
    leg_of_change = torch.repeat_interleave(torch.arange(L), batch.change_offsets[1:] - batch.change_offsets[:-1])
    last = batch.first_patterns.to(torch.int32).index_put(
        (leg_of_change, batch.change_unit), batch.change_delta.to(torch.int32), accumulate=True
    )
    first = batch.first_patterns.to(torch.int32)
    # region g continues region g - 1 when it opens a leg with an unchanged pattern
    cont = torch.zeros(R, dtype=torch.bool)
    at_vertex = torch.zeros(R, dtype=torch.bool)
    if L > 1:
        same = (last[:-1] == first[1:]).all(1)
        cont[po[1:-1]] = same
        at_vertex[po[1:-1]] = True
    new_index = torch.cumsum((~cont).long(), 0) - 1
    R2 = int(new_index[-1]) + 1
    leg_of_piece = torch.repeat_interleave(torch.arange(L), counts)
    local = torch.arange(R) - po[leg_of_piece]
    lo = batch.t[torch.arange(R) + leg_of_piece] + leg_of_piece.to(torch.float64)
    t = torch.empty(R2 + 1, dtype=torch.float64)
    t[new_index[~cont]] = lo[~cont]
    t[-1] = float(L)
    t[0] = 0.0
    # pattern changes inside legs keep their unit/delta; only their region index moves
    cp = batch.change_piece + po[leg_of_change]
    c_piece = [new_index[cp]]
    c_unit = [batch.change_unit]
    c_delta = [batch.change_delta]
    if L > 1:
        legs_changed = (~same).nonzero().squeeze(1)
        ll, uu = (last[legs_changed] != first[legs_changed + 1]).nonzero(as_tuple=True)
        lg = legs_changed[ll]
        c_piece.append(new_index[po[lg + 1]])
        c_unit.append(uu)
        c_delta.append((first[lg + 1, uu] - last[lg, uu]).to(torch.int16))
    piece, unit, delta = torch.cat(c_piece), torch.cat(c_unit), torch.cat(c_delta)
    order = torch.argsort(piece * max(N, 1) + unit)
    # linear pieces: inside a leg from the leg's forms; across a vertex, kept apart
    kink = torch.zeros(R, dtype=torch.long)
    inner = (local > 0) & ~cont
    prev = torch.arange(R) - 1
    kink[inner] = (batch.linear_piece[inner] != batch.linear_piece[prev[inner]]).long()
    kink[at_vertex & ~cont] = 1
    lp = torch.cumsum(kink[~cont], 0)
    return PathPartition(
        t=t,
        vertices=verts,
        closed=closed,
        first_pattern=batch.first_patterns[0].clone(),
        change_piece=piece[order],
        change_unit=unit[order],
        change_delta=delta[order],
        linear_piece=lp - lp[0],
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
