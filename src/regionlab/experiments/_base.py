"""The experiment contract, the run context that writes ``out/NAME/``, and the registry."""

from __future__ import annotations

import importlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError

__all__ = [
    "Experiment",
    "RunContext",
    "Comparison",
    "ExperimentResult",
    "register_experiment",
    "get_experiment",
    "list_experiments",
    "run_experiment",
]


class Experiment:
    """Base class of a reproduction: subclasses set the metadata and implement :meth:`run`.

    Attributes
    ----------
    name : str
        The command-line name (``regionlab run NAME``), lower case with dashes.
    title : str
        One line saying what is reproduced.
    paper : str
        The source (authors, venue, arXiv id) whose figures the report quotes.

    Examples
    --------
    >>> class Hello(Experiment):
    ...     name, title, paper = "hello", "A trivial experiment", "nobody (2026)"
    ...     def run(self, ctx):
    ...         ctx.record("answer", 6 * 7)
    ...         ctx.compare("the answer", paper=42, ours=6 * 7)
    >>> Hello().name
    'hello'
    """

    name: str = ""
    title: str = ""
    paper: str = ""

    def run(self, ctx: RunContext) -> None:  # pragma: no cover - abstract
        """Compute, recording results and comparisons through ``ctx``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Comparison:
    """One row of a report's side-by-side table: the paper's figure beside ours.

    ``agrees`` is ``True``/``False`` when the two are meant to be equal (or ours is
    meant to satisfy the paper's statement), ``None`` when they are only shown side by
    side (e.g. a different seed or machine).

    Examples
    --------
    >>> Comparison("regions", 216, 216, True).to_dict()["agrees"]
    True
    """

    quantity: str
    paper: Any
    ours: Any
    agrees: bool | None = None
    note: str = ""

    def to_dict(self) -> dict:
        """Plain data (JSON-ready)."""
        return {"quantity": self.quantity, "paper": _jsonable(self.paper), "ours": _jsonable(self.ours),
                "agrees": self.agrees, "note": self.note}


class RunContext:
    """What an experiment writes through: results, comparisons, report sections, figures.

    Every :meth:`record` rewrites ``results.json`` (atomically), so an interrupted run
    keeps what it finished.

    Examples
    --------
    >>> import tempfile
    >>> ctx = RunContext("demo-exp", tempfile.mkdtemp(), quick=True, seed=0)
    >>> ctx.record("count", 3)
    >>> ctx.results["count"]
    3
    """

    def __init__(self, name: str, out_dir, *, quick: bool = False, seed: int = 0, progress: bool = False,
                 title: str = "", paper: str = ""):
        self.name = name
        self.title, self.paper = title, paper
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.quick = bool(quick)
        self.seed = int(seed)
        self.progress = bool(progress)
        self.results: dict[str, Any] = {}
        self.comparisons: list[Comparison] = []
        self.sections: list[tuple[str, str]] = []
        self.figures: list[tuple[str, str]] = []
        self._state: dict[str, Any] = {}  # complete / interrupted / elapsed_s, set by flush

    def record(self, key: str, value: Any) -> None:
        """Store one finished result under ``key`` and write ``results.json`` now."""
        self.results[key] = _jsonable(value)
        self.flush(complete=False)

    def compare(self, quantity: str, *, paper: Any, ours: Any, agrees: bool | None = None, note: str = "") -> None:
        """Add a row to the side-by-side table (the paper's figure, ours)."""
        self.comparisons.append(Comparison(quantity, paper, ours, agrees, note))
        self.flush(complete=False)

    def section(self, title: str, markdown: str) -> None:
        """Add a section of text (Markdown: tables, notes) to ``report.md``."""
        self.sections.append((title, markdown))

    def figure_path(self, filename: str, caption: str) -> Path:
        """Where to save a figure; it is listed in the report with ``caption``."""
        if not filename.endswith(".png") or os.sep in filename or filename.startswith("."):
            raise InvalidParameterError(f"Figures are PNG files inside the run's folder; got {filename!r}.")
        self.figures.append((filename, caption))
        return self.out_dir / filename

    def flush(self, *, complete: bool, elapsed: float | None = None, interrupted: bool = False) -> None:
        """Write ``results.json`` and ``report.md`` with what is finished so far."""
        self._state.update({"complete": bool(complete), "interrupted": bool(interrupted)})
        if elapsed is not None:
            self._state["elapsed_s"] = round(float(elapsed), 3)
        doc = {
            "name": self.name,
            **self._state,
            "title": self.title,
            "paper": self.paper,
            "quick": self.quick,
            "seed": self.seed,
            "versions": _versions(),
            "results": self.results,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }
        _atomic_write(self.out_dir / "results.json", json.dumps(doc, indent=2, allow_nan=True) + "\n")
        _atomic_write(self.out_dir / "report.md", self._report())

    def _report(self) -> str:
        m = self._state
        lines = [f"# {self.title or self.name}", ""]
        if self.paper:
            lines += [f"Source: {self.paper}", ""]
        cmd = f"regionlab run {self.name}" + (" --quick" if self.quick else "") + (f" --seed {self.seed}" if self.seed else "")
        state = "complete" if m.get("complete") else ("interrupted: partial results" if m.get("interrupted") else "running or stopped early: partial results")
        lines += [f"Command: `{cmd}` ({state}" + (f", {m['elapsed_s']} s" if "elapsed_s" in m else "") + ")", ""]
        if self.comparisons:
            lines += ["## The paper's figures beside ours", "", "| quantity | paper / reference | ours | agrees | note |",
                      "|---|---|---|---|---|"]
            for c in self.comparisons:
                mark = {True: "yes", False: "**no**", None: "—"}[c.agrees]
                lines.append(f"| {c.quantity} | {_fmt(c.paper)} | {_fmt(c.ours)} | {mark} | {c.note} |")
            lines.append("")
        for title, body in self.sections:
            lines += [f"## {title}", "", body.rstrip(), ""]
        if self.figures:
            lines += ["## Figures", ""]
            for fn, cap in self.figures:
                lines += [f"![{cap}]({fn})", "", f"*{cap}*", ""]
        return "\n".join(lines)


@dataclass(frozen=True)
class ExperimentResult:
    """What :func:`run_experiment` returns: the run's folder, results and comparisons.

    Examples
    --------
    >>> r = ExperimentResult("x", "out/x", {"n": 1}, (), True, 0.1)
    >>> r.all_agree
    True
    """

    name: str
    out_dir: str
    results: dict = field(default_factory=dict)
    comparisons: tuple[Comparison, ...] = ()
    complete: bool = True
    elapsed: float = 0.0

    @property
    def all_agree(self) -> bool:
        """No comparison row that is meant to agree disagrees."""
        return all(c.agrees is not False for c in self.comparisons)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready)."""
        return {"name": self.name, "out_dir": self.out_dir, "results": self.results,
                "comparisons": [c.to_dict() for c in self.comparisons], "complete": self.complete,
                "elapsed": self.elapsed}


# ---------------------------------------------------------------------- registry

# name -> "module:Class", imported only when the experiment is run (import stays light)
_REGISTRY: dict[str, str] = {
    "bounds-vs-exact": "regionlab.experiments.bounds_vs_exact:BoundsVsExact",
}


def register_experiment(name: str, target: str) -> None:
    """Make ``regionlab run NAME`` run ``target`` (``"package.module:Class"``, an :class:`Experiment`).

    Examples
    --------
    >>> register_experiment("my-exp", "mypkg.exps:MyExperiment")
    >>> "my-exp" in list_experiments()
    True
    >>> _ = _REGISTRY.pop("my-exp")
    """
    if not isinstance(name, str) or not name or name != name.strip().lower() or " " in name:
        raise InvalidParameterError(f"An experiment name is lower case without spaces, e.g. 'bounds-vs-exact'; got {name!r}.")
    if not isinstance(target, str) or ":" not in target:
        raise InvalidParameterError(f"An experiment target is 'package.module:Class'; got {target!r}.")
    _REGISTRY[name] = target


def list_experiments() -> list[str]:
    """The registered experiment names, sorted.

    Examples
    --------
    >>> "bounds-vs-exact" in list_experiments()
    True
    """
    return sorted(_REGISTRY)


def get_experiment(name: str) -> Experiment:
    """An instance of the experiment registered as ``name``.

    Examples
    --------
    >>> get_experiment("bounds-vs-exact").name
    'bounds-vs-exact'
    """
    target = _REGISTRY.get(name)
    if target is None:
        raise InvalidParameterError(f"No experiment named {name!r}; available: {', '.join(list_experiments())}.")
    mod, _, cls = target.partition(":")
    obj = getattr(importlib.import_module(mod), cls)
    if not (isinstance(obj, type) and issubclass(obj, Experiment)):
        raise InvalidParameterError(f"{target} is not a regionlab.experiments.Experiment subclass.")
    return obj()


def run_experiment(name: str, out="out", *, quick: bool = False, seed: int = 0, progress: bool = False) -> ExperimentResult:
    """Run the experiment ``name``, writing ``out/NAME/`` (results.json, report.md, PNGs).

    Parameters
    ----------
    name : str
        A registered experiment (:func:`list_experiments`).
    out : str or Path
        The parent folder; the run writes into ``out/NAME``.
    quick : bool
        The small version the test suite runs (minutes at most).
    seed : int
        Seed of every random draw (results are reproducible for a given seed).
    progress : bool
        Progress bars.

    Returns
    -------
    ExperimentResult

    Notes
    -----
    ``results.json`` is rewritten after every finished item; on Ctrl-C the report is
    written with what was finished (marked interrupted) and ``KeyboardInterrupt`` is
    raised again.

    Examples
    --------
    >>> import tempfile
    >>> run_experiment("no-such-thing", tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    regionlab.errors.InvalidParameterError: No experiment named 'no-such-thing'; available: ...
    """
    exp = get_experiment(name)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}.")
    ctx = RunContext(name, Path(out) / name, quick=quick, seed=seed, progress=progress, title=exp.title,
                     paper=exp.paper)
    t0 = time.perf_counter()
    try:
        exp.run(ctx)
    except KeyboardInterrupt:
        ctx.flush(complete=False, elapsed=time.perf_counter() - t0, interrupted=True)
        raise
    except BaseException:
        ctx.flush(complete=False, elapsed=time.perf_counter() - t0)
        raise
    elapsed = time.perf_counter() - t0
    ctx.flush(complete=True, elapsed=elapsed)
    return ExperimentResult(name, str(ctx.out_dir), dict(ctx.results), tuple(ctx.comparisons), True, elapsed)


# ---------------------------------------------------------------------- helpers


def _jsonable(v: Any) -> Any:
    """Plain JSON data; Python ints stay exact (big integers are written in full)."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "to_dict"):
        return _jsonable(v.to_dict())
    if hasattr(v, "tolist"):  # tensors and numpy values
        return _jsonable(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}".replace(",", " ") if abs(v) < 10**15 else f"{v:.3e}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _versions() -> dict:
    import torch

    from .. import __version__

    return {"regionlab": __version__, "torch": torch.__version__, "python": platform.python_version()}


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
