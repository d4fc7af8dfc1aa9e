"""``regionlab run bounds-vs-exact``: exact region counts against every closed-form bound.

Four parts, each written to ``out/bounds-vs-exact/`` as soon as it finishes:

1. **Worked values.** The bound functions of :mod:`regionlab.bounds` reproduce the
   reference values (Zaslavsky, Montúfar 2014/2017, Serra et al. 2018 Theorems 1, 5–8,
   Montúfar–Ren–Zhang, the K-breakpoint product, Xiong et al.'s convolution count).
2. **Extremal constructions.** The networks of :mod:`regionlab.bounds.constructions`
   (sawtooth, folding, extremal maxout) are counted by the exact engines (1-D on
   ``[0, 1]``, 2-D on ``[0, 1]^2``): every count must equal its lower bound.
3. **Random networks.** PyTorch-initialised networks (ReLU, leaky ReLU, hardtanh,
   maxout) across depth and width, counted exactly in a box of the plane and along
   lines, beside every applicable upper bound: how many orders of magnitude below.
4. **1-D density against depth.** The exact density of regions along random lines
   (:func:`regionlab.expected.density_along_lines`) for depth 1..L at a fixed width,
   fitted by a line and by an exponential; beside the predicted density
   (:func:`regionlab.expected.predict_density`).

Examples
--------
>>> from regionlab.experiments import get_experiment
>>> get_experiment("bounds-vs-exact").title
'Bounds on the number of regions against exact counts'
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InvalidParameterError
from ._base import Experiment, RunContext

__all__ = ["BoundsVsExact", "Maxout", "random_network"]

PAPER = ("Goujon, Etemadi, Unser, 'On the number of regions of piecewise linear neural networks', "
         "J. Comput. Appl. Math. 441 (2024), arXiv:2206.08615; with the bounds of Zaslavsky (1975), "
         "Montúfar et al. (2014, 2017), Serra et al. (ICML 2018), Montúfar–Ren–Zhang (2022), "
         "Xiong et al. (ICML 2020)")


class Maxout(nn.Module):
    """A maxout layer: ``width`` units, each the max of ``rank`` affine functions.

    Examples
    --------
    >>> import torch
    >>> m = Maxout(2, 3, rank=2)
    >>> m(torch.zeros(5, 2)).shape
    torch.Size([5, 3])
    """

    def __init__(self, in_features: int, width: int, *, rank: int):
        super().__init__()
        self.width, self.rank = int(width), int(rank)
        self.linear = nn.Linear(in_features, self.width * self.rank)

    def forward(self, x):
        return self.linear(x).view(-1, self.width, self.rank).amax(-1)


ACTIVATIONS = ("relu", "leaky_relu", "hardtanh", "spline:3", "maxout:3")


def random_network(activation: str, input_dim: int, widths, *, seed: int = 0, init: str = "default") -> nn.Sequential:
    """A float64 network ``input_dim - widths... - 1``, randomly initialised.

    ``init="default"`` is PyTorch's (uniform weights and biases of scale
    ``1/sqrt(fan_in)``); ``init="he"`` draws weights from ``N(0, 2/fan_in)`` and biases
    from ``N(0, 0.1^2)``, the variance-preserving setting of Hanin and Rolnick's
    experiments.

    ``activation``: ``"relu"``, ``"leaky_relu"`` (slope 0.1), ``"hardtanh"`` (two
    breakpoints), ``"spline:3"`` (a :class:`~regionlab.CPWLActivation` with three
    breakpoints) or ``"maxout:k"`` (rank-k maxout units).

    Examples
    --------
    >>> random_network("hardtanh", 2, [4, 4], seed=0)[1]
    Hardtanh(min_val=-1.0, max_val=1.0)
    """
    if init not in ("default", "he"):
        raise InvalidParameterError(f"init must be 'default' or 'he', got {init!r}")
    if not (activation in ACTIVATIONS or (activation.startswith("maxout:") and activation[7:].isdigit())):
        raise InvalidParameterError(f"activation must be one of {', '.join(ACTIVATIONS)} or 'maxout:k'; got {activation!r}")
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = input_dim
    for w in widths:
        if activation.startswith("maxout:"):
            layers.append(Maxout(fan_in, w, rank=int(activation.split(":")[1])))
        elif activation == "spline:3":
            from ..activations import CPWLActivation

            layers.append(nn.Linear(fan_in, w))
            layers.append(CPWLActivation([-0.5, 0.0, 0.5], [0.1, 1.0, -0.5, 0.8]))
        else:
            layers.append(nn.Linear(fan_in, w))
            layers.append({"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "hardtanh": nn.Hardtanh}[activation]())
        fan_in = w
    layers.append(nn.Linear(fan_in, 1))
    model = nn.Sequential(*layers).double().eval()
    if init == "he":
        _normal_init(model, gain=2.0)
    return model


def _normal_init(model: nn.Module, gain: float) -> None:
    """Weights N(0, gain / fan_in) and biases N(0, 0.1^2) in every linear layer."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Linear):
                mod.weight.normal_(0.0, math.sqrt(gain / mod.in_features))
                mod.bias.normal_(0.0, 0.1)


