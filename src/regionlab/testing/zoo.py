"""Small deterministic models covering every op regionlab traces.

Every builder returns a float64 model in eval mode whose weights are drawn from an
explicit ``torch.Generator`` (the global RNG is left untouched), so the same call
always builds the same model. :data:`ZOO` maps a name to ``(builder, example_input)``.

Examples
--------
>>> import torch
>>> from regionlab.testing.zoo import ZOO, mlp
>>> model = mlp((2, 8, 1))
>>> model(torch.zeros(1, 2, dtype=torch.float64)).shape
torch.Size([1, 1])
>>> build, example = ZOO["lenet"]
>>> build()(example).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..activations import CPWLActivation
from ..errors import InvalidParameterError

__all__ = [
    "ACTIVATIONS",
    "ZOO",
    "activation",
    "init_weights",
    "mlp",
    "lenet",
    "small_resnet",
    "maxout_mlp",
    "activations_mix",
    "arithmetic_net",
    "conv1d_net",
    "conv_variety",
    "pooling_variety",
    "batchnorm_variety",
    "layout_net",
    "dead_neurons",
    "duplicate_neurons",
    "zero_weights",
    "bias_free",
    "example_input",
]

ACTIVATIONS = ("relu", "leaky_relu", "prelu", "relu6", "hardtanh", "abs", "cpwl")


def activation(name: str, channels: int = 1) -> nn.Module:
    """A fresh activation module by name (one of :data:`ACTIVATIONS`).

    Examples
    --------
    >>> activation("leaky_relu")
    LeakyReLU(negative_slope=0.1)
    """
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.1)
    if name == "prelu":
        return nn.PReLU(channels)
    if name == "relu6":
        return nn.ReLU6()
    if name == "hardtanh":
        return nn.Hardtanh(-0.5, 0.5)
    if name == "abs":
        return _Abs()
    if name == "cpwl":
        return CPWLActivation([-0.5, 0.0, 0.7], [0.2, -0.4, 1.0, 0.3], intercept=0.1)
    raise InvalidParameterError(f"Unknown activation {name!r}; choose one of {ACTIVATIONS}.")


_make_activation = activation


class _Abs(nn.Module):
    def forward(self, x):
        return torch.abs(x)


def init_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """Overwrite every parameter and batch-norm statistic from a seeded generator; float64, eval.

    Weights are ``N(0, 1/fan_in)``, biases ``U(-0.5, 0.5)``, PReLU slopes ``U(0, 0.5)``,
    batch-norm scales ``U(0.5, 1.5)``, running means ``N(0, 0.3)`` and running variances
    ``U(0.5, 2)``, so that batch-norm is far from the identity.

    Examples
    --------
    >>> a = init_weights(torch.nn.Linear(3, 2), seed=1)
    >>> b = init_weights(torch.nn.Linear(3, 2), seed=1)
    >>> bool(torch.equal(a.weight, b.weight)), a.weight.dtype
    (True, torch.float64)
    """
    gen = torch.Generator().manual_seed(seed)
    model.double()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.PReLU):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen, dtype=torch.float64) * 0.5)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                c = module.num_features
                if module.weight is not None:
                    module.weight.copy_(torch.rand(c, generator=gen, dtype=torch.float64) + 0.5)
                    module.bias.copy_(torch.randn(c, generator=gen, dtype=torch.float64) * 0.2)
                if module.running_mean is not None:
                    module.running_mean.copy_(torch.randn(c, generator=gen, dtype=torch.float64) * 0.3)
                    module.running_var.copy_(torch.rand(c, generator=gen, dtype=torch.float64) * 1.5 + 0.5)
            elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                w = module.weight
                fan_in = w[0].numel()
                w.copy_(torch.randn(w.shape, generator=gen, dtype=torch.float64) / math.sqrt(fan_in))
                if module.bias is not None:
                    module.bias.copy_(torch.rand(module.bias.shape, generator=gen, dtype=torch.float64) - 0.5)
    return model.eval()


def _build(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    # default initializers draw from the global RNG; keep the caller's stream untouched
    with torch.random.fork_rng(devices=[]):
        model = factory()
    return init_weights(model, seed)


def example_input(shape, batch: int = 2, seed: int = 1) -> Tensor:
    """A deterministic float64 batch ``(batch, *shape)`` drawn from ``N(0, 1)``.

    Examples
    --------
    >>> example_input((3,)).shape
    torch.Size([2, 3])
    """
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *shape), generator=gen, dtype=torch.float64)


# ------------------------------------------------------------------------ models


def mlp(widths=(2, 16, 16, 1), activation: str = "relu", seed: int = 0, bias: bool = True) -> nn.Module:
    """A fully connected network ``Linear -> act -> ... -> Linear`` (``nn.Sequential``).

    Examples
    --------
    >>> mlp((3, 4, 2), "abs")
    Sequential(
      (0): Linear(in_features=3, out_features=4, bias=True)
      (1): _Abs()
      (2): Linear(in_features=4, out_features=2, bias=True)
    )
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2 or min(widths) < 1:
        raise InvalidParameterError(f"mlp needs at least two positive widths; got {widths}.")
    def factory():
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1], bias=bias))
            if i < len(widths) - 2:
                layers.append(_make_activation(activation, widths[i + 1]))
        return nn.Sequential(*layers)

    return _build(factory, seed)


