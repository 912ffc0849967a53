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

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calspike._optional import require
from calspike.data.recording import Recording
from calspike.errors import CalspikeWarning
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
        client = distributed.Client(scheduler)
        _warn_small_trim(client)
        return client
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


def _worker_trim() -> str | None:
    return os.environ.get(_TRIM)


def _warn_small_trim(client: Any) -> None:
    import warnings

    small = []
    for address, value in client.run(_worker_trim).items():
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
            stacklevel=3,
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
