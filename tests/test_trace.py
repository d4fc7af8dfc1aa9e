"""Tests of regionlab.trace: lowering correctness on the zoo, every op family, errors, registry."""

from __future__ import annotations

import math
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import regionlab
from regionlab.activations import CPWLActivation
from regionlab.errors import (
    InvalidParameterError,
    NumericalError,
    ShapeError,
    TraceError,
    UnsupportedOperationError,
)
from regionlab.ir import (
    Concat,
    Conv,
    CPWLNetwork,
    Dense,
    ElementwiseAffine,
    Gather,
    MaxOp,
    Pad,
    PiecewiseLinear,
    Reshape,
    Sum,
)
from regionlab.testing.zoo import ACTIVATIONS, ZOO, init_weights, mlp
from regionlab.tracing import MultiOutput, register_op, registered_ops, trace, unregister_op

F64 = torch.float64
TOL = 1e-10


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def build(factory, seed=0):
    with torch.random.fork_rng(devices=[]):
        model = factory()
    return init_weights(model, seed)


def check(model, example, n=16, seed=3):
    """Trace, then compare outputs on random points; return the network."""
    net = trace(model, example)
    assert isinstance(net, CPWLNetwork)
    x = rand(n, *net.input_shape, seed=seed)
    with torch.no_grad():
        expected = model(x)
        got = net(x)
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= TOL
    return net


def ops_of(net, cls):
    return [n.op for n in net.nodes[1:] if isinstance(n.op, cls)]


# ------------------------------------------------------------------------- the zoo


@pytest.fixture(scope="module")
def zoo_nets():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: 'same' padding with even kernels
        return {name: (build_(), x, trace(build_(), x)) for name, (build_, x) in ZOO.items()}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_outputs_match_model(zoo_nets, name):
    model, example, net = zoo_nets[name]
    x = rand(32, *net.input_shape, seed=11)
    with torch.no_grad():
        diff = (net(x) - model(x)).abs().max()
    assert float(diff) <= TOL
    assert net.dtype == F64
    assert net.input_shape == tuple(example.shape[1:])


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_patterns_and_preactivations(zoo_nets, name):
    model, _, net = zoo_nets[name]
    x = rand(5, *net.input_shape, seed=12)
    pat = net.patterns(x)
    assert pat.shape == (5, net.num_units)
    assert net.num_units == sum(net.nodes[i].size for i in net.nonlinear_nodes)
    pre = net.preactivations(x)
    assert len(pre) == len(net.nonlinear_nodes)
    for i, z in zip(net.nonlinear_nodes, pre, strict=True):
        assert z.shape[0] == 5
        node = net.nodes[i]
        if node.op.kind == "univariate":
            assert z.shape[1] == node.size
        else:
            assert z.shape[1] == net.nodes[node.inputs[0]].size


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_local_affine_map_reproduces_outputs(zoo_nets, name):
    model, _, net = zoo_nets[name]
    # two points keep the float64 convolutions over (1 + input_dim) columns cheap
    x = rand(2, *net.input_shape, seed=13)
    A, c = net.local_affine_map(x)
    y = (A @ x.reshape(2, -1, 1)).squeeze(-1) + c
    with torch.no_grad():
        expected = model(x).reshape(2, -1)
    assert float((y - expected).abs().max()) <= 1e-9
    # the map's matrix is the model's Jacobian (autograd) at each point; fewer outputs than
    # inputs take one backward pass per output, the others the forward forms: both agree
    for i in range(2):
        J = torch.autograd.functional.jacobian(lambda t: model(t).reshape(-1), x[i:i + 1]).reshape(A.shape[1], -1)
        assert float((A[i] - J).abs().max()) <= 1e-9


@pytest.mark.parametrize("outputs", [12, 6, 3])
def test_local_affine_map_through_a_narrow_first_layer(outputs):
    # 12 inputs read through 4 numbers: batches push forms in 4 coordinates (or backward
    # passes, with 3 outputs), one point the plain forms; all are the autograd Jacobian
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 5), nn.Hardtanh(), nn.Linear(5, outputs)).double()
    net = trace(model, torch.zeros(1, 12, dtype=F64))
    assert net.input_basis() is not None
    x = rand(6, 12, seed=14) * 2
    A, c = net.local_affine_map(x)
    for i in range(6):
        J = torch.autograd.functional.jacobian(lambda t: model(t).reshape(-1), x[i:i + 1]).reshape(outputs, 12)
        assert float((A[i] - J).abs().max()) <= 1e-12
        A1, c1 = net.local_affine_map(x[i:i + 1])
        assert torch.allclose(A1[0], A[i], rtol=1e-12, atol=1e-13) and torch.allclose(c1[0], c[i], rtol=1e-12, atol=1e-13)
    with torch.no_grad():
        assert float(((A @ x.unsqueeze(-1)).squeeze(-1) + c - model(x)).abs().max()) <= 1e-12


