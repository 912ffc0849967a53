"""CASCADE ground truth: one MATLAB v5 file per neuron, ``CAttached_*_mini.mat``.

The files lie in dataset folders named ``DSxx-<indicator>-<species>-<area>[-neuropil-corrected]``.

Each file holds ``CAttached``, a 1 x n cell array of structs, one per recording segment:
``fluo_time`` (1 x T, s, the clock restarts in each segment), ``fluo_mean`` (1 x T, dF/F)
and ``events_AP`` (k x 1, action potential times in units of 1e-4 s on the same clock).

What the reader does with real data's quirks (as CASCADE's own loader, where it has a rule):
- every ``*_mini.mat`` or ``CAttached*.mat`` file of a dataset folder is a neuron (DS24-DS27
  name theirs ``CAttachedPV...``, ``CAttachedSOM...``);
- ``fluo_mean`` longer than ``fluo_time`` (DS04, DS05) is cut to ``fluo_time``'s length, and
  the values cut are counted (``metadata["fluo_mean_values_cut"]``); shorter is a DataError;
- NaN spike times in ``events_AP`` (DS15) are dropped, counted
  (``metadata["nan_spike_times_dropped"]``) and named in a DataWarning;
- segments without imaging (``fluo_time`` or ``fluo_mean`` empty or all NaN: electrophysiology
  only) are passed over and counted per dataset (``metadata["dataset_segments_without_imaging"]``);
- last frames whose time repeats the frame before's (DS24-DS27 repeat the last time) are cut
  and counted (``metadata["end_frames_with_repeated_time_cut"]``); elsewhere a time that does
  not increase is a DataError, as are two files naming one neuron, fields that are not vectors
  and cells holding several structs;
- a spike belongs to the frame whose time is nearest (bin edges halfway between frame
  times, half a frame beyond the first and last); spikes outside are dropped and counted
  (``metadata["spikes_outside_imaging"]``);
- frames without a time at the start or end of a segment cannot be placed in time and
  are cut; inside a segment their times are interpolated and their calcium stays NaN
  (a dropped frame: the Recording has ``gaps=True``);
- the frame rate is 1 / median frame interval of each segment; rows are grouped into one
  Recording per dataset and frame rate (rounded to 0.1 Hz, which stretches time by at
  most 0.2 % at 30 Hz);
- segments are kept apart (one row each, named ``<neuron>/seg<k>``) or, with
  ``segments="joined"``, a neuron's segments at one rate are joined into one row with
  `gap_s` seconds of NaN calcium (no spikes) between them: never spliced end to end.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from calspike.data.cascade_mat import Segment, Skipped, neuron_name, read_neuron_file
from calspike.data.recording import DataError, DataWarning, Recording

_DATASET = re.compile(r"^(?P<id>DS\d+)-(?P<rest>.+?)(?P<corrected>-neuropil-corrected)?$")
_SPECIES = {"m": "mouse", "zf": "zebrafish", "r": "rat"}
# the folder names' indicators, as the papers name them
_INDICATORS = {
    "GCaMP7f": "jGCaMP7f",
    "GCaMP8f": "jGCaMP8f",
    "GCaMP8m": "jGCaMP8m",
    "GCaMP8s": "jGCaMP8s",
    "OGB1": "OGB-1",
    "OGB1-2": "OGB-1",
    "Cal520": "Cal-520",
    "R-CaMP": "R-CaMP1.07",
    "jGECO1a": "jRGECO1a",
    "XCaMPgf": "XCaMP-Gf",
    "Interneurons2023": "jGCaMP7f/8f/8m/8s, XCaMP-Gf",
}
NEURON_FILES = (
    "CAttached*.mat",
    "*_mini.mat",
)  # CASCADE's loader reads every *_mini.mat of a folder


def neuron_files(folder: Path) -> list[Path]:
    """The neurons' files of a CASCADE dataset folder, sorted (see NEURON_FILES)."""
    return sorted({f for pattern in NEURON_FILES for f in folder.glob(pattern) if not f.is_dir()})


