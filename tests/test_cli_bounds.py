"""End-to-end tests of ``regionlab bounds`` (in-process, through ``regionlab.cli.main.main``)."""

from __future__ import annotations

import json
import sys
import textwrap
import warnings

import pytest
import torch

from regionlab import bounds as B
from regionlab.cli.main import main

MODULE = "rl_cli_bounds_models"

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Maxout(nn.Module):
        def __init__(self, units, rank):
            super().__init__()
            self.units, self.rank = units, rank

        def forward(self, x):
            return x.view(-1, self.units, self.rank).amax(-1)


    def mlp():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))


    def low_rank():
        m = mlp()
        with torch.no_grad():
            m[2].weight.copy_(torch.outer(torch.arange(1.0, 9.0), torch.ones(8)))
        return m


    def maxout():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(2, 12), Maxout(4, 3), nn.Linear(4, 1))


    def conv():
        return nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1))


    def flat_first():
        return nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    """
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_bounds_models")
    (d / f"{MODULE}.py").write_text(MODELS)
    sys.path.insert(0, str(d))
    try:
        mod = __import__(MODULE)
        torch.save(mod.mlp().state_dict(), d / "mlp_weights.pt")
        with warnings.catch_warnings():  # torch.jit is deprecated; TorchScript files are still a SPEC
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(torch.jit.script(mod.mlp().eval()), str(d / "mlp.ts"))
        yield d
    finally:
        sys.path.remove(str(d))
        sys.modules.pop(MODULE, None)


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code, contains):
    assert code == expected_code, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("regionlab: error: "), err
    assert "Traceback" not in err
    assert contains.lower() in lines[0].lower(), lines[0]


def table_values(out):
    """{name: value text} of the printed table's applicable rows."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("lower", "upper", "exact"):
            rows[parts[0]] = parts[2]
    return rows


def test_numbers_relu(capsys):
    code, out, err = run(["bounds", "--input-dim", 2, "--widths", "8,8,8"], capsys)
    assert code == 0 and err == ""
    rows = table_values(out)
    assert rows["serra_upper"] == "50,653" and rows["serra_lower"] == "23,125"
    assert rows["montufar2014_lower"] == "9,472" and rows["trivial_upper"] == "16,777,216"
    assert "Not applicable:" in out and "serra_exact_1d:" in out and "n0 = 1" in out


def test_huge_values_get_scientific_notation(capsys):
    code, out, _ = run(["bounds", "--input-dim", 2, "--widths", "20,20,20"], capsys)
    assert code == 0
    assert "1,152,921,504,606,846,976 (1.15e18)" in out


@pytest.mark.parametrize(
    "activation, row, value",
    [("maxout:3", "maxout_serra_upper", "27,270,901"), ("cpwl:2", "trivial_upper", f"{3**24:,}"),
     ("leaky", "montufar2017_upper", "50,653"), ("relu", "hinz_upper", "50,653")],
)
def test_activations(activation, row, value, capsys):
    code, out, err = run(["bounds", "--input-dim", 2, "--widths", "8,8,8", "--activation", activation], capsys)
    assert code == 0, err
    assert table_values(out)[row] == value
    if activation == "leaky":
        assert "serra_upper:" in out.split("Not applicable:")[1]


def test_json_output(tmp_path, capsys):
    js = tmp_path / "sub" / "bounds.json"
    code, out, err = run(["bounds", "--input-dim", 3, "--widths", "4,4,4", "--json", js], capsys)
    assert code == 0, err
    data = json.loads(js.read_text())
    assert data["architecture"] == B.architecture(input_dim=3, widths=[4, 4, 4]).to_dict()
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["serra_upper"]["value"] == 1_631 and rows["montufar2017_upper"]["value"] == 3_375
    assert rows["serra_lower"]["applies"] is False and "3*n0 = 9" in rows["serra_lower"]["reason"]
    assert rows["serra_lower"]["value"] is None and rows["serra_upper"]["value_text"] == "1,631"
    assert data["best_upper"] == 1_631 and data["best_lower"] == B.serra_size_lower(3, 2, 4, 3) == 100
    assert f"wrote {js}" in out


def test_json_holds_values_too_long_for_str(tmp_path, capsys):
    js = tmp_path / "big.json"
    code, _, err = run(["bounds", "--input-dim", 1, "--widths", "1000," * 15 + "1000", "--json", js], capsys)
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(js.read_text())["rows"]}
    assert rows["trivial_upper"]["value"] == "3.02e4816 (4817 digits)"  # 2^16000 = 10^4816.48: beyond str()'s 4300 digits
    assert rows["serra_upper"]["value"] == 1001**16