def test_zoo_is_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = ZOO["lenet"][0](), ZOO["lenet"][0]()
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not a.training and next(a.parameters()).dtype == F64


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    act=st.sampled_from(ACTIVATIONS),
    seed=st.integers(0, 1000),
    bias=st.booleans(),
)
def test_property_random_mlp_matches(widths, act, seed, bias):
    model = mlp(widths, act, seed=seed, bias=bias)
    net = trace(model, torch.zeros(1, widths[0], dtype=F64))
    x = rand(8, widths[0], seed=seed)
    with torch.no_grad():
        assert float((net(x) - model(x)).abs().max()) <= TOL
    assert net.num_units == (sum(widths[1:-1]) if len(widths) > 2 else 0)


# --------------------------------------------------------------- linear and conv


class _Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, 3, dtype=F64))
        self.b = nn.Parameter(torch.randn(5, dtype=F64))
        self.m = nn.Parameter(torch.randn(5, 4, dtype=F64))

    def forward(self, x):
        h = F.linear(x, self.w, self.b)
        return torch.relu(h) @ self.m + h.relu().matmul(self.m[:, 0])[:, None]


def test_linear_forms():
    net = check(_Functional().eval(), torch.zeros(1, 3, dtype=F64))
    assert len(ops_of(net, Dense)) == 3
    net = check(build(lambda: nn.Linear(3, 2, bias=False)), torch.zeros(1, 3, dtype=F64))
    assert net.nodes[1].op.bias is None


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(2, 3), padding="same", dilation=(2, 1)),
        dict(kernel_size=4, padding="same"),
        dict(kernel_size=3, padding="valid", groups=2),
        dict(kernel_size=2, dilation=2, stride=(1, 2), padding=(0, 2), bias=False),
    ],
)
def test_conv2d_options(kwargs):
    model = build(lambda: nn.Sequential(nn.Conv2d(2, 4, **kwargs), nn.ReLU()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        net = check(model, torch.zeros(1, 2, 9, 8, dtype=F64))
    assert len(ops_of(net, Conv)) == 1


def test_conv1d_and_functional_conv():
    model = build(lambda: nn.Sequential(nn.Conv1d(3, 2, 3, stride=2, padding=1, dilation=1), nn.ReLU()))
    check(model, torch.zeros(1, 3, 10, dtype=F64))

    class FConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 1, 3, 3, dtype=F64))

        def forward(self, x):
            return F.conv2d(x, self.w, None, 1, "same", 1, 2)

    check(FConv().eval(), torch.zeros(1, 2, 6, 6, dtype=F64))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_modes_other_than_zeros_are_rejected(mode):
    model = build(lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode=mode)))
    with pytest.raises(UnsupportedOperationError, match=f"Conv2d at '0'.*padding_mode='{mode}'"):
        trace(model, torch.zeros(1, 1, 5, 5, dtype=F64))


# ------------------------------------------------------------------- batch norm


def test_batchnorm_folds_into_linear_and_conv():
    model = build(lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)))
    net = check(model, torch.zeros(1, 3, dtype=F64))
    assert len(net.nodes) == 4 and not ops_of(net, ElementwiseAffine)
    assert "folded" in net.nodes[1].where

    model = build(lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten()))
    net = check(model, torch.zeros(1, 2, 5, 5, dtype=F64))
    assert len(ops_of(net, Conv)) == 1 and not ops_of(net, ElementwiseAffine)


def test_batchnorm_without_single_use_producer_is_elementwise_affine(zoo_nets):
    _, _, net = zoo_nets["batchnorm_variety"]
    # bn_in (no producer), bn_conv (conv output reused by the residual), bn_plain (after a sum)
    assert len(ops_of(net, ElementwiseAffine)) == 3
    assert len(ops_of(net, Dense)) == 2  # fc with bn_fc folded, and the head


