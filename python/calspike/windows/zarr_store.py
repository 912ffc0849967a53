"""Prepared windows in a zarr store, written and read a chunk at a time.

So that a dataset's windows need not fit in memory (`calspike prepare -o windows.zarr`,
`calspike train windows.zarr`).

A store is a zarr group (a folder) holding, for `count` windows of `length` frames:
``windows`` float32 (count, length) in chunks of whole windows; ``did_spike`` bool (count,)
(empty when the input had no spikes); ``neuron`` int32 and ``frame`` int64 (count,). Its
attributes hold the format, the window settings, the neuron names and the skipped neurons.
The small per-window arrays are read whole when the store is opened (13 bytes a window);
the windows themselves only when asked for, a chunk at a time. zarr is optional
(`pip install 'calspike[zarr]'`).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calspike._inputs import check_input_folder
from calspike._optional import require
from calspike.data.recording import DataError, Recording
from calspike.windows import Windows, partition

STORE_FORMAT = 1
CHUNK_WINDOWS = 16_384  # windows per chunk: 1.3 MB of float32 at 20 frames a window
_LABEL_CHUNK = 1 << 20  # entries per chunk of the small per-window arrays


def is_windows_store(path: str | os.PathLike[str]) -> bool:
    """True for a folder that `write_windows_store` wrote (judged by its zarr attributes)."""
    metadata = Path(path) / "zarr.json"
    if not metadata.is_file():
        return False
    try:
        attributes = json.loads(metadata.read_text(encoding="utf-8")).get("attributes", {})
    except (OSError, ValueError, RecursionError, AttributeError):  # nested; not an object
        return False
    return isinstance(attributes, dict) and attributes.get("calspike") == "windows"


def recording_blocks(
    recordings: Iterable[Recording],
    *,
    neurons_per_block: int = 256,
    threads: int = 0,
    **settings: Any,
) -> Iterator[Windows]:
    """`partition` of each recording a block of neurons at a time.

    Names as `partition` gives them; only one block's windows are in memory.
    """
    if neurons_per_block < 1:
        raise ValueError(f"neurons_per_block must be >= 1, got {neurons_per_block}")
    for recording in recordings:
        for start in range(0, recording.neurons, neurons_per_block):
            stop = min(start + neurons_per_block, recording.neurons)
            block = Recording(
                recording.calcium[start:stop],
                recording.rate,
                None if recording.spikes is None else recording.spikes[start:stop],
                lengths=recording.lengths[start:stop],
                name=recording.name,
            )
            windows = partition(block, threads=threads, **settings)
            names = tuple(f"{recording.name}/{n}" for n in range(start, stop))
            yield Windows(
                windows.windows,
                windows.did_spike,
                windows.neuron,
                windows.frame,
                names,
                windows.skipped,
                windows.params,
            )


def array_blocks(
    source: str | os.PathLike[str],
    *,
    neurons_per_block: int = 256,
    threads: int = 0,
    **settings: Any,
) -> Iterator[Windows]:
    """`partition` of a .npy, .zarr or HDF5 ``file.h5:/dataset`` (neurons, frames), by blocks.

    Read a block of neurons at a time (`calspike.data.chunked`); no labels, neurons named
    ``stem/index``.
    """
    from calspike.data.chunked import open_rows, split_hdf5

    rows = open_rows(source)
    stem = Path(source).stem if split_hdf5(source) is None else Path(split_hdf5(source)[0]).stem  # type: ignore[index]
    try:
        for start in range(0, rows.shape[0], neurons_per_block):
            stop = min(start + neurons_per_block, rows.shape[0])
            block = np.ascontiguousarray(rows.rows(start, stop), dtype=np.float32)
            try:
                windows = partition(block, threads=threads, **settings)
            except ValueError as error:
                raise DataError(f"{rows.path}, neurons {start}-{stop - 1}: {error}") from None
            names = tuple(f"{stem}/{n}" for n in range(start, stop))
            yield Windows(
                windows.windows,
                None,
                windows.neuron,
                windows.frame,
                names,
                windows.skipped,
                windows.params,
            )
    finally:
        rows.close()


def write_windows_store(
    blocks: Iterable[Windows], folder: str | os.PathLike[str], *, chunk_windows: int = CHUNK_WINDOWS
) -> dict[str, Any]:
    """Write blocks of windows into a new zarr store in `folder`.

    Each block from its own neurons, as `recording_blocks` gives them. Give it a temporary
    folder (`calspike._io.atomic_folder`).

    Neuron indices are renumbered across blocks; every block must share the window settings
    and either all carry spike labels or none. Returns {"windows", "neurons", "spike_windows"}.
    """
    zarr = require("zarr", f"writing {folder}")
    group = zarr.open_group(str(folder), mode="a")
    names: list[str] = []
    skipped: list[np.ndarray] = []
    params: dict[str, Any] | None = None
    has_spikes: bool | None = None
    arrays: dict[str, Any] = {}
    spikes = 0
    for block in blocks:
        if params is None:
            params, has_spikes = dict(block.params), block.did_spike is not None
            length = int(block.windows.shape[1])
            arrays["windows"] = group.create_array(
                "windows",
                shape=(0, length),
                dtype="float32",
                chunks=(chunk_windows, max(length, 1)),
            )
            for name, dtype in (("did_spike", "bool"), ("neuron", "int32"), ("frame", "int64")):
                arrays[name] = group.create_array(
                    name, shape=(0,), dtype=dtype, chunks=(_LABEL_CHUNK,)
                )
        elif block.params != params or (block.did_spike is not None) != has_spikes:
            raise ValueError(
                "every block of a windows store needs the same window settings and either "
                "spike labels in all or in none"
            )
        if len(block):
            arrays["windows"].append(np.ascontiguousarray(block.windows, dtype=np.float32))
            arrays["neuron"].append(block.neuron.astype(np.int32) + len(names))
            arrays["frame"].append(block.frame.astype(np.int64))
            if block.did_spike is not None:
                arrays["did_spike"].append(block.did_spike)
                spikes += int(np.count_nonzero(block.did_spike))
        skipped.append(np.asarray(block.skipped, dtype=np.int64) + len(names))
        names.extend(block.neuron_names)
    if params is None:
        raise ValueError("no recordings to cut into windows")
    group.attrs.update(
        {
            "calspike": "windows",
            "format": STORE_FORMAT,
            "params": params,
            "has_spikes": bool(has_spikes),
            "neuron_names": names,
            "skipped": np.concatenate(skipped).tolist(),
        }
    )
    count = int(arrays["windows"].shape[0])
    return {
        "windows": count,
        "neurons": len(names),
        "spike_windows": spikes if has_spikes else None,
    }


class StoredWindows:
    """The windows of a store: labels, neurons and centre frames in memory, values on demand.

    Window values are read on demand (`read`), a chunk at a time, keeping the last
    `cache_chunks` chunks decoded.

    Has the attributes of `Windows` that sampling needs (did_spike, neuron, frame,
    neuron_names, skipped, params, len()), so `calspike.windows.sampling` works on it unchanged.
    """

    def __init__(self, path: str | os.PathLike[str], *, cache_chunks: int = 32) -> None:
        zarr = require("zarr", f"reading {path}")
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"no such windows store: {self.path}")
        check_input_folder(self.path)
        if not is_windows_store(self.path):
            raise ValueError(
                f"{self.path}: not a calspike windows store (no 'calspike': 'windows' attribute)"
            )
        try:
            group = zarr.open_group(str(self.path), mode="r")
            attributes = dict(group.attrs)
            self._values = group["windows"]
            for name in (
                "windows",
                "did_spike",
                "neuron",
                "frame",
            ):  # nothing from a file runs while decoding
                if "pickle" in json.dumps(group[name].metadata.to_dict(), default=str).lower():
                    raise ValueError(
                        f"array {name} has a pickle codec, which could run code held in the file"
                    )
            self.has_spikes = bool(attributes["has_spikes"])
            self.did_spike: np.ndarray | None = (
                np.asarray(group["did_spike"][:]) if self.has_spikes else None
            )
            self.neuron = np.asarray(group["neuron"][:])
            self.frame = np.asarray(group["frame"][:])
            self.neuron_names = tuple(str(n) for n in attributes["neuron_names"])
            self.skipped = np.asarray(attributes["skipped"], dtype=np.int64)
            self.params: dict[str, Any] = dict(attributes["params"])
        except (KeyError, TypeError, ValueError, OSError) as error:
            raise DataError(
                f"{self.path}: not a readable calspike windows store ({error})"
            ) from None
        self._check()
        self.chunk_windows = int(self._values.chunks[0])
        self.length = int(self._values.shape[1])
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cache_chunks = max(1, int(cache_chunks))
        self.chunks_read = 0  # chunks decoded so far: what a reader costs

    def _check(self) -> None:
        count = int(self._values.shape[0])
        if (
            self._values.ndim != 2
            or self.neuron.shape != (count,)
            or self.frame.shape != (count,)
            or (self.did_spike is not None and self.did_spike.shape != (count,))
        ):
            raise DataError(f"{self.path}: its arrays have different lengths")
        if count and (self.neuron.min() < 0 or self.neuron.max() >= len(self.neuron_names)):
            raise DataError(f"{self.path}: a window names a neuron the store does not list")

    def __len__(self) -> int:
        return int(self._values.shape[0])

    @property
    def spike_fraction(self) -> float:
        """Fraction of windows labelled as spike windows (NaN without labels or windows)."""
        if self.did_spike is None or len(self) == 0:
            return float("nan")
        return float(np.count_nonzero(self.did_spike)) / len(self)

    def chunk_of(self, index: np.ndarray) -> np.ndarray:
        """The chunk that holds each window of `index`."""
        return np.asarray(index, dtype=np.int64) // self.chunk_windows

    def read(self, index: np.ndarray) -> np.ndarray:
        """float32 (len(index), length): the windows at `index` (integers), in that order."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"window index out of range for a store of {len(self)} windows")
        out = np.empty((index.size, self.length), dtype=np.float32)
        chunks = self.chunk_of(index)
        _, first = np.unique(chunks, return_index=True)
        for chunk in chunks[
            np.sort(first)
        ]:  # in order of first use: the cache keeps the most recent
            where = np.flatnonzero(chunks == chunk)
            out[where] = self._chunk(int(chunk))[index[where] - chunk * self.chunk_windows]
        return out

    def _chunk(self, chunk: int) -> np.ndarray:
        if chunk in self._cache:
            self._cache.move_to_end(chunk)
            return self._cache[chunk]
        start = chunk * self.chunk_windows
        values = np.asarray(self._values[start : start + self.chunk_windows], dtype=np.float32)
        self.chunks_read += 1
        self._cache[chunk] = values
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return values

    def load(self, index: np.ndarray | None = None) -> Windows:
        """The windows at `index` (all by default) as an in-memory `Windows`."""
        index = np.arange(len(self)) if index is None else np.asarray(index, dtype=np.int64)
        return Windows(
            self.read(index),
            None if self.did_spike is None else self.did_spike[index],
            self.neuron[index],
            self.frame[index],
            self.neuron_names,
            self.skipped,
            dict(self.params),
        )

    def __repr__(self) -> str:
        return (
            f"StoredWindows({self.path}, count={len(self)}, length={self.length}, "
            f"neurons={len(self.neuron_names)}, spike_fraction={self.spike_fraction:.3f}, "
            f"chunk_windows={self.chunk_windows})"
        )
