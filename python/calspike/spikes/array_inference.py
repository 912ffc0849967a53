"""`calspike infer` on an array or a suite2p plane: into a .npy file or a .zarr array.

A chunked input (.npy, .zarr, HDF5) is read a chunk of neurons at a time, here or on Dask;
the spikes are written as each chunk comes back, to a temporary file (folder) that takes the
output's place only when whole.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calspike._io import atomic_folder, atomic_path
from calspike.data import load_recordings
from calspike.data.chunked import ZarrWriter, is_chunked_source, open_rows
from calspike.data.npy_stream import NpyWriter
from calspike.data.recording import Recording
from calspike.data.suite2p import read_suite2p
from calspike.spikes.chunks import Tally, recording_chunks, row_chunks, warn_empty
from calspike.spikes.method import SpikeMethod
from calspike.spikes.runner import Cluster, run


def infer_array(
    source: Path,
    output: Path,
    rate: float | None,
    method: SpikeMethod,
    *,
    suite2p: dict[str, Any] | None,
    layout: str = "npy",
    cluster: Cluster | None = None,
) -> tuple[dict[str, Any], str]:
    """(sidecar summary, SHA-256 of the values written) of inferring `source` into `output`.

    `source` is an array file or, with `suite2p` (its neuropil, baseline and cells_only), a
    suite2p plane; `rate` in Hz unless the input stores one; `layout` "npy" or "zarr";
    `cluster` runs the chunks on Dask.
    """
    with contextlib.ExitStack() as open_files:  # the input reader is closed however this ends
        tally = Tally()
        rois: np.ndarray | None = None
        chunks: Iterator[Recording]
        if suite2p is not None:
            read = read_suite2p(
                source,
                rate,
                neuropil=suite2p["neuropil"],
                baseline=suite2p["baseline"],
                cells_only=suite2p["cells_only"],
            )
            chunks = recording_chunks(read.recording, method)
            shape, name = (read.total_rois, read.recording.frames), read.recording.name
            rois = read.rois
        elif is_chunked_source(source):
            reader = open_rows(source)
            open_files.callback(reader.close)
            rate = rate if rate is not None else reader.rate
            if rate is None:
                raise ValueError(
                    f"{source}: it stores no frame rate: give it (--rate, or rate= in Python)"
                )
            chunks = row_chunks(reader, rate, method)
            shape, name = reader.shape, Path(str(source)).stem
        else:
            recording = load_recordings(source, rate, gaps=True)[0]
            chunks = recording_chunks(recording, method)
            shape, name = recording.calcium.shape, recording.name
        shape = (int(shape[0]), int(shape[1]))
        seen = 0  # neurons inferred so far
        with _array_writer(output, layout, shape) as writer:
            spikes_of = run(method, chunks, rate=rate, cluster=cluster, open_files=open_files)
            for chunk, spikes, found in spikes_of:
                warn_empty(chunk, seen)
                if rois is not None:  # suite2p: rows of F.npy, NaN for the ROIs not inferred
                    mine = rois[seen : seen + chunk.neurons]
                    rows = int(mine[-1]) + 1 - writer.written
                    block = np.full((rows, shape[1]), np.nan, dtype=np.float32)
                    block[mine - writer.written] = spikes
                    spikes = block
                writer.write(spikes)
                seen += chunk.neurons
                tally.add(chunk, found)
            if writer.written < shape[0]:  # suite2p: trailing ROIs not inferred
                writer.write(np.full((shape[0] - writer.written, shape[1]), np.nan, np.float32))
            if isinstance(writer, ZarrWriter):
                # a zarr output comes only from a chunked input, whose rate is known
                writer.annotate(rate=rate)
            writer.finish()
    summary = tally.summary(name, output.name, shape[0], shape[1])
    if rois is not None and suite2p is not None:
        summary.update(
            {
                "rois": rois.tolist(),
                "total_rois": shape[0],
                "neuropil": suite2p["neuropil"],
                "baseline": suite2p["baseline"],
            }
        )
    return summary, writer.sha256


@contextlib.contextmanager
def _array_writer(
    output: Path, layout: str, shape: tuple[int, int]
) -> Iterator[NpyWriter | ZarrWriter]:
    """A block writer into a temporary .npy file or zarr folder; it takes `output`'s place whole."""
    if layout == "zarr":
        with atomic_folder(output, "output zarr array", {"kind": "predictions"}) as folder:
            # the rate is annotated once known
            yield ZarrWriter(folder, shape, attributes={"unit": "spikes per frame"})
        return
    needed = shape[0] * shape[1] * 4  # bytes of float32 spikes; the header fits in a page
    free = shutil.disk_usage(output.parent).free
    if needed > free:  # found now, not hours later as a full disk
        raise OSError(
            errno.ENOSPC,
            f"cannot write {output}: {shape[0]:,} neurons x {shape[1]:,} frames of spikes need "
            f"{needed / 2**30:,.1f} GiB and its disk has {free / 2**30:,.1f} GiB free; free "
            "space or write it elsewhere",
        )
    with atomic_path(output) as temporary:
        writer = NpyWriter(temporary, shape)
        try:
            yield writer
        finally:
            writer.close()
