"""`--scheduler ADDRESS` fails within Dask's connect timeout when nothing, or something other than
a Dask scheduler, answers there, in one line naming the address; an address this process cannot
connect to whatever answers (inproc:// of another process, tls:// without certificates, ucx://
without its package) and `--scheduler` with `--workers` are usage errors found before any work.

As a user meets each case: through the CLI (in a fresh process where the connect timeout comes
from DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT) and through `calspike.infer`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import calspike
from calspike.cli import main
from calspike.errors import DataError

pytest.importorskip("distributed")
import dask  # after the skip: distributed brings dask

# Workers that other tests' clusters left with Dask's MALLOC_TRIM_THRESHOLD_ draw calspike's
# speed warning; it is about speed, not about what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:.*MALLOC_TRIM_THRESHOLD_")


TIMEOUT = 2  # seconds: Dask's connect timeout in these tests (30 by default)


def _serve(reply: Callable[[socket.socket], None]) -> Iterator[str]:
    """The address of a TCP server on 127.0.0.1 that answers each connection with `reply`."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:  # the 0.2 s poll, or the server closed
                continue
            held.append(connection)
            reply(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        server.close()


def _silent(connection: socket.socket) -> None:
    """Accept, read nothing, say nothing: a server busy with something else."""


def _http(connection: socket.socket) -> None:
    """An HTTP server's answer to a request it cannot parse."""
    connection.settimeout(1)
    try:
        connection.recv(1024)
        connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n<html>bad request</html>\n")
    except OSError:
        pass
    connection.close()


@pytest.fixture()
def silent_server() -> Iterator[str]:
    yield from _serve(_silent)


@pytest.fixture()
def http_server() -> Iterator[str]:
    yield from _serve(_http)


@pytest.fixture()
def refused() -> str:
    """An address where nothing listens (connections are refused)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


@pytest.fixture()
def traces(tmp_path: Path) -> Path:
    path = tmp_path / "t.npy"
    np.save(path, calspike.simulate(3, 600, 30.0, seed=0).calcium)
    return path


def _bounded(call: Callable[[], object], seconds: float) -> BaseException:
    """What `call` raised, failing (not hanging) when it runs longer than `seconds`."""
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    assert outcome, "no error"
    return outcome[0]


def test_a_server_that_never_speaks_dask_ends_the_cli_within_the_connect_timeout(
    traces, silent_server
):
    """Before: distributed waited for the handshake forever (killed at 150 s)."""
    environment = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": str(TIMEOUT)}
    argv = [sys.executable, "-m", "calspike", "infer", str(traces), "--rate", "30"]
    argv += ["--method", "oasis", "-o", str(traces.parent / "f.npy")]
    started = time.monotonic()
    done = subprocess.run(
        [*argv, "--scheduler", silent_server],
        capture_output=True,
        text=True,
        timeout=90,
        env=environment,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"calspike: error: no Dask scheduler answered at {silent_server} within {TIMEOUT} s; "
        "check the address and that a scheduler runs there (the connect timeout, in seconds: "
        "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)"
    )
    # Python, NumPy, Dask start-up (seconds on a loaded 2-core machine) + the timeout
    assert time.monotonic() - started < 45
    assert sorted(p.name for p in traces.parent.iterdir()) == ["t.npy"]  # no pending sidecar


@pytest.mark.parametrize("server", ["silent_server", "refused", "http_server"])
def test_no_scheduler_is_a_data_error_naming_the_address_not_a_failed_write(
    traces, server, request
):
    """Not an OSError, which the output's writer reported as 'cannot write f.npy: Timed out'."""
    address = request.getfixturevalue(server)
    output = traces.parent / "f.npy"
    with dask.config.set({"distributed.comm.timeouts.connect": f"{TIMEOUT}s"}):
        started = time.monotonic()
        error = _bounded(
            lambda: calspike.infer(traces, output, rate=30.0, method="oasis", scheduler=address),
            TIMEOUT + 20,
        )
    assert time.monotonic() - started < TIMEOUT + 5
    assert isinstance(error, DataError) and not isinstance(error, OSError), repr(error)
    message = str(error)
    assert "\n" not in message and address in message and "cannot write" not in message
    assert message.startswith("no Dask scheduler "), message
    if server == "http_server":  # it answers at once, and not as Dask
        assert f"no Dask scheduler this client can use at {address} (" in message
    assert sorted(p.name for p in traces.parent.iterdir()) == ["t.npy"]


def test_a_previous_output_and_its_sidecar_stay_when_no_scheduler_answers(traces, refused):
    output = traces.parent / "f.npy"
    calspike.infer(traces, output, rate=30.0, method="oasis")
    before = {p.name: p.read_bytes() for p in traces.parent.iterdir()}
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(DataError, match="no Dask scheduler answered"),
    ):
        calspike.infer(traces, output, rate=30.0, method="oasis", scheduler=refused)
    assert {p.name: p.read_bytes() for p in traces.parent.iterdir()} == before


