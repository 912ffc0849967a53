"""Arrays read and written a block of neurons at a time.

`.npy` files, zarr arrays and HDF5 datasets, each (neurons, frames). Memory stays bounded
whatever their size.

Sources are named as paths: ``traces.npy``, ``traces.zarr`` (a zarr array folder) or
``file.h5:/path/to/dataset`` (HDF5, e.g. CaImAn's ``estimates/F_dff``). zarr and h5py are
optional (`pip install 'calspike[zarr]'`, `'calspike[hdf5]'`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from calspike._inputs import check_input, check_input_folder
from calspike._optional import require
from calspike.data.npy_stream import NpyRows, RowWriter
from calspike.data.recording import DataError, check_numeric_dtype

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
RATE_ATTRIBUTES = ("rate", "frame_rate", "frame_rate_hz", "fr")


class Rows(Protocol):
    """A (neurons, frames) source read by blocks of rows."""

    path: Path
    shape: tuple[int, int]
    rate: float | None  # Hz, when the source stores it

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 as a new (stop - start, frames) array."""

    def close(self) -> None:
        """Close the source's file."""


def check_plain_hdf5(dataset: Any, where: str, home: Path | None = None) -> None:
    """DataError naming `where` unless the h5py `dataset` keeps its values inside its file.

    External raw storage names other files (any path, a FIFO or a device among them), a
    virtual dataset maps other files' datasets, and an external link (when `home`, the file
    opened, is given) reaches into another file: calspike reads none of them.
    """
    if home is not None and Path(dataset.file.filename).resolve() != home.resolve():
        raise DataError(
            f"{where}: an external link to {dataset.file.filename}; calspike reads only values "
            "inside the file given: name the other file's dataset instead"
        )
    external = dataset.external
    if external:
        names = ", ".join(sorted({str(entry[0]) for entry in external}))
        raise DataError(
            f"{where}: the dataset's values are stored outside the HDF5 file (external raw "
            f"storage in {names}); calspike reads only values inside the file: copy them in "
            "(h5py: dataset[...] into a new dataset)"
        )
    if dataset.is_virtual:
        raise DataError(
            f"{where}: a virtual dataset (its values come from other files); calspike reads "
            "only values inside the file: copy them into a plain dataset"
        )


def split_hdf5(source: str | os.PathLike[str]) -> tuple[Path, str] | None:
    """("file.h5", "/path") for an HDF5 source written ``file.h5:/path``; None otherwise."""
    text = os.fspath(source)
    for suffix in HDF5_SUFFIXES:
        marker = suffix + ":"
        if marker in text:
            file, _, inside = text.partition(marker)
            return Path(file + suffix), "/" + inside.lstrip("/")
    return None


def is_chunked_source(source: str | os.PathLike[str]) -> bool:
    """True for the sources this module streams.

    Those are .npy files, .zarr folders and HDF5 datasets written ``file.h5:/dataset``.
    """
    path = Path(source)
    return split_hdf5(source) is not None or path.suffix.lower() in (".npy", ".zarr")


def open_rows(source: str | os.PathLike[str]) -> Rows:
    """A block reader of a .npy file, a .zarr array folder or an HDF5 ``file.h5:/dataset``."""
    hdf5 = split_hdf5(source)
    path = Path(source)
    rows: Rows
    if hdf5 is not None:
        rows = _HDF5Rows(*hdf5)
    else:
        rows = _ZarrRows(path) if path.suffix.lower() == ".zarr" else NpyRows(path)
    if 0 in rows.shape:  # nothing to infer: an output of nothing would look like a result
        rows.close()
        raise DataError(
            f"{source}: holds no traces (shape {rows.shape}): give at least one neuron and "
            "one frame"
        )
    return rows


def _rate_from(attributes: Any, where: str) -> float | None:
    for name in RATE_ATTRIBUTES:
        if name in attributes:
            value = np.asarray(attributes[name]).ravel()
            numeric = value.dtype.kind in "iuf" and value.size == 1
            if not numeric or not np.isfinite(value[0]) or value[0] <= 0:
                raise DataError(
                    f"{where}: attribute {name} must be one frame rate in Hz, "
                    f"got {attributes[name]!r}"
                )
            return float(value[0])
    return None


