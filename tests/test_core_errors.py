"""Errors inside the core's parallel regions: raised in Python as themselves, lowest row first.

An exception that leaves an OpenMP region calls std::terminate. Every region runs its rows
through one helper (cpp/include/calspike/parallel_rows.hpp) that catches each row's error and
rethrows the lowest failing row's after the region, so the exception keeps its type and names
the same neuron whatever the thread count.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from calspike import _core

THREADS = [1, 2, 8]

# A trace near the double range's end: the exact AR(2) solver's active set cycles on it
# until the iteration limit, a real error ("did not converge for neuron N").
NOT_CONVERGING = [-1e308, -1e308, 1e308, -1e308]
AR2 = [0.65, 0.285]  # roots 0.95 and -0.3


def _exact_ar2(rows: list[list[float]], threads: int) -> None:
    """Exact AR(2) OASIS (lam = 0) on rows of unequal length, NaN-padded."""
    count, frames = len(rows), max(len(row) for row in rows)
    calcium = np.full((count, frames), np.nan)
    for i, row in enumerate(rows):
        calcium[i, : len(row)] = row
    _core.oasis(
        calcium,
        [len(row) for row in rows],
        np.zeros(count),
        np.tile(AR2, (count, 1)),
        np.zeros(count),
        exact=True,
        threads=threads,
    )


def test_the_trigger_trace_does_not_converge():
    # The precondition of the next test: if the solver learns to handle this trace, pick another.
    with pytest.raises(RuntimeError, match="did not converge for neuron 0"):
        _exact_ar2([NOT_CONVERGING], threads=1)


@pytest.mark.parametrize("threads", THREADS)
def test_the_lowest_failing_neuron_is_the_one_reported(threads):
    rng = np.random.default_rng(0)
    good = list(rng.standard_normal(50))
    # Neuron 1 fails slowly (a long trace: 200 + 4 n iterations of O(n) each), neurons 4
    # and 9 fail at once: with more than one thread they fail first, and are not reported.
    slow = list(rng.standard_normal(1500)) + NOT_CONVERGING
    rows = [good, slow, good, good, NOT_CONVERGING] + [good] * 4 + [NOT_CONVERGING] + [good] * 6
    with pytest.raises(RuntimeError, match=r"did not converge for neuron 1;"):
        _exact_ar2(rows, threads)
    _exact_ar2([good] * 4, threads)  # and the core works on


# A row whose length makes its per-thread buffer impossible to allocate (2**56 doubles,
# more than any address space): the matrix is a broadcast view, so it costs no memory.
# Before the helper, the std::bad_alloc left the OpenMP region and aborted the process.
_ALLOCATION_FAILS = textwrap.dedent(
    """
    import numpy as np
    from calspike import _core

    huge = 2**56
    traces = np.broadcast_to(np.zeros((1, 1), np.float32), (6, huge))
    lengths = [10, 10, huge, 10, huge, 10]
    calls = {
        "noise_levels": lambda t: _core.noise_levels(traces, 30.0, lengths, threads=t),
        "oasis_estimates": lambda t: _core.oasis_estimates(traces, lengths, threads=t),
    }
    for name, call in calls.items():
        for threads in (1, 2, 8):
            try:
                call(threads)
            except MemoryError:
                print(name, threads, "MemoryError")
    ok = _core.noise_levels(np.ones((3, 20)), 30.0, threads=2)
    print("alive", ok.tolist())
    """
)


def test_an_allocation_failing_inside_a_region_is_a_memory_error():
    done = subprocess.run(
        [sys.executable, "-c", _ALLOCATION_FAILS],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    expected = [
        f"{name} {threads} MemoryError"
        for name in ("noise_levels", "oasis_estimates")
        for threads in THREADS
    ]
    lines = done.stdout.splitlines()
    assert lines[:-1] == expected
    assert lines[-1] == "alive [0.0, 0.0, 0.0]"


def test_every_parallel_region_is_the_helpers():
    # One place opens OpenMP regions (so none can let an exception escape), and no kernel keeps
    # thread_local state (per-thread scratch is explicit, built by that helper).
    sources = Path(__file__).resolve().parents[1] / "cpp"
    regions, thread_locals = [], []
    for path in sorted(sources.rglob("*.[ch]pp")):
        text = re.sub(r"//.*", "", path.read_text())  # code only, not comments
        if "pragma omp parallel" in text:
            regions.append(path.name)
        if "thread_local" in text:
            thread_locals.append(path.name)
    assert regions == ["parallel_rows.hpp"]
    assert thread_locals == []
