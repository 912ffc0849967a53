"""Everything a fit needs before its first epoch.

The settings checked against the schema, the data as tensors (or a `BatchSource`), the device
and the DDP ranks, the model wrapped for DDP, the optimiser, the schedule and the batches.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from calspike import config
from calspike.models import CalspikeModel
from calspike.training.batches import (
    BatchSource,
    Ranks,
    SourceBatches,
    TensorBatches,
    distributed_setup,
    to_tensor,
)
from calspike.training.device import choose_device

# The order of the fit settings as a checkpoint records them.
FIT_SETTINGS = (
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "clip",
    "schedule",
    "patience",
    "seed",
)


def check_fit_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The fit settings (`FIT_SETTINGS`) checked by the schema; ValueError naming a bad one.

    `patience` None means never stop early; `clip` None means no clipping.
    """
    given = {k: values[k] for k in FIT_SETTINGS if not (k == "patience" and values[k] is None)}
    checked = config.check(given)
    return {name: checked.get(name) for name in FIT_SETTINGS}


@dataclass(frozen=True)
class FitData:
    """The training windows (`x`, `y` as tensors, or a `source`) and the validation set.

    `count` is the number of training windows; `validation` is (x_val, y_val or None).
    """

    x: torch.Tensor | None
    y: torch.Tensor | None
    source: BatchSource | None
    count: int
    validation: tuple[Any, torch.Tensor | None] | None


def fit_data(
    x: torch.Tensor | np.ndarray | BatchSource,
    y: torch.Tensor | np.ndarray | None,
    validation: tuple[Any, Any] | None,
) -> FitData:
    """Check and convert `fit`'s data; ValueError for mismatched lengths or no windows."""
    source: BatchSource | None = None
    x_all: torch.Tensor | None = None
    if isinstance(x, BatchSource):
        if y is not None:
            raise ValueError("y must be None when x is a BatchSource (the source gives the labels)")
        source, count = x, len(x)
    else:
        x_all = to_tensor("x", x)
        count = x_all.shape[0]
    y_all = None if y is None else to_tensor("y", y)
    if y_all is not None and y_all.shape[0] != count:
        raise ValueError(f"x and y must have the same length, got {count} and {y_all.shape[0]}")
    if count == 0:
        raise ValueError("x holds no windows")
    val = None
    if validation is not None:
        val_x = (
            validation[0]
            if isinstance(validation[0], BatchSource)
            else to_tensor("validation x", validation[0])
        )
        val_y = None if validation[1] is None else to_tensor("validation y", validation[1])
        if len(val_x) == 0:
            raise ValueError("the validation set holds no windows")
        val = (val_x, val_y)
    return FitData(x_all, y_all, source, count, val)


class Stepper(nn.Module):
    """The model's training step as forward(), which DDP needs to synchronise gradients."""

    def __init__(self, model: CalspikeModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The summed loss of the batch and its statistics (the model's `step`)."""
        return self.model.step(x, y)


@dataclass
class FitRun:
    """The machinery of one fit: where it runs, what steps, and in which order."""

    target: torch.device
    ranks: Ranks
    trained: nn.Module  # the model's Stepper, wrapped by DDP in a torchrun job
    optimiser: torch.optim.Optimizer
    scheduler: Any
    batches: TensorBatches | SourceBatches
    generator: torch.Generator  # the batch order's random state

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast on CUDA, nothing elsewhere."""
        if self.target.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def start_run(
    model: CalspikeModel, data: FitData, settings: dict[str, Any], device: str | torch.device
) -> FitRun:
    """Move `model` to its device, join a torchrun job if any, and build optimiser and batches.

    Seeds torch and the batch order with the `seed` setting.
    """
    batch_size = settings["batch_size"]
    target = choose_device(device)
    ranks = distributed_setup(target)
    if data.count < ranks.world or batch_size < ranks.world:
        raise ValueError(
            f"{ranks.world} ranks need at least as many windows and a batch_size of at least "
            f"{ranks.world}; got {data.count} windows, batch_size {batch_size}"
        )
    if ranks.active and target.type == "cuda":
        target = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(target)
    model.to(target)
    trained: nn.Module = Stepper(model)
    if ranks.active:
        trained = nn.parallel.DistributedDataParallel(
            trained, device_ids=[target.index] if target.type == "cuda" else None
        )
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
    )
    batches: TensorBatches | SourceBatches
    if data.x is not None:
        batches = TensorBatches(data.x, data.y, target, batch_size)
    else:
        assert data.source is not None  # FitData holds x or a source
        batches = SourceBatches(data.source, target)
    generator = torch.Generator().manual_seed(settings["seed"])
    torch.manual_seed(settings["seed"])
    scheduler = make_scheduler(optimiser, settings["schedule"], settings["epochs"])
    return FitRun(target, ranks, trained, optimiser, scheduler, batches, generator)


def make_scheduler(optimiser: torch.optim.Optimizer, schedule: str, epochs: int) -> Any:
    """The learning-rate schedule named by the `schedule` setting."""
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=2)
    return torch.optim.lr_scheduler.ConstantLR(optimiser, factor=1.0, total_iters=0)
