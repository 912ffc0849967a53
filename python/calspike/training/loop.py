"""One fit loop for every model.

AdamW, gradient clipping, a schedule, early stopping on a validation loss, resumable
checkpoints, a progress bar, DDP. Evaluation and prediction are in `calspike.training.evaluation`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from calspike._io import atomic_path
from calspike.models import CalspikeModel
from calspike.training.batches import (
    BatchSource,
    _Batches,
    _distributed_setup,
    _SourceBatches,
    _to_tensor,
)
from calspike.training.checkpoint import _check_resumable, load_checkpoint, save_training_state
from calspike.training.device import choose_device
from calspike.training.evaluation import _accumulate, _finish_sums, evaluate

SCHEDULES = ("cosine", "plateau", "constant")


@dataclass
class FitResult:
    """What `fit` returns: the model (best validation weights loaded), and its history."""

    model: CalspikeModel
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    device: str = "cpu"
    seconds: float = 0.0


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
        For a bad setting (naming it), an `x` and `y` of different lengths, no windows, or a
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
    settings = _check_fit_settings(
        epochs, batch_size, lr, weight_decay, clip, schedule, patience, seed
    )
    if not isinstance(model, CalspikeModel):
        raise ValueError(
            f"model must be a calspike model (with step and config), got {type(model).__name__}"
        )
    source: BatchSource | None = None
    x_all: torch.Tensor | None = None
    if isinstance(x, BatchSource):
        if y is not None:
            raise ValueError("y must be None when x is a BatchSource (the source gives the labels)")
        source, count = x, len(x)
    else:
        x_all = _to_tensor("x", x)
        count = x_all.shape[0]
    y_all = None if y is None else _to_tensor("y", y)
    if y_all is not None and y_all.shape[0] != count:
        raise ValueError(f"x and y must have the same length, got {count} and {y_all.shape[0]}")
    if count == 0:
        raise ValueError("x holds no windows")
    val = None
    if validation is not None:
        val_x = (
            validation[0]
            if isinstance(validation[0], BatchSource)
            else _to_tensor("validation x", validation[0])
        )
        val_y = None if validation[1] is None else _to_tensor("validation y", validation[1])
        if len(val_x) == 0:
            raise ValueError("the validation set holds no windows")
        val = (val_x, val_y)

    target = choose_device(device)
    ranks = _distributed_setup(target)
    if count < ranks.world or batch_size < ranks.world:
        raise ValueError(
            f"{ranks.world} ranks need at least as many windows and a batch_size of at least "
            f"{ranks.world}; got {count} windows, batch_size {batch_size}"
        )
    if ranks.active and target.type == "cuda":
        target = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(target)
    model.to(target)
    trained: nn.Module = _Stepper(model)
    if ranks.active:
        trained = nn.parallel.DistributedDataParallel(
            trained, device_ids=[target.index] if target.type == "cuda" else None
        )
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = _scheduler(optimiser, schedule, epochs)
    batches: _Batches | _SourceBatches = (
        _Batches(x_all, y_all, target, batch_size)
        if x_all is not None
        else _SourceBatches(source, target)
    )  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    result = FitResult(model=model, device=str(target))
    best: dict[str, Any] = {"loss": math.inf, "epoch": 0, "state": None}
    bad_epochs, start_epoch = 0, 0
    path = None if checkpoint is None else Path(checkpoint)
    if resume and path is not None and path.exists():
        saved = load_checkpoint(path)
        _check_resumable(saved, model, settings, path)
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"]["torch"])
        generator.set_state(saved["rng"]["batches"])
        if target.type == "cuda" and saved["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(saved["rng"]["cuda"], target)
        result.history = list(saved["history"])
        best = dict(saved["best"])
        bad_epochs, start_epoch = int(saved["bad_epochs"]), int(saved["epoch"])
        result.stopped_early = bool(saved["stopped_early"])

    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if target.type == "cuda"
        else contextlib.nullcontext()
    )
    show = progress and ranks.rank == 0
    started = time.perf_counter()
    epoch_bar = _progress(
        range(start_epoch, epochs), show, "epochs", initial=start_epoch, total=epochs
    )
    for epoch in epoch_bar:
        if result.stopped_early:
            break
        tic = time.perf_counter()
        trained.train()
        order = (
            source.epoch_order(generator)
            if source is not None
            else torch.randperm(count, generator=generator)
        )
        sums: dict[str, float] = {}
        batch_starts = range(0, count, batch_size)
        for start in _progress(batch_starts, show, f"epoch {epoch + 1}", leave=False):
            index = order[start : start + batch_size]
            if index.numel() < ranks.world:  # a last batch too small to give every rank a window
                continue
            shard = index[ranks.rank :: ranks.world]
            bx, by = batches.take(shard)
            with autocast:
                loss_sum, stats = trained(bx, by)
            # summed loss / global batch size: DDP's gradient average over ranks is then exactly
            # the single-process mean over the whole batch
            (loss_sum * (ranks.world / index.numel())).backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            _accumulate(sums, loss_sum.detach(), stats)
        train_record = _finish_sums(sums, count, ranks, target)
        record: dict[str, float] = {"epoch": epoch + 1, "lr": optimiser.param_groups[0]["lr"]}
        record.update({f"train_{k}": v for k, v in train_record.items()})
        if val is not None:
            record.update(
                {
                    f"val_{k}": v
                    for k, v in evaluate(
                        model, *val, batch_size=max(batch_size, 1024), device=target
                    ).items()
                }
            )
            if record["val_loss"] < best["loss"]:
                best = {
                    "loss": record["val_loss"],
                    "epoch": epoch + 1,
                    "state": {
                        k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()
                    },
                }
                bad_epochs = 0
            else:
                bad_epochs += 1
            if patience is not None and bad_epochs >= patience:
                result.stopped_early = True
        if schedule == "plateau":
            scheduler.step(record.get("val_loss", record["train_loss"]))
        else:
            scheduler.step()
        record["seconds"] = time.perf_counter() - tic
        result.history.append(record)
        if show:
            epoch_bar.set_postfix(
                {
                    k: f"{v:.4g}"
                    for k, v in record.items()
                    if k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
                }
            )
        if ranks.rank == 0:
            if path is not None:
                save_training_state(
                    path,
                    model,
                    optimiser,
                    scheduler,
                    epoch + 1,
                    generator,
                    target,
                    result,
                    best,
                    bad_epochs,
                    settings,
                    extra,
                )
            if history_path is not None:
                write_history(result.history, history_path)
        if callback is not None:
            callback(epoch + 1, record)

    if best["state"] is not None:
        model.load_state_dict(best["state"])
        result.best_epoch = int(best["epoch"])
    else:
        result.best_epoch = len(result.history)
    result.seconds = time.perf_counter() - started
    if ranks.owns_group:
        dist.destroy_process_group()
    model.eval()
    return result


class _Stepper(nn.Module):
    """The model's training step as forward(), which DDP needs to synchronise gradients."""

    def __init__(self, model: CalspikeModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.step(x, y)


def _progress(iterable: Any, show: bool, desc: str, **kwargs: Any) -> Any:
    if not show:
        return _Quiet(iterable)
    from tqdm.auto import tqdm

    return tqdm(
        iterable, desc=desc, unit="batch" if desc.startswith("epoch ") else "epoch", **kwargs
    )


class _Quiet:
    """An iterable with tqdm's set_postfix, for runs without a progress bar."""

    def __init__(self, iterable: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass


def _check_fit_settings(
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    clip: float | None,
    schedule: str,
    patience: int | None,
    seed: int,
) -> dict[str, Any]:
    def integer(name: str, value: Any, low: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    def positive(name: str, value: Any, allow_zero: bool = False) -> None:
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
        if not ok or value < 0 or (value == 0 and not allow_zero):
            raise ValueError(
                f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}"
            )

    integer("epochs", epochs, 1)
    integer("batch_size", batch_size, 1)
    integer("seed", seed, 0)
    positive("lr", lr)
    positive("weight_decay", weight_decay, allow_zero=True)
    if clip is not None:
        positive("clip", clip)
    if patience is not None:
        integer("patience", patience, 1)
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    return {
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "weight_decay": float(weight_decay),
        "clip": None if clip is None else float(clip),
        "schedule": schedule,
        "patience": patience,
        "seed": int(seed),
    }


def _scheduler(optimiser: torch.optim.Optimizer, schedule: str, epochs: int) -> Any:
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=2)
    return torch.optim.lr_scheduler.ConstantLR(optimiser, factor=1.0, total_iters=0)


def write_history(history: list[dict[str, float]], path: str | os.PathLike[str]) -> None:
    """Write a fit history (one record per epoch) as .json or .csv, atomically."""
    target = Path(path)
    if target.suffix not in (".json", ".csv"):
        raise ValueError(f"history path must end in .json or .csv, got {target}")
    if target.suffix == ".json":
        text = json.dumps(history, indent=1)
    else:
        columns = list(dict.fromkeys(k for record in history for k in record))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
        text = buffer.getvalue()
    with atomic_path(target) as temporary:
        temporary.write_text(text)