def test_functional_batch_norm():
    class FBN(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor([0.5, -0.2], dtype=F64))
            self.register_buffer("var", torch.tensor([2.0, 0.3], dtype=F64))

        def forward(self, x):
            return F.batch_norm(x, self.mean, self.var, None, None, False, 0.1, 1e-3)

    net = check(FBN().eval(), torch.zeros(1, 2, 3, dtype=F64))
    assert len(ops_of(net, ElementwiseAffine)) == 1


def test_batchnorm_in_training_mode_is_rejected():
    model = build(lambda: nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))).train()
    with pytest.raises(UnsupportedOperationError, match=r"BatchNorm1d at '1'.*model\.eval\(\)"):
        trace(model, torch.zeros(4, 2, dtype=F64))


def test_batchnorm_without_running_stats_is_rejected():
    model = build(lambda: nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, track_running_stats=False)))
    with pytest.raises(UnsupportedOperationError, match="batch statistics"):
        trace(model, torch.zeros(4, 2, dtype=F64))


# ---------------------------------------------------------------------- pooling


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=3, stride=2, ceil_mode=True),
        dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1), ceil_mode=True),
        dict(kernel_size=2, stride=3, dilation=2),
    ],
)
def test_maxpool2d_options(kwargs):
    model = build(lambda: nn.Sequential(nn.Conv2d(1, 2, 1), nn.MaxPool2d(**kwargs)))
    net = check(model, torch.zeros(1, 1, 7, 8, dtype=F64))
    (op,) = ops_of(net, MaxOp)
    assert op.index.shape[1] == math.prod(op.index.shape[1:])
    assert bool((op.index[:, 0] >= 0).all())
    if kwargs.get("padding"):
        assert bool((op.index == -1).any())


def test_maxpool1d_and_functional_maxpool():
    model = build(lambda: nn.Sequential(nn.Conv1d(1, 2, 1), nn.MaxPool1d(3, 2, 1, ceil_mode=True)))
    check(model, torch.zeros(1, 1, 9, dtype=F64))

    class FPool(nn.Module):
        def forward(self, x):
            return F.max_pool2d(x, 2, 1) + F.adaptive_max_pool2d(x, (2, 2)).sum(-1, keepdim=True).sum(-2, keepdim=True)

    check(FPool(), torch.zeros(1, 2, 5, 5, dtype=F64))


def test_maxpool_return_indices_is_rejected_when_used():
    class Idx(nn.Module):
        def forward(self, x):
            v, i = F.max_pool2d(x, 2, return_indices=True)
            return v + i

    with pytest.raises(UnsupportedOperationError, match="indices"):
        trace(Idx(), torch.zeros(1, 1, 4, 4, dtype=F64))


def test_average_pooling():
    model = build(
        lambda: nn.Sequential(
            nn.Conv2d(1, 2, 1), nn.AvgPool2d(3, 2, 1, count_include_pad=False), nn.ReLU(),
            nn.AdaptiveAvgPool2d((2, 1)), nn.Flatten(),
        )
    )
    check(model, torch.zeros(1, 1, 9, 7, dtype=F64))
    model = build(lambda: nn.Sequential(nn.Conv1d(1, 2, 1), nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(3)))
    check(model, torch.zeros(1, 1, 11, dtype=F64))


# -------------------------------------------------------------- shapes, layout


