"""Spike-rate inference for every frame of every neuron: the convolutional rate model's
preprocessing, training set, training and inference.

The pipeline for a trace at any frame rate: fill dropped (NaN) frames by interpolation,
resample (C++, anti-aliased) to the model's rate, normalise per neuron (median and
1.4826 * MAD of the whole trace), pad the edges with the edge values, run the model in
tiles (memory grows with frames, never frames x window), map the expected spikes back to
the input's frames conserving counts, and put NaN back on the dropped frames.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calspike import config
from calspike.config import check_rate
from calspike.data import Recording
from calspike.data.recording import (
    check_float32_range,
    check_lengths,
    check_numeric_dtype,
    warn_empty_neurons,
)
from calspike.models import SpikeRateModel
from calspike.resample import fill_gaps, rebin_counts, resample, resampled_length
from calspike.train import (
    FitResult,
    choose_device,
    fit,
    load_checkpoint,
    load_model,
    save_checkpoint,
)

DEFAULT_MODEL = "spike_rate_default.pt"
AUGMENT_RATES_HZ = (60.0, 30.0, 15.0, 7.5)  # acquisition rates simulated in training (besides the data's own)
_MAD_TO_SD = 1.4826


class NoiseWarning(UserWarning):
    """A neuron's noise level lies outside the range the rate model was trained on."""


def default_model_path() -> Path:
    """The shipped default spike-rate model (trained by benchmarks/train_default_rate_model.py)."""
    return Path(str(resources.files("calspike") / "weights" / DEFAULT_MODEL))


def load_rate_model(path: str | os.PathLike[str] | None = None) -> tuple[SpikeRateModel, dict[str, Any]]:
    """(model in eval mode on the CPU, its training metadata) from a checkpoint; the default model when None."""
    source = default_model_path() if path is None else Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no spike-rate model at {source}")
    model = load_model(source)
    if not isinstance(model, SpikeRateModel):
        raise ValueError(f"{source}: holds a {model.kind}, not a SpikeRateModel")
    return model, dict(load_checkpoint(source).get("extra", {}))


