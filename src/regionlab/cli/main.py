"""The ``regionlab`` command line.

Synopsis::

    regionlab partition segment --model SPEC [--weights W] [--input-shape S]
                                (--start X --end Y | --start-file F --end-file G)
                                [--json OUT.json] [--summary-only] [--plot OUT.png]
    regionlab partition plane   --model SPEC [--weights W] [--input-shape S]
                                (--origin X --u U --v V | --through "X0;X1;X2" | --through-file F)
                                [--bounds P1MIN,P1MAX,P2MIN,P2MAX] [--json OUT.json]
                                [--summary-only] [--plot OUT.png] [--no-boundary]
                                [--color-by region|linear_piece|output]
    regionlab partition box     --model SPEC [--weights W] [--input-shape S]
                                --lower A1,A2,... --upper B1,B2,... [N-D OPTIONS]
    regionlab partition ball    --model SPEC [--weights W] [--input-shape S]
                                --center (X1,X2,... | FILE) --radius R [--norm linf|l1]
                                [--directions K [--seed S]] [N-D OPTIONS]
    regionlab partition hull    --model SPEC [--weights W] [--input-shape S]
                                --points FILE [N-D OPTIONS]
    regionlab local-counts      --model SPEC [--weights W] [--input-shape S]
                                --points FILE --radius R [--norm linf|l1]
                                [--method exact|slices|complexity] [--num-slices S]
                                [--num-directions P] [--seed S] [--max-regions N]
                                [--json OUT.json] [--plot OUT.png]
    regionlab bounds            (--input-dim N0 --widths W1,W2,... [--activation relu|leaky|cpwl:K|maxout:k]
                                 | --model SPEC [--weights W] [--input-shape S])
                                [--json OUT.json] [--plot OUT.png]
    regionlab demo [--out DIR] [--quick] [--steps N] [--seed S] [--bounds XMIN,XMAX,YMIN,YMAX]
    regionlab run NAME [--quick] [--out DIR] [--seed S] | --list
    regionlab version

``N-D OPTIONS`` are ``[--engine auto|vertex|lp] [--max-regions N] [--time-limit S]
[--json OUT.json] [--summary-only] [--plot OUT.png] [--graph-plot GRAPH.png]
[--graph-layout witness|spring]``. The n-D commands partition a convex domain with
:func:`regionlab.partition_polytope`: a box, an l-inf or l1 ball (or, with
``--directions K``, its ``K``-dimensional window through the centre along ``K`` random
orthonormal directions), or the convex hull of a few inputs. ``--plot`` draws 2-D and
3-D domains, ``--graph-plot`` the region adjacency graph in any dimension. When
``--max-regions`` or ``--time-limit`` stops a partition, the partial result goes to the
``--json`` file (``"complete": false``) and the status is 1.

``SPEC`` is a TorchScript file, a ``torch.export`` ``.pt2`` file, or
``package.module:factory`` (with ``--weights`` a ``torch.save``-d state dict, loaded
with ``weights_only=True``). Points are comma-separated numbers (flattened inputs) or
files (``.json`` nested lists, ``.npy``, ``.pt`` tensors).

Every error prints one line ``regionlab: error: <message>`` on stderr and exits with
status 2 (bad command line), 1 (anything else) or 130 (interrupted).

Examples
--------
>>> from regionlab.cli.main import main
>>> main(["version"])  # doctest: +ELLIPSIS
regionlab ...
0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

__all__ = ["main", "build_parser"]

PROG = "regionlab"

# options whose value may start with '-' (negative numbers): "--start -1,2" is rewritten
# to "--start=-1,2" before argparse sees it
_NUMERIC_OPTS = {"--start", "--end", "--origin", "--u", "--v", "--bounds", "--through", "--atol",
                 "--lower", "--upper", "--center", "--radius", "--max-regions", "--time-limit", "--directions",
                 "--num-slices", "--num-directions", "--seed"}
_NEGATIVE = re.compile(r"^-[\d.]")


class UsageError(Exception):
    """A bad command line (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------- parsing


def _floats(text: str) -> list[float]:
    """Comma-separated finite numbers (argparse type)."""
    items = [s.strip() for s in str(text).replace(" ", ",").split(",") if s.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    out = []
    for s in items:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not a number (in {text!r})") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{s!r} is not a finite number (in {text!r})")
        out.append(v)
    return out


def _bounds(text: str) -> list[float]:
    vals = _floats(text)
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 numbers p1min,p1max,p2min,p2max, got {len(vals)} in {text!r}")
    return vals


def _points3(text: str) -> list[list[float]]:
    parts = [p for p in str(text).split(";") if p.strip()]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three points separated by ';', got {len(parts)} in {text!r}")
    return [_floats(p) for p in parts]


def _shape(text: str) -> tuple[int, ...]:
    items = [s.strip() for s in str(text).replace("x", ",").split(",") if s.strip()]
    try:
        shape = tuple(int(s) for s in items)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive integers like 2 or 1,28,28, got {text!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise argparse.ArgumentTypeError(f"expected positive integers like 2 or 1,28,28, got {text!r}")
    return shape


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return v


def _radius(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``regionlab`` command.

    Examples
    --------
    >>> args = build_parser().parse_args(["partition", "segment", "--model", "m.pt", "--start", "0,0", "--end", "1,1"])
    >>> args.start, args.end
    ([0.0, 0.0], [1.0, 1.0])
    """
    from .. import __version__

    p = _Parser(prog=PROG, description="Exact geometry of piecewise-linear neural networks.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{partition,local-counts,bounds,demo,run,version}", parser_class=_Parser)
    sub.required = True

    # shared options of the partition commands
    common = _Parser(add_help=False)
    g = common.add_argument_group("model")
    g.add_argument("--model", required=True, metavar="SPEC",
                   help="TorchScript file, torch.export .pt2 file, or package.module:factory")
    g.add_argument("--weights", metavar="FILE", help="state dict (torch.save) for a factory model; loaded weights_only")
    g.add_argument("--input-shape", type=_shape, metavar="SHAPE",
                   help="per-sample input shape, e.g. 2 or 1,28,28 (default: the shape of the given points)")
    g.add_argument("--device", default="cpu", help="torch device to compute on (default cpu; e.g. cuda)")
    o = common.add_argument_group("output")
    o.add_argument("--json", metavar="OUT.json", help="write the summary and the full partition as JSON")
    o.add_argument("--summary-only", action="store_true", help="with --json: write the summary only")
    o.add_argument("--plot", metavar="OUT.png", help="draw the partition (needs matplotlib)")
    o.add_argument("--atol", type=_positive_float, help="numerical tolerance (regionlab.Numerics.atol)")
    o.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")

    part = sub.add_parser("partition", help="exact partition of a segment, a plane or an n-D convex domain")
    psub = part.add_subparsers(dest="domain", metavar="{segment,plane,box,ball,hull}", parser_class=_Parser)
    psub.required = True

    seg = psub.add_parser("segment", parents=[common], help="exact partition of the segment from --start to --end",
                          description="Exact activation regions met by the segment x(t) = start + t (end - start).")
    s = seg.add_argument_group("segment")
    s.add_argument("--start", type=_floats, metavar="X1,X2,...", help="start point (flattened input)")
    s.add_argument("--end", type=_floats, metavar="X1,X2,...", help="end point (flattened input)")
    s.add_argument("--start-file", metavar="FILE", help="start point from a .json, .npy or .pt file")
    s.add_argument("--end-file", metavar="FILE", help="end point from a .json, .npy or .pt file")

    pl = psub.add_parser("plane", parents=[common], help="exact partition of a 2-D slice of the input space",
                         description="Exact activation regions of the plane x(p) = origin + p1 u + p2 v inside --bounds.")
    q = pl.add_argument_group("plane")
    q.add_argument("--origin", type=_floats, metavar="X1,X2,...", help="origin of the plane (flattened input)")
    q.add_argument("--u", type=_floats, metavar="X1,X2,...", help="first direction")
    q.add_argument("--v", type=_floats, metavar="X1,X2,...", help="second direction")
    q.add_argument("--through", type=_points3, metavar="X0;X1;X2",
                   help="the plane through three points (orthonormal axes, x0 at the origin)")
    q.add_argument("--through-file", metavar="FILE", help="three points from a .json, .npy or .pt file")
    q.add_argument("--bounds", type=_bounds, metavar="P1MIN,P1MAX,P2MIN,P2MAX",
                   help="box in plane coordinates (default -1,1,-1,1, or a box around the three points)")
    q.add_argument("--no-boundary", dest="boundary", action="store_false",
                   help="do not compute or draw the decision boundary")
    q.add_argument("--color-by", choices=("region", "linear_piece", "output"), default="region",
                   help="colouring of the plot")

    # shared options of the n-D partition commands (box, ball, hull)
    nd = _Parser(add_help=False)
    n = nd.add_argument_group("n-D partition")
    n.add_argument("--engine", choices=("auto", "vertex", "lp"), default="auto",
                   help="vertex subdivision (low dimension), linear programs (any dimension), or auto (default)")
    n.add_argument("--max-regions", type=_positive_int, metavar="N",
                   help="stop once more than N regions are found (the partial result goes to --json; status 1)")
    n.add_argument("--time-limit", type=_radius, metavar="SECONDS",
                   help="stop after this many seconds (the partial result goes to --json; status 1)")
    n.add_argument("--graph-plot", metavar="GRAPH.png", help="draw the region adjacency graph (any dimension)")
    n.add_argument("--graph-layout", choices=("witness", "spring"), default="witness",
                   help="nodes at the regions' witnesses (default) or a spring layout (needs networkx)")
    n.add_argument("--color-by", choices=("region", "linear_piece", "output"), default="region",
                   help="colouring of --plot and --graph-plot")

    box = psub.add_parser("box", parents=[common, nd], help="exact partition of an axis-aligned box of inputs",
                          description="Exact activation regions of the box lower <= x <= upper (flattened inputs).")
    b = box.add_argument_group("box")
    b.add_argument("--lower", type=_floats, required=True, metavar="A1,A2,...", help="lower corner (flattened input)")
    b.add_argument("--upper", type=_floats, required=True, metavar="B1,B2,...", help="upper corner (flattened input)")

    ball = psub.add_parser("ball", parents=[common, nd], help="exact partition of a ball around an input (or a window of it)",
                           description="Exact activation regions of the l-inf or l1 ball of --radius around --center; "
                                       "with --directions K, of its K-dimensional window through the centre along K "
                                       "random orthonormal directions.")
    q = ball.add_argument_group("ball")
    q.add_argument("--center", required=True, metavar="X1,X2,...|FILE",
                   help="the centre: comma-separated numbers (flattened input) or a .pt, .npy or .json file of one input")
    q.add_argument("--radius", type=_radius, required=True, metavar="R", help="positive radius")
    q.add_argument("--norm", choices=("linf", "l1"), default="linf", help="the ball's norm (default linf)")
    q.add_argument("--directions", type=_nonneg_int, default=0, metavar="K",
                   help="K > 0: the window through the centre along K random orthonormal directions (default 0: "
                        "the full ball)")
    q.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the random directions (default 0)")

    hull = psub.add_parser("hull", parents=[common, nd], help="exact partition of the convex hull of a few inputs",
                           description="Exact activation regions of the convex hull of M inputs, in their affine hull "
                                       "(e.g. the triangle through three images).")
    h = hull.add_argument_group("hull")
    h.add_argument("--points", required=True, metavar="FILE",
                   help="the M inputs, an array (M, *input_shape) in a .pt, .npy or .json file")

    lc = sub.add_parser("local-counts", parents=[common], help="region counts in small balls around data points",
                        description="Number of activation regions meeting the l-inf or l1 ball of --radius around "
                                    "each point: exact (n-D partition of the ball), the mean over random 2-D slices, "
                                    "or the local-complexity proxy.")
    c = lc.add_argument_group("local counts")
    c.add_argument("--points", required=True, metavar="FILE",
                   help="the points, an array (B, *input_shape) in a .pt, .npy or .json file")
    c.add_argument("--radius", type=_radius, required=True, metavar="R", help="positive radius of the balls")
    c.add_argument("--norm", choices=("linf", "l1"), default="linf", help="the balls' norm (default linf)")
    c.add_argument("--method", choices=("exact", "slices", "complexity"), default="exact",
                   help="exact counts (default; small inputs), exact counts of random 2-D slices, or local complexity")
    c.add_argument("--num-slices", type=_positive_int, metavar="S", help="slices per point with --method slices (default 4)")
    c.add_argument("--num-directions", type=_positive_int, metavar="P",
                   help="cross-polytope directions with --method complexity (default min(n, 16))")
    c.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the random slices or directions (default 0)")
    c.add_argument("--max-regions", type=_positive_int, metavar="N",
                   help="stop when a ball (or slice) meets more than N regions (partial result to --json; status 1)")

    d = sub.add_parser("demo", help="train a small MLP on two moons and draw its partition before and after",
                       description="The main job: train a 2-32-32-32-2 ReLU MLP on two moons and draw the exact "
                                   "partition of the box around the data before and after training.")
    d.add_argument("--out", default="out/demo", metavar="DIR", help="output directory (default out/demo)")
    d.add_argument("--quick", action="store_true", help="fewer points and training steps (for tests)")
    d.add_argument("--steps", type=_nonneg_int, help="training steps (default 1500, 200 with --quick)")
    d.add_argument("--seed", type=_nonneg_int, default=0, help="seed of data and initial weights (default 0)")
    d.add_argument("--bounds", type=_bounds, metavar="XMIN,XMAX,YMIN,YMAX",
                   help="the box to partition (default -1.5,2.5,-1,1.5)")
    d.add_argument("--no-plots", dest="plots", action="store_false", help="skip the figures")
    d.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")

    sub.add_parser("version", help="print the versions of regionlab, torch and python")
    from ._run import add_parser as _add_run

    _add_run(sub)
    from ._bounds import add_parser as _add_bounds

    _add_bounds(sub, _Parser, _shape)
    return p


def _rewrite_negative(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _NUMERIC_OPTS and i + 1 < len(argv) and _NEGATIVE.match(argv[i + 1]):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


# ----------------------------------------------------------------------- helpers


def _read_points(path: str, what: str):
    """A tensor from a .json (nested lists), .npy or .pt file."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise OSError(f"no such {what} file: {path!r}")
    suffix = p.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(p.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{what} file {path!r} is not valid JSON: {e.msg} (line {e.lineno})") from None
        if isinstance(data, dict):
            for key in ("points", "point", "x", "data"):
                if key in data:
                    data = data[key]
                    break
        try:
            t = torch.tensor(data, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{what} file {path!r} must hold a (nested) list of numbers") from None
    elif suffix == ".npy":
        import numpy as np

        try:
            t = torch.as_tensor(np.load(p, allow_pickle=False), dtype=torch.float64)
        except (ValueError, TypeError) as e:
            raise ValueError(f"cannot read {what} file {path!r} as a numeric .npy array: {e}") from None
    elif suffix in (".pt", ".pth"):
        try:
            t = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch.load raises many types
            raise ValueError(f"cannot read {what} file {path!r} as a tensor (weights_only=True): {e}") from None
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{what} file {path!r} must hold a single tensor, not {type(t).__name__}")
        t = t.to(torch.float64)
    else:
        raise ValueError(f"{what} file {path!r}: unknown extension {p.suffix!r}; use .json, .npy or .pt")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} file {path!r} contains NaN or inf")
    return t


def _point(args, name: str):
    import torch

    vals, path = getattr(args, name), getattr(args, f"{name}_file")
    if vals is not None and path is not None:
        raise UsageError(f"give either --{name} or --{name}-file, not both")
    if vals is None and path is None:
        raise UsageError(f"missing --{name} (or --{name}-file)")
    if path is not None:
        return _read_points(path, name)
    return torch.tensor(vals, dtype=torch.float64)


def _device(name: str):
    import torch

    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return dev


def _load_network(args, example_shape):
    """Load and trace the model; returns (network, trace seconds)."""
    import torch

    from ..errors import ShapeError
    from ..tracing import load_model, trace

    shape = tuple(args.input_shape) if args.input_shape else tuple(example_shape)
    dev = _device(args.device)
    model = load_model(args.model, args.weights)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    try:
        model = model.to(dev)
    except Exception as e:  # noqa: BLE001 - exported graphs may refuse to move
        raise ValueError(f"cannot move the model to {dev}: {e}") from None
    t0 = time.perf_counter()
    try:
        net = trace(model, torch.zeros((1, *shape), dtype=dtype, device=dev))
    except ShapeError as e:
        if args.input_shape:
            raise
        raise ShapeError(f"{e} The input shape {shape} was taken from the given points; pass --input-shape "
                         "(e.g. 2 or 1,28,28) if it is not the model's per-sample input shape.") from None
    return net, time.perf_counter() - t0


def _numerics(args):
    from ..numerics import DEFAULT_NUMERICS

    return DEFAULT_NUMERICS if args.atol is None else DEFAULT_NUMERICS.with_(atol=args.atol)


def _progress(flag) -> bool:
    if flag is not None:
        return bool(flag)
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _write_json(path: str, payload: dict):
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w") as f:
        json.dump(payload, f, allow_nan=True)
        f.write("\n")


def _save_plot(ax, path: str):
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(p, dpi=150)
    import matplotlib.pyplot as plt

    plt.close(fig)


def _table(title: str, rows: list[tuple[str, object]]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title]
    for k, v in rows:
        if isinstance(v, float):
            v = f"{v:.6g}"
        lines.append(f"  {k:<{width}}  {v}")
    return "\n".join(lines)


def _describe_net(net) -> str:
    shp = "x".join(str(s) for s in net.input_shape)
    return f"input {shp}, output {net.output_dim}, {net.num_units} units in {len(net.nonlinear_nodes)} nonlinear layers"


def _with_matplotlib_backend():
    # a file-only backend when there is no display (never opens windows)
    if "MPLBACKEND" not in os.environ:
        import matplotlib

        matplotlib.use("Agg")


# ---------------------------------------------------------------------- commands


def _cmd_segment(args) -> int:
    import torch

    from .. import __version__
    from ..regions.segment import partition_segment

    start = _point(args, "start")
    end = _point(args, "end")
    net, trace_s = _load_network(args, start.shape)
    shape = tuple(net.input_shape)
    start, end = start.reshape(-1), end.reshape(-1)
    for name, pt in (("start", start), ("end", end)):
        if pt.numel() != net.input_dim:
            from ..errors import ShapeError

            raise ShapeError(
                f"--{name} has {pt.numel()} numbers but the model takes inputs of shape {shape} "
                f"({net.input_dim} numbers)"
            )
    dev = net.device
    part = partition_segment(net, start.reshape(shape).to(dev), end.reshape(shape).to(dev),
                             numerics=_numerics(args), progress=_progress(args.progress))
    summary = {
        "num_regions": part.num_regions,
        "num_linear_pieces": part.num_linear_pieces,
        "num_breakpoints": part.num_breakpoints,
        "length": part.length,
        "density": part.density if part.length > 0 else None,
        "num_units": part.num_units,
        "trace_seconds": trace_s,
        "seconds": part.seconds,
    }
    print(_table(f"regionlab partition segment: {args.model} ({_describe_net(net)})", [
        ("activation regions", part.num_regions),
        ("linear pieces", part.num_linear_pieces),
        ("breakpoints", part.num_breakpoints),
        ("segment length", part.length),
        ("trace time", f"{trace_s:.3f} s"),
        ("partition time", f"{part.seconds:.3f} s"),
    ]))
    if args.json:
        payload = {"kind": "segment", "regionlab_version": __version__, "torch_version": torch.__version__,
                   "model": str(args.model), "input_shape": list(shape), "summary": summary}
        if not args.summary_only:
            payload["partition"] = part.to_dict()
        _write_json(args.json, payload)
        print(f"wrote {args.json}")
    if args.plot:
        _with_matplotlib_backend()
        from ..plotting import plot_segment_partition

        _save_plot(plot_segment_partition(part), args.plot)
        print(f"wrote {args.plot}")
    return 0


def _cmd_plane(args) -> int:
    import torch

    from .. import __version__
    from ..regions.plane import Plane, partition_plane, plane_through

    explicit = [args.origin is not None, args.u is not None, args.v is not None]
    through = args.through is not None or args.through_file is not None
    if args.through is not None and args.through_file is not None:
        raise UsageError("give either --through or --through-file, not both")
    if through and any(explicit):
        raise UsageError("give either --origin/--u/--v or --through, not both")
    if not through and not all(explicit):
        missing = [n for n, e in zip(("--origin", "--u", "--v"), explicit, strict=True) if not e]
        raise UsageError(f"missing {', '.join(missing)} (or give --through X0;X1;X2)")
    if through:
        pts = (torch.tensor(args.through, dtype=torch.float64) if args.through is not None
               else _read_points(args.through_file, "through"))
        if pts.dim() < 1 or pts.shape[0] != 3:
            raise ValueError(f"--through needs exactly three points; got an array of shape {tuple(pts.shape)}")
        lens = {p.numel() for p in pts} if args.through is None else {len(p) for p in args.through}
        if len(lens) != 1:
            raise ValueError("the three --through points must have the same number of entries")
        example_shape = tuple(pts.shape[1:])
    else:
        example_shape = (len(args.origin),)
    net, trace_s = _load_network(args, example_shape)
    n0 = net.input_dim
    if through:
        flat = pts.reshape(3, -1)
        if flat.shape[1] != n0:
            from ..errors import ShapeError

            raise ShapeError(f"the --through points have {flat.shape[1]} numbers but the model takes inputs of "
                             f"shape {tuple(net.input_shape)} ({n0} numbers)")
        plane = plane_through(flat[0], flat[1], flat[2])
    else:
        for name in ("origin", "u", "v"):
            if len(getattr(args, name)) != n0:
                from ..errors import ShapeError

                raise ShapeError(f"--{name} has {len(getattr(args, name))} numbers but the model takes inputs of "
                                 f"shape {tuple(net.input_shape)} ({n0} numbers)")
        plane = Plane(torch.tensor(args.origin), torch.tensor(args.u), torch.tensor(args.v))
    bounds = args.bounds if args.bounds is not None else (plane.default_bounds() if through else (-1.0, 1.0, -1.0, 1.0))
    part = partition_plane(net, plane, bounds=bounds, numerics=_numerics(args),
                           progress=_progress(args.progress), decision_boundary=args.boundary)
    s = part.summary()
    s["trace_seconds"] = trace_s
    s["regions_per_second"] = part.num_regions / part.seconds if part.seconds > 0 else None
    rows = [
        ("activation regions", part.num_regions),
        ("linear pieces", part.num_linear_pieces),
        ("adjacent pairs", s["num_adjacent_pairs"]),
        ("mean vertices", s["mean_vertices"]),
        ("domain area", s["domain_area"]),
    ]
    if args.boundary:
        rows.append(("decision boundary", f"{s['decision_boundary_length']:.6g} long, "
                                          f"{s['decision_boundary_segments']} segments"))
    rows += [("trace time", f"{trace_s:.3f} s"), ("partition time", f"{part.seconds:.3f} s")]
    print(_table(f"regionlab partition plane: {args.model} ({_describe_net(net)})", rows))
    if args.json:
        payload = {"kind": "plane", "regionlab_version": __version__, "torch_version": torch.__version__,
                   "model": str(args.model), "input_shape": list(net.input_shape), "bounds": list(map(float, bounds)),
                   "summary": s}
        if plane.anchors is not None:
            payload["anchors"] = plane.anchors.tolist()
        if not args.summary_only:
            payload["partition"] = part.to_dict()
        _write_json(args.json, payload)
        print(f"wrote {args.json}")
    if args.plot:
        _with_matplotlib_backend()
        from ..plotting import plot_plane_partition

        _save_plot(plot_plane_partition(part, color_by=args.color_by, boundary=args.boundary,
                                        anchors=plane.anchors), args.plot)
        print(f"wrote {args.plot}")
    return 0


# ------------------------------------------------------------- n-D partitions


def _require_plotting(args, graph_layout: str | None = None):
    """Fail before a long computation when a requested figure cannot be drawn."""
    from .._optional import require

    wants_plot = bool(getattr(args, "plot", None)) or bool(getattr(args, "graph_plot", None))
    if wants_plot:
        require("matplotlib", extra="plot", caller="regionlab --plot/--graph-plot")
    if getattr(args, "graph_plot", None) and graph_layout == "spring":
        require("networkx", extra="dev", caller="regionlab --graph-layout spring")


def _check_entries(count: int, net, what: str):
    if count != net.input_dim:
        from ..errors import ShapeError

        raise ShapeError(f"{what} has {count} numbers but the model takes inputs of shape "
                         f"{tuple(net.input_shape)} ({net.input_dim} numbers)")


def _domain_record(domain, extra: dict) -> dict:
    """What the JSON says about the domain: its kind, frame (to map witnesses to inputs) and parameters."""
    rec = {"class": type(domain).__name__, "description": repr(domain), "dim": domain.dim,
           "input_dim": domain.input_dim, "is_full_space": domain.is_full_space,
           "origin": domain.origin.tolist()}
    if not domain.is_full_space:
        rec["basis"] = domain.basis.tolist()
    rec.update(extra)
    return rec


def _nd_summary(part, domain) -> dict:
    s = part.summary()
    if "total_volume" in s:
        try:
            s["domain_volume"] = float(domain.volume())
        except Exception:  # noqa: BLE001 - some domains have no cheap volume; the summary stays useful
            pass
    return s


def _nd_partition_record(part, s: dict) -> dict:
    """Per-region data of a PolytopePartition as plain lists (domain coordinates)."""
    rec = {
        "num_regions": part.num_regions,
        "dim": part.dim,
        # -32768 marks the units of layers a partial result did not reach
        "patterns": part.patterns.tolist(),
        "witnesses": part.witnesses.tolist(),
        "inradii": part.inradii.tolist(),
        "adjacency": part.adjacency.tolist(),
        "linear_piece_labels": part.linear_piece_labels().tolist(),
        "volumes": None,
    }
    if "total_volume" in s:  # the engine gave the vertices: the volumes are already computed
        rec["volumes"] = part.volumes.tolist()
    return rec


def _nd_payload(args, kind: str, net, domain_rec: dict, part, s: dict, trace_s: float,
                stopped: str | None = None) -> dict:
    import torch

    from .. import __version__

    payload = {"kind": kind, "regionlab_version": __version__, "torch_version": torch.__version__,
               "model": str(args.model), "input_shape": list(net.input_shape), "domain": domain_rec,
               "engine_requested": args.engine, "complete": bool(part.complete) and stopped is None,
               "summary": dict(s, trace_seconds=trace_s)}
    if stopped is not None:
        payload["stopped"] = stopped
    if not args.summary_only:
        payload["partition"] = _nd_partition_record(part, s)
    return payload


def _nd_table(kind: str, args, net, domain, s: dict, trace_s: float) -> str:
    rows = [
        ("domain", repr(domain)),
        ("activation regions", s["num_regions"]),
        ("linear pieces", s["num_linear_pieces"]),
        ("adjacent pairs", s["num_adjacent_pairs"]),
        ("mean degree", s["mean_degree"]),
        ("mean facets", s["mean_facets"]),
    ]
    if "total_volume" in s:
        vol = f"{s['total_volume']:.6g}"
        if "domain_volume" in s:
            vol += f" (domain {s['domain_volume']:.6g})"
        rows.append(("volume", vol))
    rows += [
        ("engine", s["engine"]),
        ("complete", s["complete"]),
        ("trace time", f"{trace_s:.3f} s"),
        ("partition time", f"{s['seconds']:.3f} s"),
    ]
    return _table(f"regionlab partition {kind}: {args.model} ({_describe_net(net)})", rows)


def _limit_text(args, exc) -> str:
    msg = str(exc)
    if args.max_regions is not None and "max_regions" in msg:
        return f"--max-regions {args.max_regions}"
    if getattr(args, "time_limit", None) is not None:
        return f"--time-limit {args.time_limit:g} s"
    return "its limit"


def _run_nd(args, kind: str, net, trace_s: float, domain, extra: dict) -> int:
    """Partition ``domain``, print the table, write JSON and figures; partial results on a limit."""
    from ..errors import RegionLimitExceeded
    from ..regions.polytope import partition_polytope

    if args.plot and domain.dim not in (2, 3):
        raise ValueError(f"--plot draws 2-D and 3-D domains but this domain is {domain.dim}-dimensional; "
                         "use --graph-plot (the region adjacency graph) or a 2-D/3-D window (--directions 2)")
    _require_plotting(args, args.graph_layout)
    domain_rec = _domain_record(domain, extra)
    try:
        part = partition_polytope(net, domain, engine=args.engine, numerics=_numerics(args),
                                  max_regions=args.max_regions, time_limit=args.time_limit,
                                  progress=_progress(args.progress))
    except RegionLimitExceeded as exc:
        partial = exc.partial
        n_partial = partial.num_regions if partial is not None else 0
        where = "; pass --json to keep it"
        if partial is not None:
            s = _nd_summary(partial, domain)
            print(_nd_table(kind, args, net, domain, s, trace_s))
            if args.json:
                _write_json(args.json, _nd_payload(args, kind, net, domain_rec, partial, s, trace_s,
                                                   stopped=_one_line(str(exc))))
                print(f"wrote {args.json} (partial result)")
                where = f"; wrote it to {args.json}"
        return _error(f"the partition stopped at {_limit_text(args, exc)}: the partial result had {n_partial} "
                      f"regions{where}. Raise the limit or shrink the domain.", 1)
    s = _nd_summary(part, domain)
    print(_nd_table(kind, args, net, domain, s, trace_s))
    # the engines turn a first Ctrl-C into an incomplete result: keep it, then exit as interrupted
    interrupted = bool(part.info.get("interrupted", False))
    if args.json:
        _write_json(args.json, _nd_payload(args, kind, net, domain_rec, part, s, trace_s,
                                           stopped="interrupted" if interrupted else None))
        print(f"wrote {args.json}" + (" (partial result)" if interrupted else ""))
    if interrupted:
        return _error(f"interrupted; the partial result had {part.num_regions} regions"
                      + (f" and went to {args.json}" if args.json else ""), 130)
    if args.plot:
        _with_matplotlib_backend()
        from ..plotting import plot_polytope_partition

        _save_plot(plot_polytope_partition(part, color_by=args.color_by), args.plot)
        print(f"wrote {args.plot}")
    if args.graph_plot:
        _with_matplotlib_backend()
        from ..plotting import plot_region_graph

        _save_plot(plot_region_graph(part, layout=args.graph_layout, color_by=args.color_by), args.graph_plot)
        print(f"wrote {args.graph_plot}")
    return 0


def _cmd_box(args) -> int:
    import torch

    from ..domains import Box
    from ..errors import DomainError

    lower, upper = args.lower, args.upper
    if len(lower) != len(upper):
        raise UsageError(f"--lower has {len(lower)} numbers but --upper has {len(upper)}; give one bound per input")
    bad = [i for i, (a, b) in enumerate(zip(lower, upper, strict=True)) if not a < b]
    if bad:
        i = bad[0]
        raise DomainError(f"--lower must be below --upper in every coordinate; coordinate {i} has lower "
                          f"{lower[i]:g} >= upper {upper[i]:g} ({len(bad)} such coordinate(s))")
    net, trace_s = _load_network(args, (len(lower),))
    _check_entries(len(lower), net, "--lower")
    shape = tuple(net.input_shape)
    domain = Box(torch.tensor(lower, dtype=torch.float64).reshape(shape),
                 torch.tensor(upper, dtype=torch.float64).reshape(shape))
    return _run_nd(args, "box", net, trace_s, domain, {"lower": list(lower), "upper": list(upper)})


def _center_point(text: str):
    """``--center``: comma-separated numbers, or a file holding one input."""
    import torch

    looks_like_file = Path(text).suffix.lower() in (".pt", ".pth", ".npy", ".json") or Path(text).is_file()
    if looks_like_file:
        return _read_points(text, "center")
    try:
        return torch.tensor(_floats(text), dtype=torch.float64)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"argument --center: {e}; give comma-separated numbers or a .pt, .npy or .json file") from None


def _cmd_ball(args) -> int:
    import torch

    from ..domains import L1Ball, LinfBall, random_directions, window

    center = _center_point(args.center)
    if center.dim() == 0 or center.numel() == 0:
        raise ValueError(f"--center must be one input (numbers or an array), got an array of shape {tuple(center.shape)}")
    net, trace_s = _load_network(args, tuple(center.shape))
    _check_entries(center.numel(), net, "--center")
    shape = tuple(net.input_shape)
    n = net.input_dim
    K = args.directions
    center = center.reshape(shape)
    extra = {"norm": args.norm, "radius": args.radius, "directions": K}
    if K > 0:
        if K > n:
            raise ValueError(f"--directions {K} exceeds the input dimension {n}; give at most {n} "
                             "(or 0 for the full ball)")
        dirs = random_directions(n, K, generator=torch.Generator().manual_seed(args.seed))
        domain = window(center, dirs.reshape(K, *shape), args.radius, norm=args.norm)
        extra["seed"] = args.seed
    else:
        domain = (LinfBall if args.norm == "linf" else L1Ball)(center, args.radius)
    return _run_nd(args, "ball", net, trace_s, domain, extra)


def _read_batch(path: str, what: str, minimum: int):
    """An array ``(M, *input_shape)`` of at least ``minimum`` points from a file."""
    pts = _read_points(path, what)
    if pts.dim() < 2 or pts.shape[0] < minimum:
        raise ValueError(f"--{what} file {path!r} must hold an array (M, *input_shape) of at least {minimum} "
                         f"point(s); got shape {tuple(pts.shape)} (add a leading dimension for one point)")
    return pts


def _cmd_hull(args) -> int:
    from ..domains import ConvexHull

    pts = _read_batch(args.points, "points", 2)
    M = pts.shape[0]
    net, trace_s = _load_network(args, tuple(pts.shape[1:]))
    flat = pts.reshape(M, -1)
    _check_entries(flat.shape[1], net, "each --points point")
    domain = ConvexHull(flat.reshape(M, *net.input_shape))
    return _run_nd(args, "hull", net, trace_s, domain, {"num_points": int(M), "points_file": str(args.points)})


# --------------------------------------------------------------- local counts


def _local_table(args, net, s: dict, trace_s: float) -> str:
    rows = [
        ("method", s["method"]),
        ("ball", f"{s['norm']}, radius {s['radius']:g}"),
        ("points", s["num_points"]),
        ("mean", s["mean"]),
        ("std", s["std"]),
        ("min / median / max", f"{s['min']:.6g} / {s['median']:.6g} / {s['max']:.6g}"),
    ]
    if "num_slices" in s:
        rows += [("slices per point", s["num_slices"]), ("mean slice max", s["mean_slice_max"])]
    if "num_directions" in s:
        rows += [("directions", s["num_directions"]),
                 ("per-layer mean", ", ".join(f"{v:.4g}" for v in s["per_layer_mean"]))]
    rows += [("trace time", f"{trace_s:.3f} s"), ("time", f"{s['seconds']:.3f} s")]
    return _table(f"regionlab local-counts: {args.model} ({_describe_net(net)})", rows)


def _local_payload(args, net, res, trace_s: float, stopped: str | None = None) -> dict:
    import torch

    from .. import __version__

    payload = {"kind": "local-counts", "regionlab_version": __version__, "torch_version": torch.__version__,
               "model": str(args.model), "input_shape": list(net.input_shape), "points_file": str(args.points),
               "seed": args.seed, "complete": stopped is None, "summary": dict(res.summary(), trace_seconds=trace_s)}
    if stopped is not None:
        payload["stopped"] = stopped
    if not args.summary_only:
        payload["result"] = res.to_dict()
    return payload


def _cmd_local_counts(args) -> int:
    from ..errors import RegionLimitExceeded
    from ..local import local_region_counts

    if args.num_slices is not None and args.method != "slices":
        raise UsageError("--num-slices goes with --method slices")
    if args.num_directions is not None and args.method != "complexity":
        raise UsageError("--num-directions goes with --method complexity")
    if args.max_regions is not None and args.method == "complexity":
        raise UsageError("--max-regions limits region counts; --method complexity counts units: drop --max-regions")
    pts = _read_batch(args.points, "points", 1)
    B = pts.shape[0]
    net, trace_s = _load_network(args, tuple(pts.shape[1:]))
    flat = pts.reshape(B, -1)
    _check_entries(flat.shape[1], net, "each --points point")
    _require_plotting(args)
    X = flat.reshape(B, *net.input_shape).to(net.device)
    try:
        res = local_region_counts(net, X, args.radius, norm=args.norm, method=args.method,
                                  num_slices=args.num_slices or 4, num_directions=args.num_directions,
                                  generator=args.seed, numerics=_numerics(args), progress=_progress(args.progress),
                                  max_regions=args.max_regions)
    except RegionLimitExceeded as exc:
        partial = exc.partial
        done = partial.num_points if partial is not None else 0
        where = "; pass --json to keep it"
        if partial is not None and args.json:
            _write_json(args.json, _local_payload(args, net, partial, trace_s, stopped=_one_line(str(exc))))
            print(f"wrote {args.json} (partial result)")
            where = f"; wrote it to {args.json}"
        return _error(f"local-counts stopped at --max-regions {args.max_regions} on point {done}: the partial "
                      f"result holds the counts of the {done} point(s) before it{where}. Raise the limit, "
                      "shrink --radius or use --method slices / complexity.", 1)
    s = res.summary()
    print(_local_table(args, net, s, trace_s))
    if args.json:
        _write_json(args.json, _local_payload(args, net, res, trace_s))
        print(f"wrote {args.json}")
    if args.plot:
        _with_matplotlib_backend()
        from ..plotting import plot_local_counts

        _save_plot(plot_local_counts(res), args.plot)
        print(f"wrote {args.plot}")
    return 0


def _cmd_demo(args) -> int:
    from ..demo import format_table, run_demo

    if args.plots:
        _with_matplotlib_backend()
    from ..demo import DEFAULT_BOUNDS

    summary = run_demo(args.out, quick=args.quick, steps=args.steps, seed=args.seed,
                       bounds=args.bounds or DEFAULT_BOUNDS, progress=_progress(args.progress), plots=args.plots)
    print(format_table(summary))
    return 0


def _cmd_version(args) -> int:
    import platform

    import torch

    from .. import __version__

    print(f"{PROG} {__version__} (torch {torch.__version__}, python {platform.python_version()})")
    return 0


# -------------------------------------------------------------------------- main


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def _error(message: str, code: int) -> int:
    try:
        sys.stderr.write(f"{PROG}: error: {_one_line(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return code


def _showwarning(message, category, filename, lineno, file=None, line=None):
    try:
        sys.stderr.write(f"{PROG}: warning: {_one_line(str(message))}\n")
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the ``regionlab`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (without the program name); ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        0 on success, 2 for a bad command line, 1 for any other error (one line
        ``regionlab: error: <message>`` on stderr, never a traceback), 130 when
        interrupted.

    Examples
    --------
    >>> main(["partition", "plane", "--model", "m.pt", "--bounds", "1,2"])  # doctest: +SKIP
    regionlab: error: argument --bounds: expected 4 numbers p1min,p1max,p2min,p2max, got 2 in '1,2' ...
    2
    """
    from ..errors import RegionlabError

    argv = list(sys.argv[1:] if argv is None else argv)
    old_showwarning = warnings.showwarning
    warnings.showwarning = _showwarning
    try:
        try:
            args = build_parser().parse_args(_rewrite_negative(argv))
        except SystemExit as e:  # --help / --version
            return int(e.code or 0) if not isinstance(e.code, str) else _error(e.code, 2)
        if args.command == "partition":
            # looked up at call time (tests replace commands with monkeypatch)
            commands = {"segment": _cmd_segment, "plane": _cmd_plane, "box": _cmd_box, "ball": _cmd_ball,
                        "hull": _cmd_hull}
            return commands[args.domain](args)
        if args.command == "local-counts":
            return _cmd_local_counts(args)
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "bounds":
            from ._bounds import cmd_bounds

            return cmd_bounds(args, UsageError)
        if args.command == "run":
            from ._run import cmd_run

            return cmd_run(args, UsageError)
        return _cmd_version(args)
    except UsageError as e:
        return _error(str(e), 2)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except RegionlabError as e:
        return _error(str(e), 1)
    except (ValueError, OSError) as e:
        return _error(str(e), 1)
    except MemoryError:
        return _error("out of memory; try a smaller domain or model", 1)
    except Exception as e:  # noqa: BLE001 - the last resort: still one line
        return _error(f"unexpected {type(e).__name__}: {e}", 1)
    finally:
        warnings.showwarning = old_showwarning


def _entry() -> None:  # pragma: no cover - exercised through subprocess tests
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    _entry()
