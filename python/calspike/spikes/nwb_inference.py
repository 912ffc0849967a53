"""`calspike infer` on an NWB file.

Read the traces, infer spikes chunk by chunk, write a new NWB file that is the input plus the
inferred spikes (`calspike.data.nwb`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from calspike._io import file_digest
from calspike.data.nwb import OUTPUT_MODULE, OUTPUT_SERIES, read_nwb, write_nwb_spikes
from calspike.spikes.chunks import Tally, recording_chunks, warn_empty
from calspike.spikes.method import SpikeMethod
from calspike.spikes.runner import run


def infer_nwb(
    source: Path, output: Path, rate: float | None, method: SpikeMethod, series: str | None
) -> tuple[dict[str, Any], str]:
    """(sidecar summary, SHA-256 of the output file) of inferring `source`'s series into `output`.

    `rate` (Hz), when given, must agree with the series' own rate; the traces are read whole
    (an NWB series is stored frames x ROIs, so a block of neurons is not contiguous on disk).
    """
    tally = Tally()
    recording = read_nwb(source, series)[0]
    if rate is not None and abs(rate - recording.rate) > 1e-6 * recording.rate:
        raise ValueError(
            f"{source}: --rate {rate:g} Hz disagrees with the series' {recording.rate:g} Hz"
        )
    spikes = np.empty(recording.calcium.shape, dtype=np.float32)
    row = 0
    chunks = recording_chunks(recording, method)
    with contextlib.ExitStack() as open_files:
        for chunk, block, found in run(method, chunks, rate=recording.rate, open_files=open_files):
            warn_empty(chunk, row)
            spikes[row : row + chunk.neurons] = block
            row += chunk.neurons
            tally.add(chunk, found)
    chosen = recording.metadata["nwb_series"]
    write_nwb_spikes(
        source,
        output,
        spikes,
        series=chosen,
        description={
            "calspike": method.recorded_settings(),
            "method": method.name,
            "noise_level": tally.details.get("noise_level"),
            "roi_ids": list(recording.neuron_names or ()),
        },
    )
    summary = tally.summary(
        recording.name,
        output.name,
        recording.neurons,
        recording.frames,
        series=chosen,
        written=f"processing/{OUTPUT_MODULE}/{OUTPUT_SERIES}",
    )
    return summary, file_digest(output)
