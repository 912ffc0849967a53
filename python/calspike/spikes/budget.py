"""How many neurons inference takes at once: a working-memory budget per chunk of neurons.

Torch-free, so that file inference with OASIS can size its chunks without importing the model.
"""

from __future__ import annotations

WORKING_BYTES = 256 << 20  # per chunk of neurons: bounds memory for long recordings too
BYTES_PER_FRAME = 32  # working bytes per input frame and neuron (copies, gap mask, counts, outputs)
BYTES_PER_MODEL_FRAME = 16  # and per frame at the model's input rate (resampled, normalised, padded)


def neurons_per_chunk(frames: int, rate: float, input_rate: float, most: int, budget: int = WORKING_BYTES) -> int:
    """Neurons of `frames` frames at `rate` Hz whose working memory fits `budget` bytes.

    When the method works at `input_rate` Hz (upsampling costs more); at least 1, at most `most`.
    """
    per_neuron = max(1, frames) * (BYTES_PER_FRAME + BYTES_PER_MODEL_FRAME * input_rate / rate)
    return int(max(1, min(most, budget // per_neuron)))


WORKER_BYTES = 1 << 30  # memory a local Dask worker process needs (Python, NumPy, PyTorch, a chunk)


def most_local_workers() -> int:
    """Worker processes this machine can hold: 4 per core (more only wait), and one per GiB of its memory."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: cores alone
        return 4 * cores
    return max(1, min(4 * cores, memory // WORKER_BYTES))


def check_workers(workers: object) -> None:
    """UsageError unless `workers` is None or an integer in [1, most_local_workers()]."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= most_local_workers()):
        from calspike._io import UsageError

        raise UsageError(f"workers must be an integer in [1, {most_local_workers()}] (4 per core, 1 GiB each), "
                         f"got {workers!r}")
