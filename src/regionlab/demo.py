"""The demonstration job behind ``regionlab demo`` and ``make demo``.

A small ReLU MLP (2-32-32-32-2) is trained on two moons (generated here with torch,
fixed seeds) with full-batch Adam on the CPU. The exact partition of a box around the
data into activation regions is computed with :func:`regionlab.partition_plane`
before and after training; both are drawn (regions coloured, decision boundary in
red, data points overlaid) and the counts, accuracy and timings are written to
``summary.json``.

Examples
--------
>>> from regionlab.demo import two_moons
>>> x, y = two_moons(10, seed=0)
>>> tuple(x.shape), sorted(set(y.tolist()))
((20, 2), [0, 1])
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import torch
from torch import nn

from .numerics import intra_op_threads

__all__ = ["two_moons", "make_mlp", "train", "run_demo", "format_table", "DEFAULT_BOUNDS"]

#: The box ``(x_min, x_max, y_min, y_max)`` around the two moons that is partitioned.
DEFAULT_BOUNDS = (-1.5, 2.5, -1.0, 1.5)
_WIDTHS = (32, 32, 32)


def two_moons(n_per_class: int = 200, *, noise: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles with Gaussian noise (no scikit-learn needed).

    Class 0 is the upper moon ``(cos a, sin a)``, class 1 the lower one
    ``(1 - cos a, 0.5 - sin a)``, for ``a`` evenly spaced in ``[0, pi]``.

    Parameters
    ----------
    n_per_class : int
        Points per class.
    noise : float
        Standard deviation of the Gaussian noise added to every coordinate.
    seed : int
        Seed of the noise (a private generator; the global RNG is untouched).

    Returns
    -------
    x : Tensor ``(2 n, 2)`` float64
    y : Tensor ``(2 n,)`` long

    Examples
    --------
    >>> x, y = two_moons(3, noise=0.0)
    >>> x[:3].tolist()  # the upper moon from angle 0 to pi
    [[1.0, 0.0], [6.123233995736766e-17, 1.0], [-1.0, 1.2246467991473532e-16]]
    >>> y.tolist()
    [0, 0, 0, 1, 1, 1]
    """
    g = torch.Generator().manual_seed(int(seed))
    a = torch.linspace(0.0, math.pi, n_per_class, dtype=torch.float64)
    upper = torch.stack([torch.cos(a), torch.sin(a)], 1)
    lower = torch.stack([1.0 - torch.cos(a), 0.5 - torch.sin(a)], 1)
    x = torch.cat([upper, lower])
    if noise > 0:
        x = x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)
    y = torch.cat([torch.zeros(n_per_class, dtype=torch.long), torch.ones(n_per_class, dtype=torch.long)])
    return x, y


def make_mlp(widths=_WIDTHS, *, seed: int = 0, in_dim: int = 2, out_dim: int = 2) -> nn.Sequential:
    """A ReLU MLP ``in_dim - widths... - out_dim`` in float64 with seeded PyTorch default init.

    Examples
    --------
    >>> make_mlp((4,), seed=0)
    Sequential(
      (0): Linear(in_features=2, out_features=4, bias=True)
      (1): ReLU()
      (2): Linear(in_features=4, out_features=2, bias=True)
    )
    """
    devices = []  # fork_rng needs an explicit (empty) device list to stay CPU-only
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        layers: list[nn.Module] = []
        n = in_dim
        for w in widths:
            layers += [nn.Linear(n, w), nn.ReLU()]
            n = w
        layers.append(nn.Linear(n, out_dim))
        return nn.Sequential(*layers).double()


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int = 1500, lr: float = 1e-2) -> dict:
    """Full-batch Adam on the cross-entropy, single-threaded for reproducibility.

    Parameters
    ----------
    model : nn.Module
        Trained in place (left in eval mode).
    x, y : Tensor
        Inputs and integer labels.
    steps : int
        Number of Adam steps.
    lr : float
        Learning rate.

    Returns
    -------
    dict
        ``steps``, ``seconds``, ``final_loss`` and ``train_accuracy``.

    Examples
    --------
    >>> x, y = two_moons(50, seed=0)
    >>> stats = train(make_mlp((8,), seed=0), x, y, steps=50)
    >>> 0.0 <= stats["train_accuracy"] <= 1.0
    True
    """
    with intra_op_threads(1):  # one thread: the same float sums on every machine
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        loss_fn = nn.CrossEntropyLoss()
        t0 = time.perf_counter()
        loss = torch.zeros(())
        for _ in range(int(steps)):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            acc = float((model(x).argmax(1) == y).to(torch.float64).mean())
    return {"steps": int(steps), "seconds": seconds, "final_loss": float(loss.detach()), "train_accuracy": acc}


def _partition(model, bounds, progress: bool):
    from .regions.plane import partition_plane
    from .tracing import trace

    t0 = time.perf_counter()
    net = trace(model.eval(), torch.zeros(1, 2, dtype=torch.float64))
    trace_s = time.perf_counter() - t0
    part = partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], bounds, progress=progress)
    s = part.summary()
    stats = {
        "num_regions": part.num_regions,
        "num_linear_pieces": part.num_linear_pieces,
        "trace_seconds": trace_s,
        "partition_seconds": part.seconds,
        "regions_per_second": part.num_regions / part.seconds if part.seconds > 0 else None,
        "decision_boundary_length": s["decision_boundary_length"],
        "decision_boundary_segments": s["decision_boundary_segments"],
        "mean_vertices": s["mean_vertices"],
        "num_adjacent_pairs": s["num_adjacent_pairs"],
    }
    return part, stats


