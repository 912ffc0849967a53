"""Download and cache the SpikeFinder challenge's official archives.

An archive is fetched into ``<cache>/spikefinder/.NAME.zip.calspike-download`` (a name only
calspike makes; resumed with an HTTP Range request when a partial file is there), checked to
be a complete zip, renamed into place, and its URL, SHA-256 and size recorded beside it in
``NAME.zip.json``. Later calls recompute the hash and compare before trusting the cache.
Extraction rejects members that would land outside the target folder (zip-slip) and renames
a finished folder into place, its marker listing what it holds.

Only what calspike wrote is replaced (docs/files.md): an archive only beside calspike's own
record, a record only if it is calspike's, an extracted folder only if its marker is
calspike's and it holds nothing else. Anything else is refused with a `UsageError`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from tqdm.auto import tqdm

from calspike._io import atomic_path
from calspike._targets import changed_since, check_output_place, files_in
from calspike.data.recording import DataError
from calspike.errors import UsageError

OFFICIAL_URLS = {
    "train": "https://s3.amazonaws.com/neuro.datasets/challenges/spikefinder/spikefinder.train.zip",
    "test": "https://s3.amazonaws.com/neuro.datasets/challenges/spikefinder/spikefinder.test.zip",
}
_CHUNK = 1 << 20
_MARKER = ".calspike-extracted.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_dir() -> Path:
    """The per-user cache folder.

    $CALSPIKE_CACHE_DIR, else $XDG_CACHE_HOME/calspike, else ~/.cache/calspike. Nothing is
    created here; only explicit downloads and caches write.
    """
    if os.environ.get("CALSPIKE_CACHE_DIR"):
        return Path(os.environ["CALSPIKE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "calspike"


def fetch_spikefinder(
    split: str = "train",
    *,
    url: str | None = None,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = True,
    timeout_s: float = 60.0,
) -> Path:
    """Download (once) and extract a SpikeFinder archive; returns the folder holding its CSVs.

    The archive and its SHA-256 are recorded in the cache, and extracted once; a later
    call returns the folder without downloading again.

    Parameters
    ----------
    split : {"train", "test"}
        Chooses the official URL.
    url : str, optional
        Another URL of a zip with the same layout (a mirror).
    cache : path-like, optional
        Cache folder; `calspike.data.cache_dir` when None.
    progress : bool
        Show a progress bar.
    timeout_s : float
        Network timeout per read, seconds.

    Returns
    -------
    pathlib.Path
        The folder holding the archive's ``N.{split}.calcium.csv`` files (for
        `read_spikefinder`).

    Raises
    ------
    ValueError
        For an unknown `split`.
    UsageError
        For a `url` that does not name a .zip file, a `cache` where a file stands in place of
        a folder, or a file or folder under calspike's names there that calspike did not
        write (or, for its extracted folder, holding files that calspike did not extract).
    DataError
        For a truncated download, which keeps the partial file so that the next call
        resumes it, or a corrupted archive, which is deleted.
    """
    name = archive_name(split, url)
    source = url or OFFICIAL_URLS[split]
    blocked = blocked_cache(cache)
    if blocked is not None:
        raise UsageError(f"{blocked} is not a folder: move it or choose another cache folder")
    folder = (Path(cache) if cache is not None else cache_dir()) / "spikefinder"
    check_cache_place(folder.parent)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / name
    record_path = folder / (name + ".json")
    extracted = folder / name[: -len(".zip")]

    _check_download_is_ours(archive, record_path)
    digest = _verified_digest(archive, record_path)
    if digest is None:
        partial = _download(source, archive, progress, timeout_s)
        digest = _sha256(partial)
        with atomic_path(record_path) as temporary:  # the record first: an archive without
            temporary.write_text(  # one is never calspike's
                json.dumps({"url": source, "sha256": digest, "bytes": partial.stat().st_size})
            )
        os.replace(partial, archive)
    marker = _read_json(extracted / _MARKER)
    if not (isinstance(marker, dict) and marker.get("sha256") == digest):  # else extracted
        _extract(archive, extracted, digest)
    return _csv_folder(extracted)


def archive_name(split: str, url: str | None) -> str:
    """The archive's file name: the last part of `url` (or of the official URL of `split`).

    Raises ValueError for an unknown `split`, UsageError for a `url` not naming a .zip file.
    """
    if split not in OFFICIAL_URLS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    source = url or OFFICIAL_URLS[split]
    name = PurePosixPath(urllib.parse.urlparse(source).path).name or f"spikefinder.{split}.zip"
    if not name.endswith(".zip"):
        raise UsageError(f"url must name a .zip file (the archive's URL), got {source!r}")
    return name


def check_cache_place(cache: Path, what: str = "the cache folder") -> None:
    """UsageError when the `cache` folder lies inside the installed package or is the root."""
    check_output_place(cache, what, folder=False)
    if cache.resolve() == Path(cache.resolve().anchor):
        raise UsageError(f"{what} {cache} is the root folder; give a folder of its own for it")


def blocked_cache(cache: str | os.PathLike[str] | None) -> Path | None:
    """The path where a file (not a folder) stands in the way of ``<cache>/spikefinder``; or None.

    Found before any work, so that ``fetch --cache FILE`` is a usage error naming the file.
    """
    folder = (Path(cache) if cache is not None else cache_dir()) / "spikefinder"
    for path in (folder, *folder.parents):
        if path.exists() or path.is_symlink():
            return None if path.is_dir() else path
    return None


def _read_json(path: Path) -> Any:
    """The JSON in `path`; {} when it is missing, unreadable or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):  # a nesting past the stack, too
        return {}


