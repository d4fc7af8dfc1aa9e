"""End-to-end tests of the ``regionlab`` command line (in-process and via subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import regionlab
from regionlab.cli.main import main

MODULE = "rl_cli_test_models"

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    def mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 2))


    def conv():
        torch.manual_seed(1)
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


    def gelu():
        return nn.Sequential(nn.Linear(2, 4), nn.GELU(), nn.Linear(4, 1))


    def nan_weights():
        m = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))
        with torch.no_grad():
            m[0].weight[0, 0] = float("nan")
        return m


    def broken():
        raise RuntimeError("factory exploded")
    """
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A directory holding the factory module, weights, TorchScript and .pt2 files."""
    d = tmp_path_factory.mktemp("cli_models")
    (d / f"{MODULE}.py").write_text(MODELS)
    sys.path.insert(0, str(d))
    try:
        mod = __import__(MODULE)
        m = mod.mlp().eval()
        # the weights file differs from the factory's init, so loading it matters
        torch.manual_seed(7)
        trained = mod.mlp().eval()
        with torch.no_grad():
            for p in trained.parameters():
                p.add_(0.1 * torch.randn_like(p))
        torch.save(trained.state_dict(), d / "mlp_weights.pt")
        torch.jit.save(torch.jit.script(m), str(d / "mlp.ts"))
        torch.export.save(torch.export.export(m, (torch.zeros(1, 2),)), str(d / "mlp.pt2"))
        c = mod.conv().eval()
        torch.export.save(torch.export.export(c, (torch.zeros(1, 1, 6, 6),)), str(d / "conv.pt2"))
        g = torch.Generator().manual_seed(0)
        (d / "three.json").write_text(json.dumps(torch.randn(3, 1, 6, 6, generator=g).tolist()))
        (d / "start.json").write_text(json.dumps([-1.0, -0.5]))
        (d / "end.json").write_text(json.dumps({"point": [1.0, 0.5]}))
        (d / "bad.json").write_text("[1.0, ")
        (d / "garbage.pt").write_bytes(b"not a model")
        yield {"dir": d, "mod": mod, "mlp": m, "trained": trained, "conv": c}
    finally:
        sys.path.remove(str(d))
        sys.modules.pop(MODULE, None)


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code=1, contains=None):
    assert code == expected_code, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("regionlab: error: "), err
    assert "Traceback" not in err
    if contains is not None:
        assert contains.lower() in lines[0].lower(), lines[0]


# ------------------------------------------------------------------- success paths


def test_version(capsys):
    code, out, err = run(["version"], capsys)
    assert code == 0 and out.startswith(f"regionlab {regionlab.__version__}") and err == ""


def test_help_exits_zero(capsys):
    code, out, _ = run(["partition", "plane", "--help"], capsys)
    assert code == 0 and "--through" in out and "--bounds" in out


def test_segment_factory_json_and_plot(models, tmp_path, capsys):
    js, png = tmp_path / "seg.json", tmp_path / "seg.png"
    code, out, err = run(["partition", "segment", "--model", f"{MODULE}:mlp",
                          "--weights", models["dir"] / "mlp_weights.pt",
                          "--start", "-1,-0.5", "--end", "1,0.5", "--json", js, "--plot", png], capsys)
    assert code == 0, err
    assert "activation regions" in out and "linear pieces" in out
    data = json.loads(js.read_text())
    ref = regionlab.partition_segment(models["trained"], torch.tensor([-1.0, -0.5]), torch.tensor([1.0, 0.5]))
    assert data["kind"] == "segment"
    assert data["summary"]["num_regions"] == ref.num_regions
    assert data["summary"]["num_linear_pieces"] == ref.num_linear_pieces
    back = regionlab.SegmentPartition.from_dict(data["partition"])
    assert torch.allclose(back.breakpoints, ref.breakpoints, atol=1e-9)
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_segment_from_files(models, tmp_path, capsys):
    d = models["dir"]
    js = tmp_path / "seg_files.json"
    code, out, err = run(["partition", "segment", "--model", f"{MODULE}:mlp", "--start-file", d / "start.json",
                          "--end-file", d / "end.json", "--json", js, "--summary-only"], capsys)
    assert code == 0, err
    data = json.loads(js.read_text())
    assert "partition" not in data
    ref = regionlab.partition_segment(models["mlp"], torch.tensor([-1.0, -0.5]), torch.tensor([1.0, 0.5]))
    assert data["summary"]["num_regions"] == ref.num_regions


def test_plane_factory_json_and_plot(models, tmp_path, capsys):
    js, png = tmp_path / "plane.json", tmp_path / "plane.png"
    code, out, err = run(["partition", "plane", "--model", f"{MODULE}:mlp", "--origin", "0,0", "--u", "1,0",
                          "--v", "0,1", "--bounds", "-2,2,-1.5,1.5", "--json", js, "--plot", png], capsys)
    assert code == 0, err
    ref = regionlab.partition_plane(models["mlp"], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-2, 2, -1.5, 1.5))
    data = json.loads(js.read_text())
    assert data["kind"] == "plane" and data["bounds"] == [-2.0, 2.0, -1.5, 1.5]
    assert data["summary"]["num_regions"] == ref.num_regions
    assert data["summary"]["num_linear_pieces"] == ref.num_linear_pieces
    assert data["partition"]["num_regions"] == ref.num_regions
    assert abs(data["summary"]["domain_area"] - 12.0) < 1e-9
    assert f"{ref.num_regions}" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plane_through_negative_numbers_and_no_boundary(models, tmp_path, capsys):
    js = tmp_path / "through.json"
    code, out, err = run(["partition", "plane", "--model", f"{MODULE}:mlp", "--through", "-1,0;1,0;0,1",
                          "--no-boundary", "--json", js, "--summary-only", "--color-by", "linear_piece",
                          "--plot", tmp_path / "through.png"], capsys)
    assert code == 0, err
    data = json.loads(js.read_text())
    assert data["summary"]["decision_boundary_segments"] == 0
    assert len(data["anchors"]) == 3
    pl = regionlab.plane_through(torch.tensor([-1.0, 0]), torch.tensor([1.0, 0]), torch.tensor([0.0, 1]))
    ref = regionlab.partition_plane(models["mlp"], pl)
    assert data["summary"]["num_regions"] == ref.num_regions


@pytest.mark.parametrize("kind", ["mlp.ts", "mlp.pt2"])
def test_torchscript_and_export_models(models, tmp_path, capsys, kind):
    js = tmp_path / "m.json"
    code, out, err = run(["partition", "plane", "--model", models["dir"] / kind, "--origin", "0,0", "--u", "1,0",
                          "--v", "0,1", "--json", js, "--summary-only"], capsys)
    assert code == 0, err
    ref = regionlab.partition_plane(models["mlp"], [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (-1, 1, -1, 1))
    assert json.loads(js.read_text())["summary"]["num_regions"] == ref.num_regions


def test_conv_export_with_input_shape(models, tmp_path, capsys):
    d = models["dir"]
    js = tmp_path / "conv.json"
    code, out, err = run(["partition", "plane", "--model", d / "conv.pt2", "--input-shape", "1,6,6",
                          "--through-file", d / "three.json", "--json", js, "--summary-only"], capsys)
    assert code == 0, err
    pts = torch.tensor(json.loads((d / "three.json").read_text()))
    net = regionlab.trace(models["conv"], torch.zeros(1, 1, 6, 6))
    ref = regionlab.partition_plane(net, regionlab.plane_through(*pts))
    assert json.loads(js.read_text())["summary"]["num_regions"] == ref.num_regions
    # a segment between two of the images, given flat on the command line
    flat = pts.reshape(3, -1)
    code, out, err = run(["partition", "segment", "--model", f"{MODULE}:conv", "--input-shape", "1,6,6",
                          "--start", ",".join(map(str, flat[0].tolist())),
                          "--end", ",".join(map(str, flat[1].tolist()))], capsys)
    assert code == 0, err
    ref = regionlab.partition_segment(models["conv"], pts[0], pts[1], batched=False)
    assert f"activation regions  {ref.num_regions}" in out


# --------------------------------------------------------------------- error paths

PLANE = ["--origin", "0,0", "--u", "1,0", "--v", "0,1"]


@pytest.mark.parametrize(
    "argv, code, contains",
    [
        (["partition", "plane", "--model", "no_such_model.pt", *PLANE], 1, "no such model file"),
        (["partition", "plane", "--model", "{d}/garbage.pt", *PLANE], 1, "neither"),
        (["partition", "plane", "--model", "{d}/mlp_weights.pt", *PLANE], 1, "state dict"),
        (["partition", "plane", "--model", "no_such_pkg_xyz:make", *PLANE], 1, "cannot import"),
        (["partition", "plane", "--model", f"{MODULE}:broken", *PLANE], 1, "factory exploded"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--weights", "{d}/missing.pt", *PLANE], 1, "weights"),
        (["partition", "plane", "--model", f"{MODULE}:conv", "--weights", "{d}/mlp_weights.pt",
          "--input-shape", "1,6,6", "--through-file", "{d}/three.json"], 1, "do not match"),
        (["partition", "plane", "--model", f"{MODULE}:gelu", *PLANE], 1, "GELU"),
        (["partition", "plane", "--model", f"{MODULE}:nan_weights", *PLANE], 1, "NaN"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", *PLANE, "--bounds", "1,0,0,1"], 1, "empty"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--origin", "0,0", "--u", "1,0", "--v", "2,0"], 1,
         "parallel"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--through", "0,0;1,1;2,2"], 1, "collinear"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--origin", "0,0,0", "--u", "1,0,0", "--v", "0,1,0"],
         1, None),
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--input-shape", "2", "--origin", "0,0,0",
          "--u", "1,0,0", "--v", "0,1,0"], 1, "--origin has 3 numbers"),
        (["partition", "segment", "--model", f"{MODULE}:mlp", "--input-shape", "2", "--start", "0,0,0",
          "--end", "1,1,1"], 1, "--start has 3 numbers"),
        (["partition", "segment", "--model", f"{MODULE}:mlp", "--start-file", "{d}/nope.json",
          "--end", "1,1"], 1, "no such start file"),
        (["partition", "segment", "--model", f"{MODULE}:mlp", "--start-file", "{d}/bad.json",
          "--end", "1,1"], 1, "not valid JSON"),
        (["partition", "segment", "--model", f"{MODULE}:mlp", "--start-file", "{d}/garbage.pt",
          "--end", "1,1"], 1, "cannot read"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", *PLANE, "--device", "cuda:7"], 1, "cuda"),
        # usage errors: exit status 2
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--origin", "0,x", "--u", "1,0", "--v", "0,1"], 2,
         "not a number"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", *PLANE, "--bounds", "1,2"], 2, "4 numbers"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", *PLANE, "--bounds", "0,1,nan,1"], 2, "finite"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--origin", "0,0"], 2, "missing --u, --v"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", *PLANE, "--through", "0,0;1,0;0,1"], 2, "not both"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", "--through", "0,0;1,0"], 2, "three points"),
        (["partition", "segment", "--model", f"{MODULE}:mlp", "--start", "0,0"], 2, "missing --end"),
        (["partition", "segment", "--model", f"{MODULE}:mlp", "--start", "0,0", "--end", "1,1",
          "--input-shape", "0,2"], 2, "positive integers"),
        (["partition", "segment", "--start", "0,0", "--end", "1,1"], 2, "--model"),
        (["partition", "plane", "--model", f"{MODULE}:mlp", *PLANE, "--atol", "-1"], 2, "non-negative"),
        (["demo", "--steps", "many"], 2, "not an integer"),
        (["frobnicate"], 2, "invalid choice"),
        ([], 2, "required"),
        (["partition"], 2, "required"),
    ],
)
def test_errors_are_one_line(models, capsys, argv, code, contains):
    argv = [str(a).replace("{d}", str(models["dir"])) for a in argv]
    got, out, err = run(argv, capsys)
    assert_one_line_error(got, err, code, contains)


def test_keyboard_interrupt_and_unexpected_errors(monkeypatch, capsys):
    import regionlab.cli.main as cli

    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_version", interrupt)
    code, _, err = run(["version"], capsys)
    assert_one_line_error(code, err, 130, "interrupted")

    def boom(args):
        raise RuntimeError("something\nbroke\n  badly")

    monkeypatch.setattr(cli, "_cmd_version", boom)
    code, _, err = run(["version"], capsys)
    assert_one_line_error(code, err, 1, "unexpected RuntimeError: something broke badly")


def test_warnings_are_one_line(monkeypatch, capsys):
    import warnings

    import regionlab.cli.main as cli

    def warn(args):
        warnings.warn("careful\nnow", regionlab.errors.NumericalWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cli, "_cmd_version", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run(["version"], capsys)
    assert code == 0 and err == "regionlab: warning: careful now\n"


# ------------------------------------------------------------------- subprocesses


def _env(models):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(models["dir"]), env.get("PYTHONPATH", "")])
    env["MPLBACKEND"] = "Agg"
    return env


def test_subprocess_success_and_errors(models, tmp_path):
    env = _env(models)
    js, png = tmp_path / "sp.json", tmp_path / "sp.png"
    r = subprocess.run([sys.executable, "-m", "regionlab.cli.main", "partition", "plane", "--model", f"{MODULE}:mlp",
                        "--origin", "0,0", "--u", "1,0", "--v", "0,1", "--json", str(js), "--plot", str(png)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "activation regions" in r.stdout
    assert json.loads(js.read_text())["summary"]["num_regions"] > 0 and png.stat().st_size > 1000

    # the in-process tests cover every error path; here one runtime and one usage error
    for argv, code in [
        (["partition", "plane", "--model", f"{MODULE}:gelu", "--origin", "0,0", "--u", "1,0", "--v", "0,1"], 1),
        (["partition", "segment", "--model", f"{MODULE}:mlp", "--start", "0,zz", "--end", "1,1"], 2),
    ]:
        r = subprocess.run([sys.executable, "-m", "regionlab", *argv], capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.returncode == code, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("regionlab: error: "), r.stderr
        assert "Traceback" not in r.stderr and r.stdout == ""


def test_console_script_version():
    script = os.path.join(os.path.dirname(sys.executable), "regionlab")
    if not os.path.exists(script):
        pytest.skip("the regionlab console script is not installed next to this interpreter")
    r = subprocess.run([script, "version"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("regionlab ")
