"""Spike inference from files: read a recording, infer spikes for every frame, write them back.

The output keeps the input's layout (SpikeFinder CSV for CSV input, .npy otherwise) and a
JSON sidecar records the method, its settings and per-neuron parameters.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from calspike.data import Recording, load_recordings, write_spikefinder_csv
from calspike.data._atomic import atomic_path
from calspike.deconvolve import deconvolve

METHODS = ("oasis",)


def infer(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    method: str = "oasis",
    rate: float | None = None,
    p: int = 1,
    threads: int = 0,
) -> list[Path]:
    """Infer spikes for every frame of every neuron in `source` and write them to `output`.

    Parameters
    ----------
    source : a SpikeFinder folder or ``N.{train,test}.calcium.csv`` file, or a ``.npy``/``.npz``/``.csv``
        array of (neurons, frames) (with `rate`, Hz, unless the file stores one).
    output : for a SpikeFinder folder, a folder receiving ``N.{split}.spikes.csv`` per dataset; for
        one SpikeFinder CSV, that CSV's path; for arrays, a ``.npy`` path.
    method : "oasis" (calspike.deconvolve; spikes in units of the trace per frame).
    p : OASIS's AR order (1 or 2).

    Returns the written prediction files; each has a ``.json`` sidecar (a folder gets one
    ``calspike-infer.json``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    source, output = Path(source), Path(output)
    recordings = load_recordings(source, rate)
    folder_output = source.is_dir()
    array_input = not (folder_output or source.name.endswith(".calcium.csv"))
    if folder_output:
        output.mkdir(parents=True, exist_ok=True)
    elif array_input and output.suffix != ".npy":
        raise ValueError(f"output for array input must be a .npy path, got {output}")
    elif not array_input and output.suffix != ".csv":
        raise ValueError(f"output for SpikeFinder CSV input must be a .csv path, got {output}")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {output.parent}")

    written, summaries = [], []
    for recording in recordings:
        start = time.perf_counter()
        result = deconvolve(recording, p=p, threads=threads)
        seconds = time.perf_counter() - start
        target = output / f"{recording.name}.spikes.csv" if folder_output else output
        if array_input:
            with atomic_path(target) as temporary, open(temporary, "wb") as stream:
                np.save(stream, result.spikes)
        else:
            write_spikefinder_csv(target, result.spikes, recording.lengths)
        written.append(target)
        summaries.append(_summary(recording, result, target, seconds))
    sidecar = output / "calspike-infer.json" if folder_output else output.with_name(output.name + ".json")
    from calspike import __version__

    record = {"calspike": __version__, "method": method, "p": p, "source": str(source), "recordings": summaries}
    with atomic_path(sidecar) as temporary:
        temporary.write_text(json.dumps(record, indent=2, allow_nan=True))
    return written


def _summary(recording: Recording, result: Any, target: Path, seconds: float) -> dict[str, Any]:
    def values(array: np.ndarray) -> list[Any]:
        return [None if not np.all(np.isfinite(v)) else np.asarray(v).tolist() for v in array]

    return {
        "name": recording.name, "output": target.name, "neurons": recording.neurons, "frames": recording.frames,
        "rate_hz": recording.rate, "seconds": round(seconds, 4), "g": values(result.g), "sn": values(result.sn),
        "baseline": values(result.baseline), "lambda": values(result.lam),
    }
