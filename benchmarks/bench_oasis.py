"""OASIS AR(1) throughput: calspike against oasis-deconv and suite2p, in one run.

Prints frames/s and ratios on (a) the real SpikeFinder datasets 4, 5, 6
(CALSPIKE_SPIKEFINDER_DIR) and (b) 500 simulated traces of 100,000 frames:
  - the bare AR(1) solver with given g and lambda = 0: calspike at 1 and 2 threads,
    oasis-deconv's oasisAR1, suite2p's numba oasis at 1 and 2 threads;
  - the full AR(1) deconvolution with estimated parameters: calspike.deconvolve against
    oasis-deconv's deconvolve(y, penalty=1), as a user calls each;
  - the full AR(2) deconvolution with estimated parameters: calspike.deconvolve(p=2), exact
    (default) and greedy (exact=False, OASIS's AR(2) pools), lambda from the noise level,
    against oasis-deconv's deconvolve(y, g=(None, None), penalty=1), which runs its
    constrained ONNLS algorithm for AR(2).
Every method, peers included, gets the same untimed warm-up call and the best of the same
number of timed calls. Peers that are not installed are reported as such (pip install
oasis-deconv suite2p numba).

    python benchmarks/bench_oasis.py [--quick]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import warnings

import numpy as np

import calspike


@functools.cache
def _suite2p_oasis():
    """suite2p's numba OASIS (suite2p.extraction.dcnv.oasis) without suite2p's package __init__,
    which imports its whole pipeline (cellpose, torchvision) just to reach this function."""
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("suite2p")
    if spec is None or spec.origin is None:
        raise ImportError("No module named 'suite2p'")
    root = os.path.dirname(spec.origin)
    for name, path in (("suite2p", root), ("suite2p.extraction", os.path.join(root, "extraction"))):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
    return importlib.import_module("suite2p.extraction.dcnv").oasis


def best_of(function, repeats, warm_up=True):
    """Best wall time of `repeats` calls, after one untimed call unless warm_up is False."""
    if warm_up:
        function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def traces_of(recording):
    return [
        recording.calcium[n, : recording.lengths[n]].astype(np.float64)
        for n in range(recording.neurons)
    ]


def run_case(label, recording, g, repeats):
    frames = recording.valid_frames
    traces = traces_of(recording)
    baseline = np.zeros(recording.neurons)
    rows = []

    def add(method, seconds):
        rows.append((method, seconds))

    print(f"\n{label}: {recording.neurons} traces, {frames:,} frames")
    for threads in (1, 2):
        add(
            f"calspike bare AR(1), {threads} thread{'s' if threads > 1 else ''}",
            best_of(
                lambda t=threads: calspike.deconvolve(
                    recording, g=g, baseline=baseline, lam=0.0, threads=t
                ),
                repeats,
            ),
        )
    try:
        from oasis.oasis_methods import oasisAR1

        add(
            "oasis-deconv oasisAR1",
            best_of(
                lambda: [oasisAR1(y, float(gn)) for y, gn in zip(traces, g, strict=True)], repeats
            ),
        )
    except ImportError:
        print("  oasis-deconv not installed: pip install oasis-deconv")
    try:
        import numba

        suite2p_oasis = _suite2p_oasis()

        tau = float(np.median(-1.0 / np.log(g)) / recording.rate)
        if np.all(recording.lengths == recording.frames):
            matrix = np.ascontiguousarray(recording.calcium, dtype=np.float32)
            for threads in (1, 2):
                numba.set_num_threads(threads)
                suite2p_oasis(
                    matrix[:2, :1000].copy(), 1000, tau, recording.rate
                )  # compile outside the timing
                add(
                    f"suite2p oasis (numba), {threads} thread{'s' if threads > 1 else ''}",
                    best_of(
                        lambda: suite2p_oasis(matrix.copy(), 1000, tau, recording.rate), repeats
                    ),
                )
        else:
            print("  suite2p: skipped on traces of different lengths (it needs a full matrix)")
    except ImportError as error:
        print(f"  suite2p's oasis unavailable ({error}): pip install suite2p numba")

    add(
        "calspike deconvolve (estimated), 1 thread",
        best_of(lambda: calspike.deconvolve(recording, threads=1), repeats),
    )
    add(
        "calspike deconvolve (estimated), 2 threads",
        best_of(lambda: calspike.deconvolve(recording, threads=2), repeats),
    )
    try:
        from oasis.functions import deconvolve as oasis_deconvolve

        add(
            "oasis-deconv deconvolve (estimated)",
            best_of(lambda: [oasis_deconvolve(y, penalty=1) for y in traces], repeats),
        )
    except ImportError:
        pass

    for exact, mode in ((True, "exact"), (False, "greedy")):
        for threads in (1, 2):
            add(
                f"calspike deconvolve AR(2) {mode} (estimated), "
                f"{threads} thread{'s' if threads > 1 else ''}",
                best_of(
                    lambda e=exact, t=threads: calspike.deconvolve(
                        recording, p=2, exact=e, threads=t
                    ),
                    repeats,
                ),
            )
    # the reference AR(2) runs at ~0.05 M frames/s: timed (warm-up + repeats, as every method) on
    # 5 traces
    subset = traces[:5]
    subset_frames = sum(y.size for y in subset)
    try:
        from oasis.functions import deconvolve as oasis_deconvolve

        warnings.filterwarnings(
            "ignore", message="The 'g' parameter is deprecated", category=DeprecationWarning
        )
        seconds = best_of(
            lambda: [oasis_deconvolve(y, g=(None, None), penalty=1) for y in subset], repeats
        )
        add(
            f"oasis-deconv deconvolve AR(2) (estimated){'*' if len(subset) < len(traces) else ''}",
            seconds * frames / subset_frames,
        )
    except ImportError:
        pass

    table = {method: frames / seconds for method, seconds in rows}
    reference_ar2 = [m for m in table if m.startswith("oasis-deconv deconvolve AR(2)")]
    peers = {
        "bare": (
            "oasis-deconv oasisAR1",
            "suite2p oasis (numba), 1 thread",
            "suite2p oasis (numba), 2 threads",
        ),
        "estimated": ("oasis-deconv deconvolve (estimated)",),
        "ar2": tuple(reference_ar2),
    }
    print(f"  {'method':<46}{'seconds':>9}{'Mframes/s':>11}   ratios")
    for method, seconds in rows:
        kind = "ar2" if "AR(2)" in method else "estimated" if "estimated" in method else "bare"
        ratios = ""
        if method.startswith("calspike"):
            ratios = ", ".join(
                f"{table[method] / table[p]:.1f}x {p}" for p in peers[kind] if p in table
            )
        print(f"  {method:<46}{seconds:>9.3f}{table[method] / 1e6:>11.2f}   {ratios}")
    if any(m.endswith("*") for m in table):
        print(
            f"  * timed on the first {len(subset)} traces ({subset_frames:,} frames); "
            "seconds scaled to all frames"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 simulated traces instead of 500")
    args = parser.parse_args()
    print(f"calspike {calspike.__version__}, {os.cpu_count()} CPUs, build {calspike.build_info()}")
    folder = os.environ.get("CALSPIKE_SPIKEFINDER_DIR")
    if folder:
        for recording in calspike.read_spikefinder(folder):
            g = calspike.deconvolve(recording).g[:, 0]
            run_case(f"(a) SpikeFinder {recording.name}", recording, g, repeats=3)
    else:
        print("(a) skipped: set CALSPIKE_SPIKEFINDER_DIR")
    recording = calspike.simulate(
        50 if args.quick else 500, 100_000, rate=30.0, indicator="GCaMP6s", seed=0
    )
    g = calspike.deconvolve(recording).g[:, 0]
    run_case("(b) simulated GCaMP6s at 30 Hz", recording, g, repeats=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
