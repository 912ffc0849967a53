"""Training the spike-rate model: chunks of ground truth at the model's rate, augmented in
acquisition rate, noise and gain; early stopping on held-out neurons; the small inference
copy that ships.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calspike.config import WARP_RANGE
from calspike.data.recording import Recording
from calspike.models import SpikeRateModel
from calspike.preprocess import (
    fill_gaps,
    noise_levels,
    rebin_counts,
    resample,
    resampled_length,
    robust_normalise,
)
from calspike.spikes.rate import model_input
from calspike.training import FitResult, fit, load_checkpoint, save_model

AUGMENT_RATES_HZ = (60.0, 30.0, 15.0, 7.5)  # acquisition rates simulated in training (besides the data's own)


@dataclass
class RateTrainingSet:
    """Chunks for the rate model: inputs (N, subframes x (chunk + 2 radius)), counts (N, chunk), and where
    they come from."""

    inputs: np.ndarray
    counts: np.ndarray
    neuron: np.ndarray  # index into `names`
    version: np.ndarray  # 0: as recorded; then one per slower acquisition rate, then one per time warp
    names: list[str] = field(default_factory=list)
    normalised_noise: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per neuron and rate version
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # index into `groups`, per chunk
    groups: list[str] = field(default_factory=list)  # datasets

    def joined(self, other: RateTrainingSet) -> RateTrainingSet:
        """Both sets' chunks; `other`'s neurons and datasets are renumbered after this set's."""
        return RateTrainingSet(np.concatenate([self.inputs, other.inputs]),
                               np.concatenate([self.counts, other.counts]),
                               np.concatenate([self.neuron, other.neuron + len(self.names)]),
                               np.concatenate([self.version, other.version]), self.names + other.names,
                               np.concatenate([self.normalised_noise, other.normalised_noise]),
                               np.concatenate([self.group, other.group + len(self.groups)]),
                               self.groups + other.groups)

    def subset(self, keep: np.ndarray) -> RateTrainingSet:
        """The chunks selected by `keep` (a bool mask or indices; same names, groups and noise levels)."""
        return RateTrainingSet(self.inputs[keep], self.counts[keep], self.neuron[keep], self.version[keep],
                               self.names, self.normalised_noise, self.group[keep], self.groups)


def dataset_of(recording: Recording) -> str:
    """The dataset a recording belongs to: its metadata's ``dataset`` (CASCADE, SpikeFinder), else its name."""
    return str(recording.metadata.get("dataset", recording.name))