class _Views(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        self.flat = nn.Flatten()

    def forward(self, x):
        h = self.conv(x)
        parts = [
            h.view(h.size(0), -1), h.reshape(h.shape[0], -1), torch.flatten(h, 1), h.flatten(1), self.flat(h),
            h.permute(0, 3, 1, 2).contiguous().view(h.size(0), -1),
            h.transpose(1, 3).reshape(h.size(0), -1),
            h[:, 1].reshape(h.size(0), -1), h[:, :, 1:3, ::2].flatten(1), h.flip(-1).flatten(1),
            torch.roll(h, 1, dims=2).flatten(1), h.narrow(2, 0, 2).flatten(1),
            h[:, :1].expand(-1, 3, -1, -1).flatten(1), h.repeat(1, 1, 2, 1).flatten(1),
            h[:, :1].expand_as(h).flatten(1), h[:, :1].view_as(h[:, 1:]).flatten(1),
            F.pad(h, (1, 1, 0, 1), mode="reflect").flatten(1), F.interpolate(h, scale_factor=2).flatten(1),
        ]
        return torch.cat(parts, dim=-1).unsqueeze(1).squeeze(1)


def test_views_reshapes_and_data_movement():
    net = check(_Views().double().eval(), torch.zeros(1, 1, 3, 4, dtype=F64))
    assert ops_of(net, Gather) and ops_of(net, Reshape)
    # reshapes of one tensor in the same order are merged, never gathered
    assert all(not isinstance(n.op, Reshape) or not isinstance(net.nodes[n.inputs[0]].op, Reshape)
               for n in net.nodes[1:])


def test_padding_ops():
    class P(nn.Module):
        def __init__(self):
            super().__init__()
            self.zero = nn.ZeroPad2d((1, 2, 0, 1))
            self.const = nn.ConstantPad1d(2, -0.5)

        def forward(self, x):
            return self.zero(x).flatten(1).sum(1, keepdim=True) + self.const(x).sum((1, 2, 3))[:, None]

    net = check(P(), torch.zeros(1, 2, 3, 3, dtype=F64))
    pads = ops_of(net, Pad)
    assert len(pads) == 2 and sum(p.constant is not None for p in pads) == 1


def test_dropout_and_identity_are_dropped():
    model = build(lambda: nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Identity(), nn.ReLU(), nn.Dropout(0.0)))
    net = check(model, torch.zeros(1, 2, dtype=F64))
    assert [type(n.op) for n in net.nodes[1:]] == [Dense, PiecewiseLinear]


# ------------------------------------------------------------------- arithmetic


class _Arith(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.register_buffer("c", torch.tensor([1.0, -2.0, 0.5], dtype=F64))
        self.scale = nn.Parameter(torch.tensor([0.5, 2.0, -1.0], dtype=F64))

    def forward(self, x):
        h = self.fc(x)
        r = torch.relu(h)
        return (
            (h + r) - 2 * r + r * 3 - h / 4 + 1.5 - self.c + self.c * h + h * self.scale
            + torch.add(h, r, alpha=2.0) - torch.sub(3.0, r) + (-h) + h.mul(0.5) + h.div(self.c)
        )


def test_arithmetic():
    net = check(_Arith().double().eval(), torch.zeros(1, 3, dtype=F64))
    assert ops_of(net, Sum) and ops_of(net, ElementwiseAffine)
    assert net.num_units == 3


def test_concat_and_stack():
    class C(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 3)

        def forward(self, x):
            h = self.a(x)
            s = torch.stack([h, torch.relu(h)], dim=-1).flatten(1)
            t = torch.stack([h, -h], dim=1).flatten(1)
            return torch.cat((h, torch.relu(h), s, t), 1)

    net = check(C().double().eval(), torch.zeros(1, 2, dtype=F64))
    assert ops_of(net, Concat)


# ------------------------------------------------------------------ activations


class _Act(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.fc(x) * 3)


@pytest.mark.parametrize(
    "fn, name, k",
    [
        (nn.ReLU(), "relu", 1),
        (F.relu, "relu", 1),
        (torch.relu, "relu", 1),
        (lambda z: z.relu(), "relu", 1),
        (nn.LeakyReLU(0.2), "leaky_relu", 1),
        (lambda z: F.leaky_relu(z, 0.3), "leaky_relu", 1),
        (nn.PReLU(), "leaky_relu", 1),
        (nn.ReLU6(), "relu6", 2),
        (F.relu6, "relu6", 2),
        (nn.Hardtanh(-0.5, 2.0), "hardtanh", 2),
        (lambda z: F.hardtanh(z, -2.0, 1.0), "hardtanh", 2),
        (lambda z: torch.clamp(z, -1.0, 1.0), "clamp", 2),
        (lambda z: torch.clip(z, min=0.5), "clamp", 1),
        (lambda z: z.clamp(max=0.2), "clamp", 1),
        (lambda z: z.clamp(min=torch.tensor([0.0, 0.1, 0.2, 0.3], dtype=F64)), "clamp", 1),
        (torch.abs, "abs", 1),
        (lambda z: z.abs(), "abs", 1),
        (nn.Hardsigmoid(), "hardsigmoid", 2),
        (nn.Softshrink(0.4), "softshrink", 2),
        (CPWLActivation([-1.0, 0.5], [0.1, 1.0, -0.5], intercept=0.2).double(), "cpwl", 2),
        (lambda z: torch.maximum(z, torch.tensor(0.3, dtype=F64)), "maximum", 1),
        (lambda z: torch.minimum(z, torch.zeros(4, dtype=F64)), "minimum", 1),
    ],
)
def test_activation(fn, name, k):
    model = build(lambda: _Act(fn))
    net = check(model, torch.zeros(1, 3, dtype=F64))
    (op,) = ops_of(net, PiecewiseLinear)
    assert op.name == name and op.num_breakpoints == k


def test_prelu_per_channel_expands_to_units():
    model = build(lambda: nn.Sequential(nn.Conv2d(1, 3, 1), nn.PReLU(3)))
    net = check(model, torch.zeros(1, 1, 2, 2, dtype=F64))
    (op,) = ops_of(net, PiecewiseLinear)
    assert op.slopes.shape == (12, 2)
    w = model[1].weight.detach()
    assert torch.equal(op.slopes[:, 0], w.repeat_interleave(4))


def test_maxout_spellings_and_maximum():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 12)

        def forward(self, x):
            z = self.fc(x).view(x.size(0), 4, 3)
            a = z.max(dim=-1)[0]
            b = z.amax(-1)
            c = torch.max(z, dim=2).values
            d = torch.max(z, 1, keepdim=True)[0].flatten(1)
            e = z.min(-1).values + torch.amin(z, dim=(1, 2))[:, None]
            return torch.cat([torch.maximum(a, b), torch.minimum(c, -a), torch.max(b, c), d, e], 1)

    net = check(M().double().eval(), torch.zeros(1, 2, dtype=F64))
    kinds = [op.index.shape[1] for op in ops_of(net, MaxOp)]
    assert 3 in kinds and 2 in kinds and 12 in kinds


