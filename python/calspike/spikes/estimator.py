"""The spike estimators `calspike infer` applies to each chunk of neurons.

The rate model or OASIS, loaded once, returning spikes and the sidecar's per-neuron details;
and the loop that runs them here or on a Dask cluster.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from calspike.data.recording import EmptyNeuronWarning, Recording
from calspike.preprocess import fill_gaps


class Estimator:
    """The chosen method, loaded once and applied to each recording: (spikes, sidecar details)."""

    def __init__(
        self,
        method: str,
        model: str | os.PathLike[str] | None,
        device: str,
        p: int,
        threads: int,
        chunk_neurons: int,
        progress: bool,
    ) -> None:
        self.method, self.device, self.p, self.threads = method, device, p, threads
        self.chunk_neurons, self.progress = chunk_neurons, progress
        self.cluster: tuple[str | None, int | None] | None = (
            None  # (scheduler, workers) of a Dask cluster
        )
        self.model_path = None if model is None else Path(model)
        if method == "model":
            from calspike.spikes.rate import default_model_path, load_rate_model

            self.model, self.metadata = load_rate_model(self.model_path)
            self.model_path = self.model_path or default_model_path()

    def settings(self) -> dict[str, Any]:
        """The method's settings and model as the sidecar records them."""
        from calspike import _core

        # the C++ threads this run used: --threads, or OpenMP's default capped (OMP_NUM_THREADS)
        threads = {"threads_used": self.threads or int(_core.build_info()["max_threads"])}
        if self.method == "oasis":
            return {"p": self.p, **threads}
        return {
            **threads,
            "model": str(self.model_path),
            "model_config": self.model.config,
            # per dataset (rows, hours, spikes, indicator) when the checkpoint says; else the neurons
            "model_trained_on": self.metadata.get("train_datasets")
            or self.metadata.get("train_neurons"),
            # a fine-tuned model: what it started from (`calspike train-rate --init`)
            **(
                {"model_initialised_from": self.metadata["initialised_from"]}
                if "initialised_from" in self.metadata
                else {}
            ),
            "normalised_noise_range": self.metadata.get("normalised_noise_range"),
            "frame_rate_range_hz": self.metadata.get("frame_rate_range_hz"),
            "device": self.device,
        }

    def __call__(self, recording: Recording) -> tuple[np.ndarray, dict[str, Any]]:
        """(spikes (neurons, frames), the sidecar's per-neuron details) of a recording."""
        with warnings.catch_warnings():  # infer warns itself, numbering neurons by input row
            warnings.simplefilter("ignore", EmptyNeuronWarning)
            return self._estimate(recording)

    def _estimate(self, recording: Recording) -> tuple[np.ndarray, dict[str, Any]]:
        if self.method == "model":
            from calspike.spikes.rate import infer_spike_rates

            spikes, info = infer_spike_rates(
                recording,
                model=self.model,
                metadata=self.metadata,
                device=self.device,
                chunk_neurons=self.chunk_neurons,
                threads=self.threads,
                progress=self.progress,
            )
            return spikes, {
                "noise_level": json_values(info["noise_level"]),
                "normalised_noise_level": json_values(info["normalised_noise_level"]),
            }
        from calspike.preprocess import noise_levels
        from calspike.spikes.oasis import deconvolve

        lengths = np.asarray(recording.lengths).copy()
        empty = np.array(
            [not np.isfinite(recording.calcium[r, : int(n)]).any() for r, n in enumerate(lengths)]
        )
        lengths[empty] = 0  # no finite frame: nothing to deconvolve, NaN out
        filled, dropped = fill_gaps(recording.calcium, lengths)
        result = deconvolve(
            Recording(filled, recording.rate, lengths=lengths, name=recording.name),
            p=self.p,
            threads=self.threads,
        )
        spikes = np.array(result.spikes, copy=True)
        spikes[dropped] = np.nan
        return spikes, {
            "noise_level": json_values(
                noise_levels(recording.calcium, recording.rate, recording.lengths)
            ),
            "g": json_values(result.g),
            "sn": json_values(result.sn),
            "baseline": json_values(result.baseline),
            "lambda": json_values(result.lam),
        }


def dropped_frames(recording: Recording) -> int:
    """The number of NaN frames inside the recording's valid lengths."""
    inside = np.arange(recording.frames) < np.asarray(recording.lengths)[:, None]
    return int(np.count_nonzero(np.isnan(recording.calcium) & inside))


def json_values(array: np.ndarray) -> list[Any]:
    """JSON-ready values: NaN (and rows holding NaN) become null."""
    out = []
    for value in np.asarray(array):
        if np.ndim(value) == 0:
            out.append(float(value) if math.isfinite(float(value)) else None)
        else:
            out.append(np.asarray(value).tolist() if np.all(np.isfinite(value)) else None)
    return out


def estimates(
    chunks: Iterator[Recording],
    estimator: Estimator,
    open_files: contextlib.ExitStack,
    rate: float | None,
) -> Iterator[tuple[Recording, np.ndarray, dict[str, Any]]]:
    """(chunk, spikes, details) of each chunk in order: here, or on a Dask cluster (`estimator.cluster`)."""
    if estimator.cluster is None:
        for chunk in chunks:
            spikes, found = estimator(chunk)
            yield chunk, spikes, found
        return
    from calspike.spikes.distributed import client_for, model_payload, run_chunks

    scheduler, workers = estimator.cluster
    client = client_for(scheduler, workers)
    open_files.callback(client.close)
    if scheduler is None:  # our own local cluster: closed with us
        open_files.callback(client.cluster.close)
    held: dict[int, Recording] = {}  # the chunks in flight, by first row

    def submitted() -> Iterator[tuple[int, np.ndarray]]:
        start = 0
        for chunk in chunks:
            held[start] = chunk
            yield start, chunk.calcium
            start += chunk.neurons

    settings = {
        "rate": rate,
        "method": estimator.method,
        "p": estimator.p,
        "device": estimator.device,
        "threads": estimator.threads,
        "chunk_neurons": estimator.chunk_neurons,
    }
    if (
        estimator.method == "model"
    ):  # the workers compute with this process's threads: the same rounding
        import torch

        settings["torch_threads"] = torch.get_num_threads()
    in_flight = 2 * max(1, len(client.scheduler_info().get("workers", {})))
    payload = model_payload(estimator.method, estimator.model_path)
    for start, spikes, found in run_chunks(client, submitted(), payload, settings, in_flight):
        yield held.pop(start), spikes, found
