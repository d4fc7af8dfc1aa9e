"""Regions per second of the exact n-D engines.

1. Vertex engine: seed-0 MLPs ``d-w-w-w-1`` (built as in ``partition_2d.py``: nn.Linear +
   nn.ReLU, PyTorch default init, float64) on the box ``[-1, 1]^d``, counting the
   activation regions of the hidden layers. Reference counts (peers.md): d = 3:
   w = 8 -> 141, w = 16 -> 1373.
2. LP engine: regions per second in an l-inf ball of radius ``--lp-radius`` (0.01) around
   inputs of a seed-0 784-64-64-10 MLP (Gaussian inputs of scale 0.5), each ball stopped
   after ``--lp-time-limit`` seconds (the regions found by then count: a ball of radius
   0.01 there meets hundreds of regions), and the same for the vertex engine's range
   where both apply (d = 3) for comparison.

Usage::

    python benchmarks/partition_nd.py [--cases 3-8,3-16,4-8,4-16,6-8] [--repeats 5] [--lp-points 3]
                                      [--lp-radius 0.01] [--lp-time-limit 30]

Reports best and median of ``--repeats`` timed runs after a warm-up, and peak memory, for the
full partition (``partition_polytope``: facets, witnesses, vertices, affine maps, adjacency)
and for the count alone (``count_regions``: the same engine, no partition built; the
quantity edge subdivision reports). Peak memory is the growth of the process's peak RSS
during the case (0 when an earlier case already reached it).

The default cases stop at 6-8 (2503 regions, under 1 s a run). ``--cases 6-16`` runs,
but is not a default: the seed-0 6-16-16-16-1 box has 60714 regions (6291 after the
first layer, 35227 after the second) with about 65 vertices each on average and up to
~600, which the vertex engine holds padded to the largest count; one run takes about
40 s on the 2-core machine and 6.4 GB of memory (peak RSS), so the warm-up and repeats
would make ``make bench`` take about 4 minutes and hold 6 GB. (Before the memory blocks
of the cuts and of the incidence unpacking it ran out of memory in the third layer.)
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

import regionlab
from regionlab.domains import Box, LinfBall

REFERENCE = {(3, 8): 141, (3, 16): 1373}


def seed0_mlp(d: int, w: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(d, w), torch.nn.ReLU(),
        torch.nn.Linear(w, w), torch.nn.ReLU(),
        torch.nn.Linear(w, w), torch.nn.ReLU(),
        torch.nn.Linear(w, 1),
    ).double()


def timed(fn, repeats):
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="3-8,3-16,4-8,4-16,6-8", help="comma-separated d-w pairs")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--lp-points", type=int, default=3)
    ap.add_argument("--lp-radius", type=float, default=0.01)
    ap.add_argument("--lp-time-limit", type=float, default=30.0)
    ap.add_argument("--skip-lp", action="store_true")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("vertex engine, seed-0 d-w-w-w-1 on [-1, 1]^d")
    print("  partition: partition_polytope (regions with facets, witnesses, vertices, affine maps, adjacency)")
    print("  count:     count_regions (the same engine's count, no partition built; what edge subdivision reports)")
    print(f"{'d':>3} {'w':>4} {'what':>9} {'regions':>8} {'ref':>6} {'ok':>3} {'best s':>8} {'median s':>9} {'regions/s':>10} "
          f"{'peak MB':>8}")
    for case in args.cases.split(","):
        d, w = (int(x) for x in case.split("-"))
        net = regionlab.trace(seed0_mlp(d, w), torch.zeros(1, d, dtype=torch.float64))
        box = Box([-1.0] * d, [1.0] * d)
        ref = REFERENCE.get((d, w))
        runs = [("count", lambda: regionlab.count_regions(net, box, engine="vertex")),  # noqa: B023
                ("partition", lambda: regionlab.partition_polytope(net, box, engine="vertex").num_regions)]  # noqa: B023
        for what, fn in runs:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            n, best, med = timed(fn, args.repeats)
            peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            ok = "-" if ref is None else ("yes" if ref == n else "NO")
            print(f"{d:>3} {w:>4} {what:>9} {n:>8} {ref if ref else '-':>6} {ok:>3} {best:>8.3f} {med:>9.3f} "
                  f"{n / best:>10.0f} {peak:>8.0f}")
    if args.skip_lp:
        return
    print(f"LP engine, l-inf ball r = {args.lp_radius:g} around Gaussian inputs of a seed-0 784-64-64-10 MLP")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 10)).double()
    net = regionlab.trace(model, torch.zeros(1, 784, dtype=torch.float64))
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(args.lp_points, 784, generator=gen, dtype=torch.float64) * 0.5
    total, secs = 0, 0.0
    for x in X:
        t0 = time.perf_counter()
        try:
            part = regionlab.partition_polytope(net, LinfBall(x, args.lp_radius), engine="lp",
                                                time_limit=args.lp_time_limit)
            status = "complete"
        except regionlab.errors.RegionLimitExceeded as exc:
            part, status = exc.partial, f"stopped at the {args.lp_time_limit:g} s limit"
        dt = time.perf_counter() - t0
        secs += dt
        total += part.num_regions
        print(f"  point: {part.num_regions} regions, {dt:.2f} s, {status}")
    print(f"LP engine: {total} regions in {secs:.2f} s = {total / secs:.1f} regions/s")
    d = 3
    net3 = regionlab.trace(seed0_mlp(d, 8), torch.zeros(1, d, dtype=torch.float64))
    box = Box([-1.0] * d, [1.0] * d)
    part, best, _ = timed(lambda: regionlab.partition_polytope(net3, box, engine="lp"), 1)
    print(f"LP engine on 3-8-8-8-1 in [-1,1]^3: {part.num_regions} regions in {best:.2f} s = {part.num_regions / best:.0f} regions/s")


if __name__ == "__main__":
    main()
