"""regionlab.distributed.map_points: serial == process == ray, order, errors, interrupts.

The exact computation mapped over points is the partition of the segment between each
point and a fixed point by a one-hidden-layer ReLU network. Its region count has a
closed form, computed here in exact rational arithmetic (independent of the engine):
one plus the number of distinct parameters ``t`` in (0, 1) at which some unit's
pre-activation changes sign strictly. Duplicate and zero units, segments inside a
switching line, segments ending on one and zero-length segments are included.
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
import sys
import time
import types
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import regionlab
from regionlab import distributed
from regionlab.distributed import chunk_bounds, map_points, shutdown_local_ray
from regionlab.errors import InvalidParameterError, MissingDependencyError, ShapeError
from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear

DT = torch.float64
HAVE_RAY = importlib.util.find_spec("ray") is not None
# skipped only when ray cannot be imported; `make test` runs the tests marked `ray` in a
# pytest process of their own after the parallel run, so that one Ray instance serves
# them all and no xdist worker is a Ray driver (two local Ray instances on two cores,
# and a crashing driver taking an xdist worker down, are both avoided)
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install regionlab[ray])")
on_one_ray_worker = pytest.mark.ray

# hidden units (w1, w2, b): integer hyperplanes, including a duplicate, a parallel
# one, a zero unit and a unit through the fixed end point
HIDDEN = [(1, 0, 0), (0, 1, 0), (1, 0, 0), (1, 0, -1), (1, 1, -1), (0, 0, 0), (2, -1, 0), (-1, 2, 1)]
END = (0.5, 1.0)  # on the unit 2 x - y = 0


def make_network() -> CPWLNetwork:
    W = torch.tensor([h[:2] for h in HIDDEN], dtype=DT)
    b = torch.tensor([h[2] for h in HIDDEN], dtype=DT)
    out = torch.arange(1, len(HIDDEN) + 1, dtype=DT).reshape(1, -1)
    return CPWLNetwork.sequential((2,), [Dense(W, b), PiecewiseLinear.relu(), Dense(out)])


def oracle_region_count(start) -> int:
    """Regions of the segment start -> END: 1 + distinct strict sign changes (exact)."""
    a = [Fraction(float(v)) for v in start]
    e = [Fraction(v) for v in END]
    roots = set()
    for w1, w2, c in HIDDEN:
        g0 = w1 * a[0] + w2 * a[1] + c
        g1 = w1 * e[0] + w2 * e[1] + c
        if g0 * g1 < 0:
            roots.add(g0 / (g0 - g1))
    return 1 + len(roots)


def make_points() -> torch.Tensor:
    """Random dyadic points plus degenerate ones (on lines, at END, on a unit through END)."""
    rng = np.random.default_rng(0)
    random = rng.integers(-16, 17, size=(13, 2)) / 8.0
    special = np.array([
        [0.0, 0.0],   # on three lines at once
        [0.5, 1.0],   # END itself: zero-length segment
        [1.0, 2.0],   # on the line 2 x - y = 0 through END: the segment lies inside it
        [0.0, 1.0],   # on x = 0 and x + y = 1
        [-1.0, 1.0],  # crosses two lines at the same t
        [1.0, -0.5],
        [0.5, 1.0],   # a duplicate point
    ])
    return torch.tensor(np.concatenate([random, special]), dtype=DT)


NET = make_network()
POINTS = make_points()
EXPECTED = torch.tensor([oracle_region_count(p) for p in POINTS.tolist()])


# ------------------------------------------------------ picklable functions to map


def segment_region_counts(starts, *, network, end):
    """Exact region counts of the segments starts[i] -> end, as a tensor."""
    return regionlab.partition_segment(network, starts, end).num_regions


@dataclass(frozen=True)
class Tally:
    """A mergeable result: region counts, breakpoint positions and chunk offsets seen."""

    counts: tuple
    breakpoints: tuple
    offsets: tuple

    def merge(self, other: Tally) -> Tally:
        return Tally(self.counts + other.counts, self.breakpoints + other.breakpoints, self.offsets + other.offsets)


def segment_tally(starts, *, network, end, offset):
    part = regionlab.partition_segment(network, starts, end)
    return Tally(
        tuple(int(n) for n in part.num_regions),
        tuple(tuple(p.breakpoints.tolist()) for p in part),
        (offset,),
    )


def counts_and_tally(starts, *, network, end, offset):
    return segment_region_counts(starts, network=network, end=end), segment_tally(
        starts, network=network, end=end, offset=offset
    )


@dataclass(frozen=True)
class Rows:
    """A result joined by a classmethod concat."""

    rows: tuple

    @classmethod
    def concat(cls, parts):
        return cls(tuple(r for p in parts for r in p.rows))


def first_coordinate_rows(chunk, offset):
    return Rows(tuple((offset + j, float(x)) for j, x in enumerate(chunk[:, 0])))


def index_and_offsets(chunk, offset):
    """The first coordinate (the point's index) and, per point, its chunk's offset."""
    return chunk[:, 0].clone(), [offset] * len(chunk)


def seeded_noise(chunk, *, seed, offset):
    """Randomness seeded per point index, so that chunking cannot change it."""
    rows = []
    for j in range(len(chunk)):
        gen = torch.Generator().manual_seed(seed + offset + j)
        rows.append(torch.rand(3, generator=gen, dtype=DT))
    return torch.stack(rows) + chunk[:, :1]


def sleep_after_first_chunk(chunk, offset):
    if offset > 0:
        time.sleep(30.0)  # interrupted long before this ends
    return chunk[:, 0].clone()


def started_then_working(chunk, offset, marks, blocking):
    """Chunk 0 returns; the others mark that they started, then work for 30 s.

    ``blocking``: in one C-level sleep (only a forced cancel stops it), else in Python
    steps (a plain cancel interrupts them).
    """
    if offset > 0:
        (Path(marks) / f"{offset}").touch()
        if blocking:
            time.sleep(30.0)
        else:
            for _ in range(3000):
                time.sleep(0.01)
    return chunk[:, 0].clone()


def interrupt_at_chunk_two(chunk, offset, chunk_size):
    if offset == 2 * chunk_size:
        raise KeyboardInterrupt
    return chunk[:, 0].clone()


INDEXED = torch.stack([torch.arange(11, dtype=DT), torch.zeros(11, dtype=DT)], dim=1)


# ------------------------------------------------------------------- chunking


@settings(max_examples=60)
@given(st.integers(1, 500), st.one_of(st.none(), st.integers(1, 600)))
def test_chunk_bounds_cover_the_batch_in_order(B, chunk_size):
    bounds = chunk_bounds(B, chunk_size)
    assert bounds[0][0] == 0 and bounds[-1][1] == B
    assert all(prev[1] == nxt[0] for prev, nxt in zip(bounds, bounds[1:], strict=False))
    sizes = [stop - start for start, stop in bounds]
    assert all(s >= 1 for s in sizes)
    size = chunk_size if chunk_size is not None else -(-B // distributed.DEFAULT_MAX_CHUNKS)
    assert all(s == size for s in sizes[:-1]) and sizes[-1] <= size
    if chunk_size is None:
        assert len(bounds) <= distributed.DEFAULT_MAX_CHUNKS


# -------------------------------------------------------------------- serial


def test_engine_direct_call_matches_closed_form_oracle():
    got = segment_region_counts(POINTS, network=NET, end=END)
    assert got.tolist() == EXPECTED.tolist()
    assert EXPECTED.min() == 1 and EXPECTED.max() >= 4  # degenerate and busy segments both present


@settings(max_examples=15)
@given(st.integers(1, 25))
def test_serial_matches_closed_form_oracle_for_any_chunk_size(chunk_size):
    got = map_points(segment_region_counts, POINTS, chunk_size=chunk_size, network=NET, end=END)
    assert got.tolist() == EXPECTED.tolist()
    tally = map_points(segment_tally, POINTS, chunk_size=chunk_size, network=NET, end=END)
    assert list(tally.counts) == EXPECTED.tolist()
    assert tally.offsets == tuple(s for s, _ in chunk_bounds(len(POINTS), chunk_size))


def test_serial_joins_lists_tuples_arrays_concat_and_none():
    idx, offs = map_points(index_and_offsets, INDEXED, chunk_size=4)
    assert idx.tolist() == list(range(11))
    assert offs == [0] * 4 + [4] * 4 + [8] * 3
    rows = map_points(first_coordinate_rows, INDEXED, chunk_size=3)
    assert rows.rows == tuple((i, float(i)) for i in range(11))
    arr = map_points(lambda c: c.numpy() * 2, INDEXED, chunk_size=5)
    assert isinstance(arr, np.ndarray) and arr[:, 0].tolist() == [2.0 * i for i in range(11)]
    assert map_points(lambda c: None, INDEXED, chunk_size=5) is None


def test_serial_progress_bar_counts_chunks(capsys):
    out = map_points(index_and_offsets, INDEXED, chunk_size=4, progress=True)
    assert out[0].tolist() == list(range(11))
    err = capsys.readouterr().err
    assert "map_points[serial]" in err and "3/3" in err


def test_randomness_seeded_per_point_does_not_depend_on_chunking():
    ref = map_points(seeded_noise, INDEXED, chunk_size=1, seed=7)
    for cs in (2, 5, 11):
        assert torch.equal(map_points(seeded_noise, INDEXED, chunk_size=cs, seed=7), ref)
    assert not torch.equal(map_points(seeded_noise, INDEXED, chunk_size=3, seed=8), ref)


# --------------------------------------------------------------------- process


def test_process_backend_equals_serial_on_exact_partitions_and_merges():
    # one pool (each spawned worker imports torch, which is what costs time): a function
    # returning (tensor, mergeable) exercises both joins; uneven chunks 3 x 6 + 2
    fn = functools.partial(counts_and_tally, network=NET)
    counts, tally = map_points(fn, POINTS, backend="process", chunk_size=3, num_workers=2, end=END)
    serial_counts, serial_tally = map_points(fn, POINTS, chunk_size=3, end=END)
    assert counts.tolist() == serial_counts.tolist() == EXPECTED.tolist()
    assert tally == serial_tally
    assert tally.offsets == tuple(range(0, 20, 3)) and list(tally.counts) == EXPECTED.tolist()


def test_process_backend_interrupt_stops_workers_and_returns_prefix(monkeypatch):
    real_wait = distributed._wait_futures
    calls = []

    def wait_then_interrupt(*args, **kwargs):
        calls.append(time.perf_counter())
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(distributed, "_wait_futures", wait_then_interrupt)
    with pytest.warns(RuntimeWarning, match="first 3 of 11 points"):
        got = map_points(sleep_after_first_chunk, INDEXED, backend="process", chunk_size=3,
                         num_workers=1, on_interrupt="return")
    assert got.tolist() == [0.0, 1.0, 2.0]
    assert time.perf_counter() - calls[-1] < 15.0  # the sleeping worker was terminated


# ------------------------------------------------------------------------- ray


@pytest.fixture(scope="module")
def ray_session():
    import ray

    repo_root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level="warning",
        log_to_driver=False,
        # the workers import this test module (tests.test_distributed) by name
        runtime_env={"env_vars": {"PYTHONPATH": repo_root}},
    )
    yield ray
    ray.shutdown()


@needs_ray
@on_one_ray_worker
def test_ray_backend_equals_serial_and_process(ray_session):
    got = map_points(segment_region_counts, POINTS, backend="ray", chunk_size=3, network=NET, end=END)
    assert got.tolist() == EXPECTED.tolist()
    tally = map_points(segment_tally, POINTS, backend="ray", chunk_size=4, network=NET, end=END)
    assert tally == map_points(segment_tally, POINTS, chunk_size=4, network=NET, end=END)
    rows = map_points(first_coordinate_rows, INDEXED, backend="ray", chunk_size=3, num_workers=1)
    assert rows.rows == tuple((i, float(i)) for i in range(11))
    idx, offs = map_points(index_and_offsets, INDEXED, backend="ray", chunk_size=4)
    assert idx.tolist() == list(range(11)) and offs == [0] * 4 + [4] * 4 + [8] * 3
    noise = map_points(seeded_noise, INDEXED, backend="ray", chunk_size=5, seed=7)
    assert torch.equal(noise, map_points(seeded_noise, INDEXED, chunk_size=2, seed=7))
    # Ray pickles lambdas by value, unlike the process backend
    doubled = map_points(lambda c: c[:, 0] * 2, INDEXED, backend="ray", chunk_size=5)
    assert doubled.tolist() == [2.0 * i for i in range(11)]
    # the user's instance is used as it is and not shut down by the helper
    assert shutdown_local_ray() is False and ray_session.is_initialized()


@needs_ray
@on_one_ray_worker
def test_ray_backend_propagates_errors_of_fn(ray_session, monkeypatch):
    def bad(chunk):
        raise ShapeError("bad chunk")

    cancels = []
    real_cancel = ray_session.cancel

    def spy_cancel(ref, **kwargs):
        cancels.append(kwargs)
        return real_cancel(ref, **kwargs)

    monkeypatch.setattr(ray_session, "cancel", spy_cancel)
    with pytest.raises(ShapeError, match="bad chunk"):
        map_points(bad, INDEXED, backend="ray", chunk_size=4)
    # the other chunks are finishing: a cancel racing their completion crashes Ray's
    # driver (a RAY_CHECK in its task manager), so a failed map cancels nothing
    assert cancels == []


def _interrupted_ray_map(ray_session, monkeypatch, marks: Path, *, blocking: bool):
    """Ctrl-C in the driver's second wait, once two chunks are surely running.

    Checks the returned prefix and that the session is usable after; returns the
    seconds from the interrupt to the return and the spied cancels (ref, force).
    Waiting for the chunks' own marks keeps the interrupt away from a task's dispatch
    or completion, the moments at which Ray's cancel is racy.
    """
    real_wait, real_cancel = ray_session.wait, ray_session.cancel
    calls, cancels = [], []

    def wait_then_interrupt(refs, **kwargs):
        if len(calls) == 1:
            deadline = time.monotonic() + 60.0
            while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            calls.append(time.perf_counter())
            raise KeyboardInterrupt
        calls.append(time.perf_counter())
        return real_wait(refs, **kwargs)

    def spy_cancel(ref, **kwargs):
        cancels.append((ref.hex(), kwargs.get("force", False)))
        return real_cancel(ref, **kwargs)

    monkeypatch.setattr(ray_session, "wait", wait_then_interrupt)
    monkeypatch.setattr(ray_session, "cancel", spy_cancel)
    with pytest.warns(RuntimeWarning, match="first 3 of 11 points"):
        got = map_points(started_then_working, INDEXED, backend="ray", chunk_size=3,
                         num_workers=2, on_interrupt="return", marks=str(marks), blocking=blocking)
    elapsed = time.perf_counter() - calls[1]
    assert got.tolist() == [0.0, 1.0, 2.0]
    monkeypatch.undo()
    # killed workers are replaced: the session is usable again
    assert map_points(index_and_offsets, INDEXED, backend="ray", chunk_size=6)[0].tolist() == list(range(11))
    return elapsed, cancels


@needs_ray
@on_one_ray_worker
def test_ray_interrupt_stops_running_python_tasks_without_force(ray_session, monkeypatch, tmp_path):
    elapsed, cancels = _interrupted_ray_map(ray_session, monkeypatch, tmp_path, blocking=False)
    # the three chunks that had not finished (two running, one queued), each cancelled
    # once and never forced: the plain cancel interrupts Python code
    assert len({ref for ref, _ in cancels}) == 3 and len(cancels) == 3
    assert not any(force for _, force in cancels)
    assert elapsed < 4.0  # stopped, not awaited (they work 30 s)


@needs_ray
@on_one_ray_worker
def test_ray_interrupt_forces_tasks_blocked_in_c(ray_session, monkeypatch, tmp_path):
    elapsed, cancels = _interrupted_ray_map(ray_session, monkeypatch, tmp_path, blocking=True)
    plain = {ref for ref, force in cancels if not force}
    forced = {ref for ref, force in cancels if force}
    # the queued chunk ends on the plain cancel; the two sleeping in C are forced
    assert len(plain) == 3 and len(forced) == 2 and forced < plain
    assert distributed._FORCE_CANCEL_AFTER_S <= elapsed < distributed._FORCE_CANCEL_AFTER_S + 10.0


# ------------------------------------------------------------- ray without ray


def test_ray_missing_gives_missing_dependency_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(MissingDependencyError, match=r"regionlab\[ray\]"):
        map_points(index_and_offsets, INDEXED, backend="ray")
    with pytest.raises(ImportError):
        map_points(index_and_offsets, INDEXED, backend="ray")


class FakeRef:
    """A finished fake task: its result."""

    def __init__(self, value):
        self.value = value


class FakeRay(types.ModuleType):
    """Just enough of ray's API to run map_points serially and record init calls."""

    def __init__(self):
        super().__init__("ray")
        self.inits, self.initialized, self.store = [], False, {}

    def is_initialized(self):
        return self.initialized

    def init(self, address=None, **kwargs):
        self.inits.append({"address": address, **kwargs})
        self.initialized = True

    def shutdown(self):
        self.initialized = False

    def cluster_resources(self):
        return {"CPU": 3.0}

    def put(self, value):
        key = f"obj{len(self.store)}"
        ref = types.SimpleNamespace(hex=lambda: key)
        self.store[key] = value
        return ref

    def remote(self, num_cpus):
        assert num_cpus == 1

        class Remote:
            def __init__(self, f):
                self.f = f

            def remote(self, *args):
                return FakeRef(self.f(*args))

        return Remote

    def get(self, ref):
        return ref.value if isinstance(ref, FakeRef) else self.store[ref.hex()]

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def cancel(self, ref, **kwargs):
        pass


def test_ray_init_local_or_cluster_and_shutdown_helper(monkeypatch):
    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(distributed, "_RAY_PAYLOAD_CACHE", type(distributed._RAY_PAYLOAD_CACHE)())
    monkeypatch.setattr(distributed, "_RAY_STARTED_HERE", False)
    out = map_points(index_and_offsets, INDEXED, backend="ray", chunk_size=4, num_workers=3)
    assert out[0].tolist() == list(range(11))
    assert fake.inits == [{"address": None, "num_cpus": 3, "include_dashboard": False, "logging_level": "warning"}]
    map_points(index_and_offsets, INDEXED, backend="ray")  # reuses the running instance
    assert len(fake.inits) == 1
    assert shutdown_local_ray() is True and not fake.initialized
    assert shutdown_local_ray() is False
    out = map_points(index_and_offsets, INDEXED, backend="ray", ray_address="ray://head:10001")
    assert out[1] == list(range(11))  # default chunking: ceil(11 / 64) = 1 point per chunk
    assert fake.inits[-1]["address"] == "ray://head:10001" and "num_cpus" not in fake.inits[-1]
    assert shutdown_local_ray() is True
    # an instance the user started is never shut down by the helper
    fake.initialized = True
    map_points(index_and_offsets, INDEXED, backend="ray")
    assert shutdown_local_ray() is False and fake.initialized


def test_unreachable_ray_address_is_a_typed_error(monkeypatch):
    fake = FakeRay()

    def refuse(address=None, **kwargs):
        raise ConnectionError(f"no cluster at {address}")

    fake.init = refuse
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(distributed, "_RAY_STARTED_HERE", False)
    with pytest.raises(InvalidParameterError, match="ray start --head"):
        map_points(index_and_offsets, INDEXED, backend="ray", ray_address="ray://nowhere:1")
    assert distributed._RAY_STARTED_HERE is False


# ------------------------------------------------------------------ interrupts


def test_serial_interrupt_raises_or_returns_the_finished_prefix():
    with pytest.raises(KeyboardInterrupt):
        map_points(functools.partial(interrupt_at_chunk_two, chunk_size=3), INDEXED, chunk_size=3)
    with pytest.warns(RuntimeWarning, match="first 6 of 11 points"):
        got = map_points(functools.partial(interrupt_at_chunk_two, chunk_size=3), INDEXED, chunk_size=3,
                         on_interrupt="return")
    assert got.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # nothing finished: there is no prefix to return
    with pytest.raises(KeyboardInterrupt):
        map_points(functools.partial(interrupt_at_chunk_two, chunk_size=0), INDEXED, chunk_size=3,
                   on_interrupt="return")


# ---------------------------------------------------------------------- errors


def local_function_factory():
    def local(chunk):
        return chunk

    return local


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backend": "threads"}, "'backend' parameter must be one of"),
        ({"backend": None}, "'backend' parameter must be one of"),
        ({"chunk_size": 0}, "'chunk_size' parameter must be a positive integer"),
        ({"chunk_size": -3}, "'chunk_size' parameter must be a positive integer"),
        ({"chunk_size": 2.5}, "'chunk_size' parameter must be a positive integer"),
        ({"chunk_size": True}, "'chunk_size' parameter must be a positive integer"),
        ({"chunk_size": "4"}, "'chunk_size' parameter must be a positive integer"),
        ({"num_workers": 0}, "'num_workers' parameter must be a positive integer"),
        ({"on_interrupt": "ignore"}, "'on_interrupt' parameter must be"),
        ({"progress": "yes"}, "'progress' parameter must be True or False"),
        ({"ray_address": "auto"}, "only used by backend='ray'"),
        ({"backend": "ray", "ray_address": 5}, "'ray_address' parameter must be a non-empty string"),
        ({"offset": 3}, "do not pass offset="),
    ],
)
def test_bad_parameters_raise_typed_errors(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        map_points(index_and_offsets, INDEXED, **kwargs)


def test_numpy_integer_chunk_size_is_accepted():
    assert map_points(index_and_offsets, INDEXED, chunk_size=np.int64(4))[1][-1] == 8


def test_bad_batches_raise_shape_or_parameter_errors():
    with pytest.raises(ShapeError, match="0-d"):
        map_points(index_and_offsets, torch.tensor(1.0))
    with pytest.raises(ShapeError, match="no points"):
        map_points(index_and_offsets, torch.zeros(0, 2))
    with pytest.raises(InvalidParameterError, match="'X' parameter must be a tensor"):
        map_points(index_and_offsets, object())
    with pytest.raises(InvalidParameterError, match="'fn' parameter must be callable"):
        map_points("segment_region_counts", INDEXED)


@pytest.mark.parametrize("fn", [lambda c: c, local_function_factory()])
def test_process_backend_refuses_unpicklable_functions(fn):
    with pytest.raises(InvalidParameterError, match="must be picklable") as info:
        map_points(fn, INDEXED, backend="process")
    assert "lambda" in str(info.value) and "module level" in str(info.value)


def test_process_backend_refuses_unpicklable_arguments():
    import threading

    with pytest.raises(InvalidParameterError, match="cannot be pickled"):
        map_points(segment_region_counts, POINTS, backend="process", network=threading.Lock(), end=END)


def test_results_that_cannot_be_joined_are_refused():
    with pytest.raises(InvalidParameterError, match="cannot join results of type dict"):
        map_points(lambda c: {"n": len(c)}, INDEXED, chunk_size=4)
    with pytest.raises(InvalidParameterError, match="different types"):
        map_points(lambda c, offset: c if offset == 0 else [1], INDEXED, chunk_size=4)
    with pytest.raises(InvalidParameterError, match="0-d tensor"):
        map_points(lambda c: c.sum(), INDEXED, chunk_size=4)


def test_results_are_picklable_values():
    tally = map_points(segment_tally, POINTS, chunk_size=5, network=NET, end=END)
    assert pickle.loads(pickle.dumps(tally)) == tally
