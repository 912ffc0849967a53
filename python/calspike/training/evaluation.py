"""A model over data in batches: `evaluate` (its mean loss and statistics) and `predict`.

The sums of losses and statistics here are also the fit loop's (`calspike.training.loop`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from calspike.models import CalspikeModel
from calspike.training.batches import BatchSource, Ranks, to_tensor
from calspike.training.device import choose_device


def accumulate(
    sums: dict[str, Any], loss_sum: torch.Tensor, stats: dict[str, torch.Tensor]
) -> None:
    """Add one batch's summed loss and statistics to the running `sums` (in place)."""
    sums["loss"] = sums.get("loss", 0.0) + loss_sum.float()
    for key, value in stats.items():
        sums[key] = sums.get(key, 0.0) + value.detach().float()


def finish_sums(
    sums: dict[str, Any], count: int, ranks: Ranks, device: torch.device
) -> dict[str, float]:
    """Per-window means of the `sums` over all ranks (the "correct" count becomes "accuracy")."""
    keys = sorted(sums)
    values = torch.stack(
        [torch.as_tensor(sums[k], dtype=torch.float64, device=device) for k in keys]
    )
    if ranks.active:
        dist.all_reduce(values)
    record = {}
    for key, value in zip(keys, values.tolist(), strict=True):
        record["accuracy" if key == "correct" else key] = value / count
    return record


@torch.no_grad()
def evaluate(
    model: CalspikeModel,
    x: Any,
    y: Any = None,
    *,
    batch_size: int = 4096,
    device: str | torch.device = "auto",
) -> dict[str, float]:
    """The model's mean loss (and accuracy, reconstruction error ...) over (x, y), in eval mode.

    x may be a BatchSource, with y None.
    """
    target = choose_device(device) if not isinstance(device, torch.device) else device
    was_training = model.training
    model.eval()
    sums: dict[str, Any] = {}
    count = 0
    for bx, by in _batches_in_order(x, y, batch_size):
        loss_sum, stats = model.step(
            bx.to(target, non_blocking=True),
            None if by is None else by.to(target, non_blocking=True),
        )
        accumulate(sums, loss_sum, stats)
        count += bx.shape[0]
    model.train(was_training)
    return finish_sums(sums, count, Ranks(), target)


def _batches_in_order(
    x: Any, y: Any, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """(x, y) batches in order, on the CPU, from tensors/arrays or a BatchSource."""
    if isinstance(x, BatchSource):
        if y is not None:
            raise ValueError("y must be None when x is a BatchSource (the source gives the labels)")
        for start in range(0, len(x), batch_size):
            yield x.take(np.arange(start, min(start + batch_size, len(x))))
        return
    x_t, y_t = to_tensor("x", x), None if y is None else to_tensor("y", y)
    for start in range(0, x_t.shape[0], batch_size):
        yield (
            x_t[start : start + batch_size],
            None if y_t is None else y_t[start : start + batch_size],
        )


@torch.no_grad()
def predict(
    function: Callable[[torch.Tensor], torch.Tensor],
    x: Any,
    *,
    batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Apply `function` to x in batches, as one float32 array.

    `function` is e.g. ``model.predict_proba`` or ``model.encode``; x may be a BatchSource
    (its x is used).

    Batches go to `device`; None: the device of the model that `function` is a method of
    (the CPU for other functions).
    """
    if device is None:
        owner = getattr(function, "__self__", None)
        parameter = next(owner.parameters(), None) if isinstance(owner, nn.Module) else None
        target = parameter.device if parameter is not None else torch.device("cpu")
    else:
        target = choose_device(device) if not isinstance(device, torch.device) else device
    parts = [
        function(bx.to(target)).float().cpu() for bx, _ in _batches_in_order(x, None, batch_size)
    ]
    if not parts:
        return np.zeros((0,), dtype=np.float32)
    return torch.cat(parts).numpy()
