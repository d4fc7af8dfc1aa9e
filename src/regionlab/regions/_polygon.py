"""Batched convex-polygon primitives used by the exact 2-D engine.

Polygons are padded tensors: vertices ``P`` of shape ``(F, V, 2)`` in counter-clockwise
order and vertex counts ``nv`` ``(F,)``; entries past ``nv`` are ignored.
"""

from __future__ import annotations

import torch
from torch import Tensor


def valid_mask(nv: Tensor, V: int) -> Tensor:
    return torch.arange(V, device=nv.device).unsqueeze(0) < nv.unsqueeze(1)


def next_index(nv: Tensor, V: int) -> Tensor:
    ar = torch.arange(V, device=nv.device).unsqueeze(0) + 1
    return torch.where(ar < nv.unsqueeze(1), ar, torch.zeros_like(ar))


def classify(vals: Tensor, nv: Tensor, tol: Tensor) -> Tensor:
    """Side of each vertex: +1, -1, or 0 when within ``tol`` (padding gets 0)."""
    if tol.dim() == 1:  # one tolerance per polygon, else one per vertex
        tol = tol.unsqueeze(1)
    c = (vals > tol).to(torch.int8) - (vals < -tol).to(torch.int8)
    return c * valid_mask(nv, vals.shape[1]).to(torch.int8)


def area_centroid(P: Tensor, nv: Tensor) -> tuple[Tensor, Tensor]:
    """Signed area (positive for CCW) and area centroid of each polygon."""
    V = P.shape[1]
    valid = valid_mask(nv, V)
    nxt = next_index(nv, V)
    Q = P.gather(1, nxt.unsqueeze(-1).expand(-1, -1, 2))
    cross = (P[..., 0] * Q[..., 1] - Q[..., 0] * P[..., 1]) * valid
    area = 0.5 * cross.sum(1)
    cx = ((P[..., 0] + Q[..., 0]) * cross).sum(1)
    cy = ((P[..., 1] + Q[..., 1]) * cross).sum(1)
    denom = (6.0 * area).unsqueeze(1)
    cen = torch.stack([cx, cy], 1) / torch.where(denom.abs() > 0, denom, torch.ones_like(denom))
    # fall back to the vertex mean for (near) zero-area polygons
    mean = (P * valid.unsqueeze(-1)).sum(1) / nv.clamp_min(1).unsqueeze(1)
    cen = torch.where(area.abs().unsqueeze(1) > 1e-300, cen, mean)
    return area, cen


def vertex_mean(P: Tensor, nv: Tensor) -> Tensor:
    """Mean of the vertices: a point strictly inside a non-degenerate convex polygon."""
    valid = valid_mask(nv, P.shape[1]).unsqueeze(-1)
    return (P * valid).sum(1) / nv.clamp_min(1).unsqueeze(1).to(P.dtype)


def _parts(P: Tensor, nv: Tensor, vals: Tensor, cls: Tensor, signs: tuple[int, ...]):
    """The parts of each polygon on the closed sides ``signs`` of its line, in one pass.

    Vertices on a kept side stay in order, and each edge whose ends lie strictly on
    opposite sides contributes its crossing point. Returns the padded parts
    ``(len(signs) * F, Vn, 2)`` (side after side), their vertex counts, and, for the
    first side, the output positions of the vertices on the line and of the crossings
    (``(F, 2V)``, a large value where there is none), in boundary order.
    """
    F, V, _ = P.shape
    dev = P.device
    valid = valid_mask(nv, V)
    nxt = next_index(nv, V)
    c_next = cls.gather(1, nxt)
    s_next = vals.gather(1, nxt)
    P_next = P.gather(1, nxt.unsqueeze(-1).expand(-1, -1, 2))
    cross = valid & ((cls.to(torch.int16) * c_next.to(torch.int16)) < 0)
    denom = torch.where(cross, vals - s_next, torch.ones_like(vals))
    X = P + (vals / denom).unsqueeze(-1) * (P_next - P)
    n = len(signs)
    keep = torch.cat([valid & ((cls * sg) >= 0) for sg in signs], 0)  # (nF, V)
    crossn = cross.repeat(n, 1)
    e = keep.to(torch.long) + crossn.to(torch.long)
    pos = e.cumsum(1) - e
    n_out = e.sum(1)
    Vn = max(int(n_out.max().item()) if F else 0, 1)
    out = torch.zeros((n * F, Vn, 2), dtype=P.dtype, device=dev)
    base = (torch.arange(n * F, device=dev) * Vn).unsqueeze(1)
    flat = out.view(-1, 2)
    flat[(base + pos)[keep]] = P.repeat(n, 1, 1)[keep]
    xpos = pos + keep.to(torch.long)
    flat[(base + xpos)[crossn]] = X.repeat(n, 1, 1)[crossn]
    on_v = valid & (cls == 0)
    big = torch.full((F, V), 1 << 40, dtype=torch.long, device=dev)
    key = torch.cat([torch.where(on_v, pos[:F], big), torch.where(cross, xpos[:F], big)], 1)
    return out, n_out, key


def split_both(P: Tensor, nv: Tensor, vals: Tensor, cls: Tensor):
    """Split polygons by their lines in one pass: ``(P_pos, nv_pos, P_neg, nv_neg, cut)``.

    All polygons must have vertices strictly on both sides; ``cut`` ``(F, 2, 2)`` holds
    the endpoints of the cutting segment.
    """
    F = P.shape[0]
    out, n_out, key = _parts(P, nv, vals, cls, (+1, -1))
    # the cut: the first two points of the positive part that lie on the line
    two = key.topk(2, dim=1, largest=False).values.clamp_max(out.shape[1] - 1)
    cut = out[:F].gather(1, two.unsqueeze(-1).expand(F, 2, 2))
    return out[:F], n_out[:F], out[F:], n_out[F:], cut


def clip(P: Tensor, nv: Tensor, vals: Tensor, cls: Tensor):
    """Keep the part of each polygon where the line's value is >= 0 (within tolerance)."""
    out, n_out, _ = _parts(P, nv, vals, cls, (+1,))
    return out, n_out


def pad_to(P: Tensor, V: int) -> Tensor:
    if P.shape[1] >= V:
        return P
    return torch.cat([P, P.new_zeros(P.shape[0], V - P.shape[1], 2)], 1)
