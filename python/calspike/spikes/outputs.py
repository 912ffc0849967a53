"""Where `calspike infer` writes, checked before any data is read, and its sidecar's place.

An output is never an input, never a file or folder that calspike did not write; a file's
JSON sidecar (FILE.json beside it, `calspike-infer.json` inside a folder) names calspike and
the SHA-256 of every file written, so `calspike score` can tell a complete output from one
left by an interrupted run.
"""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from typing import Any

from calspike._approvals import approve
from calspike._inputs import open_input
from calspike._io import UsageError, file_digest
from calspike._targets import (
    check_folder_target,
    check_not_input,
    check_output_place,
    strict_json,
)
from calspike.data.chunked import is_chunked_source, split_hdf5
from calspike.data.suite2p import is_suite2p_plane

SIDECAR = "calspike-infer.json"  # in a prediction folder; a file's sidecar is FILE.json


def check_outputs(source: Path, output: Path, *, suite2p: bool | None = None) -> str:
    """The output layout for `source`: "folder", "csv", "npy", "zarr" or "nwb".

    UsageError before any work when `output` is unusable: an input, a folder or file calspike
    did not write, the wrong type.
    """
    hdf5 = split_hdf5(source)
    if not (hdf5[0] if hdf5 else source).exists():
        raise FileNotFoundError(f"input not found: {hdf5[0] if hdf5 else source}")
    if output.name in ("", ".", ".."):  # `-o .`, `-o /`, `-o ..`: a place, not a name
        raise UsageError(
            f"output {output} is a folder you already have; name a new file or folder in it"
        )
    plane = False if hdf5 else is_suite2p_plane(source) if suite2p is None else suite2p
    if source.suffix.lower() == ".nwb":
        layout = "nwb"
    elif is_chunked_source(source) and output.suffix.lower() == ".zarr":
        layout = "zarr"
    elif is_chunked_source(source):
        layout = "npy"
    elif source.is_dir() and not plane:
        layout = "folder"
    elif not plane and source.name.endswith(".calcium.csv"):
        layout = "csv"
    else:
        layout = "npy"
    sidecar = sidecar_path(output, layout)
    check_output_place(output, "output", folder=layout in ("folder", "zarr"))
    check_not_input(
        [output, sidecar],
        [hdf5[0] if hdf5 else source, *files_read(source, layout)],
        inside_allowed=layout not in ("folder", "zarr"),
    )
    # a file's sidecar is written beside it: the user's file there is refused too
    if (
        layout != "folder"
        and (sidecar.exists() or sidecar.is_symlink())
        and calspike_record(sidecar) is None
    ):
        raise UsageError(
            f"{sidecar} exists and calspike did not write it (the sidecar of {output.name} goes "
            "there); choose another output name"
        )
    if layout != "folder":
        approve(sidecar)
    if layout in ("folder", "zarr"):
        check_folder_target(
            output, "output folder" if layout == "folder" else "output zarr array", "predictions"
        )
        return layout
    if output.is_dir():
        raise UsageError(f"output {output} is a folder; give a .{layout} file path")
    if output.suffix != f".{layout}":
        what = {"npy": "array or suite2p", "csv": "SpikeFinder CSV", "nwb": "NWB"}[layout]
        also = " (or a .zarr)" if layout == "npy" and is_chunked_source(source) else ""
        raise UsageError(f"output for {what} input must be a .{layout} path{also}, got {output}")
    if not output.parent.is_dir():
        raise UsageError(f"output folder does not exist: {output.parent}")
    if output.is_symlink():
        raise UsageError(f"output {output} is a symbolic link; calspike writes only to a real path")
    if output.exists() and not written_by_calspike(output):
        raise UsageError(
            f"output {output} exists and calspike did not write it (no matching "
            f"{sidecar.name}); choose another name"
        )
    if output.exists() and changed_since_written(output):
        raise UsageError(
            f"output {output} changed since calspike wrote it (its SHA-256 is not the one "
            f"{sidecar.name} records); calspike will not replace it: choose another name"
        )
    approve(output)
    return layout


def files_read(source: Path, layout: str) -> list[Path]:
    """Every file an input may be read from: a folder's files, a SpikeFinder CSV's truth."""
    if split_hdf5(source):
        return []
    if source.is_dir():
        return [entry for entry in source.iterdir() if entry.is_file()]
    if layout == "csv":
        return [source.with_name(source.name.replace(".calcium.csv", ".spikes.csv"))]
    return []


def sidecar_path(output: Path, layout: str) -> Path:
    """Where the JSON sidecar of an output goes: beside a file or a zarr folder, in a folder."""
    return output / SIDECAR if layout == "folder" else output.with_name(output.name + ".json")


_SEAL = "sidecar_sha256"


def _seal_of(record: dict[str, Any]) -> str:
    """SHA-256 (hex) of a sidecar's record less its seal, as canonical JSON."""
    rest = {key: value for key, value in record.items() if key != _SEAL}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sidecar_text(record: dict[str, Any]) -> str:
    """A sidecar's JSON text: `record` sealed with the SHA-256 of its contents.

    The seal is what tells a sidecar calspike wrote, unedited, from a file that looks like
    one (any edit breaks it), so a later `infer` replaces only the former.
    """
    return json.dumps({**record, _SEAL: _seal_of(record)}, indent=2, allow_nan=True)


def calspike_record(sidecar: Path) -> dict[str, Any] | None:
    """The record in a sidecar calspike wrote and nobody edited since, else None.

    A record is a JSON object naming calspike and its files (name: SHA-256), sealed by
    `sidecar_text` (sidecars of calspike versions before the seal are not recognised).
    """
    try:
        if sidecar.is_symlink() or not sidecar.is_file() or sidecar.stat().st_size >= 1 << 26:
            return None
        with open_input(sidecar) as stream:
            record = strict_json(stream.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    return (
        record
        if isinstance(record, dict)
        and "calspike" in record
        and isinstance(record.get("files"), dict)
        and record.get(_SEAL) == _seal_of(record)
        else None
    )


def written_by_calspike(output: Path) -> bool:
    """Whether the sidecar beside the file `output` is calspike's and lists it."""
    record = calspike_record(output.with_name(output.name + ".json"))
    return record is not None and output.name in record["files"]


def changed_since_written(output: Path) -> bool:
    """Whether the file `output`, which its sidecar lists, is no longer what calspike wrote.

    Its SHA-256 is compared with the sidecar's (size and time alone miss a same-size edit
    whose time was put back). A pending sidecar (a run that did not finish) lists the
    digests the output may have: the one it replaced, and the new one once it was whole.
    """
    record = calspike_record(output.with_name(output.name + ".json"))
    recorded = None if record is None else record["files"].get(output.name)
    accepted = recorded if isinstance(recorded, list) else [recorded]
    if not all(isinstance(digest, str) for digest in accepted):
        return True  # no digest of it is known: it cannot be shown to be calspike's
    if not stat.S_ISREG(output.lstat().st_mode):  # a FIFO there is never opened
        return True
    try:
        return file_digest(output) not in accepted
    except OSError:  # unreadable: it cannot be shown to be what calspike wrote
        return True
