"""``regionlab bounds``: every closed-form bound on the number of linear regions.

``regionlab bounds --input-dim 2 --widths 8,8,8 [--activation relu|leaky|cpwl:K|maxout:k]``
or ``regionlab bounds --model SPEC [--weights FILE] [--input-shape 2]``; ``--json`` writes
the table, ``--plot`` draws the bounds against depth and width.

Examples
--------
>>> from regionlab.cli._bounds import parse_activation
>>> parse_activation("maxout:3"), parse_activation("leaky")
(('maxout', None, 3), ('leaky_relu', None, None))
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

__all__ = ["add_parser", "cmd_bounds", "parse_activation", "parse_widths"]

#: largest uniform width drawn by ``--plot`` (the width panel spans 1..this)
_PLOT_MAX_WIDTH = 64


def parse_widths(text: str) -> tuple[int, ...]:
    """Comma-separated positive widths (argparse type).

    Examples
    --------
    >>> parse_widths("8,8,8")
    (8, 8, 8)
    """
    items = [s.strip() for s in str(text).split(",")]
    try:
        widths = tuple(int(s) for s in items)  # an empty item (8,,8 or 8,) is an error too
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers like 8,8,8, got {text!r}") from None
    if not widths or any(w <= 0 for w in widths):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers like 8,8,8, got {text!r}")
    return widths


def parse_activation(text: str) -> tuple[str, int | None, int | None]:
    """``relu``, ``leaky``, ``cpwl:K`` or ``maxout:k`` as ``(activation, breakpoints, rank)``.

    Examples
    --------
    >>> parse_activation("cpwl:2")
    ('cpwl', 2, None)
    """
    name, _, param = str(text).strip().lower().partition(":")
    if name in ("relu", "leaky", "leaky_relu", "leaky-relu") and not param:
        return ("relu" if name == "relu" else "leaky_relu"), None, None
    if name in ("cpwl", "maxout"):
        try:
            value = int(param)
        except ValueError:
            value = 0
        if value < 1:
            what = "K >= 1 breakpoints, e.g. cpwl:2" if name == "cpwl" else "the rank k >= 1, e.g. maxout:3"
            raise argparse.ArgumentTypeError(f"{name} needs {what}; got {text!r}")
        return (name, value, None) if name == "cpwl" else (name, None, value)
    raise argparse.ArgumentTypeError(f"expected relu, leaky, cpwl:K or maxout:k; got {text!r}")


def add_parser(sub, parser_class, shape_type) -> None:
    """Register the ``bounds`` subcommand on the top-level subparsers ``sub``.

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> add_parser(p.add_subparsers(dest="command"), argparse.ArgumentParser, parse_widths)
    >>> p.parse_args(["bounds", "--input-dim", "2", "--widths", "8,8"]).widths
    (8, 8)
    """
    b = sub.add_parser(
        "bounds",
        help="closed-form bounds on the number of linear regions of an architecture or a model",
        description="Print every closed-form bound (exact integers) on the maximal number of linear regions "
                    "of a fully connected architecture, given by numbers or read from a model.",
    )
    g = b.add_argument_group("architecture (numbers)")
    g.add_argument("--input-dim", type=int, metavar="N0", help="input dimension n0")
    g.add_argument("--widths", type=parse_widths, metavar="W1,W2,...", help="hidden widths, e.g. 8,8,8")
    g.add_argument("--activation", type=parse_activation, metavar="ACT",
                   help="relu (default), leaky, cpwl:K (K breakpoints) or maxout:k (rank k)")
    m = b.add_argument_group("architecture (model)")
    m.add_argument("--model", metavar="SPEC", help="TorchScript file, torch.export .pt2 file, or package.module:factory")
    m.add_argument("--weights", metavar="FILE", help="state dict (torch.save) for a factory model; loaded weights_only")
    m.add_argument("--input-shape", type=shape_type, metavar="SHAPE",
                   help="per-sample input shape (default: in_features of the model's first Linear)")
    o = b.add_argument_group("output")
    o.add_argument("--json", metavar="OUT.json", help="write the table as JSON (exact integers)")
    o.add_argument("--plot", metavar="OUT.png", help="draw the bounds against depth and width (needs matplotlib)")


def _architecture(args, usage_error):
    from ..bounds import architecture

    if args.model is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("input_dim", "widths", "activation") if getattr(args, n) is not None]
        if given:
            raise usage_error(f"--model reads the architecture from the model; drop {', '.join(given)}")
        return _model_architecture(args, usage_error)
    if args.weights is not None or args.input_shape is not None:
        raise usage_error("--weights and --input-shape go with --model")
    if args.input_dim is None or args.widths is None:
        raise usage_error("give --input-dim and --widths (e.g. --input-dim 2 --widths 8,8,8), or --model SPEC")
    if args.input_dim < 1:
        raise usage_error(f"--input-dim must be a positive integer, got {args.input_dim}")
    activation, breakpoints, rank = args.activation or ("relu", None, None)
    return architecture(input_dim=args.input_dim, widths=args.widths, activation=activation,
                        breakpoints=breakpoints, rank=rank)


def _model_architecture(args, usage_error):
    import torch

    from ..bounds import architecture
    from ..tracing import load_model

    model = load_model(args.model, args.weights)
    if args.input_shape is not None:
        shape = tuple(args.input_shape)
    else:
        first = next((mod for mod in model.modules() if not list(mod.children())), None)
        if not isinstance(first, torch.nn.Linear):
            raise usage_error("cannot tell the model's input shape (its first layer is not nn.Linear); "
                              "pass --input-shape, e.g. --input-shape 2")
        shape = (first.in_features,)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return architecture(model, torch.zeros((1, *shape), dtype=dtype))


def _json_value(value):
    """Exact ints; ints too long for ``str()`` (over 4300 digits) become a scientific string."""
    from ..bounds import format_count

    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 14_000:
        return format_count(value)
    return value


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return _json_value(obj)


def _write_json(path: str, table) -> None:
    from ..bounds import format_count

    payload = _jsonable(table.to_dict())
    for row, src in zip(payload["rows"], table.rows, strict=True):
        row["value_text"] = format_count(src.value)
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w") as f:
        json.dump(payload, f, indent=1)
        f.write("\n")


def _log10(value: int | None) -> float:
    if value is None or value <= 0:
        return math.nan
    return math.log10(value)


def _plot(path: str, arch) -> None:
    """Bounds against depth (prefixes of the widths) and against a uniform width.

    The y axes show log10 of the exact counts (a log scale that also holds counts beyond
    the float range).
    """
    from .._optional import require
    from ..bounds import Architecture, all_bounds

    mpl = require("matplotlib", extra="plot", caller="regionlab bounds --plot")
    if "MPLBACKEND" not in os.environ:
        mpl.use("Agg")  # files only, never a window
    plt = require("matplotlib.pyplot", extra="plot", caller="regionlab bounds --plot")

    def variant(widths):
        return Architecture(arch.input_dim, tuple(widths), arch.activation, arch.breakpoints, arch.max_rank, None)

    depths = list(range(1, arch.depth + 1))
    by_depth = [all_bounds(variant(arch.widths[:d])) for d in depths]
    top = max(_PLOT_MAX_WIDTH, max(arch.widths))
    xs_w = sorted({1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, *arch.widths} & set(range(1, top + 1)))
    by_width = [all_bounds(variant([w] * arch.depth)) for w in xs_w]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    names = list(dict.fromkeys(r.name for t in by_depth + by_width for r in t.rows))
    cmap = plt.get_cmap("tab20")
    colors = {name: cmap(i % 20) for i, name in enumerate(names)}
    styles = {"lower": "--", "upper": "-", "exact": ":"}
    handles = {}
    for ax, xs, tables, label in ((axes[0], depths, by_depth, "number of layers L (prefixes of the widths)"),
                                  (axes[1], xs_w, by_width, f"uniform width n ({arch.depth} layers)")):
        for name in names:
            rows = [t[name] if name in t else None for t in tables]
            ys = [_log10(r.value) if r is not None and r.applies else math.nan for r in rows]
            if all(math.isnan(y) for y in ys):
                continue
            kind = next(r.kind for r in rows if r is not None)
            (line,) = ax.plot(xs, ys, styles[kind], marker="o", ms=3, color=colors[name], label=f"{name} ({kind})")
            handles.setdefault(name, line)
        ax.set_xlabel(label)
        ax.set_ylabel("log10(number of regions)")
        ax.grid(True, alpha=0.3)
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    axes[1].set_xscale("log", base=2)
    axes[0].set_title(f"bounds vs depth: {arch}", fontsize=9)
    axes[1].set_title("bounds vs width", fontsize=9)
    fig.legend(list(handles.values()), [h.get_label() for h in handles.values()], fontsize=7,
               loc="center left", bbox_to_anchor=(0.81, 0.5), frameon=False)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=130)
    plt.close(fig)


def cmd_bounds(args, usage_error) -> int:
    """Run ``regionlab bounds``: print the table, then write ``--json`` / ``--plot``.

    Examples
    --------
    >>> import argparse
    >>> args = argparse.Namespace(input_dim=1, widths=(3,), activation=None, model=None, weights=None,
    ...                           input_shape=None, json=None, plot=None)
    >>> cmd_bounds(args, ValueError)  # doctest: +ELLIPSIS
    Bounds on the number of linear regions: n0=1, widths=[3], relu
    ...
    0
    """
    from ..bounds import all_bounds

    arch = _architecture(args, usage_error)
    table = all_bounds(arch)
    print(table)
    if args.json:
        _write_json(args.json, table)
        print(f"wrote {args.json}")
    if args.plot:
        _plot(args.plot, arch)
        print(f"wrote {args.plot}")
    return 0
