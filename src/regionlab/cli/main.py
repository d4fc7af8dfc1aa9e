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
    regionlab demo [--out DIR] [--quick] [--steps N] [--seed S] [--bounds XMIN,XMAX,YMIN,YMAX]
    regionlab version

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
_NUMERIC_OPTS = {"--start", "--end", "--origin", "--u", "--v", "--bounds", "--through", "--atol"}
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
    sub = p.add_subparsers(dest="command", metavar="{partition,demo,version}", parser_class=_Parser)
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

    part = sub.add_parser("partition", help="exact partition of a segment or a plane")
    psub = part.add_subparsers(dest="domain", metavar="{segment,plane}", parser_class=_Parser)
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
            return _cmd_segment(args) if args.domain == "segment" else _cmd_plane(args)
        if args.command == "demo":
            return _cmd_demo(args)
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