def lenet(in_channels: int = 1, size: int = 12, num_classes: int = 10, seed: int = 0) -> nn.Module:
    """A LeNet-style CNN: two ``Conv2d -> ReLU -> MaxPool2d`` stages, ``Flatten``, two ``Linear``.

    Examples
    --------
    >>> lenet()(torch.zeros(1, 1, 12, 12, dtype=torch.float64)).shape
    torch.Size([1, 10])
    """
    side = ((size // 2) - 2) // 2

    def factory():
        return nn.Sequential(
            nn.Conv2d(in_channels, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(6 * side * side, 16),
            nn.ReLU(),
            nn.Linear(16, num_classes),
        )

    return _build(factory, seed)


class _BasicBlock(nn.Module):
    def __init__(self, channels: int, downsample: bool = False):
        super().__init__()
        out = channels * 2 if downsample else channels
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out, out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
            if downsample
            else nn.Identity()
        )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return self.relu(out)


class _SmallResNet(nn.Module):
    def __init__(self, in_channels: int, width: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = _BasicBlock(width)
        self.layer2 = _BasicBlock(width, downsample=True)
        self.pool = nn.AvgPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        x = self.gap(self.pool(x))
        return self.fc(torch.flatten(x, 1))


def small_resnet(in_channels: int = 3, width: int = 4, num_classes: int = 3, seed: int = 0) -> nn.Module:
    """A two-block ResNet: conv + BatchNorm2d + ReLU, residual adds, avg/adaptive pooling, linear head.

    Inputs are ``(in_channels, 8, 8)``.

    Examples
    --------
    >>> small_resnet()(torch.zeros(2, 3, 8, 8, dtype=torch.float64)).shape
    torch.Size([2, 3])
    """
    return _build(lambda: _SmallResNet(in_channels, width, num_classes), seed)


class _Maxout(nn.Module):
    def __init__(self, widths, pieces):
        super().__init__()
        self.pieces = pieces
        self.layers = nn.ModuleList(nn.Linear(widths[i], widths[i + 1] * pieces) for i in range(len(widths) - 2))
        self.head = nn.Linear(widths[-2], widths[-1])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            z = layer(x)
            z = z.view(z.size(0), -1, self.pieces)
            # the three spellings of maxout a user may write
            if i % 3 == 0:
                x = z.max(dim=-1)[0]
            elif i % 3 == 1:
                x = z.amax(-1)
            else:
                x = torch.max(z, dim=2).values
        return self.head(x)


def maxout_mlp(widths=(2, 6, 5, 4, 1), pieces: int = 3, seed: int = 0) -> nn.Module:
    """A maxout network: ``Linear(n, m * k)``, view ``(B, m, k)``, max over the last dim.

    Examples
    --------
    >>> maxout_mlp()(torch.zeros(3, 2, dtype=torch.float64)).shape
    torch.Size([3, 1])
    """
    return _build(lambda: _Maxout(tuple(widths), pieces), seed)


class _ActivationsMix(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.prelu = nn.PReLU(3)  # per-channel slopes over a feature map
        self.fc1 = nn.Linear(3 * 5 * 5, 12)
        self.leaky = nn.LeakyReLU(0.05)
        self.relu6 = nn.ReLU6()
        self.hardtanh = nn.Hardtanh(-0.3, 0.4)
        self.cpwl = CPWLActivation([-0.2, 0.1, 0.5], [0.3, 1.2, -0.5, 0.8], intercept=0.05)
        self.prelu1 = nn.PReLU()
        self.fc2 = nn.Linear(12 * 11, 2)

    def forward(self, x):
        h = self.fc1(torch.flatten(self.prelu(self.conv(x)), 1))
        parts = [
            self.leaky(h),
            F.leaky_relu(h, 0.2),
            self.relu6(h * 4),
            F.relu6(h * 3),
            self.hardtanh(h),
            F.hardtanh(h, -0.1, 0.2),
            torch.clamp(h, -0.2, 0.3),
            h.clamp(min=0.1),
            torch.abs(h) + h.abs(),
            self.cpwl(h),
            self.prelu1(h) + F.relu(h) + torch.relu(h) + h.relu(),
        ]
        return self.fc2(torch.cat(parts, dim=1))


def activations_mix(seed: int = 0) -> nn.Module:
    """Every univariate activation: leaky, PReLU (shared and per channel), ReLU6, hardtanh, clamp, abs, CPWL.

    Inputs are ``(2, 5, 5)``.

    Examples
    --------
    >>> activations_mix()(torch.zeros(1, 2, 5, 5, dtype=torch.float64)).shape
    torch.Size([1, 2])
    """
    return _build(_ActivationsMix, seed)


class _Arithmetic(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(4, 6)
        self.out = nn.Linear(18, 2)
        self.register_buffer("offset", torch.linspace(-1.0, 1.0, 6, dtype=torch.float64))
        self.register_buffer("gain", torch.linspace(0.5, 2.0, 6, dtype=torch.float64))

    def forward(self, x):
        a, b = torch.relu(self.a(x)), self.b(x)
        s = 2.0 * a - b / 3.0 + 0.5
        s = s * self.gain + self.offset - 1
        t = -b + (a + b) * 0.25
        m = torch.maximum(s, t)
        n = torch.minimum(torch.relu(s), 2 - t)
        return self.out(torch.cat([m, n, torch.max(s, self.offset)], dim=-1))


def arithmetic_net(seed: int = 0) -> nn.Module:
    """Residual sums and differences, scaling by constants, constant offsets, maximum/minimum, concat.

    Examples
    --------
    >>> arithmetic_net()(torch.zeros(2, 4, dtype=torch.float64)).shape
    torch.Size([2, 2])
    """
    return _build(_Arithmetic, seed)


def conv1d_net(seed: int = 0) -> nn.Module:
    """Conv1d (stride, padding, dilation, groups) with AvgPool1d and MaxPool1d (padding, ceil mode).

    Inputs are ``(2, 17)``.

    Examples
    --------
    >>> conv1d_net()(torch.zeros(1, 2, 17, dtype=torch.float64)).shape
    torch.Size([1, 3])
    """

    def factory():
        return nn.Sequential(
            nn.Conv1d(2, 4, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.MaxPool1d(3, stride=2, padding=1, ceil_mode=True),
            nn.Conv1d(4, 4, 3, stride=2, groups=2, padding="valid"),
            nn.LeakyReLU(0.1),
            nn.AvgPool1d(2, ceil_mode=True, count_include_pad=False),
            nn.Conv1d(4, 6, 3, padding="same"),
            nn.MaxPool1d(2, dilation=1),
            nn.AdaptiveAvgPool1d(2),
            nn.Flatten(),
            nn.Linear(12, 3),
        )

    return _build(factory, seed)


def conv_variety(seed: int = 0) -> nn.Module:
    """Conv2d with stride, 'same'/'valid' padding, dilation and groups; max-pools with padding, dilation, ceil mode.

    Inputs are ``(2, 11, 11)``.

    Examples
    --------
    >>> conv_variety()(torch.zeros(1, 2, 11, 11, dtype=torch.float64)).shape
    torch.Size([1, 3])
    """

    def factory():
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding="same"),
            nn.ReLU(),
            nn.Conv2d(4, 4, (3, 5), padding="same", dilation=(1, 2), groups=2),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
            nn.Conv2d(4, 6, 3, stride=2, padding=(1, 0), bias=False),
            nn.Hardtanh(-1.0, 1.0),
            nn.MaxPool2d(2, stride=1, dilation=(1, 1), ceil_mode=False),
            nn.Conv2d(6, 6, 1, groups=3, padding="valid"),
            nn.Flatten(),
            nn.Linear(6 * 2 * 1, 3),
        )

    return _build(factory, seed)


class _Pooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3)
        self.mp = nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2), ceil_mode=True)
        self.ap = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
        self.amp = nn.AdaptiveMaxPool2d((3, 2))
        self.aap = nn.AdaptiveAvgPool2d((2, 3))
        self.fc = nn.Linear(48, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        a = self.amp(self.mp(h))
        b = self.aap(self.ap(h))
        c = F.max_pool2d(h, 4, 4, 1) + F.avg_pool2d(h, 4, 4, 1)
        return self.fc(torch.cat([a.flatten(1), b.flatten(1), c.view(c.size(0), -1)], 1))


def pooling_variety(seed: int = 0) -> nn.Module:
    """Max and average pooling (module and functional), adaptive max and average pooling.

    Inputs are ``(1, 10, 9)``.

    Examples
    --------
    >>> pooling_variety()(torch.zeros(1, 1, 10, 9, dtype=torch.float64)).shape
    torch.Size([1, 2])
    """
    return _build(_Pooling, seed)


class _BatchNorms(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn_in = nn.BatchNorm1d(3)  # nothing to fold into
        self.fc = nn.Linear(3, 8)
        self.bn_fc = nn.BatchNorm1d(8)  # folded
        self.conv = nn.Conv1d(1, 4, 3, padding=1)
        self.bn_conv = nn.BatchNorm1d(4)  # not folded: the conv output is reused
        self.bn_plain = nn.BatchNorm1d(4, affine=False)
        self.out = nn.Linear(8 + 4 * 8, 2)

    def forward(self, x):
        h = torch.relu(self.bn_fc(self.fc(self.bn_in(x))))
        c = self.conv(h.unsqueeze(1))
        c = torch.relu(self.bn_conv(c)) + c
        c = self.bn_plain(c)
        return self.out(torch.cat([h, c.flatten(1)], 1))


def batchnorm_variety(seed: int = 0) -> nn.Module:
    """BatchNorm1d at the input, folded after Linear, unfoldable after a reused Conv1d, without affine.

    Examples
    --------
    >>> batchnorm_variety()(torch.zeros(2, 3, dtype=torch.float64)).shape
    torch.Size([2, 2])
    """
    return _build(_BatchNorms, seed)


class _Layout(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 1)
        self.pad = nn.ZeroPad2d((1, 0, 0, 1))
        self.fc = nn.Linear(80, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))  # (4, 3, 4)
        a, b = h.chunk(2, dim=1)  # (2, 3, 4) each
        p = self.pad(a - b)  # (2, 4, 5)
        q = p.permute(0, 2, 3, 1).reshape(p.size(0), 5, 8)
        r = torch.stack([h[:, 0], h[:, 1, :, :]], dim=1).transpose(2, 3)  # (2, 4, 3)
        s = h.mean(dim=(2, 3)) + h.sum(-1)[:, :, 0]  # (4,)
        t = F.pad(h[:, :, 1:, ::2], (1, 1), value=0.5)  # (4, 2, 4)
        return self.fc(torch.cat([q.flatten(1), r.flatten(1), s, t.flatten(1)[:, :12]], 1))


def layout_net(seed: int = 0) -> nn.Module:
    """Data movement: chunk, slicing, select, padding, permute, transpose, stack, mean and sum reductions.

    Inputs are ``(2, 3, 4)``.

    Examples
    --------
    >>> layout_net()(torch.zeros(1, 2, 3, 4, dtype=torch.float64)).shape
    torch.Size([1, 2])
    """
    return _build(_Layout, seed)


def dead_neurons(seed: int = 0) -> nn.Module:
    """An MLP whose first layer has neurons that are never active (large negative biases).

    Examples
    --------
    >>> dead_neurons()[0].bias.detach()[:3]
    tensor([-100., -100., -100.], dtype=torch.float64)
    """
    model = mlp((2, 8, 6, 1), seed=seed)
    with torch.no_grad():
        model[0].bias[:3] = -100.0
    return model


def duplicate_neurons(seed: int = 0) -> nn.Module:
    """An MLP with duplicated and positively rescaled neurons (identical switching hyperplanes).

    Examples
    --------
    >>> m = duplicate_neurons()
    >>> bool(torch.equal(m[0].weight[0], m[0].weight[1]))
    True
    """
    model = mlp((2, 6, 4, 1), seed=seed)
    with torch.no_grad():
        model[0].weight[1] = model[0].weight[0]
        model[0].bias[1] = model[0].bias[0]
        model[0].weight[2] = 2.0 * model[0].weight[0]
        model[0].bias[2] = 2.0 * model[0].bias[0]
    return model


def zero_weights(seed: int = 0) -> nn.Module:
    """An MLP with an all-zero hidden layer (a constant network after it).

    Examples
    --------
    >>> float(zero_weights()[2].weight.detach().abs().sum())
    0.0
    """
    model = mlp((2, 5, 4, 1), seed=seed)
    with torch.no_grad():
        model[2].weight.zero_()
    return model


def bias_free(seed: int = 0) -> nn.Module:
    """A bias-free MLP (every region is a cone at the origin).

    Examples
    --------
    >>> bias_free()[0].bias is None
    True
    """
    return mlp((2, 8, 8, 1), seed=seed, bias=False)


ZOO: dict[str, tuple[Callable[[], nn.Module], Tensor]] = {
    "mlp_relu": (lambda: mlp((2, 16, 16, 1)), example_input((2,))),
    **{f"mlp_{a}": ((lambda a=a: mlp((3, 8, 6, 2), a)), example_input((3,))) for a in ACTIVATIONS if a != "relu"},
    "lenet": (lenet, example_input((1, 12, 12))),
    "small_resnet": (small_resnet, example_input((3, 8, 8))),
    "maxout_mlp": (maxout_mlp, example_input((2,))),
    "activations_mix": (activations_mix, example_input((2, 5, 5))),
    "arithmetic_net": (arithmetic_net, example_input((4,))),
    "conv1d_net": (conv1d_net, example_input((2, 17))),
    "conv_variety": (conv_variety, example_input((2, 11, 11))),
    "pooling_variety": (pooling_variety, example_input((1, 10, 9))),
    "batchnorm_variety": (batchnorm_variety, example_input((3,))),
    "layout_net": (layout_net, example_input((2, 3, 4))),
    "dead_neurons": (dead_neurons, example_input((2,))),
    "duplicate_neurons": (duplicate_neurons, example_input((2,))),
    "zero_weights": (zero_weights, example_input((2,))),
    "bias_free": (bias_free, example_input((2,))),
}
"""Name -> ``(builder, example_input)``; ``builder()`` returns a fresh float64 eval-mode model."""
