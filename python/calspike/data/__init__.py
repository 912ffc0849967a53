"""Recordings and where they come from.

SpikeFinder files, CASCADE ground truth, NWB files, plain arrays, downloads, the simulator.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from calspike.data.arrays import read_array
from calspike.data.cascade import is_ground_truth, read_ground_truth
from calspike.data.chunked import split_hdf5
from calspike.data.download import OFFICIAL_URLS, cache_dir, fetch_spikefinder
from calspike.data.nwb import is_nwb, read_nwb, write_nwb_spikes
from calspike.data.recording import DataError, DataWarning, EmptyNeuronWarning, Recording
from calspike.data.simulate import INDICATORS, Indicator, default_recordings, simulate
from calspike.data.spikefinder import (
    SPIKEFINDER_RATE_HZ,
    read_spikefinder,
    read_spikefinder_csv,
    read_spikefinder_dataset,
    write_spikefinder_csv,
)

__all__ = [
    "INDICATORS",
    "OFFICIAL_URLS",
    "SPIKEFINDER_RATE_HZ",
    "DataError",
    "DataWarning",
    "EmptyNeuronWarning",
    "Indicator",
    "Recording",
    "cache_dir",
    "default_recordings",
    "fetch_spikefinder",
    "load_recordings",
    "read_array",
    "read_ground_truth",
    "read_nwb",
    "read_spikefinder",
    "read_spikefinder_csv",
    "read_spikefinder_dataset",
    "simulate",
    "write_nwb_spikes",
    "write_spikefinder_csv",
]

_SPIKEFINDER_FILE = re.compile(r"^(\d+)\.(train|test)\.calcium\.csv$")


def load_recordings(
    source: str | os.PathLike[str], rate: float | None = None, gaps: bool = False
) -> list[Recording]:
    """Read recordings from any supported source, choosing the reader by what `source` is.

    CASCADE ground truth (a folder of ``DSxx-...`` folders, one of them, or a
    ``CAttached_*.mat`` file) goes to `read_ground_truth` (its frame rates are its own:
    `rate` does not apply); an ``.nwb`` file to `read_nwb` (its DfOverF or Fluorescence
    series, with spike counts when it holds them; its rate is its own). Another folder is
    read as SpikeFinder training data (test data when it has no training files);
    ``N.{split}.calcium.csv`` reads that dataset; other files (.npy/.npz/.csv arrays) go
    to `read_array`.

    Parameters
    ----------
    source : path-like
        A SpikeFinder folder or file, CASCADE ground truth, an NWB file or an array file.
    rate : float, optional
        Frame rate in Hz: SpikeFinder files are read at it (100 Hz when None); arrays need
        it unless the file stores one.
    gaps : bool
        Accept NaN frames inside traces (dropped frames, for inference).

    Returns
    -------
    list of Recording
        The recordings read.

    Raises
    ------
    FileNotFoundError
        For missing files.
    ValueError
        For a missing or bad `rate`, or an unsupported file type.
    DataError
        For malformed files, naming them.
    """
    path = Path(source)
    if split_hdf5(source) is not None:
        raise ValueError(
            f"{source}: an HDF5 dataset holds traces without spikes; `infer` and `prepare -o "
            "STORE.zarr` read it, recordings with ground truth come from .npz, SpikeFinder, "
            "CASCADE or NWB files"
        )
    if is_ground_truth(path):
        return read_ground_truth(path)
    if is_nwb(path):  # its rate is the series' own
        return read_nwb(path)
    spikefinder_rate = SPIKEFINDER_RATE_HZ if rate is None else rate
    if path.is_dir():
        has_train = any(path.glob("*.train.calcium.csv"))
        return read_spikefinder(
            path, "train" if has_train else "test", rate=spikefinder_rate, gaps=gaps
        )
    match = _SPIKEFINDER_FILE.match(path.name)
    if match:
        return [
            read_spikefinder_dataset(
                path.parent, int(match.group(1)), match.group(2), spikefinder_rate, gaps
            )
        ]
    return [read_array(path, rate, gaps=gaps)]
