"""Throughput of the exact 1-D engine: breakpoints per second over a batch of segments.

Network: ``torch.manual_seed(0)`` 784-256-256-256-10 ReLU MLP with PyTorch's default
initialisation, converted to float64. Segments: 1,000 pairs of standard Gaussian points
(``torch.Generator`` seeded with 1), all in one batched call.

Run ``python benchmarks/partition_1d.py [--segments N] [--chunk-size C] [--repeat R] [--threads T]``.
The engine runs chunks of segments in ``torch.get_num_threads()`` threads on the CPU.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

import regionlab
from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear


def build_model() -> torch.nn.Module:
    torch.manual_seed(0)
    widths = [784, 256, 256, 256, 10]
    layers: list[torch.nn.Module] = []
    for k in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[k], widths[k + 1]))
        if k < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).double().eval()


def to_network(model: torch.nn.Module) -> tuple[CPWLNetwork, str]:
    try:
        return regionlab.trace(model, torch.zeros(784, dtype=torch.float64)), "regionlab.trace"
    except Exception as exc:  # the tracer may not exist yet: build the IR by hand
        ops = []
        for m in model:
            if isinstance(m, torch.nn.Linear):
                ops.append(Dense(m.weight.detach().clone(), m.bias.detach().clone()))
            else:
                ops.append(PiecewiseLinear.relu())
        return CPWLNetwork.sequential((784,), ops), f"IR built by hand ({type(exc).__name__})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--segments", type=int, default=1000)
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    net, how = to_network(build_model())
    net = net.to(device=args.device)
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(args.segments, 784, generator=gen, dtype=torch.float64)
    b = torch.randn(args.segments, 784, generator=gen, dtype=torch.float64)
    # warm-up (allocator, kernels) on a few segments
    regionlab.partition_segment(net, a[:8], b[:8], chunk_size=args.chunk_size)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        batch = regionlab.partition_segment(net, a, b, chunk_size=args.chunk_size)
        if args.device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    total = batch.total_breakpoints
    print(f"network: 784-256-256-256-10 ReLU, float64 ({how}); device {args.device}; threads {torch.get_num_threads()}")
    print(f"segments: {args.segments}; chunk_size: {args.chunk_size or 'auto'}")
    print(f"total breakpoints: {total}  (mean {total / args.segments:.1f} per segment, "
          f"mean linear pieces {batch.num_linear_pieces.double().mean():.1f})")
    print(f"time: {best:.3f} s (best of {args.repeat})")
    print(f"breakpoints per second: {total / best:,.0f}")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