def dataset_metadata(folder_name: str) -> dict[str, Any]:
    """What a CASCADE dataset folder's name says.

    The dataset id, indicator, species, area and neuropil correction.

    >>> dataset_metadata("DS09-GCaMP6f-m-V1")["species"]
    'mouse'
    """
    match = _DATASET.match(folder_name)
    if match is None:
        return {
            "dataset": folder_name,
            "folder": folder_name,
            "indicator": "unknown",
            "species": "unknown",
            "area": "unknown",
            "neuropil_corrected": False,
            "source": "CASCADE ground truth",
        }
    # <indicator>-<species>-<area>, where the indicator may hold a hyphen (R-CaMP, OGB1-2) and
    # the species may be missing (DS40-GCaMP6s-spinal-cord-excitatory)
    parts = [part for part in match["rest"].split("-") if part] or ["unknown"]
    at = next((i for i, part in enumerate(parts) if part in _SPECIES and len(parts) > 1), None)
    indicator = ("-".join(parts[:at]) if at is not None else parts[0]) or "unknown"
    area = "-".join(parts[at + 1 :] if at is not None else parts[1:]) or "unknown"
    return {
        "dataset": match["id"],
        "folder": folder_name,
        "indicator": _INDICATORS.get(indicator, indicator),
        "species": _SPECIES[parts[at]] if at is not None else "unknown",
        "area": area,
        "neuropil_corrected": match["corrected"] is not None,
        "source": "CASCADE ground truth",
    }


