"""The exact n-D engine for low dimension: layer-wise subdivision of convex polytopes.

State: a set of convex polytopes (the current regions) that partition the domain, each
held as its vertices, its (possibly redundant) list of half-spaces ``a . p <= b``, and the
incidence of vertices on half-spaces as bitmasks; plus the affine forms of every live IR
value on each polytope (as the 2-D engine).

A polytope is cut by a hyperplane as in the double description method: vertices are
classified (+, -, on the plane, with a per-vertex tolerance), every edge between a + and a
- vertex contributes its crossing point, and edges are found with the combinatorial
adjacency test (two vertices span an edge iff no third vertex lies on every half-space
that both lie on), which holds for any H-representation, degenerate ones included.
Hyperplanes with fewer than ``k`` vertices are not facets and are dropped.

Univariate nodes are refined as in the 2-D engine (each fragment walks through its
region's crossing level sets, a window at a time, and is cut by the first one that cuts
it). A max node's unit is resolved by one cell per candidate argument, clipped by the
half-spaces where that argument wins; empty and flat cells are dropped.
"""

from __future__ import annotations

import torch
from torch import Tensor

WORD = 62  # facet bits per int64 word (the sign bit stays clear)
WINDOW = 8


def popcount(x: Tensor) -> Tensor:
    """Number of set bits of each int64 (bits 0..61 are used)."""
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    return ((x * 0x0101010101010101) >> 56) & 0xFF


