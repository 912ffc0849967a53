"""Spike inference on a Dask cluster: each task is a chunk of neurons over whole traces.

What a method needs besides its settings (the rate model's checkpoint: `SpikeMethod.payload`)
travels to each worker once (scattered, or one shared task of the graph), not with every
task; a worker rebuilds the method once per payload and settings and keeps it. A task gets
the traces of its chunk and returns their spikes, computed by the same method class as one
process uses (`calspike.spikes.registry`), so results equal the single-process ones for the
same chunks. Results are written in neuron order as they arrive; a lost worker's tasks are
rerun by Dask and their results replace nothing, since each chunk has one place.
dask[distributed] is optional (`pip install 'calspike[dask]'`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calspike._optional import require
from calspike.data.recording import Recording
from calspike.errors import CalspikeWarning, DataError
from calspike.spikes.budget import connect_timeout, first_line
from calspike.spikes.chunks import estimate
from calspike.spikes.method import MethodSettings, SpikeMethod
from calspike.spikes.registry import build_method, method_class

# per worker process: methods by (payload digest, method, settings)
_LOADED: dict[tuple[str, str, MethodSettings], SpikeMethod] = {}


def model_payload(method: str, model: str | os.PathLike[str] | None) -> bytes:
    """What each worker needs to rebuild `method` with checkpoint `model`: b"" for OASIS."""
    settings = MethodSettings(model=Path(model) if model else None)
    return build_method(method, settings).payload()


def task_settings(method: SpikeMethod, rate: float | None) -> dict[str, Any]:
    """The keyword settings of each `infer_block` task that applies `method` at `rate` Hz."""
    settings = method.worker_settings()
    return {
        "rate": rate,
        "method": method.name,
        "p": settings.p,
        "device": settings.device,
        "threads": settings.threads,
        "chunk_neurons": settings.chunk_neurons,
        **({} if settings.torch_threads is None else {"torch_threads": settings.torch_threads}),
    }


def _worker_method(payload: bytes, name: str, settings: MethodSettings) -> SpikeMethod:
    """The worker's method, built once per payload and settings."""
    key = (hashlib.sha256(payload).hexdigest(), name, settings)
    if key not in _LOADED:
        _LOADED[key] = method_class(name).on_worker(payload, settings)
    return _LOADED[key]


def infer_block(
    traces: np.ndarray,
    payload: bytes,
    *,
    rate: float,
    method: str = "model",
    p: int = 1,
    device: str = "cpu",
    threads: int = 1,
    chunk_neurons: int = 256,
    torch_threads: int | None = None,
    details: bool = False,
) -> Any:
    """Spikes (neurons, frames) float32 of one chunk of traces (neurons, frames) at `rate` Hz.

    With `details`, (spikes, the sidecar's per-neuron details).

    torch_threads : PyTorch's intra-op threads in the worker (Dask starts workers with one): a
        sum split over other threads rounds differently, so results equal another process's
        only with its thread count.
    """
    settings = MethodSettings(
        device=device,
        p=p,
        threads=threads,
        chunk_neurons=chunk_neurons,
        torch_threads=torch_threads,
    )
    chosen = _worker_method(payload, method, settings)
    recording = Recording(np.ascontiguousarray(traces, dtype=np.float32), rate, gaps=True)
    spikes, found = estimate(chosen, recording)
    spikes = np.asarray(spikes, dtype=np.float32)
    return (spikes, found) if details else spikes


_TRIM = "MALLOC_TRIM_THRESHOLD_"
_SMALL_TRIM_BYTES = 1 << 20


