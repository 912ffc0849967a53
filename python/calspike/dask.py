"""calspike on Dask arrays: lazy spike inference and windowing, a chunk of neurons per task.

Thin layers over the same C++ and model code as one process (`calspike.spikes.distributed`,
`calspike.windows.partition`): no second implementation. With a `dask.distributed.Client`
they run on its cluster; the rate model's checkpoint is one task of the graph, so each
worker receives it once, not with every chunk. dask is optional
(`pip install 'calspike[dask]'`).

    import dask.array as da, calspike.dask
    traces = da.from_zarr("session.zarr").rechunk((256, -1))   # neurons x frames
    spikes = calspike.dask.infer(traces, rate=30.0)             # lazy, same chunks
    spikes.to_zarr("spikes.zarr")
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from calspike import config
from calspike._optional import require


def infer(
    array: Any,
    rate: float,
    *,
    method: str = "model",
    model: str | os.PathLike[str] | None = None,
    p: int = 1,
    device: str = "cpu",
    threads: int = 1,
) -> Any:
    """Infer spikes lazily: a Dask array of spikes from a Dask array of traces.

    The spikes are float32 (neurons, frames), from traces (neurons, frames) at `rate` Hz,
    chunked over neurons (the frames are joined into whole traces per chunk).

    method, model, p : as `calspike.infer` (the rate model, or OASIS of order p). Each chunk is
    computed exactly as one process computes a chunk of the same neurons.
    """
    da = require("dask.array", "calspike.dask")
    from dask.delayed import delayed

    settings = config.check(
        {"method": method, "rate": rate, "p": p, "device": device, "threads": threads}
    )
    if getattr(array, "ndim", None) != 2:
        raise ValueError(
            f"array must be a 2-D dask array (neurons, frames), got {type(array).__name__} "
            f"with shape {getattr(array, 'shape', None)}"
        )
    from calspike.spikes.distributed import infer_block, model_payload

    traces = da.asarray(array).rechunk({1: -1})
    payload = delayed(
        model_payload(method, None if model is None else os.fspath(model)), pure=True
    )  # one task: sent to each worker once
    return da.map_blocks(
        infer_block,
        traces,
        payload,
        dtype=np.float32,
        rate=settings["rate"],
        method=method,
        p=p,
        device=device,
        threads=threads,
        chunk_neurons=max(traces.chunks[0]),
    )


def partition(array: Any, rate: float, spikes: Any = None, **window_settings: Any) -> list[Any]:
    """Cut windows from a Dask array of traces (neurons, frames), one delayed Windows per chunk.

    One delayed `calspike.Windows` per chunk of neurons (with `spikes`, a Dask array of counts
    chunked alike, they carry labels).

    window_settings : as `calspike.partition` (len_pre, len_post, skip, spike_n, normalize).
    Neuron names are global ("dask/<row>"); `dask.compute(*parts)` gives the Windows.
    """
    da = require("dask.array", "calspike.dask")
    from dask.delayed import delayed

    rate = config.check({"rate": rate})["rate"]
    traces = da.asarray(array).rechunk({1: -1})
    counts = None if spikes is None else da.asarray(spikes).rechunk(traces.chunks)
    parts = []
    start = 0
    for k, rows in enumerate(traces.chunks[0]):
        block = traces.blocks[k, 0]
        labels = None if counts is None else counts.blocks[k, 0]
        parts.append(delayed(_partition_block)(block, labels, rate, start, window_settings))
        start += rows
    return parts


def _partition_block(
    traces: np.ndarray,
    spikes: np.ndarray | None,
    rate: float,
    first_row: int,
    window_settings: dict[str, Any],
) -> Any:
    from calspike.data.recording import Recording
    from calspike.windows import partition as partition_recordings

    recording = Recording(
        np.ascontiguousarray(traces, dtype=np.float32),
        rate,
        spikes=None if spikes is None else np.asarray(spikes, dtype=np.float32),
        name="dask",
        neuron_names=tuple(str(first_row + n) for n in range(traces.shape[0])),
    )
    return partition_recordings([recording], **window_settings)