def rate_training_set(
    recordings: Iterable[Recording], model_rate: float, radius: int, *, chunk: int = 256, stride: int = 64,
    augment_rates: Sequence[float] = AUGMENT_RATES_HZ, threads: int = 0, subframes: int = 1,
    warps: Sequence[float] = (),
) -> RateTrainingSet:
    """Cut every neuron with ground truth into overlapping chunks at the model's rate: inputs
    (N, subframes x (chunk + 2 radius)) at the model's input rate, counts (N, chunk).

    Each neuron appears once as recorded and once per rate in `augment_rates` below its
    own (the trace resampled to that rate and back: what a slower acquisition would
    have given). Spike counts are rebinned to the model's rate, conserving counts.
    With `warps`, each neuron also appears once per factor w with its time axis stretched: read
    as if recorded at w x its rate, so that the indicator's rise and decay and the firing are
    w times faster (w < 1: slower), an indicator with other kinetics than any in the data.
    Dropped (NaN) frames are filled for resampling, and chunks that touch one are left out.
    Chunks are grouped by dataset (`dataset_of`).
    """
    for w in warps:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not WARP_RANGE[0] <= w <= WARP_RANGE[1]:
            raise ValueError(f"warps must be time-stretch factors in {list(WARP_RANGE)}, got {w!r}")
    inputs, counts, neuron, version, names, noise, group = [], [], [], [], [], [], []
    groups: dict[str, int] = {}
    for recording in recordings:
        if recording.spikes is None:
            raise ValueError(f"{recording.name}: training the rate model needs spike counts (ground truth)")
        assert recording.lengths is not None
        dataset = groups.setdefault(dataset_of(recording), len(groups))
        for row in range(recording.neurons):
            n = int(recording.lengths[row])
            if n == 0:
                continue
            names.append(f"{recording.name}/{recording.neuron_name(row)}" if recording.neuron_names
                         else recording.neuron_name(row))
            trace, dropped = fill_gaps(recording.calcium[row : row + 1, :n])
            # (the rate the trace is read at, the acquisition rate it is resampled through)
            views = [(recording.rate, recording.rate)]
            views += [(recording.rate, r) for r in augment_rates if r < recording.rate]
            views += [(recording.rate * w, recording.rate * w) for w in warps if w != 1]
            at_rate: dict[float, tuple[np.ndarray, int, np.ndarray]] = {}  # per read rate: counts, length, unusable
            for kind, (read_rate, acquisition) in enumerate(views):
                if read_rate not in at_rate:
                    truth, truth_length = _counts_at(recording.spikes[row : row + 1, :n], read_rate, model_rate,
                                                     threads)
                    # a model frame is unusable when any input frame it overlaps was dropped
                    at_rate[read_rate] = (truth, truth_length, rebin_counts(
                        dropped.astype(np.float32), read_rate, model_rate, [truth_length], threads=threads)[0] > 0)
                truth, truth_length, unusable = at_rate[read_rate]
                slow = trace if acquisition == read_rate else resample(trace, read_rate, acquisition,
                                                                       threads=threads)[0]
                fine, fine_lengths = resample(slow, acquisition, model_rate * subframes, threads=threads)
                length = min(int(fine_lengths[0]) // subframes, truth_length)
                normalised = robust_normalise(fine[:, : subframes * length], [subframes * length])[0]
                noise.append(noise_levels(normalised, model_rate * subframes)[0])
                padded = model_input(normalised, length, radius, subframes)
                # a dropped frame spoils the chunks whose context (radius frames) reaches it
                spoiled = np.concatenate([[0], np.cumsum(model_input(unusable[:length], length, radius, 1))])
                for start in range(0, length - chunk + 1, stride):
                    if spoiled[start + chunk + 2 * radius] - spoiled[start] > 0:
                        continue
                    inputs.append(padded[subframes * start : subframes * (start + chunk + 2 * radius)])
                    counts.append(truth[start : start + chunk])
                    neuron.append(len(names) - 1)
                    version.append(kind)
                    group.append(dataset)
    if not inputs:
        raise ValueError(f"no neuron is long enough for one chunk of {chunk} frames at {model_rate:g} Hz")
    return RateTrainingSet(np.stack(inputs).astype(np.float32), np.stack(counts).astype(np.float32),
                           np.array(neuron, dtype=np.int64), np.array(version, dtype=np.int64), names,
                           np.array(noise), np.array(group, dtype=np.int64), list(groups))


def balanced_draw(chunks: RateTrainingSet, samples: int, balance: float, seed: int) -> np.ndarray:
    """`samples` chunk indices drawn with replacement so that dataset d gets a share proportional
    to n_d ** (1 - balance), n_d its chunks: 0 keeps the data's proportions, 1 gives every
    dataset the same share (small datasets are not drowned by the large jGCaMP8 ones)."""
    if not 0 <= balance <= 1:
        raise ValueError(f"balance must lie in [0, 1], got {balance!r}")
    sizes = np.bincount(chunks.group, minlength=len(chunks.groups)).astype(np.float64)
    share = np.where(sizes > 0, sizes ** (1 - balance), 0.0)
    weights = (share / share.sum() / np.maximum(sizes, 1))[chunks.group]
    return np.random.default_rng([seed, 11]).choice(len(chunks.group), size=samples, p=weights / weights.sum())


def simulated_neurons(per_indicator: int, seed: int = 0) -> list[Recording]:
    """`per_indicator` simulated neurons of each indicator (GCaMP6s, GCaMP6f, OGB-1): 200 s at
    100 Hz each, single-spike SNR drawn from 1 to 10 and noise correlated over 0 to 80 ms, seeded."""
    from calspike.data import INDICATORS, simulate

    rng = np.random.default_rng([seed, 7])
    neurons = [simulate(1, 20_000, 100.0, indicator, snr=float(rng.uniform(1, 10)),
                        noise_correlation_s=float(rng.uniform(0, 0.08)), seed=rng, name=f"sim-{indicator}-{k}")
               for indicator in INDICATORS for k in range(per_indicator)]
    return [replace(n, metadata={"dataset": "simulated", "source": "calspike simulator"}) for n in neurons]


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
    balance: float = 0.5,
    samples: int = 0,
    warps: Sequence[float] | str = "",
    init: str | os.PathLike[str] | None = None,
) -> FitResult:
    """Train a SpikeRateModel on recordings with ground truth (`calspike train-rate`).

    model : the model to train; when None, a fresh SpikeRateModel() (input and output at 25 Hz;
        the shipped model's recipe, benchmarks/train_default_rate_model.py, uses subframes=4).
    validation : recordings scored after every epoch for early stopping, or the fraction of
        neurons (seeded, by neuron) held out for it, or None (train on everything, no early
        stopping). Validation chunks are not augmented in noise, gain or rate.
    simulated : simulated neurons per indicator (`simulated_neurons`) added to the training
        chunks (never to validation), so that the model also knows indicators and noise
        levels the recordings lack.
    balance, samples : the training chunks are `samples` (0: as many as there are) drawn once
        with replacement, dataset d's share proportional to n_d ** (1 - balance)
        (`balanced_draw`); every epoch passes over them in a new order with new augmentation.
        With balance 0 and samples 0, every chunk once instead.
    warps : time-stretch factors (or the CLI's comma-separated text of them): every training
        neuron also read as if recorded at w x its rate (`rate_training_set`), for kinetics
        that no indicator in the data has.
    init : fine-tuning: start from this rate model's weights (a checkpoint, or the string
        "default" for the shipped model) instead of `model`, keeping its architecture and
        rates, e.g. to teach it one's own indicator and timing from a few neurons with ground
        truth. Its checkpoint records where it started (``initialised_from``), and its noise
        and frame-rate ranges are widened to the starting model's.

    The checkpoint's ``extra`` records the training neurons and datasets, the model rate,
    and the ranges of normalised noise level and frame rate seen in training
    (augmentation included), which `infer_spike_rates` uses to warn about unfamiliar
    recordings.
    """
    from calspike import config

    config.check({"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "simulated": simulated,
                  "balance": balance, "samples": samples,
                  **({"patience": patience} if patience is not None else {}),
                  **({"device": device} if isinstance(device, str) else {}),
                  **({"validation": validation} if isinstance(validation, float) else {})})
    if isinstance(warps, str):
        warps = [float(w) for w in config.check_warps(warps).split(",") if w]
    recordings = list(recordings)
    base: dict[str, Any] | None = None
    if init is not None:
        if model is not None:
            raise ValueError("give a model to train or one to start from (init), not both")
        from calspike.spikes.rate import load_rate_model

        model, base = load_rate_model(None if isinstance(init, str) and init == "default" else init)
    if model is None:
        torch.manual_seed(seed)
        model = SpikeRateModel()
    train = rate_training_set(recordings, model.rate, model.radius, chunk=chunk, augment_rates=augment_rates,
                              subframes=model.subframes, warps=warps)
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
        val_set = rate_training_set(validation, model.rate, model.radius, chunk=chunk, augment_rates=(),
                                    subframes=model.subframes)
    if len(train.inputs) == 0:
        raise ValueError("no training chunks left after holding out the validation neurons")
    if simulated:
        extra_neurons = simulated_neurons(simulated, seed)
        train = train.joined(rate_training_set(extra_neurons, model.rate, model.radius, chunk=chunk,
                                               augment_rates=augment_rates, subframes=model.subframes, warps=warps))
    noise = train.normalised_noise
    # Augmented noise raises the normalised noise level; the top of the range allows for it.
    noise_range = [float(np.min(noise)), float(np.max(noise)) * (1 + model.config["noise"])]
    rates = [r.rate * w for r in recordings for w in (1.0, *warps)]
    extra = {"model_rate_hz": model.rate, "train_neurons": sorted({train.names[i] for i in np.unique(train.neuron)}),
             "train_datasets": _datasets_summary(recordings, set(train.groups)),
             "normalised_noise_range": noise_range,
             "frame_rate_range_hz": [min([*rates, *[a for a in augment_rates if a < max(rates)]]), max(rates)],
             "chunk": chunk, "augment_rates_hz": list(augment_rates), "balance": balance,
             "time_warps": [float(w) for w in warps]}
    if base is not None:
        extra = _fine_tuned(extra, base, str(init))
    if balance > 0 or samples > 0:
        train = train.subset(balanced_draw(train, samples or len(train.inputs), balance, seed))
    return fit(model, train.inputs, train.counts,
               validation=None if val_set is None or len(val_set.inputs) == 0 else (val_set.inputs, val_set.counts),
               epochs=epochs, batch_size=batch_size, lr=lr, patience=patience if val_set is not None else None,
               seed=seed, device=device, checkpoint=checkpoint, resume=resume, progress=progress, extra=extra)


