"""Apply a function to a batch of points in chunks: in a loop, in worker processes, or on Ray.

:func:`map_points` cuts a batch ``X`` of shape ``(B, ...)`` into contiguous chunks
(:func:`chunk_bounds`: the same chunks whatever the backend), calls
``fn(X[start:stop], **fn_kwargs)`` on each, and joins the chunk results in order, so the
three backends return the same thing:

* ``"serial"``: a plain loop in this process;
* ``"process"``: a pool of ``spawn``-ed worker processes on this machine;
* ``"ray"``: Ray tasks, on a local Ray instance or on a cluster (``ray_address=``).
  This is the only module of regionlab that imports ``ray`` (an optional extra:
  ``pip install regionlab[ray]``), and only when that backend is used.

Examples
--------
>>> import torch
>>> from regionlab.distributed import map_points
>>> X = torch.arange(10.0).reshape(5, 2)
>>> map_points(torch.sum, X, dim=1, chunk_size=2)
tensor([ 1.,  5.,  9., 13., 17.])
"""

from __future__ import annotations

import functools
import inspect
import math
import multiprocessing
import os
import pickle
import signal
import sys
import time
import warnings
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as _wait_futures

import numpy as np
import torch

from ._optional import require
from .errors import InvalidParameterError, ShapeError

__all__ = ["map_points", "chunk_bounds", "shutdown_local_ray"]

BACKENDS = ("serial", "process", "ray")
# the default chunking depends on the number of points only, so that every backend
# (and every worker count) sees the same chunks
DEFAULT_MAX_CHUNKS = 64
# chunks submitted but not finished, per worker: enough to keep workers busy, few
# enough that the chunk copies do not pile up in memory
_IN_FLIGHT_PER_WORKER = 2
# after Ctrl-C, how long Ray tasks get to end on a plain cancel (which interrupts Python
# code) before those still running (blocked in C code or a sleep) are forced
_FORCE_CANCEL_AFTER_S = 5.0
# how long the forced cancels are repeated for tasks that have not ended
_CANCEL_TIMEOUT_S = 10.0

# whether map_points started (or connected) the running Ray instance itself
_RAY_STARTED_HERE = False
# inside a worker process of the "process" backend: (fn, fn_kwargs, accepts_offset)
_WORKER_PAYLOAD = None
# inside a Ray worker: payloads already fetched, by object id (models are unpickled once
# per worker, not once per chunk)
_RAY_PAYLOAD_CACHE: OrderedDict = OrderedDict()
_RAY_PAYLOAD_CACHE_SIZE = 2


# ------------------------------------------------------------------------ validation


