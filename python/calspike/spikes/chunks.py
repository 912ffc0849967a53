"""Chunks of neurons for `calspike infer`: their size, their warnings, their sidecar summary.

An input is cut into chunks of whole traces sized to a working-memory budget; each chunk's
neurons without a finite frame are named by input row; what the chunks give adds up to the
sidecar's summary of the input (`Tally`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calspike.data.chunked import Rows
from calspike.data.recording import EmptyNeuronWarning, Recording, warn_empty_neurons
from calspike.spikes import budget
from calspike.spikes.method import SpikeMethod

WORKING_BYTES = budget.WORKING_BYTES  # per chunk of neurons


def neurons_per_chunk(method: SpikeMethod, frames: int, rate: float) -> int:
    """Neurons of `frames` frames at `rate` Hz that fit WORKING_BYTES for `method`.

    At most the method's ``chunk_neurons``; a method that upsamples (the rate model) costs more.
    """
    return budget.neurons_per_chunk(
        frames,
        rate,
        method.working_rate(rate),
        method.settings.chunk_neurons,
        WORKING_BYTES,
    )


def recording_chunks(recording: Recording, method: SpikeMethod) -> Iterator[Recording]:
    """The recording's neurons in chunks (`neurons_per_chunk`), in row order."""
    step = neurons_per_chunk(method, recording.frames, recording.rate)
    for start in range(0, recording.neurons, step):
        stop = min(start + step, recording.neurons)
        yield Recording(
            recording.calcium[start:stop],
            recording.rate,
            lengths=recording.lengths[start:stop],
            name=recording.name,
            gaps=True,
        )


def row_chunks(reader: Rows, rate: float, method: SpikeMethod) -> Iterator[Recording]:
    """The rows of a chunked input (.npy, .zarr, HDF5) read a chunk at a time, at `rate` Hz.

    ValueError naming the file and the rows for a chunk that is not valid calcium.
    """
    step = neurons_per_chunk(method, reader.shape[1], rate)
    for start in range(0, reader.shape[0], step):
        stop = min(start + step, reader.shape[0])
        try:
            chunk = Recording(reader.rows(start, stop), rate, name=reader.path.stem, gaps=True)
        except ValueError as error:
            raise type(error)(f"{reader.path} (neurons {start}..{stop - 1}): {error}") from None
        yield chunk


def warn_empty(recording: Recording, offset: int) -> None:
    """EmptyNeuronWarning naming the neurons with no finite frame by input row.

    `offset` is the input row of the recording's first neuron.
    """
    empty = [
        not np.isfinite(recording.calcium[row, : int(n)]).any()
        for row, n in enumerate(recording.lengths)
    ]
    warn_empty_neurons(np.array(empty, dtype=bool), recording.name, offset, stacklevel=4)


def estimate(method: SpikeMethod, chunk: Recording) -> tuple[np.ndarray, dict[str, Any]]:
    """(spikes, per-neuron details) of a chunk; the method's own EmptyNeuronWarning silenced.

    `infer` warns itself (`warn_empty`), numbering neurons by input row, not by chunk row.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyNeuronWarning)
        return method(chunk)


def dropped_frames(recording: Recording) -> int:
    """The number of NaN frames inside the recording's valid lengths."""
    inside = np.arange(recording.frames) < np.asarray(recording.lengths)[:, None]
    return int(np.count_nonzero(np.isnan(recording.calcium) & inside))


@dataclass
class Tally:
    """What the chunks of one input add up to, for its sidecar summary.

    Started when the input's work starts (the summary's seconds count from then).
    """

    started: float = field(default_factory=time.perf_counter)
    dropped: int = 0
    rate: float = math.nan
    details: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, chunk: Recording, details: dict[str, list[Any]]) -> None:
        """Count a chunk: its dropped frames, its rate (Hz) and its per-neuron details."""
        self.dropped += dropped_frames(chunk)
        self.rate = chunk.rate
        for key, values in details.items():
            self.details.setdefault(key, []).extend(values)

    def summary(
        self, name: str, output: str, neurons: int, frames: int, **placed: Any
    ) -> dict[str, Any]:
        """The sidecar's summary of the input: `placed` (e.g. NWB's series) after its output."""
        return {
            "name": name,
            "output": output,
            **placed,
            "neurons": neurons,
            "frames": frames,
            "rate_hz": self.rate,
            "seconds": round(time.perf_counter() - self.started, 4),
            "dropped_frames": self.dropped,
            **self.details,
        }
