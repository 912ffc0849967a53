"""Windows larger than memory: a zarr windows store written and trained on a batch at a time,
against loading the same windows whole, each in a fresh process under `/usr/bin/time -v`.

1. prepare: --neurons x --frames simulated traces at 30 Hz with spikes, made --block neurons at
   a time (`calspike.simulate`, seeded per block), cut into windows (the defaults: 10 + 10
   frames, skip 10, per-neuron normalisation) and appended to a store
   (`calspike.windows.zarr_store.write_windows_store`), as `calspike prepare -o X.zarr` does;
2. train: `calspike train STORE.zarr` (the classifier, --epochs, --max-windows training
   windows a epoch, validation on every window of the validation neurons), read a batch at a time;
3. the in-memory way, for scale: the same windows loaded whole (`StoredWindows.load`), which
   is what an .npz (`calspike prepare -o X.npz`, `calspike train X.npz`) holds in memory
   before training starts.
Each prints seconds and the process's peak resident memory against the windows' size.

    python benchmarks/bench_windows_store.py [--neurons 1000] [--frames 200000] [--block 100]
                                             [--epochs 1] [--max-windows 200000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _prepare_child(store: str, neurons: int, frames: int, block: int) -> None:
    import calspike
    from calspike.windows.zarr_store import recording_blocks, write_windows_store

    def recordings():  # one block of neurons in memory at a time
        for start in range(0, neurons, block):
            yield calspike.simulate(min(block, neurons - start), frames, 30.0, seed=start)

    start = time.perf_counter()
    summary = write_windows_store(recording_blocks(recordings(), normalize="neuron"), store)
    print(json.dumps({"seconds": time.perf_counter() - start, **summary}))


def _load_child(store: str) -> None:
    from calspike.windows.zarr_store import StoredWindows

    start = time.perf_counter()
    windows = StoredWindows(store).load()
    print(json.dumps({"seconds": time.perf_counter() - start, "windows": len(windows)}))


def _measured(command: list[str], threads: int) -> tuple[dict[str, float], int]:
    """(the JSON the command printed last, its peak resident bytes from /usr/bin/time -v)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    peak = next(
        int(line.rsplit(":", 1)[1]) * 1024
        for line in done.stderr.splitlines()
        if "Maximum resident set size" in line
    )
    lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
    return (json.loads(lines[-1]) if lines else {"out": done.stdout.strip().splitlines()[-1]}), peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-windows", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prepare-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_child:
        _prepare_child(args.store, args.neurons, args.frames, args.block)
        return
    if args.load_child:
        _load_child(args.store)
        return

    with tempfile.TemporaryDirectory() as folder:
        store = str(Path(folder) / "windows.zarr")
        rows = []
        prepared, peak = _measured(
            [
                sys.executable,
                __file__,
                "--prepare-child",
                "--store",
                store,
                "--neurons",
                str(args.neurons),
                "--frames",
                str(args.frames),
                "--block",
                str(args.block),
            ],
            args.threads,
        )
        size = prepared["windows"] * 20 * 4
        rows.append(("prepare into the store (blocks)", prepared["seconds"], peak))
        start = time.perf_counter()
        trained, peak = _measured(
            [
                sys.executable,
                "-m",
                "calspike",
                "train",
                store,
                "-o",
                str(Path(folder) / "m.pt"),
                "--epochs",
                str(args.epochs),
                "--max-windows",
                str(args.max_windows),
                "--device",
                "cpu",
                "--no-progress",
            ],
            args.threads,
        )
        rows.append(
            (f"train from the store ({args.epochs} epoch)", time.perf_counter() - start, peak)
        )
        loaded, peak = _measured(
            [sys.executable, __file__, "--load-child", "--store", store], args.threads
        )
        rows.append(("the windows loaded whole (as .npz)", loaded["seconds"], peak))
        print(
            f"{args.neurons:,} neurons x {args.frames:,} frames at 30 Hz -> "
            f"{prepared['windows']:,} windows "
            f"({prepared['spike_windows']:,} with a spike) = "
            f"{size / 2**30:.2f} GiB of float32 windows; "
            f"{args.threads} threads"
        )
        print(f"  train: {trained.get('out', trained)}")
        print(f"  {'step':<40}{'seconds':>9}{'peak RSS':>12}{'peak / windows':>16}")
        for label, seconds, peak in rows:
            print(f"  {label:<40}{seconds:>9.1f}{peak / 2**30:>8.2f} GiB{peak / size:>15.2f}x")
        print(f"  peak RSS, loaded whole / training from the store: {rows[2][2] / rows[1][2]:.1f}x")


if __name__ == "__main__":
    main()
