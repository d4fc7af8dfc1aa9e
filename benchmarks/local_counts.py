"""Points per second of the local measures, from one point to many.

A seed-0 MNIST-sized MLP 784-64-64-10 (nn.Linear + nn.ReLU, PyTorch default init, float64)
at Gaussian inputs of scale 0.5, and a seed-0 3-16-16-16-1 MLP for the exact count:

* ``switching_distances``: every point's distance to every unit's switching surface, with
  the foot-in-region test (128 units, the crossing tests come with it);
* ``local_region_counts(method="complexity")``: the local-complexity proxy on the
  cross-polytope of 16 random directions (radius 0.01);
* ``local_region_counts(method="slices")``: exact counts on 4 random 2-D slices of the
  l-inf ball of radius 0.01 (784-D input);
* ``local_region_counts(method="exact")``: the exact count in the l-inf ball of radius 0.05
  around points of the 3-D MLP (vertex engine).

Usage::

    python benchmarks/local_counts.py [--points 10000] [--slice-points 50] [--exact-points 200]
                                      [--repeats 3]

Reports the best of ``--repeats`` timed runs after a warm-up on a few points, as points per
second, and the mean of the measure (a check that the runs compute the same thing).
"""

from __future__ import annotations

import argparse
import time

import torch

import regionlab


def seed0_mlp(widths: list[int]) -> torch.nn.Module:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for a, b in zip(widths[:-2], widths[1:-1], strict=True):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(widths[-2], widths[-1]))
    return torch.nn.Sequential(*layers).double()


def best_time(fn, repeats: int):
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000, help="points for the switching distances and the proxy")
    ap.add_argument("--slice-points", type=int, default=50)
    ap.add_argument("--exact-points", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    mnist = regionlab.trace(seed0_mlp([784, 64, 64, 10]), torch.zeros(1, 784, dtype=torch.float64))
    small = regionlab.trace(seed0_mlp([3, 16, 16, 16, 1]), torch.zeros(1, 3, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(args.points, 784, generator=gen, dtype=torch.float64) * 0.5
    X3 = torch.rand(args.exact_points, 3, generator=gen, dtype=torch.float64) * 1.8 - 0.9

    def seeded():
        return torch.Generator().manual_seed(1)

    cases = [
        ("switching_distances", "784-64-64-10", X,
         lambda P: regionlab.switching_distances(mnist, P), lambda r: float(r.distances.clamp_max(1e9).mean())),
        ("complexity r=0.01", "784-64-64-10", X,
         lambda P: regionlab.local_region_counts(mnist, P, 0.01, method="complexity", generator=seeded()),
         lambda r: float(r.counts.double().mean())),
        ("slices r=0.01 (4)", "784-64-64-10", X[:args.slice_points],
         lambda P: regionlab.local_region_counts(mnist, P, 0.01, method="slices", num_slices=4, generator=seeded()),
         lambda r: float(r.counts.double().mean())),
        ("exact r=0.05", "3-16-16-16-1", X3,
         lambda P: regionlab.local_region_counts(small, P, 0.05, method="exact"),
         lambda r: float(r.counts.double().mean())),
    ]
    print(f"{'measure':>20} {'network':>14} {'points':>7} {'best s':>8} {'points/s':>10} {'mean':>10}")
    for name, arch, P, fn, mean in cases:
        fn(P[:4])  # warm-up
        out, best = best_time(lambda: fn(P), args.repeats)  # noqa: B023
        print(f"{name:>20} {arch:>14} {P.shape[0]:>7} {best:>8.3f} {P.shape[0] / best:>10.0f} {mean(out):>10.4g}")


if __name__ == "__main__":
    main()