def _fine_tuned(extra: dict[str, Any], base: dict[str, Any], init: str) -> dict[str, Any]:
    """A fine-tuned model's metadata: the ranges widened to its starting model's (it keeps much of
    what that one learned), and where it started."""
    merged = dict(extra)
    for key in ("normalised_noise_range", "frame_rate_range_hz"):
        if key in base:
            low, high = (float(v) for v in base[key])
            merged[key] = [min(extra[key][0], low), max(extra[key][1], high)]
    merged["initialised_from"] = {"model": init, "train_datasets": sorted(base.get("train_datasets", {}))}
    return merged


def _datasets_summary(recordings: Sequence[Recording], kept: set[str]) -> dict[str, dict[str, Any]]:
    """Per training dataset: rows, hours, spikes, indicator and frame rates (the model card's table)."""
    summary: dict[str, dict[str, Any]] = {}
    for recording in recordings:
        name = dataset_of(recording)
        if name not in kept:
            continue
        entry = summary.setdefault(name, {"rows": 0, "hours": 0.0, "spikes": 0.0, "rates_hz": [],
                                          "indicator": recording.metadata.get("indicator", "unknown")})
        assert recording.lengths is not None and recording.spikes is not None
        entry["rows"] += recording.neurons
        entry["hours"] += float(recording.lengths.sum()) / recording.rate / 3600
        entry["spikes"] += float(np.nansum(recording.spikes))
        entry["rates_hz"] = sorted({*entry["rates_hz"], round(recording.rate, 1)})
    return summary