def _record(record_path: Path) -> dict[str, Any] | None:
    """The download record calspike wrote at `record_path`; None for anything else.

    Calspike's record holds exactly its URL (a string), SHA-256 (64 hex digits) and size.
    """
    record = _read_json(record_path)
    if not (isinstance(record, dict) and set(record) == {"url", "sha256", "bytes"}):
        return None
    ours = (
        isinstance(record["url"], str)
        and isinstance(record["sha256"], str)
        and _SHA256.fullmatch(record["sha256"]) is not None
        and type(record["bytes"]) is int
    )
    return record if ours else None


def _check_download_is_ours(archive: Path, record_path: Path) -> None:
    """UsageError unless the archive and its record are missing or calspike's to replace."""
    here = archive.exists() or archive.is_symlink()
    if (record_path.exists() or record_path.is_symlink()) and _record(record_path) is None:
        replaced = f"it or {archive.name}: move them" if here else "it: move it"
        raise UsageError(
            f"{record_path} is not a download record calspike wrote; it will not replace "
            f"{replaced} or choose another --cache"
        )
    if here and not record_path.exists():
        raise UsageError(
            f"{archive} exists and calspike did not download it (no {record_path.name}); it "
            "will not replace it: move it or choose another --cache"
        )
    if here and not archive.is_file():
        raise UsageError(
            f"{archive} is not a file calspike downloaded; it will not replace it: move it "
            "or choose another --cache"
        )


def _verified_digest(archive: Path, record_path: Path) -> str | None:
    """The recorded SHA-256 if the archive is present and still matches it; else None.

    None means the archive is downloaded again; `_check_download_is_ours` has made sure that
    both are calspike's (or missing).
    """
    record = _record(record_path)
    if record is None or not archive.is_file():
        return None
    if archive.stat().st_size == record["bytes"] and _sha256(archive) == record["sha256"]:
        return str(record["sha256"])
    archive.unlink(missing_ok=True)  # changed since it was recorded: never trust it
    record_path.unlink(missing_ok=True)
    return None


