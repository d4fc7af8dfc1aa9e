"""The exact 2-D partition engine: layer-wise refinement of convex polygons.

State: a set of convex polygons in plane coordinates that partition the domain, the
affine forms (``(R, 3, n)``: constant, d/dp1, d/dp2) of every live IR value on each
polygon, and adjacency records ``(region_i, region_j, shared segment)``.

For each nonlinear node, every polygon is refined so that the node's pattern is
constant on each piece:

* univariate nodes: split by each level line ``z_u = t_j`` that crosses the polygon;
  every fragment walks through its polygon's crossing lines (in a fixed pseudo-random
  order), a window of lines per step, and is split at the first one that cuts it;
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
    """Polygons, per-polygon carried tensors and adjacency records.

    Storage is preallocated with geometric growth so that appending the pieces of
    split polygons costs amortised O(1) per piece instead of a copy per step.
    """

    def __init__(self, P: Tensor, nv: Tensor, atol: float):
        self._P = P
        self._nv = nv
        self.n = P.shape[0]
        self.atol = atol
        dev = P.device
        self._rid = torch.zeros((0, 2), dtype=torch.long, device=dev)
        self._rseg = torch.zeros((0, 2, 2), dtype=P.dtype, device=dev)
        self.ne = 0
        self._carry: dict[str, Tensor] = {}

    # storage views ------------------------------------------------------------------

    @property
    def P(self) -> Tensor:
        return self._P[: self.n]

    @property
    def nv(self) -> Tensor:
        return self._nv[: self.n]

    @property
    def num(self) -> int:
        return self.n

    @property
    def rec_ids(self) -> Tensor:
        return self._rid[: self.ne]

    @property
    def rec_seg(self) -> Tensor:
        return self._rseg[: self.ne]

    def carry_get(self, name: str) -> Tensor:
        return self._carry[name][: self.n]

    def carry_set(self, name: str, value: Tensor) -> None:
        self._carry[name] = value

    def carry_pop(self, name: str) -> Tensor:
        return self._carry.pop(name)[: self.n]

    @staticmethod
    def _grow(buf: Tensor, need: int) -> Tensor:
        if buf.shape[0] >= need:
            return buf
        cap = max(need, 2 * buf.shape[0], 16)
        out = buf.new_zeros((cap, *buf.shape[1:]))
        out[: buf.shape[0]] = buf
        return out

    def _widen(self, V: int) -> None:
        if self._P.shape[1] < V:
            self._P = torch.cat([self._P, self._P.new_zeros(self._P.shape[0], V - self._P.shape[1], 2)], 1)

    def _append_polys(self, Pn: Tensor, nn_: Tensor, src: Tensor) -> Tensor:
        m = Pn.shape[0]
        need = self.n + m
        self._P = self._grow(self._P, need)
        self._nv = self._grow(self._nv, need)
        self._widen(Pn.shape[1])
        self._P[self.n:need, : Pn.shape[1]] = Pn
        if Pn.shape[1] < self._P.shape[1]:
            self._P[self.n:need, Pn.shape[1]:] = 0
        self._nv[self.n:need] = nn_
        for k, t in self._carry.items():
            t = self._grow(t, need)
            t[self.n:need] = t[src]
            self._carry[k] = t
        ids = torch.arange(self.n, need, device=Pn.device)
        self.n = need
        return ids

    def _append_records(self, ids: Tensor, seg: Tensor) -> None:
        need = self.ne + ids.shape[0]
        self._rid = self._grow(self._rid, need)
        self._rseg = self._grow(self._rseg, need)
        self._rid[self.ne:need] = ids
        self._rseg[self.ne:need] = seg
        self.ne = need

    # ------------------------------------------------------------------ primitives

    def line_values(self, idx: Tensor, g: Tensor, h: Tensor) -> Tensor:
        Pa = self.P[idx]
        return Pa[..., 0] * g[:, 0:1] + Pa[..., 1] * g[:, 1:2] + h.unsqueeze(1)

    def split_step(self, idx: Tensor, g: Tensor, h: Tensor, tol: Tensor) -> Tensor:
        """Split those fragments ``idx`` that lines ``g . p + h = 0`` cut; return their ids.

        A split fragment keeps its id for the positive part; the negative part is
        appended.
        """
        nva = self.nv[idx]
        vals = self.line_values(idx, g, h)
        cls = poly.classify(vals, nva, tol)
        sp = (cls > 0).any(1) & (cls < 0).any(1)
        if not bool(sp.any()):
            return idx[:0]
        S = idx[sp]
        self.split_known(S, g[sp], h[sp], tol[sp], vals[sp], cls[sp], nva[sp])
        return S

    def split_known(self, S, g, h, tol, vals, cls=None, nva=None) -> Tensor:
        """Split fragments ``S`` known to be cut by their lines (``vals`` at their vertices).

        ``tol`` is one tolerance per fragment or one per vertex; returns the ids of the
        appended negative parts.
        """
        if nva is None:
            nva = self.nv[S]
        if cls is None:
            cls = poly.classify(vals, nva, tol)
        Pp, np_, Pn, nn_, cut = poly.split_both(self.P[S], nva, vals, cls)
        self._widen(Pp.shape[1])
        V = self._P.shape[1]
        self._P[S] = poly.pad_to(Pp, V)
        self._nv[S] = np_
        F = self.n
        new_ids = self._append_polys(Pn, nn_, S)
        self._split_records(F, S, new_ids, g, h)
        self._append_records(torch.stack([S, new_ids], 1), cut)
        return new_ids

    def _split_records(self, F, S, new_ids, g, h):
        """Carry the adjacency records of split fragments over to their two parts.

        A record's segment lies on the boundary of both its fragments; each end that was
        split this step cuts the segment by its line, so a record becomes up to three
        pieces, each assigned to the positive or negative part on either side. Endpoints
        are tested with the same per-point tolerance as polygon vertices.
        """
        if self.ne == 0:
            return
        dev = S.device
        lut = torch.full((F,), -1, dtype=torch.long, device=dev)
        lut[S] = torch.arange(S.shape[0], device=dev)
        rid = self._rid[: self.ne]
        k0 = lut[rid[:, 0]]
        k1 = lut[rid[:, 1]]
        sel = ((k0 >= 0) | (k1 >= 0)).nonzero().squeeze(1)
        if sel.numel() == 0:
            return
        k0, k1, ids = k0[sel], k1[sel], rid[sel]
        seg = self._rseg[sel]
        a, b = seg[:, 0], seg[:, 1]
        has = torch.stack([k0 >= 0, k1 >= 0], 1)  # (n, 2)
        kk = torch.stack([k0, k1], 1).clamp_min(0)
        gv, hv = g[kk], h[kk]  # (n, 2, 2), (n, 2)
        va = gv[..., 0] * a[:, 0:1] + gv[..., 1] * a[:, 1:2] + hv
        vb = gv[..., 0] * b[:, 0:1] + gv[..., 1] * b[:, 1:2] + hv
        ga, ha, atol = gv.abs(), hv.abs(), self.atol
        ta = (ga[..., 0] * a[:, 0:1].abs() + ga[..., 1] * a[:, 1:2].abs() + ha).mul_(atol).add_(atol)
        tb = (ga[..., 0] * b[:, 0:1].abs() + ga[..., 1] * b[:, 1:2].abs() + ha).mul_(atol).add_(atol)
        ca = (va > ta).to(torch.int8) - (va < -ta).to(torch.int8)
        cb = (vb > tb).to(torch.int8) - (vb < -tb).to(torch.int8)
        cross = has & ((ca.to(torch.int16) * cb.to(torch.int16)) < 0)
        tcut = torch.where(cross, va / torch.where(cross, va - vb, torch.ones_like(va)), torch.full_like(va, 2.0))
        # side of an uncut segment: negative only if no endpoint is strictly positive
        # and one is strictly negative
        neg_static = (ca <= 0) & (cb <= 0) & ((ca != 0) | (cb != 0))
        t_lo = tcut.amin(1).clamp_max(1.0)
        t_hi = tcut.amax(1).clamp_max(1.0)
        zero = torch.zeros_like(t_lo)
        one = torch.ones_like(t_lo)
        starts = torch.stack([zero, t_lo, t_hi], 1)  # (n, 3)
        ends = torch.stack([t_lo, t_hi, one], 1)
        valid = ends > starts
        mid = 0.5 * (starts + ends)
        # negative side of end e on each piece
        before = mid.unsqueeze(1) < tcut.unsqueeze(2)  # (n, 2, 3)
        neg_cross = torch.where(before, (ca < 0).unsqueeze(2), (cb < 0).unsqueeze(2))
        neg = torch.where(cross.unsqueeze(2), neg_cross, neg_static.unsqueeze(2)) & has.unsqueeze(2)
        newk = new_ids[kk]  # (n, 2)
        pid = torch.where(neg, newk.unsqueeze(2), ids.unsqueeze(2))  # (n, 2, 3)
        d = (b - a).unsqueeze(1)
        pa = torch.addcmul(a.unsqueeze(1), starts.unsqueeze(-1), d)  # (n, 3, 2)
        pb = torch.addcmul(a.unsqueeze(1), ends.unsqueeze(-1), d)
        # the first piece (always non-empty) overwrites the record, others are appended
        self._rid[sel] = pid[:, :, 0]
        self._rseg[sel] = torch.stack([pa[:, 0], pb[:, 0]], 1)
        more = valid[:, 1:]
        if bool(more.any()):
            new_rec = pid[:, :, 1:].transpose(1, 2)[more]  # (m, 2)
            new_seg = torch.stack([pa[:, 1:][more], pb[:, 1:][more]], 1)
            self._append_records(new_rec, new_seg)

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
        self._widen(Pc.shape[1])
        self._P[C] = poly.pad_to(Pc, self._P.shape[1])
        self._nv[C] = nc

    def relabel(self, mapping: Tensor, keep: Tensor, P: Tensor, nv: Tensor) -> None:
        """Replace the fragments by ``P, nv``: fragment ``i`` becomes ``mapping[i]``.

        Records between fragments that map to the same new id are dropped; ``keep``
        selects, for each new id, the old fragment whose carried tensors it keeps.
        """
        self._P, self._nv, self.n = P, nv, P.shape[0]
        for k, t in self._carry.items():
            self._carry[k] = t[keep]
        if self.ne:
            ids = mapping[self.rec_ids]
            ok = (ids[:, 0] != ids[:, 1]) & (ids >= 0).all(1)
            self._rid = ids[ok]
            self._rseg = self.rec_seg[ok]
            self.ne = self._rid.shape[0]

    def gather(self, keep: Tensor) -> None:
        """Keep only fragments ``keep`` (in that order); records to dropped ones vanish."""
        mapping = torch.full((self.num,), -1, dtype=torch.long, device=keep.device)
        mapping[keep] = torch.arange(keep.shape[0], device=keep.device)
        self.relabel(mapping, keep, self.P[keep], self.nv[keep])


WINDOW = 8


def _line_priority(ids: Tensor) -> Tensor:
    """A fixed pseudo-random priority in [0, 2^31) for each line id (integer hash)."""
    x = (ids.to(torch.int64) * 2654435761 + 0x9E3779B9) & 0x7FFFFFFF
    x = (x ^ (x >> 15)) * 2246822519 & 0x7FFFFFFF
    return x ^ (x >> 13)


def _scale_tol(vals_absmax: Tensor, atol: float) -> Tensor:
    return vals_absmax.mul(atol).add_(atol)


def _vertex_values(state: PlaneState, z: Tensor, levels: Tensor, chunk: int = 1 << 21):
    """Where each unit's value lies over each polygon, relative to its levels.

    ``z``: forms ``(R, 3, U)``; ``levels`` ``(U, K)``: the values whose crossing matters.
    A cheap disc bound around the vertex mean settles most (polygon, unit) pairs (far
    from every level); only the others are classified exactly at the vertices.

    Tolerances are per vertex: a value ``g . v + h`` counts as zero when it is within
    ``atol * (1 + |h| + |g_x v_x| + |g_y v_y|)``, the size of the terms that make it up,
    so far-away vertices of a huge polygon do not blunt the tests near the origin. The
    disc test uses an upper bound of that tolerance over the disc.

    Returns ``(below, r_u, u_u, crossing, on, above)``: the number of levels certainly
    below each polygon ``(R, U)`` (valid for settled pairs), the unsettled pairs, and
    their exact per-level flags ``(n, K)``.
    """
    R, _, U = z.shape
    V = state.P.shape[1]
    P, nv = state.P, state.nv
    atol = state.atol
    valid = poly.valid_mask(nv, V)
    c = poly.vertex_mean(P, nv)  # (R, 2)
    d = P - c.unsqueeze(1)
    rho = ((d * d).sum(-1) * valid).amax(1).sqrt()  # (R,)
    z1, z2 = z[:, 1, :], z[:, 2, :]
    gn = (z1 * z1).addcmul_(z2, z2).sqrt_()  # (R, U)
    if levels.shape[1] == 1:
        # One level per unit (the ReLU family): stay in (R, U), no level axis. With
        # h = value at the centre minus the level, |h0| <= |h| + gn |c| bounds the
        # constant term, so tol <= atol (|h| + gn (2|c| + rho)) + atol; the polygon is
        # on one side when |h| - gn rho exceeds that, i.e. |h| (1 - atol) > margin.
        h = (z[:, 0, :] - levels[:, 0]).addcmul_(c[:, 0:1], z1).addcmul_(c[:, 1:2], z2)
        cn = c.norm(dim=1)
        margin = gn.mul_((rho + atol * (2.0 * cn + rho)).unsqueeze(1)).add_(atol)
        h.mul_(1.0 - atol)
        below = (h > margin).to(torch.int16)
        unsure = h.abs_() <= margin
    else:
        zc = torch.addcmul(z[:, 0, :], c[:, 0:1], z1).addcmul_(c[:, 1:2], z2)  # (R, U)
        rad = gn * rho.unsqueeze(1)
        reach = gn * (c.norm(dim=1) + rho).unsqueeze(1)  # >= |g_x v_x| + |g_y v_y| on the disc
        lo = (zc - rad).unsqueeze(-1) - levels.unsqueeze(0)  # (R, U, K)
        hi = (zc + rad).unsqueeze(-1) - levels.unsqueeze(0)
        t3 = ((z[:, 0, :].unsqueeze(-1) - levels.unsqueeze(0)).abs() + reach.unsqueeze(-1)).mul_(atol).add_(atol)
        below = (lo > t3).sum(-1).to(torch.int16)
        unsure = ((lo <= t3) & (hi >= -t3)).any(-1)
    r_u, u_u = unsure.nonzero(as_tuple=True)
    n, K = r_u.numel(), levels.shape[1]
    crossing = torch.zeros((n, K), dtype=torch.bool, device=z.device)
    on = torch.zeros_like(crossing)
    above = torch.zeros_like(crossing)
    step = max(1, chunk // max(1, V * K))
    for s in range(0, n, step):
        rr, uu = r_u[s:s + step], u_u[s:s + step]
        g = z[rr, 1:3, uu]  # (m, 2)
        Pv = P[rr]  # (m, V, 2)
        lin = Pv[..., 0] * g[:, 0:1] + Pv[..., 1] * g[:, 1:2]  # (m, V)
        mag = Pv[..., 0].abs() * g[:, 0:1].abs() + Pv[..., 1].abs() * g[:, 1:2].abs()
        h = z[rr, 0, uu].unsqueeze(-1) - levels[uu]  # (m, K)
        vals = lin.unsqueeze(-1) + h.unsqueeze(1)  # (m, V, K)
        tol = (mag.unsqueeze(-1) + h.abs().unsqueeze(1)).mul_(atol).add_(atol)
        m = valid[rr].unsqueeze(-1)
        pos = ((vals > tol) & m).any(1)  # (m, K)
        neg = ((vals < -tol) & m).any(1)
        crossing[s:s + step] = pos & neg
        on[s:s + step] = ~pos & ~neg
        above[s:s + step] = pos & ~neg
    return below, r_u, u_u, crossing, on, above


def _vertex_tol(P: Tensor, g: Tensor, h: Tensor, atol: float) -> Tensor:
    """Per-vertex zero tolerance ``(..., V)`` of lines ``g . p + h`` (``g`` ``(..., 2)``, ``P`` ``(A, V, 2)``)."""
    if g.dim() == 3:  # (A, W, 2) lines against (A, V, 2) vertices
        return torch.baddbmm(h.abs().unsqueeze(-1), g.abs(), P.abs().transpose(1, 2)).mul_(atol).add_(atol)
    return (P[..., 0].abs() * g[:, 0:1].abs() + P[..., 1].abs() * g[:, 1:2].abs() + h.abs().unsqueeze(1)).mul_(atol).add_(atol)


def refine_univariate(state: PlaneState, z: Tensor, op, *, events: bool = False):
    """Refine the polygons by a univariate node with input forms ``z`` ``(R, 3, U)``.

    Returns ``(parent, choice, pattern)``: for each fragment its polygon before the
    node, the frozen piece per unit, and the pattern codes. With ``events=True`` also
    ``(base, (fragment, unit, level))``: the piece of each unit at the bottom of each
    parent polygon ``(R, U)``, and the level crossings that lift a fragment's piece
    above its parent's base (``choice = base[parent]`` plus one per event).
    """
    R, _, U = z.shape
    dev = z.device
    bp, _, _ = op.unit_tables(U)
    base, r_u, u_u, crossing, on, above = _vertex_values(state, z, bp)
    base[r_u, u_u] = above.sum(-1).to(torch.int16)
    on_rows = on.any(-1)
    on_code = torch.zeros((R, U), dtype=torch.int16, device=dev)
    if bool(on_rows.any()):
        on_code[r_u[on_rows], u_u[on_rows]] = -(on[on_rows].to(torch.int8).argmax(-1) + 1).to(torch.int16)

    row, j_idx = crossing.nonzero(as_tuple=True)
    r_idx, u_idx = r_u[row], u_u[row]
    # Lines are inserted in a fixed pseudo-random order within each region: as in
    # randomised incremental construction, this keeps the number of splits along any
    # lineage logarithmic even when the units' order is spatially sorted (e.g. a grid
    # of parallel lines), and the result does not depend on the order.
    key = _line_priority(u_idx * (bp.shape[1] + 1) + j_idx)
    order = torch.argsort(r_idx * (1 << 31) + key)
    r_idx, u_idx, j_idx = r_idx[order], u_idx[order], j_idx[order]
    ct = torch.bincount(r_idx, minlength=R)
    start = ct.cumsum(0) - ct
    state.carry_set("par", torch.arange(R, device=dev))
    state.carry_set("ptr", torch.zeros(R, dtype=torch.long, device=dev))
    # per crossing line: its coefficients, level and tolerance, gathered once
    g_line = z[r_idx, 1:3, u_idx]  # (L, 2)
    h_line = z[r_idx, 0, u_idx] - bp[u_idx, j_idx]
    # Each fragment walks through its region's crossing lines, testing a window of
    # W lines at a time and splitting at the first one that really cuts it: lines
    # that miss a small fragment are skipped in bulk, so the number of steps grows
    # with the splits along one lineage rather than with the number of lines.
    while r_idx.numel():
        par = state.carry_get("par")
        ptr = state.carry_get("ptr")
        act = (ptr < ct[par]).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        pr = par[act]
        p0 = ptr[act]
        # wide windows only while fragments still have many lines to test
        W = WINDOW if int((ct[pr] - p0).max()) <= 8 * WINDOW else 4 * WINDOW
        wr = torch.arange(W, device=dev)
        pos_w = p0.unsqueeze(1) + wr  # (A, W)
        valid_w = pos_w < ct[pr].unsqueeze(1)
        li = torch.where(valid_w, start[pr].unsqueeze(1) + pos_w, torch.zeros_like(pos_w))
        g = g_line[li]  # (A, W, 2)
        h = h_line[li]
        Pa = state.P[act]
        vals = torch.baddbmm(h.unsqueeze(-1), g, Pa.transpose(1, 2))  # (A, W, V)
        vm = poly.valid_mask(state.nv[act], Pa.shape[1])
        vmask = vm.unsqueeze(1)
        # An upper bound of the per-vertex tolerances settles almost every test; only
        # values inside that band (vertices on or next to a line) get the exact one.
        pmax = (Pa.abs() * vm.unsqueeze(-1)).amax(1)  # (A, 2)
        ga = g.abs()
        thr_max = (ga[..., 0] * pmax[:, 0:1] + ga[..., 1] * pmax[:, 1:2] + h.abs()).mul_(state.atol).add_(state.atol)
        t3 = thr_max.unsqueeze(-1)
        has_pos = ((vals > t3) & vmask).any(-1)
        has_neg = ((vals < -t3) & vmask).any(-1)
        cross = has_pos & has_neg & valid_w
        band = ((vals.abs() <= t3) & vmask).any(-1) & valid_w & ~cross
        if bool(band.any()):
            ia, iw = band.nonzero(as_tuple=True)
            v = vals[ia, iw]
            tv = _vertex_tol(Pa[ia], g[ia, iw], h[ia, iw], state.atol)
            mv = vm[ia]
            cross[ia, iw] = ((v > tv) & mv).any(-1) & ((v < -tv) & mv).any(-1)
        any_cross = cross.any(1)
        first = torch.where(any_cross, cross.to(torch.int8).argmax(1), W)
        ptr[act] = p0 + torch.where(any_cross, first + 1, valid_w.sum(1))
        if bool(any_cross.any()):
            sel = any_cross.nonzero().squeeze(1)
            fw = first[sel]
            # children inherit ptr (already advanced); the positive part keeps the id
            gs, hs = g[sel, fw], h[sel, fw]
            state.split_known(act[sel], gs, hs, _vertex_tol(Pa[sel], gs, hs, state.atol), vals[sel, fw])
    state.carry_pop("ptr")
    par = state.carry_pop("par")
    # Every final fragment lies on one side of each line of its region (it was split
    # by it or does not cross it): count the levels below it from its interior point.
    F = par.shape[0]
    choice = base[par]
    cnt = ct[par]
    total = int(cnt.sum().item()) if F else 0
    ev = (par[:0], par[:0], par[:0])
    if total:
        frag = torch.repeat_interleave(torch.arange(F, device=dev), cnt)
        first_pair = cnt.cumsum(0) - cnt
        li = start[par[frag]] + torch.arange(total, device=dev) - first_pair[frag]
        c = poly.vertex_mean(state.P, state.nv)
        cf, gl = c[frag], g_line[li]
        val = cf[:, 0] * gl[:, 0] + cf[:, 1] * gl[:, 1] + h_line[li]
        up = val > 0
        ev = (frag[up], u_idx[li[up]], j_idx[li[up]])
        choice.index_put_(ev[:2], torch.ones(ev[0].numel(), dtype=choice.dtype, device=dev), accumulate=True)
    oc = on_code[par]
    pattern = torch.where(oc != 0, oc, choice)
    if events:
        return par, choice, pattern, base, ev
    return par, choice, pattern


def _max_args(z: Tensor, index: Tensor) -> Tensor:
    """Argument forms ``(R, 3, U, k)`` of a max node (absent entries are NaN-free zeros)."""
    return z[:, :, index.clamp_min(0)]


def refine_max(state: PlaneState, z: Tensor, index: Tensor):
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
    P, nv = state.P, state.nv
    valid = poly.valid_mask(nv, V)
    ninf = torch.tensor(float("-inf"), dtype=dt, device=dev)
    pinf = torch.tensor(float("inf"), dtype=dt, device=dev)
    # A disc around the vertex mean bounds every argument cheaply; a unit whose best
    # argument provably dominates all others there is constant on the polygon. Only
    # the remaining (polygon, unit) pairs are evaluated exactly at the vertices.
    c = poly.vertex_mean(P, nv)
    d = P - c.unsqueeze(1)
    rho = ((d * d).sum(-1) * valid).amax(1).sqrt()  # (R,)
    zc = args[:, 0] + c[:, 0, None, None] * args[:, 1] + c[:, 1, None, None] * args[:, 2]  # (R, U, k)
    rad = (args[:, 1] * args[:, 1] + args[:, 2] * args[:, 2]).sqrt_().mul_(rho[:, None, None])
    pres = present.unsqueeze(0)
    tol = _scale_tol(torch.where(pres, zc.abs() + rad, torch.zeros((), dtype=dt, device=dev)).amax(-1), state.atol)  # (R, U)
    lower = torch.where(pres, zc - rad, ninf)
    upper = torch.where(pres, zc + rad, ninf)
    best_lower, best = lower.max(-1)
    others = upper.scatter(-1, best.unsqueeze(-1), float("-inf")).amax(-1)
    const_arg = best.clone()
    sure = best_lower > others + tol
    active = torch.zeros((R, U), dtype=torch.bool, device=dev)
    cand = torch.zeros((R, U, k), dtype=torch.bool, device=dev)
    r_u, u_u = (~sure).nonzero(as_tuple=True)
    n = r_u.numel()
    step = max(1, (1 << 21) // max(1, V * k))
    for s in range(0, n, step):
        rr, uu = r_u[s:s + step], u_u[s:s + step]
        a = args[rr, :, uu]  # (m, 3, k)
        Pv = P[rr]  # (m, V, 2)
        vals = a[:, 0].unsqueeze(1) + Pv[..., 0:1] * a[:, 1].unsqueeze(1) + Pv[..., 1:2] * a[:, 2].unsqueeze(1)  # (m, V, k)
        pr_ = present[uu].unsqueeze(1)  # (m, 1, k)
        m = valid[rr].unsqueeze(-1)  # (m, V, 1)
        vals = torch.where(pr_, vals, ninf)
        t = tol[rr, uu]
        vmax_all = vals.amax(-1, keepdim=True)
        near = (vals >= vmax_all - t[:, None, None]) | ~m
        always = near.all(1) & present[uu]  # (m, k)
        const_arg[rr, uu] = always.to(torch.int8).argmax(-1)
        active[rr, uu] = ~always.any(-1)
        vmin_b = torch.where(m, vals, pinf).amin(1)  # (m, k)
        vmax_b = torch.where(m, vals, ninf).amax(1)
        low = torch.where(present[uu], vmin_b, ninf).amax(-1, keepdim=True)
        cand[rr, uu] = present[uu] & (vmax_b >= low - t.unsqueeze(-1))

    r_idx, u_idx = active.nonzero(as_tuple=True)
    ct = torch.bincount(r_idx, minlength=R)
    start = ct.cumsum(0) - ct
    state.carry_set("par", torch.arange(R, device=dev))
    state.carry_set("pat", const_arg.clone())
    slots = int(ct.max().item()) if R and r_idx.numel() else 0
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    for s in range(slots):
        par = state.carry_get("par")
        act = (ct[par] > s).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        # slot parents: every fragment active in this slot records where it came from
        F0 = state.num
        state.carry_set("sp", torch.arange(F0, device=dev))
        state.carry_set("unit", torch.full((F0,), -1, dtype=torch.long, device=dev))
        pr = par[act]
        state.carry_get("unit")[act] = u_idx[start[pr] + s]
        P_slot, nv_slot = state.P.clone(), state.nv.clone()
        for a, b in pairs:
            par = state.carry_get("par")
            unit = state.carry_get("unit")
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
        par, unit, sp = state.carry_get("par"), state.carry_get("unit"), state.carry_get("sp")
        sel = (unit >= 0).nonzero().squeeze(1)
        pr, uu = par[sel], unit[sel]
        c = poly.vertex_mean(state.P[sel], state.nv[sel])
        av = args[pr, 0, uu, :] + c[:, 0:1] * args[pr, 1, uu, :] + c[:, 1:2] * args[pr, 2, uu, :]
        av = torch.where(cand[pr, uu], av, ninf)
        mx = av.amax(-1, keepdim=True)
        am = (av >= mx - tol[pr, uu].unsqueeze(-1)).to(torch.int8).argmax(-1)
        state.carry_get("pat")[sel, uu] = am
        # merge fragments of one slot parent with the same arg-max into one cell
        key = sp * (k + 1) + k  # inactive fragments: their own group
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
            pr_m, uu_m, am_m = par[src], unit[src], state.carry_get("pat")[src, unit[src]]
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
        state.carry_pop("sp"), state.carry_pop("unit")
    par = state.carry_pop("par")
    pat = state.carry_pop("pat")
    return par, pat, pat.to(torch.int16)
