"""`.npy` files read and written a block of rows at a time, so memory stays bounded.

Reading uses plain file reads rather than a memory map: a map's touched pages count
toward the process's resident memory until the kernel drops them, reads do not.
"""

from __future__ import annotations

import abc
import hashlib
import io
import os
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from calspike._inputs import open_input
from calspike.data.recording import DataError, check_numeric_dtype


class NpyRows:
    """A 2-D ``.npy`` file (rows x columns) opened for reading blocks of rows.

    `shape` and `dtype` come from the header; `rows(start, stop)` returns a fresh C-ordered
    array of those rows (converted to native byte order). A Fortran-ordered file (what
    ``np.save(a.T)`` writes) is read too: a block's rows lie in every column, so each column's
    part is read into the block (one read per column), never the whole file. DataError naming
    the file for anything that is not a numeric 2-D (or 1-D: one row) array without pickled
    objects.
    """

    rate: float | None = None  # a .npy stores no frame rate

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._stream = open_input(self.path)  # closed by close()
        except OSError as error:
            raise OSError(error.errno, f"cannot read {self.path}: {error.strerror}") from None
        try:
            version = npy_format.read_magic(self._stream)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(self._stream)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy_format.read_array_header_2_0(self._stream)
            else:  # pragma: no cover - numpy knows no other versions
                raise ValueError(f"unknown .npy version {version}")
        except (OSError, ValueError) as error:
            self._stream.close()
            raise DataError(f"{self.path}: not a readable .npy array ({error})") from None
        try:
            check_numeric_dtype(dtype, f"{self.path}")
            if len(shape) not in (1, 2):
                raise DataError(f"{self.path}: expected (neurons, frames), got shape {shape}")
        except DataError:
            self._stream.close()
            raise
        self.shape: tuple[int, int] = (
            (1, int(shape[0])) if len(shape) == 1 else (int(shape[0]), int(shape[1]))
        )
        self.dtype = np.dtype(dtype)
        self._fortran = bool(fortran) and self.shape[0] > 1  # one row reads the same either way
        self._offset = self._stream.tell()
        expected = self._offset + self.shape[0] * self.shape[1] * self.dtype.itemsize
        size = os.fstat(self._stream.fileno()).st_size
        if size < expected:
            self._stream.close()
            raise DataError(
                f"{self.path}: truncated: the header promises {expected:,} bytes, "
                f"the file has {size:,}"
            )

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 as a new (stop - start, columns) array in native byte order."""
        if not 0 <= start <= stop <= self.shape[0]:
            raise ValueError(
                f"rows {start}..{stop} outside the {self.shape[0]} rows of {self.path}"
            )
        columns = self.shape[1]
        if self._fortran and stop - start < self.shape[0]:
            return self._fortran_rows(start, stop)
        if self._fortran:  # every row: the file is the transposed block
            self._stream.seek(self._offset)
            values = np.fromfile(self._stream, dtype=self.dtype, count=self.shape[0] * columns)
            if values.size != self.shape[0] * columns:
                raise DataError(f"{self.path}: ended early while reading rows {start}..{stop}")
            block = values.reshape(columns, self.shape[0]).T
            return np.ascontiguousarray(block, dtype=self.dtype.newbyteorder("="))
        self._stream.seek(self._offset + start * columns * self.dtype.itemsize)
        count = (stop - start) * columns
        values = np.fromfile(self._stream, dtype=self.dtype, count=count)
        if values.size != count:
            raise DataError(f"{self.path}: ended early while reading rows {start}..{stop}")
        return values.reshape(stop - start, columns).astype(
            self.dtype.newbyteorder("="), copy=False
        )

    def _fortran_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 of a Fortran-ordered file, in C order.

        Each column's run of those rows is read into a Fortran-ordered block, which one block
        copy turns into C order.
        """
        count, columns, size = stop - start, self.shape[1], self.dtype.itemsize
        block = np.empty((count, columns), dtype=self.dtype, order="F")
        target = (
            block.reshape(-1, order="F").view(np.uint8).data
        )  # the block's bytes, column by column
        run, descriptor = count * size, self._stream.fileno()
        for column in range(columns):
            offset = self._offset + (column * self.shape[0] + start) * size
            piece = target[column * run : (column + 1) * run]
            if os.preadv(descriptor, [piece], offset) != run:
                raise DataError(f"{self.path}: ended early while reading rows {start}..{stop}")
        return np.ascontiguousarray(block, dtype=self.dtype.newbyteorder("="))

    def close(self) -> None:
        """Close the file."""
        self._stream.close()


class RowWriter(abc.ABC):
    """What every block writer of (rows, columns) float32 arrays shares.

    Rows come in order, each block must fit, the values are hashed as written, and `finish()`
    checks that every row came.
    """

    def __init__(self, path: str | os.PathLike[str], shape: tuple[int, int]) -> None:
        self.path, self.shape, self.written = Path(path), shape, 0
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the bytes written so far."""
        return self._digest.hexdigest()

    def write(self, block: np.ndarray) -> None:
        """Append rows (block.shape == (k, columns)), converted to float32."""
        block = np.ascontiguousarray(block, dtype=np.float32)
        if (
            block.ndim != 2
            or block.shape[1] != self.shape[1]
            or self.written + block.shape[0] > self.shape[0]
        ):
            raise ValueError(
                f"block of shape {block.shape} does not fit rows {self.written}.. of {self.shape}"
            )
        self._store(block)
        self._digest.update(block.data)  # hashed as written: the output is never read back for it
        self.written += block.shape[0]

    @abc.abstractmethod
    def _store(self, block: np.ndarray) -> None:
        """Put the checked float32 block at rows written .. written + len(block)."""

    def finish(self) -> None:
        """Close the output; ValueError unless every row was written."""
        self.close()
        if self.written != self.shape[0]:
            raise ValueError(f"{self.path}: {self.written} of {self.shape[0]} rows written")

    def close(self) -> None:  # noqa: B027 (a hook: writers with nothing to release keep it)
        """Release the output (nothing to release by default)."""


class NpyWriter(RowWriter):
    """Writes a (rows, columns) float32 ``.npy`` file block by block, rows in order.

    The header is written first for the final shape; `finish()` checks that every row came.
    Use it on a temporary path (`calspike._io.atomic_path`) so the file appears whole. Its
    `sha256` is the whole file's once `finish` has run.
    """

    def __init__(self, path: str | os.PathLike[str], shape: tuple[int, int]) -> None:
        super().__init__(path, shape)
        header = io.BytesIO()
        npy_format.write_array_header_1_0(
            header,
            {
                "descr": npy_format.dtype_to_descr(np.dtype(np.float32)),
                "fortran_order": False,
                "shape": shape,
            },
        )
        self._stream = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._stream.write(header.getvalue())
        self._digest.update(header.getvalue())

    def _store(self, block: np.ndarray) -> None:
        self._stream.write(block.data)

    def close(self) -> None:
        """Close the file (`finish` first, to check that every row came)."""
        self._stream.close()