def is_ground_truth(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a CASCADE ``.mat`` file, a folder of them or a folder of such folders."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".mat"
    return path.is_dir() and (
        bool(neuron_files(path)) or any(neuron_files(sub) for sub in path.iterdir() if sub.is_dir())
    )


def read_ground_truth(
    path: str | os.PathLike[str],
    *,
    segments: str = "separate",
    gap_s: float = 10.0,
) -> list[Recording]:
    """Read CASCADE ground truth: a folder of dataset folders, a dataset folder or a ``.mat`` file.

    Parameters
    ----------
    path : path-like
        A folder of CASCADE dataset folders (``DSxx-...``), one of them, or one neuron's
        file (``*_mini.mat`` or ``CAttached*.mat``, MATLAB v5).
    segments : {"separate", "joined"}
        Rows of the recordings: one per recorded segment, or one per neuron (its segments
        at one rate joined with `gap_s` seconds of NaN between them).
    gap_s : float
        Seconds of NaN between joined segments, in (0, 3600].

    Returns
    -------
    list of Recording
        One per dataset and frame rate, sorted by dataset then rate, with calcium (dF/F)
        and spike counts per frame, float32 (rows, frames), NaN-padded. ``neuron_names``
        come from the file names; ``metadata`` holds the dataset, indicator, species, area,
        neuropil correction, the frame rates found and what the quirks cost (the counts
        of spikes outside the imaging window, NaN spike times dropped, fluo_mean values
        cut, repeated end times cut, and the dataset's segments without imaging).

    Raises
    ------
    ValueError
        For a bad `segments` or `gap_s`.
    FileNotFoundError
        When `path` does not exist.
    DataError
        Naming the file and segment for malformed input, or when there is no neuron file.

    Warns
    -----
    DataWarning
        Naming each file whose NaN spike times were dropped.
    """
    if segments not in ("separate", "joined"):
        raise ValueError(f"segments must be 'separate' or 'joined', got {segments!r}")
    if isinstance(gap_s, bool) or not isinstance(gap_s, (int, float)) or not 0 < gap_s <= 3600:
        raise ValueError(f"gap_s must be a number of seconds in (0, 3600], got {gap_s!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no CASCADE ground truth at {root}")
    if root.is_file():
        groups = {root.parent: [root]}
    elif neuron_files(root):
        groups = {root: neuron_files(root)}
    else:
        groups = {
            folder: neuron_files(folder)
            for folder in sorted(root.iterdir())
            if folder.is_dir() and neuron_files(folder)
        }
    if not groups:
        raise DataError(
            f"{root}: no CASCADE neuron files (*_mini.mat, CAttached*.mat) in it or in its "
            "sub-folders"
        )
    recordings = []
    for folder, files in groups.items():
        names: dict[str, list[str]] = defaultdict(list)
        for file in files:
            names[neuron_name(file)].append(file.name)
        for neuron, named in names.items():
            if len(named) > 1:
                raise DataError(
                    f"{folder}: {', '.join(named)} all name neuron {neuron!r}; keep one"
                )
        read = {file: read_neuron_file(file) for file in files}
        for file, parts in read.items():
            dropped = {
                k + 1: s.nan_spikes
                for k, s in enumerate(parts)
                if isinstance(s, Segment) and s.nan_spikes
            }
            if dropped:
                warnings.warn(
                    f"{file}: dropped {sum(dropped.values())} NaN spike time(s) of events_AP "
                    f"(segment{'s' if len(dropped) > 1 else ''} {', '.join(map(str, dropped))})",
                    DataWarning,
                    stacklevel=2,
                )
        found = [s for parts in read.values() for s in parts if isinstance(s, Segment)]
        if not found:
            raise DataError(
                f"{folder}: no segment of {', '.join(f.name for f in files[:3])}"
                f"{f' (and {len(files) - 3} more files)' if len(files) > 3 else ''} holds imaging"
            )
        skipped = sum(isinstance(s, Skipped) for parts in read.values() for s in parts)
        metadata = {**dataset_metadata(folder.name), "dataset_segments_without_imaging": skipped}
        recordings += _recordings(found, metadata, segments, gap_s)
    return recordings


def _recordings(
    found: list[Segment], metadata: dict[str, Any], segments: str, gap_s: float
) -> list[Recording]:
    """Rows grouped by frame rate (0.1 Hz): one Recording per rate."""
    by_rate: dict[float, list[Segment]] = defaultdict(list)
    for segment in found:
        by_rate[round(segment.rate, 1)].append(segment)
    recordings = []
    for rounded in sorted(by_rate):
        group = by_rate[rounded]
        rate = float(np.median([s.rate for s in group]))
        rows: list[tuple[str, np.ndarray, np.ndarray]] = []
        if segments == "separate":
            numbers: dict[str, int] = defaultdict(int)
            for s in group:
                numbers[s.neuron] += 1
                rows.append((f"{s.neuron}/seg{numbers[s.neuron]}", s.calcium, s.spikes))
        else:
            gap = round(gap_s * rate)
            for neuron in dict.fromkeys(s.neuron for s in group):
                parts = [s for s in group if s.neuron == neuron]
                calcium = [np.full(gap, np.nan, np.float32)] * (2 * len(parts) - 1)
                spikes = [np.zeros(gap, np.float32)] * (2 * len(parts) - 1)
                calcium[::2], spikes[::2] = [s.calcium for s in parts], [s.spikes for s in parts]
                rows.append((neuron, np.concatenate(calcium), np.concatenate(spikes)))
        length = max(r[1].size for r in rows)
        calcium_matrix = np.full((len(rows), length), np.nan, np.float32)
        spike_matrix = np.zeros((len(rows), length), np.float32)
        lengths = np.array([r[1].size for r in rows], dtype=np.int64)
        for i, (_, row_calcium, row_spikes) in enumerate(rows):
            calcium_matrix[i, : row_calcium.size], spike_matrix[i, : row_spikes.size] = (
                row_calcium,
                row_spikes,
            )
        name = metadata["dataset"] if len(by_rate) == 1 else f"{metadata['dataset']}@{rounded:g}Hz"
        info = {
            **metadata,
            "rate_hz": rate,
            "segment_rates_hz": sorted({round(s.rate, 3) for s in group}),
            "spikes_outside_imaging": sum(s.outside for s in group),
            "segments": segments,
            "fluo_mean_values_cut": sum(s.cut for s in group),
            "nan_spike_times_dropped": sum(s.nan_spikes for s in group),
            "end_frames_with_repeated_time_cut": sum(s.repeated for s in group),
        }
        recordings.append(
            Recording(
                calcium_matrix,
                rate,
                spikes=spike_matrix,
                lengths=lengths,
                name=name,
                gaps=bool(np.isnan(calcium_matrix[np.arange(length) < lengths[:, None]]).any()),
                neuron_names=tuple(r[0] for r in rows),
                metadata=info,
            )
        )
    return recordings
