"""Training and scoring the tutorial's models on windows held in memory.

Shared by the steps of `calspike run` (`calspike.tutorial.pipeline`) and the train and
evaluate commands (`calspike.tutorial.prepared`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from calspike.feature_stacks import features
from calspike.models import CalciumVAE, SpikeClassifier
from calspike.training import FitResult, choose_device, fit, predict
from calspike.tutorial.scores import classification_scores
from calspike.windows import Windows


def train_classifier(
    train: Windows,
    val: Windows | None,
    *,
    kinds: list[str],
    hidden: int = 64,
    epochs: int = 15,
    batch_size: int = 256,
    lr: float = 2e-3,
    patience: int | None = 4,
    device: str = "auto",
    seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
    resume: bool = False,
    stacks: tuple[np.ndarray, np.ndarray | None] | None = None,
    schedule: str = "cosine",
    clip: float | None = 1.0,
) -> FitResult:
    """A SpikeClassifier fitted on the feature stacks of `train`, early-stopped on `val`.

    `val` None: no validation, the last epoch's weights.

    stacks : the (train, val) feature stacks when the caller has them already (`features`).
    schedule, clip : the learning-rate schedule and gradient clipping of `calspike.fit`.
    """
    torch.manual_seed(seed)
    model = SpikeClassifier(channels=len(kinds), hidden=hidden)
    if stacks is not None:
        x_train, x_val = stacks
    else:
        x_train, x_val = features(train, kinds), None if val is None else features(val, kinds)
    validation = None if val is None or x_val is None else (x_val, val.did_spike)
    return fit(
        model,
        x_train,
        train.did_spike,
        validation=validation,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience if validation else None,
        device=device,
        seed=seed,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        schedule=schedule,
        clip=clip,
        extra={"features": kinds, **(extra or {})},
    )


def train_vae(
    train: Windows,
    val: Windows | None,
    *,
    kinds: list[str] | None = None,
    conditional: bool = False,
    hidden: int = 64,
    latent: int = 256,
    beta: float = 1e-4,
    epochs: int = 15,
    batch_size: int = 256,
    lr: float = 2e-3,
    patience: int | None = 4,
    device: str = "auto",
    seed: int = 0,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    extra: dict[str, Any] | None = None,
    resume: bool = False,
    schedule: str = "cosine",
    clip: float | None = 1.0,
    stacks: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> FitResult:
    """A CalciumVAE fitted on the feature stacks of `train`'s windows, early-stopped on `val`.

    The stacks of `kinds`, the first "raw"; `val` None: no validation, the last epoch's weights.

    conditional : a label-conditioned VAE (the windows' spike labels enter its encoder and decoder).
    stacks : the (train, val) feature stacks when the caller has them already.
    """
    kinds = vae_feature_kinds(kinds)
    if conditional and (train.did_spike is None or (val is not None and val.did_spike is None)):
        raise ValueError("a conditional VAE needs windows with spike labels")
    torch.manual_seed(seed)
    model = CalciumVAE(
        length=train.windows.shape[1],
        channels=len(kinds),
        hidden=hidden,
        latent=latent,
        beta=beta,
        conditional=conditional,
    )
    labels = train.did_spike if conditional else None
    x_train, x_val = (
        stacks
        if stacks is not None
        else (features(train, kinds), None if val is None else features(val, kinds))
    )
    validation = (
        None if val is None or x_val is None else (x_val, val.did_spike if conditional else None)
    )
    return fit(
        model,
        x_train,
        labels,
        validation=validation,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        patience=patience if val is not None else None,
        device=device,
        seed=seed,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        schedule=schedule,
        clip=clip,
        extra={"features": kinds, "conditional": conditional, **(extra or {})},
    )


def vae_feature_kinds(kinds: list[str] | None) -> list[str]:
    """A calcium VAE's features: `kinds` ("raw" when None), checked to start with "raw".

    ValueError otherwise: "raw" is the channel a VAE reconstructs.
    """
    kinds = ["raw"] if kinds is None else list(kinds)
    if not kinds or kinds[0] != "raw":
        raise ValueError(
            "a calcium VAE's features must start with raw (the channel it reconstructs), "
            f"got {kinds}"
        )
    return kinds


def latent_means(
    model: CalciumVAE,
    windows: Windows,
    kinds: list[str],
    device: str | torch.device | None = None,
    draw_seed: int | None = None,
    stack: np.ndarray | None = None,
) -> np.ndarray:
    """Latent means (N, latent) of the windows' feature stacks.

    A conditional VAE is given the windows' labels too.

    draw_seed : instead of the means, one draw per window from q(z | x) (mean + sigma * noise,
        seeded): what the latent space carries beyond the noise the VAE itself adds, where a
        mean may carry a label in offsets far smaller than its own posterior spread.
    stack : the windows' feature stack when the caller has it already.
    """
    where = _placed(model, device)
    if stack is None:
        stack = features(windows, vae_feature_kinds(kinds))
    generator = None if draw_seed is None else torch.Generator().manual_seed(draw_seed)

    def encode(x: torch.Tensor, did_spike: torch.Tensor | None = None) -> torch.Tensor:
        if generator is None:
            return model.encode(x, did_spike=did_spike)  # type: ignore[no-any-return]
        mean, log_var = model.encode(x, return_log_var=True, did_spike=did_spike)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        return mean + noise * torch.exp(0.5 * log_var)  # type: ignore[no-any-return]

    if not model.conditional:
        return predict(encode, stack, device=where)
    if windows.did_spike is None:
        raise ValueError("a conditional VAE needs windows with spike labels")
    labelled = np.concatenate(
        [
            stack,
            np.broadcast_to(
                windows.did_spike[:, None, None].astype(np.float32), (*stack.shape[:2], 1)
            ),
        ],
        axis=2,
    )
    return predict(lambda x: encode(x[..., :-1], x[:, 0, -1]), labelled, device=where)


def reconstruct(
    model: CalciumVAE,
    windows: Windows,
    kinds: list[str],
    device: str | None = None,
    stack: np.ndarray | None = None,
) -> np.ndarray:
    """Reconstructions (N, L) of the windows from their latent means.

    A conditional VAE's decoder is given the windows' labels too.
    """
    where = _placed(model, device)
    means = latent_means(model, windows, kinds, device=where, stack=stack)
    was_training = model.training
    model.eval()
    try:
        if not model.conditional:
            return predict(model.decode, means, device=where)
        assert windows.did_spike is not None  # latent_means checked it
        labelled = np.concatenate([means, windows.did_spike[:, None].astype(np.float32)], axis=1)
        return predict(
            lambda z: model.decode(z[:, :-1], did_spike=z[:, -1]), labelled, device=where
        )
    finally:
        model.train(was_training)


def _placed(model: torch.nn.Module, device: str | torch.device | None) -> torch.device:
    """Move `model` to `device` (None: leave it where it is); returns where it is."""
    if device is not None:
        model.to(choose_device(device))
    parameter = next(model.parameters())
    return parameter.device


def classifier_probability(
    model: SpikeClassifier,
    windows: Windows,
    kinds: list[str],
    device: str | None = None,
    stack: np.ndarray | None = None,
) -> np.ndarray:
    """Spike probability (N,) of each window, computed on `device` (None: where the model is).

    `stack`: the windows' feature stack when the caller has it already.
    """
    x = stack if stack is not None else features(windows, kinds)
    return predict(model.predict_proba, x, device=_placed(model, device))


def score_classifier(
    model: SpikeClassifier, windows: Windows, kinds: list[str], device: str | None = None
) -> dict[str, Any]:
    """A classifier's scores on labelled windows.

    Accuracy, balanced accuracy, ROC AUC and the tutorial's confusion matrix
    (`scores.classification_scores`).
    """
    if windows.did_spike is None:
        raise ValueError("the windows carry no spike labels to score against")
    return classification_scores(
        windows.did_spike, classifier_probability(model, windows, kinds, device)
    )


def explained_variance(
    model: CalciumVAE,
    windows: Windows,
    kinds: list[str] | None = None,
    device: str | None = None,
    stack: np.ndarray | None = None,
) -> float:
    """1 - mean squared reconstruction error / variance of the windows.

    Reconstructed from their latent means.
    """
    reconstruction = reconstruct(model, windows, vae_feature_kinds(kinds), device, stack=stack)
    values = np.asarray(windows.windows, dtype=np.float64)
    return float(1.0 - np.mean((reconstruction - values) ** 2) / np.var(values))
