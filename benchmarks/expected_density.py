"""Measured vs predicted 1-D region densities over depth (regionlab.expected).

Networks: ``torch.manual_seed(seed)`` MLPs 2 -> 32 x depth (depth 1..8), ReLU by default,
PyTorch's default initialisation (``--init he``: weights N(0, 2/fan_in), biases
N(0, 0.1^2)), float64. Lines: ``--lines`` random lines of length 2 centred uniformly in
[-1, 1]^2 (seed 0), partitioned exactly by the batched 1-D engine. Prediction: the
co-area estimate of ``predict_density`` with the constants estimated at 4 points per
line along the line's own direction (``LineDensities.line_samples``; uniform bias
density for the default init, Gaussian for He), and the
Hanin-Rolnick-style upper bound ``K N C_grad C_bias`` (directional ``C_grad``).

Run ``python benchmarks/expected_density.py [--lines 500] [--width 32] [--max-depth 8]
[--act relu|leaky|hardtanh] [--init default|he] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from regionlab.expected import density_along_lines, predict_density


def build(depth: int, width: int, act: str, init: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    d = 2
    for _ in range(depth):
        lin = torch.nn.Linear(d, width).double()
        if init == "he":
            with torch.no_grad():
                lin.weight.copy_(torch.randn(width, d, generator=gen, dtype=torch.float64) * math.sqrt(2 / d))
                lin.bias.copy_(torch.randn(width, generator=gen, dtype=torch.float64) * 0.1)
        layers += [lin, {"relu": torch.nn.ReLU, "leaky": lambda: torch.nn.LeakyReLU(0.1),
                         "hardtanh": lambda: torch.nn.Hardtanh(-0.2, 0.2)}[act]()]
        d = width
    return torch.nn.Sequential(*layers).double().eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=500)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--max-depth", type=int, default=8)
    ap.add_argument("--act", choices=("relu", "leaky", "hardtanh"), default="relu")
    ap.add_argument("--init", choices=("default", "he"), default="default")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    bias = "uniform" if args.init == "default" else "gaussian"
    print(f"2 -> {args.width} x depth {args.act} MLP, {args.init} init (seed {args.seed}), "
          f"{args.lines} lines of length 2 in [-1, 1]^2, bias density {bias}")
    print(f"{'depth':>5} {'N':>5} {'measured':>16} {'predicted':>10} {'L*n*K*c':>9} {'ratio':>6} "
          f"{'HR upper':>9} {'ms/line':>8} {'predict s':>9}")
    for depth in range(1, args.max_depth + 1):
        model = build(depth, args.width, args.act, args.init, args.seed)
        d = density_along_lines(model, args.lines, length=2.0, seed=0)
        t0 = time.perf_counter()
        P, D = d.line_samples(4)
        p = predict_density(model, points=P, directions=D, bias_density=bias)
        tp = time.perf_counter() - t0
        c = d.compare(p)
        meas = f"{c.measured:.2f} +- {c.measured_sem:.2f}"
        print(f"{depth:>5} {p.num_units:>5} {meas:>16} {c.predicted:>10.2f} {c.predicted_product:>9.2f} "
              f"{c.ratio:>6.2f} {c.upper:>9.2f} {1000 * d.seconds / d.n_lines:>8.3f} {tp:>9.3f}")


if __name__ == "__main__":
    main()