def _positive_int(value, name: str, *, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(
            f"The {name!r} parameter must be a positive integer{' or None' if allow_none else ''}. "
            f"Got {value!r} ({type(value).__name__}) instead."
        )
    if value < 1:
        raise InvalidParameterError(f"The {name!r} parameter must be a positive integer. Got {value!r} instead.")
    return int(value)


def chunk_bounds(num_points: int, chunk_size: int | None = None) -> list[tuple[int, int]]:
    """The contiguous chunks ``[(start, stop), ...]`` that :func:`map_points` uses.

    Parameters
    ----------
    num_points : int
        Size ``B`` of the batch (at least 1).
    chunk_size : int, optional
        Points per chunk; the last chunk takes the remainder. By default
        ``ceil(B / 64)``, i.e. at most 64 chunks. The default depends on ``B`` only,
        never on the backend or the number of workers.

    Returns
    -------
    list of (int, int)
        Half-open index ranges that cover ``range(num_points)`` in order.

    Raises
    ------
    InvalidParameterError
        If ``num_points`` or ``chunk_size`` is not a positive integer.

    Examples
    --------
    >>> chunk_bounds(10, 4)
    [(0, 4), (4, 8), (8, 10)]
    >>> len(chunk_bounds(1000)), chunk_bounds(1000)[0]
    (63, (0, 16))
    """
    num_points = _positive_int(num_points, "num_points", allow_none=False)
    chunk_size = _positive_int(chunk_size, "chunk_size", allow_none=True)
    if chunk_size is None:
        chunk_size = math.ceil(num_points / DEFAULT_MAX_CHUNKS)
    return [(s, min(s + chunk_size, num_points)) for s in range(0, num_points, chunk_size)]


def _check_batch(X) -> torch.Tensor:
    if not isinstance(X, torch.Tensor):
        try:
            X = torch.as_tensor(X)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InvalidParameterError(
                "The 'X' parameter must be a tensor (or array-like) batch of points of shape (B, ...). "
                f"Got {type(X).__name__} instead."
            ) from exc
    if X.dim() == 0:
        raise ShapeError(
            "The 'X' parameter must be a batch of points of shape (B, ...) with a leading batch "
            "dimension. Got a 0-d tensor; use X.reshape(1, -1) for a single point."
        )
    if X.shape[0] == 0:
        raise ShapeError(f"The 'X' parameter holds no points (shape {tuple(X.shape)}); pass at least one point.")
    return X


def _accepts_offset(fn) -> bool:
    """Whether ``fn`` has a parameter named ``offset`` that can be passed by keyword."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    p = params.get("offset")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def _call_chunk(fn, fn_kwargs: dict, accepts_offset: bool, chunk, start: int):
    if accepts_offset:
        return fn(chunk, offset=start, **fn_kwargs)
    return fn(chunk, **fn_kwargs)


# ------------------------------------------------------------------------- combining


def _combine(results: list):
    """Join chunk results in order (see :func:`map_points`, Returns)."""
    first = results[0]
    kind = type(first)
    if isinstance(first, torch.Tensor):
        if not all(isinstance(r, torch.Tensor) for r in results):
            raise InvalidParameterError(_mixed_message(results))
        if any(r.dim() == 0 for r in results):
            raise InvalidParameterError(
                "fn returned a 0-d tensor for a chunk, which cannot be joined along the points; "
                "return one row per point (shape (len(chunk), ...))."
            )
        return torch.cat(results, dim=0)
    if not all(type(r) is kind for r in results):
        raise InvalidParameterError(_mixed_message(results))
    if first is None:
        return None
    if isinstance(first, np.ndarray):
        if any(r.ndim == 0 for r in results):
            raise InvalidParameterError(
                "fn returned a 0-d array for a chunk; return one row per point (shape (len(chunk), ...))."
            )
        return np.concatenate(results, axis=0)
    concat = getattr(kind, "concat", None)
    if callable(concat):
        return concat(list(results))
    if callable(getattr(first, "merge", None)):
        return functools.reduce(lambda a, b: a.merge(b), results)
    if isinstance(first, list):
        return [item for r in results for item in r]
    if isinstance(first, tuple):
        if len({len(r) for r in results}) != 1:
            raise InvalidParameterError("fn returned tuples of different lengths for different chunks.")
        fields = [_combine([r[k] for r in results]) for k in range(len(first))]
        return kind(*fields) if hasattr(kind, "_fields") else tuple(fields)
    raise InvalidParameterError(
        f"map_points cannot join results of type {kind.__name__}: fn must return a tensor, a NumPy "
        "array, a list, a tuple of those, or an object with a classmethod concat(list) or a "
        "method merge(other)."
    )


def _mixed_message(results) -> str:
    kinds = sorted({type(r).__name__ for r in results})
    return f"fn returned results of different types for different chunks ({', '.join(kinds)}); return one type."


# -------------------------------------------------------------------------- progress


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress_bar(progress: bool, total: int, backend: str):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm  # lazy: only when a bar is asked for

    return tqdm(total=total, desc=f"map_points[{backend}]", unit="chunk")


# --------------------------------------------------------------------------- backends


def _run_serial(fn, fn_kwargs, accepts_offset, X, bounds, results, bar, num_workers, ray_address):
    for i, (start, stop) in enumerate(bounds):
        results[i] = _call_chunk(fn, fn_kwargs, accepts_offset, X[start:stop], start)
        bar.update(1)


def _in_main_without_file(obj) -> bool:
    """Whether ``obj`` lives in an interactive ``__main__`` that spawned workers cannot import."""
    while isinstance(obj, functools.partial):
        obj = obj.func
    main = sys.modules.get("__main__")
    return getattr(obj, "__module__", None) == "__main__" and getattr(main, "__file__", None) is None


def _pickled_payload(fn, fn_kwargs: dict, accepts_offset: bool) -> bytes:
    """``(fn, fn_kwargs, accepts_offset)`` pickled once for the worker processes."""
    try:
        pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise InvalidParameterError(
            f"backend='process' sends fn to worker processes, so fn must be picklable: a function "
            f"defined at the top level of a module, or a functools.partial of one. Got {fn!r}, "
            f"which cannot be pickled ({exc}); lambdas and functions defined inside other "
            "functions are not picklable. Move it to module level, or use backend='serial' or 'ray'."
        ) from exc
    if _in_main_without_file(fn):
        raise InvalidParameterError(
            f"backend='process' cannot use {fn!r}: it is defined in an interactive session "
            "(__main__ without a file), which spawned worker processes cannot import. Define fn in "
            "a module or a script file, or use backend='serial' or 'ray'."
        )
    try:
        return pickle.dumps((fn, fn_kwargs, accepts_offset))
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise InvalidParameterError(
            f"backend='process' sends the keyword arguments of fn to worker processes, but one of "
            f"{sorted(fn_kwargs)} cannot be pickled ({exc}); pass picklable values."
        ) from exc


def _process_worker_init(payload: bytes) -> None:
    global _WORKER_PAYLOAD
    # the parent handles Ctrl-C (it cancels the work and stops the workers); small
    # tensor ops slow down badly when the threads of several workers compete for cores
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _WORKER_PAYLOAD = pickle.loads(payload)


def _process_chunk(start: int, chunk):
    fn, fn_kwargs, accepts_offset = _WORKER_PAYLOAD
    return _call_chunk(fn, fn_kwargs, accepts_offset, chunk, start)


def _cpu_count() -> int:
    count = getattr(os, "process_cpu_count", None)  # Python >= 3.13
    if count is not None:
        return count() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _stop_pool(executor: ProcessPoolExecutor) -> None:
    """Cancel queued chunks and end the workers now (running chunks are abandoned)."""
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
    else:
        for proc in list((getattr(executor, "_processes", None) or {}).values()):
            proc.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def _run_process(fn, fn_kwargs, accepts_offset, X, bounds, results, bar, num_workers, ray_address):
    payload = _pickled_payload(fn, fn_kwargs, accepts_offset)
    workers = min(num_workers or _cpu_count(), len(bounds))
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # fork after torch has threads is unsafe
        initializer=_process_worker_init,
        initargs=(payload,),
    )
    pending: dict = {}
    todo = iter(enumerate(bounds))
    try:
        while True:
            for i, (start, stop) in todo:
                # a clone: pickling a view would send the whole underlying storage
                pending[executor.submit(_process_chunk, start, X[start:stop].clone())] = i
                if len(pending) >= _IN_FLIGHT_PER_WORKER * workers:
                    break
            if not pending:
                break
            done, _ = _wait_futures(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
                bar.update(1)
    except KeyboardInterrupt:
        for future, i in pending.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                results[i] = future.result()
        _stop_pool(executor)
        raise
    except BaseException:
        _stop_pool(executor)
        raise
    executor.shutdown(wait=True)


def _ensure_ray(ray, ray_address: str | None, num_workers: int | None) -> None:
    global _RAY_STARTED_HERE
    if ray.is_initialized():
        return  # the user's instance or connection (or ours from an earlier call)
    if ray_address is not None:
        try:
            ray.init(address=ray_address, logging_level="warning")
        except ConnectionError as exc:
            raise InvalidParameterError(
                f"Could not connect to a Ray cluster at ray_address={ray_address!r} ({exc}). "
                "Check the address (e.g. 'ray://head:10001' or 'auto' on a cluster node) and that "
                "the cluster is running ('ray start --head')."
            ) from exc
    else:
        ray.init(num_cpus=num_workers, include_dashboard=False, logging_level="warning")
    _RAY_STARTED_HERE = True


def _ray_payload(box: list):
    """The ``(fn, fn_kwargs, accepts_offset)`` behind ``box[0]``, fetched once per worker."""
    ref = box[0]
    key = ref.hex()
    payload = _RAY_PAYLOAD_CACHE.get(key)
    if payload is None:
        import ray  # inside a Ray worker, where ray is importable by definition

        payload = ray.get(ref)
        _RAY_PAYLOAD_CACHE[key] = payload
        while len(_RAY_PAYLOAD_CACHE) > _RAY_PAYLOAD_CACHE_SIZE:
            _RAY_PAYLOAD_CACHE.popitem(last=False)
    else:
        _RAY_PAYLOAD_CACHE.move_to_end(key)
    return payload


def _ray_chunk(box: list, start: int, chunk):
    torch.set_num_threads(1)  # each task holds one CPU
    fn, fn_kwargs, accepts_offset = _ray_payload(box)
    return _call_chunk(fn, fn_kwargs, accepts_offset, chunk, start)


def _run_ray(fn, fn_kwargs, accepts_offset, X, bounds, results, bar, num_workers, ray_address):
    ray = require("ray", "ray", "regionlab.distributed.map_points(backend='ray')")
    _ensure_ray(ray, ray_address, num_workers)
    # fn and its arguments (the model) go to the object store once; the reference is
    # boxed in a list so that Ray passes it through unresolved and each worker fetches
    # and unpickles it once (see _ray_payload)
    box = [ray.put((fn, fn_kwargs, accepts_offset))]
    remote = ray.remote(num_cpus=1)(_ray_chunk)
    workers = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    pending: dict = {}
    todo = iter(enumerate(bounds))
    try:
        while True:
            for i, (start, stop) in todo:
                pending[remote.remote(box, start, X[start:stop].clone())] = i
                if len(pending) >= _IN_FLIGHT_PER_WORKER * workers:
                    break
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                results[pending.pop(ref)] = ray.get(ref)
                bar.update(1)
    except KeyboardInterrupt:
        refs = list(pending)
        finished, running = ray.wait(refs, num_returns=len(refs), timeout=0) if refs else ([], [])
        _cancel_ray_tasks(ray, running)
        for ref in finished:
            try:
                results[pending[ref]] = ray.get(ref)
            except Exception:  # a failed chunk ends the finished prefix
                pass
        raise
    # any other error (a chunk failed): the chunks in flight (at most twice the workers)
    # are left to finish and their results dropped, since cancelling a task while it
    # completes can crash the driver (see _cancel_ray_tasks)


def _cancel_ray_tasks(ray, refs: list) -> None:
    """Stop the Ray tasks ``refs`` after Ctrl-C: queued ones are dropped, running ones end.

    A plain cancel first, for every task: it drops queued tasks and interrupts running
    Python code. Only tasks still running ``_FORCE_CANCEL_AFTER_S`` later (blocked in C
    code or a sleep) are forced, which kills their workers, repeatedly for up to
    ``_CANCEL_TIMEOUT_S`` since a task being dispatched can escape one cancel. Ray
    (2.x, still in 2.60) crashes the driver process (``Check failed: ... Tried to
    complete task that was not pending``) when a cancel meets the task's own
    completion, so tasks already finished are never cancelled, the force waits for
    the plain cancel to take effect, and a failed map cancels nothing at all.
    """
    if not refs:
        return
    for ref in refs:
        ray.cancel(ref, force=False)
    _, running = ray.wait(refs, num_returns=len(refs), timeout=_FORCE_CANCEL_AFTER_S)
    deadline = time.monotonic() + _CANCEL_TIMEOUT_S
    while running:
        for ref in running:
            ray.cancel(ref, force=True)
        _, running = ray.wait(running, num_returns=len(running), timeout=0.25)
        if time.monotonic() > deadline:
            break


_RUNNERS = {"serial": _run_serial, "process": _run_process, "ray": _run_ray}


# ------------------------------------------------------------------------- public API


def map_points(
    fn,
    X,
    *,
    backend: str = "serial",
    chunk_size: int | None = None,
    num_workers: int | None = None,
    progress: bool = False,
    ray_address: str | None = None,
    on_interrupt: str = "raise",
    **fn_kwargs,
):
    """Apply ``fn`` to contiguous chunks of the batch ``X`` and join the results in order.

    Calls ``fn(X[start:stop], **fn_kwargs)`` for every chunk of :func:`chunk_bounds`
    (``fn(X[start:stop], offset=start, **fn_kwargs)`` when ``fn`` has a parameter named
    ``offset``), serially, in worker processes or as Ray tasks, and joins the chunk
    results in chunk order. The chunks depend on ``len(X)`` and ``chunk_size`` only,
    so every backend returns the same result as ``backend="serial"``.

    Parameters
    ----------
    fn : callable
        ``fn(X_chunk, **fn_kwargs)`` for a chunk ``X_chunk = X[start:stop]`` (a tensor of
        shape ``(stop - start, ...)``; a view of ``X`` with the serial backend, so do not
        modify it in place). It must be deterministic given its arguments. If
        it uses randomness, seed it per point from ``offset`` (the index of the chunk's
        first point in ``X``), e.g. point ``j`` of the chunk draws from
        ``torch.Generator().manual_seed(seed + offset + j)``: then the result does not
        depend on the chunking or the backend. For ``backend="process"`` it must be
        picklable: a function defined at the top level of a module (or of a script run
        as a file) or a ``functools.partial`` of one; not a lambda nor a local function.
    X : torch.Tensor or array-like
        The batch ``(B, ...)``, ``B >= 1``; chunks are taken along dim 0. For the
        ``process`` and ``ray`` backends keep it (and ``fn_kwargs``) on the CPU.
    backend : {"serial", "process", "ray"}
        ``"serial"``: a loop in this process. ``"process"``: a
        ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method (forking
        a process that runs torch is unsafe); each worker uses one intra-op thread and
        receives ``fn`` and ``fn_kwargs`` once. ``"ray"``: one Ray task per chunk with
        ``num_cpus=1``; ``fn`` and ``fn_kwargs`` (e.g. the model) are stored once with
        ``ray.put`` and unpickled once per Ray worker. If Ray is not initialised,
        ``ray.init(address=ray_address)`` connects to an existing cluster when
        ``ray_address`` is given, else a local instance with ``num_cpus=num_workers`` is
        started and kept for later calls (stop it with :func:`shutdown_local_ray`). An
        instance you started yourself with ``ray.init`` is used as it is.
    chunk_size : int, optional
        Points per chunk (the last chunk takes the remainder); by default
        ``ceil(B / 64)``. Smaller chunks balance load better; larger ones amortise the
        per-chunk overhead.
    num_workers : int, optional
        ``"process"``: worker processes (default: the usable CPUs, at most one per
        chunk). ``"ray"``: the CPUs of a local instance started here, and the bound on
        chunks in flight (twice this many; default twice the cluster's CPUs). Ignored by
        ``"serial"``.
    progress : bool
        Show a ``tqdm`` progress bar over chunks (advanced as chunks finish).
    ray_address : str, optional
        Address of a running Ray cluster (``"auto"``, ``"ray://host:10001"``, ...), used
        when Ray is not initialised yet; only for ``backend="ray"``.
    on_interrupt : {"raise", "return"}
        On ``KeyboardInterrupt`` (Ctrl-C) the chunks not started are cancelled and the
        running ones are stopped (worker processes are terminated; Ray tasks get a
        plain ``ray.cancel``, which interrupts Python code, and those still running
        5 s later are cancelled with ``force=True``, which ends the Ray workers
        running them). ``"raise"`` then re-raises the ``KeyboardInterrupt``. ``"return"``
        returns the joined results of the finished prefix of chunks, i.e. of the points
        ``X[:n]`` for the largest ``n`` such that every chunk before ``n`` finished, with
        a ``RuntimeWarning`` that gives ``n``; it still raises when no chunk finished.
    **fn_kwargs
        Keyword arguments passed to every call of ``fn`` (they cannot be named like the
        parameters of ``map_points`` itself).

    Returns
    -------
    object
        The chunk results joined in order, by their type (that of the first chunk's
        result; all chunks must return the same type): tensors and NumPy arrays are
        concatenated along dim 0; an object whose class has a ``concat`` classmethod is
        joined with ``cls.concat(results)``; otherwise an object with a ``merge`` method
        with ``results[0].merge(results[1]).merge(...)``; lists are concatenated; tuples
        (and named tuples) are joined field by field; ``None`` gives ``None``.

    Raises
    ------
    InvalidParameterError
        For a non-callable ``fn``, an unknown ``backend`` or ``on_interrupt``, a
        ``chunk_size`` or ``num_workers`` that is not a positive integer, an ``fn`` or
        ``fn_kwargs`` that cannot be pickled for ``backend="process"``, an ``offset``
        keyword when ``fn`` takes ``offset`` itself, chunk results that cannot be
        joined, or a ``ray_address`` that cannot be reached.
    ShapeError
        If ``X`` is 0-d or holds no points.
    MissingDependencyError
        For ``backend="ray"`` when ``ray`` is not installed (``pip install regionlab[ray]``).
    KeyboardInterrupt
        When interrupted with ``on_interrupt="raise"`` (after cancelling the work).

    Notes
    -----
    Errors raised by ``fn`` in a chunk are re-raised here. The other chunks are
    cancelled (``"process"``) or, with Ray, the chunks already in flight (at most twice
    the workers) are left to finish and their results dropped: Ray can crash the
    driver when a task is cancelled while it completes. Ray re-raises the error as its
    task error, which is also an instance of the original exception class.

    Examples
    --------
    >>> import torch, regionlab
    >>> from regionlab.ir import CPWLNetwork, Dense, PiecewiseLinear
    >>> from regionlab.distributed import map_points
    >>> net = CPWLNetwork.sequential((2,), [Dense(torch.eye(2, dtype=torch.float64)), PiecewiseLinear.relu()])
    >>> def region_counts(starts, *, network, end):
    ...     return regionlab.partition_segment(network, starts, end).num_regions
    >>> starts = torch.tensor([[-1.0, -0.5], [1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64)
    >>> map_points(region_counts, starts, chunk_size=2, network=net, end=[0.5, 0.5])
    tensor([3, 1, 2])

    A function with an ``offset`` parameter learns where its chunk starts:

    >>> def global_index(chunk, offset):
    ...     return list(range(offset, offset + len(chunk)))
    >>> map_points(global_index, torch.zeros(5, 2), chunk_size=2)
    [0, 1, 2, 3, 4]

    On worker processes (``fn`` defined at module level) or on a Ray cluster:

    >>> map_points(region_counts, starts, backend="process", num_workers=2,
    ...            network=net, end=[0.5, 0.5])  # doctest: +SKIP
    >>> map_points(region_counts, starts, backend="ray", ray_address="auto",
    ...            network=net, end=[0.5, 0.5])  # doctest: +SKIP
    """
    if not callable(fn):
        raise InvalidParameterError(f"The 'fn' parameter must be callable. Got {type(fn).__name__} instead.")
    if backend not in BACKENDS:
        raise InvalidParameterError(
            f"The 'backend' parameter must be one of {', '.join(repr(b) for b in BACKENDS)}. Got {backend!r} instead."
        )
    if on_interrupt not in ("raise", "return"):
        raise InvalidParameterError(
            f"The 'on_interrupt' parameter must be 'raise' or 'return'. Got {on_interrupt!r} instead."
        )
    if not isinstance(progress, bool):
        raise InvalidParameterError(f"The 'progress' parameter must be True or False. Got {progress!r} instead.")
    num_workers = _positive_int(num_workers, "num_workers", allow_none=True)
    if ray_address is not None:
        if backend != "ray":
            raise InvalidParameterError(
                f"The 'ray_address' parameter is only used by backend='ray'. Got backend={backend!r}; "
                "drop ray_address or pass backend='ray'."
            )
        if not isinstance(ray_address, str) or not ray_address:
            raise InvalidParameterError(
                f"The 'ray_address' parameter must be a non-empty string such as 'auto' or "
                f"'ray://host:10001'. Got {ray_address!r} instead."
            )
    X = _check_batch(X)
    bounds = chunk_bounds(X.shape[0], chunk_size)
    accepts_offset = _accepts_offset(fn)
    if accepts_offset and "offset" in fn_kwargs:
        raise InvalidParameterError(
            "fn takes an 'offset' parameter, which map_points sets to the start index of each chunk; "
            "do not pass offset= yourself (rename fn's own parameter if it means something else)."
        )

    results: dict[int, object] = {}
    bar = _progress_bar(progress, len(bounds), backend)
    try:
        _RUNNERS[backend](fn, fn_kwargs, accepts_offset, X, bounds, results, bar, num_workers, ray_address)
    except KeyboardInterrupt:
        done = 0
        while done in results:
            done += 1
        if on_interrupt == "raise" or done == 0:
            raise
        n = bounds[done - 1][1]
        warnings.warn(
            f"map_points was interrupted: returning the results of the first {n} of {X.shape[0]} "
            f"points ({done} of {len(bounds)} chunks).",
            RuntimeWarning,
            stacklevel=2,
        )
        return _combine([results[i] for i in range(done)])
    finally:
        bar.close()
    return _combine([results[i] for i in range(len(bounds))])


def shutdown_local_ray() -> bool:
    """Stop the Ray instance that :func:`map_points` started (or the connection it opened).

    A Ray instance (or cluster connection) that you initialised yourself with
    ``ray.init`` is left alone, and so is a cluster: only this driver's connection to
    it is closed.

    Returns
    -------
    bool
        True if something started by :func:`map_points` was shut down, False if there
        was nothing to shut down.

    Examples
    --------
    >>> from regionlab.distributed import shutdown_local_ray
    >>> shutdown_local_ray()  # nothing was started
    False
    """
    global _RAY_STARTED_HERE
    if not _RAY_STARTED_HERE:
        return False
    _RAY_STARTED_HERE = False
    ray = sys.modules.get("ray")  # imported when the instance was started
    if ray is None or not ray.is_initialized():
        return False
    ray.shutdown()
    return True
