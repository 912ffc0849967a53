"""SpikeFinder challenge files: N.{train,test}.{calcium,spikes}.csv, frames x neurons.

Each file has a header row of neuron numbers (0, 1, 2, ...) and one row per frame;
shorter traces are padded with empty cells (NaN) at the end of their column.
Recordings were resampled by the organisers to 100 Hz.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from calspike._io import atomic_path
from calspike.data._csv import read_numeric_csv
from calspike.data.recording import DataError, Recording

SPIKEFINDER_RATE_HZ = 100.0
_FILE = re.compile(r"^(\d+)\.(train|test)\.calcium\.csv$")


def read_spikefinder(
    directory: str | os.PathLike[str],
    split: str = "train",
    datasets: Iterable[int] | None = None,
    rate: float = SPIKEFINDER_RATE_HZ,
    gaps: bool = False,
) -> list[Recording]:
    """Read SpikeFinder datasets from a folder, one Recording per dataset, sorted by number.

    Parameters
    ----------
    directory : path-like
        Folder holding ``N.{split}.calcium.csv`` (and ``N.{split}.spikes.csv``).
    split : {"train", "test"}
        "train" (spikes required) or "test" (spikes read when present).
    datasets : iterable of int, optional
        Dataset numbers to read; all found when None.
    rate : float
        Frame rate in Hz (100 for the challenge's files).
    gaps : bool
        Accept empty (NaN) calcium cells inside a column as dropped frames (for inference).

    Returns
    -------
    list of Recording
        Calcium (and spikes) of each dataset, float32 (neurons, frames), NaN-padded.

    Raises
    ------
    ValueError
        For an unknown `split`.
    FileNotFoundError
        For a missing folder, dataset or training spikes file.
    DataError
        Naming file, line and column for malformed content.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(f"SpikeFinder folder not found: {folder}")
    if datasets is None:
        found = sorted(
            int(m.group(1))
            for p in folder.iterdir()
            if (m := _FILE.match(p.name)) and m.group(2) == split
        )
        if not found:
            raise FileNotFoundError(f"no N.{split}.calcium.csv files in {folder}")
        numbers = found
    else:
        numbers = [int(n) for n in datasets]
    return [read_spikefinder_dataset(folder, n, split, rate, gaps) for n in numbers]


def read_spikefinder_dataset(
    directory: str | os.PathLike[str],
    dataset: int,
    split: str = "train",
    rate: float = SPIKEFINDER_RATE_HZ,
    gaps: bool = False,
) -> Recording:
    """Read one dataset's calcium (and spikes) CSV pair into a Recording.

    The Recording is named ``"{dataset}.{split}"``.
    """
    folder = Path(directory)
    calcium_path = folder / f"{dataset}.{split}.calcium.csv"
    spikes_path = folder / f"{dataset}.{split}.spikes.csv"
    if not calcium_path.exists():
        raise FileNotFoundError(f"calcium file not found: {calcium_path}")
    calcium, lengths = read_spikefinder_csv(calcium_path, gaps)
    spikes = None
    if spikes_path.is_file():
        spikes, spike_lengths = read_spikefinder_csv(spikes_path)
        if spikes.shape != calcium.shape:
            raise DataError(
                f"{spikes_path}: {spikes.shape[0]} neurons x {spikes.shape[1]} frames, but "
                f"{calcium_path} has {calcium.shape[0]} x {calcium.shape[1]}"
            )
        short = np.flatnonzero(spike_lengths < lengths)
        if short.size:
            n = int(short[0])
            raise DataError(
                f"{spikes_path}: line {int(spike_lengths[n]) + 2}, column {n}: "
                f"empty cell inside the {int(lengths[n])} frames that {calcium_path.name} has "
                "for this neuron"
            )
    elif split == "train":
        raise FileNotFoundError(
            f"spikes file not found: {spikes_path} (required for training data)"
        )
    try:
        return Recording(
            calcium,
            rate,
            spikes=spikes,
            lengths=lengths,
            name=f"{dataset}.{split}",
            gaps=gaps,
            metadata={"dataset": f"SF{dataset}", "source": "SpikeFinder", "split": split},
        )
    except DataError as error:
        raise DataError(f"{calcium_path.parent}/{dataset}.{split}: {error}") from None


def read_spikefinder_csv(
    path: str | os.PathLike[str], gaps: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Parse one SpikeFinder CSV into float64 (neurons, frames) values and int64 (neurons,) lengths.

    A cell that is not a number, or (unless `gaps`) empty inside a column before its NaN
    tail, raises DataError naming the file, line (the header is line 1) and column. With
    `gaps`, such cells are NaN: dropped frames.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        table = read_numeric_csv(path, header=True)
    except DataError as error:
        if "the file is empty" in str(error):
            raise DataError(
                f"{path}: the file is empty (expected a header row of neuron numbers)"
            ) from None
        raise
    columns = [str(c).strip() for c in table.columns]
    for position, label in enumerate(columns):
        if not label.isdigit():
            raise DataError(
                f"{path}: line 1, column {position + 1}: header {label!r} is not a neuron number "
                "(SpikeFinder files start with a header row 0,1,2,...)"
            )
    if len(table) == 0:
        raise DataError(f"{path}: no data rows after the header")

    values = np.ascontiguousarray(table.to_numpy(dtype=np.float64).T)
    finite = ~np.isnan(values)
    lengths = np.where(finite.any(axis=1), values.shape[1] - np.argmax(finite[:, ::-1], axis=1), 0)
    for neuron, label in enumerate(columns):
        gap = np.flatnonzero(~finite[neuron, : lengths[neuron]])
        if gap.size and not gaps:
            raise DataError(
                f"{path}: line {int(gap[0]) + 2}, column {label!r}: empty or NaN cell inside the "
                f"trace (only the end of a column may be empty)"
            )
        infinite = np.flatnonzero(np.isinf(values[neuron, : lengths[neuron]]))
        if infinite.size:
            raise DataError(
                f"{path}: line {int(infinite[0]) + 2}, column {label!r}: infinite value"
            )
    return values, lengths.astype(np.int64)


def write_spikefinder_csv(
    path: str | os.PathLike[str], values: np.ndarray, lengths: np.ndarray | None = None
) -> Path:
    """Write (neurons, frames) values as a SpikeFinder CSV (frames x neurons, header 0..n-1).

    The file appears atomically: a reader never sees half of it.

    Parameters
    ----------
    path : path-like
        The CSV file to write.
    values : array_like, shape (neurons, frames)
        E.g. spike counts or expected spikes per frame.
    lengths : array_like of int, shape (neurons,), optional
        Valid frames of each neuron: frames from ``lengths[n]`` on are written as empty
        cells.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        For values that are not 2-D, or lengths of the wrong shape or out of range.
    """
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"values must be 2-D (neurons, frames), got shape {matrix.shape}")
    matrix = matrix.copy()
    if lengths is not None:
        lengths = np.asarray(lengths, dtype=np.int64)
        if (
            lengths.shape != (matrix.shape[0],)
            or lengths.min(initial=0) < 0
            or lengths.max(initial=0) > matrix.shape[1]
        ):
            raise ValueError(
                f"lengths must be ({matrix.shape[0]},) values in [0, {matrix.shape[1]}]"
            )
        matrix[np.arange(matrix.shape[1]) >= lengths[:, None]] = np.nan
    table = pd.DataFrame(matrix.T, columns=[str(n) for n in range(matrix.shape[0])])
    target = Path(path)
    with atomic_path(target) as temporary:
        table.to_csv(temporary, index=False, na_rep="")
    return target
