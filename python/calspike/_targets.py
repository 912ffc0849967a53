"""Where calspike may write: the checks every output passes before any work.

The rules (docs/files.md, "What calspike does with your files"):
- a folder is replaced only if calspike wrote it (its `MARKER` records the kind and the files
  calspike put there) and holds nothing else, or it is empty; a file only if the caller says
  calspike wrote it;
- nothing is written inside the installed package, and a folder output never replaces the
  root, the home folder or the working folder or one above it;
- an output that is, contains or lies inside an input is refused.
The writing itself (atomic files and folders) is `calspike._io`'s.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from calspike._approvals import approve
from calspike._inputs import file_digest, open_input
from calspike.errors import UsageError

_MOST_RECORD = 1 << 20  # bytes: a record calspike writes is far smaller


MARKER = ".calspike-output.json"  # in every folder calspike writes: what wrote it, when


def is_calspike_folder(folder: Path) -> bool:
    """True when `folder` holds calspike's marker (so calspike wrote it)."""
    return (folder / MARKER).is_file()


def check_output_place(target: Path, what: str, folder: bool) -> None:
    """UsageError for a place no output may take.

    Anywhere inside the installed calspike package (its own weights included), and for a
    folder output the file system's root, the home folder, or the working folder or one
    above it (`-o .`, `-o ..`), which a folder output would replace whole.
    """
    _check_name_room(target, what)
    resolved = target.resolve()
    for package in _package_folders():
        if not (resolved == package or resolved.is_relative_to(package)):
            continue
        raise UsageError(
            f"{what} {target} lies inside the installed calspike package ({package}); "
            "calspike never writes into itself: choose a path outside it"
        )
    if not folder:
        return
    here = Path.cwd().resolve()
    try:
        home = Path.home().resolve()
    except (KeyError, RuntimeError):  # no home folder known (a service account ...)
        home = Path(resolved.anchor)
    if resolved == Path(resolved.anchor) or resolved == home:
        place = "the root folder" if resolved == Path(resolved.anchor) else "your home folder"
    elif resolved == here or resolved in here.parents:
        place = "the working folder" if resolved == here else "a folder above the working one"
    else:
        return
    raise UsageError(
        f"{what} {target} is {place}, which a folder output would replace whole: name a new "
        "folder for it"
    )


_PATH_MAX = 4096  # bytes, with its terminating NUL: Linux's PATH_MAX
_NAME_ROOM = 48  # bytes: the most calspike adds to a name beside it (".NAME.calspike-part-PID-...")


