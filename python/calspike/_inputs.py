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
import zipfile
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


def bare_zip_members(path: str | os.PathLike[str]) -> list[str] | None:
    """The member names of a zip file (.npz, .pt) as calspike writes one; None otherwise.

    Nothing before the first member or after the end record of its directory, no comment
    on the archive or a member, and every member stored uncompressed (as numpy's `savez`
    and `torch.save` write them): an archive's own checksum covers what its members hold,
    this the rest of the file. Member times are not content, and are not looked at.
    """
    with open_input(path) as stream:
        head = stream.read(4)
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        if size < 26:
            return None
        stream.seek(size - 22)
        tail = stream.read(22)
        if not (head == b"PK\x03\x04" and tail[:4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
            return None
        stream.seek(0)
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
    if any(m.comment or m.compress_type != zipfile.ZIP_STORED or m.is_dir() for m in members):
        return None
    return [member.filename for member in members]