def _bits_of(slot: Tensor, W: int) -> Tensor:
    """One-hot bitmasks ``(..., W)`` of facet slots ``slot``."""
    words = torch.arange(W, device=slot.device)
    one = torch.ones((), dtype=torch.long, device=slot.device)
    return torch.where((slot // WORD).unsqueeze(-1) == words, one << (slot % WORD).unsqueeze(-1), torch.zeros_like(one))


def unpack(bits: Tensor, F: int) -> Tensor:
    """Bool incidence ``(..., F)`` from bitmasks ``(..., W)``."""
    W = bits.shape[-1]
    out = torch.empty((*bits.shape[:-1], F), dtype=torch.bool, device=bits.device)
    flat_in = bits.reshape(-1, W)
    flat_out = out.view(-1, F)
    step = max(1, (1 << 22) // max(1, min(F, WORD)))  # the int64 shifts need 8 bytes a bit
    for w in range(W):
        f0, f1 = w * WORD, min(F, (w + 1) * WORD)
        if f0 >= f1:
            break
        shifts = torch.arange(f1 - f0, device=bits.device)
        for r0 in range(0, flat_in.shape[0], step):
            flat_out[r0:r0 + step, f0:f1] = ((flat_in[r0:r0 + step, w:w + 1] >> shifts) & 1).bool()
    return out


def pack(inc: Tensor) -> Tensor:
    """Bitmasks ``(..., W)`` from bool incidence ``(..., F)``."""
    F = inc.shape[-1]
    W = max(1, -(-F // WORD))
    out = torch.zeros((*inc.shape[:-1], W), dtype=torch.long, device=inc.device)
    flat_in = inc.reshape(-1, F)
    flat_out = out.view(-1, W)
    step = max(1, (1 << 22) // max(1, min(F, WORD)))  # the int64 shifts need 8 bytes a bit
    for w in range(W):
        f0, f1 = w * WORD, min(F, (w + 1) * WORD)
        shifts = torch.arange(f1 - f0, device=inc.device)
        for r0 in range(0, flat_in.shape[0], step):
            flat_out[r0:r0 + step, w] = (flat_in[r0:r0 + step, f0:f1].long() << shifts).sum(-1)
    return out


class _Carry(dict):
    """Per-polytope tensors carried through cuts, stored with spare capacity (see PolyState)."""

    def __init__(self, state):
        super().__init__()
        self._state = state

    def __getitem__(self, name):
        return super().__getitem__(name)[: self._state.n]

    def pop(self, name):
        return super().pop(name)[: self._state.n]

    def buffers(self):
        return super().items()

    def set_buffer(self, name, t):
        super().__setitem__(name, t)


_FIELDS = ("V", "nv", "H", "nf", "fu", "inc")


class PolyState:
    """Polytopes (padded), their half-spaces, incidence bitmasks and carried tensors.

    Rows live in buffers with geometric spare capacity, so appending the parts of cut
    polytopes costs amortised O(1) per part instead of a copy of everything per step.
    """

    def __init__(self, V: Tensor, nv: Tensor, H: Tensor, nf: Tensor, fu: Tensor, inc: Tensor, atol: float):
        self.n = V.shape[0]
        self._V, self._nv = V, nv  # (R, Vm, k), (R,)
        self._H, self._nf, self._fu = H, nf, fu  # (R, Fm, k+1) rows [a, b]: a.p <= b; (R,); (R, Fm) unit, -1 domain, -2 dropped
        self._inc = inc  # (R, Vm, W) int64
        self.atol = atol
        self.k = V.shape[2]
        self.carry = _Carry(self)

    def _view(name):  # noqa: N805 - property factory
        def get(self):
            return getattr(self, "_" + name)[: self.n]

        def put(self, value):
            # a whole new array of the current rows (widened or reordered)
            setattr(self, "_" + name, value)

        return property(get, put)

    V = _view("V")
    nv = _view("nv")
    H = _view("H")
    nf = _view("nf")
    fu = _view("fu")
    inc = _view("inc")
    del _view

    @classmethod
    def from_domain(cls, verts: Tensor, A: Tensor, b: Tensor, atol: float) -> PolyState:
        norm = A.norm(dim=1, keepdim=True)
        A, b = A / norm, b / norm.squeeze(1)
        on = (verts @ A.T - b).abs() <= atol * (1.0 + (verts.abs() @ A.abs().T) + b.abs())
        H = torch.cat([A, b.unsqueeze(1)], 1).unsqueeze(0)
        m = A.shape[0]
        return cls(verts.unsqueeze(0).clone(), torch.tensor([verts.shape[0]], device=verts.device), H,
                   torch.tensor([m], device=verts.device), torch.full((1, m), -1, dtype=torch.long, device=verts.device),
                   pack(on).unsqueeze(0), atol)

    @property
    def num(self) -> int:
        return self.n

    # ------------------------------------------------------------------ storage

    def _ensure_slots(self, need: int) -> None:
        Fm = self.H.shape[1]
        if need <= Fm:
            return
        grow = max(need, Fm + 8) - Fm
        R = self.num
        self.H = torch.cat([self.H, self.H.new_zeros(R, grow, self.k + 1)], 1)
        self.fu = torch.cat([self.fu, self.fu.new_full((R, grow), -2)], 1)
        W = max(1, -(-(Fm + grow) // WORD))
        if W > self.inc.shape[2]:
            self.inc = torch.cat([self.inc, self.inc.new_zeros(R, self.inc.shape[1], W - self.inc.shape[2])], 2)

    def _set_rows(self, idx: Tensor, V: Tensor, nv: Tensor, inc: Tensor) -> None:
        Vm = self.V.shape[1]
        if V.shape[1] > Vm:
            extra = V.shape[1] - Vm
            R = self.num
            self.V = torch.cat([self.V, self.V.new_zeros(R, extra, self.k)], 1)
            self.inc = torch.cat([self.inc, self.inc.new_zeros(R, extra, self.inc.shape[2])], 1)
            Vm = V.shape[1]
        self.V[idx] = 0
        self.V[idx, : V.shape[1]] = V
        self.inc[idx] = 0
        self.inc[idx, : V.shape[1]] = inc
        self.nv[idx] = nv

    def append(self, src: Tensor) -> Tensor:
        """Append copies of polytopes ``src`` (with their carried tensors); return the new ids."""
        R, m = self.n, src.shape[0]
        need = R + m

        def room(t, fill=0):
            if t.shape[0] >= need:
                return t
            buf = t.new_full((max(need, 2 * t.shape[0], 16), *t.shape[1:]), fill)
            buf[:R] = t[:R]
            return buf

        for name in _FIELDS:
            t = room(getattr(self, "_" + name), -2 if name == "fu" else 0)
            t[R:need] = t[src]
            setattr(self, "_" + name, t)
        for name, t in list(self.carry.buffers()):
            t = room(t)
            t[R:need] = t[src]
            self.carry.set_buffer(name, t)
        self.n = need
        return torch.arange(R, need, device=src.device)

    def gather(self, keep: Tensor) -> None:
        V, nv, H, nf, fu, inc = self.V[keep], self.nv[keep], self.H[keep], self.nf[keep], self.fu[keep], self.inc[keep]
        carried = {name: t[: self.n][keep] for name, t in self.carry.buffers()}
        self.n = keep.shape[0]
        self.V, self.nv, self.H, self.nf, self.fu, self.inc = V, nv, H, nf, fu, inc
        for name, t in carried.items():
            self.carry.set_buffer(name, t)

    def compact(self) -> None:
        """Drop half-spaces through fewer than ``k`` vertices (not facets) and renumber the
        incidence bits (between layers; redundant half-spaces are harmless in between)."""
        R, Fm = self.fu.shape
        inc = unpack(self.inc, Fm)  # (R, Vm, Fm)
        live = (self.fu >= -1) & (torch.arange(Fm, device=self.fu.device) < self.nf.unsqueeze(1)) & (inc.sum(1) >= self.k)
        nf = live.sum(1)
        F2 = max(1, int(nf.max()) if R else 1)
        order = torch.sort((~live).to(torch.int8), dim=1, stable=True).indices[:, :F2]  # live slots first
        ok = torch.arange(F2, device=nf.device) < nf.unsqueeze(1)
        inc = inc.gather(2, order.unsqueeze(1).expand(-1, inc.shape[1], -1)) & ok.unsqueeze(1)
        self.inc = pack(inc)
        self.H = self.H.gather(1, order.unsqueeze(-1).expand(-1, -1, self.k + 1)) * ok.unsqueeze(-1)
        self.fu = torch.where(ok, self.fu.gather(1, order), torch.full_like(order, -2))
        self.nf = nf

    # ------------------------------------------------------------------ cutting

    def values(self, idx: Tensor, g: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """Values ``g . v + c`` at the vertices of polytopes ``idx`` and their tolerances."""
        P = self.V[idx]
        vals = torch.baddbmm(c.view(-1, 1, 1), P, g.unsqueeze(-1)).squeeze(-1)
        tol = torch.baddbmm(c.abs().view(-1, 1, 1), P.abs(), g.abs().unsqueeze(-1)).squeeze(-1).mul_(self.atol).add_(self.atol)
        return vals, tol

    def cut(self, S: Tensor, g: Tensor, c: Tensor, unit: Tensor, keep_negative: bool = True) -> Tensor:
        """Cut polytopes ``S`` by ``g . p + c = 0``; ``S`` keeps the part where it is ``>= 0``.

        With ``keep_negative`` the other part is appended (its new ids are returned), else
        it is discarded (a clip). Every polytope of ``S`` must have a vertex strictly on
        the positive side, and, for a split, one strictly on the negative side.
        """
        dev = S.device
        k = self.k
        vals, tol = self.values(S, g, c)
        Vm = vals.shape[1]
        valid = torch.arange(Vm, device=dev) < self.nv[S].unsqueeze(1)
        pos = valid & (vals > tol)
        neg = valid & (vals < -tol)
        ok = pos.any(1) & neg.any(1)
        if not bool(ok.all()):
            # a borderline polytope the caller's test saw cut: nothing to cut here
            S, g, c, unit, vals, tol = S[ok], g[ok], c[ok], unit[ok], vals[ok], tol[ok]
            valid, pos, neg = valid[ok], pos[ok], neg[ok]
            if S.numel() == 0:
                return S
        n = S.shape[0]
        P = self.V[S]
        zer = valid & ~pos & ~neg
        # a new half-space slot per polytope
        slot = self.nf[S]
        self._ensure_slots(int(slot.max()) + 1)
        W = self.inc.shape[2]
        bits = self.inc[S][:, :Vm]  # (n, Vm, W)
        newbit = _bits_of(slot, W)  # (n, W)
        # crossing edges: + and - vertices with no third vertex on all their common facets
        s_i, i, j = (pos.unsqueeze(2) & neg.unsqueeze(1)).nonzero(as_tuple=True)
        common = bits[s_i, i] & bits[s_i, j]  # (M, W)
        # an edge lies on at least k - 1 common half-spaces: a cheap filter before the
        # combinatorial test
        enough = popcount(common).sum(-1) >= k - 1
        s_i, i, j, common = s_i[enough], i[enough], j[enough], common[enough]
        M = s_i.shape[0]
        edge = torch.empty(M, dtype=torch.bool, device=dev)
        blk = max(1, (1 << 21) // max(1, Vm * bits.shape[2]))  # bounded memory for (M, Vm, W)
        for m0 in range(0, M, blk):
            sl = slice(m0, m0 + blk)
            si = s_i[sl]
            inside = ((common[sl].unsqueeze(1) & ~bits[si]) == 0).all(-1) & valid[si]
            ar = torch.arange(si.shape[0], device=dev)
            inside[ar, i[sl]] = False
            inside[ar, j[sl]] = False
            edge[sl] = ~inside.any(1)
        s_i, i, j, common = s_i[edge], i[edge], j[edge], common[edge]
        vi, vj = vals[s_i, i], vals[s_i, j]
        t = (vi / (vi - vj)).unsqueeze(1)
        X = torch.lerp(P[s_i, i], P[s_i, j], t)
        Xbits = common | newbit[s_i]
        nX = torch.bincount(s_i, minlength=n)
        zbits = bits | (newbit.unsqueeze(1) * zer.unsqueeze(-1))
        # new vertices' rank within their polytope (s_i is sorted)
        xrank = torch.arange(s_i.shape[0], device=dev) - (nX.cumsum(0) - nX)[s_i]

        def assemble(keep):
            cnt = keep.sum(1)
            tot = cnt + nX
            Vo = max(1, int(tot.max()))
            Vout = P.new_zeros(n, Vo, k)
            Iout = bits.new_zeros(n, Vo, W)
            posn = keep.long().cumsum(1) - 1
            r, q = keep.nonzero(as_tuple=True)
            Vout[r, posn[r, q]] = P[r, q]
            Iout[r, posn[r, q]] = zbits[r, q]
            xp = cnt[s_i] + xrank
            Vout[s_i, xp] = X
            Iout[s_i, xp] = Xbits
            return Vout, tot, Iout

        new_ids = None
        gn = g.norm(dim=1, keepdim=True)
        if keep_negative:
            Vn, nn_, In = assemble(neg | zer)
            new_ids = self.append(S)
            self._set_rows(new_ids, Vn, nn_, In)
            rowN = torch.cat([g / gn, -c.unsqueeze(1) / gn], 1)
            self.H[new_ids, slot] = rowN
            self.fu[new_ids, slot] = unit
            self.nf[new_ids] = slot + 1
        Vp, np_, Ip = assemble(pos | zer)
        self._set_rows(S, Vp, np_, Ip)
        rowP = torch.cat([-g / gn, c.unsqueeze(1) / gn], 1)
        self.H[S, slot] = rowP
        self.fu[S, slot] = unit
        self.nf[S] = slot + 1
        return new_ids

    def vertex_mean(self, idx: Tensor | None = None) -> Tensor:
        V = self.V if idx is None else self.V[idx]
        nv = self.nv if idx is None else self.nv[idx]
        valid = (torch.arange(V.shape[1], device=V.device) < nv.unsqueeze(1)).unsqueeze(-1)
        return (V * valid).sum(1) / nv.clamp_min(1).unsqueeze(1).to(V.dtype)


# ---------------------------------------------------------------------- refinement


def _line_priority(ids: Tensor) -> Tensor:
    x = (ids.to(torch.int64) * 2654435761 + 0x9E3779B9) & 0x7FFFFFFF
    x = (x ^ (x >> 15)) * 2246822519 & 0x7FFFFFFF
    return x ^ (x >> 13)


def refine_univariate(state: PolyState, z: Tensor, op, unit_offset: int):
    """Refine by a univariate node with input forms ``z`` ``(R, 1 + k, U)``.

    Returns ``(parent, choice, pattern)`` per final fragment, as the 2-D engine.
    """
    R, _, U = z.shape
    dev = z.device
    bp, _, _ = op.unit_tables(U)
    K = bp.shape[1]
    Vm = state.V.shape[1]
    base = torch.zeros((R, U), dtype=torch.int16, device=dev)
    on_code = torch.zeros((R, U), dtype=torch.int16, device=dev)
    crossing = torch.zeros((R, U, K), dtype=torch.bool, device=dev)
    step = max(1, (1 << 21) // max(1, Vm * U))  # bounded memory for the (R, Vm, U) values
    for s0 in range(0, R, step):
        sl = slice(s0, s0 + step)
        Vb, zb = state.V[sl], z[sl]
        valid = (torch.arange(Vm, device=dev) < state.nv[sl].unsqueeze(1)).unsqueeze(-1)  # (n, Vm, 1)
        lin = torch.baddbmm(zb[:, 0:1, :], Vb, zb[:, 1:, :])  # (n, Vm, U)
        mag = torch.baddbmm(zb[:, 0:1, :].abs(), Vb.abs(), zb[:, 1:, :].abs())
        for j in range(K):
            t = bp[:, j]
            v = lin - t
            tol = (mag + t.abs()).mul_(state.atol).add_(state.atol)
            p = ((v > tol) & valid).any(1)
            q = ((v < -tol) & valid).any(1)
            base[sl] += (p & ~q).to(torch.int16)
            on = ~p & ~q
            oc = on_code[sl]
            on_code[sl] = torch.where(on & (oc == 0), torch.full_like(oc, -(j + 1)), oc)
            crossing[sl, :, j] = p & q
    r_idx, u_idx, j_idx = crossing.nonzero(as_tuple=True)
    key = _line_priority(u_idx * (K + 1) + j_idx)
    order = torch.argsort(r_idx * (1 << 31) + key)
    r_idx, u_idx, j_idx = r_idx[order], u_idx[order], j_idx[order]
    ct = torch.bincount(r_idx, minlength=R)
    start = ct.cumsum(0) - ct
    g_line = z[r_idx, 1:, u_idx]  # (L, k)
    c_line = z[r_idx, 0, u_idx] - bp[u_idx, j_idx]
    unit_line = u_idx + unit_offset
    state.carry["par"] = torch.arange(R, device=dev)
    state.carry["ptr"] = torch.zeros(R, dtype=torch.long, device=dev)
    while r_idx.numel():
        par, ptr = state.carry["par"], state.carry["ptr"]
        act = (ptr < ct[par]).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        pr, p0 = par[act], ptr[act]
        Wn = WINDOW if int((ct[pr] - p0).max()) <= 8 * WINDOW else 4 * WINDOW
        pos_w = p0.unsqueeze(1) + torch.arange(Wn, device=dev)
        valid_w = pos_w < ct[pr].unsqueeze(1)
        li = torch.where(valid_w, start[pr].unsqueeze(1) + pos_w, torch.zeros_like(pos_w))
        g, c = g_line[li], c_line[li]  # (A, Wn, k), (A, Wn)
        Pa = state.V[act]
        vm = (torch.arange(Pa.shape[1], device=dev) < state.nv[act].unsqueeze(1)).unsqueeze(1)  # (A, 1, Vm)
        vals = torch.baddbmm(c.unsqueeze(-1), g, Pa.transpose(1, 2))  # (A, Wn, Vm)
        tol = torch.baddbmm(c.abs().unsqueeze(-1), g.abs(), Pa.abs().transpose(1, 2)).mul_(state.atol).add_(state.atol)
        cross = ((vals > tol) & vm).any(-1) & ((vals < -tol) & vm).any(-1) & valid_w
        any_cross = cross.any(1)
        first = torch.where(any_cross, cross.to(torch.int8).argmax(1), Wn)
        ptr[act] = p0 + torch.where(any_cross, first + 1, valid_w.sum(1))
        if bool(any_cross.any()):
            sel = any_cross.nonzero().squeeze(1)
            lsel = li[sel, first[sel]]
            state.cut(act[sel], g_line[lsel], c_line[lsel], unit_line[lsel])
    state.carry.pop("ptr")
    par = state.carry.pop("par")
    F = par.shape[0]
    choice = base[par]
    cnt = ct[par]
    total = int(cnt.sum()) if F else 0
    if total:
        frag = torch.repeat_interleave(torch.arange(F, device=dev), cnt)
        first_pair = cnt.cumsum(0) - cnt
        li = start[par[frag]] + torch.arange(total, device=dev) - first_pair[frag]
        m = state.vertex_mean()
        val = (m[frag] * g_line[li]).sum(1) + c_line[li]
        up = val > 0
        choice.index_put_((frag[up], u_idx[li[up]]), torch.ones(int(up.sum()), dtype=choice.dtype, device=dev), accumulate=True)
    oc = on_code[par]
    return par, choice, torch.where(oc != 0, oc, choice)


def refine_max(state: PolyState, z: Tensor, index: Tensor, unit_offset: int):
    """Refine by a max node: one cell per winning argument of each unit.

    Returns ``(parent, choice, pattern)``; ``choice`` is the arg-max per unit.
    """
    R, _, _ = z.shape
    U, k = index.shape
    dev = z.device
    present = index >= 0
    args = z[:, :, index.clamp_min(0)]  # (R, 1+k_dim, U, k)
    state.carry["par"] = torch.arange(R, device=dev)
    state.carry["pat"] = torch.zeros((R, U), dtype=torch.long, device=dev)
    for u in range(U):
        par = state.carry["par"]
        a_u = args[par, :, u, :]  # (Rn, 1+kd, k)
        # candidates: arguments whose largest value on the polytope reaches the largest
        # smallest value of any argument (a superset of the winners; the clipping below
        # drops the empty cells)
        vv = _arg_values(state, a_u, present[u])  # (Rn, Vm, k)
        vmask = (torch.arange(state.V.shape[1], device=dev) < state.nv.unsqueeze(1)).unsqueeze(-1)
        scale = vv.abs().where(vmask & present[u], torch.zeros_like(vv)).amax((1, 2))
        tolv = state.atol * (1.0 + scale)
        vmax_b = torch.where(vmask, vv, torch.full_like(vv, float("-inf"))).amax(1)  # (Rn, k)
        vmin_b = torch.where(vmask, vv, torch.full_like(vv, float("inf"))).amin(1)
        low = torch.where(present[u], vmin_b, torch.full_like(vmin_b, float("-inf"))).amax(1, keepdim=True)
        cand = present[u] & (vmax_b >= low - tolv.unsqueeze(1))  # (Rn, k)
        # identical arguments: only the first one can win
        a_first = _first_of_identical(a_u, present[u], state.atol)
        cand &= a_first
        ncand = cand.sum(1)
        single = ncand <= 1
        state.carry["pat"][:, u] = torch.where(single, cand.to(torch.int8).argmax(1), state.carry["pat"][:, u])
        multi = (~single).nonzero().squeeze(1)
        if multi.numel() == 0:
            continue
        # one cell per candidate: the first candidate keeps the polytope, others are copies
        cells_f, cells_a = cand[multi].nonzero(as_tuple=True)
        cells_f = multi[cells_f]
        firstc = torch.ones_like(cells_f, dtype=torch.bool)
        firstc[1:] = cells_f[1:] != cells_f[:-1]
        ids = cells_f.clone()
        if bool((~firstc).any()):
            ids[~firstc] = state.append(cells_f[~firstc])
        state.carry["pat"][ids, u] = cells_a
        alive = torch.ones(state.num, dtype=torch.bool, device=dev)
        a_all = args[state.carry["par"][ids], :, u, :]  # (C, 1+kd, k)
        for b in range(k):
            sel = (cells_a != b) & cand[cells_f, b]
            if not bool(sel.any()):
                continue
            cid = ids[sel]
            aa = a_all[sel]
            d = aa.gather(2, cells_a[sel].view(-1, 1, 1).expand(-1, aa.shape[1], 1)).squeeze(2) - aa[:, :, b]
            g, c = d[:, 1:], d[:, 0]
            v, tol = state.values(cid, g, c)
            vm = torch.arange(state.V.shape[1], device=dev) < state.nv[cid].unsqueeze(1)
            has_pos = ((v > tol) & vm).any(1)
            has_neg = ((v < -tol) & vm).any(1)
            alive[cid[~has_pos]] = False  # the cell is empty or flat
            cutm = has_pos & has_neg
            if bool(cutm.any()):
                state.cut(cid[cutm], g[cutm], c[cutm], torch.full((int(cutm.sum()),), unit_offset + u, device=dev), keep_negative=False)
        if not bool(alive.all()):
            state.gather(alive.nonzero().squeeze(1))
    par = state.carry.pop("par")
    pat = state.carry.pop("pat")
    return par, pat, pat.to(torch.int16)


def _arg_values(state: PolyState, a_u: Tensor, present_u: Tensor) -> Tensor:
    vals = torch.einsum("rvd,rda->rva", state.V, a_u[:, 1:]) + a_u[:, 0].unsqueeze(1)
    return torch.where(present_u.view(1, 1, -1), vals, torch.full_like(vals, float("-inf")))


def _first_of_identical(a_u: Tensor, present_u: Tensor, atol: float) -> Tensor:
    """Mask ``(R, k)``: argument ``a`` has no identical argument ``b < a``."""
    k = a_u.shape[2]
    ok = present_u.unsqueeze(0).expand(a_u.shape[0], -1).clone()
    scale = a_u.abs().amax(1)  # (R, k)
    for a in range(1, k):
        for b in range(a):
            same = ((a_u[:, :, a] - a_u[:, :, b]).abs() <= atol * (1.0 + scale[:, a] + scale[:, b]).unsqueeze(1)).all(1)
            ok[:, a] &= ~(same & present_u[b])
    return ok