def client_for(scheduler: str | None, workers: int | None) -> Any:
    """A distributed Client of the cluster at `scheduler`, or of a new local cluster.

    The local cluster has `workers` processes (one thread each, on 127.0.0.1).

    Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which fixes glibc's mmap
    threshold too: every large buffer PyTorch frees goes back to the kernel and the next is
    faulted in again (2.35 million page faults and 4 s of system time for a task that takes
    2.3 s in a plain process). Local workers start without it (also when this process's
    environment holds it); a cluster's workers that run with it are named in a warning.
    """
    distributed = require("distributed", "--scheduler/--workers")
    if scheduler is not None:
        return connect(distributed, scheduler)
    import dask

    environ = {
        k: v
        for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
        if k != _TRIM
    }
    # a nanny copies its pre-spawn variables into this process's own environment, where the
    # next workers would inherit them: take the variable out while ours start
    inherited = os.environ.pop(_TRIM, None)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = distributed.LocalCluster(
                n_workers=workers or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
    finally:
        if inherited is not None:
            os.environ[_TRIM] = inherited
    return distributed.Client(cluster)


def connect(distributed: Any, address: str) -> Any:
    """A Client of the scheduler at `address`, or a DataError naming it within the timeout.

    The timeout is Dask's connect timeout (``distributed.comm.timeouts.connect``, 30 s unless
    DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT says otherwise) for the whole connection: the
    TCP connection, Dask's handshake and the client's registration. distributed bounds only
    the first (and waits forever for a handshake from something that accepts and never speaks
    Dask), so the Client's start is abandoned, and the client closed, at that deadline.
    A scheduler without workers gets as long for its first worker to join.
    """
    timeout = connect_timeout()
    scheme, separator, rest = address.partition("://")  # distributed knows lower-case schemes
    target = f"{scheme.lower()}://{rest}" if separator else address

    class Bounded(distributed.Client):  # type: ignore[misc]
        def start(self, **kwargs: Any) -> None:
            try:  # distributed.utils.sync cancels the start at callback_timeout
                super().start(callback_timeout=timeout, **kwargs)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.close(timeout=1)
                raise

    try:
        client = Bounded(target, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - not OSError alone: a handshake in another tongue raises others
        raise DataError(_no_scheduler(address, timeout, error)) from None
    try:  # a scheduler without workers would hold every chunk forever
        client.wait_for_workers(1, timeout=timeout)
    except Exception:  # noqa: BLE001 - distributed's TimeoutError, or the connection lost meanwhile
        with contextlib.suppress(Exception):
            client.close(timeout=1)
        raise DataError(
            f"the Dask scheduler at {address} has no worker after {timeout:g} s; start workers "
            f"for it (dask worker {address}) or wait longer (the connect timeout, in seconds: "
            "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)"
        ) from None
    _warn_small_trim(client, timeout)
    return client


def _no_scheduler(address: str, timeout: float, error: BaseException) -> str:
    """One line: no scheduler at `address` (`error` said why), and what to do."""
    if isinstance(error, TimeoutError) or str(error).startswith("Timed out"):
        cause = error.__cause__  # why distributed's connection attempts failed, if it says
        why = (
            "" if cause is None or isinstance(cause, asyncio.CancelledError) else first_line(cause)
        )
        what = f"answered at {address} within {timeout:g} s" + (f" ({why})" if why else "")
    else:  # something answered, not as a scheduler this client can use would
        what = f"this client can use at {address} ({first_line(error)})"
    return (
        f"no Dask scheduler {what}; check the address and that a scheduler runs there "
        f"(the connect timeout, in seconds: DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)"
    )


def _worker_trim() -> str | None:
    return os.environ.get(_TRIM)


def _warn_small_trim(client: Any, timeout: float) -> None:
    """Warn of the cluster's workers with a small glibc trim threshold; ask for `timeout` s."""
    import warnings

    try:
        trims = client.run(_worker_trim, callback_timeout=timeout)
    except Exception:  # noqa: BLE001 - advice only: a cluster that cannot answer fails the run itself
        return
    small = []
    for address, value in trims.items():
        try:
            if value is not None and int(value) < _SMALL_TRIM_BYTES:
                small.append(address)
        except ValueError:
            continue
    if small:
        warnings.warn(
            f"{len(small)} Dask worker(s) run with {_TRIM} below 1 MiB (Dask's default is 65536), "
            f"which makes PyTorch inference there 2-4x slower; start them with it unset, e.g. "
            f"`distributed.nanny.pre-spawn-environ` without {_TRIM}: "
            f"{', '.join(sorted(small)[:5])}",
            CalspikeWarning,
            stacklevel=4,
        )


def run_chunks(
    client: Any,
    chunks: Iterator[tuple[int, np.ndarray]],
    payload: bytes,
    settings: dict[str, Any],
    in_flight: int,
) -> Iterator[tuple[int, np.ndarray, dict[str, Any]]]:
    """(first row, spikes, details) of each chunk of (first row, traces), in row order.

    Computed on the cluster with at most `in_flight` chunks submitted and not yet yielded.
    """
    distributed = require("distributed", "--scheduler/--workers")
    shared = client.scatter(payload, broadcast=True)  # the weights go to each worker once
    pending: dict[int, Any] = {}
    done: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
    order: list[int] = []
    source = iter(chunks)
    exhausted = False
    results = distributed.as_completed()
    while True:
        while not exhausted and len(pending) + len(done) < in_flight:
            try:
                start, traces = next(source)
            except StopIteration:
                exhausted = True
                break
            future = client.submit(
                infer_block, traces, shared, details=True, retries=3, pure=False, **settings
            )
            pending[start] = future
            order.append(start)
            results.add(future)
        if not order:
            return
        while order and order[0] in done:  # yield in row order
            start = order.pop(0)
            spikes, found = done.pop(start)
            yield start, spikes, found
        if not order:
            continue
        future = next(results)
        start = next(key for key, value in pending.items() if value is future)
        del pending[start]
        done[start] = future.result()
