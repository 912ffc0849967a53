"""One fit loop for every model: AdamW, gradient clipping, a schedule, early stopping on a
validation loss, resumable checkpoints, a progress bar, DDP; and evaluate/predict.
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
    _Distributed,
    _distributed_setup,
    _SourceBatches,
    _to_tensor,
)
from calspike.training.checkpoint import _check_resumable, load_checkpoint, save_training_state
from calspike.training.device import choose_device

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
    """Train `model` (any of calspike.models) on windows `x` with labels `y` (None for VAEs).

    Parameters
    ----------
    x : (N, ...) float tensor or array, e.g. a feature stack (N, L, C); y : (N,) labels or None.
        Or x a `BatchSource` (y None: the source gives both), read a batch at a time in its own
        epoch order, for data larger than memory.
    validation : (x_val, y_val) scored after every epoch (x_val may be a BatchSource); early stopping (`patience`
        epochs without a lower validation loss) and the returned weights (those of the
        best epoch) use it. Without it the last epoch's weights are returned.
    epochs, batch_size : at most this many passes; windows per optimiser step (global,
        over all DDP ranks).
    lr, weight_decay, clip : AdamW's settings; gradient norm clipping (None: off).
    schedule : "cosine" (annealed to 0 over `epochs`), "plateau" (halved after 2 epochs
        without a better validation loss) or "constant".
    seed : fixes batch order, dropout and sampling; build the model after
        ``torch.manual_seed(seed)`` to fix its initialisation too.
    device : "auto", "cpu", "cuda" or "cuda:i". On CUDA, bf16 autocast.
    checkpoint : saved atomically after every epoch (model, config, optimiser,
        scheduler, epoch, RNG states, history); `resume=True` continues from it, ending
        with the weights an uninterrupted run would have.
    history_path : the history as .json or .csv, rewritten after every epoch.
    callback : called as callback(epoch, record) after every epoch (and its checkpoint).
    extra : plain data stored in the checkpoint under "extra" (e.g. the features used).

    Returns a FitResult. Under torchrun (WORLD_SIZE > 1) every rank returns the same.
    """
    settings = _check_fit_settings(epochs, batch_size, lr, weight_decay, clip, schedule, patience, seed)
    if not isinstance(model, CalspikeModel):
        raise ValueError(f"model must be a calspike model (with step and config), got {type(model).__name__}")
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
        val_x = validation[0] if isinstance(validation[0], BatchSource) else _to_tensor("validation x",
                                                                                          validation[0])
        val_y = None if validation[1] is None else _to_tensor("validation y", validation[1])
        if len(val_x) == 0:
            raise ValueError("the validation set holds no windows")
        val = (val_x, val_y)

    target = choose_device(device)
    ranks = _distributed_setup(target)
    if count < ranks.world or batch_size < ranks.world:
        raise ValueError(f"{ranks.world} ranks need at least as many windows and a batch_size of at least "
                         f"{ranks.world}; got {count} windows, batch_size {batch_size}")
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
    batches: _Batches | _SourceBatches = (_Batches(x_all, y_all, target, batch_size) if x_all is not None
                                          else _SourceBatches(source, target))  # type: ignore[arg-type]
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

    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if target.type == "cuda"
                else contextlib.nullcontext())
    show = progress and ranks.rank == 0
    started = time.perf_counter()
    epoch_bar = _progress(range(start_epoch, epochs), show, "epochs", initial=start_epoch, total=epochs)
    for epoch in epoch_bar:
        if result.stopped_early:
            break
        tic = time.perf_counter()
        trained.train()
        order = (source.epoch_order(generator) if source is not None
                 else torch.randperm(count, generator=generator))
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
            record.update({f"val_{k}": v for k, v in evaluate(model, *val, batch_size=max(batch_size, 1024),
                                                                 device=target).items()})
            if record["val_loss"] < best["loss"]:
                best = {"loss": record["val_loss"], "epoch": epoch + 1,
                        "state": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}}
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
            epoch_bar.set_postfix({k: f"{v:.4g}" for k, v in record.items()
                                   if k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")})
        if ranks.rank == 0:
            if path is not None:
                save_training_state(path, model, optimiser, scheduler, epoch + 1, generator, target, result,
                                 best, bad_epochs, settings, extra)
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

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.step(x, y)


def _progress(iterable: Any, show: bool, desc: str, **kwargs: Any) -> Any:
    if not show:
        return _Quiet(iterable)
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="batch" if desc.startswith("epoch ") else "epoch", **kwargs)


class _Quiet:
    """An iterable with tqdm's set_postfix, for runs without a progress bar."""

    def __init__(self, iterable: Any) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass


