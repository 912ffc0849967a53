"""Windows on disk: prepared .npz files (`calspike prepare`) and a cache.

The cache of a SpikeFinder folder's windows, keyed by a hash of the files and the settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from calspike import config
from calspike._inputs import open_input
from calspike._io import atomic_path, recorded_path
from calspike.data import cache_dir, read_spikefinder
from calspike.data.recording import check_numeric_dtype
from calspike.errors import CalspikeWarning, DataError
from calspike.windows import WINDOW_SETTINGS, Windows, partition

_CACHE_FORMAT = 1


def cached_partition(
    directory: str | os.PathLike[str],
    *,
    split: str = "train",
    cache: str | os.PathLike[str] | None = None,
    threads: int = 0,
    **params: Any,
) -> Windows:
    """Partition a SpikeFinder folder, cached on disk as an .npz.

    The cache key hashes the content of every input file, the window settings and the
    cache format. A cache file that fails to load, is incomplete or holds another key
    is rebuilt, never trusted. Writes are atomic.

    Parameters
    ----------
    directory : path-like
        A SpikeFinder folder (``N.{split}.calcium.csv`` files, `read_spikefinder`).
    split : {"train", "test"}
        Which files to read.
    cache : path-like, optional
        Cache folder; `calspike.data.cache_dir` when None. The windows go to its
        ``windows/`` folder.
    threads : int
        C++ threads; 0 uses all cores.
    **params
        Window settings of `partition` (len_pre, len_post, skip, spike_n, normalize);
        their defaults otherwise.

    Returns
    -------
    Windows
        As ``partition(read_spikefinder(directory, split), **params)``.

    Raises
    ------
    ValueError
        For unknown or bad window settings.
    FileNotFoundError
        When the folder holds no ``*.{split}.*.csv`` files.
    DataError
        For malformed files (as `read_spikefinder`).
    """
    if set(params) - set(WINDOW_SETTINGS):
        raise ValueError(
            f"unknown window settings: {', '.join(sorted(set(params) - set(WINDOW_SETTINGS)))}"
        )
    settings = config.check({**config.defaults(WINDOW_SETTINGS), **params})
    folder = Path(directory)
    files = sorted(folder.glob(f"*.{split}.*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.{split}.*.csv files in {folder}")
    key = _cache_key(files, settings)
    target = (Path(cache) if cache is not None else cache_dir()) / "windows" / f"{key}.npz"
    cached = _load_cached(target, key)
    if cached is not None:
        return cached
    windows = partition(read_spikefinder(folder, split), threads=threads, **settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_npz(target, windows, key, atomic_path)  # calspike's own cache: no record
    return windows


def _cache_key(files: list[Path], settings: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"calspike-windows-{_CACHE_FORMAT}".encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open_input(path) as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:32]


def _load_cached(target: Path, key: str) -> Windows | None:
    if not target.is_file():
        return None
    try:
        return _read_npz(target, key)
    except ValueError as error:
        warnings.warn(
            f"ignoring unreadable window cache {target} ({error}); rebuilding it",
            CalspikeWarning,
            stacklevel=3,
        )
        return None


def save_windows(windows: Windows, path: str | os.PathLike[str]) -> Path:
    """Write windows, labels, origins and settings to an .npz file, atomically.

    Parameters
    ----------
    windows : Windows
        The windows to save.
    path : path-like
        The file to write, ending in ``.npz``; its folder is created when missing.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        When `path` does not end in ``.npz``.
    """
    target = Path(path)
    if target.suffix != ".npz":
        raise ValueError(f"prepared windows are saved as .npz, got {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_npz(target, windows, "prepared", recorded_path)
    return target


def is_windows_file(path: str | os.PathLike[str]) -> bool:
    """True for an .npz of windows whose arrays match the checksum written with them.

    Files from before the checksum are not recognised. Whether calspike may replace the file
    is not this: that is its record's (`calspike._targets.recorded_by_calspike`).
    """
    with open_input(path) as stream, np.load(stream, allow_pickle=False) as archive:
        if not {"key", "windows", "neuron", "frame", "params", "checksum"} <= set(archive.files):
            return False
        arrays = {name: archive[name] for name in archive.files if name != "checksum"}
        return str(archive["checksum"]) == _arrays_digest(arrays)


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) of named arrays: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        if array.size:
            digest.update(array.reshape(-1).view(np.uint8).data)
    return digest.hexdigest()


def load_windows(path: str | os.PathLike[str]) -> Windows:
    """Read windows written by `save_windows` (or by the cache of `cached_partition`).

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.

    Returns
    -------
    Windows
        The windows, labels, origins and settings saved.

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    ValueError
        Naming the file when it is not a calspike windows file.
    """
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"no such file: {target}")
    try:
        return _read_npz(target, None)
    except DataError:  # it names the file already
        raise
    except ValueError as error:
        raise ValueError(f"{target}: not a calspike windows file ({error})") from None


def _write_npz(target: Path, windows: Windows, key: str, writer: Callable[[Path], Any]) -> None:
    """`windows` as an .npz at `target`, through `writer` (`atomic_path` or `recorded_path`)."""
    arrays: dict[str, Any] = {
        "key": np.array(key),
        "windows": windows.windows,
        "did_spike": windows.did_spike if windows.did_spike is not None else np.zeros(0, bool),
        "has_spikes": np.array(windows.did_spike is not None),
        "neuron": windows.neuron,
        "frame": windows.frame,
        "skipped": windows.skipped,
        "neuron_names": np.array(windows.neuron_names, dtype=str),
        "params": np.array(json.dumps(windows.params)),
    }
    checksum = np.array(_arrays_digest(arrays))  # what shows the arrays intact, later
    with writer(target) as temporary, open(temporary, "wb") as stream:
        np.savez(stream, **arrays, checksum=checksum)


def _windows_in(archive: Any, key: str | None) -> Windows:
    """The Windows of an open .npz archive (KeyError for a missing array)."""
    if key is not None and str(archive["key"]) != key:
        raise ValueError("the cache file holds another key")
    has_spikes = bool(archive["has_spikes"])
    return Windows(
        windows=archive["windows"],
        did_spike=archive["did_spike"] if has_spikes else None,
        neuron=archive["neuron"],
        frame=archive["frame"],
        neuron_names=tuple(str(n) for n in archive["neuron_names"]),
        skipped=archive["skipped"],
        params=json.loads(str(archive["params"])),
    )


def _read_npz(target: Path, key: str | None) -> Windows:
    """The Windows in an .npz.

    ValueError for anything unreadable, incomplete or (with `key`) stored under another key.
    """
    try:
        # np.load leaks its file handle when the zip is unreadable; own the stream instead
        with open_input(target) as stream:
            if stream.read(4) != b"PK\x03\x04":  # np.load would call anything else a pickle
                raise ValueError("not a zip archive, which an .npz is")
            stream.seek(0)
            with np.load(stream, allow_pickle=False) as archive:
                windows = _windows_in(archive, key)
    except (
        OSError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        json.JSONDecodeError,
        RecursionError,
    ) as error:
        raise ValueError(str(error) or type(error).__name__) from None
    count = windows.windows.shape[0]
    if (
        windows.windows.ndim != 2
        or not (windows.neuron.shape == windows.frame.shape == (count,))
        or (windows.did_spike is not None and windows.did_spike.shape != (count,))
    ):
        raise ValueError("arrays of different lengths")
    check_numeric_dtype(windows.windows.dtype, "windows")
    for name in ("neuron", "frame", "skipped"):
        if getattr(windows, name).size and not np.issubdtype(
            getattr(windows, name).dtype, np.integer
        ):
            raise ValueError(
                f"'{name}' must hold integers, got dtype {getattr(windows, name).dtype}"
            )
    if windows.did_spike is not None and windows.did_spike.dtype != np.bool_:
        raise ValueError(f"'did_spike' must be bool, got dtype {windows.did_spike.dtype}")
    names = len(windows.neuron_names)
    outside = (windows.neuron < 0) | (windows.neuron >= names)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"window {k} names neuron {int(windows.neuron[k])}, but the file lists {names} "
            "neuron names"
        )
    if (windows.frame < 0).any():
        raise ValueError(
            f"window {int(np.flatnonzero(windows.frame < 0)[0])} has a negative centre frame"
        )
    return windows
