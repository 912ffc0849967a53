"""Training the spike-rate model, and the small inference copy that ships.

Chunks of ground truth at the model's rate (`calspike.spikes.rate_chunks`), augmented in
acquisition rate, noise and gain; early stopping on held-out neurons. The trained model's
card (`ModelCard`) records what it learned from. Loading and choosing the data by dataset:
`calspike.spikes.rate_datasets`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calspike.data.recording import Recording
from calspike.models import SpikeRateModel
from calspike.spikes.model_card import ModelCard
from calspike.spikes.rate import DFF_SPREAD_UNIT, load_rate_model
from calspike.spikes.rate_calibration import count_scale
from calspike.spikes.rate_chunks import (
    AUGMENT_RATES_HZ,
    RateTrainingSet,
    balanced_draw,
    rate_training_set,
    simulated_neurons,
)
from calspike.spikes.rate_datasets import dataset_of, datasets_summary
from calspike.training import FitResult, fit, load_checkpoint, save_checkpoint, save_model

# the training set's pieces, as scripts import them from here too
__all__ = [
    "AUGMENT_RATES_HZ",
    "balanced_draw",
    "dataset_of",
    "export_rate_model",
    "rate_training_set",
    "train_rate_from_settings",
    "train_rate_model",
]


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
    """Train a SpikeRateModel on recordings with ground truth (``calspike train-rate``).

    Every neuron is cut into chunks at the model's rate (`rate_training_set`), also as a
    slower acquisition would have given it (`augment_rates`) and time-warped (`warps`);
    `fit` trains on them with early stopping on the validation neurons.

    Parameters
    ----------
    recordings : sequence of Recording
        Recordings with spike counts (ground truth).
    validation : float, sequence of Recording or None
        The fraction of neurons (seeded, by neuron) held out for early stopping, or
        recordings scored after every epoch for it, or None (train on everything, no early
        stopping). Validation chunks are not augmented in noise, gain or rate.
    model : SpikeRateModel, optional
        The model to train; when None, a fresh SpikeRateModel() (input and output at
        25 Hz; the shipped model's recipe, benchmarks/train_default_rate_model.py, uses
        subframes=4).
    chunk : int
        Model frames per training chunk.
    epochs, batch_size : int
        As for `fit`.
    lr : float
        AdamW's learning rate.
    patience : int or None
        As for `fit` (only with validation).
    seed : int
        Fixes the validation split, a fresh model's weights, the simulated neurons, the draws
        and the training.
    device : str or torch.device
        As for `fit`.
    checkpoint : path-like, optional
        As for `fit`; the trained model's file.
    resume, progress : bool
        As for `fit`.
    augment_rates : sequence of float
        Acquisition rates in Hz simulated in training, for each neuron recorded faster.
    simulated : int
        Simulated neurons per indicator (`simulated_neurons`) added to the training chunks
        (never to validation), so that the model also knows indicators and noise levels the
        recordings lack.
    balance : float
        In [0, 1]: the training chunks are `samples` drawn once with replacement, dataset
        d's share proportional to n_d ** (1 - balance), n_d its chunks (`balanced_draw`);
        every epoch passes over them in a new order with new augmentation. With balance 0
        and samples 0, every chunk once instead.
    samples : int
        Training chunks drawn (0: as many as there are).
    warps : sequence of float or str
        Time-stretch factors (or the CLI's comma-separated text of them): every training
        neuron also read as if recorded at w x its rate (`rate_training_set`), for kinetics
        that no indicator in the data has.
    init : path-like or "default", optional
        Fine-tuning: start from this rate model's weights (a checkpoint, or the string
        "default" for the shipped model) instead of `model`, keeping its architecture and
        rates, e.g. to teach it one's own indicator and timing from a few neurons with
        ground truth. Its checkpoint records where it started (``initialised_from``), and
        its noise and frame-rate ranges are widened to the starting model's.

    Returns
    -------
    FitResult
        As `fit` returns it. The checkpoint's ``extra`` records the training neurons and
        datasets, the model rate, and the ranges of normalised noise level and frame rate
        seen in training (augmentation included), which `infer_spike_rates` uses to warn
        about unfamiliar recordings, and the count calibration (``count_scale``, fitted on
        the training chunks as recorded once training ends) that it multiplies outputs by;
        ``result.extra`` holds the same card, for `infer_spike_rates`'s ``metadata``.

    Raises
    ------
    ValueError
        For a bad setting (naming it), recordings without spike counts, both `model` and
        `init`, or no training chunk left (neurons too short, or all held out).
    """
    from calspike import config

    config.check(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "simulated": simulated,
            "balance": balance,
            "samples": samples,
            **({"patience": patience} if patience is not None else {}),
            **({"device": device} if isinstance(device, str) else {}),
            **({"validation": validation} if isinstance(validation, float) else {}),
        }
    )
    if isinstance(warps, str):
        warps = [float(w) for w in config.check_warps(warps).split(",") if w]
    recordings = list(recordings)
    base: ModelCard | None = None
    if init is not None:
        if model is not None:
            raise ValueError("give a model to train or one to start from (init), not both")
        model, base_extra = load_rate_model(
            None if isinstance(init, str) and init == "default" else init
        )
        base = ModelCard.from_dict(base_extra)
    if model is None:
        torch.manual_seed(seed)
        model = SpikeRateModel()
    train = rate_training_set(
        recordings,
        model.rate,
        model.radius,
        chunk=chunk,
        augment_rates=augment_rates,
        subframes=model.subframes,
        warps=warps,
        dff_scale=model.dff_scale,
    )
    train, val_set = _held_out(train, validation, model, chunk, seed)
    if len(train.inputs) == 0:
        raise ValueError("no training chunks left after holding out the validation neurons")
    if simulated:
        extra_neurons = simulated_neurons(simulated, seed)
        train = train.joined(
            rate_training_set(
                extra_neurons,
                model.rate,
                model.radius,
                chunk=chunk,
                augment_rates=augment_rates,
                subframes=model.subframes,
                warps=warps,
                dff_scale=model.dff_scale,
            )
        )
    card = _card(model, train, recordings, chunk, augment_rates, balance, warps)
    if base is not None:  # it keeps much of what its starting model learned
        card = card.fine_tuned_from(base, str(init))
    as_recorded = train.subset(np.flatnonzero(train.version == 0))  # for the count calibration
    if balance > 0 or samples > 0:
        train = train.subset(balanced_draw(train, samples or len(train.inputs), balance, seed))
    result = fit(
        model,
        train.inputs,
        train.counts,
        validation=None
        if val_set is None or len(val_set.inputs) == 0
        else (val_set.inputs, val_set.counts),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience if val_set is not None else None,
        seed=seed,
        device=device,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        extra=card.to_dict(),
    )
    result.extra["count_scale"] = count_scale(
        model, as_recorded, np.arange(len(as_recorded.inputs))
    )
    import torch.distributed as dist

    distributed = dist.is_available() and dist.is_initialized()
    if distributed:  # rank 0 wrote the last epoch: every rank waits for it
        dist.barrier()
    if checkpoint is not None and (not distributed or dist.get_rank() == 0):
        state = load_checkpoint(checkpoint)  # the card in the checkpoint carries the calibration
        state["extra"] = {**state.get("extra", {}), "count_scale": result.extra["count_scale"]}
        save_checkpoint(state, checkpoint)
    if distributed:
        dist.barrier()
    return result


def _held_out(
    train: RateTrainingSet,
    validation: Sequence[Recording] | float | None,
    model: SpikeRateModel,
    chunk: int,
    seed: int,
) -> tuple[RateTrainingSet, RateTrainingSet | None]:
    """(training chunks, validation chunks or None) for `train_rate_model`'s `validation`.

    A fraction holds out that share of the neurons (seeded; their chunks as recorded only),
    recordings are cut as they are (no augmentation), None holds out nothing.
    """
    if isinstance(validation, float):  # its range is config's, checked by train_rate_model
        held = np.random.default_rng(seed).permutation(len(train.names))[
            : round(validation * len(train.names))
        ]
        if not held.size:
            return train, None
        keep = ~np.isin(train.neuron, held)
        as_recorded = ~keep & (train.version == 0)  # validation: held-out neurons as recorded
        return train.subset(keep), train.subset(as_recorded)
    if validation is None:
        return train, None
    return train, rate_training_set(
        validation,
        model.rate,
        model.radius,
        chunk=chunk,
        augment_rates=(),
        subframes=model.subframes,
        dff_scale=model.dff_scale,
    )


def _card(
    model: SpikeRateModel,
    train: RateTrainingSet,
    recordings: Sequence[Recording],
    chunk: int,
    augment_rates: Sequence[float],
    balance: float,
    warps: Sequence[float],
) -> ModelCard:
    """The card of `model` trained on `train`, cut from `recordings` (before fine-tuning)."""
    noise = train.normalised_noise
    # Augmented noise raises the normalised noise level; the top of the range allows for it.
    noise_range = (float(np.min(noise)), float(np.max(noise)) * (1 + model.config["noise"]))
    rates = [r.rate * w for r in recordings for w in (1.0, *warps)]
    spreads = None
    if model.dff_scale:  # augmentation moves the spread by sqrt(1 + noise^2) / gain
        seen = DFF_SPREAD_UNIT * np.exp(train.inputs[:, 0].astype(np.float64))
        stretch = model.config["gain"] * math.sqrt(1 + model.config["noise"] ** 2)
        spreads = (float(seen.min()) / model.config["gain"], float(seen.max()) * stretch)
    return ModelCard(
        model_rate_hz=model.rate,
        train_neurons=sorted({train.names[i] for i in np.unique(train.neuron)}),
        train_datasets=datasets_summary(recordings, set(train.groups)),
        normalised_noise_range=noise_range,
        dff_spread_range=spreads,
        frame_rate_range_hz=(
            min([*rates, *[a for a in augment_rates if a < max(rates)]]),
            max(rates),
        ),
        chunk=chunk,
        augment_rates_hz=list(augment_rates),
        balance=balance,
        time_warps=[float(w) for w in warps],
    )


def export_rate_model(checkpoint: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write a small inference-only copy of a rate-model checkpoint (as the shipped model is made).

    Best weights, config and metadata, no optimiser state or history.
    """
    state = load_checkpoint(checkpoint)
    if state["kind"] != SpikeRateModel.kind:
        raise ValueError(f"{checkpoint}: holds a {state['kind']}, not a SpikeRateModel")
    weights = (
        state["best"]["state"] if state.get("best", {}).get("state") is not None else state["model"]
    )
    save_model(
        SpikeRateModel(**state["model_config"]), path, extra=state.get("extra", {}), weights=weights
    )
    return Path(path)


def train_rate_from_settings(
    recordings: Sequence[Recording],
    output: str | os.PathLike[str],
    *,
    settings: dict[str, Any],
    resume: bool = False,
    progress: bool = True,
    init: str | os.PathLike[str] | None = None,
) -> FitResult:
    """`calspike train-rate`: train a rate model on `recordings` into the checkpoint `output`.

    A fresh SpikeRateModel of the settings (the "train-rate" profile of calspike.config), or
    the model `init` fine-tuned (a checkpoint or "default"; its architecture kept).
    """
    torch.manual_seed(settings["seed"])
    return train_rate_model(
        recordings,
        validation=settings["validation"] or None,
        init=init,
        model=None
        if init is not None
        else SpikeRateModel(
            channels=settings["channels"],
            subframes=settings["subframes"],
            members=settings["members"],
            dff_scale=settings["dff_scale"],
        ),
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        patience=settings["patience"],
        seed=settings["seed"],
        device=settings["device"],
        checkpoint=output,
        resume=resume,
        progress=progress,
        simulated=settings["simulated"],
        balance=settings["balance"],
        samples=settings["samples"],
        warps=settings["warps"],
    )