def test_argmax_indices_are_rejected():
    class M(nn.Module):
        def forward(self, x):
            v, i = torch.max(x, dim=1)
            return v + i

    with pytest.raises(UnsupportedOperationError, match="indices"):
        trace(M(), torch.zeros(1, 3, dtype=F64))


def test_softmax_at_output_is_dropped_with_warning():
    model = build(lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Softmax(dim=-1)))
    with pytest.warns(UserWarning, match="dropped the final Softmax"):
        net = trace(model, torch.zeros(1, 2, dtype=F64))
    x = rand(4, 2)
    with torch.no_grad():
        assert float((net(x) - model[:3](x)).abs().max()) <= TOL

    class LS(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3)

        def forward(self, x):
            return F.log_softmax(self.fc(x), dim=1)

    with pytest.warns(UserWarning, match="log_softmax"):
        trace(LS().double(), torch.zeros(1, 2, dtype=F64))


def test_softmax_inside_the_network_is_rejected():
    model = build(lambda: nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=-1), nn.Linear(3, 1)))
    with pytest.raises(UnsupportedOperationError, match=r"Softmax at '1'"):
        trace(model, torch.zeros(1, 2, dtype=F64))


# ----------------------------------------------------------------- error paths


def test_gelu_names_op_path_and_register_op():
    model = nn.Sequential()
    model.add_module("encoder", nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.GELU()))
    with pytest.raises(UnsupportedOperationError) as info:
        trace(model, torch.zeros(1, 2))
    msg = str(info.value)
    assert "GELU" in msg and "'encoder.2'" in msg and "regionlab.register_op" in msg
    assert "not piecewise linear" in msg
    assert info.value.op == "GELU" and info.value.where == "encoder.2"


@pytest.mark.parametrize("module, name", [(nn.Sigmoid(), "Sigmoid"), (nn.Tanh(), "Tanh"), (nn.SiLU(), "SiLU"),
                                          (nn.LayerNorm(3), "LayerNorm")])
def test_non_pwl_modules_are_rejected(module, name):
    model = nn.Sequential(nn.Linear(2, 3), module)
    with pytest.raises(UnsupportedOperationError, match=rf"{name} at '1'.*register_op"):
        trace(model, torch.zeros(1, 2))


def test_functional_gelu_reports_enclosing_module():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return F.gelu(self.fc(x))

    model = nn.Sequential(nn.Linear(2, 2), Block())
    with pytest.raises(UnsupportedOperationError, match=r"gelu at '1'"):
        trace(model, torch.zeros(1, 2))


def test_training_dropout_is_rejected():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.1)).train()
    with pytest.raises(UnsupportedOperationError, match=r"Dropout at '1'.*model\.eval\(\)"):
        trace(model, torch.zeros(1, 2))

    class FD(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.2)

    with pytest.raises(UnsupportedOperationError, match="training mode"):
        trace(FD(), torch.zeros(1, 2))


