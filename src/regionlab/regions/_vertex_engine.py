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

Univariate nodes are refined as in the 2-D engine: each fragment walks through its
region's crossing level sets, and is cut by the next one that cuts it. With more than
``WINDOW`` sets left, a window of them is checked at once for the first that cuts; with
fewer, each fragment tries its next set and the cut drops the fragments it does not cross
(the same cuts, in as many steps as the longest list, without the window's values). A
node refining one polytope (the first layer) divides it into the cells of its lines at
once when their arrangement is simple (``_arrangement_cells``). A max node's unit is
resolved by one cell per candidate argument, clipped by the half-spaces where that
argument wins; empty and flat cells are dropped.

On CPU the cuts of polytopes with few vertex slots and one incidence word, and the
univariate walk, do their index work in numpy (``NUMPY_CUT``: per-op overhead dominates
these small arrays); their float sums follow torch's small-matrix kernel, so both paths
give bit-identical partitions (tested).
"""

from __future__ import annotations

import sys
from math import comb

import numpy as np
import torch
from torch import Tensor

WORD = 62  # facet bits per int64 word (the sign bit stays clear)
WINDOW = 8
_CUT_BLOCK = 1 << 24  # vertex pairs per block of a cut (16 MB of bools)
_CHECK_BLOCK = 1 << 22  # (polytope, line, vertex) values per block of the window check
_INC_BLOCK = 1 << 22  # entries per block of unpacked incidences in compact
_PAIRS_MASK_VM = 48  # up to this many vertex slots, cut's vertex pairs come from one (n, Vm, Vm) mask
# CPU cuts of polytopes with few vertex slots and one incidence word run their index work
# in numpy (a few us an op instead of torch's ~5-10 us: these tensors are tiny); the float
# arithmetic stays in torch, so the results are bit-identical to the torch path.
# Set to False to force the torch path (tests run both).
NUMPY_CUT = True
NUMPY_UNPACK = True  # CPU incidence masks unpacked by numpy (False: the torch paths)
_NUMPY_CUT_VM = 96  # up to this many vertex slots (its vertex pairs come from one (n, Vm, Vm) mask)


_ARANGE: dict = {}


def _arange(n: int, device) -> Tensor:
    """A cached ``arange(n)`` (never written to)."""
    key = (n, str(device))
    t = _ARANGE.get(key)
    if t is None:
        t = _ARANGE[key] = torch.arange(n, device=device)
    return t


def popcount(x: Tensor) -> Tensor:
    """Number of set bits of each int64 (bits 0..61 are used)."""
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    return ((x * 0x0101010101010101) >> 56) & 0xFF


def _popcount_torch(x: np.ndarray) -> np.ndarray:
    """``popcount`` of a numpy array (for numpy without ``bitwise_count``)."""
    return popcount(torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))).numpy()


popcount_np = getattr(np, "bitwise_count", _popcount_torch)  # set bits of each int64 (numpy)


def set_bits(words: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every set bit of the int64 ``words`` (1-D): the nonzero words' indices ``nz``, their
    numbers of bits ``cnt`` and the bits' indices, word by word, lowest bit first (the bits of
    word ``nz[i]`` are ``cnt[i]`` consecutive entries; taken out a round at a time, as many
    rounds as the most bits a word)."""
    nz = np.flatnonzero(words)
    w = words[nz]
    cnt = popcount_np(w).astype(np.int64)
    off = np.cumsum(cnt) - cnt
    bit = np.empty(int(cnt.sum()), np.int64)
    act = np.arange(nz.shape[0])
    j = 0
    while act.shape[0]:
        low = w & -w
        bit[off[act] + j] = popcount_np(low - 1)  # the bit's index
        w = w ^ low
        keep = w != 0
        act, w = act[keep], w[keep]
        j += 1
    return nz, cnt, bit


def incidences(bits: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every incidence of the bitmasks ``(R, Vm, W)``: :func:`set_bits`' ``nz`` and ``cnt``
    and, per incidence, ``region * stride + slot`` (vertex by vertex, slots ascending)."""
    R, Vm, W = bits.shape
    nz, cnt, bit = set_bits(bits.reshape(-1))
    return nz, cnt, np.repeat((nz // (Vm * W)) * stride + (nz % W) * WORD, cnt) + bit


def _at_least(bits: Tensor, m: int) -> Tensor:
    """Whether each row of bitmasks ``(M, W)`` has at least ``m`` bits set."""
    if bits.shape[1] != 1 or m > 8:
        return popcount(bits).sum(-1) >= m
    x = bits.squeeze(1)
    for _ in range(m - 1):
        x = x & (x - 1)  # clears the lowest set bit
    return x != 0 if m > 0 else torch.ones_like(x, dtype=torch.bool)


_BYTE_SHIFTS: dict = {}


def unpack(bits: Tensor, F: int) -> Tensor:
    """Bool incidence ``(..., F)`` from bitmasks ``(..., W)``."""
    W = bits.shape[-1]
    if NUMPY_UNPACK and bits.device.type == "cpu" and sys.byteorder == "little":
        # numpy's unpackbits: byte b of word w holds bits 8b..8b+7, least significant first
        ub = np.unpackbits(bits.contiguous().numpy().view(np.uint8).reshape(-1), bitorder="little")
        ub = ub.reshape(*bits.shape[:-1], 64 * W)
        if W > 1:
            ub = ub.reshape(*bits.shape[:-1], W, 64)[..., :WORD].reshape(*bits.shape[:-1], W * WORD)
        return torch.from_numpy(ub[..., :F].view(np.bool_))
    if bits.numel() >= (1 << 15) and sys.byteorder == "little":
        # large: shift the bytes (8 one-byte results a byte instead of 62 eight-byte ones)
        sh = _BYTE_SHIFTS.get(str(bits.device))
        if sh is None:
            sh = _BYTE_SHIFTS[str(bits.device)] = torch.arange(8, dtype=torch.uint8, device=bits.device)
        by = bits.contiguous().view(torch.uint8)  # (..., 8 W): byte b of word w holds bits 8b..8b+7
        out = ((by.unsqueeze(-1) >> sh) & 1).view(*bits.shape[:-1], W, 64)[..., :WORD]
        return out.reshape(*bits.shape[:-1], W * WORD)[..., :F].view(torch.bool)
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


def incidence_counts(bits: Tensor, F: int) -> Tensor:
    """Number of vertices on each half-space, int32 ``(n, F)``, from bitmasks ``(n, Vm, W)``."""
    n, Vm, W = bits.shape
    if NUMPY_UNPACK and bits.device.type == "cpu":
        # from the set bits (a few a vertex), not an unpacking of every bit
        key = incidences(bits.contiguous().numpy(), W * WORD)[2]
        cnt = np.bincount(key, minlength=n * W * WORD).reshape(n, W * WORD)[:, :F]
        return torch.from_numpy(cnt.astype(np.int32))
    return unpack(bits, F).sum(1, dtype=torch.int32)


def pack(inc: Tensor) -> Tensor:
    """Bitmasks ``(..., W)`` from bool incidence ``(..., F)``."""
    F = inc.shape[-1]
    W = max(1, -(-F // WORD))
    if NUMPY_UNPACK and inc.device.type == "cpu" and sys.byteorder == "little":
        # numpy's packbits into the bytes of each word (WORD bits a word, two high bits clear)
        b = np.zeros((*inc.shape[:-1], W, 64), dtype=np.bool_)
        flat = b.reshape(-1, W, 64)
        src = inc.contiguous().numpy().reshape(-1, F)
        for w in range(W):
            f0, f1 = w * WORD, min(F, (w + 1) * WORD)
            flat[:, w, : f1 - f0] = src[:, f0:f1]
        return torch.from_numpy(np.packbits(b, axis=-1, bitorder="little").view(np.int64).reshape(*inc.shape[:-1], W))
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


_FIELDS = ("V", "nv", "hid", "nf", "inc")
_HFIELDS = ("hid", "nf")


class HalfSpaces:
    """An append-only table of half-space rows ``[a, b]`` (``a . p <= b``, ``|a| = 1``) and
    their units (-1: the domain's), which polytopes refer to by row index: a cut writes one
    index per part instead of copying ``k + 1`` floats into every polytope's list."""

    def __init__(self, rows: Tensor, units: Tensor):
        self._rows, self._units = [rows], [units]
        self.size = rows.shape[0]

    def add(self, rows: Tensor, units: Tensor) -> int:
        """Append rows; return the index of the first."""
        first = self.size
        self._rows.append(rows)
        self._units.append(units)
        self.size += rows.shape[0]
        return first

    def tables(self) -> tuple[Tensor, Tensor]:
        """All rows ``(T, k + 1)`` and units ``(T,)``."""
        if len(self._rows) > 1:
            self._rows, self._units = [torch.cat(self._rows)], [torch.cat(self._units)]
        return self._rows[0], self._units[0]


class PolyState:
    """Polytopes (padded), their half-spaces, incidence bitmasks and carried tensors.

    Rows live in buffers with geometric spare capacity, so appending the parts of cut
    polytopes costs amortised O(1) per part instead of a copy of everything per step.
    A polytope's half-spaces are indices into the shared table ``halfspaces``.
    """

    def __init__(self, V: Tensor, nv: Tensor, hid: Tensor, nf: Tensor, inc: Tensor, atol: float,
                 halfspaces: HalfSpaces):
        self.n = V.shape[0]
        self._V, self._nv = V, nv  # (R, Vm, k), (R,)
        self._hid, self._nf = hid, nf  # (R, Fm) rows of halfspaces (-1: none); (R,) slots in use
        self._inc = inc  # (R, Vm, W) int64
        self.halfspaces = halfspaces
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
    hid = _view("hid")
    nf = _view("nf")
    inc = _view("inc")
    del _view

    def listed(self) -> Tensor:
        """Mask ``(R, Fm)`` of the slots that hold a half-space."""
        return (self.hid >= 0) & (_arange(self.hid.shape[1], self.hid.device) < self.nf.unsqueeze(1))

    @classmethod
    def from_domain(cls, verts: Tensor, A: Tensor, b: Tensor, atol: float) -> PolyState:
        norm = A.norm(dim=1, keepdim=True)
        A, b = A / norm, b / norm.squeeze(1)
        on = (verts @ A.T - b).abs() <= atol * (1.0 + (verts.abs() @ A.abs().T) + b.abs())
        m = A.shape[0]
        dev = verts.device
        table = HalfSpaces(torch.cat([A, b.unsqueeze(1)], 1), torch.full((m,), -1, dtype=torch.long, device=dev))
        return cls(verts.unsqueeze(0).clone(), torch.tensor([verts.shape[0]], device=dev),
                   torch.arange(m, device=dev).unsqueeze(0), torch.tensor([m], device=dev),
                   pack(on).unsqueeze(0), atol, table)

    @property
    def num(self) -> int:
        return self.n

    # ------------------------------------------------------------------ storage

    def _ensure_slots(self, need: int) -> None:
        """Room for ``need`` half-space slots per polytope (buffers keep their row capacity)."""
        Fm = self._hid.shape[1]
        if need <= Fm:
            return
        F2 = max(need, Fm + 8)
        if need <= WORD < F2:
            F2 = WORD  # not a second incidence word before one is needed
        R = self.n
        hid = self._hid.new_full((self._hid.shape[0], F2), -1)
        hid[:R, :Fm] = self._hid[:R]
        self._hid = hid
        W = max(1, -(-F2 // WORD))
        if W > self._inc.shape[2]:
            inc = self._inc.new_zeros(self._inc.shape[0], self._inc.shape[1], W)
            inc[:R, :, : self._inc.shape[2]] = self._inc[:R]
            self._inc = inc

    def _widen(self, Vo: int) -> None:
        """Room for ``Vo`` vertices per polytope; new slots repeat vertex 0 (see ``cut``)."""
        extra = Vo - self._V.shape[1]
        if extra <= 0:
            return
        self._V = torch.cat([self._V, self._V[:, :1].expand(-1, extra, -1)], 1)
        self._inc = torch.cat([self._inc, self._inc.new_zeros(self._inc.shape[0], extra, self._inc.shape[2])], 1)

    def _room(self, need: int) -> None:
        """Row capacity for ``need`` polytopes (geometric growth: amortised O(1) appends)."""
        R = self.n
        if all(getattr(self, "_" + name).shape[0] >= need for name in _FIELDS) and \
                all(t.shape[0] >= need for _, t in self.carry.buffers()):
            return

        def grown(t):
            if t.shape[0] >= need:
                return t
            # rows past n are written whole by append before they are read
            buf = t.new_empty((max(need, 2 * t.shape[0], 16), *t.shape[1:]))
            buf[:R] = t[:R]
            return buf

        for name in _FIELDS:
            setattr(self, "_" + name, grown(getattr(self, "_" + name)))
        for name, t in list(self.carry.buffers()):
            self.carry.set_buffer(name, grown(t))

    def append(self, src: Tensor, geometry: bool = True) -> Tensor:
        """Append copies of polytopes ``src`` (with their carried tensors); return the new ids.

        Without ``geometry`` the vertices and incidences are left for the caller to write.
        """
        R, m = self.n, src.shape[0]
        need = R + m
        self._room(need)
        for name in _FIELDS if geometry else _HFIELDS:
            t = getattr(self, "_" + name)
            t[R:need] = t[src]
        for _, t in self.carry.buffers():
            t[R:need] = t[src]
        self.n = need
        return torch.arange(R, need, device=src.device)

    def gather(self, keep: Tensor) -> None:
        V, nv, hid, nf, inc = self.V[keep], self.nv[keep], self.hid[keep], self.nf[keep], self.inc[keep]
        carried = {name: t[: self.n][keep] for name, t in self.carry.buffers()}
        self.n = keep.shape[0]
        self.V, self.nv, self.hid, self.nf, self.inc = V, nv, hid, nf, inc
        for name, t in carried.items():
            self.carry.set_buffer(name, t)

    def compact(self) -> None:
        """Drop half-spaces through fewer than ``k`` vertices (not facets) and renumber the
        incidence bits (between layers; redundant half-spaces are harmless in between)."""
        R, Fm = self.hid.shape
        Vm = self.V.shape[1]
        step = max(1, _INC_BLOCK // max(1, Vm * Fm))  # bounded memory for the unpacked incidence
        blocks = range(0, R, step)
        count = torch.cat([incidence_counts(self.inc[s0:s0 + step], Fm) for s0 in blocks]) if R else self.hid.new_zeros((0, Fm))
        live = self.listed() & (count >= self.k)
        nf = live.sum(1)
        F2 = max(1, int(nf.max()) if R else 1)
        order = torch.sort((~live).to(torch.int8), dim=1, stable=True).indices[:, :F2]  # live slots first
        ok = torch.arange(F2, device=nf.device) < nf.unsqueeze(1)
        parts = []
        for s0 in blocks:
            o = order[s0:s0 + step]
            inc = unpack(self.inc[s0:s0 + step], Fm).gather(2, o.unsqueeze(1).expand(-1, Vm, -1)) & ok[s0:s0 + step].unsqueeze(1)
            parts.append(pack(inc))
        self.inc = torch.cat(parts) if parts else self.inc.new_zeros((0, Vm, 1))
        self.hid = torch.where(ok, self.hid.gather(1, order), -1)
        self.nf = nf

    # ------------------------------------------------------------------ cutting

    def values(self, idx: Tensor, g: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """Values ``g . v + c`` at the vertices of polytopes ``idx`` and their tolerances."""
        return self._values(self.V[idx], g, c)

    def _values(self, P: Tensor, g: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        vals = torch.baddbmm(c.view(-1, 1, 1), P, g.unsqueeze(-1)).squeeze(-1)
        tol = torch.baddbmm(c.abs().view(-1, 1, 1), P.abs(), g.abs().unsqueeze(-1)).squeeze(-1).mul_(self.atol).add_(self.atol)
        return vals, tol

    def cut(self, S: Tensor, g: Tensor, c: Tensor, unit: Tensor, keep_negative: bool = True,
            hrow: Tensor | None = None) -> Tensor:
        """Cut polytopes ``S`` by ``g . p + c = 0``; ``S`` keeps the part where it is ``>= 0``.

        With ``keep_negative`` the other part is appended (its new ids are returned), else
        it is discarded (a clip). Polytopes of ``S`` without vertices strictly on both
        sides are not cut (and, for a clip, must lie on the positive side).
        ``hrow``: the rows ``_hrows(g, c)`` if the caller has them.

        Padding invariant: vertex slots past ``nv`` repeat the polytope's vertex 0 (so
        that a max or min over all slots is one over the vertices) and have no incidence
        bits (so that they are never inside a face in the edge test).
        """
        dev = S.device
        k = self.k
        Vm = self.V.shape[1]
        step = max(1, _CUT_BLOCK // (Vm * Vm))
        if S.shape[0] > step:
            # bounded memory for the (n, Vm, Vm) vertex pairs: polytopes are cut
            # independently and appended in order, so blocks give the same result
            parts = [self.cut(S[i:i + step], g[i:i + step], c[i:i + step], unit[i:i + step], keep_negative,
                              None if hrow is None else hrow[i:i + step])
                     for i in range(0, S.shape[0], step)]
            return torch.cat(parts) if keep_negative else None
        if NUMPY_CUT and S.device.type == "cpu" and Vm <= _NUMPY_CUT_VM and self._inc.shape[2] == 1 and 2 <= k <= 9:
            done, out = self._cut_np(S, g, c, unit, keep_negative, hrow)
            if done:
                return out
        P = self._V.index_select(0, S)
        vals, tol = self._values(P, g, c)
        Vm = vals.shape[1]
        valid = _arange(Vm, dev) < self._nv.index_select(0, S).unsqueeze(1)
        pos = valid & (vals > tol)
        neg = valid & (vals < -tol)
        ok = pos.any(1) & neg.any(1)
        if not bool(ok.all()):
            # polytopes the hyperplane does not cross: nothing to cut
            S, g, c, unit, vals, tol, P = S[ok], g[ok], c[ok], unit[ok], vals[ok], tol[ok], P[ok]
            hrow = hrow[ok] if hrow is not None else None
            valid, pos, neg = valid[ok], pos[ok], neg[ok]
            if S.numel() == 0:
                return S
        n = S.shape[0]
        P = P.reshape(n * Vm, k)
        zer = valid & ~(pos | neg)
        # a new half-space slot per polytope
        slot = self._nf.index_select(0, S)
        self._ensure_slots(int(slot.max()) + 1)
        W = self.inc.shape[2]
        bits = self._inc.index_select(0, S)  # (n, Vm, W)
        if W == 1:
            newbit = (1 << slot).unsqueeze(1)  # (n, 1)
        else:
            newbit = bits.new_zeros(n, W).scatter_(1, (slot // WORD).unsqueeze(1), (1 << (slot % WORD)).unsqueeze(1))
        # crossing edges: + and - vertices with no third vertex on all their common facets
        fi, fj = _pairs(pos, neg)
        bflat = bits.view(n * Vm, W)
        common = bflat[fi] & bflat[fj]  # (M, W)
        # an edge lies on at least k - 1 common half-spaces: a cheap filter before the
        # combinatorial test
        keep = _at_least(common, k - 1).nonzero().squeeze(1)
        fi, fj, common = fi.index_select(0, keep), fj.index_select(0, keep), common.index_select(0, keep)
        s_i = fi // Vm
        M = s_i.shape[0]
        blk = max(1, (1 << 21) // max(1, Vm * W))  # bounded memory for (M, Vm, W)
        nbits = ~bits
        parts = []
        for m0 in range(0, max(M, 1), blk):
            si = s_i[m0:m0 + blk]
            parts.append(self._edges(common[m0:m0 + blk], nbits.index_select(0, si), valid.index_select(0, si) if k < 2 else None))
        edge = torch.cat(parts) if len(parts) > 1 else parts[0]
        keep = edge.nonzero().squeeze(1)
        fi, fj, common, s_i = fi.index_select(0, keep), fj.index_select(0, keep), common.index_select(0, keep), s_i.index_select(0, keep)
        M = s_i.shape[0]
        vflat = vals.view(-1)
        vi, vj = vflat[fi], vflat[fj]
        t = (vi / (vi - vj)).unsqueeze(1)
        X = torch.lerp(P[fi], P[fj], t)
        Xbits = common | newbit[s_i]
        nX = torch.bincount(s_i, minlength=n)
        zbits = bits | torch.where(zer.unsqueeze(-1), newbit.unsqueeze(1), 0)
        # new vertices' rank within their polytope (s_i is sorted)
        xrank = torch.arange(M, device=dev) - (nX.cumsum(0) - nX)[s_i]

        # both parts at once: rows [positive parts; negative parts], each the kept old
        # vertices in order, then the new ones, as indices into [old vertices; new vertices]
        sides = 2 if keep_negative else 1
        keepv = torch.cat([pos | zer, neg | zer]) if keep_negative else pos | zer  # (sides * n, Vm)
        cnt = keepv.sum(1)
        tot = cnt + (torch.cat([nX, nX]) if keep_negative else nX)  # (cat: far cheaper than repeat)
        Vo = max(Vm, int(tot.max()))
        rr, qq = keepv.nonzero(as_tuple=True)
        mp = torch.full((sides * n, Vo), -1, dtype=torch.long, device=dev)
        mp[rr, torch.arange(rr.shape[0], device=dev) - (cnt.cumsum(0) - cnt)[rr]] = (rr % n) * Vm + qq
        src_x = torch.arange(n * Vm, n * Vm + M, device=dev)
        if keep_negative:
            xs = torch.cat([s_i, s_i + n])
            mp[xs, cnt[xs] + torch.cat([xrank, xrank])] = torch.cat([src_x, src_x])
        else:
            mp[s_i, cnt[s_i] + xrank] = src_x
        pad = mp < 0
        Vout = torch.cat([P, X]).index_select(0, torch.where(pad, mp[:, :1], mp).view(-1)).view(-1, Vo, k)
        Bsrc = torch.cat([zbits.view(n * Vm, W), Xbits, bits.new_zeros(1, W)])
        Iout = Bsrc.index_select(0, torch.where(pad, n * Vm + M, mp).view(-1)).view(-1, Vo, W)

        self._widen(Vo)
        if keep_negative:
            new_ids = self.append(S, geometry=False)
            rows, slot = torch.cat([S, new_ids]), torch.cat([slot, slot])
        else:
            new_ids, rows = None, S
        first = self._add_halfspaces(g, c, unit, keep_negative, hrow)
        self._V.index_copy_(0, rows, Vout)
        self._inc.index_copy_(0, rows, Iout)
        self._nv.index_copy_(0, rows, tot)
        self._hid[rows, slot] = torch.arange(first, first + rows.shape[0], device=rows.device)
        self._nf.index_copy_(0, rows, slot + 1)
        return new_ids

    def _add_halfspaces(self, g: Tensor, c: Tensor, unit: Tensor, keep_negative: bool, hrow: Tensor | None) -> int:
        """Add a cut's half-spaces to the table: the positive parts' (``g . p + c >= 0``),
        then, for a split, the negative parts'; return the index of the first."""
        rowN = hrow if hrow is not None else _hrows(g, c)
        if keep_negative:
            return self.halfspaces.add(torch.cat([-rowN, rowN]), torch.cat([unit, unit]))
        return self.halfspaces.add(-rowN, unit)

    def _cut_np(self, S: Tensor, g: Tensor, c: Tensor, unit: Tensor, keep_negative: bool, hrow: Tensor | None = None):
        """``cut`` for CPU polytopes with one incidence word: the same steps (vertex pairs as
        ``_pairs``' mask, same order), the index work in numpy on views of the buffers.
        Returns ``(False, None)`` (nothing changed) when the new half-space would need a
        second incidence word. Its values are :func:`_np_values`' (bit-identical to
        ``_values`` for small ``k * Vm``)."""
        k = self.k
        Vm = self._V.shape[1]
        Sn = S.numpy()
        slot = self._nf.numpy()[Sn]
        if slot.size and int(slot.max()) + 1 > WORD:
            return False, None
        P_t = self._V.index_select(0, S)
        if k * Vm < _BMM_SMALL:
            vals, tol = _np_values(P_t.numpy(), g.numpy(), c.numpy(), self.atol)
        else:
            vals_t, tol_t = self._values(P_t, g, c)
            vals, tol = vals_t.numpy(), tol_t.numpy()
        valid = _np_arange(Vm) < self._nv.numpy()[Sn][:, None]
        pos = valid & (vals > tol)
        neg = valid & (vals < -tol)
        ok = pos.any(1) & neg.any(1)
        if not ok.all():
            # polytopes the hyperplane does not cross: nothing to cut
            okt = torch.from_numpy(ok)
            S, g, c, unit, P_t = S[okt], g[okt], c[okt], unit[okt], P_t[okt]
            hrow = hrow[okt] if hrow is not None else None
            Sn, slot, vals, valid, pos, neg = Sn[ok], slot[ok], vals[ok], valid[ok], pos[ok], neg[ok]
            if Sn.size == 0:
                return True, S
        n = Sn.shape[0]
        P = P_t.numpy().reshape(n * Vm, k)
        zer = valid & ~(pos | neg)
        self._ensure_slots(int(slot.max()) + 1)  # W stays 1 (slot + 1 <= WORD)
        bits = self._inc.numpy()[Sn, :, 0]  # (n, Vm)
        newbit = np.left_shift(np.int64(1), slot)  # (n,)
        # crossing edges: + and - vertices with no third vertex on all their common facets
        pr = np.flatnonzero(pos[:, :, None] & neg[:, None, :])  # (s * Vm + i) * Vm + j, sorted
        fi = pr // Vm  # s * Vm + i
        s_i = fi // Vm
        fj = pr - fi * Vm + s_i * Vm  # s * Vm + j
        bflat = bits.reshape(-1)
        common = bflat[fi] & bflat[fj]
        x = common  # at least k - 1 common half-spaces (a cheap filter, as _at_least)
        for _ in range(k - 2):
            x = x & (x - 1)
        sel = np.flatnonzero(x)
        fi, fj, s_i, common = fi[sel], fj[sel], s_i[sel], common[sel]
        # padding slots have no bits, so they are never inside
        edge = np.count_nonzero((common[:, None] & ~bits[s_i]) == 0, axis=1) == 2
        sel = np.flatnonzero(edge)
        fi, fj, s_i, common = fi[sel], fj[sel], s_i[sel], common[sel]
        M = s_i.shape[0]
        vflat = vals.reshape(-1)
        vi, vj = vflat[fi], vflat[fj]
        t = vi / (vi - vj)
        X = torch.lerp(torch.from_numpy(P[fi]), torch.from_numpy(P[fj]), torch.from_numpy(t).unsqueeze(1)).numpy()
        Xbits = common | newbit[s_i]
        nX = np.bincount(s_i, minlength=n)
        zbits = bits | np.where(zer, newbit[:, None], 0)
        xrank = np.arange(M) - (np.cumsum(nX) - nX)[s_i]

        # both parts at once: rows [positive parts; negative parts], each the kept old
        # vertices in order, then the new ones, as indices into [old vertices; new vertices]
        sides = 2 if keep_negative else 1
        keepv = np.concatenate([pos | zer, neg | zer]) if keep_negative else pos | zer  # (sides * n, Vm)
        rank = np.cumsum(keepv, 1)
        cnt = rank[:, -1]
        tot = cnt + (np.concatenate([nX, nX]) if keep_negative else nX)
        Vo = max(Vm, int(tot.max()))
        rr, qq = np.nonzero(keepv)
        mp = np.full((sides * n, Vo), -1, dtype=np.int64)
        mp[rr, rank[rr, qq] - 1] = (rr % n) * Vm + qq
        src_x = np.arange(n * Vm, n * Vm + M)
        mp[s_i, cnt[s_i] + xrank] = src_x
        if keep_negative:
            mp[s_i + n, cnt[s_i + n] + xrank] = src_x
        pad = mp < 0
        Vout = np.take(np.concatenate([P, X]), np.where(pad, mp[:, :1], mp), axis=0)  # (sides * n, Vo, k)
        Iout = np.take(np.concatenate([zbits.reshape(-1), Xbits, np.zeros(1, dtype=np.int64)]), np.where(pad, n * Vm + M, mp))

        self._widen(Vo)
        if keep_negative:
            new_ids = self._append_np(Sn)
            rows, slot = np.concatenate([Sn, new_ids.numpy()]), np.concatenate([slot, slot])
        else:
            new_ids, rows = None, Sn
        first = self._add_halfspaces(g, c, unit, keep_negative, hrow)
        self._V.numpy()[rows] = Vout  # (_widen: the buffers hold exactly Vo slots)
        self._inc.numpy()[rows, :, 0] = Iout
        self._nv.numpy()[rows] = tot
        self._hid.numpy()[rows, slot] = np.arange(first, first + rows.shape[0])
        self._nf.numpy()[rows] = slot + 1
        return True, new_ids

    def _append_np(self, src) -> Tensor:
        """``append(src, geometry=False)`` with numpy copies (CPU buffers)."""
        R, m = self.n, src.shape[0]
        need = R + m
        self._room(need)
        for name in _HFIELDS:
            t = getattr(self, "_" + name).numpy()
            t[R:need] = t[src]
        for _, t in self.carry.buffers():
            t = t.numpy()
            t[R:need] = t[src]
        self.n = need
        return torch.arange(R, need)

    @staticmethod
    def _edges(common: Tensor, nbits: Tensor, valid: Tensor | None) -> Tensor:
        """Pairs whose common half-spaces ``common`` ``(M, W)`` hold no third vertex.

        ``nbits`` ``(M, Vm, W)``: the complemented masks of the pair's polytope. i and j
        themselves are inside; padding slots never are (no bits, and an edge has
        ``k - 1 >= 1`` common bits), save for ``k = 1``, where ``valid`` masks them.
        """
        inside = (common.unsqueeze(1) & nbits) == 0
        inside = inside.squeeze(-1) if inside.shape[-1] == 1 else inside.all(-1)
        if valid is not None:
            inside &= valid
        return inside.sum(1) == 2

    def vertex_mean(self, idx: Tensor | None = None) -> Tensor:
        V = self.V if idx is None else self.V[idx]
        nv = self.nv if idx is None else self.nv[idx]
        valid = (torch.arange(V.shape[1], device=V.device) < nv.unsqueeze(1)).unsqueeze(-1)
        return torch.where(valid, V, 0.0).sum(1) / nv.clamp_min(1).unsqueeze(1).to(V.dtype)


# ---------------------------------------------------------------------- refinement


def _pairs(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """Flat indices ``s * Vm + i``, ``s * Vm + j`` of every pair of a ``pos`` and a ``neg``
    vertex of the same polytope, sorted by ``(s, i, j)``."""
    n, Vm = pos.shape
    if Vm <= _PAIRS_MASK_VM:
        # small polytopes: one mask of all (s, i, j) is fewest ops
        pr = (pos.unsqueeze(2) & neg.unsqueeze(1)).view(n * Vm, Vm).nonzero()  # rows (s * Vm + i, j)
        fi = pr[:, 0]
        return fi, fi - fi % Vm + pr[:, 1]
    # many vertices: the product of the + and - lists per polytope (no (n, Vm, Vm) mask)
    pi = pos.view(-1).nonzero().squeeze(1)  # s * Vm + i, sorted
    ni = neg.view(-1).nonzero().squeeze(1)
    npos, nneg = pos.sum(1), neg.sum(1)
    cnt = npos * nneg
    s = torch.repeat_interleave(torch.arange(n, device=pos.device), cnt)
    local = torch.arange(s.shape[0], device=pos.device) - (cnt.cumsum(0) - cnt)[s]
    nn_ = nneg[s]
    fi = pi[(npos.cumsum(0) - npos)[s] + local // nn_]
    fj = ni[(nneg.cumsum(0) - nneg)[s] + local % nn_]
    return fi, fj


def _hrows(g: Tensor, c: Tensor) -> Tensor:
    """Half-space rows ``[g, -c] / |g|`` of the hyperplanes ``g . p + c = 0``."""
    return torch.cat([g, -c.unsqueeze(1)], 1) / g.norm(dim=1, keepdim=True)


_BMM_SMALL = 400  # torch's small-matrix baddbmm (naive loops) below this many multiply-adds a matrix


def _np_values(P: np.ndarray, g: np.ndarray, c: np.ndarray, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """``PolyState._values`` in numpy, ``P`` ``(n, Vm, k)``, ``g`` ``(n, k)``: the same sums in the
    same order as torch's small-matrix baddbmm (bit-identical while ``k * Vm < 400``)."""
    k = P.shape[-1]
    Pa, ga = np.abs(P), np.abs(g)
    acc = P[..., 0] * g[..., None, 0]
    mag = Pa[..., 0] * ga[..., None, 0]
    for i in range(1, k):
        acc += P[..., i] * g[..., None, i]
        mag += Pa[..., i] * ga[..., None, i]
    acc += c[..., None]
    mag += np.abs(c)[..., None]
    mag *= atol
    mag += atol
    return acc, mag


_NP_ARANGE: dict = {}


def _np_arange(n: int) -> np.ndarray:
    """A cached numpy ``arange(n)`` (never written to)."""
    a = _NP_ARANGE.get(n)
    if a is None:
        a = _NP_ARANGE[n] = np.arange(n)
    return a


def _line_priority(ids: Tensor) -> Tensor:
    x = (ids.to(torch.int64) * 2654435761 + 0x9E3779B9) & 0x7FFFFFFF
    x = (x ^ (x >> 15)) * 2246822519 & 0x7FFFFFFF
    return x ^ (x >> 13)


def refine_univariate(state: PolyState, z: Tensor, op, unit_offset: int, pieces: bool = True):
    """Refine by a univariate node with input forms ``z`` ``(R, 1 + k, U)``.

    Returns ``(parent, choice, pattern)`` per final fragment, as the 2-D engine (without
    ``pieces``: ``(parent, None, None)``, for a count).
    """
    R, _, U = z.shape
    dev = z.device
    bp, _, _ = op.unit_tables(U)
    K = bp.shape[1]
    Vm = state.V.shape[1]
    base = torch.zeros((R, U), dtype=torch.int16, device=dev)
    on_code = torch.zeros((R, U), dtype=torch.int16, device=dev)
    crossing = torch.zeros((R, U, K), dtype=torch.bool, device=dev)
    zero_levels = bool((bp == 0).all())  # ReLU-like: v = lin and tol = mag * atol + atol exactly
    atol = state.atol
    # each (region, unit, level) decided from its extreme vertex values (_sure_sides). Where
    # the region's bounding box keeps every level beyond _sure_sides' bound, the box's
    # extremes (padded by more than the rounding of both) give the same decisions; the
    # vertex extremes are computed for the other (region, unit) pairs only.
    V = state.V
    hiV, loV = V.amax(1), V.amin(1)  # (R, k): slots past nv repeat vertex 0
    zabs = z.abs()
    big = torch.baddbmm(zabs[:, 0:1, :], torch.maximum(hiV, -loV).unsqueeze(1), zabs[:, 1:, :]).squeeze(1)  # (R, U)
    cval = torch.baddbmm(z[:, 0:1, :], ((hiV + loV) * 0.5).unsqueeze(1), z[:, 1:, :]).squeeze(1)
    spread = torch.bmm(((hiV - loV) * 0.5).unsqueeze(1), zabs[:, 1:, :]).squeeze(1).add_(big * 1e-12)
    vmax, vmin = cval + spread, cval - spread
    near = torch.zeros((R, U), dtype=torch.bool, device=dev)
    for j in range(K):
        t = bp[:, j]
        bound = _sure_bound(big + t.abs(), atol)
        near |= (vmin - t <= bound) & (vmax - t >= -bound)
    r_n, u_n = near.nonzero(as_tuple=True)
    step = max(1, (1 << 18) // max(1, Vm))  # bounded memory for the (pairs, Vm, k) vertices
    for s0 in range(0, r_n.shape[0], step):
        rb, ub = r_n[s0:s0 + step], u_n[s0:s0 + step]
        zb = z[rb, :, ub]  # (m, 1 + k)
        lin = torch.baddbmm(zb[:, 0:1, None], V[rb], zb[:, 1:, None]).squeeze(-1)  # (m, Vm)
        vmax[rb, ub], vmin[rb, ub] = lin.amax(1), lin.amin(1)
    for j in range(K):
        t = bp[:, j]
        hi, lo = (vmax, vmin) if zero_levels else (vmax - t, vmin - t)
        p, q, unsure = _sure_sides(hi, lo, big + t.abs(), atol)
        if bool(unsure.any()):
            r_u, u_u = unsure.nonzero(as_tuple=True)
            Vu, zu = state.V[r_u], z[r_u, :, u_u]  # (m, Vm, k), (m, 1 + k)
            v = torch.baddbmm(zu[:, 0:1, None], Vu, zu[:, 1:, None]).squeeze(-1) - t[u_u, None]
            tol = torch.baddbmm(zu[:, 0:1, None].abs(), Vu.abs(), zu[:, 1:, None].abs()).squeeze(-1)
            tol = (tol + t[u_u, None].abs()).mul_(atol).add_(atol)
            p[r_u, u_u] = (v > tol).any(1)
            q[r_u, u_u] = (v < -tol).any(1)
        base += (p & ~q).to(torch.int16)
        on_code = torch.where(~p & ~q & (on_code == 0), torch.full_like(on_code, -(j + 1)), on_code)
        crossing[:, :, j] = p & q
    r_idx, u_idx, j_idx = crossing.nonzero(as_tuple=True)
    key = _line_priority(u_idx * (K + 1) + j_idx)
    order = torch.argsort(r_idx * (1 << 31) + key)
    r_idx, u_idx, j_idx = r_idx[order], u_idx[order], j_idx[order]
    ct = torch.bincount(r_idx, minlength=R)
    start = ct.cumsum(0) - ct
    g_line = z[r_idx, 1:, u_idx]  # (L, k)
    c_line = z[r_idx, 0, u_idx] - bp[u_idx, j_idx]
    g_abs, c_abs = g_line.abs(), c_line.abs()
    unit_line = u_idx + unit_offset
    h_line = _hrows(g_line, c_line)
    if R == 1 and ARRANGEMENT and u_idx.numel():
        # one parent (the first layer): its cells at once, when the arrangement is simple
        sigma = _arrangement_cells(state, g_line, c_line, h_line, unit_line)  # (C, L): above each line
        if sigma is not None:
            C = sigma.shape[0]
            par = torch.zeros(C, dtype=torch.long, device=dev)
            choice = base[par]
            # each crossing level a cell lies above adds one to its unit's piece
            choice.index_add_(1, u_idx, sigma.to(choice.dtype))
            oc = on_code[par]
            return par, choice, torch.where(oc != 0, oc, choice)
    # each fragment walks through its parent's lines [cur, end)
    state.carry["par"] = torch.arange(R, device=dev)
    state.carry["walk"] = torch.stack([start, start + ct], 1)  # (cur, end): one carried tensor
    # capacity: every line adds at least one polytope (twice that: untouched rows cost no
    # memory, a growth copies every row), and one slot along each chain of cuts
    state._room(R + 2 * r_idx.shape[0])
    if r_idx.numel():
        state._ensure_slots(min(WORD, int((state.nf + ct).max())))
    steps = torch.arange(4 * WINDOW, device=dev)
    if NUMPY_CUT and dev.type == "cpu":
        _walk_np(state, g_line, c_line, g_abs, c_abs, unit_line, h_line)
        r_idx = r_idx[:0]  # done
    while r_idx.numel():
        walk = state.carry["walk"]
        cur, end = walk[:, 0], walk[:, 1]
        act = (cur < end).nonzero().squeeze(1)
        if act.numel() == 0:
            break
        c0, e0 = cur[act], end[act]
        rem = int((e0 - c0).max())
        if rem <= WINDOW:
            # few lines left: each fragment tries its next line (as _walk_np)
            cur[act] = c0 + 1
            state.cut(act, g_line[c0], c_line[c0], unit_line[c0], hrow=h_line[c0])
            continue
        Wn = WINDOW if rem <= 8 * WINDOW else 4 * WINDOW
        li = c0.unsqueeze(1) + steps[:Wn]
        valid_w = li < e0.unsqueeze(1)
        li = torch.where(valid_w, li, 0)
        blk = max(1, _CHECK_BLOCK // (Wn * state.V.shape[1]))
        if act.shape[0] <= blk:
            cross = _crossing(state, act, g_line, c_line, g_abs, c_abs, li) & valid_w
        else:
            cross = torch.cat([_crossing(state, act[a0:a0 + blk], g_line, c_line, g_abs, c_abs, li[a0:a0 + blk])
                               for a0 in range(0, act.shape[0], blk)]) & valid_w
        any_cross = cross.any(1)
        first = torch.where(any_cross, cross.to(torch.int8).argmax(1), Wn - 1)
        # past the first crossing line, or past the window (at most to the end)
        cur[act] = torch.minimum(c0 + first + 1, e0)
        sel = any_cross.nonzero().squeeze(1)
        if sel.numel():
            lsel = li[sel, first[sel]]
            state.cut(act[sel], g_line[lsel], c_line[lsel], unit_line[lsel], hrow=h_line[lsel])
    state.carry.pop("walk")
    par = state.carry.pop("par")
    if not pieces:
        return par, None, None
    F = par.shape[0]
    choice = base[par]
    cnt = ct[par]
    total = int(cnt.sum()) if F else 0
    if total:
        # the side of each crossing line at the centroid, for the fragments of parents with lines
        has = cnt.nonzero().squeeze(1)
        cnt_h = cnt[has]
        frag_h = torch.repeat_interleave(torch.arange(has.shape[0], device=dev), cnt_h)
        first_pair = cnt_h.cumsum(0) - cnt_h
        li = start[par[has][frag_h]] + torch.arange(total, device=dev) - first_pair[frag_h]
        val = (state.vertex_mean(has)[frag_h] * g_line[li]).sum(1) + c_line[li]
        frag = has[frag_h]
        up = val > 0
        choice.index_put_((frag[up], u_idx[li[up]]), torch.ones(int(up.sum()), dtype=choice.dtype, device=dev), accumulate=True)
    oc = on_code[par]
    return par, choice, torch.where(oc != 0, oc, choice)


_ARRANGEMENT_BUDGET = 1 << 19  # k-subsets of hyperplanes the one-parent arrangement may solve
ARRANGEMENT = True  # one parent polytope: cells of a simple arrangement at once (False: always walk)


def _arrangement_cells(state: PolyState, g_line: Tensor, c_line: Tensor, h_line: Tensor, unit_line: Tensor):
    """Replace the one polytope of ``state`` by the cells of its lines, built at once.

    The vertices of the cells are the parent's vertices and the points where ``k`` of
    the hyperplanes (the parent's half-spaces and the lines ``g . p + c = 0``, at least
    one line) meet inside the parent. In a *simple* arrangement (every vertex on exactly
    ``k`` hyperplanes, save parent vertices on no line) a vertex on ``j`` lines lies in
    exactly ``2^j`` cells, one per choice of sides of those lines, and every cell has a
    vertex: the cells are the distinct sign vectors so completed, and their vertices
    the points that complete to them. Anything else (a vertex on more than ``k``
    hyperplanes, a point its own hyperplanes do not hold, too many subsets or lines)
    returns ``None`` and leaves ``state`` unchanged, for the walk.

    Returns ``sigma`` ``(C, L)``: whether each cell lies on the side ``g . p + c > 0`` of
    each line, the cells being the new polytopes of ``state``.
    """
    k, atol = state.k, state.atol
    dev = state.V.device
    nf0 = int(state.nf[0])
    hid_p = state.hid[0, :nf0]
    hid_p = hid_p[hid_p >= 0]
    table, _ = state.halfspaces.tables()
    Hp = table[hid_p]  # a . p <= b, |a| = 1
    f, m = Hp.shape[0], g_line.shape[0]
    if f + m > WORD or comb(f + m, k) > _ARRANGEMENT_BUDGET or state.inc.shape[2] != 1:
        return None
    # candidate points: k hyperplanes, the last (largest index) a line
    hyp = torch.cat([Hp, h_line])  # rows [a, b]: a . p = b
    combos = _subsets_with_line(f, m, k).to(dev)
    M = hyp[combos]  # (n, k, k + 1)
    det = torch.linalg.det(M[:, :, :k])
    combos, M = combos[det.abs() > 1e-9], M[det.abs() > 1e-9]
    X = torch.linalg.solve(M[:, :, :k], M[:, :, k])  # (n, k)
    V0 = state.V[0, : int(state.nv[0])]
    pts = torch.cat([V0, X])
    a, b = Hp[:, :k], Hp[:, k]
    pv = pts @ a.T - b
    ptol = (pts.abs() @ a.abs().T + b.abs()).mul_(atol).add_(atol)
    inside = (pv <= ptol).all(1)
    inside[: V0.shape[0]] = True
    pts, pv, ptol = pts[inside], pv[inside], ptol[inside]
    lv = pts @ g_line.T + c_line
    ltol = (pts.abs() @ g_line.abs().T + c_line.abs()).mul_(atol).add_(atol)
    on_line = lv.abs() <= ltol  # (P, m)
    on_face = pv.abs() <= ptol  # (P, f)
    tight = torch.cat([on_face, on_line], 1)
    nV0 = V0.shape[0]
    n_line = on_line.sum(1)
    n_tight = tight.sum(1)
    new = torch.arange(pts.shape[0], device=dev) >= nV0
    # new points must be held by their own k hyperplanes (else ill-conditioned)
    own = tight[new].gather(1, combos[inside[nV0:]]).all(1)
    simple = bool(own.all()) and bool((n_tight[new] == k).all()) and bool((n_line[~new] == 0).all())
    if not simple:
        return None
    bits = (1 << torch.arange(f + m, device=dev))
    key = (tight.long() * bits).sum(1)
    key_u, first = _unique_first(key)
    pts, key, on_line, lv, ltol = pts[first], key_u, on_line[first], lv[first], ltol[first]
    # sign vectors: the lines a point is strictly above, completed over the lines it is on
    lbits = bits[:m]
    above = ((lv > ltol).long() * lbits).sum(1)
    j_max = int(on_line.sum(1).max())
    pos = torch.sort(torch.where(on_line, torch.arange(m, device=dev), m), dim=1).values[:, :max(j_max, 1)]  # tight lines first
    nj = on_line.sum(1)
    sub = torch.arange(1 << j_max, device=dev)
    P = pts.shape[0]
    pi, si = (sub.unsqueeze(0) < (1 << nj).unsqueeze(1)).nonzero(as_tuple=True)  # (point, subset)
    add = torch.zeros_like(pi)
    for i in range(j_max):
        sel = ((si >> i) & 1).bool()
        add[sel] |= 1 << pos[pi[sel], i]
    sig = above[pi] | add
    cell_sig, cell = torch.unique(sig, return_inverse=True)
    C = cell_sig.shape[0]
    order = torch.argsort(cell * P + pi)
    cell, pi = cell[order], pi[order]
    nv = torch.bincount(cell, minlength=C)
    if bool((nv <= k).any()):
        return None  # (a full-dimensional cell has more than k vertices)
    Vm = int(nv.max())
    slot = torch.arange(cell.shape[0], device=dev) - (nv.cumsum(0) - nv)[cell]
    src = torch.full((C, Vm), -1, dtype=torch.long, device=dev)
    src[cell, slot] = pi
    pad = src < 0
    src = torch.where(pad, src[:, :1], src)
    V = pts[src]  # (C, Vm, k): padding repeats vertex 0
    inc = torch.where(pad, 0, key[src]).unsqueeze(-1)
    sigma = ((cell_sig.unsqueeze(1) >> torch.arange(m, device=dev)) & 1).bool()  # (C, m)
    # g . p + c <= 0 below (the rows h_line), >= 0 above (-h_line)
    first = state.halfspaces.add(torch.cat([h_line, -h_line]), torch.cat([unit_line, unit_line]))
    below = torch.arange(first, first + m, device=dev)
    hid = torch.cat([hid_p.expand(C, -1), torch.where(sigma, below + m, below)], 1)
    state.n = C
    state.V, state.nv, state.hid, state.inc = V, nv, hid, inc
    # every cell lists all the lines: the ones not among its facets (fewer than k of its
    # vertices) are harmless to the cuts, dropped by the next compaction or at the end
    state.nf = torch.full((C,), f + m, dtype=torch.long, device=dev)
    return sigma


_SUBSETS: dict = {}


def _subsets_with_line(f: int, m: int, k: int) -> Tensor:
    """All ``k``-subsets (sorted rows) of ``range(f + m)`` whose largest member is ``>= f``
    (cached; ``torch.combinations`` builds all ``(f + m)^k`` tuples first)."""
    key = (f, m, k)
    out = _SUBSETS.get(key)
    if out is None:
        from itertools import chain, combinations

        rows = chain.from_iterable((c + (last,) for c in combinations(range(last), k - 1)) for last in range(f, f + m))
        out = torch.tensor(list(rows), dtype=torch.long).reshape(-1, k)
        if len(_SUBSETS) > 64:
            _SUBSETS.clear()
        _SUBSETS[key] = out
    return out


def _unique_first(key: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct values of ``key`` (in order of first occurrence) and their first positions."""
    u, inv = torch.unique(key, return_inverse=True)
    first = torch.full((u.shape[0],), key.shape[0], dtype=torch.long, device=key.device)
    first.scatter_reduce_(0, inv, torch.arange(key.shape[0], device=key.device), "amin")
    first = torch.sort(first).values
    return key[first], first


def _walk_np(state: PolyState, g_line, c_line, g_abs, c_abs, unit_line, h_line) -> None:
    """The walk of ``refine_univariate`` for CPU states, its index work in numpy. The window
    check is the torch walk's (``_crossing``), so both walks cut the same polytopes by the
    same lines."""
    steps = np.arange(4 * WINDOW)
    while True:
        walk = state.carry["walk"].numpy()  # a view: the writes to cur below are the walk's
        cur, end = walk[:, 0], walk[:, 1]
        act = np.flatnonzero(cur < end)
        if act.size == 0:
            break
        c0, e0 = cur[act], end[act]
        rem = int((e0 - c0).max())
        if rem <= WINDOW:
            # few lines left: each fragment tries its next line; the cut drops those it
            # does not cross (the test a window would make, without the window)
            cur[act] = c0 + 1
            lc = torch.from_numpy(c0)
            state.cut(torch.from_numpy(act), g_line[lc], c_line[lc], unit_line[lc], hrow=h_line[lc])
            continue
        Wn = WINDOW if rem <= 8 * WINDOW else 4 * WINDOW
        li = c0[:, None] + steps[:Wn]
        valid_w = li < e0[:, None]
        li = np.where(valid_w, li, 0)
        Vm = state.V.shape[1]
        blk = max(1, _CHECK_BLOCK // (Wn * Vm))
        act_t, li_t = torch.from_numpy(act), torch.from_numpy(li)
        parts = [_crossing(state, act_t[a0:a0 + blk], g_line, c_line, g_abs, c_abs, li_t[a0:a0 + blk]).numpy()
                 for a0 in range(0, act.shape[0], blk)]
        cross = (parts[0] if len(parts) == 1 else np.concatenate(parts)) & valid_w
        any_cross = cross.any(1)
        first = np.where(any_cross, cross.argmax(1), Wn - 1)
        # past the first crossing line, or past the window (at most to the end)
        cur[act] = np.minimum(c0 + first + 1, e0)
        sel = np.flatnonzero(any_cross)
        if sel.size:
            lsel = torch.from_numpy(li[sel, first[sel]])
            state.cut(torch.from_numpy(act[sel]), g_line[lsel], c_line[lsel], unit_line[lsel], hrow=h_line[lsel])


def _crossing(state: PolyState, act: Tensor, g_line, c_line, g_abs, c_abs, li: Tensor) -> Tensor:
    """Whether line ``li[a, w]`` has vertices of polytope ``act[a]`` strictly on both sides
    (decided by :func:`_sure_sides`; only the polytopes with an undecided line, rare, get
    the per-vertex tolerances)."""
    P = state.V[act]
    Pt = P.transpose(1, 2)
    vals = torch.baddbmm(c_line[li].unsqueeze(-1), g_line[li], Pt)  # (A, Wn, Vm)
    atol = state.atol
    mag = torch.bmm(g_abs[li], P.abs().amax(1).unsqueeze(-1)).squeeze(-1).add_(c_abs[li])
    p, q, unsure = _sure_sides(vals.amax(-1), vals.amin(-1), mag, atol)
    unsure = unsure.any(1).nonzero().squeeze(1)
    if unsure.numel():
        lu = li[unsure]
        tol = torch.baddbmm(c_abs[lu].unsqueeze(-1), g_abs[lu], Pt[unsure].abs()).mul_(atol).add_(atol)
        v = vals[unsure]
        p[unsure] = torch.sub(v, tol).amax(-1) > 0
        q[unsure] = torch.add(v, tol).amin(-1) < 0
    return p & q


def _sure_bound(mag: Tensor, atol: float) -> Tensor:
    """``atol (1 + mag)`` with slack for rounding: the largest per-vertex tolerance of a cut
    (see :func:`_sure_sides`)."""
    slack = atol * (1.0 + 1e-6)
    return mag.mul(slack).add_(slack)


def _sure_sides(hi: Tensor, lo: Tensor, mag: Tensor, atol: float) -> tuple[Tensor, Tensor, Tensor]:
    """The per-vertex tests of a cut from the extreme values alone, where they decide.

    A vertex ``p_v`` is above a line ``g . p + c - t = 0`` when its value exceeds
    ``tol_v = atol (1 + |g| . |p_v| + |c| + |t|)``, below when under ``-tol_v``. Every
    ``tol_v`` lies in ``[atol, bound]``, ``bound = atol (1 + mag)`` with ``mag = |g| .
    max_v |p_v| + |c| + |t|`` (with slack for rounding), so the largest value ``hi`` and
    the smallest ``lo`` decide "some vertex above" (``p``) and "some vertex below" (``q``)
    unless one of them falls in ``(atol, bound]``: ``unsure`` marks those, whose ``p`` and
    ``q`` the caller replaces by the per-vertex tests.
    """
    bound = _sure_bound(mag, atol)
    p, q = hi > bound, lo < -bound
    return p, q, ((hi > atol) & ~p) | ((lo < -atol) & ~q)


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