def noise_levels(traces: np.ndarray, rate: float, lengths: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """The standard noise level per neuron: median |x[t+1] - x[t]| / sqrt(rate), float64 (neurons,).

    In the traces' units per sqrt(Hz) (x 100 gives CASCADE's percent for dF/F traces).
    Differences next to NaN frames are left out; NaN for a trace with no usable pair.
    """
    values = np.atleast_2d(np.asarray(traces))
    rate = check_rate(rate, "rate")
    limit = np.full(values.shape[0], values.shape[1]) if lengths is None else np.asarray(lengths)
    levels = np.full(values.shape[0], np.nan)
    for row in range(values.shape[0]):
        steps = np.abs(np.diff(values[row, : int(limit[row])].astype(np.float64)))
        steps = steps[np.isfinite(steps)]
        if steps.size:
            levels[row] = np.median(steps) / math.sqrt(rate)
    return levels


def normalise(traces: np.ndarray, lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD) per neuron over its valid frames, in place on a float32 copy.

    A trace whose MAD is 0 is divided by its standard deviation instead (or by 1 if constant).
    """
    out = np.array(traces, dtype=np.float32, copy=True, ndmin=2)
    for row, n in enumerate(np.asarray(lengths)):
        trace = out[row, : int(n)]
        if trace.size == 0:
            continue
        centre = np.median(trace)
        trace -= centre
        scale = _MAD_TO_SD * float(np.median(np.abs(trace)))
        if not scale > 0:
            scale = float(np.std(trace)) or 1.0
        trace /= scale
    return out


def _to_model_rate(
    traces: np.ndarray, lengths: np.ndarray, rate: float, model_rate: float, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalised traces at the model's rate, their lengths, the dropped-frame mask at the input's rate)."""
    filled, dropped = fill_gaps(traces, lengths)
    resampled, model_lengths = resample(filled, rate, model_rate, lengths, threads)
    return normalise(resampled, model_lengths), model_lengths, dropped


def _edge_padded(trace: np.ndarray, radius: int) -> np.ndarray:
    return np.pad(trace, radius, mode="edge")


@torch.inference_mode()
def _rates_at_model_rate(
    model: SpikeRateModel, normalised: np.ndarray, lengths: np.ndarray, device: torch.device, tile: int,
    frames_per_batch: int,
) -> np.ndarray:
    """Expected spikes per model frame (neurons, max length) float32, 0 beyond each length."""
    radius = model.radius
    out = np.zeros(normalised.shape, dtype=np.float32)
    pieces: list[tuple[int, int, int, np.ndarray]] = []  # (row, start, stop, input)
    for row, n in enumerate(lengths):
        if n == 0:
            continue
        padded = _edge_padded(normalised[row, : int(n)], radius)
        for start in range(0, int(n), tile):
            stop = min(start + tile, int(n))
            pieces.append((row, start, stop, padded[start : stop + 2 * radius]))
    per_batch = max(1, frames_per_batch // (tile + 2 * radius))
    for first in range(0, len(pieces), per_batch):
        batch = pieces[first : first + per_batch]
        width = max(p[3].size for p in batch)
        inputs = np.empty((len(batch), width), dtype=np.float32)
        for i, (_, _, _, values) in enumerate(batch):
            inputs[i, : values.size] = values
            inputs[i, values.size :] = values[-1]  # a short last tile: extend with its edge, outputs unused
        predicted = model(torch.from_numpy(inputs).to(device)).float().cpu().numpy()
        for i, (row, start, stop, _) in enumerate(batch):
            out[row, start:stop] = predicted[i, : stop - start]
    return out


def infer_spike_rates(
    traces: np.ndarray | Recording,
    rate: float | None = None,
    *,
    lengths: Sequence[int] | np.ndarray | None = None,
    model: SpikeRateModel | None = None,
    metadata: dict[str, Any] | None = None,
    device: str | torch.device = "auto",
    chunk_neurons: int = 256,
    tile: int = 4096,
    threads: int = 0,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Expected spikes in every frame of every neuron.

    Parameters
    ----------
    traces : (neurons, frames) calcium (dF/F or as recorded), NaN for dropped frames and
        tail padding; or a Recording (its rate and lengths are used).
    rate : the traces' frame rate in Hz (any rate: resampled to the model's and back).
    model, metadata : a SpikeRateModel and its training metadata (`load_rate_model`); the
        shipped default model when None.
    chunk_neurons, tile : neurons processed together, and model frames per tile; memory is
        bounded by the chunk, not by the recording. The model runs on batches of about 32,768
        frames: small enough to stay in the CPU's caches (3-4x faster than 1M-frame batches).

    Returns (spikes float32 (neurons, frames): expected spike counts per input frame, NaN on
    dropped frames and padding; info: per-neuron ``noise_level`` (standard definition, the
    traces' units / sqrt(Hz)), ``normalised_noise_level`` (the same on the model's
    normalised input) and the model's rate). Warns (NoiseWarning) for neurons whose
    normalised noise level lies outside the model's training range.
    """
    if isinstance(traces, Recording):
        rate, lengths, values = traces.rate, traces.lengths, traces.calcium
    else:
        values = np.atleast_2d(np.asarray(traces))
        if values.ndim != 2:
            raise ValueError(f"traces must be (neurons, frames), got shape {np.shape(traces)}")
        check_numeric_dtype(values.dtype, "traces")
        check_float32_range(values, "traces")
    rate = check_rate(rate, "rate")
    config.check({"threads": threads})
    for name, value in (("chunk_neurons", chunk_neurons), ("tile", tile)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if np.isinf(values).any():
        row, frame = (int(v) for v in np.argwhere(np.isinf(values))[0])
        raise ValueError(f"traces are infinite at neuron {row}, frame {frame}")
    if lengths is None:
        lengths = np.array([_valid_length(row) for row in values], dtype=np.int64)
    lengths = check_lengths(lengths, values.shape[0], values.shape[1])
    warn_empty_neurons(lengths == 0, "traces" if not isinstance(traces, Recording) else traces.name)
    if model is None:
        model, metadata = load_rate_model()
    metadata = metadata or {}
    target = choose_device(device) if not isinstance(device, torch.device) else device
    model = model.to(target).eval()
    neurons, frames = values.shape
    spikes = np.full((neurons, frames), np.nan, dtype=np.float32)
    levels, normalised_levels = np.full(neurons, np.nan), np.full(neurons, np.nan)
    chunks = range(0, neurons, chunk_neurons)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="neurons", unit="chunk", total=math.ceil(neurons / chunk_neurons))
    for start in chunks:
        stop = min(start + chunk_neurons, neurons)
        chunk, chunk_lengths = values[start:stop], lengths[start:stop]
        levels[start:stop] = noise_levels(chunk, rate, chunk_lengths)
        normalised, model_lengths, dropped = _to_model_rate(chunk, chunk_lengths, rate, model.rate, threads)
        normalised_levels[start:stop] = noise_levels(normalised, model.rate, model_lengths)
        model_counts = _rates_at_model_rate(model, normalised, model_lengths, target, tile, 1 << 15)
        counts = rebin_counts(model_counts, model.rate, rate, chunk_lengths, model_lengths, threads)
        counts[dropped[:, : counts.shape[1]]] = np.nan
        spikes[start:stop, : counts.shape[1]] = counts
    info = {"model_rate_hz": model.rate, "noise_level": levels, "normalised_noise_level": normalised_levels,
            "lengths": lengths}
    _warn_outside_training(normalised_levels, metadata.get("normalised_noise_range"))
    return spikes, info


def _valid_length(row: np.ndarray) -> int:
    finite = np.flatnonzero(~np.isnan(row))
    return int(finite[-1]) + 1 if finite.size else 0


def _warn_outside_training(levels: np.ndarray, trained: Sequence[float] | None) -> None:
    if not trained:
        return
    low, high = float(trained[0]), float(trained[1])
    outside = np.flatnonzero((levels < low) | (levels > high))
    if outside.size:
        shown = ", ".join(str(int(v)) for v in outside[:10]) + (" ..." if outside.size > 10 else "")
        warnings.warn(f"{outside.size} neuron(s) ({shown}) have normalised noise levels outside the model's "
                      f"training range [{low:.3g}, {high:.3g}]: their spike rates may be less reliable",
                      NoiseWarning, stacklevel=3)


@dataclass
class RateTrainingSet:
    """Chunks for the rate model: inputs (N, chunk + 2 radius), counts (N, chunk), and their neurons."""

    inputs: np.ndarray
    counts: np.ndarray
    neuron: np.ndarray  # index into `names`
    version: np.ndarray  # 0: as recorded; k: resampled via the k-th augmentation rate
    names: list[str] = field(default_factory=list)
    normalised_noise: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per neuron and rate version

    def joined(self, other: RateTrainingSet) -> RateTrainingSet:
        """Both sets' chunks; `other`'s neurons are renumbered after this set's."""
        return RateTrainingSet(np.concatenate([self.inputs, other.inputs]),
                               np.concatenate([self.counts, other.counts]),
                               np.concatenate([self.neuron, other.neuron + len(self.names)]),
                               np.concatenate([self.version, other.version]), self.names + other.names,
                               np.concatenate([self.normalised_noise, other.normalised_noise]))

    def subset(self, keep: np.ndarray) -> RateTrainingSet:
        """The chunks where `keep` is True (same names and noise levels)."""
        return RateTrainingSet(self.inputs[keep], self.counts[keep], self.neuron[keep], self.version[keep],
                               self.names, self.normalised_noise)


def rate_training_set(
    recordings: Iterable[Recording], model_rate: float, radius: int, *, chunk: int = 256, stride: int = 64,
    augment_rates: Sequence[float] = AUGMENT_RATES_HZ, threads: int = 0,
) -> RateTrainingSet:
    """Cut every neuron with ground truth into overlapping chunks at the model's rate.

    Each neuron appears once as recorded and once per rate in `augment_rates` below its
    own (the trace resampled to that rate and back: what a slower acquisition would
    have given). Spike counts are rebinned to the model's rate, conserving counts.
    """
    inputs, counts, neuron, version, names, noise = [], [], [], [], [], []
    for recording in recordings:
        if recording.spikes is None:
            raise ValueError(f"{recording.name}: training the rate model needs spike counts (ground truth)")
        assert recording.lengths is not None
        for row in range(recording.neurons):
            n = int(recording.lengths[row])
            names.append(f"{recording.name}/{row}")
            trace = recording.calcium[row : row + 1, :n]
            truth, truth_length = _counts_at(recording.spikes[row : row + 1, :n], recording.rate, model_rate, threads)
            slower = [r for r in augment_rates if r < recording.rate]
            for kind, acquisition in enumerate((recording.rate, *slower)):
                slow = trace if acquisition == recording.rate else resample(trace, recording.rate, acquisition,
                                                                            threads=threads)[0]
                at_model, model_lengths = resample(slow, acquisition, model_rate, threads=threads)
                length = min(int(model_lengths[0]), truth_length)
                normalised = normalise(at_model[:, :length], [length])[0]
                noise.append(noise_levels(normalised, model_rate)[0])
                padded = _edge_padded(normalised, radius)
                for start in range(0, length - chunk + 1, stride):
                    inputs.append(padded[start : start + chunk + 2 * radius])
                    counts.append(truth[start : start + chunk])
                    neuron.append(len(names) - 1)
                    version.append(kind)
    if not inputs:
        raise ValueError(f"no neuron is long enough for one chunk of {chunk} frames at {model_rate:g} Hz")
    return RateTrainingSet(np.stack(inputs).astype(np.float32), np.stack(counts).astype(np.float32),
                           np.array(neuron, dtype=np.int64), np.array(version, dtype=np.int64), names,
                           np.array(noise))


def simulated_neurons(per_indicator: int, seed: int = 0) -> list[Recording]:
    """`per_indicator` simulated neurons of each indicator (GCaMP6s, GCaMP6f, OGB-1): 200 s at
    100 Hz each, single-spike SNR drawn from 1 to 10 and noise correlated over 0 to 80 ms, seeded."""
    from calspike.data import INDICATORS, simulate

    rng = np.random.default_rng([seed, 7])
    return [simulate(1, 20_000, 100.0, indicator, snr=float(rng.uniform(1, 10)),
                     noise_correlation_s=float(rng.uniform(0, 0.08)), seed=rng, name=f"sim-{indicator}-{k}")
            for indicator in INDICATORS for k in range(per_indicator)]


def _counts_at(spikes: np.ndarray, rate: float, model_rate: float, threads: int) -> tuple[np.ndarray, int]:
    length = resampled_length(spikes.shape[1], rate, model_rate)
    return rebin_counts(spikes, rate, model_rate, [length], threads=threads)[0], length


def train_rate_model(
    recordings: Sequence[Recording],
    *,
    validation: Sequence[Recording] | float | None = 0.15,
    model: SpikeRateModel | None = None,
    chunk: int = 256,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 3e-3,
    patience: int | None = 6,
    seed: int = 0,
    device: str | torch.device = "auto",
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    augment_rates: Sequence[float] = AUGMENT_RATES_HZ,
    simulated: int = 0,
) -> FitResult:
    """Train a SpikeRateModel on recordings with ground truth (`calspike train-rate`).

    validation : recordings scored after every epoch for early stopping, or the fraction of
        neurons (seeded, by neuron) held out for it, or None (train on everything, no early
        stopping). Validation chunks are not augmented in noise, gain or rate.
    simulated : simulated neurons per indicator (`simulated_neurons`) added to the training
        chunks (never to validation), so that the model also knows indicators and noise
        levels the recordings lack.

    The checkpoint's ``extra`` records the training neurons, the model rate and the range of
    normalised noise levels seen in training (augmentation included), which
    `infer_spike_rates` uses to warn about unfamiliar recordings.
    """
    recordings = list(recordings)
    if model is None:
        torch.manual_seed(seed)
        model = SpikeRateModel()
    train = rate_training_set(recordings, model.rate, model.radius, chunk=chunk, augment_rates=augment_rates)
    val_set: RateTrainingSet | None = None
    if isinstance(validation, float):
        if not 0 <= validation < 1:
            raise ValueError(f"validation must be a fraction in [0, 1), a list of recordings or None, got {validation}")
        held = np.random.default_rng(seed).permutation(len(train.names))[: round(validation * len(train.names))]
        if held.size:
            keep = ~np.isin(train.neuron, held)
            as_recorded = ~keep & (train.version == 0)  # validation: held-out neurons as recorded
            val_set = train.subset(as_recorded)
            train = train.subset(keep)
    elif validation is not None:
        val_set = rate_training_set(validation, model.rate, model.radius, chunk=chunk, augment_rates=())
    if len(train.inputs) == 0:
        raise ValueError("no training chunks left after holding out the validation neurons")
    if simulated:
        extra_neurons = simulated_neurons(simulated, seed)
        train = train.joined(rate_training_set(extra_neurons, model.rate, model.radius, chunk=chunk,
                                               augment_rates=augment_rates))
    noise = train.normalised_noise
    # Augmented noise raises the normalised noise level; the top of the range allows for it.
    noise_range = [float(np.min(noise)), float(np.max(noise)) * (1 + model.config["noise"])]
    extra = {"model_rate_hz": model.rate, "train_neurons": sorted({train.names[i] for i in np.unique(train.neuron)}),
             "normalised_noise_range": noise_range, "chunk": chunk, "augment_rates_hz": list(augment_rates)}
    return fit(model, train.inputs, train.counts,
               validation=None if val_set is None or len(val_set.inputs) == 0 else (val_set.inputs, val_set.counts),
               epochs=epochs, batch_size=batch_size, lr=lr, patience=patience if val_set is not None else None,
               seed=seed, device=device, checkpoint=checkpoint, resume=resume, progress=progress, extra=extra)


def export_rate_model(checkpoint: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write a small inference-only copy of a rate-model checkpoint: best weights, config and
    metadata, no optimiser state or history (how the shipped default model is made)."""
    state = load_checkpoint(checkpoint)
    if state["kind"] != SpikeRateModel.kind:
        raise ValueError(f"{checkpoint}: holds a {state['kind']}, not a SpikeRateModel")
    weights = state["best"]["state"] if state.get("best", {}).get("state") is not None else state["model"]
    slim = {"format": state["format"], "kind": state["kind"], "model_config": state["model_config"],
            "model": {k: v.clone() for k, v in weights.items()}, "best": {"state": None},
            "extra": state.get("extra", {})}
    save_checkpoint(slim, path)
    return Path(path)
