"""The bounds of inference's work: neurons per chunk, local Dask workers, scheduler addresses.

Neurons per chunk follow a working-memory budget; workers, the machine; a scheduler's address,
the form distributed connects to.

Torch-free, so that file inference with OASIS can size its chunks without importing the model.
"""

from __future__ import annotations

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
    import os

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
    """UsageError, before any work, for a malformed `scheduler` address or too many `workers`."""
    check_scheduler(scheduler)
    check_workers(workers)


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
