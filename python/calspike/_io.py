"""Safe outputs: atomic files and folders, and what killed runs leave behind.

The rules (docs/files.md, "What calspike does with your files"):
- every output appears whole or not at all: it is written under a temporary name beside
  its target and renamed into place; a folder gets calspike's `MARKER` (its kind and files);
- where an output may go at all is `calspike._targets`' to check, before any work;
- leftovers of killed runs (``.NAME.calspike-*-PID`` beside a target) are removed the next
  time, but only when process PID is gone and the leftover is calspike's.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from calspike._approvals import approve, approved_state, file_state
from calspike._inputs import file_digest as file_digest  # noqa: PLC0414 - imported from here too
from calspike._targets import (
    MARKER,
    check_folder_target,
    files_in,
    record_of,
    record_text,
    recorded_by_calspike,
)
from calspike.errors import UsageError as UsageError  # noqa: PLC0414 - raised here, and imported from here too

_LEFTOVER = re.compile(
    r"^\.(?P<name>.+)\.calspike-(?P<kind>part|partial|old)-(?P<pid>\d+)(-[^/]*)?$"
)


def _leftover_name(target: Path, kind: str) -> str:
    return f".{target.name}.calspike-{kind}-{os.getpid()}"


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `target`: on success it replaces `target`.

    On error the temporary path is removed. The caller writes the temporary path (a file);
    `target` then appears whole or not at all. `suffix` ends the temporary name, for writers
    that insist on an extension.
    """
    target = Path(target)
    remove_leftovers(target)
    approved, state = approved_state(target)
    expected = state if approved else file_state(target)  # as checked before the work, or now
    try:
        handle, name = tempfile.mkstemp(
            prefix=_leftover_name(target, "part") + "-", suffix=suffix, dir=target.parent
        )
    except OSError as error:
        raise OSError(error.errno, f"cannot write {target}: {error.strerror}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would make outputs private
        if (complete := _before_replacing.get(os.path.abspath(target))) is not None:
            complete(temporary)
        if file_state(target) != expected:  # someone put or edited a file there meanwhile
            raise FileExistsError(
                errno.EEXIST,
                "a file was put or changed there while calspike worked; calspike will not "
                "replace it, and the new output was not kept: move that file or choose another "
                "name",
            )
        os.replace(temporary, target)
        if approved:
            approve(target)  # calspike's own file now: it may replace it again (each epoch)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _naming(error, target, temporary) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


_before_replacing: dict[str, Callable[[Path], None]] = {}  # absolute path -> callback


@contextlib.contextmanager
def before_replacing(target: Path, complete: Callable[[Path], None]) -> Iterator[None]:
    """While inside, `atomic_path(target)` calls `complete` with the new file, whole.

    Just before renaming it into place: so a sidecar can list its digest first.
    """
    key = os.path.abspath(target)
    _before_replacing[key] = complete
    try:
        yield
    finally:
        _before_replacing.pop(key, None)


def _naming(error: OSError, target: Path, temporary: Path) -> OSError:
    """`error` naming the output `target` instead of no file or its temporary name.

    A full disk or quota ([Errno 28]) otherwise reaches the user naming nothing.
    """
    named = str(error.filename) if error.filename is not None else ""
    if named and not named.startswith(str(temporary)):
        return error
    return OSError(error.errno, f"cannot write {target}: {error.strerror or error}")


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `target` atomically (UTF-8)."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def recorded_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """`atomic_path` that also keeps the new file's SHA-256 in a record beside it.

    The record (`calspike._targets.record_of`) is what lets a later run replace the file,
    and only while its bytes are those calspike wrote: the one rule for every single output
    file but `infer`'s (whose sidecar lists them). It lists the new digest before the file is
    renamed into place, with the digest of the file it replaces while both may be seen, so
    a run killed at any point leaves a file its record accepts; a file not renamed into
    place (an error, a file put there meanwhile) leaves the record as it was.
    """
    target, record = Path(target), record_of(Path(target))
    accepted = [file_digest(target)] if target.exists() and recorded_by_calspike(target) else []
    previous = record.read_bytes() if record.is_file() and not record.is_symlink() else None
    written = None
    try:
        with atomic_path(target, suffix) as temporary:
            yield temporary
            accepted.append(file_digest(temporary))
            write_text(record, record_text(target, list(dict.fromkeys(accepted))))
            written = file_state(record)
    except BaseException:
        if written is not None and file_state(record) == written:  # not if changed meanwhile
            _put_back(record, previous)
        raise
    if len(set(accepted)) > 1:
        write_text(record, record_text(target, [accepted[-1]]))


def _put_back(record: Path, previous: bytes | None) -> None:
    """Return a record to what it held before (`previous`; None: absent)."""
    with contextlib.suppress(OSError):
        if previous is None:
            record.unlink()
            if approved_state(record)[0]:
                approve(record)  # as it was: absent
        else:
            with atomic_path(record) as temporary:
                temporary.write_bytes(previous)


def write_recorded(target: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `target` as `recorded_path` does."""
    with recorded_path(target) as temporary:
        temporary.write_bytes(text.encode("utf-8"))


_libc: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(name, use_errno=True) if name else False
    function = getattr(_libc, "renameat2", None) if _libc else None
    if function is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = function(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"cannot replace {b}: {os.strerror(code)}")


def _swap_into_place(folder: Path, target: Path) -> Path | None:
    """Put `folder` at `target`; returns where the previous `target` now lies, or None.

    The caller removes the previous `target` from where it now lies.
    """
    if not target.exists():
        folder.rename(target)
        return None
    if not any(target.iterdir()):
        os.replace(folder, target)  # rename onto an empty folder is atomic
        return None
    if _exchange(folder, target):
        return folder  # the old contents now lie under the temporary name
    old = target.parent / _leftover_name(target, "old")
    target.rename(old)
    try:
        folder.rename(target)
    except BaseException:
        old.rename(target)  # put the previous folder back
        raise
    return old


@contextlib.contextmanager
def atomic_folder(
    target: str | os.PathLike[str], what: str, record: dict[str, Any] | None = None
) -> Iterator[Path]:
    """Build a folder under a temporary name beside `target`, then put it in `target`'s place.

    Yields the temporary folder. On success it receives the ownership marker (with `record`)
    and replaces `target` in one step (a previous calspike folder is removed afterwards);
    on error it is removed and `target` is left as it was. `target` must pass
    `check_folder_target`.
    """
    target = Path(target)
    kind = (record or {}).get("kind")
    check_folder_target(target, what, kind)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(
            error.errno, f"cannot create the folder of {target}: {error.strerror}"
        ) from None
    remove_leftovers(target)
    folder = parent / _leftover_name(target, "partial")
    try:
        folder.mkdir()
    except OSError as error:
        raise OSError(error.errno, f"cannot write {target}: {error.strerror}") from None
    try:
        yield folder
        written = {"written_by": "calspike", **(record or {}), "files": files_in(folder)}
        (folder / MARKER).write_text(json.dumps(written, indent=2))
        try:  # again: it may have changed while calspike worked
            check_folder_target(target, what, kind)
        except UsageError as error:  # found after the work: a data error, not a usage error
            raise FileExistsError(
                errno.EEXIST,
                f"it changed while calspike worked, and the new output was not kept: {error}",
            ) from None
        previous = _swap_into_place(folder, target)
    except OSError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise _naming(error, target, folder) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(target: Path) -> list[Path]:
    """Remove what killed calspike runs left beside `target`; returns the removed paths.

    Only entries named ``.TARGET.calspike-{part,partial,old}-PID...`` (names only calspike
    makes) whose process PID is gone are touched; symbolic links never.
    """
    removed: list[Path] = []
    parent = target.parent if str(target.parent) else Path(".")
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if (
            not match
            or match.group("name") != target.name
            or _process_alive(int(match.group("pid")))
        ):
            continue
        if entry.is_symlink():
            continue
        if entry.is_file() and match.group("kind") == "part":
            entry.unlink(missing_ok=True)
            removed.append(entry)
        elif entry.is_dir() and match.group("kind") in ("partial", "old"):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