def _tm_network(seed: int) -> nn.Sequential:
    """Tseran–Montúfar's reference architecture: 2 inputs, rank-2 maxout layers of 7, 7, 6 units,
    maxout-He weights N(0, 1/fan_in) (their rank-2 value) and biases N(0, 0.1^2)."""
    model = random_network("maxout:2", 2, [7, 7, 6], seed=seed)
    _normal_init(model, gain=1.0)
    return model


def _box(half: float):
    from ..domains import Box

    return Box([-half, -half], [half, half])


def _segment_count(net, start, end) -> int:
    import regionlab

    return int(regionlab.partition_segment(net, start, end).num_regions)


class BoundsVsExact(Experiment):
    """Exact counts of random and extremal networks against every closed-form bound.

    Examples
    --------
    >>> BoundsVsExact().name
    'bounds-vs-exact'
    """

    name = "bounds-vs-exact"
    title = "Bounds on the number of regions against exact counts"
    paper = PAPER

    def run(self, ctx: RunContext) -> None:
        self._worked_values(ctx)
        self._extremal(ctx)
        self._random(ctx)
        self._density(ctx)
        self._tseran_montufar_run(ctx)

    # ------------------------------------------------------------ 1. worked values
    def _worked_values(self, ctx: RunContext) -> None:
        from .. import bounds as B

        rows = [
            ("Zaslavsky Z(24, 2)", 301, lambda: B.zaslavsky(24, 2)),
            ("Serra Thm 1 UB, n0=2, [8,8,8]", 50653, lambda: B.serra_upper(2, [8, 8, 8])),
            ("Serra Thm 1 UB, n0=3, [4,4,4]", 1631, lambda: B.serra_upper(3, [4, 4, 4])),
            ("Serra Thm 1 UB, n0=10, [8,8,8]", 5900722, lambda: B.serra_upper(10, [8, 8, 8])),
            ("Serra Thm 1 UB, n0=2, [2,4,8] (bottleneck)", 498, lambda: B.serra_upper(2, [2, 4, 8])),
            ("Serra Thm 1 UB, n0=2, [3,3]", 40, lambda: B.serra_upper(2, [3, 3])),
            ("Montúfar 2017 UB, n0=3, [4,4,4]", 3375, lambda: B.montufar2017_upper(3, [4, 4, 4])),
            ("Montúfar 2014 LB, n0=2, [20,20,20]", 2110000, lambda: B.montufar2014_lower(2, [20, 20, 20])),
            ("Serra Thm 6 LB, n0=2, [8,8,8]", 23125, lambda: B.serra_lower(2, [8, 8, 8])),
            ("Serra Thm 5 exact, n0=1, [5]x10 (Prince UDL Problem 4.11, corrected)", 60466176,
             lambda: B.serra_exact_1d(1, [5] * 10)),
            ("Serra Thm 7 LB, n0=2, m=4, w=4, L=3", 200, lambda: B.serra_size_lower(2, 4, 4, 3)),
            ("Serra Thm 8 maxout UB, k=3, n0=2, [8,8,8]", 27270901, lambda: B.maxout_serra_upper(2, [8, 8, 8], rank=3)),
            ("MRZ one maxout layer, n0=2, ranks (2,3,4)", 18, lambda: B.maxout_one_layer(2, [2, 3, 4])),
            ("K-breakpoint product, K=2, n0=2, [8,8,8]", 2146689, lambda: B.cpwl_upper(2, [8, 8, 8], breakpoints=2)),
            ("K-breakpoint product, K=3, n0=1, [5]x10", 1099511627776, lambda: B.cpwl_upper(1, [5] * 10, breakpoints=3)),
            ("Xiong conv, length 3, kernel 2, stride 1, 3 filters", 40, lambda: B.conv_first_layer((1, 3), 2, 1, 3)),
        ]
        from .. import expected as E

        # expected-count forms (floats; the reference quotes them rounded)
        tm = {"num_units": 20, "rank": 2, "input_dim": 2}
        rows += [
            ("Hanin–Rolnick (T N)^n0/n0!, N=24, n0=2, T=1", 288,
             lambda: round(E.hanin_rolnick_regions(num_units=24, input_dim=2, T=1.0))),
            ("Tseran–Montúfar asymptotic regions, N=20, rank 2, n0=2", 800,
             lambda: round(E.tseran_montufar_regions(form="asymptotic", **tm))),
            ("Tseran–Montúfar asymptotic regions without rank", 200,
             lambda: round(E.tseran_montufar_regions(form="asymptotic_no_rank", **tm))),
            ("Tseran–Montúfar asymptotic decision-boundary pieces", 40,
             lambda: round(E.tseran_montufar_boundary_pieces(form="asymptotic", **tm))),
            ("Tseran–Montúfar asymptotic decision-boundary pieces without rank", 20,
             lambda: round(E.tseran_montufar_boundary_pieces(form="asymptotic_no_rank", **tm))),
        ]
        out = {}
        for label, ref, fn in rows:
            ours = fn()
            out[label] = {"reference": ref, "ours": ours}
            ctx.compare(label, paper=ref, ours=ours, agrees=(ours == ref), note="bounds.md §7–8 worked value")
        ctx.record("worked_values", out)

    # ------------------------------------------------------ 2. extremal constructions
    def _extremal(self, ctx: RunContext) -> None:
        from .. import bounds as B
        from ..bounds import constructions as C

        quick = ctx.quick
        cases = []
        # Serra et al. Theorem 5 with plain ReLU units (n0 = 1): exactly prod(n_l + 1)
        for depth in ([1, 2, 3] if quick else [1, 2, 3, 4, 5]):
            widths = [3] * depth
            cases.append((f"ReLU sawtooth (Serra Thm 5), widths {widths}", "1d",
                          lambda w=widths: C.serra_sawtooth_relu(w), lambda w=widths: B.serra_exact_1d(1, w)))
        for K in (1, 2, 3):
            widths = [2, 2] if quick else [2, 3, 2]
            cases.append((f"K={K} sawtooth, widths {widths}", "1d",
                          lambda w=widths, K=K: C.sawtooth_network(w, breakpoints=K),
                          lambda w=widths, K=K: B.cpwl_lower(1, w, breakpoints=K)))
        for k in (2, 3):
            widths = [2, 2] if quick else [2, 4, 2]
            cases.append((f"maxout rank {k} sawtooth, widths {widths}", "1d",
                          lambda w=widths, k=k: C.maxout_sawtooth_network(w, rank=k),
                          lambda w=widths, k=k: B.maxout_lower(1, w, rank=k)))
        for K in ((1,) if quick else (1, 2)):
            widths = [2, 3] if quick else [4, 2, 3]
            cases.append((f"K={K} folding, n0=2, widths {widths}", "2d",
                          lambda w=widths, K=K: C.folding_network(2, w, breakpoints=K),
                          lambda w=widths, K=K: B.cpwl_lower(2, w, breakpoints=K)))
        widths = [2, 2] if quick else [4, 3]
        cases.append((f"maxout rank 3 folding, n0=2, widths {widths}", "2d",
                      lambda w=widths: C.maxout_folding_network(2, w, rank=3),
                      lambda w=widths: B.maxout_lower(2, w, rank=3)))
        cases.append(("extremal maxout layer, n0=2, 3 units of rank 3 (MRZ)", "2d",
                      lambda: C.extremal_maxout_layer(2, 3, 3), lambda: B.maxout_one_layer(2, [3, 3, 3])))
        out = {}
        for label, kind, build, bound in cases:
            c = build()
            target = int(bound())
            if kind == "1d":
                count = _segment_count(c.network, list(c.lower), list(c.upper))
            else:
                count = _box_count(c.network, c.lower, c.upper)
            out[label] = {"exact": count, "lower_bound": target, "construction_claims": c.expected_regions}
            ctx.compare(f"extremal: {label}", paper=target, ours=count, agrees=(count == target == c.expected_regions),
                        note="lower bound attained exactly" if count == target else "lower bound NOT attained")
            ctx.record("extremal", out)
        lines = ["| construction | lower bound | exact count |", "|---|---|---|"]
        lines += [f"| {k} | {v['lower_bound']:,} | {v['exact']:,} |" for k, v in out.items()]
        ctx.section("Extremal constructions (exact engine as the judge)", "\n".join(lines))

    # ------------------------------------------------------------ 3. random networks
    def _random(self, ctx: RunContext) -> None:
        from .. import bounds as B
        from .. import expected as E

        quick = ctx.quick
        widths_list = [4, 8] if quick else [4, 8, 16, 32]
        depths = [1, 2, 3] if quick else [1, 2, 3, 4, 5]
        acts = ("relu", "hardtanh") if quick else ACTIVATIONS
        radius = 10.0
        rows = []
        for act in acts:
            for w in widths_list:
                for depth in depths:
                    model = random_network(act, 2, [w] * depth, seed=ctx.seed)
                    plane = _box_count(model, (-radius, -radius), (radius, radius))
                    arch = B.architecture(model)
                    table = B.all_bounds(arch)
                    uppers = {r.name: r.value for r in table.applicable if r.kind in ("upper", "exact")}
                    tightest = min(uppers.values())
                    # the network restricted to a line is a network with one input
                    arch1 = B.architecture(input_dim=1, widths=arch.widths, activation=arch.activation,
                                           breakpoints=arch.breakpoints, rank=arch.max_rank)
                    table1 = B.all_bounds(arch1)
                    line_upper = min((r for r in table1.applicable if r.kind in ("upper", "exact")), key=lambda r: r.value)
                    lines = E.density_along_lines(model, 8, length=2 * radius, domain=_box(radius / 2),
                                                  seed=ctx.seed, progress=False)
                    line_max = int(lines.regions.max())
                    rows.append({"activation": act, "width": w, "depth": depth, "exact_box": plane,
                                 "uppers": uppers, "tightest_upper": tightest,
                                 "orders_below": _log10(tightest) - _log10(plane),
                                 "exact_line_max": line_max, "line_upper": line_upper.value,
                                 "line_upper_name": line_upper.name})
                    ctx.record("random_networks", {"box_radius": radius, "rows": rows})
        self._random_figure(ctx, rows)
        lines = ["| activation | width | depth | exact regions in [-10,10]² | tightest upper bound | log10(bound/exact) "
                 "| most regions on 8 lines of length 20 | 1-D upper bound |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['activation']} | {r['width']} | {r['depth']} | {r['exact_box']:,} | "
                         f"{r['tightest_upper']:,} | {r['orders_below']:.1f} | {r['exact_line_max']:,} | "
                         f"{r['line_upper']:,} ({r['line_upper_name']}) |")
        ctx.section("Random networks at PyTorch's default initialisation", "\n".join(lines))
        deep = [r for r in rows if r["depth"] == max(depths) and r["width"] == max(widths_list)]
        gap = min(r["orders_below"] for r in deep)
        ctx.compare("random deepest/widest nets: log10(tightest upper bound / exact count), min over activations",
                    paper="orders of magnitude (bounds.md §9.5)", ours=round(gap, 2), agrees=gap >= 2.0,
                    note="≥ 2 orders of magnitude")
        ok = all(r["exact_box"] <= r["tightest_upper"] and r["exact_line_max"] <= r["line_upper"] for r in rows)
        ctx.compare("random nets: every exact count ≤ every upper bound", paper=True, ours=ok, agrees=ok)

    def _random_figure(self, ctx: RunContext, rows) -> None:
        plt = _pyplot()
        if plt is None:
            return
        acts = sorted({r["activation"] for r in rows})
        w = max(r["width"] for r in rows)
        fig, axes = plt.subplots(1, len(acts), figsize=(4 * len(acts), 3.6), squeeze=False)
        for ax, act in zip(axes[0], acts, strict=True):
            sub = sorted((r for r in rows if r["activation"] == act and r["width"] == w), key=lambda r: r["depth"])
            d = [r["depth"] for r in sub]
            ax.semilogy(d, [r["exact_box"] for r in sub], "ko-", label="exact (box)")
            for name in sorted({n for r in sub for n in r["uppers"]}):
                pts = [(r["depth"], r["uppers"][name]) for r in sub if name in r["uppers"]]
                # log10 of exact integers: the large bounds overflow no float
                ax.plot([p[0] for p in pts], [10 ** min(_log10(p[1]), 300) for p in pts], "--", label=name)
            ax.set_yscale("log")
            ax.set_title(f"{act}, width {w}")
            ax.set_xlabel("depth")
            ax.legend(fontsize=6)
        axes[0][0].set_ylabel("regions")
        fig.tight_layout()
        fig.savefig(ctx.figure_path("random_vs_bounds.png", "Exact counts of random networks (black) and the upper bounds"), dpi=120)
        plt.close(fig)

    # --------------------------------------------------------------- 4. 1-D density
    def _density(self, ctx: RunContext) -> None:
        from .. import expected as E

        quick = ctx.quick
        width = 8 if quick else 16
        depths = list(range(1, 7 if quick else 11))
        n_lines = 64 if quick else 200
        fits, series = {}, {}
        for init, bias in (("he", "gaussian"), ("default", "uniform")):
            rows = []
            for depth in depths:
                model = random_network("relu", 2, [width] * depth, seed=ctx.seed, init=init)
                meas = E.density_along_lines(model, n_lines, length=2.0, seed=ctx.seed, progress=ctx.progress).summary()
                pred = E.predict_density(model, seed=ctx.seed, bias_density=bias)
                rows.append({"depth": depth, "measured": meas["breakpoint_density_mean"],
                             "stderr": meas["breakpoint_density_sem"], "predicted": float(pred.density),
                             "predicted_upper": float(pred.upper)})
                series[init] = rows
                ctx.record("density_vs_depth", {"width": width, "n_lines": n_lines, "line_length": 2.0,
                                                "inits": series})
            d = torch.tensor(depths, dtype=torch.float64)
            y = torch.tensor([r["measured"] for r in rows], dtype=torch.float64)
            fits[init] = {"linear_r2": _r2(d, y), "exponential_r2": _exp_r2(d, y),
                          "slope_per_layer": _slope(d, y), "last_over_first": float(y[-1] / y[0])}
            ctx.record("density_fit", fits)
        he = fits["he"]
        L = depths[-1]
        ctx.compare(f"He init: 1-D density at depth {L} / depth 1 (width {width})",
                    paper=f"≈ {L} (linear in depth; exponential would be ~2^{L - 1})", ours=round(he["last_over_first"], 2),
                    agrees=he["last_over_first"] <= 1.5 * L, note="Goujon et al.; Hanin–Rolnick")
        ctx.compare("He init: R² of a line vs of an exponential through density(depth)", paper="the line fits",
                    ours=f"{he['linear_r2']:.3f} vs {he['exponential_r2']:.3f}", agrees=he["linear_r2"] >= he["exponential_r2"])
        dft = fits["default"]
        ctx.compare(f"PyTorch default init: 1-D density at depth {L} / depth 1", paper=f"≤ {L} (not exponential)",
                    ours=round(dft["last_over_first"], 2), agrees=dft["last_over_first"] <= 1.5 * L,
                    note="weights of scale 1/sqrt(fan_in) shrink the signal: the density saturates")
        for init, rows in series.items():
            lines = [f"Initialisation: {init}. Width {width}, {n_lines} random lines of length 2 through [-1, 1]², "
                     "breakpoints per unit length.", "",
                     "| depth | measured | ± s.e. | predicted (co-area estimate) | Hanin–Rolnick-type upper |",
                     "|---|---|---|---|---|"]
            for r in rows:
                lines.append(f"| {r['depth']} | {r['measured']:.2f} | {r['stderr']:.2f} | {r['predicted']:.2f} | "
                             f"{r['predicted_upper']:.2f} |")
            f = fits[init]
            lines += ["", f"Least-squares line: slope {f['slope_per_layer']:.2f} per layer, R² {f['linear_r2']:.3f}; "
                          f"exponential fit R² {f['exponential_r2']:.3f} (both measured on the densities themselves)."]
            ctx.section(f"Density of regions along random lines against depth ({init} init)", "\n".join(lines))
        plt = _pyplot()
        if plt is None:
            return
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax, (init, rows) in zip(axes, series.items(), strict=True):
            ax.errorbar(depths, [r["measured"] for r in rows], yerr=[r["stderr"] for r in rows], fmt="ko-",
                        label="measured (exact 1-D)")
            ax.plot(depths, [r["predicted"] for r in rows], "b--", label="predicted (co-area)")
            ax.plot(depths, [r["predicted_upper"] for r in rows], "r:", label="upper (peak bias density)")
            top = max(max(r["measured"] + r["stderr"], r["predicted"]) for r in rows)
            ax.set_ylim(0, 1.6 * top)  # the upper bound may run off the top: the measured line is the point
            ax.set_xlabel("depth")
            ax.set_ylabel("breakpoints per unit length")
            ax.set_title(f"ReLU, width {width}, {init} init")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(ctx.figure_path("density_vs_depth.png", "Exact 1-D density of regions against depth"), dpi=120)
        plt.close(fig)

    # ------------------------------------------------ 5. Tseran–Montúfar's reference run
    def _tseran_montufar_run(self, ctx: RunContext) -> None:
        import regionlab

        from .. import bounds as B
        from .. import expected as E

        seeds = list(range(ctx.seed, ctx.seed + (3 if ctx.quick else 20)))
        counts, fulls = [], []
        box = regionlab.Box([-3.0, -3.0], [3.0, 3.0])
        for seed in seeds:
            model = _tm_network(seed)
            counts.append(_box_count(model, (-3.0, -3.0), (3.0, 3.0)))
            const = E.estimate_constants(model, domain=box, seed=seed, bias_density="gaussian")
            fulls.append(E.tseran_montufar_regions(const, volume=36.0))
            ctx.record("tseran_montufar_reference_run", {"seeds": seeds[: len(counts)], "exact_regions": counts,
                                                          "tm_full_bound": fulls})
        asym = E.tseran_montufar_regions(form="asymptotic", num_units=20, rank=2, input_dim=2)
        upper = B.maxout_upper(2, [7, 7, 6], rank=2)
        c = torch.tensor(counts, dtype=torch.float64)
        mean, sd = float(c.mean()), float(c.std()) if len(counts) > 1 else 0.0
        note = (f"same architecture, init scale and box; {len(seeds)} of our seeds (their seed-123 draw is not "
                "reproducible here), biases N(0, 0.1²)")
        ctx.compare("Tseran–Montúfar run (n0=2, maxout 7-7-6, rank 2, [-3,3]²): exact regions", paper=216,
                    ours=f"{mean:.0f} ± {sd:.0f} (min {min(counts)}, max {max(counts)})", agrees=None, note=note)
        ctx.compare("  same: full expected-count bound with estimated constants", paper=107528470,
                    ours=f"{min(fulls):.3g} – {max(fulls):.3g}", agrees=None,
                    note="depends on the estimated c_bias, c_grad (their value: one draw)")
        ctx.compare("  same: asymptotic form (K N)^n0 C(K n0, 2 n0)/n0!", paper=800, ours=round(asym),
                    agrees=round(asym) == 800)
        ctx.compare("  same: every exact count ≤ the worst-case maxout bound", paper=f"≤ {upper:,}", ours=max(counts),
                    agrees=max(counts) <= upper)
        ctx.compare("  same: every exact count ≤ the full expected-count bound", paper="≤ bound", ours=True,
                    agrees=all(n <= f for n, f in zip(counts, fulls, strict=True)))