def test_data_dependent_control_flow():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)

    with pytest.raises(TraceError, match="data-dependent control flow") as info:
        trace(Branchy(), torch.ones(1, 2))
    assert isinstance(info.value, UnsupportedOperationError)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_python_value_of_traced_tensor_is_rejected():
    class Item(nn.Module):
        def forward(self, x):
            return x * x[0, 0].item()

    with pytest.raises(TraceError):
        trace(Item(), torch.ones(1, 2))


def test_product_of_traced_tensors_is_rejected():
    class Square(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            h = self.fc(x)
            return h * torch.relu(h)

    with pytest.raises(UnsupportedOperationError, match="multiplies two tensors"):
        trace(Square(), torch.ones(1, 2))


def test_batch_mixing_is_rejected():
    class Mix(nn.Module):
        def forward(self, x):
            return x.view(-1) + 1

    with pytest.raises(UnsupportedOperationError, match="mixes samples"):
        trace(Mix(), torch.ones(2, 3))

    class Reduce(nn.Module):
        def forward(self, x):
            return x.sum(0, keepdim=True)

    with pytest.raises(UnsupportedOperationError):
        trace(Reduce(), torch.ones(2, 3))


def test_wrong_input_shape():
    model = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(ShapeError, match=r"shape \(1, 5\)"):
        trace(model, torch.zeros(1, 5))


def test_nan_weights():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(NumericalError, match="0.weight"):
        trace(model, torch.zeros(1, 2))


def test_nan_example_and_bad_arguments():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(NumericalError):
        trace(model, torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(InvalidParameterError, match="nn.Module"):
        trace(lambda x: x, torch.zeros(1, 2))
    with pytest.raises(InvalidParameterError):
        trace(model, "not a tensor")
    with pytest.raises(InvalidParameterError, match="dtype"):
        trace(model, torch.zeros(1, 2), dtype=torch.int32)
    with pytest.raises(InvalidParameterError, match="numerics"):
        trace(model, torch.zeros(1, 2), numerics="fast")
    with pytest.raises(ShapeError):
        trace(model, torch.zeros(0, 2))


def test_several_outputs_are_rejected():
    class Two(nn.Module):
        def forward(self, x):
            return x + 1, x - 1

    with pytest.raises(UnsupportedOperationError, match="several values"):
        trace(Two(), torch.zeros(1, 2))


# --------------------------------------------------------------- conventions


def test_batch_convention_single_sample_or_batch():
    model = build(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1)))
    a = trace(model, torch.zeros(1, 4, 3, dtype=F64))  # one sample (C, H, W)
    b = trace(model, torch.zeros(5, 1, 4, 3, dtype=F64))  # a batch
    assert a.input_shape == b.input_shape == (1, 4, 3)
    m = build(lambda: nn.Linear(3, 2))
    assert trace(m, torch.zeros(3, dtype=F64)).input_shape == (3,)
    assert trace(m, torch.zeros(7, 3, dtype=F64)).input_shape == (3,)


def test_float32_model_and_dtypes():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).eval()  # float32
    net = trace(model, torch.zeros(1, 2))
    assert net.dtype == F64 and model[0].weight.dtype == torch.float32
    assert torch.equal(net.nodes[1].op.weight, model[0].weight.detach().double())
    net32 = trace(model, torch.zeros(1, 2), dtype=torch.float32)
    assert net32.dtype == torch.float32
    num = regionlab.Numerics(dtype=torch.float32)
    assert trace(model, torch.zeros(1, 2), numerics=num).dtype == torch.float32


