"""Tests of regionlab.tracing.load_model: TorchScript, torch.export and factory specs."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from regionlab.errors import ModelLoadError, UnsupportedOperationError
from regionlab.ir import MaxOp
from regionlab.testing.zoo import ZOO, mlp
from regionlab.tracing import load_model, trace

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def assert_same(net, model, shape, seed=5):
    x = rand(8, *shape, seed=seed)
    with torch.no_grad():
        assert float((net(x) - model(x)).abs().max()) <= 1e-10


# torch 2.13 deprecates TorchScript and some pytree spellings used inside torch.export;
# 'same' padding with even kernels warns about a padded copy
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
]


# ---------------------------------------------------------------- TorchScript


@pytest.mark.parametrize("name", ["lenet", "mlp_prelu", "mlp_cpwl", "conv1d_net"])
def test_torchscript_sequential_round_trip(tmp_path, name):
    build, x = ZOO[name]
    model = build()
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    loaded = load_model(path)
    assert isinstance(loaded, nn.Sequential) and not loaded.training
    assert not isinstance(loaded, torch.jit.ScriptModule)
    net = trace(loaded, x)
    assert_same(net, model, x.shape[1:])


def test_trace_accepts_a_script_module_directly():
    build, x = ZOO["lenet"]
    model = build()
    net = trace(torch.jit.script(model), x)
    assert any(isinstance(n.op, MaxOp) for n in net.nodes[1:])
    assert_same(net, model, x.shape[1:])


def test_torchscript_custom_forward_is_unsupported(tmp_path):
    build, _ = ZOO["small_resnet"]
    path = tmp_path / "resnet.pt"
    torch.jit.save(torch.jit.script(build()), str(path))
    with pytest.raises(UnsupportedOperationError, match=r"_SmallResNet.*Sequential-style.*torch\.export"):
        load_model(str(path))


# -------------------------------------------------------------- torch.export


@pytest.mark.parametrize("name", ["small_resnet", "maxout_mlp", "activations_mix", "layout_net"])
def test_torch_export_round_trip(tmp_path, name):
    build, x = ZOO[name]
    model = build()
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    loaded = load_model(str(path))
    assert isinstance(loaded, torch.fx.GraphModule)
    net = trace(loaded, x)
    assert_same(net, model, x.shape[1:])


def test_torch_export_decomposed_aten_ops(tmp_path):
    build, x = ZOO["small_resnet"]
    model = build()
    path = tmp_path / "decomposed.pt2"
    ep = torch.export.export(model, (x,)).run_decompositions()
    targets = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert any("convolution" in t for t in targets) and any("no_training" in t for t in targets)
    torch.export.save(ep, str(path))
    net = trace(load_model(path), x)
    assert_same(net, model, x.shape[1:])


def test_torch_export_static_batch_size(tmp_path):
    model = mlp((3, 5, 2))
    x = torch.zeros(1, 3, dtype=F64)
    path = tmp_path / "static.pt2"

    class Viewing(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return self.inner(x.view(1, 3))

    torch.export.save(torch.export.export(Viewing().eval(), (x,)), str(path))
    net = trace(load_model(path), x)
    assert net.input_shape == (3,)
    assert_same(net, model, (3,))


# ------------------------------------------------------------------- factories


class _Custom:
    """An arbitrary Python object: weights_only loading must refuse it."""


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "rl_user_models.py").write_text(textwrap.dedent(
        """
        import torch
        from torch import nn

        def build():
            torch.manual_seed(0)
            return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)).double()

        class Builder:
            @staticmethod
            def make():
                return build()

        def not_a_module():
            return 42

        def broken():
            raise RuntimeError("factory exploded")

        NOT_CALLABLE = 3
        """
    ))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "rl_user_models"


def test_factory_without_and_with_weights(tmp_path, factory_module):
    model = load_model(f"{factory_module}:build")
    assert isinstance(model, nn.Sequential) and not model.training
    assert isinstance(load_model(f"{factory_module}:Builder.make"), nn.Sequential)

    reference = load_model(f"{factory_module}:build")
    with torch.no_grad():
        for p in reference.parameters():
            p.mul_(-2.0)
    weights = tmp_path / "weights.pt"
    torch.save(reference.state_dict(), weights)
    loaded = load_model(f"{factory_module}:build", weights=str(weights))
    assert torch.equal(loaded[0].weight, reference[0].weight)
    net = trace(loaded, torch.zeros(1, 2, dtype=F64))
    assert_same(net, reference, (2,))

    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": reference.state_dict(), "epoch": 3}, checkpoint)
    loaded = load_model(f"{factory_module}:build", weights=checkpoint)
    assert torch.equal(loaded[2].bias, reference[2].bias)


@pytest.mark.parametrize(
    "attr, pattern",
    [
        ("not_a_module", "returned int, not an nn.Module"),
        ("broken", "factory exploded"),
        ("NOT_CALLABLE", "not callable"),
        ("missing", "has no attribute 'missing'"),
    ],
)
def test_factory_errors(factory_module, attr, pattern):
    with pytest.raises(ModelLoadError, match=pattern) as info:
        load_model(f"{factory_module}:{attr}")
    assert "\n" not in str(info.value)


def test_weights_errors(tmp_path, factory_module):
    spec = f"{factory_module}:build"
    with pytest.raises(ModelLoadError, match="No such weights file"):
        load_model(spec, weights=tmp_path / "nope.pt")

    wrong = tmp_path / "wrong.pt"
    torch.save(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).state_dict(), wrong)
    with pytest.raises(ModelLoadError, match=r"mismatched \(0.weight: \(3, 2\) in file vs \(4, 2\) in model"):
        load_model(spec, weights=wrong)

    partial = tmp_path / "partial.pt"
    sd = load_model(spec).state_dict()
    sd.pop("2.bias")
    sd["extra"] = torch.zeros(1)
    torch.save(sd, partial)
    with pytest.raises(ModelLoadError, match=r"1 missing \(2.bias\); 1 unexpected \(extra\)"):
        load_model(spec, weights=partial)

    unsafe = tmp_path / "unsafe.pt"
    torch.save({"obj": _Custom()}, unsafe)
    with pytest.raises(ModelLoadError, match="weights_only=True"):
        load_model(spec, weights=unsafe)

    not_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(ModelLoadError, match="does not hold a state dict"):
        load_model(spec, weights=not_dict)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(ModelLoadError, match="Cannot load weights"):
        load_model(spec, weights=garbage)


# ---------------------------------------------------------------- bad specs


def test_bad_specs(tmp_path):
    with pytest.raises(ModelLoadError, match="No such model file"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(ModelLoadError, match="No such model file"):
        load_model("definitely_not_a_file")
    with pytest.raises(ModelLoadError, match="Cannot import 'no_such_package_xyz.models'.*No module named"):
        load_model("no_such_package_xyz.models:build")
    with pytest.raises(ModelLoadError, match="Malformed"):
        load_model("torch:")
    with pytest.raises(ModelLoadError, match="directory"):
        load_model(tmp_path)
    with pytest.raises(ModelLoadError, match="file path"):
        load_model(42)
    with pytest.raises(ModelLoadError, match="file path"):
        load_model("   ")

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01 not a zip")
    with pytest.raises(ModelLoadError, match="neither a TorchScript archive"):
        load_model(junk)

    weights_only = tmp_path / "state.pt"
    torch.save(nn.Linear(2, 2).state_dict(), weights_only)
    with pytest.raises(ModelLoadError, match="torch.save archive"):
        load_model(weights_only)

    bad_pt2 = tmp_path / "bad.pt2"
    bad_pt2.write_bytes(b"nope")
    with pytest.raises(ModelLoadError, match="Cannot load the torch.export file"):
        load_model(bad_pt2)