def _unusable() -> list[tuple[str, str]]:
    """(address, what the usage error says) for addresses no answer can make work."""
    cases = [
        ("inproc://x", "reaches a scheduler inside the same Python process only"),
        ("inproc://192.0.2.2/0/1", "reaches a scheduler inside the same Python process only"),
        ("tls://127.0.0.1:1", "tls:// needs certificates"),
        ("TLS://127.0.0.1:1", "tls:// needs certificates"),
    ]
    from distributed.comm import registry

    try:
        registry.get_backend("ucx").get_connector()
    except Exception:  # noqa: BLE001 - distributed without UCX support: what users meet
        cases.append(("ucx://127.0.0.1:1", "cannot connect over ucx://"))
    return cases


@pytest.mark.parametrize(("address", "says"), _unusable())
def test_an_address_no_answer_can_make_work_is_a_usage_error_before_any_work(
    traces, capsys, address, says
):
    """Before: 'not enough values to unpack', 'Can't instantiate abstract class UCXConnector',
    'TLS expects a `ssl_context`', each naming nothing."""
    output = traces.parent / "f.npy"
    with pytest.raises(SystemExit) as stopped:
        main(["infer", str(traces), "--rate", "30", "-o", str(output), "--scheduler", address])
    assert stopped.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"calspike: error: --scheduler {address}: ") and says in line
    assert "give the scheduler's tcp://HOST:PORT address" in line
    with pytest.raises(calspike.UsageError, match=f"--scheduler {address}: "):
        calspike.infer(traces, output, rate=30.0, method="oasis", scheduler=address)
    assert sorted(p.name for p in traces.parent.iterdir()) == ["t.npy"]


def test_scheduler_and_workers_together_are_a_usage_error(traces, capsys):
    output = traces.parent / "f.npy"
    argv = ["infer", str(traces), "--rate", "30", "-o", str(output), "--workers", "2"]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--scheduler", "tcp://127.0.0.1:8786"])
    assert stopped.value.code == 2
    assert "--scheduler and --workers exclude each other" in capsys.readouterr().err
    with pytest.raises(calspike.UsageError, match="--scheduler and --workers exclude each other"):
        calspike.infer(traces, output, rate=30.0, scheduler="tcp://127.0.0.1:8786", workers=2)
    assert sorted(p.name for p in traces.parent.iterdir()) == ["t.npy"]


def test_a_connect_timeout_that_is_no_duration_is_a_usage_error(traces):
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "soon"}),
        pytest.raises(calspike.UsageError, match="DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"),
    ):
        calspike.infer(traces, traces.parent / "f.npy", rate=30.0, scheduler="tcp://h:8786")


def test_an_inproc_scheduler_of_this_process_runs_the_chunks(traces, tmp_path):
    """The inproc check refuses other processes' addresses only: this one's works (Python)."""
    import distributed

    calspike.infer(traces, tmp_path / "alone.npy", rate=30.0, method="oasis")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("inproc://")
        calspike.infer(
            traces,
            tmp_path / "cluster.npy",
            rate=30.0,
            method="oasis",
            scheduler=cluster.scheduler_address,
        )
    assert np.array_equal(
        np.load(tmp_path / "cluster.npy"), np.load(tmp_path / "alone.npy"), equal_nan=True
    )