def _check_name_room(target: Path, what: str) -> None:
    """UsageError when the names calspike writes beside `target` would be too long to exist."""
    try:
        most = os.pathconf(target.parent if str(target.parent) else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no such folder (its own error comes later)
        most = 255
    length = len(os.fsencode(target.name))
    if length + _NAME_ROOM > most:
        raise UsageError(
            f"{what} {target}: its name is {length} bytes long, and calspike writes names up to "
            f"{_NAME_ROOM} bytes longer beside it (a temporary file, a record) where at most "
            f"{most} fit: choose a name of at most {most - _NAME_ROOM} bytes"
        )
    whole = len(os.fsencode(os.path.abspath(target)))
    if whole + _NAME_ROOM >= _PATH_MAX:
        raise UsageError(
            f"{what} {str(target)[:40]}...: its path is {whole} bytes long, and calspike "
            f"writes paths up to {_NAME_ROOM} bytes longer beside it where fewer than "
            f"{_PATH_MAX} fit: choose a shorter path"
        )


def _package_folders() -> list[Path]:
    """Where the installed package lives: its Python files' and its extension's folders.

    An editable install keeps them apart.
    """
    import importlib.util

    folders = [Path(__file__).resolve().parent]
    spec = importlib.util.find_spec("calspike._core")  # finds, does not load
    if spec is not None and spec.origin:
        folders.append(Path(spec.origin).resolve().parent)
    return folders


def _marker(folder: Path) -> dict[str, Any]:
    """The marker's record of a calspike folder ({} when it cannot be read)."""
    try:
        record = strict_json((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def files_in(folder: Path, listed: dict[str, Any] | None = None) -> dict[str, list[Any]]:
    """Every file under `folder` but the marker, by its path relative to `folder`.

    Each maps to [size in bytes, modification time in ns, SHA-256, change time in ns]: what
    tells a file edited since (the hash, when an edit kept the size and the time was put
    back). A link is described by its target's path, never followed; a file that is not
    regular (a FIFO is never opened) or cannot be read has no hash. Given the marker's
    `listed` entries, only files whose size and time still match them are hashed (the others
    changed anyway), and not even those whose change time is the one listed: any edit moves
    it, and nobody can set it back, so a folder calspike wrote is checked without reading it.
    """
    found: dict[str, list[Any]] = {}
    for root, folders, names in os.walk(folder):
        for name in folders:  # a link to a folder is listed as a link; an empty folder as one
            inside = Path(root) / name
            if not inside.is_symlink() and not any(inside.iterdir()):
                found[inside.relative_to(folder).as_posix() + "/"] = [0, 0, "empty folder", 0]
        names = [*names, *(n for n in folders if (Path(root) / n).is_symlink())]
        for name in names:
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if relative == MARKER:
                continue
            status = path.lstat()
            entry: list[Any] = [status.st_size, status.st_mtime_ns]
            then = (listed or {}).get(relative)
            if listed is not None and not (isinstance(then, list) and then[:2] == entry):
                found[relative] = [*entry, "", status.st_ctime_ns]  # changed (or added)
            elif _unchanged_since(then, status.st_ctime_ns):
                found[relative] = [*entry, then[2], status.st_ctime_ns]  # type: ignore[index]
            else:
                digest = _content_digest(path, status.st_mode)
                found[relative] = [*entry, digest, status.st_ctime_ns]
    return found


def _unchanged_since(then: Any, ctime_ns: int) -> bool:
    """True when a marker entry's change time is `ctime_ns`, to the nanosecond.

    Only where the file system keeps times finer than a second: with whole seconds, an edit
    within the second of the write would keep it.
    """
    return (
        isinstance(then, list)
        and len(then) == 4
        and bool(then[2])
        and then[3] == ctime_ns
        and ctime_ns % 1_000_000_000 != 0
    )


def _content_digest(path: Path, mode: int) -> str:
    """SHA-256 of a regular file's bytes or a link's target path; "" for anything else."""
    if stat.S_ISLNK(mode):
        return hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
    if not stat.S_ISREG(mode):
        return ""
    try:
        return file_digest(path)
    except OSError:  # unreadable: it cannot be shown to be what calspike wrote
        return ""


def changed_since(listed: dict[str, Any], found: dict[str, list[Any]]) -> list[str]:
    """The files of `found` that are not as `listed` recorded them: added or edited since.

    Entries are [size, time, SHA-256, change time]; the change time is not compared (a copy
    or a restore moves it; the hash then decides). Older markers hold [size, time, SHA-256],
    [size, time] or the size alone.
    """

    def recorded_as(path: str, now: list[Any]) -> bool:
        then = listed[path]
        if isinstance(then, int) and not isinstance(then, bool):
            return bool(then == now[0])
        if not isinstance(then, list) or len(then) not in (2, 3, 4):
            return False
        kept = min(len(then), 3)
        return then[:kept] == now[:kept] and (kept == 2 or bool(then[2]))

    return sorted(
        path for path, now in found.items() if path not in listed or not recorded_as(path, now)
    )


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
        if not isinstance(listed, dict):  # an emptied or cut marker: nothing tells calspike's
            if any(entry.name != MARKER for entry in target.iterdir()):
                raise UsageError(
                    f"{what} {target}: its {MARKER} lists no files (emptied or edited), so "
                    "calspike cannot tell its files from yours and will not delete them: move "
                    "them or choose another path"
                )
            return
        changed = changed_since(listed, files_in(target, listed))
        if changed:
            shown = ", ".join(changed[:5])
            shown += f" and {len(changed) - 5} more" if len(changed) > 5 else ""
            raise UsageError(
                f"{what} {target} holds files calspike did not write there or that changed "
                f"since ({shown}); it will not delete them: move them or choose another path"
            )
        return
    raise UsageError(
        f"{what} {target} is a folder that calspike did not write (no {MARKER}); it will not "
        "replace it: choose a new or empty folder"
    )


def check_file_target(target: Path, what: str, ours: Callable[[Path], bool] | None = None) -> None:
    """UsageError unless a file may be written at `target`; then it is `approve`d.

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
            f"{what} {target} exists and calspike did not write it (or it was edited since); "
            "choose another name"
        )
    approve(target)


def record_of(target: Path) -> Path:
    """Where calspike keeps the SHA-256 of a single text file it wrote: a hidden file beside it."""
    return target.with_name(f".{target.name}.calspike.json")


_RECORD_KIND = "calspike file record"


def recorded_digests(target: Path) -> list[str] | None:
    """The SHA-256 digests (hex) `target`'s record accepts; None without a calspike record."""
    try:
        with open_input(record_of(target)) as stream:  # never waits on a FIFO
            text = stream.read(_MOST_RECORD + 1)
        record = strict_json(text.decode("utf-8"))
    except Exception:  # noqa: BLE001 - missing, unreadable or not JSON: no record of calspike's
        return None
    if not isinstance(record, dict) or record.get("kind") != _RECORD_KIND:
        return None
    digests = record.get("sha256")
    if not isinstance(digests, list) or not all(isinstance(d, str) and d for d in digests):
        return None
    return digests


def strict_json(text: str) -> Any:
    """JSON text's value; ValueError for an object naming a key twice, or nesting too deep.

    A parser keeps the last of two values: the first would be a place for a user's text
    that nothing compares, in a file calspike recognises as its own.
    """

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("a JSON object names a key twice")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=unique)
    except RecursionError:  # nested deeper than Python's stack: no file calspike writes
        raise ValueError("JSON nested too deeply") from None


def record_text(target: Path, digests: list[str]) -> str:
    """The record of `target` accepting `digests`, as JSON text."""
    return json.dumps({"kind": _RECORD_KIND, "file": target.name, "sha256": digests}, indent=1)


def recorded_by_calspike(target: Path) -> bool:
    """True when `target` still has a SHA-256 its record (`record_of`) lists."""
    digests = recorded_digests(target)
    return bool(digests) and _content_digest(target, target.lstat().st_mode) in (digests or [])


def check_recorded_target(target: Path, what: str, others: Iterable[Path] = ()) -> None:
    """UsageError unless a file calspike records (`calspike._io.recorded_path`) may go there.

    As `check_file_target`, where what is there counts as calspike's only when its record
    lists the SHA-256 it has now (an edited file is refused); the record's own place must be
    free or hold a record, and neither may be one of the command's `others` outputs.
    """
    _check_name_room(target, what)
    record = record_of(target)
    for other in others:  # links followed: one file reached by two paths is one file
        if Path(other).resolve() in (target.resolve(), record.resolve()):
            raise UsageError(
                f"{what} {target} and the output {other} would be one file (the record of "
                f"{target.name} is {record.name}, beside it); give them different names"
            )
    if record.is_symlink() or (record.exists() and recorded_digests(target) is None):
        raise UsageError(
            f"{what} {target}: {record} exists and is not calspike's record of it (calspike "
            "keeps the SHA-256 of each file it writes there); move it or choose another name"
        )
    check_file_target(target, what, recorded_by_calspike)
    approve(record)


def _recognised(ours: Callable[[Path], bool], target: Path) -> bool:
    try:
        return bool(ours(target))
    except Exception:  # noqa: BLE001 - anything unreadable is not recognisably ours
        return False


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
