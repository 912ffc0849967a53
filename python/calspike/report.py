"""The job behind `calspike run`: load recordings, partition them, summarise.

(The full tutorial pipeline with models and figures builds on this.)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from calspike import config
from calspike.data import Recording, default_recordings, load_recordings
from calspike.windows import WINDOW_SETTINGS, partition


@dataclass(frozen=True)
class RecordingSummary:
    """One row of the run's table."""

    name: str
    neurons: int
    frames: int  # valid frames summed over neurons
    rate_hz: float
    windows: int
    spike_fraction: float
    seconds: float  # time to partition this recording


def run(
    data: str | os.PathLike[str] | None = None, *, rate: float | None = None, seed: int = 0, threads: int = 0,
    **settings: Any,
) -> list[RecordingSummary]:
    """Partition every recording of `data` (the built-in simulated recordings when None).

    `data` is anything `calspike.load_recordings` reads; `settings` are window settings
    (len_pre, len_post, skip, spike_n, normalize). Returns one summary per recording.
    """
    unknown = set(settings) - set(WINDOW_SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    params = config.check({**config.defaults(WINDOW_SETTINGS), **settings, "seed": seed, "threads": threads})
    seed = params.pop("seed")
    recordings: list[Recording] = default_recordings(seed) if data is None else load_recordings(data, rate)
    rows = []
    for recording in recordings:
        start = time.perf_counter()
        windows = partition(recording, **params)
        seconds = time.perf_counter() - start
        rows.append(
            RecordingSummary(
                name=recording.name,
                neurons=recording.neurons,
                frames=recording.valid_frames,
                rate_hz=recording.rate,
                windows=len(windows),
                spike_fraction=windows.spike_fraction,
                seconds=seconds,
            )
        )
    return rows


def format_table(rows: list[RecordingSummary]) -> str:
    """A plain-text table of the summaries with a total row."""
    header = ("recording", "neurons", "frames", "rate (Hz)", "windows", "spike fraction", "time (ms)")
    lines = [
        (r.name, f"{r.neurons:,}", f"{r.frames:,}", f"{r.rate_hz:g}", f"{r.windows:,}",
         "n/a" if np.isnan(r.spike_fraction) else f"{r.spike_fraction:.3f}", f"{1000 * r.seconds:.1f}")
        for r in rows
    ]
    total_windows = sum(r.windows for r in rows)
    labelled = [r for r in rows if not np.isnan(r.spike_fraction)]
    spikes = sum(r.spike_fraction * r.windows for r in labelled)
    fraction = spikes / sum(r.windows for r in labelled) if labelled and total_windows else float("nan")
    lines.append(
        ("total", f"{sum(r.neurons for r in rows):,}", f"{sum(r.frames for r in rows):,}", "",
         f"{total_windows:,}", "n/a" if np.isnan(fraction) else f"{fraction:.3f}",
         f"{1000 * sum(r.seconds for r in rows):.1f}")
    )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines[:-1]), rule, render(lines[-1])])