def test_weights_are_copied_not_shared():
    model = build(lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    net = trace(model, torch.zeros(1, 2, dtype=F64))
    before = net(torch.ones(1, 2, dtype=F64))
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert torch.equal(net(torch.ones(1, 2, dtype=F64)), before)
    assert not net.nodes[1].op.weight.requires_grad


def test_pickle_round_trip(zoo_nets):
    for name in ("small_resnet", "maxout_mlp", "layout_net"):
        _, _, net = zoo_nets[name]
        copy = pickle.loads(pickle.dumps(net))
        x = rand(3, *net.input_shape)
        assert torch.equal(copy(x), net(x))
        assert copy.num_units == net.num_units and len(copy.nodes) == len(net.nodes)


def test_forward_flags_with_defaults_are_specialized():
    class Flag(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x, return_hidden=False):
            h = torch.relu(self.fc(x))
            if return_hidden:
                return h, x
            return h

    check(Flag().double().eval(), torch.zeros(1, 2, dtype=F64))


def test_top_level_function_and_subpackage():
    import regionlab.tracing as tracing

    model = build(lambda: nn.Linear(2, 1))
    # importing the subpackage must not shadow the top-level function
    assert regionlab.trace is tracing.trace
    assert isinstance(regionlab.trace(model, torch.zeros(1, 2, dtype=F64)), CPWLNetwork)


# ------------------------------------------------------------------- registry


class TwoReLU(nn.Module):
    def forward(self, x):
        return 2 * torch.relu(x)


def test_register_op_for_custom_module():
    calls = []

    def rule(ctx):
        calls.append((ctx.path, ctx.op_name, ctx.input_shapes, ctx.output_shape))
        return PiecewiseLinear.from_breakpoints([0.0], [0.0, 2.0], name="two_relu", dtype=ctx.dtype)

    register_op(TwoReLU, rule)
    try:
        model = build(lambda: nn.Sequential(nn.Linear(2, 3), TwoReLU(), nn.Linear(3, 1)))
        net = check(model, torch.zeros(1, 2, dtype=F64))
        assert calls == [("1", "TwoReLU", ((3,),), (3,))]
        assert [op.name for op in ops_of(net, PiecewiseLinear)] == ["two_relu"]
        assert any(r.target is TwoReLU and not r.builtin for r in registered_ops())
    finally:
        assert unregister_op(TwoReLU)
    # without the rule the module is traced through (2 * relu is supported natively)
    net = check(model, torch.zeros(1, 2, dtype=F64))
    assert [op.name for op in ops_of(net, PiecewiseLinear)] == ["relu"]


def test_register_op_function_and_method_and_decorator():
    def my_act(x):
        return torch.relu(x) - 0.5 * torch.relu(-x)

    class Uses(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 3)

        def forward(self, x):
            return my_act(self.fc(x)).sign_like_tanh()

    # a function is traced through unless registered; register the method via decorator
    @register_op("sign_like_tanh")
    def _rule(ctx):
        return [Sum((1.0,)), PiecewiseLinear.hardtanh(-1.0, 1.0, dtype=ctx.dtype)]

    try:
        torch.Tensor.sign_like_tanh = lambda self: torch.clamp(self, -1.0, 1.0)
        net = check(Uses().double().eval(), torch.zeros(1, 2, dtype=F64))
        assert ops_of(net, PiecewiseLinear)[-1].name == "hardtanh"
    finally:
        del torch.Tensor.sign_like_tanh
        unregister_op("sign_like_tanh")


def test_register_op_overrides_builtin_and_validates():
    original = [r for r in registered_ops() if r.target is nn.ReLU][0]
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    with torch.no_grad():
        # negative pre-activations at the example input, where ReLU and leaky ReLU differ
        model[0].bias.fill_(-1.0)
    register_op(nn.ReLU, lambda ctx: PiecewiseLinear.from_breakpoints([0.0], [0.0, 1.0], name="my_relu"))
    try:
        net = trace(model, torch.zeros(1, 2))
        assert ops_of(net, PiecewiseLinear)[0].name == "my_relu"
        # a rule that changes the function is caught by the check against the model
        register_op(nn.ReLU, lambda ctx: PiecewiseLinear.leaky_relu(0.5, dtype=ctx.dtype))
        with pytest.raises(TraceError, match="does not reproduce the model"):
            trace(model, torch.ones(1, 2))
    finally:
        register_op(nn.ReLU, original.rule)
    with pytest.raises(InvalidParameterError):
        register_op(42, lambda ctx: None)
    with pytest.raises(InvalidParameterError):
        register_op(int, lambda ctx: None)
    with pytest.raises(InvalidParameterError):
        register_op("not a name", lambda ctx: None)
    with pytest.raises(InvalidParameterError):
        register_op(nn.ReLU, "not callable")


def test_faulty_rules_raise_trace_errors():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    model = nn.Sequential(nn.Linear(2, 2), Custom())
    for bad, pattern in [
        (lambda ctx: "nonsense", "invalid"),
        (lambda ctx: 1 / 0, "ZeroDivisionError"),
        (lambda ctx: Reshape((5,)), "shape"),
        (lambda ctx: MultiOutput((None, None)), "outputs"),
    ]:
        register_op(Custom, bad)
        try:
            with pytest.raises(TraceError, match=pattern):
                trace(model, torch.zeros(1, 2))
        finally:
            unregister_op(Custom)


def test_registered_ops_lists_builtins():
    names = {r.name for r in registered_ops()}
    for expected in ("Linear", "Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU", "CPWLActivation", "Tensor.view"):
        assert expected in names
    assert all(r.builtin for r in registered_ops() if r.target is nn.Linear)


# ---------------------------------------------------------------- CPWLActivation


def test_cpwl_activation_forward_matches_ir():
    act = CPWLActivation([-1.0, 0.0, 2.0], [0.5, -1.0, 2.0, 0.0], intercept=0.25).double()
    z = torch.linspace(-4, 4, 101, dtype=F64)
    ir = PiecewiseLinear.from_breakpoints([-1.0, 0.0, 2.0], [0.5, -1.0, 2.0, 0.0], 0.25)
    assert float((act(z) - ir(z[None])[0]).abs().max()) < 1e-14
    assert float(act(torch.tensor(-3.0, dtype=F64))) == 0.25 + 0.5 * -3.0
    net = trace(nn.Sequential(act), torch.zeros(1, 101, dtype=F64))
    assert torch.equal(net.nodes[1].op.intercepts, ir.intercepts)
    assert "breakpoints=[-1.0, 0.0, 2.0]" in repr(act) and act.num_breakpoints == 3


@pytest.mark.parametrize(
    "b, s",
    [([1.0, 0.0], [0.0, 1.0, 2.0]), ([0.0, 0.0], [0.0, 1.0, 2.0]), ([0.0], [1.0]), ([], [1.0]),
     ([[0.0]], [0.0, 1.0]), ([float("nan")], [0.0, 1.0]), ("ab", [0.0])],
)
def test_cpwl_activation_validation(b, s):
    with pytest.raises(InvalidParameterError):
        CPWLActivation(b, s)


def test_cpwl_activation_learnable_and_crossed_breakpoints():
    act = CPWLActivation([-1.0, 1.0], [0.0, 1.0, 0.5], learnable=True)
    assert {n for n, _ in act.named_parameters()} == {"breakpoints", "slopes", "intercept"}
    act(torch.linspace(-2, 2, 9)).sum().backward()
    assert act.breakpoints.grad is not None and act.intercept.grad is not None
    with torch.no_grad():
        act.breakpoints.copy_(torch.tensor([1.0, -1.0]))
    with pytest.raises(InvalidParameterError, match="strictly increasing"):
        trace(nn.Sequential(nn.Linear(2, 2), act), torch.zeros(1, 2))


# ------------------------------------------------------------- exported graphs


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_exported_graph_with_decomposed_prelu():
    model = build(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.PReLU(2), nn.Flatten(), nn.Linear(8, 2),
                                        nn.LeakyReLU(0.1)))
    x = torch.zeros(1, 1, 4, 4, dtype=F64)
    ep = torch.export.export(model, (x,)).run_decompositions()
    net = trace(ep.module(), x)
    y = rand(6, 1, 4, 4)
    with torch.no_grad():
        assert float((net(y) - model(y)).abs().max()) <= TOL
    assert len(ops_of(net, PiecewiseLinear)) == 2


def test_where_with_discontinuous_branches_is_rejected():
    class W(nn.Module):
        def forward(self, x):
            return torch.where(x > 0, x + 1, x)

    with pytest.raises(UnsupportedOperationError, match="torch.where"):
        trace(W(), torch.zeros(1, 3))

    class Ok(nn.Module):
        def forward(self, x):
            return torch.where(x > 0.5, x, 0.5 * x + 0.25)

    net = check(Ok(), torch.zeros(1, 3, dtype=F64))
    assert ops_of(net, PiecewiseLinear)[0].breakpoints[0, 0] == 0.5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trace_on_cuda_keeps_the_device(zoo_nets):
    for name in ("small_resnet", "activations_mix", "maxout_mlp", "layout_net", "pooling_variety"):
        build_, x = ZOO[name]
        model = build_().cuda()
        net = trace(model, x.cuda())
        assert net.device.type == "cuda"
        for n in net.nodes[1:]:
            assert all(t.device.type == "cuda" for t in n.op.tensors().values())
        y = rand(8, *net.input_shape).cuda()
        with torch.no_grad():
            assert float((net(y) - model(y)).abs().max()) <= 1e-9