def export_rate_model(checkpoint: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write a small inference-only copy of a rate-model checkpoint: best weights, config and
    metadata, no optimiser state or history (how the shipped default model is made)."""
    state = load_checkpoint(checkpoint)
    if state["kind"] != SpikeRateModel.kind:
        raise ValueError(f"{checkpoint}: holds a {state['kind']}, not a SpikeRateModel")
    weights = state["best"]["state"] if state.get("best", {}).get("state") is not None else state["model"]
    save_model(SpikeRateModel(**state["model_config"]), path, extra=state.get("extra", {}), weights=weights)
    return Path(path)


def train_rate_on_files(sources: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *,
                        settings: dict[str, Any], exclude: Sequence[str] = (), resume: bool = False,
                        progress: bool = True, init: str | os.PathLike[str] | None = None) -> FitResult:
    """`calspike train-rate`: load every source's recordings with ground truth (CASCADE folders or
    files, SpikeFinder folders or files, arrays), leave out the `exclude` datasets and train a
    fresh SpikeRateModel (settings: the "train-rate" profile of calspike.config), or fine-tune
    the model `init` (a checkpoint or "default"; its architecture kept), into `output`."""
    from calspike.data import load_recordings

    recordings = [recording for source in sources for recording in load_recordings(source, settings["rate"])]
    recordings = without_datasets(recordings, exclude)
    torch.manual_seed(settings["seed"])
    return train_rate_model(
        recordings, validation=settings["validation"] or None, init=init, model=None if init is not None else
        SpikeRateModel(channels=settings["channels"], subframes=settings["subframes"], members=settings["members"]),
        epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
        patience=settings["patience"], seed=settings["seed"], device=settings["device"], checkpoint=output,
        resume=resume, progress=progress, simulated=settings["simulated"], balance=settings["balance"],
        samples=settings["samples"], warps=settings["warps"])


def without_datasets(recordings: Sequence[Recording], exclude: Sequence[str]) -> list[Recording]:
    """`recordings` less those of the named datasets (a dataset id such as DS06 or SF4, a CASCADE
    folder name, or a recording's name); UsageError naming any that matches nothing."""
    from calspike._io import UsageError

    def names(recording: Recording) -> set[str]:
        return {dataset_of(recording), str(recording.metadata.get("folder", "")), recording.name}

    unknown = [name for name in exclude if not any(name in names(r) for r in recordings)]
    if unknown:
        known = sorted({dataset_of(r) for r in recordings})
        raise UsageError(f"--exclude: no dataset named {', '.join(unknown)} (the data holds {', '.join(known)})")
    kept = [r for r in recordings if not names(r) & set(exclude)]
    if not kept:
        raise UsageError("--exclude leaves no recording to train on")
    return kept
