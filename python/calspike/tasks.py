"""Models trained on Windows: neuron-wise splits, balanced training sets, features -> fit -> scores.

The building blocks of `calspike run`, `calspike train` and `calspike evaluate`, so the
report, the CLI and the benchmarks train and score the models the same way.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from calspike.features import FEATURES, features
from calspike.metrics import classification_scores
from calspike.models import CalciumVAE, SpikeClassifier
from calspike.train import FitResult, choose_device, fit, predict, split_by_neuron
from calspike.windows import Windows, balanced_indices

SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


def parse_features(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """"raw,delta" -> ["raw", "delta"]; ValueError naming an unknown feature."""
    kinds = [k.strip() for k in text.split(",")] if isinstance(text, str) else list(text)
    if not kinds or any(k not in FEATURES for k in kinds):
        raise ValueError(f"features must be a comma-separated list of {', '.join(FEATURES)}, got {text!r}")
    return kinds


def neuron_split(windows: Windows, seed: int = 0, fractions: tuple[float, ...] = SPLIT_FRACTIONS) -> dict[str, np.ndarray]:
    """Neuron indices of the train, val and test parts (about 70/15/15 % of the windows), seeded."""
    if len(windows) == 0:
        length = int(windows.params.get("len_pre", 0)) + int(windows.params.get("len_post", 0))
        raise ValueError(f"no windows to split: every one of the {len(windows.neuron_names)} trace(s) is too short "
                         f"for a window of len_pre + len_post = {length} frames")
    parts = split_by_neuron(windows.neuron, fractions, seed)
    return {name: np.unique(windows.neuron[index]) for name, index in zip(("train", "val", "test"), parts)}


def labelled_subset(
    windows: Windows, neurons: np.ndarray, *, balanced: bool = True, max_windows: int | None = None, seed: int = 0
) -> np.ndarray:
    """Indices of the windows of `neurons`: balanced (as many spike as no-spike windows) and at most `max_windows`."""
    if windows.did_spike is None:
        raise ValueError("the windows carry no spike labels: training and scoring need ground truth")
    index = np.flatnonzero(np.isin(windows.neuron, neurons))
    if index.size == 0:
        raise ValueError("no windows belong to the chosen neurons")
    rng = np.random.default_rng(seed)
    if balanced:
        labels = windows.did_spike[index]
        smaller = int(min(labels.sum(), (~labels).sum()))
        if smaller == 0:
            raise ValueError(f"cannot balance the windows of {len(np.unique(windows.neuron[index]))} neuron(s): "
                             f"{int(labels.sum())} spike and {int((~labels).sum())} no-spike windows")
        per_class = smaller if max_windows is None else min(smaller, max_windows // 2)
        chosen: np.ndarray = index[balanced_indices(labels, per_class, rng)]
        return chosen
    if max_windows is not None and index.size > max_windows:
        index = np.sort(rng.choice(index, max_windows, replace=False))
    return index


def train_classifier(
    train: Windows, val: Windows, *, kinds: list[str], hidden: int = 64, epochs: int = 15, batch_size: int = 256,
    lr: float = 2e-3, patience: int = 4, device: str = "auto", seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None, progress: bool = True, extra: dict[str, Any] | None = None,
    resume: bool = False,
) -> FitResult:
    """A SpikeClassifier fitted on the feature stacks of `train`, early-stopped on `val`."""
    torch.manual_seed(seed)
    model = SpikeClassifier(channels=len(kinds), hidden=hidden)
    return fit(
        model, features(train, kinds), train.did_spike, validation=(features(val, kinds), val.did_spike),
        epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, device=device, seed=seed,
        checkpoint=checkpoint, resume=resume, progress=progress, extra={"features": kinds, **(extra or {})},
    )


def train_vae(
    train: Windows, val: Windows, *, hidden: int = 64, latent: int = 256, beta: float = 1e-4, epochs: int = 15,
    batch_size: int = 256, lr: float = 2e-3, patience: int = 4, device: str = "auto", seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None, progress: bool = True, extra: dict[str, Any] | None = None,
    resume: bool = False,
) -> FitResult:
    """A CalciumVAE fitted on the (normalised) windows of `train`, early-stopped on `val`."""
    torch.manual_seed(seed)
    model = CalciumVAE(length=train.windows.shape[1], hidden=hidden, latent=latent, beta=beta)
    return fit(
        model, train.windows, validation=(val.windows, None), epochs=epochs, batch_size=batch_size, lr=lr,
        patience=patience, device=device, seed=seed, checkpoint=checkpoint, resume=resume, progress=progress,
        extra={"features": ["raw"], **(extra or {})},
    )


def _placed(model: torch.nn.Module, device: str | None) -> torch.device:
    """Move `model` to `device` (None: leave it where it is); returns where it is."""
    if device is not None:
        model.to(choose_device(device))
    parameter = next(model.parameters())
    return parameter.device


def classifier_probability(
    model: SpikeClassifier, windows: Windows, kinds: list[str], device: str | None = None
) -> np.ndarray:
    """Spike probability (N,) of each window, computed on `device` (None: where the model is)."""
    return predict(model.predict_proba, features(windows, kinds), device=_placed(model, device))


def score_classifier(
    model: SpikeClassifier, windows: Windows, kinds: list[str], device: str | None = None
) -> dict[str, Any]:
    """accuracy, balanced accuracy, ROC AUC and the tutorial's confusion matrix on labelled windows."""
    if windows.did_spike is None:
        raise ValueError("the windows carry no spike labels to score against")
    return classification_scores(windows.did_spike, classifier_probability(model, windows, kinds, device))


def explained_variance(model: CalciumVAE, windows: np.ndarray, device: str | None = None) -> float:
    """1 - mean squared reconstruction error / variance of the windows (reconstructing from latent means)."""
    where = _placed(model, device)
    was_training = model.training
    model.eval()
    reconstruction = predict(lambda x: model(x)[0], windows, device=where)
    model.train(was_training)
    values = np.asarray(windows, dtype=np.float64)
    return float(1.0 - np.mean((reconstruction - values) ** 2) / np.var(values))
