"""One fit loop for every model.

AdamW, gradient clipping, a schedule, early stopping on a validation loss, resumable
checkpoints, a progress bar, DDP. What a fit needs before its first epoch is in
`calspike.training.fit_setup`; evaluation and prediction are in `calspike.training.evaluation`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from calspike.data.recording import DataError
from calspike.models import CalspikeModel
from calspike.training.batches import BatchSource
from calspike.training.checkpoint import check_resumable, load_checkpoint, save_training_state
from calspike.training.evaluation import accumulate, evaluate, finish_sums
from calspike.training.fit_setup import FitData, FitRun, check_fit_settings, fit_data, start_run
from calspike.training.progress import progress_bar, write_history

__all__ = ["FitResult", "fit", "write_history"]


@dataclass
class FitResult:
    """What `fit` returns: the model (best validation weights loaded), and its history."""

    model: CalspikeModel
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    device: str = "cpu"
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # the metadata the checkpoint records


def fit(
    model: CalspikeModel,
    x: torch.Tensor | np.ndarray | BatchSource,
    y: torch.Tensor | np.ndarray | None = None,
    *,
    validation: tuple[Any, Any] | None = None,
    epochs: int = 20,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    clip: float | None = 1.0,
    schedule: str = "cosine",
    patience: int | None = 5,
    seed: int = 0,
    device: str | torch.device = "auto",
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    history_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> FitResult:
    """Train a calspike model with AdamW, gradient clipping, a schedule and early stopping.

    Parameters
    ----------
    model : CalspikeModel
        Any of calspike.models: `SpikeClassifier`, `CalciumVAE`, `ToyVAE`, `SpikeRateModel`.
    x : torch.Tensor, ndarray or BatchSource
        Float windows, shape (N, ...), e.g. a feature stack (N, L, C); or a `BatchSource`
        (with `y` None: the source gives both), read a batch at a time in its own epoch
        order, for data larger than memory.
    y : torch.Tensor or ndarray, shape (N,), optional
        Labels (spike counts (N, L) for a `SpikeRateModel`); None for VAEs.
    validation : tuple (x_val, y_val), optional
        Scored after every epoch (x_val may be a BatchSource). Early stopping (`patience`
        epochs without a lower validation loss) and the returned weights (those of the
        best epoch) use it. Without it the last epoch's weights are returned.
    epochs : int
        At most this many passes over the data.
    batch_size : int
        Windows per optimiser step (global, over all DDP ranks).
    lr, weight_decay : float
        AdamW's learning rate and weight decay.
    clip : float or None
        Maximal gradient norm; None: no clipping.
    schedule : {"cosine", "plateau", "constant"}
        "cosine": annealed to 0 over `epochs`; "plateau": halved after 2 epochs without a
        better validation loss; "constant".
    patience : int or None
        Epochs without a lower validation loss before stopping; None: never stop early.
    seed : int
        Fixes batch order, dropout and sampling; build the model after
        ``torch.manual_seed(seed)`` to fix its initialisation too.
    device : str or torch.device
        "auto", "cpu", "cuda" or "cuda:i". On CUDA, bf16 autocast.
    checkpoint : path-like, optional
        Saved atomically after every epoch (model, config, optimiser, scheduler, epoch, RNG
        states, history).
    resume : bool
        Continue from `checkpoint` when it exists, ending with the weights an uninterrupted
        run would have.
    history_path : path-like, optional
        The history as .json or .csv, rewritten after every epoch.
    progress : bool
        Show progress bars.
    callback : callable, optional
        Called as ``callback(epoch, record)`` after every epoch (and its checkpoint).
    extra : dict, optional
        Plain data stored in the checkpoint under "extra" (e.g. the features used).

    Returns
    -------
    FitResult
        The model (best weights loaded, in eval mode), the history (one record per epoch:
        losses and statistics), the best epoch, whether it stopped early, the device and
        the seconds taken. Under torchrun (WORLD_SIZE > 1) every rank returns the same.

    Raises
    ------
    ValueError
        For a setting outside its range in the settings' schema (`calspike.config`: lr in
        [1e-8, 10], epochs in [1, 100000], batch_size in [1, 2**24], clip in [1e-8, 1e6] ...;
        naming it), an `x` and `y` of different lengths, no windows, or a
        checkpoint to resume that another model or other settings wrote.

    Examples
    --------
    >>> import torch
    >>> import calspike
    >>> x, y = torch.randn(64, 20, 1), (torch.rand(64) < 0.5).float()
    >>> result = calspike.fit(calspike.SpikeClassifier(), x, y, epochs=2, progress=False)
    >>> len(result.history)
    2
    """
    settings = check_fit_settings(
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "weight_decay": weight_decay,
            "clip": clip,
            "schedule": schedule,
            "patience": patience,
            "seed": seed,
        }
    )
    if not isinstance(model, CalspikeModel):
        raise ValueError(
            f"model must be a calspike model (with step and config), got {type(model).__name__}"
        )
    data = fit_data(x, y, validation)
    run = start_run(model, data, settings, device)
    result = FitResult(model=model, device=str(run.target), extra=dict(extra or {}))
    stopping = EarlyStopping(patience)
    path = None if checkpoint is None else Path(checkpoint)
    start_epoch = 0
    if resume and path is not None and path.exists():
        start_epoch = _resume(path, model, run, settings, result, stopping)

    show = progress and run.ranks.rank == 0
    started = time.perf_counter()
    epoch_bar = progress_bar(
        range(start_epoch, epochs), show, "epochs", initial=start_epoch, total=epochs
    )
    for epoch in epoch_bar:
        if result.stopped_early:
            break
        tic = time.perf_counter()
        record: dict[str, float] = {"epoch": epoch + 1, "lr": run.optimiser.param_groups[0]["lr"]}
        train = _train_epoch(model, run, data, settings, f"epoch {epoch + 1}", show)
        record.update({f"train_{k}": v for k, v in train.items()})
        if data.validation is not None:
            scores = evaluate(
                model, *data.validation, batch_size=max(batch_size, 1024), device=run.target
            )
            record.update({f"val_{k}": v for k, v in scores.items()})
            if stopping.update(epoch + 1, record["val_loss"], model):
                result.stopped_early = True
        if settings["schedule"] == "plateau":
            run.scheduler.step(record.get("val_loss", record["train_loss"]))
        else:
            run.scheduler.step()
        record["seconds"] = time.perf_counter() - tic
        result.history.append(record)
        if show:
            shown = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
            epoch_bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k in shown})
        if run.ranks.rank == 0:
            if path is not None:
                save_training_state(
                    path,
                    model,
                    run.optimiser,
                    run.scheduler,
                    epoch + 1,
                    run.generator,
                    run.target,
                    result,
                    stopping.best,
                    stopping.bad_epochs,
                    settings,
                    extra,
                )
            if history_path is not None:
                write_history(result.history, history_path)
        if callback is not None:
            callback(epoch + 1, record)
    return _finish(model, run, result, stopping, started)


class EarlyStopping:
    """The best validation loss so far (its epoch and weights) and the epochs since it.

    `best` is the dict a checkpoint stores: {"loss", "epoch", "state" (CPU tensors or None)}.
    """

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best: dict[str, Any] = {"loss": math.inf, "epoch": 0, "state": None}
        self.bad_epochs = 0

    def update(self, epoch: int, loss: float, model: nn.Module) -> bool:
        """Record an epoch's validation loss; True when the fit should stop."""
        if loss < self.best["loss"]:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            self.best = {"loss": loss, "epoch": epoch, "state": state}
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience


