"""regionlab.experiments: the run context, the registry, `regionlab run`, and each experiment's --quick run."""

from __future__ import annotations

import json
import pickle

import pytest

from regionlab.cli.main import main
from regionlab.errors import InvalidParameterError
from regionlab.experiments import (
    Experiment,
    ExperimentResult,
    _base,
    get_experiment,
    list_experiments,
    register_experiment,
    run_experiment,
)


class _Counting(Experiment):
    name, title, paper = "counting-test", "Counts to three", "a test (2026)"

    def run(self, ctx):
        for i in range(3):
            ctx.record(f"item{i}", i)
        ctx.compare("three", paper=3, ours=3, agrees=True)
        ctx.section("Notes", "| a | b |\n|---|---|\n| 1 | 2 |")


class _Interrupted(Experiment):
    name, title, paper = "interrupted-test", "Stops after one item", "a test (2026)"

    def run(self, ctx):
        ctx.record("first", {"big": 2**80})
        raise KeyboardInterrupt


class _Wrong(Experiment):
    name, title, paper = "wrong-test", "Disagrees with its paper", "a test (2026)"

    def run(self, ctx):
        ctx.compare("answer", paper=42, ours=41, agrees=False)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(_base, "_REGISTRY", dict(_base._REGISTRY))
    for cls in (_Counting, _Interrupted, _Wrong):
        register_experiment(cls.name, f"{__name__}:{cls.__name__}")
    return monkeypatch


def test_run_writes_results_report_and_returns_a_value_object(tmp_path, registered):
    res = run_experiment("counting-test", tmp_path, seed=3)
    assert isinstance(res, ExperimentResult) and res.complete and res.all_agree
    doc = json.loads((tmp_path / "counting-test" / "results.json").read_text())
    assert doc["complete"] is True and doc["interrupted"] is False and doc["seed"] == 3
    assert doc["results"] == {"item0": 0, "item1": 1, "item2": 2}
    assert doc["comparisons"][0] == {"quantity": "three", "paper": 3, "ours": 3, "agrees": True, "note": ""}
    report = (tmp_path / "counting-test" / "report.md").read_text()
    assert "# Counts to three" in report and "a test (2026)" in report
    assert "| three | 3 | 3 | yes |" in report and "## Notes" in report
    assert "regionlab run counting-test --seed 3" in report
    assert pickle.loads(pickle.dumps(res)) == res


def test_interrupt_keeps_finished_items_and_marks_the_run(tmp_path, registered):
    with pytest.raises(KeyboardInterrupt):
        run_experiment("interrupted-test", tmp_path)
    doc = json.loads((tmp_path / "interrupted-test" / "results.json").read_text())
    assert doc["interrupted"] is True and doc["complete"] is False
    assert doc["results"]["first"]["big"] == 2**80  # exact integers survive JSON
    assert "interrupted" in (tmp_path / "interrupted-test" / "report.md").read_text()


def test_registry_and_errors(registered):
    assert {"bounds-vs-exact", "counting-test"} <= set(list_experiments())
    assert get_experiment("counting-test").title == "Counts to three"
    with pytest.raises(InvalidParameterError, match="No experiment named 'nope'"):
        get_experiment("nope")
    with pytest.raises(InvalidParameterError, match="lower case"):
        register_experiment("Bad Name", "x:y")
    with pytest.raises(InvalidParameterError, match="package.module:Class"):
        register_experiment("ok-name", "no_colon")
    register_experiment("not-an-experiment", "regionlab.experiments._base:Comparison")
    with pytest.raises(InvalidParameterError, match="not a regionlab.experiments.Experiment"):
        get_experiment("not-an-experiment")


def test_figure_paths_stay_inside_the_run(tmp_path):
    ctx = _base.RunContext("x", tmp_path)
    assert ctx.figure_path("a.png", "A") == tmp_path / "a.png"
    for bad in ("../a.png", "a.pdf", ".png"):
        with pytest.raises(InvalidParameterError):
            ctx.figure_path(bad, "bad")


def test_cli_run(tmp_path, registered, capsys):
    assert main(["run", "--list"]) == 0
    assert "bounds-vs-exact" in capsys.readouterr().out
    assert main(["run", "counting-test", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "three" in out and "ok" in out and "report.md" in out
    assert main(["run", "wrong-test", "--out", str(tmp_path)]) == 1  # a disagreement is a failure
    assert "DIFFERS" in capsys.readouterr().out
    assert main(["run"]) == 2
    assert main(["run", "nope", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "No experiment named 'nope'" in err
    assert main(["run", "interrupted-test", "--out", str(tmp_path)]) == 130


@pytest.mark.slow
def test_bounds_vs_exact_quick(tmp_path):
    res = run_experiment("bounds-vs-exact", tmp_path, quick=True)
    folder = tmp_path / "bounds-vs-exact"
    doc = json.loads((folder / "results.json").read_text())
    assert doc["complete"] is True
    bad = [c for c in res.comparisons if c.agrees is False]
    assert not bad, bad
    # every part ran and reported
    assert {"worked_values", "extremal", "random_networks", "density_vs_depth",
            "tseran_montufar_reference_run"} <= set(doc["results"])
    extremal = doc["results"]["extremal"]
    assert extremal and all(v["exact"] == v["lower_bound"] for v in extremal.values())
    for r in doc["results"]["random_networks"]["rows"]:
        assert r["exact_box"] <= r["tightest_upper"]
    assert (folder / "random_vs_bounds.png").stat().st_size > 1000
    assert (folder / "density_vs_depth.png").stat().st_size > 1000
    assert "The paper's figures beside ours" in (folder / "report.md").read_text()


def test_random_network_refuses_unknown_choices():
    from regionlab.experiments.bounds_vs_exact import random_network

    assert random_network("maxout:2", 2, [3], init="he")[0].rank == 2
    with pytest.raises(InvalidParameterError, match="init must be"):
        random_network("relu", 2, [3], init="xavier")
    with pytest.raises(InvalidParameterError, match="activation must be one of"):
        random_network("gelu", 2, [3])
