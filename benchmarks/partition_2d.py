"""Regions per second of the exact 2-D engine on the seed-0 reference MLPs.

Networks: ``torch.manual_seed(0)``, then ``2-w-w-w-1`` (``nn.Linear`` + ``nn.ReLU``,
PyTorch default init, converted to float64); domain ``[-1, 1]^2``; counted: the
activation regions of the three hidden layers (the output unit adds none). Reference
counts (shared/reference/peers.md): 25, 178, 1180, 6668, 20714, 79783.

Usage::

    python benchmarks/partition_2d.py [--widths 8,16,32,64,128,256] [--repeats 5]

Reports the best and the median of ``--repeats`` timed runs after one warm-up, the
peak resident memory growth, and whether the count matches the reference.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

import regionlab

REFERENCE = {8: 25, 16: 178, 32: 1180, 64: 6668, 128: 20714, 256: 79783}


def seed0_mlp(d: int, w: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(d, w), torch.nn.ReLU(),
        torch.nn.Linear(w, w), torch.nn.ReLU(),
        torch.nn.Linear(w, w), torch.nn.ReLU(),
        torch.nn.Linear(w, 1),
    ).double()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="8,16,32,64,128,256")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--boundary", action="store_true", help="also compute the decision boundary")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    print(f"{'width':>6} {'regions':>8} {'ref':>7} {'ok':>3} {'best s':>8} {'median s':>9} {'regions/s':>10} {'med reg/s':>10} {'peak MB':>8}")
    for w in widths:
        net = regionlab.trace(seed0_mlp(2, w).to(args.device), torch.zeros(1, 2, dtype=torch.float64, device=args.device))
        kw = dict(decision_boundary=args.boundary)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1), **kw)  # warm-up
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        times = []
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1), **kw)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        n = part.num_regions
        ref = REFERENCE.get(w)
        best, med = min(times), statistics.median(times)
        ok = "yes" if ref is None or ref == n else "NO"
        print(f"{w:>6} {n:>8} {ref if ref else '-':>7} {ok:>3} {best:>8.3f} {med:>9.3f} {n / best:>10.0f} {n / med:>10.0f} {max(peak, 0):>8.0f}")


if __name__ == "__main__":
    main()
