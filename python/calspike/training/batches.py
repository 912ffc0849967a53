"""Batches for the fit loop, and the ranks of a torchrun (DDP) job.

Tensors staged once (pinned, or on the GPU when they fit), slices through a seeded
permutation, sources that read each batch from disk (`BatchSource`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist


@dataclass
class Ranks:
    """The rank of this process among the `world` processes of a torchrun (DDP) job (0 of 1)."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False

    @property
    def active(self) -> bool:
        """True in a job of more than one process."""
        return self.world > 1


def distributed_setup(device: torch.device) -> Ranks:
    """Join the torchrun job that WORLD_SIZE announces (nccl on CUDA, else gloo); alone: rank 0."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owns = True
    return Ranks(dist.get_rank(), dist.get_world_size(), owns)


@runtime_checkable
class BatchSource(Protocol):
    """Training data read a batch at a time (e.g. windows in a zarr store) instead of held whole.

    `fit`, `evaluate` and `predict` take one in place of x (with y None): its items are
    numbered 0 .. len - 1; `take` returns (x, y or None) of the items at `positions`, on the
    CPU, y as the model's step expects it; `epoch_order` is one epoch's seeded permutation of
    all items, ordered so that reads stay local (each chunk on disk read once an epoch).
    """

    def __len__(self) -> int: ...

    def take(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x, y or None) of the items at `positions`, on the CPU."""

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """One epoch's seeded permutation of all items."""


class SourceBatches:
    """`TensorBatches` for a BatchSource: each batch read by the source, then moved to `device`."""

    def __init__(self, source: BatchSource, device: torch.device) -> None:
        self.source, self.device = source, device

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x, y or None) of the items at `index`, on the device."""
        x, y = self.source.take(index.numpy())
        return x.to(self.device, non_blocking=True), None if y is None else y.to(
            self.device, non_blocking=True
        )


def to_tensor(name: str, values: Any) -> torch.Tensor:
    """`values` (a tensor or an array-like) as a tensor; ValueError naming `name` otherwise."""
    tensor = (
        values
        if isinstance(values, torch.Tensor)
        else torch.from_numpy(np.ascontiguousarray(values))
    )
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    if tensor.dtype.is_floating_point and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return tensor


class TensorBatches:
    """Slices of (x, y) through index arrays, delivered on `device`.

    Data that fit comfortably on the GPU are moved there once; otherwise each batch is
    gathered into one of two pinned buffers and copied without blocking.
    """

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor | None, device: torch.device, batch_size: int
    ) -> None:
        self.device = device
        self.staged = device.type == "cuda" and not _fits_on_gpu(x, y, device)
        if device.type == "cuda" and not self.staged:
            x, y = x.to(device), None if y is None else y.to(device)
        self.x, self.y = x, y
        self.buffers: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        self.copied: list[Any] = []  # per buffer: a CUDA event marking the end of its last copy
        if self.staged:
            for _ in range(2):
                self.buffers.append(
                    (
                        torch.empty((batch_size, *x.shape[1:]), dtype=x.dtype).pin_memory(),
                        None
                        if y is None
                        else torch.empty((batch_size, *y.shape[1:]), dtype=y.dtype).pin_memory(),
                    )
                )
                self.copied.append(None)
        self.turn = 0

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(x, y or None) of the windows at `index`, on the device."""
        if not self.staged:
            index = index.to(self.x.device)
            return self.x.index_select(0, index), None if self.y is None else self.y.index_select(
                0, index
            )
        turn = self.turn
        self.turn ^= 1
        bx, by = self.buffers[turn]
        if self.copied[turn] is not None:
            self.copied[turn].synchronize()  # this buffer's previous copy to the GPU has finished
        n = index.numel()
        torch.index_select(self.x, 0, index, out=bx[:n])
        if by is not None and self.y is not None:
            torch.index_select(self.y, 0, index, out=by[:n])
        on_device = (
            bx[:n].to(self.device, non_blocking=True),
            None if by is None else by[:n].to(self.device, non_blocking=True),
        )
        self.copied[turn] = torch.cuda.Event()  # type: ignore[no-untyped-call]
        self.copied[turn].record(torch.cuda.current_stream(self.device))
        return on_device


def _fits_on_gpu(x: torch.Tensor, y: torch.Tensor | None, device: torch.device) -> bool:
    size = x.numel() * x.element_size() + (0 if y is None else y.numel() * y.element_size())
    free, _ = torch.cuda.mem_get_info(device)
    return size < free / 4
