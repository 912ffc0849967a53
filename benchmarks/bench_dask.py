"""`calspike infer` throughput on local Dask clusters of 1, 2, ... worker processes, against one
process, in one run.

Simulates --neurons x --frames traces at 30 Hz into one .npy, then times the same command
each way (after one untimed warm-up run of each, so every way has loaded its model and
libraries once): one process (`calspike infer`), and `--workers N` for each N (the cluster's
start-up is inside the time: that is what a user waits for). Outputs are checked equal to
the single-process one. Prints frames/s and the ratio to one process.

    python benchmarks/bench_dask.py [--neurons 600] [--frames 30000] [--workers 1 2] [--threads 2 1]
                                    [--method model]

--threads: PyTorch's threads per process (OMP_NUM_THREADS), for the one process and for each
worker alike (workers compute with the client's count, so the output is the one process's to
the bit); each count is its own comparison. With 2 threads, 2 workers oversubscribe 2 cores.

What is sent per task: the traces of one chunk of neurons (chunk_neurons x frames x 4 bytes)
and back its spikes (the same size); the model's checkpoint (139 KiB) goes to each worker once.
Each worker holds the model, one chunk of traces and its working buffers (about 256 MiB at
most). Across machines a task's cost is compute, not transfer: at ~1M frames/s per core, a
chunk of 256 neurons x 100,000 frames (102 MB) computes for ~25 s and moves in ~1 s on a
1 Gbit/s link, so throughput grows with the cores of the cluster until the client's disk or
link (reading the input, writing the output in order) is the limit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _timed(command: list[str], threads: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--neurons", type=int, default=600)
    parser.add_argument("--frames", type=int, default=30_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--method", default="model", choices=("model", "oasis"))
    parser.add_argument("--chunk-neurons", type=int, default=64)
    args = parser.parse_args()

    import calspike

    script = str(Path(sys.executable).parent / "calspike")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "traces.npy"
        np.save(source, calspike.simulate(args.neurons, args.frames, 30.0, seed=0).calcium)
        frames = args.neurons * args.frames
        common = [
            "infer",
            str(source),
            "--rate",
            "30",
            "--method",
            args.method,
            "--chunk-neurons",
            str(args.chunk_neurons),
            "--no-progress",
        ]
        ways = {"one process": []} | {
            f"{n} worker{'s' if n > 1 else ''}": ["--workers", str(n)] for n in args.workers
        }
        print(
            f"calspike {calspike.__version__}, {os.cpu_count()} CPUs; "
            f"{args.neurons} neurons x {args.frames:,} frames ({frames:,} frames), "
            f"method {args.method}, {args.chunk_neurons} neurons per task"
        )
        for threads in args.threads:
            seconds = {}
            outputs = {}
            for name, extra in ways.items():
                out = Path(folder) / f"{name.replace(' ', '_')}.npy"
                command = [sys.executable, script, *common, "-o", str(out), *extra]
                _timed(command, threads)  # warm-up (and the output)
                seconds[name] = min(_timed(command, threads) for _ in range(2))
                outputs[name] = np.load(out)
            base = seconds["one process"]
            print(f"  PyTorch threads per process: {threads}")
            print(
                f"  {'way':<14} {'seconds':>8} {'frames/s':>12} "
                f"{'x one process':>14} {'same output':>12}"
            )
            for name, value in seconds.items():
                same = np.array_equal(outputs[name], outputs["one process"], equal_nan=True)
                print(
                    f"  {name:<14} {value:8.2f} {frames / value:12,.0f} "
                    f"{base / value:14.2f} {same!s:>12}"
                )


if __name__ == "__main__":
    main()