def _download(url: str, archive: Path, progress: bool, timeout_s: float) -> Path:
    """Download (or resume) `url` into the partial file beside `archive`; returns it, whole.

    The partial file's name (``.NAME.calspike-download``) is one that only calspike makes, and
    the same in every run, so that the next run resumes it.
    """
    partial = archive.with_name(f".{archive.name}.calspike-download")
    have = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "calspike"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416:  # the partial file is already complete
            response = None
        else:
            raise DataError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise DataError(f"{url}: download failed ({error}); run again to retry") from None

    if response is not None:
        with response:
            resumed = response.status == 206
            if not resumed:
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            with (
                open(partial, "ab" if resumed else "wb") as out,
                tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    desc=archive.name,
                    disable=not progress,
                ) as bar,
            ):
                try:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
                except (
                    OSError,
                    ValueError,
                    http.client.HTTPException,
                ) as error:  # IncompleteRead: cut off
                    raise DataError(
                        f"{url}: download interrupted after {partial.stat().st_size} bytes "
                        f"({error}); "
                        "run again to resume"
                    ) from None
            got = partial.stat().st_size
            if total is not None and got < total:
                raise DataError(
                    f"{url}: download truncated at {got} of {total} bytes; run again to resume"
                )
    if not _is_complete_zip(partial):
        partial.unlink(missing_ok=True)
        raise DataError(
            f"{url}: the downloaded file is not a valid zip archive (deleted); run again"
        )
    return partial


def _is_complete_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zipped:
            return zipped.testzip() is None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError):
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _entries(folder: Path) -> set[str]:
    """Every file, folder and link under `folder` but the marker: relative, in POSIX form."""
    found = set()
    for root, folders, names in os.walk(folder):
        for name in [*folders, *names]:
            found.add((Path(root) / name).relative_to(folder).as_posix())
    return found - {_MARKER}


def _check_replaceable(target: Path) -> None:
    """UsageError unless `target` is missing or a folder calspike extracted, holding only that.

    Calspike's marker in the folder lists what it extracted; anything else there is a user's.
    """
    if not (target.exists() or target.is_symlink()):
        return
    marker = _read_json(target / _MARKER)
    files = marker.get("files") if isinstance(marker, dict) else None
    if (
        target.is_symlink()
        or not isinstance(files, list)
        or not all(isinstance(file, str) for file in files)
        or not isinstance(marker.get("sha256"), str)
    ):
        raise UsageError(
            f"{target} exists and calspike did not extract it (no {_MARKER} of its own); it "
            "will not replace it: move it or choose another --cache"
        )
    added = sorted(_entries(target) - set(files))
    if added:
        shown = ", ".join(added[:5]) + (f" and {len(added) - 5} more" if len(added) > 5 else "")
        raise UsageError(
            f"{target} holds files calspike did not extract ({shown}); it will not replace the "
            "folder: move them out and run again, or choose another --cache"
        )
    sizes = marker.get(
        "sizes"
    )  # [bytes, mtime ns] of each file as extracted (older markers lack it)
    found = files_in(target, sizes if isinstance(sizes, dict) else None)
    found.pop(_MARKER, None)
    edited = changed_since(sizes, found) if isinstance(sizes, dict) else []
    if edited:
        shown = ", ".join(edited[:5]) + (f" and {len(edited) - 5} more" if len(edited) > 5 else "")
        raise UsageError(
            f"{target} holds files changed since calspike extracted them ({shown}); it will not "
            "replace the folder: move them out and run again, or choose another --cache"
        )


def _extract(archive: Path, target: Path, digest: str) -> None:
    """Extract into a temporary sibling folder, then rename it to target; refuses unsafe members."""
    _check_replaceable(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would hide the data from the user's group
    try:
        with zipfile.ZipFile(archive) as zipped:
            root = staging.resolve()
            for member in zipped.infolist():
                path = PurePosixPath(member.filename.replace("\\", "/"))
                destination = (staging / path).resolve()
                is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
                if (
                    path.is_absolute()
                    or ".." in path.parts
                    or is_link
                    or not destination.is_relative_to(root)
                ):
                    raise DataError(
                        f"{archive}: unsafe member {member.filename!r} (outside the archive folder)"
                    )
            zipped.extractall(staging)
        listed = sorted(_entries(staging))
        (staging / _MARKER).write_text(
            json.dumps({"sha256": digest, "files": listed, "sizes": files_in(staging)})
        )
        _check_replaceable(target)  # again: a file may have been added while extracting
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _csv_folder(extracted: Path) -> Path:
    """The folder inside the extraction that holds the N.*.calcium.csv files."""
    for folder in [extracted, *sorted(p for p in extracted.rglob("*") if p.is_dir())]:
        if any(folder.glob("*.calcium.csv")):
            return folder
    raise DataError(f"{extracted}: the archive holds no N.*.calcium.csv files")
