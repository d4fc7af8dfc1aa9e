"""Expected complexity: constants, expected-count bounds, the 1-D predictor, measured densities.

Oracles: closed forms of the reference (bounds.md §7/§8), the closed forms of the bias
densities, torch.autograd Jacobians (for the exact gradient norms), per-line calls of the
1-D engine, closed-form crossing counts of one-layer networks and dense sampling of
activation patterns (for the batched line densities).
"""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import regionlab
from regionlab.errors import InvalidParameterError, NumericalError, ShapeError
from regionlab.expected import (
    ComplexityConstants,
    DensityComparison,
    DensityPrediction,
    LineDensities,
    compare_densities,
    density_along_lines,
    estimate_constants,
    hanin_rolnick_density,
    hanin_rolnick_regions,
    isotropic_factor,
    predict_density,
    tseran_montufar_boundary_pieces,
    tseran_montufar_regions,
)
from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
from regionlab.testing import zoo

F64 = torch.float64


def mlp(depth, width, act="relu", n0=2, seed=0, init="default"):
    """A float64 MLP ``n0 -> width x depth`` ending on an activation.

    ``init="default"``: PyTorch's (biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)));
    ``"he"``: weights N(0, 2/fan_in), biases N(0, 0.1^2) (measures.md's reference setting).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers, d = [], n0
        for _ in range(depth):
            lin = torch.nn.Linear(d, width).double()
            if init == "he":
                with torch.no_grad():
                    lin.weight.copy_(torch.randn(width, d, generator=gen, dtype=F64) * math.sqrt(2 / d))
                    lin.bias.copy_(torch.randn(width, generator=gen, dtype=F64) * 0.1)
            a = {"relu": torch.nn.ReLU(), "leaky": torch.nn.LeakyReLU(0.1), "hardtanh": torch.nn.Hardtanh(-0.2, 0.2)}[act]
            layers += [lin, a]
            d = width
    return torch.nn.Sequential(*layers).double().eval()


def one_layer_net(weight, bias, act=None):
    act = PiecewiseLinear.relu() if act is None else act
    W = torch.as_tensor(weight, dtype=F64)
    b = torch.as_tensor(bias, dtype=F64)
    return CPWLNetwork.sequential((W.shape[1],), [Dense(W, b), act])


# ----------------------------------------------------------------- worked values


def test_worked_values_of_the_reference():
    # bounds.md §7/§8: Hanin-Rolnick N = 24, n0 = 2, T = 1 -> 288
    assert hanin_rolnick_regions(num_units=24, input_dim=2, T=1.0) == 288.0
    assert hanin_rolnick_regions(num_units=24, input_dim=2, c_grad=0.5, c_bias=2.0) == 288.0
    assert hanin_rolnick_regions(num_units=24, input_dim=2, T=1.0, volume=3.0) == 864.0
    # Tseran-Montufar, N = 20, K (rank) = 2, n0 = 2: 800 / 200 regions, 40 / 20 boundary pieces
    kw = dict(num_units=20, rank=2, input_dim=2)
    assert tseran_montufar_regions(form="asymptotic", **kw) == 800.0
    assert tseran_montufar_regions(form="asymptotic_no_rank", **kw) == 200.0
    assert tseran_montufar_boundary_pieces(form="asymptotic", **kw) == 40.0
    assert tseran_montufar_boundary_pieces(form="asymptotic_no_rank", **kw) == 20.0


def test_full_tseran_montufar_forms_by_hand():
    # (2^5 cb cg K N)^n0 C(K n0, 2 n0) vol / n0!, box [-3, 3]^2 (vol 36)
    kw = dict(num_units=20, rank=2, input_dim=2, c_grad=1.0, c_bias=0.5)
    assert tseran_montufar_regions(volume=36.0, **kw) == pytest.approx(640.0**2 * 1 * 36 / 2)
    # (2^4 cb cg)^n0 (2 K N)^(n0-1) C(K (n0-1), 2 (n0-1)) vol / (n0-1)!
    assert tseran_montufar_boundary_pieces(volume=36.0, **kw) == pytest.approx(8.0**2 * 80 * 1 * 36)
    # rank 3, n0 = 2: C(6, 4) = 15 enters
    assert tseran_montufar_regions(form="asymptotic", num_units=5, rank=3, input_dim=2) == pytest.approx(
        15**2 * 15 / 2
    )
    assert tseran_montufar_boundary_pieces(form="asymptotic", num_units=5, rank=3, input_dim=3) == pytest.approx(
        15**2 * 15 / 2
    )


def test_bounds_read_their_constants():
    net = mlp(2, 8, n0=2)
    c = estimate_constants(net, n_points=64, bias_density="uniform")
    T = c.c_grad * c.c_bias
    assert hanin_rolnick_regions(c, volume=4.0) == pytest.approx((T * 16) ** 2 / 2 * 4.0)
    assert hanin_rolnick_regions(c, factor=2.0) == pytest.approx((2 * T * 16) ** 2 / 2)
    # rank = K + 1 = 2 for ReLU; the full form uses the grid maximum c_grad_max
    full = (2**5 * c.c_bias * c.c_grad_max * 2 * 16) ** 2 * 1 / 2
    assert tseran_montufar_regions(c) == pytest.approx(full)
    assert tseran_montufar_regions(c, form="asymptotic") == 32.0**2 / 2
    # univariate, one K: the density bound is exactly K N C_grad(directional) C_bias
    assert hanin_rolnick_density(c) == pytest.approx(1 * 16 * c.c_grad_directional * c.c_bias)
    assert hanin_rolnick_density(c, directional=False) == pytest.approx(16 * c.c_grad * c.c_bias)
    assert hanin_rolnick_density(c, factor=2.0) == pytest.approx(2 * hanin_rolnick_density(c))


def test_isotropic_factor_closed_forms_and_monte_carlo():
    assert isotropic_factor(1) == 1.0
    assert isotropic_factor(2) == pytest.approx(2 / math.pi, rel=1e-14)
    assert isotropic_factor(3) == pytest.approx(0.5, rel=1e-14)
    assert isotropic_factor(1000) == pytest.approx(math.sqrt(2 / (math.pi * 1000)), rel=1e-3)
    assert isotropic_factor(400) == pytest.approx(
        math.exp(math.lgamma(200) - math.lgamma(200.5)) / math.sqrt(math.pi), rel=1e-12
    )
    gen = torch.Generator().manual_seed(0)
    for n in (2, 5, 30):
        d = torch.randn(200_000, n, generator=gen, dtype=F64)
        d = d / d.norm(dim=1, keepdim=True)
        # mean |d_1|: standard error < 0.6/sqrt(2e5) ~ 1.3e-3 relative to ~0.2..0.6
        assert float(d[:, 0].abs().mean()) == pytest.approx(isotropic_factor(n), rel=0.01)


# ----------------------------------------------------------------- c_bias


def test_gaussian_bias_density_matches_closed_form():
    sigma, n = 0.3, 4000
    gen = torch.Generator().manual_seed(1)
    b = torch.randn(n, generator=gen, dtype=F64) * sigma
    net = one_layer_net(torch.ones(n, 1), b)
    c = estimate_constants(net, n_points=4, bias_density="gaussian")
    # the sample std of n normal draws has relative sd 1/sqrt(2n) = 1.1 %: 5 % is > 4 sd
    assert c.c_bias == pytest.approx(1 / (math.sqrt(2 * math.pi) * sigma), rel=0.05)
    assert c.layers[0].bias_std == pytest.approx(sigma, rel=0.05)
    # the kernel estimate: Silverman smoothing lowers the peak by 1/sqrt(1 + (h/sigma)^2) ~ 1.5 %
    e = estimate_constants(net, n_points=4, bias_density="empirical")
    assert e.c_bias == pytest.approx(1 / (math.sqrt(2 * math.pi) * sigma), rel=0.08)


def test_uniform_bias_density_of_pytorch_default_init():
    fan_in, n = 25, 2000
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Linear(fan_in, n), torch.nn.ReLU()).double()
    c = estimate_constants(model, n_points=4, bias_density="uniform")
    # biases U(-a, a), a = 1/sqrt(fan_in): peak 1/(2a) = sqrt(fan_in)/2. The estimate
    # a_hat = max|b| (n+1)/n is below 0.99 a with probability (0.99 n/(n+1))^n < 1e-8 and
    # never above a (n+1)/n: within 1.1 %.
    assert c.c_bias == pytest.approx(math.sqrt(fan_in) / 2, rel=0.011)
    g = estimate_constants(model, n_points=4, bias_density="gaussian")
    # a Gaussian fitted to U(-a, a) has std a/sqrt(3): peak sqrt(3/(2 pi)) / a
    assert g.c_bias == pytest.approx(math.sqrt(3 / (2 * math.pi)) * math.sqrt(fan_in), rel=0.05)
    e = estimate_constants(model, n_points=4, bias_density="empirical")
    assert e.c_bias == pytest.approx(math.sqrt(fan_in) / 2, rel=0.15)


def test_c_bias_is_the_largest_layer_and_conv_biases_count_once():
    gen = torch.Generator().manual_seed(2)
    b1 = (torch.rand(200, generator=gen, dtype=F64) * 2 - 1) * 1.0
    b2 = (torch.rand(100, generator=gen, dtype=F64) * 2 - 1) * 0.25
    W1 = torch.randn(200, 2, generator=gen, dtype=F64)
    W2 = torch.randn(100, 200, generator=gen, dtype=F64) / 200**0.5
    net = CPWLNetwork.sequential((2,), [Dense(W1, b1), PiecewiseLinear.relu(), Dense(W2, b2), PiecewiseLinear.relu()])
    c = estimate_constants(net, n_points=16, bias_density="uniform")
    expect = [1 / (2 * float(b.abs().max()) * (len(b) + 1) / len(b)) for b in (b1, b2)]
    assert list(c.c_bias_by_layer) == pytest.approx(expect, rel=1e-12)
    assert c.c_bias == max(expect)
    # a convolution's channel bias is one value per channel, not per position
    conv = zoo.lenet()
    cc = estimate_constants(conv, n_points=4, input_shape=(1, 12, 12))
    first = conv.features[0] if hasattr(conv, "features") else next(m for m in conv.modules() if isinstance(m, torch.nn.Conv2d))
    assert cc.layers[0].num_biases == first.out_channels
    assert cc.layers[0].width > first.out_channels


def test_no_bias_spread_means_no_bias_density():
    net = one_layer_net(torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=F64), torch.zeros(6))
    c = estimate_constants(net, n_points=8)
    assert c.c_bias == math.inf and c.layers[0].num_biases == 1
    p = predict_density(c)
    assert p.excluded_layers == (net.nodes[2].name,) and p.density == 0.0
    assert p.upper == math.inf


# ----------------------------------------------------------------- c_grad


def _autograd_preactivation_gradients(model, X, feeds):
    """Per point: the Jacobian rows of every module output in ``feeds`` (torch.autograd)."""
    outs: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, key=k: outs.__setitem__(key, o)) for k, m in enumerate(feeds)]

    def f(x1):
        outs.clear()
        model(x1.unsqueeze(0))
        return torch.cat([outs[k].reshape(-1) for k in range(len(feeds))])

    try:
        rows = []
        for x in X:
            J = torch.autograd.functional.jacobian(f, x.clone())
            rows.append(J.reshape(J.shape[0], -1))
    finally:
        for h in hooks:
            h.remove()
    return rows  # list of (U, n0)


@pytest.mark.parametrize("act", ["relu", "leaky", "hardtanh"])
@pytest.mark.parametrize("n0", [3, 20])  # 20 inputs read through 12 numbers: forms in 12 coordinates
def test_c_grad_matches_autograd(act, n0):
    model = mlp(3, 12, act=act, n0=n0, seed=4, init="he")
    X = torch.rand(40, n0, generator=torch.Generator().manual_seed(5), dtype=F64) * 2 - 1
    c = estimate_constants(model, X)
    feeds = [m for m in model if isinstance(m, torch.nn.Linear)]
    J = _autograd_preactivation_gradients(model, X, feeds)
    norms = torch.stack([j.norm(dim=1) for j in J])  # (P, U)
    assert c.num_points == 40
    assert c.c_grad == pytest.approx(float(norms.mean()), rel=1e-10)
    assert c.c_grad_max == pytest.approx(float(norms.mean(1).max()), rel=1e-10)
    assert c.c_grad_directional == pytest.approx(isotropic_factor(n0) * float(norms.mean()), rel=1e-10)
    # along given directions: the exact |J d|
    D = torch.randn(40, n0, generator=torch.Generator().manual_seed(6), dtype=F64)
    cd = estimate_constants(model, X, directions=D)
    along = torch.stack([(j @ dd).abs() for j, dd in zip(J, D, strict=True)])  # (P, U)
    assert cd.c_grad_directional == pytest.approx(float(along.mean()), rel=1e-10)
    assert cd.c_grad == c.c_grad
    assert hanin_rolnick_density(cd, directional=False) == pytest.approx(hanin_rolnick_density(c, directional=False))
    for k, layer in enumerate(c.layers):
        blk = norms[:, 12 * k : 12 * (k + 1)]
        assert layer.grad_norm_mean == pytest.approx(float(blk.mean()), rel=1e-10)
        assert layer.grad_norm_max == pytest.approx(float(blk.mean(1).max()), rel=1e-10)
        K = 2 if act == "hardtanh" else 1
        assert layer.breakpoints == K
        assert layer.gradient_mass == pytest.approx(K * isotropic_factor(n0) * float(blk.sum(1).mean()), rel=1e-10)


@pytest.mark.parametrize("n0", [2, 20])  # 20 inputs read through 15 maxout arguments
def test_c_grad_of_maxout_arguments_matches_autograd(n0):
    model = zoo.maxout_mlp((n0, 5, 4, 1), pieces=3, seed=1)
    X = torch.rand(25, n0, generator=torch.Generator().manual_seed(6), dtype=F64) * 2 - 1
    c = estimate_constants(model, X)
    feeds = list(model.layers)  # the Linear layers whose outputs are the maxout arguments
    J = _autograd_preactivation_gradients(model, X, feeds)
    norms = torch.stack([j.norm(dim=1) for j in J])
    assert c.widths == (5, 4) and c.activation_complexity == 2
    assert [layer.arguments for layer in c.layers] == [3, 3]
    assert c.c_grad == pytest.approx(float(norms.mean()), rel=1e-10)
    # (k - 1) * sum over the k arguments of E|dz/dt|
    first = norms[:, :15]
    assert c.layers[0].gradient_mass == pytest.approx(2 * isotropic_factor(n0) * float(first.sum(1).mean()), rel=1e-10)
    # along given directions: the same with the input's own coordinates (no basis)
    D = torch.randn(25, n0, generator=torch.Generator().manual_seed(7), dtype=F64)
    cd = estimate_constants(model, X, directions=D)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CPWLNetwork, "input_basis", lambda self: None)
        plain = estimate_constants(model, X, directions=D)
    for a, b in zip(cd.layers, plain.layers, strict=True):
        for field in ("grad_norm_mean", "directional_mean", "gradient_mass", "crossing_density", "gradient_mass_norm"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-10, abs=1e-14), field


def test_general_networks_residual_and_conv():
    model = zoo.small_resnet()
    net = regionlab.trace(model, torch.zeros(1, 3, 8, 8, dtype=F64))
    X = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=F64)
    c = estimate_constants(net, X)
    assert c.num_units == net.num_units and c.widths == tuple(net.layer_widths()) and c.depth == len(net.layer_widths())
    # oracle: autograd through the IR interpreter (not the affine-form propagation)
    norms = []
    for x in X:
        J = torch.autograd.functional.jacobian(lambda v: torch.cat(net.preactivations(v.unsqueeze(0)), 1)[0], x.clone())
        norms.append(J.reshape(J.shape[0], -1).norm(dim=1))
    assert c.c_grad == pytest.approx(float(torch.stack(norms).mean()), rel=1e-9)


# ----------------------------------------------------------------- density along lines


def test_batched_lines_equal_per_line_calls_and_are_reproducible():
    model = mlp(3, 10, n0=3, seed=7, init="he")
    d = density_along_lines(model, 24, length=3.0, seed=11, batch=7)
    assert d.n_lines == 24 and d.breakpoints.dtype == torch.long
    A = d.centres - 1.5 * d.directions
    B = d.centres + 1.5 * d.directions
    for i in range(24):
        one = regionlab.partition_segment(model, A[i], B[i])
        assert one.num_regions - 1 == int(d.breakpoints[i])
    assert torch.allclose(d.directions.norm(dim=1), torch.ones(24, dtype=F64))
    assert bool((d.centres.abs() <= 1).all())  # uniform in the default box [-1, 1]^3
    again = density_along_lines(model, 24, length=3.0, seed=11, batch=24)
    assert torch.equal(again.breakpoints, d.breakpoints) and torch.equal(again.centres, d.centres)
    other = density_along_lines(model, 24, length=3.0, seed=12)
    assert not torch.equal(other.directions, d.directions)


def test_one_layer_densities_equal_closed_form_crossings():
    gen = torch.Generator().manual_seed(8)
    W = torch.randn(30, 4, generator=gen, dtype=F64)
    b = torch.randn(30, generator=gen, dtype=F64)
    for act in (PiecewiseLinear.relu(), PiecewiseLinear.hardtanh(-0.5, 1.0), PiecewiseLinear.abs()):
        net = one_layer_net(W, b, act)
        X = torch.randn(5, 4, generator=gen, dtype=F64)
        d = density_along_lines(net, 40, length=2.5, through=X, seed=3)
        assert torch.equal(d.centres, X[torch.arange(40) % 5])
        A = d.centres - 1.25 * d.directions
        B = d.centres + 1.25 * d.directions
        zA, zB = A @ W.T + b, B @ W.T + b  # (lines, units): affine along each line
        bp = act.breakpoints.reshape(-1)
        cross = ((zA.unsqueeze(-1) - bp) * (zB.unsqueeze(-1) - bp) < 0).sum((1, 2))
        assert torch.equal(d.breakpoints, cross)
        assert d.mean_breakpoint_density == pytest.approx(float(cross.double().mean()) / 2.5, rel=1e-12)
        assert torch.allclose(d.density, (cross + 1).double() / 2.5)


def _sampled_changes(net, A, B, samples):
    t = torch.linspace(0, 1, samples, dtype=F64)
    pts = A.unsqueeze(0) + t.unsqueeze(1) * (B - A).unsqueeze(0)
    pat = net.patterns(pts)
    return int((pat[1:] != pat[:-1]).any(1).sum())


def test_deep_densities_against_dense_pattern_sampling():
    model = mlp(3, 8, act="hardtanh", n0=2, seed=9, init="he")
    net = regionlab.trace(model, torch.zeros(1, 2, dtype=F64))
    d = density_along_lines(net, 20, length=2.0, seed=4)
    A = d.centres - d.directions
    B = d.centres + d.directions
    coarse = torch.tensor([_sampled_changes(net, A[i], B[i], 4001) for i in range(20)])
    fine = torch.tensor([_sampled_changes(net, A[i], B[i], 40001) for i in range(20)])
    # sampling can only miss regions (shorter than the grid step), never add one; at
    # 4 001 samples it misses 5 thin regions on these lines, at 40 001 none (also none
    # at 400 001, checked once)
    assert bool((coarse <= d.breakpoints).all()) and int(coarse.sum()) < int(d.breakpoints.sum())
    assert torch.equal(fine, d.breakpoints)


@settings(max_examples=12)
@given(
    depth=st.integers(1, 3),
    width=st.integers(1, 6),
    act=st.sampled_from(["relu", "leaky", "hardtanh"]),
    seed=st.integers(0, 10_000),
)
def test_hypothesis_batched_equals_per_line(depth, width, act, seed):
    model = mlp(depth, width, act=act, n0=2, seed=seed, init="he")
    d = density_along_lines(model, 6, length=2.0, seed=seed, batch=4)
    A = d.centres - d.directions
    B = d.centres + d.directions
    per = regionlab.partition_segment(model, A, B, return_maps=False)
    assert torch.equal(per.num_regions.long() - 1, d.breakpoints)
    # the 1-D worst case (bounds.md: prod_l (1 + n_l K) regions on any line)
    assert int(d.breakpoints.max()) <= (1 + width * (2 if act == "hardtanh" else 1)) ** depth - 1
    net = regionlab.trace(model, torch.zeros(1, 2, dtype=F64))
    for i in range(2):
        assert _sampled_changes(net, A[i], B[i], 2001) <= int(d.breakpoints[i])


# ----------------------------------------------------------------- predictions vs measurements


def test_measured_density_below_the_hanin_rolnick_prediction_at_default_init():
    """PyTorch default init, width 16, depth 1..4, 300 lines of length 2 through [-1, 1]^2.

    The bound's constants are estimated at points along the measured lines. Observed
    margin (upper / measured): 1.13 at depth 1 (at this init every first-layer hyperplane
    meets the box, so the uniform bias density is at its peak wherever a unit can switch),
    2.1-2.6 at depths 2-4; the assertion leaves 3 standard errors.
    """
    for depth in (1, 2, 3, 4):
        model = mlp(depth, 16, seed=depth)
        d = density_along_lines(model, 300, length=2.0, seed=0)
        P, D = d.line_samples(4)
        p = predict_density(model, points=P, directions=D, bias_density="uniform")
        cmp = d.compare(p)
        assert cmp.below_upper
        assert cmp.measured + 3 * cmp.measured_sem <= cmp.upper
        assert p.upper == pytest.approx(p.upper_product, rel=1e-12)  # one K: the two forms agree


@pytest.mark.parametrize("act", ["relu", "leaky", "hardtanh"])
def test_density_grows_linearly_with_depth_and_matches_the_prediction(act):
    """He init (measures.md), width 16, depth 1..6, 250 lines of length 2.

    Measured breakpoints per unit length, depth 1..6 (seed 0/1): relu 4.9, 10.6, 16.4, 20.7,
    23.1, 25.7; leaky 4.9, 10.6, 15.8, 20.7, 23.8, 26.8; hardtanh(-0.2, 0.2) 9.5, 21.9, 34.9,
    49.6, 60.8, 75.2: linear, far from exponential growth. The co-area predictor is within
    10 % of the measurement (ratios 0.91..0.99 observed); the bound is above.
    """
    K = 2 if act == "hardtanh" else 1
    meas, preds = [], []
    for depth in range(1, 7):
        model = mlp(depth, 16, act=act, seed=0, init="he")
        d = density_along_lines(model, 250, length=2.0, seed=1)
        P, D = d.line_samples(2)
        p = predict_density(model, points=P, directions=D, bias_density="gaussian")
        assert p.activation_complexity == K and p.depth == depth and p.mean_width == 16
        cmp = d.compare(p)
        assert 0.8 <= cmp.ratio <= 1.2, (depth, cmp)
        assert cmp.below_upper
        meas.append(cmp.measured)
        preds.append(p.density)
    L = torch.arange(1, 7, dtype=F64)
    m = torch.tensor(meas, dtype=F64)

    def r2(y):  # coefficient of determination of the least-squares line y ~ a + s L
        X = torch.stack([torch.ones_like(L), L], 1)
        coef = torch.linalg.lstsq(X, y.unsqueeze(1)).solution
        res = y - (X @ coef).squeeze(1)
        return 1 - float((res**2).sum() / ((y - y.mean()) ** 2).sum())

    # linear in depth (R^2 0.95 relu, 0.96 leaky, 0.999 hardtanh observed), and a line
    # explains the densities better than an exponential (a line through log densities)
    assert r2(m) >= 0.93 and r2(m) > r2(m.log())
    growth = m[1:] / m[:-1]
    assert bool((growth < 2.5).all()) and float(growth[-1]) < 1.5
    assert float(m[-1] / m[0]) < 9  # 2^5 = 32 for doubling per layer
    # K enters: a hardtanh unit contributes its two breakpoints
    if act == "hardtanh":
        assert p.constant == pytest.approx(p.density / (2 * 16 * 6), rel=1e-12)


def test_maxout_prediction_and_bound():
    model = zoo.maxout_mlp((2, 16, 16, 1), pieces=3, seed=0)
    d = density_along_lines(model, 250, length=2.0, seed=2)
    P, D = d.line_samples(2)
    p = predict_density(model, points=P, directions=D, bias_density="uniform")
    cmp = compare_densities(p, d)
    assert p.activation_complexity == 2
    assert 0.8 <= cmp.ratio <= 1.25, cmp  # 1.0-1.05 observed
    assert cmp.below_upper


def test_co_area_prediction_is_unbiased_for_one_layer():
    """One layer, width 300, Gaussian biases: the co-area estimate is the expected count.

    Given the weights and the lines, the expected breakpoints of a unit on a line are
    exactly ``|Phi((beta - mu - g(A))/sd) - Phi((beta - mu - g(B))/sd)|`` (independent
    closed form); the prediction (a Monte-Carlo estimate of the same integral at 8 points
    per line) must match it, and the measurement must scatter
    around it (one draw of 300 biases: a few per cent).
    """
    phi = lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2)))  # noqa: E731
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        W = torch.randn(300, 2, generator=gen, dtype=F64)
        b = torch.randn(300, generator=gen, dtype=F64) * 0.5
        net = one_layer_net(W, b)
        d = density_along_lines(net, 250, length=2.0, seed=seed)
        P, D = d.line_samples(8)
        p = predict_density(net, points=P, directions=D, bias_density="gaussian")
        gA = (d.centres - d.directions) @ W.T
        gB = (d.centres + d.directions) @ W.T
        mu, sd = float(b.mean()), float(b.std())
        expected = float((phi((-gA - mu) / sd) - phi((-gB - mu) / sd)).abs().sum(1).mean()) / 2.0
        assert p.density == pytest.approx(expected, rel=0.03)  # Monte-Carlo error ~1 %
        assert d.mean_breakpoint_density == pytest.approx(expected, rel=0.04)
        # on random lines the isotropic average (no directions) is biased upwards: steep
        # directions sweep more of the bias density's tails (2-4 % here)
        iso = predict_density(net, points=P, bias_density="gaussian")
        assert iso.density > p.density


def test_default_init_density_grows_sublinearly():
    dens = [density_along_lines(mlp(depth, 16, seed=0), 250, length=2.0, seed=1).mean_breakpoint_density for depth in (1, 3, 6)]
    assert dens[0] < dens[1] < dens[2] * 1.05
    assert dens[2] < 6 * dens[0]  # default init shrinks gradients with depth: far below linear


# ----------------------------------------------------------------- results


def test_results_are_frozen_picklable_and_round_trip():
    model = mlp(2, 6, seed=1)
    c = estimate_constants(model, n_points=32)
    p = predict_density(c)
    d = density_along_lines(model, 8)
    cmp = d.compare(p)
    for obj in (c, p, cmp):
        assert pickle.loads(pickle.dumps(obj)) == obj
        with pytest.raises(AttributeError):
            obj.num_units = 3  # frozen
    assert ComplexityConstants.from_dict(c.to_dict()) == c
    assert DensityPrediction.from_dict(p.to_dict()) == p
    assert DensityComparison(**cmp.to_dict()) == cmp
    d2 = pickle.loads(pickle.dumps(d))
    assert torch.equal(d2.breakpoints, d.breakpoints)
    d3 = LineDensities.from_dict(d.to_dict())
    assert torch.equal(d3.centres, d.centres) and d3.summary() == d.summary()
    import json

    json.dumps([c.to_dict(), p.to_dict(), cmp.to_dict(), d.to_dict()])
    assert "breakpoints per unit length" in str(cmp) and "LineDensities" in repr(d)


def test_progress_bar_changes_nothing(capsys):
    model = mlp(2, 6, seed=2)
    quiet = density_along_lines(model, 30, batch=8, seed=5, progress=False)
    loud = density_along_lines(model, 30, batch=8, seed=5, progress=True)
    assert torch.equal(quiet.breakpoints, loud.breakpoints)
    assert "lines" in capsys.readouterr().err


def test_top_level_export():
    assert regionlab.density_along_lines is density_along_lines


# ----------------------------------------------------------------- errors


def test_typed_errors():
    model = mlp(1, 4)
    for bad in (0, -3, 1.5, True):
        with pytest.raises(InvalidParameterError, match="n_lines"):
            density_along_lines(model, bad)
    for bad in (0.0, -1.0):
        with pytest.raises(InvalidParameterError, match="length"):
            density_along_lines(model, 4, length=bad)
    with pytest.raises(NumericalError, match="length"):
        density_along_lines(model, 4, length=float("nan"))
    with pytest.raises(InvalidParameterError, match="batch"):
        density_along_lines(model, 4, batch=0)
    with pytest.raises(ShapeError):
        density_along_lines(model, 4, through=torch.zeros(3, 5))
    with pytest.raises(ShapeError):
        estimate_constants(model, torch.zeros(3, 7))
    with pytest.raises(NumericalError):
        estimate_constants(model, torch.full((2, 2), float("nan")))
    with pytest.raises(InvalidParameterError, match="bias_density"):
        estimate_constants(model, bias_density="cauchy")
    with pytest.raises(ShapeError, match="directions"):
        estimate_constants(model, torch.zeros(3, 2), directions=torch.zeros(2, 2))
    with pytest.raises(InvalidParameterError, match="directions"):
        estimate_constants(model, directions=torch.zeros(2, 2))
    with pytest.raises(InvalidParameterError, match="progress"):
        density_along_lines(model, 4, progress="yes")
    with pytest.raises(InvalidParameterError, match="per_line"):
        density_along_lines(model, 2).line_samples(0)
    with pytest.raises(InvalidParameterError, match="n_points"):
        estimate_constants(model, n_points=0)
    with pytest.raises(InvalidParameterError, match="model"):
        estimate_constants("not a model")
    with pytest.raises(ShapeError):
        estimate_constants(model, domain=(torch.zeros(3), torch.ones(3)))
    with pytest.raises(InvalidParameterError, match="affine"):
        estimate_constants(torch.nn.Sequential(torch.nn.Linear(2, 3)))
    bad = mlp(1, 4)
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(NumericalError):
        density_along_lines(bad, 4)
    with pytest.raises(NumericalError):
        estimate_constants(bad)
    c = estimate_constants(model, n_points=8)
    with pytest.raises(InvalidParameterError):
        predict_density(c, n_points=5)
    with pytest.raises(InvalidParameterError):
        hanin_rolnick_regions(input_dim=2, T=1.0)  # no N
    with pytest.raises(InvalidParameterError, match="volume"):
        hanin_rolnick_regions(c, volume=0.0)
    with pytest.raises(InvalidParameterError, match="form"):
        tseran_montufar_regions(c, form="exact")
    with pytest.raises(InvalidParameterError, match="rank"):
        tseran_montufar_regions(num_units=3, rank=1, input_dim=2, form="asymptotic")
    with pytest.raises(InvalidParameterError):
        tseran_montufar_boundary_pieces(num_units=3, input_dim=2, form="asymptotic")
    with pytest.raises(InvalidParameterError, match="factor"):
        hanin_rolnick_density(c, factor=-1.0)
    with pytest.raises(InvalidParameterError):
        compare_densities(c, density_along_lines(model, 2))
    with pytest.raises(InvalidParameterError):
        hanin_rolnick_density(None)
    with pytest.raises(InvalidParameterError, match="input shape"):
        estimate_constants(zoo.lenet())
