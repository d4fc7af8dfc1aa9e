"""The exact 2-D partition engine: layer-wise refinement of convex polygons.

State: a set of convex polygons in plane coordinates that partition the domain, the
affine forms (``(R, 3, n)``: constant, d/dp1, d/dp2) of every live IR value on each
polygon, and adjacency records ``(region_i, region_j, shared segment)``.

For each nonlinear node, every polygon is refined so that the node's pattern is
constant on each piece:

* univariate nodes: split by each level line ``z_u = t_j`` that crosses the polygon;
  the lines of all polygons are processed in lock step (step ``k`` applies each
  polygon's ``k``-th crossing line to all its current fragments);
* max nodes: for each unit whose arg-max varies over the polygon, split by the tie
  lines of its candidate arguments, then merge the fragments with the same arg-max
  (they form one convex cell, rebuilt exactly by clipping).

Adjacency records are split and relabelled with the polygons, so the dual graph
(with the exact shared segments) comes for free.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import _polygon as poly


class PlaneState:
    """Polygons, per-polygon carried tensors and adjacency records."""

    def __init__(self, P: Tensor, nv: Tensor, atol: float):
        self.P = P
        self.nv = nv
        self.atol = atol
        dev = P.device
        self.rec_ids = torch.zeros((0, 2), dtype=torch.long, device=dev)
        self.rec_seg = torch.zeros((0, 2, 2), dtype=P.dtype, device=dev)
        self.carry: dict[str, Tensor] = {}

    @property
    def num(self) -> int:
        return self.P.shape[0]

    # ------------------------------------------------------------------ primitives

    def line_values(self, idx: Tensor, g: Tensor, h: Tensor) -> Tensor:
        Pa = self.P[idx]
        return (Pa * g.unsqueeze(1)).sum(-1) + h.unsqueeze(1)

    def split_step(self, idx: Tensor, g: Tensor, h: Tensor, tol: Tensor):
        """Split fragments ``idx`` by lines ``g . p + h = 0``.

        Returns ``side`` (``(A,)`` int8: +1/-1 for unsplit fragments, 0 for split
        ones), the split fragment ids (they keep the positive part) and the new ids of
        their negative parts.
        """
        nva = self.nv[idx]
        vals = self.line_values(idx, g, h)
        cls = poly.classify(vals, nva, tol)
        has_pos = (cls > 0).any(1)
        has_neg = (cls < 0).any(1)
        sp = has_pos & has_neg
        side = torch.where(has_pos, 1, torch.where(has_neg, -1, 0)).to(torch.int8)
        side[sp] = 0
        if not bool(sp.any()):
            empty = idx[:0]
            return side, empty, empty
        S = idx[sp]
        Pp, np_, Pn, nn_, cut = poly.split(self.P[S], nva[sp], vals[sp], cls[sp])
        V = max(self.P.shape[1], Pp.shape[1], Pn.shape[1])
        self.P = poly.pad_to(self.P, V)
        F = self.num
        self.P[S] = poly.pad_to(Pp, V)
        self.nv[S] = np_
        new_ids = torch.arange(F, F + S.shape[0], device=S.device)
        self.P = torch.cat([self.P, poly.pad_to(Pn, V)], 0)
        self.nv = torch.cat([self.nv, nn_], 0)
        for k, t in self.carry.items():
            self.carry[k] = torch.cat([t, t[S]], 0)
        self._split_records(F, S, new_ids, g[sp], h[sp], tol[sp])
        self.rec_ids = torch.cat([self.rec_ids, torch.stack([S, new_ids], 1)], 0)
        self.rec_seg = torch.cat([self.rec_seg, cut], 0)
        return side, S, new_ids

    def _split_records(self, F, S, new_ids, g, h, tol):
        if self.rec_ids.shape[0] == 0:
            return
        lut = torch.full((F,), -1, dtype=torch.long, device=S.device)
        lut[S] = torch.arange(S.shape[0], device=S.device)
        for end in (0, 1):
            k_all = lut[self.rec_ids[:, end]]
            sel = (k_all >= 0).nonzero().squeeze(1)
            if sel.numel() == 0:
                continue
            k = k_all[sel]
            seg = self.rec_seg[sel]
            gv, hv, tv = g[k], h[k], tol[k]
            va = (seg[:, 0] * gv).sum(-1) + hv
            vb = (seg[:, 1] * gv).sum(-1) + hv
            ca = (va > tv).to(torch.int8) - (va < -tv).to(torch.int8)
            cb = (vb > tv).to(torch.int8) - (vb < -tv).to(torch.int8)
            to_neg = (ca <= 0) & (cb <= 0) & ~((ca == 0) & (cb == 0))
            crossing = (ca.to(torch.int16) * cb.to(torch.int16)) < 0
            if bool(to_neg.any()):
                self.rec_ids[sel[to_neg], end] = new_ids[k[to_neg]]
            if bool(crossing.any()):
                cs = sel[crossing]
                a, b = seg[crossing, 0], seg[crossing, 1]
                va_c, vb_c = va[crossing], vb[crossing]
                X = a + (va_c / (va_c - vb_c)).unsqueeze(1) * (b - a)
                a_pos = (ca[crossing] > 0).unsqueeze(1)
                pos_end = torch.where(a_pos, a, b)
                neg_end = torch.where(a_pos, b, a)
                self.rec_seg[cs] = torch.stack([pos_end, X], 1)
                new_rec = self.rec_ids[cs].clone()
                new_rec[:, end] = new_ids[k[crossing]]
                self.rec_ids = torch.cat([self.rec_ids, new_rec], 0)
                self.rec_seg = torch.cat([self.rec_seg, torch.stack([X, neg_end], 1)], 0)

    def clip_step(self, idx: Tensor, g: Tensor, h: Tensor, tol: Tensor) -> None:
        """Intersect fragments ``idx`` with half-planes ``g . p + h >= 0`` (no records kept)."""
        nva = self.nv[idx]
        vals = self.line_values(idx, g, h)
        cls = poly.classify(vals, nva, tol)
        cut = (cls < 0).any(1)
        if not bool(cut.any()):
            return
        C = idx[cut]
        Pc, nc = poly.clip(self.P[C], nva[cut], vals[cut], cls[cut])
        V = max(self.P.shape[1], Pc.shape[1])
        self.P = poly.pad_to(self.P, V)
        self.P[C] = poly.pad_to(Pc, V)
        self.nv[C] = nc

    def relabel(self, mapping: Tensor, keep: Tensor, P: Tensor, nv: Tensor) -> None:
        """Replace the fragments by ``P, nv``: fragment ``i`` becomes ``mapping[i]``.

        Records between fragments that map to the same new id are dropped; ``keep``
        selects, for each new id, the old fragment whose carried tensors it keeps.
        """
        self.P, self.nv = P, nv
        for k, t in self.carry.items():
            self.carry[k] = t[keep]
        if self.rec_ids.shape[0]:
            ids = mapping[self.rec_ids]
            ok = (ids[:, 0] != ids[:, 1]) & (ids >= 0).all(1)
            self.rec_ids = ids[ok]
            self.rec_seg = self.rec_seg[ok]

    def gather(self, keep: Tensor) -> None:
        """Keep only fragments ``keep`` (in that order); records to dropped ones vanish."""
        mapping = torch.full((self.num,), -1, dtype=torch.long, device=keep.device)
        mapping[keep] = torch.arange(keep.shape[0], device=keep.device)
        self.relabel(mapping, keep, self.P[keep], self.nv[keep])


def _scale_tol(vals_absmax: Tensor, atol: float) -> Tensor:
    return atol * (1.0 + vals_absmax)


def _vertex_values(state: PlaneState, z: Tensor, chunk: int = 1 << 22):
    """Min, max and max-abs over each polygon's vertices of every unit's value.

    ``z``: forms ``(R, 3, U)``. Returns three ``(R, U)`` tensors.
    """
    R, _, U = z.shape
    V = state.P.shape[1]
    valid = poly.valid_mask(state.nv, V)
    vmin = torch.empty((R, U), dtype=z.dtype, device=z.device)
    vmax = torch.empty_like(vmin)
    step = max(1, chunk // max(1, V * U))
    for s in range(0, R, step):
        e = min(R, s + step)
        vals = torch.baddbmm(z[s:e, 0:1, :], state.P[s:e], z[s:e, 1:3, :])  # (r, V, U)
        m = valid[s:e].unsqueeze(-1)
        inf = torch.tensor(float("inf"), dtype=z.dtype, device=z.device)
        vmin[s:e] = torch.where(m, vals, inf).amin(1)
        vmax[s:e] = torch.where(m, vals, -inf).amax(1)
    return vmin, vmax, torch.maximum(vmin.abs(), vmax.abs())


def refine_univariate(state: PlaneState, z: Tensor, op, progress=None):
    """Refine the polygons by a univariate node with input forms ``z`` ``(R, 3, U)``.

    Returns ``(parent, choice, pattern)``: for each fragment its polygon before the
    node, the frozen piece per unit, and the pattern codes.
    """
    R, _, U = z.shape
    dev = z.device
    bp, _, _ = op.unit_tables(U)
    K = bp.shape[1]
    vmin, vmax, vabs = _vertex_values(state, z)
    tol = _scale_tol(vabs, state.atol)  # (R, U)
    lo = vmin.unsqueeze(-1) - bp.unsqueeze(0)  # (R, U, K): min of z - t_j
    hi = vmax.unsqueeze(-1) - bp.unsqueeze(0)
    t3 = tol.unsqueeze(-1)
    crossing = (lo < -t3) & (hi > t3)
    on = (lo >= -t3) & (hi <= t3)
    above = (~crossing) & (~on) & (hi > t3)
    base = above.sum(-1)  # pieces counted from breakpoints entirely below the polygon
    on_any = on.any(-1)
    on_code = -(on.to(torch.int8).argmax(-1) + 1)

    r_idx, u_idx, j_idx = crossing.nonzero(as_tuple=True)
    ct = torch.bincount(r_idx, minlength=R)
    start = ct.cumsum(0) - ct
    state.carry["par"] = torch.arange(R, device=dev)
    state.carry["inc"] = torch.zeros((R, U), dtype=torch.int16, device=dev)
    steps = int(ct.max().item()) if R and r_idx.numel() else 0
    g_all = z[:, 1:3, :]  # (R, 2, U)
    for k in range(steps):
        par = state.carry["par"]
        act = (ct[par] > k).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        pr = par[act]
        li = start[pr] + k
        u, j = u_idx[li], j_idx[li]
        g = g_all[pr, :, u]
        h = z[pr, 0, u] - bp[u, j]
        side, S, new_ids = state.split_step(act, g, h, tol[pr, u])
        inc = state.carry["inc"]
        up = side > 0
        if bool(up.any()):
            inc[act[up], u[up]] += 1
        if S.numel():
            # positive parts keep the old id; S is a subset of act in the same order
            pos_u = u[side == 0]
            inc[S, pos_u] += 1
        if progress is not None:
            progress()
    par = state.carry.pop("par")
    inc = state.carry.pop("inc")
    choice = base[par] + inc.to(base.dtype)
    pattern = torch.where(on_any[par], on_code[par].to(choice.dtype), choice).to(torch.int16)
    return par, choice, pattern


def _max_args(z: Tensor, index: Tensor) -> Tensor:
    """Argument forms ``(R, 3, U, k)`` of a max node (absent entries are NaN-free zeros)."""
    return z[:, :, index.clamp_min(0)]


def refine_max(state: PlaneState, z: Tensor, index: Tensor, progress=None):
    """Refine the polygons by a max node (``index`` ``(U, k)``) with input forms ``z``.

    Returns ``(parent, choice, pattern)`` as :func:`refine_univariate`; ``choice`` is
    the arg-max per unit. Also returns, through ``state``, the records between merged
    cells (used for decision boundaries).
    """
    R = z.shape[0]
    U, k = index.shape
    dev, dt = z.device, z.dtype
    present = index >= 0  # (U, k)
    args = _max_args(z, index)  # (R, 3, U, k)
    V = state.P.shape[1]
    valid = poly.valid_mask(state.nv, V)
    # values at vertices, chunked over regions: (r, V, U, k)
    const_arg = torch.zeros((R, U), dtype=torch.long, device=dev)
    active = torch.zeros((R, U), dtype=torch.bool, device=dev)
    cand = torch.zeros((R, U, k), dtype=torch.bool, device=dev)
    tol = torch.zeros((R, U), dtype=dt, device=dev)
    step = max(1, (1 << 22) // max(1, V * U * k))
    ninf = torch.tensor(float("-inf"), dtype=dt, device=dev)
    for s in range(0, R, step):
        e = min(R, s + step)
        a = args[s:e]
        vals = a[:, 0].unsqueeze(1) + state.P[s:e, :, 0, None, None] * a[:, 1].unsqueeze(1) + state.P[s:e, :, 1, None, None] * a[:, 2].unsqueeze(1)
        vals = torch.where(present.unsqueeze(0).unsqueeze(0), vals, ninf)
        m = valid[s:e, :, None, None]
        vabs = torch.where(m & present, vals.abs(), torch.zeros((), dtype=dt, device=dev)).amax(1).amax(-1)
        t = _scale_tol(vabs, state.atol)  # (r, U)
        tol[s:e] = t
        vmax_all = vals.amax(-1, keepdim=True)  # (r, V, U, 1)
        near = (vals >= vmax_all - t[:, None, :, None]) | ~m  # (r, V, U, k)
        always = near.all(1) & present.unsqueeze(0)  # (r, U, k)
        const_arg[s:e] = always.to(torch.int8).argmax(-1)
        active[s:e] = ~always.any(-1)
        big = torch.tensor(float("inf"), dtype=dt, device=dev)
        vmin_b = torch.where(m, vals, big).amin(1)  # (r, U, k)
        vmax_b = torch.where(m, vals, ninf).amax(1)
        lower = torch.where(present.unsqueeze(0), vmin_b, ninf).amax(-1, keepdim=True)
        cand[s:e] = present.unsqueeze(0) & (vmax_b >= lower - t.unsqueeze(-1))

    r_idx, u_idx = active.nonzero(as_tuple=True)
    ct = torch.bincount(r_idx, minlength=R)
    start = ct.cumsum(0) - ct
    state.carry["par"] = torch.arange(R, device=dev)
    state.carry["pat"] = const_arg.clone()
    slots = int(ct.max().item()) if R and r_idx.numel() else 0
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    for s in range(slots):
        par = state.carry["par"]
        act = (ct[par] > s).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        # slot parents: every fragment active in this slot records where it came from
        F0 = state.num
        state.carry["sp"] = torch.arange(F0, device=dev)
        state.carry["unit"] = torch.full((F0,), -1, dtype=torch.long, device=dev)
        pr = par[act]
        state.carry["unit"][act] = u_idx[start[pr] + s]
        P_slot, nv_slot = state.P.clone(), state.nv.clone()
        for a, b in pairs:
            par = state.carry["par"]
            unit = state.carry["unit"]
            sel = (unit >= 0).nonzero().squeeze(1)
            if sel.numel() == 0:
                break
            pr, uu = par[sel], unit[sel]
            ok = cand[pr, uu, a] & cand[pr, uu, b]
            sel, pr, uu = sel[ok], pr[ok], uu[ok]
            if sel.numel() == 0:
                continue
            g = args[pr, 1:3, uu, a] - args[pr, 1:3, uu, b]
            h = args[pr, 0, uu, a] - args[pr, 0, uu, b]
            state.split_step(sel, g, h, tol[pr, uu])
        # arg-max of each active fragment at an interior point
        par, unit, sp = state.carry["par"], state.carry["unit"], state.carry["sp"]
        sel = (unit >= 0).nonzero().squeeze(1)
        pr, uu = par[sel], unit[sel]
        c = poly.vertex_mean(state.P[sel], state.nv[sel])
        av = args[pr, 0, uu, :] + c[:, 0:1] * args[pr, 1, uu, :] + c[:, 1:2] * args[pr, 2, uu, :]
        av = torch.where(cand[pr, uu], av, ninf)
        mx = av.amax(-1, keepdim=True)
        am = (av >= mx - tol[pr, uu].unsqueeze(-1)).to(torch.int8).argmax(-1)
        state.carry["pat"][sel, uu] = am
        # merge fragments of one slot parent with the same arg-max into one cell
        key = torch.full((state.num,), -1, dtype=torch.long, device=dev)
        key = sp * (k + 1) + k  # inactive fragments: their own group
        key = key.clone()
        key[sel] = sp[sel] * (k + 1) + am
        uniq, mapping, counts = torch.unique(key, return_inverse=True, return_counts=True)
        G = uniq.shape[0]
        first = torch.full((G,), state.num, dtype=torch.long, device=dev)
        first.scatter_reduce_(0, mapping, torch.arange(state.num, device=dev), reduce="amin")
        P_new, nv_new = state.P[first].clone(), state.nv[first].clone()
        multi = (counts[mapping[first]] > 1).nonzero().squeeze(1)
        if multi.numel():
            # rebuild merged cells exactly: slot-parent polygon ∩ {z_a >= z_b}
            src = first[multi]
            sub = PlaneState(P_slot[sp[src]].clone(), nv_slot[sp[src]].clone(), state.atol)
            pr_m, uu_m, am_m = par[src], unit[src], state.carry["pat"][src, unit[src]]
            for b in range(k):
                okb = cand[pr_m, uu_m, b] & (am_m != b)
                ids = okb.nonzero().squeeze(1)
                if ids.numel() == 0:
                    continue
                g = args[pr_m[ids], 1:3, uu_m[ids], am_m[ids]] - args[pr_m[ids], 1:3, uu_m[ids], b]
                h = args[pr_m[ids], 0, uu_m[ids], am_m[ids]] - args[pr_m[ids], 0, uu_m[ids], b]
                sub.clip_step(ids, g, h, tol[pr_m[ids], uu_m[ids]])
            Vn = max(P_new.shape[1], sub.P.shape[1])
            P_new = poly.pad_to(P_new, Vn)
            P_new[multi] = poly.pad_to(sub.P, Vn)
            nv_new[multi] = sub.nv
        state.relabel(mapping, first, P_new, nv_new)
        del state.carry["sp"], state.carry["unit"]
        if progress is not None:
            progress()
    par = state.carry.pop("par")
    pat = state.carry.pop("pat")
    return par, pat, pat.to(torch.int16)