def _check_matrix(shape: tuple[int, ...], dtype: Any, where: str) -> tuple[int, int]:
    check_numeric_dtype(np.dtype(dtype), where)
    if len(shape) == 1:
        return 1, int(shape[0])
    if len(shape) != 2:
        raise DataError(f"{where}: expected (neurons, frames), got shape {tuple(shape)}")
    return int(shape[0]), int(shape[1])


class _ZarrRows:
    def __init__(self, path: Path) -> None:
        zarr = require("zarr", f"reading {path}")
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        check_input_folder(path)
        try:
            self._array = zarr.open_array(str(path), mode="r")
        except Exception as error:  # noqa: BLE001 - zarr raises many kinds for a folder that is not an array
            raise DataError(f"{path}: not a zarr array ({type(error).__name__}: {error})") from None
        self.path = path
        self.shape = _check_matrix(self._array.shape, self._array.dtype, str(path))
        # a pickle codec would run whatever a chunk holds while decoding it: nothing from a data
        # file runs
        if "pickle" in json.dumps(self._array.metadata.to_dict(), default=str).lower():
            raise DataError(
                f"{path}: its codecs include pickle, which could run code held in the file; "
                "calspike reads only arrays stored without it"
            )
        self.rate = _rate_from(self._array.attrs, str(path))
        if self._array.size and self._array.nchunks_initialized == 0:
            raise DataError(  # zarr stores no chunk that holds only the fill value
                f"{path}: the array stores no chunk, so every value is its fill value "
                f"{self._array.fill_value} (never written, or written with that value only): "
                "there are no traces in it"
            )

    def rows(self, start: int, stop: int) -> np.ndarray:
        block = np.asarray(
            self._array[start:stop] if self._array.ndim == 2 else self._array[None, :]
        )
        return block.reshape(stop - start, self.shape[1])

    def close(self) -> None:
        pass


class _HDF5Rows:
    def __init__(self, file: Path, dataset: str) -> None:
        h5py = require("h5py", f"reading {file}")
        if not file.exists():
            raise FileNotFoundError(f"input not found: {file}")
        check_input(file)
        self.path = Path(f"{file}:{dataset}")
        try:
            self._file = h5py.File(file, "r")
        except OSError as error:
            raise DataError(f"{file}: not a readable HDF5 file ({error})") from None
        try:
            if dataset not in self._file or not isinstance(self._file[dataset], h5py.Dataset):
                raise DataError(f"{file}: no dataset {dataset}")
            self._data = self._file[dataset]
            check_plain_hdf5(self._data, str(self.path), file)
            self.shape = _check_matrix(self._data.shape, self._data.dtype, str(self.path))
            if self._data.size and self._data.id.get_storage_size() == 0:
                raise DataError(
                    f"{self.path}: the dataset was never written (no value is stored; its "
                    "shape alone would make calspike infer spikes of fill values): write the "
                    "traces into it first"
                )
            # CaImAn keeps the frame rate in params/data/fr
            self.rate = _rate_from(self._data.attrs, str(self.path))
            if self.rate is None and "params/data/fr" in self._file:
                self.rate = _rate_from(
                    {"fr": self._file["params/data/fr"][()]}, f"{file}:/params/data/fr"
                )
        except BaseException:
            self._file.close()
            raise

    def rows(self, start: int, stop: int) -> np.ndarray:
        block = self._data[start:stop] if self._data.ndim == 2 else self._data[()][None, :]
        return np.asarray(block).reshape(stop - start, self.shape[1])

    def close(self) -> None:
        self._file.close()


class ZarrWriter(RowWriter):
    """Writes a (rows, columns) float32 zarr array block by block, rows in order, into a folder.

    Give it a temporary folder (`calspike._io.atomic_folder`). Chunks hold `chunk_rows` whole
    rows. Its `sha256` is that of the float32 values written, row after row.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: tuple[int, int],
        chunk_rows: int = 64,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        zarr = require("zarr", f"writing {path}")
        super().__init__(path, shape)
        self._array = zarr.open_array(
            str(path),
            mode="w",
            shape=shape,
            dtype="float32",
            chunks=(max(1, min(chunk_rows, shape[0])), max(1, shape[1])),
            fill_value=float("nan"),
        )
        self._array.attrs.update(attributes or {})

    def _store(self, block: np.ndarray) -> None:
        self._array[self.written : self.written + block.shape[0]] = block

    def annotate(self, **attributes: Any) -> None:
        """Add attributes (e.g. the frame rate) to the array."""
        self._array.attrs.update(attributes)
