"""Downloads against a real HTTP server on 127.0.0.1 (tests never touch the internet)."""

from __future__ import annotations

import http.server
import io
import threading
import zipfile

import pytest

import calspike
from calspike import DataError
from calspike.cli import main


def _spikefinder_zip(member_prefix="spikefinder.train/") -> bytes:
    recording = calspike.simulate(2, 300, seed=0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for kind, values in (("calcium", recording.calcium), ("spikes", recording.spikes)):
            rows = ["0,1"] + [f"{float(a)!r},{float(b)!r}" for a, b in values.T]
            archive.writestr(f"{member_prefix}1.train.{kind}.csv", "\n".join(rows) + "\n")
    return buffer.getvalue()


class _Server:
    """Serves `files` (path -> bytes).

    Paths in `truncate_once` are cut in half on their first request.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate_once: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if self.path in server.truncate_once:
                    server.truncate_once.discard(self.path)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    with _Server() as running:
        yield running


def test_download_extracts_verifies_and_reuses(server, tmp_path):
    server.files["/spikefinder.train.zip"] = _spikefinder_zip()
    url = server.url + "/spikefinder.train.zip"
    folder = calspike.fetch_spikefinder(url=url, cache=tmp_path, progress=False)
    assert folder.name == "spikefinder.train" and (folder / "1.train.calcium.csv").is_file()
    (recording,) = calspike.read_spikefinder(folder)
    assert recording.neurons == 2 and recording.frames == 300
    assert calspike.fetch_spikefinder(url=url, cache=tmp_path, progress=False) == folder
    assert len(server.requests) == 1  # the second call trusted the verified cache
    record = (tmp_path / "spikefinder" / "spikefinder.train.zip.json").read_text()
    assert '"sha256"' in record


def test_a_truncated_download_fails_clearly_then_resumes(server, tmp_path):
    body = _spikefinder_zip()
    server.files["/spikefinder.train.zip"] = body
    server.truncate_once.add("/spikefinder.train.zip")
    url = server.url + "/spikefinder.train.zip"
    with pytest.raises(DataError, match="run again to resume"):
        calspike.fetch_spikefinder(url=url, cache=tmp_path, progress=False)
    partial = tmp_path / "spikefinder" / ".spikefinder.train.zip.calspike-download"
    assert 0 < partial.stat().st_size < len(body)
    assert not (tmp_path / "spikefinder" / "spikefinder.train.zip").exists()
    folder = calspike.fetch_spikefinder(url=url, cache=tmp_path, progress=False)
    assert server.requests[-1][1] == f"bytes={len(body) // 2}-"  # resumed, not restarted
    assert (tmp_path / "spikefinder" / "spikefinder.train.zip").read_bytes() == body
    assert (folder / "1.train.spikes.csv").is_file()


def test_a_corrupted_archive_is_rejected_and_deleted(server, tmp_path):
    body = bytearray(_spikefinder_zip())
    body[60:90] = bytes(30)  # damage the first member's compressed data
    server.files["/spikefinder.train.zip"] = bytes(body)
    with pytest.raises(DataError, match="not a valid zip"):
        calspike.fetch_spikefinder(
            url=server.url + "/spikefinder.train.zip", cache=tmp_path, progress=False
        )
    assert list((tmp_path / "spikefinder").iterdir()) == []


def test_a_tampered_cache_is_downloaded_again(server, tmp_path):
    server.files["/spikefinder.train.zip"] = _spikefinder_zip()
    url = server.url + "/spikefinder.train.zip"
    calspike.fetch_spikefinder(url=url, cache=tmp_path, progress=False)
    archive = tmp_path / "spikefinder" / "spikefinder.train.zip"
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")
    calspike.fetch_spikefinder(url=url, cache=tmp_path, progress=False)
    assert len(server.requests) == 2
    assert archive.read_bytes() == server.files["/spikefinder.train.zip"]


def test_zip_slip_members_are_refused(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("spikefinder.train/1.train.calcium.csv", "0\n1\n")
        archive.writestr("../../evil.txt", "owned")
    server.files["/spikefinder.train.zip"] = buffer.getvalue()
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="unsafe member"):
        calspike.fetch_spikefinder(
            url=server.url + "/spikefinder.train.zip", cache=cache, progress=False
        )
    assert not (tmp_path / "evil.txt").exists() and not (cache / "evil.txt").exists()
    assert not (cache / "spikefinder" / "spikefinder.train").exists()


def test_http_errors_and_bad_arguments(server, tmp_path):
    with pytest.raises(DataError, match="HTTP 404"):
        calspike.fetch_spikefinder(url=server.url + "/missing.zip", cache=tmp_path, progress=False)
    with pytest.raises(ValueError, match="split"):
        calspike.fetch_spikefinder("validation", cache=tmp_path)
    with pytest.raises(ValueError, match=".zip"):
        calspike.fetch_spikefinder(url=server.url + "/data.tar", cache=tmp_path)


def test_cli_fetch_prints_the_folder(server, tmp_path, capsys):
    server.files["/spikefinder.train.zip"] = _spikefinder_zip()
    code = main(
        [
            "fetch",
            "--split",
            "train",
            "--url",
            server.url + "/spikefinder.train.zip",
            "--cache",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert "spikefinder.train" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:  # a usage error: both splits cannot share one URL
        main(["fetch", "--url", server.url + "/x.zip", "--cache", str(tmp_path)])
    assert stopped.value.code == 2 and "--url needs --split" in capsys.readouterr().err


def test_archive_without_csvs_is_an_error(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    server.files["/spikefinder.train.zip"] = buffer.getvalue()
    with pytest.raises(DataError, match="no N.*calcium.csv"):
        calspike.fetch_spikefinder(
            url=server.url + "/spikefinder.train.zip", cache=tmp_path, progress=False
        )
