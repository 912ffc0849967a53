"""One CASCADE neuron file: a MATLAB v5 ``.mat`` holding ``CAttached``, read into its segments.

Each segment is a `Segment` (calcium and spike counts per frame at the segment's frame rate,
with what the reader cut or dropped counted) or `Skipped` (a segment without imaging). The
rules for real data's quirks are those listed in `calspike.data.cascade`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calspike._inputs import open_input
from calspike.data.recording import DataError

AP_TIME_UNIT_S = 1e-4  # events_AP counts in tenths of a millisecond


@dataclass
class Segment:
    """One recording segment of a neuron, at its own frame rate (Hz), with what was cut counted."""

    neuron: str
    calcium: np.ndarray  # float32 (T,), NaN on dropped frames
    spikes: np.ndarray  # float32 (T,) counts per frame
    rate: float
    outside: int  # spikes that fall in no frame
    cut: int = 0  # fluo_mean values beyond fluo_time's length
    nan_spikes: int = 0  # NaN spike times dropped
    repeated: int = 0  # last frames cut because their time repeats an earlier frame's


@dataclass
class Skipped:
    """A segment without imaging (electrophysiology only): passed over, counted."""

    neuron: str


def neuron_name(path: Path) -> str:
    """The neuron a file holds: its name less ``CAttached``, ``_`` and ``_mini``."""
    return re.sub(r"_mini$", "", re.sub(r"^CAttached_?", "", path.stem)) or path.stem


def read_neuron_file(path: str | os.PathLike[str]) -> list[Segment | Skipped]:
    """The segments of one neuron's ``.mat`` file (DataError naming the file and segment)."""
    from scipy.io import loadmat

    path = Path(path)
    if path.suffix != ".mat":
        raise DataError(f"{path}: not a MATLAB .mat file")
    try:
        with open_input(path) as stream:
            content = loadmat(stream, squeeze_me=False)
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 files, which are HDF5 inside
        raise DataError(
            f"{path}: a MATLAB v7.3 (HDF5) file; CASCADE ground truth is MATLAB v5: "
            "save it with -v7 or earlier"
        ) from None
    except Exception as error:  # noqa: BLE001 - scipy answers damaged files in many ways (IndexError, UnboundLocalError...)
        raise DataError(
            f"{path}: not a readable MATLAB v5 file ({type(error).__name__}: {error})"
        ) from None
    cells = content.get("CAttached")
    if cells is None:
        raise DataError(
            f"{path}: no variable CAttached (found: {', '.join(k for k in content if k[0] != '_')})"
        )
    cells = np.asarray(cells)
    if cells.dtype != object and cells.dtype.names is None:
        raise DataError(f"{path}: CAttached must be a cell array of structs, got {cells.dtype}")
    if cells.size == 0:
        raise DataError(f"{path}: CAttached holds no segment")
    neuron = neuron_name(path)
    return [
        _segment(path, k, item, neuron) for k, item in enumerate(cells.ravel())
    ]  # cells or a struct array


def _field(path: Path, where: str, struct: np.ndarray, name: str) -> np.ndarray:
    names = struct.dtype.names or ()
    if name not in names:
        raise DataError(
            f"{path}, {where}: the struct has no field {name} "
            f"(fields: {', '.join(names) or 'none'})"
        )
    value = np.asarray(struct[name].ravel()[0] if struct.size else [])
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise DataError(f"{path}, {where}: {name} must be numbers, got {value.dtype}")
    if value.ndim > 1 and sorted(value.shape)[-2] > 1:
        raise DataError(f"{path}, {where}: {name} must be a vector, got shape {value.shape}")
    return value.astype(np.float64).ravel()


def _segment(path: Path, k: int, item: Any, neuron: str) -> Segment | Skipped:
    where = f"segment {k + 1}"
    struct = np.asarray(item)
    if struct.dtype.names is None:
        raise DataError(
            f"{path}, {where}: expected a struct with fluo_time, fluo_mean and events_AP"
        )
    if struct.size != 1:
        raise DataError(
            f"{path}, {where}: a cell holds {struct.size} structs; expected one per segment"
        )
    times = _field(path, where, struct, "fluo_time")
    calcium = _field(path, where, struct, "fluo_mean")
    events = _field(path, where, struct, "events_AP")
    if times.size == 0 or calcium.size == 0 or np.isnan(times).all() or np.isnan(calcium).all():
        return Skipped(neuron)  # electrophysiology without imaging
    if times.size > calcium.size:
        raise DataError(
            f"{path}, {where}: fluo_time has {times.size} frames but fluo_mean only {calcium.size}"
        )
    cut = calcium.size - times.size  # CASCADE's loader cuts fluo_mean to fluo_time's length
    calcium = calcium[: times.size]
    if np.isinf(events).any():
        raise DataError(f"{path}, {where}: events_AP holds infinite spike times")
    nan_spikes = int(np.isnan(events).sum())
    events = events[~np.isnan(events)]
    if np.isinf(times).any() or np.isinf(calcium).any():
        raise DataError(f"{path}, {where}: fluo_time or fluo_mean holds infinite values")
    timed = np.flatnonzero(~np.isnan(times))
    if timed.size < 2:
        raise DataError(f"{path}, {where}: fewer than 2 frames with a time")
    first, last = (
        int(timed[0]),
        int(timed[-1]) + 1,
    )  # frames without a time at either end cannot be placed
    repeated = 0  # nor last frames that repeat the time before them (DS24-DS27 repeat the last one)
    while last - first > 2 and times[last - 1] == times[last - 2]:
        last, repeated = last - 1, repeated + 1
    times, calcium = times[first:last], calcium[first:last]
    known = ~np.isnan(times)
    steps = np.diff(times[known])
    if not np.all(steps > 0):
        frame = first + int(np.flatnonzero(known)[np.flatnonzero(steps <= 0)[0] + 1]) + 1
        raise DataError(
            f"{path}, {where}: fluo_time does not increase at frame {frame} of the segment"
        )
    frame_s = float(np.median(steps))
    frames = np.arange(times.size)
    times = np.interp(frames, frames[known], times[known])  # interior frames without a time
    rate = 1.0 / frame_s
    if not 0.1 <= rate <= 10_000:
        raise DataError(
            f"{path}, {where}: frame rate {rate:g} Hz (from fluo_time) is outside [0.1, 10000]"
        )
    edges = np.concatenate(
        [[times[0] - frame_s / 2], (times[1:] + times[:-1]) / 2, [times[-1] + frame_s / 2]]
    )
    spike_s = events * AP_TIME_UNIT_S
    counts, _ = np.histogram(spike_s, edges)
    outside = int(events.size - counts.sum())
    if np.isnan(calcium[known]).all():
        raise DataError(f"{path}, {where}: fluo_mean holds no finite value at a frame with a time")
    return Segment(
        neuron,
        calcium.astype(np.float32),
        counts.astype(np.float32),
        rate,
        outside,
        cut,
        nan_spikes,
        repeated,
    )
