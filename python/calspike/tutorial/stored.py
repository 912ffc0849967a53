"""Training and scoring on a windows store (`calspike train|evaluate windows.zarr`).

Feature stacks built a batch at a time from windows read off disk, so memory holds one batch,
a few decoded chunks and the per-window labels, whatever the store's size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from calspike.feature_stacks import features
from calspike.models import CalciumVAE, SpikeClassifier
from calspike.training import FitResult, choose_device, fit, predict
from calspike.tutorial.scores import classification_scores
from calspike.windows.zarr_store import StoredWindows

BUFFER_CHUNKS = 8  # chunks whose windows are shuffled together in an epoch


class StoreBatches:
    """A `calspike.training.BatchSource` of the store's windows at `index`, in store order.

    The index is sorted. x: the feature stack float32 (batch, length, channels) of `kinds`;
    y: the spike labels (bool) when `labels`.

    An epoch visits the chunks in a seeded random order, `buffer_chunks` at a time, and
    shuffles the windows within each group: every chunk is decoded once an epoch and
    memory holds at most two groups of decoded chunks.
    """

    def __init__(
        self,
        store: StoredWindows,
        index: np.ndarray,
        kinds: list[str],
        *,
        labels: bool,
        buffer_chunks: int = BUFFER_CHUNKS,
    ) -> None:
        if labels and store.did_spike is None:
            raise ValueError(f"{store.path}: the windows carry no spike labels")
        self.store, self.kinds, self.labels = store, list(kinds), labels
        self.index = np.sort(
            np.asarray(index, dtype=np.int64)
        )  # in store order: reads in order stay local
        self.buffer_chunks = max(1, int(buffer_chunks))
        store.cache_chunks = max(store.cache_chunks, 2 * self.buffer_chunks)

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def did_spike(self) -> np.ndarray | None:
        """The labels of the windows, in this source's order (None without labels)."""
        return None if self.store.did_spike is None else self.store.did_spike[self.index]

    def take(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        rows = self.index[np.asarray(positions, dtype=np.int64)]
        x = torch.from_numpy(features(self.store.read(rows), self.kinds))
        if not self.labels:
            return x, None
        assert self.store.did_spike is not None  # checked in __init__
        return x, torch.from_numpy(np.ascontiguousarray(self.store.did_spike[rows]))

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        chunk = self.store.chunk_of(self.index)
        present, local = np.unique(chunk, return_inverse=True)
        rank = torch.randperm(present.size, generator=generator).argsort().numpy()
        group = rank[local] // self.buffer_chunks
        jitter = torch.rand(self.index.size, generator=generator, dtype=torch.float64).numpy()
        return torch.from_numpy(np.lexsort((jitter, group)))


def train_from_store(
    store: StoredWindows,
    train_index: np.ndarray,
    val_index: np.ndarray,
    *,
    model: str,
    kinds: list[str],
    settings: dict[str, Any],
    output: str | os.PathLike[str],
    extra: dict[str, Any],
    resume: bool,
    progress: bool,
) -> FitResult:
    """Fit the classifier or the calcium VAE on the store's windows at `train_index`.

    Early-stopped on those at `val_index`, reading a batch at a time; checkpoint to `output`.
    """
    torch.manual_seed(settings["seed"])
    network: SpikeClassifier | CalciumVAE
    if model == "classifier":
        network = SpikeClassifier(channels=len(kinds), hidden=settings["hidden"])
    else:
        network = CalciumVAE(
            length=store.length,
            channels=len(kinds),
            hidden=settings["hidden"],
            latent=settings["latent"],
            beta=settings["beta"],
        )
    labels = model == "classifier"
    return fit(
        network,
        StoreBatches(store, train_index, kinds, labels=labels),
        validation=(StoreBatches(store, val_index, kinds, labels=labels), None),
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        patience=settings["patience"],
        device=settings["device"],
        seed=settings["seed"],
        checkpoint=output,
        resume=resume,
        progress=progress,
        extra={"features": kinds, **extra},
    )


def score_from_store(
    network: torch.nn.Module,
    store: StoredWindows,
    index: np.ndarray,
    kinds: list[str],
    device: str | None,
) -> dict[str, Any]:
    """A classifier's scores, or a VAE's explained variance, on the store's windows at `index`.

    Read a batch at a time.
    """
    where = choose_device(device) if device is not None else next(network.parameters()).device
    network.to(where)
    if isinstance(network, SpikeClassifier):
        if store.did_spike is None:
            raise ValueError(f"{store.path}: the windows carry no spike labels to score against")
        source = StoreBatches(store, index, kinds, labels=False)
        assert source.did_spike is not None  # the store has labels
        return classification_scores(
            source.did_spike, predict(network.predict_proba, source, device=where)
        )
    if not isinstance(network, CalciumVAE):
        raise ValueError(f"cannot score a {type(network).__name__} on windows")
    source = StoreBatches(store, index, kinds, labels=False)
    squared_error, total, total_squares = 0.0, 0.0, 0.0
    network.eval()
    with torch.no_grad():
        for start in range(0, len(source), 4096):
            positions = np.arange(start, min(start + 4096, len(source)))
            x, _ = source.take(positions)
            values = x[..., 0].double()
            rebuilt = network.decode(network.encode(x.to(where))).double().cpu()
            squared_error += float(((rebuilt - values) ** 2).sum())
            total += float(values.sum())
            total_squares += float((values**2).sum())
    size = index.size * store.length
    variance = total_squares / size - (total / size) ** 2
    return {
        "windows": int(index.size),
        "neurons": int(np.unique(store.neuron[index]).size),
        "explained_variance": 1.0 - squared_error / size / variance,
    }


def is_store_path(path: str | os.PathLike[str]) -> bool:
    """True for a path named like a windows store (a .zarr folder)."""
    return Path(path).suffix.lower() == ".zarr"
