"""Safe outputs: atomic files and folders, ownership markers, and refusal to touch inputs.

The rules (docs/files.md, "What calspike does with your files"):
- every output appears whole or not at all: it is written under a temporary name beside
  its target and renamed into place;
- a folder is replaced only if calspike wrote it (it holds `MARKER`) or it is empty; a
  file only if the caller says calspike wrote it;
- an output that is, contains or lies inside an input is refused before any work;
- leftovers of killed runs (``.NAME.calspike-*-PID`` beside a target) are removed the next
  time, but only when process PID is gone and the leftover is calspike's.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from calspike.errors import UsageError as UsageError  # noqa: PLC0414 - raised here, and imported from here too

MARKER = ".calspike-output.json"  # in every folder calspike writes: what wrote it, when
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
        os.replace(temporary, target)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise _naming(error, target, temporary) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_calspike_folder(folder: Path) -> bool:
    """True when `folder` holds calspike's marker (so calspike wrote it)."""
    return (folder / MARKER).is_file()


def check_output_place(target: Path, what: str, folder: bool) -> None:
    """UsageError for a place no output may take.

    Anywhere inside the installed calspike package (its own weights included), and for a
    folder output the file system's root, the home folder, or the working folder or one
    above it (`-o .`, `-o ..`), which a folder output would replace whole.
    """
    resolved = target.resolve()
    package = Path(__file__).resolve().parent
    if resolved == package or resolved.is_relative_to(package):
        raise UsageError(
            f"{what} {target} lies inside the installed calspike package ({package}); "
            "calspike never writes into itself: choose a path outside it"
        )
    if not folder:
        return
    here = Path.cwd().resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        place = "the root folder" if resolved == Path(resolved.anchor) else "your home folder"
    elif resolved == here or resolved in here.parents:
        place = "the working folder" if resolved == here else "a folder above the working one"
    else:
        return
    raise UsageError(
        f"{what} {target} is {place}, which a folder output would replace whole: name a new "
        "folder for it"
    )


def _marker(folder: Path) -> dict[str, Any]:
    """The marker's record of a calspike folder ({} when it cannot be read)."""
    try:
        record = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _files_in(folder: Path) -> dict[str, int]:
    """Every file under `folder` but the marker: its path relative to `folder`, and its size."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if relative != MARKER:
                found[relative] = path.lstat().st_size
    return found


def check_folder_target(target: Path, what: str, kind: str | None = None) -> None:
    """UsageError unless `target` may be replaced by a folder calspike writes.

    That is a `target` that is missing, empty, or a folder calspike wrote: of the same `kind`
    (a report is not replaced by predictions) and holding only the files calspike wrote
    there (its marker lists them), so nothing a user added is deleted.
    """
    check_output_place(target, what, folder=True)
    if target.is_symlink():
        raise UsageError(f"{what} {target} is a symbolic link; calspike writes only to a real path")
    if not target.exists():
        for ancestor in target.parents:
            if ancestor.exists():
                if not ancestor.is_dir():
                    raise UsageError(
                        f"cannot write the {what} {target}: {ancestor} is not a folder"
                    )
                break
        return
    if not target.is_dir():
        raise UsageError(
            f"{what} {target} is a file that calspike did not write; choose another path"
        )
    if not any(target.iterdir()):
        return
    if is_calspike_folder(target):
        record = _marker(target)
        if kind is not None and record.get("kind", kind) != kind:
            raise UsageError(
                f"{what} {target} is a calspike {record.get('kind')} folder, not a {kind} "
                "folder; calspike replaces only a folder of the same kind: choose another path"
            )
        listed = record.get("files")
        added = sorted(set(_files_in(target)) - set(listed)) if isinstance(listed, dict) else []
        if added:
            shown = ", ".join(added[:5]) + (f" and {len(added) - 5} more" if len(added) > 5 else "")
            raise UsageError(
                f"{what} {target} holds files calspike did not write there ({shown}); it will "
                "not delete them: move them or choose another path"
            )
        return
    raise UsageError(
        f"{what} {target} is a folder that calspike did not write (no {MARKER}); it will not "
        "replace it: choose a new or empty folder"
    )


def check_file_target(target: Path, what: str, ours: Callable[[Path], bool] | None = None) -> None:
    """UsageError unless a file may be written at `target`.

    It may when its folder exists, and nothing is there or what is there is calspike's
    (`ours(target)` is True).
    """
    check_output_place(target, what, folder=False)
    if target.is_symlink():
        raise UsageError(f"{what} {target} is a symbolic link; calspike writes only to a real path")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{what} {target}: the folder {parent} does not exist")
    if target.is_dir():
        raise UsageError(f"{what} {target} is a folder; give a file path")
    if target.exists() and not (ours is not None and _recognised(ours, target)):
        raise UsageError(
            f"{what} {target} exists and calspike did not write it; choose another name"
        )


def _recognised(ours: Callable[[Path], bool], target: Path) -> bool:
    try:
        return bool(ours(target))
    except Exception:  # noqa: BLE001 - anything unreadable is not recognisably ours
        return False


def json_written_by_calspike(keys: set[str]) -> Callable[[Path], bool]:
    """A test for JSON files calspike writes: an object, or a list of objects, holding `keys`."""

    def ours(path: Path) -> bool:
        value = json.loads(path.read_text(encoding="utf-8"))
        records = value if isinstance(value, list) else [value]
        return bool(records) and all(isinstance(r, dict) and keys <= set(r) for r in records)

    return ours


def check_not_input(
    outputs: Iterable[Path],
    inputs: Iterable[Path],
    what: str = "output",
    *,
    inside_allowed: bool = False,
) -> None:
    """UsageError when an output is or contains an input (symbolic links followed).

    Unless `inside_allowed`, also when it lies inside an input folder (a folder output
    replaces what it holds).
    """
    resolved_inputs = [Path(p).resolve() for p in inputs]
    for output in outputs:
        out = Path(output).resolve()
        for source in resolved_inputs:
            if out == source:
                raise UsageError(
                    f"{what} {output} is the input {source}; calspike never writes over its input"
                )
            if source.is_relative_to(out):
                raise UsageError(
                    f"{what} {output} contains the input {source}; calspike never replaces a "
                    "folder that holds its input"
                )
            if not inside_allowed and source.is_dir() and out.is_relative_to(source):
                raise UsageError(
                    f"{what} {output} lies inside the input folder {source}; write it elsewhere"
                )


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
        written = {"written_by": "calspike", **(record or {}), "files": _files_in(folder)}
        (folder / MARKER).write_text(json.dumps(written, indent=2))
        check_folder_target(target, what, kind)  # again: it may have changed while we worked
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
