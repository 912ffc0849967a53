"""The compiled core's contract: zero-copy outputs, lifetime, GIL release, errors, build info."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import time

import numpy as np
import pytest

import calspike
from calspike import _core


def _rss_bytes() -> int:
    with open("/proc/self/statm") as stream:
        pages = int(stream.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def test_outputs_are_owned_by_a_capsule_not_copied():
    result = calspike.partition(calspike.simulate(3, 2_000, seed=0), skip=3)
    for array in (result.windows, result.did_spike, result.neuron, result.frame):
        assert type(array.base).__name__ == "PyCapsule"
        assert array.flags.c_contiguous and array.flags.owndata is False
    stack = calspike.features(result)
    assert type(stack.base).__name__ == "PyCapsule"
    assert result.windows.dtype == np.float32 and result.did_spike.dtype == np.bool_
    assert result.neuron.dtype == np.int32 and result.frame.dtype == np.int64
    assert stack.shape == (len(result), 20, 4) and stack.dtype == np.float32


def test_torch_from_numpy_shares_the_memory():
    import torch

    result = calspike.partition(calspike.simulate(2, 1_000, seed=0))
    tensor = torch.from_numpy(result.windows)
    assert tensor.data_ptr() == result.windows.ctypes.data
    tensor[0, 0] = 1234.5
    assert result.windows[0, 0] == np.float32(1234.5)
    del result  # the tensor keeps the capsule, and so the memory, alive
    assert float(tensor[0, 0]) == 1234.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_memory_is_released_when_outputs_are_dropped():
    calcium = np.random.default_rng(0).standard_normal((40, 50_000)).astype(np.float32)
    per_call = 40 * (50_000 - 20) * (20 * 4 + 4 + 8)  # ~180 MB of windows, neuron and frame
    calspike.partition(calcium, skip=1)
    baseline = _rss_bytes()
    for _ in range(10):  # 1.8 GB in total if nothing were freed
        result = calspike.partition(calcium, skip=1)
        assert len(result) == 40 * (50_000 - 20)
        del result
    assert _rss_bytes() - baseline < 2 * per_call


def _main_thread_rate_during(call) -> float:
    """Loop iterations per second that this thread makes while `call` runs in another thread.

    The clock starts before the other thread does: time this thread spends blocked on the
    GIL counts, so a call that holds the GIL gives a low rate.
    """
    finished = threading.Event()

    def work():
        call()
        finished.set()

    count, start = 0, time.perf_counter()
    worker = threading.Thread(target=work)
    worker.start()
    while not finished.is_set():
        count += 1
    elapsed = time.perf_counter() - start
    worker.join()
    return count / elapsed


def test_the_gil_is_released_while_partitioning():
    """Measured against a C call that holds the GIL for 0.3 s (usleep through ctypes.PyDLL, which
    keeps the GIL): while it runs this thread barely moves; while partition runs it should
    move freely."""
    calcium = np.random.default_rng(1).standard_normal((60, 60_000)).astype(np.float32)
    libc = ctypes.PyDLL(ctypes.util.find_library("c"))
    held = _main_thread_rate_during(lambda: libc.usleep(300_000))
    released = _main_thread_rate_during(lambda: calspike.partition(calcium, skip=1, threads=1))
    assert released > 10 * held, (released, held)


def test_core_errors_become_value_errors():
    with pytest.raises(ValueError, match="float32 or float64"):
        _core.partition(np.zeros((2, 50), dtype=np.int64))
    with pytest.raises(ValueError, match="normalize"):
        _core.partition(np.zeros((2, 50)), normalize="bogus")
    with pytest.raises(ValueError, match=r"lengths\[1\]"):
        _core.partition(np.zeros((2, 50)), lengths=[50, 51])
    with pytest.raises(ValueError, match="one entry per neuron"):
        _core.partition(np.zeros((2, 50)), lengths=[50])
    with pytest.raises(ValueError, match="unknown feature"):
        _core.features(np.zeros((2, 5), dtype=np.float32), ["cubic"])
    with pytest.raises(ValueError, match="at least one"):
        _core.features(np.zeros((2, 5), dtype=np.float32), [])


def test_valid_lengths_reads_nan_tails():
    calcium = np.ones((3, 6))
    calcium[0, 4:] = np.nan
    calcium[1, :] = np.nan
    calcium[2, 2] = np.nan  # inside: not a tail
    assert _core.valid_lengths(calcium).tolist() == [4, 0, 6]


def test_build_info_says_how_the_core_was_built():
    info = calspike.build_info()
    assert info["version"] == calspike.__version__
    assert isinstance(info["openmp"], bool)
    assert info["max_threads"] >= 1
    assert (info["openmp_version"] is None) == (not info["openmp"])
