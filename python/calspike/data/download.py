"""Download and cache the SpikeFinder challenge's official archives.

An archive is fetched into ``<cache>/spikefinder/NAME.zip.part`` (resumed with an
HTTP Range request when a partial file is there), checked to be a complete zip,
renamed into place, and its SHA-256 recorded beside it. Later calls recompute the
hash and compare before trusting the cache. Extraction rejects members that would
land outside the target folder (zip-slip) and renames a finished folder into place.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from calspike._io import atomic_path
from calspike.data.recording import DataError
from calspike.errors import UsageError

OFFICIAL_URLS = {
    "train": "https://s3.amazonaws.com/neuro.datasets/challenges/spikefinder/spikefinder.train.zip",
    "test": "https://s3.amazonaws.com/neuro.datasets/challenges/spikefinder/spikefinder.test.zip",
}
_CHUNK = 1 << 20


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
        For an unknown `split` or a `url` that does not name a .zip file.
    DataError
        For a truncated download, which keeps the partial file so that the next call
        resumes it, or a corrupted archive, which is deleted.
    """
    if split not in OFFICIAL_URLS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    source = url or OFFICIAL_URLS[split]
    name = PurePosixPath(urllib.parse.urlparse(source).path).name or f"spikefinder.{split}.zip"
    if not name.endswith(".zip"):
        raise ValueError(f"url must name a .zip file, got {source!r}")
    folder = Path(cache) if cache is not None else cache_dir()
    folder = folder / "spikefinder"
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / name
    record_path = folder / (name + ".json")
    extracted = folder / name[: -len(".zip")]

    if archive.exists() and not record_path.is_file():
        raise UsageError(
            f"{archive} exists and calspike did not download it (no {record_path.name}); it "
            "will not replace it: move it or choose another --cache"
        )
    digest = _verified_digest(archive, record_path)
    if digest is None:
        partial = _download(source, archive, progress, timeout_s)
        digest = _sha256(partial)
        with atomic_path(record_path) as temporary:  # the record first: an archive without
            temporary.write_text(  # one is never calspike's
                json.dumps({"url": source, "sha256": digest, "bytes": partial.stat().st_size})
            )
        os.replace(partial, archive)
    marker = extracted / ".calspike-extracted.json"
    if not (marker.is_file() and json.loads(marker.read_text()).get("sha256") == digest):
        _extract(archive, extracted, digest)
    return _csv_folder(extracted)


def _verified_digest(archive: Path, record_path: Path) -> str | None:
    """The recorded SHA-256 if the archive is present and still matches it; else None.

    None means the archive is downloaded again.
    """
    if not (archive.is_file() and record_path.is_file()):
        return None
    try:
        recorded = json.loads(record_path.read_text())["sha256"]
    except (ValueError, KeyError, TypeError):
        recorded = None
    if recorded is not None and _sha256(archive) == recorded:
        return str(recorded)
    archive.unlink(missing_ok=True)  # changed since it was recorded: never trust it
    record_path.unlink(missing_ok=True)
    return None


def _download(url: str, archive: Path, progress: bool, timeout_s: float) -> Path:
    """Download (or resume) `url` into the ``.part`` file beside `archive`; returns it, whole."""
    partial = archive.with_name(archive.name + ".part")
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


def _extract(archive: Path, target: Path, digest: str) -> None:
    """Extract into a temporary sibling folder, then rename it to target; refuses unsafe members."""
    if target.exists() and not (target / ".calspike-extracted.json").is_file():
        raise UsageError(
            f"{target} exists and calspike did not extract it (no .calspike-extracted.json); it "
            "will not replace it: move it or choose another --cache"
        )
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
        (staging / ".calspike-extracted.json").write_text(json.dumps({"sha256": digest}))
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
