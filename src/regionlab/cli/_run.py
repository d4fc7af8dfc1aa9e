"""``regionlab run NAME [--quick] [--out DIR] [--seed S]``: run a reproduction experiment."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    """Register the ``run`` subcommand on the top-level subparsers ``sub``."""
    from ..experiments import list_experiments

    r = sub.add_parser("run", help="run a reproduction experiment (writes out/NAME/: results.json, report.md, PNGs)",
                       description="Run a reproduction experiment; its report puts the paper's figures beside ours. "
                                   f"Experiments: {', '.join(list_experiments())}.")
    r.add_argument("name", nargs="?", metavar="NAME", help="the experiment (see --list)")
    r.add_argument("--list", action="store_true", help="list the experiments and exit")
    r.add_argument("--quick", action="store_true", help="the small version (what the tests run)")
    r.add_argument("--out", default="out", metavar="DIR", help="parent folder of the run's folder (default out)")
    r.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    r.add_argument("--progress", action="store_true", help="progress bars")


def cmd_run(args, usage_error) -> int:
    """Run ``args.name``; print where the report went and the side-by-side rows."""
    from ..experiments import get_experiment, list_experiments, run_experiment

    if args.list:
        for name in list_experiments():
            print(f"{name:20s} {get_experiment(name).title}")
        return 0
    if not args.name:
        raise usage_error(f"run needs an experiment name; one of: {', '.join(list_experiments())}")
    if args.seed < 0:
        raise usage_error(f"--seed must be a non-negative integer, got {args.seed}")
    from .main import _with_matplotlib_backend

    try:
        _with_matplotlib_backend()
    except ImportError:  # no plot extra: the experiment writes its numbers without figures
        pass
    try:
        res = run_experiment(args.name, args.out, quick=args.quick, seed=args.seed, progress=args.progress)
    except KeyboardInterrupt:
        sys.stderr.write(f"regionlab: interrupted; the finished parts are in {args.out}/{args.name}/\n")
        raise
    width = max((len(c.quantity) for c in res.comparisons), default=10)
    width = min(width, 70)
    for c in res.comparisons:
        mark = {True: "ok", False: "DIFFERS", None: "-"}[c.agrees]
        print(f"{c.quantity[:width]:{width}s}  paper {str(c.paper)[:28]:28s} ours {str(c.ours)[:20]:20s} {mark}")
    print(f"wrote {res.out_dir}/results.json and report.md ({res.elapsed:.1f} s)")
    return 0 if res.all_agree else 1
