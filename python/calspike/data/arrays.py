"""Plain arrays as recordings: .npy, .npz and headerless CSV of (neurons, frames)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from calspike._inputs import open_input
from calspike.data._csv import read_numeric_csv
from calspike.data.recording import DataError, Recording


def read_array(
    path: str | os.PathLike[str],
    rate: float | None = None,
    *,
    spikes: str | os.PathLike[str] | None = None,
    gaps: bool = False,
) -> Recording:
    """Read a (neurons, frames) array file into a Recording.

    NaN at the end of a trace marks padding; its frames are excluded via ``lengths``.

    Parameters
    ----------
    path : path-like
        ``.npy`` (calcium), ``.npz`` (key ``calcium``; optional ``spikes``, ``lengths``,
        ``rate``) or headerless ``.csv``/``.txt`` (one row per neuron, one column per frame;
        empty cells at the end of a row are padding).
    rate : float, optional
        Frame rate in Hz; required unless an ``.npz`` holds ``rate``.
    spikes : path-like, optional
        A file of spike counts in the same format and shape.
    gaps : bool
        Accept NaN frames inside traces as dropped frames (for inference).

    Returns
    -------
    Recording
        Named after the file's stem.

    Raises
    ------
    FileNotFoundError
        When a file does not exist.
    ValueError
        For an unsupported file type, a missing `rate`, or data that do not make a
        Recording (naming the file).
    DataError
        For an unreadable file, an ``.npz`` without ``calcium`` or with a bad ``rate``, or
        malformed values (naming the file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"file not found: {path}")
    contents = _read_matrix_file(path)
    calcium = contents.pop("calcium")
    if rate is None:
        if "rate" not in contents:
            raise ValueError(
                f"{path}: rate (Hz) must be given for this file; it does not store one"
            )
        stored = np.asarray(contents["rate"])
        if stored.shape not in ((), (1,)) or not (
            np.issubdtype(stored.dtype, np.number) and not np.iscomplexobj(stored)
        ):
            raise DataError(
                f"{path}: 'rate' must be one number (Hz), got a {stored.dtype} array of shape "
                f"{stored.shape}"
            )
        rate = float(stored.reshape(()))
    spike_counts = contents.get("spikes")
    if spikes is not None:
        spike_counts = _read_matrix_file(Path(spikes))["calcium"]
    lengths = contents.get("lengths")
    try:
        if lengths is None:  # each row's length is found from its calcium
            return Recording(calcium, rate, spikes=spike_counts, name=path.stem, gaps=gaps)
        return Recording(
            calcium, rate, spikes=spike_counts, lengths=lengths, name=path.stem, gaps=gaps
        )
    except ValueError as error:
        raise type(error)(f"{path}: {error}") from None


def _read_matrix_file(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise FileNotFoundError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return {"calcium": load_npy(path)}
    if suffix == ".npz":
        try:
            with open_input(path) as stream, np.load(stream, allow_pickle=False) as archive:
                contents = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise DataError(f"{path}: not a readable .npz archive ({error})") from None
        if "calcium" not in contents:
            raise DataError(f"{path}: no 'calcium' array (found: {', '.join(contents) or 'none'})")
        return contents
    if suffix in (".csv", ".txt"):
        return {"calcium": _read_headerless_csv(path)}
    hint = (
        " (an HDF5 input names its dataset: FILE.h5:/path/to/dataset)"
        if suffix
        in (
            ".h5",
            ".hdf5",
            ".hdf",
        )
        else ""
    )
    raise ValueError(
        f"{path}: unsupported file type {suffix!r}; use .npy, .npz, .csv or .txt{hint}"
    )


def load_npy(path: Path) -> np.ndarray:
    """The array in the .npy file `path` (pickles refused); DataError naming it if unreadable."""
    try:
        with open_input(path) as stream:
            return np.asarray(np.load(stream, allow_pickle=False))
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as error:  # EOFError: an empty or cut file
        raise DataError(f"{path}: not a readable .npy array ({error})") from None


def _read_headerless_csv(path: Path) -> np.ndarray:
    return np.asarray(read_numeric_csv(path, header=False).to_numpy(dtype=np.float64))
