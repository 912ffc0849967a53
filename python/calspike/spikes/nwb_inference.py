"""`calspike infer` on an NWB file.

Read the traces, infer spikes chunk by chunk, write a new NWB file that is the input plus the
inferred spikes (`calspike.data.nwb`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from calspike._io import file_digest
from calspike.data.nwb import OUTPUT_MODULE, OUTPUT_SERIES, read_nwb, write_nwb_spikes


def infer_nwb(
    source: Path, output: Path, rate: float | None, estimator: Any, series: str | None
) -> tuple[dict[str, Any], str]:
    """(sidecar summary, SHA-256 of the output file) of inferring `source`'s series into `output`.

    `rate` (Hz), when given, must agree with the series' own rate; the traces are read whole
    (an NWB series is stored frames x ROIs, so a block of neurons is not contiguous on disk).
    """
    from calspike.spikes.estimator import dropped_frames
    from calspike.spikes.files import _recording_chunks, _warn_empty

    start = time.perf_counter()
    recording = read_nwb(source, series)[0]
    if rate is not None and abs(rate - recording.rate) > 1e-6 * recording.rate:
        raise ValueError(
            f"{source}: --rate {rate:g} Hz disagrees with the series' {recording.rate:g} Hz"
        )
    spikes = np.empty(recording.calcium.shape, dtype=np.float32)
    details: dict[str, list[Any]] = {}
    row = 0
    for chunk in _recording_chunks(recording, estimator):
        _warn_empty(chunk, row)
        block, found = estimator(chunk)
        spikes[row : row + chunk.neurons] = block
        row += chunk.neurons
        for key, values in found.items():
            details.setdefault(key, []).extend(values)
    chosen = recording.metadata["nwb_series"]
    write_nwb_spikes(
        source,
        output,
        spikes,
        series=chosen,
        description={
            "calspike": estimator.settings(),
            "method": estimator.method,
            "noise_level": details.get("noise_level"),
            "roi_ids": list(recording.neuron_names or ()),
        },
    )
    summary = {
        "name": recording.name,
        "output": output.name,
        "series": chosen,
        "written": f"processing/{OUTPUT_MODULE}/{OUTPUT_SERIES}",
        "neurons": recording.neurons,
        "frames": recording.frames,
        "rate_hz": recording.rate,
        "seconds": round(time.perf_counter() - start, 4),
        "dropped_frames": dropped_frames(recording),
        **details,
    }
    return summary, file_digest(output)