def _accumulate(sums: dict[str, Any], loss_sum: torch.Tensor, stats: dict[str, torch.Tensor]) -> None:
    sums["loss"] = sums.get("loss", 0.0) + loss_sum.float()
    for key, value in stats.items():
        sums[key] = sums.get(key, 0.0) + value.detach().float()


def _finish_sums(sums: dict[str, Any], count: int, ranks: _Distributed, device: torch.device) -> dict[str, float]:
    keys = sorted(sums)
    values = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64, device=device) for k in keys])
    if ranks.active:
        dist.all_reduce(values)
    record = {}
    for key, value in zip(keys, values.tolist()):
        record["accuracy" if key == "correct" else key] = value / count
    return record


@torch.no_grad()
def evaluate(
    model: CalspikeModel, x: Any, y: Any = None, *, batch_size: int = 4096, device: str | torch.device = "auto"
) -> dict[str, float]:
    """The model's mean loss (and accuracy, reconstruction error ...) over (x, y), in eval mode
    (x may be a BatchSource, with y None)."""
    target = choose_device(device) if not isinstance(device, torch.device) else device
    was_training = model.training
    model.eval()
    sums: dict[str, Any] = {}
    count = 0
    for bx, by in _batches_in_order(x, y, batch_size):
        loss_sum, stats = model.step(bx.to(target, non_blocking=True),
                                     None if by is None else by.to(target, non_blocking=True))
        _accumulate(sums, loss_sum, stats)
        count += bx.shape[0]
    model.train(was_training)
    return _finish_sums(sums, count, _Distributed(), target)


def _batches_in_order(x: Any, y: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(x, y) batches in order, on the CPU, from tensors/arrays or a BatchSource."""
    if isinstance(x, BatchSource):
        if y is not None:
            raise ValueError("y must be None when x is a BatchSource (the source gives the labels)")
        for start in range(0, len(x), batch_size):
            yield x.take(np.arange(start, min(start + batch_size, len(x))))
        return
    x_t, y_t = _to_tensor("x", x), None if y is None else _to_tensor("y", y)
    for start in range(0, x_t.shape[0], batch_size):
        yield x_t[start : start + batch_size], None if y_t is None else y_t[start : start + batch_size]


@torch.no_grad()
def predict(
    function: Callable[[torch.Tensor], torch.Tensor], x: Any, *, batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """`function` (e.g. ``model.predict_proba`` or ``model.encode``) over x (or a BatchSource's x)
    in batches, as one float32 array.

    Batches go to `device`; None: the device of the model that `function` is a method of
    (the CPU for other functions).
    """
    if device is None:
        owner = getattr(function, "__self__", None)
        parameter = next(owner.parameters(), None) if isinstance(owner, nn.Module) else None
        target = parameter.device if parameter is not None else torch.device("cpu")
    else:
        target = choose_device(device) if not isinstance(device, torch.device) else device
    parts = [function(bx.to(target)).float().cpu() for bx, _ in _batches_in_order(x, None, batch_size)]
    if not parts:
        return np.zeros((0,), dtype=np.float32)
    return torch.cat(parts).numpy()


def _check_fit_settings(
    epochs: int, batch_size: int, lr: float, weight_decay: float, clip: float | None, schedule: str,
    patience: int | None, seed: int,
) -> dict[str, Any]:
    def integer(name: str, value: Any, low: int) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    def positive(name: str, value: Any, allow_zero: bool = False) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < 0 or (value == 0 and not allow_zero):
            raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")

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
    return {"epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr),
            "weight_decay": float(weight_decay), "clip": None if clip is None else float(clip),
            "schedule": schedule, "patience": patience, "seed": int(seed)}


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
