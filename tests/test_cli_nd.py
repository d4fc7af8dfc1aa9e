"""The n-D command line (``partition box|ball|hull``, ``local-counts``) and the n-D figures.

The CLI runs in-process on small factory / TorchScript models. Its results are checked
against the library called directly and against independent oracles that use only the
torch model: activation patterns read from the model's own pre-activations at the
reported witnesses and at uniform samples (every sample lands in a reported region,
with frequencies matching the reported volumes), closed-form volumes (box, l1 ball,
triangle) and shoelace areas of the drawn polygons.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import textwrap

import numpy as np
import pytest
import torch

import regionlab
from regionlab.cli.main import main
from regionlab.domains import Box, ConvexHull, L1Ball, LinfBall, random_directions, window
from regionlab.errors import InvalidParameterError
from regionlab.local import local_region_counts
from regionlab.plotting import plot_local_counts, plot_polytope_partition, plot_region_graph

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection, PolyCollection  # noqa: E402

MODULE = "rl_clind_test_models"

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    def mlp3():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 1))


    def mlp16():
        torch.manual_seed(2)
        return nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


    def mnist():
        torch.manual_seed(3)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                             nn.Linear(16, 10))


    def gelu():
        return nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 1))
    """
)

F64 = torch.float64


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Factory module, weights, a TorchScript 784-input model and point files."""
    d = tmp_path_factory.mktemp("cli_nd_models")
    (d / f"{MODULE}.py").write_text(MODELS)
    sys.path.insert(0, str(d))
    try:
        mod = __import__(MODULE)
        # the weights differ from the factory's init, so loading them matters
        torch.manual_seed(7)
        trained3 = mod.mlp3().eval()
        with torch.no_grad():
            for p in trained3.parameters():
                p.add_(0.1 * torch.randn_like(p))
        torch.save(trained3.state_dict(), d / "mlp3_weights.pt")
        mnist = mod.mnist().eval()
        torch.jit.save(torch.jit.script(mnist), str(d / "mnist.ts"))
        g = torch.Generator().manual_seed(0)
        image = 0.05 * torch.rand(1, 28, 28, generator=g)
        torch.save(image, d / "image.pt")
        hull16 = torch.randn(3, 16, generator=g, dtype=F64)
        np.save(d / "hull16.npy", hull16.numpy())
        np.save(d / "same16.npy", np.ones((3, 16)))
        points3 = 0.5 * torch.randn(5, 3, generator=g, dtype=F64)
        torch.save(points3, d / "points3.pt")
        np.save(d / "flat3.npy", np.zeros(3))
        np.save(d / "nan3.npy", np.array([[0.0, np.nan, 0.0]]))
        yield {"dir": d, "mlp3": mod.mlp3().eval(), "trained3": trained3, "mlp16": mod.mlp16().eval(),
               "mnist": mnist, "image": image, "hull16": hull16, "points3": points3}
    finally:
        sys.path.remove(str(d))
        sys.modules.pop(MODULE, None)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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


def is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def oracle_patterns(model, X) -> torch.Tensor:
    """ReLU pattern (1: pre-activation > 0) of a Sequential of Flatten/Linear/ReLU, in float64.

    Independent of regionlab's IR: it runs the torch modules themselves.
    """
    m = copy.deepcopy(model).double()
    h = torch.as_tensor(X, dtype=F64)
    bits = []
    with torch.no_grad():
        for layer in m:
            if isinstance(layer, torch.nn.ReLU):
                bits.append((h > 0).to(torch.int16).reshape(h.shape[0], -1))
            h = layer(h)
    return torch.cat(bits, 1)


def region_index(patterns) -> dict:
    return {tuple(p): i for i, p in enumerate(patterns)}


# ------------------------------------------------------------------------ partition box


def test_box_3d_matches_library_and_sampling_oracle(models, tmp_path, capsys):
    d = models["dir"]
    js, png, gpng = tmp_path / "box.json", tmp_path / "box.png", tmp_path / "graph.png"
    code, out, err = run(["partition", "box", "--model", f"{MODULE}:mlp3", "--weights", d / "mlp3_weights.pt",
                          "--lower", "-1,-1,-1", "--upper", "1,1,1", "--json", js, "--plot", png,
                          "--graph-plot", gpng], capsys)
    assert code == 0, err
    ref = regionlab.partition_polytope(models["trained3"], Box([-1.0] * 3, [1.0] * 3))
    data = json.loads(js.read_text())
    s, P = data["summary"], data["partition"]
    R = ref.num_regions
    assert data["kind"] == "box" and data["complete"] is True and R > 10
    assert s["num_regions"] == R and P["num_regions"] == R
    assert s["num_linear_pieces"] == ref.num_linear_pieces
    assert s["num_adjacent_pairs"] == ref.adjacency.shape[0] == len(P["adjacency"])
    assert s["mean_degree"] == pytest.approx(2 * len(P["adjacency"]) / R)
    assert s["engine"] == "vertex" and data["domain"]["lower"] == [-1.0] * 3
    for row in ("activation regions", "linear pieces", "adjacent pairs", "mean degree", "mean facets",
                "volume", "engine", "complete"):
        assert row in out
    assert f"activation regions  {R}" in out

    patterns = torch.tensor(P["patterns"], dtype=torch.int16)
    witnesses = torch.tensor(P["witnesses"], dtype=F64)
    assert patterns.shape == (R, 12) and len(region_index(P["patterns"])) == R
    assert bool((witnesses.abs() < 1).all()) and min(P["inradii"]) > 0
    # the torch model's own pattern at each witness is the reported one
    assert torch.equal(oracle_patterns(models["trained3"], witnesses), patterns)
    # uniform samples land in reported regions, as often as the reported volumes say
    N = 20000
    X = 2 * torch.rand(N, 3, generator=torch.Generator().manual_seed(1), dtype=F64) - 1
    index = region_index(P["patterns"])
    hit = [index.get(tuple(c)) for c in oracle_patterns(models["trained3"], X).tolist()]
    assert None not in hit
    vol = np.asarray(P["volumes"]) / 8.0
    assert vol.sum() == pytest.approx(1.0, abs=1e-9)
    freq = np.bincount(hit, minlength=R) / N
    assert np.all(np.abs(freq - vol) <= 5 * np.sqrt(vol * (1 - vol) / N) + 1e-3)
    # adjacency: pairs i < j of listed regions whose patterns differ
    for i, j in P["adjacency"]:
        assert 0 <= i < j < R and P["patterns"][i] != P["patterns"][j]
    assert is_png(png) and is_png(gpng)


def test_box_engines_agree_summary_only_and_negative_bounds(models, tmp_path, capsys):
    js = tmp_path / "lp.json"
    code, out, err = run(["partition", "box", "--model", f"{MODULE}:mlp3", "--lower", "-1,-0.5,-2",
                          "--upper", "0.5,1,-0.5", "--engine", "lp", "--json", js, "--summary-only"], capsys)
    assert code == 0, err
    data = json.loads(js.read_text())
    assert "partition" not in data and data["summary"]["engine"] == "lp"
    ref = regionlab.partition_polytope(models["mlp3"], Box([-1.0, -0.5, -2.0], [0.5, 1.0, -0.5]), engine="vertex")
    assert data["summary"]["num_regions"] == ref.num_regions
    assert data["summary"]["num_adjacent_pairs"] == ref.adjacency.shape[0]


def test_box_2d_zoo_factory_plot(tmp_path, capsys):
    png = tmp_path / "box2.png"
    code, out, err = run(["partition", "box", "--model", "regionlab.testing.zoo:mlp", "--lower", "-1,-1",
                          "--upper", "1,1", "--plot", png, "--color-by", "linear_piece"], capsys)
    assert code == 0, err
    from regionlab.testing import zoo

    ref = regionlab.partition_polytope(zoo.mlp(), Box([-1.0, -1.0], [1.0, 1.0]))
    assert f"activation regions  {ref.num_regions}" in out and is_png(png)


# ----------------------------------------------------------------------- partition ball


def test_ball_window_784_input_torchscript(models, tmp_path, capsys):
    d = models["dir"]
    js, png = tmp_path / "ball.json", tmp_path / "ball.png"
    code, out, err = run(["partition", "ball", "--model", d / "mnist.ts", "--center", d / "image.pt",
                          "--radius", "1", "--directions", "2", "--seed", "3", "--json", js, "--plot", png,
                          "--graph-plot", tmp_path / "g.png", "--graph-layout", "spring"], capsys)
    assert code == 0, err
    data = json.loads(js.read_text())
    dirs = random_directions(784, 2, generator=torch.Generator().manual_seed(3))
    ref = regionlab.partition_polytope(models["mnist"], window(models["image"], dirs.reshape(2, 1, 28, 28), 1.0))
    assert data["summary"]["num_regions"] == ref.num_regions > 5
    dom = data["domain"]
    assert dom["class"] == "LinfBall" and dom["dim"] == 2 and dom["input_dim"] == 784 and dom["seed"] == 3
    basis = torch.tensor(dom["basis"], dtype=F64)
    assert torch.allclose(basis, dirs, atol=1e-12)
    assert data["input_shape"] == [1, 28, 28]
    W = torch.tensor(data["partition"]["witnesses"], dtype=F64)
    assert bool((W.abs() < 1).all())
    # the witnesses, mapped to images, have the reported patterns in the torch model
    X = (torch.tensor(dom["origin"], dtype=F64) + W @ basis).reshape(-1, 1, 28, 28)
    assert torch.equal(oracle_patterns(models["mnist"], X), torch.tensor(data["partition"]["patterns"],
                                                                         dtype=torch.int16))
    assert sum(data["partition"]["volumes"]) == pytest.approx(4.0, abs=1e-9)
    assert is_png(png) and is_png(tmp_path / "g.png")


def test_ball_l1_full_and_window(models, tmp_path, capsys):
    js = tmp_path / "l1.json"
    code, out, err = run(["partition", "ball", "--model", f"{MODULE}:mlp3", "--center", "0.1,-0.2,0",
                          "--radius", "1.5", "--norm", "l1", "--json", js], capsys)
    assert code == 0, err
    data = json.loads(js.read_text())
    ref = regionlab.partition_polytope(models["mlp3"], L1Ball([0.1, -0.2, 0.0], 1.5))
    assert data["summary"]["num_regions"] == ref.num_regions
    # closed form: the l1 ball's volume is (2 r)^3 / 3!
    assert data["summary"]["total_volume"] == pytest.approx(3.0**3 / 6, rel=1e-9)
    W = torch.tensor(data["partition"]["witnesses"], dtype=F64)
    assert bool((W.abs().sum(1) < 1.5).all())
    # the default norm: the full l-inf ball, a cube of side 1
    code, out, err = run(["partition", "ball", "--model", f"{MODULE}:mlp3", "--center", "-0.2,0.1,0.3",
                          "--radius", "0.5", "--json", js], capsys)
    assert code == 0, err
    data = json.loads(js.read_text())
    ref = regionlab.partition_polytope(models["mlp3"], LinfBall([-0.2, 0.1, 0.3], 0.5))
    assert data["domain"]["class"] == "LinfBall" and data["summary"]["num_regions"] == ref.num_regions
    assert data["summary"]["total_volume"] == pytest.approx(1.0, rel=1e-9)
    # a 3-D l1 window of a 16-input model, drawn in 3-D
    centre = ",".join(["0.05"] * 16)
    png = tmp_path / "l1w.png"
    code, out, err = run(["partition", "ball", "--model", f"{MODULE}:mlp16", "--center", centre, "--radius", "2",
                          "--norm", "l1", "--directions", "3", "--plot", png], capsys)
    assert code == 0, err
    dirs = random_directions(16, 3, generator=torch.Generator().manual_seed(0))
    ref = regionlab.partition_polytope(models["mlp16"], window(torch.full((16,), 0.05), dirs, 2.0, norm="l1"))
    assert f"activation regions  {ref.num_regions}" in out and is_png(png)


# ----------------------------------------------------------------------- partition hull


def test_hull_of_three_points(models, tmp_path, capsys):
    d = models["dir"]
    js, png = tmp_path / "hull.json", tmp_path / "hull.png"
    code, out, err = run(["partition", "hull", "--model", f"{MODULE}:mlp16", "--points", d / "hull16.npy",
                          "--json", js, "--plot", png], capsys)
    assert code == 0, err
    pts = models["hull16"]
    ref = regionlab.partition_polytope(models["mlp16"], ConvexHull(pts))
    data = json.loads(js.read_text())
    assert data["summary"]["num_regions"] == ref.num_regions > 3
    assert data["domain"]["class"] == "ConvexHull" and data["domain"]["dim"] == 2
    # closed form: the triangle's area from the Gram determinant of two edges
    a, b = pts[1] - pts[0], pts[2] - pts[0]
    area = 0.5 * math.sqrt(float(a @ a) * float(b @ b) - float(a @ b) ** 2)
    assert sum(data["partition"]["volumes"]) == pytest.approx(area, rel=1e-9)
    assert data["summary"]["domain_volume"] == pytest.approx(area, rel=1e-9)
    # witnesses are convex combinations of the three points with positive weights
    X = torch.tensor(data["domain"]["origin"], dtype=F64) + torch.tensor(
        data["partition"]["witnesses"], dtype=F64) @ torch.tensor(data["domain"]["basis"], dtype=F64)
    M = torch.cat([pts.T, torch.ones(1, 3, dtype=F64)])
    lam = torch.linalg.lstsq(M, torch.cat([X.T, torch.ones(1, X.shape[0], dtype=F64)])).solution
    assert bool((lam > 0).all())
    assert torch.allclose(M @ lam, torch.cat([X.T, torch.ones(1, X.shape[0], dtype=F64)]), atol=1e-9)
    assert torch.equal(oracle_patterns(models["mlp16"], X),
                       torch.tensor(data["partition"]["patterns"], dtype=torch.int16))
    assert is_png(png)


# ------------------------------------------------------------------------- local counts


@pytest.mark.parametrize("method, extra", [("exact", []), ("slices", ["--num-slices", "3"]),
                                           ("complexity", ["--num-directions", "3"])])
def test_local_counts_each_method(models, tmp_path, capsys, method, extra):
    d = models["dir"]
    js, png = tmp_path / f"{method}.json", tmp_path / f"{method}.png"
    code, out, err = run(["local-counts", "--model", f"{MODULE}:mlp3", "--points", d / "points3.pt",
                          "--radius", "0.3", "--method", method, *extra, "--json", js, "--plot", png], capsys)
    assert code == 0, err
    X = models["points3"]
    kw = {"num_slices": 3} if method == "slices" else {"num_directions": 3} if method == "complexity" else {}
    ref = local_region_counts(models["mlp3"], X, 0.3, method=method, generator=0, **kw)
    data = json.loads(js.read_text())
    assert data["kind"] == "local-counts" and data["complete"] is True
    counts = data["result"]["counts"]
    assert counts == pytest.approx(ref.counts.tolist(), abs=1e-12)
    assert data["summary"]["mean"] == pytest.approx(float(np.mean(counts)))
    assert data["summary"]["method"] == method and f"method              {method}" in out
    if method == "exact":
        # a sampling lower bound from the torch model: distinct patterns met in each ball
        g = torch.Generator().manual_seed(2)
        sampled = []
        for x in X:
            Y = x + 0.3 * (2 * torch.rand(4000, 3, generator=g, dtype=F64) - 1)
            sampled.append(len({tuple(p) for p in oracle_patterns(models["mlp3"], Y).tolist()}))
        assert all(s <= c for s, c in zip(sampled, counts, strict=True))
        assert sum(sampled) >= 0.8 * sum(counts) and max(counts) > 1
    if method == "slices":
        assert np.asarray(data["result"]["per_slice"]).shape == (5, 3)
    if method == "complexity":
        assert data["summary"]["num_directions"] == 3
    assert is_png(png)


def test_local_counts_max_regions_partial_json(models, tmp_path, capsys):
    d = models["dir"]
    X = models["points3"]
    full = local_region_counts(models["mlp3"], X, 0.4).counts.tolist()
    limit = int(max(full)) - 1
    first_over = next(i for i, c in enumerate(full) if c > limit)
    js = tmp_path / "lc_partial.json"
    code, out, err = run(["local-counts", "--model", f"{MODULE}:mlp3", "--points", d / "points3.pt",
                          "--radius", "0.4", "--max-regions", limit, "--json", js], capsys)
    assert_one_line_error(code, err, 1, f"--max-regions {limit}")
    data = json.loads(js.read_text())
    assert data["complete"] is False and "stopped" in data
    assert data["result"]["counts"] == full[:first_over]


# --------------------------------------------------------------------- limits, partial


def test_box_max_regions_writes_partial_json(models, tmp_path, capsys):
    full = regionlab.partition_polytope(models["mlp3"], Box([-1.0] * 3, [1.0] * 3))
    full_patterns = {tuple(p) for p in full.patterns.tolist()}
    for engine in ("vertex", "lp"):
        js = tmp_path / f"partial_{engine}.json"
        code, out, err = run(["partition", "box", "--model", f"{MODULE}:mlp3", "--lower", "-1,-1,-1",
                              "--upper", "1,1,1", "--max-regions", "5", "--engine", engine, "--json", js], capsys)
        assert_one_line_error(code, err, 1, "--max-regions 5")
        data = json.loads(js.read_text())
        n = data["summary"]["num_regions"]
        assert f"partial result had {n} regions" in err and str(js) in err
        assert data["complete"] is False and data["summary"]["complete"] is False and "stopped" in data
        assert len(data["partition"]["patterns"]) == n >= 1
        if engine == "lp":  # regions finished so far: genuine regions of the full partition
            assert n <= 5 and {tuple(p) for p in data["partition"]["patterns"]} <= full_patterns
        else:  # the coarser partition by the layers before the overflow covers the box
            assert sum(data["partition"]["volumes"]) == pytest.approx(8.0, abs=1e-9)


def test_time_limit_partial(models, tmp_path, capsys):
    js = tmp_path / "t.json"
    code, out, err = run(["partition", "box", "--model", f"{MODULE}:mlp3", "--lower", "-1,-1,-1", "--upper",
                          "1,1,1", "--engine", "lp", "--time-limit", "1e-9", "--json", js], capsys)
    assert_one_line_error(code, err, 1, "--time-limit")
    assert json.loads(js.read_text())["complete"] is False


def test_interrupted_partition_keeps_partial_json(models, tmp_path, capsys, monkeypatch):
    import dataclasses

    import regionlab.regions.polytope as polytope

    real = polytope.partition_polytope

    def interrupted(*args, **kwargs):  # what the engines return after a first Ctrl-C
        part = real(*args, **kwargs)
        return dataclasses.replace(part, info=dict(part.info, complete=False, interrupted=True))

    monkeypatch.setattr(polytope, "partition_polytope", interrupted)
    js = tmp_path / "int.json"
    code, out, err = run(["partition", "box", "--model", M3, *BOX, "--json", js], capsys)
    assert_one_line_error(code, err, 130, "interrupted")
    data = json.loads(js.read_text())
    assert data["complete"] is False and data["stopped"] == "interrupted"
    assert f"had {data['summary']['num_regions']} regions" in err


# ---------------------------------------------------------------------------- errors

BOX = ["--lower", "-1,-1,-1", "--upper", "1,1,1"]
M3 = f"{MODULE}:mlp3"


@pytest.mark.parametrize(
    "argv, code, contains",
    [
        (["partition", "box", "--model", M3, "--lower", "-1,-1", "--upper", "1,1,1"], 2, "--lower has 2 numbers"),
        (["partition", "box", "--model", M3, "--input-shape", "3", "--lower", "-1,-1", "--upper", "1,1"], 1,
         "--lower has 2 numbers"),
        (["partition", "box", "--model", M3, "--lower", "-1,1,-1", "--upper", "1,1,1"], 1, "coordinate 1"),
        (["partition", "box", "--model", M3, "--lower", "0,0,x", "--upper", "1,1,1"], 2, "not a number"),
        (["partition", "box", "--model", M3, *BOX, "--engine", "simplex"], 2, "invalid choice"),
        (["partition", "box", "--model", M3, *BOX, "--max-regions", "0"], 2, "positive integer"),
        (["partition", "box", "--model", M3, *BOX, "--time-limit", "-1"], 2, "positive number"),
        (["partition", "box", "--model", f"{MODULE}:gelu", *BOX], 1, "GELU"),
        (["partition", "box", "--model", "{d}/no_such.ts", *BOX], 1, "no such model file"),
        (["partition", "box", "--model", M3, "--weights", "{d}/missing.pt", *BOX], 1, "weights"),
        (["partition", "box", "--model", M3, "--upper", "1,1,1"], 2, "--lower"),
        (["partition", "ball", "--model", M3, "--center", "0,0,0", "--radius", "-1"], 2, "positive number"),
        (["partition", "ball", "--model", M3, "--center", "0,0,0", "--radius", "0"], 2, "positive number"),
        (["partition", "ball", "--model", M3, "--center", "0,0,0"], 2, "--radius"),
        (["partition", "ball", "--model", M3, "--center", "0,0,0", "--radius", "1", "--norm", "l2"], 2,
         "invalid choice"),
        (["partition", "ball", "--model", M3, "--center", "{d}/missing.npy", "--radius", "1"], 1,
         "no such center file"),
        (["partition", "ball", "--model", M3, "--center", "0,zero,0", "--radius", "1"], 2, "not a number"),
        (["partition", "ball", "--model", M3, "--center", "0,0,0", "--radius", "1", "--directions", "4"], 1,
         "exceeds the input dimension 3"),
        (["partition", "ball", "--model", f"{MODULE}:mlp16", "--center", ",".join(["0"] * 16), "--radius", "1",
          "--plot", "{d}/never.png"], 1, "--graph-plot"),
        (["partition", "hull", "--model", M3, "--points", "{d}/missing.pt"], 1, "no such points file"),
        (["partition", "hull", "--model", M3, "--points", "{d}/flat3.npy"], 1, "at least 2"),
        (["partition", "hull", "--model", f"{MODULE}:mlp16", "--points", "{d}/same16.npy"], 1, "coincide"),
        (["partition", "hull", "--model", M3, "--points", "{d}/hull16.npy"], 1, "--input-shape"),
        (["local-counts", "--model", M3, "--points", "{d}/points3.pt", "--radius", "0.1", "--num-slices", "2"], 2,
         "--method slices"),
        (["local-counts", "--model", M3, "--points", "{d}/points3.pt", "--radius", "0.1", "--method",
          "complexity", "--max-regions", "3"], 2, "drop --max-regions"),
        (["local-counts", "--model", M3, "--points", "{d}/points3.pt", "--radius", "0.1", "--method", "exact",
          "--num-directions", "2"], 2, "--method complexity"),
        (["local-counts", "--model", M3, "--points", "{d}/points3.pt", "--radius", "-0.1"], 2, "positive"),
        (["local-counts", "--model", M3, "--points", "{d}/points3.pt", "--radius", "0.1", "--method", "all"], 2,
         "invalid choice"),
        (["local-counts", "--model", M3, "--points", "{d}/nan3.npy", "--radius", "0.1"], 1, "NaN"),
        (["local-counts", "--model", M3, "--points", "{d}/flat3.npy", "--radius", "0.1"], 1, "leading dimension"),
        (["local-counts", "--model", M3, "--points", "{d}/missing.pt", "--radius", "0.1"], 1, "no such points"),
    ],
)
def test_errors_are_one_line(models, tmp_path, capsys, argv, code, contains):
    argv = [str(a).replace("{d}", str(models["dir"])) for a in argv]
    got, out, err = run(argv, capsys)
    assert_one_line_error(got, err, code, contains)
    assert not (models["dir"] / "never.png").exists()


def test_subprocess_entry_point(models, tmp_path):
    import os
    import subprocess

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(models["dir"]), *sys.path]), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "regionlab.cli.main", "partition", "hull", "--model", f"{MODULE}:mlp16",
           "--points", str(models["dir"] / "hull16.npy"), "--json", str(tmp_path / "h.json"), "--summary-only"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "h.json").read_text())["summary"]["num_regions"] > 3
    r = subprocess.run(cmd[:-3] + ["--lower", "1"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("regionlab: error: unrecognized arguments: --lower 1")


def test_help_lists_the_nd_commands(capsys):
    code, out, _ = run(["partition", "--help"], capsys)
    assert code == 0 and all(k in out for k in ("box", "ball", "hull"))
    code, out, _ = run(["local-counts", "--help"], capsys)
    assert code == 0 and "--num-slices" in out and "--method" in out


# ------------------------------------------------------------------------------ plots


def _relu_box(k, lower=-1.0, upper=1.0):
    from regionlab.ir import CPWLNetwork, PiecewiseLinear

    net = CPWLNetwork.sequential((k,), [PiecewiseLinear.relu()])
    return regionlab.partition_polytope(net, Box([lower] * k, [upper] * k))


def _shoelace(P):
    x, y = P[:, 0], P[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def test_plot_2d_polygons_are_ordered_regions(models):
    part = regionlab.partition_polytope(models["mlp16"], ConvexHull(models["hull16"]), engine="lp")
    ax = plot_polytope_partition(part)
    polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(polys) == 1 and len(polys[0].get_paths()) == part.num_regions
    # an angle-ordered polygon's shoelace area equals the region's volume (qhull)
    areas = [_shoelace(p.vertices[:-1] if np.allclose(p.vertices[0], p.vertices[-1]) else p.vertices)
             for p in polys[0].get_paths()]
    assert np.allclose(areas, part.volumes.numpy(), rtol=1e-9, atol=1e-12)
    # neighbours get different colours
    fc = polys[0].get_facecolor()
    for i, j in part.adjacency.tolist():
        assert not np.allclose(fc[i], fc[j])
    # by output: the colour scale follows the output at the witnesses, with a colour bar
    ax = plot_polytope_partition(part, color_by="output", output_index=1)
    assert len(ax.figure.axes) == 2
    out = np.einsum("rcj,rj->rc", part.affine_A.numpy(), part.witnesses.numpy()) + part.affine_c.numpy()
    fc = ax.collections[0].get_facecolor()
    hi, lo = int(out[:, 1].argmax()), int(out[:, 1].argmin())
    assert fc[hi][0] > fc[hi][2] and fc[lo][2] > fc[lo][0]  # coolwarm: red at the top, blue at the bottom


def test_plot_3d_facets_of_the_orthant_cubes():
    part = _relu_box(3)  # 8 unit cubes, 6 square facets each
    ax = plot_polytope_partition(part, shrink=1.0)
    assert ax.name == "3d"
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    (coll,) = [c for c in ax.collections if isinstance(c, Poly3DCollection)]
    assert len(coll.get_facecolor()) == 48
    from regionlab.plotting import _facet_polygons

    total = 0.0
    for i in range(part.num_regions):
        A, b, _ = part.facets(i)
        polys = _facet_polygons(part.vertices(i).numpy(), A.numpy(), b.numpy())
        assert len(polys) == 6 and all(p.shape == (4, 3) for p in polys)
        for p in polys:  # consecutive corners of a unit square are 1 apart: the order is cyclic
            assert np.allclose(np.linalg.norm(p - np.roll(p, -1, axis=0), axis=1), 1.0)
            total += 1.0
    assert total == 48.0
    ax.figure.canvas.draw()


def test_plot_polytope_partition_rejects_bad_input():
    with pytest.raises(InvalidParameterError, match="plot_region_graph"):
        plot_polytope_partition(_relu_box(4))
    part3 = _relu_box(3)
    _, ax2 = plt.subplots()
    with pytest.raises(InvalidParameterError, match="projection='3d'"):
        plot_polytope_partition(part3, ax=ax2)
    with pytest.raises(InvalidParameterError, match="shrink"):
        plot_polytope_partition(part3, shrink=0.0)
    with pytest.raises(InvalidParameterError, match="color_by"):
        plot_polytope_partition(_relu_box(2), color_by="pattern")
    with pytest.raises(InvalidParameterError, match="PolytopePartition"):
        plot_polytope_partition(object())


def test_plot_region_graph_layouts():
    part = _relu_box(4)
    ax = plot_region_graph(part)
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    (nodes,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(lines.get_segments()) == part.adjacency.shape[0] == 32
    assert np.allclose(nodes.get_offsets(), part.witnesses[:, :2].numpy())
    sizes, r = nodes.get_sizes(), part.inradii.numpy()
    assert np.allclose(sizes / sizes.max(), np.maximum(r / r.max(), 0.05))
    ax = plot_region_graph(part, layout="spring", node_size=50)
    (nodes,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert nodes.get_offsets().shape == (16, 2) and nodes.get_sizes().max() == pytest.approx(50)
    ax3 = plot_region_graph(_relu_box(3))
    assert ax3.name == "3d"
    with pytest.raises(InvalidParameterError, match="layout"):
        plot_region_graph(part, layout="circle")
    with pytest.raises(InvalidParameterError, match="node_size"):
        plot_region_graph(part, node_size=-1)


def test_plot_local_counts_histogram():
    ax = plot_local_counts([1.0, 2.0, 2.0, 4.0])
    assert [p.get_height() for p in ax.patches] == [1, 2, 0, 1]
    X = torch.zeros(3, 2, dtype=F64)
    from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear

    net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=F64)), PiecewiseLinear.relu()])
    res = local_region_counts(net, X + torch.tensor([[0.0, 0.0], [0.3, 0.0], [0.25, 0.4]], dtype=F64), 0.5,
                              method="slices", num_slices=2)
    ax = plot_local_counts(res)
    assert sum(p.get_height() for p in ax.patches) == 3 and "slices" in ax.get_title()
    with pytest.raises(InvalidParameterError, match="NaN"):
        plot_local_counts([1.0, float("nan")])
    with pytest.raises(InvalidParameterError, match="1-D"):
        plot_local_counts([[1.0, 2.0]])
