"""`fetch --cache DIR` replaces only what calspike wrote there (issue 29).

A user's archive, download record, partial download or files added inside the extracted
folder are refused or left alone, never replaced or deleted; a cache or URL that cannot work
is a usage error naming the option. Served by a local HTTP server (never the internet).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from test_download import _Server, _spikefinder_zip

import calspike
from calspike import DataError
from calspike.cli import main

NAME = "spikefinder.train.zip"


@pytest.fixture()
def server():
    with _Server() as running:
        running.files["/" + NAME] = _spikefinder_zip()
        yield running


def _fetch(server, cache):
    return calspike.fetch_spikefinder(url=server.url + "/" + NAME, cache=cache, progress=False)


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "record", ["{}", '{"sha256": "abc"}', '{"note": "mine", "url": "x"}', "[1, 2]", "not json"]
)
def test_a_users_archive_and_json_under_calspikes_names_are_refused_and_kept(
    server, tmp_path, record
):
    folder = tmp_path / "spikefinder"
    folder.mkdir()
    (folder / NAME).write_bytes(b"my own archive")
    (folder / (NAME + ".json")).write_text(record)
    with pytest.raises(calspike.UsageError) as refused:
        _fetch(server, tmp_path)
    message = _one_line(refused)
    assert f"{NAME}.json" in message and "not a download record calspike wrote" in message
    assert (folder / NAME).read_bytes() == b"my own archive"
    assert (folder / (NAME + ".json")).read_text() == record
    assert server.requests == []  # refused before any download


def test_a_users_json_alone_under_the_record_name_is_refused_and_kept(server, tmp_path):
    folder = tmp_path / "spikefinder"
    folder.mkdir()
    record = folder / (NAME + ".json")
    record.write_text('{"my": "settings"}')
    with pytest.raises(calspike.UsageError, match="not a download record calspike wrote") as no:
        _fetch(server, tmp_path)
    assert str(record) in _one_line(no) and "move it or choose another --cache" in str(no.value)
    assert record.read_text() == '{"my": "settings"}' and server.requests == []
    assert sorted(p.name for p in folder.iterdir()) == [NAME + ".json"]


def test_calspikes_own_record_is_recognised_and_a_tampered_archive_fetched_again(server, tmp_path):
    found = _fetch(server, tmp_path)
    record = tmp_path / "spikefinder" / (NAME + ".json")
    assert set(json.loads(record.read_text())) == {"url", "sha256", "bytes"}
    archive = tmp_path / "spikefinder" / NAME
    archive.write_bytes(b"changed since")
    assert _fetch(server, tmp_path) == found and len(server.requests) == 2
    assert archive.read_bytes() == server.files["/" + NAME]


def _ignore_range(server):
    base = server.httpd.RequestHandlerClass

    class IgnoresRange(base):  # type: ignore[misc, valid-type]
        def do_GET(self):
            del self.headers["Range"]
            super().do_GET()

    server.httpd.RequestHandlerClass = IgnoresRange


def test_a_users_part_file_is_never_resumed_overwritten_or_deleted(server, tmp_path):
    folder = tmp_path / "spikefinder"
    folder.mkdir()
    users = folder / (NAME + ".part")
    users.write_bytes(b"my partial notes")
    _fetch(server, tmp_path)  # a server that honours Range: calspike does not resume it
    assert server.requests == [("/" + NAME, None)]
    assert users.read_bytes() == b"my partial notes"
    (folder / NAME).unlink()
    _ignore_range(server)  # one that ignores Range wrote over it before
    _fetch(server, tmp_path)
    assert users.read_bytes() == b"my partial notes"
    (folder / NAME).unlink()
    server.files["/" + NAME] = b"not a zip at all"  # and one that is not a zip deleted it
    with pytest.raises(DataError, match="not a valid zip"):
        _fetch(server, tmp_path)
    assert users.read_bytes() == b"my partial notes"


def test_the_partial_download_has_a_name_only_calspike_makes_and_resumes(server, tmp_path):
    body = server.files["/" + NAME]
    server.truncate_once.add("/" + NAME)
    with pytest.raises(DataError, match="run again to resume"):
        _fetch(server, tmp_path)
    folder = tmp_path / "spikefinder"
    (partial,) = [p for p in folder.iterdir() if p.name != NAME + ".json"]
    assert partial.name == f".{NAME}.calspike-download"
    assert 0 < partial.stat().st_size < len(body)
    _fetch(server, tmp_path)  # the next run (another process alike) resumes the same file
    assert server.requests[-1][1] == f"bytes={len(body) // 2}-"
    assert (folder / NAME).read_bytes() == body and not partial.exists()


def _another_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("spikefinder.train/1.train.calcium.csv", "0,1\n0.5,0.25\n")
        archive.writestr("spikefinder.train/1.train.spikes.csv", "0,1\n0,1\n")
    return buffer.getvalue()


def test_files_a_user_added_inside_the_extracted_folder_are_never_deleted(server, tmp_path):
    found = _fetch(server, tmp_path)
    extracted = tmp_path / "spikefinder" / "spikefinder.train"
    notes = found / "notes.txt"
    notes.write_text("mine")
    (extracted / "mine").mkdir()
    (extracted / "mine" / "more.txt").write_text("also mine")
    server.files["/" + NAME] = _another_zip()  # the archive changes: calspike re-extracts
    (tmp_path / "spikefinder" / NAME).unlink()
    with pytest.raises(calspike.UsageError, match="files calspike did not extract") as refused:
        _fetch(server, tmp_path)
    message = _one_line(refused)
    assert "notes.txt" in message and "mine/more.txt" in message and str(extracted) in message
    assert notes.read_text() == "mine" and (extracted / "mine" / "more.txt").is_file()
    notes.unlink()
    (extracted / "mine" / "more.txt").unlink()
    (extracted / "mine").rmdir()
    found = _fetch(server, tmp_path)  # only calspike's files there: replaced
    assert (found / "1.train.calcium.csv").read_text() == "0,1\n0.5,0.25\n"
    marker = json.loads((extracted / ".calspike-extracted.json").read_text())
    assert sorted(marker["files"]) == [
        "spikefinder.train",
        "spikefinder.train/1.train.calcium.csv",
        "spikefinder.train/1.train.spikes.csv",
    ]


def test_files_a_user_edited_inside_the_extracted_folder_are_never_replaced(server, tmp_path):
    found = _fetch(server, tmp_path)
    calcium = found / "1.train.calcium.csv"
    calcium.write_text("0,1\n0.5,0.75\n")  # the user's correction, same size
    server.files["/" + NAME] = _another_zip()  # the archive changes: calspike would re-extract
    (tmp_path / "spikefinder" / NAME).unlink()
    with pytest.raises(calspike.UsageError, match="changed since calspike extracted") as refused:
        _fetch(server, tmp_path)
    assert "spikefinder.train/1.train.calcium.csv" in _one_line(refused)
    assert calcium.read_text() == "0,1\n0.5,0.75\n"


@pytest.mark.parametrize("marker", ["not json", '{"sha256": "0"}', "{}"])
def test_an_extraction_marker_calspike_did_not_write_is_refused(server, tmp_path, marker):
    extracted = tmp_path / "spikefinder" / "spikefinder.train"
    extracted.mkdir(parents=True)
    (extracted / ".calspike-extracted.json").write_text(marker)
    (extracted / "data.csv").write_text("mine")
    with pytest.raises(calspike.UsageError, match="calspike did not extract it") as refused:
        _fetch(server, tmp_path)
    assert str(extracted) in _one_line(refused)
    assert (extracted / "data.csv").read_text() == "mine"


def test_fetch_url_and_cache_that_cannot_work_are_usage_errors_naming_the_option(
    server, tmp_path, capsys
):
    def usage_error(argv):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") <= 2  # the usage line and one error line
        return err

    err = usage_error(["fetch", "--split", "train", "--url", "http://h/x.tar.gz"])
    assert "--url" in err and "x.tar.gz" in err and ".zip" in err
    cache = tmp_path / "c6"
    cache.write_text("a file")
    url = server.url + "/" + NAME
    err = usage_error(["fetch", "--split", "train", "--url", url, "--cache", str(cache)])
    assert "--cache" in err and str(cache) in err and "not a folder" in err
    cache.unlink()
    cache.mkdir()
    (cache / "spikefinder").write_text("a file")  # the folder calspike would use inside
    err = usage_error(["fetch", "--split", "train", "--url", url, "--cache", str(cache)])
    assert "--cache" in err and str(cache / "spikefinder") in err
    assert server.requests == [] and (cache / "spikefinder").read_text() == "a file"
    with pytest.raises(calspike.UsageError, match="not a folder"):
        calspike.fetch_spikefinder(url=url, cache=cache, progress=False)


def test_a_cache_inside_the_package_or_at_the_root_is_a_usage_error_before_any_work(
    server, tmp_path, capsys
):
    """Before: the spikefinder/ folder was made there, then the download began."""
    package = Path(calspike.__file__).parent / "data"
    for cache in (package, Path("/")):
        with pytest.raises(SystemExit) as usage:
            main(
                [
                    "fetch",
                    "--split",
                    "train",
                    "--cache",
                    str(cache),
                    "--url",
                    server.url + "/" + NAME,
                ]
            )
        assert usage.value.code == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and f"--cache {cache}" in error, error
        with pytest.raises(calspike.UsageError, match="the cache folder"):
            _fetch(server, cache)
    assert not (package / "spikefinder").exists() and not Path("/spikefinder").exists()
    assert server.requests == []
