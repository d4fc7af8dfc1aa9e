"""The public surface: exported names, docstrings, light import, doctests."""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys

import pytest

import regionlab

# names in regionlab.__all__ that are values, not documented callables
_VALUES = {"__version__", "DEFAULT_NUMERICS"}


def _public_modules() -> list[str]:
    names = ["regionlab"]
    for info in pkgutil.walk_packages(regionlab.__path__, "regionlab."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or parts[-1] == "__main__":
            continue
        names.append(info.name)
    return sorted(names)


PUBLIC_MODULES = _public_modules()


def test_all_names_resolve_and_are_documented():
    assert len(set(regionlab.__all__)) == len(regionlab.__all__)
    for name in regionlab.__all__:
        obj = getattr(regionlab, name)  # resolves (lazily)
        assert obj is not None, name
        if name in _VALUES:
            continue
        assert not name.startswith("_"), f"private name {name!r} exported"
        doc = inspect.getdoc(obj)
        assert doc, f"regionlab.{name} has no docstring"
        if inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj):
            assert "Examples\n--------" in doc, f"regionlab.{name} has no numpydoc Examples section"


def test_dir_lists_the_lazy_names():
    assert set(regionlab.__all__) <= set(dir(regionlab))
    with pytest.raises(AttributeError):
        regionlab.no_such_name  # noqa: B018


@pytest.mark.parametrize("modname", PUBLIC_MODULES)
def test_public_module_all_is_consistent(modname):
    mod = importlib.import_module(modname)
    assert inspect.getdoc(mod), f"{modname} has no module docstring"
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{modname}.__all__ names missing {name!r}"


def test_own_public_functions_have_examples():
    """Every public function of the plotting, demo and CLI modules has an Examples section."""
    for modname in ("regionlab.plotting", "regionlab.demo", "regionlab.cli.main", "regionlab._optional"):
        mod = importlib.import_module(modname)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if callable(obj):
                assert "Examples\n--------" in (inspect.getdoc(obj) or ""), f"{modname}.{name}"


def test_import_is_light_and_has_no_side_effects():
    # torch itself may import some of these (torch 2.13 imports tqdm): only modules that
    # regionlab's import adds on top of torch's count
    code = (
        "import sys, torch\n"
        "heavy = ('matplotlib', 'scipy', 'ray', 'tqdm')\n"
        "before = {m for m in heavy if m in sys.modules}\n"
        "flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_default_dtype())\n"
        "import regionlab, regionlab.plotting, regionlab.cli.main\n"
        "after = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_default_dtype())\n"
        "assert flags == after, (flags, after)\n"
        "print(','.join(m for m in heavy if m in sys.modules and m not in before))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"import regionlab loaded {r.stdout.strip()}"


def _doctest_modules() -> list[str]:
    mods = set(PUBLIC_MODULES)
    # private modules with documented helpers are checked as well
    for info in pkgutil.walk_packages(regionlab.__path__, "regionlab."):
        if info.name.split(".")[-1] != "__main__":
            mods.add(info.name)
    return sorted(mods)


@pytest.mark.parametrize("modname", _doctest_modules())
def test_doctests(modname, tmp_path, monkeypatch):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:  # an optional backend (e.g. ray) that is not installed
        pytest.skip(f"{modname}: {e}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(mod, modname) if t.examples]
    failures = []
    for t in tests:
        import torch

        torch.manual_seed(0)
        result = runner.run(t, out=lambda s: failures.append(s), clear_globs=True)
        del result
    assert not failures, "".join(failures)


def test_architecture_map_is_true_to_the_code():
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
    if not doc.exists():
        pytest.skip("docs/architecture.md is not next to the tests")
    text = doc.read_text()
    root = Path(regionlab.__file__).parent
    mentioned = set(re.findall(r"^\| `([a-z_/0-9]+\.py)` \|", text, flags=re.M))  # the module tables
    for rel in mentioned:
        assert (root / rel).exists(), f"docs/architecture.md lists {rel}, which does not exist"
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if not any(part.startswith("_") and part != "__init__.py" for part in rel.split("/")):
            assert rel in mentioned, f"docs/architecture.md does not describe {rel}"
