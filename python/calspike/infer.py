"""Spike inference from files: read recordings, infer spikes for every frame, write them back.

The output keeps the input's layout (SpikeFinder CSV for CSV input, .npy otherwise) and a
JSON sidecar records the method, its settings, the model and per-neuron noise levels.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from calspike.data import Recording, load_recordings, write_spikefinder_csv
from calspike.data._atomic import atomic_path
from calspike.data.suite2p import NEUROPIL_COEFFICIENT, is_suite2p_plane, read_suite2p
from calspike.resample import fill_gaps

METHODS = ("model", "oasis")


def infer(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    method: str = "model",
    rate: float | None = None,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
    p: int = 1,
    threads: int = 0,
    chunk_neurons: int = 256,
    neuropil: float = NEUROPIL_COEFFICIENT,
    baseline: str = "running-percentile",
    cells_only: bool = True,
    progress: bool = False,
) -> list[Path]:
    """Infer spikes for every frame of every neuron in `source` and write them to `output`.

    Parameters
    ----------
    source : a SpikeFinder folder or ``N.{train,test}.calcium.csv`` file; a ``.npy``/``.npz``/
        ``.csv`` array of (neurons, frames) (with `rate`, Hz, unless the file stores one); or a
        suite2p plane folder (F.npy, Fneu.npy, iscell.npy, ops.npy). NaN frames inside a
        trace are dropped frames: filled for inference and NaN in the output.
    output : a folder for a SpikeFinder folder (``N.{split}.spikes.csv`` per dataset); a
        ``.csv`` path for one SpikeFinder CSV; a ``.npy`` path otherwise (for suite2p: one
        row per ROI of F.npy, NaN for ROIs not inferred).
    method : "model" (the spike-rate model: expected spikes per frame) or "oasis"
        (calspike.deconvolve: spike amplitude per frame in the trace's units, AR order `p`).
    model : a rate-model checkpoint (`calspike train-rate`); the shipped default when None.
    neuropil, baseline, cells_only : suite2p only, see `calspike.data.suite2p.read_suite2p`.

    Returns the written prediction files; each has a ``.json`` sidecar (a folder gets one
    ``calspike-infer.json``) with the settings and per-neuron noise levels.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    source, output = Path(source), Path(output)
    rois: np.ndarray | None = None
    total_rois = 0
    if is_suite2p_plane(source):
        plane = read_suite2p(source, rate, neuropil=neuropil, baseline=baseline, cells_only=cells_only)
        recordings, rois, total_rois = [plane.recording], plane.rois, plane.total_rois
        folder_output, array_input = False, True
    else:
        if not source.exists():
            raise FileNotFoundError(f"input not found: {source}")
        recordings = load_recordings(source, rate, gaps=True)
        folder_output = source.is_dir()
        array_input = not (folder_output or source.name.endswith(".calcium.csv"))
    if folder_output:
        output.mkdir(parents=True, exist_ok=True)
    elif array_input and output.suffix != ".npy":
        raise ValueError(f"output for array or suite2p input must be a .npy path, got {output}")
    elif not array_input and output.suffix != ".csv":
        raise ValueError(f"output for SpikeFinder CSV input must be a .csv path, got {output}")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {output.parent}")

    estimator = _Estimator(method, model, device, p, threads, chunk_neurons, progress)
    written, summaries = [], []
    for recording in recordings:
        start = time.perf_counter()
        spikes, details = estimator(recording)
        seconds = time.perf_counter() - start
        target = output / f"{recording.name}.spikes.csv" if folder_output else output
        if rois is not None:  # suite2p: one row per ROI of F.npy
            full = np.full((total_rois, spikes.shape[1]), np.nan, dtype=np.float32)
            full[rois] = spikes
            spikes = full
        if array_input:
            with atomic_path(target) as temporary, open(temporary, "wb") as stream:
                np.save(stream, spikes)
        else:
            write_spikefinder_csv(target, spikes, recording.lengths)
        written.append(target)
        summary = {"name": recording.name, "output": target.name, "neurons": recording.neurons,
                   "frames": recording.frames, "rate_hz": recording.rate, "seconds": round(seconds, 4),
                   "dropped_frames": _dropped_frames(recording),
                   **details}
        if rois is not None:
            summary.update({"rois": rois.tolist(), "total_rois": total_rois, "neuropil": neuropil,
                            "baseline": baseline})
        summaries.append(summary)
    sidecar = output / "calspike-infer.json" if folder_output else output.with_name(output.name + ".json")
    from calspike import __version__

    record = {"calspike": __version__, "method": method, "source": str(source), **estimator.settings(),
              "recordings": summaries}
    with atomic_path(sidecar) as temporary:
        temporary.write_text(json.dumps(record, indent=2, allow_nan=True))
    return written


class _Estimator:
    """The chosen method, loaded once and applied to each recording: (spikes, sidecar details)."""

    def __init__(self, method: str, model: str | os.PathLike[str] | None, device: str, p: int, threads: int,
                 chunk_neurons: int, progress: bool) -> None:
        self.method, self.device, self.p, self.threads = method, device, p, threads
        self.chunk_neurons, self.progress = chunk_neurons, progress
        self.model_path = None if model is None else Path(model)
        if method == "model":
            from calspike.spikerate import default_model_path, load_rate_model

            self.model, self.metadata = load_rate_model(self.model_path)
            self.model_path = self.model_path or default_model_path()

    def settings(self) -> dict[str, Any]:
        if self.method == "oasis":
            return {"p": self.p}
        return {"model": str(self.model_path), "model_config": self.model.config,
                "model_trained_on": self.metadata.get("train_neurons"),
                "normalised_noise_range": self.metadata.get("normalised_noise_range"), "device": self.device}

    def __call__(self, recording: Recording) -> tuple[np.ndarray, dict[str, Any]]:
        if self.method == "model":
            from calspike.spikerate import infer_spike_rates

            spikes, info = infer_spike_rates(recording, model=self.model, metadata=self.metadata,
                                             device=self.device, chunk_neurons=self.chunk_neurons,
                                             threads=self.threads, progress=self.progress)
            return spikes, {"noise_level": _values(info["noise_level"]),
                            "normalised_noise_level": _values(info["normalised_noise_level"])}
        from calspike.deconvolve import deconvolve
        from calspike.spikerate import noise_levels

        filled, dropped = fill_gaps(recording.calcium, recording.lengths)
        result = deconvolve(Recording(filled, recording.rate, lengths=recording.lengths, name=recording.name),
                            p=self.p, threads=self.threads)
        spikes = np.array(result.spikes, copy=True)
        spikes[dropped] = np.nan
        return spikes, {"noise_level": _values(noise_levels(recording.calcium, recording.rate, recording.lengths)),
                        "g": _values(result.g), "sn": _values(result.sn), "baseline": _values(result.baseline),
                        "lambda": _values(result.lam)}


def _dropped_frames(recording: Recording) -> int:
    inside = np.arange(recording.frames) < np.asarray(recording.lengths)[:, None]
    return int(np.count_nonzero(np.isnan(recording.calcium) & inside))


def _values(array: np.ndarray) -> list[Any]:
    """JSON-ready values: NaN (and rows holding NaN) become null."""
    out = []
    for value in np.asarray(array):
        if np.ndim(value) == 0:
            out.append(float(value) if math.isfinite(float(value)) else None)
        else:
            out.append(np.asarray(value).tolist() if np.all(np.isfinite(value)) else None)
    return out
