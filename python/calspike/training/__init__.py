"""Training any calspike model: the device, batches (and DDP), the fit loop, checkpoints."""

from __future__ import annotations

from calspike.training.batches import BatchSource
from calspike.training.checkpoint import (
    CHECKPOINT_FORMAT,
    is_checkpoint,
    load_checkpoint,
    load_model,
    save_checkpoint,
    save_model,
)
from calspike.training.device import choose_device
from calspike.training.evaluation import evaluate, predict
from calspike.training.loop import FitResult, fit, write_history

__all__ = [
    "CHECKPOINT_FORMAT",
    "BatchSource",
    "FitResult",
    "choose_device",
    "evaluate",
    "fit",
    "is_checkpoint",
    "load_checkpoint",
    "load_model",
    "predict",
    "save_checkpoint",
    "save_model",
    "write_history",
]