def _resume(
    path: Path,
    model: CalspikeModel,
    run: FitRun,
    settings: dict[str, Any],
    result: FitResult,
    stopping: EarlyStopping,
) -> int:
    """Load the interrupted run saved at `path` into the fit; returns the epoch to start at."""
    saved = load_checkpoint(path)
    check_resumable(saved, model, settings, path)
    try:  # a checkpoint whose checksum holds may still hold states torch cannot take
        model.load_state_dict(saved["model"])
        run.optimiser.load_state_dict(saved["optimizer"])
        run.scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"])
        run.generator.set_state(saved["rng"]["batches"])
        if run.target.type == "cuda" and saved["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(saved["rng"]["cuda"], run.target)
        result.history = list(saved["history"])
        stopping.best = dict(saved["best"])
        stopping.best["loss"] = float(stopping.best["loss"])
        stopping.bad_epochs = int(saved["bad_epochs"])
        result.stopped_early = bool(saved["stopped_early"])
        epoch = int(saved["epoch"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as error:
        raise DataError(f"{path}: cannot resume from this checkpoint ({error!r:.200})") from None
    if epoch > int(settings["epochs"]):
        raise DataError(
            f"{path}: the checkpoint is at epoch {epoch}, beyond the {settings['epochs']} "
            "epochs asked for: give --epochs of at least that, or start afresh"
        )
    return epoch


def _train_epoch(
    model: CalspikeModel,
    run: FitRun,
    data: FitData,
    settings: dict[str, Any],
    desc: str,
    show: bool,
) -> dict[str, float]:
    """One pass over the training data in a seeded order; the mean loss and statistics."""
    batch_size, clip, ranks = settings["batch_size"], settings["clip"], run.ranks
    run.trained.train()
    order = (
        data.source.epoch_order(run.generator)
        if data.source is not None
        else torch.randperm(data.count, generator=run.generator)
    )
    sums: dict[str, float] = {}
    for start in progress_bar(range(0, data.count, batch_size), show, desc, leave=False):
        index = order[start : start + batch_size]
        if index.numel() < ranks.world:  # a last batch too small to give every rank a window
            continue
        bx, by = run.batches.take(index[ranks.rank :: ranks.world])
        with run.autocast():
            loss_sum, stats = run.trained(bx, by)
        # summed loss / global batch size: DDP's gradient average over ranks is then exactly
        # the single-process mean over the whole batch
        (loss_sum * (ranks.world / index.numel())).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        run.optimiser.step()
        run.optimiser.zero_grad(set_to_none=True)
        accumulate(sums, loss_sum.detach(), stats)
    return finish_sums(sums, data.count, ranks, run.target)


def _finish(
    model: CalspikeModel, run: FitRun, result: FitResult, stopping: EarlyStopping, started: float
) -> FitResult:
    """Load the best epoch's weights (the last epoch's without validation), leave DDP, eval mode."""
    if stopping.best["state"] is not None:
        model.load_state_dict(stopping.best["state"])
        result.best_epoch = int(stopping.best["epoch"])
    else:
        result.best_epoch = len(result.history)
    result.seconds = time.perf_counter() - started
    if run.ranks.owns_group:
        dist.destroy_process_group()
    model.eval()
    return result
