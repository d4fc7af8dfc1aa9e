"""Mergeable region statistics (regionlab.stats) against numpy, networkx and real partitions."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from collections import Counter
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import regionlab
from regionlab.errors import InvalidParameterError, NumericalError, ShapeError
from regionlab.ir import CPWLNetwork, PiecewiseLinear
from regionlab.stats import (
    Accumulator,
    GraphStats,
    PathDensityStats,
    PiecesVsRegions,
    RegionCountStats,
    RegionStatistics,
    SizeStats,
    accumulator_from_state,
    degree_distribution,
    graph_diameter,
    graph_summary,
    merge_states,
    num_components,
    path_density_summary,
    pieces_vs_regions,
    region_count_summary,
    size_summary,
)
from regionlab.testing import zoo

# ------------------------------------------------------------------------------ helpers


def assert_close(a, b, path="result"):
    """Recursive comparison of to_dict() output: floats to 1e-9 relative, the rest exactly."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        if math.isnan(a):
            assert math.isnan(b), path
        else:
            assert b == pytest.approx(a, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def split(values, cuts):
    """``values`` cut at the sorted positions ``cuts`` (pieces may be empty)."""
    bounds = [0, *sorted(c % (len(values) + 1) for c in cuts), len(values)]
    return [values[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def merged_in_order(parts, order, make, feed):
    accs = [feed(make(), p) for p in parts]
    total = accs[order[0]]
    for i in order[1:]:
        total.merge(accs[i])
    return total


def sequential(parts, make, feed):
    acc = make()
    for p in parts:
        feed(acc, p)
    return acc


def population_std(values):
    return float(np.std(np.asarray(values, dtype=np.float64))) if len(values) else math.nan


def nx_graph(edges, n):
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((int(i), int(j)) for i, j in edges)
    return g


def nx_diameter(g):
    return max((nx.diameter(g.subgraph(c)) for c in nx.connected_components(g)), default=0)


counts_strategy = st.lists(
    st.tuples(st.integers(0, 400), st.floats(0.0, 1.0)), max_size=30
).map(lambda rows: [(r, int(math.floor(f * r))) for r, f in rows])

cuts_strategy = st.lists(st.integers(0, 10_000), max_size=3)


@st.composite
def graphs(draw, max_nodes=18):
    n = draw(st.integers(0, max_nodes))
    if n < 2:
        return [], n
    pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    return draw(st.lists(pair, max_size=3 * n)), n


@st.composite
def trees(draw, max_nodes=30):
    n = draw(st.integers(1, max_nodes))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    return [(p, i) for i, p in enumerate(parents, start=1)], n


sizes_strategy = st.lists(
    st.one_of(st.just(0.0), st.floats(-14.0, 4.0).map(lambda e: 10.0**e), st.sampled_from([1e-12, 1.0, 1e2, 0.5])),
    max_size=40,
)


# --------------------------------------------------------------------- RegionCountStats


@given(counts_strategy)
def test_region_counts_match_numpy(rows):
    regions = [r for r, _ in rows]
    pieces = [p for _, p in rows]
    res = RegionCountStats().update(regions, num_linear_pieces=pieces).compute()
    assert res.count == len(regions)
    assert res.total_regions == sum(regions) and res.total_pieces == sum(pieces)
    assert dict(res.histogram) == dict(Counter(regions))
    assert dict(res.pieces_histogram) == dict(Counter(pieces))
    if regions:
        assert res.mean == pytest.approx(np.mean(regions), rel=1e-12)
        assert res.std == pytest.approx(population_std(regions), rel=1e-9, abs=1e-9)
        assert (res.min, res.max) == (min(regions), max(regions))
        assert res.pieces.mean == pytest.approx(np.mean(pieces), rel=1e-12)
        assert res.pieces.std == pytest.approx(population_std(pieces), rel=1e-9, abs=1e-9)
    else:
        assert math.isnan(res.mean) and math.isnan(res.std) and math.isnan(res.max)
    if sum(regions):
        assert res.ratio == pytest.approx(sum(pieces) / sum(regions))
    else:
        assert math.isnan(res.ratio)


@given(counts_strategy, cuts_strategy, st.randoms(use_true_random=False))
def test_region_counts_merge_equals_sequential(rows, cuts, rnd):
    parts = split(rows, cuts)
    order = list(range(len(parts)))
    rnd.shuffle(order)

    def feed(acc, part):
        return acc.update([r for r, _ in part], num_linear_pieces=[p for _, p in part])

    for cls in (RegionCountStats, PiecesVsRegions):
        one = sequential(parts, cls, feed).compute()
        merged = merged_in_order(parts, order, cls, feed).compute()
        assert_close(one.to_dict(), merged.to_dict())
        # the same through plain states (all_gather_object / JSON) and through pickles
        states = [json.loads(json.dumps(feed(cls(), p).state_dict())) for p in parts]
        assert_close(one.to_dict(), merge_states(states).compute().to_dict())
        pickled = [pickle.loads(pickle.dumps(feed(cls(), p))) for p in parts]
        assert_close(one.to_dict(), merge_states(pickled).compute().to_dict())


@given(counts_strategy)
def test_pieces_vs_regions_matches_numpy(rows):
    regions = np.array([r for r, _ in rows], dtype=np.int64)
    pieces = np.array([p for _, p in rows], dtype=np.int64)
    res = pieces_vs_regions(regions, num_linear_pieces=torch.as_tensor(pieces))
    assert res.num_partitions == len(rows)
    assert res.num_with_merges == int((pieces < regions).sum())
    seen = regions > 0
    ratios = pieces[seen] / regions[seen]
    assert res.per_partition.count == int(seen.sum())
    if seen.any():
        assert res.per_partition.mean == pytest.approx(ratios.mean(), rel=1e-12)
        assert res.per_partition.std == pytest.approx(ratios.std(), rel=1e-9, abs=1e-12)
        assert res.ratio == pytest.approx(pieces.sum() / regions.sum())


# ----------------------------------------------------------------------------- SizeStats


def brute_bin(v, edges):
    """0: underflow, i: edges[i-1] <= v < edges[i], len(edges): overflow (by counting edges)."""
    return sum(1 for e in edges if e <= v)


@given(sizes_strategy)
def test_size_stats_match_numpy(values):
    levels = (0.0, 0.1, 0.5, 0.9, 1.0)
    res = size_summary(torch.tensor(values, dtype=torch.float64), kind="inradius", quantiles=levels)
    arr = np.asarray(values, dtype=np.float64)
    assert res.count == arr.size and res.quantiles_exact
    assert res.sum == pytest.approx(arr.sum(), rel=1e-12, abs=0)
    if arr.size:
        assert res.mean == pytest.approx(arr.mean(), rel=1e-12)
        assert res.std == pytest.approx(arr.std(), rel=1e-8, abs=1e-300)
        assert (res.min, res.max) == (arr.min(), arr.max())
        for (lv, got), want in zip(res.quantiles, np.quantile(arr, levels), strict=True):
            assert got == pytest.approx(want, rel=1e-12), lv
    else:
        assert all(math.isnan(v) for _, v in res.quantiles)
    h = res.histogram
    np.testing.assert_allclose(h.edges, np.logspace(-12, 2, 141), rtol=1e-12)
    want = Counter(brute_bin(v, h.edges) for v in values)
    assert h.underflow == want[0] and h.overflow == want[len(h.edges)]
    assert list(h.counts) == [want[i] for i in range(1, len(h.edges))]
    assert h.total == arr.size


@given(st.lists(st.one_of(st.just(0.0), st.floats(-12.0, 2.0).map(lambda e: 10.0**e)), min_size=1, max_size=60),
       st.floats(0.0, 1.0))
def test_histogram_quantile_lies_in_the_bin_of_the_order_statistic(values, q):
    stats = SizeStats("area", exact_limit=0, quantiles=(q,)).update(values)
    res = stats.compute()
    estimates = stats.quantile(np.linspace(0.0, 1.0, 11))
    assert (np.diff(estimates) >= 0).all() and estimates[0] == min(values) and estimates[-1] == max(values)
    assert not res.quantiles_exact
    est = res.quantiles[0][1]
    xs = np.sort(values)
    k = int(math.floor(q * (len(xs) - 1)))
    edges = res.histogram.edges
    b = brute_bin(xs[k], edges)
    lo = edges[b - 1] if b >= 1 else 0.0
    hi = edges[b] if b < len(edges) else math.inf
    assert max(lo, xs[0]) * (1 - 1e-12) <= est <= min(hi, xs[-1]) * (1 + 1e-12)
    # hence within one bin factor (10**0.1) of the exact quantile when both sit in one bin
    exact = float(np.quantile(xs, q))
    if brute_bin(xs[min(k + 1, len(xs) - 1)], edges) == b and exact > 0:
        assert abs(math.log10(est) - math.log10(exact)) <= 0.1 + 1e-9


def test_histogram_quantiles_on_degenerate_data():
    # all equal, zeros, values exactly on bin edges, under- and overflow
    same = SizeStats(exact_limit=0, quantiles=(0.0, 0.3, 1.0)).update([0.25] * 7).compute()
    assert [v for _, v in same.quantiles] == [0.25, 0.25, 0.25]
    zeros = SizeStats(exact_limit=0, quantiles=(0.5,)).update([0.0, 0.0, 0.0]).compute()
    assert zeros.quantiles == ((0.5, 0.0),) and zeros.histogram.underflow == 3
    on_edges = SizeStats(log10_range=(-2, 2), num_bins=4, exact_limit=0).update([0.01, 0.1, 1.0, 10.0, 100.0])
    assert on_edges.compute().histogram.counts == (1, 1, 1, 1)
    assert on_edges.compute().histogram.overflow == 1
    wide = SizeStats(log10_range=(-1, 1), num_bins=2, exact_limit=0).update([1e-5, 1e-4, 1e4, 1e5])
    assert wide.quantile(0.0) == 1e-5 and wide.quantile(1.0) == 1e5
    assert 1e-5 <= wide.quantile(0.25) <= 0.1 and 10.0 <= wide.quantile(0.75) <= 1e5


def test_size_stats_switch_from_exact_to_histogram():
    stats = SizeStats("length", exact_limit=5, quantiles=(0.5,))
    stats.update([1.0, 2.0, 3.0])
    assert stats.compute().quantiles_exact and stats.quantile(0.5) == 2.0
    stats.update([4.0, 5.0, 6.0])
    res = stats.compute()
    assert not res.quantiles_exact and res.count == 6 and res.sum == 21.0
    assert 3.0 <= res.quantiles[0][1] <= 4.0  # between the 2nd and 3rd order statistics' bins
    # two exact halves whose union is over the limit merge into a histogram-only state
    a = SizeStats("length", exact_limit=5, quantiles=(0.5,)).update([1.0, 2.0, 3.0])
    b = SizeStats("length", exact_limit=5, quantiles=(0.5,)).update([4.0, 5.0, 6.0])
    assert_close(a.merge(b).compute().to_dict(), res.to_dict())


@given(sizes_strategy, cuts_strategy, st.randoms(use_true_random=False), st.sampled_from([0, 10, 1000]))
def test_size_merge_equals_sequential(values, cuts, rnd, limit):
    parts = split(values, cuts)
    order = list(range(len(parts)))
    rnd.shuffle(order)

    def make():
        return SizeStats("volume", exact_limit=limit)

    def feed(acc, part):
        return acc.update(part)

    one = sequential(parts, make, feed).compute()
    merged = merged_in_order(parts, order, make, feed).compute()
    assert_close(one.to_dict(), merged.to_dict())
    assert one.quantiles_exact == (0 < limit and len(values) <= limit)
    states = [json.loads(json.dumps(feed(make(), p).state_dict())) for p in parts]
    assert_close(one.to_dict(), merge_states(states).compute().to_dict())


# ---------------------------------------------------------------------------- GraphStats


@given(graphs())
def test_graph_functions_match_networkx(graph):
    edges, n = graph
    g = nx_graph(edges, n)
    assert degree_distribution(edges, n) == Counter(dict(g.degree()).values())
    assert num_components(torch.tensor(edges, dtype=torch.long).reshape(-1, 2), n) == nx.number_connected_components(g)
    assert graph_diameter(edges, n) == (nx_diameter(g), True)
    bound = graph_diameter(edges, n, exact_limit=0)
    assert bound.exact == (g.number_of_edges() == 0) and bound.value <= nx_diameter(g)
    res = graph_summary(edges, num_regions=n)
    assert res.total_edges == g.number_of_edges() and res.total_nodes == n
    assert dict(res.degree_histogram) == dict(Counter(dict(g.degree()).values()))


@given(trees())
def test_double_sweep_is_exact_on_trees(tree):
    edges, n = tree
    value, exact = graph_diameter(edges, n, exact_limit=0)
    assert exact == (n == 1) and value == nx_diameter(nx_graph(edges, n))


@given(st.lists(graphs(max_nodes=10), max_size=6), cuts_strategy, st.randoms(use_true_random=False))
def test_graph_stats_pool_and_merge(graph_list, cuts, rnd):
    def feed(acc, part):
        for edges, n in part:
            acc.update(edges, num_regions=n)
        return acc

    one = feed(GraphStats(), graph_list).compute()
    degrees = [d for edges, n in graph_list for _, d in nx_graph(edges, n).degree()]
    diameters = [nx_diameter(nx_graph(e, n)) for e, n in graph_list]
    comps = [nx.number_connected_components(nx_graph(e, n)) for e, n in graph_list]
    assert one.num_graphs == len(graph_list) and one.diameter_exact
    assert dict(one.degree_histogram) == dict(Counter(degrees))
    assert dict(one.diameter_histogram) == dict(Counter(diameters))
    assert dict(one.components_histogram) == dict(Counter(comps))
    if degrees:
        assert one.mean_degree == pytest.approx(np.mean(degrees))
        assert one.degrees.std == pytest.approx(population_std(degrees), abs=1e-12)
    parts = split(graph_list, cuts)
    order = list(range(len(parts)))
    rnd.shuffle(order)
    assert merged_in_order(parts, order, GraphStats, feed).compute() == one  # integer data: exact


def test_graph_input_normalisation_and_lower_bounds():
    # duplicates and both orientations count once; isolated nodes have degree 0
    res = graph_summary(np.array([[1, 0], [0, 1], [0, 1], [2, 1]]), num_regions=5)
    assert res.total_edges == 2 and res.degree_histogram == ((0, 2), (1, 2), (2, 1))
    assert res.components.max == 3 and res.diameter.max == 2
    # empty graphs
    assert graph_diameter(torch.zeros((0, 2), dtype=torch.long), 0) == (0, True)
    assert graph_summary([], num_regions=3).degree_histogram == ((0, 3),)
    # above the limit: flagged lower bounds, counted
    cycle = [(i, (i + 1) % 9) for i in range(9)]
    stats = GraphStats(exact_diameter_limit=5).update(cycle, num_regions=9).update([(0, 1)], num_regions=2)
    res = stats.compute()
    assert res.num_lower_bounds == 1 and not res.diameter_exact
    assert res.diameter.max <= 4  # the 9-cycle's diameter
    with pytest.raises(InvalidParameterError, match="configured differently"):
        stats.merge(GraphStats())


# --------------------------------------------------------------------- real partitions

BOXES = [(-1, 1, -1, 1), (0.0, 0.5, -0.2, 0.3), (-2, 2, -2, 2)]


@pytest.fixture(scope="module")
def plane_parts():
    parts = []
    for model in (zoo.mlp((2, 8, 8, 1)), zoo.dead_neurons(), zoo.duplicate_neurons(), zoo.zero_weights()):
        for box in BOXES:
            parts.append(regionlab.partition_plane(model, [0.0, 0.0], [1.0, 0.0], [0.0, 1.0], box))
    return parts


def test_plane_partitions(plane_parts):
    stats = RegionStatistics(
        [RegionCountStats(), SizeStats("area"), SizeStats("volume"), GraphStats(), PiecesVsRegions()]
    )
    for part in plane_parts:
        stats.update(part)
    res = stats.compute()
    regions = [p.num_regions for p in plane_parts]
    pieces = [p.num_linear_pieces for p in plane_parts]
    counts = res["region_counts"]
    assert dict(counts.histogram) == dict(Counter(regions))
    assert counts.mean == pytest.approx(np.mean(regions)) and counts.std == pytest.approx(np.std(regions))
    assert counts.ratio == pytest.approx(sum(pieces) / sum(regions))
    areas = np.concatenate([p.areas.numpy() for p in plane_parts])
    sizes = res["area_sizes"]
    assert sizes.count == areas.size and sizes.min == areas.min()
    domain = sum((b[1] - b[0]) * (b[3] - b[2]) for b in BOXES) * 4
    assert sizes.sum == pytest.approx(domain, rel=1e-9)  # the regions tile every box
    assert_close(sizes.to_dict() | {"kind": "volume"}, res["volume_sizes"].to_dict())
    for q, v in sizes.quantiles:
        assert v == pytest.approx(np.quantile(areas, q), rel=1e-12)
    graph = res["graph"]
    degrees = Counter()
    diameters = Counter()
    for p in plane_parts:
        g = nx_graph(p.adjacency.tolist(), p.num_regions)
        assert nx.is_connected(g)  # the regions of a convex domain are connected through edges
        degrees.update(dict(g.degree()).values())
        diameters[nx.diameter(g)] += 1
    assert dict(graph.degree_histogram) == dict(degrees) and dict(graph.diameter_histogram) == dict(diameters)
    assert graph.components_histogram == ((1, len(plane_parts)),)
    pvr = res["pieces_vs_regions"]
    assert pvr.total_pieces == sum(pieces) and pvr.num_with_merges == sum(p < r for p, r in zip(pieces, regions, strict=True))
    assert pvr.num_with_merges >= 3  # the zero-weight network is one affine piece on every box
    # pickled and JSON states reproduce the result
    assert_close(res.to_dict(), pickle.loads(pickle.dumps(stats)).compute().to_dict())
    again = accumulator_from_state(json.loads(json.dumps(stats.state_dict())))
    assert_close(res.to_dict(), again.compute().to_dict())


def test_collection_merge_equals_sequential(plane_parts):
    def make():
        return RegionStatistics({"n": RegionCountStats(), "a": SizeStats("area", exact_limit=40), "g": GraphStats()})

    def feed(acc, part):
        for p in part:
            acc.update(p)
        return acc

    one = feed(make(), plane_parts).compute()
    halves = [feed(make(), plane_parts[:5]), feed(make(), plane_parts[5:9]), feed(make(), plane_parts[9:])]
    merged = halves[2].merge(halves[0]).merge(halves[1]).compute()
    assert_close(one.to_dict(), merged.to_dict())
    assert not one["a"].quantiles_exact  # more areas than exact_limit
    with pytest.raises(InvalidParameterError):
        make().merge(RegionStatistics({"n": RegionCountStats()}))


def test_segment_and_path_partitions():
    model = zoo.mlp((2, 8, 8, 1))
    gen = torch.Generator().manual_seed(3)
    starts = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    ends = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    ends[2] = starts[2]  # a zero-length segment: no density
    batch = regionlab.partition_segment(model, starts, ends)
    dens = PathDensityStats().update(batch).compute()
    d, bd = batch.densities.numpy(), batch.breakpoint_densities.numpy()
    keep = ~np.isnan(d)
    assert dens.skipped == 1 and dens.density.count == 5
    assert dens.density.mean == pytest.approx(d[keep].mean()) and dens.density.std == pytest.approx(d[keep].std())
    assert dens.breakpoint_density.max == pytest.approx(bd[keep].max())
    lengths = batch.lengths.numpy()
    assert dens.pooled_density == pytest.approx(batch.num_regions.numpy()[keep].sum() / lengths.sum())
    assert dens.density_histogram.total == 5
    # per-segment objects give the same statistics as the batch
    singles = PathDensityStats()
    for seg in batch:
        singles.update(seg)
    assert_close(dens.to_dict(), singles.compute().to_dict())
    # region lengths tile every segment
    sizes = SizeStats("length").update(batch).compute()
    assert sizes.count == int(batch.num_regions.sum()) and sizes.sum == pytest.approx(lengths.sum())
    per_segment = [SizeStats("length").update(seg).compute().sum for seg in batch]
    np.testing.assert_allclose(per_segment, lengths, rtol=1e-12, atol=1e-15)
    # a closed path whose first and last pieces are one region
    net = CPWLNetwork.sequential((2,), [PiecewiseLinear.relu()])
    path = regionlab.partition_path(net, [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], closed=True)
    assert path.wraps
    res = path_density_summary([path, path])
    assert res.density.mean == path.density == 0.5 and res.breakpoint_density.mean == path.breakpoint_density
    loop = SizeStats("length").update(path).compute()
    assert loop.count == 4 and loop.sum == pytest.approx(8.0) and loop.min == pytest.approx(2.0)
    counts = region_count_summary(batch)
    assert counts.count == 6 and dict(counts.histogram) == dict(Counter(batch.num_regions.tolist()))
    assert not GraphStats().supports(batch) and not SizeStats("area").supports(path)
    assert PathDensityStats().supports(path) and not PathDensityStats().supports(path.legs)


def test_polytope_like_partitions():
    part = SimpleNamespace(num_regions=3, num_linear_pieces=2, volumes=torch.tensor([0.5, 0.25, 0.25]),
                           inradii=torch.tensor([0.2, 0.1, 0.1]), adjacency=torch.tensor([[0, 1], [1, 2]]), dim=2)
    assert size_summary(part, kind="volume").sum == 1.0
    assert size_summary(part, kind="area").sum == 1.0  # dim 2: volumes are areas
    assert size_summary([part, part], kind="inradius").count == 6
    high = SimpleNamespace(**{**vars(part), "volumes": None, "dim": 12})
    with pytest.raises(InvalidParameterError, match="inradius"):
        SizeStats("volume").update(high)
    assert not SizeStats("area").supports(high)
    stats = RegionStatistics([SizeStats("volume"), SizeStats("inradius"), GraphStats()], skip_unsupported=True)
    stats.update(high)
    assert stats.compute()["volume_sizes"].count == 0 and stats.compute()["inradius_sizes"].count == 3


# ------------------------------------------------------------------------ typed errors


def test_bad_input_raises_typed_errors():
    with pytest.raises(InvalidParameterError, match="Cannot merge a SizeStats into a RegionCountStats"):
        RegionCountStats().merge(SizeStats())
    with pytest.raises(InvalidParameterError, match="configured differently"):
        SizeStats("area").merge(SizeStats("volume"))
    with pytest.raises(InvalidParameterError, match="configured differently"):
        SizeStats(num_bins=10).merge(SizeStats(num_bins=20))
    with pytest.raises(ShapeError):
        SizeStats().update(np.ones((2, 2)))
    with pytest.raises(ShapeError):
        GraphStats().update(np.zeros((3, 3), dtype=np.int64), num_regions=4)
    with pytest.raises(ShapeError):
        RegionCountStats().update([1, 2], num_linear_pieces=[1])
    with pytest.raises(ShapeError):
        PathDensityStats().update([1, 2], lengths=[1.0])
    with pytest.raises(InvalidParameterError, match="non-negative"):
        SizeStats().update([1.0, -0.5])
    with pytest.raises(NumericalError):
        SizeStats().update([1.0, float("nan")])
    with pytest.raises(InvalidParameterError, match="cannot exceed"):
        RegionCountStats().update(3, num_linear_pieces=4)
    with pytest.raises(InvalidParameterError, match="whole numbers"):
        RegionCountStats().update(2.5, num_linear_pieces=2)
    with pytest.raises(InvalidParameterError, match="num_linear_pieces"):
        RegionCountStats().update([3])
    with pytest.raises(InvalidParameterError, match="itself"):
        graph_diameter([[1, 1]], 2)
    with pytest.raises(InvalidParameterError, match="outside"):
        degree_distribution([[0, 5]], 3)
    with pytest.raises(InvalidParameterError, match="num_regions"):
        GraphStats().update([[0, 1]])
    with pytest.raises(InvalidParameterError, match="no adjacency|has none"):
        GraphStats().update(SimpleNamespace(num_regions=2, num_linear_pieces=2))
    with pytest.raises(InvalidParameterError, match="Unknown size kind"):
        SizeStats("perimeter")
    with pytest.raises(InvalidParameterError, match="log10_range"):
        SizeStats(log10_range=(2, -2))
    with pytest.raises(InvalidParameterError, match="lie in"):
        SizeStats(quantiles=(1.5,))
    with pytest.raises(InvalidParameterError, match="not computed"):
        size_summary([1.0], quantiles=(0.5,)).quantile(0.25)
    with pytest.raises(InvalidParameterError, match="lengths"):
        PathDensityStats().update([3])
    with pytest.raises(InvalidParameterError, match="distinct names"):
        RegionStatistics([SizeStats("area"), SizeStats("area")])
    with pytest.raises(InvalidParameterError):
        RegionStatistics([])
    with pytest.raises(InvalidParameterError, match="at least one"):
        merge_states([])
    # states: wrong kind, unknown kind, version, malformed
    state = RegionCountStats().update(3, num_linear_pieces=3).state_dict()
    with pytest.raises(InvalidParameterError, match="not a SizeStats"):
        SizeStats.from_state(state)
    with pytest.raises(InvalidParameterError, match="Unknown statistics kind"):
        Accumulator.from_state({**state, "kind": "Nope"})
    with pytest.raises(InvalidParameterError, match="version"):
        Accumulator.from_state({**state, "version": 99})
    with pytest.raises(InvalidParameterError, match="malformed"):
        Accumulator.from_state({**state, "state": {}})
    bad_hist = SizeStats().update([1.0]).state_dict()
    bad_hist["state"]["histogram"] = [1, 2, 3]
    with pytest.raises(InvalidParameterError, match="histogram state"):
        Accumulator.from_state(bad_hist)
    # a refused update leaves every member of a collection unchanged
    stats = RegionStatistics([RegionCountStats(), GraphStats()])
    with pytest.raises(InvalidParameterError, match="skip_unsupported"):
        stats.update(SimpleNamespace(num_regions=2, num_linear_pieces=2))
    assert stats.compute()["region_counts"].count == 0


def test_results_are_frozen_and_accumulators_reset():
    stats = SizeStats("area").update([1.0, 2.0])
    res = stats.compute()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.count = 5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(res)) == res
    assert json.loads(json.dumps(res.to_dict()))["count"] == 2
    before = stats.state_dict()
    assert stats.merge(stats).compute().count == 4  # merging with itself doubles
    assert before["state"]["moments"][0] == 2
    stats.reset()
    empty = stats.compute()
    assert empty.count == 0 and empty.sum == 0.0 and math.isnan(empty.mean) and empty.histogram.total == 0
    assert stats.state_dict()["config"] == before["config"]


def test_all_gather_object_round_trip(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or dist.is_initialized():
        pytest.skip("torch.distributed unavailable or already initialised")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        local = RegionStatistics([RegionCountStats(), PathDensityStats()])
        local["region_counts"].update([4, 5], num_linear_pieces=[4, 4])
        local["path_density"].update([4, 5], lengths=[1.0, 2.0])
        gathered = [None]
        dist.all_gather_object(gathered, local.state_dict())
    finally:
        dist.destroy_process_group()
    total = merge_states(gathered).compute()
    assert total["region_counts"].histogram == ((4, 1), (5, 1))
    assert total["path_density"].pooled_density == 3.0
