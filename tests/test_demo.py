"""The demo job (``regionlab demo`` / ``make demo``) in its quick form."""

from __future__ import annotations

import json

import pytest
import torch

import regionlab
from regionlab.cli.main import main
from regionlab.demo import DEFAULT_BOUNDS, make_mlp, run_demo, train, two_moons

pytest.importorskip("matplotlib")


def test_demo_quick_writes_three_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "demo"
    code = main(["demo", "--quick", "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    for name in ("partition_init.png", "partition_trained.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    s = json.loads((out / "summary.json").read_text())
    for stage in ("init", "trained"):
        r = s[stage]
        assert r["num_regions"] > 0
        assert 0 < r["num_linear_pieces"] <= r["num_regions"]
        assert r["partition_seconds"] > 0 and r["regions_per_second"] > 0
        assert r["decision_boundary_length"] > 0
    assert 0.0 <= s["train_accuracy"] <= 1.0
    assert s["train_accuracy"] > 0.85  # two moons is easy even after 200 steps
    assert s["training_seconds"] > 0
    assert s["versions"]["regionlab"] == regionlab.__version__
    assert s["versions"]["torch"] == torch.__version__
    assert s["domain"]["bounds"] == list(DEFAULT_BOUNDS)
    assert s["quick"] is True
    assert "trained" in stdout and "regions" in stdout and "accuracy" in stdout


def test_demo_counts_match_the_public_api_and_are_reproducible(tmp_path):
    box = (-0.5, 1.5, -0.5, 1.0)
    a = run_demo(tmp_path / "a", quick=True, steps=30, bounds=box, plots=False)
    assert not (tmp_path / "a" / "partition_init.png").exists() and a["domain"]["bounds"] == list(box)
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["trained"] == a["trained"]
    # the counts equal direct calls on the same seeded model, before and after the same training
    model = make_mlp(seed=0).eval()
    part = regionlab.partition_plane(model, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], box)
    assert part.num_regions == a["init"]["num_regions"]
    x, y = two_moons(100, seed=0)
    stats = train(model, x, y, steps=30)
    assert stats["train_accuracy"] == a["train_accuracy"]
    part = regionlab.partition_plane(model, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], box)
    assert (part.num_regions, part.num_linear_pieces) == (a["trained"]["num_regions"], a["trained"]["num_linear_pieces"])


def test_two_moons_and_training_helpers():
    x, y = two_moons(50, seed=3)
    assert x.shape == (100, 2) and x.dtype == torch.float64 and y.tolist().count(1) == 50
    x2, _ = two_moons(50, seed=3)
    assert torch.equal(x, x2)
    state = torch.random.get_rng_state()
    model = make_mlp((8, 8), seed=1)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    stats = train(model, x, y, steps=20)
    assert stats["steps"] == 20 and 0.0 <= stats["train_accuracy"] <= 1.0 and not model.training