def _pyplot():
    """matplotlib.pyplot, or None without the plot extra (the numbers are still written)."""
    from .._optional import require

    try:
        return require("matplotlib.pyplot", "plot", "the bounds-vs-exact figures")
    except ImportError:
        return None


def _box_count(net, lo, hi) -> int:
    """Exact activation regions of a 2-input network in the box ``lo <= x <= hi``."""
    import regionlab

    part = regionlab.partition_plane(net, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], (lo[0], hi[0], lo[1], hi[1]),
                                     decision_boundary=False)
    return int(part.num_regions)


def _log10(n: int) -> float:
    """log10 of a positive (possibly huge) integer."""
    n = int(n)
    digits = len(str(n))
    if digits <= 300:
        return math.log10(n)
    return digits - 1 + math.log10(int(str(n)[:17]) / 10**16)


def _slope(x: torch.Tensor, y: torch.Tensor) -> float:
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


def _exp_r2(x: torch.Tensor, y: torch.Tensor) -> float:
    """R² (on ``y`` itself) of the exponential ``c r^x`` fitted by least squares on ``log y``."""
    X = torch.stack([torch.ones_like(x), x], 1)
    coef = torch.linalg.lstsq(X, torch.log(y).unsqueeze(1)).solution.squeeze(1)
    res = y - torch.exp(X @ coef)
    tot = ((y - y.mean()) ** 2).sum()
    return float(1.0 - (res ** 2).sum() / tot) if float(tot) > 0 else 1.0


def _r2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Coefficient of determination of the least-squares line through ``(x, y)``."""
    X = torch.stack([torch.ones_like(x), x], 1)
    coef = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)
    res = y - X @ coef
    tot = ((y - y.mean()) ** 2).sum()
    return float(1.0 - (res ** 2).sum() / tot) if float(tot) > 0 else 1.0
