"""A spike method applied to chunks of neurons: in this process, or on a Dask cluster.

Either way the chunks come back in row order with the same spikes to the bit: a Dask worker
computes each chunk as this process would (`calspike.spikes.distributed`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from calspike.data.recording import Recording
from calspike.errors import DataError
from calspike.spikes.budget import first_line
from calspike.spikes.chunks import estimate
from calspike.spikes.method import SpikeMethod


@dataclass(frozen=True)
class Cluster:
    """Where Dask runs the chunks: the scheduler's address, or a local cluster of `workers`."""

    scheduler: str | None = None
    workers: int | None = None


def run(
    method: SpikeMethod,
    chunks: Iterator[Recording],
    *,
    rate: float | None,
    cluster: Cluster | None = None,
    open_files: contextlib.ExitStack,
) -> Iterator[tuple[Recording, np.ndarray, dict[str, Any]]]:
    """(chunk, spikes, per-neuron details) of each chunk, in order.

    Computed here, or on `cluster` (a client `open_files` closes, and a local cluster it
    shuts down); `rate` (Hz) is the chunks' rate, which Dask tasks are given. A scheduler that
    does not answer within Dask's connect timeout, or goes away mid-run, is a DataError naming
    its address (`calspike.spikes.distributed.connect`).
    """
    if cluster is None:
        for chunk in chunks:
            spikes, found = estimate(method, chunk)
            yield chunk, spikes, found
        return
    from calspike.spikes.distributed import client_for, run_chunks, task_settings

    client = client_for(cluster.scheduler, cluster.workers)
    open_files.callback(client.close)
    if cluster.scheduler is None:  # our own local cluster: closed with us
        open_files.callback(client.cluster.close)
    held: dict[int, Recording] = {}  # the chunks in flight, by first row

    def submitted() -> Iterator[tuple[int, np.ndarray]]:
        start = 0
        for chunk in chunks:
            held[start] = chunk
            yield start, chunk.calcium
            start += chunk.neurons

    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError

    try:
        in_flight = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        settings = task_settings(method, rate)
        for start, spikes, found in run_chunks(
            client, submitted(), method.payload(), settings, in_flight
        ):
            yield held.pop(start), spikes, found
    except (CancelledError, CommClosedError) as error:  # the cluster went away mid-run
        # not an OSError, which the output's writer would report as its own
        what = "the local Dask cluster" if cluster.scheduler is None else "the Dask scheduler"
        why = getattr(error, "reason", None) or first_line(error)
        raise DataError(
            f"{what} at {cluster.scheduler or client.scheduler.address} stopped answering "
            f"({why}); check that it and its workers run, then run infer again"
        ) from None