def _figure(part, x, y, path: Path, title: str):
    from .plotting import _pyplot, plot_plane_partition

    plt = _pyplot("regionlab.demo")
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    plot_plane_partition(part, ax=ax, title=title)
    xn = x.numpy()
    for cls, color in ((0, "#08306b"), (1, "#67000d")):
        sel = (y == cls).numpy()
        ax.scatter(xn[sel, 0], xn[sel, 1], s=9, c=color, alpha=0.6, linewidths=0, zorder=5)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def run_demo(out_dir="out/demo", *, quick: bool = False, steps: int | None = None, seed: int = 0,
             bounds=DEFAULT_BOUNDS, progress: bool = False, plots: bool = True) -> dict:
    """Train the demo MLP on two moons and partition the box around the data before and after.

    Parameters
    ----------
    out_dir : str or path-like
        Where ``partition_init.png``, ``partition_trained.png`` and ``summary.json`` go
        (created if needed).
    quick : bool
        A fast run for tests: 100 points per class and 200 training steps (instead of
        200 and 1500).
    steps : int, optional
        Number of training steps (overrides ``quick``).
    seed : int
        Seed of the data and of the initial weights.
    bounds : tuple of float
        The box ``(x_min, x_max, y_min, y_max)`` to partition (:data:`DEFAULT_BOUNDS`).
    progress : bool
        Show the engine's progress bars.
    plots : bool
        Write the two figures (needs matplotlib).

    Returns
    -------
    dict
        The content written to ``summary.json``.

    Examples
    --------
    >>> import tempfile
    >>> summary = run_demo(tempfile.mkdtemp(), quick=True, bounds=(-0.5, 0.5, -0.5, 0.5), plots=False)
    >>> summary["trained"]["num_regions"] > 0 and 0.0 <= summary["train_accuracy"] <= 1.0
    True
    """
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = 100 if quick else 200
    if steps is None:
        steps = 200 if quick else 1500
    x, y = two_moons(n, seed=seed)
    model = make_mlp(seed=seed)
    bounds = tuple(float(b) for b in bounds)

    part0, init = _partition(model, bounds, progress)
    with torch.no_grad():
        init["train_accuracy"] = float((model(x).argmax(1) == y).to(torch.float64).mean())
    fit = train(model, x, y, steps=steps)
    part1, trained = _partition(model, bounds, progress)
    trained["train_accuracy"] = fit["train_accuracy"]

    files = {"summary": str(out / "summary.json")}
    if plots:
        _figure(part0, x, y, out / "partition_init.png",
                f"at initialisation: {part0.num_regions} regions, {part0.num_linear_pieces} linear pieces")
        _figure(part1, x, y, out / "partition_trained.png",
                f"after training: {part1.num_regions} regions, {part1.num_linear_pieces} linear pieces")
        files["init_plot"] = str(out / "partition_init.png")
        files["trained_plot"] = str(out / "partition_trained.png")

    from . import __version__

    summary = {
        "model": "MLP 2-" + "-".join(str(w) for w in _WIDTHS) + "-2, ReLU, float64",
        "data": {"name": "two moons", "points": int(x.shape[0]), "noise": 0.1, "seed": seed},
        "domain": {"bounds": list(bounds), "area": (bounds[1] - bounds[0]) * (bounds[3] - bounds[2])},
        "training": {"optimizer": "Adam (full batch)", "lr": 1e-2, **fit},
        "train_accuracy": fit["train_accuracy"],
        "training_seconds": fit["seconds"],
        "init": init,
        "trained": trained,
        "quick": bool(quick),
        "total_seconds": time.perf_counter() - t_start,
        "versions": {
            "regionlab": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "files": files,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def format_table(summary: dict) -> str:
    """The short human-readable table printed by ``regionlab demo``.

    Examples
    --------
    >>> s = {"model": "m", "data": {"points": 4}, "domain": {"bounds": [0, 1, 0, 1]},
    ...      "training": {"steps": 1, "seconds": 0.5}, "train_accuracy": 1.0, "total_seconds": 1.0,
    ...      "init": {"num_regions": 3, "num_linear_pieces": 3, "decision_boundary_length": 0.0,
    ...               "partition_seconds": 0.1, "regions_per_second": 30.0},
    ...      "trained": {"num_regions": 5, "num_linear_pieces": 5, "decision_boundary_length": 1.5,
    ...                  "partition_seconds": 0.1, "regions_per_second": 50.0}, "files": {}}
    >>> print(format_table(s).splitlines()[2])
    stage      regions  linear pieces  boundary length  partition s  regions/s
    """
    b = summary["domain"]["bounds"]
    lines = [
        f"regionlab demo: {summary['model']} on two moons ({summary['data']['points']} points)",
        f"exact partition of the box [{b[0]:g}, {b[1]:g}] x [{b[2]:g}, {b[3]:g}]",
        f"{'stage':<9}{'regions':>9}{'linear pieces':>15}{'boundary length':>17}{'partition s':>13}{'regions/s':>11}",
    ]
    for key, label in (("init", "initial"), ("trained", "trained")):
        r = summary[key]
        rps = r["regions_per_second"]
        lines.append(
            f"{label:<9}{r['num_regions']:>9}{r['num_linear_pieces']:>15}{r['decision_boundary_length']:>17.3f}"
            f"{r['partition_seconds']:>13.3f}{(rps or 0):>11.0f}"
        )
    t = summary["training"]
    lines.append(
        f"training: {t['steps']} Adam steps in {t['seconds']:.2f} s, train accuracy {summary['train_accuracy']:.3f}; "
        f"total {summary['total_seconds']:.1f} s"
    )
    if summary.get("files"):
        lines.append("wrote " + ", ".join(summary["files"].values()))
    return "\n".join(lines)
