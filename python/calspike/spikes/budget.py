"""The bounds of inference's work: neurons per chunk, local Dask workers, scheduler addresses.

Neurons per chunk follow a working-memory budget; workers, the machine; a scheduler's address,
the form distributed connects to.

Torch-free, so that file inference with OASIS can size its chunks without importing the model.
"""

from __future__ import annotations

import math
import os
import re

from calspike import config
from calspike.errors import UsageError

WORKING_BYTES = 256 << 20  # per chunk of neurons: bounds memory for long recordings too
BYTES_PER_FRAME = 32  # working bytes per input frame and neuron (copies, gap mask, counts, outputs)
# and per frame at the model's input rate (resampled, normalised, padded)
BYTES_PER_MODEL_FRAME = 16


def neurons_per_chunk(
    frames: int, rate: float, input_rate: float, most: int, budget: int = WORKING_BYTES
) -> int:
    """Neurons of `frames` frames at `rate` Hz whose working memory fits `budget` bytes.

    When the method works at `input_rate` Hz (upsampling costs more); at least 1, at most `most`.
    """
    per_neuron = max(1, frames) * (BYTES_PER_FRAME + BYTES_PER_MODEL_FRAME * input_rate / rate)
    return int(max(1, min(most, budget // per_neuron)))


WORKER_BYTES = 1 << 30  # memory a local Dask worker process needs (Python, NumPy, PyTorch, a chunk)


def most_local_workers() -> int:
    """Worker processes this machine can hold: 4 per core (more only wait), 1 per GiB of memory."""
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: cores alone
        return 4 * cores
    return max(1, min(4 * cores, memory // WORKER_BYTES))


def check_workers(workers: object) -> None:
    """UsageError unless `workers` is None or an integer in [1, most_local_workers()].

    The schema's ``workers`` setting gives the type and the floor; the ceiling is this machine's.
    """
    try:
        checked = config.check({"workers": workers})["workers"]
        fits = checked is None or checked <= most_local_workers()
    except ValueError:
        fits = False
    if not fits:
        raise UsageError(
            f"workers must be an integer in [1, {most_local_workers()}] (4 per core, 1 GiB each), "
            f"got {workers!r}"
        )


_HOST_PORT = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})", re.ASCII
)
SCHEMES = ("tcp", "tls", "inproc", "ws", "wss", "ucx")  # distributed's own; plugins add more


def check_cluster(scheduler: object, workers: object) -> None:
    """UsageError, before any work, for a bad `scheduler` address, too many `workers`, or both.

    A scheduler's address is bad when malformed (`check_scheduler`) or when this process
    cannot connect to it whatever answers there (`check_connectable`).
    """
    if scheduler is not None and workers is not None:
        raise UsageError(
            "--scheduler and --workers exclude each other: --workers starts a local cluster, "
            "--scheduler uses a running one; give one of them"
        )
    check_scheduler(scheduler)
    check_workers(workers)
    if scheduler is not None:
        check_connectable(str(scheduler))


def check_scheduler(address: object) -> None:
    """UsageError unless `address` is None or a scheduler address distributed can connect to.

    ``[tcp|tls://]HOST:PORT`` (port 1-65535), or another scheme distributed knows (``inproc://``,
    ``ws://``, a plugin's) followed by something.
    """
    if address is None:
        return
    ok = isinstance(address, str) and address.isprintable() and 0 < len(address) < 1024
    if ok:
        scheme, separator, rest = str(address).partition("://")
        scheme, rest = (scheme.lower(), rest) if separator else ("tcp", scheme)
        if scheme in ("tcp", "tls"):
            where = _HOST_PORT.fullmatch(rest)
            ok = where is not None and 1 <= int(where["port"]) <= 65535
        else:
            ok = bool(rest) and scheme in _schemes()
    if not ok:
        raise UsageError(
            f"--scheduler must be an address [tcp|tls://]HOST:PORT (port 1-65535), e.g. "
            f"tcp://10.0.0.5:8786, or another scheme Dask knows ({', '.join(_schemes())}); "
            f"got {address!r}"
        )


def _schemes() -> tuple[str, ...]:
    """The schemes distributed connects over: its registry when installed, else its own."""
    try:
        from distributed.comm.registry import backends
    except ImportError:
        return SCHEMES
    return tuple(dict.fromkeys([*SCHEMES, *backends]))


def check_connectable(address: str) -> None:
    """UsageError when this process cannot connect to `address`, whatever answers there.

    An ``inproc://`` address reaches a scheduler in the same process only (never one from the
    command line); ``tls://`` needs certificates, which calspike takes only from Dask's
    configuration; a scheme whose support is not installed (``ucx://`` needs distributed-ucxx)
    cannot connect. Without distributed nothing is checked: the missing extra is named later.
    """
    try:
        from distributed.comm import registry
    except ImportError:
        return
    connect_timeout()
    scheme, separator, rest = address.partition("://")
    scheme, rest = (scheme.lower(), rest) if separator else ("tcp", scheme)
    tcp = "give the scheduler's tcp://HOST:PORT address"
    if scheme == "inproc" and rest.split("/")[1:2] != [str(os.getpid())]:
        raise UsageError(
            f"--scheduler {address}: an inproc:// address reaches a scheduler inside the same "
            f"Python process only (inproc://HOST/PID/N; this is process {os.getpid()}), never "
            f"one from the command line: {tcp}"
        )
    try:
        registry.get_backend(scheme).get_connector()  # type: ignore[no-untyped-call]
    except Exception as error:  # noqa: BLE001 - a plugin that cannot load, ucx without its package
        extra = " (UCX support is a separate package: distributed-ucxx)" if scheme == "ucx" else ""
        raise UsageError(
            f"--scheduler {address}: this installation of Dask cannot connect over {scheme}://"
            f"{extra}: {first_line(error)}; install that support, or {tcp}"
        ) from None
    if scheme == "tls" and not _tls_configured():
        raise UsageError(
            f"--scheduler {address}: tls:// needs certificates, which calspike takes from Dask's "
            f"configuration only (distributed.comm.tls.ca-file, .client.cert and .client.key, "
            f"e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE), and none is set: set them, or {tcp}"
        )


def connect_timeout() -> float:
    """Seconds to connect to a scheduler: Dask's ``distributed.comm.timeouts.connect`` (30 s).

    UsageError unless a positive duration (``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10``,
    ``10s``, ``1min``).
    """
    import dask
    from dask.utils import parse_timedelta

    value = dask.config.get("distributed.comm.timeouts.connect", "30s")
    try:
        seconds = float(parse_timedelta(value, "s"))
    except (TypeError, ValueError, KeyError):
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise UsageError(
            "Dask's connect timeout (DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT, or "
            f"distributed.comm.timeouts.connect) must be a positive duration such as 30s, "
            f"got {value!r}"
        )
    return seconds


def _tls_configured() -> bool:
    """Whether Dask's configuration gives a client TLS settings (or a loader that may)."""
    import dask
    from distributed.security import Security

    if dask.config.get("distributed.client.security-loader", None):
        return True
    try:
        security = Security()  # type: ignore[no-untyped-call]
        context = security.get_connection_args("client")["ssl_context"]  # type: ignore[no-untyped-call]
    except Exception as error:  # noqa: BLE001 - a certificate file missing or unreadable, ssl's errors
        raise UsageError(f"Dask's TLS configuration cannot be used: {first_line(error)}") from None
    return context is not None


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message, or its type's name when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