def test_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bounds.png"
    code, out, err = run(["bounds", "--input-dim", 2, "--widths", "2,4,8", "--activation", "maxout:3", "--plot", png],
                         capsys)
    assert code == 0, err
    assert png.exists() and png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_factory_and_weights(models, capsys):
    code, out, err = run(["bounds", "--model", f"{MODULE}:mlp", "--weights", models / "mlp_weights.pt"], capsys)
    assert code == 0, err
    assert "n0=2, widths=[8, 8], relu" in out
    assert table_values(out)["serra_upper"] == f"{B.serra_upper(2, [8, 8]):,}"


def test_model_torchscript(models, capsys):
    code, out, err = run(["bounds", "--model", models / "mlp.ts", "--input-shape", 2], capsys)
    assert code == 0, err
    assert table_values(out)["raghu_upper"] == f"{B.zaslavsky(8, 2) ** 2:,}"


def test_model_ranks_refine_serra(models, capsys):
    code, out, err = run(["bounds", "--model", f"{MODULE}:low_rank"], capsys)
    assert code == 0, err
    value = B.serra_upper(2, [8, 8], ranks=[2, 1])
    assert value < B.serra_upper(2, [8, 8]) and table_values(out)["serra_upper"] == f"{value:,}"


def test_model_maxout(models, capsys):
    code, out, err = run(["bounds", "--model", f"{MODULE}:maxout"], capsys)
    assert code == 0, err
    assert "maxout (k=3)" in out and table_values(out)["maxout_one_layer"] == f"{B.maxout_one_layer(2, [3] * 4):,}"


@pytest.mark.parametrize(
    "argv, code, contains",
    [
        (["bounds"], 2, "give --input-dim and --widths"),
        (["bounds", "--input-dim", 2], 2, "give --input-dim and --widths"),
        (["bounds", "--input-dim", 0, "--widths", "3"], 2, "--input-dim must be a positive integer"),
        (["bounds", "--input-dim", "x", "--widths", "3"], 2, "invalid int value"),
        (["bounds", "--input-dim", 2, "--widths", "3,0"], 2, "positive integers"),
        (["bounds", "--input-dim", 2, "--widths", "a"], 2, "positive integers"),
        (["bounds", "--input-dim", 2, "--widths", "8,x"], 2, "positive integers"),
        (["bounds", "--input-dim", 2, "--widths", "8,,8"], 2, "positive integers"),
        (["bounds", "--input-dim", 2, "--widths", "8x8"], 2, "positive integers"),
        (["bounds", "--input-dim", 2, "--widths", "3", "--activation", "gelu"], 2, "relu, leaky, cpwl:K or maxout:k"),
        (["bounds", "--input-dim", 2, "--widths", "3", "--activation", "maxout"], 2, "maxout needs the rank"),
        (["bounds", "--input-dim", 2, "--widths", "3", "--activation", "cpwl:0"], 2, "cpwl needs K"),
        (["bounds", "--input-dim", 2, "--widths", "3", "--weights", "w.pt"], 2, "go with --model"),
        (["bounds", "--model", "x:y", "--widths", "3"], 2, "drop --widths"),
        (["bounds", "--input-dim", 2, "--widths", "3", "--bogus"], 2, "unrecognized arguments"),
    ],
)
def test_usage_errors(argv, code, contains, capsys):
    got, _, err = run(argv, capsys)
    assert_one_line_error(got, err, code, contains)


@pytest.mark.parametrize(
    "spec, extra, contains",
    [
        (f"{MODULE}:conv", ["--input-shape", "1,3"], "conv_first_layer"),
        (f"{MODULE}:flat_first", [], "--input-shape"),
        ("no_such_module_xyz:f", [], "no_such_module_xyz"),
    ],
)
def test_model_errors(models, spec, extra, contains, capsys):
    got, _, err = run(["bounds", "--model", spec, *extra], capsys)
    assert_one_line_error(got, err, 2 if contains == "--input-shape" else 1, contains)


def test_missing_weights_file(models, capsys):
    got, _, err = run(["bounds", "--model", f"{MODULE}:mlp", "--weights", models / "nope.pt"], capsys)
    assert_one_line_error(got, err, 1, "nope.pt")


def test_unwritable_json(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    got, _, err = run(["bounds", "--input-dim", 2, "--widths", "3", "--json", blocker / "out.json"], capsys)
    assert_one_line_error(got, err, 1, "out.json")


def test_help_lists_bounds(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "bounds" in out
    code, out, _ = run(["bounds", "--help"], capsys)
    assert code == 0 and "--activation" in out and "maxout:k" in out