def test_a_scheduler_lost_mid_run_is_a_data_error_naming_it():
    """Before: 'infer_block-... cancelled for reason: scheduler-connection-lost.' (no address);
    and a lost connection (an OSError) read as a failure to write the output."""
    import contextlib

    import distributed

    from calspike.data.recording import Recording
    from calspike.spikes.method import MethodSettings
    from calspike.spikes.registry import build_method
    from calspike.spikes.runner import Cluster, run

    traces = calspike.simulate(40, 600, 30.0, seed=0).calcium
    method = build_method("oasis", MethodSettings())
    chunks = (Recording(traces[i : i + 1], 30.0, gaps=True) for i in range(len(traces)))
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        cluster = distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            dashboard_address=None,
        )
        address = cluster.scheduler_address
        with contextlib.ExitStack() as open_files:
            results = run(
                method, chunks, rate=30.0, cluster=Cluster(address), open_files=open_files
            )
            next(results)
            cluster.close()
            error = _bounded(lambda: list(results), 20)
    assert isinstance(error, DataError), repr(error)
    assert str(error).startswith(f"the Dask scheduler at {address} stopped answering (")


def test_a_scheduler_without_workers_ends_within_the_connect_timeout(traces, tmp_path):
    """Before: the chunks waited forever for a worker that never came."""
    import distributed

    with (
        dask.config.set({"distributed.comm.timeouts.connect": f"{TIMEOUT}s"}),
        distributed.LocalCluster(
            n_workers=0, processes=False, protocol="tcp", dashboard_address=None
        ) as cluster,
    ):
        address = cluster.scheduler_address
        started = time.perf_counter()
        error = _bounded(
            lambda: calspike.infer(
                traces,
                tmp_path / "never.npy",
                rate=30.0,
                method="oasis",
                scheduler=address,
            ),
            20,
        )
    assert isinstance(error, DataError), repr(error)
    assert str(error).startswith(f"the Dask scheduler at {address} has no worker after {TIMEOUT} s")
    assert time.perf_counter() - started < TIMEOUT + 10
    assert not (tmp_path / "never.npy").exists()


def test_the_cli_reports_a_scheduler_lost_mid_run_in_one_line(tmp_path):
    """Before: distributed's client logged a reconnection traceback above calspike's error."""
    traces = tmp_path / "many.npy"
    np.save(traces, np.tile(calspike.simulate(50, 30_000, 30.0, seed=0).calcium, (20, 1)))
    serve = (
        "import distributed, time\n"
        "c = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,"
        " protocol='tcp', dashboard_address=None)\n"
        "print(c.scheduler_address, flush=True)\n"
        "time.sleep(300)\n"
    )
    # as a user's shell has it: not with the MALLOC_TRIM_THRESHOLD_ other tests' clusters left
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    env["DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"] = f"{TIMEOUT}s"
    server = subprocess.Popen(
        [sys.executable, "-c", serve],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        address = server.stdout.readline().strip()
        output = tmp_path / "out.npy"
        client = subprocess.Popen(
            [sys.executable, "-m", "calspike", "infer", str(traces), "--rate", "30"]
            + ["-o", str(output), "--scheduler", address, "--chunk-neurons", "1", "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        while not output.with_name("out.npy.json").exists():  # pending: the chunks are running
            assert client.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(3)  # connected, most likely: which of the two errors below is timing's
        server.kill()
        _, err = client.communicate(timeout=120)
    finally:
        server.kill()
        server.communicate()  # reaped, its pipe closed
    assert client.returncode == 1
    (line,) = err.splitlines()
    assert line.startswith("calspike: error: ") and address in line, line
    assert "stopped answering" in line or "no Dask scheduler this client can use" in line, line
