"""Inputs read only from regular files.

A path that names a FIFO, a device or a socket can block a read forever (a FIFO with no
writer) or never end (/dev/zero). Every reader of a file calspike is given opens it through
`open_input`, which opens without blocking, checks what it opened, and only then reads;
readers whose library wants a path (HDF5, NWB, MATLAB) check it with `check_input` first.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

from calspike.errors import DataError

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: Path, mode: int) -> DataError:
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    why = "" if stat.S_ISDIR(mode) else " (reading this one could wait forever)"
    return DataError(
        f"{path}: {kind}, not a regular file; calspike reads this input from a regular file{why}"
    )


def open_input(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for reading in binary mode, when it is a regular file (symlinks followed).

    It is opened without blocking, so a FIFO is refused rather than waited on, then checked.

    Raises
    ------
    FileNotFoundError
        When nothing is at `path` (naming it).
    DataError
        For a folder, FIFO, device or socket (naming it and what it is).
    OSError
        When the file cannot be opened (naming it).
    """
    path = Path(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing
            raise _not_regular(path, os.stat(path).st_mode) from None
        if error.errno == errno.EISDIR:
            raise _not_regular(path, stat.S_IFDIR) from None
        raise type(error)(error.errno, error.strerror, str(path)) from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def check_input(path: str | os.PathLike[str]) -> Path:
    """`path` when it is a regular file that can be opened; raises as `open_input` otherwise.

    For libraries that open a path themselves (h5py, pynwb, scipy): a file swapped for a FIFO
    between this check and their open is not caught.
    """
    open_input(path).close()
    return Path(path)


def check_input_folder(folder: str | os.PathLike[str]) -> Path:
    """`folder` when every entry under it is a regular file or a folder (a zarr store's).

    A library that reads the folder's files itself (zarr) would otherwise wait on a FIFO among
    them. Symbolic links are followed, as the library would.

    Raises
    ------
    DataError
        Naming the first entry that is a FIFO, device or socket.
    """
    folder = Path(folder)
    for root, _, files in os.walk(folder, followlinks=False):
        for name in files:
            entry = Path(root) / name
            try:
                mode = entry.stat().st_mode
            except OSError:  # a dangling link: the library's own error names it when read
                continue
            if not stat.S_ISREG(mode):
                raise _not_regular(entry, mode)
    return folder


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
